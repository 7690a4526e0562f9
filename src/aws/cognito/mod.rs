//! Cognito user pools: sign-in (USER_SRP_AUTH, USER_PASSWORD_AUTH or USER_AUTH) through its
//! challenges, remembered devices (ConfirmDevice, DEVICE_SRP_AUTH), TOTP enrollment
//! (AssociateSoftwareToken → vault → VerifySoftwareToken → SetUserMFAPreference → GetUser),
//! REFRESH_TOKEN_AUTH, passkeys (registration, list, delete, WEB_AUTHN sign-in through the
//! WebAuthn client), and saved sessions sealed in the store.
//!
//! These user-pool operations are authorised by the password, the session or the access
//! token; the SDK sends them unsigned, so no AWS credentials are needed.

pub mod devices;
pub mod enroll;
pub mod factors;
pub mod passkeys;
pub mod refresh;
pub mod sessions;
pub mod sign_in;
pub mod step;
pub mod tokens;

use super::{AwsError, Target, sdk_config};
use aws_sdk_cognitoidentityprovider as cip;

pub use enroll::{
    Auth, DEFAULT_ISSUER, EnrollReport, EnrollRequest, NS_ENROLL, enroll_totp, setup_uri,
};
pub use factors::{AuthFactors, auth_factors};
pub use refresh::refresh;
pub use sessions::{
    NS_SESSIONS, SavedSession, SessionSecrets, list_sessions, load_session, remove_session,
    save_session,
};
pub use sign_in::{
    DeviceOutcome, FirstFactor, Flow, SESSION_LIFETIME_SECS, SignInRequest, SignInResult, sign_in,
};
pub use step::SOFTWARE_TOKEN_MFA;
pub use tokens::{Tokens, jwt_claim};

/// A Cognito client for `target`; the region defaults to the pool id's prefix.
pub async fn client(target: &Target, pool_id: Option<&str>) -> Result<cip::Client, AwsError> {
    let fallback = pool_id.and_then(|p| p.split_once('_')).map(|(r, _)| r);
    let conf = sdk_config(target, fallback).await;
    if conf.region().is_none() {
        return Err(AwsError::Flow(
            "no AWS region: give --region (or --pool-id, whose prefix is the region), AWS_REGION, or a profile with a region".into(),
        ));
    }
    Ok(cip::Client::new(&conf))
}
