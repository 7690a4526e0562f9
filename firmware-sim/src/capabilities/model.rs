//! The capabilities value and its queries, apart from how it is built ([`super`]), so that the
//! extensions, which decide their own support from it, depend on it without depending back.

use crate::config::Protocol;
use crate::credential::Algorithm;

/// The capabilities of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The protocol family and level.
    pub protocol: Protocol,
    /// getInfo versions, in the order shipping keys list them.
    pub versions: Vec<&'static str>,
    /// The CTAP2 commands served (others answer `CTAP1_ERR_INVALID_COMMAND`).
    pub commands: Vec<u8>,
    /// Discoverable credentials ("rk").
    pub resident_keys: bool,
    /// Built-in user verification ("uv").
    pub user_verification: bool,
    /// authenticatorClientPIN with a PIN ("clientPin" present).
    pub client_pin: bool,
    /// pinUvAuthToken and the permissions subcommands ("pinUvAuthToken").
    pub pin_uv_auth_token: bool,
    /// Non-discoverable credentials without user verification ("makeCredUvNotRqd").
    pub make_cred_uv_not_rqd: bool,
    /// authenticatorConfig ("authnrCfg").
    pub authenticator_config: bool,
    /// The alwaysUv feature ("alwaysUv" present).
    pub always_uv: bool,
    /// setMinPINLength ("setMinPINLength").
    pub set_min_pin_length: bool,
    /// Enterprise attestation ("ep" present).
    pub enterprise_attestation: bool,
    /// authenticatorCredentialManagement ("credMgmt"), and its prototype
    /// ("credentialMgmtPreview", command 0x41) beside it as shipping CTAP 2.1 keys have it.
    pub credential_management: bool,
    /// authenticatorLargeBlobs ("largeBlobs").
    pub large_blobs: bool,
    /// The largest serialized large-blob array (when `large_blobs`).
    pub max_serialized_large_blob_array: usize,
    /// Supported PIN/UV auth protocols, most preferred first.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// Supported extension identifiers.
    pub extensions: Vec<&'static str>,
    /// The longest credBlob (with the credBlob extension).
    pub max_cred_blob_length: Option<usize>,
    /// How many RP IDs setMinPINLength may grant the minPinLength extension.
    pub max_rp_ids_for_set_min_pin_length: Option<usize>,
    /// Credential algorithms, most preferred first.
    pub algorithms: Vec<Algorithm>,
    /// The largest CTAPHID message.
    pub max_msg_size: usize,
    /// The most credentials an allow or exclude list may hold.
    pub max_credential_count_in_list: usize,
    /// The longest credential id.
    pub max_credential_id_length: usize,
    /// How many discoverable credentials fit.
    pub max_resident_credentials: usize,
    /// Transports.
    pub transports: Vec<&'static str>,
}

impl Capabilities {
    /// Whether the key speaks CTAP2 at all (CTAPHID_CBOR).
    pub fn speaks_ctap2(&self) -> bool {
        !self.commands.is_empty()
    }

    /// Whether the key is a CTAP 2.1 authenticator.
    pub fn is_ctap21(&self) -> bool {
        self.protocol == Protocol::Ctap2_1
    }

    /// Whether CTAP2 command `command` is served.
    pub fn serves(&self, command: u8) -> bool {
        self.commands.contains(&command)
    }

    /// Whether extension `id` is supported.
    pub fn supports_extension(&self, id: &str) -> bool {
        self.extensions.contains(&id)
    }
}
