//! `authsim cognito device list|forget|status` and `authsim cognito auth-factors`: what a saved
//! session's user has, on the Cognito side and here.

use super::common::{AwsArgs, run_flow};
use super::sessions::session_access_token;
use crate::aws::cognito;
use crate::cli::Ctx;
use crate::cli::output::{Table, print_json, printable};
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};

/// `authsim cognito device` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum DeviceCmd {
    /// List the user's remembered devices (ListDevices); the one this machine is, marked.
    List(ListArgs),
    /// Forget a device (ForgetDevice; default: this machine's), and its secrets here.
    Forget(ForgetArgs),
    /// Mark a device remembered or not (UpdateDeviceStatus).
    Status(StatusArgs),
}

// The saved session whose user the command is about.
#[derive(Debug, Args)]
pub struct SessionArg {
    /// The saved session (its access token is refreshed first if it is about to expire).
    #[arg(long, value_name = "NAME")]
    session: String,
    #[command(flatten)]
    aws: AwsArgs,
}

// Options of `cognito device list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    who: SessionArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

// Options of `cognito device forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    who: SessionArg,
    /// The device key (default: the device this machine is for the session's user).
    device_key: Option<String>,
}

/// Remembered status.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// `remembered`: the device stands in for MFA where the pool allows.
    Remembered,
    /// `not_remembered`: the device is still tracked, but MFA is asked again.
    NotRemembered,
}

// Options of `cognito device status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    who: SessionArg,
    /// The device key.
    device_key: String,
    /// The new status.
    #[arg(value_enum)]
    status: StatusArg,
}

// Options of `cognito auth-factors`.
#[derive(Debug, Args)]
pub struct AuthFactorsArgs {
    #[command(flatten)]
    who: SessionArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What every device command starts from: the session's access token, target, pool and user,
/// and the device this machine is for that user (if any).
struct Who {
    token: zeroize::Zeroizing<String>,
    target: crate::aws::Target,
    pool_id: Option<String>,
    username: String,
    local: Option<String>,
}

fn who(ctx: &Ctx, a: &SessionArg) -> Result<Who> {
    let mut vault = ctx.vault()?;
    let (token, target, pool_id) = session_access_token(&mut vault, &a.session, &a.aws.target())?;
    let (meta, _) = cognito::load_session(vault.store(), &a.session)?;
    let pool_id = pool_id.or_else(|| cognito::devices::token_pool(&token));
    let local = match &pool_id {
        Some(p) => cognito::devices::load(vault.store(), p, &meta.username)?.map(|d| d.key.clone()),
        None => None,
    };
    Ok(Who {
        token,
        target,
        pool_id,
        username: meta.username,
        local,
    })
}

/// `cognito device ...`.
pub(super) fn run(ctx: &Ctx, cmd: DeviceCmd) -> Result<()> {
    match cmd {
        DeviceCmd::List(a) => list(ctx, a),
        DeviceCmd::Forget(a) => forget(ctx, a),
        DeviceCmd::Status(a) => status(ctx, a),
    }
}

fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let w = who(ctx, &a.who)?;
    let devices = run_flow(async {
        let client = cognito::client(&w.target, w.pool_id.as_deref()).await?;
        cognito::devices::list(&client, &w.token).await
    })?;
    if a.json {
        let list: Vec<_> = devices
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                v["this_device"] = serde_json::json!(w.local.as_deref() == Some(d.key.as_str()));
                v
            })
            .collect();
        return print_json(&list);
    }
    if devices.is_empty() {
        eprintln!("'{}' has no remembered devices", printable(&w.username));
        return Ok(());
    }
    let mut t = Table::new(vec!["DEVICE KEY", "NAME", "STATUS", "LAST SIGN-IN", ""]);
    for d in &devices {
        let mine = if w.local.as_deref() == Some(d.key.as_str()) {
            "this device"
        } else {
            ""
        };
        t.row(vec![
            d.key.clone(),
            d.name.clone().unwrap_or_default(),
            d.status.clone().unwrap_or_default(),
            d.last_authenticated.map(utc).unwrap_or_default(),
            mine.to_string(),
        ]);
    }
    t.print();
    Ok(())
}

fn forget(ctx: &Ctx, a: ForgetArgs) -> Result<()> {
    let w = who(ctx, &a.who)?;
    let Some(key) = a.device_key.clone().or(w.local.clone()) else {
        bail!(
            "this machine keeps no device for '{}'; give the DEVICE_KEY to forget (see `authsim cognito device list`)",
            w.username
        );
    };
    run_flow(async {
        let client = cognito::client(&w.target, w.pool_id.as_deref()).await?;
        cognito::devices::forget(&client, &w.token, &key).await
    })?;
    eprintln!("Cognito forgot the device {}", printable(&key));
    if w.local.as_deref() == Some(key.as_str())
        && let Some(pool) = &w.pool_id
    {
        let mut vault = ctx.vault()?;
        cognito::devices::remove(vault.store_mut(), pool, &w.username)?;
        eprintln!("removed its secrets here; the next sign-in asks for MFA again");
    }
    Ok(())
}

fn status(ctx: &Ctx, a: StatusArgs) -> Result<()> {
    let w = who(ctx, &a.who)?;
    let remembered = matches!(a.status, StatusArg::Remembered);
    run_flow(async {
        let client = cognito::client(&w.target, w.pool_id.as_deref()).await?;
        let redact = crate::aws::Redactor::default();
        cognito::devices::set_status(&client, &w.token, &a.device_key, remembered, &redact).await
    })?;
    eprintln!(
        "the device {} is now {}",
        a.device_key,
        if remembered {
            "remembered"
        } else {
            "not remembered"
        }
    );
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn utc(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&fmt).unwrap_or_default()
}

/// `cognito auth-factors`.
pub(super) fn auth_factors(ctx: &Ctx, a: AuthFactorsArgs) -> Result<()> {
    let w = who(ctx, &a.who)?;
    let f = run_flow(async {
        let client = cognito::client(&w.target, w.pool_id.as_deref()).await?;
        cognito::auth_factors(&client, &w.token).await
    })?;
    if a.json {
        return print_json(&f);
    }
    // What the server says is escaped before the terminal.
    println!("user:          {}", printable(&f.username));
    println!("sign-in with:  {}", printable(&f.configured.join(", ")));
    println!(
        "MFA:           {}{}",
        if f.mfa.is_empty() {
            "none".to_string()
        } else {
            printable(&f.mfa.join(", "))
        },
        f.preferred_mfa
            .as_deref()
            .map(|p| format!(" (preferred {})", printable(p)))
            .unwrap_or_default()
    );
    Ok(())
}
