//! The token's administrative front, for a control API rather than a host: stored credentials
//! imported, listed and removed, the attestation CA exported, the store checked. Each change is
//! one atomic commit. It reads and writes the store through `persist`; the CTAPHID engine never
//! calls it.

pub(crate) mod fsck;
pub(crate) mod import;
pub(crate) mod pin;

use thiserror::Error;

use crate::env::{Env, StoreError};
use crate::persist::{KEY_MASTER, NS_META};
use crate::status::StatusCode;

/// Failure of the token's host-facing (non-HID) API.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state is damaged or inconsistent (what is wrong, never a secret).
    #[error("stored token state is damaged: {0}")]
    Corrupt(String),
}

/// Distinguishes a store failure from damaged content after a failed load.
pub(crate) fn store_error(env: &mut Env<'_>) -> TokenError {
    match env.store.get(NS_META, KEY_MASTER) {
        Err(e) => TokenError::Store(e),
        Ok(_) => TokenError::Corrupt("persistent state could not be loaded".into()),
    }
}

/// A summary of a consistent store, from `Token::check_store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    /// Whether the master secret exists (false before first boot).
    pub initialized: bool,
    /// Number of stored credentials (discoverable and imported non-discoverable ones).
    pub resident_credentials: usize,
    /// Number of per-credential counters.
    pub counters: usize,
}

/// A stored credential as a control API may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidentCredentialInfo {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The relying party id.
    pub rp_id: String,
    /// The user entity (an empty id for a non-discoverable credential imported without one).
    pub user: crate::credential::UserEntity,
    /// The COSE algorithm identifier.
    pub algorithm: i64,
    /// The public key as an encoded COSE_Key.
    pub public_key_cose: Vec<u8>,
    /// The signature counter value last used.
    pub sign_count: u32,
    /// Whether it is found without an allow list (resident); false for imported
    /// non-discoverable credentials.
    pub discoverable: bool,
    /// Its credProtect level (1–3), if one was asked for.
    pub cred_protect: Option<u8>,
    /// Whether it stores a credBlob.
    pub has_cred_blob: bool,
}

impl From<StatusCode> for TokenError {
    fn from(status: StatusCode) -> Self {
        TokenError::Corrupt(status.to_string())
    }
}
