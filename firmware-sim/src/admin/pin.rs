//! The PIN from outside the token (a control API): provisioning a PIN on a key that has none,
//! reading the retries. A platform changes a PIN through authenticatorClientPIN instead.

use thiserror::Error;

use super::TokenError;
use crate::ctap2::Authenticator;
use crate::env::Env;
use crate::pin::state::{DEFAULT_MIN_PIN_LENGTH, MAX_PIN_BYTES, check_new_pin};
use crate::status::StatusCode;

/// Why a PIN was not set (never shows the PIN).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PinError {
    /// The key has no clientPin (a CTAP 2.1 key with clientPin is needed).
    #[error("this key has no PIN support (clientPin needs protocol ctap2_1)")]
    Unsupported,
    /// A PIN is set already; change it with authenticatorClientPIN, or reset the key.
    #[error("a PIN is set already (change it through the key, or reset the key)")]
    AlreadySet,
    /// The PIN breaks the PIN policy.
    #[error(
        "the PIN must be at least {min} characters (code points) and at most {max} bytes of UTF-8",
        max = MAX_PIN_BYTES
    )]
    Policy {
        /// The minimum length in code points.
        min: u8,
    },
    /// The store failed or holds damaged state.
    #[error(transparent)]
    Store(#[from] TokenError),
}

/// Checks a PIN against the policy of a new key: at least 4 code points, at most 63 bytes.
pub fn check_pin(pin: &str) -> Result<(), PinError> {
    check_new_pin(pin.as_bytes(), DEFAULT_MIN_PIN_LENGTH)
        .map(drop)
        .map_err(|_| PinError::Policy {
            min: DEFAULT_MIN_PIN_LENGTH,
        })
}

fn store(status: StatusCode) -> PinError {
    PinError::Store(TokenError::from(status))
}

/// Sets the first PIN, as setPIN would (full retries), in one commit.
pub(crate) fn set_pin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    pin: &str,
) -> Result<(), PinError> {
    if !auth.caps.client_pin {
        return Err(PinError::Unsupported);
    }
    // First boot (master secret, an initial PIN) happens before the PIN is judged.
    auth.load(env).map_err(store)?;
    let mut state = auth.pin_state(env).map_err(store)?.clone();
    if state.pin_set() {
        return Err(PinError::AlreadySet);
    }
    let code_points =
        check_new_pin(pin.as_bytes(), state.min_pin_length).map_err(|_| PinError::Policy {
            min: state.min_pin_length,
        })?;
    state.set_pin(pin.as_bytes(), code_points);
    auth.pin.commit_state(env, state).map_err(store)
}

/// The PIN retries left, or `None` when the key has no clientPin or no PIN is set.
pub(crate) fn pin_retries(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
) -> Result<Option<u8>, TokenError> {
    if !auth.caps.client_pin {
        return Ok(None);
    }
    let state = auth.pin_state(env)?;
    Ok(state.pin_set().then_some(state.pin_retries))
}
