//! `authsim key ...`: virtual keys' installation-wide material.

use super::Ctx;
use crate::daemon::pki::installation_pki;
use crate::store::{KeySource, Store};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `authsim key` subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Print the installation's attestation CA certificate (PEM), the trust anchor for
    /// "packed" x5c attestation; created on first use.
    AttestationCa {
        /// Also write the certificate in DER form to FILE.
        #[arg(long, value_name = "FILE")]
        der: Option<PathBuf>,
    },
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::AttestationCa { der } => {
            let dir = ctx.state_dir()?;
            let mut store = Store::open(&dir, &KeySource::from_env())?;
            let pki = installation_pki(&mut store)?;
            if let Some(path) = der {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o644)
                    .open(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                f.write_all(pki.ca_certificate_der())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            print!("{}", pki.ca_certificate_pem());
            Ok(())
        }
    }
}
