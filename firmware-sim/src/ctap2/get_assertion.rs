//! authenticatorGetAssertion (0x02) and authenticatorGetNextAssertion (0x08): sign in.

use std::collections::VecDeque;

use ciborium::value::Value;

use super::make_credential::{FLAG_UP, FLAG_UV};
use super::{
    Authenticator, Candidate, Continuation, Step, Wait, check_pin_uv_auth, client_data_hash,
    decode_params, discoverable_for, find_listed, parse_descriptor, parse_options, response,
    rp_id_hash,
};
use crate::cbor::{self, MapView};
use crate::credential::counter;
use crate::env::{Env, PresencePurpose};
use crate::status::{CtapResult, StatusCode};

/// How long the getNextAssertion state lives after the last (next) assertion (CTAP 2.1 §6.3).
pub(crate) const NEXT_ASSERTION_TIMEOUT_MS: u64 = 30_000;

/// A located set of credentials waiting for the user.
#[derive(Debug)]
pub(crate) struct Plan {
    rp_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    candidates: Vec<Candidate>,
    up: bool,
    uv: bool,
    discoverable: bool,
}

impl Plan {
    /// Whether built-in user verification was requested.
    pub(crate) fn uv(&self) -> bool {
        self.uv
    }
}

/// What getNextAssertion continues from.
#[derive(Debug)]
pub(crate) struct NextState {
    /// The channel that ran getAssertion; others may not continue it.
    pub cid: u32,
    rp_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    remaining: VecDeque<Candidate>,
    total: usize,
    up: bool,
    uv: bool,
    last_ms: u64,
}

/// Validates the request, locates credentials (CTAP 2.1 §6.2.2), and waits for the user when
/// presence or verification is wanted; a silent (`up=false`) request answers at once.
pub(crate) fn begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    params: &[u8],
) -> CtapResult<Step> {
    let value = decode_params(params)?;
    let map = MapView::new(&value)?;
    let rp_id = cbor::as_text(map.int_key(0x01).ok_or(StatusCode::MissingParameter)?)?.to_owned();
    let client_data_hash = client_data_hash(&map, 0x02)?;
    let allow_list = map.int_key(0x03).map(cbor::as_array).transpose()?;
    if let Some(ext) = map.int_key(0x04) {
        MapView::new(ext)?;
    }
    let options = parse_options(map.int_key(0x05))?;
    check_pin_uv_auth(&map, 0x06, 0x07)?;

    // Step 4: options, in the specification's order.
    let uv = options.uv.unwrap_or(false);
    if uv && !auth.config.user_verification {
        return Err(StatusCode::InvalidOption);
    }
    if options.rk.is_some() {
        return Err(StatusCode::UnsupportedOption);
    }
    let up = options.up.unwrap_or(true);

    let rp_hash = rp_id_hash(&rp_id);
    let mut listed = Vec::new();
    for descriptor in allow_list.unwrap_or(&[]) {
        if let Some(id) = parse_descriptor(descriptor)? {
            listed.push(id);
        }
    }
    let discoverable = allow_list.is_none_or(|l| l.is_empty());
    let candidates = if discoverable {
        // Only discoverable credentials, most recently created first.
        discoverable_for(env, &rp_id)?
            .into_iter()
            .map(Candidate::from_stored)
            .collect()
    } else {
        let mut found = Vec::new();
        for id in &listed {
            if let Some(c) = find_listed(auth, env, id, &rp_id, &rp_hash)? {
                found.push(c);
                break;
            }
        }
        found
    };
    if candidates.is_empty() {
        return Err(StatusCode::NoCredentials);
    }
    let plan = Plan {
        rp_hash,
        client_data_hash,
        candidates,
        up,
        uv,
        discoverable,
    };
    if up || uv {
        Ok(Step::Wait(Wait {
            purpose: PresencePurpose::GetAssertion,
            rp_id: Some(rp_id),
            uv,
            cont: Continuation::GetAssertion(Box::new(plan)),
        }))
    } else {
        Ok(Step::Reply(response(
            finish(auth, env, cid, plan).map(Some),
        )))
    }
}

