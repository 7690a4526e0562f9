//! The control API: HTTP/1.1 + JSON on a Unix socket (and, when asked, loopback TCP with a
//! bearer token). Its resources follow the W3C WebDriver virtual-authenticator extension
//! (`/webauthn/authenticator...`, without WebDriver's session prefix), plus presence control,
//! power cycles, the attestation CA and the TOTP vault. `src/api/openapi.yaml` describes it;
//! the tests validate real responses against that file.
//!
//! - [`server`]: the listeners (peer uid check on the Unix socket, bearer token on TCP).
//! - [`client`]: the CLI's client.
//!
//! Every error is a JSON object `{"error": CODE, "message": TEXT}` with the HTTP status that
//! fits (400 malformed, 404 unknown key/credential/entry/path, 405 method, 409 conflict, 503
//! unavailable); messages never quote a secret.

pub mod client;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::daemon::keys::{
    AttestationName, CounterName, KeySpec, Listening, ProtocolName, VirtualKey,
};
use crate::daemon::presence::{Decision, PendingRequest, PresencePolicy};
use crate::vault::{self, Fresh, Vault, VaultError};

/// The OpenAPI description of this API (served at `/openapi.yaml`).
pub const OPENAPI_YAML: &str = include_str!("openapi.yaml");

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-argument", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message });
        json_response(self.status, &body)
    }
}

/// A JSON response with `status`.
fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn ok(body: &impl Serialize) -> Response {
    json_response(StatusCode::OK, body)
}

type ApiResult = Result<Response, ApiError>;

/// Parses a JSON body; anything malformed is a 400 that says what is wrong.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad(format!("this request needs a JSON body: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("malformed JSON body: {e}")))
}

/// base64url as WebDriver uses it (padding optional on input, none on output).
fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

fn decode_b64(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    b64()
        .decode(s.trim())
        .map_err(|_| ApiError::bad(format!("{field} is not base64url")))
}

/// The router over the daemon's state.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/openapi.yaml", get(openapi))
        .route("/attestation-ca", get(attestation_ca))
        .route("/webauthn/authenticator", get(list_keys).post(add_key))
        .route(
            "/webauthn/authenticator/{id}",
            get(get_key).delete(remove_key),
        )
        .route(
            "/webauthn/authenticator/{id}/credential",
            post(add_credential),
        )
        .route(
            "/webauthn/authenticator/{id}/credentials",
            get(list_credentials)
                .post(add_credentials)
                .delete(remove_all_credentials),
        )
        .route(
            "/webauthn/authenticator/{id}/credentials/{cred}",
            axum::routing::delete(remove_credential),
        )
        .route("/webauthn/authenticator/{id}/uv", post(set_uv))
        .route(
            "/webauthn/authenticator/{id}/presence",
            get(get_presence).put(set_presence),
        )
        .route(
            "/webauthn/authenticator/{id}/presence/requests",
            get(list_requests),
        )
        .route(
            "/webauthn/authenticator/{id}/presence/requests/{rid}",
            post(decide_request),
        )
        .route(
            "/webauthn/authenticator/{id}/power-cycle",
            post(power_cycle),
        )
        .route("/totp", get(list_totp).post(add_totp))
        .route("/totp/{name}", get(get_totp).delete(remove_totp))
        .route("/totp/{name}/code", get(totp_code))
        .route("/totp/{name}/codes", get(totp_codes))
        .route("/totp/{name}/fresh", post(totp_fresh))
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
        .with_state(daemon)
}

type St = State<Arc<Daemon>>;

async fn status(State(d): St) -> ApiResult {
    let keys = d.keys.lock().await;
    Ok(ok(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "stateDir": d.state_dir,
        "uhid": d.uhid_available,
        "authenticators": keys.keys().collect::<Vec<_>>(),
    })))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaQuery {
    format: Option<String>,
}

