//! authenticatorClientPIN (0x06, CTAP 2.1 §6.5.5): PIN retries, key agreement, setPIN,
//! changePIN and the pinUvAuthToken subcommands (through the PIN or built-in UV).
//!
//! Every wrong PIN is paid for before it is checked: the decremented retry counter is
//! committed first, so no power cut can give an attempt back.

use zeroize::Zeroizing;

use super::messages::{
    ClientPinRequest, ClientPinResponse, ClientPinSubCommand, Message, permission,
};
use super::{Authenticator, Continuation, Step, Wait, response};
use crate::env::{Env, PresencePurpose};
use crate::pin::protocol::{self, PinUvAuthProtocol, SharedSecret};
use crate::pin::state::{
    MAX_CONSECUTIVE_MISMATCHES, MAX_PIN_RETRIES, MAX_UV_RETRIES, PADDED_PIN_LEN, check_new_pin,
};
use crate::status::{CtapResult, StatusCode};

/// A getPinUvAuthTokenUsingUvWithPermissions waiting for built-in user verification.
pub(crate) struct UvTokenPlan {
    protocol: &'static dyn PinUvAuthProtocol,
    shared: SharedSecret,
    permissions: u64,
    rp_id: Option<String>,
}

impl std::fmt::Debug for UvTokenPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UvTokenPlan")
            .field("protocol", &self.protocol.number())
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

/// Processes one authenticatorClientPIN request.
pub(crate) fn process(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    params: &[u8],
) -> CtapResult<Step> {
    let req = ClientPinRequest::from_cbor(params)?;
    let sub =
        ClientPinSubCommand::from_u64(req.sub_command).ok_or(StatusCode::InvalidSubcommand)?;
    let caps = &auth.caps;
    let served = match sub {
        ClientPinSubCommand::GetKeyAgreement => caps.pin_uv_auth_token,
        ClientPinSubCommand::GetPinRetries
        | ClientPinSubCommand::SetPin
        | ClientPinSubCommand::ChangePin
        | ClientPinSubCommand::GetPinToken
        | ClientPinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions => caps.client_pin,
        ClientPinSubCommand::GetPinUvAuthTokenUsingUvWithPermissions
        | ClientPinSubCommand::GetUvRetries => caps.user_verification && caps.pin_uv_auth_token,
    };
    if !served {
        return Err(StatusCode::InvalidSubcommand);
    }
    let reply =
        |r: ClientPinResponse| Step::Reply(response(Ok((!r.is_empty()).then(|| r.to_value()))));
    Ok(match sub {
        ClientPinSubCommand::GetPinRetries => reply(get_pin_retries(auth, env)?),
        ClientPinSubCommand::GetUvRetries => reply(get_uv_retries(auth, env)?),
        ClientPinSubCommand::GetKeyAgreement => reply(get_key_agreement(auth, env, &req)?),
        ClientPinSubCommand::SetPin => reply(set_pin(auth, env, &req)?),
        ClientPinSubCommand::ChangePin => reply(change_pin(auth, env, &req)?),
        ClientPinSubCommand::GetPinToken => reply(get_pin_token(auth, env, &req, None)?),
        ClientPinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions => {
            let permissions = req.permissions.ok_or(StatusCode::MissingParameter)?;
            reply(get_pin_token(auth, env, &req, Some(permissions))?)
        }
        ClientPinSubCommand::GetPinUvAuthTokenUsingUvWithPermissions => {
            Step::Wait(begin_uv_token(auth, env, &req)?)
        }
    })
}

/// The protocol a request names: `CTAP2_ERR_MISSING_PARAMETER` when absent,
/// `CTAP1_ERR_INVALID_PARAMETER` when not supported.
fn requested_protocol(req: &ClientPinRequest) -> CtapResult<&'static dyn PinUvAuthProtocol> {
    let number = req
        .pin_uv_auth_protocol
        .ok_or(StatusCode::MissingParameter)?;
    protocol::protocol(number).ok_or(StatusCode::InvalidParameter)
}

