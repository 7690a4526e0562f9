//! IAM virtual MFA devices: enabling one with its seed in the vault (resumable after any
//! interruption), and resync, deactivate, delete, list, get and tag operations.
//!
//! `enable-mfa` keeps its progress in [`NS_IAM`] under the vault entry's name:
//! creating → created (serial known) → seed-stored → enabled → confirmed. The seed is in the
//! vault before EnableMFADevice is called, so an enabled device's seed is never lost; a device
//! whose seed never reached the vault is an orphan that `--cleanup` deletes.

mod enable;

pub use enable::{EnableReport, EnableRequest, enable_mfa};

use super::{AwsError, Codes, Redactor, Target, fresh_codes, sdk_config, sdk_error};
use crate::store::Store;
use crate::vault::VaultError;
use aws_sdk_iam as iam;
use iam::primitives::{DateTime, DateTimeFormat};
use iam::types::AssignmentStatusType;
use serde::{Deserialize, Serialize};

/// Record namespace of IAM virtual MFA enrollments (key: the vault entry's name).
pub const NS_IAM: &str = "aws.iam.mfa";
/// Issuer of vault entries made for IAM devices (as the AWS console's QR codes say).
pub const ISSUER: &str = "Amazon Web Services";
/// Region used to sign IAM calls when none is configured (IAM is global).
pub const DEFAULT_REGION: &str = "us-east-1";

/// An IAM client for `target` (region defaults to us-east-1; IAM is global).
pub async fn client(target: &Target) -> iam::Client {
    iam::Client::new(&sdk_config(target, Some(DEFAULT_REGION)).await)
}

/// Progress of one `enable-mfa`, kept in the store.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Format version.
    pub v: u32,
    /// The IAM user.
    pub user: String,
    /// The device's path.
    pub path: String,
    /// The device's name.
    pub device_name: String,
    /// Its serial number (ARN), once created.
    pub serial: Option<String>,
    /// creating, created, seed-stored, enabled, confirmed or deactivated.
    pub state: String,
    /// When the record last changed (Unix seconds).
    pub updated: u64,
}

/// Read the record of vault entry `name`.
pub fn load_record(store: &Store, name: &str) -> Result<Option<DeviceRecord>, AwsError> {
    match store.get(NS_IAM, name.as_bytes())? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(|_| {
            AwsError::Flow(format!(
                "the IAM MFA record of '{name}' is damaged; inspect the account with `authsim iam list-mfa --virtual`"
            ))
        }),
    }
}

fn put_record(
    store: &mut Store,
    name: &str,
    rec: &mut DeviceRecord,
    state: &str,
) -> Result<(), AwsError> {
    rec.state = state.to_string();
    rec.updated = crate::clock::now_unix();
    let value = serde_json::to_vec(rec).map_err(|e| AwsError::Flow(e.to_string()))?;
    store.transaction(|tx| tx.put(NS_IAM, name.as_bytes(), &value))?;
    Ok(())
}

fn delete_record(store: &mut Store, name: &str) -> Result<(), AwsError> {
    store.transaction(|tx| tx.delete(NS_IAM, name.as_bytes()))?;
    Ok(())
}

/// The vault entry recorded for `serial`, if any.
pub fn entry_for_serial(store: &Store, serial: &str) -> Result<Option<String>, AwsError> {
    for (k, v) in store.list(NS_IAM)? {
        if let Ok(rec) = serde_json::from_slice::<DeviceRecord>(&v)
            && rec.serial.as_deref() == Some(serial)
        {
            return Ok(Some(String::from_utf8_lossy(&k).into_owned()));
        }
    }
    Ok(None)
}

