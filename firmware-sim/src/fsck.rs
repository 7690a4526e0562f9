//! Read-only inspection of the persistent state: consistency check and credential listing.

use crate::config::TokenConfig;
use crate::credential::counter;
use crate::credential::resident::{RESIDENT_ID_LEN, ResidentCredential};
use crate::env::Env;
use crate::persist::{KEY_MASTER, KEY_PKI, NS_ATTESTATION, NS_COUNTERS, NS_META, NS_RESIDENT};
use crate::token::{ResidentCredentialInfo, StoreSummary, TokenError};
use crate::{attestation::AttestationPki, cbor};

fn corrupt(what: &str) -> TokenError {
    TokenError::Corrupt(what.to_owned())
}

fn resident(env: &mut Env<'_>) -> Result<Vec<ResidentCredential>, TokenError> {
    env.store
        .list(NS_RESIDENT)?
        .into_iter()
        .map(|(k, v)| {
            if k.len() != RESIDENT_ID_LEN {
                return Err(corrupt("resident credential id has the wrong length"));
            }
            ResidentCredential::from_record(&k, &v)
                .map_err(|_| corrupt("resident credential record does not decode"))
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
    if let Some(g) = env.store.get(NS_META, b"global-counter")?
        && g.len() != 4
    {
        return Err(corrupt("global counter has the wrong length"));
    }
    let creds = resident(env)?;
    for (i, c) in creds.iter().enumerate() {
        if creds[..i]
            .iter()
            .any(|o| o.rp_id == c.rp_id && o.user.id == c.user.id)
        {
            return Err(corrupt("two resident credentials for one (rpId, user)"));
        }
    }
    let counters = env.store.list(NS_COUNTERS)?;
    if counters.iter().any(|(k, v)| k.len() != 32 || v.len() != 4) {
        return Err(corrupt("a counter record is malformed"));
    }
    Ok(StoreSummary {
        initialized: master.is_some(),
        resident_credentials: creds.len(),
        counters: counters.len(),
    })
}

/// Lists resident credentials with their public keys and counters.
pub(crate) fn resident_credentials(
    env: &mut Env<'_>,
    config: &TokenConfig,
) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
    let mut creds = resident(env)?;
    creds.sort_by_key(|c| c.created);
    creds
        .into_iter()
        .map(|c| {
            let cose = c.key.cose_public_key()?;
            let sign_count = counter::current(env, config.counter_mode, &c.id)?;
            Ok(ResidentCredentialInfo {
                credential_id: c.id.clone(),
                rp_id: c.rp_id.clone(),
                user: c.user.clone(),
                algorithm: c.key.algorithm().cose_id(),
                public_key_cose: cbor::encode(&cose),
                sign_count,
            })
        })
        .collect()
}