async fn attestation_ca(State(d): St, Query(q): Query<CaQuery>) -> ApiResult {
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

// --- authenticators -----------------------------------------------------------------------

/// A key as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView<'a> {
    authenticator_id: &'a str,
    #[serde(flatten)]
    spec: &'a KeySpec,
    transport: &'static str,
    is_user_consenting: bool,
    extensions: [&'static str; 0],
    listening: &'a Listening,
}

fn key_view(k: &VirtualKey) -> Value {
    let mut spec = k.spec.clone();
    spec.presence = k.presence.policy();
    spec.is_user_verified = k.presence.user_verified();
    let view = KeyView {
        authenticator_id: &k.spec.name,
        spec: &spec,
        transport: "usb",
        is_user_consenting: spec.presence != PresencePolicy::Deny,
        extensions: [],
        listening: &k.listening,
    };
    serde_json::to_value(view).unwrap_or(Value::Null)
}

fn no_key(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no authenticator {id:?} (GET /webauthn/authenticator lists them)"
    ))
}

async fn list_keys(State(d): St) -> ApiResult {
    let keys = d.keys.lock().await;
    Ok(ok(&keys.values().map(key_view).collect::<Vec<_>>()))
}

async fn get_key(State(d): St, Path(id): Path<String>) -> ApiResult {
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    Ok(ok(&key_view(k)))
}

/// The body of "Add Virtual Authenticator" (WebDriver's names, and authsim's own).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewKey {
    name: Option<String>,
    protocol: Option<ProtocolName>,
    transport: Option<String>,
    has_resident_key: Option<bool>,
    has_user_verification: Option<bool>,
    is_user_consenting: Option<bool>,
    is_user_verified: Option<bool>,
    extensions: Option<Vec<String>>,
    default_backup_eligibility: Option<bool>,
    default_backup_state: Option<bool>,
    attestation: Option<AttestationName>,
    counter_mode: Option<CounterName>,
    presence: Option<PresencePolicy>,
    aaguid: Option<String>,
    max_resident_credentials: Option<usize>,
    uhid: Option<bool>,
    hid_socket: Option<PathBuf>,
    hid_udp: Option<std::net::SocketAddr>,
    product_name: Option<String>,
    /// A PIN the new key gets at once (CTAP 2.1 keys with clientPin only); never stored by the
    /// daemon, never shown.
    pin: Option<String>,
}

fn spec_from(d: &Daemon, n: NewKey) -> Result<KeySpec, ApiError> {
    let name = match n.name {
        Some(name) => name,
        None => {
            let mut r = [0u8; 4];
            getrandom::fill(&mut r).map_err(|e| ApiError::internal(e.to_string()))?;
            format!("key-{}", hex::encode(r))
        }
    };
    let mut spec = KeySpec::with_defaults(&name);
    if let Some(t) = n.transport
        && t != "usb"
    {
        return Err(ApiError::bad(format!(
            "transport {t:?}: authsim keys are USB HID devices; use \"usb\""
        )));
    }
    if let Some(ext) = n.extensions
        && !ext.is_empty()
    {
        return Err(ApiError::bad(format!(
            "extensions {ext:?}: this authenticator implements no CTAP extensions yet; pass []"
        )));
    }
    if n.default_backup_eligibility == Some(true) || n.default_backup_state == Some(true) {
        return Err(ApiError::bad(
            "backup eligibility/state: a security key's credentials are device-bound; pass false",
        ));
    }
    if let Some(p) = n.protocol {
        spec.protocol = p;
    }
    if let Some(v) = n.has_resident_key {
        spec.has_resident_key = v;
    }
    if let Some(v) = n.has_user_verification {
        spec.has_user_verification = v;
    }
    if let Some(v) = n.is_user_verified {
        spec.is_user_verified = v;
    }
    spec.presence = match (n.presence, n.is_user_consenting) {
        (Some(PresencePolicy::Deny), Some(true))
        | (Some(PresencePolicy::Auto | PresencePolicy::Manual), Some(false)) => {
            return Err(ApiError::bad(
                "presence and isUserConsenting disagree; give one of them",
            ));
        }
        (Some(p), _) => p,
        (None, Some(false)) => PresencePolicy::Deny,
        (None, _) => PresencePolicy::Auto,
    };
    if let Some(a) = n.attestation {
        spec.attestation = a;
    }
    if let Some(c) = n.counter_mode {
        spec.counter_mode = c;
    }
    if let Some(a) = n.aaguid {
        spec.aaguid = a;
    }
    if let Some(m) = n.max_resident_credentials {
        spec.max_resident_credentials = m;
    }
    if let Some(p) = n.product_name {
        spec.product_name = p;
    }
    spec.hid_socket = n.hid_socket;
    spec.hid_udp = n.hid_udp;
    spec.uhid = match n.uhid {
        Some(true) if !d.uhid_available => {
            return Err(ApiError::unavailable(format!(
                "/dev/uhid is not usable by the daemon ({}); ask for hidSocket or hidUdp instead",
                d.uhid_problem.as_deref().unwrap_or("unknown reason")
            )));
        }
        Some(v) => v,
        None => spec.hid_socket.is_none() && spec.hid_udp.is_none() && d.uhid_available,
    };
    if !spec.uhid && spec.hid_socket.is_none() && spec.hid_udp.is_none() {
        spec.hid_socket = Some(d.run_dir.join(format!("hid-{}.sock", spec.name)));
    }
    spec.validate().map_err(|e| ApiError::bad(e.0))?;
    Ok(spec)
}