/// The serial and vault entry to use, from whichever of the two was given.
pub fn resolve(
    store: &Store,
    serial: Option<&str>,
    totp_name: Option<&str>,
) -> Result<(String, Option<String>), AwsError> {
    match (serial, totp_name) {
        (Some(s), Some(n)) => Ok((s.to_string(), Some(n.to_string()))),
        (Some(s), None) => Ok((s.to_string(), entry_for_serial(store, s)?)),
        (None, Some(n)) => {
            let rec = load_record(store, n)?.ok_or_else(|| {
                AwsError::Flow(format!(
                    "no IAM device is recorded for the vault entry '{n}'; give --serial ARN"
                ))
            })?;
            let serial = rec.serial.ok_or_else(|| {
                AwsError::Flow(format!(
                    "the device of '{n}' was never created; run enable-mfa again, or give --serial"
                ))
            })?;
            Ok((serial, Some(n.to_string())))
        }
        (None, None) => Err(AwsError::Flow(
            "give --serial ARN or --totp-name NAME (the vault entry enable-mfa made)".into(),
        )),
    }
}

/// The account id inside an MFA serial ARN (`arn:aws:iam::123456789012:mfa/name`).
pub fn account_of(serial: &str) -> Option<&str> {
    serial.split(':').nth(4).filter(|a| !a.is_empty())
}

/// What `--cleanup` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CleanupReport {
    /// The orphan device deleted, if any.
    pub deleted: Option<String>,
    /// Whether the vault entry of the never-enabled device was removed.
    pub removed_entry: bool,
}

