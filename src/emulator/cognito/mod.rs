//! Cognito user pools over JSON 1.1 (`X-Amz-Target: AWSCognitoIdentityProviderService.X`):
//! the MFA-relevant subset with Cognito's error codes and messages.
//!
//! Administrative actions (pool and client management, `Admin*`) must be SigV4-signed as
//! they are in AWS; the user-facing ones (`InitiateAuth`, `RespondToAuthChallenge`,
//! `SignUp`, token-authorised calls) are not.

pub mod auth;
pub mod jwt;
pub mod model;
pub mod pools;
pub mod srp;

use std::collections::{BTreeMap, HashMap};

use num_bigint::BigUint;
use serde_json::{Map, Value};

use crate::emulator::crypto::SecretString;
use crate::emulator::server::Ctx;
use model::CognitoState;

/// The `X-Amz-Target` prefix of Cognito user-pool actions.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// How long an auth session (and a pending SRP exchange) lives, in seconds.
pub const SESSION_TTL_SECS: f64 = 180.0;

/// A Cognito error: `__type`, message, HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoError {
    /// The exception name (`NotAuthorizedException`, ...).
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status (400 unless a server fault).
    pub status: u16,
}

impl CognitoError {
    /// A client error (400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        CognitoError {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// `NotAuthorizedException`.
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new("NotAuthorizedException", message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// `UserNotFoundException: User does not exist.`
    pub fn user_not_found() -> Self {
        Self::new("UserNotFoundException", "User does not exist.")
    }

    /// `InternalErrorException` (500).
    pub fn internal(message: impl Into<String>) -> Self {
        CognitoError {
            kind: "InternalErrorException",
            message: message.into(),
            status: 500,
        }
    }

    /// The validation error for a missing required member.
    pub fn null_member(member: &str) -> Self {
        Self::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"__type": self.kind, "message": self.message})
    }
}

/// Typed access to a request's JSON members, with Cognito's validation errors.
pub struct Req<'a> {
    body: &'a Map<String, Value>,
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn type_error(name: &str, expected: &str) -> CognitoError {
    CognitoError::new(
        "SerializationException",
        format!("Member '{name}' must be {expected}."),
    )
}

impl<'a> Req<'a> {
    /// Wrap a request body.
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Req { body }
    }

    /// An optional string member (JSON null counts as absent).
    pub fn str(&self, name: &str) -> Result<Option<&'a str>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(type_error(name, "a string")),
        }
    }

    /// A required string member.
    pub fn req(&self, name: &str) -> Result<&'a str, CognitoError> {
        self.str(name)?
            .ok_or_else(|| CognitoError::null_member(&lower_first(name)))
    }

    /// An optional boolean member.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name, "a boolean")),
        }
    }

    /// An optional non-negative integer member.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| type_error(name, "a non-negative integer")),
        }
    }

    /// An optional object member.
    pub fn obj(&self, name: &str) -> Result<Option<Req<'a>>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Req::new(m))),
            Some(_) => Err(type_error(name, "an object")),
        }
    }

    /// A string-to-string map member (`AuthParameters`, `ChallengeResponses`).
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(type_error(name, "a map of strings")),
                })
                .collect(),
            Some(_) => Err(type_error(name, "a map of strings")),
        }
    }

    /// A list of strings.
    pub fn str_list(&self, name: &str) -> Result<Option<Vec<String>>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error(name, "a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(type_error(name, "a list of strings")),
        }
    }

    /// A list of `{"Name": .., "Value": ..}` attributes.
    pub fn attributes(&self, name: &str) -> Result<Vec<(String, String)>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    let n = v.get("Name").and_then(Value::as_str);
                    let val = v.get("Value").and_then(Value::as_str).unwrap_or("");
                    n.map(|n| (n.to_owned(), val.to_owned()))
                        .ok_or_else(|| type_error(name, "a list of {Name, Value}"))
                })
                .collect(),
            Some(_) => Err(type_error(name, "a list of {Name, Value}")),
        }
    }
}

