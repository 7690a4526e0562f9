//! `authsim cognito ...`: sign in to a Cognito user pool (SRP or password, with TOTP MFA and
//! MFA setup), enroll a TOTP authenticator, refresh and keep sessions.
//!
//! Also home of what the AWS command groups share: `--endpoint-url/--region/--profile`, the
//! vault as the flows' code source, and reading secrets from standard input.

use super::Ctx;
use super::totp::Countdown;
use crate::aws::{self, AwsError, Target, cognito};
use crate::vault::Vault;
use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use std::io::{IsTerminal, Read};
use zeroize::Zeroizing;

/// The AWS CLI's global options, on every AWS command.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct AwsArgs {
    /// Send requests to this URL instead of the service's public endpoint (e.g. a local
    /// stand-in); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Named profile from ~/.aws/config (default: AWS_PROFILE or "default").
    #[arg(long)]
    pub(crate) profile: Option<String>,
}

impl AwsArgs {
    pub(crate) fn target(&self) -> Target {
        Target {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

/// Secrets given with `--...-stdin` flags: read from standard input one per line, in the
/// order the command documents; on a terminal each is prompted for without echo.
pub(crate) struct StdinSecrets {
    lines: Option<std::vec::IntoIter<Zeroizing<String>>>,
}

impl StdinSecrets {
    pub(crate) fn new() -> StdinSecrets {
        StdinSecrets { lines: None }
    }

    /// The next secret; `what` names it in the prompt and in errors.
    pub(crate) fn next(&mut self, what: &str) -> Result<Zeroizing<String>> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            let v = Zeroizing::new(
                rpassword::prompt_password(format!("{what}: "))
                    .with_context(|| format!("reading the {what} from the terminal"))?,
            );
            if v.is_empty() {
                bail!("no {what} was typed");
            }
            return Ok(v);
        }
        if self.lines.is_none() {
            let mut all = Zeroizing::new(String::new());
            stdin
                .lock()
                .read_to_string(&mut all)
                .context("reading standard input")?;
            let lines: Vec<Zeroizing<String>> = all
                .lines()
                .map(|l| Zeroizing::new(l.trim_end_matches('\r').to_string()))
                .collect();
            self.lines = Some(lines.into_iter());
        }
        match self.lines.as_mut().and_then(Iterator::next) {
            Some(v) if !v.is_empty() => Ok(v),
            Some(_) => bail!("the {what} line on standard input is empty"),
            None => bail!("standard input ended before the {what} (one secret per line)"),
        }
    }
}

/// Run an AWS flow and turn its error into one anyhow error with the full message.
pub(crate) fn run_flow<T>(
    fut: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T> {
    aws::run(fut).map_err(anyhow::Error::from)
}

/// `authsim cognito` subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Sign in (SRP or password) and answer Cognito's challenges: new password, TOTP code,
    /// MFA type, MFA setup. Prints the tokens as JSON, or keeps them sealed with --save.
    ///
    /// Secrets come from standard input, one per line, in this order: the password, the new
    /// password (--new-password-stdin), the app client secret (--client-secret-stdin).
    SignIn(SignInArgs),
    /// Enroll a TOTP authenticator: AssociateSoftwareToken, secret into the vault,
    /// VerifySoftwareToken, SetUserMFAPreference, then GetUser to confirm.
    EnrollTotp(EnrollArgs),
    /// New access and ID tokens from the refresh token (REFRESH_TOKEN_AUTH).
    ///
    /// Without --session, secrets come from standard input, one per line: the refresh
    /// token, then the app client secret (--client-secret-stdin).
    Refresh(RefreshArgs),
    /// Print one token of a saved session (a secret: for pipes).
    Token(TokenArgs),
    /// List saved sessions (no secrets).
    Sessions(super::output::JsonFlag),
    /// Remove a saved session.
    Forget {
        /// The session's name.
        name: String,
    },
}

/// InitiateAuth flows offered by sign-in.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlowArg {
    /// USER_SRP_AUTH (needs --pool-id): the password never leaves this machine.
    Srp,
    /// USER_PASSWORD_AUTH: the password is sent to Cognito over TLS.
    Password,
}