/// Delete the virtual device of an unfinished `enable-mfa` (never one that is assigned to a
/// user), the seed it left in the vault, and the record.
pub async fn cleanup(
    client: &iam::Client,
    req: &EnableRequest,
    codes: &mut Codes<'_>,
) -> Result<CleanupReport, AwsError> {
    let name = req.totp_name.as_str();
    let redact = Redactor::default();
    let rec = load_record(codes.vault()?.store(), name)?;
    if let Some(r) = &rec {
        if r.user != req.user || r.device_name != req.device_name || r.path != req.path {
            return Err(AwsError::Flow(format!(
                "the vault entry '{name}' belongs to device {}{} of IAM user '{}'; nothing was changed",
                r.path, r.device_name, r.user
            )));
        }
        if r.state == "enabled" || r.state == "confirmed" {
            return Err(AwsError::Flow(format!(
                "{} is enabled for '{}'; --cleanup only deletes devices that were never enabled. Use `authsim iam deactivate-mfa` and `delete-mfa`",
                r.serial.as_deref().unwrap_or("the device"),
                r.user
            )));
        }
    }
    let serial = match rec.as_ref().and_then(|r| r.serial.clone()) {
        Some(s) => Some(s),
        None => find_virtual(client, &req.path, &req.device_name, &redact).await?,
    };
    let mut report = CleanupReport::default();
    if let Some(serial) = &serial {
        if let Some(user) = assigned_user(client, serial, &redact).await? {
            return Err(AwsError::Flow(format!(
                "{serial} is assigned to '{user}'; --cleanup never deletes an assigned device. Use `authsim iam deactivate-mfa` first if that is really meant"
            )));
        }
        match client
            .delete_virtual_mfa_device()
            .serial_number(serial)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteVirtualMFADevice", e, &redact))
        {
            Ok(_) => report.deleted = Some(serial.clone()),
            Err(e) if e.code().is_some_and(|c| c.starts_with("NoSuchEntity")) => {}
            Err(e) => return Err(e),
        }
    }
    if rec.is_some() {
        match codes.vault()?.remove(name) {
            Ok(()) => report.removed_entry = true,
            Err(VaultError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        delete_record(codes.vault()?.store_mut(), name)?;
    }
    Ok(report)
}

/// The serial of the virtual device `path` + `name` in the account, if it exists.
async fn find_virtual(
    client: &iam::Client,
    path: &str,
    name: &str,
    redact: &Redactor,
) -> Result<Option<String>, AwsError> {
    let suffix = format!(":mfa{path}{name}");
    Ok(list_virtual(client, AssignmentStatusType::Any, redact)
        .await?
        .into_iter()
        .map(|d| d.serial)
        .find(|s| s.ends_with(&suffix)))
}

/// The user a virtual device is assigned to, if any.
async fn assigned_user(
    client: &iam::Client,
    serial: &str,
    redact: &Redactor,
) -> Result<Option<String>, AwsError> {
    Ok(list_virtual(client, AssignmentStatusType::Assigned, redact)
        .await?
        .into_iter()
        .find(|d| d.serial == serial)
        .map(|d| d.user.unwrap_or_else(|| "a user".into())))
}

/// One MFA device as the list and get commands print it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial number (ARN for virtual devices).
    #[serde(rename = "SerialNumber")]
    pub serial: String,
    /// The user it is assigned to, if any.
    #[serde(rename = "UserName", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When it was enabled (ISO 8601), if it is.
    #[serde(rename = "EnableDate", skip_serializing_if = "Option::is_none")]
    pub enable_date: Option<String>,
    /// The vault entry holding its seed, if this state directory has one.
    #[serde(rename = "VaultEntry", skip_serializing_if = "Option::is_none")]
    pub vault_entry: Option<String>,
}

fn date(d: &DateTime) -> String {
    d.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

/// ListMFADevices (all pages) for `user`, or for the caller when `None`.
pub async fn list_user_devices(
    client: &iam::Client,
    user: Option<&str>,
    redact: &Redactor,
) -> Result<Vec<DeviceInfo>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let page = client
            .list_mfa_devices()
            .set_user_name(user.map(str::to_string))
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ListMFADevices", e, redact))?;
        out.extend(page.mfa_devices().iter().map(|d| DeviceInfo {
            serial: d.serial_number().to_string(),
            user: Some(d.user_name().to_string()),
            enable_date: Some(date(d.enable_date())),
            vault_entry: None,
        }));
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// ListVirtualMFADevices (all pages) with an assignment status.
pub async fn list_virtual(
    client: &iam::Client,
    status: AssignmentStatusType,
    redact: &Redactor,
) -> Result<Vec<DeviceInfo>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let page = client
            .list_virtual_mfa_devices()
            .assignment_status(status.clone())
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ListVirtualMFADevices", e, redact))?;
        out.extend(page.virtual_mfa_devices().iter().map(|d| DeviceInfo {
            serial: d.serial_number().to_string(),
            user: d.user().map(|u| u.user_name().to_string()),
            enable_date: d.enable_date().map(date),
            vault_entry: None,
        }));
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Parse `Assigned`, `Unassigned` or `Any`.
pub fn assignment_status(s: &str) -> Result<AssignmentStatusType, AwsError> {
    match s.to_ascii_lowercase().as_str() {
        "assigned" => Ok(AssignmentStatusType::Assigned),
        "unassigned" => Ok(AssignmentStatusType::Unassigned),
        "any" => Ok(AssignmentStatusType::Any),
        _ => Err(AwsError::Flow(format!(
            "--assignment-status must be Assigned, Unassigned or Any (got '{s}')"
        ))),
    }
}

/// ResyncMFADevice with two consecutive fresh codes of `totp_name`.
pub async fn resync(
    client: &iam::Client,
    user: &str,
    serial: &str,
    totp_name: &str,
    codes: &mut Codes<'_>,
) -> Result<(), AwsError> {
    let mut redact = Redactor::default();
    let pair = fresh_codes(codes, totp_name, 2).await?;
    let (c1, c2) = match pair.as_slice() {
        [a, b] => (a.clone(), b.clone()),
        _ => return Err(AwsError::Flow("the vault did not produce two codes".into())),
    };
    redact.add(&c1);
    redact.add(&c2);
    client
        .resync_mfa_device()
        .user_name(user)
        .serial_number(serial)
        .authentication_code1(c1.as_str())
        .authentication_code2(c2.as_str())
        .send()
        .await
        .map_err(|e| sdk_error("ResyncMFADevice", e, &redact))?;
    Ok(())
}

/// DeactivateMFADevice; the recorded enrollment (if any) goes back to "deactivated", so
/// `enable-mfa` can enable the device again from the stored seed.
pub async fn deactivate(
    client: &iam::Client,
    user: &str,
    serial: &str,
    store: &mut Store,
) -> Result<(), AwsError> {
    let redact = Redactor::default();
    client
        .deactivate_mfa_device()
        .user_name(user)
        .serial_number(serial)
        .send()
        .await
        .map_err(|e| sdk_error("DeactivateMFADevice", e, &redact))?;
    if let Some(name) = entry_for_serial(store, serial)?
        && let Some(mut rec) = load_record(store, &name)?
    {
        put_record(store, &name, &mut rec, "deactivated")?;
    }
    Ok(())
}

/// DeleteVirtualMFADevice; forgets the recorded enrollment but keeps the vault entry (the
/// caller says so). Returns the vault entry that held the seed, if any.
pub async fn delete(
    client: &iam::Client,
    serial: &str,
    store: &mut Store,
) -> Result<Option<String>, AwsError> {
    let redact = Redactor::default();
    client
        .delete_virtual_mfa_device()
        .serial_number(serial)
        .send()
        .await
        .map_err(|e| sdk_error("DeleteVirtualMFADevice", e, &redact))?;
    let name = entry_for_serial(store, serial)?;
    if let Some(n) = &name {
        delete_record(store, n)?;
    }
    Ok(name)
}

/// GetMFADevice.
pub async fn get(
    client: &iam::Client,
    serial: &str,
    user: Option<&str>,
) -> Result<serde_json::Value, AwsError> {
    let redact = Redactor::default();
    let out = client
        .get_mfa_device()
        .serial_number(serial)
        .set_user_name(user.map(str::to_string))
        .send()
        .await
        .map_err(|e| sdk_error("GetMFADevice", e, &redact))?;
    Ok(serde_json::json!({
        "SerialNumber": out.serial_number(),
        "UserName": out.user_name(),
        "EnableDate": out.enable_date().map(date),
        "Certifications": out.certifications(),
    }))
}

/// TagMFADevice with `KEY=VALUE` pairs.
pub async fn tag(
    client: &iam::Client,
    serial: &str,
    tags: &[(String, String)],
) -> Result<(), AwsError> {
    let redact = Redactor::default();
    let mut b = client.tag_mfa_device().serial_number(serial);
    for (k, v) in tags {
        let t = iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .map_err(|e| AwsError::Flow(format!("bad tag '{k}': {e}")))?;
        b = b.tags(t);
    }
    b.send()
        .await
        .map_err(|e| sdk_error("TagMFADevice", e, &redact))?;
    Ok(())
}

/// UntagMFADevice.
pub async fn untag(client: &iam::Client, serial: &str, keys: &[String]) -> Result<(), AwsError> {
    let redact = Redactor::default();
    client
        .untag_mfa_device()
        .serial_number(serial)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("UntagMFADevice", e, &redact))?;
    Ok(())
}

/// ListMFADeviceTags (all pages), as `[{"Key","Value"}]`.
pub async fn list_tags(client: &iam::Client, serial: &str) -> Result<serde_json::Value, AwsError> {
    let redact = Redactor::default();
    let mut tags = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let page = client
            .list_mfa_device_tags()
            .serial_number(serial)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ListMFADeviceTags", e, &redact))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|t| serde_json::json!({"Key": t.key(), "Value": t.value()})),
        );
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    Ok(serde_json::Value::Array(tags))
}

#[cfg(test)]
mod tests {
    use super::enable::check_path;
    use super::*;

    #[test]
    fn accounts_and_paths() {
        assert_eq!(
            account_of("arn:aws:iam::123456789012:mfa/alice"),
            Some("123456789012")
        );
        assert_eq!(account_of("GAHT12345678"), None);
        assert!(check_path("/").is_ok());
        assert!(check_path("/team/").is_ok());
        assert!(check_path("team/").is_err());
        assert!(check_path("/team").is_err());
        assert!(check_path("/a//b/").is_err());
        assert!(assignment_status("any").is_ok());
        assert!(assignment_status("Assigned").is_ok());
        assert!(assignment_status("nope").is_err());
    }
}
