//! STS GetSessionToken behind an MFA code, and its output in the shapes the AWS CLI and SDKs
//! read: shell exports, JSON, and `credential_process` JSON.

use super::{AwsError, Codes, Redactor, Target, fresh_codes, sdk_config, sdk_error};
use crate::store::Store;
use aws_sdk_sts as sts;
use serde::{Deserialize, Serialize};
use sts::primitives::{DateTime, DateTimeFormat};
use zeroize::Zeroizing;

/// Record namespace of cached session credentials (key: serial, endpoint and profile).
pub const NS_CACHE: &str = "aws.sts.cache";
/// Cached credentials are reused only while at least this many seconds remain.
pub const CACHE_MIN_LEFT_SECS: u64 = 300;

/// Region used for STS when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// An STS client for `target`.
pub async fn client(target: &Target) -> sts::Client {
    sts::Client::new(&sdk_config(target, Some(DEFAULT_REGION)).await)
}

/// Temporary credentials. `Debug` shows only the access key id and expiry.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token.
    pub session_token: Zeroizing<String>,
    /// Expiry, ISO 8601 / RFC 3339 in UTC.
    pub expiration: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// How to print credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `export AWS_ACCESS_KEY_ID=...` lines for `eval`.
    Env,
    /// GetSessionToken's Credentials object.
    Json,
    /// The `credential_process` protocol's JSON (Version 1).
    CredentialProcess,
}

