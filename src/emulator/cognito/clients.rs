//! App clients: CreateUserPoolClient, DescribeUserPoolClient, DeleteUserPoolClient, and
//! what a client enforces on every call (its auth flows, its secret hash).

use serde_json::{Value, json};

use super::error::CognitoError;
use super::model::{AppClient, CognitoState, UserPool};
use super::request::Req;
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};

/// The flows Cognito enables when `ExplicitAuthFlows` is not given.
const DEFAULT_FLOWS: &[&str] = &[
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_CUSTOM_AUTH",
];

fn client_json(p: &UserPool, c: &AppClient) -> Value {
    let mut v = json!({
        "UserPoolId": p.id,
        "ClientName": c.name,
        "ClientId": c.id,
        "LastModifiedDate": c.modified,
        "CreationDate": c.created,
        "RefreshTokenValidity": c.refresh_validity / 86_400,
        "AccessTokenValidity": c.access_validity / 60,
        "IdTokenValidity": c.id_validity / 60,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        "PreventUserExistenceErrors": c.prevent_user_existence_errors,
        "EnableTokenRevocation": true,
        "AuthSessionValidity": 3,
    });
    if let Some(s) = &c.secret {
        v["ClientSecret"] = json!(s.expose());
    }
    if c.auth_flows_explicit {
        v["ExplicitAuthFlows"] = json!(c.auth_flows);
    }
    v
}

fn validity(v: Option<u64>, unit: &str, default_secs: u64) -> Result<u64, CognitoError> {
    let Some(v) = v else { return Ok(default_secs) };
    let mult = match unit {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 3600,
        "days" => 86_400,
        other => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'tokenValidityUnits' failed to satisfy constraint: Member must satisfy enum value set: [seconds, minutes, hours, days]"
            )));
        }
    };
    Ok(v.saturating_mul(mult))
}

/// `ExplicitAuthFlows`, normalised to the `ALLOW_` names (Cognito's defaults when absent),
/// and whether it was given.
fn auth_flows(req: &Req) -> Result<(Vec<String>, bool), CognitoError> {
    let given = req.str_list("ExplicitAuthFlows")?;
    let explicit = given.is_some();
    let mut flows = Vec::new();
    for f in given.unwrap_or_else(|| DEFAULT_FLOWS.iter().map(|s| s.to_string()).collect()) {
        let norm = match f.as_str() {
            "ALLOW_USER_SRP_AUTH"
            | "ALLOW_USER_PASSWORD_AUTH"
            | "ALLOW_REFRESH_TOKEN_AUTH"
            | "ALLOW_CUSTOM_AUTH"
            | "ALLOW_ADMIN_USER_PASSWORD_AUTH"
            | "ALLOW_USER_AUTH" => f,
            "USER_PASSWORD_AUTH" => "ALLOW_USER_PASSWORD_AUTH".to_owned(),
            "ADMIN_NO_SRP_AUTH" => "ALLOW_ADMIN_USER_PASSWORD_AUTH".to_owned(),
            "CUSTOM_AUTH_FLOW_ONLY" => "ALLOW_CUSTOM_AUTH".to_owned(),
            other => {
                return Err(CognitoError::invalid(format!(
                    "1 validation error detected: Value '[{other}]' at 'explicitAuthFlows' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ADMIN_NO_SRP_AUTH, ALLOW_ADMIN_USER_PASSWORD_AUTH, USER_PASSWORD_AUTH, ALLOW_USER_PASSWORD_AUTH, ALLOW_USER_SRP_AUTH, CUSTOM_AUTH_FLOW_ONLY, ALLOW_CUSTOM_AUTH, ALLOW_USER_AUTH, ALLOW_REFRESH_TOKEN_AUTH]]"
                )));
            }
        };
        if !flows.contains(&norm) {
            flows.push(norm);
        }
    }
    let legacy = flows.iter().any(|f| !f.starts_with("ALLOW_"));
    if explicit
        && !legacy
        && !flows.is_empty()
        && !flows.iter().any(|f| f == "ALLOW_REFRESH_TOKEN_AUTH")
    {
        return Err(CognitoError::invalid(
            "The refresh token flow (ALLOW_REFRESH_TOKEN_AUTH) must be enabled when other ALLOW_ flows are specified.",
        ));
    }
    Ok((flows, explicit))
}

