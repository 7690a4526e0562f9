//! RespondToAuthChallenge, one function per challenge: PASSWORD_VERIFIER,
//! NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, SMS_MFA, SELECT_MFA_TYPE, MFA_SETUP.

use serde_json::Value;

use super::answer::{Answer, Claim, answer_device, take_exchange};
use super::next::{after_password, finish, mfa_challenge, second_factor};
use crate::emulator::cognito::clients::check_secret_hash;
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{CognitoState, UserStatus};
use crate::emulator::cognito::passwords::{check_policy, make_verifier};
use crate::emulator::cognito::session::{Ephemeral, SessionKind, Who, invalid_session};
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use crate::emulator::totp::{self, Rejection};

/// `PASSWORD_VERIFIER`: the client's SRP proof of the password.
pub fn password_verifier(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(answer.client_id)?;
    let claim = Claim::read(answer)?;
    let username = answer.param("USERNAME")?;
    check_secret_hash(client, username, answer.secret_hash())?;
    let device = answer_device(state, eph, answer, claim.block)?;
    let pending = take_exchange(eph, answer, claim.block, false, ctx.now)?;
    let timestamp = claim.canonical_timestamp()?;
    let Some(user_id) = pending.username.as_deref() else {
        return Err(CognitoError::incorrect_password());
    };
    if username != user_id {
        return Err(CognitoError::incorrect_password());
    }
    let user = pool
        .users
        .get(user_id)
        .ok_or_else(CognitoError::user_not_found)?;
    let pv = user
        .password
        .as_ref()
        .ok_or_else(CognitoError::incorrect_password)?;
    claim.check(
        &pending,
        pv.verifier.expose(),
        (pool.srp_name(), user_id),
        &timestamp,
    )?;
    let who = Who {
        pool: pool.id.clone(),
        client: answer.client_id.to_owned(),
        username: user_id.to_owned(),
        device,
    };
    after_password(state, eph, &who, ctx)
}

/// `NEW_PASSWORD_REQUIRED`: the new password (and any attributes) after a temporary one.
pub fn new_password_required(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let new_password = answer.param("NEW_PASSWORD")?;
    let pool = state.pool(&s.pool)?;
    check_policy(&pool.policy, new_password)?;
    let pv = make_verifier(pool, &s.username, new_password);
    let attrs: Vec<(String, String)> = answer
        .responses
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("userAttributes.")
                .map(|a| (a.to_owned(), v.clone()))
        })
        .collect();
    if attrs.iter().any(|(k, _)| k == "sub") {
        return Err(CognitoError::invalid(
            "Cannot modify an immutable attribute: sub",
        ));
    }
    answer.spend(eph);
    let u = state.user_mut(&s.pool, &s.username)?;
    u.password = Some(pv);
    u.status = UserStatus::Confirmed;
    u.temporary_password_set = None;
    for (k, v) in attrs {
        u.attributes.insert(k, v);
    }
    u.modified = ctx.now;
    second_factor(state, eph, &Who::of(&s), ctx)
}

/// `SOFTWARE_TOKEN_MFA`: a TOTP code within one step, never one already used.
pub fn software_token_mfa(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let code = answer.param("SOFTWARE_TOKEN_MFA_CODE")?;
    let user = state.user_mut(&s.pool, &s.username)?;
    let secret = user
        .totp
        .active
        .as_ref()
        .and_then(|s| {
            data_encoding::BASE32_NOPAD
                .decode(s.expose().as_bytes())
                .ok()
        })
        .ok_or_else(|| {
            CognitoError::new(
                "SoftwareTokenMFANotFoundException",
                "Software Token MFA does not exist for the user.",
            )
        })?;
    match totp::verify(&secret, code, ctx.now_secs, 0, 1, user.totp.last_step) {
        Ok(step) => user.totp.last_step = Some(step),
        Err(Rejection::Mismatch) => {
            return Err(CognitoError::new(
                "CodeMismatchException",
                "Invalid code received for user",
            ));
        }
        Err(Rejection::Replay) => {
            return Err(CognitoError::new(
                "ExpiredCodeException",
                "Your software token has already been used once.",
            ));
        }
    }
    answer.spend(eph);
    finish(state, eph, &Who::of(&s), ctx)
}

/// `SMS_MFA`: the code "sent" by SMS.
pub fn sms_mfa(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let code = answer.param("SMS_MFA_CODE")?;
    let SessionKind::SmsMfa { code: expected } = &s.kind else {
        return Err(invalid_session());
    };
    if !crypto::ct_eq(expected.expose().as_bytes(), code.as_bytes()) {
        return Err(CognitoError::new(
            "CodeMismatchException",
            "Invalid code or auth state for the user.",
        ));
    }
    answer.spend(eph);
    finish(state, eph, &Who::of(&s), ctx)
}

/// `SELECT_MFA_TYPE`: the user's choice among the MFA methods offered.
pub fn select_mfa_type(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let choice = answer.param("ANSWER")?;
    let pool = state.pool(&s.pool)?;
    let methods = state.user(&s.pool, &s.username)?.mfa_methods(pool);
    if !methods.contains(&choice) {
        return Err(CognitoError::invalid(format!(
            "Invalid MFA type {choice}: choose one of {}",
            methods.join(", ")
        )));
    }
    answer.spend(eph);
    mfa_challenge(state, eph, choice, &Who::of(&s), ctx)
}

/// `MFA_SETUP`: finishing sign-in once VerifySoftwareToken succeeded with the session.
pub fn mfa_setup(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    if !matches!(s.kind, SessionKind::MfaSetup { verified: true }) {
        return Err(CognitoError::invalid(
            "MFA setup is not complete for this session: call AssociateSoftwareToken and VerifySoftwareToken with it first.",
        ));
    }
    answer.spend(eph);
    finish(state, eph, &Who::of(&s), ctx)
}
