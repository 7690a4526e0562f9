//! A daemon key's PIN kept for the WebAuthn client: sealed with the store's data key under the
//! key's own namespace (so removing the key removes it), read by the CLI and the control API
//! when a ceremony needs user verification and no PIN was given.

use zeroize::Zeroizing;

use crate::daemon::token_store::{BadKeyName, KEY_NS_PREFIX, check_key_name};
use crate::store::{Store, StoreError};

/// Why a saved PIN could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PinStoreError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not a key name.
    #[error(transparent)]
    BadName(#[from] BadKeyName),
    /// The record does not hold text.
    #[error("the saved PIN of key {0:?} is damaged; save it again")]
    Damaged(String),
}

/// The record's key inside the key's `webauthn` namespace.
const PIN_RECORD: &[u8] = b"pin";
/// Associated data of the sealed PIN (with the namespace after it).
const PIN_AD_TAG: &[u8] = b"authsim/webauthn-pin/v1";

fn ns(key: &str) -> Result<String, PinStoreError> {
    check_key_name(key)?;
    Ok(format!("{KEY_NS_PREFIX}{key}/webauthn"))
}

fn ad(ns: &str) -> Vec<u8> {
    let mut ad = PIN_AD_TAG.to_vec();
    ad.push(0);
    ad.extend_from_slice(ns.as_bytes());
    ad
}

/// The PIN saved for `key`, if any.
pub fn saved(store: &Store, key: &str) -> Result<Option<Zeroizing<String>>, PinStoreError> {
    let ns = ns(key)?;
    let Some(sealed) = store.get(&ns, PIN_RECORD)? else {
        return Ok(None);
    };
    let plain = store.open_sealed(&ad(&ns), &sealed)?;
    let pin =
        String::from_utf8(plain.to_vec()).map_err(|_| PinStoreError::Damaged(key.to_owned()))?;
    Ok(Some(Zeroizing::new(pin)))
}

/// Saves `pin` for `key` (replacing any saved one).
pub fn save(store: &mut Store, key: &str, pin: &str) -> Result<(), PinStoreError> {
    let ns = ns(key)?;
    let sealed = store.seal(&ad(&ns), pin.as_bytes())?;
    Ok(store.transaction(|t| t.put(&ns, PIN_RECORD, &sealed))?)
}

/// Forgets the PIN saved for `key`; whether there was one.
pub fn forget(store: &mut Store, key: &str) -> Result<bool, PinStoreError> {
    let ns = ns(key)?;
    Ok(store.transaction(|t| t.delete(&ns, PIN_RECORD))?)
}
