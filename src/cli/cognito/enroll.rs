//! `authsim cognito enroll-totp`.

use super::common::{AwsArgs, StdinSecrets, run_flow};
use super::sessions::session_access_token;
use super::sign_in::report_enrollment;
use crate::aws::{self, cognito};
use crate::cli::Ctx;
use crate::cli::totp::Countdown;
use anyhow::Result;
use clap::{ArgGroup, Args};

// Options of `cognito enroll-totp`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("auth").required(true).args(["access_token_stdin", "session"])))]
pub struct EnrollArgs {
    /// Read the user's access token from standard input.
    #[arg(long)]
    access_token_stdin: bool,
    /// Use the access token of a saved session (refreshed first if it is about to expire).
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// The vault entry to create for the new secret.
    #[arg(long, value_name = "VAULT_NAME")]
    name: String,
    /// FriendlyDeviceName for VerifySoftwareToken.
    #[arg(long, value_name = "D")]
    device_name: Option<String>,
    /// Make TOTP the user's preferred MFA.
    #[arg(long)]
    preferred: bool,
    /// Print the otpauth URI as Amplify's getSetupUri(APP, user) builds it (holds the secret).
    #[arg(long, value_name = "APP")]
    print_uri: Option<String>,
    /// Print the outcome as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// When this entry's code for the current time step was used already, send the next
    /// step's code at once instead of waiting up to 30 s (for servers that accept a code one
    /// step early, as the stand-in does; a code is still never sent twice).
    #[arg(long)]
    allow_next: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// `cognito enroll-totp`.
pub(super) fn enroll(ctx: &Ctx, a: EnrollArgs) -> Result<()> {
    crate::vault::check_name(&a.name)?;
    let mut vault = ctx.vault()?;
    let given = a.aws.target();
    let (token, target, pool_id) = match &a.session {
        Some(name) => session_access_token(&mut vault, name, &given)?,
        None => (
            StdinSecrets::new().next("access token")?,
            given.clone(),
            None,
        ),
    };
    let req = cognito::EnrollRequest {
        vault_name: a.name.clone(),
        device_name: a.device_name.clone(),
        preferred: a.preferred,
        issuer: a.print_uri.clone(),
    };
    let mut source = crate::codes::CodeSource::from_vault(vault, &ctx.state_dir()?);
    let mut countdown = Countdown::new();
    let mut observe = |n: &str, left: u64| countdown.observe(n, left);
    let mut codes = aws::Codes {
        source: &mut source,
        allow_next: a.allow_next,
        observe: &mut observe,
    };
    let report = run_flow(async {
        let client = cognito::client(&target, pool_id.as_deref()).await?;
        cognito::enroll_totp(&client, &token, &req, &mut codes).await
    })?;
    report_enrollment(&report);
    if let Some(app) = &a.print_uri {
        let params = codes.vault()?.params(&report.vault_name)?;
        let uri = cognito::setup_uri(app, &report.username, &params.secret);
        eprintln!("warning: this URI holds the secret; anyone who sees it can make codes");
        println!("{}", uri.as_str());
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "Username": report.username,
                "VaultEntry": report.vault_name,
                "UserMFASettingList": report.mfa_settings,
                "PreferredMfaSetting": report.preferred,
                "Resumed": report.resumed,
                "KeptPreviousAs": report.kept_previous_as,
            })
        );
    }
    Ok(())
}