fn get_pin_retries(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<ClientPinResponse> {
    let retries = auth.pin_state(env)?.pin_retries;
    Ok(ClientPinResponse {
        pin_retries: Some(u64::from(retries)),
        power_cycle_state: Some(auth.pin.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES),
        ..ClientPinResponse::default()
    })
}

fn get_uv_retries(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<ClientPinResponse> {
    let retries = auth.pin_state(env)?.uv_retries;
    Ok(ClientPinResponse {
        uv_retries: Some(u64::from(retries)),
        ..ClientPinResponse::default()
    })
}

fn get_key_agreement(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &ClientPinRequest,
) -> CtapResult<ClientPinResponse> {
    let protocol = requested_protocol(req)?;
    let key = auth.pin.key_agreement(env.rng, protocol)?.public_key()?;
    Ok(ClientPinResponse {
        key_agreement: Some(key),
        ..ClientPinResponse::default()
    })
}

/// decapsulate() with the platform's key (`CTAP1_ERR_INVALID_PARAMETER` for a bad one).
fn shared_secret(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protocol: &dyn PinUvAuthProtocol,
    req: &ClientPinRequest,
) -> CtapResult<SharedSecret> {
    let peer = req
        .key_agreement
        .as_ref()
        .ok_or(StatusCode::MissingParameter)?;
    auth.pin
        .key_agreement(env.rng, protocol)?
        .decapsulate(protocol, peer)
}

/// Decrypts a new PIN and checks it: `CTAP2_ERR_PIN_AUTH_INVALID` if it does not decrypt,
/// `CTAP1_ERR_INVALID_PARAMETER` if it is not 64 bytes padded, `CTAP2_ERR_PIN_POLICY_VIOLATION`
/// against the policy. Returns the PIN and its length in code points.
fn new_pin(
    protocol: &dyn PinUvAuthProtocol,
    shared: &SharedSecret,
    new_pin_enc: &[u8],
    min_pin_length: u8,
) -> CtapResult<(Zeroizing<Vec<u8>>, u8)> {
    let padded = protocol
        .decrypt(shared.as_bytes(), new_pin_enc)
        .map_err(|_| StatusCode::PinAuthInvalid)?;
    if padded.len() != PADDED_PIN_LEN {
        return Err(StatusCode::InvalidParameter);
    }
    // The PIN ends at its first zero byte; a padded PIN without one is 64 bytes long, which
    // the policy refuses (at most 63).
    let len = padded.iter().position(|b| *b == 0).unwrap_or(padded.len());
    let pin = Zeroizing::new(padded[..len].to_vec());
    let code_points = check_new_pin(&pin, min_pin_length)?;
    Ok((pin, code_points))
}

fn set_pin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &ClientPinRequest,
) -> CtapResult<ClientPinResponse> {
    // Step 1: mandatory parameters; step 2: the protocol.
    let (Some(_), Some(param), Some(new_pin_enc)) =
        (&req.key_agreement, &req.pin_uv_auth_param, &req.new_pin_enc)
    else {
        return Err(StatusCode::MissingParameter);
    };
    let protocol = requested_protocol(req)?;
    // Step 3 (CTAP 2.1; 2.0 answered CTAP2_ERR_NOT_ALLOWED): a PIN exists already.
    let mut state = auth.pin_state(env)?.clone();
    if state.pin_set() {
        return Err(StatusCode::PinAuthInvalid);
    }
    let shared = shared_secret(auth, env, protocol, req)?;
    protocol.verify(shared.as_bytes(), new_pin_enc, param)?;
    let (pin, code_points) = new_pin(protocol, &shared, new_pin_enc, state.min_pin_length)?;
    state.set_pin(&pin, code_points);
    auth.pin.commit_state(env, state)?;
    Ok(ClientPinResponse::default())
}

/// Checks the PIN a request carries (pinHashEnc), paying for the attempt first.
///
/// The order is the specification's, with what it leaves implicit made explicit: no PIN set is
/// `CTAP2_ERR_PIN_NOT_SET`; after three wrong PINs in a row every attempt (the right PIN too) is
/// `CTAP2_ERR_PIN_AUTH_BLOCKED` until a power cycle, and costs no retry.
fn check_pin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protocol: &'static dyn PinUvAuthProtocol,
    shared: &SharedSecret,
    pin_hash_enc: &[u8],
) -> CtapResult<()> {
    let mut state = auth.pin_state(env)?.clone();
    state.pin_retries = state.pin_retries.saturating_sub(1);
    auth.pin.commit_state(env, state.clone())?;
    let hash = protocol.decrypt(shared.as_bytes(), pin_hash_enc);
    if !hash.is_ok_and(|h| state.pin_matches(&h)) {
        auth.pin.regenerate(env.rng, protocol)?;
        auth.pin.consecutive_mismatches = auth.pin.consecutive_mismatches.saturating_add(1);
        return Err(if state.pin_retries == 0 {
            StatusCode::PinBlocked
        } else if auth.pin.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES {
            StatusCode::PinAuthBlocked
        } else {
            StatusCode::PinInvalid
        });
    }
    auth.pin.consecutive_mismatches = 0;
    Ok(())
}

