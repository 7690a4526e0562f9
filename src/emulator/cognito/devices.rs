//! Remembered devices: issuing a new device with a sign-in (NewDeviceMetadata),
//! ConfirmDevice, UpdateDeviceStatus, ListDevices, GetDevice, ForgetDevice and their Admin
//! variants.
//!
//! As Cognito shows them: the user-facing ListDevices and GetDevice see only remembered
//! devices (a not-remembered one is `ResourceNotFoundException`), the Admin calls see every
//! confirmed device; a device issued but never confirmed is seen by none and cannot sign
//! in.

use serde_json::{Value, json};

use super::access::authorize;
use super::error::CognitoError;
use super::model::{CognitoState, Device, DeviceVerifier, User, UserPool};
use super::request::Req;
use super::srp;
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};

/// Devices per ListDevices page when `Limit` is not given (Cognito's maximum).
const MAX_LIMIT: u64 = 60;

/// Create a device for a sign-in on a tracked pool without DEVICE_KEY; returns
/// NewDeviceMetadata. The device stays invisible until ConfirmDevice.
pub fn issue(pool: &mut UserPool, username: &str, now: f64) -> Result<Value, CognitoError> {
    let key = format!("{}_{}", pool.region, crypto::uuid_v4());
    let group_key = format!("-{}", crypto::random_string(crypto::ALNUM, 9));
    let user = pool
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    user.devices.insert(
        key.clone(),
        Device {
            key: key.clone(),
            group_key: group_key.clone(),
            name: None,
            verifier: None,
            remembered: false,
            created: now,
            modified: now,
            last_authenticated: now,
        },
    );
    Ok(json!({"DeviceKey": key, "DeviceGroupKey": group_key}))
}

/// A device as DeviceType.
fn device_json(d: &Device) -> Value {
    let mut attrs = vec![
        json!({"Name": "device_status", "Value": "valid"}),
        json!({"Name": "dev:device_remembered_status", "Value": d.remembered_status()}),
    ];
    if let Some(n) = &d.name {
        attrs.push(json!({"Name": "device_name", "Value": n}));
    }
    json!({
        "DeviceKey": d.key,
        "DeviceAttributes": attrs,
        "DeviceCreateDate": d.created,
        "DeviceLastModifiedDate": d.modified,
        "DeviceLastAuthenticatedDate": d.last_authenticated,
    })
}

/// Check a DeviceKey's shape (`[\w-]+_[0-9a-f-]+`, 1 to 55 characters).
fn validate_key(key: &str) -> Result<(), CognitoError> {
    let shaped = key.split_once('_').is_some_and(|(region, id)| {
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
    });
    if shaped && key.len() <= 55 {
        Ok(())
    } else {
        Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{key}' at 'deviceKey' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+_[0-9a-f-]+"
        )))
    }
}

/// `DeviceRememberedStatus` as a flag.
fn remembered_status(req: &Req) -> Result<Option<bool>, CognitoError> {
    match req.str("DeviceRememberedStatus")? {
        None => Ok(None),
        Some("remembered") => Ok(Some(true)),
        Some("not_remembered") => Ok(Some(false)),
        Some(other) => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'deviceRememberedStatus' failed to satisfy constraint: Member must satisfy enum value set: [remembered, not_remembered]"
        ))),
    }
}

/// The signed-in user of an access token, mutably.
fn token_user<'a>(
    state: &'a mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<(&'a mut UserPool, String), CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    Ok((state.pool_mut(&pool_id)?, username))
}

/// The user an Admin call names.
fn admin_user<'a>(state: &'a mut CognitoState, req: &Req) -> Result<&'a mut User, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    state.user_mut(pool_id, username)
}

/// A confirmed device of `user`, mutably (`ResourceNotFoundException` otherwise).
fn confirmed_mut<'a>(user: &'a mut User, key: &str) -> Result<&'a mut Device, CognitoError> {
    user.devices
        .get_mut(key)
        .filter(|d| d.confirmed())
        .ok_or_else(CognitoError::device_not_found)
}

/// Read DeviceSecretVerifierConfig: base64 PasswordVerifier and Salt, as the SDKs send
/// them.
fn verifier_config(req: &Req) -> Result<DeviceVerifier, CognitoError> {
    let cfg = req
        .obj("DeviceSecretVerifierConfig")?
        .ok_or_else(|| CognitoError::invalid("DeviceSecretVerifierConfig is required."))?;
    let decode = |name: &str| -> Result<num_bigint::BigUint, CognitoError> {
        let text = cfg
            .str(name)?
            .ok_or_else(|| CognitoError::invalid(format!("{name} is required.")))?;
        crypto::b64_decode(text)
            .filter(|b| !b.is_empty() && b.len() <= 512)
            .map(|b| num_bigint::BigUint::from_bytes_be(&b))
            .ok_or_else(|| CognitoError::invalid(format!("{name} is not valid base64.")))
    };
    let verifier = decode("PasswordVerifier")?;
    let salt = decode("Salt")?;
    if !srp::valid_client_public(&verifier) {
        return Err(CognitoError::invalid("PasswordVerifier is invalid."));
    }
    Ok(DeviceVerifier {
        salt: srp::to_hex(&salt),
        verifier: SecretString::new(srp::to_hex(&verifier)),
    })
}

