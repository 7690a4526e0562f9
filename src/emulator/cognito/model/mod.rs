//! What the Cognito stand-in keeps across restarts: user pools, app clients, users,
//! their TOTP secrets and refresh tokens, and the "outbox" of messages Cognito would have
//! sent (confirmation codes, temporary passwords, SMS codes) for tests to read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod device;
pub mod passkey;

use super::error::CognitoError;
use crate::emulator::crypto::SecretString;
pub use device::{Device, DeviceConfig, DeviceVerifier};
pub use passkey::{Passkey, WebAuthnConfig};

/// How many delivered messages a pool keeps for the test controls.
pub const OUTBOX_LIMIT: usize = 1000;

/// All user pools and refresh tokens.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct CognitoState {
    /// Pools by id (`us-east-1_AbCdEf123`).
    pub pools: BTreeMap<String, UserPool>,
    /// Refresh tokens by value.
    pub refresh_tokens: BTreeMap<String, RefreshToken>,
}

impl std::fmt::Debug for CognitoState {
    // Refresh tokens are bearer secrets and key their map: show only how many there are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoState")
            .field("pools", &self.pools)
            .field("refresh_tokens", &self.refresh_tokens.len())
            .finish()
    }
}

impl CognitoState {
    /// Find a pool or fail with Cognito's message.
    pub fn pool(&self, id: &str) -> Result<&UserPool, CognitoError> {
        self.pools
            .get(id)
            .ok_or_else(|| CognitoError::not_found(format!("User pool {id} does not exist.")))
    }

    /// Find a pool mutably or fail with Cognito's message.
    pub fn pool_mut(&mut self, id: &str) -> Result<&mut UserPool, CognitoError> {
        self.pools
            .get_mut(id)
            .ok_or_else(|| CognitoError::not_found(format!("User pool {id} does not exist.")))
    }

    /// Find the pool that owns app client `client_id`, and the client.
    pub fn client(&self, client_id: &str) -> Result<(&UserPool, &AppClient), CognitoError> {
        self.pools
            .values()
            .find_map(|p| p.clients.get(client_id).map(|c| (p, c)))
            .ok_or_else(|| {
                CognitoError::not_found(format!("User pool client {client_id} does not exist."))
            })
    }

    /// Find a user of a pool (`UserNotFoundException` if there is none).
    pub fn user(&self, pool_id: &str, username: &str) -> Result<&User, CognitoError> {
        self.pool(pool_id)?
            .users
            .get(username)
            .ok_or_else(CognitoError::user_not_found)
    }

    /// Find a user of a pool mutably.
    pub fn user_mut(&mut self, pool_id: &str, username: &str) -> Result<&mut User, CognitoError> {
        self.pool_mut(pool_id)?
            .users
            .get_mut(username)
            .ok_or_else(CognitoError::user_not_found)
    }

    /// Forget refresh tokens a day after they expired (their revocation marks included) and
    /// keep each pool's outbox bounded.
    pub fn sweep(&mut self, now: f64) {
        self.refresh_tokens
            .retain(|_, t| t.expires + 86_400.0 > now);
        for p in self.pools.values_mut() {
            if p.outbox.len() > OUTBOX_LIMIT {
                let excess = p.outbox.len() - OUTBOX_LIMIT;
                p.outbox.drain(..excess);
            }
        }
    }
}

/// A pool's MFA setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MfaMode {
    /// No MFA.
    #[default]
    Off,
    /// MFA for users who enabled it.
    Optional,
    /// MFA for everyone; users without a factor must set one up.
    On,
}

impl MfaMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMode::Off => "OFF",
            MfaMode::Optional => "OPTIONAL",
            MfaMode::On => "ON",
        }
    }

    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OFF" => Some(MfaMode::Off),
            "OPTIONAL" => Some(MfaMode::Optional),
            "ON" => Some(MfaMode::On),
            _ => None,
        }
    }
}

/// A pool's password policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// Minimum length.
    pub minimum_length: u32,
    /// Needs an upper-case letter.
    pub require_uppercase: bool,
    /// Needs a lower-case letter.
    pub require_lowercase: bool,
    /// Needs a digit.
    pub require_numbers: bool,
    /// Needs a symbol.
    pub require_symbols: bool,
    /// Days a temporary password stays valid.
    pub temporary_password_validity_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            minimum_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            temporary_password_validity_days: 7,
        }
    }
}

