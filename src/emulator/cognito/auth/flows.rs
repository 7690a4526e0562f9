//! The first step of each InitiateAuth flow: USER_SRP_AUTH, USER_PASSWORD_AUTH,
//! REFRESH_TOKEN_AUTH. USER_SRP_AUTH takes its DEVICE_KEY at PASSWORD_VERIFIER (where
//! amazon-cognito-identity-js may retry without it); USER_PASSWORD_AUTH here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::next::{after_password, challenge};
use crate::emulator::cognito::clients::{check_secret_hash, require_flow};
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{AppClient, CognitoState, UserPool};
use crate::emulator::cognito::passwords::password_matches;
use crate::emulator::cognito::request::param;
use crate::emulator::cognito::session::{Ephemeral, SESSION_TTL_SECS, SrpPending, Who};
use crate::emulator::cognito::srp;
use crate::emulator::cognito::tokens::issue_tokens;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;

/// What every flow starts from: the app client and the AuthParameters.
pub struct Start<'a> {
    /// The flow's name as sent.
    pub flow: &'a str,
    /// The app client id.
    pub client_id: &'a str,
    /// AuthParameters.
    pub params: &'a BTreeMap<String, String>,
    /// Whether it came through AdminInitiateAuth.
    pub admin: bool,
}

impl Start<'_> {
    /// SECRET_HASH, if sent.
    pub fn secret_hash(&self) -> Option<&str> {
        self.params.get("SECRET_HASH").map(String::as_str)
    }
}

/// The server half of an SRP exchange for `username`, its salt, and the user it is about
/// (`None` for a decoy exchange about an unknown user when existence errors are hidden).
fn srp_half_for(
    pool: &UserPool,
    client: &AppClient,
    username: &str,
) -> Result<(srp::ServerHalf, String, Option<String>), CognitoError> {
    match pool.users.get(username) {
        Some(u) => {
            if !u.enabled {
                return Err(CognitoError::user_disabled());
            }
            let pv = u
                .password
                .as_ref()
                .ok_or_else(CognitoError::incorrect_password)?;
            let v = srp::from_hex(pv.verifier.expose())
                .ok_or_else(|| CognitoError::internal("stored verifier is corrupt"))?;
            Ok((
                srp::server_half(&v),
                pv.salt.clone(),
                Some(u.username.clone()),
            ))
        }
        None if client.prevent_user_existence_errors == "ENABLED" => {
            // A decoy exchange: indistinguishable until the proof is refused.
            let fake = srp::verifier(pool.srp_name(), username, "", &srp::new_salt());
            Ok((srp::server_half(&fake), srp::to_hex(&srp::new_salt()), None))
        }
        None => Err(CognitoError::user_not_found()),
    }
}

/// Start the password's SRP for `username` with the client's `SRP_A`: PASSWORD_VERIFIER
/// with SALT, SRP_B and a single-use SECRET_BLOCK (USER_SRP_AUTH, and PASSWORD_SRP of
/// USER_AUTH).
pub fn srp_exchange(
    eph: &mut Ephemeral,
    pool: &UserPool,
    client: &AppClient,
    username: &str,
    srp_a: &str,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let big_a = srp::from_hex(srp_a)
        .filter(srp::valid_client_public)
        .ok_or_else(|| CognitoError::invalid("SRP_A value is invalid."))?;
    let (half, salt, user_id) = srp_half_for(pool, client, username)?;
    let secret_block = crypto::b64(&crypto::random_bytes(64));
    let b_hex = srp::to_hex(&half.big_b);
    eph.srp.insert(
        secret_block.clone(),
        SrpPending {
            pool: pool.id.clone(),
            client: client.id.clone(),
            username: user_id,
            big_a,
            half,
            device: None,
            expires: ctx.now + SESSION_TTL_SECS,
        },
    );
    Ok(challenge(
        "PASSWORD_VERIFIER",
        None,
        json!({
            "SALT": salt,
            "SECRET_BLOCK": secret_block,
            "SRP_B": b_hex,
            "USERNAME": username,
            "USER_ID_FOR_SRP": username,
        }),
    ))
}

