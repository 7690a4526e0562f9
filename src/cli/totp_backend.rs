//! Where `authsim totp` gets its answers: the running daemon's control API when one serves
//! this state directory (the CLI is then its client, as the design has it), else the vault
//! directly. Both give the same answers: the fresh-code rule lives in one database
//! transaction either way. Secrets go to the daemon only over its uid-checked socket and never
//! come back.

use std::path::PathBuf;

use anyhow::{Result, bail};
use hyper::Method;
use serde_json::{Value, json};

use super::Ctx;
use crate::api::client;
use crate::vault::{Code, EntryInfo, EntryParams, Fresh, Vault};

/// The vault, or the daemon in front of it.
pub(crate) enum Backend {
    /// The store of the state directory, opened by this process.
    Direct(Vault),
    /// The daemon's control API socket.
    Daemon(PathBuf),
}

fn path_of(name: &str, rest: &str) -> String {
    let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/totp/{name}{rest}")
}

impl Backend {
    /// The daemon when one answers on this state directory's API socket, else the vault.
    pub(crate) fn open(ctx: &Ctx) -> Result<Backend> {
        let socket = ctx.api_socket()?;
        if client::daemon_listening(&socket) {
            tracing::debug!(socket = %socket.display(), "using the daemon's control API");
            return Ok(Backend::Daemon(socket));
        }
        Ok(Backend::Direct(ctx.vault()?))
    }

    fn call(
        socket: &std::path::Path,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<client::Answer> {
        let answer = client::request_blocking(socket, method, path, body.as_ref())?;
        Ok(answer)
    }

    fn ok(answer: client::Answer) -> Result<Value> {
        if !answer.status.is_success() {
            bail!("{}", answer.error_message());
        }
        Ok(answer.json())
    }

    /// Adds an entry.
    pub(crate) fn add(&mut self, name: &str, params: &EntryParams) -> Result<EntryInfo> {
        match self {
            Backend::Direct(v) => Ok(v.add(name, params)?),
            Backend::Daemon(s) => {
                let secret = params.secret.to_base32();
                let body = json!({
                    "name": name,
                    "secret": &*secret,
                    "issuer": params.issuer,
                    "account": params.account,
                    "algorithm": params.algorithm.name(),
                    "digits": params.digits,
                    "period": params.period,
                });
                let mut body = body;
                // null means "absent" to the API.
                if let Some(o) = body.as_object_mut() {
                    o.retain(|_, v| !v.is_null());
                }
                let v = Self::ok(Self::call(s, Method::POST, "/totp", Some(body))?)?;
                Ok(serde_json::from_value(v)?)
            }
        }
    }

    /// Every entry.
    pub(crate) fn list(&self) -> Result<Vec<EntryInfo>> {
        match self {
            Backend::Direct(v) => Ok(v.list()?),
            Backend::Daemon(s) => Ok(serde_json::from_value(Self::ok(Self::call(
                s,
                Method::GET,
                "/totp",
                None,
            )?)?)?),
        }
    }

    /// One entry.
    pub(crate) fn info(&self, name: &str) -> Result<EntryInfo> {
        match self {
            Backend::Direct(v) => Ok(v.info(name)?),
            Backend::Daemon(s) => Ok(serde_json::from_value(Self::ok(Self::call(
                s,
                Method::GET,
                &path_of(name, ""),
                None,
            )?)?)?),
        }
    }

    /// Codes of `count` consecutive steps from `at`.
    pub(crate) fn codes(&self, name: &str, at: u64, count: u32) -> Result<Vec<Code>> {
        match self {
            Backend::Direct(v) => Ok(v.codes(name, at, count)?),
            Backend::Daemon(s) => {
                let v = Self::ok(Self::call(
                    s,
                    Method::GET,
                    &path_of(name, &format!("/codes?at={at}&count={count}")),
                    None,
                )?)?;
                Ok(serde_json::from_value(v["codes"].clone())?)
            }
        }
    }

    /// Fresh codes, or when to ask again.
    pub(crate) fn fresh(
        &mut self,
        name: &str,
        now: u64,
        count: u32,
        allow_next: bool,
    ) -> Result<Fresh> {
        match self {
            Backend::Direct(v) => Ok(v.fresh(name, now, count, allow_next)?),
            Backend::Daemon(s) => {
                let answer = Self::call(
                    s,
                    Method::POST,
                    &path_of(name, "/fresh"),
                    Some(json!({ "count": count, "allowNext": allow_next })),
                )?;
                let v = answer.json();
                if answer.status == hyper::StatusCode::CONFLICT
                    && let Some(t) = v.get("retryAt").and_then(Value::as_u64)
                {
                    return Ok(Fresh::WaitUntil(t));
                }
                let v = Self::ok(answer)?;
                Ok(Fresh::Ready(serde_json::from_value(v["codes"].clone())?))
            }
        }
    }

    /// Removes an entry.
    pub(crate) fn remove(&mut self, name: &str) -> Result<()> {
        match self {
            Backend::Direct(v) => Ok(v.remove(name)?),
            Backend::Daemon(s) => {
                Self::ok(Self::call(s, Method::DELETE, &path_of(name, ""), None)?)?;
                Ok(())
            }
        }
    }
}
