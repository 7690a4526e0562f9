//! `authsim iam ...`: IAM virtual MFA devices with their seeds in the vault.

use super::Ctx;
use super::cognito::{AwsArgs, run_flow};
use super::totp::Countdown;
use crate::aws;
use crate::aws::{Redactor, iam};
use crate::store::DB_FILE;
use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Subcommand};

/// `authsim iam` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Create a virtual MFA device, keep its seed in the vault, enable it with two consecutive
    /// codes at once, and confirm. Run it again after an interruption to finish the job, or
    /// with --cleanup to delete a device whose seed never reached the vault.
    EnableMfa(EnableArgs),
    /// Resynchronise a device with two consecutive fresh codes.
    ResyncMfa(UserDeviceArgs),
    /// Deactivate a user's MFA device (its seed stays in the vault).
    DeactivateMfa(UserDeviceArgs),
    /// Delete a virtual MFA device (deactivate it first; its vault entry is kept).
    DeleteMfa(DeviceArgs),
    /// List a user's MFA devices, or with --virtual the account's virtual devices (JSON).
    ListMfa(ListArgs),
    /// Show one MFA device (GetMFADevice, JSON).
    GetMfa(GetArgs),
    /// Tag an MFA device: --tag KEY=VALUE, repeatable.
    TagMfa(TagArgs),
    /// Remove tags from an MFA device: --key KEY, repeatable.
    UntagMfa(UntagArgs),
    /// List an MFA device's tags (JSON).
    ListMfaTags(DeviceArgs),
}

// Options of `iam enable-mfa`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// The IAM user.
    #[arg(long)]
    user: String,
    /// The virtual device's name.
    #[arg(long, value_name = "N")]
    device_name: String,
    /// The virtual device's path.
    #[arg(long, default_value = "/")]
    path: String,
    /// The vault entry for the seed (default: the device name).
    #[arg(long, value_name = "VAULT_NAME")]
    totp_name: Option<String>,
    /// Delete the virtual device of an unfinished run (never one that is enabled) and forget it.
    #[arg(long)]
    cleanup: bool,
    /// Print the outcome as JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

