//! User pools: CreateUserPool, UpdateUserPool, DescribeUserPool, DeleteUserPool,
//! ListUserPools.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::CognitoError;
use super::jwt;
use super::model::{CognitoState, DeviceConfig, MfaMode, PasswordPolicy, UserPool};
use super::request::{Req, page_start, page_token};
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
        "Policies": {
            "PasswordPolicy": policy_json(&p.policy),
            "SignInPolicy": {"AllowedFirstAuthFactors": p.first_factors},
        },
        "LambdaConfig": {},
        "LastModifiedDate": p.modified,
        "CreationDate": p.created,
        "MfaConfiguration": p.mfa.as_str(),
        "EstimatedNumberOfUsers": p.users.len(),
        "AdminCreateUserConfig": {
            "AllowAdminCreateUserOnly": false,
            "UnusedAccountValidityDays": p.policy.temporary_password_validity_days,
        },
        "UserPoolTier": p.tier,
    });
    if !p.auto_verified.is_empty() {
        v["AutoVerifiedAttributes"] = json!(p.auto_verified);
    }
    if let Some(d) = &p.devices {
        v["DeviceConfiguration"] = json!({
            "ChallengeRequiredOnNewDevice": d.challenge_required_on_new_device,
            "DeviceOnlyRememberedOnUserPrompt": d.only_remembered_on_user_prompt,
        });
    }
    v
}

/// The settings CreateUserPool and UpdateUserPool share. UpdateUserPool, like Cognito,
/// sets every setting it is not given back to its default.
struct Settings {
    policy: PasswordPolicy,
    mfa: MfaMode,
    sms_mfa: bool,
    sms_message: Option<String>,
    auto_verified: Vec<String>,
    devices: Option<DeviceConfig>,
    first_factors: Vec<String>,
    tier: Option<String>,
}

fn password_policy(req: &Req) -> Result<PasswordPolicy, CognitoError> {
    let mut policy = PasswordPolicy::default();
    let Some(pp) = req
        .obj("Policies")?
        .map(|p| p.obj("PasswordPolicy"))
        .transpose()?
        .flatten()
    else {
        return Ok(policy);
    };
    if let Some(n) = pp.u64("MinimumLength")? {
        if !(6..=99).contains(&n) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'policies.passwordPolicy.minimumLength' failed to satisfy constraint: Member must have value between 6 and 99"
            )));
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
    Ok(policy)
}

fn device_config(req: &Req) -> Result<Option<DeviceConfig>, CognitoError> {
    // Any DeviceConfiguration object, even an empty one, turns tracking on.
    req.obj("DeviceConfiguration")?
        .map(|d| {
            Ok(DeviceConfig {
                challenge_required_on_new_device: d
                    .bool("ChallengeRequiredOnNewDevice")?
                    .unwrap_or(false),
                only_remembered_on_user_prompt: d
                    .bool("DeviceOnlyRememberedOnUserPrompt")?
                    .unwrap_or(false),
            })
        })
        .transpose()
}

/// `UserPoolTier`, if given.
fn tier(req: &Req) -> Result<Option<String>, CognitoError> {
    match req.str("UserPoolTier")? {
        None => Ok(None),
        Some(t @ ("LITE" | "ESSENTIALS" | "PLUS")) => Ok(Some(t.to_owned())),
        Some(other) => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'userPoolTier' failed to satisfy constraint: Member must satisfy enum value set: [LITE, ESSENTIALS, PLUS]"
        ))),
    }
}

