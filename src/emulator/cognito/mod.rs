//! Cognito user pools over JSON 1.1 (`X-Amz-Target: AWSCognitoIdentityProviderService.X`):
//! the MFA-relevant subset with Cognito's error codes and messages.
//!
//! One file per API group: pools and app clients (`pools`, `clients`), users (`users`,
//! `signup`, `passwords`), sign-in (`auth`: one function per flow and per challenge), MFA
//! (`mfa`), remembered devices (`devices`), passkeys (`passkeys`), tokens (`tokens`). This file only names the actions and dispatches them.
//!
//! Administrative actions (pool and client management, `Admin*`) must be SigV4-signed as
//! they are in AWS; the user-facing ones (`InitiateAuth`, `RespondToAuthChallenge`,
//! `SignUp`, token-authorised calls) are not.

pub mod access;
pub mod auth;
pub mod clients;
pub mod devices;
pub mod error;
pub mod jwt;
pub mod mfa;
pub mod model;
pub mod passkeys;
pub mod passwords;
pub mod pools;
pub mod request;
pub mod session;
pub mod signup;
pub mod srp;
pub mod tokens;
pub mod users;

use serde_json::{Map, Value};

use crate::emulator::context::Ctx;
pub use error::CognitoError;
use model::CognitoState;
pub use request::Req;
pub use session::Ephemeral;

/// The `X-Amz-Target` prefix of Cognito user-pool actions.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// How an action is run.
type Handler = fn(&mut CognitoState, &mut Ephemeral, &Req, &Ctx) -> Result<Value, CognitoError>;

/// One Cognito action the stand-in implements.
pub struct Action {
    /// The action's name (`InitiateAuth`, ...).
    pub name: &'static str,
    /// Whether it must be SigV4-signed (the administrative ones).
    pub signed: bool,
    run: Handler,
}

/// An administrative action: SigV4-signed.
const fn admin(name: &'static str, run: Handler) -> Action {
    Action {
        name,
        signed: true,
        run,
    }
}

/// A user-facing action: unsigned, authorised by a client id, a session or a token.
const fn public(name: &'static str, run: Handler) -> Action {
    Action {
        name,
        signed: false,
        run,
    }
}

