//! What makeCredential and getAssertion share about user verification (CTAP 2.1 §6.1.2 steps
//! 1–2, 5–8, 10–11 and 14; §6.2.2 steps 1–2, 4–6 and 9): the zero-length pinUvAuthParam probe,
//! the pinUvAuthProtocol check, alwaysUv, verifying a pinUvAuthParam against the pinUvAuthToken,
//! built-in UV failures, and using the token up.

use super::{Authenticator, Continuation, Wait};
use crate::env::{Env, PresencePurpose};
use crate::pin::protocol::{self, PinUvAuthProtocol};
use crate::pin::state::MAX_UV_RETRIES;
use crate::status::{CtapResult, StatusCode};

/// What a request asks of user verification, once checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verification {
    /// A pinUvAuthParam was verified against the token: the "uv" bit is set.
    pub by_token: bool,
    /// Built-in UV is to be performed with the user-presence wait.
    pub built_in: bool,
    /// The token remembers the user as present: no touch is needed.
    pub cached_presence: bool,
}

impl Verification {
    /// Whether the response's "uv" bit will be set (built-in UV only if it succeeds).
    pub(crate) fn uv(&self) -> bool {
        self.by_token || self.built_in
    }
}

/// What the key's PIN/UV state says for a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Protection {
    /// A PIN is set ("clientPin" true).
    pub pin_set: bool,
    /// Protected by some form of user verification (a PIN set, or built-in UV).
    pub protected: bool,
    /// alwaysUv is on.
    pub always_uv: bool,
    /// Built-in UV attempts left.
    pub uv_retries: u8,
    /// Enterprise attestation enabled.
    pub enterprise_attestation: bool,
}

/// Reads the protection state (no PIN state before CTAP 2.1: only built-in UV).
pub(crate) fn protection(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Protection> {
    let built_in = auth.caps.user_verification;
    if !auth.caps.pin_uv_auth_token {
        return Ok(Protection {
            pin_set: false,
            protected: built_in,
            always_uv: false,
            uv_retries: u8::MAX,
            enterprise_attestation: false,
        });
    }
    let state = auth.pin_state(env)?;
    Ok(Protection {
        pin_set: state.pin_set(),
        protected: state.pin_set() || built_in,
        always_uv: state.always_uv,
        uv_retries: state.uv_retries,
        enterprise_attestation: state.enterprise_attestation,
    })
}

/// Step 1: a zero-length pinUvAuthParam asks for a touch that selects this authenticator; the
/// answer then tells the platform to set or enter a PIN.
pub(crate) fn probe(auth: &Authenticator, param: Option<&[u8]>, rp_id: &str) -> Option<Wait> {
    let supported = auth.caps.client_pin || auth.caps.pin_uv_auth_token;
    (supported && param.is_some_and(<[u8]>::is_empty)).then(|| Wait {
        purpose: PresencePurpose::Selection,
        rp_id: Some(rp_id.to_owned()),
        uv: false,
        cont: Continuation::PinProbe,
    })
}

/// The probe's answer after the touch: `CTAP2_ERR_PIN_NOT_SET` or `CTAP2_ERR_PIN_INVALID`.
pub(crate) fn probe_answer(auth: &mut Authenticator, env: &mut Env<'_>) -> StatusCode {
    match protection(auth, env) {
        Ok(p) if p.pin_set => StatusCode::PinInvalid,
        Ok(_) => StatusCode::PinNotSet,
        Err(e) => e,
    }
}

/// Step 2: the protocol of a pinUvAuthParam (`CTAP2_ERR_MISSING_PARAMETER` when absent,
/// `CTAP1_ERR_INVALID_PARAMETER` when not supported by this key).
pub(crate) fn param_protocol(
    auth: &Authenticator,
    param: Option<&[u8]>,
    protocol: Option<u64>,
) -> CtapResult<Option<&'static dyn PinUvAuthProtocol>> {
    if param.is_none() {
        return Ok(None);
    }
    let number = protocol.ok_or(StatusCode::MissingParameter)?;
    if !auth.caps.pin_uv_auth_protocols.contains(&number) {
        return Err(StatusCode::InvalidParameter);
    }
    protocol::protocol(number)
        .map(Some)
        .ok_or(StatusCode::InvalidParameter)
}

