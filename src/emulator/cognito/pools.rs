//! Pool, app-client and administrative user actions, plus SignUp / ConfirmSignUp.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{
    AppClient, CognitoState, Message, MfaMode, PasswordPolicy, PasswordVerifier, PendingCode, User,
    UserPool, UserStatus,
};
use super::{CognitoError, Req, jwt, srp};
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::server::Ctx;

/// The flows Cognito enables when `ExplicitAuthFlows` is not given.
const DEFAULT_FLOWS: &[&str] = &[
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_CUSTOM_AUTH",
];

/// Find a pool or fail with Cognito's message.
pub fn pool<'a>(state: &'a CognitoState, id: &str) -> Result<&'a UserPool, CognitoError> {
    state
        .pools
        .get(id)
        .ok_or_else(|| CognitoError::not_found(format!("User pool {id} does not exist.")))
}

/// Find a pool mutably or fail with Cognito's message.
pub fn pool_mut<'a>(
    state: &'a mut CognitoState,
    id: &str,
) -> Result<&'a mut UserPool, CognitoError> {
    state
        .pools
        .get_mut(id)
        .ok_or_else(|| CognitoError::not_found(format!("User pool {id} does not exist.")))
}

/// Find the pool that owns app client `client_id`.
pub fn pool_of_client<'a>(
    state: &'a CognitoState,
    client_id: &str,
) -> Result<(&'a UserPool, &'a AppClient), CognitoError> {
    state
        .pools
        .values()
        .find_map(|p| p.clients.get(client_id).map(|c| (p, c)))
        .ok_or_else(|| {
            CognitoError::not_found(format!("User pool client {client_id} does not exist."))
        })
}

/// Check a password against the pool's policy.
pub fn check_policy(policy: &PasswordPolicy, password: &str) -> Result<(), CognitoError> {
    let fail = |why: &str| {
        Err(CognitoError::new(
            "InvalidPasswordException",
            format!("Password did not conform with policy: {why}"),
        ))
    };
    if password.chars().count() < policy.minimum_length as usize {
        return fail("Password not long enough");
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
        return fail("Password must have lowercase characters");
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
        return fail("Password must have uppercase characters");
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        return fail("Password must have numeric characters");
    }
    if policy.require_symbols
        && !password
            .chars()
            .any(|c| "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ".contains(c))
    {
        return fail("Password must have symbol characters");
    }
    Ok(())
}

/// Make a password verifier for `username` in `pool`.
pub fn make_verifier(pool: &UserPool, username: &str, password: &str) -> PasswordVerifier {
    let salt = srp::new_salt();
    let v = srp::verifier(pool.srp_name(), username, password, &salt);
    PasswordVerifier {
        salt: srp::to_hex(&salt),
        verifier: SecretString::new(srp::to_hex(&v)),
    }
}

/// Whether `password` matches the user's verifier.
pub fn password_matches(pool: &UserPool, user: &User, password: &str) -> bool {
    let Some(pv) = &user.password else {
        return false;
    };
    let Some(salt) = srp::from_hex(&pv.salt) else {
        return false;
    };
    let v = srp::verifier(pool.srp_name(), &user.username, password, &salt);
    crypto::ct_eq(srp::to_hex(&v).as_bytes(), pv.verifier.expose().as_bytes())
}

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

/// The `{Name, Value}` list of a user's attributes, `sub` first.
pub fn attributes_json(u: &User) -> Value {
    let mut list = vec![json!({"Name": "sub", "Value": u.sub})];
    for (k, v) in &u.attributes {
        list.push(json!({"Name": k, "Value": v}));
    }
    Value::Array(list)
}

/// The MFA fields of AdminGetUser/GetUser.
pub fn mfa_fields(pool: &UserPool, u: &User, out: &mut Value) {
    let mut list = Vec::new();
    if u.sms_mfa_enabled {
        list.push("SMS_MFA");
    }
    if u.software_mfa_enabled && u.totp.active.is_some() {
        list.push("SOFTWARE_TOKEN_MFA");
    }
    if !list.is_empty() {
        out["UserMFASettingList"] = json!(list);
    }
    if let Some(p) = &u.preferred_mfa {
        out["PreferredMfaSetting"] = json!(p);
    }
    let _ = pool;
}

