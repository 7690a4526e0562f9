//! The virtual keys a daemon runs: what each one is (its [`KeySpec`], kept in the store so a
//! restart brings it back), and a running key ([`VirtualKey`]): its token thread, its
//! transports and its shared presence state.
//!
//! The spec's field names follow the W3C WebDriver virtual-authenticator extension
//! (`protocol`, `transport`, `hasResidentKey`, `hasUserVerification`, `isUserConsenting`,
//! `isUserVerified`, `extensions`), plus authsim's own (attestation, counter mode, presence
//! policy, transports).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use firmware_sim::{AttestationMode, AttestationPki, CounterMode, DEFAULT_AAGUID, Protocol};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::device::{Control, Device};
use super::env::{DeviceEnv, OsRng, SystemClock};
use super::presence::{PresencePolicy, SharedPresence};
use super::token_store::{SqliteRecordStore, check_key_name};
use crate::store::{KeySource, Store};
use crate::transport::uhid::serve::{UhidControl, UhidTransport};
use crate::transport::uhid::{UhidConfig, UhidError};
use crate::transport::{self, DeviceInbox, HostEvent, udp::UdpTransport, unix::UnixTransport};

/// Store namespace of the daemon's key specs (record key: the key's name).
pub const NS_KEYS: &str = "daemon.keys";

/// The CTAP protocol family, as WebDriver names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolName {
    /// CTAP 2.0 (and U2F).
    #[serde(rename = "ctap2")]
    Ctap2,
    /// CTAP 2.1 (and U2F).
    #[serde(rename = "ctap2_1")]
    Ctap21,
    /// U2F (CTAP1) only.
    #[serde(rename = "u2f")]
    U2f,
}

/// The attestation statement of new credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationName {
    /// fmt "none".
    None,
    /// fmt "packed", signed by the credential's own key.
    #[serde(rename = "self")]
    SelfSigned,
    /// fmt "packed" with the installation's batch certificate.
    X5c,
}

/// How signature counters advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CounterName {
    /// One counter per credential.
    PerCredential,
    /// One counter for the whole key.
    Global,
    /// Always zero, as synced passkeys show (`zero` is accepted for it).
    #[serde(alias = "zero")]
    AlwaysZero,
}

/// Everything that defines one virtual key (persisted as JSON in [`NS_KEYS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySpec {
    /// The key's name, also its `authenticatorId`.
    pub name: String,
    /// CTAP protocol family.
    pub protocol: ProtocolName,
    /// Discoverable credentials supported.
    pub has_resident_key: bool,
    /// Built-in user verification present.
    pub has_user_verification: bool,
    /// Whether built-in user verification succeeds.
    pub is_user_verified: bool,
    /// How requests for a touch are answered.
    pub presence: PresencePolicy,
    /// Attestation of new credentials.
    pub attestation: AttestationName,
    /// Counter mode.
    pub counter_mode: CounterName,
    /// The AAGUID, as a UUID string.
    pub aaguid: String,
    /// Most discoverable credentials the key holds.
    pub max_resident_credentials: usize,
    /// Serve the key on /dev/uhid.
    pub uhid: bool,
    /// Serve the key on this Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_socket: Option<PathBuf>,
    /// Serve the key on this loopback UDP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_udp: Option<SocketAddr>,
    /// The USB product name the kernel shows.
    pub product_name: String,
    /// WebDriver Level 3's `defaultBackupEligibility`: the BE flag of new credentials (a synced
    /// passkey provider); absent in specs stored before it existed.
    #[serde(default)]
    pub default_backup_eligibility: bool,
    /// WebDriver Level 3's `defaultBackupState`: the BS flag of new credentials (only with BE).
    #[serde(default)]
    pub default_backup_state: bool,
}

/// Page cache of each key's own database connection, in KiB.
const KEY_CACHE_KIB: u32 = 256;

/// The default cap on discoverable credentials per key.
pub const DEFAULT_MAX_RESIDENT: usize = 100;
/// The largest cap a key may be given.
pub const MAX_MAX_RESIDENT: usize = 1_000_000;

/// Why a key spec is unusable (an API 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSpec(pub String);

