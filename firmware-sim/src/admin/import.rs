//! Credential management from outside the token (a control API such as WebDriver's virtual
//! authenticator): import, list and remove stored credentials, each change one atomic commit.

use std::collections::HashMap;

use thiserror::Error;

use super::TokenError;
use super::fsck::stored_infos;
use crate::config::{CounterMode, TokenConfig};
use crate::credential::user::truncate_utf8;
use crate::credential::{PrivateKey, UserEntity};
use crate::ctap2::MAX_CREDENTIAL_ID_LEN;
use crate::env::{Env, WriteBatch};
use crate::persist::counter_key;
use crate::persist::record::{CredentialExtras, ResidentCredential};
use crate::persist::{NS_COUNTERS, NS_RESIDENT};

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
    /// A credential with this id is stored already (or comes earlier in the batch), and the
    /// import did not ask to replace it.
    #[error("a credential with this id exists already; ask to replace it to overwrite it")]
    Exists,
    /// A discoverable credential of the same relying party and user handle is stored already
    /// (or comes earlier in the batch), and the import did not ask to replace it.
    #[error(
        "a discoverable credential for this rpId and user handle exists already; ask to replace it to overwrite it"
    )]
    UserExists,
    /// Every discoverable credential slot is taken.
    #[error("the token's discoverable credential storage is full ({0} credentials)")]
    Full(usize),
    /// One entry of a batch import was refused (nothing of the batch was written).
    #[error("credential #{index}: {source}")]
    InBatch {
        /// The position of the refused entry in the batch (from 0).
        index: usize,
        /// Why that entry was refused.
        source: Box<ImportError>,
    },
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

/// Why a batch of imports was not stored: one entry was invalid, or the batch as a whole failed.
#[derive(Debug)]
pub(crate) enum BatchFailure {
    /// The entry at this index is invalid (nothing was written).
    Entry(usize, ImportError),
    /// The batch as a whole was refused (full) or the store failed.
    Whole(ImportError),
}

impl BatchFailure {
    /// The error without the entry's index (for a single import).
    pub(crate) fn bare(self) -> ImportError {
        match self {
            BatchFailure::Entry(_, e) | BatchFailure::Whole(e) => e,
        }
    }

    /// The error naming the entry, if one entry was at fault.
    pub(crate) fn indexed(self) -> ImportError {
        match self {
            BatchFailure::Entry(index, e) => ImportError::InBatch {
                index,
                source: Box::new(e),
            },
            BatchFailure::Whole(e) => e,
        }
    }
}

/// Where a credential of the simulated final state comes from.
#[derive(Clone, Copy)]
enum Origin {
    /// Already in the store.
    Stored,
    /// The batch entry with this index.
    Batch(usize),
}

/// What the batch needs to know about one credential of the (simulated) final state.
struct Slot {
    rp_id: String,
    user_id: Vec<u8>,
    discoverable: bool,
    origin: Origin,
}

/// The (rpId, user handle) a discoverable credential is unique for.
type UserKey = (String, Vec<u8>);