fn validate_username(name: &str) -> Result<(), CognitoError> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'username' failed to satisfy constraint: Member must have length less than or equal to 128"
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'username' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{M}}\\p{{S}}\\p{{N}}\\p{{P}}]+"
        )));
    }
    Ok(())
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

/// `CreateUserPool`.
pub fn create_user_pool(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let name = req.req("PoolName")?;
    if name.is_empty() || name.chars().count() > 128 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'poolName' failed to satisfy constraint: Member must have length between 1 and 128"
        )));
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
    let p = pool(state, req.req("UserPoolId")?)?;
    Ok(json!({"UserPool": pool_json(p)}))
}

/// `DeleteUserPool`.
pub fn delete_user_pool(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let id = req.req("UserPoolId")?;
    pool(state, id)?;
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

/// Where a page starts: 0, or the position a token of ours (`member`) names; anything else is
/// refused as AWS refuses a token it did not issue.
fn page_start(req: &Req, member: &str, kind: &str) -> Result<usize, CognitoError> {
    let Some(token) = req.str(member)? else {
        return Ok(0);
    };
    crate::emulator::crypto::b64_decode(token)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix("authsim:")
                .and_then(|r| r.strip_prefix(kind))
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| {
            CognitoError::invalid(format!(
                "Invalid {member}: it was not issued by this service."
            ))
        })
}

/// The token of the next page, when items remain after this one.
fn page_token(kind: &str, start: usize, max: usize, total: usize) -> Option<String> {
    let end = start.saturating_add(max);
    (end < total).then(|| crate::emulator::crypto::b64(format!("authsim:{kind}:{end}").as_bytes()))
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
    let flows_given = req.str_list("ExplicitAuthFlows")?;
    let explicit = flows_given.is_some();
    let mut flows = Vec::new();
    for f in flows_given.unwrap_or_else(|| DEFAULT_FLOWS.iter().map(|s| s.to_string()).collect()) {
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
    let prevent = match req.str("PreventUserExistenceErrors")? {
        None => "LEGACY".to_owned(),
        Some(s @ ("LEGACY" | "ENABLED")) => s.to_owned(),
        Some(other) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'preventUserExistenceErrors' failed to satisfy constraint: Member must satisfy enum value set: [LEGACY, ENABLED]"
            )));
        }
    };
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
    let id_v = validity(
        req.u64("IdTokenValidity")?,
        unit("IdToken")?.unwrap_or("hours"),
        3600,
    )?;
    let refresh = validity(
        req.u64("RefreshTokenValidity")?,
        unit("RefreshToken")?.unwrap_or("days"),
        30 * 86_400,
    )?;
    if !(300..=86_400).contains(&access) || !(300..=86_400).contains(&id_v) {
        return Err(CognitoError::invalid(
            "Access and ID token validity must be between 5 minutes and 1 day.",
        ));
    }
    if !(3600..=315_360_000).contains(&refresh) {
        return Err(CognitoError::invalid(
            "Refresh token validity must be between 60 minutes and 10 years.",
        ));
    }
    let secret = req
        .bool("GenerateSecret")?
        .unwrap_or(false)
        .then(|| SecretString::new(crypto::random_string(crypto::LOWER_ALNUM, 51)));
    let p = pool_mut(state, pool_id)?;
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
    let p = pool(state, req.req("UserPoolId")?)?;
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
    let p = pool_mut(state, pool_id)?;
    if p.clients.remove(cid).is_none() {
        return Err(CognitoError::not_found(format!(
            "User pool client {cid} does not exist."
        )));
    }
    state.refresh_tokens.retain(|_, t| t.client != cid);
    Ok(json!({}))
}

