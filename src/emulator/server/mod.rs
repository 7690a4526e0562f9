//! The HTTP front: one endpoint URL for every service, routed the way AWS's clients address
//! it, plus the stand-in's own test controls.
//!
//! Routing:
//! - `POST /` with `X-Amz-Target: AWSCognitoIdentityProviderService.<Action>` → Cognito
//!   (JSON 1.1);
//! - `POST /` form-encoded (or `GET /?Action=..`) → IAM or STS (query protocol), told apart
//!   by the SigV4 credential scope's service (`iam` / `sts`), else by the action;
//! - `GET /{poolId}/.well-known/jwks.json` → the pool's signing key;
//! - `/_authsim/...` → test controls (no authentication; the server binds loopback only):
//!   - `GET /_authsim/health` → `{"status":"ok"}`;
//!   - `GET /_authsim/clock` → `{"now": <unix seconds>, "offset_seconds": <n>}`;
//!   - `POST /_authsim/clock` with `{"offset_seconds": n}` or `{"advance_seconds": n}` →
//!     shift the server's clock (sessions, token expiry, TOTP steps follow it);
//!   - `GET /_authsim/confirmation-code?pool=ID&username=NAME` → `{"code": "123456"}`, the
//!     pending sign-up confirmation code;
//!   - `GET /_authsim/temporary-password?pool=ID&username=NAME` → `{"password": ".."}`, the
//!     last temporary password "sent" by AdminCreateUser;
//!   - `GET /_authsim/messages?pool=ID&username=NAME[&kind=K]` → every message "sent" to the
//!     user (`confirmation_code`, `temporary_password`, `sms_mfa_code`), oldest first.

mod controls;
mod json_front;
mod query_front;
mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::EmulatorError;
use super::clock::Clock;
use super::cognito;
use super::query::Params;
use super::query::QueryError;
use super::state::{State, StateFile};
use cognito::CognitoError;
use world::{Raw, Shared, World, json_response, request_id};

/// Connections the stand-in serves at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;

/// The largest request body the stand-in reads (AWS's own limits are far below it).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long shutdown waits for open connections before closing them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How the stand-in is started.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Loopback address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// State file; without one, state lives in memory only.
    pub state_file: Option<PathBuf>,
}

/// A running stand-in.
pub struct Emulator {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), EmulatorError>>,
}

