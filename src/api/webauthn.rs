//! The WebAuthn client as a service: `POST /webauthn/authenticator/{id}/register` and
//! `.../authenticate` run a ceremony on the daemon's own key and answer the response JSON, so a
//! test suite in any language gets a passkey with one HTTP call.
//!
//! The daemon opens its key as an in-process host ([`crate::transport::inproc`]): the same
//! event queue, CTAPHID channels and presence handling as any socket client, without a socket
//! (a key may be on /dev/uhid only) and without holding the key map's lock while the ceremony
//! waits (a manual touch is decided through this same API meanwhile).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{ApiError, ApiResult, ok, parse_body};
use super::keys::running_key;
use super::types::CeremonyBody;
use crate::daemon::Daemon;
use crate::fido::ctap2::Authenticator;
use crate::fido::device::InProcess;
use crate::fido::hid::CtapHid;
use crate::transport::inproc::InProcessHost;
use crate::webauthn::{self, ErrorKind, WebAuthnError};

type St = State<Arc<Daemon>>;

/// Which ceremony.
#[derive(Clone, Copy)]
enum Kind {
    Register,
    Authenticate,
}

fn api_error(e: WebAuthnError) -> ApiError {
    let status = match e.kind {
        ErrorKind::Security
        | ErrorKind::Type
        | ErrorKind::Encoding
        | ErrorKind::Syntax
        | ErrorKind::NotSupported => StatusCode::BAD_REQUEST,
        ErrorKind::NotAllowed => StatusCode::FORBIDDEN,
        ErrorKind::InvalidState | ErrorKind::Constraint => StatusCode::CONFLICT,
        ErrorKind::Unknown => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, e.name(), e.message)
}

async fn ceremony(d: Arc<Daemon>, id: String, body: Bytes, kind: Kind) -> ApiResult {
    let b: CeremonyBody = parse_body(&body)?;
    // Only the key's own handle is taken; the registry is not held while the ceremony waits.
    let inbox = running_key(&d, &id)?.inbox();
    let d2 = d.clone();
    let name = id.clone();
    let result = super::off_runtime(move || {
        let saved = match &b.pin {
            Some(_) => None,
            None => {
                let v = d2.vault.lock().unwrap_or_else(|e| e.into_inner());
                webauthn::pins::saved(v.store(), &name)
                    .map_err(|e| ApiError::internal(e.to_string()))?
            }
        };
        let pin = b
            .pin
            .as_ref()
            .map(|p| p.as_str())
            .or(saved.as_deref().map(|s| s.as_str()));
        let host = InProcessHost::open(&inbox)
            .map_err(|_| ApiError::unavailable(format!("key {name:?} has stopped")))?;
        let hid = CtapHid::open(Box::new(InProcess::new(&name, host)))
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let mut key = Authenticator::new(hid);
        let run = match kind {
            Kind::Register => webauthn::register,
            Kind::Authenticate => webauthn::authenticate,
        };
        run(&mut key, &b.origin, &b.options, pin).map_err(api_error)
    })
    .await?;
    Ok(ok(&result))
}

pub(super) async fn register(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    ceremony(d, id, body, Kind::Register).await
}

pub(super) async fn authenticate(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    ceremony(d, id, body, Kind::Authenticate).await
}
