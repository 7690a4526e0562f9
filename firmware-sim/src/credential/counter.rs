//! Signature counters, persisted before any response that carries them leaves the token.

use crate::config::CounterMode;
use crate::env::{Env, WriteBatch};
use crate::persist::{self, KEY_GLOBAL_COUNTER as KEY_GLOBAL, NS_COUNTERS, NS_META, counter_key};
use crate::status::{CtapResult, StatusCode};

fn read_u32(value: Option<Vec<u8>>) -> CtapResult<u32> {
    match value {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| StatusCode::Other)?;
            Ok(u32::from_be_bytes(bytes))
        }
    }
}

/// The counter for a new credential's attestation; in global mode the increment is added to
/// `batch`, which the caller commits together with the credential.
pub(crate) fn for_new_credential(
    env: &mut Env<'_>,
    mode: CounterMode,
    batch: &mut WriteBatch,
) -> CtapResult<u32> {
    match mode {
        CounterMode::PerCredential | CounterMode::AlwaysZero => Ok(0),
        CounterMode::Global => {
            let next = read_u32(persist::get(env, NS_META, KEY_GLOBAL)?)?.saturating_add(1);
            batch.put(NS_META, KEY_GLOBAL, next.to_be_bytes().to_vec());
            Ok(next)
        }
    }
}

/// Increments and commits the counter used for one more signature by `credential_id`.
pub(crate) fn next_for_signature(
    env: &mut Env<'_>,
    mode: CounterMode,
    credential_id: &[u8],
) -> CtapResult<u32> {
    let (ns, key) = match mode {
        CounterMode::AlwaysZero => return Ok(0),
        CounterMode::Global => (NS_META, KEY_GLOBAL.to_vec()),
        CounterMode::PerCredential => (NS_COUNTERS, counter_key(credential_id)),
    };
    let next = read_u32(persist::get(env, ns, &key)?)?.saturating_add(1);
    let mut batch = WriteBatch::new();
    batch.put(ns, &key, next.to_be_bytes().to_vec());
    persist::commit(env, &batch)?;
    Ok(next)
}

/// The current value of a credential's counter (what the next signature will exceed).
pub(crate) fn current(
    env: &mut Env<'_>,
    mode: CounterMode,
    credential_id: &[u8],
) -> CtapResult<u32> {
    match mode {
        CounterMode::AlwaysZero => Ok(0),
        CounterMode::Global => read_u32(persist::get(env, NS_META, KEY_GLOBAL)?),
        CounterMode::PerCredential => {
            read_u32(persist::get(env, NS_COUNTERS, &counter_key(credential_id))?)
        }
    }
}
