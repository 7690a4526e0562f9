//! IAM over the query protocol: users (as far as MFA needs them) and virtual MFA devices
//! with every MFA-device operation, IAM's error codes, messages and HTTP statuses.
//!
//! Strictness: one 40-byte seed per device; `EnableMFADevice` needs two codes of
//! consecutive steps within one step of the server's clock; `ResyncMFADevice` accepts the
//! pair within ten minutes and remembers the device's drift; any step already accepted
//! for the device is refused afterwards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::context::Ctx;
use super::crypto::{self, SecretString};
use super::query::{self, Params, QueryError, Xml};
use super::totp::{self, Rejection};
use super::{ACCOUNT_ID, qr};

/// IAM's XML namespace.
pub const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// IAM's API version.
pub const VERSION: &str = "2010-05-08";
/// How many MFA devices one user may have (IAM's quota).
pub const MAX_DEVICES_PER_USER: usize = 8;
/// How many tags one MFA device may carry.
pub const MAX_TAGS: usize = 50;
/// Steps either side of the server's clock that `ResyncMFADevice` searches.
pub const RESYNC_WINDOW_STEPS: u64 = 20;

/// How many access keys one user may have (IAM's quota).
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;

/// IAM's users, their access keys and virtual MFA devices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IamState {
    /// Users by name.
    pub users: BTreeMap<String, IamUser>,
    /// Virtual MFA devices by serial number (ARN).
    pub devices: BTreeMap<String, MfaDevice>,
    /// Access keys by id (`AKIA...`); a request signed with one acts as its user.
    #[serde(default)]
    pub access_keys: BTreeMap<String, AccessKey>,
}

/// An IAM user's access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKey {
    /// The owning user.
    pub user: String,
    /// The secret access key (returned once, at creation).
    pub secret: SecretString,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Creation time, Unix seconds.
    pub created: f64,
}

/// Who signed a request: a user (by a key CreateAccessKey issued) or the account's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account's root user (any key the stand-in did not issue).
    Root,
    /// An IAM user, by name.
    User(String),
}

impl IamState {
    /// The caller of a request signed with `access_key_id`.
    pub fn caller(&self, access_key_id: Option<&str>) -> Caller {
        access_key_id
            .and_then(|k| self.access_keys.get(k))
            .filter(|k| k.status == "Active")
            .map(|k| Caller::User(k.user.clone()))
            .unwrap_or(Caller::Root)
    }
}

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IamUser {
    /// The user's name.
    pub name: String,
    /// `AIDA...` identifier.
    pub id: String,
    /// The path (`/` by default).
    pub path: String,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// Tags as given at creation.
    pub tags: Vec<(String, String)>,
}

impl IamUser {
    /// A new user with a fresh identifier.
    pub fn new(name: &str, path: &str, created: f64, tags: Vec<(String, String)>) -> Self {
        IamUser {
            name: name.to_owned(),
            id: format!("AIDA{}", crypto::random_string(crypto::UPPER_ALNUM, 17)),
            path: path.to_owned(),
            created,
            tags,
        }
    }

    /// The user's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:user{}{}", self.path, self.name)
    }
}

/// A virtual MFA device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaDevice {
    /// The serial number: `arn:aws:iam::ACCOUNT:mfa{path}{name}`.
    pub serial: String,
    /// The device name.
    pub name: String,
    /// The device path.
    pub path: String,
    /// The 64-character base32 seed (40 random bytes).
    pub seed: SecretString,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// Tags, in insertion order.
    pub tags: Vec<(String, String)>,
    /// The user the device is enabled for, if any.
    pub user: Option<String>,
    /// When it was enabled.
    pub enable_date: Option<f64>,
    /// The device clock's offset from the server's, in steps (learned by resync).
    pub drift: i64,
    /// The last step accepted for this device; that step and earlier ones are spent.
    pub last_step: Option<u64>,
}

impl MfaDevice {
    fn seed_bytes(&self) -> Result<Vec<u8>, QueryError> {
        data_encoding::BASE32_NOPAD
            .decode(self.seed.expose().as_bytes())
            .map_err(|_| QueryError::new("ServiceFailure", 500, "The device seed is corrupt."))
    }
}

