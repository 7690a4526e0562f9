//! `authsim cognito passkey register|list|delete`: a saved session's user's passkeys, made on a
//! key of the daemon (or a hidraw node) by the same WebAuthn client `authsim webauthn` runs.

use super::common::{AwsArgs, StdinSecrets, run_flow};
use super::devices::utc;
use super::sessions::session_access_token;
use crate::aws::cognito::{self, passkeys};
use crate::cli::Ctx;
use crate::cli::output::{Table, print_json, printable};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `authsim cognito passkey` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum PasskeyCmd {
    /// Register a passkey: StartWebAuthnRegistration, create() on the key,
    /// CompleteWebAuthnRegistration.
    Register(RegisterArgs),
    /// List the user's passkeys (ListWebAuthnCredentials).
    List(ListArgs),
    /// Delete one of the user's passkeys (DeleteWebAuthnCredential).
    Delete(DeleteArgs),
}

// The saved session whose user the command is about.
#[derive(Debug, Args)]
pub struct SessionArg {
    /// The saved session (its access token is refreshed first if it is about to expire).
    #[arg(long, value_name = "NAME")]
    session: String,
    #[command(flatten)]
    aws: AwsArgs,
}

// The key that plays the authenticator, and the page it runs for.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyArgs {
    /// A key of the running daemon, by name (default: `default`).
    #[arg(long, value_name = "KEY", conflicts_with = "device")]
    pub(crate) key: Option<String>,
    /// A hidraw node: a real security key, or a virtual key on /dev/uhid.
    #[arg(long, value_name = "HIDRAW")]
    pub(crate) device: Option<PathBuf>,
    /// The page's origin (default: https:// + the pool's relying party id).
    #[arg(long, value_name = "URL")]
    pub(crate) origin: Option<String>,
    /// Read the key's PIN from standard input (its own line, after any other secret); else a
    /// PIN saved for the daemon key (`authsim webauthn pin save`) is used.
    #[arg(long)]
    pub(crate) pin_stdin: bool,
}

impl KeyArgs {
    /// The WebAuthn client on the key these options name, with the PIN from `stdin` if asked.
    pub(crate) fn platform(
        &self,
        ctx: &Ctx,
        stdin: &mut StdinSecrets,
    ) -> Result<crate::webauthn::Platform> {
        let pin = if self.pin_stdin {
            Some(stdin.next("PIN")?)
        } else {
            None
        };
        crate::cli::webauthn::platform(ctx, self.key.as_deref(), self.device.as_deref(), pin)
    }
}

// Options of `cognito passkey register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    who: SessionArg,
    #[command(flatten)]
    with: KeyArgs,
    /// Print what was registered as JSON.
    #[arg(long)]
    json: bool,
}

// Options of `cognito passkey list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    who: SessionArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

// Options of `cognito passkey delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    who: SessionArg,
    /// The passkey's CredentialId (base64url, as `list` shows it).
    credential_id: String,
}

/// `cognito passkey ...`.
pub(super) fn run(ctx: &Ctx, cmd: PasskeyCmd) -> Result<()> {
    match cmd {
        PasskeyCmd::Register(a) => register(ctx, a),
        PasskeyCmd::List(a) => list(ctx, a),
        PasskeyCmd::Delete(a) => delete(ctx, a),
    }
}

fn register(ctx: &Ctx, a: RegisterArgs) -> Result<()> {
    let mut vault = ctx.vault()?;
    let (token, target, pool_id) =
        session_access_token(&mut vault, &a.who.session, &a.who.aws.target())?;
    drop(vault);
    let mut platform = a.with.platform(ctx, &mut StdinSecrets::new())?;
    let done = run_flow(async {
        let client = cognito::client(&target, pool_id.as_deref()).await?;
        passkeys::register(&client, &token, &mut platform, a.with.origin.as_deref()).await
    })?;
    if a.json {
        return print_json(&done);
    }
    // The ids are the server's and the key's words: escaped before they are shown.
    eprintln!(
        "registered the passkey {} for {} (as {})",
        printable(&done.credential_id),
        printable(&done.rp_id),
        printable(&done.origin)
    );
    Ok(())
}

fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut vault = ctx.vault()?;
    let (token, target, pool_id) =
        session_access_token(&mut vault, &a.who.session, &a.who.aws.target())?;
    let found = run_flow(async {
        let client = cognito::client(&target, pool_id.as_deref()).await?;
        passkeys::list(&client, &token).await
    })?;
    if a.json {
        return print_json(&found);
    }
    if found.is_empty() {
        eprintln!("the session '{}' has no passkeys", a.who.session);
        return Ok(());
    }
    let mut t = Table::new(vec![
        "CREDENTIAL ID",
        "NAME",
        "RP ID",
        "ATTACHMENT",
        "CREATED",
    ]);
    for p in &found {
        t.row(vec![
            printable(&p.credential_id),
            printable(&p.name),
            printable(&p.rp_id),
            printable(p.attachment.as_deref().unwrap_or_default()),
            utc(p.created),
        ]);
    }
    t.print();
    Ok(())
}

fn delete(ctx: &Ctx, a: DeleteArgs) -> Result<()> {
    let mut vault = ctx.vault()?;
    let (token, target, pool_id) =
        session_access_token(&mut vault, &a.who.session, &a.who.aws.target())?;
    run_flow(async {
        let client = cognito::client(&target, pool_id.as_deref()).await?;
        passkeys::delete(&client, &token, &a.credential_id).await
    })?;
    eprintln!("deleted the passkey {}", printable(&a.credential_id));
    Ok(())
}