impl Format {
    /// Parse `env`, `json` or `credential-process`.
    pub fn parse(s: &str) -> Result<Format, AwsError> {
        match s {
            "env" => Ok(Format::Env),
            "json" => Ok(Format::Json),
            "credential-process" | "credential_process" => Ok(Format::CredentialProcess),
            _ => Err(AwsError::Flow(format!(
                "--format must be env, json or credential-process (got '{s}')"
            ))),
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Credentials {
    /// The credentials printed in `format` (holds secrets: for stdout only).
    pub fn render(&self, format: Format) -> Zeroizing<String> {
        Zeroizing::new(match format {
            Format::Env => format!(
                "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_SESSION_TOKEN={}\nexport AWS_CREDENTIAL_EXPIRATION={}\n",
                shell_quote(&self.access_key_id),
                shell_quote(&self.secret_access_key),
                shell_quote(&self.session_token),
                shell_quote(&self.expiration),
            ),
            Format::Json => {
                serde_json::json!({
                    "AccessKeyId": self.access_key_id,
                    "SecretAccessKey": self.secret_access_key.as_str(),
                    "SessionToken": self.session_token.as_str(),
                    "Expiration": self.expiration,
                })
                .to_string()
                    + "\n"
            }
            Format::CredentialProcess => {
                serde_json::json!({
                    "Version": 1,
                    "AccessKeyId": self.access_key_id,
                    "SecretAccessKey": self.secret_access_key.as_str(),
                    "SessionToken": self.session_token.as_str(),
                    "Expiration": self.expiration,
                })
                .to_string()
                    + "\n"
            }
        })
    }
}

/// The cache key of credentials for `serial` at `target`.
fn cache_key(serial: &str, target: &Target) -> Vec<u8> {
    format!(
        "{serial}|{}|{}",
        target.endpoint_url.as_deref().unwrap_or(""),
        target.profile.as_deref().unwrap_or("")
    )
    .into_bytes()
}

#[derive(Serialize, Deserialize)]
struct CacheRecord {
    v: u32,
    expires_at: u64,
    /// Sealed JSON [access key id, secret, token, expiration] (hex).
    sealed: String,
}

fn cache_ad(key: &[u8]) -> Vec<u8> {
    let mut ad = format!("{NS_CACHE}:").into_bytes();
    ad.extend_from_slice(key);
    ad
}

impl Credentials {
    /// Unix time of the expiry, if it parses.
    pub fn expires_at(&self) -> Option<u64> {
        DateTime::from_str(&self.expiration, DateTimeFormat::DateTime)
            .ok()
            .and_then(|d| u64::try_from(d.secs()).ok())
    }
}

/// Credentials cached for `serial` at `target` with at least [`CACHE_MIN_LEFT_SECS`] left.
pub fn cached(
    store: &Store,
    serial: &str,
    target: &Target,
) -> Result<Option<Credentials>, AwsError> {
    let key = cache_key(serial, target);
    let Some(v) = store.get(NS_CACHE, &key)? else {
        return Ok(None);
    };
    let Ok(rec) = serde_json::from_slice::<CacheRecord>(&v) else {
        return Ok(None);
    };
    if rec.expires_at < crate::clock::now_unix() + CACHE_MIN_LEFT_SECS {
        return Ok(None);
    }
    let Ok(sealed) = hex::decode(&rec.sealed) else {
        return Ok(None);
    };
    let plain = store.open_sealed(&cache_ad(&key), &sealed)?;
    let Ok([id, secret, token, exp]) = serde_json::from_slice::<[String; 4]>(&plain) else {
        return Ok(None);
    };
    Ok(Some(Credentials {
        access_key_id: id,
        secret_access_key: Zeroizing::new(secret),
        session_token: Zeroizing::new(token),
        expiration: exp,
    }))
}

/// Keep `creds` (sealed) for later calls with the same serial and target.
pub fn cache(
    store: &mut Store,
    serial: &str,
    target: &Target,
    creds: &Credentials,
) -> Result<(), AwsError> {
    let Some(expires_at) = creds.expires_at() else {
        return Ok(());
    };
    let key = cache_key(serial, target);
    let plain = Zeroizing::new(
        serde_json::to_vec(&[
            creds.access_key_id.as_str(),
            creds.secret_access_key.as_str(),
            creds.session_token.as_str(),
            creds.expiration.as_str(),
        ])
        .map_err(|e| AwsError::Flow(e.to_string()))?,
    );
    let rec = CacheRecord {
        v: 1,
        expires_at,
        sealed: hex::encode(store.seal(&cache_ad(&key), &plain)?),
    };
    let value = serde_json::to_vec(&rec).map_err(|e| AwsError::Flow(e.to_string()))?;
    store.transaction(|tx| tx.put(NS_CACHE, &key, &value))?;
    Ok(())
}

/// GetSessionToken with a fresh code of `totp_name` for the MFA device `serial`.
pub async fn session_token(
    client: &sts::Client,
    serial: &str,
    totp_name: &str,
    duration: Option<i32>,
    codes: &mut Codes<'_>,
) -> Result<Credentials, AwsError> {
    let mut redact = Redactor::default();
    let code = fresh_codes(codes, totp_name, 1)
        .await?
        .pop()
        .ok_or_else(|| AwsError::Flow("the vault produced no code".into()))?;
    redact.add(&code);
    let out = client
        .get_session_token()
        .serial_number(serial)
        .token_code(code.as_str())
        .set_duration_seconds(duration)
        .send()
        .await
        .map_err(|e| sdk_error("GetSessionToken", e, &redact))?;
    let c = out
        .credentials()
        .ok_or_else(|| AwsError::Flow("GetSessionToken returned no credentials".into()))?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: Zeroizing::new(c.secret_access_key().to_string()),
        session_token: Zeroizing::new(c.session_token().to_string()),
        expiration: c
            .expiration()
            .fmt(DateTimeFormat::DateTime)
            .map_err(|e| AwsError::Flow(format!("GetSessionToken's expiry: {e}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Zeroizing::new("se'cret".into()),
            session_token: Zeroizing::new("tok/en+=".into()),
            expiration: "2026-11-03T09:05:07Z".into(),
        }
    }

    #[test]
    fn credential_process_shape() {
        let out = creds().render(Format::CredentialProcess);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["SecretAccessKey"], "se'cret");
        assert_eq!(v["SessionToken"], "tok/en+=");
        assert_eq!(v["Expiration"], "2026-11-03T09:05:07Z");
        assert_eq!(v.as_object().unwrap().len(), 5);
    }

    #[test]
    fn env_lines_are_shell_quoted() {
        let out = creds().render(Format::Env);
        assert!(
            out.contains("export AWS_SECRET_ACCESS_KEY='se'\\''cret'\n"),
            "{}",
            out.as_str()
        );
        assert!(out.contains("export AWS_SESSION_TOKEN='tok/en+='\n"));
    }

    #[test]
    fn expiry_parses_with_and_without_fractions() {
        assert_eq!(creds().expires_at(), Some(1_793_696_707));
        let mut c = creds();
        c.expiration = "2026-11-03T09:05:07.123456Z".into();
        assert_eq!(c.expires_at(), Some(1_793_696_707));
        c.expiration = "soon".into();
        assert_eq!(c.expires_at(), None);
    }

    #[test]
    fn debug_hides_secrets() {
        let d = format!("{:?}", creds());
        assert!(!d.contains("cret") && !d.contains("tok/en"), "{d}");
        assert!(Format::parse("credential-process").is_ok());
        assert!(Format::parse("yaml").is_err());
    }
}
