//! `authsim cognito sign-in`.

use super::common::{AwsArgs, StdinSecrets, run_flow};
use super::passkeys::KeyArgs;
use crate::aws::{self, cognito};
use crate::cli::Ctx;
use crate::cli::output::printable;
use crate::cli::totp::Countdown;
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

/// InitiateAuth flows offered by sign-in.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlowArg {
    /// USER_SRP_AUTH (needs --pool-id): the password never leaves this machine.
    Srp,
    /// USER_PASSWORD_AUTH: the password is sent to Cognito over TLS.
    Password,
    /// USER_AUTH (choice-based sign-in), answered with the password (PASSWORD_SRP when the
    /// pool id is known, else PASSWORD), with a passkey (--passkey), or as --prefer says.
    UserAuth,
}

/// First factors `--prefer` can ask USER_AUTH for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PreferArg {
    /// PASSWORD: the password itself.
    Password,
    /// PASSWORD_SRP: the password's SRP (needs --pool-id).
    PasswordSrp,
    /// WEB_AUTHN: a passkey on --key / --device (as --passkey).
    WebAuthn,
}

// Options of `cognito sign-in`.
#[derive(Debug, Args)]
pub struct SignInArgs {
    /// The app client id.
    #[arg(long)]
    client_id: String,
    /// Read the app client's secret from standard input (after the passwords).
    #[arg(long)]
    client_secret_stdin: bool,
    /// Username (or an alias such as the email address).
    #[arg(long)]
    username: String,
    /// Read the password from standard input (first line).
    #[arg(long, required_unless_present_any = ["passkey", "prefer"])]
    password_stdin: bool,
    /// Sign in with a passkey instead of the password: USER_AUTH with PREFERRED_CHALLENGE
    /// WEB_AUTHN, the options signed by the WebAuthn client on --key (or --device).
    #[arg(long, conflicts_with_all = ["password_stdin", "new_password_stdin", "prefer"])]
    passkey: bool,
    #[command(flatten)]
    with: KeyArgs,
    /// Read the new password from standard input, for NEW_PASSWORD_REQUIRED (second line).
    #[arg(long)]
    new_password_stdin: bool,
    /// InitiateAuth flow (default: srp; user-auth with --passkey).
    #[arg(long, value_enum)]
    flow: Option<FlowArg>,
    /// The vault entry that answers SOFTWARE_TOKEN_MFA, or receives the new secret in MFA_SETUP.
    #[arg(long, value_name = "NAME")]
    totp: Option<String>,
    /// The user pool id, e.g. us-east-1_AbC123xyz (needed by SRP; also gives the region).
    #[arg(long, value_name = "POOL")]
    pool_id: Option<String>,
    /// With --flow user-auth: ask for this first factor (PREFERRED_CHALLENGE) instead of
    /// answering Cognito's choice.
    #[arg(long, value_enum)]
    prefer: Option<PreferArg>,
    /// Name of this device: FriendlyDeviceName of a TOTP made in MFA_SETUP, and DeviceName of
    /// the device Cognito makes for this sign-in (when the pool tracks devices).
    #[arg(long, value_name = "D")]
    device_name: Option<String>,
    /// Remember this device (ConfirmDevice, then UpdateDeviceStatus remembered): later
    /// sign-ins of this user send its DEVICE_KEY, prove it (DEVICE_SRP_AUTH) and skip MFA
    /// where the pool lets a remembered device stand in for it. Its secrets stay sealed in
    /// the store, per pool and user.
    #[arg(long)]
    remember_device: bool,
    /// Keep the tokens (sealed) in the store under this name instead of printing them.
    #[arg(long, value_name = "NAME")]
    save: Option<String>,
    /// When this entry's code for the current time step was used already, send the next
    /// step's code at once instead of waiting up to 30 s (for servers that accept a code one
    /// step early, as the stand-in does; a code is still never sent twice).
    #[arg(long)]
    allow_next: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The request, with its secrets read from standard input.
fn request(a: &SignInArgs, stdin: &mut StdinSecrets) -> Result<cognito::SignInRequest> {
    let password = if a.password_stdin {
        Some(stdin.next("password")?)
    } else {
        None
    };
    let new_password = if a.new_password_stdin {
        Some(stdin.next("new password")?)
    } else {
        None
    };
    let client_secret = if a.client_secret_stdin {
        Some(stdin.next("app client secret")?)
    } else {
        None
    };
    Ok(cognito::SignInRequest {
        client_id: a.client_id.clone(),
        client_secret,
        username: a.username.clone(),
        password,
        new_password,
        flow: match flow(a) {
            FlowArg::Srp => cognito::Flow::Srp,
            FlowArg::Password => cognito::Flow::Password,
            FlowArg::UserAuth => cognito::Flow::UserAuth,
        },
        preferred: match (a.passkey, a.prefer) {
            (true, _) | (_, Some(PreferArg::WebAuthn)) => Some(cognito::FirstFactor::WebAuthn),
            (_, Some(PreferArg::Password)) => Some(cognito::FirstFactor::Password),
            (_, Some(PreferArg::PasswordSrp)) => Some(cognito::FirstFactor::PasswordSrp),
            (false, None) => None,
        },
        origin: a.with.origin.clone(),
        remember_device: a.remember_device,
        pool_id: a.pool_id.clone(),
        totp: a.totp.clone(),
        device_name: a.device_name.clone(),
    })
}

/// The flow: as given, else USER_AUTH for a passkey and SRP otherwise.
fn flow(a: &SignInArgs) -> FlowArg {
    a.flow.unwrap_or(if a.passkey {
        FlowArg::UserAuth
    } else {
        FlowArg::Srp
    })
}

/// `cognito sign-in`.
pub(super) fn sign_in(ctx: &Ctx, a: SignInArgs) -> Result<()> {
    let user_auth = matches!(flow(&a), FlowArg::UserAuth);
    if a.prefer.is_some() && !user_auth {
        bail!("--prefer goes with --flow user-auth");
    }
    if a.passkey && !user_auth {
        bail!("--passkey signs in with USER_AUTH: leave --flow out (or give --flow user-auth)");
    }
    let with_passkey = a.passkey || matches!(a.prefer, Some(PreferArg::WebAuthn));
    let w = &a.with;
    if !with_passkey && (w.key.is_some() || w.device.is_some() || w.origin.is_some() || w.pin_stdin)
    {
        bail!(
            "--key, --device, --origin and --pin-stdin go with --passkey (or --prefer web-authn)"
        );
    }
    if let Some(n) = &a.save {
        crate::vault::check_name(n)?;
    }
    let mut stdin = StdinSecrets::new();
    let req = request(&a, &mut stdin)?;
    let mut platform = if with_passkey {
        Some(a.with.platform(ctx, &mut stdin)?)
    } else {
        None
    };
    let mut source = ctx.code_source()?;
    let mut countdown = Countdown::new();
    let mut observe = |n: &str, left: u64| countdown.observe(n, left);
    let mut codes = aws::Codes {
        source: &mut source,
        allow_next: a.allow_next,
        observe: &mut observe,
    };
    let target = a.aws.target();
    let (result, region) = run_flow(async {
        let client = cognito::client(&target, a.pool_id.as_deref()).await?;
        let region = client.config().region().map(|r| r.to_string());
        let r = cognito::sign_in(&client, &req, &mut codes, platform.as_mut()).await?;
        Ok((r, region))
    })?;
    let chain = if result.challenges.is_empty() {
        "no challenges".to_string()
    } else {
        result.challenges.join(" → ")
    };
    // The user name and challenge names are the server's words: escaped before they are shown.
    eprintln!(
        "signed in as '{}' ({})",
        printable(&result.username),
        printable(&chain)
    );
    if let Some(e) = &result.enrolled {
        report_enrollment(e);
    }
    report_devices(&result.device);
    match &a.save {
        Some(name) => {
            let meta = cognito::SavedSession::new(
                &a.client_id,
                result.pool_id.as_deref(),
                &result.username,
                &target,
                region,
                &result.tokens,
            );
            save(&mut codes, name, meta, &req, &result)
        }
        None => {
            println!("{}", result.tokens.to_json().as_str());
            Ok(())
        }
    }
}

/// Keep the tokens sealed under `name`.
fn save(
    codes: &mut aws::Codes<'_>,
    name: &str,
    meta: cognito::SavedSession,
    req: &cognito::SignInRequest,
    result: &cognito::SignInResult,
) -> Result<()> {
    let secrets = cognito::SessionSecrets {
        access_token: result.tokens.access_token.to_string(),
        id_token: result.tokens.id_token.as_ref().map(|s| s.to_string()),
        refresh_token: result.tokens.refresh_token.as_ref().map(|s| s.to_string()),
        client_secret: req.client_secret.as_ref().map(|s| s.to_string()),
        device_key: result.device_key.clone(),
    };
    cognito::save_session(codes.vault()?.store_mut(), name, meta, &secrets)?;
    eprintln!(
        "tokens saved (sealed) as '{name}'; the access token lasts {} s (renew: authsim cognito refresh --session {name})",
        result.tokens.expires_in
    );
    Ok(())
}

/// Tell what an enrollment did.
pub(super) fn report_enrollment(e: &cognito::EnrollReport) {
    if let Some(k) = &e.kept_previous_as {
        eprintln!("an unverified secret of an earlier run was kept as '{k}'");
    }
    if e.resumed {
        eprintln!(
            "the secret in '{}' was verified by an earlier run; finished the enrollment",
            e.vault_name
        );
    }
    eprintln!(
        "TOTP enrolled for '{}': secret in the vault as '{}'; MFA settings {:?}, preferred {}",
        printable(&e.username),
        e.vault_name,
        e.mfa_settings,
        printable(e.preferred.as_deref().unwrap_or("none"))
    );
}

/// Tell what happened to this machine's device.
fn report_devices(outcomes: &[cognito::DeviceOutcome]) {
    for o in outcomes {
        match o {
            cognito::DeviceOutcome::Used {
                key,
                remembered_now,
            } => eprintln!(
                "signed in with the remembered device {}{}",
                printable(key),
                if *remembered_now {
                    " (marked remembered)"
                } else {
                    ""
                }
            ),
            cognito::DeviceOutcome::Confirmed { key, remembered } => eprintln!(
                "this device is now {} ({}); its secrets are sealed in the store",
                printable(key),
                if *remembered {
                    "remembered: later sign-ins prove it instead of an MFA code where the pool allows"
                } else {
                    "confirmed, not remembered: give --remember-device to skip MFA with it"
                }
            ),
            cognito::DeviceOutcome::Dropped { key } => eprintln!(
                "Cognito no longer knows the device {}: forgot it here and signed in without it",
                printable(key)
            ),
        }
    }
}
