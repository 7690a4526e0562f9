//! The tokens a sign-in or refresh hands out, and reading a claim of one.

use crate::aws::{AwsError, Redactor};
use aws_sdk_cognitoidentityprovider::types::AuthenticationResultType;
use zeroize::Zeroizing;

/// Tokens from a finished sign-in or refresh. `Debug` shows no token.
#[derive(Clone)]
pub struct Tokens {
    /// The access token (authorises the user-pool API calls).
    pub access_token: Zeroizing<String>,
    /// The ID token, if issued.
    pub id_token: Option<Zeroizing<String>>,
    /// The refresh token (not returned by a refresh).
    pub refresh_token: Option<Zeroizing<String>>,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// Token type ("Bearer").
    pub token_type: Option<String>,
    /// NewDeviceMetadata: the device Cognito made for this sign-in, when it tracks devices.
    pub new_device: Option<NewDevice>,
}

/// A device Cognito made for a sign-in (NewDeviceMetadata), to confirm with ConfirmDevice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDevice {
    /// DeviceKey (`region_uuid`).
    pub key: String,
    /// DeviceGroupKey.
    pub group_key: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// The tokens of an AuthenticationResult.
    pub fn from_result(r: &AuthenticationResultType) -> Result<Tokens, AwsError> {
        let access = r.access_token().ok_or_else(|| {
            AwsError::Flow("Cognito's AuthenticationResult holds no access token".into())
        })?;
        Ok(Tokens {
            access_token: Zeroizing::new(access.to_string()),
            id_token: r.id_token().map(|s| Zeroizing::new(s.to_string())),
            refresh_token: r.refresh_token().map(|s| Zeroizing::new(s.to_string())),
            expires_in: i64::from(r.expires_in()),
            token_type: r.token_type().map(str::to_string),
            new_device: r.new_device_metadata().and_then(|m| {
                Some(NewDevice {
                    key: m.device_key()?.to_string(),
                    group_key: m.device_group_key()?.to_string(),
                })
            }),
        })
    }

    /// The tokens as Cognito's AuthenticationResult JSON (holds secrets: for stdout only).
    pub fn to_json(&self) -> Zeroizing<String> {
        let v = serde_json::json!({
            "AccessToken": self.access_token.as_str(),
            "IdToken": self.id_token.as_ref().map(|s| s.as_str()),
            "RefreshToken": self.refresh_token.as_ref().map(|s| s.as_str()),
            "ExpiresIn": self.expires_in,
            "TokenType": self.token_type,
        });
        Zeroizing::new(v.to_string())
    }

    /// Remember every token as a secret not to print.
    pub fn redact_into(&self, r: &mut Redactor) {
        r.add(&self.access_token);
        if let Some(t) = &self.id_token {
            r.add(t);
        }
        if let Some(t) = &self.refresh_token {
            r.add(t);
        }
    }
}

/// A claim of a JWT's payload, read without verifying the signature (to learn the username
/// a token was issued to).
pub fn jwt_claim(token: &str, claim: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(payload.trim_end_matches('=').as_bytes())
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get(claim)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::cognito::sessions::SessionSecrets;

    #[test]
    fn jwt_claims_are_read_without_verification() {
        let payload = data_encoding::BASE64URL_NOPAD.encode(br#"{"username":"alice","sub":"x"}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        assert_eq!(jwt_claim(&token, "username").as_deref(), Some("alice"));
        assert_eq!(jwt_claim(&token, "missing"), None);
        assert_eq!(jwt_claim("not-a-jwt", "username"), None);
        assert_eq!(jwt_claim("a.!!!.c", "username"), None);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let t = Tokens {
            access_token: Zeroizing::new("ACCESS-SECRET".into()),
            id_token: Some(Zeroizing::new("ID-SECRET".into())),
            refresh_token: Some(Zeroizing::new("REFRESH-SECRET".into())),
            expires_in: 3600,
            token_type: Some("Bearer".into()),
            new_device: None,
        };
        let d = format!("{t:?}");
        assert!(!d.contains("SECRET"), "{d}");
        let s = SessionSecrets {
            access_token: "ACCESS-SECRET".into(),
            id_token: None,
            refresh_token: None,
            client_secret: Some("CLIENT-SECRET".into()),
            device_key: None,
        };
        assert!(!format!("{s:?}").contains("SECRET"));
        let json = t.to_json();
        assert!(json.contains("\"AccessToken\":\"ACCESS-SECRET\""));
    }
}
