//! The token's configuration: a plain struct fixed at construction.

use zeroize::Zeroizing;

use crate::attestation::{AttestationMode, AttestationPki};

/// How signature counters advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CounterMode {
    /// One counter per credential (starts at 0, +1 per signature).
    #[default]
    PerCredential,
    /// One counter for the whole token (+1 per registration or signature).
    Global,
    /// Always 0: the relying party is told the token has no counter.
    AlwaysZero,
}

/// Which protocol family the token speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// CTAP 2.0 + U2F: getInfo versions ["U2F_V2","FIDO_2_0"]
    Ctap2_0,
    /// CTAP 2.1 + U2F (today's behaviour)
    #[default]
    Ctap2_1,
    /// U2F only: INIT capabilities without the CBOR bit (and NMSG clear), CTAPHID_CBOR answered with ERR_INVALID_CMD
    U2f,
}

impl Protocol {
    /// Whether the token answers CTAPHID_CBOR (CTAP2) at all.
    pub fn speaks_ctap2(self) -> bool {
        !matches!(self, Protocol::U2f)
    }
}

/// Everything that makes one virtual token differ from another, except its stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// Which protocol family the token speaks (CTAP 2.1 + U2F by default).
    pub protocol: Protocol,
    /// The authenticator model's AAGUID.
    pub aaguid: [u8; 16],
    /// Attestation statement format.
    pub attestation: AttestationMode,
    /// Signature counter behaviour.
    pub counter_mode: CounterMode,
    /// How many signature counter values one durable write reserves ahead (at least 1): the
    /// store keeps only the high-water mark, so a power cut skips at most this many values of
    /// a counter (never repeats one), and a run of assertions commits once per this many.
    pub counter_reserve: u32,
    /// Whether discoverable (resident) credentials are supported.
    pub resident_keys: bool,
    /// Whether the token has built-in user verification (the presence poll then also verifies).
    pub user_verification: bool,
    /// Whether a CTAP 2.1 token has authenticatorClientPIN with a PIN ("clientPin"); the PIN/UV
    /// auth protocols are there either way when built-in UV is. Ignored below CTAP 2.1.
    pub client_pin: bool,
    /// A PIN the token gets at first boot (when it creates its master secret), as if set with
    /// setPIN; ignored if it breaks the PIN policy (see [`crate::check_pin`]). Never shown.
    pub initial_pin: Option<SecretPin>,
    /// Whether "always require user verification" is on when the token is new or reset.
    pub always_uv: bool,
    /// Whether the token is capable of enterprise attestation ("ep"; off until
    /// authenticatorConfig enableEnterpriseAttestation turns it on).
    pub enterprise_attestation: bool,
    /// Maximum number of resident credentials.
    pub max_resident_credentials: usize,
    /// The backup eligibility (BE flag) of the credentials the token makes: a synced passkey
    /// provider's credentials are eligible (WebDriver's `defaultBackupEligibility`).
    pub backup_eligible: bool,
    /// The backup state (BS flag) of the credentials the token makes (WebDriver's
    /// `defaultBackupState`); only with `backup_eligible` (WebAuthn §6.1.3: BS needs BE).
    pub backup_state: bool,
    /// Firmware version reported by authenticatorGetInfo.
    pub firmware_version: u32,
    /// CTAPHID device version (major, minor, build) reported by INIT.
    pub device_version: (u8, u8, u8),
    /// How long a user-presence wait lasts before CTAP2_ERR_USER_ACTION_TIMEOUT.
    pub user_presence_timeout_ms: u64,
    /// How long the token waits for the next packet of a message before ERR_MSG_TIMEOUT.
    pub message_timeout_ms: u64,
    /// Interval between KEEPALIVE packets while waiting for the user (at most 100 ms).
    pub keepalive_interval_ms: u64,
    /// Organisation named in the attestation certificates (subject O).
    pub attestation_organization: String,
    /// Country named in the attestation certificates (subject C, ISO 3166 alpha-2).
    pub attestation_country: String,
    /// An installation-wide attestation CA and batch certificate shared by several tokens;
    /// `None` makes the token create its own at first boot and keep it in its store.
    pub attestation_pki: Option<AttestationPki>,
}

/// A PIN handed to the token from outside (UTF-8); wiped on drop, never in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretPin(Zeroizing<String>);

impl SecretPin {
    /// Wraps a PIN.
    pub fn new(pin: impl Into<String>) -> Self {
        Self(Zeroizing::new(pin.into()))
    }

    /// The PIN's UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The PIN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretPin(<redacted>)")
    }
}

/// The default [`TokenConfig::counter_reserve`]: a commit per 1,024 signatures, and at most
/// 1,024 values skipped per power cut (a u32 counter lasts 4 million power cuts).
pub const DEFAULT_COUNTER_RESERVE: u32 = 1024;

/// The default AAGUID of authsim virtual keys.
pub const DEFAULT_AAGUID: [u8; 16] = [
    0x61, 0x75, 0x74, 0x68, 0x73, 0x69, 0x6d, 0x2d, 0x66, 0x77, 0x2d, 0x73, 0x69, 0x6d, 0x00, 0x01,
];

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            protocol: Protocol::Ctap2_1,
            aaguid: DEFAULT_AAGUID,
            attestation: AttestationMode::Batch,
            counter_mode: CounterMode::PerCredential,
            counter_reserve: DEFAULT_COUNTER_RESERVE,
            resident_keys: true,
            user_verification: false,
            client_pin: true,
            initial_pin: None,
            always_uv: false,
            enterprise_attestation: false,
            max_resident_credentials: 100,
            backup_eligible: false,
            backup_state: false,
            firmware_version: 1,
            device_version: (0, 1, 0),
            user_presence_timeout_ms: 30_000,
            message_timeout_ms: 500,
            keepalive_interval_ms: 50,
            attestation_organization: "authsim".to_owned(),
            attestation_country: "US".to_owned(),
            attestation_pki: None,
        }
    }
}