/// What an auth session is waiting for.
#[derive(Debug, Clone)]
pub enum SessionKind {
    /// A new password (NEW_PASSWORD_REQUIRED).
    NewPassword,
    /// TOTP enrollment (MFA_SETUP); `verified` once VerifySoftwareToken succeeded with it.
    MfaSetup {
        /// Whether the software token was verified in this session.
        verified: bool,
    },
    /// A TOTP code (SOFTWARE_TOKEN_MFA).
    SoftwareTokenMfa,
    /// An SMS code (SMS_MFA).
    SmsMfa {
        /// The code "sent".
        code: SecretString,
    },
    /// A choice of factor (SELECT_MFA_TYPE).
    SelectMfaType,
}

impl SessionKind {
    /// The challenge name this session answers.
    pub fn challenge(&self) -> &'static str {
        match self {
            SessionKind::NewPassword => "NEW_PASSWORD_REQUIRED",
            SessionKind::MfaSetup { .. } => "MFA_SETUP",
            SessionKind::SoftwareTokenMfa => "SOFTWARE_TOKEN_MFA",
            SessionKind::SmsMfa { .. } => "SMS_MFA",
            SessionKind::SelectMfaType => "SELECT_MFA_TYPE",
        }
    }
}

/// An auth session: bound to pool, client and user; expires after three minutes.
#[derive(Debug, Clone)]
pub struct Session {
    /// Pool id.
    pub pool: String,
    /// Client id.
    pub client: String,
    /// Username.
    pub username: String,
    /// The user's sub (a recreated user does not inherit the session).
    pub sub: String,
    /// What it waits for.
    pub kind: SessionKind,
    /// Expiry, Unix seconds.
    pub expires: f64,
}

/// A pending SRP exchange, keyed by its SECRET_BLOCK.
#[derive(Debug)]
pub struct SrpPending {
    /// Pool id.
    pub pool: String,
    /// Client id.
    pub client: String,
    /// The user (None for a decoy exchange about an unknown user).
    pub username: Option<String>,
    /// The client's A.
    pub big_a: BigUint,
    /// The server's secret and public values.
    pub half: srp::ServerHalf,
    /// Expiry, Unix seconds.
    pub expires: f64,
}

/// Short-lived Cognito state that is deliberately not persisted.
#[derive(Default)]
pub struct Ephemeral {
    /// Live sessions by value.
    pub sessions: HashMap<String, Session>,
    /// Sessions already answered, with their expiry (for "can only be used once").
    pub spent_sessions: HashMap<String, f64>,
    /// Pending SRP exchanges by SECRET_BLOCK.
    pub srp: HashMap<String, SrpPending>,
}

impl std::fmt::Debug for Ephemeral {
    // Session ids and secret blocks are bearer secrets: show only counts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ephemeral")
            .field("sessions", &self.sessions.len())
            .field("spent_sessions", &self.spent_sessions.len())
            .field("srp", &self.srp.len())
            .finish()
    }
}

impl Ephemeral {
    /// Drop everything that expired more than a minute ago.
    pub fn sweep(&mut self, now: f64) {
        let horizon = now - 60.0;
        self.sessions.retain(|_, s| s.expires > horizon);
        self.spent_sessions.retain(|_, e| *e > horizon);
        self.srp.retain(|_, p| p.expires > horizon);
    }
}

/// How many delivered messages a pool keeps for the test controls.
pub const OUTBOX_LIMIT: usize = 1000;

/// Forget refresh tokens a day after they expired (their revocation marks included) and
/// keep each pool's outbox bounded.
fn sweep_state(state: &mut CognitoState, now: f64) {
    state
        .refresh_tokens
        .retain(|_, t| t.expires + 86_400.0 > now);
    for p in state.pools.values_mut() {
        if p.outbox.len() > OUTBOX_LIMIT {
            let excess = p.outbox.len() - OUTBOX_LIMIT;
            p.outbox.drain(..excess);
        }
    }
}

/// Actions that must be SigV4-signed (administrative ones).
pub fn needs_signature(action: &str) -> bool {
    !matches!(
        action,
        "InitiateAuth"
            | "RespondToAuthChallenge"
            | "SignUp"
            | "ConfirmSignUp"
            | "ResendConfirmationCode"
            | "GetUser"
            | "AssociateSoftwareToken"
            | "VerifySoftwareToken"
            | "SetUserMFAPreference"
            | "GlobalSignOut"
            | "RevokeToken"
            | "ChangePassword"
    )
}