async fn add_key(State(d): St, body: Bytes) -> ApiResult {
    let mut n: NewKey = parse_body(&body)?;
    let pin = n.pin.take().map(firmware_sim::SecretPin::new);
    let spec = spec_from(&d, n)?;
    if let Some(pin) = &pin {
        if spec.protocol != ProtocolName::Ctap21 {
            return Err(ApiError::bad(
                "pin: only a ctap2_1 key has a PIN (clientPin); drop pin or use protocol ctap2_1",
            ));
        }
        firmware_sim::check_pin(pin.as_str()).map_err(|e| ApiError::bad(format!("pin: {e}")))?;
    }
    let mut keys = d.keys.lock().await;
    if keys.contains_key(&spec.name) {
        return Err(ApiError::conflict(format!(
            "an authenticator named {:?} exists already",
            spec.name
        )));
    }
    let key = d.start_key(spec, true).await.map_err(|e| match e {
        crate::daemon::keys::StartError::Spec(b) => ApiError::bad(b.0),
        crate::daemon::keys::StartError::Uhid(u) => ApiError::unavailable(u.to_string()),
        crate::daemon::keys::StartError::Transport(t) => ApiError::conflict(t.to_string()),
        other => ApiError::internal(other.to_string()),
    })?;
    if let Some(pin) = pin {
        let set = key
            .call(move |dev| {
                let (token, env) = dev.parts();
                token.set_pin(env, pin.as_str())
            })
            .await;
        if let Err(e) = set
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            // The key is not what was asked for: it does not stay.
            let name = key.spec.name.clone();
            key.stop().await;
            let _ = d.forget_key(&name).await;
            return Err(ApiError::internal(format!("setting the PIN failed: {e}")));
        }
    }
    let view = key_view(&key);
    keys.insert(key.spec.name.clone(), key);
    Ok(json_response(StatusCode::CREATED, &view))
}

