//! Where TOTP codes come from, for the CLI and the AWS flows alike: the running daemon's
//! control API when one serves the state directory (the CLI is then its client, as the design
//! has it), else the vault opened by this process. Both give the same answers: the fresh-code
//! rule lives in one database transaction either way. Secrets go to the daemon only over its
//! uid-checked socket and never come back.
//!
//! [`CodeSource::fresh`] is the one place that waits for the next time step when every
//! acceptable step was handed out; callers watch the wait through a [`WaitObserver`].

use std::path::{Path, PathBuf};

use hyper::Method;

use crate::api::client::{self, ClientError};
use crate::api::types::{self, CodeQuery, FreshBody, NewTotp};
use crate::store::{KeySource, Store};
use crate::vault::{Code, EntryInfo, EntryParams, Fresh, Vault, VaultError};

/// Why codes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The vault refused or failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The daemon could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The daemon answered with an error (its message).
    #[error("{0}")]
    Daemon(String),
}

/// How a wait for a fresh code is going: called once a second while waiting, with the entry
/// and the seconds left until its next step.
pub type WaitObserver<'a> = &'a mut dyn FnMut(&str, u64);

/// The vault, or the daemon in front of it.
pub struct CodeSource {
    state_dir: PathBuf,
    key_source: KeySource,
    /// The daemon's API socket, when a daemon answers there.
    daemon: Option<PathBuf>,
    /// The vault, opened on first use (always when no daemon runs).
    vault: Option<Vault>,
}

impl std::fmt::Debug for CodeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSource")
            .field("state_dir", &self.state_dir)
            .field("daemon", &self.daemon)
            .finish_non_exhaustive()
    }
}

fn totp_path(name: &str, rest: &str) -> String {
    let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/totp/{name}{rest}")
}

impl CodeSource {
    /// The daemon when one answers on `api_socket`, else the vault of `state_dir`.
    pub fn open(
        state_dir: &Path,
        api_socket: &Path,
        key_source: KeySource,
    ) -> Result<CodeSource, CodeError> {
        let mut source = CodeSource {
            state_dir: state_dir.to_path_buf(),
            key_source,
            daemon: None,
            vault: None,
        };
        if client::daemon_listening(api_socket) {
            tracing::debug!(socket = %api_socket.display(), "using the daemon's control API");
            source.daemon = Some(api_socket.to_path_buf());
        } else {
            source.vault()?;
        }
        Ok(source)
    }

    /// A source on a vault already open (no daemon).
    pub fn from_vault(vault: Vault, state_dir: &Path) -> CodeSource {
        CodeSource {
            state_dir: state_dir.to_path_buf(),
            key_source: KeySource::from_env(),
            daemon: None,
            vault: Some(vault),
        }
    }

    /// Whether codes come from a running daemon.
    pub fn via_daemon(&self) -> bool {
        self.daemon.is_some()
    }

    /// The vault of the state directory (opened now if need be), for what only the store
    /// holds: the AWS flows' own records.
    pub fn vault(&mut self) -> Result<&mut Vault, CodeError> {
        if self.vault.is_none() {
            let store = Store::open(&self.state_dir, &self.key_source)?;
            self.vault = Some(Vault::new(store));
        }
        self.vault
            .as_mut()
            .ok_or_else(|| CodeError::Daemon("the vault could not be opened".into()))
    }

