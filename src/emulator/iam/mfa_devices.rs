//! Virtual MFA devices: CreateVirtualMFADevice, EnableMFADevice, ResyncMFADevice,
//! DeactivateMFADevice, DeleteVirtualMFADevice, ListMFADevices, ListVirtualMFADevices,
//! GetMFADevice.

use super::model::{
    Caller, IamState, MAX_DEVICES_PER_USER, MAX_TAGS, MfaDevice, RESYNC_WINDOW_STEPS, no_such_user,
};
use super::wire::{
    NS, invalid_code, no_such_device, page, paging, pct, required, validate_code, validate_name,
    validate_path, validate_serial, validate_tags, write_tags, write_user,
};
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::query::{self, Params, QueryError};
use crate::emulator::{ACCOUNT_ID, qr, totp};

/// `CreateVirtualMFADevice`.
pub fn create_virtual_mfa_device(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "CreateVirtualMFADevice";
    let rid = ctx.request_id.as_str();
    let name = required(p, "VirtualMFADeviceName", "virtualMFADeviceName")?;
    validate_name("virtualMFADeviceName", name, 226)?;
    let path = p.get("Path").unwrap_or("/");
    validate_path(path)?;
    let tags = p.tags("Tags");
    validate_tags(&tags)?;
    if tags.len() > MAX_TAGS {
        return Err(QueryError::new(
            "LimitExceeded",
            409,
            format!("Cannot exceed quota for TagsPerMFADevice: {MAX_TAGS}"),
        ));
    }
    let serial = format!("arn:aws:iam::{ACCOUNT_ID}:mfa{path}{name}");
    if state
        .devices
        .keys()
        .any(|s| s.eq_ignore_ascii_case(&serial))
    {
        return Err(QueryError::new(
            "EntityAlreadyExists",
            409,
            "MFADevice entity at the same path and name already exists.",
        ));
    }
    let seed = data_encoding::BASE32_NOPAD.encode(&crypto::random_bytes(40));
    let uri = format!(
        "otpauth://totp/{}:{}@{ACCOUNT_ID}?secret={seed}&issuer={}",
        pct("Amazon Web Services"),
        pct(name),
        pct("Amazon Web Services")
    );
    let png = qr::png(&uri).map_err(|e| QueryError::new("ServiceFailure", 500, e.to_string()))?;
    let mut x = query::begin_response(action, NS);
    x.open("VirtualMFADevice")
        .elem("SerialNumber", &serial)
        // Both are blobs on the wire: base64 of the base32 text and of the PNG.
        .elem("Base32StringSeed", &crypto::b64(seed.as_bytes()))
        .elem("QRCodePNG", &crypto::b64(&png));
    if !tags.is_empty() {
        write_tags(&mut x, &tags);
    }
    x.close("VirtualMFADevice");
    state.devices.insert(
        serial.clone(),
        MfaDevice {
            serial,
            name: name.to_owned(),
            path: path.to_owned(),
            seed: SecretString::new(seed),
            created: ctx.now,
            tags,
            user: None,
            enable_date: None,
            drift: 0,
            last_step: None,
        },
    );
    Ok(query::end_response(x, action, rid))
}

/// `EnableMFADevice` (`enable`) or `ResyncMFADevice`: two consecutive codes.
pub fn enable_or_resync(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
    enable: bool,
) -> Result<String, QueryError> {
    let action = if enable {
        "EnableMFADevice"
    } else {
        "ResyncMFADevice"
    };
    let rid = ctx.request_id.as_str();
    let name = required(p, "UserName", "userName")?;
    let serial = required(p, "SerialNumber", "serialNumber")?;
    let c1 = required(p, "AuthenticationCode1", "authenticationCode1")?;
    let c2 = required(p, "AuthenticationCode2", "authenticationCode2")?;
    validate_name("userName", name, 128)?;
    validate_serial(serial)?;
    validate_code("authenticationCode1", c1)?;
    validate_code("authenticationCode2", c2)?;
    let user_key = state.user_key(name).ok_or_else(|| no_such_user(name))?;
    let n_devices = state.devices_of(&user_key).len();
    let device = state
        .devices
        .get_mut(serial)
        .ok_or_else(|| no_such_device(serial))?;
    if enable {
        if device.user.is_some() {
            return Err(QueryError::new(
                "EntityAlreadyExists",
                409,
                "MFA Device is already in use.",
            ));
        }
        if n_devices >= MAX_DEVICES_PER_USER {
            return Err(QueryError::new(
                "LimitExceeded",
                409,
                format!("Cannot exceed quota for MfaDevicesPerUser: {MAX_DEVICES_PER_USER}"),
            ));
        }
    } else if device.user.as_deref() != Some(user_key.as_str()) {
        return Err(QueryError::new(
            "NoSuchEntity",
            404,
            format!("MFA Device with serial number {serial} does not exist for user {name}."),
        ));
    }
    let seed = device.seed_bytes()?;
    let window = if enable { 1 } else { RESYNC_WINDOW_STEPS };
    let second = totp::verify_consecutive(&seed, c1, c2, ctx.now_secs, window, device.last_step)
        .map_err(|_| invalid_code())?;
    device.last_step = Some(second);
    if enable {
        device.user = Some(user_key);
        device.enable_date = Some(ctx.now);
        device.drift = 0;
    } else {
        device.drift = i64::try_from(second).unwrap_or(i64::MAX)
            - i64::try_from(totp::step_of(ctx.now_secs)).unwrap_or(i64::MAX);
    }
    Ok(query::empty_response(action, NS, rid))
}

