//! authenticatorGetAssertion (0x02) and authenticatorGetNextAssertion (0x08): sign in.

use std::collections::VecDeque;

use ciborium::value::Value;

use super::auth_data::{AuthenticatorData, backup_flags, flags};
use super::lookup::{Candidate, discoverable_for, find_listed};
use super::messages::permission;
use super::messages::{
    CredentialDescriptor, Extensions, GetAssertionRequest, GetAssertionResponse, Message,
};
use super::pin_uv::{self, Verification};
use super::{Authenticator, Continuation, Step, Wait, response, rp_id_hash};
use crate::credential::{UserEntity, counter};
use crate::env::{Env, PresencePurpose};
use crate::extensions::{self, GaContext, Operation, Requested, ResponseMembers};
use crate::status::{CtapResult, StatusCode};

/// How long the getNextAssertion state lives after the last (next) assertion (CTAP 2.1 §6.3).
pub(crate) const NEXT_ASSERTION_TIMEOUT_MS: u64 = 30_000;

/// What every assertion of one getAssertion request signs over and reports.
#[derive(Debug)]
struct Signing {
    rp_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    extensions: Vec<Requested>,
    up: bool,
    verification: Verification,
}

/// A located set of credentials waiting for the user.
#[derive(Debug)]
pub(crate) struct Plan {
    signing: Signing,
    candidates: Vec<Candidate>,
    discoverable: bool,
}

impl Plan {
    /// Whether built-in user verification was requested.
    pub(crate) fn uv(&self) -> bool {
        self.signing.verification.built_in
    }
}

/// What getNextAssertion continues from.
#[derive(Debug)]
pub(crate) struct NextState {
    /// The channel that ran getAssertion; others may not continue it.
    pub cid: u32,
    signing: Signing,
    remaining: VecDeque<Candidate>,
    total: usize,
    last_ms: u64,
}

