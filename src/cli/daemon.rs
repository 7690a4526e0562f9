//! `authsim daemon`: serve a virtual key over the userspace transports until SIGTERM/SIGINT.

use super::Ctx;
use crate::daemon::{DaemonConfig, Listening, env::PresencePolicy};
use crate::store::KeySource;
use anyhow::Result;
use clap::{Args as ClapArgs, ValueEnum};
use firmware_sim::AttestationMode;
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

/// Options of `authsim daemon`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Serve the key on this Unix socket (64-byte reports both ways).
    #[arg(long, value_name = "PATH")]
    hid_socket: Option<PathBuf>,
    /// Serve the key on this loopback UDP address (one report per datagram; port 0 picks one).
    #[arg(long, value_name = "127.0.0.1:PORT")]
    hid_udp: Option<SocketAddr>,
    /// How requests for a touch are answered.
    #[arg(long, value_enum, default_value = "auto")]
    presence: Presence,
    /// Attestation of new credentials.
    #[arg(long, value_enum, default_value = "x5c")]
    attestation: Attestation,
    /// The virtual key's name (each name is a separate key with its own credentials).
    #[arg(long, default_value = "default")]
    key: String,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let config = DaemonConfig {
        state_dir: ctx.state_dir()?,
        key_source: KeySource::from_env(),
        key_name: args.key,
        presence: match args.presence {
            Presence::Auto => PresencePolicy::Auto,
            Presence::Deny => PresencePolicy::Deny,
        },
        attestation: match args.attestation {
            Attestation::None => AttestationMode::None,
            Attestation::SelfSigned => AttestationMode::SelfAttestation,
            Attestation::X5c => AttestationMode::Batch,
        },
        hid_socket: args.hid_socket,
        hid_udp: args.hid_udp,
    };
    let mut ready = |l: &Listening| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready: {l}");
        let _ = out.flush();
    };
    crate::daemon::run(config, &mut ready)?;
    Ok(())
}