async fn remove_key(State(d): St, Path(id): Path<String>) -> ApiResult {
    let mut keys = d.keys.lock().await;
    let key = keys.remove(&id).ok_or_else(|| no_key(&id))?;
    key.stop().await;
    d.forget_key(&id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- credentials --------------------------------------------------------------------------

/// WebDriver's Credential Parameters (authsim adds the user's names and reads no largeBlob).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewCredential {
    credential_id: String,
    is_resident_credential: bool,
    rp_id: String,
    private_key: String,
    user_handle: Option<String>,
    sign_count: Option<u32>,
    large_blob: Option<String>,
    user_name: Option<String>,
    user_display_name: Option<String>,
    backup_eligibility: Option<bool>,
    backup_state: Option<bool>,
    user_name_hint: Option<String>,
}

fn credential_view(c: &firmware_sim::ResidentCredentialInfo) -> Value {
    let e = b64();
    let mut v = json!({
        "credentialId": e.encode(&c.credential_id),
        "isResidentCredential": c.discoverable,
        "rpId": c.rp_id,
        "signCount": c.sign_count,
        "algorithm": c.algorithm,
        "publicKey": e.encode(&c.public_key_cose),
    });
    if !c.user.id.is_empty() {
        v["userHandle"] = json!(e.encode(&c.user.id));
    }
    if let Some(n) = &c.user.name {
        v["userName"] = json!(n);
    }
    if let Some(n) = &c.user.display_name {
        v["userDisplayName"] = json!(n);
    }
    v
}

/// Checks one WebDriver credential and turns it into what the token stores, and the view of it
/// the API answers with (built from the input: listing every stored credential again would
/// make each import cost as much as all the ones before it).
fn to_import(
    n: NewCredential,
) -> Result<
    (
        firmware_sim::ImportedCredential,
        firmware_sim::ResidentCredentialInfo,
    ),
    ApiError,
> {
    if n.large_blob.is_some() {
        return Err(ApiError::bad(
            "largeBlob: this authenticator has no largeBlob support",
        ));
    }
    if n.backup_eligibility == Some(true) || n.backup_state == Some(true) {
        return Err(ApiError::bad(
            "backup eligibility/state: a security key's credentials are device-bound",
        ));
    }
    let _ = n.user_name_hint;
    if n.rp_id.is_empty() {
        return Err(ApiError::bad("rpId must not be empty"));
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
            name: n.user_name,
            display_name: n.user_display_name,
        })
    };
    let public_key_cose = key
        .cose_public_key()
        .map(|v| firmware_sim::cbor::encode(&v))
        .map_err(|e| ApiError::bad(format!("privateKey: {e}")))?;
    let sign_count = n.sign_count.unwrap_or(0);
    let info = firmware_sim::ResidentCredentialInfo {
        credential_id: cred_id.clone(),
        rp_id: n.rp_id.clone(),
        user: user.clone().unwrap_or_default(),
        algorithm: key.algorithm().cose_id(),
        public_key_cose,
        sign_count,
        discoverable: n.is_resident_credential,
    };
    let imported = firmware_sim::ImportedCredential {
        id: cred_id,
        rp_id: n.rp_id,
        user,
        key,
        sign_count,
        discoverable: n.is_resident_credential,
    };
    Ok((imported, info))
}

fn import_error(e: firmware_sim::ImportError) -> ApiError {
    match e {
        firmware_sim::ImportError::Store(e) => ApiError::internal(e.to_string()),
        e @ firmware_sim::ImportError::Full(_) => ApiError::conflict(e.to_string()),
        e => ApiError::bad(e.to_string()),
    }
}

async fn add_credential(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let (imported, info) = to_import(parse_body(&body)?)?;
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    k.call(move |dev| {
        let (token, env) = dev.parts();
        token.import_credential(env, imported)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(import_error)?;
    Ok(json_response(StatusCode::CREATED, &credential_view(&info)))
}

/// Most credentials one bulk import may carry.
const MAX_BULK: usize = 10_000;

/// authsim's bulk form of Add Credential: a JSON array, stored all or nothing in one commit.
async fn add_credentials(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let list: Vec<NewCredential> = parse_body(&body)?;
    if list.is_empty() || list.len() > MAX_BULK {
        return Err(ApiError::bad(format!(
            "send 1 to {MAX_BULK} credentials per request"
        )));
    }
    let mut batch = Vec::with_capacity(list.len());
    for (i, n) in list.into_iter().enumerate() {
        let (imported, _) = to_import(n).map_err(|e| ApiError {
            message: format!("credential #{i}: {}", e.message),
            ..e
        })?;
        batch.push(imported);
    }
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    let stored = k
        .call(move |dev| {
            let (token, env) = dev.parts();
            token.import_credentials(env, batch)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(import_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "stored": stored }),
    ))
}

/// Runs `work` on the token of key `id`, on the key's thread; errors become API errors.
async fn on_token<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    d: &Daemon,
    id: &str,
    work: impl FnOnce(&mut firmware_sim::Token, &mut crate::daemon::env::DeviceEnv) -> Result<T, E>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let keys = d.keys.lock().await;
    let k = keys.get(id).ok_or_else(|| no_key(id))?;
    k.call(move |dev| {
        let (token, env) = dev.parts();
        work(token, env)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))
}

