//! The embedded database behind the vault and the virtual keys' credentials.
//!
//! One SQLite file (`authsim.db`, WAL) in the state directory, holding namespaced records
//! (`ns`, `key`) → `value`. The store knows no domain: the vault and the keys decide what their
//! records mean. Values that hold secrets are sealed with the data key ([`seal`]) before they
//! reach the store; the store itself only guarantees atomic, durable commits and one schema.

mod keysource;
mod seal;

pub use keysource::{KeyOrigin, KeySource, Keyring};
pub use seal::{DataKey, Opener, SealError};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One record: its key and value.
pub type Record = (Vec<u8>, Vec<u8>);

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "authsim.db";

/// Associated data and plaintext of the record that proves a data key opens this store.
const KEY_CHECK_AD: &[u8] = b"authsim/key-check/v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"authsim vault key check";

/// Schema migrations, in order; migration `i` takes the file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: store metadata and namespaced records. Records carry the vault's TOTP entries and,
    // later, each virtual key's persistent state (master secret, resident credentials,
    // counters) under a namespace per key, committed in one transaction per batch.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE records (
        ns    TEXT NOT NULL,
        key   BLOB NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;",
];

/// What went wrong opening or using the store; messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory could not be created or secured.
    #[error("cannot use state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file is not a SQLite database or is damaged.
    #[error(
        "the database {path} is unreadable or corrupted ({detail}); restore it from a backup or move it away (nothing was changed)"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The database was written by a newer authsim.
    #[error(
        "the database {path} has schema version {found}, newer than this authsim understands ({supported}); upgrade authsim (nothing was changed)"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build understands.
        supported: i64,
    },
    /// Another SQLite failure.
    #[error("database error on {path}: {detail}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The data key could not be found or does not open this store.
    #[error(transparent)]
    Key(#[from] keysource::KeyError),
    /// A sealed value could not be opened.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// An open store: the database connection, its data key and where that key came from.
pub struct Store {
    conn: Connection,
    dir: PathBuf,
    db_path: PathBuf,
    key: DataKey,
    origin: KeyOrigin,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.db_path)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A write transaction (SQLite `BEGIN IMMEDIATE`): everything in it commits at once or not at all.
pub struct Txn<'a> {
    tx: rusqlite::Transaction<'a>,
    db_path: &'a Path,
}

impl Store {
    /// Open (creating if needed) the store in `dir`, with its data key from `source`.
    ///
    /// A new store gets a new data key; an existing one is opened only with the key it was
    /// created with, and a mismatch is refused without changing anything.
    pub fn open(dir: &Path, source: &KeySource) -> Result<Store, StoreError> {
        let dir_err = |source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(dir_err)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(dir_err)?;
        let db_path = dir.join(DB_FILE);
        // Create the file ourselves so it is 0600 from the first byte; SQLite gives the -wal
        // and -shm files the database file's mode.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&db_path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(dir_err(e)),
        }
        let conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_err(&db_path, e))?;
        let mut store_conn = conn;
        let version = init_connection(&mut store_conn, &db_path)?;
        // The schema is checked under the write lock only when it may need migrating: a
        // current version never goes back, and every process opening the store (each `authsim
        // totp code`) would otherwise queue for the lock.
        if version != SCHEMA_VERSION {
            migrate(&mut store_conn, &db_path)?;
        }
        let (key, origin) = bind_key(&mut store_conn, &db_path, dir, source)?;
        Ok(Store {
            conn: store_conn,
            dir: dir.to_path_buf(),
            db_path,
            key,
            origin,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Where the data key lives.
    pub fn key_origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sql_err(&self.db_path, e))
    }

    /// Seal `plaintext` under the data key, bound to `ad` (the record's identity).
    pub fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(self.key.seal(ad, plaintext)?)
    }

    /// Open a value sealed with [`Store::seal`] under the same `ad`.
    pub fn open_sealed(
        &self,
        ad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        Ok(self.key.open(ad, sealed)?)
    }

    /// An opener for many sealed values (the cipher is set up once, not per value).
    pub fn opener(&self) -> Opener {
        self.key.opener()
    }

    /// Calls `f` with every record of a namespace, ordered by key, without copying it: the
    /// slices are SQLite's own, valid only during the call. Stops at the first error.
    pub fn for_each<E: From<StoreError>>(
        &self,
        ns: &str,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let db_path = &self.db_path;
        let mut st = self
            .conn
            .prepare_cached(LIST_SQL)
            .map_err(|e| sql_err(db_path, e))?;
        let mut rows = st.query(params![ns]).map_err(|e| sql_err(db_path, e))?;
        while let Some(row) = rows.next().map_err(|e| sql_err(db_path, e))? {
            let blob = |i: usize| {
                row.get_ref(i)
                    .and_then(|v| {
                        v.as_blob().map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), e.into())
                        })
                    })
                    .map_err(|e| sql_err(db_path, e))
            };
            f(blob(0)?, blob(1)?)?;
        }
        Ok(())
    }

    /// Caps this connection's page cache at `kib` KiB (SQLite's default is 2 MiB per
    /// connection; a daemon with many keys has a connection per key, and the operating
    /// system's page cache holds the file anyway).
    pub fn set_cache_kib(&self, kib: u32) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))
            .map_err(|e| sql_err(&self.db_path, e))
    }

    /// Read one record.
    pub fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get_record(&self.conn, &self.db_path, ns, key)
    }

    /// All records of a namespace, ordered by key.
    pub fn list(&self, ns: &str) -> Result<Vec<Record>, StoreError> {
        list_records(&self.conn, &self.db_path, ns)
    }

    /// Run `f` in a write transaction and commit it if `f` returns `Ok`.
    ///
    /// The transaction takes the database's write lock at its start, so a read-check-write
    /// inside `f` is atomic against every other process using the same file.
    pub fn transaction<T, E>(
        &mut self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let db_path = self.db_path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_err(&db_path, e))?;
        let mut txn = Txn {
            tx,
            db_path: &db_path,
        };
        let out = f(&mut txn)?;
        txn.tx.commit().map_err(|e| sql_err(&db_path, e))?;
        Ok(out)
    }
}

