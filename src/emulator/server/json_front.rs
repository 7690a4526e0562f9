//! The JSON 1.1 front (Cognito): `X-Amz-Target` to an action, SigV4 where the action needs
//! it, the body to a JSON object, the answer or Cognito's error shape.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::world::{Raw, Shared, World, request_id, with_request_id};
use crate::emulator::cognito::{self, CognitoError};
use crate::emulator::sigv4::{self, Credential, SigError};

/// Cognito's error shape (JSON 1.1 `{"__type", "message"}`, `x-amzn-ErrorType`).
pub(super) fn cognito_error(e: &CognitoError, rid: &str) -> Response {
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

/// The action named by `X-Amz-Target`, if the stand-in implements it.
fn action_of(headers: &HeaderMap) -> Result<&'static cognito::Action, CognitoError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    target
        .strip_prefix(cognito::TARGET_PREFIX)
        .and_then(cognito::action)
        .ok_or_else(|| {
            tracing::info!(target, "unknown operation");
            CognitoError::new(
                "UnknownOperationException",
                format!(
                    "Unknown operation {target}: the authsim emulator implements Cognito user-pool actions {}",
                    cognito::action_names().join(", ")
                ),
            )
        })
}

/// The SigV4 credential: required (and scoped to `cognito-idp`) for administrative actions,
/// optional for the user-facing ones.
fn credential_for(
    action: &cognito::Action,
    headers: &HeaderMap,
) -> Result<Option<Credential>, CognitoError> {
    match sigv4::check(headers, &[]) {
        Ok(c) if action.signed && c.service != "cognito-idp" => Err(CognitoError::new(
            "IncompleteSignatureException",
            format!(
                "Credential should be scoped to correct service: 'cognito-idp', not '{}'.",
                c.service
            ),
        )),
        Ok(c) => Ok(Some(c)),
        Err(SigError::Missing) if action.signed => Err(CognitoError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )),
        Err(SigError::Incomplete(m)) if action.signed => {
            Err(CognitoError::new("IncompleteSignatureException", m))
        }
        Err(_) => Ok(None),
    }
}

fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, CognitoError> {
    let parsed: Result<Value, _> = if body.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_slice(body)
    };
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) | Err(_) => Err(CognitoError::new(
            "SerializationException",
            "The request body is not a JSON object.",
        )),
    }
}

/// Serve one Cognito request.
pub(super) fn cognito_request(
    shared: &Shared,
    raw: &Raw,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let rid = request_id();
    let prepared = action_of(headers).and_then(|action| {
        let credential = credential_for(action, headers)?;
        Ok((action, credential, body_object(body)?))
    });
    let (action, credential, obj) = match prepared {
        Ok(p) => p,
        Err(e) => return cognito_error(&e, &rid),
    };
    let c = shared.ctx(headers, credential, &rid);
    let mut world = shared.lock();
    if let Some(m) = world.signature_problem(c.credential.as_ref(), raw, headers, body) {
        return cognito_error(&CognitoError::new("InvalidSignatureException", m), &rid);
    }
    let World { state, eph, .. } = &mut *world;
    let result = cognito::handle(&mut state.cognito, eph, action, &obj, &c);
    let saved = world.persist();
    drop(world);
    let name = action.name;
    match result {
        Ok(_) if !saved => cognito_error(
            &CognitoError::internal("The emulator could not write its state file."),
            &rid,
        ),
        Ok(v) => {
            tracing::info!(action = name, status = 200, "cognito");
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
            tracing::info!(action = name, error = e.kind, "cognito");
            cognito_error(&e, &rid)
        }
    }
}