/// Validates the request, locates credentials (CTAP 2.1 §6.2.2), and waits for the user when
/// presence or built-in verification is wanted; a silent (`up=false`) request, or one whose
/// pinUvAuthToken remembers the user as present, answers at once.
pub(crate) fn begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    params: &[u8],
) -> CtapResult<Step> {
    let req = GetAssertionRequest::from_cbor(params)?;
    let rp_id = req.rp_id;
    let param = req.pin_uv_auth_param.as_deref();

    // Step 1: the zero-length pinUvAuthParam probe.
    if let Some(wait) = pin_uv::probe(auth, param, &rp_id) {
        return Ok(Step::Wait(wait));
    }
    // Step 2: the pinUvAuthProtocol.
    let protocol = pin_uv::param_protocol(auth, param, req.pin_uv_auth_protocol)?;

    // Step 4: options, in the specification's order; a pinUvAuthParam takes precedence over
    // "uv".
    let options = req.options;
    let mut uv = options.uv.unwrap_or(false) && param.is_none();
    if uv && !auth.caps.user_verification {
        return Err(StatusCode::InvalidOption);
    }
    if options.rk.is_some() {
        return Err(StatusCode::UnsupportedOption);
    }
    let up = options.up.unwrap_or(true);
    let protection = pin_uv::protection(auth, env)?;

    // Step 5: alwaysUv (for requests that want the user present).
    if up {
        uv = pin_uv::always_uv(auth, &protection, param, uv)?;
    }
    let requested =
        auth.check_extensions(env, Operation::GetAssertion, req.extensions.as_ref(), up)?;

    // Step 6: user verification, by the token or built in.
    let verification = pin_uv::verify(
        auth,
        env,
        &protection,
        &pin_uv::Request {
            param: param.zip(protocol),
            uv,
            client_data_hash: &req.client_data_hash,
            permission: permission::GA,
            rp_id: &rp_id,
        },
    )?;

    // Step 7: the applicable credentials.
    let rp_hash = rp_id_hash(&rp_id);
    let allow_list = req.allow_list.unwrap_or_default();
    let discoverable = allow_list.is_empty();
    let candidates = locate(auth, env, &rp_id, &rp_hash, &allow_list, verification.uv())?;
    if candidates.is_empty() {
        return Err(StatusCode::NoCredentials);
    }
    let plan = Plan {
        signing: Signing {
            rp_hash,
            client_data_hash: req.client_data_hash,
            extensions: requested,
            up,
            verification,
        },
        candidates,
        discoverable,
    };
    // Steps 8–9: presence (with built-in verification when asked), unless not wanted or the
    // token remembers the user as present.
    let touch = (up && !verification.cached_presence) || verification.built_in;
    if touch {
        Ok(Step::Wait(Wait {
            purpose: PresencePurpose::GetAssertion,
            rp_id: Some(rp_id),
            uv: verification.built_in,
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
    if plan.signing.up {
        // Step 9.4: presence was collected (or remembered); the token is used up.
        pin_uv::consume_token(auth);
    }
    if plan.signing.verification.built_in {
        pin_uv::uv_succeeded(auth, env)?;
    }
    let total = plan.candidates.len();
    let mut remaining: VecDeque<Candidate> = plan.candidates.into();
    let first = remaining.pop_front().ok_or(StatusCode::NoCredentials)?;
    let several = plan.discoverable && total > 1;
    let with_names = plan.signing.verification.uv() && several;
    let number = several.then_some(total);
    let body = assertion(auth, env, &plan.signing, &first, number, with_names)?;
    auth.next_assertion = if remaining.is_empty() {
        None
    } else {
        Some(NextState {
            cid,
            signing: plan.signing,
            remaining,
            total,
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
    let with_names = state.signing.verification.uv() && state.total > 1;
    let body = assertion(auth, env, &state.signing, &candidate, None, with_names)?;
    state.last_ms = now;
    if !state.remaining.is_empty() {
        auth.next_assertion = Some(state);
    }
    Ok(body)
}

/// One assertion by `candidate`: its counter advanced and committed, extensions run, signed.
fn assertion(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    signing: &Signing,
    candidate: &Candidate,
    number_of_credentials: Option<usize>,
    with_names: bool,
) -> CtapResult<Value> {
    let mut flag_bits = backup_flags(
        candidate.extras.backup_eligible,
        candidate.extras.backup_state,
    );
    // Step 8: built-in verification is a touch too.
    if signing.up || signing.verification.built_in {
        flag_bits |= flags::UP;
    }
    if signing.verification.uv() {
        flag_bits |= flags::UV;
    }
    let mut outputs = Vec::new();
    let mut members = ResponseMembers::default();
    if !signing.extensions.is_empty() {
        let persistent = auth.load(env)?;
        let mut ctx = GaContext {
            uv: signing.verification.uv(),
            key: &candidate.key,
            extras: &candidate.extras,
            cred_random: &persistent.cred_random,
            members: &mut members,
            rng: &mut *env.rng,
        };
        for r in &signing.extensions {
            if let Some(output) =
                r.extension
                    .get_assertion(&r.input, r.prepared.as_ref(), &mut ctx)?
            {
                outputs.push((r.extension.id().to_owned(), output));
            }
        }
    }
    // Persisted before the signature that carries it exists.
    let sign_count = counter::next_for_signature(
        env,
        &mut auth.counters,
        auth.config.counter_mode,
        auth.config.counter_reserve,
        &candidate.id,
    )?;
    let mut data = AuthenticatorData::new(signing.rp_hash, flag_bits, sign_count);
    if !outputs.is_empty() {
        data.extensions = Some(Extensions(outputs));
    }
    let auth_data = data.to_bytes();
    let mut signed = Vec::with_capacity(auth_data.len() + signing.client_data_hash.len());
    signed.extend_from_slice(&auth_data);
    signed.extend_from_slice(&signing.client_data_hash);
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
        large_blob_key: members.large_blob_key(),
    }
    .to_value())
}

/// Step 7: the credentials a request may use: the first listed one that is ours (and usable),
/// or without a list every discoverable one, most recently created first.
fn locate(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    rp_id: &str,
    rp_hash: &[u8; 32],
    allow_list: &[CredentialDescriptor],
    verified: bool,
) -> CtapResult<Vec<Candidate>> {
    if allow_list.is_empty() {
        let mut found: Vec<Candidate> = discoverable_for(env, rp_id)?
            .into_iter()
            .map(Candidate::from_stored)
            .collect();
        found.retain(|c| extensions::usable(&auth.extensions, &c.extras, verified, false));
        return Ok(found);
    }
    for descriptor in allow_list.iter().filter(|d| d.is_public_key()) {
        if let Some(c) = find_listed(auth, env, &descriptor.id, rp_id, rp_hash)?
            && extensions::usable(&auth.extensions, &c.extras, verified, true)
        {
            return Ok(vec![c]);
        }
    }
    Ok(Vec::new())
}
