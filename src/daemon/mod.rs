//! The daemon: owns the vault and any number of virtual keys, serves them over their
//! transports (/dev/uhid, a Unix socket, loopback UDP), and serves the control API.
//!
//! Each key's token ([`device::Device`]) runs on its own thread, because every store commit is
//! a synchronous, durable SQLite transaction; the transports and the API run on a tokio
//! runtime. One daemon per state directory (a lock file says so to a second one).
//!
//! - [`keys`]: what a key is ([`keys::KeySpec`], persisted) and a running key.
//! - [`presence`]: each key's button (auto, deny, or manual over the API).
//! - [`token_store`]: a key's records in the SQLite store, sealed.
//! - [`pki`]: the installation-wide attestation CA.
//! - [`env`]: clock and randomness.
//! - [`device`]: the token loop and the routing of reports to hosts.
//! - [`registry`]: the keys by name (running, starting, failed), locked only for lookups.

pub mod device;
pub mod env;
pub mod keys;
pub mod pki;
pub mod presence;
pub mod registry;
pub mod token_store;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use firmware_sim::AttestationPki;

use crate::store::{KeySource, Store};
use crate::transport::uhid::{UHID_PATH, UhidError};
use crate::vault::Vault;
use keys::{KeySpec, Listening, NS_KEYS, StartError, VirtualKey};
use token_store::KEY_NS_PREFIX;

/// Whether the default key may use /dev/uhid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UhidMode {
    /// Use it when it exists and is writable.
    Auto,
    /// Never (`--no-uhid`).
    Off,
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The state directory (database, key file, lock file).
    pub state_dir: PathBuf,
    /// Where the store's data key comes from.
    pub key_source: KeySource,
    /// The default key, as the command line describes it (its transports included).
    pub default_key: KeySpec,
    /// Whether the default key goes on /dev/uhid.
    pub uhid: UhidMode,
    /// Where sockets the daemon names itself go (keys without another transport).
    pub run_dir: PathBuf,
}

/// Why the daemon could not start or had to stop; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The attestation PKI could not be loaded or created.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// Another daemon runs on this state directory.
    #[error(
        "another authsim daemon is already running on {dir} (lock {lock}); stop it first, or use another --state-dir"
    )]
    InUse {
        /// The state directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock file could not be created.
    #[error("cannot create the lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key could not be started.
    #[error("key {key:?}: {source}")]
    Key {
        /// The key.
        key: String,
        /// Why.
        source: StartError,
    },
    /// The control API could not be served.
    #[error(transparent)]
    Api(Box<dyn std::error::Error + Send + Sync>),
    /// The async runtime or signal handling could not be set up.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// What the daemon announces once it serves something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// A key and what it listens on.
    Key {
        /// The key's name.
        name: String,
        /// Its transports.
        listening: Listening,
    },
    /// A remark for the person who started the daemon (e.g. why uhid is not used).
    Note(String),
    /// The control API's Unix socket (the last line: the daemon is ready).
    ApiSocket(PathBuf),
    /// The control API on TCP, and the token file.
    ApiTcp(SocketAddr, PathBuf),
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Key { name, listening } => {
                let mut first = true;
                let mut line = |f: &mut std::fmt::Formatter<'_>, s: String| {
                    let r = if first {
                        write!(f, "{s}")
                    } else {
                        write!(f, "\n{s}")
                    };
                    first = false;
                    r
                };
                if let Some(u) = &listening.uhid {
                    line(f, format!("ready: uhid {u} (key {name})"))?;
                }
                if let Some(p) = &listening.hid_socket {
                    line(f, format!("ready: hid-socket {} (key {name})", p.display()))?;
                }
                if let Some(a) = &listening.hid_udp {
                    line(f, format!("ready: hid-udp {a} (key {name})"))?;
                }
                Ok(())
            }
            Ready::Note(n) => write!(f, "note: {n}"),
            Ready::ApiSocket(p) => write!(f, "ready: api-socket {}", p.display()),
            Ready::ApiTcp(a, t) => write!(f, "ready: api-tcp {a} token-file {}", t.display()),
        }
    }
}

/// The control API, as the binary wires it into the daemon (the daemon knows no HTTP:
/// `src/api` implements this): started once the keys run, stopped when the daemon stops.
pub trait ControlApi {
    /// Binds the API's listeners and serves `daemon` on them until `stop` turns true; says
    /// what it serves through `on_ready` (the API socket last). Returns the serving tasks.
    fn start(
        self,
        daemon: Arc<Daemon>,
        stop: tokio::sync::watch::Receiver<bool>,
        on_ready: &mut dyn FnMut(&Ready),
    ) -> impl std::future::Future<Output = Result<Vec<tokio::task::JoinHandle<()>>, DaemonError>>;
}