/// Access, id and refresh token validity in seconds, from the values and their units.
fn token_validities(req: &Req) -> Result<(u64, u64, u64), CognitoError> {
    let units = req.obj("TokenValidityUnits")?;
    let unit = |n: &str| -> Result<Option<&str>, CognitoError> {
        match &units {
            Some(u) => u.str(n),
            None => Ok(None),
        }
    };
    let access = validity(
        req.u64("AccessTokenValidity")?,
        unit("AccessToken")?.unwrap_or("hours"),
        3600,
    )?;
    let id = validity(
        req.u64("IdTokenValidity")?,
        unit("IdToken")?.unwrap_or("hours"),
        3600,
    )?;
    let refresh = validity(
        req.u64("RefreshTokenValidity")?,
        unit("RefreshToken")?.unwrap_or("days"),
        30 * 86_400,
    )?;
    if !(300..=86_400).contains(&access) || !(300..=86_400).contains(&id) {
        return Err(CognitoError::invalid(
            "Access and ID token validity must be between 5 minutes and 1 day.",
        ));
    }
    if !(3600..=315_360_000).contains(&refresh) {
        return Err(CognitoError::invalid(
            "Refresh token validity must be between 60 minutes and 10 years.",
        ));
    }
    Ok((access, id, refresh))
}

/// `CreateUserPoolClient`.
pub fn create_user_pool_client(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let name = req.req("ClientName")?;
    if name.is_empty() || name.chars().count() > 128 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'clientName' failed to satisfy constraint: Member must have length between 1 and 128"
        )));
    }
    let (flows, explicit) = auth_flows(req)?;
    let prevent = match req.str("PreventUserExistenceErrors")? {
        None => "LEGACY".to_owned(),
        Some(s @ ("LEGACY" | "ENABLED")) => s.to_owned(),
        Some(other) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'preventUserExistenceErrors' failed to satisfy constraint: Member must satisfy enum value set: [LEGACY, ENABLED]"
            )));
        }
    };
    let (access, id_v, refresh) = token_validities(req)?;
    let secret = req
        .bool("GenerateSecret")?
        .unwrap_or(false)
        .then(|| SecretString::new(crypto::random_string(crypto::LOWER_ALNUM, 51)));
    let p = state.pool_mut(pool_id)?;
    let id = crypto::random_string(crypto::LOWER_ALNUM, 26);
    let c = AppClient {
        id: id.clone(),
        name: name.to_owned(),
        secret,
        auth_flows: flows,
        auth_flows_explicit: explicit,
        access_validity: access,
        id_validity: id_v,
        refresh_validity: refresh,
        prevent_user_existence_errors: prevent,
        created: ctx.now,
        modified: ctx.now,
    };
    let out = json!({"UserPoolClient": client_json(p, &c)});
    p.clients.insert(id, c);
    Ok(out)
}

/// `DescribeUserPoolClient`.
pub fn describe_user_pool_client(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let p = state.pool(req.req("UserPoolId")?)?;
    let cid = req.req("ClientId")?;
    let c = p.clients.get(cid).ok_or_else(|| {
        CognitoError::not_found(format!("User pool client {cid} does not exist."))
    })?;
    Ok(json!({"UserPoolClient": client_json(p, c)}))
}

/// `DeleteUserPoolClient`.
pub fn delete_user_pool_client(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let cid = req.req("ClientId")?;
    let p = state.pool_mut(pool_id)?;
    if p.clients.remove(cid).is_none() {
        return Err(CognitoError::not_found(format!(
            "User pool client {cid} does not exist."
        )));
    }
    state.refresh_tokens.retain(|_, t| t.client != cid);
    Ok(json!({}))
}

/// Check SECRET_HASH / SecretHash for a client: required and exact when the client has a
/// secret.
pub fn check_secret_hash(
    client: &AppClient,
    username: &str,
    given: Option<&str>,
) -> Result<(), CognitoError> {
    let Some(secret) = &client.secret else {
        return Ok(());
    };
    let fail = || {
        CognitoError::not_authorized(format!(
            "Unable to verify secret hash for client {}",
            client.id
        ))
    };
    let given = given.ok_or_else(fail)?;
    let expected = crypto::cognito_secret_hash(secret.expose(), username, &client.id);
    if crypto::ct_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(fail())
    }
}

/// Refuse a flow the app client does not allow (`InvalidParameterException`).
pub fn require_flow(client: &AppClient, flow: &str, allow: &str) -> Result<(), CognitoError> {
    if client.allows(allow) {
        Ok(())
    } else {
        Err(CognitoError::invalid(format!(
            "{flow} flow not enabled for this client"
        )))
    }
}