/// Formats 16 bytes as a lowercase UUID.
pub fn uuid_string(b: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*b).to_string()
}

/// Parses a UUID (hyphenated or simple, any case).
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::try_parse(s).ok().map(|u| *u.as_bytes())
}

impl KeySpec {
    /// The spec of a key named `name` with authsim's defaults (CTAP 2.1, resident keys, no
    /// built-in UV, auto-approve, x5c attestation, per-credential counters).
    pub fn with_defaults(name: &str) -> KeySpec {
        KeySpec {
            name: name.to_owned(),
            protocol: ProtocolName::Ctap21,
            has_resident_key: true,
            has_user_verification: false,
            is_user_verified: true,
            presence: PresencePolicy::Auto,
            attestation: AttestationName::X5c,
            counter_mode: CounterName::PerCredential,
            aaguid: uuid_string(&DEFAULT_AAGUID),
            max_resident_credentials: DEFAULT_MAX_RESIDENT,
            uhid: false,
            hid_socket: None,
            hid_udp: None,
            product_name: format!("authsim virtual key ({name})"),
            default_backup_eligibility: false,
            default_backup_state: false,
        }
    }

    /// Checks what the token and the transports can honour.
    pub fn validate(&self) -> Result<(), BadSpec> {
        check_key_name(&self.name).map_err(|e| BadSpec(e.to_string()))?;
        let aaguid = parse_uuid(&self.aaguid)
            .ok_or_else(|| BadSpec(format!("aaguid {:?} is not a UUID", self.aaguid)))?;
        if aaguid != DEFAULT_AAGUID && self.attestation == AttestationName::X5c {
            return Err(BadSpec(
                "a custom aaguid needs attestation \"none\" or \"self\": the installation's batch certificate names authsim's AAGUID".into(),
            ));
        }
        if self.max_resident_credentials == 0 || self.max_resident_credentials > MAX_MAX_RESIDENT {
            return Err(BadSpec(format!(
                "maxResidentCredentials must be from 1 to {MAX_MAX_RESIDENT}"
            )));
        }
        if self.product_name.is_empty() || self.product_name.len() > 127 {
            return Err(BadSpec("productName must be 1 to 127 bytes".into()));
        }
        if crate::vault::has_controls(&self.product_name) {
            return Err(BadSpec(
                "productName must not contain control characters".into(),
            ));
        }
        if self.default_backup_state && !self.default_backup_eligibility {
            return Err(BadSpec(
                "defaultBackupState true needs defaultBackupEligibility true: a credential is \
                 backed up only if it is backup eligible (WebAuthn §6.1.3)"
                    .into(),
            ));
        }
        if let Some(a) = self.hid_udp
            && !a.ip().is_loopback()
        {
            return Err(BadSpec(format!(
                "hidUdp {a}: the UDP transport binds only loopback addresses"
            )));
        }
        Ok(())
    }

    /// The token configuration this spec stands for.
    pub fn token_config(&self, pki: &AttestationPki) -> firmware_sim::TokenConfig {
        firmware_sim::TokenConfig {
            attestation_pki: Some(pki.clone()),
            ..self.config_without_pki()
        }
    }

    /// What a key of this spec does (its getInfo, the commands it serves, its extensions).
    pub fn capabilities(&self) -> firmware_sim::Capabilities {
        firmware_sim::Capabilities::from_config(&self.config_without_pki())
    }

    /// The token configuration, but for the installation's attestation PKI.
    fn config_without_pki(&self) -> firmware_sim::TokenConfig {
        firmware_sim::TokenConfig {
            aaguid: parse_uuid(&self.aaguid).unwrap_or(DEFAULT_AAGUID),
            attestation: match self.attestation {
                AttestationName::None => AttestationMode::None,
                AttestationName::SelfSigned => AttestationMode::SelfAttestation,
                AttestationName::X5c => AttestationMode::Batch,
            },
            counter_mode: match self.counter_mode {
                CounterName::PerCredential => CounterMode::PerCredential,
                CounterName::Global => CounterMode::Global,
                CounterName::AlwaysZero => CounterMode::AlwaysZero,
            },
            resident_keys: self.has_resident_key,
            user_verification: self.has_user_verification,
            max_resident_credentials: self.max_resident_credentials,
            backup_eligible: self.default_backup_eligibility,
            backup_state: self.default_backup_state,
            protocol: match self.protocol {
                ProtocolName::Ctap2 => Protocol::Ctap2_0,
                ProtocolName::Ctap21 => Protocol::Ctap2_1,
                ProtocolName::U2f => Protocol::U2f,
            },
            message_timeout_ms: message_timeout_ms(),
            ..firmware_sim::TokenConfig::default()
        }
    }
}