impl Emulator {
    /// Load state, bind the (loopback) address and start serving in the background.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        if !config.listen.ip().is_loopback() {
            return Err(EmulatorError::NotLoopback(config.listen));
        }
        let (state, file) = match &config.state_file {
            Some(path) => {
                let (s, mut f) = StateFile::load(path)?;
                // Write a new file now, so an unwritable path fails at start, not later.
                f.save_if_changed(&s)?;
                (s, Some(f))
            }
            None => (State::default(), None),
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
        let shared = Arc::new(Shared::new(state, file, addr));
        let app = Router::new().fallback(entry).with_state(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let stopper = tokio::spawn(async move {
                let _ = rx.await;
                let _ = stop_tx.send(true);
            });
            // Read timeouts, an idle keep-alive timeout and a connection cap, as the daemon's
            // API has them (src/httpd.rs).
            crate::httpd::serve(
                listener,
                app,
                crate::httpd::Limits::new(MAX_CONNECTIONS, MAX_CONNECTIONS)
                    .in_dialect(crate::httpd::Dialect::Aws),
                None,
                stop_rx,
            )
            .await;
            stopper.abort();
            Ok(())
        });
        tracing::info!(%addr, "emulator listening");
        Ok(Emulator {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `signal` completes, then stop gracefully.
    pub async fn run_until(
        mut self,
        signal: impl Future<Output = ()>,
    ) -> Result<(), EmulatorError> {
        tokio::select! {
            () = signal => self.shutdown().await,
            r = &mut self.task => r.unwrap_or(Ok(())),
        }
    }

    /// Stop serving: let in-flight requests finish (at most five seconds), then close.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(r) => r.unwrap_or(Ok(())),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }
}

async fn entry(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match crate::httpd::read_body(body, MAX_BODY).await {
        Ok(b) => b,
        Err(crate::httpd::BodyError::TooLarge) => {
            return transport_error(
                &parts.headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Request body must be at most {MAX_BODY} bytes."),
            );
        }
        Err(crate::httpd::BodyError::Timeout) => {
            return transport_error(
                &parts.headers,
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "The request body did not arrive in time.",
            );
        }
        Err(crate::httpd::BodyError::Failed) => {
            return transport_error(
                &parts.headers,
                StatusCode::BAD_REQUEST,
                "MalformedInput",
                "The request body could not be read.",
            );
        }
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let headers = parts.headers;
    let joined = tokio::task::spawn_blocking(move || {
        route(&shared, &method, &path, &query, &headers, &body)
    })
    .await;
    match joined {
        Ok(r) => r,
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// An error before the request could be read, in the shape of the protocol it came in: JSON
/// 1.1 (`{"__type", "message"}`) with an `X-Amz-Target` header, else the query protocol's
/// `<ErrorResponse>`.
fn transport_error(
    headers: &HeaderMap,
    status: StatusCode,
    code: &'static str,
    msg: &str,
) -> Response {
    let rid = request_id();
    if headers.contains_key("x-amz-target") {
        let mut e = CognitoError::new(code, msg);
        e.status = status.as_u16();
        json_front::cognito_error(&e, &rid)
    } else {
        query_front::query_error(&QueryError::new(code, status.as_u16(), msg), None, &rid)
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let raw = Raw {
        method,
        path,
        query,
    };
    if path == "/_authsim" || path.starts_with("/_authsim/") {
        return controls::admin(shared, method, path, query, body);
    }
    if let Some(pool_id) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/.well-known/jwks.json"))
    {
        if *method != Method::GET {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"message": "use GET"}),
            );
        }
        return controls::jwks(shared, pool_id);
    }
    if *method == Method::POST && headers.contains_key("x-amz-target") {
        return json_front::cognito_request(shared, &raw, headers, body);
    }
    if *method == Method::POST {
        let mut params = Params::parse(body);
        params.extend(Params::parse(query.as_bytes()));
        return query_front::query_request(shared, &raw, headers, body, &params);
    }
    if *method == Method::GET && path == "/" && !query.is_empty() {
        let params = Params::parse(query.as_bytes());
        return query_front::query_request(shared, &raw, headers, body, &params);
    }
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"message": format!("No route for {method} {path}: POST AWS API calls to / (see `authsim emulator --help`)")}),
    )
}

impl Shared {
    fn new(state: State, file: Option<StateFile>, addr: SocketAddr) -> Self {
        Shared {
            world: Mutex::new(World {
                state,
                eph: cognito::Ephemeral::default(),
                file,
            }),
            clock: Clock::new(),
            addr,
            pool_key: None,
        }
    }
}

/// The stand-in's routing and services without a socket or a state file: one request in, one
/// response out, state in memory (the fuzz harnesses drive it; see `authsim::fuzzing`).
#[doc(hidden)]
pub struct InProcess {
    shared: Shared,
}

impl Default for InProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcess {
    /// An empty stand-in, addressed as `127.0.0.1:4566`. Its user pools share one signing
    /// key made once per process: generating an RSA-2048 key per CreateUserPool held the fuzz
    /// target to a few hundred inputs a second, while building the stand-in costs microseconds.
    pub fn new() -> Self {
        static POOL_KEY: std::sync::OnceLock<
            Option<(crate::emulator::crypto::SecretString, String)>,
        > = std::sync::OnceLock::new();
        let addr = SocketAddr::from(([127, 0, 0, 1], 4566));
        let mut shared = Shared::new(State::default(), None, addr);
        shared.pool_key = POOL_KEY
            .get_or_init(|| crate::emulator::cognito::jwt::generate_key().ok())
            .clone();
        Self { shared }
    }

    /// Serves one request as the HTTP front would after reading it.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Response {
        route(&self.shared, method, path, query, headers, body)
    }
}