/// `ConfirmDevice`: store the device's SRP verifier. The device is remembered at once
/// unless the pool waits for the user's prompt (then `UserConfirmationNecessary`).
pub fn confirm_device(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let name = req.str("DeviceName")?;
    if let Some(n) = name.filter(|n| n.is_empty() || n.chars().count() > 1024) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{n}' at 'deviceName' failed to satisfy constraint: Member must have length less than or equal to 1024"
        )));
    }
    let verifier = verifier_config(req)?;
    let (pool, username) = token_user(state, req, ctx)?;
    let prompt = pool
        .devices
        .is_some_and(|c| c.only_remembered_on_user_prompt);
    let user = pool
        .users
        .get_mut(&username)
        .ok_or_else(CognitoError::user_not_found)?;
    let device = user
        .devices
        .get_mut(key)
        .ok_or_else(CognitoError::device_not_found)?;
    if device.confirmed() {
        return Err(CognitoError::new(
            "DeviceKeyExistsException",
            "Device key already exists.",
        ));
    }
    device.verifier = Some(verifier);
    device.name = name.map(str::to_owned);
    device.remembered = !prompt;
    device.modified = ctx.now;
    device.last_authenticated = ctx.now;
    Ok(json!({"UserConfirmationNecessary": prompt}))
}

/// `UpdateDeviceStatus`.
pub fn update_device_status(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let status = remembered_status(req)?;
    let (pool, username) = token_user(state, req, ctx)?;
    let user = pool
        .users
        .get_mut(&username)
        .ok_or_else(CognitoError::user_not_found)?;
    set_status(user, key, status, ctx.now)
}

/// `AdminUpdateDeviceStatus`.
pub fn admin_update_device_status(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let status = remembered_status(req)?;
    set_status(admin_user(state, req)?, key, status, ctx.now)
}

fn set_status(
    user: &mut User,
    key: &str,
    status: Option<bool>,
    now: f64,
) -> Result<Value, CognitoError> {
    let device = confirmed_mut(user, key)?;
    if let Some(remembered) = status {
        device.remembered = remembered;
        device.modified = now;
    }
    Ok(json!({}))
}

/// One page of devices: `Limit` (0 to 60) and the opaque `PaginationToken` (the key of
/// the first device of the page).
fn page<'a>(devices: impl Iterator<Item = &'a Device>, req: &Req) -> Result<Value, CognitoError> {
    let limit = req.u64("Limit")?.unwrap_or(MAX_LIMIT);
    if limit > MAX_LIMIT {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60"
        )));
    }
    let start = match req.str("PaginationToken")? {
        None => None,
        Some(t) => Some(
            crypto::b64url_decode(t)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("authsim-device:").map(str::to_owned))
                .ok_or_else(|| CognitoError::invalid("Invalid pagination token."))?,
        ),
    };
    let mut rest = devices.filter(|d| start.as_deref().is_none_or(|s| d.key.as_str() >= s));
    let shown: Vec<Value> = rest
        .by_ref()
        .take(limit as usize)
        .map(device_json)
        .collect();
    let mut out = json!({"Devices": shown});
    if let Some(next) = rest.next() {
        out["PaginationToken"] = json!(crypto::b64url(
            format!("authsim-device:{}", next.key).as_bytes()
        ));
    }
    Ok(out)
}

/// `ListDevices`: the caller's remembered devices.
pub fn list_devices(state: &mut CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let (pool, username) = token_user(state, req, ctx)?;
    let user = pool
        .users
        .get(&username)
        .ok_or_else(CognitoError::user_not_found)?;
    page(
        user.devices
            .values()
            .filter(|d| d.confirmed() && d.remembered),
        req,
    )
}

/// `AdminListDevices`: every confirmed device, remembered or not.
pub fn admin_list_devices(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let user = admin_user(state, req)?;
    page(user.devices.values().filter(|d| d.confirmed()), req)
}

/// `GetDevice`: a remembered device of the caller.
pub fn get_device(state: &mut CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let (pool, username) = token_user(state, req, ctx)?;
    let user = pool
        .users
        .get(&username)
        .ok_or_else(CognitoError::user_not_found)?;
    let device = user.confirmed_device(key)?;
    if !device.remembered {
        return Err(CognitoError::device_not_found());
    }
    Ok(json!({"Device": device_json(device)}))
}

/// `AdminGetDevice`: any confirmed device.
pub fn admin_get_device(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let user = admin_user(state, req)?;
    Ok(json!({"Device": device_json(user.confirmed_device(key)?)}))
}

/// `ForgetDevice`: the device is gone (its refresh tokens stop working).
pub fn forget_device(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    let (pool, username) = token_user(state, req, ctx)?;
    let user = pool
        .users
        .get_mut(&username)
        .ok_or_else(CognitoError::user_not_found)?;
    forget(user, key)
}

/// `AdminForgetDevice`.
pub fn admin_forget_device(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let key = req.req("DeviceKey")?;
    validate_key(key)?;
    forget(admin_user(state, req)?, key)
}

fn forget(user: &mut User, key: &str) -> Result<Value, CognitoError> {
    confirmed_mut(user, key)?;
    user.devices.remove(key);
    Ok(json!({}))
}
