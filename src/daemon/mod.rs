//! The daemon: owns the virtual keys and serves them over the transports.
//!
//! This first cut runs one virtual key behind the userspace transports (a Unix socket and/or
//! loopback UDP) until SIGTERM or SIGINT. The key's token ([`device::Device`]) runs on its own
//! thread, because every store commit is a synchronous, durable SQLite transaction; the
//! transports run on a single-threaded tokio runtime. Later issues add uhid, several keys and
//! the control API beside them.
//!
//! - [`token_store`]: the key's records in the SQLite store, sealed.
//! - [`pki`]: the installation-wide attestation CA.
//! - [`env`]: clock, randomness and the presence policy.
//! - [`device`]: the token loop and the routing of reports to hosts.

pub mod device;
pub mod env;
pub mod pki;
pub mod token_store;

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use firmware_sim::{AttestationMode, TokenConfig};

use crate::store::{KeySource, Store};
use crate::transport::{self, DeviceInbox, TransportError, udp::UdpTransport, unix::UnixTransport};
use device::Device;
use env::{DeviceEnv, OsRng, PresencePolicy, SystemClock};
use token_store::SqliteRecordStore;

/// What to serve, and how the key behaves.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The state directory (database, key file, lock files).
    pub state_dir: PathBuf,
    /// Where the store's data key comes from.
    pub key_source: KeySource,
    /// The virtual key's name (its records live under `key/NAME/`).
    pub key_name: String,
    /// How requests for a touch are answered.
    pub presence: PresencePolicy,
    /// The attestation statement format.
    pub attestation: AttestationMode,
    /// Serve the key on this Unix socket path.
    pub hid_socket: Option<PathBuf>,
    /// Serve the key on this loopback UDP address.
    pub hid_udp: Option<SocketAddr>,
}

/// Why the daemon could not start or had to stop; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No transport was asked for.
    #[error("nothing to serve: give --hid-socket PATH and/or --hid-udp 127.0.0.1:PORT")]
    NoTransport,
    /// The key name is unusable.
    #[error(transparent)]
    KeyName(#[from] token_store::BadKeyName),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The attestation PKI could not be loaded or created.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// Another daemon serves this key from this state directory.
    #[error(
        "the key {key:?} is already served by another authsim daemon (lock {path}); stop it first"
    )]
    KeyInUse {
        /// The key name.
        key: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be created.
    #[error("cannot create the lock file {path}: {source}")]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key's stored state is unreadable or inconsistent.
    #[error(
        "the stored state of key {key:?} is unusable: {source}; nothing was changed (use another --key or --state-dir)"
    )]
    KeyState {
        /// The key name.
        key: String,
        /// What the token reported.
        source: firmware_sim::TokenError,
    },
    /// A transport could not be set up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The async runtime or signal handling could not be set up.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The device thread stopped unexpectedly.
    #[error("the device thread stopped unexpectedly")]
    DeviceDied,
}

/// What the daemon listens on, as announced on the ready lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// The Unix socket path.
    HidSocket(PathBuf),
    /// The bound UDP address.
    HidUdp(SocketAddr),
}

impl std::fmt::Display for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listening::HidSocket(p) => write!(f, "hid-socket {}", p.display()),
            Listening::HidUdp(a) => write!(f, "hid-udp {a}"),
        }
    }
}

/// The file lock that keeps two daemons from serving one key (released on drop).
#[derive(Debug)]
struct KeyLock {
    _file: std::fs::File,
}

fn lock_key(dir: &Path, key: &str) -> Result<KeyLock, DaemonError> {
    let path = dir.join(format!("key-{key}.lock"));
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
        Ok(()) => Ok(KeyLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(DaemonError::KeyInUse {
            key: key.to_owned(),
            path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(DaemonError::LockFile { path, source }),
    }
}

/// Opens the key's state and powers up its token (the store is checked before serving).
pub fn open_device(config: &DaemonConfig) -> Result<Device, DaemonError> {
    token_store::check_key_name(&config.key_name)?;
    let mut store = Store::open(&config.state_dir, &config.key_source)?;
    let pki = pki::installation_pki(&mut store)?;
    let token_config = TokenConfig {
        attestation: config.attestation,
        attestation_pki: Some(pki),
        ..TokenConfig::default()
    };
    let env = DeviceEnv {
        clock: SystemClock::new(),
        rng: OsRng,
        presence: config.presence,
        store: SqliteRecordStore::new(store, &config.key_name)?,
    };
    let mut device = Device::new(token_config, env);
    let (token, env) = device.parts();
    let summary = token
        .check_store(env)
        .map_err(|source| DaemonError::KeyState {
            key: config.key_name.clone(),
            source,
        })?;
    tracing::info!(
        key = %config.key_name,
        resident_credentials = summary.resident_credentials,
        "key state checked"
    );
    Ok(device)
}

/// Runs the daemon until SIGTERM or SIGINT; `on_ready` hears each transport once it listens.
pub fn run(config: DaemonConfig, on_ready: &mut dyn FnMut(&Listening)) -> Result<(), DaemonError> {
    if config.hid_socket.is_none() && config.hid_udp.is_none() {
        return Err(DaemonError::NoTransport);
    }
    token_store::check_key_name(&config.key_name)?;
    std::fs::create_dir_all(&config.state_dir).map_err(|source| DaemonError::LockFile {
        path: config.state_dir.clone(),
        source,
    })?;
    let _lock = lock_key(&config.state_dir, &config.key_name)?;
    let device = open_device(&config)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let (inbox, outbox) = transport::device_queue();
    let (died_tx, died_rx) = tokio::sync::oneshot::channel::<()>();
    let device_thread = std::thread::Builder::new()
        .name(format!("key-{}", config.key_name))
        .spawn(move || {
            device.run(outbox);
            let _ = died_tx.send(());
        })
        .map_err(DaemonError::Runtime)?;

    let served = runtime.block_on(serve(&config, inbox, on_ready, died_rx));
    // Dropping the runtime cancels the transports (removing the socket file) and drops every
    // sender of the device queue, so the device thread finishes its last report and stops.
    drop(runtime);
    let joined = device_thread.join();
    served?;
    joined.map_err(|_| DaemonError::DeviceDied)
}

async fn serve(
    config: &DaemonConfig,
    inbox: DeviceInbox,
    on_ready: &mut dyn FnMut(&Listening),
    died: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;

    let unix = config
        .hid_socket
        .as_deref()
        .map(UnixTransport::bind)
        .transpose()?;
    let udp = config.hid_udp.map(UdpTransport::bind).transpose()?;
    if let Some(t) = unix {
        on_ready(&Listening::HidSocket(t.path().to_path_buf()));
        tokio::spawn(t.serve(inbox.clone()));
    }
    if let Some(t) = udp {
        on_ready(&Listening::HidUdp(t.local_addr()));
        tokio::spawn(t.serve(inbox.clone()));
    }
    drop(inbox);

    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        _ = died => return Err(DaemonError::DeviceDied),
    }
    Ok(())
}
