//! A virtual key's persistent memory in the SQLite store: firmware-sim's [`RecordStore`] over
//! [`Store`], each key's records under its own namespace prefix, every value sealed.
//!
//! The token's namespace `ns` of key `NAME` is stored as `key/NAME/ns`. Values hold private
//! keys and the master secret, so each is sealed with the store's data key, bound to the full
//! namespace and record key (a sealed value cannot be moved to another record or another key).
//! A commit is one store transaction (WAL, `synchronous=FULL`): durable when it returns.

use firmware_sim::env::{RecordStore, Records, StoreError, WriteBatch, WriteOp};

use crate::store::Store;

/// Prefix of every virtual key's namespaces.
pub const KEY_NS_PREFIX: &str = "key/";

/// Version tag in the associated data of sealed token records.
const RECORD_AD_TAG: &[u8] = b"authsim/key-record/v1";

/// Why a virtual key's name is unusable.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid key name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
)]
pub struct BadKeyName(pub String);

/// Checks a virtual key's name: 1–64 of `[A-Za-z0-9._-]`, not starting with a dot.
pub fn check_key_name(name: &str) -> Result<(), BadKeyName> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(BadKeyName(name.to_owned()))
    }
}

/// The record store of one virtual key, backed by the authsim store.
pub struct SqliteRecordStore {
    store: Store,
    prefix: String,
    /// [`RecordStore::version`]. Only this store writes its key's namespaces while the key
    /// runs (removing a key stops it first), so its own commits are every change.
    version: u64,
}

impl std::fmt::Debug for SqliteRecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRecordStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SqliteRecordStore {
    /// The records of the key `name` in `store`.
    pub fn new(store: Store, name: &str) -> Result<SqliteRecordStore, BadKeyName> {
        check_key_name(name)?;
        Ok(SqliteRecordStore {
            store,
            prefix: format!("{KEY_NS_PREFIX}{name}/"),
            version: firmware_sim::env::fresh_version(),
        })
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The underlying store, mutably (for installation-wide records).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The store namespace holding the token's namespace `ns`.
    pub fn full_ns(&self, ns: &str) -> Result<String, StoreError> {
        if ns.is_empty() || ns.contains('\0') {
            return Err(StoreError::Backend(format!("invalid namespace {ns:?}")));
        }
        Ok(format!("{}{ns}", self.prefix))
    }
}

/// Associated data binding a sealed value to its record: tag, namespace, NUL, key.
fn record_ad(full_ns: &str, key: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(RECORD_AD_TAG.len() + full_ns.len() + key.len() + 2);
    ad.extend_from_slice(RECORD_AD_TAG);
    ad.push(0);
    ad.extend_from_slice(full_ns.as_bytes());
    ad.push(0);
    ad.extend_from_slice(key);
    ad
}

fn backend(e: crate::store::StoreError) -> StoreError {
    // Store errors name files and SQLite messages, never values.
    StoreError::Backend(e.to_string())
}

impl RecordStore for SqliteRecordStore {
    fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let full = self.full_ns(ns)?;
        let Some(sealed) = self.store.get(&full, key).map_err(backend)? else {
            return Ok(None);
        };
        let value = self
            .store
            .open_sealed(&record_ad(&full, key), &sealed)
            .map_err(backend)?;
        Ok(Some(value.to_vec()))
    }

    fn list(&self, ns: &str) -> Result<Records, StoreError> {
        let mut out = Vec::new();
        self.for_each(ns, &mut |key, value| {
            out.push((key.to_vec(), value.to_vec()))
        })?;
        Ok(out)
    }

