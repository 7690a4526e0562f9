//! Cognito passkeys of a signed-in user: StartWebAuthnRegistration → the WebAuthn client →
//! CompleteWebAuthnRegistration, ListWebAuthnCredentials, DeleteWebAuthnCredential; and the
//! origin a ceremony runs as when none is given.

use crate::aws::{AwsError, Redactor, sdk_error};
use crate::webauthn::{Platform, WebAuthnError};
use aws_sdk_cognitoidentityprovider as cip;
use aws_smithy_types::{Document, Number};
use serde::Serialize;
use serde_json::Value;

/// A passkey as ListWebAuthnCredentials describes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// CredentialId (base64url).
    pub credential_id: String,
    /// FriendlyCredentialName.
    pub name: String,
    /// RelyingPartyId.
    pub rp_id: String,
    /// AuthenticatorAttachment (`cross-platform`, `platform`), if told.
    pub attachment: Option<String>,
    /// AuthenticatorTransports.
    pub transports: Vec<String>,
    /// CreatedAt (Unix seconds).
    pub created: i64,
}

/// What a registration did.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The new credential's id (base64url), as the pool will list it.
    pub credential_id: String,
    /// The relying party id the pool asked for.
    pub rp_id: String,
    /// The origin the ceremony ran as.
    pub origin: String,
}

