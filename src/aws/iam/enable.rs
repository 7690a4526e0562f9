//! `enable-mfa`: create the virtual device, store its seed, enable it with two consecutive fresh
//! codes and confirm, one function per step of the record's states (creating → created →
//! seed-stored → enabled → confirmed), so an interrupted run resumes at the step it stopped in.

use super::{
    DeviceRecord, ISSUER, account_of, find_virtual, list_user_devices, load_record, put_record,
};
use crate::aws::{AwsError, Codes, Redactor, fresh_codes, sdk_error};
use crate::vault::{EntryParams, SecretBytes, VaultError};
use aws_sdk_iam as iam;
use serde::Serialize;
use zeroize::Zeroizing;

/// What `enable-mfa` should do.
#[derive(Clone, Debug)]
pub struct EnableRequest {
    /// The IAM user.
    pub user: String,
    /// The virtual device's name.
    pub device_name: String,
    /// The virtual device's path ("/" by default).
    pub path: String,
    /// The vault entry for the seed.
    pub totp_name: String,
}

/// What `enable-mfa` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnableReport {
    /// The device's serial number.
    pub serial: String,
    /// The vault entry holding its seed.
    pub totp_name: String,
    /// The steps taken in this run.
    pub steps: Vec<String>,
    /// The user's MFA devices according to ListMFADevices.
    pub user_devices: Vec<String>,
}

pub(super) fn check_path(path: &str) -> Result<(), AwsError> {
    if path.starts_with('/') && path.ends_with('/') && !path.contains("//") {
        Ok(())
    } else {
        Err(AwsError::Flow(format!(
            "--path must begin and end with '/' (got '{path}')"
        )))
    }
}

/// Whether the vault holds entry `name`.
fn has_seed(codes: &mut Codes<'_>, name: &str) -> Result<bool, AwsError> {
    match codes.vault()?.info(name) {
        Ok(_) => Ok(true),
        Err(VaultError::NotFound(_)) => Ok(false),
        Err(e) => Err(AwsError::from(e)),
    }
}

/// The error for a device whose seed never reached the vault.
fn orphan(serial: &str) -> AwsError {
    AwsError::Flow(format!(
        "the virtual MFA device {serial} exists but its seed never reached the vault (an earlier run was interrupted), so it can never be enabled from here; run the same command with --cleanup to delete it, then run it again"
    ))
}

/// One run of `enable-mfa`: the request, where the record stands, what was done, and what must
/// never reach a message.
struct Run<'r, 'c, 'v> {
    client: &'c iam::Client,
    req: &'r EnableRequest,
    codes: &'r mut Codes<'v>,
    rec: DeviceRecord,
    report: EnableReport,
    redact: Redactor,
}

/// Create the virtual device, store its seed, enable it with two consecutive fresh codes and
/// confirm with ListMFADevices — or finish an interrupted run from where it stopped.
pub async fn enable_mfa(
    client: &iam::Client,
    req: &EnableRequest,
    codes: &mut Codes<'_>,
) -> Result<EnableReport, AwsError> {
    crate::vault::check_name(&req.totp_name)?;
    check_path(&req.path)?;
    let (rec, resumed) = start_record(req, codes)?;
    let mut run = Run {
        client,
        req,
        codes,
        rec,
        report: EnableReport {
            totp_name: req.totp_name.clone(),
            ..EnableReport::default()
        },
        redact: Redactor::default(),
    };
    if run.rec.state.is_empty() || run.rec.state == "creating" {
        run.create_device().await?;
    }
    let serial = run.rec.serial.clone().ok_or_else(|| {
        AwsError::Flow(format!("the record of '{}' lost its serial", req.totp_name))
    })?;
    run.report.serial = serial.clone();
    if run.rec.state == "created" {
        if !has_seed(run.codes, &req.totp_name)? {
            return Err(orphan(&serial));
        }
        run.put("seed-stored")?;
    }
    // An interrupted run may have enabled the device without recording it: look before
    // spending two codes.
    if resumed && run.rec.state == "seed-stored" && run.user_has(&serial).await? {
        run.put("enabled")?;
        run.step(format!("{serial} was enabled already (earlier run)"));
    }
    if run.rec.state == "seed-stored" || run.rec.state == "deactivated" {
        run.enable(&serial).await?;
    }
    run.confirm(&serial).await?;
    Ok(run.report)
}

/// The record of an earlier run for this vault entry (which must be for the same device), or
/// a new one; and whether it is resumed.
fn start_record(
    req: &EnableRequest,
    codes: &mut Codes<'_>,
) -> Result<(DeviceRecord, bool), AwsError> {
    let name = req.totp_name.as_str();
    match load_record(codes.vault()?.store(), name)? {
        Some(r) => {
            if r.user != req.user || r.device_name != req.device_name || r.path != req.path {
                return Err(AwsError::Flow(format!(
                    "the vault entry '{name}' belongs to device {}{} of IAM user '{}'; choose another --totp-name",
                    r.path, r.device_name, r.user
                )));
            }
            Ok((r, true))
        }
        None => {
            if has_seed(codes, name)? {
                return Err(AwsError::Flow(format!(
                    "a TOTP entry named '{name}' exists already; choose another --totp-name (the entry is left alone)"
                )));
            }
            let rec = DeviceRecord {
                v: 1,
                user: req.user.clone(),
                path: req.path.clone(),
                device_name: req.device_name.clone(),
                serial: None,
                state: String::new(),
                updated: 0,
            };
            Ok((rec, false))
        }
    }
}

