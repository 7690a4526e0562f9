//! One answer of InitiateAuth or RespondToAuthChallenge (a challenge or tokens), read from
//! the SDK or, for stand-ins the SDK's strict reader refuses, leniently from the JSON.

use super::tokens::{NewDevice, Tokens};
use crate::aws::{AwsError, Redactor, sdk_error};
use aws_sdk_cognitoidentityprovider::config::http::HttpResponse;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthOutput;
use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::RespondToAuthChallengeOutput;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// The challenge the TOTP flows answer.
pub const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";

/// One answer from InitiateAuth or RespondToAuthChallenge.
pub struct Step {
    /// The challenge, if any.
    pub challenge: Option<String>,
    /// ChallengeParameters.
    pub params: HashMap<String, String>,
    /// The Session, if any.
    pub session: Option<String>,
    /// The tokens, when the sign-in is done.
    pub result: Option<Tokens>,
    /// AvailableChallenges (USER_AUTH's SELECT_CHALLENGE).
    pub available: Vec<String>,
}

/// Read an InitiateAuth / RespondToAuthChallenge answer the SDK could not deserialize.
/// Cognito sends every challenge parameter as a string (MFAS_CAN_SETUP as a JSON array inside
/// a string); moto 5 sends that one as a bare array, which the SDK's strict reader refuses.
/// Only a 2xx JSON answer is read this way; anything else stays the SDK's error.
pub fn lenient_step(body: &[u8]) -> Option<Result<Step, AwsError>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let text = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let params = obj
        .get("ChallengeParameters")
        .and_then(|p| p.as_object())
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default();
    let result = obj
        .get("AuthenticationResult")
        .and_then(|r| r.as_object())
        .map(|r| {
            let t = |k: &str| {
                r.get(k)
                    .and_then(|x| x.as_str())
                    .map(|s| Zeroizing::new(s.to_string()))
            };
            match t("AccessToken") {
                Some(access_token) => Ok(Tokens {
                    access_token,
                    id_token: t("IdToken"),
                    refresh_token: t("RefreshToken"),
                    expires_in: r.get("ExpiresIn").and_then(|x| x.as_i64()).unwrap_or(0),
                    token_type: t("TokenType").map(|s| s.to_string()),
                    new_device: r.get("NewDeviceMetadata").and_then(|m| {
                        Some(NewDevice {
                            key: m.get("DeviceKey")?.as_str()?.to_string(),
                            group_key: m.get("DeviceGroupKey")?.as_str()?.to_string(),
                        })
                    }),
                }),
                None => Err(AwsError::Flow(
                    "Cognito's AuthenticationResult holds no access token".into(),
                )),
            }
        });
    let result = match result {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return Some(Err(e)),
        None => None,
    };
    let available = obj
        .get("AvailableChallenges")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(Ok(Step {
        challenge: text("ChallengeName"),
        params,
        session: text("Session"),
        result,
        available,
    }))
}

/// The step of a successful answer, or of a 2xx answer only [`lenient_step`] can read.
pub fn step_or_error<O, E>(
    op: &'static str,
    res: Result<O, SdkError<E, HttpResponse>>,
    redact: &Redactor,
    read: impl FnOnce(O) -> Result<Step, AwsError>,
) -> Result<Step, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(out) => read(out),
        Err(e) => {
            if let SdkError::ResponseError(r) = &e
                && r.raw().status().is_success()
                && let Some(step) = r.raw().body().bytes().and_then(lenient_step)
            {
                tracing::warn!(op, "read a non-standard {op} answer leniently");
                return step;
            }
            Err(sdk_error(op, e, redact))
        }
    }
}

impl Step {
    /// The step of an InitiateAuth answer.
    pub fn from_initiate(out: InitiateAuthOutput) -> Result<Step, AwsError> {
        Ok(Step {
            challenge: out.challenge_name().map(|c| c.as_str().to_string()),
            params: out.challenge_parameters().cloned().unwrap_or_default(),
            session: out.session().map(str::to_string),
            result: out
                .authentication_result()
                .map(Tokens::from_result)
                .transpose()?,
            available: out
                .available_challenges()
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        })
    }

    /// The step of a RespondToAuthChallenge answer.
    pub fn from_respond(out: RespondToAuthChallengeOutput) -> Result<Step, AwsError> {
        Ok(Step {
            challenge: out.challenge_name().map(|c| c.as_str().to_string()),
            params: out.challenge_parameters().cloned().unwrap_or_default(),
            session: out.session().map(str::to_string),
            result: out
                .authentication_result()
                .map(Tokens::from_result)
                .transpose()?,
            available: Vec::new(),
        })
    }
}

/// Does a challenge parameter listing MFA types (a JSON array in a string, as Cognito sends
/// it, or a bare comma-separated list) include `kind`? An absent list counts as yes.
pub fn lists_mfa(params: &HashMap<String, String>, key: &str, kind: &str) -> bool {
    match params.get(key) {
        None => true,
        Some(v) => match serde_json::from_str::<Vec<String>>(v) {
            Ok(list) => list.iter().any(|s| s == kind),
            Err(_) => v
                .split(|c: char| c == ',' || c.is_whitespace() || c == '[' || c == ']' || c == '"')
                .any(|s| s == kind),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_lists_in_every_shape() {
        let mut p = HashMap::new();
        assert!(lists_mfa(&p, "MFAS_CAN_SETUP", SOFTWARE_TOKEN_MFA));
        p.insert(
            "MFAS_CAN_SETUP".to_string(),
            "[\"SMS_MFA\",\"SOFTWARE_TOKEN_MFA\"]".to_string(),
        );
        assert!(lists_mfa(&p, "MFAS_CAN_SETUP", SOFTWARE_TOKEN_MFA));
        p.insert("MFAS_CAN_SETUP".to_string(), "[\"SMS_MFA\"]".to_string());
        assert!(!lists_mfa(&p, "MFAS_CAN_SETUP", SOFTWARE_TOKEN_MFA));
        p.insert(
            "MFAS_CAN_SETUP".to_string(),
            "SMS_MFA, SOFTWARE_TOKEN_MFA".to_string(),
        );
        assert!(lists_mfa(&p, "MFAS_CAN_SETUP", SOFTWARE_TOKEN_MFA));
    }

    #[test]
    fn moto_style_answers_are_read_leniently() {
        let body = br#"{"ChallengeName": "MFA_SETUP", "Session": "s-1", "ChallengeParameters": {"MFAS_CAN_SETUP": ["SOFTWARE_TOKEN_MFA"], "USERNAME": "alice"}}"#;
        let step = lenient_step(body).unwrap().unwrap();
        assert_eq!(step.challenge.as_deref(), Some("MFA_SETUP"));
        assert_eq!(step.session.as_deref(), Some("s-1"));
        assert_eq!(step.params["USERNAME"], "alice");
        assert!(lists_mfa(
            &step.params,
            "MFAS_CAN_SETUP",
            SOFTWARE_TOKEN_MFA
        ));
        let body = br#"{"AuthenticationResult": {"AccessToken": "a", "ExpiresIn": 3600}}"#;
        let step = lenient_step(body).unwrap().unwrap();
        assert_eq!(step.result.unwrap().access_token.as_str(), "a");
        assert!(
            lenient_step(br#"{"AuthenticationResult": {}}"#)
                .unwrap()
                .is_err()
        );
        assert!(lenient_step(b"<html>").is_none());
        assert!(lenient_step(b"[1,2]").is_none());
    }
}