    fn for_each(&self, ns: &str, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StoreError> {
        // One cipher, one associated-data buffer and one plaintext buffer (wiped when dropped)
        // for the whole namespace; every value is authenticated before `f` sees it.
        let full = self.full_ns(ns)?;
        let opener = self.store.opener();
        let mut ad = record_ad(&full, b"");
        let prefix = ad.len();
        let mut value = zeroize::Zeroizing::new(Vec::new());
        self.store
            .for_each(&full, |key, sealed| {
                ad.truncate(prefix);
                ad.extend_from_slice(key);
                opener.open_into(&ad, sealed, &mut value)?;
                f(key, &value);
                Ok::<(), crate::store::StoreError>(())
            })
            .map_err(backend)
    }

    fn version(&self) -> Option<u64> {
        Some(self.version)
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        // Whatever the outcome (a failed transaction may leave doubt), cached counts go.
        self.version = firmware_sim::env::fresh_version();
        // Seal first (outside the write lock), then apply everything in one transaction.
        enum Op {
            Put(String, Vec<u8>, Vec<u8>),
            Delete(String, Vec<u8>),
        }
        let mut ops = Vec::with_capacity(batch.len());
        for op in batch.ops() {
            match op {
                WriteOp::Put { ns, key, value } => {
                    let full = self.full_ns(ns)?;
                    let sealed = self
                        .store
                        .seal(&record_ad(&full, key), value)
                        .map_err(backend)?;
                    ops.push(Op::Put(full, key.clone(), sealed));
                }
                WriteOp::Delete { ns, key } => {
                    ops.push(Op::Delete(self.full_ns(ns)?, key.clone()));
                }
            }
        }
        self.store
            .transaction(|txn| {
                for op in &ops {
                    match op {
                        Op::Put(ns, key, sealed) => txn.put(ns, key, sealed)?,
                        Op::Delete(ns, key) => {
                            txn.delete(ns, key)?;
                        }
                    }
                }
                Ok::<(), crate::store::StoreError>(())
            })
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeySource, Keyring};

    fn source() -> KeySource {
        KeySource::new(None, Keyring::Off)
    }

    fn temp_store(tag: &str) -> (std::path::PathBuf, Store) {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("authsim-ts-{tag}-{}", hex::encode(r)));
        let store = Store::open(&dir, &source()).unwrap();
        (dir, store)
    }

    #[test]
    fn names_are_checked() {
        for ok in ["default", "a", "ci-key_2.backup", &"x".repeat(64)] {
            assert!(check_key_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "é", &"x".repeat(65), "a\0b"] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_are_sealed_namespaced_and_atomic() {
        let (dir, store) = temp_store("seal");
        let mut a = SqliteRecordStore::new(store, "alpha").unwrap();
        let mut batch = WriteBatch::new();
        batch.put("meta", b"master-secret", vec![7u8; 32]);
        batch.put("rk", b"id-2", b"two".to_vec());
        batch.put("rk", b"id-1", b"one".to_vec());
        batch.delete("rk", b"absent");
        a.commit(&batch).unwrap();
        assert_eq!(
            a.get("meta", b"master-secret").unwrap(),
            Some(vec![7u8; 32])
        );
        assert_eq!(
            a.list("rk").unwrap(),
            vec![
                (b"id-1".to_vec(), b"one".to_vec()),
                (b"id-2".to_vec(), b"two".to_vec())
            ]
        );
        // At rest: sealed, under the key's own prefix, never the plaintext.
        let raw = a
            .store()
            .get("key/alpha/meta", b"master-secret")
            .unwrap()
            .unwrap();
        assert_ne!(raw, vec![7u8; 32]);
        assert!(!raw.windows(8).any(|w| w == [7u8; 8]));
        assert_eq!(a.store().get("meta", b"master-secret").unwrap(), None);

        // A value moved to another record (or another key) does not open.
        a.store_mut()
            .transaction(|t| t.put("key/alpha/rk", b"id-1", &raw))
            .unwrap();
        assert!(matches!(a.get("rk", b"id-1"), Err(StoreError::Backend(_))));
        assert!(a.list("rk").is_err());

        // Deletes apply in the same batch.
        let mut batch = WriteBatch::new();
        batch.delete("rk", b"id-1");
        batch.put("rk", b"id-3", b"three".to_vec());
        a.commit(&batch).unwrap();
        assert_eq!(a.list("rk").unwrap().len(), 2);
        assert!(a.full_ns("bad\0ns").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn keys_do_not_see_each_other() {
        let (dir, store) = temp_store("iso");
        let mut a = SqliteRecordStore::new(store, "a").unwrap();
        let mut batch = WriteBatch::new();
        batch.put("rk", b"x", b"secret".to_vec());
        a.commit(&batch).unwrap();
        let b = SqliteRecordStore::new(Store::open(&dir, &source()).unwrap(), "b").unwrap();
        assert_eq!(b.get("rk", b"x").unwrap(), None);
        assert!(b.list("rk").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
