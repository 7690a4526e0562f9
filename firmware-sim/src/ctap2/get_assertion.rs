//! authenticatorGetAssertion (0x02) and authenticatorGetNextAssertion (0x08): sign in.

use std::collections::VecDeque;

use ciborium::value::Value;

use super::auth_data::{AuthenticatorData, flags};
use super::lookup::{Candidate, discoverable_for, find_listed};
use super::messages::{CredentialDescriptor, GetAssertionRequest, GetAssertionResponse, Message};
use super::{Authenticator, Continuation, Step, Wait, check_pin_uv_auth, response, rp_id_hash};
use crate::credential::{UserEntity, counter};
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
    let req = GetAssertionRequest::from_cbor(params)?;
    let rp_id = req.rp_id;
    let client_data_hash = req.client_data_hash;
    let options = req.options;
    check_pin_uv_auth(req.pin_uv_auth_param.as_deref(), req.pin_uv_auth_protocol)?;

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
    let allow_list = req.allow_list.unwrap_or_default();
    let listed = allow_list.iter().filter(|d| d.is_public_key());
    let discoverable = allow_list.is_empty();
    let candidates = if discoverable {
        // Only discoverable credentials, most recently created first.
        discoverable_for(env, &rp_id)?
            .into_iter()
            .map(Candidate::from_stored)
            .collect()
    } else {
        let mut found = Vec::new();
        for descriptor in listed {
            if let Some(c) = find_listed(auth, env, &descriptor.id, &rp_id, &rp_hash)? {
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
    let mut flag_bits = 0;
    if up {
        flag_bits |= flags::UP;
    }
    if uv {
        flag_bits |= flags::UV;
    }
    // Persisted before the signature that carries it exists.
    let sign_count = counter::next_for_signature(env, auth.config.counter_mode, &candidate.id)?;
    let auth_data = AuthenticatorData::new(*rp_hash, flag_bits, sign_count).to_bytes();
    let mut signed = Vec::with_capacity(auth_data.len() + client_data_hash.len());
    signed.extend_from_slice(&auth_data);
    signed.extend_from_slice(client_data_hash);
    let signature = candidate.key.sign(&signed);

    // Names identify the user: only after verification with several accounts to choose from.
    let user = candidate.user.as_ref().map(|u| UserEntity {
        id: u.id.clone(),
        name: u.name.clone().filter(|_| with_names),
        display_name: u.display_name.clone().filter(|_| with_names),
    });
    Ok(GetAssertionResponse {
        credential: CredentialDescriptor::public_key(&candidate.id),
        auth_data,
        signature,
        user,
        number_of_credentials: number_of_credentials.map(|n| n as u64),
        user_selected: None,
        large_blob_key: None,
    }
    .to_value())
}
