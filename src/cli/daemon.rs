//! `authsim daemon`: the virtual keys and the control API, until SIGTERM/SIGINT.

use super::Ctx;
use crate::daemon::keys::{AttestationName, KeySpec};
use crate::daemon::presence::PresencePolicy;
use crate::daemon::{DaemonConfig, Ready, UhidMode};
use crate::store::KeySource;
use anyhow::Result;
use clap::{Args as ClapArgs, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How requests for a touch are answered.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Presence {
    /// Approve every request at once.
    Auto,
    /// Refuse every request at once.
    Deny,
    /// Wait for approval over the control API (authsim key approve).
    Manual,
}

/// The attestation statement of new credentials.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Attestation {
    /// fmt "none".
    None,
    /// fmt "packed", self attestation (signed by the credential's own key).
    #[value(name = "self")]
    SelfSigned,
    /// fmt "packed" with the batch certificate in x5c, issued by the installation's CA.
    X5c,
}

impl Presence {
    /// The daemon's policy of that name.
    pub fn policy(self) -> PresencePolicy {
        match self {
            Presence::Auto => PresencePolicy::Auto,
            Presence::Deny => PresencePolicy::Deny,
            Presence::Manual => PresencePolicy::Manual,
        }
    }
}

impl Attestation {
    /// The key spec's attestation of that name.
    pub fn name(self) -> AttestationName {
        match self {
            Attestation::None => AttestationName::None,
            Attestation::SelfSigned => AttestationName::SelfSigned,
            Attestation::X5c => AttestationName::X5c,
        }
    }
}

// Options of `authsim daemon`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Serve the default key on this Unix socket too (64-byte reports both ways).
    #[arg(long, value_name = "PATH")]
    hid_socket: Option<PathBuf>,
    /// Serve the default key on this loopback UDP address too (one report per datagram; port 0
    /// picks one).
    #[arg(long, value_name = "127.0.0.1:PORT")]
    hid_udp: Option<SocketAddr>,
    /// Do not put the default key on /dev/uhid even when it is usable.
    #[arg(long)]
    no_uhid: bool,
    /// How the default key answers requests for a touch.
    #[arg(long, value_enum, default_value = "auto")]
    presence: Presence,
    /// Attestation of the default key's new credentials.
    #[arg(long, value_enum, default_value = "x5c")]
    attestation: Attestation,
    /// The default key's name (each name is a separate key with its own credentials).
    #[arg(long, default_value = "default")]
    key: String,
    /// The control API's Unix socket (default: api.sock in $XDG_RUNTIME_DIR/authsim for the
    /// default state directory, else in the state directory).
    #[arg(long, value_name = "PATH", env = crate::paths::API_SOCKET_ENV)]
    api_socket: Option<PathBuf>,
    /// Also serve the control API on this loopback TCP address, behind a bearer token.
    #[arg(long, value_name = "127.0.0.1:PORT")]
    api_tcp: Option<SocketAddr>,
    /// Where the TCP API's token is written (mode 0600; default: api.token beside the socket).
    #[arg(long, value_name = "FILE", requires = "api_tcp")]
    api_token_file: Option<PathBuf>,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let state_dir = ctx.state_dir()?;
    let run_dir = crate::paths::run_dir(&state_dir, ctx.state_dir_is_default());
    let mut default_key = KeySpec::with_defaults(&args.key);
    default_key.presence = args.presence.policy();
    default_key.attestation = args.attestation.name();
    default_key.hid_socket = args.hid_socket;
    default_key.hid_udp = args.hid_udp;
    default_key.validate()?;
    // Every argument is checked before anything is started or announced.
    if let Some(a) = args.api_tcp
        && !a.ip().is_loopback()
    {
        anyhow::bail!(crate::api::server::ListenError::NotLoopback(a));
    }
    let api_socket = args.api_socket.unwrap_or_else(|| run_dir.join("api.sock"));
    let api_tcp = args.api_tcp.map(|a| {
        let file = args
            .api_token_file
            .clone()
            .unwrap_or_else(|| run_dir.join("api.token"));
        (a, file)
    });
    let config = DaemonConfig {
        state_dir,
        key_source: KeySource::from_env(),
        default_key,
        uhid: if args.no_uhid {
            UhidMode::Off
        } else {
            UhidMode::Auto
        },
        run_dir,
    };
    let api = crate::api::server::Listeners {
        unix: api_socket,
        tcp: api_tcp,
    };
    let mut ready = |r: &Ready| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{r}");
        let _ = out.flush();
    };
    crate::daemon::run(config, api, &mut ready)?;
    Ok(())
}
