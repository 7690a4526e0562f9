//! Tokens: issuing the access, id and refresh tokens of a sign-in, checking an access
//! token, and revoking (GlobalSignOut, RevokeToken).

use serde_json::{Value, json};

use super::error::CognitoError;
use super::jwt;
use super::model::{AppClient, CognitoState, RefreshToken, User};
use super::request::Req;
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

/// Issue access, id and (for a fresh sign-in) refresh tokens.
pub fn issue_tokens(
    state: &mut CognitoState,
    pool_id: &str,
    client_id: &str,
    username: &str,
    ctx: &Ctx,
    refresh_of: Option<(&str, i64)>,
) -> Result<Value, CognitoError> {
    let pool = state.pool(pool_id)?;
    let client = pool.clients.get(client_id).ok_or_else(|| {
        CognitoError::not_found(format!("User pool client {client_id} does not exist."))
    })?;
    let user = pool
        .users
        .get(username)
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
    let mut result = json!({
        "AccessToken": sign(&access_claims(&issue, client, user))?,
        "ExpiresIn": client.access_validity,
        "TokenType": "Bearer",
        "IdToken": sign(&id_claims(&issue, client, user))?,
    });
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
        };
        result["RefreshToken"] = json!(token);
        state.refresh_tokens.insert(token, record);
    }
    Ok(json!({"ChallengeParameters": {}, "AuthenticationResult": result}))
}

/// The user an access token belongs to, after checking signature, use, expiry and
/// revocation. Returns (pool id, username).
pub fn authorize(
    state: &CognitoState,
    token: &str,
    ctx: &Ctx,
) -> Result<(String, String), CognitoError> {
    let invalid = || CognitoError::not_authorized("Invalid Access Token");
    let kid = jwt::kid_of(token).ok_or_else(invalid)?;
    let pool = state
        .pools
        .values()
        .find(|p| p.kid == kid)
        .ok_or_else(invalid)?;
    let claims = jwt::verify(&pool.signing_key, token).map_err(|_| invalid())?;
    if claims.get("token_use").and_then(Value::as_str) != Some("access") {
        return Err(invalid());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(invalid)?;
    if exp <= ctx.now_secs as i64 {
        return Err(CognitoError::not_authorized("Access Token has expired"));
    }
    let username = claims
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let origin = claims
        .get("origin_jti")
        .and_then(Value::as_str)
        .unwrap_or("");
    if state
        .refresh_tokens
        .values()
        .any(|r| r.origin_jti == origin && r.revoked)
    {
        return Err(CognitoError::not_authorized(
            "Access Token has been revoked",
        ));
    }
    let user = pool
        .users
        .get(username)
        .filter(|u| u.sub == sub)
        .ok_or_else(|| CognitoError::not_authorized("User does not exist."))?;
    if !user.enabled {
        return Err(CognitoError::user_disabled());
    }
    Ok((pool.id.clone(), username.to_owned()))
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