/// The checks every subcommand that takes the current PIN makes before decapsulating.
fn pin_usable(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<()> {
    let state = auth.pin_state(env)?;
    if !state.pin_set() {
        return Err(StatusCode::PinNotSet);
    }
    if state.pin_retries == 0 {
        return Err(StatusCode::PinBlocked);
    }
    if auth.pin.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES {
        return Err(StatusCode::PinAuthBlocked);
    }
    Ok(())
}

fn change_pin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &ClientPinRequest,
) -> CtapResult<ClientPinResponse> {
    let (Some(_), Some(param), Some(new_pin_enc), Some(pin_hash_enc)) = (
        &req.key_agreement,
        &req.pin_uv_auth_param,
        &req.new_pin_enc,
        &req.pin_hash_enc,
    ) else {
        return Err(StatusCode::MissingParameter);
    };
    let protocol = requested_protocol(req)?;
    pin_usable(auth, env)?;
    let shared = shared_secret(auth, env, protocol, req)?;
    let mut message = new_pin_enc.clone();
    message.extend_from_slice(pin_hash_enc);
    protocol.verify(shared.as_bytes(), &message, param)?;
    check_pin(auth, env, protocol, &shared, pin_hash_enc)?;

    // The PIN was right: retries back to the maximum, whether or not the new PIN is accepted.
    let mut state = auth.pin_state(env)?.clone();
    state.pin_retries = MAX_PIN_RETRIES;
    let checked = new_pin(protocol, &shared, new_pin_enc, state.min_pin_length).and_then(
        |(pin, code_points)| {
            // forcePINChange: the new PIN must differ from the current one.
            if state.force_pin_change && state.pin_matches(&crate::pin::state::pin_hash(&pin)[..]) {
                return Err(StatusCode::PinPolicyViolation);
            }
            Ok((pin, code_points))
        },
    );
    let outcome = match checked {
        Ok((pin, code_points)) => {
            state.set_pin(&pin, code_points);
            Ok(())
        }
        Err(e) => Err(e),
    };
    auth.pin.commit_state(env, state)?;
    outcome?;
    // Every existing pinUvAuthToken is invalidated.
    auth.pin.reset_tokens(env.rng)?;
    Ok(ClientPinResponse::default())
}

/// Refuses permissions whose feature the key does not claim (CTAP 2.1 §6.5.5.7.2 step 4).
fn check_permissions(auth: &Authenticator, permissions: u64) -> CtapResult<()> {
    if permissions == 0 {
        return Err(StatusCode::InvalidParameter);
    }
    let caps = &auth.caps;
    let unclaimed = [
        (permission::CM, caps.credential_management),
        // No bio enrollment: "be" is never claimed.
        (permission::BE, false),
        (permission::LBW, caps.large_blobs),
        (permission::ACFG, caps.authenticator_config),
    ];
    if unclaimed
        .iter()
        .any(|(bit, claimed)| permissions & bit != 0 && !claimed)
    {
        return Err(StatusCode::UnauthorizedPermission);
    }
    Ok(())
}

