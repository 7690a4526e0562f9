//! Credential management from outside the token (a control API such as WebDriver's virtual
//! authenticator): import, list and remove stored credentials, each change one atomic commit.

use thiserror::Error;

use crate::config::{CounterMode, TokenConfig};
use crate::credential::counter::counter_key;
use crate::credential::resident::{ResidentCredential, truncate_utf8};
use crate::credential::{PrivateKey, UserEntity};
use crate::ctap2::MAX_CREDENTIAL_ID_LEN;
use crate::env::{Env, WriteBatch};
use crate::fsck::stored_infos;
use crate::persist::{NS_COUNTERS, NS_RESIDENT};
use crate::token::TokenError;

/// Longest user handle (WebAuthn: at most 64 bytes).
const MAX_USER_ID_LEN: usize = 64;
/// Stored user names are cut to this many bytes, as makeCredential does.
const MAX_NAME_LEN: usize = 64;

/// A credential handed to the token from outside (a control API), to be stored.
#[derive(Clone)]
pub struct ImportedCredential {
    /// The credential id: 1..=[`MAX_CREDENTIAL_ID_LEN`] bytes, any content.
    pub id: Vec<u8>,
    /// The relying party id the credential is bound to.
    pub rp_id: String,
    /// The user; required (non-empty id, at most 64 bytes) when `discoverable`.
    pub user: Option<UserEntity>,
    /// The credential's private key.
    pub key: PrivateKey,
    /// The signature counter value to start from (per-credential counter mode only).
    pub sign_count: u32,
    /// True: resident (found without an allow list); false: found only via an allow list.
    pub discoverable: bool,
}

impl std::fmt::Debug for ImportedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // PrivateKey's own Debug shows only its algorithm.
        f.debug_struct("ImportedCredential")
            .field("id_len", &self.id.len())
            .field("rp_id", &self.rp_id)
            .field("user", &self.user)
            .field("key", &self.key)
            .field("sign_count", &self.sign_count)
            .field("discoverable", &self.discoverable)
            .finish()
    }
}

/// Why an imported credential was not stored (never shows key material).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// The credential id is empty or too long.
    #[error("credential id must be 1 to {max} bytes long, got {0} bytes", max = MAX_CREDENTIAL_ID_LEN)]
    InvalidId(usize),
    /// The relying party id is empty.
    #[error("the relying party id must not be empty")]
    InvalidRpId,
    /// A discoverable credential needs a user with a non-empty user handle.
    #[error("a discoverable (resident) credential needs a user with a non-empty user handle")]
    UserRequired,
    /// The user handle is longer than WebAuthn allows.
    #[error("user handle must be at most {max} bytes, got {0} bytes", max = MAX_USER_ID_LEN)]
    UserHandleTooLong(usize),
    /// The token is configured without discoverable credentials.
    #[error("this token does not support discoverable (resident) credentials")]
    ResidentKeysUnsupported,
    /// Every discoverable credential slot is taken.
    #[error("the token's discoverable credential storage is full ({0} credentials)")]
    Full(usize),
    /// The store failed or holds damaged state.
    #[error(transparent)]
    Store(#[from] TokenError),
}

/// Checks `cred` against the token's limits.
fn validate(config: &TokenConfig, cred: &ImportedCredential) -> Result<(), ImportError> {
    if cred.id.is_empty() || cred.id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(ImportError::InvalidId(cred.id.len()));
    }
    if cred.rp_id.is_empty() {
        return Err(ImportError::InvalidRpId);
    }
    if let Some(user) = &cred.user
        && user.id.len() > MAX_USER_ID_LEN
    {
        return Err(ImportError::UserHandleTooLong(user.id.len()));
    }
    if cred.discoverable {
        if cred.user.as_ref().is_none_or(|u| u.id.is_empty()) {
            return Err(ImportError::UserRequired);
        }
        if !config.resident_keys {
            return Err(ImportError::ResidentKeysUnsupported);
        }
    }
    Ok(())
}

/// Stores `cred` in one commit (see `Token::import_credential`).
pub(crate) fn import(
    env: &mut Env<'_>,
    config: &TokenConfig,
    cred: ImportedCredential,
) -> Result<(), ImportError> {
    validate(config, &cred)?;
    let existing = stored_infos(env)?;
    let user = cred.user.map_or_else(UserEntity::default, |u| UserEntity {
        id: u.id,
        name: u.name.map(|n| truncate_utf8(&n, MAX_NAME_LEN)),
        display_name: u.display_name.map(|n| truncate_utf8(&n, MAX_NAME_LEN)),
    });
    let mut batch = WriteBatch::new();
    // A discoverable credential replaces the one of the same (rpId, user handle).
    let replaced: Vec<&[u8]> = if cred.discoverable {
        existing
            .iter()
            .filter(|c| {
                c.discoverable && c.id != cred.id && c.rp_id == cred.rp_id && c.user_id == user.id
            })
            .map(|c| c.id.as_slice())
            .collect()
    } else {
        Vec::new()
    };
    if cred.discoverable {
        let kept = existing
            .iter()
            .filter(|c| c.discoverable && c.id != cred.id && !replaced.contains(&c.id.as_slice()))
            .count();
        if kept >= config.max_resident_credentials {
            return Err(ImportError::Full(config.max_resident_credentials));
        }
    }
    for old in &replaced {
        batch.delete(NS_RESIDENT, old);
        batch.delete(NS_COUNTERS, &counter_key(old));
    }
    let created = existing.iter().map(|c| c.created).max().unwrap_or(0) + 1;
    let record = ResidentCredential {
        id: cred.id.clone(),
        rp_id: cred.rp_id,
        user,
        key: cred.key,
        created,
        discoverable: cred.discoverable,
    };
    // Replaces a stored credential with the same id, if there is one.
    batch.put(NS_RESIDENT, &cred.id, record.to_record());
    match config.counter_mode {
        CounterMode::PerCredential => {
            batch.put(
                NS_COUNTERS,
                &counter_key(&cred.id),
                cred.sign_count.to_be_bytes().to_vec(),
            );
        }
        // The token-wide counter (or none) is used; a stale own counter must not linger.
        CounterMode::Global | CounterMode::AlwaysZero => {
            batch.delete(NS_COUNTERS, &counter_key(&cred.id));
        }
    }
    env.store.commit(&batch).map_err(TokenError::from)?;
    Ok(())
}

/// Removes the stored credential `id` and its counter; `false` when there is none.
pub(crate) fn remove(env: &mut Env<'_>, id: &[u8]) -> Result<bool, TokenError> {
    if env.store.get(NS_RESIDENT, id)?.is_none() {
        return Ok(false);
    }
    let mut batch = WriteBatch::new();
    batch.delete(NS_RESIDENT, id);
    batch.delete(NS_COUNTERS, &counter_key(id));
    env.store.commit(&batch)?;
    Ok(true)
}

/// Removes every stored credential and their counters; returns how many.
pub(crate) fn remove_all(env: &mut Env<'_>) -> Result<usize, TokenError> {
    let ids: Vec<Vec<u8>> = env
        .store
        .list(NS_RESIDENT)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let mut batch = WriteBatch::new();
    for id in &ids {
        batch.delete(NS_RESIDENT, id);
        batch.delete(NS_COUNTERS, &counter_key(id));
    }
    env.store.commit(&batch)?;
    Ok(ids.len())
}
