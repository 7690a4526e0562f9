//! IAM's wire details shared by its handlers: namespace and version, parameter validation
//! with IAM's messages, its error shapes, paging, and the XML of users and tags.

use super::model::{Caller, IamState, IamUser, no_such_user};
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use crate::emulator::query::{Params, QueryError, Xml};

/// IAM's XML namespace.
pub const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// IAM's API version.
pub const VERSION: &str = "2010-05-08";

/// IAM's `[\w+=,.@-]+`: `\w` in AWS's patterns is ASCII (letters, digits, underscore).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || "+=,.@-".contains(c)
}

/// Check a name parameter's length and characters.
pub fn validate_name(member: &str, value: &str, max: usize) -> Result<(), QueryError> {
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

/// Check a path parameter (`/` or `/a/b/`).
pub fn validate_path(value: &str) -> Result<(), QueryError> {
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

/// Check a serial number parameter.
pub fn validate_serial(value: &str) -> Result<(), QueryError> {
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
    if value.chars().count() != 6 {
        let bound = if value.chars().count() < 6 {
            "greater than or equal to 6"
        } else {
            "less than or equal to 6"
        };
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]+"
        )));
    }
    Ok(())
}

/// Check tag keys and values, and refuse duplicate keys.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), QueryError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{k}' at 'tags.member.key' failed to satisfy constraint: Member must have length less than or equal to 128 and greater than or equal to 1"
            )));
        }
        if v.chars().count() > 256 {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{v}' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"
            )));
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

/// A required parameter, or IAM's missing-member error.
pub fn required<'a>(p: &'a Params, name: &str, member: &str) -> Result<&'a str, QueryError> {
    p.get(name).ok_or_else(|| QueryError::missing(member))
}

/// `NoSuchEntity` for a virtual MFA device.
pub fn no_such_device(serial: &str) -> QueryError {
    QueryError::new(
        "NoSuchEntity",
        404,
        format!("VirtualMFADevice with serial number {serial} doesn't exist."),
    )
}

/// `InvalidAuthenticationCode`.
pub fn invalid_code() -> QueryError {
    QueryError::new(
        "InvalidAuthenticationCode",
        403,
        "Authentication code for device is not valid.",
    )
}

/// One page of a listing: where it starts and how many it holds.
pub struct Page {
    /// The first item's index.
    pub start: usize,
    /// The most items on the page.
    pub max: usize,
}

/// Read `Marker` and `MaxItems`.
pub fn page(p: &Params) -> Result<Page, QueryError> {
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
pub fn paging(x: &mut Xml, pg: &Page, total: usize) {
    let end = pg.start.saturating_add(pg.max);
    if end < total {
        x.elem("IsTruncated", "true")
            .elem("Marker", &crypto::b64(format!("authsim:{end}").as_bytes()));
    } else {
        x.elem("IsTruncated", "false");
    }
}

/// Write a `Tags` list.
pub fn write_tags(x: &mut Xml, tags: &[(String, String)]) {
    x.open("Tags");
    for (k, v) in tags {
        x.open("member")
            .elem("Key", k)
            .elem("Value", v)
            .close("member");
    }
    x.close("Tags");
}

/// Write a user element.
pub fn write_user(x: &mut Xml, tag: &str, u: &IamUser) {
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
pub fn pct(s: &str) -> String {
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

/// `UserName` if given (and existing), else the calling user; the root user has no IAM
/// access keys here.
pub fn user_param(state: &IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    match p.get("UserName") {
        Some(n) => {
            validate_name("userName", n, 128)?;
            state.user_key(n).ok_or_else(|| no_such_user(n))
        }
        None => match state.caller(ctx.access_key_id()) {
            Caller::User(name) => Ok(name),
            Caller::Root => Err(QueryError::validation(
                "UserName is required: the caller is the account's root user, whose access keys the authsim emulator does not manage.",
            )),
        },
    }
}