/// A user pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserPool {
    /// `region_XXXXXXXXX`.
    pub id: String,
    /// The name given at creation.
    pub name: String,
    /// The region part of the id.
    pub region: String,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// Last modification time, Unix seconds.
    pub modified: f64,
    /// MFA setting.
    pub mfa: MfaMode,
    /// Whether TOTP (software token) MFA is enabled for the pool.
    pub software_token_mfa: bool,
    /// Whether SMS MFA is configured for the pool.
    pub sms_mfa: bool,
    /// SMS authentication message template, if configured.
    pub sms_message: Option<String>,
    /// Password policy.
    pub policy: PasswordPolicy,
    /// Attributes verified automatically (`email`, `phone_number`).
    pub auto_verified: Vec<String>,
    /// App clients by id.
    pub clients: BTreeMap<String, AppClient>,
    /// Users by username.
    pub users: BTreeMap<String, User>,
    /// The RS256 signing key (PKCS#8 DER, base64).
    pub signing_key: SecretString,
    /// The key id published in the JWKS.
    pub kid: String,
    /// Messages the pool "sent", newest last.
    pub outbox: Vec<Message>,
    /// Device tracking (`DeviceConfiguration`), when on.
    #[serde(default)]
    pub devices: Option<DeviceConfig>,
    /// `UserPoolTier`: `LITE`, `ESSENTIALS` or `PLUS`.
    #[serde(default = "passkey::default_tier")]
    pub tier: String,
    /// `Policies.SignInPolicy.AllowedFirstAuthFactors`.
    #[serde(default = "passkey::default_first_factors")]
    pub first_factors: Vec<String>,
    /// `WebAuthnConfiguration`.
    #[serde(default)]
    pub webauthn: WebAuthnConfig,
}

impl UserPool {
    /// Whether a first factor (`PASSWORD`, `WEB_AUTHN`, ...) is allowed.
    pub fn allows_first_factor(&self, factor: &str) -> bool {
        self.first_factors.iter().any(|f| f == factor)
    }

    /// The part after the region and underscore, used in SRP.
    pub fn srp_name(&self) -> &str {
        self.id.split_once('_').map(|(_, n)| n).unwrap_or(&self.id)
    }

    /// The pool's ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cognito-idp:{}:{}:userpool/{}",
            self.region,
            crate::emulator::ACCOUNT_ID,
            self.id
        )
    }
}

/// An app client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppClient {
    /// 26 lower-case letters and digits.
    pub id: String,
    /// The name given at creation.
    pub name: String,
    /// The generated secret, if any.
    pub secret: Option<SecretString>,
    /// Enabled flows (`ALLOW_USER_SRP_AUTH`, ...), normalised to the `ALLOW_` names.
    pub auth_flows: Vec<String>,
    /// Whether `ExplicitAuthFlows` was given (echoed back only then).
    pub auth_flows_explicit: bool,
    /// Access token validity, seconds.
    pub access_validity: u64,
    /// ID token validity, seconds.
    pub id_validity: u64,
    /// Refresh token validity, seconds.
    pub refresh_validity: u64,
    /// `ENABLED` or `LEGACY`.
    pub prevent_user_existence_errors: String,
    /// Creation time.
    pub created: f64,
    /// Last modification time.
    pub modified: f64,
}

impl AppClient {
    /// Whether `flow` (an `ALLOW_` name) is enabled.
    pub fn allows(&self, flow: &str) -> bool {
        self.auth_flows.iter().any(|f| f == flow)
    }
}

/// A user's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    /// Signed up, not confirmed.
    Unconfirmed,
    /// Confirmed.
    Confirmed,
    /// Created by an administrator with a temporary password.
    ForceChangePassword,
}

impl UserStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Unconfirmed => "UNCONFIRMED",
            UserStatus::Confirmed => "CONFIRMED",
            UserStatus::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
        }
    }
}

/// An SRP password verifier: what is kept instead of the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordVerifier {
    /// The salt, lower-case hex without leading zeros (sent as SALT).
    pub salt: String,
    /// `g^x mod N`, lower-case hex.
    pub verifier: SecretString,
}

/// A pending code with an expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCode {
    /// The code.
    pub code: SecretString,
    /// Expiry, Unix seconds.
    pub expires: f64,
}