/// The origin of a ceremony: the one given, else `https://` + the options' relying party id
/// (`rp.id` of creation options, `rpId` of request options), as a page of the RP would be.
pub fn origin_for(given: Option<&str>, options: &Value) -> Result<String, AwsError> {
    if let Some(o) = given {
        return Ok(o.to_string());
    }
    let rp = options
        .pointer("/rp/id")
        .or_else(|| options.get("rpId"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match rp {
        Some(id) => Ok(format!("https://{id}")),
        None => Err(AwsError::Flow(
            "Cognito's options name no relying party id, so the origin cannot be guessed: give --origin (the page the passkey is for, e.g. https://example.com)".into(),
        )),
    }
}

/// What the WebAuthn client refused, as a flow error that says what to do.
pub fn ceremony_error(doing: &str, e: WebAuthnError) -> AwsError {
    let next = match e.name() {
        "InvalidStateError" => {
            "\n  next: this key already holds a passkey the pool lists for this user (it was in excludeCredentials), so it is registered and there is nothing to do; `authsim cognito passkey list` shows it"
        }
        "SecurityError" => {
            "\n  next: the origin may not use the pool's relying party id; give --origin on the RP id's domain"
        }
        _ => "",
    };
    AwsError::Flow(format!("{doing}: {e}{next}"))
}

/// Register a passkey for the user of `access_token` on `platform`'s key: the options from
/// StartWebAuthnRegistration, create() as `origin` (default `https://` + the RP id), then
/// CompleteWebAuthnRegistration with the response as a JSON object.
pub async fn register(
    client: &cip::Client,
    access_token: &str,
    platform: &mut Platform,
    origin: Option<&str>,
) -> Result<Registered, AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    let start = client
        .start_web_authn_registration()
        .access_token(access_token)
        .send()
        .await
        .map_err(|e| sdk_error("StartWebAuthnRegistration", e, &redact))?;
    let options = to_json(start.credential_creation_options());
    let origin = origin_for(origin, &options)?;
    let rp_id = options
        .pointer("/rp/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // The key may wait for a touch; the flow has nothing else to do meanwhile.
    let response = platform
        .create(&origin, &options)
        .map_err(|e| ceremony_error("creating the passkey", e))?;
    let credential_id = response
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let completed = client
        .complete_web_authn_registration()
        .access_token(access_token)
        .credential(to_document(&response))
        .send()
        .await
        .map_err(|e| sdk_error("CompleteWebAuthnRegistration", e, &redact));
    if let Err(e) = completed {
        // The pool may have registered the passkey and the answer been lost (or a retry of a
        // request it had acted on refused): the key holds the credential either way, so ask
        // the pool before calling it a failure.
        if !pool_lists(client, access_token, &credential_id).await {
            return Err(lost_completion(e, &credential_id));
        }
        tracing::info!("CompleteWebAuthnRegistration failed, yet the pool lists the passkey");
    }
    Ok(Registered {
        credential_id,
        rp_id,
        origin,
    })
}

/// Whether ListWebAuthnCredentials lists `credential_id` (false when it cannot be asked).
async fn pool_lists(client: &cip::Client, access_token: &str, credential_id: &str) -> bool {
    !credential_id.is_empty()
        && list(client, access_token)
            .await
            .is_ok_and(|all| all.iter().any(|p| p.credential_id == credential_id))
}

/// A failed CompleteWebAuthnRegistration whose passkey the pool does not list (or could not
/// be asked about): the key keeps the credential; what to do next.
fn lost_completion(e: AwsError, credential_id: &str) -> AwsError {
    match e {
        AwsError::Transport { .. } => AwsError::Flow(format!(
            "{e}\n  next: the key keeps the new credential {credential_id}; if the pool registered it before the answer was lost, `authsim cognito passkey list` shows it (nothing more to do), else run the same command again"
        )),
        e => e,
    }
}

/// The passkeys of the user of `access_token` (every page of ListWebAuthnCredentials).
pub async fn list(client: &cip::Client, access_token: &str) -> Result<Vec<PasskeyInfo>, AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_web_authn_credentials()
            .access_token(access_token)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| sdk_error("ListWebAuthnCredentials", e, &redact))?;
        out.extend(page.credentials().iter().map(|c| PasskeyInfo {
            credential_id: c.credential_id().to_string(),
            name: c.friendly_credential_name().to_string(),
            rp_id: c.relying_party_id().to_string(),
            attachment: c.authenticator_attachment().map(str::to_string),
            transports: c.authenticator_transports().to_vec(),
            created: c.created_at().secs(),
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Delete one passkey of the user of `access_token` (DeleteWebAuthnCredential).
pub async fn delete(
    client: &cip::Client,
    access_token: &str,
    credential_id: &str,
) -> Result<(), AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    client
        .delete_web_authn_credential()
        .access_token(access_token)
        .credential_id(credential_id)
        .send()
        .await
        .map_err(|e| sdk_error("DeleteWebAuthnCredential", e, &redact))?;
    Ok(())
}

/// A smithy Document as JSON. (The SDK's serde support for Document is behind the unstable
/// `aws_sdk_unstable` cfg, so the two small recursive conversions are written here.)
pub fn to_json(d: &Document) -> Value {
    match d {
        Document::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Document::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Document::Number(Number::PosInt(n)) => Value::from(*n),
        Document::Number(Number::NegInt(n)) => Value::from(*n),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Bool(b) => Value::Bool(*b),
        Document::Null => Value::Null,
    }
}

/// JSON as a smithy Document (see [`to_json`]).
pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Object(m) => {
            Document::Object(m.iter().map(|(k, v)| (k.clone(), to_document(v))).collect())
        }
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Bool(b) => Document::Bool(*b),
        Value::Null => Document::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_and_json_round_trip() {
        let v = json!({"rp": {"id": "example.com", "name": "x"}, "timeout": 60000,
            "neg": -7, "f": 1.5, "list": [true, null, "s"], "empty": {}});
        assert_eq!(to_json(&to_document(&v)), v);
    }

    #[test]
    fn the_origin_defaults_to_the_rp_id_over_https() {
        let create = json!({"rp": {"id": "example.com", "name": "Example"}});
        let get = json!({"rpId": "login.example.org", "challenge": "abc"});
        assert_eq!(origin_for(None, &create).unwrap(), "https://example.com");
        assert_eq!(origin_for(None, &get).unwrap(), "https://login.example.org");
        assert_eq!(
            origin_for(Some("http://localhost:3000"), &create).unwrap(),
            "http://localhost:3000"
        );
        let err = origin_for(None, &json!({"challenge": "abc"})).unwrap_err();
        assert!(err.to_string().contains("--origin"), "{err}");
    }
}
