//! The API's error type and the small helpers every route uses: JSON responses, body parsing,
//! base64url.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, de::DeserializeOwned};

use super::types::ErrorBody;

/// An error response: `{"error": CODE, "message": TEXT}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-argument", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    pub(super) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub(super) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub(super) fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the request body is larger than this resource takes ({limit} bytes)"),
        )
    }

    pub(super) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        json_response(self.status, &body)
    }
}

/// A JSON response with `status`.
pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
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

/// A 200 JSON response.
pub(super) fn ok(body: &impl Serialize) -> Response {
    json_response(StatusCode::OK, body)
}

/// What a route answers.
pub(super) type ApiResult = Result<Response, ApiError>;

/// Parses a JSON body; anything malformed is a 400 that names the field at fault and what it
/// should be, never the value that was sent (it may be a secret put in the wrong field).
pub(super) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, &e.into_inner())
    })?;
    de.end().map_err(|e| json_error("", &e))?;
    Ok(value)
}

/// A JSON body's error: where the syntax broke, or which field has the wrong type or value.
fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::bad(format!(
                "malformed JSON body (line {}, column {}): send one JSON value with Content-Type: application/json",
                e.line(),
                e.column()
            ))
        }
        _ => ApiError::bad(field_message("body", path, &e.to_string())),
    }
}

/// A query string parsed as `T`; errors are 400s in the API's JSON shape that name the
/// parameter, never its value.
#[derive(Debug)]
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                ApiError::bad(field_message("query", &path, &e.into_inner().to_string()))
            })
    }
}

/// serde's message about `path` without the value it quotes: serde writes `invalid type:
/// string "VALUE", expected ...`, `invalid value: ...`, `unknown variant `VALUE`, expected
/// ...`; only what was expected is kept.
pub(super) fn field_message(place: &str, path: &str, message: &str) -> String {
    // serde_json appends the position; it says nothing about the value.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let what = if path.is_empty() || path == "." {
        place.to_owned()
    } else {
        path.to_owned()
    };
    let expected = |rest: &str| {
        rest.split_once(", expected ")
            .map(|(_, e)| e.to_owned())
            .unwrap_or_else(|| "another value".to_owned())
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let got = rest.split([' ', ',']).next().unwrap_or("value");
        return format!("{what}: expected {}, got a {got}", expected(rest));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return format!("{what}: invalid value; expected {}", expected(rest));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("{what}: unknown value; expected {}", expected(rest));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // The name of a field is not a value, but a long one is cut.
        let name: String = rest
            .split(", expected")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(66)
            .collect();
        return format!("{what}: unknown field {name}; expected {}", expected(rest));
    }
    if message.starts_with("missing field ") || message.starts_with("invalid length ") {
        return format!("{what}: {message}");
    }
    // Any other message (a type's own parser) is kept only when it quotes nothing.
    if message.contains(['"', '`', '\'']) {
        format!("{what}: invalid value")
    } else {
        format!("{what}: {message}")
    }
}

/// Refuses text with control characters (C0, DEL, C1; NUL included) or bidi overrides: names,
/// issuers and accounts reach terminals and logs, where such characters are escape sequences.
pub(super) fn no_controls(field: &str, text: &str) -> Result<(), ApiError> {
    if crate::vault::has_controls(text) {
        return Err(ApiError::bad(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// base64url as WebDriver writes it: no padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// Decodes a base64url field (padding optional, as WebDriver allows); the error names the
/// field, never its value.
pub(super) fn decode_b64(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    let unpadded = s.trim().trim_end_matches('=');
    data_encoding::BASE64URL_NOPAD
        .decode(unpadded.as_bytes())
        .map_err(|_| ApiError::bad(format!("{field} is not base64url")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{NewCredential, SetUv};

    #[test]
    fn type_errors_name_the_field_never_the_value() {
        let secret = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
        let e = parse_body::<SetUv>(&Bytes::from(format!(r#"{{"isUserVerified":"{secret}"}}"#)))
            .unwrap_err();
        assert!(e.message.contains("isUserVerified"), "{}", e.message);
        assert!(!e.message.contains(secret), "{}", e.message);
        let e = parse_body::<Vec<NewCredential>>(&Bytes::from(format!(
            r#"[{{"credentialId":"AA","isResidentCredential":"{secret}","rpId":"x","privateKey":"AA"}}]"#
        )))
        .unwrap_err();
        assert!(
            e.message.contains("[0].isResidentCredential"),
            "{}",
            e.message
        );
        assert!(!e.message.contains(secret), "{}", e.message);
        let e = parse_body::<crate::api::types::SetPresence>(&Bytes::from(format!(
            r#"{{"policy":"{secret}"}}"#
        )))
        .unwrap_err();
        assert!(
            !e.message.contains(secret) && e.message.contains("policy"),
            "{}",
            e.message
        );
        let e = parse_body::<SetUv>(&Bytes::from("{not json")).unwrap_err();
        assert!(
            e.message.starts_with("malformed JSON body"),
            "{}",
            e.message
        );
        let e =
            parse_body::<SetUv>(&Bytes::from(r#"{"isUserVerified":true} trailing"#)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn messages_keep_only_what_was_expected() {
        assert_eq!(
            field_message(
                "body",
                "a.b",
                r#"invalid type: string "s3cret", expected u32 at line 1 column 9"#
            ),
            "a.b: expected u32, got a string"
        );
        assert_eq!(
            field_message("query", "at", "invalid digit found in string"),
            "at: invalid digit found in string"
        );
        assert!(
            !field_message(
                "body",
                "p",
                "unknown variant `s3cret`, expected `auto` or `deny`"
            )
            .contains("s3cret")
        );
        assert_eq!(
            field_message("body", "", "custom \"quoted s3cret\""),
            "body: invalid value"
        );
    }
}
