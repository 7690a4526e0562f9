//! Read-only inspection of the persistent state: consistency check and credential listing.

use std::collections::HashSet;

use super::{ResidentCredentialInfo, StoreSummary, TokenError};
use crate::config::TokenConfig;
use crate::credential::counter;
use crate::ctap2::MAX_CREDENTIAL_ID_LEN;
use crate::ctap2::large_blobs;
use crate::env::Env;
use crate::persist::record::{RecordInfo, ResidentCredential, with_record};
use crate::persist::{
    KEY_GLOBAL_COUNTER, KEY_LARGE_BLOB_ARRAY, KEY_MASTER, KEY_PKI, NS_ATTESTATION, NS_COUNTERS,
    NS_META, NS_RESIDENT,
};
use crate::{attestation::AttestationPki, cbor};

fn corrupt(what: &str) -> TokenError {
    TokenError::Corrupt(what.to_owned())
}

fn check_id(id: &[u8]) -> Result<(), TokenError> {
    if id.is_empty() || id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(corrupt("stored credential id has an impossible length"));
    }
    Ok(())
}

/// Every stored credential's record, checked, without deriving key pairs.
pub(crate) fn stored_infos(env: &mut Env<'_>) -> Result<Vec<RecordInfo>, TokenError> {
    let mut infos = Vec::new();
    let mut damaged = None;
    env.store.for_each(NS_RESIDENT, &mut |k, v| {
        if damaged.is_none() {
            match check_id(k).and_then(|()| {
                RecordInfo::from_record(k, v)
                    .map_err(|_| corrupt("stored credential record does not decode"))
            }) {
                Ok(info) => infos.push(info),
                Err(e) => damaged = Some(e),
            }
        }
    })?;
    damaged.map_or(Ok(infos), Err)
}

/// Checks every stored credential's record without deriving key pairs, and that no two
/// discoverable ones share an (rpId, user); returns how many there are. Records are read where
/// they lie: nothing is copied but the (rpId, user) pairs.
fn check_stored(env: &mut Env<'_>) -> Result<usize, TokenError> {
    let mut count = 0;
    let mut damaged = None;
    // Each discoverable credential's (rpId length, rpId, user handle), end to end.
    let mut pairs = Vec::new();
    let mut ends = Vec::new();
    env.store.for_each(NS_RESIDENT, &mut |k, v| {
        if damaged.is_some() {
            return;
        }
        count += 1;
        let checked = check_id(k).and_then(|()| {
            with_record(v, |r| {
                r.check_key()?;
                if r.discoverable {
                    pairs.extend_from_slice(&(r.rp_id.len() as u64).to_le_bytes());
                    pairs.extend_from_slice(r.rp_id.as_bytes());
                    pairs.extend_from_slice(r.user_id);
                    ends.push(pairs.len());
                }
                Ok(())
            })
            .and_then(|checked| checked)
            .map_err(|_| corrupt("stored credential record does not decode"))
        });
        if let Err(e) = checked {
            damaged = Some(e);
        }
    })?;
    if let Some(e) = damaged {
        return Err(e);
    }
    let mut users = HashSet::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        if !users.insert(&pairs[start..end]) {
            return Err(corrupt("two resident credentials for one (rpId, user)"));
        }
        start = end;
    }
    Ok(count)
}

fn stored(env: &mut Env<'_>) -> Result<Vec<ResidentCredential>, TokenError> {
    env.store
        .list(NS_RESIDENT)?
        .into_iter()
        .map(|(k, v)| {
            check_id(&k)?;
            ResidentCredential::from_record(&k, &v)
                .map_err(|_| corrupt("stored credential record does not decode"))
        })
        .collect()
}
/// Checks every record the token relies on.
pub(crate) fn check(env: &mut Env<'_>, config: &TokenConfig) -> Result<StoreSummary, TokenError> {
    let master = env.store.get(NS_META, KEY_MASTER)?;
    if master.as_ref().is_some_and(|m| m.len() != 32) {
        return Err(corrupt("master secret has the wrong length"));
    }
    let pki = env.store.get(NS_ATTESTATION, KEY_PKI)?;
    if master.is_some() && pki.is_none() && config.attestation_pki.is_none() {
        return Err(corrupt(
            "the master secret exists but the attestation PKI does not",
        ));
    }
    if master.is_none() && pki.is_some() {
        return Err(corrupt(
            "the attestation PKI exists but the master secret does not",
        ));
    }
    if let Some(bytes) = pki {
        AttestationPki::from_bytes(&bytes)
            .map_err(|_| corrupt("attestation PKI does not decode"))?;
    }
    if let Some(g) = env.store.get(NS_META, KEY_GLOBAL_COUNTER)?
        && g.len() != 4
    {
        return Err(corrupt("global counter has the wrong length"));
    }
    if let Some(array) = env.store.get(NS_META, KEY_LARGE_BLOB_ARRAY)?
        && !large_blobs::trailer_matches(&array)
    {
        return Err(corrupt("the large-blob array does not match its hash"));
    }
    let resident_credentials = check_stored(env)?;
    let counters = env.store.list(NS_COUNTERS)?;
    if counters.iter().any(|(k, v)| k.len() != 32 || v.len() != 4) {
        return Err(corrupt("a counter record is malformed"));
    }
    Ok(StoreSummary {
        initialized: master.is_some(),
        resident_credentials,
        counters: counters.len(),
    })
}

/// Lists stored credentials (only the discoverable ones when `only_discoverable`) with their
/// public keys and counters, oldest first.
pub(crate) fn credentials(
    env: &mut Env<'_>,
    config: &TokenConfig,
    counters: &counter::Reservations,
    only_discoverable: bool,
) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
    let mut creds = stored(env)?;
    creds.retain(|c| c.discoverable || !only_discoverable);
    creds.sort_by_key(|c| c.created);
    creds
        .into_iter()
        .map(|c| {
            let cose = c.key.cose_public_key()?;
            let sign_count = counter::current(env, counters, config.counter_mode, &c.id)?;
            Ok(ResidentCredentialInfo {
                credential_id: c.id.clone(),
                rp_id: c.rp_id.clone(),
                user: c.user.clone(),
                algorithm: c.key.algorithm().cose_id(),
                public_key_cose: cbor::encode(&cose),
                sign_count,
                discoverable: c.discoverable,
                cred_protect: c.extras.cred_protect,
                has_cred_blob: c.extras.cred_blob.is_some(),
                backup_eligible: c.extras.backup_eligible,
                backup_state: c.extras.backup_state,
            })
        })
        .collect()
}