/// The daemon's state, shared by the API handlers.
pub struct Daemon {
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where the data key comes from.
    pub key_source: KeySource,
    /// The installation's attestation PKI.
    pub pki: AttestationPki,
    /// The TOTP vault (its store also holds the key specs).
    pub vault: Mutex<Vault>,
    /// The keys, by name (running, being started, or failed to start).
    pub keys: registry::KeyRegistry,
    /// Whether /dev/uhid could be used at start.
    pub uhid_available: bool,
    /// Why not, when it could not.
    pub uhid_problem: Option<String>,
    /// Where sockets the daemon names itself go.
    pub run_dir: PathBuf,
    /// The default key's name (defined by the command line, not stored).
    pub default_key: String,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("state_dir", &self.state_dir)
            .field("uhid_available", &self.uhid_available)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Opens the key's state and starts it; with `persist`, its spec is stored first so a
    /// restart brings it back (and removed again if the start fails).
    pub async fn start_key(
        self: &Arc<Self>,
        spec: KeySpec,
        persist: bool,
    ) -> Result<VirtualKey, StartError> {
        spec.validate()?;
        let d = self.clone();
        let spec2 = spec.clone();
        let device = tokio::task::spawn_blocking(move || {
            let presence = presence::SharedPresence::new(spec2.presence, spec2.is_user_verified);
            keys::open_device(&d.state_dir, &d.key_source, &spec2, &d.pki, presence)
        })
        .await
        .map_err(|e| StartError::Thread(std::io::Error::other(e.to_string())))??;
        let key = VirtualKey::start(spec.clone(), device)?;
        if persist {
            let value = serde_json::to_vec(&spec)
                .map_err(|e| StartError::Thread(std::io::Error::other(e.to_string())))?;
            let d = self.clone();
            let name = spec.name.clone();
            let stored = tokio::task::spawn_blocking(move || {
                let mut v = d.vault.lock().unwrap_or_else(|e| e.into_inner());
                v.store_mut()
                    .transaction(|t| t.put(NS_KEYS, name.as_bytes(), &value))
            })
            .await
            .map_err(|e| StartError::Thread(std::io::Error::other(e.to_string())))?;
            if let Err(e) = stored {
                key.stop().await;
                return Err(e.into());
            }
        }
        Ok(key)
    }

    /// Deletes a (stopped) key's spec and every record of its state, in one transaction.
    pub async fn forget_key(self: &Arc<Self>, name: &str) -> Result<(), crate::store::StoreError> {
        let d = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut v = d.vault.lock().unwrap_or_else(|e| e.into_inner());
            v.store_mut().transaction(|t| {
                t.delete(NS_KEYS, name.as_bytes())?;
                t.delete_prefix(&format!("{KEY_NS_PREFIX}{name}/"))?;
                Ok::<(), crate::store::StoreError>(())
            })
        })
        .await
        .map_err(|e| crate::store::StoreError::Sqlite {
            path: self.state_dir.clone(),
            detail: e.to_string(),
        })?
    }
}

/// The lock that keeps two daemons off one state directory (released on drop).
#[derive(Debug)]
struct DirLock {
    _file: std::fs::File,
}

fn lock_state_dir(dir: &Path) -> Result<DirLock, DaemonError> {
    let path = dir.join("daemon.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| DaemonError::LockFile {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(DaemonError::InUse {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(DaemonError::LockFile { path, source }),
    }
}

/// Whether /dev/uhid can be opened read-write; `Err` says why not, and what to do.
fn probe_uhid() -> Result<(), UhidError> {
    // Opening without creating a device: the probe leaves nothing behind.
    let path = Path::new(UHID_PATH);
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::transport::uhid::open_error(path, e)),
    }
}

