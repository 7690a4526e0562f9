//! User pools: CreateUserPool, DescribeUserPool, DeleteUserPool, ListUserPools.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::CognitoError;
use super::jwt;
use super::model::{CognitoState, MfaMode, PasswordPolicy, UserPool};
use super::request::Req;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;

fn policy_json(p: &PasswordPolicy) -> Value {
    json!({
        "MinimumLength": p.minimum_length,
        "RequireUppercase": p.require_uppercase,
        "RequireLowercase": p.require_lowercase,
        "RequireNumbers": p.require_numbers,
        "RequireSymbols": p.require_symbols,
        "TemporaryPasswordValidityDays": p.temporary_password_validity_days,
    })
}

fn pool_json(p: &UserPool) -> Value {
    let mut v = json!({
        "Id": p.id,
        "Name": p.name,
        "Arn": p.arn(),
        "Policies": {"PasswordPolicy": policy_json(&p.policy)},
        "LambdaConfig": {},
        "LastModifiedDate": p.modified,
        "CreationDate": p.created,
        "MfaConfiguration": p.mfa.as_str(),
        "EstimatedNumberOfUsers": p.users.len(),
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": false,
            "UnusedAccountValidityDays": p.policy.temporary_password_validity_days,
        },
        "UserPoolTier": "ESSENTIALS",
    });
    if !p.auto_verified.is_empty() {
        v["AutoVerifiedAttributes"] = json!(p.auto_verified);
    }
    v
}

/// `CreateUserPool`.
pub fn create_user_pool(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let name = req.req("PoolName")?;
    if name.is_empty() || name.chars().count() > 128 {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'poolName' failed to satisfy constraint: Member must have length between 1 and 128",
        ));
    }
    for unsupported in ["UsernameAttributes", "AliasAttributes"] {
        if req.str_list(unsupported)?.is_some_and(|l| !l.is_empty()) {
            return Err(CognitoError::invalid(format!(
                "{unsupported} is not supported by the authsim emulator: users sign in with their username"
            )));
        }
    }
    let mut policy = PasswordPolicy::default();
    if let Some(pp) = req
        .obj("Policies")?
        .map(|p| p.obj("PasswordPolicy"))
        .transpose()?
        .flatten()
    {
        if let Some(n) = pp.u64("MinimumLength")? {
            if !(6..=99).contains(&n) {
                return Err(CognitoError::invalid(
                    "1 validation error detected: Value at 'policies.passwordPolicy.minimumLength' failed to satisfy constraint: Member must have value between 6 and 99",
                ));
            }
            policy.minimum_length = n as u32;
        }
        policy.require_uppercase = pp.bool("RequireUppercase")?.unwrap_or(false);
        policy.require_lowercase = pp.bool("RequireLowercase")?.unwrap_or(false);
        policy.require_numbers = pp.bool("RequireNumbers")?.unwrap_or(false);
        policy.require_symbols = pp.bool("RequireSymbols")?.unwrap_or(false);
        if let Some(d) = pp.u64("TemporaryPasswordValidityDays")? {
            policy.temporary_password_validity_days = d.clamp(0, 365) as u32;
        }
    }
    let mfa = match req.str("MfaConfiguration")? {
        None => MfaMode::Off,
        Some(s) => MfaMode::parse(s).ok_or_else(|| {
            CognitoError::invalid(format!(
                "1 validation error detected: Value '{s}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
            ))
        })?,
    };
    if mfa != MfaMode::Off {
        // Only SMS can be configured at creation; TOTP needs SetUserPoolMfaConfig.
        if req.obj("SmsConfiguration")?.is_none() {
            return Err(CognitoError::invalid(
                "SMS configuration and Auto verification for phone_number are required when MFA is required/optional",
            ));
        }
    }
    let auto_verified = req.str_list("AutoVerifiedAttributes")?.unwrap_or_default();
    let (key, kid) = jwt::generate_key().map_err(|e| CognitoError::internal(e.to_string()))?;
    let region = ctx.region.clone();
    let id = loop {
        let id = format!("{region}_{}", crypto::random_string(crypto::ALNUM, 9));
        if !state.pools.contains_key(&id) {
            break id;
        }
    };
    let pool = UserPool {
        id: id.clone(),
        name: name.to_owned(),
        region,
        created: ctx.now,
        modified: ctx.now,
        mfa,
        software_token_mfa: false,
        sms_mfa: mfa != MfaMode::Off,
        sms_message: None,
        policy,
        auto_verified,
        clients: BTreeMap::new(),
        users: BTreeMap::new(),
        signing_key: key,
        kid,
        outbox: Vec::new(),
    };
    let out = json!({"UserPool": pool_json(&pool)});
    state.pools.insert(id, pool);
    Ok(out)
}

/// `DescribeUserPool`.
pub fn describe_user_pool(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let p = state.pool(req.req("UserPoolId")?)?;
    Ok(json!({"UserPool": pool_json(p)}))
}

/// `DeleteUserPool`.
pub fn delete_user_pool(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let id = req.req("UserPoolId")?;
    state.pool(id)?;
    state.pools.remove(id);
    state.refresh_tokens.retain(|_, t| t.pool != id);
    Ok(json!({}))
}

/// `ListUserPools`.
pub fn list_user_pools(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let max = req
        .u64("MaxResults")?
        .ok_or_else(|| CognitoError::null_member("maxResults"))?;
    if !(1..=60).contains(&max) {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 60",
        ));
    }
    let pools: Vec<Value> = state
        .pools
        .values()
        .take(max as usize)
        .map(|p| {
            json!({"Id": p.id, "Name": p.name, "LambdaConfig": {},
                   "LastModifiedDate": p.modified, "CreationDate": p.created})
        })
        .collect();
    Ok(json!({"UserPools": pools}))
}
