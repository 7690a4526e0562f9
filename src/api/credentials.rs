//! Credentials of a key: WebDriver's Add Credential (and authsim's bulk form), Get
//! Credentials, Remove Credential, Remove All Credentials.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::error::{ApiError, ApiResult, b64url, decode_b64, json_response, ok, parse_body};
use super::keys::running_key;
use super::types::{CredentialInfo, NewCredential, Removed, Stored};
use crate::daemon::Daemon;

type St = State<Arc<Daemon>>;

/// A stored credential as the API lists it.
fn credential_info(c: &firmware_sim::ResidentCredentialInfo) -> CredentialInfo {
    CredentialInfo {
        credential_id: b64url(&c.credential_id),
        is_resident_credential: c.discoverable,
        rp_id: c.rp_id.clone(),
        sign_count: c.sign_count,
        algorithm: c.algorithm,
        public_key: b64url(&c.public_key_cose),
        user_handle: (!c.user.id.is_empty()).then(|| b64url(&c.user.id)),
        user_name: c.user.name.clone(),
        user_display_name: c.user.display_name.clone(),
        cred_protect: c.cred_protect,
        has_cred_blob: c.has_cred_blob,
        backup_eligibility: c.backup_eligible,
        backup_state: c.backup_state,
    }
}

/// Checks one WebDriver credential and turns it into what the token stores, and the view of it
/// the API answers with (built from the input: listing every stored credential again would
/// make each import cost as much as all the ones before it).
pub(super) fn to_import(
    mut n: NewCredential,
) -> Result<
    (
        firmware_sim::ImportedCredential,
        firmware_sim::ResidentCredentialInfo,
    ),
    ApiError,
> {
    // WebDriver's largeBlob is the credential's entry in the key's large-blob array: the key
    // gives the credential a largeBlobKey and writes the entry under it, as Chromium's virtual
    // authenticator does, so a platform reads it back with the largeBlob extension.
    let large_blob = n
        .large_blob
        .as_deref()
        .map(|b| decode_b64("largeBlob", b))
        .transpose()?;
    let cred_blob = n
        .cred_blob
        .as_deref()
        .map(|b| decode_b64("credBlob", b))
        .transpose()?;
    if n.rp_id.is_empty() {
        return Err(ApiError::bad("rpId must not be empty"));
    }
    for (field, text) in [
        ("rpId", Some(&n.rp_id)),
        ("userName", n.user_name.as_ref()),
        ("userDisplayName", n.user_display_name.as_ref()),
        ("userNameHint", n.user_name_hint.as_ref()),
    ] {
        if let Some(t) = text {
            super::error::no_controls(field, t)?;
        }
    }
    let cred_id = decode_b64("credentialId", &n.credential_id)?;
    let der = zeroize::Zeroizing::new(decode_b64("privateKey", &n.private_key)?);
    let key = firmware_sim::credential::PrivateKey::from_pkcs8_der(&der)
        .map_err(|e| ApiError::bad(format!("privateKey: {e}")))?;
    let user_id = match &n.user_handle {
        Some(h) => decode_b64("userHandle", h)?,
        None => Vec::new(),
    };
    let user = if user_id.is_empty() && n.user_name.is_none() && n.user_display_name.is_none() {
        None
    } else {
        Some(firmware_sim::credential::UserEntity {
            id: user_id,
            name: n.user_name.take(),
            display_name: n.user_display_name.take(),
        })
    };
    let public_key_cose = key
        .cose_public_key()
        .map(|v| firmware_sim::cbor::encode(&v))
        .map_err(|e| ApiError::bad(format!("privateKey: {e}")))?;
    let sign_count = n.sign_count.unwrap_or(0);
    let rp_id = std::mem::take(&mut n.rp_id);
    let info = firmware_sim::ResidentCredentialInfo {
        credential_id: cred_id.clone(),
        rp_id: rp_id.clone(),
        user: user.clone().unwrap_or_default(),
        algorithm: key.algorithm().cose_id(),
        public_key_cose,
        sign_count,
        discoverable: n.is_resident_credential,
        cred_protect: None,
        has_cred_blob: cred_blob.is_some(),
        // Resolved against the key's defaults by `with_key_defaults`.
        backup_eligible: false,
        backup_state: false,
    };
    let imported = firmware_sim::ImportedCredential {
        id: cred_id,
        rp_id,
        user,
        key,
        sign_count,
        discoverable: n.is_resident_credential,
        options: firmware_sim::ImportOptions {
            backup_eligible: n.backup_eligibility,
            backup_state: n.backup_state,
            cred_blob,
            large_blob,
        },
    };
    Ok((imported, info))
}

