//! Users: the administrative calls (AdminCreateUser, AdminSetUserPassword, AdminGetUser,
//! AdminDeleteUser, AdminDisableUser/AdminEnableUser, AdminUserGlobalSignOut, ListUsers) and
//! the token-authorised GetUser and ChangePassword.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::access::authorize;
use super::error::CognitoError;
use super::model::{CognitoState, Message, User, UserPool, UserStatus};
use super::passwords::{
    check_policy, generate_temporary_password, make_verifier, password_matches,
};
use super::request::{Req, page_start, page_token};
use crate::emulator::context::Ctx;
use crate::emulator::crypto::SecretString;

/// The `{Name, Value}` list of a user's attributes, `sub` first.
pub fn attributes_json(u: &User) -> Value {
    let mut list = vec![json!({"Name": "sub", "Value": u.sub})];
    for (k, v) in &u.attributes {
        list.push(json!({"Name": k, "Value": v}));
    }
    Value::Array(list)
}

/// Check a username's length and characters as Cognito does.
pub fn validate_username(name: &str) -> Result<(), CognitoError> {
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

fn user_json(u: &User, attr_key: &str) -> Value {
    let mut v = json!({
        "Username": u.username,
        "Enabled": u.enabled,
        "UserStatus": u.status.as_str(),
        "UserCreateDate": u.created,
        "UserLastModifiedDate": u.modified,
    });
    v[attr_key] = attributes_json(u);
    v
}

/// Copy given attributes into a user's, refusing `sub` and names outside the schema.
pub fn apply_attributes(
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
    Ok(())
}

/// `AdminCreateUser` with `MessageAction: RESEND`: a new temporary password for a user
/// still in FORCE_CHANGE_PASSWORD.
fn resend_temporary_password(
    p: &mut UserPool,
    username: &str,
    temp: Option<&str>,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
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
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    u.password = Some(pv);
    u.temporary_password_set = Some(ctx.now);
    u.modified = ctx.now;
    Ok(json!({"User": user_json(u, "Attributes")}))
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
    let p = state.pool_mut(pool_id)?;
    if action == Some("RESEND") {
        return resend_temporary_password(p, username, temp, ctx);
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
    apply_attributes(&attrs, &mut attributes)?;
    let mut user = User::new(
        username,
        attributes,
        UserStatus::ForceChangePassword,
        ctx.now,
    );
    user.password = Some(make_verifier(p, username, &pw));
    user.temporary_password_set = Some(ctx.now);
    if action != Some("SUPPRESS") {
        p.outbox.push(Message {
            username: username.to_owned(),
            kind: "temporary_password".into(),
            value: SecretString::new(pw),
            at: ctx.now,
        });
    }
    let out = json!({"User": user_json(&user, "Attributes")});
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
    let p = state.pool_mut(pool_id)?;
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
    let p = state.pool(req.req("UserPoolId")?)?;
    let u = p
        .users
        .get(req.req("Username")?)
        .ok_or_else(CognitoError::user_not_found)?;
    let mut v = user_json(u, "UserAttributes");
    mfa_fields(p, u, &mut v);
    Ok(v)
}

/// `AdminDeleteUser`.
pub fn admin_delete_user(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let p = state.pool_mut(pool_id)?;
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
    let u = state
        .pool_mut(pool_id)?
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
    let p = state.pool(pool_id)?;
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
    let p = state.pool(req.req("UserPoolId")?)?;
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
        .map(|u| user_json(u, "Attributes"))
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

/// `GetUser`.
pub fn get_user(state: &CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let pool = state.pool(&pool_id)?;
    let user = state.user(&pool_id, &username)?;
    let mut v = json!({
        "Username": user.username,
        "UserAttributes": attributes_json(user),
    });
    mfa_fields(pool, user, &mut v);
    Ok(v)
}

/// `ChangePassword`.
pub fn change_password(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let previous = req.req("PreviousPassword")?;
    let proposed = req.req("ProposedPassword")?;
    let pool = state.pool(&pool_id)?;
    let user = state.user(&pool_id, &username)?;
    if !password_matches(pool, user, previous) {
        return Err(CognitoError::incorrect_password());
    }
    check_policy(&pool.policy, proposed)?;
    let pv = make_verifier(pool, &username, proposed);
    let user = state.user_mut(&pool_id, &username)?;
    user.password = Some(pv);
    user.modified = ctx.now;
    Ok(json!({}))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parsing() {
        assert_eq!(
            parse_filter("username = \"bob\"").expect("ok"),
            ("username".to_owned(), "bob".to_owned())
        );
        assert!(parse_filter("username ^= bob").is_err());
    }
}