/// `DeactivateMFADevice`.
pub fn deactivate_mfa_device(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "DeactivateMFADevice";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let user_key = match p.get("UserName") {
        Some(n) => {
            validate_name("userName", n, 128)?;
            Some(state.user_key(n).ok_or_else(|| no_such_user(n))?)
        }
        None => None,
    };
    let not_found = || {
        QueryError::new(
            "NoSuchEntity",
            404,
            format!("MFA Device with serial number {serial} does not exist."),
        )
    };
    let device = state.devices.get_mut(serial).ok_or_else(not_found)?;
    match (&device.user, &user_key) {
        (None, _) => return Err(not_found()),
        (Some(owner), Some(asked)) if owner != asked => return Err(not_found()),
        _ => {}
    }
    device.user = None;
    device.enable_date = None;
    device.drift = 0;
    Ok(query::empty_response(action, NS, rid))
}

/// `DeleteVirtualMFADevice`.
pub fn delete_virtual_mfa_device(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "DeleteVirtualMFADevice";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let device = state
        .devices
        .get(serial)
        .ok_or_else(|| no_such_device(serial))?;
    if device.user.is_some() {
        return Err(QueryError::new(
            "DeleteConflict",
            409,
            "MFA Device is still in use.",
        ));
    }
    state.devices.remove(serial);
    Ok(query::empty_response(action, NS, rid))
}

/// `ListMFADevices`.
pub fn list_mfa_devices(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "ListMFADevices";
    let rid = ctx.request_id.as_str();
    let pg = page(p)?;
    let devices: Vec<&MfaDevice> = match p.get("UserName") {
        Some(n) => {
            validate_name("userName", n, 128)?;
            let key = state.user_key(n).ok_or_else(|| no_such_user(n))?;
            state.devices_of(&key)
        }
        None => match state.caller(ctx.access_key_id()) {
            Caller::User(name) => state.devices_of(&name),
            // The root user has no IAM-managed virtual devices here.
            Caller::Root => Vec::new(),
        },
    };
    let mut x = query::begin_response(action, NS);
    x.open("MFADevices");
    for d in devices.iter().skip(pg.start).take(pg.max) {
        x.open("member")
            .opt("UserName", d.user.as_deref())
            .elem("SerialNumber", &d.serial)
            .elem(
                "EnableDate",
                &crypto::iso8601(d.enable_date.unwrap_or(d.created)),
            )
            .close("member");
    }
    x.close("MFADevices");
    paging(&mut x, &pg, devices.len());
    Ok(query::end_response(x, action, rid))
}

/// `ListVirtualMFADevices`.
pub fn list_virtual_mfa_devices(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "ListVirtualMFADevices";
    let rid = ctx.request_id.as_str();
    let status = p.get("AssignmentStatus").unwrap_or("Any");
    if !matches!(status, "Assigned" | "Unassigned" | "Any") {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{status}' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy enum value set: [Unassigned, Any, Assigned]"
        )));
    }
    let pg = page(p)?;
    let devices: Vec<&MfaDevice> = state
        .devices
        .values()
        .filter(|d| match status {
            "Assigned" => d.user.is_some(),
            "Unassigned" => d.user.is_none(),
            _ => true,
        })
        .collect();
    let mut x = query::begin_response(action, NS);
    x.open("VirtualMFADevices");
    for d in devices.iter().skip(pg.start).take(pg.max) {
        x.open("member").elem("SerialNumber", &d.serial);
        if let Some(u) = d.user.as_deref().and_then(|u| state.users.get(u)) {
            write_user(&mut x, "User", u);
        }
        if let Some(t) = d.enable_date {
            x.elem("EnableDate", &crypto::iso8601(t));
        }
        if !d.tags.is_empty() {
            write_tags(&mut x, &d.tags);
        }
        x.close("member");
    }
    x.close("VirtualMFADevices");
    paging(&mut x, &pg, devices.len());
    Ok(query::end_response(x, action, rid))
}

/// `GetMFADevice`.
pub fn get_mfa_device(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "GetMFADevice";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let device = state
        .devices
        .get(serial)
        .ok_or_else(|| no_such_device(serial))?;
    if let Some(n) = p.get("UserName") {
        validate_name("userName", n, 128)?;
        let key = state.user_key(n).ok_or_else(|| no_such_user(n))?;
        if device.user.as_deref() != Some(key.as_str()) {
            return Err(QueryError::new(
                "NoSuchEntity",
                404,
                format!("MFA Device with serial number {serial} does not exist for user {n}."),
            ));
        }
    }
    let mut x = query::begin_response(action, NS);
    x.opt("UserName", device.user.as_deref())
        .elem("SerialNumber", &device.serial);
    if let Some(t) = device.enable_date {
        x.elem("EnableDate", &crypto::iso8601(t));
    }
    Ok(query::end_response(x, action, rid))
}