/// Options of `cognito sign-in`.
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
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Read the new password from standard input, for NEW_PASSWORD_REQUIRED (second line).
    #[arg(long)]
    new_password_stdin: bool,
    /// InitiateAuth flow.
    #[arg(long, value_enum, default_value = "srp")]
    flow: FlowArg,
    /// The vault entry that answers SOFTWARE_TOKEN_MFA, or receives the new secret in MFA_SETUP.
    #[arg(long, value_name = "NAME")]
    totp: Option<String>,
    /// The user pool id, e.g. us-east-1_AbC123xyz (needed by SRP; also gives the region).
    #[arg(long, value_name = "POOL")]
    pool_id: Option<String>,
    /// FriendlyDeviceName of the authenticator made in MFA_SETUP.
    #[arg(long, value_name = "D")]
    device_name: Option<String>,
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

/// Options of `cognito enroll-totp`.
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

/// Options of `cognito refresh`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["session", "refresh_token_stdin"])))]
pub struct RefreshArgs {
    /// Refresh a saved session and save the new tokens in it.
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Print the new tokens as JSON (always so without --session).
    #[arg(long)]
    print: bool,
    /// Read a refresh token from standard input (first line).
    #[arg(long, requires = "client_id")]
    refresh_token_stdin: bool,
    /// The app client id (with --refresh-token-stdin).
    #[arg(long)]
    client_id: Option<String>,
    /// Read the app client secret from standard input (second line).
    #[arg(long, requires = "refresh_token_stdin")]
    client_secret_stdin: bool,
    /// Username for the SECRET_HASH (default: the token's own username claim).
    #[arg(long)]
    username: Option<String>,
    /// The user pool id (gives the region).
    #[arg(long, value_name = "POOL")]
    pool_id: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Which token `cognito token` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenKind {
    /// The access token.
    Access,
    /// The ID token.
    Id,
    /// The refresh token.
    Refresh,
}

/// Options of `cognito token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The saved session.
    name: String,
    /// Which token.
    #[arg(long, value_enum, default_value = "access")]
    kind: TokenKind,
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::SignIn(a) => sign_in(ctx, a),
        Cmd::EnrollTotp(a) => enroll(ctx, a),
        Cmd::Refresh(a) => refresh(ctx, a),
        Cmd::Token(a) => {
            let vault = ctx.vault()?;
            let (_, secrets) = cognito::load_session(vault.store(), &a.name)?;
            let t = match a.kind {
                TokenKind::Access => Some(secrets.access_token.clone()),
                TokenKind::Id => secrets.id_token.clone(),
                TokenKind::Refresh => secrets.refresh_token.clone(),
            };
            match t {
                Some(t) => {
                    let t = Zeroizing::new(t);
                    println!("{}", t.as_str());
                    Ok(())
                }
                None => bail!("the session '{}' holds no {:?} token", a.name, a.kind),
            }
        }
        Cmd::Sessions(out) => {
            let vault = ctx.vault()?;
            let now = crate::clock::now_unix();
            let list: Vec<_> = cognito::list_sessions(vault.store())?
                .into_iter()
                .map(|(name, s)| {
                    serde_json::json!({
                        "name": name,
                        "username": s.username,
                        "client_id": s.client_id,
                        "pool_id": s.pool_id,
                        "region": s.region,
                        "endpoint_url": s.endpoint_url,
                        "saved_at": s.saved_at,
                        "expires_at": s.expires_at,
                        "expired": s.expires_at <= now,
                    })
                })
                .collect();
            if out.json {
                return super::output::print_json(&list);
            }
            if list.is_empty() {
                eprintln!("no saved sessions (authsim cognito sign-in ... --save NAME)");
                return Ok(());
            }
            let mut t = super::output::Table::new(vec!["NAME", "USER", "POOL", "EXPIRES"]);
            for s in &list {
                let text = |k: &str| s[k].as_str().unwrap_or("").to_owned();
                let expires = if s["expired"].as_bool() == Some(true) {
                    "expired".to_owned()
                } else {
                    format!(
                        "in {} s",
                        s["expires_at"].as_u64().unwrap_or(0).saturating_sub(now)
                    )
                };
                t.row(vec![
                    text("name"),
                    text("username"),
                    text("pool_id"),
                    expires,
                ]);
            }
            t.print();
            Ok(())
        }
        Cmd::Forget { name } => {
            let mut vault = ctx.vault()?;
            if cognito::remove_session(vault.store_mut(), &name)? {
                eprintln!("forgot the session '{name}'");
                Ok(())
            } else {
                bail!("no saved Cognito session named '{name}'")
            }
        }
    }
}

