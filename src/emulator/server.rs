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

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::clock::Clock;
use super::cognito::{self, CognitoError};
use super::query::{Params, QueryError};
use super::sigv4::{self, Credential, SigError};
use super::state::{State, StateFile};
use super::{DEFAULT_REGION, EmulatorError, crypto, iam, sts};

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

/// Per-request facts the services need.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Server time, Unix seconds (with the test offset applied).
    pub now: f64,
    /// Server time, whole Unix seconds.
    pub now_secs: u64,
    /// This request's id.
    pub request_id: String,
    /// Region from the SigV4 scope, or the default.
    pub region: String,
    /// `http://host:port` as the client addressed the server (token issuer base).
    pub base_url: String,
    /// The SigV4 credential, when the request carried one.
    pub credential: Option<Credential>,
}

pub(super) struct World {
    pub(super) state: State,
    eph: cognito::Ephemeral,
    file: Option<StateFile>,
}

pub(super) struct Shared {
    world: Mutex<World>,
    pub(super) clock: Clock,
    addr: SocketAddr,
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
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                state,
                eph: cognito::Ephemeral::default(),
                file,
            }),
            clock: Clock::new(),
            addr,
        });
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
    let rid = crypto::uuid_v4();
    if headers.contains_key("x-amz-target") {
        let mut e = CognitoError::new(code, msg);
        e.status = status.as_u16();
        cognito_error(&e, &rid)
    } else {
        query_error(&QueryError::new(code, status.as_u16(), msg), None, &rid)
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
    if path == "/_authsim" || path.starts_with("/_authsim/") {
        return super::admin::admin(shared, method, path, query, body);
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
        return super::admin::jwks(shared, pool_id);
    }
    if *method == Method::POST {
        if headers.contains_key("x-amz-target") {
            return cognito_request(
                shared,
                &Raw {
                    method,
                    path,
                    query,
                },
                headers,
                body,
            );
        }
        let mut params = Params::parse(body);
        params.extend(Params::parse(query.as_bytes()));
        return query_request(
            shared,
            &Raw {
                method,
                path,
                query,
            },
            headers,
            body,
            &params,
        );
    }
    if *method == Method::GET && path == "/" && !query.is_empty() {
        return query_request(
            shared,
            &Raw {
                method,
                path,
                query,
            },
            headers,
            body,
            &Params::parse(query.as_bytes()),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"message": format!("No route for {method} {path}: POST AWS API calls to / (see `authsim emulator --help`)")}),
    )
}

fn ctx(shared: &Shared, headers: &HeaderMap, credential: Option<Credential>) -> Ctx {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| shared.addr.to_string());
    Ctx {
        now: shared.clock.now(),
        now_secs: shared.clock.now_secs(),
        request_id: crypto::uuid_v4(),
        region: credential
            .as_ref()
            .map(|c| c.region.clone())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        base_url: format!("http://{host}"),
        credential,
    }
}

pub(super) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, World> {
    shared
        .world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write the state file if the request changed anything; `false` if writing failed.
fn persist(world: &mut World) -> bool {
    let World { state, file, .. } = world;
    match file {
        None => true,
        Some(f) => match f.save_if_changed(state) {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot persist state");
                false
            }
        },
    }
}

pub(super) fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn with_request_id(mut r: Response, rid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(rid) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

fn cognito_error(e: &CognitoError, rid: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        e.to_json().to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}:", e.kind)) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    with_request_id(r, rid)
}

/// The request line, as signed.
struct Raw<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a str,
}

/// For a key the stand-in issued (CreateAccessKey), check the SigV4 signature itself.
fn signature_problem(
    world: &World,
    cred: Option<&Credential>,
    raw: &Raw,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    let cred = cred?;
    let key = world.state.iam.access_keys.get(&cred.access_key_id)?;
    sigv4::verify(
        cred,
        key.secret.expose(),
        raw.method.as_str(),
        raw.path,
        raw.query,
        headers,
        body,
    )
    .err()
}