/// Every Cognito action the stand-in implements.
static ACTIONS: &[Action] = &[
    admin("CreateUserPool", |s, _, r, c| {
        pools::create_user_pool(s, r, c)
    }),
    admin("DescribeUserPool", |s, _, r, _| {
        pools::describe_user_pool(s, r)
    }),
    admin("DeleteUserPool", |s, _, r, _| pools::delete_user_pool(s, r)),
    admin("ListUserPools", |s, _, r, _| pools::list_user_pools(s, r)),
    admin("CreateUserPoolClient", |s, _, r, c| {
        clients::create_user_pool_client(s, r, c)
    }),
    admin("DescribeUserPoolClient", |s, _, r, _| {
        clients::describe_user_pool_client(s, r)
    }),
    admin("DeleteUserPoolClient", |s, _, r, _| {
        clients::delete_user_pool_client(s, r)
    }),
    admin("SetUserPoolMfaConfig", |s, _, r, c| {
        mfa::set_user_pool_mfa_config(s, r, c)
    }),
    admin("GetUserPoolMfaConfig", |s, _, r, _| {
        mfa::get_user_pool_mfa_config(s, r)
    }),
    admin("AdminCreateUser", |s, _, r, c| {
        users::admin_create_user(s, r, c)
    }),
    admin("AdminSetUserPassword", |s, _, r, c| {
        users::admin_set_user_password(s, r, c)
    }),
    admin("AdminGetUser", |s, _, r, _| users::admin_get_user(s, r)),
    admin("AdminSetUserMFAPreference", |s, _, r, c| {
        mfa::admin_set_user_mfa_preference(s, r, c)
    }),
    admin("AdminDeleteUser", |s, _, r, _| {
        users::admin_delete_user(s, r)
    }),
    admin("AdminDisableUser", |s, _, r, c| {
        users::admin_set_enabled(s, r, c, false)
    }),
    admin("AdminEnableUser", |s, _, r, c| {
        users::admin_set_enabled(s, r, c, true)
    }),
    admin("AdminUserGlobalSignOut", |s, _, r, _| {
        users::admin_user_global_sign_out(s, r)
    }),
    admin("ListUsers", |s, _, r, _| users::list_users(s, r)),
    admin("AdminInitiateAuth", auth::admin_initiate_auth),
    admin(
        "AdminRespondToAuthChallenge",
        auth::admin_respond_to_auth_challenge,
    ),
    admin("UpdateUserPool", |s, _, r, c| {
        pools::update_user_pool(s, r, c)
    }),
    admin("AdminListDevices", |s, _, r, _| {
        devices::admin_list_devices(s, r)
    }),
    admin("AdminGetDevice", |s, _, r, _| {
        devices::admin_get_device(s, r)
    }),
    admin("AdminForgetDevice", |s, _, r, _| {
        devices::admin_forget_device(s, r)
    }),
    admin("AdminUpdateDeviceStatus", |s, _, r, c| {
        devices::admin_update_device_status(s, r, c)
    }),
    public("SignUp", |s, _, r, c| signup::sign_up(s, r, c)),
    public("ConfirmSignUp", |s, _, r, c| {
        signup::confirm_sign_up(s, r, c)
    }),
    public("ResendConfirmationCode", |s, _, r, c| {
        signup::resend_confirmation_code(s, r, c)
    }),
    public("InitiateAuth", auth::initiate_auth),
    public("RespondToAuthChallenge", auth::respond_to_auth_challenge),
    public("GetUser", |s, _, r, c| users::get_user(s, r, c)),
    public("AssociateSoftwareToken", mfa::associate_software_token),
    public("VerifySoftwareToken", mfa::verify_software_token),
    public("SetUserMFAPreference", |s, _, r, c| {
        mfa::set_user_mfa_preference(s, r, c)
    }),
    public("GlobalSignOut", |s, _, r, c| {
        tokens::global_sign_out(s, r, c)
    }),
    public("RevokeToken", |s, _, r, _| tokens::revoke_token(s, r)),
    public("ChangePassword", |s, _, r, c| {
        users::change_password(s, r, c)
    }),
    public("ConfirmDevice", |s, _, r, c| {
        devices::confirm_device(s, r, c)
    }),
    public("UpdateDeviceStatus", |s, _, r, c| {
        devices::update_device_status(s, r, c)
    }),
    public("ListDevices", |s, _, r, c| devices::list_devices(s, r, c)),
    public("GetDevice", |s, _, r, c| devices::get_device(s, r, c)),
    public("ForgetDevice", |s, _, r, c| devices::forget_device(s, r, c)),
    public("StartWebAuthnRegistration", |s, e, r, c| {
        passkeys::start_registration(s, e, r, c)
    }),
    public(
        "CompleteWebAuthnRegistration",
        passkeys::complete_registration,
    ),
    public("ListWebAuthnCredentials", |s, _, r, c| {
        passkeys::list_credentials(s, r, c)
    }),
    public("DeleteWebAuthnCredential", |s, _, r, c| {
        passkeys::delete_credential(s, r, c)
    }),
    public("GetUserAuthFactors", |s, _, r, c| {
        passkeys::get_user_auth_factors(s, r, c)
    }),
];

/// The action called `name`, if the stand-in implements it.
pub fn action(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// The names of every implemented action, in the table's order.
pub fn action_names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.name).collect()
}

/// Run one Cognito action; `Ok` is the JSON response body.
pub fn handle(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    action: &Action,
    body: &Map<String, Value>,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    eph.sweep(ctx.now);
    state.sweep(ctx.now);
    (action.run)(state, eph, &Req::new(body), ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{CognitoState, RefreshToken};

    #[test]
    fn debug_output_hides_bearer_secrets() {
        let mut state = CognitoState::default();
        state.refresh_tokens.insert(
            "very-secret-refresh-token".into(),
            RefreshToken {
                pool: "p".into(),
                client: "c".into(),
                username: "u".into(),
                sub: "s".into(),
                origin_jti: "o".into(),
                auth_time: 0,
                expires: 0.0,
                revoked: false,
                device_key: None,
            },
        );
        assert!(!format!("{state:?}").contains("very-secret"));
        let mut eph = Ephemeral::default();
        eph.spent_sessions.insert("very-secret-session".into(), 0.0);
        assert!(!format!("{eph:?}").contains("very-secret"));
    }
}
