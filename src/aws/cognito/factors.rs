//! GetUserAuthFactors: the sign-in factors a user has set up.

use crate::aws::{AwsError, Redactor, sdk_error};
use aws_sdk_cognitoidentityprovider as cip;
use serde::Serialize;

/// What GetUserAuthFactors answers.
#[derive(Debug, Clone, Serialize)]
pub struct AuthFactors {
    /// The user's username.
    pub username: String,
    /// ConfiguredUserAuthFactors (`PASSWORD`, `WEB_AUTHN`, ...).
    pub configured: Vec<String>,
    /// UserMFASettingList.
    pub mfa: Vec<String>,
    /// PreferredMfaSetting.
    pub preferred_mfa: Option<String>,
}

/// GetUserAuthFactors for the user of `access_token`.
pub async fn auth_factors(
    client: &cip::Client,
    access_token: &str,
) -> Result<AuthFactors, AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    let out = client
        .get_user_auth_factors()
        .access_token(access_token)
        .send()
        .await
        .map_err(|e| sdk_error("GetUserAuthFactors", e, &redact))?;
    Ok(AuthFactors {
        username: out.username().to_string(),
        configured: out
            .configured_user_auth_factors()
            .iter()
            .map(|f| f.as_str().to_string())
            .collect(),
        mfa: out.user_mfa_setting_list().to_vec(),
        preferred_mfa: out
            .preferred_mfa_setting()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}