    fn call<T: serde::de::DeserializeOwned>(
        socket: &Path,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, CodeError> {
        let answer = client::request_blocking(socket, method, path, body)?;
        if !answer.status.is_success() {
            return Err(CodeError::Daemon(answer.error_message()));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| CodeError::Daemon(format!("the daemon's answer did not parse: {e}")))
    }

    /// Adds an entry.
    pub fn add(&mut self, name: &str, params: &EntryParams) -> Result<EntryInfo, CodeError> {
        let Some(socket) = &self.daemon else {
            return Ok(self.vault()?.add(name, params)?);
        };
        let secret = params.secret.to_base32();
        // Every field named: NewTotp wipes its secret on drop (no struct update syntax).
        let body = NewTotp {
            name: name.to_owned(),
            uri: None,
            secret: Some(secret.to_string()),
            issuer: params.issuer.clone(),
            account: params.account.clone(),
            algorithm: Some(params.algorithm.name().to_owned()),
            digits: Some(params.digits),
            period: Some(params.period),
        };
        Self::call(socket, Method::POST, "/totp", Some(&body))
    }

    /// Every entry.
    pub fn list(&mut self) -> Result<Vec<EntryInfo>, CodeError> {
        match &self.daemon {
            Some(s) => Self::call(s, Method::GET, "/totp", None::<&()>),
            None => Ok(self.vault()?.list()?),
        }
    }

    /// One entry.
    pub fn info(&mut self, name: &str) -> Result<EntryInfo, CodeError> {
        match &self.daemon {
            Some(s) => Self::call(s, Method::GET, &totp_path(name, ""), None::<&()>),
            None => Ok(self.vault()?.info(name)?),
        }
    }

    /// Codes of `count` consecutive steps from `at`.
    pub fn codes(&mut self, name: &str, at: u64, count: u32) -> Result<Vec<Code>, CodeError> {
        let Some(s) = &self.daemon else {
            return Ok(self.vault()?.codes(name, at, count)?);
        };
        let q = CodeQuery {
            at: Some(at),
            count: Some(count),
        };
        let query = serde_urlencoded_query(&q);
        let codes: types::Codes = Self::call(
            s,
            Method::GET,
            &totp_path(name, &format!("/codes?{query}")),
            None::<&()>,
        )?;
        Ok(codes.codes)
    }

    /// Removes an entry.
    pub fn remove(&mut self, name: &str) -> Result<(), CodeError> {
        let Some(s) = &self.daemon else {
            return Ok(self.vault()?.remove(name)?);
        };
        let answer =
            client::request_blocking(s, Method::DELETE, &totp_path(name, ""), None::<&()>)?;
        if !answer.status.is_success() {
            return Err(CodeError::Daemon(answer.error_message()));
        }
        Ok(())
    }

    /// Fresh codes at `now`, or when to ask again (never waits).
    pub fn fresh_once(
        &mut self,
        name: &str,
        now: u64,
        count: u32,
        allow_next: bool,
    ) -> Result<Fresh, CodeError> {
        let Some(s) = &self.daemon else {
            return Ok(self.vault()?.fresh(name, now, count, allow_next)?);
        };
        let body = FreshBody {
            count: Some(count),
            allow_next: Some(allow_next),
        };
        let answer =
            client::request_blocking(s, Method::POST, &totp_path(name, "/fresh"), Some(&body))?;
        if answer.status == hyper::StatusCode::CONFLICT
            && let Ok(used) = serde_json::from_slice::<types::CodeUsed>(&answer.body)
        {
            return Ok(Fresh::WaitUntil(used.retry_at));
        }
        if !answer.status.is_success() {
            return Err(CodeError::Daemon(answer.error_message()));
        }
        let codes: types::Codes = serde_json::from_slice(&answer.body)
            .map_err(|e| CodeError::Daemon(format!("the daemon's answer did not parse: {e}")))?;
        Ok(Fresh::Ready(codes.codes))
    }

    /// `count` codes of `name` never handed out as fresh before; when every acceptable step
    /// is used, waits for the next one (or, with `allow_next`, takes the next step's code at
    /// once), telling `observe` how long is left about once a second.
    pub fn fresh(
        &mut self,
        name: &str,
        count: u32,
        allow_next: bool,
        observe: WaitObserver<'_>,
    ) -> Result<Vec<Code>, CodeError> {
        loop {
            let now = crate::clock::now_unix();
            match self.fresh_once(name, now, count, allow_next)? {
                Fresh::Ready(codes) => return Ok(codes),
                Fresh::WaitUntil(t) => {
                    observe(name, t.saturating_sub(now));
                    // Wake at the step boundary (sub-second precision), at most 1 s apart.
                    let until = (t as f64 - crate::clock::now_unix_f64()).clamp(0.01, 1.0);
                    std::thread::sleep(std::time::Duration::from_secs_f64(until));
                }
            }
        }
    }
}

/// `at=..&count=..` for the codes query (both numbers: nothing to escape).
fn serde_urlencoded_query(q: &CodeQuery) -> String {
    let mut parts = Vec::new();
    if let Some(at) = q.at {
        parts.push(format!("at={at}"));
    }
    if let Some(c) = q.count {
        parts.push(format!("count={c}"));
    }
    parts.join("&")
}
