//! What a relying party sends: PublicKeyCredentialCreationOptionsJSON and
//! PublicKeyCredentialRequestOptionsJSON (WebAuthn L3 §5.1.8 / §5.1.9), alone or inside a
//! `{"publicKey": …}` wrapper, with base64url members decoded. Unknown members are ignored, as a
//! browser ignores unknown dictionary members.

use serde::Deserialize;
use serde_json::Value;

use super::WebAuthnError;

/// Decodes a base64url member (padding tolerated); EncodingError names the member.
pub fn b64(member: &str, s: &str) -> Result<Vec<u8>, WebAuthnError> {
    data_encoding::BASE64URL_NOPAD
        .decode(s.trim_end_matches('=').as_bytes())
        .map_err(|_| WebAuthnError::encoding(format!("{member} is not base64url")))
}

/// A list member that some RP libraries write as `null` when empty (read as empty).
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A relying party.
#[derive(Clone, Debug, Deserialize)]
pub struct RpJson {
    /// Its id (a domain), if given.
    #[serde(default)]
    pub id: Option<String>,
    /// Its name.
    pub name: String,
}

/// A user account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    /// The user handle, base64url.
    pub id: String,
    /// The account name.
    pub name: String,
    /// The name shown.
    pub display_name: String,
}

/// One credential type and algorithm.
#[derive(Clone, Debug, Deserialize)]
pub struct ParamJson {
    /// `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A COSE algorithm identifier.
    pub alg: i64,
}

/// A credential descriptor.
#[derive(Clone, Debug, Deserialize)]
pub struct DescriptorJson {
    /// The credential id, base64url.
    pub id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Transport hints.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
}

/// Authenticator selection criteria.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectionJson {
    /// `platform` or `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// `discouraged`, `preferred` or `required`.
    #[serde(default)]
    pub resident_key: Option<String>,
    /// The Level 1 switch for a discoverable credential.
    #[serde(default)]
    pub require_resident_key: bool,
    /// `required`, `preferred` (default) or `discouraged`.
    #[serde(default)]
    pub user_verification: Option<String>,
}

/// PublicKeyCredentialCreationOptionsJSON.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    /// The relying party.
    pub rp: RpJson,
    /// The user.
    pub user: UserJson,
    /// The challenge, base64url.
    pub challenge: String,
    /// Acceptable credential types and algorithms, most preferred first.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub pub_key_cred_params: Vec<ParamJson>,
    /// Milliseconds the RP is willing to wait.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Credentials the user must not register again.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub exclude_credentials: Vec<DescriptorJson>,
    /// Selection criteria.
    #[serde(default)]
    pub authenticator_selection: Option<SelectionJson>,
    /// `none` (default), `indirect`, `direct` or `enterprise`.
    #[serde(default)]
    pub attestation: Option<String>,
    /// Extension inputs.
    #[serde(default)]
    pub extensions: Option<Value>,
}

/// PublicKeyCredentialRequestOptionsJSON.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// The challenge, base64url.
    pub challenge: String,
    /// Milliseconds the RP is willing to wait.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// The relying party id, if given.
    #[serde(default)]
    pub rp_id: Option<String>,
    /// Acceptable credentials (empty: discoverable ones).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub allow_credentials: Vec<DescriptorJson>,
    /// `required`, `preferred` (default) or `discouraged`.
    #[serde(default)]
    pub user_verification: Option<String>,
    /// Extension inputs.
    #[serde(default)]
    pub extensions: Option<Value>,
}

/// Reads options of type `T` from JSON, unwrapping `{"publicKey": …}` (TypeError when a
/// required member is missing or has the wrong type).
pub fn parse<T: for<'de> Deserialize<'de>>(json: &Value) -> Result<T, WebAuthnError> {
    let inner = match json.get("publicKey") {
        Some(inner) if json.as_object().is_some_and(|o| o.len() == 1) || inner.is_object() => inner,
        _ => json,
    };
    serde_json::from_value(inner.clone())
        .map_err(|e| WebAuthnError::type_error(format!("the options are malformed: {e}")))
}

/// userVerification as the client acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserVerification {
    /// The ceremony fails without it.
    Required,
    /// Done when the authenticator can.
    Preferred,
    /// Not asked for (the authenticator may still insist).
    Discouraged,
}

impl UserVerification {
    /// Reads the member; unknown values are ignored as the spec says (the default, preferred).
    pub fn from_member(s: Option<&str>) -> Self {
        match s {
            Some("required") => Self::Required,
            Some("discouraged") => Self::Discouraged,
            _ => Self::Preferred,
        }
    }
}

/// A base64url credential id list, descriptors of other types dropped.
pub fn credential_ids(
    list: &[DescriptorJson],
    member: &str,
) -> Result<Vec<Vec<u8>>, WebAuthnError> {
    list.iter()
        .filter(|d| d.kind == "public-key")
        .map(|d| b64(member, &d.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_wrapper_is_optional() {
        let bare = serde_json::json!({"challenge": "AAAA", "rpId": "example.com"});
        let wrapped = serde_json::json!({"publicKey": bare.clone()});
        let a: RequestOptions = parse(&bare).unwrap();
        let b: RequestOptions = parse(&wrapped).unwrap();
        assert_eq!(a.rp_id, b.rp_id);
        assert_eq!(b64("challenge", &a.challenge).unwrap(), vec![0, 0, 0]);
        let e = parse::<RequestOptions>(&serde_json::json!({"rpId": "x"})).unwrap_err();
        assert_eq!(e.name(), "TypeError");
        assert_eq!(b64("user.id", "a+b").unwrap_err().name(), "EncodingError");
        assert_eq!(b64("id", "AA==").unwrap(), vec![0]);
    }
}