impl Txn<'_> {
    /// Read one record, seeing this transaction's own writes.
    pub fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get_record(&self.tx, self.db_path, ns, key)
    }

    /// All records of a namespace, seeing this transaction's own writes.
    pub fn list(&self, ns: &str) -> Result<Vec<Record>, StoreError> {
        list_records(&self.tx, self.db_path, ns)
    }

    /// Insert or replace one record.
    pub fn put(&mut self, ns: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO records (ns, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
                params![ns, key, value],
            )
            .map_err(|e| sql_err(self.db_path, e))?;
        Ok(())
    }

    /// Insert one record that must not exist yet; returns false (and writes nothing) if it does.
    pub fn insert_new(&mut self, ns: &str, key: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute(
                "INSERT INTO records (ns, key, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![ns, key, value],
            )
            .map_err(|e| sql_err(self.db_path, e))?;
        Ok(n == 1)
    }

    /// Delete every record of every namespace that starts with `prefix`; returns how many.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<usize, StoreError> {
        // A range on the primary key's first column: [prefix, prefix + U+10FFFF).
        let end = format!("{prefix}\u{10FFFF}");
        let n = self
            .tx
            .execute(
                "DELETE FROM records WHERE ns >= ?1 AND ns < ?2",
                params![prefix, end],
            )
            .map_err(|e| sql_err(self.db_path, e))?;
        Ok(n)
    }

    /// Delete one record; returns whether it existed.
    pub fn delete(&mut self, ns: &str, key: &[u8]) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute(
                "DELETE FROM records WHERE ns = ?1 AND key = ?2",
                params![ns, key],
            )
            .map_err(|e| sql_err(self.db_path, e))?;
        Ok(n > 0)
    }
}

fn get_record(
    conn: &Connection,
    db_path: &Path,
    ns: &str,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    conn.prepare_cached("SELECT value FROM records WHERE ns = ?1 AND key = ?2")
        .and_then(|mut st| st.query_row(params![ns, key], |r| r.get(0)).optional())
        .map_err(|e| sql_err(db_path, e))
}

/// The records of one namespace, ordered by key.
const LIST_SQL: &str = "SELECT key, value FROM records WHERE ns = ?1 ORDER BY key";

fn list_records(conn: &Connection, db_path: &Path, ns: &str) -> Result<Vec<Record>, StoreError> {
    let mut st = conn
        .prepare_cached(LIST_SQL)
        .map_err(|e| sql_err(db_path, e))?;
    let rows = st
        .query_map(params![ns], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| sql_err(db_path, e))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| sql_err(db_path, e))
}

/// Map a SQLite error to a `StoreError`, recognising a damaged or foreign file.
fn sql_err(db_path: &Path, e: rusqlite::Error) -> StoreError {
    let corrupt = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    );
    if corrupt {
        StoreError::Corrupt {
            path: db_path.to_path_buf(),
            detail: e.to_string(),
        }
    } else {
        StoreError::Sqlite {
            path: db_path.to_path_buf(),
            detail: e.to_string(),
        }
    }
}

