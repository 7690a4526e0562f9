//! What follows a proven first factor: a new password, an MFA challenge (or MFA set-up),
//! device authentication, or tokens; each challenge issued by its own function.
//!
//! A sign-in with a confirmed device (DEVICE_KEY) ends with device authentication
//! (DEVICE_SRP_AUTH); a remembered device goes there straight after the password when the
//! pool lets remembered devices stand in for MFA (`ChallengeRequiredOnNewDevice`).

use serde_json::{Value, json};

use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{CognitoState, Message, MfaMode, User, UserStatus};
use crate::emulator::cognito::session::{Ephemeral, SessionKind, Who};
use crate::emulator::cognito::tokens::issue_tokens;
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};

/// A challenge answer body: name, parameters, and the session when there is one.
pub fn challenge(name: &str, session: Option<String>, params: Value) -> Value {
    let mut v = json!({"ChallengeName": name, "ChallengeParameters": params});
    if let Some(s) = session {
        v["Session"] = json!(s);
    }
    v
}

/// After the password is proven: new password, MFA challenge, or tokens.
pub fn after_password(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = state.pool(&who.pool)?;
    let user = state.user(&who.pool, &who.username)?;
    match user.status {
        UserStatus::Unconfirmed => Err(CognitoError::new(
            "UserNotConfirmedException",
            "User is not confirmed.",
        )),
        UserStatus::ForceChangePassword => {
            let days = f64::from(pool.policy.temporary_password_validity_days);
            if user
                .temporary_password_set
                .is_some_and(|t| t + days * 86_400.0 < ctx.now)
            {
                return Err(CognitoError::not_authorized(
                    "Temporary password has expired and must be reset by an administrator.",
                ));
            }
            Ok(new_password_challenge(eph, who, user, ctx))
        }
        UserStatus::Confirmed => second_factor(state, eph, who, ctx),
    }
}

/// After the password: a remembered device standing in for MFA, else MFA.
pub fn second_factor(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = state.pool(&who.pool)?;
    let user = state.user(&who.pool, &who.username)?;
    let remembered_skips_mfa = pool
        .devices
        .is_some_and(|c| c.challenge_required_on_new_device);
    if let Some(key) = &who.device
        && remembered_skips_mfa
        && user.confirmed_device(key)?.remembered
    {
        return device_challenge(state, eph, who, ctx);
    }
    mfa_step(state, eph, who, ctx)
}

/// Every factor is proven: device authentication when the sign-in uses a device, else
/// tokens.
pub fn finish(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    if who.device.is_some() {
        device_challenge(state, eph, who, ctx)
    } else {
        issue_tokens(state, who, ctx, None)
    }
}

/// `DEVICE_SRP_AUTH`: the client proves it holds the device's secret.
fn device_challenge(
    state: &CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let user = state.user(&who.pool, &who.username)?;
    let s = eph.open(who.session(&user.sub, SessionKind::DeviceSrpAuth, ctx.now));
    Ok(challenge(
        "DEVICE_SRP_AUTH",
        Some(s),
        json!({"USERNAME": who.username}),
    ))
}

fn new_password_challenge(eph: &mut Ephemeral, who: &Who, user: &User, ctx: &Ctx) -> Value {
    let attrs: serde_json::Map<String, Value> = user
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let s = eph.open(who.session(&user.sub, SessionKind::NewPassword, ctx.now));
    challenge(
        "NEW_PASSWORD_REQUIRED",
        Some(s),
        json!({
            "USER_ID_FOR_SRP": who.username,
            "requiredAttributes": "[]",
            "userAttributes": Value::Object(attrs).to_string(),
        }),
    )
}

/// The MFA the pool and user call for: a challenge, set-up, a choice, or tokens.
pub fn mfa_step(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = state.pool(&who.pool)?;
    let user = state.user(&who.pool, &who.username)?;
    if pool.mfa == MfaMode::Off {
        return finish(state, eph, who, ctx);
    }
    let methods = user.mfa_methods(pool);
    if methods.is_empty() {
        if pool.mfa == MfaMode::Optional {
            return finish(state, eph, who, ctx);
        }
        if pool.sms_mfa && user.attributes.contains_key("phone_number") {
            // With SMS configured and a phone number on file, Cognito just sends a code.
            return sms_challenge(state, eph, who, ctx);
        }
        let mut can_setup = Vec::new();
        if pool.sms_mfa {
            can_setup.push("SMS_MFA");
        }
        if pool.software_token_mfa {
            can_setup.push("SOFTWARE_TOKEN_MFA");
        }
        let s = eph.open(who.session(
            &user.sub,
            SessionKind::MfaSetup { verified: false },
            ctx.now,
        ));
        return Ok(challenge(
            "MFA_SETUP",
            Some(s),
            json!({
                "MFAS_CAN_SETUP": json!(can_setup).to_string(),
                "USER_ID_FOR_SRP": who.username,
            }),
        ));
    }
    let preferred = user
        .preferred_mfa
        .as_deref()
        .filter(|p| methods.contains(p));
    match (preferred, methods.as_slice()) {
        (Some(p), _) => {
            let p = p.to_owned();
            mfa_challenge(state, eph, &p, who, ctx)
        }
        (None, [only]) => mfa_challenge(state, eph, only, who, ctx),
        (None, many) => {
            let choose = json!(many).to_string();
            let s = eph.open(who.session(&user.sub, SessionKind::SelectMfaType, ctx.now));
            Ok(challenge(
                "SELECT_MFA_TYPE",
                Some(s),
                json!({"MFAS_CAN_CHOOSE": choose, "USER_ID_FOR_SRP": who.username}),
            ))
        }
    }
}

/// The challenge of one MFA method (`SOFTWARE_TOKEN_MFA` or `SMS_MFA`).
pub fn mfa_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    method: &str,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    match method {
        "SOFTWARE_TOKEN_MFA" => software_token_challenge(state, eph, who, ctx),
        "SMS_MFA" => sms_challenge(state, eph, who, ctx),
        _ => Err(CognitoError::internal(format!(
            "unknown MFA method {method}"
        ))),
    }
}

fn software_token_challenge(
    state: &CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let user = state.user(&who.pool, &who.username)?;
    let mut params = json!({"USER_ID_FOR_SRP": user.username});
    if let Some(n) = &user.totp.friendly_name
        && !n.is_empty()
    {
        params["FRIENDLY_DEVICE_NAME"] = json!(n);
    }
    let s = eph.open(who.session(&user.sub, SessionKind::SoftwareTokenMfa, ctx.now));
    Ok(challenge("SOFTWARE_TOKEN_MFA", Some(s), params))
}

fn sms_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    who: &Who,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let user = state.user(&who.pool, &who.username)?;
    let phone = user
        .attributes
        .get("phone_number")
        .cloned()
        .unwrap_or_default();
    let tail: String = phone
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let code = crypto::random_digits(6);
    let session = who.session(
        &user.sub,
        SessionKind::SmsMfa {
            code: SecretString::new(code.clone()),
        },
        ctx.now,
    );
    state.pool_mut(&who.pool)?.outbox.push(Message {
        username: who.username.clone(),
        kind: "sms_mfa_code".into(),
        value: SecretString::new(code),
        at: ctx.now,
    });
    let s = eph.open(session);
    Ok(challenge(
        "SMS_MFA",
        Some(s),
        json!({
            "CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
            "CODE_DELIVERY_DESTINATION": format!("+*******{tail}"),
            "USER_ID_FOR_SRP": who.username,
        }),
    ))
}
