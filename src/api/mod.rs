//! The control API: HTTP/1.1 + JSON on a Unix socket (and, when asked, loopback TCP with a
//! bearer token). Its resources follow the W3C WebDriver virtual-authenticator extension
//! (`/webauthn/authenticator...`, without WebDriver's session prefix), plus presence control,
//! power cycles, the attestation CA and the TOTP vault. `src/api/openapi.yaml` describes it;
//! the tests validate real responses against that file.
//!
//! - [`types`]: every request and response body, shared by the routes and the CLI's client.
//! - `keys`, `credentials`, `totp`, `webauthn`: the routes, one file per resource family
//!   (`webauthn`: register and authenticate with the daemon's own key, the browser's part).
//! - [`server`]: the listeners (peer uid check on the Unix socket, bearer token on TCP), and
//!   [`server::Listeners`], which the binary hands to the daemon to serve this API.
//! - [`client`]: the CLI's client.
//!
//! Every error is a JSON object `{"error": CODE, "message": TEXT}` with the HTTP status that
//! fits (400 malformed, 401 no token on TCP, 403 another user, 404 unknown
//! key/credential/entry/path, 405 method, 408 body too slow, 409 conflict, 413 body too large,
//! 415 not JSON, 503 unavailable or too many connections); messages never quote a secret, nor
//! any value of a field that did not parse.

pub mod client;
mod credentials;
mod error;
mod keys;
pub mod server;
mod totp;
pub mod types;
mod webauthn;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

pub use error::ApiError;

/// The API's private import conversion of one WebDriver credential (base64url fields, the
/// PKCS#8 private key, the user and flags) as Add Credential runs it before the key sees it:
/// the view the API would answer with. A seam for the fuzz harness (`authsim::fuzzing`).
pub fn import_conversion(
    n: types::NewCredential,
) -> Result<firmware_sim::ResidentCredentialInfo, ApiError> {
    credentials::to_import(n).map(|(_, info)| info)
}
pub(crate) use error::b64url;
use error::{ApiQuery, ApiResult, ok};
use types::{CaQuery, StatusInfo};

use crate::daemon::Daemon;
use crate::httpd::BodyError;

/// The OpenAPI description of this API (served at `/openapi.yaml`).
pub const OPENAPI_YAML: &str = include_str!("openapi.yaml");

/// The router over the daemon's state.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/openapi.yaml", get(openapi))
        .route("/attestation-ca", get(attestation_ca))
        .route(
            "/webauthn/authenticator",
            get(keys::list_keys).post(keys::add_key),
        )
        .route(
            "/webauthn/authenticator/{id}",
            get(keys::get_key).delete(keys::remove_key),
        )
        .route(
            "/webauthn/authenticator/{id}/credential",
            post(credentials::add_credential),
        )
        .route(
            "/webauthn/authenticator/{id}/credentials",
            get(credentials::list_credentials)
                .post(credentials::add_credentials)
                .delete(credentials::remove_all_credentials),
        )
        .route(
            "/webauthn/authenticator/{id}/credentials/{cred}",
            delete(credentials::remove_credential),
        )
        .route("/webauthn/authenticator/{id}/uv", post(keys::set_uv))
        .route(
            "/webauthn/authenticator/{id}/presence",
            get(keys::get_presence).put(keys::set_presence),
        )
        .route(
            "/webauthn/authenticator/{id}/presence/requests",
            get(keys::list_requests),
        )
        .route(
            "/webauthn/authenticator/{id}/presence/requests/{rid}",
            post(keys::decide_request),
        )
        .route(
            "/webauthn/authenticator/{id}/power-cycle",
            post(keys::power_cycle),
        )
        .route("/webauthn/authenticator/{id}/reset", post(keys::reset_key))
        .route(
            "/webauthn/authenticator/{id}/register",
            post(webauthn::register),
        )
        .route(
            "/webauthn/authenticator/{id}/authenticate",
            post(webauthn::authenticate),
        )
        .route("/totp", get(totp::list_totp).post(totp::add_totp))
        .route(
            "/totp/{name}",
            get(totp::get_totp).delete(totp::remove_totp),
        )
        .route("/totp/{name}/code", get(totp::totp_code))
        .route("/totp/{name}/codes", get(totp::totp_codes))
        .route("/totp/{name}/fresh", post(totp::totp_fresh))
        .fallback(|| async {
            ApiError::not_found("no such resource (GET /openapi.yaml describes the API)")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this resource does not take that method (GET /openapi.yaml describes the API)",
            )
        })
        .layer(axum::middleware::from_fn(read_body))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(daemon)
}