/// Outcome of checking one TOTP code against a device (used by STS).
pub fn check_device_code(
    device: &mut MfaDevice,
    code: &str,
    now_secs: u64,
) -> Result<(), Rejection> {
    let seed = data_encoding::BASE32_NOPAD
        .decode(device.seed.expose().as_bytes())
        .map_err(|_| Rejection::Mismatch)?;
    let step = totp::verify(&seed, code, now_secs, device.drift, 1, device.last_step)?;
    device.last_step = Some(step);
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || "+=,.@-".contains(c)
}

fn validate_name(member: &str, value: &str, max: usize) -> Result<(), QueryError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max} and greater than or equal to 1"
        )));
    }
    if !value.chars().all(is_name_char) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )));
    }
    Ok(())
}

fn validate_path(value: &str) -> Result<(), QueryError> {
    let ok = value == "/"
        || (value.len() >= 2
            && value.len() <= 512
            && value.starts_with('/')
            && value.ends_with('/')
            && value.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(QueryError::validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. Value: '{value}'"
        )))
    }
}

fn validate_serial(value: &str) -> Result<(), QueryError> {
    let len = value.chars().count();
    if !(9..=256).contains(&len) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9"
        )));
    }
    if !value
        .chars()
        .all(|c| is_name_char(c) || c == '/' || c == ':')
    {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]+"
        )));
    }
    Ok(())
}

/// Check an `AuthenticationCode`/`TokenCode` parameter's shape: six ASCII digits.
pub fn validate_code(member: &str, value: &str) -> Result<(), QueryError> {
    if value.len() != 6 {
        let bound = if value.len() < 6 {
            "greater than or equal to 6"
        } else {
            "less than or equal to 6"
        };
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]+"
        )));
    }
    Ok(())
}

fn validate_tags(tags: &[(String, String)]) -> Result<(), QueryError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{k}' at 'tags.member.key' failed to satisfy constraint: Member must have length less than or equal to 128 and greater than or equal to 1"
            )));
        }
        if v.chars().count() > 256 {
            return Err(QueryError::validation(
                "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256",
            ));
        }
    }
    let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() != tags.len() {
        return Err(QueryError::new(
            "InvalidInput",
            400,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ));
    }
    Ok(())
}

fn required<'a>(p: &'a Params, name: &str, member: &str) -> Result<&'a str, QueryError> {
    p.get(name).ok_or_else(|| QueryError::missing(member))
}

fn no_such_user(name: &str) -> QueryError {
    QueryError::new(
        "NoSuchEntity",
        404,
        format!("The user with name {name} cannot be found."),
    )
}

fn no_such_device(serial: &str) -> QueryError {
    QueryError::new(
        "NoSuchEntity",
        404,
        format!("VirtualMFADevice with serial number {serial} doesn't exist."),
    )
}

fn invalid_code() -> QueryError {
    QueryError::new(
        "InvalidAuthenticationCode",
        403,
        "Authentication code for device is not valid.",
    )
}

impl IamState {
    /// The canonical key of user `name` (IAM names are unique regardless of case).
    fn user_key(&self, name: &str) -> Option<String> {
        self.users
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
    }

    fn user(&self, name: &str) -> Result<&IamUser, QueryError> {
        self.user_key(name)
            .and_then(|k| self.users.get(&k))
            .ok_or_else(|| no_such_user(name))
    }

    fn devices_of(&self, user: &str) -> Vec<&MfaDevice> {
        self.devices
            .values()
            .filter(|d| d.user.as_deref() == Some(user))
            .collect()
    }
}

struct Page {
    start: usize,
    max: usize,
}