/// Prepares a connection (busy timeout, WAL, synchronous commits); returns the schema version.
fn init_connection(conn: &mut Connection, db_path: &Path) -> Result<i64, StoreError> {
    // Several processes (the CLI, the daemon) share the file: wait for the write lock rather
    // than failing at once.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| sql_err(db_path, e))?;
    // Reading the header first turns a non-database file into a clear error before any write.
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_err(db_path, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| sql_err(db_path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Sqlite {
            path: db_path.to_path_buf(),
            detail: format!("could not switch to WAL journal mode (got {mode})"),
        });
    }
    // A journal size limit (any, when it is not negative) makes the last connection to close
    // empty the kept -wal file after its checkpoint. Without one the checkpointed frames stay
    // valid in it, so every later process found them again and, as the last to close,
    // checkpointed them once more: three fsyncs for each `authsim totp code`, which only
    // reads. While the daemon runs, the limit caps the -wal file at 4 MiB.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(|e| sql_err(db_path, e))?;
    // Keep the -wal and -shm files when the last connection closes (they are 0600, like the
    // database): a short-lived process (`authsim totp code`) otherwise creates, sizes and
    // deletes both every time.
    let mut persist = 1;
    conn.file_control(
        Some(rusqlite::MAIN_DB),
        rusqlite::FileControl::PersistWal(&mut persist),
    )
    .map_err(|e| sql_err(db_path, e))?;
    Ok(version)
}

fn migrate(conn: &mut Connection, db_path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_err(db_path, e))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_err(db_path, e))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: db_path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt {
            path: db_path.to_path_buf(),
            detail: format!("negative schema version {found}"),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(from = i, to = i + 1, "migrating database schema");
        tx.execute_batch(sql).map_err(|e| sql_err(db_path, e))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|e| sql_err(db_path, e))?;
    }
    tx.commit().map_err(|e| sql_err(db_path, e))
}

/// Find the data key for this store, or create one for a new store, and prove it opens the store.
fn bind_key(
    conn: &mut Connection,
    db_path: &Path,
    dir: &Path,
    source: &KeySource,
) -> Result<(DataKey, KeyOrigin), StoreError> {
    // A store that has its key needs no lock to read where the key is (the records are
    // written once, when the store is created).
    let read = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()
            .map_err(|e| sql_err(db_path, e))
    };
    if let (Some(recorded), Some(check)) = (read("key_origin")?, read("key_check")?) {
        return load_key(db_path, dir, source, &recorded, &check);
    }
    // The write lock is held while a new store gets its key, so two processes opening a fresh
    // directory at once agree on one key.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_err(db_path, e))?;
    let meta = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()
            .map_err(|e| sql_err(db_path, e))
    };
    let recorded = meta("key_origin")?;
    let check = meta("key_check")?;
    match (recorded, check) {
        (Some(recorded), Some(check)) => {
            // Another process created the key meanwhile. Nothing to write: release the lock.
            tx.rollback().map_err(|e| sql_err(db_path, e))?;
            load_key(db_path, dir, source, &recorded, &check)
        }
        (None, None) => {
            let (key, origin) = source.create(dir)?;
            let sealed = key.seal(KEY_CHECK_AD, KEY_CHECK_PLAINTEXT)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('key_origin', ?1), ('key_check', ?2)",
                params![origin.to_record(), sealed],
            )
            .map_err(|e| sql_err(db_path, e))?;
            tx.commit().map_err(|e| sql_err(db_path, e))?;
            tracing::info!(origin = %origin.describe(), "created a new data key");
            Ok((key, origin))
        }
        _ => Err(StoreError::Corrupt {
            path: db_path.to_path_buf(),
            detail: "the key check record is incomplete".into(),
        }),
    }
}

/// The data key recorded at `recorded`, proven to open the store's key check.
fn load_key(
    db_path: &Path,
    dir: &Path,
    source: &KeySource,
    recorded: &[u8],
    check: &[u8],
) -> Result<(DataKey, KeyOrigin), StoreError> {
    let recorded = KeyOrigin::from_record(recorded, dir);
    let (key, origin) = source.load(dir, &recorded)?;
    if key.open(KEY_CHECK_AD, check).is_err() {
        return Err(keysource::KeyError::Mismatch {
            db: db_path.to_path_buf(),
            tried: origin.describe(),
            created_with: recorded.describe(),
        }
        .into());
    }
    Ok((key, origin))
}

#[cfg(test)]
mod tests;