/// `Policies.SignInPolicy.AllowedFirstAuthFactors` (PASSWORD alone when not given), checked
/// against the tier the pool will have.
fn first_factors(req: &Req, tier: &str) -> Result<Vec<String>, CognitoError> {
    let given = req
        .obj("Policies")?
        .map(|p| p.obj("SignInPolicy"))
        .transpose()?
        .flatten()
        .map(|s| s.str_list("AllowedFirstAuthFactors"))
        .transpose()?
        .flatten();
    let Some(factors) = given else {
        return Ok(super::model::passkey::default_first_factors());
    };
    if factors.is_empty() || factors.len() > 4 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '[{}]' at 'policies.signInPolicy.allowedFirstAuthFactors' failed to satisfy constraint: Member must have length less than or equal to 4 and greater than or equal to 1",
            factors.join(", ")
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for f in factors {
        match f.as_str() {
            "PASSWORD" | "WEB_AUTHN" => {}
            "EMAIL_OTP" | "SMS_OTP" => {
                return Err(CognitoError::invalid(format!(
                    "{f} as a first factor is not supported by the authsim emulator (it implements PASSWORD and WEB_AUTHN)."
                )));
            }
            other => {
                return Err(CognitoError::invalid(format!(
                    "1 validation error detected: Value '[{other}]' at 'policies.signInPolicy.allowedFirstAuthFactors' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [PASSWORD, EMAIL_OTP, SMS_OTP, WEB_AUTHN]]"
                )));
            }
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if !out.iter().any(|f| f == "PASSWORD") {
        return Err(CognitoError::invalid(
            "AllowedFirstAuthFactors must include PASSWORD.",
        ));
    }
    if out.iter().any(|f| f == "WEB_AUTHN") && tier == "LITE" {
        return Err(CognitoError::new(
            "FeatureUnavailableInTierException",
            "WEB_AUTHN as a first factor requires the ESSENTIALS or PLUS user pool tier.",
        ));
    }
    Ok(out)
}

/// Read the shared settings; `totp_on` says whether TOTP MFA is already enabled (it can
/// only be turned on by SetUserPoolMfaConfig, so it is false at creation).
fn settings(req: &Req, totp_on: bool, current_tier: &str) -> Result<Settings, CognitoError> {
    let mfa = match req.str("MfaConfiguration")? {
        None => MfaMode::Off,
        Some(s) => MfaMode::parse(s).ok_or_else(|| {
            CognitoError::invalid(format!(
                "1 validation error detected: Value '{s}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
            ))
        })?,
    };
    let sms = req.obj("SmsConfiguration")?.is_some();
    if mfa != MfaMode::Off && !sms && !totp_on {
        return Err(CognitoError::invalid(
            "SMS configuration and Auto verification for phone_number are required when MFA is required/optional",
        ));
    }
    let tier = tier(req)?;
    let first_factors = first_factors(req, tier.as_deref().unwrap_or(current_tier))?;
    Ok(Settings {
        first_factors,
        tier,
        policy: password_policy(req)?,
        mfa,
        sms_mfa: sms && mfa != MfaMode::Off,
        sms_message: req.str("SmsAuthenticationMessage")?.map(str::to_owned),
        auto_verified: req.str_list("AutoVerifiedAttributes")?.unwrap_or_default(),
        devices: device_config(req)?,
    })
}

impl Settings {
    fn apply(self, p: &mut UserPool) {
        p.policy = self.policy;
        p.mfa = self.mfa;
        p.sms_mfa = self.sms_mfa;
        p.sms_message = self.sms_message;
        p.auto_verified = self.auto_verified;
        p.devices = self.devices;
        p.first_factors = self.first_factors;
        if let Some(t) = self.tier {
            p.tier = t;
        }
    }
}

fn validate_pool_name(name: &str) -> Result<(), CognitoError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'poolName' failed to satisfy constraint: Member must have length between 1 and 128"
        )));
    }
    Ok(())
}

/// `CreateUserPool`.
pub fn create_user_pool(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let name = req.req("PoolName")?;
    validate_pool_name(name)?;
    for unsupported in ["UsernameAttributes", "AliasAttributes"] {
        if req.str_list(unsupported)?.is_some_and(|l| !l.is_empty()) {
            return Err(CognitoError::invalid(format!(
                "{unsupported} is not supported by the authsim emulator: users sign in with their username"
            )));
        }
    }
    let settings = settings(req, false, "ESSENTIALS")?;
    let (key, kid) = match &ctx.pool_key {
        Some(shared) => shared.clone(),
        None => jwt::generate_key().map_err(|e| CognitoError::internal(e.to_string()))?,
    };
    let region = ctx.region.clone();
    let id = loop {
        let id = format!("{region}_{}", crypto::random_string(crypto::ALNUM, 9));
        if !state.pools.contains_key(&id) {
            break id;
        }
    };
    let mut pool = UserPool {
        id: id.clone(),
        name: name.to_owned(),
        region,
        created: ctx.now,
        modified: ctx.now,
        mfa: MfaMode::Off,
        software_token_mfa: false,
        sms_mfa: false,
        sms_message: None,
        policy: PasswordPolicy::default(),
        auto_verified: Vec::new(),
        clients: BTreeMap::new(),
        users: BTreeMap::new(),
        signing_key: key,
        kid,
        outbox: Vec::new(),
        devices: None,
        tier: super::model::passkey::default_tier(),
        first_factors: super::model::passkey::default_first_factors(),
        webauthn: Default::default(),
    };
    settings.apply(&mut pool);
    let out = json!({"UserPool": pool_json(&pool)});
    state.pools.insert(id, pool);
    Ok(out)
}

/// `UpdateUserPool`: every setting not given goes back to its default, as in Cognito (the
/// tier stays unless given).
pub fn update_user_pool(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let name = req.str("PoolName")?;
    if let Some(n) = name {
        validate_pool_name(n)?;
    }
    let p = state.pool_mut(pool_id)?;
    let settings = settings(req, p.software_token_mfa, &p.tier)?;
    settings.apply(p);
    if let Some(n) = name {
        n.clone_into(&mut p.name);
    }
    p.modified = ctx.now;
    Ok(json!({}))
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
        let bound = if max < 1 {
            "greater than or equal to 1"
        } else {
            "less than or equal to 60"
        };
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value {bound}"
        )));
    }
    let start = page_start(req, "NextToken", "pools")?;
    let pools: Vec<Value> = state
        .pools
        .values()
        .skip(start)
        .take(max as usize)
        .map(|p| {
            json!({"Id": p.id, "Name": p.name, "LambdaConfig": {},
                   "LastModifiedDate": p.modified, "CreationDate": p.created})
        })
        .collect();
    let mut out = json!({"UserPools": pools});
    if let Some(next) = page_token("pools", start, max as usize, state.pools.len()) {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}