/// The error when user verification is required but not offered: the platform should get a
/// pinUvAuthToken when clientPin could give one (`CTAP2_ERR_PUAT_REQUIRED`), and otherwise
/// there is no way (`CTAP2_ERR_OPERATION_DENIED`).
pub(crate) fn uv_required(auth: &Authenticator) -> StatusCode {
    if auth.caps.client_pin {
        StatusCode::PuatRequired
    } else {
        StatusCode::OperationDenied
    }
}

/// alwaysUv (makeCredential step 6, getAssertion step 5): a key that is not protected cannot
/// serve the request; without a pinUvAuthParam, built-in UV is used if the key has it (returns
/// the "uv" option to use).
pub(crate) fn always_uv(
    auth: &Authenticator,
    protection: &Protection,
    param: Option<&[u8]>,
    uv: bool,
) -> CtapResult<bool> {
    if !protection.always_uv {
        return Ok(uv);
    }
    if !protection.protected {
        return Err(uv_required(auth));
    }
    if param.is_none() && !uv {
        if !auth.caps.user_verification {
            return Err(uv_required(auth));
        }
        return Ok(true);
    }
    Ok(uv)
}

/// What a request authorises (makeCredential step 11, getAssertion step 6): on a protected key,
/// a pinUvAuthParam is verified against the token, or built-in UV is arranged for the wait.
pub(crate) struct Request<'a> {
    /// The pinUvAuthParam and its protocol, if sent.
    pub param: Option<(&'a [u8], &'static dyn PinUvAuthProtocol)>,
    /// Whether built-in UV was asked for ("uv", after alwaysUv).
    pub uv: bool,
    /// The clientDataHash the parameter authenticates.
    pub client_data_hash: &'a [u8],
    /// The permission the token needs (mc or ga).
    pub permission: u64,
    /// The relying party.
    pub rp_id: &'a str,
}

/// Step 11 / 6: the request's user verification.
pub(crate) fn verify(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protection: &Protection,
    req: &Request<'_>,
) -> CtapResult<Verification> {
    let mut verification = Verification::default();
    if !protection.protected {
        return Ok(verification);
    }
    if let Some((param, protocol)) = req.param {
        verification.cached_presence = verify_token(
            auth,
            env,
            protocol,
            param,
            req.client_data_hash,
            req.permission,
            req.rp_id,
        )?;
        verification.by_token = true;
    } else if req.uv {
        if protection.uv_retries == 0 {
            return Err(uv_refused(protection));
        }
        verification.built_in = true;
    }
    Ok(verification)
}

/// Verifies a pinUvAuthParam over `client_data_hash` with the token of `protocol` (steps
/// 11.1 / 6.1): the token must be in use, hold `permission`, be bound to `rp_id` or to no RP
/// (it is then bound to `rp_id`), and still carry the user's verification. Every failure is
/// `CTAP2_ERR_PIN_AUTH_INVALID`. Returns whether the token remembers the user as present.
pub(crate) fn verify_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protocol: &'static dyn PinUvAuthProtocol,
    param: &[u8],
    client_data_hash: &[u8],
    permission: u64,
    rp_id: &str,
) -> CtapResult<bool> {
    let now = env.clock.now_ms();
    if !auth.pin.token.in_use(now) {
        return Err(StatusCode::PinAuthInvalid);
    }
    let token = auth.pin.token_bytes(env.rng, protocol)?;
    protocol.verify(token.as_ref(), client_data_hash, param)?;
    let state = &mut auth.pin.token;
    if !state.has_permission(now, permission) {
        return Err(StatusCode::PinAuthInvalid);
    }
    if state.rp_id().is_some_and(|bound| bound != rp_id) {
        return Err(StatusCode::PinAuthInvalid);
    }
    if !state.user_verified(now) {
        return Err(StatusCode::PinAuthInvalid);
    }
    if state.rp_id().is_none() {
        state.set_rp_id(Some(rp_id.to_owned()));
    }
    state.mark_used();
    Ok(state.user_present(now))
}

