//! The authsim token as firmware would be: 64-byte HID reports in, 64-byte HID reports out.
//!
//! A pure, deterministic state machine implementing CTAPHID (CTAP 2.1 §11.2), CTAP2
//! (getInfo, makeCredential, getAssertion, getNextAssertion, reset, selection, and CTAP 2.1
//! clientPIN with PIN/UV auth protocols 1 and 2, authenticatorConfig, credentialManagement and
//! largeBlobs; the extensions credProtect, credBlob, hmac-secret, hmac-secret-mc, minPinLength and
//! largeBlobKey) and CTAP1/U2F.
//! Everything outside comes in through the small traits of [`env`](mod@env): a clock, a random
//! source, user presence and a record store with atomic commits.
//!
//! ```
//! use firmware_sim::testing::{HidHost, TestEnv};
//! use firmware_sim::{Token, TokenConfig};
//!
//! let mut env = TestEnv::new(1);
//! let mut token = Token::new(TokenConfig::default(), &mut env);
//! let host = HidHost::connect(&mut token, &mut env).unwrap();
//! let (status, info) = host.ctap2(&mut token, &mut env, 0x04, None).unwrap();
//! assert_eq!(status, 0x00);
//! assert!(info.is_some());
//! ```
//!
//! Module plan (imports run one way: token → ctaphid channels and admin → ctap2 → the rest):
//! - [`env`](mod@env): one small trait per outside service.
//! - [`ctaphid`]: framing, and the channel engine (channels, transactions, keepalives).
//! - [`ctap2`]: one file per command family, with the public typed messages
//!   ([`ctap2::messages`]) and authenticator data ([`ctap2::auth_data`]); `ctap1`: U2F.
//! - [`capabilities`]: what a key does, from its configuration; getInfo and dispatch read it.
//! - `pin`: the two PIN/UV auth protocols behind one trait, the pinUvAuthToken state, the
//!   persisted PIN state. `extensions`: one seam, one file per extension.
//! - [`credential`]: keys (also as PKCS#8), sealed credential ids, users, counters, derived
//!   hmac-secret CredRandom values.
//! - `persist`: every store key and the versioned credential record.
//! - `admin`: credentials imported, listed and removed through a control API
//!   ([`Token::import_credential`], [`Token::import_credentials`] for many in one commit,
//!   [`Token::credentials`], [`Token::remove_credential`]), PIN provisioning
//!   ([`Token::set_pin`]), the store check.
//! - [`attestation`]: the attestation CA, batch certificate and statements.
//! - [`cbor`]: canonical CTAP2 CBOR.
//! - [`testing`]: in-memory environment and a host-side client.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
pub mod attestation;
pub mod capabilities;
pub mod cbor;
mod config;
pub mod credential;
mod ctap1;
pub mod ctap2;
pub mod ctaphid;
pub mod env;
mod extensions;
mod persist;
mod pin;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(not(feature = "testing"))]
#[cfg(test)]
pub mod testing;
mod token;

pub use admin::import::{ImportError, ImportOptions, ImportedCredential};
pub use admin::pin::{PinError, PinStatus, check_pin};
pub use admin::{ResidentCredentialInfo, StoreSummary, TokenError};
pub use attestation::{
    AttestationError, AttestationMode, AttestationPki, PkiParams, create_attestation_pki,
};
pub use capabilities::Capabilities;
pub use config::{CounterMode, DEFAULT_AAGUID, Protocol, SecretPin, TokenConfig};
pub use credential::{KeyError, PrivateKey, UserEntity};
pub use ctap1::sw as u2f_status;
pub use ctap2::MAX_CREDENTIAL_ID_LEN;
pub use ctap2::command as ctap2_command;
pub use ctaphid::Report;
/// The platform's half of the PIN/UV auth protocols (for host-side clients).
pub use pin::platform as pin_platform;
pub use status::StatusCode;
pub use token::Token;

#[cfg(test)]
mod tests {
    /// The daemon moves tokens and environments between threads (behind a lock).
    #[test]
    fn public_state_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<crate::Token>();
        assert_send::<crate::TokenConfig>();
        assert_send::<crate::testing::TestEnv>();
        assert_send::<crate::AttestationPki>();
    }
}