fn sign_in(ctx: &Ctx, a: SignInArgs) -> Result<()> {
    if let Some(n) = &a.save {
        crate::vault::check_name(n)?;
    }
    let mut stdin = StdinSecrets::new();
    let password = stdin.next("password")?;
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
    let req = cognito::SignInRequest {
        client_id: a.client_id.clone(),
        client_secret,
        username: a.username.clone(),
        password,
        new_password,
        flow: match a.flow {
            FlowArg::Srp => cognito::Flow::Srp,
            FlowArg::Password => cognito::Flow::Password,
        },
        pool_id: a.pool_id.clone(),
        totp: a.totp.clone(),
        device_name: a.device_name.clone(),
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
        let r = cognito::sign_in(&client, &req, &mut codes).await?;
        Ok((r, region))
    })?;
    let chain = if result.challenges.is_empty() {
        "no challenges".to_string()
    } else {
        result.challenges.join(" → ")
    };
    eprintln!("signed in as '{}' ({chain})", result.username);
    if let Some(e) = &result.enrolled {
        report_enrollment(e);
    }
    match &a.save {
        Some(name) => {
            let meta = cognito::SavedSession::new(
                &a.client_id,
                a.pool_id.as_deref(),
                &result.username,
                &target,
                region,
                &result.tokens,
            );
            let secrets = cognito::SessionSecrets {
                access_token: result.tokens.access_token.to_string(),
                id_token: result.tokens.id_token.as_ref().map(|s| s.to_string()),
                refresh_token: result.tokens.refresh_token.as_ref().map(|s| s.to_string()),
                client_secret: req.client_secret.as_ref().map(|s| s.to_string()),
            };
            cognito::save_session(codes.vault()?.store_mut(), name, meta, &secrets)?;
            eprintln!(
                "tokens saved (sealed) as '{name}'; the access token lasts {} s (renew: authsim cognito refresh --session {name})",
                result.tokens.expires_in
            );
        }
        None => println!("{}", result.tokens.to_json().as_str()),
    }
    Ok(())
}

fn report_enrollment(e: &cognito::EnrollReport) {
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
        e.username,
        e.vault_name,
        e.mfa_settings,
        e.preferred.as_deref().unwrap_or("none")
    );
}