/// The environment variable that lengthens the CTAPHID message timeout (ms).
pub const MESSAGE_TIMEOUT_ENV: &str = "AUTHSIM_CTAPHID_MESSAGE_TIMEOUT_MS";

/// How long a key waits for the next packet of a CTAPHID message before ERR_MSG_TIMEOUT:
/// firmware-sim's default (500 ms, like a hardware key), or AUTHSIM_CTAPHID_MESSAGE_TIMEOUT_MS
/// where the host is too slow for it (Chromium under qemu's TCG may write a message's reports
/// further apart: tests/qemu/browser-init.sh). An unparsable value keeps the default.
fn message_timeout_ms() -> u64 {
    std::env::var(MESSAGE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(firmware_sim::TokenConfig::default().message_timeout_ms)
}

/// Why a key could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The spec is unusable.
    #[error(transparent)]
    Spec(#[from] BadSpec),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The key's stored state is unreadable or inconsistent.
    #[error(
        "the stored state of key {key:?} is unusable: {source}; nothing was changed (remove the key or use another --state-dir)"
    )]
    KeyState {
        /// The key name.
        key: String,
        /// What the token reported.
        source: firmware_sim::TokenError,
    },
    /// /dev/uhid could not be used.
    #[error(transparent)]
    Uhid(#[from] UhidError),
    /// A userspace transport could not be bound.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// The key's thread could not be started.
    #[error("cannot start the key's thread: {0}")]
    Thread(std::io::Error),
}

/// What a running key listens on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listening {
    /// The uhid device's HID_UNIQ, when the key is on /dev/uhid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uhid: Option<String>,
    /// The Unix socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hid_socket: Option<PathBuf>,
    /// The bound UDP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hid_udp: Option<SocketAddr>,
}

/// The key's thread has stopped (it no longer answers).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the key's thread has stopped")]
pub struct KeyGone;

/// A running virtual key.
#[derive(Debug)]
pub struct VirtualKey {
    /// What it is.
    pub spec: KeySpec,
    /// Its button.
    pub presence: SharedPresence,
    /// What it listens on.
    pub listening: Listening,
    inbox: DeviceInbox,
    control: std_mpsc::Sender<Control>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    uhid: std::sync::Mutex<Option<mpsc::Sender<UhidControl>>>,
}

/// The uhid identity of a key: the product name, and `authsim-NAME` as HID_UNIQ.
pub fn uhid_config(spec: &KeySpec) -> UhidConfig {
    UhidConfig::new(spec.product_name.clone(), &format!("authsim-{}", spec.name))
}

/// Opens the key's state and powers up its token (the store is checked before serving).
pub fn open_device(
    state_dir: &Path,
    key_source: &KeySource,
    spec: &KeySpec,
    pki: &AttestationPki,
    presence: SharedPresence,
) -> Result<Device, StartError> {
    spec.validate()?;
    let store = Store::open(state_dir, key_source)?;
    store.set_cache_kib(KEY_CACHE_KIB)?;
    let env = DeviceEnv {
        clock: SystemClock::new(),
        rng: OsRng,
        presence,
        store: SqliteRecordStore::new(store, &spec.name).map_err(|e| BadSpec(e.to_string()))?,
    };
    let mut device = Device::new(spec.token_config(pki), env);
    let (token, env) = device.parts();
    let summary = token
        .check_store(env)
        .map_err(|source| StartError::KeyState {
            key: spec.name.clone(),
            source,
        })?;
    tracing::info!(
        key = %spec.name,
        resident_credentials = summary.resident_credentials,
        "key state checked"
    );
    Ok(device)
}

