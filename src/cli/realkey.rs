//! `authsim realkey ...`: real (and uhid-virtual) security keys over hidraw.

use crate::realkey::{self, Device};
use anyhow::Result;
use clap::{Args, Subcommand};

/// `authsim realkey` subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List FIDO security keys (physical, and authsim's uhid keys).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a key says about itself (authenticatorGetInfo).
    Info(DeviceArgs),
    /// Make a key blink, to find it.
    Wink(DeviceArgs),
    /// Wait for a touch on a key (authenticatorSelection).
    Select(DeviceArgs),
}

/// Which key, and how to print.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// hidraw path of the key (default: the only key present).
    #[arg(long, value_name = "PATH")]
    device: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::List { json } => {
            let devs = realkey::list();
            if json {
                println!("{}", serde_json::to_string_pretty(&devs)?);
            } else if devs.is_empty() {
                eprintln!("no FIDO security keys found");
            } else {
                for d in &devs {
                    println!("{}", line(d));
                }
            }
        }
        Cmd::Info(a) => {
            let dev = realkey::choose(a.device.as_deref())?;
            let i = realkey::info(&dev)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                println!("device:     {}", line(&i.device));
                println!("versions:   {}", i.versions.join(", "));
                println!("aaguid:     {}", i.aaguid);
                let opts: Vec<String> = i.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("options:    {}", opts.join(", "));
                let algs: Vec<String> = i.algorithms.iter().map(|(_, a)| alg_name(*a)).collect();
                println!("algorithms: {}", algs.join(", "));
                println!("transports: {}", i.transports.join(", "));
                if !i.extensions.is_empty() {
                    println!("extensions: {}", i.extensions.join(", "));
                }
                println!("max message size: {} bytes", i.max_msg_size);
                println!("firmware:   {}", i.firmware_version);
            }
        }
        Cmd::Wink(a) => {
            let dev = realkey::choose(a.device.as_deref())?;
            realkey::wink(&dev)?;
            eprintln!("winked {}", dev.path);
        }
        Cmd::Select(a) => {
            let dev = realkey::choose(a.device.as_deref())?;
            eprintln!("touch the security key at {} ...", dev.path);
            realkey::select(&dev)?;
            eprintln!("selected {}", dev.path);
        }
    }
    Ok(())
}

fn line(d: &Device) -> String {
    format!(
        "{}  {:04x}:{:04x}  {}",
        d.path, d.vendor_id, d.product_id, d.product
    )
}

/// A COSE algorithm by its name (the number when unnamed here).
fn alg_name(alg: i64) -> String {
    match alg {
        -7 => "ES256".into(),
        -8 => "EdDSA".into(),
        -35 => "ES384".into(),
        -257 => "RS256".into(),
        other => other.to_string(),
    }
}