/// Checks the backup flags of an import against key `k`'s defaults and puts the result in the
/// view (BS without BE is a 400, as WebAuthn §6.1.3 forbids it).
fn with_key_defaults(
    k: &crate::daemon::keys::VirtualKey,
    imported: &firmware_sim::ImportedCredential,
    info: &mut firmware_sim::ResidentCredentialInfo,
) -> Result<(), ApiError> {
    let defaults = (
        k.spec.default_backup_eligibility,
        k.spec.default_backup_state,
    );
    (info.backup_eligible, info.backup_state) = imported
        .options
        .backup_flags(defaults)
        .map_err(import_error)?;
    Ok(())
}

fn import_error(e: firmware_sim::ImportError) -> ApiError {
    use firmware_sim::ImportError as E;
    match e {
        E::Store(e) => ApiError::internal(e.to_string()),
        e @ (E::Full(_) | E::Exists | E::UserExists | E::LargeBlobStorageFull(_)) => {
            ApiError::conflict(e.to_string())
        }
        E::InBatch { index, source } => {
            let inner = import_error(*source);
            ApiError {
                message: format!("credential #{index}: {}", inner.message),
                ..inner
            }
        }
        e => ApiError::bad(e.to_string()),
    }
}

pub(super) async fn add_credential(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let n: NewCredential = parse_body(&body)?;
    let replace = n.replace.unwrap_or(false);
    let (imported, mut info) = to_import(n)?;
    let k = running_key(&d, &id)?;
    with_key_defaults(&k, &imported, &mut info)?;
    k.call(move |dev| {
        let (token, env) = dev.parts();
        token.import_credential_no_overwrite(env, imported, replace)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(import_error)?;
    Ok(json_response(StatusCode::CREATED, &credential_info(&info)))
}

/// Most credentials one bulk import may carry.
const MAX_BULK: usize = 10_000;

/// authsim's bulk form of Add Credential: a JSON array, stored all or nothing in one commit.
pub(super) async fn add_credentials(
    State(d): St,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let k = running_key(&d, &id)?;
    // Parsing and checking thousands of private keys is CPU work: off the async threads, so
    // the API's other routes and the other keys' transports carry on meanwhile.
    let (batch, replace) = tokio::task::spawn_blocking(move || {
        let list: Vec<NewCredential> = parse_body(&body)?;
        if list.is_empty() || list.len() > MAX_BULK {
            return Err(ApiError::bad(format!(
                "send 1 to {MAX_BULK} credentials per request"
            )));
        }
        let mut batch = Vec::with_capacity(list.len());
        let mut replace = Vec::with_capacity(list.len());
        for (i, n) in list.into_iter().enumerate() {
            replace.push(n.replace.unwrap_or(false));
            let (imported, _) = to_import(n).map_err(|e| ApiError {
                message: format!("credential #{i}: {}", e.message),
                ..e
            })?;
            batch.push(imported);
        }
        Ok((batch, replace))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let stored = k
        .call(move |dev| {
            let (token, env) = dev.parts();
            token.import_credentials_no_overwrite(env, batch, &replace)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(import_error)?;
    Ok(json_response(StatusCode::CREATED, &Stored { stored }))
}

/// Runs `work` on the token of key `id`, on the key's thread; errors become API errors.
async fn on_token<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    d: &Daemon,
    id: &str,
    work: impl FnOnce(&mut firmware_sim::Token, &mut crate::daemon::env::DeviceEnv) -> Result<T, E>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let k = running_key(d, id)?;
    k.call(move |dev| {
        let (token, env) = dev.parts();
        work(token, env)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))
}

pub(super) async fn list_credentials(State(d): St, Path(id): Path<String>) -> ApiResult {
    let creds = on_token(&d, &id, |token, env| token.credentials(env)).await?;
    Ok(ok(&creds.iter().map(credential_info).collect::<Vec<_>>()))
}

pub(super) async fn remove_credential(
    State(d): St,
    Path((id, cred)): Path<(String, String)>,
) -> ApiResult {
    let cred_id = decode_b64("credentialId", &cred)?;
    let removed = on_token(&d, &id, move |token, env| {
        token.remove_credential(env, &cred_id)
    })
    .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "authenticator {id:?} has no stored credential {cred:?} (GET .../credentials lists them)"
        )))
    }
}

pub(super) async fn remove_all_credentials(State(d): St, Path(id): Path<String>) -> ApiResult {
    let removed = on_token(&d, &id, |token, env| token.remove_all_credentials(env)).await?;
    Ok(ok(&Removed { removed }))
}
