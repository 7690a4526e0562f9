//! The TOTP vault over the API: list, add, get, remove, codes, and fresh codes that never
//! wait (a 409 with `retryAt` when every acceptable step was handed out).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::error::{ApiError, ApiQuery, ApiResult, json_response, ok, parse_body};
use super::types::{CodeQuery, CodeUsed, Codes, FreshBody, NewTotp};
use crate::daemon::Daemon;
use crate::vault::{self, Fresh, Vault, VaultError};

type St = State<Arc<Daemon>>;

fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::NotFound(_) => ApiError::not_found(e.to_string()),
        VaultError::Exists(_) => ApiError::conflict(e.to_string()),
        VaultError::Store(_) | VaultError::Damaged(..) => ApiError::internal(e.to_string()),
        other => ApiError::bad(other.to_string()),
    }
}

/// Runs `f` on the vault as blocking work ([`super::off_runtime`]: SQLite commits are
/// synchronous).
async fn with_vault<T: Send + 'static>(
    d: &Arc<Daemon>,
    f: impl FnOnce(&mut Vault) -> Result<T, VaultError> + Send + 'static,
) -> Result<T, ApiError> {
    let d = d.clone();
    super::off_runtime(move || {
        let mut v = d.vault.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut v).map_err(vault_error)
    })
    .await
}

pub(super) async fn list_totp(State(d): St) -> ApiResult {
    let list = with_vault(&d, |v| v.list()).await?;
    Ok(ok(&list))
}

pub(super) async fn get_totp(State(d): St, Path(name): Path<String>) -> ApiResult {
    let info = with_vault(&d, move |v| v.info(&name)).await?;
    Ok(ok(&info))
}

/// The entry's parameters from the body: an otpauth URI, or a secret and its parameters.
fn entry_params(n: &mut NewTotp) -> Result<vault::EntryParams, ApiError> {
    // The secret is wiped from memory once parsed (and NewTotp wipes what is left on drop).
    let uri = n.uri.take().map(zeroize::Zeroizing::new);
    let secret = n.secret.take().map(zeroize::Zeroizing::new);
    match (&uri, &secret) {
        (Some(uri), None) => {
            if n.issuer.is_some()
                || n.account.is_some()
                || n.algorithm.is_some()
                || n.digits.is_some()
                || n.period.is_some()
            {
                return Err(ApiError::bad(
                    "with uri, the parameters come from the URI; leave the others out",
                ));
            }
            vault::uri::parse(uri).map_err(|e| ApiError::bad(e.to_string()))
        }
        (None, Some(secret)) => {
            let s = vault::SecretBytes::from_base32(secret)
                .map_err(|e| ApiError::bad(e.to_string()))?;
            let mut p = vault::EntryParams::new(s);
            p.issuer = n.issuer.take().filter(|s| !s.trim().is_empty());
            p.account = n.account.take().filter(|s| !s.trim().is_empty());
            if let Some(a) = &n.algorithm {
                p.algorithm =
                    vault::Algorithm::parse(a).map_err(|e| ApiError::bad(e.to_string()))?;
            }
            if let Some(dg) = n.digits {
                p.digits = dg;
            }
            if let Some(pe) = n.period {
                p.period = pe;
            }
            Ok(p)
        }
        _ => Err(ApiError::bad("give exactly one of uri and secret")),
    }
}

pub(super) async fn add_totp(State(d): St, body: Bytes) -> ApiResult {
    let mut n: NewTotp = parse_body(&body)?;
    let params = entry_params(&mut n)?;
    let name = std::mem::take(&mut n.name);
    let info = with_vault(&d, move |v| v.add(&name, &params)).await?;
    Ok(json_response(StatusCode::CREATED, &info))
}

pub(super) async fn remove_totp(State(d): St, Path(name): Path<String>) -> ApiResult {
    with_vault(&d, move |v| v.remove(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn totp_code(
    State(d): St,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<CodeQuery>,
) -> ApiResult {
    if q.count.is_some() {
        return Err(ApiError::bad("count belongs to /codes"));
    }
    let at = q.at.unwrap_or_else(crate::clock::now_unix);
    let code = with_vault(&d, move |v| v.code_at(&name, at)).await?;
    Ok(ok(&code))
}

pub(super) async fn totp_codes(
    State(d): St,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<CodeQuery>,
) -> ApiResult {
    let at = q.at.unwrap_or_else(crate::clock::now_unix);
    let count = q.count.unwrap_or(2);
    let codes = with_vault(&d, move |v| v.codes(&name, at, count)).await?;
    Ok(ok(&Codes { codes }))
}

pub(super) async fn totp_fresh(State(d): St, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let b: FreshBody = parse_body(&body)?;
    let now = crate::clock::now_unix();
    let count = b.count.unwrap_or(1);
    let allow_next = b.allow_next.unwrap_or(false);
    match with_vault(&d, move |v| v.fresh(&name, now, count, allow_next)).await? {
        Fresh::Ready(codes) => Ok(ok(&Codes { codes })),
        Fresh::WaitUntil(t) => {
            let wait = t.saturating_sub(now);
            let body = CodeUsed {
                error: "code-used".to_owned(),
                message: "every acceptable time step was handed out already; ask again at retryAt (or pass allowNext)".to_owned(),
                retry_at: t,
                retry_after_seconds: wait,
            };
            let mut resp = json_response(StatusCode::CONFLICT, &body);
            if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(resp)
        }
    }
}
