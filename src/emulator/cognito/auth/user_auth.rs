//! USER_AUTH, choice-based sign-in: a first factor chosen by PREFERRED_CHALLENGE or by
//! answering SELECT_CHALLENGE (PASSWORD, PASSWORD_SRP, WEB_AUTHN), then what the pool asks
//! after it.
//!
//! A passkey is a first factor. Where the pool requires MFA, a passkey signs in only as
//! passkey MFA (FactorConfiguration `MULTI_FACTOR_WITH_USER_VERIFICATION` on the pool and
//! WebAuthnMfaSettings on the user), and then it must verify the user; elsewhere a passkey
//! sign-in asks for nothing more, as Cognito does.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::answer::Answer;
use super::flows::{Start, check_password, device_param, srp_exchange};
use super::next::{after_password, challenge, finish};
use crate::emulator::cognito::clients::{check_secret_hash, require_flow};
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{CognitoState, MfaMode, User, UserPool};
use crate::emulator::cognito::passkeys::relying_party::RelyingParty;
use crate::emulator::cognito::request::param;
use crate::emulator::cognito::session::{Ephemeral, SessionKind, Who, invalid_session};
use crate::emulator::context::Ctx;

/// Every first factor USER_AUTH knows, in the order AvailableChallenges lists them.
const FACTORS: [&str; 5] = [
    "PASSWORD",
    "PASSWORD_SRP",
    "WEB_AUTHN",
    "EMAIL_OTP",
    "SMS_OTP",
];

/// Whether a passkey may be this user's first factor here.
fn passkey_allowed(pool: &UserPool, user: &User) -> bool {
    pool.allows_first_factor("WEB_AUTHN")
        && pool.webauthn.relying_party_id.is_some()
        && !user.passkeys.is_empty()
        && (pool.mfa != MfaMode::On || (pool.webauthn.multi_factor() && user.passkey_mfa))
}

/// The first factors `user` can use now (AvailableChallenges).
pub fn available(pool: &UserPool, user: &User) -> Vec<String> {
    let mut out = Vec::new();
    if pool.allows_first_factor("PASSWORD") && user.password.is_some() {
        out.push("PASSWORD".to_owned());
        out.push("PASSWORD_SRP".to_owned());
    }
    if passkey_allowed(pool, user) {
        out.push("WEB_AUTHN".to_owned());
    }
    out
}

/// The pool's relying party, requiring user verification where the passkey stands in for
/// MFA.
fn relying_party(pool: &UserPool) -> Result<RelyingParty, CognitoError> {
    let rp = RelyingParty::for_pool(pool)?;
    Ok(if pool.mfa == MfaMode::On {
        rp.requiring_uv()
    } else {
        rp
    })
}

/// `USER_AUTH`.
pub fn user_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    start: &Start,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(start.client_id)?;
    require_flow(client, start.flow, "ALLOW_USER_AUTH")?;
    let username = param(start.params, "USERNAME")?;
    check_secret_hash(client, username, start.secret_hash())?;
    let Some(user) = pool.users.get(username) else {
        return Err(if client.prevent_user_existence_errors == "ENABLED" {
            CognitoError::incorrect_password()
        } else {
            CognitoError::user_not_found()
        });
    };
    if !user.enabled {
        return Err(CognitoError::user_disabled());
    }
    let offered = available(pool, user);
    let who = Who {
        pool: pool.id.clone(),
        client: start.client_id.to_owned(),
        username: username.to_owned(),
        device: device_param(pool, username, start.params)?,
    };
    match start.params.get("PREFERRED_CHALLENGE").map(String::as_str) {
        Some(p) if !FACTORS.contains(&p) => Err(CognitoError::invalid(format!(
            "Invalid PREFERRED_CHALLENGE {p}: use one of {}",
            FACTORS.join(", ")
        ))),
        Some(p) if offered.iter().any(|o| o == p) => {
            let p = p.to_owned();
            begin(state, eph, &who, &p, start.params, ctx)
        }
        // Not available to this user: Cognito offers the choice instead.
        _ => Ok(select_challenge(state, eph, &who, offered, ctx)?),
    }
}

/// SELECT_CHALLENGE with AvailableChallenges.
fn select_challenge(
    state: &CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    available: Vec<String>,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let user = state.user(&who.pool, &who.username)?;
    let s = eph.open(who.session(
        &user.sub,
        SessionKind::SelectChallenge {
            available: available.clone(),
        },
        ctx.now,
    ));
    let mut v = challenge("SELECT_CHALLENGE", Some(s), json!({}));
    v["AvailableChallenges"] = json!(available);
    Ok(v)
}