/// Runs the daemon until SIGTERM or SIGINT, with `api` serving the control API; `on_ready`
/// hears what it serves, the API socket last. Nothing is announced before everything is up:
/// a daemon that fails on a later argument (the API's address) has printed no `ready:` line.
pub fn run(
    config: DaemonConfig,
    api: impl ControlApi,
    on_ready: &mut dyn FnMut(&Ready),
) -> Result<(), DaemonError> {
    let mut early: Vec<Ready> = Vec::new();
    std::fs::create_dir_all(&config.state_dir).map_err(|source| DaemonError::LockFile {
        path: config.state_dir.clone(),
        source,
    })?;
    let _lock = lock_state_dir(&config.state_dir)?;
    crate::memory::limit_malloc_arenas();
    let mut store = Store::open(&config.state_dir, &config.key_source)?;
    let pki = pki::installation_pki(&mut store)?;
    let mut stored = Vec::new();
    for (name, value) in store.list(NS_KEYS)? {
        let name = String::from_utf8_lossy(&name).into_owned();
        // A spec that does not decode is listed as a failed key (removable), not a reason for
        // the whole daemon to stay down.
        let spec = serde_json::from_slice::<KeySpec>(&value).map_err(|_| name.clone());
        if !matches!(&spec, Ok(s) if s.name == config.default_key.name) {
            stored.push(spec);
        }
    }

    let mut default_key = config.default_key.clone();
    let uhid_problem = match config.uhid {
        UhidMode::Off => Some("the daemon was started with --no-uhid".to_owned()),
        UhidMode::Auto => probe_uhid().err().map(|e| {
            early.push(Ready::Note(e.to_string()));
            e.to_string()
        }),
    };
    let uhid_available = uhid_problem.is_none();
    default_key.uhid = uhid_available;
    if !default_key.uhid && default_key.hid_socket.is_none() && default_key.hid_udp.is_none() {
        let path = config
            .run_dir
            .join(format!("hid-{}.sock", default_key.name));
        early.push(Ready::Note(format!(
            "/dev/uhid is not in use; the key {:?} is on the Unix socket {}",
            default_key.name,
            path.display()
        )));
        default_key.hid_socket = Some(path);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let daemon = Arc::new(Daemon {
        state_dir: config.state_dir.clone(),
        key_source: config.key_source.clone(),
        pki,
        vault: Mutex::new(Vault::new(store)),
        keys: registry::KeyRegistry::new(),
        uhid_available,
        uhid_problem,
        run_dir: config.run_dir.clone(),
        default_key: default_key.name.clone(),
    });
    let served = runtime.block_on(serve(
        &daemon,
        &config,
        default_key,
        stored,
        api,
        early,
        on_ready,
    ));
    runtime.block_on(async {
        for key in daemon.keys.drain() {
            key.stop().await;
        }
    });
    drop(runtime);
    served
}

async fn serve(
    daemon: &Arc<Daemon>,
    config: &DaemonConfig,
    default_key: KeySpec,
    stored: Vec<Result<KeySpec, String>>,
    api: impl ControlApi,
    early: Vec<Ready>,
    announce: &mut dyn FnMut(&Ready),
) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut held = early;
    let on_ready = &mut |r: &Ready| held.push(r.clone());
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;

    crate::paths::create_private_dir(&config.run_dir).map_err(|source| DaemonError::LockFile {
        path: config.run_dir.clone(),
        source,
    })?;
    let name = default_key.name.clone();
    let key = daemon
        .start_key(default_key, false)
        .await
        .map_err(|source| DaemonError::Key { key: name, source })?;
    on_ready(&Ready::Key {
        name: key.spec.name.clone(),
        listening: key.listening.clone(),
    });
    daemon.keys.install(key);
    // The stored keys open at once (each reads and checks its whole state); their lines
    // follow in name order.
    // Two at a time: two cores, and each start's transient peak (its whole state) counts.
    let permits = Arc::new(tokio::sync::Semaphore::new(2));
    let mut starting = tokio::task::JoinSet::new();
    for spec in stored {
        let spec = match spec {
            Ok(spec) => spec,
            Err(name) => {
                on_ready(&Ready::Note(format!(
                    "the stored spec of key {name:?} is damaged (it is listed as failed; `authsim key remove {name}` erases it)"
                )));
                daemon.keys.fail(
                    KeySpec::with_defaults(&name),
                    "its stored spec is damaged".to_owned(),
                );
                continue;
            }
        };
        let d = daemon.clone();
        let permits = permits.clone();
        starting.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = d.start_key(spec.clone(), false).await;
            (spec, result)
        });
    }
    let mut started = BTreeMap::new();
    while let Some(joined) = starting.join_next().await {
        if let Ok((spec, result)) = joined {
            started.insert(spec.name.clone(), (spec, result));
        }
    }
    for (name, (spec, result)) in started {
        match result {
            Ok(key) => {
                on_ready(&Ready::Key {
                    name: name.clone(),
                    listening: key.listening.clone(),
                });
                daemon.keys.install(key);
            }
            // Listed (GET /webauthn/authenticator, `authsim key list`) with its reason, and
            // removable, like any other key.
            Err(e) => {
                on_ready(&Ready::Note(format!(
                    "the stored key {name:?} did not start: {e} (it is listed as failed; `authsim key remove {name}` erases it)"
                )));
                daemon.keys.fail(spec, e.to_string());
            }
        }
    }

    crate::memory::release_free_memory();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let servers = api.start(daemon.clone(), stop_rx, on_ready).await?;
    for r in &held {
        announce(r);
    }

    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    let _ = stop_tx.send(true);
    for s in servers {
        // Requests in flight get a moment to finish; a stuck client does not hold us up.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), s).await;
    }
    Ok(())
}
