//! Tokens: issuing the access, id and refresh tokens of a sign-in, checking an access
//! token, and revoking (GlobalSignOut, RevokeToken).

use serde_json::{Value, json};

use super::access::authorize;
use super::devices;
use super::error::CognitoError;
use super::jwt;
use super::model::{AppClient, CognitoState, RefreshToken, User};
use super::request::Req;
use super::session::Who;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;

/// What the tokens of one sign-in share.
struct Issue<'a> {
    iss: String,
    origin_jti: &'a str,
    auth_time: i64,
    iat: i64,
    event_id: String,
}

/// The access token's claims.
fn access_claims(i: &Issue, client: &AppClient, user: &User) -> Value {
    json!({
        "sub": user.sub,
        "iss": i.iss,
        "client_id": client.id,
        "origin_jti": i.origin_jti,
        "event_id": i.event_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": i.auth_time,
        "exp": i.iat + client.access_validity as i64,
        "iat": i.iat,
        "jti": crypto::uuid_v4(),
        "username": user.username,
    })
}

/// The id token's claims, the user's attributes among them.
fn id_claims(i: &Issue, client: &AppClient, user: &User) -> Value {
    let mut id = json!({
        "sub": user.sub,
        "iss": i.iss,
        "cognito:username": user.username,
        "origin_jti": i.origin_jti,
        "aud": client.id,
        "event_id": i.event_id,
        "token_use": "id",
        "auth_time": i.auth_time,
        "exp": i.iat + client.id_validity as i64,
        "iat": i.iat,
        "jti": crypto::uuid_v4(),
    });
    for (k, v) in &user.attributes {
        id[k] = if k.ends_with("_verified") {
            json!(v == "true")
        } else {
            json!(v)
        };
    }
    id
}

/// Issue access, id and (for a fresh sign-in) refresh tokens. A fresh sign-in without a
/// device on a pool that tracks devices gets a new device (NewDeviceMetadata); the tokens
/// of a sign-in with a device are bound to it.
pub fn issue_tokens(
    state: &mut CognitoState,
    who: &Who,
    ctx: &Ctx,
    refresh_of: Option<(&str, i64)>,
) -> Result<Value, CognitoError> {
    let new_device = match state.pool_mut(&who.pool)? {
        p if refresh_of.is_none() && who.device.is_none() && p.devices.is_some() => {
            Some(devices::issue(p, &who.username, ctx.now)?)
        }
        _ => None,
    };
    let device_key = who.device.clone().or_else(|| {
        new_device
            .as_ref()
            .and_then(|d| d["DeviceKey"].as_str().map(str::to_owned))
    });
    let pool = state.pool(&who.pool)?;
    let client = pool.clients.get(&who.client).ok_or_else(|| {
        CognitoError::not_found(format!("User pool client {} does not exist.", who.client))
    })?;
    let user = pool
        .users
        .get(&who.username)
        .ok_or_else(CognitoError::user_not_found)?;
    let iat = ctx.now_secs as i64;
    let (origin_jti, auth_time) = match refresh_of {
        Some((o, t)) => (o.to_owned(), t),
        None => (crypto::uuid_v4(), iat),
    };
    let issue = Issue {
        iss: format!("{}/{}", ctx.base_url, pool.id),
        origin_jti: &origin_jti,
        auth_time,
        iat,
        event_id: crypto::uuid_v4(),
    };
    let sign = |claims: &Value| {
        jwt::sign(&pool.signing_key, &pool.kid, claims)
            .map_err(|e| CognitoError::internal(e.to_string()))
    };
    let mut access = access_claims(&issue, client, user);
    if let Some(k) = &device_key {
        access["device_key"] = json!(k);
    }
    let mut result = json!({
        "AccessToken": sign(&access)?,
        "ExpiresIn": client.access_validity,
        "TokenType": "Bearer",
        "IdToken": sign(&id_claims(&issue, client, user))?,
    });
    if let Some(d) = new_device {
        result["NewDeviceMetadata"] = d;
    }
    if refresh_of.is_none() {
        let token = format!(
            "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.{}",
            crypto::b64url(&crypto::random_bytes(256))
        );
        let record = RefreshToken {
            pool: pool.id.clone(),
            client: client.id.clone(),
            username: user.username.clone(),
            sub: user.sub.clone(),
            origin_jti: origin_jti.clone(),
            auth_time,
            expires: ctx.now + client.refresh_validity as f64,
            revoked: false,
            device_key,
        };
        result["RefreshToken"] = json!(token);
        state.refresh_tokens.insert(token, record);
    }
    Ok(json!({"ChallengeParameters": {}, "AuthenticationResult": result}))
}

/// `GlobalSignOut`: revokes every refresh token (and so every access token) of the user.
pub fn global_sign_out(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    for t in state.refresh_tokens.values_mut() {
        if t.pool == pool_id && t.username == username {
            t.revoked = true;
        }
    }
    Ok(json!({}))
}

/// `RevokeToken`: revokes one refresh token and the access tokens issued with it.
pub fn revoke_token(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let token = req.req("Token")?;
    let client_id = req.req("ClientId")?;
    let (_, client) = state.client(client_id)?;
    if let Some(secret) = &client.secret
        && req.str("ClientSecret")? != Some(secret.expose())
    {
        return Err(CognitoError::not_authorized(format!(
            "Unable to verify secret hash for client {client_id}"
        )));
    }
    match state.refresh_tokens.get_mut(token) {
        Some(r) if r.client == client_id => {
            r.revoked = true;
            Ok(json!({}))
        }
        _ => Err(CognitoError::new(
            "UnsupportedTokenTypeException",
            "The token is not a refresh token of this client.",
        )),
    }
}