/// Every Cognito action the stand-in implements.
pub const ACTIONS: &[&str] = &[
    "CreateUserPool",
    "DescribeUserPool",
    "DeleteUserPool",
    "ListUserPools",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "DeleteUserPoolClient",
    "SetUserPoolMfaConfig",
    "GetUserPoolMfaConfig",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminGetUser",
    "AdminSetUserMFAPreference",
    "AdminDeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminUserGlobalSignOut",
    "ListUsers",
    "SignUp",
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "InitiateAuth",
    "RespondToAuthChallenge",
    "GetUser",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "GlobalSignOut",
    "RevokeToken",
    "ChangePassword",
];

/// Run one Cognito action; `Ok` is the JSON response body.
pub fn handle(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    action: &str,
    body: &Map<String, Value>,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let req = Req::new(body);
    eph.sweep(ctx.now);
    sweep_state(state, ctx.now);
    match action {
        "CreateUserPool" => pools::create_user_pool(state, &req, ctx),
        "DescribeUserPool" => pools::describe_user_pool(state, &req),
        "DeleteUserPool" => pools::delete_user_pool(state, &req),
        "ListUserPools" => pools::list_user_pools(state, &req),
        "CreateUserPoolClient" => pools::create_user_pool_client(state, &req, ctx),
        "DescribeUserPoolClient" => pools::describe_user_pool_client(state, &req),
        "DeleteUserPoolClient" => pools::delete_user_pool_client(state, &req),
        "SetUserPoolMfaConfig" => pools::set_user_pool_mfa_config(state, &req, ctx),
        "GetUserPoolMfaConfig" => pools::get_user_pool_mfa_config(state, &req),
        "AdminCreateUser" => pools::admin_create_user(state, &req, ctx),
        "AdminSetUserPassword" => pools::admin_set_user_password(state, &req, ctx),
        "AdminGetUser" => pools::admin_get_user(state, &req),
        "AdminSetUserMFAPreference" => pools::admin_set_user_mfa_preference(state, &req, ctx),
        "AdminDeleteUser" => pools::admin_delete_user(state, &req),
        "AdminDisableUser" => pools::admin_set_enabled(state, &req, ctx, false),
        "AdminEnableUser" => pools::admin_set_enabled(state, &req, ctx, true),
        "AdminUserGlobalSignOut" => pools::admin_user_global_sign_out(state, &req),
        "ListUsers" => pools::list_users(state, &req),
        "SignUp" => pools::sign_up(state, &req, ctx),
        "ConfirmSignUp" => pools::confirm_sign_up(state, &req, ctx),
        "ResendConfirmationCode" => pools::resend_confirmation_code(state, &req, ctx),
        "InitiateAuth" => auth::initiate_auth(state, eph, &req, ctx),
        "RespondToAuthChallenge" => auth::respond_to_auth_challenge(state, eph, &req, ctx),
        "GetUser" => auth::get_user(state, &req, ctx),
        "AssociateSoftwareToken" => auth::associate_software_token(state, eph, &req, ctx),
        "VerifySoftwareToken" => auth::verify_software_token(state, eph, &req, ctx),
        "SetUserMFAPreference" => auth::set_user_mfa_preference(state, &req, ctx),
        "GlobalSignOut" => auth::global_sign_out(state, &req, ctx),
        "RevokeToken" => auth::revoke_token(state, &req),
        "ChangePassword" => auth::change_password(state, &req, ctx),
        _ => Err(CognitoError::new(
            "UnknownOperationException",
            format!(
                "Unknown operation {TARGET_PREFIX}{action}: the authsim emulator does not implement it"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::RefreshToken;

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
            },
        );
        assert!(!format!("{state:?}").contains("very-secret"));
        let mut eph = Ephemeral::default();
        eph.spent_sessions.insert("very-secret-session".into(), 0.0);
        assert!(!format!("{eph:?}").contains("very-secret"));
    }
}