async fn list_credentials(State(d): St, Path(id): Path<String>) -> ApiResult {
    let creds = on_token(&d, &id, |token, env| token.credentials(env)).await?;
    Ok(ok(&creds.iter().map(credential_view).collect::<Vec<_>>()))
}

async fn remove_credential(State(d): St, Path((id, cred)): Path<(String, String)>) -> ApiResult {
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

async fn remove_all_credentials(State(d): St, Path(id): Path<String>) -> ApiResult {
    let n = on_token(&d, &id, |token, env| token.remove_all_credentials(env)).await?;
    Ok(ok(&json!({ "removed": n })))
}

// --- user verification, presence, power --------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetUv {
    is_user_verified: bool,
}

async fn set_uv(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b: SetUv = parse_body(&body)?;
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    k.presence.set_user_verified(b.is_user_verified);
    Ok(ok(&key_view(k)))
}

fn presence_view(k: &VirtualKey) -> Value {
    json!({ "policy": k.presence.policy(), "pending": k.presence.pending() })
}

async fn get_presence(State(d): St, Path(id): Path<String>) -> ApiResult {
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    Ok(ok(&presence_view(k)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPresence {
    policy: PresencePolicy,
}

async fn set_presence(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b: SetPresence = parse_body(&body)?;
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    k.presence.set_policy(b.policy);
    let _ = k.wake().await;
    Ok(ok(&presence_view(k)))
}

async fn list_requests(State(d): St, Path(id): Path<String>) -> ApiResult {
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    let pending: Vec<PendingRequest> = k.presence.pending();
    Ok(ok(&pending))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecideBody {
    action: String,
    user_verified: Option<bool>,
}

async fn decide_request(
    State(d): St,
    Path((id, rid)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let b: DecideBody = parse_body(&body)?;
    let rid: u64 = rid
        .parse()
        .map_err(|_| ApiError::bad(format!("request id {rid:?} is not a number")))?;
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    let decision = match b.action.as_str() {
        "approve" => Decision::Approve {
            verified: b
                .user_verified
                .unwrap_or_else(|| k.presence.user_verified()),
        },
        "deny" => Decision::Deny,
        other => {
            return Err(ApiError::bad(format!(
                "action {other:?}: use \"approve\" or \"deny\""
            )));
        }
    };
    k.presence
        .decide(rid, decision)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let _ = k.wake().await;
    Ok(ok(&json!({ "id": rid, "action": b.action })))
}

async fn power_cycle(State(d): St, Path(id): Path<String>) -> ApiResult {
    let keys = d.keys.lock().await;
    let k = keys.get(&id).ok_or_else(|| no_key(&id))?;
    k.power_cycle().await.map_err(ApiError::internal)?;
    Ok(ok(&key_view(k)))
}

// --- TOTP ---------------------------------------------------------------------------------

fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::NotFound(_) => ApiError::not_found(e.to_string()),
        VaultError::Exists(_) => ApiError::conflict(e.to_string()),
        VaultError::Store(_) | VaultError::Damaged(..) => ApiError::internal(e.to_string()),
        other => ApiError::bad(other.to_string()),
    }
}

/// Runs `f` on the vault off the async threads (SQLite commits are synchronous).
async fn with_vault<T: Send + 'static>(
    d: &Arc<Daemon>,
    f: impl FnOnce(&mut Vault) -> Result<T, VaultError> + Send + 'static,
) -> Result<T, ApiError> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let mut v = d.vault.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut v)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(vault_error)
}