/// Verifies the pinUvAuthParam of a command authorised by a token with `permission` alone
/// (authenticatorConfig, credentialManagement, largeBlobs): the protocol must be given
/// (`CTAP2_ERR_MISSING_PARAMETER`) and supported (`CTAP1_ERR_INVALID_PARAMETER`), the token in
/// use, `param` authenticate(token, `message`), and the token must hold `permission`
/// (`CTAP2_ERR_PIN_AUTH_INVALID` otherwise). The permissions RP ID is the caller's business.
pub(crate) fn verify_command_token(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    protocol: Option<u64>,
    param: &[u8],
    message: &[u8],
    permission: u64,
) -> CtapResult<()> {
    let protocol = param_protocol(auth, Some(param), protocol)?.ok_or(StatusCode::Other)?;
    let now = env.clock.now_ms();
    if !auth.pin.token.in_use(now) {
        return Err(StatusCode::PinAuthInvalid);
    }
    let token = auth.pin.token_bytes(env.rng, protocol)?;
    protocol.verify(token.as_ref(), message, param)?;
    if !auth.pin.token.has_permission(now, permission) {
        return Err(StatusCode::PinAuthInvalid);
    }
    auth.pin.token.mark_used();
    Ok(())
}

/// Step 14.4 / 9.4: after user presence, the token's cached presence and verification and its
/// permissions (but largeBlobWrite) are used up (no-ops without a token in use).
pub(crate) fn consume_token(auth: &mut Authenticator) {
    let token = &mut auth.pin.token;
    token.clear_user_present();
    token.clear_user_verified();
    token.clear_permissions_except_lbw();
}

/// The answer to built-in UV that cannot verify the user (steps 11.2.3 / 6.2.3): a PIN to fall
/// back on (`CTAP2_ERR_PUAT_REQUIRED`), built-in UV blocked (`CTAP2_ERR_PIN_BLOCKED`, as the
/// specification names it), or `CTAP2_ERR_OPERATION_DENIED`.
pub(crate) fn uv_refused(protection: &Protection) -> StatusCode {
    if protection.pin_set {
        StatusCode::PuatRequired
    } else if protection.uv_retries == 0 {
        StatusCode::PinBlocked
    } else {
        StatusCode::OperationDenied
    }
}

/// Built-in UV failed during makeCredential or getAssertion: one UV attempt is gone
/// (committed), and the answer is [`uv_refused`]'s.
pub(crate) fn uv_failed(auth: &mut Authenticator, env: &mut Env<'_>) -> StatusCode {
    if !auth.caps.pin_uv_auth_token {
        // No uvRetries before CTAP 2.1.
        return StatusCode::OperationDenied;
    }
    if let Err(e) = super::client_pin::uv_failed(auth, env) {
        return e;
    }
    match protection(auth, env) {
        Ok(p) => uv_refused(&p),
        Err(e) => e,
    }
}

/// Built-in UV succeeded: its attempts are back to the maximum (committed when they were not).
pub(crate) fn uv_succeeded(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<()> {
    if !auth.caps.pin_uv_auth_token {
        return Ok(());
    }
    let mut state = auth.pin_state(env)?.clone();
    if state.uv_retries != MAX_UV_RETRIES {
        state.uv_retries = MAX_UV_RETRIES;
        auth.pin.commit_state(env, state)?;
    }
    Ok(())
}
