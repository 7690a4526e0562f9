//! The gate of every token-authorised call: an access token checked for signature, use,
//! expiry, revocation and a still-existing, enabled user.

use serde_json::Value;

use super::error::CognitoError;
use super::jwt;
use super::model::CognitoState;
use crate::emulator::context::Ctx;

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
