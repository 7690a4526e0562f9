//! Signature counters: durable and monotonic without a commit per signature.
//!
//! The store keeps each counter's high-water mark: a value no counter sent so far exceeds.
//! The first signature after power-up (or after the values reserved so far are used up)
//! commits `mark = next + reserve - 1` before the response exists, and the following
//! signatures hand out the values up to that mark from volatile state. A power cut therefore
//! skips at most `reserve` values and never repeats one: after it, counting restarts above the
//! persisted mark. Stores written before reservations (mark = last value sent) read the same.

use std::collections::HashMap;

use crate::config::CounterMode;
use crate::env::{Env, WriteBatch};
use crate::persist::{self, KEY_GLOBAL_COUNTER as KEY_GLOBAL, NS_COUNTERS, NS_META, counter_key};
use crate::status::{CtapResult, StatusCode};

/// At most this many per-credential reservations are kept; past it they are all dropped
/// (safe: a dropped reservation only skips the values it had left).
const MAX_KEPT: usize = 4096;

/// The reserved range of one counter: values up to `mark` are durable; `last` was sent last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    last: u32,
    mark: u32,
}

/// The counters' volatile state: the values reserved and not yet sent (lost at power-off).
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    global: Option<Range>,
    per_credential: HashMap<Vec<u8>, Range>,
}

impl Reservations {
    /// Forgets every reservation (power cycle; a credential or counter changed in the store).
    pub(crate) fn clear(&mut self) {
        self.global = None;
        self.per_credential = HashMap::new();
    }

    /// A clean power-down: lowers every mark to the last value its counter sent, in one commit,
    /// and forgets the reservations, so that a clean restart continues without a gap. Safe
    /// whether or not the commit lands: the values between the two marks were never sent.
    pub(crate) fn settle(&mut self, env: &mut Env<'_>) -> CtapResult<()> {
        let mut batch = WriteBatch::new();
        if let Some(range) = self.global
            && range.last < range.mark
        {
            batch.put(NS_META, KEY_GLOBAL, range.last.to_be_bytes().to_vec());
        }
        for (key, range) in &self.per_credential {
            if range.last < range.mark {
                batch.put(NS_COUNTERS, key, range.last.to_be_bytes().to_vec());
            }
        }
        self.clear();
        if batch.is_empty() {
            return Ok(());
        }
        persist::commit(env, &batch)
    }
}

fn read_u32(value: Option<Vec<u8>>) -> CtapResult<u32> {
    match value {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| StatusCode::Other)?;
            Ok(u32::from_be_bytes(bytes))
        }
    }
}

/// Where a counter lives in the store, or `None` when the mode has no counter.
fn location(mode: CounterMode, credential_id: &[u8]) -> Option<(&'static str, Vec<u8>)> {
    match mode {
        CounterMode::AlwaysZero => None,
        CounterMode::Global => Some((NS_META, KEY_GLOBAL.to_vec())),
        CounterMode::PerCredential => Some((NS_COUNTERS, counter_key(credential_id))),
    }
}

/// The counter for a new credential's attestation. In global mode the value comes from the
/// reserved range when it has one left (nothing to write); otherwise its write is added to
/// `batch`, which the caller commits together with the credential.
pub(crate) fn for_new_credential(
    env: &mut Env<'_>,
    reservations: &mut Reservations,
    mode: CounterMode,
    batch: &mut WriteBatch,
) -> CtapResult<u32> {
    match mode {
        CounterMode::PerCredential | CounterMode::AlwaysZero => Ok(0),
        CounterMode::Global => {
            if let Some(range) = reservations.global.as_mut()
                && range.last < range.mark
            {
                range.last += 1;
                return Ok(range.last);
            }
            let last = match reservations.global {
                Some(range) => range.last,
                None => read_u32(persist::get(env, NS_META, KEY_GLOBAL)?)?,
            };
            let next = last.saturating_add(1);
            batch.put(NS_META, KEY_GLOBAL, next.to_be_bytes().to_vec());
            // Whether the batch commits is the caller's: the next signature reads the mark again.
            reservations.global = None;
            Ok(next)
        }
    }
}

/// The counter value for one more signature by `credential_id`: the next reserved value, after
/// committing a new reservation of `reserve` values when none is left.
pub(crate) fn next_for_signature(
    env: &mut Env<'_>,
    reservations: &mut Reservations,
    mode: CounterMode,
    reserve: u32,
    credential_id: &[u8],
) -> CtapResult<u32> {
    let Some((ns, key)) = location(mode, credential_id) else {
        return Ok(0);
    };
    let kept = match mode {
        CounterMode::Global => reservations.global,
        _ => reservations.per_credential.get(&key).copied(),
    };
    let mut range = match kept {
        Some(range) => range,
        None => {
            let mark = read_u32(persist::get(env, ns, &key)?)?;
            Range { last: mark, mark }
        }
    };
    let next = range.last.saturating_add(1);
    if next > range.mark {
        let mark = next.saturating_add(reserve.max(1) - 1);
        let mut batch = WriteBatch::new();
        batch.put(ns, &key, mark.to_be_bytes().to_vec());
        persist::commit(env, &batch)?;
        range.mark = mark;
    }
    range.last = next;
    match mode {
        CounterMode::Global => reservations.global = Some(range),
        _ => {
            if reservations.per_credential.len() >= MAX_KEPT
                && !reservations.per_credential.contains_key(&key)
            {
                reservations.per_credential.clear();
            }
            reservations.per_credential.insert(key, range);
        }
    }
    Ok(next)
}

/// The last value a credential's counter sent (what the next signature will exceed); after a
/// power-up, before any signature, the persisted mark.
pub(crate) fn current(
    env: &mut Env<'_>,
    reservations: &Reservations,
    mode: CounterMode,
    credential_id: &[u8],
) -> CtapResult<u32> {
    let Some((ns, key)) = location(mode, credential_id) else {
        return Ok(0);
    };
    let kept = match mode {
        CounterMode::Global => reservations.global,
        _ => reservations.per_credential.get(&key).copied(),
    };
    match kept {
        Some(range) => Ok(range.last),
        None => read_u32(persist::get(env, ns, &key)?),
    }
}
