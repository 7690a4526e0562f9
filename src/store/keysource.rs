//! Where the data key lives: the OS keyring (Secret Service through keyring-core), a 0600 key
//! file beside the database, or the `AUTHSIM_MASTER_KEY` environment variable.
//!
//! A new store prefers the keyring and falls back to the key file where no Secret Service
//! answers (headless servers, CI). An existing store records where its key was put, and is
//! opened only from there (or from `AUTHSIM_MASTER_KEY`), so a missing keyring never leads to a
//! new key over an old vault.

use super::seal::DataKey;
use keyring_core::{CredentialStore, Entry};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use zeroize::Zeroizing;

/// The keyring service name under which data keys are stored.
pub const KEYRING_SERVICE: &str = "authsim";
/// File name of the fallback key file inside the state directory.
pub const KEY_FILE: &str = "master.key";
/// Environment variable that supplies the data key directly (64 hex digits).
pub const MASTER_KEY_ENV: &str = "AUTHSIM_MASTER_KEY";
/// Environment variable that turns the keyring off (`off`) for new stores.
pub const KEYRING_ENV: &str = "AUTHSIM_KEYRING";

/// How long a keyring call may take before it counts as "no keyring" (a locked collection
/// would otherwise wait for an unlock prompt that never comes on a headless machine).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the data key could not be had; never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `AUTHSIM_MASTER_KEY` is set but is not 64 hex digits.
    #[error("{MASTER_KEY_ENV} must be 64 hexadecimal digits (a 256-bit key)")]
    BadEnvKey,
    /// The key file is missing, unreadable, malformed or too open.
    #[error("key file {path}: {problem}")]
    File {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The store's key is in the keyring and the keyring cannot give it.
    #[error(
        "this vault's key is in the OS keyring ({KEYRING_SERVICE} / {user}), which cannot give it: {problem}; unlock the keyring, or set {MASTER_KEY_ENV} (nothing was changed)"
    )]
    Keyring {
        /// The keyring entry's user name.
        user: String,
        /// What the keyring said.
        problem: String,
    },
    /// The store was created with a key from the environment, which is not set now.
    #[error(
        "this vault was created with a key from {MASTER_KEY_ENV}; set it to the same value (nothing was changed)"
    )]
    EnvRequired,
    /// The key found does not open this store.
    #[error(
        "the master key from {tried} does not open {db} (it was created with {created_with}); nothing was changed — use the right key, or a new --state-dir"
    )]
    Mismatch {
        /// The database file.
        db: PathBuf,
        /// Where the key that was tried came from.
        tried: String,
        /// Where the store's key was put when it was created.
        created_with: String,
    },
    /// Another failure creating a key.
    #[error("cannot create a data key: {0}")]
    Create(String),
}

/// Where a store's data key lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The `AUTHSIM_MASTER_KEY` environment variable.
    Env,
    /// A key file (0600) beside the database.
    File(PathBuf),
    /// The OS keyring, under service [`KEYRING_SERVICE`] and this user name.
    Keyring(String),
}

impl KeyOrigin {
    /// A line for `authsim status`: which source, and where.
    pub fn describe(&self) -> String {
        match self {
            KeyOrigin::Env => format!("the environment variable {MASTER_KEY_ENV}"),
            KeyOrigin::File(p) => format!("the key file {}", p.display()),
            KeyOrigin::Keyring(u) => {
                format!("the OS keyring (Secret Service, service {KEYRING_SERVICE}, user {u})")
            }
        }
    }

    /// A short kind name: `env`, `file` or `keyring`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyOrigin::Env => "env",
            KeyOrigin::File(_) => "file",
            KeyOrigin::Keyring(_) => "keyring",
        }
    }

    pub(super) fn to_record(&self) -> Vec<u8> {
        match self {
            KeyOrigin::Env => b"env".to_vec(),
            KeyOrigin::File(_) => b"file".to_vec(),
            KeyOrigin::Keyring(u) => format!("keyring:{u}").into_bytes(),
        }
    }

    pub(super) fn from_record(rec: &[u8], dir: &Path) -> KeyOrigin {
        let s = String::from_utf8_lossy(rec);
        if let Some(u) = s.strip_prefix("keyring:") {
            KeyOrigin::Keyring(u.to_string())
        } else if s == "env" {
            KeyOrigin::Env
        } else {
            KeyOrigin::File(dir.join(KEY_FILE))
        }
    }
}

