//! What one key can do, decided once from its [`TokenConfig`]: the protocol level, the commands
//! it serves, its options, PIN/UV auth protocols, extensions, algorithms and limits.
//!
//! getInfo reports this value, CTAP2 dispatch serves exactly its commands, and a control API
//! validates requests against it (through [`crate::Token::capabilities`]), so the key can never
//! claim what it does not do. Things that change at run time (whether a PIN is set, alwaysUv,
//! the minimum PIN length) are state, not capabilities; getInfo adds them.

use crate::config::{Protocol, TokenConfig};
use crate::credential::Algorithm;
use crate::ctap2::command;
use crate::ctaphid::MAX_MESSAGE_LEN;
use crate::extensions;

/// The longest credential id the token accepts or produces (reported by getInfo).
pub const MAX_CREDENTIAL_ID_LEN: usize = 128;
/// The number of credentials per allow/exclude list the token promises to handle.
pub const MAX_CREDENTIAL_COUNT_IN_LIST: usize = 16;
/// The largest serialized large-blob array the token stores (getInfo
/// maxSerializedLargeBlobArray; the specification asks for at least 1024).
pub const MAX_SERIALIZED_LARGE_BLOB_ARRAY: usize = 4096;

/// Whether a key with `config` serves authenticatorLargeBlobs (and so the largeBlobKey
/// extension): CTAP 2.1 keys with discoverable credentials, the only ones a largeBlobKey
/// belongs to.
pub(crate) fn serves_large_blobs(config: &TokenConfig) -> bool {
    config.protocol == Protocol::Ctap2_1 && config.resident_keys
}

pub(crate) mod model;

pub use model::Capabilities;

