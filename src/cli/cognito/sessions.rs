//! Saved sessions: `cognito refresh`, `token`, `sessions`, `forget`, and the access token of a
//! session (refreshed when it is about to expire) that the other commands use.

use super::common::{AwsArgs, StdinSecrets, run_flow};
use crate::aws::{Target, cognito};
use crate::cli::Ctx;
use crate::cli::output::JsonFlag;
use crate::vault::Vault;
use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, ValueEnum};
use zeroize::Zeroizing;

// Options of `cognito refresh`.
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

// Options of `cognito token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The saved session.
    name: String,
    /// Which token.
    #[arg(long, value_enum, default_value = "access")]
    kind: TokenKind,
}

/// `cognito token`.
pub(super) fn token(ctx: &Ctx, a: TokenArgs) -> Result<()> {
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

/// `cognito sessions`.
pub(super) fn sessions(ctx: &Ctx, out: JsonFlag) -> Result<()> {
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
        return crate::cli::output::print_json(&list);
    }
    if list.is_empty() {
        eprintln!("no saved sessions (authsim cognito sign-in ... --save NAME)");
        return Ok(());
    }
    let mut t = crate::cli::output::Table::new(vec!["NAME", "USER", "POOL", "EXPIRES"]);
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

/// `cognito forget`.
pub(super) fn forget(ctx: &Ctx, name: String) -> Result<()> {
    let mut vault = ctx.vault()?;
    if cognito::remove_session(vault.store_mut(), &name)? {
        eprintln!("forgot the session '{name}'");
        Ok(())
    } else {
        bail!("no saved Cognito session named '{name}'")
    }
}

/// The access token of a saved session, refreshed (and re-saved) when it expires within a
/// minute.
pub(super) fn session_access_token(
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
        let device = secrets.device_key.as_deref();
        cognito::refresh(
            &client,
            &meta.client_id,
            secret.as_ref(),
            &user,
            &rt,
            device,
        )
        .await
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
        device_key: old.device_key.clone(),
    };
    cognito::save_session(vault.store_mut(), name, new_meta, &secrets)?;
    Ok(tokens.access_token.clone())
}

/// `cognito refresh`.
pub(super) fn refresh(ctx: &Ctx, a: RefreshArgs) -> Result<()> {
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
        let device = secrets.device_key.clone();
        let tokens = run_flow(async {
            let client = cognito::client(&target, meta.pool_id.as_deref()).await?;
            let device = device.as_deref();
            cognito::refresh(
                &client,
                &meta.client_id,
                secret.as_ref(),
                &user,
                &rt,
                device,
            )
            .await
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
    let device = stored_device_key(ctx, &client_id, a.pool_id.as_deref(), a.username.as_deref())?;
    let tokens = run_flow(async {
        let client = cognito::client(&given, a.pool_id.as_deref()).await?;
        let device = device.as_deref();
        cognito::refresh(&client, &client_id, secret.as_ref(), &user, &rt, device).await
    })?;
    println!("{}", tokens.to_json().as_str());
    Ok(())
}

/// The key of the device kept for a user (to refresh tokens bound to it), when the pool and
/// the username are known.
fn stored_device_key(
    ctx: &Ctx,
    client_id: &str,
    pool_id: Option<&str>,
    username: Option<&str>,
) -> Result<Option<String>> {
    let Some(username) = username else {
        return Ok(None);
    };
    let vault = ctx.vault()?;
    let pool = match pool_id {
        Some(p) => Some(p.to_string()),
        None => cognito::devices::client_pool(vault.store(), client_id)?,
    };
    Ok(match pool {
        Some(p) => cognito::devices::load(vault.store(), &p, username)?.map(|d| d.key.clone()),
        None => None,
    })
}
