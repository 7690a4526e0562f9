//! `authsim realkey ...`: real (and uhid-virtual) security keys over hidraw.

use super::output::printable;
use crate::realkey::{self, Device, KeyInfo};
use anyhow::Result;
use clap::{Args, Subcommand};

/// `authsim realkey` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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

// Which key, and how to print.
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
                print!("{}", info_text(&i));
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

/// One device per line. The path and product name come from the device (a USB descriptor), so
/// they are escaped like any text that is not ours.
fn line(d: &Device) -> String {
    format!(
        "{}  {:04x}:{:04x}  {}",
        printable(&d.path),
        d.vendor_id,
        d.product_id,
        printable(&d.product)
    )
}

/// `realkey info` as text. Every string in it is the key's own (its getInfo answer), so each is
/// escaped: a device must not be able to write escape sequences to the terminal.
fn info_text(i: &KeyInfo) -> String {
    let list = |items: &[String]| printable(&items.join(", "));
    let opts: Vec<String> = i.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let algs: Vec<String> = i.algorithms.iter().map(|(_, a)| alg_name(*a)).collect();
    let mut out = format!("device:     {}\n", line(&i.device));
    out += &format!("versions:   {}\n", list(&i.versions));
    out += &format!("aaguid:     {}\n", printable(&i.aaguid));
    out += &format!("options:    {}\n", list(&opts));
    out += &format!("algorithms: {}\n", list(&algs));
    out += &format!("transports: {}\n", list(&i.transports));
    if !i.extensions.is_empty() {
        out += &format!("extensions: {}\n", list(&i.extensions));
    }
    out += &format!("max message size: {} bytes\n", i.max_msg_size);
    out += &format!("firmware:   {}\n", i.firmware_version);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_device_says_is_escaped() {
        let device = Device {
            path: "/dev/hidraw0".to_owned(),
            vendor_id: 0x1209,
            product_id: 1,
            product: "Evil\u{1b}]0;pwned\u{7}Key".to_owned(),
            serial: String::new(),
        };
        assert_eq!(
            line(&device),
            "/dev/hidraw0  1209:0001  Evil\\u{1b}]0;pwned\\u{7}Key"
        );
        let info = KeyInfo {
            device,
            versions: vec!["FIDO_2_0\u{1b}[2J".to_owned()],
            extensions: vec!["hmac-secret\u{9b}31m".to_owned()],
            aaguid: "00000000-0000-0000-0000-000000000000".to_owned(),
            options: vec![("rk\u{7}".to_owned(), true)],
            max_msg_size: 1200,
            pin_uv_auth_protocols: vec![1],
            transports: vec!["usb\u{202e}".to_owned()],
            algorithms: vec![("public-key\u{0}".to_owned(), -7)],
            firmware_version: 1,
            remaining_discoverable_credentials: 0,
        };
        let text = info_text(&info);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("versions:   FIDO_2_0\\u{1b}[2J\n"), "{text}");
        assert!(text.contains("options:    rk\\u{7}=true\n"), "{text}");
    }
}
