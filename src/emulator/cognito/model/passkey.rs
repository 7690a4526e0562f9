//! Passkeys: the pool's sign-in policy and WebAuthn configuration, and each passkey a user
//! registered.

use serde::{Deserialize, Serialize};

/// The pool's `WebAuthnConfiguration` (SetUserPoolMfaConfig).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnConfig {
    /// `RelyingPartyId`; without one, registration is `WebAuthnConfigurationMissingException`.
    pub relying_party_id: Option<String>,
    /// `UserVerification`: `preferred` or `required`.
    pub user_verification: String,
    /// `FactorConfiguration`: `SINGLE_FACTOR` or `MULTI_FACTOR_WITH_USER_VERIFICATION`.
    pub factor: String,
}

impl Default for WebAuthnConfig {
    fn default() -> Self {
        WebAuthnConfig {
            relying_party_id: None,
            user_verification: "preferred".into(),
            factor: "SINGLE_FACTOR".into(),
        }
    }
}

impl WebAuthnConfig {
    /// Whether a passkey with user verification satisfies MFA.
    pub fn multi_factor(&self) -> bool {
        self.factor == "MULTI_FACTOR_WITH_USER_VERIFICATION"
    }

    /// Whether user verification is required.
    pub fn uv_required(&self) -> bool {
        self.user_verification == "required"
    }
}

/// A registered passkey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Passkey {
    /// The credential id, base64url without padding (`CredentialId`).
    pub id: String,
    /// `FriendlyCredentialName`.
    pub name: String,
    /// The relying party it was registered for.
    pub rp_id: String,
    /// `platform` or `cross-platform`, as the client reported it.
    pub attachment: Option<String>,
    /// Transports the client reported.
    pub transports: Vec<String>,
    /// Registration time, Unix seconds.
    pub created: f64,
    /// The verifier's credential record (webauthn-rs-core's `Credential`: public key,
    /// counter, flags), kept as it serialises.
    pub credential: serde_json::Value,
}

/// The pool tier (`UserPoolTier`); passkeys need ESSENTIALS or PLUS.
pub fn default_tier() -> String {
    "ESSENTIALS".into()
}

/// The first factors a pool allows when none are configured.
pub fn default_first_factors() -> Vec<String> {
    vec!["PASSWORD".into()]
}