fn page(p: &Params) -> Result<Page, QueryError> {
    let max = match p.get("MaxItems") {
        None => 100,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(QueryError::validation(format!(
                    "1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
    };
    let start = match p.get("Marker") {
        None => 0,
        Some(m) => crypto::b64_decode(m)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("authsim:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| QueryError::validation("Invalid Marker."))?,
    };
    Ok(Page { start, max })
}

/// Write `IsTruncated` (and `Marker`) for a page of `total` items.
fn paging(x: &mut Xml, pg: &Page, total: usize) {
    let end = pg.start.saturating_add(pg.max);
    if end < total {
        x.elem("IsTruncated", "true")
            .elem("Marker", &crypto::b64(format!("authsim:{end}").as_bytes()));
    } else {
        x.elem("IsTruncated", "false");
    }
}

fn write_tags(x: &mut Xml, tags: &[(String, String)]) {
    x.open("Tags");
    for (k, v) in tags {
        x.open("member")
            .elem("Key", k)
            .elem("Value", v)
            .close("member");
    }
    x.close("Tags");
}

fn write_user(x: &mut Xml, tag: &str, u: &IamUser) {
    x.open(tag)
        .elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", &u.id)
        .elem("Arn", &u.arn())
        .elem("CreateDate", &crypto::iso8601(u.created));
    if !u.tags.is_empty() {
        write_tags(x, &u.tags);
    }
    x.close(tag);
}

/// Percent-encode an otpauth label or parameter.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every IAM action the stand-in implements.
pub const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "DeleteUser",
    "ListUsers",
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "ResyncMFADevice",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "ListMFADevices",
    "ListVirtualMFADevices",
    "GetMFADevice",
    "TagMFADevice",
    "UntagMFADevice",
    "ListMFADeviceTags",
    "CreateAccessKey",
    "ListAccessKeys",
    "DeleteAccessKey",
];

/// Run one IAM action; `Ok` is the XML response body.
pub fn handle(
    state: &mut IamState,
    action: &str,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let rid = ctx.request_id.as_str();
    match action {
        "CreateUser" => {
            let name = required(p, "UserName", "userName")?;
            validate_name("userName", name, 64)?;
            let path = p.get("Path").unwrap_or("/");
            validate_path(path)?;
            let tags = p.tags("Tags");
            validate_tags(&tags)?;
            if tags.len() > MAX_TAGS {
                return Err(QueryError::new(
                    "LimitExceeded",
                    409,
                    format!("Cannot exceed quota for TagsPerUser: {MAX_TAGS}"),
                ));
            }
            if state.user_key(name).is_some() {
                return Err(QueryError::new(
                    "EntityAlreadyExists",
                    409,
                    format!("User with name {name} already exists."),
                ));
            }
            let u = IamUser::new(name, path, ctx.now, tags);
            let mut x = query::begin_response(action, NS);
            write_user(&mut x, "User", &u);
            state.users.insert(name.to_owned(), u);
            Ok(query::end_response(x, action, rid))
        }
        "GetUser" => {
            let mut x = query::begin_response(action, NS);
            match p.get("UserName") {
                Some(name) => {
                    validate_name("userName", name, 128)?;
                    write_user(&mut x, "User", state.user(name)?);
                }
                None => match state.caller(caller_key(ctx)) {
                    Caller::User(name) => write_user(&mut x, "User", state.user(&name)?),
                    Caller::Root => {
                        x.open("User")
                            .elem("UserId", ACCOUNT_ID)
                            .elem("Arn", &format!("arn:aws:iam::{ACCOUNT_ID}:root"))
                            .elem("CreateDate", &crypto::iso8601(0.0))
                            .close("User");
                    }
                },
            }
            Ok(query::end_response(x, action, rid))
        }
        "DeleteUser" => {
            let name = required(p, "UserName", "userName")?;
            validate_name("userName", name, 128)?;
            let key = state.user_key(name).ok_or_else(|| no_such_user(name))?;
            if !state.devices_of(&key).is_empty() {
                return Err(QueryError::new(
                    "DeleteConflict",
                    409,
                    "Cannot delete entity, must delete MFA device first.",
                ));
            }
            if state.access_keys.values().any(|k| k.user == key) {
                return Err(QueryError::new(
                    "DeleteConflict",
                    409,
                    "Cannot delete entity, must delete access keys first.",
                ));
            }
            state.users.remove(&key);
            Ok(query::empty_response(action, NS, rid))
        }
        "ListUsers" => {
            let prefix = p.get("PathPrefix").unwrap_or("/");
            let pg = page(p)?;
            let users: Vec<&IamUser> = state
                .users
                .values()
                .filter(|u| u.path.starts_with(prefix))
                .collect();
            let mut x = query::begin_response(action, NS);
            x.open("Users");
            for u in users.iter().skip(pg.start).take(pg.max) {
                write_user(&mut x, "member", u);
            }
            x.close("Users");
            paging(&mut x, &pg, users.len());
            Ok(query::end_response(x, action, rid))
        }
        "CreateVirtualMFADevice" => {
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
            let png =
                qr::png(&uri).map_err(|e| QueryError::new("ServiceFailure", 500, e.to_string()))?;
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
        "EnableMFADevice" | "ResyncMFADevice" => {
            let name = required(p, "UserName", "userName")?;
            let serial = required(p, "SerialNumber", "serialNumber")?;
            let c1 = required(p, "AuthenticationCode1", "authenticationCode1")?;
            let c2 = required(p, "AuthenticationCode2", "authenticationCode2")?;
            validate_name("userName", name, 128)?;
            validate_serial(serial)?;
            validate_code("authenticationCode1", c1)?;
            validate_code("authenticationCode2", c2)?;
            let user_key = state.user_key(name).ok_or_else(|| no_such_user(name))?;
            let enable = action == "EnableMFADevice";
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
                        format!(
                            "Cannot exceed quota for MfaDevicesPerUser: {MAX_DEVICES_PER_USER}"
                        ),
                    ));
                }
            } else if device.user.as_deref() != Some(user_key.as_str()) {
                return Err(QueryError::new(
                    "NoSuchEntity",
                    404,
                    format!(
                        "MFA Device with serial number {serial} does not exist for user {name}."
                    ),
                ));
            }
            let seed = device.seed_bytes()?;
            let window = if enable { 1 } else { RESYNC_WINDOW_STEPS };
            let second =
                totp::verify_consecutive(&seed, c1, c2, ctx.now_secs, window, device.last_step)
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
        "DeactivateMFADevice" => {
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
        "DeleteVirtualMFADevice" => {
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
        "ListMFADevices" => {
            let pg = page(p)?;
            let devices: Vec<&MfaDevice> = match p.get("UserName") {
                Some(n) => {
                    validate_name("userName", n, 128)?;
                    let key = state.user_key(n).ok_or_else(|| no_such_user(n))?;
                    state.devices_of(&key)
                }
                None => match state.caller(caller_key(ctx)) {
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
        "ListVirtualMFADevices" => {
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
        "GetMFADevice" => {
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
                        format!(
                            "MFA Device with serial number {serial} does not exist for user {n}."
                        ),
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
        "TagMFADevice" => {
            let serial = required(p, "SerialNumber", "serialNumber")?;
            validate_serial(serial)?;
            let tags = p.tags("Tags");
            if tags.is_empty() {
                return Err(QueryError::missing("tags"));
            }
            validate_tags(&tags)?;
            let device = state
                .devices
                .get_mut(serial)
                .ok_or_else(|| no_such_device(serial))?;
            let mut merged = device.tags.clone();
            for (k, v) in tags {
                match merged
                    .iter_mut()
                    .find(|(mk, _)| mk.eq_ignore_ascii_case(&k))
                {
                    Some(slot) => slot.1 = v,
                    None => merged.push((k, v)),
                }
            }
            if merged.len() > MAX_TAGS {
                return Err(QueryError::new(
                    "LimitExceeded",
                    409,
                    format!("Cannot exceed quota for TagsPerMFADevice: {MAX_TAGS}"),
                ));
            }
            device.tags = merged;
            Ok(query::empty_response(action, NS, rid))
        }
        "UntagMFADevice" => {
            let serial = required(p, "SerialNumber", "serialNumber")?;
            validate_serial(serial)?;
            let keys = p.list("TagKeys");
            if keys.is_empty() {
                return Err(QueryError::missing("tagKeys"));
            }
            let device = state
                .devices
                .get_mut(serial)
                .ok_or_else(|| no_such_device(serial))?;
            device
                .tags
                .retain(|(k, _)| !keys.iter().any(|r| r.eq_ignore_ascii_case(k)));
            Ok(query::empty_response(action, NS, rid))
        }
        "ListMFADeviceTags" => {
            let serial = required(p, "SerialNumber", "serialNumber")?;
            validate_serial(serial)?;
            let pg = page(p)?;
            let device = state
                .devices
                .get(serial)
                .ok_or_else(|| no_such_device(serial))?;
            let shown: Vec<(String, String)> = device
                .tags
                .iter()
                .skip(pg.start)
                .take(pg.max)
                .cloned()
                .collect();
            let mut x = query::begin_response(action, NS);
            write_tags(&mut x, &shown);
            paging(&mut x, &pg, device.tags.len());
            Ok(query::end_response(x, action, rid))
        }
        "CreateAccessKey" => {
            let name = user_param(state, p, ctx)?;
            if state
                .access_keys
                .values()
                .filter(|k| k.user == name)
                .count()
                >= MAX_ACCESS_KEYS_PER_USER
            {
                return Err(QueryError::new(
                    "LimitExceeded",
                    409,
                    format!(
                        "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
                    ),
                ));
            }
            let id = format!("AKIA{}", crypto::random_string(crypto::UPPER_ALNUM, 16));
            let secret = crypto::random_string(crypto::ALNUM, 40);
            let mut x = query::begin_response(action, NS);
            x.open("AccessKey")
                .elem("UserName", &name)
                .elem("AccessKeyId", &id)
                .elem("Status", "Active")
                .elem("SecretAccessKey", &secret)
                .elem("CreateDate", &crypto::iso8601(ctx.now))
                .close("AccessKey");
            state.access_keys.insert(
                id,
                AccessKey {
                    user: name,
                    secret: SecretString::new(secret),
                    status: "Active".into(),
                    created: ctx.now,
                },
            );
            Ok(query::end_response(x, action, rid))
        }
        "ListAccessKeys" => {
            let name = user_param(state, p, ctx)?;
            let pg = page(p)?;
            let keys: Vec<(&String, &AccessKey)> = state
                .access_keys
                .iter()
                .filter(|(_, k)| k.user == name)
                .collect();
            let mut x = query::begin_response(action, NS);
            x.open("AccessKeyMetadata");
            for (id, k) in keys.iter().skip(pg.start).take(pg.max) {
                x.open("member")
                    .elem("UserName", &k.user)
                    .elem("AccessKeyId", id)
                    .elem("Status", &k.status)
                    .elem("CreateDate", &crypto::iso8601(k.created))
                    .close("member");
            }
            x.close("AccessKeyMetadata");
            paging(&mut x, &pg, keys.len());
            Ok(query::end_response(x, action, rid))
        }
        "DeleteAccessKey" => {
            let id = required(p, "AccessKeyId", "accessKeyId")?;
            let name = user_param(state, p, ctx)?;
            match state.access_keys.get(id) {
                Some(k) if k.user == name => {
                    state.access_keys.remove(id);
                    Ok(query::empty_response(action, NS, rid))
                }
                _ => Err(QueryError::new(
                    "NoSuchEntity",
                    404,
                    format!("The Access Key with id {id} cannot be found."),
                )),
            }
        }
        _ => Err(QueryError::new(
            "InvalidAction",
            400,
            format!("Could not find operation {action} for version {VERSION}"),
        )),
    }
}

/// The access key id the request was signed with.
fn caller_key(ctx: &Ctx) -> Option<&str> {
    ctx.credential.as_ref().map(|c| c.access_key_id.as_str())
}

/// `UserName` if given (and existing), else the calling user; the root user has no IAM
/// access keys here.
fn user_param(state: &IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    match p.get("UserName") {
        Some(n) => {
            validate_name("userName", n, 128)?;
            state.user_key(n).ok_or_else(|| no_such_user(n))
        }
        None => match state.caller(caller_key(ctx)) {
            Caller::User(name) => Ok(name),
            Caller::Root => Err(QueryError::validation(
                "UserName is required: the caller is the account's root user, whose access keys the authsim emulator does not manage.",
            )),
        },
    }
}