/// The access token of a saved session, refreshed (and re-saved) when it expires within a
/// minute.
fn session_access_token(
    vault: &mut Vault,
    name: &str,
    given: &Target,
) -> Result<(Zeroizing<String>, Target, Option<String>)> {
    let (meta, secrets) = cognito::load_session(vault.store(), name)?;
    let target = meta.target(given);
    if meta.expires_at > crate::clock::now_unix() + 60 {
        return Ok((
            Zeroizing::new(secrets.access_token.clone()),
            target,
            meta.pool_id.clone(),
        ));
    }
    let Some(rt) = secrets.refresh_token.clone() else {
        bail!("the saved session '{name}' has expired and holds no refresh token; sign in again");
    };
    let rt = Zeroizing::new(rt);
    let secret = secrets.client_secret.clone().map(Zeroizing::new);
    let user = cognito::jwt_claim(&secrets.access_token, "username")
        .unwrap_or_else(|| meta.username.clone());
    let tokens = run_flow(async {
        let client = cognito::client(&target, meta.pool_id.as_deref()).await?;
        cognito::refresh(&client, &meta.client_id, secret.as_ref(), &user, &rt).await
    })
    .with_context(|| format!("refreshing the expired session '{name}'"))?;
    let new = store_refreshed(vault, name, &meta, &secrets, &tokens)?;
    eprintln!("refreshed the session '{name}'");
    Ok((new, target, meta.pool_id.clone()))
}

fn store_refreshed(
    vault: &mut Vault,
    name: &str,
    meta: &cognito::SavedSession,
    old: &cognito::SessionSecrets,
    tokens: &cognito::Tokens,
) -> Result<Zeroizing<String>> {
    let mut new_meta = meta.clone();
    new_meta.saved_at = crate::clock::now_unix();
    new_meta.expires_at = new_meta
        .saved_at
        .saturating_add(tokens.expires_in.max(0) as u64);
    let secrets = cognito::SessionSecrets {
        access_token: tokens.access_token.to_string(),
        id_token: tokens
            .id_token
            .as_ref()
            .map(|s| s.to_string())
            .or(old.id_token.clone()),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|s| s.to_string())
            .or(old.refresh_token.clone()),
        client_secret: old.client_secret.clone(),
    };
    cognito::save_session(vault.store_mut(), name, new_meta, &secrets)?;
    Ok(tokens.access_token.clone())
}

fn enroll(ctx: &Ctx, a: EnrollArgs) -> Result<()> {
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

fn refresh(ctx: &Ctx, a: RefreshArgs) -> Result<()> {
    let given = a.aws.target();
    if let Some(name) = &a.session {
        let mut vault = ctx.vault()?;
        let (meta, secrets) = cognito::load_session(vault.store(), name)?;
        let Some(rt) = secrets.refresh_token.clone() else {
            bail!("the saved session '{name}' holds no refresh token; sign in again");
        };
        let rt = Zeroizing::new(rt);
        let target = meta.target(&given);
        let secret = secrets.client_secret.clone().map(Zeroizing::new);
        let user = a
            .username
            .clone()
            .or_else(|| cognito::jwt_claim(&secrets.access_token, "username"))
            .unwrap_or_else(|| meta.username.clone());
        let tokens = run_flow(async {
            let client = cognito::client(&target, meta.pool_id.as_deref()).await?;
            cognito::refresh(&client, &meta.client_id, secret.as_ref(), &user, &rt).await
        })?;
        store_refreshed(&mut vault, name, &meta, &secrets, &tokens)?;
        eprintln!(
            "refreshed '{name}'; the access token lasts {} s",
            tokens.expires_in
        );
        if a.print {
            println!("{}", tokens.to_json().as_str());
        }
        return Ok(());
    }
    let client_id = a
        .client_id
        .clone()
        .context("--refresh-token-stdin needs --client-id")?;
    let mut stdin = StdinSecrets::new();
    let rt = stdin.next("refresh token")?;
    let secret = if a.client_secret_stdin {
        Some(stdin.next("app client secret")?)
    } else {
        None
    };
    if secret.is_some() && a.username.is_none() {
        bail!("with --client-secret-stdin, give --username (the SECRET_HASH is made over it)");
    }
    let user = a.username.clone().unwrap_or_default();
    let tokens = run_flow(async {
        let client = cognito::client(&given, a.pool_id.as_deref()).await?;
        cognito::refresh(&client, &client_id, secret.as_ref(), &user, &rt).await
    })?;
    println!("{}", tokens.to_json().as_str());
    Ok(())
}
