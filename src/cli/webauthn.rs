//! `authsim webauthn ...`: the browser's part, headless. Options JSON in on standard input,
//! response JSON out on standard output, against a key of the running daemon (`--key`, found
//! through the control API) or a hidraw node (`--device`: a real key, or a uhid key).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;
use zeroize::Zeroizing;

use super::Ctx;
use crate::api::client;
use crate::api::types::KeyInfo;
use crate::fido::ctap2::Authenticator;
use crate::fido::device::{Hidraw, Udp, UnixSocket};
use crate::fido::hid::{CtapHid, HidIo, Progress};
use crate::webauthn;

/// `authsim webauthn` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// navigator.credentials.create(): PublicKeyCredentialCreationOptionsJSON on standard
    /// input, RegistrationResponseJSON on standard output.
    Register(CeremonyArgs),
    /// navigator.credentials.get(): PublicKeyCredentialRequestOptionsJSON on standard input,
    /// AuthenticationResponseJSON on standard output.
    Authenticate(CeremonyArgs),
    /// Keep a daemon key's PIN sealed in the store, for ceremonies that need user verification.
    #[command(subcommand)]
    Pin(PinCmd),
}

// Where and for whom a ceremony runs.
#[derive(Debug, Args)]
pub struct CeremonyArgs {
    /// The page's origin (https://example.com; http only for localhost).
    #[arg(long)]
    origin: String,
    /// A key of the running daemon, by name.
    #[arg(long, value_name = "NAME", conflicts_with = "device")]
    key: Option<String>,
    /// A hidraw node: a real security key, or a virtual key on /dev/uhid.
    #[arg(long, value_name = "HIDRAW")]
    device: Option<PathBuf>,
    /// Read the key's PIN from the first line of standard input (the options follow it).
    #[arg(long)]
    pin_stdin: bool,
}

/// `authsim webauthn pin` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum PinCmd {
    /// Save a key's PIN (read from standard input, or prompted for on a terminal).
    Save {
        /// The daemon key.
        #[arg(long, value_name = "NAME", default_value = "default")]
        key: String,
    },
    /// Forget a key's saved PIN.
    Forget {
        /// The daemon key.
        #[arg(long, value_name = "NAME", default_value = "default")]
        key: String,
    },
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Register(a) => ceremony(ctx, a, Kind::Create),
        Cmd::Authenticate(a) => ceremony(ctx, a, Kind::Get),
        Cmd::Pin(PinCmd::Save { key }) => {
            let mut secrets = super::cognito::common::StdinSecrets::new();
            let pin = secrets.next("PIN")?;
            firmware_sim::check_pin(&pin).map_err(|e| anyhow!("the PIN: {e}"))?;
            let mut vault = ctx.vault()?;
            webauthn::pins::save(vault.store_mut(), &key, &pin)?;
            eprintln!("saved the PIN of key {key:?} (sealed in the store)");
            Ok(())
        }
        Cmd::Pin(PinCmd::Forget { key }) => {
            let mut vault = ctx.vault()?;
            if webauthn::pins::forget(vault.store_mut(), &key)? {
                eprintln!("forgot the PIN of key {key:?}");
            } else {
                eprintln!("no PIN was saved for key {key:?}");
            }
            Ok(())
        }
    }
}

/// Which ceremony a command runs.
#[derive(Clone, Copy)]
enum Kind {
    Create,
    Get,
}

fn ceremony(ctx: &Ctx, a: CeremonyArgs, kind: Kind) -> Result<()> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the options from standard input")?;
    let (pin, options) = if a.pin_stdin {
        let (first, rest) = input.split_once('\n').unwrap_or((input.as_str(), ""));
        let pin = Zeroizing::new(first.trim_end_matches('\r').to_owned());
        if pin.is_empty() {
            bail!("--pin-stdin: the first line of standard input must be the PIN");
        }
        (Some(pin), rest.to_owned())
    } else {
        (None, input.to_string())
    };
    let options: Value = serde_json::from_str(&options).context(
        "standard input is not JSON options (PublicKeyCredentialCreationOptionsJSON or RequestOptionsJSON)",
    )?;
    let mut platform = platform(ctx, a.key.as_deref(), a.device.as_deref(), pin)?;
    let response = match kind {
        Kind::Create => platform.create(&a.origin, &options),
        Kind::Get => platform.get(&a.origin, &options),
    }
    .map_err(|e| anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

/// The WebAuthn client over a hidraw node (`device`) or a key of the running daemon (`key`,
/// default `default`), verifying the user with `pin`, else with the PIN saved for that daemon
/// key. Every command that plays the browser (webauthn, cognito passkey) opens its key here.
pub(crate) fn platform(
    ctx: &Ctx,
    key: Option<&str>,
    device: Option<&Path>,
    pin: Option<Zeroizing<String>>,
) -> Result<webauthn::Platform> {
    if let Some(path) = device {
        return Ok(webauthn::Platform::new(
            open(Box::new(open_hidraw(path)?))?,
            pin,
        ));
    }
    let name = key.unwrap_or("default");
    let authenticator = open(daemon_key(ctx, name)?)?;
    let pin = pin.or_else(|| {
        ctx.vault()
            .ok()
            .and_then(|v| webauthn::pins::saved(v.store(), name).ok().flatten())
    });
    Ok(webauthn::Platform::new(authenticator, pin))
}

/// A CTAPHID channel on `io`; a touch asked for is told on stderr once.
fn open(io: Box<dyn HidIo>) -> Result<Authenticator> {
    let hid = CtapHid::open(io)?;
    let mut key = Authenticator::new(hid);
    let mut told = false;
    key.on_progress(move |p| {
        if p == Progress::UserPresenceNeeded && !told {
            told = true;
            eprintln!("- touch your security key");
        }
    });
    Ok(key)
}

fn open_hidraw(path: &Path) -> Result<Hidraw> {
    Hidraw::open(path).with_context(|| {
        format!(
            "opening {} (see `authsim realkey list`; the udev rule in udev/ gives your user the node)",
            path.display()
        )
    })
}

/// A daemon key's transport, from the control API: its socket, UDP address or uhid node.
fn daemon_key(ctx: &Ctx, name: &str) -> Result<Box<dyn HidIo>> {
    let socket = ctx.api_socket()?;
    let path = format!(
        "/webauthn/authenticator/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    );
    let answer = client::request_blocking(&socket, Method::GET, &path, None::<&()>)?;
    if !answer.status.is_success() {
        bail!("{}", answer.error_message());
    }
    let info: KeyInfo =
        serde_json::from_slice(&answer.body).context("the daemon's answer did not parse")?;
    let l = &info.listening;
    if let Some(sock) = &l.hid_socket {
        return Ok(Box::new(UnixSocket::connect(sock).with_context(|| {
            format!("connecting to key {name:?} on {}", sock.display())
        })?));
    }
    if let Some(addr) = l.hid_udp {
        return Ok(Box::new(
            Udp::connect(addr).with_context(|| format!("key {name:?} on udp {addr}"))?,
        ));
    }
    if let Some(uniq) = &l.uhid {
        let node = crate::fido::sysfs::find_by_serial(uniq)
            .ok_or_else(|| anyhow!("key {name:?} is on /dev/uhid, but no hidraw node has serial {uniq:?} (is hid-generic loaded?)"))?;
        return Ok(Box::new(open_hidraw(&node)?));
    }
    bail!("key {name:?} listens on no transport this client can open")
}