/// Which keyring a new store may use.
#[derive(Clone)]
pub enum Keyring {
    /// The desktop's Secret Service over D-Bus.
    SecretService,
    /// No keyring: new stores use the key file.
    Off,
    /// A given keyring-core store (tests use keyring-core's mock store).
    Store(Arc<CredentialStore>),
}

/// Where to look for, and put, data keys.
#[derive(Clone)]
pub struct KeySource {
    env_key: Option<Zeroizing<String>>,
    keyring: Keyring,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("env_key", &self.env_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl KeySource {
    /// From the process environment: `AUTHSIM_MASTER_KEY`, and `AUTHSIM_KEYRING=off`.
    pub fn from_env() -> KeySource {
        let env_key = std::env::var(MASTER_KEY_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Zeroizing::new);
        let keyring = match std::env::var(KEYRING_ENV).as_deref() {
            Ok("off") | Ok("0") | Ok("no") | Ok("false") => Keyring::Off,
            _ => Keyring::SecretService,
        };
        KeySource { env_key, keyring }
    }

    /// An explicit source (for tests and embedding).
    pub fn new(env_key: Option<String>, keyring: Keyring) -> KeySource {
        KeySource {
            env_key: env_key.map(Zeroizing::new),
            keyring,
        }
    }

    fn env(&self) -> Result<Option<DataKey>, KeyError> {
        let Some(v) = &self.env_key else {
            return Ok(None);
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(v.trim(), &mut *bytes).map_err(|_| KeyError::BadEnvKey)?;
        Ok(Some(DataKey::from_bytes(*bytes)))
    }

    /// The key of an existing store whose key was put at `recorded`.
    pub(super) fn load(
        &self,
        dir: &Path,
        recorded: &KeyOrigin,
    ) -> Result<(DataKey, KeyOrigin), KeyError> {
        if let Some(k) = self.env()? {
            return Ok((k, KeyOrigin::Env));
        }
        match recorded {
            KeyOrigin::Env => Err(KeyError::EnvRequired),
            KeyOrigin::File(_) => {
                let path = dir.join(KEY_FILE);
                let key = read_key_file(&path)?.ok_or_else(|| KeyError::File {
                    path: path.clone(),
                    problem: "missing; this vault's key was kept there — restore the file, or set AUTHSIM_MASTER_KEY (nothing was changed)".into(),
                })?;
                Ok((key, KeyOrigin::File(path)))
            }
            KeyOrigin::Keyring(user) => {
                let store = self.keyring_store().map_err(|problem| KeyError::Keyring {
                    user: user.clone(),
                    problem,
                })?;
                let key = keyring_get(store, user).map_err(|problem| KeyError::Keyring {
                    user: user.clone(),
                    problem,
                })?;
                match key {
                    Some(k) => Ok((k, KeyOrigin::Keyring(user.clone()))),
                    None => Err(KeyError::Keyring {
                        user: user.clone(),
                        problem: "the entry is missing".into(),
                    }),
                }
            }
        }
    }

    /// A key for a new store: the environment's, else a new one in the keyring, else a new
    /// (or left-over, never overwritten) key file.
    pub(super) fn create(&self, dir: &Path) -> Result<(DataKey, KeyOrigin), KeyError> {
        if let Some(k) = self.env()? {
            return Ok((k, KeyOrigin::Env));
        }
        let path = dir.join(KEY_FILE);
        // A key file left by an earlier attempt that died before recording it is reused: no
        // value was sealed under any other key, and a key file is never overwritten.
        if let Some(k) = read_key_file(&path)? {
            return Ok((k, KeyOrigin::File(path)));
        }
        match self.keyring_store() {
            Ok(store) => {
                let user = new_keyring_user()?;
                let key = DataKey::generate().map_err(|e| KeyError::Create(e.to_string()))?;
                match keyring_set(store, &user, &key) {
                    Ok(()) => return Ok((key, KeyOrigin::Keyring(user))),
                    Err(problem) => {
                        tracing::warn!(%problem, "the OS keyring refused the data key; using a key file")
                    }
                }
            }
            Err(problem) => {
                tracing::info!(%problem, "no OS keyring; using a key file")
            }
        }
        let key = DataKey::generate().map_err(|e| KeyError::Create(e.to_string()))?;
        write_key_file(&path, &key)?;
        Ok((key, KeyOrigin::File(path)))
    }

    fn keyring_store(&self) -> Result<Arc<CredentialStore>, String> {
        match &self.keyring {
            Keyring::Off => Err(format!("the keyring is off ({KEYRING_ENV}=off)")),
            Keyring::Store(s) => Ok(s.clone()),
            Keyring::SecretService => with_timeout(|| {
                zbus_secret_service_keyring_store::Store::new()
                    .map(|s| s as Arc<CredentialStore>)
                    .map_err(keyring_problem)
            }),
        }
    }
}

fn new_keyring_user() -> Result<String, KeyError> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| KeyError::Create(e.to_string()))?;
    Ok(format!("data-key-{}", hex::encode(id)))
}

/// Describe a keyring error without any secret data (some variants carry the raw bytes).
fn keyring_problem(e: keyring_core::Error) -> String {
    use keyring_core::Error as E;
    match e {
        E::NoEntry => "no such entry".into(),
        E::BadEncoding(_) | E::BadDataFormat(..) => "the stored value is malformed".into(),
        E::PlatformFailure(p) => format!("platform failure: {p}"),
        E::NoStorageAccess(p) => format!("no access to the keyring: {p}"),
        other => other.to_string(),
    }
}

/// Run a keyring call on a helper thread and give up after [`KEYRING_TIMEOUT`].
fn with_timeout<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(KEYRING_TIMEOUT)
        .unwrap_or_else(|_| Err("the keyring did not answer within 5 s".into()))
}

