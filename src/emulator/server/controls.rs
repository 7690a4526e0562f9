//! The stand-in's own endpoints: the test controls under `/_authsim/` (no authentication;
//! the server binds loopback only) and each pool's JWKS.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::world::{Shared, json_response};
use crate::emulator::cognito;
use crate::emulator::query::Params;

/// A pool's signing key as a JWKS.
pub(super) fn jwks(shared: &Shared, pool_id: &str) -> Response {
    let world = shared.lock();
    let Some(pool) = world.state.cognito.pools.get(pool_id) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": format!("User pool {pool_id} does not exist.")}),
        );
    };
    match cognito::jwt::jwk(&pool.signing_key, &pool.kid) {
        Ok(k) => json_response(StatusCode::OK, &json!({"keys": [k]})),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": e.to_string()}),
        ),
    }
}

fn admin_error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &json!({"error": msg.into()}))
}

fn clock_json(shared: &Shared) -> Value {
    json!({"now": shared.clock.now(), "offset_seconds": shared.clock.offset_secs()})
}

/// Serve one test-control request.
pub(super) fn admin(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &Bytes,
) -> Response {
    match (method.as_str(), path) {
        ("GET", "/_authsim/health") => json_response(StatusCode::OK, &json!({"status": "ok"})),
        ("GET", "/_authsim/clock") => json_response(StatusCode::OK, &clock_json(shared)),
        ("POST", "/_authsim/clock") => shift_clock(shared, body),
        (
            "GET",
            "/_authsim/confirmation-code" | "/_authsim/temporary-password" | "/_authsim/messages",
        ) => user_outbox(shared, path, &Params::parse(query.as_bytes())),
        _ => admin_error(
            StatusCode::NOT_FOUND,
            format!(
                "no control endpoint {method} {path}; see GET /_authsim/health, GET|POST /_authsim/clock, GET /_authsim/confirmation-code, /_authsim/temporary-password, /_authsim/messages"
            ),
        ),
    }
}

/// `POST /_authsim/clock`.
fn shift_clock(shared: &Shared, body: &Bytes) -> Response {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "body must be JSON: {\"offset_seconds\": n} or {\"advance_seconds\": n}",
            );
        }
    };
    let finite = |x: Option<f64>| x.filter(|f| f.is_finite() && f.abs() < 1e10);
    if let Some(o) = finite(v.get("offset_seconds").and_then(Value::as_f64)) {
        shared.clock.set_offset_secs(o);
    } else if let Some(a) = finite(v.get("advance_seconds").and_then(Value::as_f64)) {
        shared.clock.advance_secs(a);
    } else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "give \"offset_seconds\" or \"advance_seconds\" as a number",
        );
    }
    tracing::info!(offset = shared.clock.offset_secs(), "clock shifted");
    json_response(StatusCode::OK, &clock_json(shared))
}

/// What a user was "sent": the pending confirmation code, the last temporary password, or
/// every message.
fn user_outbox(shared: &Shared, path: &str, q: &Params) -> Response {
    let (Some(pool_id), Some(username)) = (q.get("pool"), q.get("username")) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "query parameters pool and username are required",
        );
    };
    let world = shared.lock();
    let Some(pool) = world.state.cognito.pools.get(pool_id) else {
        return admin_error(StatusCode::NOT_FOUND, format!("no user pool {pool_id}"));
    };
    match path {
        "/_authsim/confirmation-code" => match pool
            .users
            .get(username)
            .and_then(|u| u.confirmation.as_ref())
        {
            Some(c) => json_response(StatusCode::OK, &json!({"code": c.code.expose()})),
            None => admin_error(
                StatusCode::NOT_FOUND,
                format!("no pending confirmation code for {username}"),
            ),
        },
        "/_authsim/temporary-password" => match pool
            .outbox
            .iter()
            .rev()
            .find(|m| m.username == username && m.kind == "temporary_password")
        {
            Some(m) => json_response(StatusCode::OK, &json!({"password": m.value.expose()})),
            None => admin_error(
                StatusCode::NOT_FOUND,
                format!("no temporary password was sent to {username}"),
            ),
        },
        _ => {
            let kind = q.get("kind");
            let msgs: Vec<Value> = pool
                .outbox
                .iter()
                .filter(|m| m.username == username && kind.is_none_or(|k| m.kind == k))
                .map(|m| json!({"kind": m.kind, "value": m.value.expose(), "at": m.at}))
                .collect();
            json_response(StatusCode::OK, &json!({"messages": msgs}))
        }
    }
}