/// Start the chosen first factor: finish it at once when the answer already carries what it
/// needs (PASSWORD, SRP_A), else issue its challenge.
fn begin(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    factor: &str,
    params: &BTreeMap<String, String>,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(&who.client)?;
    let user = state.user(&who.pool, &who.username)?;
    let sub = user.sub.clone();
    match (factor, params.get("PASSWORD"), params.get("SRP_A")) {
        ("PASSWORD", Some(password), _) => {
            check_password(pool, client, &who.username, password)?;
            after_password(state, eph, who, ctx)
        }
        ("PASSWORD_SRP", _, Some(srp_a)) => {
            srp_exchange(eph, pool, client, &who.username, srp_a, ctx)
        }
        ("PASSWORD", None, _) => {
            let s = eph.open(who.session(&sub, SessionKind::Password, ctx.now));
            Ok(challenge(
                "PASSWORD",
                Some(s),
                json!({"USERNAME": who.username}),
            ))
        }
        ("PASSWORD_SRP", _, None) => {
            let s = eph.open(who.session(&sub, SessionKind::PasswordSrp, ctx.now));
            Ok(challenge(
                "PASSWORD_SRP",
                Some(s),
                json!({"USERNAME": who.username}),
            ))
        }
        ("WEB_AUTHN", _, _) => {
            let rp = relying_party(pool)?;
            let (options, auth_state) = rp.start_authentication(&user.passkeys)?;
            let s = eph.open(who.session(
                &sub,
                SessionKind::WebAuthn {
                    state: Box::new(auth_state),
                },
                ctx.now,
            ));
            Ok(challenge(
                "WEB_AUTHN",
                Some(s),
                json!({
                    "USERNAME": who.username,
                    "CREDENTIAL_REQUEST_OPTIONS": options.to_string(),
                }),
            ))
        }
        _ => Err(CognitoError::invalid(format!(
            "{factor} is not available for this user."
        ))),
    }
}

/// `SELECT_CHALLENGE`: the chosen factor (ANSWER), with what it needs when it can finish at
/// once.
pub fn select_challenge_answer(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let choice = answer.param("ANSWER")?;
    let SessionKind::SelectChallenge { available } = &s.kind else {
        return Err(invalid_session());
    };
    if !available.iter().any(|a| a == choice) {
        return Err(CognitoError::invalid(format!(
            "Invalid ANSWER {choice}: choose one of {}",
            available.join(", ")
        )));
    }
    answer.spend(eph);
    let choice = choice.to_owned();
    begin(state, eph, &Who::of(&s), &choice, answer.responses, ctx)
}

/// `PASSWORD`: the password itself.
pub fn password_answer(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    answer.param("PASSWORD")?;
    answer.spend(eph);
    begin(state, eph, &Who::of(&s), "PASSWORD", answer.responses, ctx)
}

/// `PASSWORD_SRP`: SRP_A to start the password's SRP.
pub fn password_srp_answer(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    answer.param("SRP_A")?;
    answer.spend(eph);
    begin(
        state,
        eph,
        &Who::of(&s),
        "PASSWORD_SRP",
        answer.responses,
        ctx,
    )
}

/// `WEB_AUTHN`: the passkey's assertion (CREDENTIAL, an AuthenticationResponseJSON string).
/// The challenge is single-use; every bad assertion is `NotAuthorizedException`.
pub fn web_authn_answer(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let credential = answer.param("CREDENTIAL")?;
    let SessionKind::WebAuthn { state: ceremony } = &s.kind else {
        return Err(invalid_session());
    };
    answer.spend(eph);
    let pool = state.pool(&s.pool)?;
    let rp = relying_party(pool)?;
    let user = state.user(&s.pool, &s.username)?;
    let (id, record, verified) = rp.finish_authentication(credential, ceremony, &user.passkeys)?;
    if pool.mfa == MfaMode::On && !verified {
        return Err(CognitoError::not_authorized(
            "Incorrect username or password.",
        ));
    }
    let user = state.user_mut(&s.pool, &s.username)?;
    if let Some(p) = user.passkeys.iter_mut().find(|p| p.id == id) {
        p.credential = record;
    }
    finish(state, eph, &Who::of(&s), ctx)
}
