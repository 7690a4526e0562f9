//! Self-service sign-up: SignUp, ConfirmSignUp, ResendConfirmationCode.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::clients::check_secret_hash;
use super::error::CognitoError;
use super::model::{CognitoState, Message, PendingCode, User, UserStatus};
use super::passwords::{check_policy, make_verifier};
use super::request::Req;
use super::users::{apply_attributes, validate_username};
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};

fn mask_destination(attrs: &BTreeMap<String, String>) -> Value {
    if let Some(email) = attrs.get("email") {
        let (local, domain) = email.split_once('@').unwrap_or((email, ""));
        let first = local.chars().next().unwrap_or('*');
        let dfirst = domain.chars().next().unwrap_or('*');
        json!({"Destination": format!("{first}***@{dfirst}***"), "DeliveryMedium": "EMAIL", "AttributeName": "email"})
    } else if let Some(phone) = attrs.get("phone_number") {
        let tail: String = phone
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        json!({"Destination": format!("+*******{tail}"), "DeliveryMedium": "SMS", "AttributeName": "phone_number"})
    } else {
        json!({"Destination": "****", "DeliveryMedium": "EMAIL", "AttributeName": "email"})
    }
}

/// `SignUp`.
pub fn sign_up(state: &mut CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let client_id = req.req("ClientId")?;
    let username = req.req("Username")?;
    let password = req.req("Password")?;
    validate_username(username)?;
    let attrs = req.attributes("UserAttributes")?;
    let (pool, client) = state.client(client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    check_policy(&pool.policy, password)?;
    let pool_id = pool.id.clone();
    let p = state.pool_mut(&pool_id)?;
    if p.users.contains_key(username) {
        return Err(CognitoError::new(
            "UsernameExistsException",
            "User already exists",
        ));
    }
    let mut attributes = BTreeMap::new();
    apply_attributes(&attrs, &mut attributes)?;
    let code = crypto::random_digits(6);
    let delivery = mask_destination(&attributes);
    let mut user = User::new(username, attributes, UserStatus::Unconfirmed, ctx.now);
    let sub = user.sub.clone();
    user.password = Some(make_verifier(p, username, password));
    user.confirmation = Some(PendingCode {
        code: SecretString::new(code.clone()),
        expires: ctx.now + 86_400.0,
    });
    p.outbox.push(Message {
        username: username.to_owned(),
        kind: "confirmation_code".into(),
        value: SecretString::new(code),
        at: ctx.now,
    });
    p.users.insert(username.to_owned(), user);
    Ok(json!({"UserConfirmed": false, "UserSub": sub, "CodeDeliveryDetails": delivery}))
}

/// `ConfirmSignUp`.
pub fn confirm_sign_up(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let client_id = req.req("ClientId")?;
    let username = req.req("Username")?;
    let code = req.req("ConfirmationCode")?;
    let (pool, client) = state.client(client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    let pool_id = pool.id.clone();
    let p = state.pool_mut(&pool_id)?;
    let auto_verified = p.auto_verified.clone();
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    if u.status != UserStatus::Unconfirmed {
        return Err(CognitoError::not_authorized(format!(
            "User cannot be confirmed. Current status is {}",
            u.status.as_str()
        )));
    }
    let pending = u.confirmation.clone().ok_or_else(|| {
        CognitoError::new(
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
        )
    })?;
    if !crypto::ct_eq(pending.code.expose().as_bytes(), code.as_bytes()) {
        return Err(CognitoError::new(
            "CodeMismatchException",
            "Invalid verification code provided, please try again.",
        ));
    }
    if pending.expires < ctx.now {
        return Err(CognitoError::new(
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
        ));
    }
    u.status = UserStatus::Confirmed;
    u.confirmation = None;
    for a in auto_verified {
        let verified = format!("{a}_verified");
        if u.attributes.contains_key(&a) {
            u.attributes.insert(verified, "true".into());
        }
    }
    u.modified = ctx.now;
    Ok(json!({}))
}

/// `ResendConfirmationCode`.
pub fn resend_confirmation_code(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let client_id = req.req("ClientId")?;
    let username = req.req("Username")?;
    let (pool, client) = state.client(client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    let pool_id = pool.id.clone();
    let p = state.pool_mut(&pool_id)?;
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    if u.status != UserStatus::Unconfirmed {
        return Err(CognitoError::invalid("User is already confirmed."));
    }
    let code = crypto::random_digits(6);
    u.confirmation = Some(PendingCode {
        code: SecretString::new(code.clone()),
        expires: ctx.now + 86_400.0,
    });
    let delivery = mask_destination(&u.attributes);
    p.outbox.push(Message {
        username: username.to_owned(),
        kind: "confirmation_code".into(),
        value: SecretString::new(code),
        at: ctx.now,
    });
    Ok(json!({"CodeDeliveryDetails": delivery}))
}