impl Run<'_, '_, '_> {
    /// Records the new state.
    fn put(&mut self, state: &str) -> Result<(), AwsError> {
        put_record(
            self.codes.vault()?.store_mut(),
            &self.req.totp_name,
            &mut self.rec,
            state,
        )
    }

    /// Notes a step taken.
    fn step(&mut self, step: String) {
        self.report.steps.push(step);
    }

    /// Whether ListMFADevices lists `serial` for the user.
    async fn user_has(&self, serial: &str) -> Result<bool, AwsError> {
        let devices = list_user_devices(self.client, Some(&self.req.user), &self.redact).await?;
        Ok(devices.iter().any(|d| d.serial == serial))
    }

    /// creating → created → seed-stored: CreateVirtualMFADevice, then its seed into the vault.
    async fn create_device(&mut self) -> Result<(), AwsError> {
        let req = self.req;
        let name = req.totp_name.as_str();
        if self.rec.state == "creating"
            && let Some(serial) =
                find_virtual(self.client, &req.path, &req.device_name, &self.redact).await?
        {
            return Err(orphan(&serial));
        }
        self.put("creating")?;
        let out = self
            .client
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(&req.device_name)
            .path(&req.path)
            .send()
            .await
            .map_err(|e| sdk_error("CreateVirtualMFADevice", e, &self.redact))
            .map_err(|e| match e.code() {
                Some(c) if c.starts_with("EntityAlreadyExists") => AwsError::Flow(format!(
                    "a virtual MFA device {}{} exists already and no seed for it is stored here; if it is left over from an interrupted run, run the same command with --cleanup to delete it, or choose another --device-name ({e})",
                    req.path, req.device_name
                )),
                _ => e,
            })?;
        let dev = out
            .virtual_mfa_device()
            .ok_or_else(|| AwsError::Flow("CreateVirtualMFADevice returned no device".into()))?;
        let serial = dev.serial_number().to_string();
        let seed_text = Zeroizing::new(
            dev.base32_string_seed()
                .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
                .unwrap_or_default(),
        );
        self.redact.add(&seed_text);
        self.rec.serial = Some(serial.clone());
        self.put("created")?;
        let seed = SecretBytes::from_base32(&seed_text).map_err(|e| {
            AwsError::Flow(format!(
                "CreateVirtualMFADevice returned a Base32StringSeed that is not base32 ({e}); run with --cleanup to delete {serial}"
            ))
        })?;
        let mut params = EntryParams::new(seed);
        params.issuer = Some(ISSUER.into());
        params.account = Some(match account_of(&serial) {
            Some(acct) => format!("{}@{acct}", req.user),
            None => req.user.clone(),
        });
        self.codes.vault()?.add(name, &params)?;
        self.put("seed-stored")?;
        self.step(format!(
            "created {serial}; its seed is in the vault as '{name}'"
        ));
        Ok(())
    }

    /// seed-stored (or deactivated) → enabled: EnableMFADevice with two consecutive fresh codes.
    async fn enable(&mut self, serial: &str) -> Result<(), AwsError> {
        let name = self.req.totp_name.as_str();
        if !has_seed(self.codes, name)? {
            return Err(AwsError::Flow(format!(
                "the vault entry '{name}' holding the seed of {serial} is gone; the device cannot be enabled from here. Run with --cleanup to delete the device"
            )));
        }
        let pair = fresh_codes(self.codes, name, 2).await?;
        let (c1, c2) = match pair.as_slice() {
            [a, b] => (a.clone(), b.clone()),
            _ => return Err(AwsError::Flow("the vault did not produce two codes".into())),
        };
        self.redact.add(&c1);
        self.redact.add(&c2);
        let enabled = self
            .client
            .enable_mfa_device()
            .user_name(&self.req.user)
            .serial_number(serial)
            .authentication_code1(c1.as_str())
            .authentication_code2(c2.as_str())
            .send()
            .await
            .map_err(|e| sdk_error("EnableMFADevice", e, &self.redact));
        match enabled {
            Ok(_) => {
                let step = format!("enabled {serial} for '{}'", self.req.user);
                self.step(step);
            }
            Err(e)
                if e.code()
                    .is_some_and(|c| c.starts_with("EntityAlreadyExists")) =>
            {
                // An earlier run may have enabled it and stopped before recording that.
                if !self.user_has(serial).await? {
                    return Err(e);
                }
                self.step(format!("{serial} was enabled already (earlier run)"));
            }
            Err(e) => return Err(e),
        }
        self.put("enabled")
    }

    /// enabled → confirmed: ListMFADevices must list the device for the user.
    async fn confirm(&mut self, serial: &str) -> Result<(), AwsError> {
        let user = self.req.user.clone();
        let devices = list_user_devices(self.client, Some(&user), &self.redact).await?;
        self.report.user_devices = devices.iter().map(|d| d.serial.clone()).collect();
        if !self.report.user_devices.iter().any(|s| s == serial) {
            return Err(AwsError::Flow(format!(
                "ListMFADevices does not list {serial} for '{user}' although it was enabled; run the command again to check, or inspect the user in the console"
            )));
        }
        if self.rec.state != "confirmed" {
            self.put("confirmed")?;
            self.step(format!("ListMFADevices lists {serial} for '{user}'"));
        } else {
            self.step(format!(
                "{serial} is enabled for '{user}' already; nothing to do"
            ));
        }
        Ok(())
    }
}