fn mfa_config_json(p: &UserPool) -> Value {
    let mut v = json!({
        "SoftwareTokenMfaConfiguration": {"Enabled": p.software_token_mfa},
        "MfaConfiguration": p.mfa.as_str(),
    });
    if p.sms_mfa {
        v["SmsMfaConfiguration"] = json!({
            "SmsAuthenticationMessage": p.sms_message.clone().unwrap_or_else(|| "Your authentication code is {####}. ".into()),
            "SmsConfiguration": {"SnsCallerArn": format!("arn:aws:iam::{}:role/authsim-sms", crate::emulator::ACCOUNT_ID)},
        });
    }
    v
}

/// `SetUserPoolMfaConfig`.
pub fn set_user_pool_mfa_config(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let totp = match req.obj("SoftwareTokenMfaConfiguration")? {
        Some(o) => Some(o.bool("Enabled")?.unwrap_or(false)),
        None => None,
    };
    let sms = req.obj("SmsMfaConfiguration")?;
    let sms_msg = match &sms {
        Some(s) => s.str("SmsAuthenticationMessage")?.map(str::to_owned),
        None => None,
    };
    if let Some(m) = &sms_msg
        && !m.contains("{####}")
    {
        return Err(CognitoError::invalid(
            "SmsAuthenticationMessage must contain the code placeholder {####}.",
        ));
    }
    let mode = match req.str("MfaConfiguration")? {
        None => None,
        Some(s) => Some(MfaMode::parse(s).ok_or_else(|| {
            CognitoError::invalid(format!(
                "1 validation error detected: Value '{s}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
            ))
        })?),
    };
    let p = pool_mut(state, pool_id)?;
    let new_totp = totp.unwrap_or(p.software_token_mfa);
    let new_sms = if sms.is_some() {
        true
    } else {
        p.sms_mfa && mode != Some(MfaMode::Off)
    };
    let new_mode = mode.unwrap_or(p.mfa);
    if new_mode != MfaMode::Off && !new_totp && !new_sms {
        return Err(CognitoError::invalid(
            "At least one MFA method must be enabled when MfaConfiguration is ON or OPTIONAL.",
        ));
    }
    p.software_token_mfa = new_totp;
    p.sms_mfa = new_sms;
    if sms_msg.is_some() {
        p.sms_message = sms_msg;
    }
    p.mfa = new_mode;
    p.modified = ctx.now;
    Ok(mfa_config_json(p))
}

/// `GetUserPoolMfaConfig`.
pub fn get_user_pool_mfa_config(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    Ok(mfa_config_json(pool(state, req.req("UserPoolId")?)?))
}

fn user_json(pool: &UserPool, u: &User, attr_key: &str) -> Value {
    let mut v = json!({
        "Username": u.username,
        "Enabled": u.enabled,
        "UserStatus": u.status.as_str(),
        "UserCreateDate": u.created,
        "UserLastModifiedDate": u.modified,
    });
    v[attr_key] = attributes_json(u);
    let _ = pool;
    v
}

fn generate_temporary_password(policy: &PasswordPolicy) -> String {
    let len = (policy.minimum_length as usize).max(12);
    loop {
        let mut pw = crypto::random_string(crypto::ALNUM, len - 2);
        pw.push(char::from(b'0' + crypto::random_bytes(1)[0] % 10));
        pw.push('!');
        if check_policy(policy, &pw).is_ok() {
            return pw;
        }
    }
}

fn apply_attributes(
    pool: &UserPool,
    attrs: &[(String, String)],
    into: &mut BTreeMap<String, String>,
) -> Result<(), CognitoError> {
    for (k, v) in attrs {
        if k == "sub" {
            return Err(CognitoError::invalid(
                "Cannot modify an immutable attribute: sub",
            ));
        }
        if k.is_empty() || k.len() > 32 && !k.starts_with("custom:") {
            return Err(CognitoError::invalid(format!(
                "Attributes did not conform to the schema: {k}: Attribute does not exist in the schema."
            )));
        }
        into.insert(k.clone(), v.clone());
    }
    let _ = pool;
    Ok(())
}