impl VirtualKey {
    /// Starts a key from an opened device: binds its transports (inside the tokio runtime)
    /// and starts its thread. Fails with nothing left running.
    pub fn start(spec: KeySpec, device: Device) -> Result<VirtualKey, StartError> {
        let presence = device.presence().clone();
        let mut listening = Listening::default();
        let uhid = if spec.uhid {
            let t = UhidTransport::create(&uhid_config(&spec))?;
            listening.uhid = Some(t.config().uniq.clone());
            Some(t)
        } else {
            None
        };
        let unix = spec
            .hid_socket
            .as_deref()
            .map(UnixTransport::bind)
            .transpose()?;
        let udp = spec.hid_udp.map(UdpTransport::bind).transpose()?;
        listening.hid_socket = unix.as_ref().map(|u| u.path().to_path_buf());
        listening.hid_udp = udp.as_ref().map(|u| u.local_addr());

        let (inbox, outbox) = transport::device_queue();
        let (control, control_rx) = std_mpsc::channel::<Control>();
        let thread_name = spec.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("key-{}", spec.name))
            .spawn(move || {
                // Every line the key's thread logs names the key.
                let _key = tracing::debug_span!("key", name = %thread_name).entered();
                device.run(outbox, control_rx)
            })
            .map_err(StartError::Thread)?;
        let mut tasks = Vec::new();
        let mut uhid_control = None;
        if let Some(t) = uhid {
            let (tx, rx) = mpsc::channel(4);
            uhid_control = Some(tx);
            tasks.push(tokio::spawn(t.serve(inbox.clone(), rx)));
        }
        if let Some(t) = unix {
            tasks.push(tokio::spawn(t.serve(inbox.clone())));
        }
        if let Some(t) = udp {
            tasks.push(tokio::spawn(t.serve(inbox.clone())));
        }
        Ok(VirtualKey {
            spec,
            presence,
            listening,
            inbox,
            control,
            thread: std::sync::Mutex::new(Some(thread)),
            tasks: std::sync::Mutex::new(tasks),
            uhid: std::sync::Mutex::new(uhid_control),
        })
    }

    /// Runs `work` on the key's thread with the device to itself, and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Device) -> T + Send + 'static,
    ) -> Result<T, KeyGone> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Box::new(move |d: &mut Device| {
                let _ = tx.send(work(d));
            }))
            .map_err(|_| KeyGone)?;
        self.wake().await?;
        rx.await.map_err(|_| KeyGone)
    }

    /// The key's event queue, for a host inside the daemon
    /// ([`crate::transport::inproc::InProcessHost`]).
    pub fn inbox(&self) -> DeviceInbox {
        self.inbox.clone()
    }

    /// Tells the key's thread to look at its presence state and control queue now.
    pub async fn wake(&self) -> Result<(), KeyGone> {
        self.inbox.send(HostEvent::Wake).await.map_err(|_| KeyGone)
    }

    /// Unplugs and replugs the key: the token loses its channels and volatile state, and the
    /// uhid device is destroyed and created again (its hidraw node goes and comes back).
    pub async fn power_cycle(&self) -> Result<(), String> {
        self.call(|d| {
            d.clear_routes();
            let (token, env) = d.parts();
            token.power_cycle(env);
        })
        .await
        .map_err(|e| e.to_string())?;
        let uhid = self.uhid.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(u) = &uhid {
            let (tx, rx) = oneshot::channel();
            u.send(UhidControl::PowerCycle(tx))
                .await
                .map_err(|_| "the uhid transport has stopped".to_string())?;
            rx.await
                .map_err(|_| "the uhid transport has stopped".to_string())??;
        }
        Ok(())
    }

    /// Stops the key: destroys its uhid device, closes its transports and ends its thread
    /// (its state stays in the store).
    pub async fn stop(&self) {
        let uhid = self.uhid.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(u) = uhid {
            let (tx, rx) = oneshot::channel();
            if u.send(UhidControl::Stop(tx)).await.is_ok() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), rx).await;
            }
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
        }
        let _ = self.call(|d| d.stop()).await;
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