/// getPinToken (`permissions` `None`) and getPinUvAuthTokenUsingPinWithPermissions.
fn get_pin_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &ClientPinRequest,
    permissions: Option<u64>,
) -> CtapResult<ClientPinResponse> {
    let (Some(_), Some(pin_hash_enc)) = (&req.key_agreement, &req.pin_hash_enc) else {
        return Err(StatusCode::MissingParameter);
    };
    let protocol = requested_protocol(req)?;
    match permissions {
        // getPinToken takes neither permissions nor an RP ID.
        None if req.permissions.is_some() || req.rp_id.is_some() => {
            return Err(StatusCode::InvalidParameter);
        }
        None => {}
        Some(p) => check_permissions(auth, p)?,
    }
    pin_usable(auth, env)?;
    let shared = shared_secret(auth, env, protocol, req)?;
    check_pin(auth, env, protocol, &shared, pin_hash_enc)?;
    let mut state = auth.pin_state(env)?.clone();
    state.pin_retries = MAX_PIN_RETRIES;
    // A correct PIN also gives built-in UV its attempts back.
    state.uv_retries = MAX_UV_RETRIES;
    let force_change = state.force_pin_change;
    auth.pin.commit_state(env, state)?;
    if force_change {
        return Err(match permissions {
            None => StatusCode::PinInvalid,
            Some(_) => StatusCode::PinPolicyViolation,
        });
    }
    issue_token(
        auth,
        env,
        protocol,
        &shared,
        permissions.unwrap_or(permission::MC | permission::GA),
        req.rp_id.clone(),
        false,
    )
}

/// Makes a new pinUvAuthToken (every older one is invalidated), begins using it and returns it
/// encrypted for the platform.
fn issue_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protocol: &'static dyn PinUvAuthProtocol,
    shared: &SharedSecret,
    permissions: u64,
    rp_id: Option<String>,
    user_is_present: bool,
) -> CtapResult<ClientPinResponse> {
    auth.pin.reset_tokens(env.rng)?;
    auth.pin.token.begin(env.clock.now_ms(), user_is_present);
    auth.pin.token.set_permissions(permissions);
    auth.pin.token.set_rp_id(rp_id);
    let token = auth.pin.token_bytes(env.rng, protocol)?;
    let encrypted = protocol.encrypt(shared.as_bytes(), env.rng, token.as_ref())?;
    Ok(ClientPinResponse {
        pin_uv_auth_token: Some(encrypted),
        ..ClientPinResponse::default()
    })
}

/// getPinUvAuthTokenUsingUvWithPermissions up to the user verification it waits for.
fn begin_uv_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &ClientPinRequest,
) -> CtapResult<Wait> {
    let (Some(_), Some(permissions)) = (&req.key_agreement, req.permissions) else {
        return Err(StatusCode::MissingParameter);
    };
    let protocol = requested_protocol(req)?;
    check_permissions(auth, permissions)?;
    if auth.pin_state(env)?.uv_retries == 0 {
        return Err(StatusCode::UvBlocked);
    }
    let shared = shared_secret(auth, env, protocol, req)?;
    Ok(Wait {
        purpose: PresencePurpose::UserVerification,
        rp_id: req.rp_id.clone(),
        uv: true,
        cont: Continuation::UvToken(Box::new(UvTokenPlan {
            protocol,
            shared,
            permissions,
            rp_id: req.rp_id.clone(),
        })),
    })
}

/// The user was verified: UV retries back to the maximum, and a token that remembers the user
/// was present (the verification was a touch).
pub(crate) fn finish_uv_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    plan: UvTokenPlan,
) -> CtapResult<ClientPinResponse> {
    let mut state = auth.pin_state(env)?.clone();
    if state.uv_retries != MAX_UV_RETRIES {
        state.uv_retries = MAX_UV_RETRIES;
        auth.pin.commit_state(env, state)?;
    }
    issue_token(
        auth,
        env,
        plan.protocol,
        &plan.shared,
        plan.permissions,
        plan.rp_id,
        true,
    )
}

/// Built-in user verification failed: one UV attempt is gone (committed). Returns how many are
/// left.
pub(crate) fn uv_failed(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<u8> {
    let mut state = auth.pin_state(env)?.clone();
    state.uv_retries = state.uv_retries.saturating_sub(1);
    let left = state.uv_retries;
    auth.pin.commit_state(env, state)?;
    Ok(left)
}
