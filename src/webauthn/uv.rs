//! userVerification, as a platform acts on it (CTAP 2.1 §6.1.1 and §6.2.1 platform steps):
//! built-in UV through a pinUvAuthToken (or the uv option on keys without tokens), the PIN
//! through a pinUvAuthToken, or nothing; and what the key itself insists on.

use std::time::Instant;

use firmware_sim::StatusCode as S;

use super::WebAuthnError;
use super::options::UserVerification;
use crate::fido::ctap2::{Authenticator, CtapError};
use crate::fido::pin::{self, PinUvToken};

/// How a request is user-verified.
#[derive(Debug)]
pub enum UvPlan {
    /// Not at all (user presence only).
    Nothing,
    /// With this pinUvAuthToken (pinUvAuthParam over the client data hash).
    Token(PinUvToken),
    /// With the uv option (built-in UV on a key without pinUvAuthToken).
    Option,
}

/// What the key says about its UV means.
struct Means {
    builtin_uv: bool,
    pin_set: bool,
    pin_supported: bool,
    tokens: bool,
}

fn means(key: &mut Authenticator) -> Result<Means, WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    Ok(Means {
        builtin_uv: info.option("uv") == Some(true),
        pin_set: info.option("clientPin") == Some(true),
        pin_supported: info.option("clientPin").is_some(),
        tokens: info.option("pinUvAuthToken") == Some(true),
    })
}

fn pin_error(e: CtapError) -> WebAuthnError {
    match e.status().and_then(S::from_u8) {
        Some(S::PinInvalid) => WebAuthnError::not_allowed(
            "wrong PIN (the key counts the attempt; three in a row block it until a power cycle)",
        ),
        Some(S::PinBlocked) => WebAuthnError::not_allowed(
            "the key's PIN is blocked (no attempts left): only a reset of the key clears it",
        ),
        Some(S::PinAuthBlocked) => WebAuthnError::not_allowed(
            "three wrong PINs in a row: the key refuses PINs until it is power-cycled",
        ),
        Some(S::PinPolicyViolation) => WebAuthnError::not_allowed(
            "the key wants its PIN changed first (forcePINChange, or a PIN shorter than minPINLength)",
        ),
        Some(S::PinNotSet) => WebAuthnError::not_allowed("the key has no PIN set"),
        Some(S::UvInvalid | S::OperationDenied) => {
            WebAuthnError::not_allowed("built-in user verification failed")
        }
        Some(S::UvBlocked) => WebAuthnError::not_allowed(
            "built-in user verification is blocked (no attempts left); use the PIN",
        ),
        _ => WebAuthnError::unknown(format!("getting a pinUvAuthToken: {e}")),
    }
}

/// Decides and carries out user verification for a request with `permissions` on `rp_id`.
/// `key_demands` says whether the key would refuse the request without UV.
pub fn plan(
    key: &mut Authenticator,
    wanted: UserVerification,
    pin: Option<&str>,
    permissions: u64,
    rp_id: &str,
    key_demands: bool,
    deadline: Instant,
) -> Result<UvPlan, WebAuthnError> {
    let m = means(key)?;
    let can_pin = m.pin_set && pin.is_some();
    let want = match wanted {
        UserVerification::Required => true,
        UserVerification::Preferred => m.builtin_uv || can_pin,
        UserVerification::Discouraged => false,
    };
    if !want && !key_demands {
        return Ok(UvPlan::Nothing);
    }
    if m.builtin_uv {
        if !m.tokens {
            return Ok(UvPlan::Option);
        }
        match pin::token_with_uv(key, permissions, Some(rp_id), Some(deadline)) {
            Ok(t) => return Ok(UvPlan::Token(t)),
            // Built-in UV failed: the PIN, when there is one, is the fallback (as browsers do).
            Err(e) if can_pin && e.status().is_some() => {
                tracing::debug!(error = %e, "built-in UV failed; using the PIN");
            }
            Err(e) => return Err(pin_error(e)),
        }
    }
    if let (true, Some(pin)) = (m.pin_set, pin) {
        return pin::token_with_pin(key, pin, permissions, Some(rp_id))
            .map(UvPlan::Token)
            .map_err(pin_error);
    }
    if m.pin_set {
        return Err(WebAuthnError::not_allowed(
            "user verification is needed and this key has a PIN: give it (--pin-stdin, \
             `authsim webauthn pin save`, or \"pin\" in the API body)",
        ));
    }
    if wanted == UserVerification::Required {
        let how = if m.pin_supported {
            "set a PIN on it first (authsim key add NAME --pin-stdin creates a virtual key with one)"
        } else {
            "use a key with a PIN or built-in user verification"
        };
        return Err(WebAuthnError::not_allowed(format!(
            "userVerification is required, but this key has neither a PIN set nor built-in user \
             verification: {how}"
        )));
    }
    Ok(UvPlan::Nothing)
}

/// The key's own rule for makeCredential (CTAP 2.1 §6.1.2 step 6): a key protected by a PIN or
/// built-in UV refuses a request without UV unless makeCredUvNotRqd lets a non-discoverable one
/// through; alwaysUv refuses it always.
pub fn make_credential_demands_uv(
    key: &mut Authenticator,
    rk: bool,
) -> Result<bool, WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    let protected = info.option("clientPin") == Some(true) || info.option("uv") == Some(true);
    let not_required = info.option("makeCredUvNotRqd") == Some(true) && !rk;
    let always = info.option("alwaysUv") == Some(true);
    Ok(always || (protected && !not_required))
}

/// Whether the key is protected by a PIN or built-in UV (then it writes large blobs only with a
/// pinUvAuthToken holding lbw).
pub fn protected(key: &mut Authenticator) -> Result<bool, WebAuthnError> {
    let m = means(key)?;
    Ok(m.pin_set || m.builtin_uv)
}

/// The key's rule for getAssertion: only alwaysUv insists.
pub fn get_assertion_demands_uv(key: &mut Authenticator) -> Result<bool, WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    Ok(info.option("alwaysUv") == Some(true))
}