/// Signs with the first credential and remembers the rest for getNextAssertion.
pub(crate) fn finish(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    plan: Plan,
) -> CtapResult<Value> {
    let total = plan.candidates.len();
    let mut remaining: VecDeque<Candidate> = plan.candidates.into();
    let first = remaining.pop_front().ok_or(StatusCode::NoCredentials)?;
    let with_names = plan.uv && plan.discoverable && total > 1;
    let number = (plan.discoverable && total > 1).then_some(total);
    let body = assertion(
        auth,
        env,
        &plan.rp_hash,
        &plan.client_data_hash,
        &first,
        plan.up,
        plan.uv,
        number,
        with_names,
    )?;
    auth.next_assertion = if remaining.is_empty() {
        None
    } else {
        Some(NextState {
            cid,
            rp_hash: plan.rp_hash,
            client_data_hash: plan.client_data_hash,
            remaining,
            total,
            up: plan.up,
            uv: plan.uv,
            last_ms: env.clock.now_ms(),
        })
    };
    Ok(body)
}

/// authenticatorGetNextAssertion: the next credential of the saved getAssertion.
pub(crate) fn next(auth: &mut Authenticator, env: &mut Env<'_>, cid: u32) -> CtapResult<Value> {
    let now = env.clock.now_ms();
    let Some(mut state) = auth.next_assertion.take() else {
        return Err(StatusCode::NotAllowed);
    };
    if state.cid != cid {
        // Another channel's state: leave it alone.
        auth.next_assertion = Some(state);
        return Err(StatusCode::NotAllowed);
    }
    if now.saturating_sub(state.last_ms) > NEXT_ASSERTION_TIMEOUT_MS {
        return Err(StatusCode::NotAllowed);
    }
    let Some(candidate) = state.remaining.pop_front() else {
        return Err(StatusCode::NotAllowed);
    };
    let with_names = state.uv && state.total > 1;
    let body = assertion(
        auth,
        env,
        &state.rp_hash,
        &state.client_data_hash,
        &candidate,
        state.up,
        state.uv,
        None,
        with_names,
    )?;
    state.last_ms = now;
    if !state.remaining.is_empty() {
        auth.next_assertion = Some(state);
    }
    Ok(body)
}

#[allow(clippy::too_many_arguments)]
fn assertion(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    rp_hash: &[u8; 32],
    client_data_hash: &[u8],
    candidate: &Candidate,
    up: bool,
    uv: bool,
    number_of_credentials: Option<usize>,
    with_names: bool,
) -> CtapResult<Value> {
    let mut flags = 0;
    if up {
        flags |= FLAG_UP;
    }
    if uv {
        flags |= FLAG_UV;
    }
    // Persisted before the signature that carries it exists.
    let sign_count = counter::next_for_signature(env, auth.config.counter_mode, &candidate.id)?;
    let mut auth_data = Vec::with_capacity(37);
    auth_data.extend_from_slice(rp_hash);
    auth_data.push(flags);
    auth_data.extend_from_slice(&sign_count.to_be_bytes());
    let mut signed = auth_data.clone();
    signed.extend_from_slice(client_data_hash);
    let signature = candidate.key.sign(&signed);

    let mut entries = vec![
        (
            0x01,
            cbor::text_map(vec![
                ("id", Value::Bytes(candidate.id.clone())),
                ("type", Value::Text("public-key".into())),
            ]),
        ),
        (0x02, Value::Bytes(auth_data)),
        (0x03, Value::Bytes(signature)),
    ];
    if let Some(user) = &candidate.user {
        entries.push((0x04, user.to_cbor(with_names)));
    }
    if let Some(n) = number_of_credentials {
        entries.push((0x05, cbor::int(n as i64)));
    }
    Ok(cbor::int_map(entries))
}