/// `USER_SRP_AUTH`.
pub fn user_srp_auth(
    state: &CognitoState,
    eph: &mut Ephemeral,
    start: &Start,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(start.client_id)?;
    require_flow(client, start.flow, "ALLOW_USER_SRP_AUTH")?;
    let username = param(start.params, "USERNAME")?;
    let srp_a = param(start.params, "SRP_A")?;
    check_secret_hash(client, username, start.secret_hash())?;
    srp_exchange(eph, pool, client, username, srp_a, ctx)
}

/// Check a password sent in the clear (USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH,
/// PASSWORD of USER_AUTH), with Cognito's errors for an unknown or disabled user.
pub fn check_password(
    pool: &UserPool,
    client: &AppClient,
    username: &str,
    password: &str,
) -> Result<(), CognitoError> {
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
    if !password_matches(pool, user, password) {
        return Err(CognitoError::incorrect_password());
    }
    Ok(())
}

/// The sign-in's device: a DEVICE_KEY of the user's confirmed devices
/// (`ResourceNotFoundException` otherwise).
pub fn device_param(
    pool: &UserPool,
    username: &str,
    params: &BTreeMap<String, String>,
) -> Result<Option<String>, CognitoError> {
    let Some(key) = params.get("DEVICE_KEY") else {
        return Ok(None);
    };
    pool.users
        .get(username)
        .ok_or_else(CognitoError::user_not_found)?
        .confirmed_device(key)?;
    Ok(Some(key.clone()))
}

/// `USER_PASSWORD_AUTH`, or AdminInitiateAuth's `ADMIN_USER_PASSWORD_AUTH`: the password
/// itself, checked against the verifier.
pub fn user_password_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    start: &Start,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(start.client_id)?;
    let allow = if start.admin {
        "ALLOW_ADMIN_USER_PASSWORD_AUTH"
    } else {
        "ALLOW_USER_PASSWORD_AUTH"
    };
    require_flow(client, start.flow, allow)?;
    let username = param(start.params, "USERNAME")?;
    let password = param(start.params, "PASSWORD")?;
    check_secret_hash(client, username, start.secret_hash())?;
    check_password(pool, client, username, password)?;
    let who = Who {
        pool: pool.id.clone(),
        client: start.client_id.to_owned(),
        username: username.to_owned(),
        device: device_param(pool, username, start.params)?,
    };
    after_password(state, eph, &who, ctx)
}

/// `REFRESH_TOKEN_AUTH` (alias `REFRESH_TOKEN`): new access and id tokens.
pub fn refresh_token_auth(
    state: &mut CognitoState,
    start: &Start,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let client_id = start.client_id;
    let (_, client) = state.client(client_id)?;
    require_flow(client, "REFRESH_TOKEN_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")?;
    let token = param(start.params, "REFRESH_TOKEN")?;
    let rec = state
        .refresh_tokens
        .get(token)
        .filter(|r| r.client == client_id)
        .cloned()
        .ok_or_else(|| CognitoError::not_authorized("Invalid Refresh Token"))?;
    if rec.revoked {
        return Err(CognitoError::not_authorized(
            "Refresh Token has been revoked",
        ));
    }
    if rec.expires < ctx.now {
        return Err(CognitoError::not_authorized("Refresh Token has expired"));
    }
    let (pool, client) = state.client(client_id)?;
    check_secret_hash(client, &rec.username, start.secret_hash())?;
    let user = pool
        .users
        .get(&rec.username)
        .filter(|u| u.sub == rec.sub)
        .ok_or_else(|| CognitoError::not_authorized("Invalid Refresh Token"))?;
    if !user.enabled {
        return Err(CognitoError::user_disabled());
    }
    // Tokens of a sign-in with a device refresh only on that device, while it is known.
    if let Some(key) = &rec.device_key
        && (start.params.get("DEVICE_KEY") != Some(key) || user.confirmed_device(key).is_err())
    {
        return Err(CognitoError::not_authorized("Invalid Refresh Token"));
    }
    let who = Who {
        pool: rec.pool.clone(),
        client: client_id.to_owned(),
        username: rec.username.clone(),
        device: rec.device_key.clone(),
    };
    issue_tokens(state, &who, ctx, Some((&rec.origin_jti, rec.auth_time)))
}
