//! Short-lived sign-in state that is deliberately not persisted: auth sessions (each bound
//! to pool, client and user, single-use once answered, three minutes to live) and pending
//! SRP exchanges keyed by their SECRET_BLOCK.

use std::collections::HashMap;

use num_bigint::BigUint;
use webauthn_rs_core::proto::{AuthenticationState, RegistrationState};

use super::error::CognitoError;
use super::srp;
use crate::emulator::crypto::{self, SecretString};

/// How long an auth session (and a pending SRP exchange) lives, in seconds.
pub const SESSION_TTL_SECS: f64 = 180.0;

/// `NotAuthorizedException: Invalid session for the user.`
pub fn invalid_session() -> CognitoError {
    CognitoError::not_authorized("Invalid session for the user.")
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
    /// Device authentication (DEVICE_SRP_AUTH) with the session's device.
    DeviceSrpAuth,
    /// A choice of first factor (SELECT_CHALLENGE, USER_AUTH).
    SelectChallenge {
        /// What was offered (AvailableChallenges).
        available: Vec<String>,
    },
    /// The password itself (PASSWORD, USER_AUTH).
    Password,
    /// SRP_A to start the password's SRP (PASSWORD_SRP, USER_AUTH).
    PasswordSrp,
    /// A passkey assertion (WEB_AUTHN) for this ceremony.
    WebAuthn {
        /// The ceremony's verifier state (challenge, allowed credentials, UV policy).
        state: Box<AuthenticationState>,
    },
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
            SessionKind::DeviceSrpAuth => "DEVICE_SRP_AUTH",
            SessionKind::SelectChallenge { .. } => "SELECT_CHALLENGE",
            SessionKind::Password => "PASSWORD",
            SessionKind::PasswordSrp => "PASSWORD_SRP",
            SessionKind::WebAuthn { .. } => "WEB_AUTHN",
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
    /// The confirmed device this sign-in uses (DEVICE_KEY), if any.
    pub device: Option<String>,
    /// What it waits for.
    pub kind: SessionKind,
    /// Expiry, Unix seconds.
    pub expires: f64,
}

/// Who is signing in: the pool, the app client, the user, and the confirmed device the
/// sign-in uses.
#[derive(Debug, Clone)]
pub struct Who {
    /// Pool id.
    pub pool: String,
    /// App client id.
    pub client: String,
    /// Username.
    pub username: String,
    /// The device key (DEVICE_KEY) of a confirmed device of the user.
    pub device: Option<String>,
}

impl Who {
    /// The signer of a live session.
    pub fn of(s: &Session) -> Who {
        Who {
            pool: s.pool.clone(),
            client: s.client.clone(),
            username: s.username.clone(),
            device: s.device.clone(),
        }
    }

    /// A session for this signer (whose sub is `sub`), waiting for `kind`, three minutes
    /// to live.
    pub fn session(&self, sub: &str, kind: SessionKind, now: f64) -> Session {
        Session {
            pool: self.pool.clone(),
            client: self.client.clone(),
            username: self.username.clone(),
            sub: sub.to_owned(),
            device: self.device.clone(),
            kind,
            expires: now + SESSION_TTL_SECS,
        }
    }
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
    /// For device authentication (DEVICE_PASSWORD_VERIFIER): the device key.
    pub device: Option<String>,
    /// Expiry, Unix seconds.
    pub expires: f64,
}

/// A passkey registration waiting for CompleteWebAuthnRegistration, keyed by its challenge.
#[derive(Debug)]
pub struct PendingRegistration {
    /// Pool id.
    pub pool: String,
    /// Username.
    pub username: String,
    /// The user's sub (a recreated user does not inherit it).
    pub sub: String,
    /// The ceremony's verifier state.
    pub state: RegistrationState,
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
    /// Pending passkey registrations by challenge (base64url); single-use.
    pub registrations: HashMap<String, PendingRegistration>,
}

impl std::fmt::Debug for Ephemeral {
    // Session ids and secret blocks are bearer secrets: show only counts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ephemeral")
            .field("sessions", &self.sessions.len())
            .field("spent_sessions", &self.spent_sessions.len())
            .field("srp", &self.srp.len())
            .field("registrations", &self.registrations.len())
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
        self.registrations.retain(|_, p| p.expires > horizon);
    }

    /// Start a session; returns its id (an opaque bearer value).
    pub fn open(&mut self, s: Session) -> String {
        let id = format!("AYABe{}", crypto::b64url(&crypto::random_bytes(180)));
        self.sessions.insert(id.clone(), s);
        id
    }

    /// Look up a live session without consuming it.
    pub fn live(&self, id: Option<&str>, now: f64) -> Result<&Session, CognitoError> {
        let id = id.ok_or_else(|| CognitoError::missing_param("Session"))?;
        match self.sessions.get(id) {
            Some(s) if s.expires < now => Err(CognitoError::not_authorized(
                "Invalid session for the user, session is expired.",
            )),
            Some(s) => Ok(s),
            None if self.spent_sessions.contains_key(id) => Err(CognitoError::not_authorized(
                "Invalid session for the user, session can only be used once.",
            )),
            None => Err(invalid_session()),
        }
    }

    /// The live DEVICE_SRP_AUTH session of `client`, `username` and `device`, for clients
    /// (pycognito) that answer DEVICE_SRP_AUTH without the Session.
    pub fn device_session(
        &self,
        client: &str,
        username: &str,
        device: &str,
        now: f64,
    ) -> Option<&str> {
        self.sessions
            .iter()
            .find(|(_, s)| {
                matches!(s.kind, SessionKind::DeviceSrpAuth)
                    && s.expires >= now
                    && s.client == client
                    && s.username == username
                    && s.device.as_deref() == Some(device)
            })
            .map(|(id, _)| id.as_str())
    }

    /// Mark a session answered: any later use is "can only be used once".
    pub fn spend(&mut self, id: &str) {
        if let Some(s) = self.sessions.remove(id) {
            self.spent_sessions.insert(id.to_owned(), s.expires);
        }
    }
}