// A device, by serial number or by the vault entry enable-mfa made for it.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("device").required(true).multiple(true).args(["serial", "totp_name"])))]
pub struct DeviceArgs {
    /// The device's serial number (ARN for virtual devices).
    #[arg(long, value_name = "ARN")]
    serial: Option<String>,
    /// The vault entry enable-mfa made for the device.
    #[arg(long, value_name = "VAULT_NAME")]
    totp_name: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

// A user's device.
#[derive(Debug, Args)]
pub struct UserDeviceArgs {
    /// The IAM user (default: the one recorded for --totp-name).
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

// Options of `iam list-mfa`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The IAM user (default: the caller).
    #[arg(long, conflicts_with = "virtual")]
    user: Option<String>,
    /// List the account's virtual MFA devices instead.
    #[arg(long = "virtual", id = "virtual")]
    virtual_: bool,
    /// With --virtual: Assigned, Unassigned or Any.
    #[arg(long, default_value = "Any", requires = "virtual")]
    assignment_status: String,
    #[command(flatten)]
    aws: AwsArgs,
}

// Options of `iam get-mfa`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The IAM user the device belongs to.
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

// Options of `iam tag-mfa`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// A tag as KEY=VALUE; repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE", required = true)]
    tags: Vec<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

// Options of `iam untag-mfa`.
#[derive(Debug, Args)]
pub struct UntagArgs {
    /// A tag key to remove; repeatable.
    #[arg(long = "key", value_name = "KEY", required = true)]
    keys: Vec<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Serial and vault entry of a device; the vault is only opened when a vault entry is named
/// or a state directory exists already, so read-only commands create nothing.
fn resolve(ctx: &Ctx, d: &DeviceArgs) -> Result<(String, Option<String>)> {
    if d.totp_name.is_none()
        && let Some(s) = &d.serial
        && !ctx.state_dir()?.join(DB_FILE).exists()
    {
        return Ok((s.clone(), None));
    }
    let vault = ctx.vault()?;
    Ok(iam::resolve(
        vault.store(),
        d.serial.as_deref(),
        d.totp_name.as_deref(),
    )?)
}

fn user_of(ctx: &Ctx, user: &Option<String>, totp_name: &Option<String>) -> Result<String> {
    if let Some(u) = user {
        return Ok(u.clone());
    }
    if let Some(n) = totp_name {
        let vault = ctx.vault()?;
        if let Some(rec) = iam::load_record(vault.store(), n)? {
            return Ok(rec.user);
        }
    }
    bail!("give --user (the IAM user the device belongs to)")
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::EnableMfa(a) => enable(ctx, a),
        Cmd::ResyncMfa(a) => {
            let user = user_of(ctx, &a.user, &a.device.totp_name)?;
            let (serial, entry) = resolve(ctx, &a.device)?;
            let Some(entry) = entry else {
                bail!("no vault entry is recorded for {serial}; give --totp-name VAULT_NAME");
            };
            let mut source = ctx.code_source()?;
            let mut countdown = Countdown::new();
            let mut observe = |n: &str, left: u64| countdown.observe(n, left);
            let mut codes = aws::Codes {
                source: &mut source,
                allow_next: false,
                observe: &mut observe,
            };
            let target = a.device.aws.target();
            run_flow(async {
                let c = iam::client(&target).await;
                iam::resync(&c, &user, &serial, &entry, &mut codes).await
            })?;
            eprintln!("resynchronised {serial} for '{user}' with two fresh codes of '{entry}'");
            Ok(())
        }
        Cmd::DeactivateMfa(a) => {
            let user = user_of(ctx, &a.user, &a.device.totp_name)?;
            let (serial, entry) = resolve(ctx, &a.device)?;
            let mut vault = ctx.vault()?;
            let target = a.device.aws.target();
            run_flow(async {
                let c = iam::client(&target).await;
                iam::deactivate(&c, &user, &serial, vault.store_mut()).await
            })?;
            eprintln!("deactivated {serial} for '{user}'");
            if let Some(e) = entry {
                eprintln!(
                    "its seed stays in the vault as '{e}' (enable-mfa can enable it again; delete-mfa deletes the device)"
                );
            }
            Ok(())
        }
        Cmd::DeleteMfa(a) => {
            let (serial, _) = resolve(ctx, &a)?;
            let mut vault = ctx.vault()?;
            let target = a.aws.target();
            let entry = run_flow(async {
                let c = iam::client(&target).await;
                iam::delete(&c, &serial, vault.store_mut()).await
            })?;
            eprintln!("deleted {serial}");
            if let Some(e) = entry {
                eprintln!(
                    "its seed is still in the vault as '{e}'; remove it with `authsim totp remove {e}` once it is no longer needed"
                );
            }
            Ok(())
        }
        Cmd::ListMfa(a) => {
            let target = a.aws.target();
            let mut list = run_flow(async {
                let c = iam::client(&target).await;
                let r = Redactor::default();
                if a.virtual_ {
                    let status = iam::assignment_status(&a.assignment_status)?;
                    iam::list_virtual(&c, status, &r).await
                } else {
                    iam::list_user_devices(&c, a.user.as_deref(), &r).await
                }
            })?;
            if ctx.state_dir()?.join(DB_FILE).exists() {
                let vault = ctx.vault()?;
                for d in &mut list {
                    d.vault_entry = iam::entry_for_serial(vault.store(), &d.serial)?;
                }
            }
            print_json(&list)
        }
        Cmd::GetMfa(a) => {
            let (serial, _) = resolve(ctx, &a.device)?;
            let target = a.device.aws.target();
            let v = run_flow(async {
                let c = iam::client(&target).await;
                iam::get(&c, &serial, a.user.as_deref()).await
            })?;
            print_json(&v)
        }
        Cmd::TagMfa(a) => {
            let (serial, _) = resolve(ctx, &a.device)?;
            let mut tags = Vec::new();
            for t in &a.tags {
                match t.split_once('=') {
                    Some((k, v)) if !k.is_empty() => tags.push((k.to_string(), v.to_string())),
                    _ => bail!("--tag takes KEY=VALUE (got '{t}')"),
                }
            }
            let target = a.device.aws.target();
            run_flow(async {
                let c = iam::client(&target).await;
                iam::tag(&c, &serial, &tags).await
            })?;
            eprintln!("tagged {serial}");
            Ok(())
        }
        Cmd::UntagMfa(a) => {
            let (serial, _) = resolve(ctx, &a.device)?;
            let target = a.device.aws.target();
            run_flow(async {
                let c = iam::client(&target).await;
                iam::untag(&c, &serial, &a.keys).await
            })?;
            eprintln!("untagged {serial}");
            Ok(())
        }
        Cmd::ListMfaTags(a) => {
            let (serial, _) = resolve(ctx, &a)?;
            let target = a.aws.target();
            let v = run_flow(async {
                let c = iam::client(&target).await;
                iam::list_tags(&c, &serial).await
            })?;
            print_json(&v)
        }
    }
}

fn enable(ctx: &Ctx, a: EnableArgs) -> Result<()> {
    let req = iam::EnableRequest {
        user: a.user.clone(),
        device_name: a.device_name.clone(),
        path: a.path.clone(),
        totp_name: a.totp_name.clone().unwrap_or_else(|| a.device_name.clone()),
    };
    let mut source = ctx.code_source()?;
    let mut countdown = Countdown::new();
    let mut observe = |n: &str, left: u64| countdown.observe(n, left);
    let mut codes = aws::Codes {
        source: &mut source,
        allow_next: false,
        observe: &mut observe,
    };
    let target = a.aws.target();
    if a.cleanup {
        let r = run_flow(async {
            let c = iam::client(&target).await;
            iam::cleanup(&c, &req, &mut codes).await
        })?;
        match &r.deleted {
            Some(s) => eprintln!("deleted the orphan device {s}"),
            None => eprintln!(
                "no orphan device of {}{} was found",
                req.path, req.device_name
            ),
        }
        if r.removed_entry {
            eprintln!(
                "removed the vault entry '{}' (its device was never enabled)",
                req.totp_name
            );
        }
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    let r = run_flow(async {
        let c = iam::client(&target).await;
        iam::enable_mfa(&c, &req, &mut codes).await
    })?;
    for s in &r.steps {
        eprintln!("{s}");
    }
    eprintln!(
        "MFA device {} is enabled for '{}'; its seed is in the vault as '{}'",
        r.serial, req.user, r.totp_name
    );
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
