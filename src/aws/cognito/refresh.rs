//! REFRESH_TOKEN_AUTH: new access and ID tokens from a refresh token.

use super::tokens::Tokens;
use crate::aws::{AwsError, Redactor, sdk_error, srp};
use aws_sdk_cognitoidentityprovider as cip;
use cip::types::AuthFlowType;
use zeroize::Zeroizing;

/// REFRESH_TOKEN_AUTH: new access and ID tokens from a refresh token. `username` is needed for
/// the SECRET_HASH of app clients with a secret; `device_key` for tokens bound to a device
/// (Cognito refreshes those only with their DEVICE_KEY).
pub async fn refresh(
    client: &cip::Client,
    client_id: &str,
    client_secret: Option<&Zeroizing<String>>,
    username: &str,
    refresh_token: &Zeroizing<String>,
    device_key: Option<&str>,
) -> Result<Tokens, AwsError> {
    let mut redact = Redactor::default();
    redact.add(refresh_token);
    let mut init = client
        .initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters("REFRESH_TOKEN", refresh_token.as_str());
    if let Some(k) = device_key {
        init = init.auth_parameters("DEVICE_KEY", k);
    }
    if let Some(s) = client_secret {
        redact.add(s);
        let h = srp::secret_hash(s, username, client_id);
        redact.add(&h);
        init = init.auth_parameters("SECRET_HASH", h);
    }
    let out = init
        .send()
        .await
        .map_err(|e| sdk_error("InitiateAuth", e, &redact))?;
    match out.authentication_result() {
        Some(r) => Tokens::from_result(r),
        None => Err(AwsError::Flow(format!(
            "Cognito answered the refresh with the {} challenge instead of tokens; sign in again",
            out.challenge_name()
                .map(|c| c.as_str())
                .unwrap_or("unknown")
        ))),
    }
}