impl Capabilities {
    /// The capabilities a key built from `config` has.
    pub fn from_config(config: &TokenConfig) -> Self {
        let ctap2 = config.protocol.speaks_ctap2();
        let ctap21 = config.protocol == Protocol::Ctap2_1;
        let versions = match config.protocol {
            Protocol::U2f => vec!["U2F_V2"],
            Protocol::Ctap2_0 => vec!["U2F_V2", "FIDO_2_0"],
            // As shipping keys list them: some hosts compare the array in order.
            Protocol::Ctap2_1 => vec!["U2F_V2", "FIDO_2_0", "FIDO_2_1"],
        };
        let mut commands = Vec::new();
        if ctap2 {
            commands.extend([
                command::MAKE_CREDENTIAL,
                command::GET_ASSERTION,
                command::GET_INFO,
                command::RESET,
                command::GET_NEXT_ASSERTION,
            ]);
        }
        let client_pin = ctap21 && config.client_pin;
        // pinUvAuthToken comes with clientPin, or with built-in UV alone.
        let pin_uv_auth_token = client_pin || (ctap21 && config.user_verification);
        // authenticatorConfig is authorised by a pinUvAuthToken (acfg).
        let authenticator_config = pin_uv_auth_token;
        if ctap21 {
            // authenticatorSelection is new in CTAP 2.1.
            commands.push(command::SELECTION);
        }
        if pin_uv_auth_token {
            commands.push(command::CLIENT_PIN);
        }
        if authenticator_config {
            commands.push(command::CONFIG);
        }
        // Credential management is authorised by a pinUvAuthToken (cm) and manages
        // discoverable credentials.
        let credential_management = pin_uv_auth_token && config.resident_keys;
        if credential_management {
            commands.extend([
                command::CREDENTIAL_MANAGEMENT,
                command::CREDENTIAL_MANAGEMENT_PREVIEW,
            ]);
        }
        let large_blobs = serves_large_blobs(config);
        if large_blobs {
            commands.push(command::LARGE_BLOBS);
        }
        let mut caps = Self {
            protocol: config.protocol,
            versions,
            commands,
            resident_keys: config.resident_keys,
            user_verification: config.user_verification,
            client_pin,
            pin_uv_auth_token,
            // Non-discoverable credentials can be made without UV; discoverable ones need it.
            // (The option is CTAP 2.1's; getInfo reports it false while alwaysUv is on.)
            make_cred_uv_not_rqd: ctap21 && (client_pin || config.user_verification),
            authenticator_config,
            always_uv: authenticator_config,
            set_min_pin_length: client_pin && authenticator_config,
            enterprise_attestation: authenticator_config && config.enterprise_attestation,
            credential_management,
            large_blobs,
            max_serialized_large_blob_array: if large_blobs {
                MAX_SERIALIZED_LARGE_BLOB_ARRAY
            } else {
                0
            },
            pin_uv_auth_protocols: if pin_uv_auth_token {
                crate::pin::protocol::SUPPORTED
                    .iter()
                    .map(|p| p.number())
                    .collect()
            } else {
                Vec::new()
            },
            extensions: Vec::new(),
            max_cred_blob_length: None,
            max_rp_ids_for_set_min_pin_length: None,
            algorithms: Algorithm::ALL.to_vec(),
            max_msg_size: MAX_MESSAGE_LEN,
            max_credential_count_in_list: MAX_CREDENTIAL_COUNT_IN_LIST,
            max_credential_id_length: MAX_CREDENTIAL_ID_LEN,
            max_resident_credentials: config.max_resident_credentials,
            transports: vec!["usb"],
        };
        // Extensions are CTAP 2.1 keys' only. A `ctap2` key stays the CTAP 2.0 subset it always
        // was: hmac-secret needs a PIN/UV auth protocol's key agreement, which a 2.0 key here
        // does not serve (no clientPIN), and shipping 2.0-era keys that had credProtect announced
        // it with FIDO_2_1_PRE, which this key does not claim.
        extensions::add_to(&mut caps);
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_serves_its_commands() {
        let caps = |protocol| {
            Capabilities::from_config(&TokenConfig {
                protocol,
                ..TokenConfig::default()
            })
        };
        let u2f = caps(Protocol::U2f);
        assert!(!u2f.speaks_ctap2() && !u2f.serves(command::GET_INFO));
        let v20 = caps(Protocol::Ctap2_0);
        assert!(v20.serves(command::GET_INFO) && !v20.serves(command::SELECTION));
        assert!(!v20.make_cred_uv_not_rqd);
        assert!(!v20.credential_management && !v20.large_blobs);
        for c in [
            command::CREDENTIAL_MANAGEMENT,
            command::CREDENTIAL_MANAGEMENT_PREVIEW,
            command::LARGE_BLOBS,
        ] {
            assert!(!v20.serves(c) && !u2f.serves(c));
        }
        let v21 = caps(Protocol::Ctap2_1);
        assert!(v21.serves(command::SELECTION) && v21.serves(command::CLIENT_PIN));
        assert!(v21.client_pin && v21.pin_uv_auth_token && v21.serves(command::CONFIG));
        assert_eq!(v21.pin_uv_auth_protocols, [2, 1]);
        assert_eq!(v21.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
        assert!(!v21.enterprise_attestation);
        assert_eq!(v21.max_credential_id_length, MAX_CREDENTIAL_ID_LEN);
        assert!(v21.credential_management && v21.serves(command::CREDENTIAL_MANAGEMENT));
        assert!(v21.serves(command::CREDENTIAL_MANAGEMENT_PREVIEW));
        assert!(v21.large_blobs && v21.serves(command::LARGE_BLOBS));
        assert!(v21.max_serialized_large_blob_array >= 1024);
        assert!(v21.supports_extension("largeBlobKey"));
        // Without discoverable credentials there is nothing to manage and no largeBlobKey.
        let no_rk = Capabilities::from_config(&TokenConfig {
            resident_keys: false,
            ..TokenConfig::default()
        });
        assert!(!no_rk.credential_management && !no_rk.large_blobs);
        assert!(!no_rk.supports_extension("largeBlobKey"));
        // Without clientPin and without built-in UV there is nothing to authorise a token.
        let bare = Capabilities::from_config(&TokenConfig {
            client_pin: false,
            ..TokenConfig::default()
        });
        assert!(!bare.serves(command::CLIENT_PIN) && !bare.serves(command::CONFIG));
        assert!(bare.pin_uv_auth_protocols.is_empty() && !bare.make_cred_uv_not_rqd);
        // No token, no credential management; large blobs are written unauthorised then.
        assert!(!bare.credential_management && bare.large_blobs);
        let uv_only = Capabilities::from_config(&TokenConfig {
            client_pin: false,
            user_verification: true,
            ..TokenConfig::default()
        });
        assert!(uv_only.pin_uv_auth_token && !uv_only.client_pin);
    }

    #[test]
    fn extensions_follow_the_protocol_level_and_the_pin_uv_features() {
        let v21 = Capabilities::from_config(&TokenConfig::default());
        assert_eq!(
            v21.extensions,
            [
                "credProtect",
                "hmac-secret",
                "hmac-secret-mc",
                "credBlob",
                "minPinLength",
                "largeBlobKey"
            ]
        );
        assert_eq!(v21.max_cred_blob_length, Some(32));
        assert_eq!(v21.max_rp_ids_for_set_min_pin_length, Some(8));
        for protocol in [Protocol::Ctap2_0, Protocol::U2f] {
            let caps = Capabilities::from_config(&TokenConfig {
                protocol,
                ..TokenConfig::default()
            });
            assert!(caps.extensions.is_empty() && caps.max_cred_blob_length.is_none());
        }
        // No PIN/UV auth protocol: no key agreement for hmac-secret's salts, no setMinPINLength.
        let bare = Capabilities::from_config(&TokenConfig {
            client_pin: false,
            ..TokenConfig::default()
        });
        assert_eq!(bare.extensions, ["credProtect", "credBlob", "largeBlobKey"]);
        // Without discoverable credentials no large blobs, so no largeBlobKey.
        let no_rk = Capabilities::from_config(&TokenConfig {
            resident_keys: false,
            ..TokenConfig::default()
        });
        assert!(!no_rk.large_blobs && !no_rk.supports_extension("largeBlobKey"));
        assert_eq!(bare.max_rp_ids_for_set_min_pin_length, None);
    }
}