/// A user's software token (TOTP) state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoftwareToken {
    /// Secret handed out by the last AssociateSoftwareToken, not yet verified (base32).
    pub pending: Option<SecretString>,
    /// The verified secret (base32).
    pub active: Option<SecretString>,
    /// FriendlyDeviceName given at verification.
    pub friendly_name: Option<String>,
    /// The last step accepted for this user; it and earlier steps are spent.
    pub last_step: Option<u64>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The username.
    pub username: String,
    /// The immutable `sub` UUID.
    pub sub: String,
    /// Attributes other than `sub`.
    pub attributes: BTreeMap<String, String>,
    /// Status.
    pub status: UserStatus,
    /// Enabled by the administrator.
    pub enabled: bool,
    /// Creation time.
    pub created: f64,
    /// Last modification time.
    pub modified: f64,
    /// The password verifier, once a password is set.
    pub password: Option<PasswordVerifier>,
    /// When a temporary password was set (for its expiry).
    pub temporary_password_set: Option<f64>,
    /// Sign-up confirmation code, while unconfirmed.
    pub confirmation: Option<PendingCode>,
    /// TOTP state.
    pub totp: SoftwareToken,
    /// TOTP MFA enabled in the user's MFA settings.
    pub software_mfa_enabled: bool,
    /// SMS MFA enabled in the user's MFA settings.
    pub sms_mfa_enabled: bool,
    /// Preferred MFA (`SOFTWARE_TOKEN_MFA` or `SMS_MFA`).
    pub preferred_mfa: Option<String>,
    /// Devices by key: issued (NewDeviceMetadata) and confirmed ones.
    #[serde(default)]
    pub devices: BTreeMap<String, Device>,
    /// Registered passkeys, oldest first.
    #[serde(default)]
    pub passkeys: Vec<Passkey>,
    /// Passkey MFA (`WebAuthnMfaSettings`): a passkey with user verification signs in
    /// where MFA is required.
    #[serde(default)]
    pub passkey_mfa: bool,
}

impl User {
    /// A new, enabled user without password, MFA or devices.
    pub fn new(
        username: &str,
        attributes: BTreeMap<String, String>,
        status: UserStatus,
        now: f64,
    ) -> Self {
        User {
            username: username.to_owned(),
            sub: crate::emulator::crypto::uuid_v4(),
            attributes,
            status,
            enabled: true,
            created: now,
            modified: now,
            password: None,
            temporary_password_set: None,
            confirmation: None,
            totp: SoftwareToken::default(),
            software_mfa_enabled: false,
            sms_mfa_enabled: false,
            preferred_mfa: None,
            devices: BTreeMap::new(),
            passkeys: Vec::new(),
            passkey_mfa: false,
        }
    }

    /// A confirmed device of this user, or Cognito's `ResourceNotFoundException`.
    pub fn confirmed_device(&self, key: &str) -> Result<&Device, CognitoError> {
        self.devices
            .get(key)
            .filter(|d| d.confirmed())
            .ok_or_else(CognitoError::device_not_found)
    }

    /// The MFA methods the user has enabled, in Cognito's order.
    pub fn mfa_methods(&self, pool: &UserPool) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.sms_mfa_enabled && pool.sms_mfa {
            m.push("SMS_MFA");
        }
        let totp_ready =
            self.totp.active.is_some() && (self.software_mfa_enabled || pool.mfa == MfaMode::On);
        if totp_ready && pool.software_token_mfa {
            m.push("SOFTWARE_TOKEN_MFA");
        }
        m
    }
}

/// A refresh token's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Pool id.
    pub pool: String,
    /// Client id.
    pub client: String,
    /// Username.
    pub username: String,
    /// The user's sub when issued (a recreated user does not inherit it).
    pub sub: String,
    /// `origin_jti` shared by tokens of this sign-in.
    pub origin_jti: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Expiry, Unix seconds.
    pub expires: f64,
    /// Revoked by GlobalSignOut/RevokeToken/AdminUserGlobalSignOut.
    pub revoked: bool,
    /// The device the sign-in was bound to (refresh then needs its DEVICE_KEY).
    #[serde(default)]
    pub device_key: Option<String>,
}

/// A message the pool would have delivered by email or SMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Recipient username.
    pub username: String,
    /// `confirmation_code`, `temporary_password` or `sms_mfa_code`.
    pub kind: String,
    /// The code or password.
    pub value: SecretString,
    /// When it was "sent".
    pub at: f64,
}