/// `AdminCreateUser`.
pub fn admin_create_user(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    validate_username(username)?;
    let attrs = req.attributes("UserAttributes")?;
    let temp = req.str("TemporaryPassword")?;
    let action = req.str("MessageAction")?;
    if let Some(a) = action
        && !matches!(a, "SUPPRESS" | "RESEND")
    {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{a}' at 'messageAction' failed to satisfy constraint: Member must satisfy enum value set: [RESEND, SUPPRESS]"
        )));
    }
    let p = pool_mut(state, pool_id)?;
    if action == Some("RESEND") {
        let u = p
            .users
            .get(username)
            .ok_or_else(CognitoError::user_not_found)?;
        if u.status != UserStatus::ForceChangePassword {
            return Err(CognitoError::new(
                "UnsupportedUserStateException",
                "Resend not possible. User status is not FORCE_CHANGE_PASSWORD.",
            ));
        }
        let pw = temp
            .map(str::to_owned)
            .unwrap_or_else(|| generate_temporary_password(&p.policy));
        let pv = make_verifier(p, username, &pw);
        p.outbox.push(Message {
            username: username.to_owned(),
            kind: "temporary_password".into(),
            value: SecretString::new(pw),
            at: ctx.now,
        });
        let pool_snapshot = p.clone();
        let u = p
            .users
            .get_mut(username)
            .ok_or_else(CognitoError::user_not_found)?;
        u.password = Some(pv);
        u.temporary_password_set = Some(ctx.now);
        u.modified = ctx.now;
        return Ok(json!({"User": user_json(&pool_snapshot, u, "Attributes")}));
    }
    if p.users.contains_key(username) {
        return Err(CognitoError::new(
            "UsernameExistsException",
            "User account already exists",
        ));
    }
    if let Some(t) = temp {
        check_policy(&p.policy, t)?;
    }
    let pw = temp
        .map(str::to_owned)
        .unwrap_or_else(|| generate_temporary_password(&p.policy));
    let mut attributes = BTreeMap::new();
    apply_attributes(p, &attrs, &mut attributes)?;
    let user = User {
        username: username.to_owned(),
        sub: crypto::uuid_v4(),
        attributes,
        status: UserStatus::ForceChangePassword,
        enabled: true,
        created: ctx.now,
        modified: ctx.now,
        password: Some(make_verifier(p, username, &pw)),
        temporary_password_set: Some(ctx.now),
        confirmation: None,
        totp: Default::default(),
        software_mfa_enabled: false,
        sms_mfa_enabled: false,
        preferred_mfa: None,
    };
    if action != Some("SUPPRESS") {
        p.outbox.push(Message {
            username: username.to_owned(),
            kind: "temporary_password".into(),
            value: SecretString::new(pw),
            at: ctx.now,
        });
    }
    let out = json!({"User": user_json(p, &user, "Attributes")});
    p.users.insert(username.to_owned(), user);
    Ok(out)
}

/// `AdminSetUserPassword`.
pub fn admin_set_user_password(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let password = req.req("Password")?;
    let permanent = req.bool("Permanent")?.unwrap_or(false);
    let p = pool_mut(state, pool_id)?;
    check_policy(&p.policy, password)?;
    if !p.users.contains_key(username) {
        return Err(CognitoError::user_not_found());
    }
    let pv = make_verifier(p, username, password);
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    u.password = Some(pv);
    if permanent {
        u.status = UserStatus::Confirmed;
        u.temporary_password_set = None;
    } else {
        u.status = UserStatus::ForceChangePassword;
        u.temporary_password_set = Some(ctx.now);
    }
    u.modified = ctx.now;
    Ok(json!({}))
}

/// `AdminGetUser`.
pub fn admin_get_user(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let p = pool(state, req.req("UserPoolId")?)?;
    let u = p
        .users
        .get(req.req("Username")?)
        .ok_or_else(CognitoError::user_not_found)?;
    let mut v = user_json(p, u, "UserAttributes");
    mfa_fields(p, u, &mut v);
    Ok(v)
}