fn cognito_request(shared: &Shared, raw: &Raw, headers: &HeaderMap, body: &Bytes) -> Response {
    let rid = crypto::uuid_v4();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(action) = target
        .strip_prefix(cognito::TARGET_PREFIX)
        .filter(|a| cognito::ACTIONS.contains(a))
    else {
        tracing::info!(target, "unknown operation");
        return cognito_error(
            &CognitoError::new(
                "UnknownOperationException",
                format!(
                    "Unknown operation {target}: the authsim emulator implements Cognito user-pool actions {}",
                    cognito::ACTIONS.join(", ")
                ),
            ),
            &rid,
        );
    };
    let credential = match sigv4::check(headers, &[]) {
        Ok(c) => Some(c),
        Err(e) if cognito::needs_signature(action) => {
            let err = match e {
                SigError::Missing => CognitoError::new(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ),
                SigError::Incomplete(m) => CognitoError::new("IncompleteSignatureException", m),
            };
            return cognito_error(&err, &rid);
        }
        Err(_) => None,
    };
    if let Some(c) = &credential
        && cognito::needs_signature(action)
        && c.service != "cognito-idp"
    {
        return cognito_error(
            &CognitoError::new(
                "IncompleteSignatureException",
                format!(
                    "Credential should be scoped to correct service: 'cognito-idp', not '{}'.",
                    c.service
                ),
            ),
            &rid,
        );
    }
    let parsed: Result<Value, _> = if body.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_slice(body)
    };
    let obj = match parsed {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => {
            return cognito_error(
                &CognitoError::new(
                    "SerializationException",
                    "The request body is not a JSON object.",
                ),
                &rid,
            );
        }
    };
    let mut c = ctx(shared, headers, credential);
    c.request_id = rid.clone();
    let mut world = lock(shared);
    if let Some(m) = signature_problem(&world, c.credential.as_ref(), raw, headers, body) {
        return cognito_error(&CognitoError::new("InvalidSignatureException", m), &rid);
    }
    let World { state, eph, .. } = &mut *world;
    let result = cognito::handle(&mut state.cognito, eph, action, &obj, &c);
    let saved = persist(&mut world);
    drop(world);
    match result {
        Ok(_) if !saved => cognito_error(
            &CognitoError::internal("The emulator could not write its state file."),
            &rid,
        ),
        Ok(v) => {
            tracing::info!(action, status = 200, "cognito");
            with_request_id(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                    v.to_string(),
                )
                    .into_response(),
                &rid,
            )
        }
        Err(e) => {
            tracing::info!(action, error = e.kind, "cognito");
            cognito_error(&e, &rid)
        }
    }
}

fn xml_response(status: StatusCode, body: String, rid: &str) -> Response {
    with_request_id(
        (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response(),
        rid,
    )
}

fn query_error(e: &QueryError, ns: Option<&str>, rid: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, e.to_xml(ns, rid), rid)
}

fn query_request(
    shared: &Shared,
    raw: &Raw,
    headers: &HeaderMap,
    body: &Bytes,
    params: &Params,
) -> Response {
    let query = raw.query;
    let rid = crypto::uuid_v4();
    let Some(action) = params.get("Action") else {
        return query_error(
            &QueryError::new(
                "MissingAction",
                400,
                "The request is missing an action: POST form-encoded Action=...&Version=... (IAM, STS) or JSON with an X-Amz-Target header (Cognito).",
            ),
            None,
            &rid,
        );
    };
    let url_pairs = Params::parse(query.as_bytes());
    let credential = match sigv4::check(headers, url_pairs.pairs()) {
        Ok(c) => c,
        Err(SigError::Missing) => {
            return query_error(
                &QueryError::new(
                    "MissingAuthenticationToken",
                    403,
                    "Request is missing Authentication Token",
                ),
                None,
                &rid,
            );
        }
        Err(SigError::Incomplete(m)) => {
            return query_error(&QueryError::new("IncompleteSignature", 400, m), None, &rid);
        }
    };
    let service = match credential.service.as_str() {
        "iam" => "iam",
        "sts" => "sts",
        other => {
            return query_error(
                &QueryError::new(
                    "IncompleteSignature",
                    400,
                    format!(
                        "Credential should be scoped to correct service: 'iam' or 'sts', not '{other}'."
                    ),
                ),
                None,
                &rid,
            );
        }
    };
    let (ns, version) = if service == "iam" {
        (iam::NS, iam::VERSION)
    } else {
        (sts::NS, sts::VERSION)
    };
    if let Some(v) = params.get("Version")
        && v != version
    {
        return query_error(
            &QueryError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {action} for version {v}"),
            ),
            Some(ns),
            &rid,
        );
    }
    let action = action.to_owned();
    let mut c = ctx(shared, headers, Some(credential));
    c.request_id = rid.clone();
    let mut world = lock(shared);
    if let Some(m) = signature_problem(&world, c.credential.as_ref(), raw, headers, body) {
        return query_error(
            &QueryError::new("SignatureDoesNotMatch", 403, m),
            Some(ns),
            &rid,
        );
    }
    let result = if service == "iam" {
        iam::handle(&mut world.state.iam, &action, params, &c)
    } else {
        sts::handle(&mut world.state.iam, &action, params, &c)
    };
    let saved = persist(&mut world);
    drop(world);
    match result {
        Ok(_) if !saved => query_error(
            &QueryError::new(
                "ServiceFailure",
                500,
                "The emulator could not write its state file.",
            ),
            Some(ns),
            &rid,
        ),
        Ok(body) => {
            tracing::info!(service, action, status = 200, "query");
            xml_response(StatusCode::OK, body, &rid)
        }
        Err(e) => {
            tracing::info!(service, action, error = %e.code, "query");
            query_error(&e, Some(ns), &rid)
        }
    }
}