fn keyring_entry(store: &Arc<CredentialStore>, user: &str) -> Result<Entry, String> {
    store
        .build(KEYRING_SERVICE, user, None)
        .map_err(keyring_problem)
}

fn keyring_get(store: Arc<CredentialStore>, user: &str) -> Result<Option<DataKey>, String> {
    let user = user.to_string();
    with_timeout(move || {
        let entry = keyring_entry(&store, &user)?;
        match entry.get_secret() {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "the stored key has the wrong length".to_string())?;
                Ok(Some(DataKey::from_bytes(arr)))
            }
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_problem(e)),
        }
    })
}

fn keyring_set(store: Arc<CredentialStore>, user: &str, key: &DataKey) -> Result<(), String> {
    let user = user.to_string();
    let key = key.clone();
    with_timeout(move || {
        let entry = keyring_entry(&store, &user)?;
        entry.set_secret(key.expose()).map_err(keyring_problem)?;
        // Read it back: a keyring that accepts and loses values must not hold our only key.
        match entry.get_secret() {
            Ok(back) if back.as_slice() == key.expose() => Ok(()),
            Ok(_) => Err("the keyring returned a different value".into()),
            Err(e) => Err(keyring_problem(e)),
        }
    })
}

/// Read the key file: `Ok(None)` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<DataKey>, KeyError> {
    let err = |problem: String| KeyError::File {
        path: path.to_path_buf(),
        problem,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "is readable by others (mode {mode:03o}); run chmod 600 on it"
        )));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut *bytes)
        .map_err(|_| err("is not 64 hexadecimal digits; it is damaged".into()))?;
    Ok(Some(DataKey::from_bytes(*bytes)))
}

/// Write a new key file (0600, never over an existing file), synced before use.
fn write_key_file(path: &Path, key: &DataKey) -> Result<(), KeyError> {
    let err = |e: std::io::Error| KeyError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(key.expose())));
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}