/// Apply `SMSMfaSettings` / `SoftwareTokenMfaSettings` to a user (shared by the admin and
/// the token-authorised call).
pub fn apply_mfa_preference(
    pool: &UserPool,
    user: &mut User,
    req: &Req,
    now: f64,
) -> Result<(), CognitoError> {
    let sms = req.obj("SMSMfaSettings")?;
    let totp = req.obj("SoftwareTokenMfaSettings")?;
    let read = |o: &Option<Req>| -> Result<(Option<bool>, Option<bool>), CognitoError> {
        match o {
            Some(o) => Ok((o.bool("Enabled")?, o.bool("PreferredMfa")?)),
            None => Ok((None, None)),
        }
    };
    let (sms_enabled, sms_pref) = read(&sms)?;
    let (totp_enabled, totp_pref) = read(&totp)?;
    if totp_enabled == Some(true) || totp_pref == Some(true) {
        if !pool.software_token_mfa {
            return Err(CognitoError::invalid(
                "Software token MFA is not enabled for the user pool.",
            ));
        }
        if user.totp.active.is_none() {
            return Err(CognitoError::invalid(
                "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA",
            ));
        }
    }
    if (sms_enabled == Some(true) || sms_pref == Some(true))
        && !user.attributes.contains_key("phone_number")
    {
        return Err(CognitoError::invalid(
            "User does not have delivery config set to turn on SMS_MFA",
        ));
    }
    if sms_pref == Some(true) && totp_pref == Some(true) {
        return Err(CognitoError::invalid(
            "Only one MFA method can be preferred.",
        ));
    }
    if let Some(e) = sms_enabled {
        user.sms_mfa_enabled = e;
    }
    if let Some(e) = totp_enabled {
        user.software_mfa_enabled = e;
    }
    if sms_pref == Some(true) {
        user.sms_mfa_enabled = true;
        user.preferred_mfa = Some("SMS_MFA".into());
    } else if totp_pref == Some(true) {
        user.software_mfa_enabled = true;
        user.preferred_mfa = Some("SOFTWARE_TOKEN_MFA".into());
    }
    match user.preferred_mfa.as_deref() {
        Some("SMS_MFA") if !user.sms_mfa_enabled || sms_pref == Some(false) => {
            user.preferred_mfa = None
        }
        Some("SOFTWARE_TOKEN_MFA") if !user.software_mfa_enabled || totp_pref == Some(false) => {
            user.preferred_mfa = None
        }
        _ => {}
    }
    user.modified = now;
    Ok(())
}

/// `AdminSetUserMFAPreference`.
pub fn admin_set_user_mfa_preference(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let p = pool_mut(state, pool_id)?;
    let snapshot = p.clone();
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    apply_mfa_preference(&snapshot, u, req, ctx.now)?;
    Ok(json!({}))
}

/// `AdminDeleteUser`.
pub fn admin_delete_user(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let p = pool_mut(state, pool_id)?;
    if p.users.remove(username).is_none() {
        return Err(CognitoError::user_not_found());
    }
    p.outbox.retain(|m| m.username != username);
    state
        .refresh_tokens
        .retain(|_, t| !(t.pool == pool_id && t.username == username));
    Ok(json!({}))
}

/// `AdminDisableUser` / `AdminEnableUser`.
pub fn admin_set_enabled(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
    enabled: bool,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let u = pool_mut(state, pool_id)?
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    u.enabled = enabled;
    u.modified = ctx.now;
    Ok(json!({}))
}

/// `AdminUserGlobalSignOut`.
pub fn admin_user_global_sign_out(
    state: &mut CognitoState,
    req: &Req,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let p = pool(state, pool_id)?;
    if !p.users.contains_key(username) {
        return Err(CognitoError::user_not_found());
    }
    for t in state.refresh_tokens.values_mut() {
        if t.pool == pool_id && t.username == username {
            t.revoked = true;
        }
    }
    Ok(json!({}))
}