async fn list_totp(State(d): St) -> ApiResult {
    let list = with_vault(&d, |v| v.list()).await?;
    Ok(ok(&list))
}

async fn get_totp(State(d): St, Path(name): Path<String>) -> ApiResult {
    let info = with_vault(&d, move |v| v.info(&name)).await?;
    Ok(ok(&info))
}

/// A new TOTP entry: an otpauth URI, or a base32 secret with its parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTotp {
    name: String,
    uri: Option<String>,
    secret: Option<String>,
    issuer: Option<String>,
    account: Option<String>,
    algorithm: Option<String>,
    digits: Option<u8>,
    period: Option<u64>,
}

async fn add_totp(State(d): St, body: Bytes) -> ApiResult {
    let mut n: NewTotp = parse_body(&body)?;
    // The secret is wiped from memory once parsed.
    let uri = n.uri.take().map(zeroize::Zeroizing::new);
    let secret = n.secret.take().map(zeroize::Zeroizing::new);
    let params = match (&uri, &secret) {
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
            vault::uri::parse(uri).map_err(|e| ApiError::bad(e.to_string()))?
        }
        (None, Some(secret)) => {
            let s = vault::SecretBytes::from_base32(secret)
                .map_err(|e| ApiError::bad(e.to_string()))?;
            let mut p = vault::EntryParams::new(s);
            p.issuer = n.issuer.filter(|s| !s.trim().is_empty());
            p.account = n.account.filter(|s| !s.trim().is_empty());
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
            p
        }
        _ => return Err(ApiError::bad("give exactly one of uri and secret")),
    };
    let name = n.name;
    let info = with_vault(&d, move |v| v.add(&name, &params)).await?;
    Ok(json_response(StatusCode::CREATED, &info))
}

async fn remove_totp(State(d): St, Path(name): Path<String>) -> ApiResult {
    with_vault(&d, move |v| v.remove(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeQuery {
    at: Option<u64>,
    count: Option<u32>,
}

async fn totp_code(
    State(d): St,
    Path(name): Path<String>,
    Query(q): Query<CodeQuery>,
) -> ApiResult {
    if q.count.is_some() {
        return Err(ApiError::bad("count belongs to /codes"));
    }
    let at = q.at.unwrap_or_else(crate::cli::now_unix);
    let code = with_vault(&d, move |v| v.code_at(&name, at)).await?;
    Ok(ok(&code))
}

async fn totp_codes(
    State(d): St,
    Path(name): Path<String>,
    Query(q): Query<CodeQuery>,
) -> ApiResult {
    let at = q.at.unwrap_or_else(crate::cli::now_unix);
    let count = q.count.unwrap_or(2);
    let codes = with_vault(&d, move |v| v.codes(&name, at, count)).await?;
    Ok(ok(&json!({ "codes": codes })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FreshBody {
    count: Option<u32>,
    allow_next: Option<bool>,
}

async fn totp_fresh(State(d): St, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let b: FreshBody = parse_body(&body)?;
    let now = crate::cli::now_unix();
    let count = b.count.unwrap_or(1);
    let allow_next = b.allow_next.unwrap_or(false);
    match with_vault(&d, move |v| v.fresh(&name, now, count, allow_next)).await? {
        Fresh::Ready(codes) => Ok(ok(&json!({ "codes": codes }))),
        Fresh::WaitUntil(t) => {
            let body = json!({
                "error": "code-used",
                "message": "every acceptable time step was handed out already; ask again at retryAt (or pass allowNext)",
                "retryAt": t,
                "retryAfterSeconds": t.saturating_sub(now),
            });
            let mut resp = json_response(StatusCode::CONFLICT, &body);
            if let Ok(v) = HeaderValue::from_str(&t.saturating_sub(now).max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(resp)
        }
    }
}
