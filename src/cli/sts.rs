//! `authsim sts ...`: temporary credentials behind an MFA code, in the shapes the AWS CLI and
//! SDKs read.

use super::Ctx;
use super::cognito::{AwsArgs, run_flow};
use super::totp::Countdown;
use crate::aws;
use crate::aws::{iam, sts};
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};

/// `authsim sts` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// GetSessionToken with a fresh code. `--format credential-process` plugs into
    /// ~/.aws/config as `credential_process = authsim sts session ... --format credential-process`;
    /// `--format env` is for `eval "$(authsim sts session ...)"`.
    Session(SessionArgs),
}

/// Output shapes of `sts session`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// `export AWS_ACCESS_KEY_ID=...` lines.
    Env,
    /// {"AccessKeyId","SecretAccessKey","SessionToken","Expiration"}.
    Json,
    /// The credential_process protocol: the same with "Version": 1.
    CredentialProcess,
}

// Options of `sts session`.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The MFA device's serial number (default: the one recorded for --totp by enable-mfa).
    #[arg(long, value_name = "ARN")]
    serial: Option<String>,
    /// The vault entry that makes the device's codes.
    #[arg(long, value_name = "NAME")]
    totp: String,
    /// Lifetime of the credentials in seconds (900 to 129600; the service default otherwise).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i32).range(900..=129_600))]
    duration: Option<i32>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: FormatArg,
    /// Reuse the credentials of an earlier call while at least 5 minutes of them remain
    /// (kept sealed in the store), so every `aws` command run through credential_process
    /// does not spend a new code.
    #[arg(long)]
    cache: bool,
    /// When this entry's code for the current time step was used already, send the next
    /// step's code at once instead of waiting up to 30 s (for servers that accept a code one
    /// step early, as the stand-in does; a code is still never sent twice).
    #[arg(long)]
    allow_next: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Session(a) => {
            let mut source = ctx.code_source()?;
            let mut countdown = Countdown::new();
            let mut observe = |n: &str, left: u64| countdown.observe(n, left);
            let mut codes = aws::Codes {
                source: &mut source,
                allow_next: a.allow_next,
                observe: &mut observe,
            };
            let serial = match &a.serial {
                Some(s) => s.clone(),
                None => {
                    match iam::load_record(codes.vault()?.store(), &a.totp)?.and_then(|r| r.serial)
                    {
                        Some(s) => s,
                        None => bail!(
                            "give --serial ARN (no IAM device is recorded for the vault entry '{}')",
                            a.totp
                        ),
                    }
                }
            };
            let target = a.aws.target();
            let hit = if a.cache {
                sts::cached(codes.vault()?.store(), &serial, &target)?
            } else {
                None
            };
            let creds = match hit {
                Some(c) => c,
                None => {
                    let c = run_flow(async {
                        let c = sts::client(&target).await;
                        sts::session_token(&c, &serial, &a.totp, a.duration, &mut codes).await
                    })?;
                    if a.cache {
                        sts::cache(codes.vault()?.store_mut(), &serial, &target, &c)?;
                    }
                    c
                }
            };
            let format = match a.format {
                FormatArg::Env => sts::Format::Env,
                FormatArg::Json => sts::Format::Json,
                FormatArg::CredentialProcess => sts::Format::CredentialProcess,
            };
            print!("{}", creds.render(format).as_str());
            Ok(())
        }
    }
}
