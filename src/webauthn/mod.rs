//! The WebAuthn client: the part a browser plays (WebAuthn Level 3 §5.1.3 "Create a New
//! Credential" and §5.1.4 "Use an Existing Credential", client side), over any authenticator
//! the project reaches ([`crate::fido::ctap2::Authenticator`]).
//!
//! In: PublicKeyCredentialCreationOptionsJSON / PublicKeyCredentialRequestOptionsJSON (also
//! inside `{"publicKey": …}`) and the caller's origin. Out: RegistrationResponseJSON /
//! AuthenticationResponseJSON. Errors carry the DOMException name a browser would reject with.
//!
//! - [`origin`]: the origin and rp id rules (public suffix list).
//! - [`client_data`]: clientDataJSON as browsers serialize it.
//! - [`options`], [`response`]: the JSON forms in and out.
//! - `uv`: userVerification mapped to a PIN, built-in UV or nothing.
//! - `extensions`: credProps, credProtect, credBlob, minPinLength, prf (hmac-secret).
//! - `register`, `authenticate`: the two ceremonies.
//! - [`pins`]: a PIN kept sealed in the store for a daemon key.

mod authenticate;
pub mod client_data;
mod extensions;
mod large_blob;
pub mod options;
pub mod origin;
pub mod pins;
mod register;
pub mod response;
mod uv;

use std::time::{Duration, Instant};

pub use authenticate::authenticate;
pub use register::register;

use crate::fido::ctap2::{Authenticator, CtapError};
use serde_json::Value;
use zeroize::Zeroizing;

/// A browser's `navigator.credentials` over one authenticator and its PIN (if any): what the
/// CLI's `webauthn` commands and the Cognito passkey flows call, so both run one code path.
pub struct Platform {
    key: Authenticator,
    pin: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("key", &self.key.describe())
            .field("pin", &self.pin.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Platform {
    /// A client for `key`, verifying the user with `pin` where the ceremony asks for it.
    pub fn new(key: Authenticator, pin: Option<Zeroizing<String>>) -> Self {
        Self { key, pin }
    }

    /// navigator.credentials.create(): creation options JSON in, RegistrationResponseJSON out.
    pub fn create(&mut self, origin: &str, options: &Value) -> Result<Value, WebAuthnError> {
        register(
            &mut self.key,
            origin,
            options,
            self.pin.as_deref().map(String::as_str),
        )
    }

    /// navigator.credentials.get(): request options JSON in, AuthenticationResponseJSON out.
    pub fn get(&mut self, origin: &str, options: &Value) -> Result<Value, WebAuthnError> {
        authenticate(
            &mut self.key,
            origin,
            options,
            self.pin.as_deref().map(String::as_str),
        )
    }
}

/// The DOMException (or TypeError) a browser would reject the promise with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// NotAllowedError: the user or the authenticator did not allow it, or it timed out.
    NotAllowed,
    /// SecurityError: the origin may not use this rp id.
    Security,
    /// InvalidStateError: an excluded credential is already on the authenticator.
    InvalidState,
    /// NotSupportedError: no requested algorithm or extension can be served.
    NotSupported,
    /// ConstraintError: a required criterion the authenticator cannot meet.
    Constraint,
    /// TypeError: the options are malformed.
    Type,
    /// EncodingError: a base64url member does not decode.
    Encoding,
    /// SyntaxError: a member's value is wrong (prf evalByCredential keys).
    Syntax,
    /// UnknownError: the authenticator could not be reached or answered nonsense.
    Unknown,
}

/// Why a ceremony failed: the browser's error name and what to do.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}: {message}", kind_name(*.kind))]
pub struct WebAuthnError {
    /// The kind.
    pub kind: ErrorKind,
    /// What went wrong and what to do (never a secret).
    pub message: String,
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotAllowed => "NotAllowedError",
        ErrorKind::Security => "SecurityError",
        ErrorKind::InvalidState => "InvalidStateError",
        ErrorKind::NotSupported => "NotSupportedError",
        ErrorKind::Constraint => "ConstraintError",
        ErrorKind::Type => "TypeError",
        ErrorKind::Encoding => "EncodingError",
        ErrorKind::Syntax => "SyntaxError",
        ErrorKind::Unknown => "UnknownError",
    }
}

impl WebAuthnError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The name a browser gives it (`NotAllowedError`, `SecurityError`, ...).
    pub fn name(&self) -> &'static str {
        kind_name(self.kind)
    }

    pub(crate) fn not_allowed(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAllowed, m)
    }
    pub(crate) fn security(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Security, m)
    }
    pub(crate) fn invalid_state(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState, m)
    }
    pub(crate) fn not_supported(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, m)
    }
    pub(crate) fn constraint(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Constraint, m)
    }
    pub(crate) fn type_error(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Type, m)
    }
    pub(crate) fn encoding(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Encoding, m)
    }
    pub(crate) fn syntax(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Syntax, m)
    }
    pub(crate) fn unknown(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unknown, m)
    }
}

/// What the authenticator said, as a browser would report it.
pub(crate) fn from_ctap(e: CtapError, doing: &str) -> WebAuthnError {
    use firmware_sim::StatusCode as S;
    let Some(status) = e.status() else {
        return match &e {
            CtapError::Hid(crate::fido::hid::HidError::Timeout(_)) => WebAuthnError::not_allowed(
                format!("{doing}: timed out waiting for the key (was it touched?)"),
            ),
            _ => WebAuthnError::unknown(format!("{doing}: {e}")),
        };
    };
    let code = S::from_u8(status);
    let msg = format!("{doing}: {e}");
    match code {
        Some(S::CredentialExcluded) => WebAuthnError::invalid_state(format!(
            "{doing}: the key already holds a credential in excludeCredentials"
        )),
        Some(S::UnsupportedAlgorithm) => WebAuthnError::not_supported(format!(
            "{doing}: the key supports none of pubKeyCredParams' algorithms"
        )),
        Some(S::KeyStoreFull) => WebAuthnError::constraint(format!(
            "{doing}: the key has no room for another discoverable credential"
        )),
        Some(S::NoCredentials) => WebAuthnError::not_allowed(format!(
            "{doing}: the key holds no credential for this request"
        )),
        Some(S::OperationDenied | S::KeepaliveCancel | S::UserActionTimeout) => {
            WebAuthnError::not_allowed(format!("{doing}: the user did not allow it ({e})"))
        }
        Some(S::PuatRequired) => WebAuthnError::not_allowed(format!(
            "{doing}: this key needs its PIN for this request: give it (--pin-stdin, a saved PIN, \
             or \"pin\" in the API body)"
        )),
        _ => WebAuthnError::not_allowed(msg),
    }
}

/// The default and the bounds of a ceremony's timeout (the RP's value is clamped to them).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// When a ceremony with the RP's `timeout` (milliseconds) gives up.
pub(crate) fn deadline(timeout_ms: Option<u64>) -> Instant {
    let t = timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
        .clamp(MIN_TIMEOUT, MAX_TIMEOUT);
    Instant::now() + t
}