/// Stores every credential of `creds` in one commit, as if imported one by one in order (see
/// `Token::import_credentials`), after one scan of the stored credentials. Returns how many
/// entries were stored (entries replaced by a later entry of the batch are not).
///
/// An entry `i` that would replace a stored credential or an earlier entry (same id, or a
/// discoverable one of the same rpId and user handle) is refused with [`ImportError::Exists`]
/// or [`ImportError::UserExists`] unless `may_replace(i)`.
pub(crate) fn import_many(
    env: &mut Env<'_>,
    config: &TokenConfig,
    creds: Vec<ImportedCredential>,
    may_replace: &dyn Fn(usize) -> bool,
) -> Result<usize, BatchFailure> {
    for (i, cred) in creds.iter().enumerate() {
        validate(config, cred).map_err(|e| BatchFailure::Entry(i, e))?;
    }
    if creds.is_empty() {
        return Ok(0);
    }
    let whole = |e: TokenError| BatchFailure::Whole(ImportError::Store(e));
    let existing = stored_infos(env).map_err(whole)?;
    let base_created = existing.iter().map(|c| c.created).max().unwrap_or(0);

    // The final state, built by applying each entry in turn to the stored state.
    let mut by_id: HashMap<Vec<u8>, Slot> = HashMap::with_capacity(existing.len() + creds.len());
    // Discoverable credentials by (rpId, user handle); more than one id only in a damaged store.
    let mut by_user: HashMap<UserKey, Vec<Vec<u8>>> = HashMap::new();
    let mut discoverable = 0usize;
    // In ascending key order, as listed: the commit's order is deterministic.
    let stored_ids: Vec<Vec<u8>> = existing.iter().map(|c| c.id.clone()).collect();
    for c in existing {
        if c.discoverable {
            discoverable += 1;
            by_user
                .entry((c.rp_id.clone(), c.user_id.clone()))
                .or_default()
                .push(c.id.clone());
        }
        by_id.insert(
            c.id,
            Slot {
                rp_id: c.rp_id,
                user_id: c.user_id,
                discoverable: c.discoverable,
                origin: Origin::Stored,
            },
        );
    }
    let mut records: Vec<Option<(ResidentCredential, u32)>> = Vec::with_capacity(creds.len());
    let any_discoverable = creds.iter().any(|c| c.discoverable);

    for (i, cred) in creds.into_iter().enumerate() {
        let user = cred.user.map_or_else(UserEntity::default, |u| UserEntity {
            id: u.id,
            name: u.name.map(|n| truncate_utf8(&n, MAX_NAME_LEN)),
            display_name: u.display_name.map(|n| truncate_utf8(&n, MAX_NAME_LEN)),
        });
        // A credential with the same id is replaced (overwritten: no delete needed).
        if !may_replace(i) && by_id.contains_key(&cred.id) {
            return Err(BatchFailure::Entry(i, ImportError::Exists));
        }
        if !may_replace(i)
            && cred.discoverable
            && by_user.contains_key(&(cred.rp_id.clone(), user.id.clone()))
        {
            return Err(BatchFailure::Entry(i, ImportError::UserExists));
        }
        if let Some(old) = by_id.remove(&cred.id) {
            if old.discoverable {
                discoverable -= 1;
                let key = (old.rp_id, old.user_id);
                if let Some(ids) = by_user.get_mut(&key) {
                    ids.retain(|id| *id != cred.id);
                    if ids.is_empty() {
                        by_user.remove(&key);
                    }
                }
            }
            if let Origin::Batch(j) = old.origin {
                records[j] = None;
            }
        }
        // A discoverable credential replaces the one of the same (rpId, user handle).
        if cred.discoverable {
            let key = (cred.rp_id.clone(), user.id.clone());
            for old_id in by_user.remove(&key).unwrap_or_default() {
                if let Some(old) = by_id.remove(&old_id) {
                    discoverable -= 1;
                    if let Origin::Batch(j) = old.origin {
                        records[j] = None;
                    }
                }
            }
            by_user.insert(key, vec![cred.id.clone()]);
            discoverable += 1;
        }
        by_id.insert(
            cred.id.clone(),
            Slot {
                rp_id: cred.rp_id.clone(),
                user_id: user.id.clone(),
                discoverable: cred.discoverable,
                origin: Origin::Batch(i),
            },
        );
        let record = ResidentCredential {
            id: cred.id,
            rp_id: cred.rp_id,
            user,
            key: cred.key,
            // Each import is newer than everything before it, as one by one.
            created: base_created + 1 + i as u64,
            discoverable: cred.discoverable,
            extras: CredentialExtras::default(),
        };
        records.push(Some((record, cred.sign_count)));
    }
    if any_discoverable && discoverable > config.max_resident_credentials {
        return Err(BatchFailure::Whole(ImportError::Full(
            config.max_resident_credentials,
        )));
    }

    let mut batch = WriteBatch::new();
    // A stored credential missing from the final state was replaced by a user's new one.
    for old in stored_ids.iter().filter(|id| !by_id.contains_key(*id)) {
        batch.delete(NS_RESIDENT, old);
        batch.delete(NS_COUNTERS, &counter_key(old));
    }
    let mut stored = 0;
    for (record, sign_count) in records.into_iter().flatten() {
        stored += 1;
        // Replaces a stored credential with the same id, if there is one.
        batch.put(NS_RESIDENT, &record.id, record.to_record());
        match config.counter_mode {
            CounterMode::PerCredential => {
                batch.put(
                    NS_COUNTERS,
                    &counter_key(&record.id),
                    sign_count.to_be_bytes().to_vec(),
                );
            }
            // The token-wide counter (or none) is used; a stale own counter must not linger.
            CounterMode::Global | CounterMode::AlwaysZero => {
                batch.delete(NS_COUNTERS, &counter_key(&record.id));
            }
        }
    }
    env.store
        .commit(&batch)
        .map_err(|e| whole(TokenError::from(e)))?;
    Ok(stored)
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