/// The most a request body may carry, but for bulk imports.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// The most a bulk import (`POST .../credentials`, up to 10,000 credentials) may carry.
pub const BULK_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Reads every request body before its route sees it: within the read timeout (408), within
/// the route's size cap (413), and, when it is not sent as JSON and does not parse as JSON, a
/// 415 that names the content type it came as (curl's `-d` sends JSON labelled as a form; that
/// is accepted). Every refusal is a JSON error.
async fn read_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let bulk =
        req.method() == axum::http::Method::POST && req.uri().path().ends_with("/credentials");
    let limit = if bulk { BULK_BODY_LIMIT } else { BODY_LIMIT };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let (parts, body) = req.into_parts();
    let bytes = match crate::httpd::read_body(body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return ApiError::too_large(limit).into_response(),
        Err(BodyError::Timeout) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body did not arrive in time",
            )
            .into_response();
        }
        Err(BodyError::Failed) => {
            return ApiError::bad("the request body could not be read").into_response();
        }
    };
    if let Some(ct) = content_type.filter(|ct| !bytes.is_empty() && !is_json(ct))
        && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err()
    {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!(
                "the body was sent as {ct:?}; this API takes JSON (Content-Type: application/json)"
            ),
        )
        .into_response();
    }
    let request_len = bytes.len();
    let resp = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    // The parsed request and whatever built the answer are freed by now: after a big one,
    // hand that memory back (the answer itself, if big, is a block of its own, unmapped once
    // sent; see `memory::limit_malloc_arenas`).
    let response_len = axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .unwrap_or(0);
    if request_len.max(response_len as usize) >= crate::memory::RELEASE_AFTER_BYTES {
        crate::memory::release_free_memory();
    }
    resp
}

/// Whether a content type is JSON (`application/json`, `application/*+json`, `text/json`).
fn is_json(ct: &str) -> bool {
    ct == "application/json"
        || ct == "text/json"
        || (ct.starts_with("application/") && ct.ends_with("+json"))
}

/// Keeps every error JSON, whatever produced it: a rejection of axum's own (plain text) gets
/// the API's `{"error", "message"}` shape, with axum's text as the message. (Bodies and query
/// strings are read by `read_body` and `ApiQuery`, whose errors are JSON already.)
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        s if s.is_server_error() => "internal",
        _ => "invalid-argument",
    };
    // Rejections are short; a longer body is not worth quoting.
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    ApiError::new(status, code, text).into_response()
}

/// Logs every request at debug: method, path (names of keys and entries, never a body or a
/// query value: a query could be the only place a future secret is put), status, duration.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        target: "authsim::api",
        %method,
        path = %path,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "API request"
    );
    resp
}

type St = State<Arc<Daemon>>;

async fn status(State(d): St) -> ApiResult {
    Ok(ok(&StatusInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        state_dir: d.state_dir.clone(),
        uhid: d.uhid_available,
        authenticators: d.keys.names(),
    }))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        )],
        OPENAPI_YAML,
    )
        .into_response()
}

async fn attestation_ca(State(d): St, ApiQuery(q): ApiQuery<CaQuery>) -> ApiResult {
    match q.format.as_deref() {
        None | Some("pem") => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            d.pki.ca_certificate_pem(),
        )
            .into_response()),
        Some("der") => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pkix-cert"),
            )],
            d.pki.ca_certificate_der().to_vec(),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad(format!(
            "format {other:?}: use \"pem\" or \"der\""
        ))),
    }
}

/// Runs blocking work of a request (a ceremony waiting on its key, a SQLite read or commit).
/// On the daemon's multi-thread runtime it runs on the request's own worker (`block_in_place`,
/// which hands the worker's other tasks to another thread): waking a blocking-pool thread put
/// about 40 µs on the critical path of every such request. A current-thread runtime (tests)
/// cannot lend its worker, so there it goes to the blocking pool.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(f)
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
    }
}