/// `ListUsers` (no filter language beyond `username = "x"` and `sub = "x"`).
pub fn list_users(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let p = pool(state, req.req("UserPoolId")?)?;
    let filter = req.str("Filter")?.map(parse_filter).transpose()?;
    let limit = req.u64("Limit")?.unwrap_or(60);
    if limit > 60 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60"
        )));
    }
    // AWS treats a limit of 0 as its default page.
    let limit = if limit == 0 { 60 } else { limit as usize };
    let start = page_start(req, "PaginationToken", "users")?;
    let matching: Vec<&_> = p
        .users
        .values()
        .filter(|u| match &filter {
            None => true,
            Some((attr, val)) if attr == "username" => &u.username == val,
            Some((attr, val)) if attr == "sub" => &u.sub == val,
            Some((attr, val)) => u.attributes.get(attr) == Some(val),
        })
        .collect();
    let users: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|u| user_json(p, u, "Attributes"))
        .collect();
    let mut out = json!({"Users": users});
    if let Some(next) = page_token("users", start, limit, matching.len()) {
        out["PaginationToken"] = json!(next);
    }
    Ok(out)
}

fn parse_filter(f: &str) -> Result<(String, String), CognitoError> {
    let bad = || CognitoError::invalid(format!("Invalid search filter: {f}"));
    let (attr, val) = f.split_once('=').ok_or_else(bad)?;
    let val = val.trim();
    let val = val
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(bad)?;
    Ok((attr.trim().to_owned(), val.to_owned()))
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
    let (pool, client) = pool_of_client(state, client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    check_policy(&pool.policy, password)?;
    let pool_id = pool.id.clone();
    let p = pool_mut(state, &pool_id)?;
    if p.users.contains_key(username) {
        return Err(CognitoError::new(
            "UsernameExistsException",
            "User already exists",
        ));
    }
    let mut attributes = BTreeMap::new();
    apply_attributes(p, &attrs, &mut attributes)?;
    let code = crypto::random_digits(6);
    let sub = crypto::uuid_v4();
    let delivery = mask_destination(&attributes);
    let user = User {
        username: username.to_owned(),
        sub: sub.clone(),
        attributes,
        status: UserStatus::Unconfirmed,
        enabled: true,
        created: ctx.now,
        modified: ctx.now,
        password: Some(make_verifier(p, username, password)),
        temporary_password_set: None,
        confirmation: Some(PendingCode {
            code: SecretString::new(code.clone()),
            expires: ctx.now + 86_400.0,
        }),
        totp: Default::default(),
        software_mfa_enabled: false,
        sms_mfa_enabled: false,
        preferred_mfa: None,
    };
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
    let (pool, client) = pool_of_client(state, client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    let pool_id = pool.id.clone();
    let p = pool_mut(state, &pool_id)?;
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
    let (pool, client) = pool_of_client(state, client_id)?;
    check_secret_hash(client, username, req.str("SecretHash")?)?;
    let pool_id = pool.id.clone();
    let p = pool_mut(state, &pool_id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy() {
        let p = PasswordPolicy::default();
        assert!(check_policy(&p, "Passw0rd!").is_ok());
        for bad in [
            "Pa0!",
            "password0!",
            "PASSWORD0!",
            "Password!!",
            "Password00",
        ] {
            let e = check_policy(&p, bad).expect_err(bad);
            assert_eq!(e.kind, "InvalidPasswordException");
        }
    }

    #[test]
    fn temporary_passwords_meet_policy() {
        let p = PasswordPolicy::default();
        for _ in 0..20 {
            assert!(check_policy(&p, &generate_temporary_password(&p)).is_ok());
        }
    }

    #[test]
    fn filter_parsing() {
        assert_eq!(
            parse_filter("username = \"bob\"").expect("ok"),
            ("username".to_owned(), "bob".to_owned())
        );
        assert!(parse_filter("username ^= bob").is_err());
    }
}
