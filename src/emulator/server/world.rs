//! What the HTTP front shares between requests: the state behind one lock, the clock, the
//! bound address; and the small pieces every front needs (the request context, SigV4
//! checks against issued keys, persisting, response helpers).

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::emulator::DEFAULT_REGION;
use crate::emulator::clock::Clock;
use crate::emulator::cognito;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use crate::emulator::sigv4::{self, Credential};
use crate::emulator::state::{State, StateFile};

/// Everything a request may read or change, behind one lock.
pub(super) struct World {
    /// The persistent state.
    pub state: State,
    /// Cognito's short-lived sessions and SRP exchanges.
    pub eph: cognito::Ephemeral,
    /// The state file, when there is one.
    pub file: Option<StateFile>,
}

/// What every request handler of the front can reach.
pub(super) struct Shared {
    /// The state.
    pub world: Mutex<World>,
    /// The (test-shiftable) clock.
    pub clock: Clock,
    /// The bound address (the issuer's host when a request names none).
    pub addr: SocketAddr,
    /// The signing key new user pools share (see [`Ctx::pool_key`]); `None` when serving.
    pub pool_key: Option<(crypto::SecretString, String)>,
}

impl Shared {
    /// Lock the state (a panicked request leaves it usable: every change is checked first).
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The context of one request.
    pub fn ctx(&self, headers: &HeaderMap, credential: Option<Credential>, rid: &str) -> Ctx {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| self.addr.to_string());
        Ctx {
            now: self.clock.now(),
            now_secs: self.clock.now_secs(),
            request_id: rid.to_owned(),
            region: credential
                .as_ref()
                .map(|c| c.region.clone())
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            base_url: format!("http://{host}"),
            credential,
            pool_key: self.pool_key.clone(),
        }
    }
}

impl World {
    /// Write the state file if the request changed anything; `false` if writing failed.
    pub fn persist(&mut self) -> bool {
        match &mut self.file {
            None => true,
            Some(f) => match f.save_if_changed(&self.state) {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(error = %e, "cannot persist state");
                    false
                }
            },
        }
    }

    /// For a key the stand-in issued (CreateAccessKey, GetSessionToken), check the SigV4
    /// signature itself.
    pub fn signature_problem(
        &self,
        cred: Option<&Credential>,
        raw: &Raw,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<String> {
        let cred = cred?;
        let secret = self.state.iam.secret_of(&cred.access_key_id)?;
        sigv4::verify(
            cred,
            secret.expose(),
            raw.method.as_str(),
            raw.path,
            raw.query,
            headers,
            body,
        )
        .err()
    }
}

/// The request line, as signed.
pub(super) struct Raw<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path.
    pub path: &'a str,
    /// The query string (without `?`).
    pub query: &'a str,
}

/// A fresh request id.
pub(super) fn request_id() -> String {
    crypto::uuid_v4()
}

/// A JSON answer.
pub(super) fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Add AWS's request-id header.
pub(super) fn with_request_id(mut r: Response, rid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(rid) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}
