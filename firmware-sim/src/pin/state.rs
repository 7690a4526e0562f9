//! The persisted PIN/UV and configuration state (one record, `meta/pin-state`): the PIN hash
//! and its length, the PIN and UV retry counters, and what authenticatorConfig changes
//! (minimum PIN length, its RP IDs, forcePINChange, alwaysUv, enterprise attestation).
//!
//! Record: a canonical CBOR map, `1` LEFT(SHA-256(PIN), 16) (absent: no PIN), `2` the PIN's
//! length in code points, `3` pinRetries, `4` uvRetries, `5` minPINLength, `6` forcePINChange,
//! `7` minPinLengthRPIDs, `8` alwaysUv, `9` enterprise attestation enabled. Values hold a
//! secret (the PIN hash): the embedder seals records at rest like the other token secrets.

use ciborium::value::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::cbor::{self, MapView};
use crate::config::TokenConfig;
use crate::env::{Env, WriteBatch};
use crate::persist::{self, KEY_PIN_STATE, NS_META};
use crate::status::{CtapResult, StatusCode};

/// PIN attempts before the PIN is blocked for good (until reset).
pub(crate) const MAX_PIN_RETRIES: u8 = 8;
/// Built-in UV attempts before built-in UV is blocked (the specification leaves the number to
/// the authenticator; a correct PIN gives them back).
pub(crate) const MAX_UV_RETRIES: u8 = 8;
/// Wrong PINs in a row after which a power cycle is needed.
pub(crate) const MAX_CONSECUTIVE_MISMATCHES: u8 = 3;
/// The minimum PIN length of a new key, in code points.
pub(crate) const DEFAULT_MIN_PIN_LENGTH: u8 = 4;
/// The longest PIN, in bytes of UTF-8 (a padded PIN is 64 bytes and needs one zero).
pub(crate) const MAX_PIN_BYTES: usize = 63;
/// The length of a padded PIN.
pub(crate) const PADDED_PIN_LEN: usize = 64;
/// How many RP IDs setMinPINLength keeps.
pub(crate) const MAX_MIN_PIN_LENGTH_RP_IDS: usize = 8;

/// LEFT(SHA-256(PIN), 16): what the token stores and what pinHashEnc carries.
pub(crate) type PinHash = Zeroizing<[u8; 16]>;

/// The stored hash of a PIN.
pub(crate) fn pin_hash(pin: &[u8]) -> PinHash {
    let mut hash = Zeroizing::new([0u8; 16]);
    hash.copy_from_slice(&Sha256::digest(pin)[..16]);
    hash
}

/// Checks a new PIN against the policy: UTF-8, at most 63 bytes, at least `min` code points.
/// Returns its length in code points, or `CTAP2_ERR_PIN_POLICY_VIOLATION`.
pub(crate) fn check_new_pin(pin: &[u8], min: u8) -> CtapResult<u8> {
    let text = std::str::from_utf8(pin).map_err(|_| StatusCode::PinPolicyViolation)?;
    let code_points = text.chars().count();
    if pin.len() > MAX_PIN_BYTES || code_points < usize::from(min) {
        return Err(StatusCode::PinPolicyViolation);
    }
    // At most 63 bytes, so at most 63 code points.
    u8::try_from(code_points).map_err(|_| StatusCode::PinPolicyViolation)
}

/// The persisted state.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PinState {
    /// The PIN's hash; `None` when no PIN is set.
    pub pin_hash: Option<PinHash>,
    /// The PIN's length in code points (PINCodePointLength).
    pub pin_code_points: u8,
    /// PIN attempts left.
    pub pin_retries: u8,
    /// Built-in UV attempts left.
    pub uv_retries: u8,
    /// The minimum PIN length, in code points.
    pub min_pin_length: u8,
    /// The PIN must be changed before it is used again.
    pub force_pin_change: bool,
    /// RP IDs allowed to read the minimum PIN length.
    pub min_pin_length_rp_ids: Vec<String>,
    /// Always require user verification.
    pub always_uv: bool,
    /// Enterprise attestation enabled.
    pub enterprise_attestation: bool,
}

impl std::fmt::Debug for PinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinState")
            .field("pin_set", &self.pin_hash.is_some())
            .field("pin_retries", &self.pin_retries)
            .field("uv_retries", &self.uv_retries)
            .field("min_pin_length", &self.min_pin_length)
            .field("force_pin_change", &self.force_pin_change)
            .field("always_uv", &self.always_uv)
            .field("enterprise_attestation", &self.enterprise_attestation)
            .finish_non_exhaustive()
    }
}

impl PinState {
    /// The state of a key that was never configured (or was reset).
    pub(crate) fn initial(config: &TokenConfig) -> Self {
        Self {
            pin_hash: None,
            pin_code_points: 0,
            pin_retries: MAX_PIN_RETRIES,
            uv_retries: MAX_UV_RETRIES,
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            force_pin_change: false,
            min_pin_length_rp_ids: Vec::new(),
            always_uv: config.always_uv,
            enterprise_attestation: false,
        }
    }

    /// Whether a PIN is set.
    pub(crate) fn pin_set(&self) -> bool {
        self.pin_hash.is_some()
    }

    /// Compares `hash` with the stored PIN hash in constant time.
    pub(crate) fn pin_matches(&self, hash: &[u8]) -> bool {
        self.pin_hash
            .as_ref()
            .is_some_and(|h| hash.len() == 16 && bool::from(h.as_slice().ct_eq(hash)))
    }

    /// Stores a new PIN (its hash and length) with full retries and no forced change.
    pub(crate) fn set_pin(&mut self, pin: &[u8], code_points: u8) {
        self.pin_hash = Some(pin_hash(pin));
        self.pin_code_points = code_points;
        self.pin_retries = MAX_PIN_RETRIES;
        self.force_pin_change = false;
    }

    /// Loads the state, or the initial one when none was stored.
    pub(crate) fn load(env: &mut Env<'_>, config: &TokenConfig) -> CtapResult<Self> {
        match persist::get(env, NS_META, KEY_PIN_STATE)? {
            Some(bytes) => {
                let bytes = Zeroizing::new(bytes);
                Self::from_record(&bytes, config)
            }
            None => Ok(Self::initial(config)),
        }
    }

    /// Adds the write of this state to `batch`.
    pub(crate) fn stage(&self, batch: &mut WriteBatch) {
        batch.put(NS_META, KEY_PIN_STATE, self.to_record().to_vec());
    }

    /// Commits this state on its own.
    pub(crate) fn commit(&self, env: &mut Env<'_>) -> CtapResult<()> {
        let mut batch = WriteBatch::new();
        self.stage(&mut batch);
        persist::commit(env, &batch)
    }

    /// Serialises the record (wiped on drop).
    fn to_record(&self) -> Zeroizing<Vec<u8>> {
        let mut entries = Vec::new();
        if let Some(h) = &self.pin_hash {
            entries.push((1, Value::Bytes(h.to_vec())));
        }
        entries.extend([
            (2, cbor::int(i64::from(self.pin_code_points))),
            (3, cbor::int(i64::from(self.pin_retries))),
            (4, cbor::int(i64::from(self.uv_retries))),
            (5, cbor::int(i64::from(self.min_pin_length))),
            (6, Value::Bool(self.force_pin_change)),
            (
                7,
                Value::Array(
                    self.min_pin_length_rp_ids
                        .iter()
                        .map(|r| Value::Text(r.clone()))
                        .collect(),
                ),
            ),
            (8, Value::Bool(self.always_uv)),
            (9, Value::Bool(self.enterprise_attestation)),
        ]);
        let mut value = cbor::int_map(entries);
        let bytes = Zeroizing::new(cbor::encode(&value));
        cbor::wipe(&mut value);
        bytes
    }

    /// Parses a record; damage is `CTAP1_ERR_OTHER`.
    fn from_record(bytes: &[u8], config: &TokenConfig) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let mut value = cbor::decode(bytes).map_err(corrupt)?;
        let parsed = Self::from_value(&value, config);
        cbor::wipe(&mut value);
        parsed
    }

    fn from_value(value: &Value, config: &TokenConfig) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let map = MapView::new(value).map_err(corrupt)?;
        let small = |k: i64, default: u8| -> CtapResult<u8> {
            map.int_key(k).map_or(Ok(default), |v| {
                u8::try_from(cbor::as_int(v).map_err(corrupt)?).map_err(|_| StatusCode::Other)
            })
        };
        let flag = |k: i64| -> CtapResult<bool> {
            map.int_key(k)
                .map_or(Ok(false), |v| cbor::as_bool(v).map_err(corrupt))
        };
        let pin_hash = match map.int_key(1) {
            None => None,
            Some(v) => {
                let b = cbor::as_bytes(v).map_err(corrupt)?;
                let mut h = Zeroizing::new([0u8; 16]);
                if b.len() != 16 {
                    return Err(StatusCode::Other);
                }
                h.copy_from_slice(b);
                Some(h)
            }
        };
        let rp_ids = match map.int_key(7) {
            None => Vec::new(),
            Some(v) => cbor::as_array(v)
                .map_err(corrupt)?
                .iter()
                .map(|r| cbor::as_text(r).map(str::to_owned).map_err(corrupt))
                .collect::<CtapResult<_>>()?,
        };
        let state = Self {
            pin_hash,
            pin_code_points: small(2, 0)?,
            pin_retries: small(3, MAX_PIN_RETRIES)?,
            uv_retries: small(4, MAX_UV_RETRIES)?,
            min_pin_length: small(5, DEFAULT_MIN_PIN_LENGTH)?,
            force_pin_change: flag(6)?,
            min_pin_length_rp_ids: rp_ids,
            always_uv: map
                .int_key(8)
                .map_or(Ok(config.always_uv), |v| cbor::as_bool(v).map_err(corrupt))?,
            enterprise_attestation: flag(9)?,
        };
        if state.pin_retries > MAX_PIN_RETRIES || state.uv_retries > MAX_UV_RETRIES {
            return Err(StatusCode::Other);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_code_points_and_bytes() {
        assert_eq!(check_new_pin(b"1234", 4), Ok(4));
        assert_eq!(
            check_new_pin(b"123", 4),
            Err(StatusCode::PinPolicyViolation)
        );
        // Four code points, eight bytes.
        assert_eq!(check_new_pin("éééé".as_bytes(), 4), Ok(4));
        assert_eq!(
            check_new_pin("ééé".as_bytes(), 4),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(check_new_pin(&[b'1'; 63], 4), Ok(63));
        assert_eq!(
            check_new_pin(&[b'1'; 64], 4),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(
            check_new_pin(&[0xFF, 0xFE, 0xFD, 0xFC], 4),
            Err(StatusCode::PinPolicyViolation)
        );
        assert_eq!(
            check_new_pin(b"123456", 8),
            Err(StatusCode::PinPolicyViolation)
        );
    }

    #[test]
    fn the_record_round_trips_and_hides_the_hash() {
        let config = TokenConfig::default();
        let mut s = PinState::initial(&config);
        assert!(!s.pin_set());
        s.set_pin(b"1234", 4);
        s.pin_retries = 5;
        s.uv_retries = 2;
        s.min_pin_length = 6;
        s.force_pin_change = true;
        s.min_pin_length_rp_ids = vec!["example.com".into()];
        s.always_uv = true;
        s.enterprise_attestation = true;
        let back = PinState::from_record(&s.to_record(), &config).unwrap();
        assert_eq!(back, s);
        assert!(back.pin_matches(&pin_hash(b"1234")[..]));
        assert!(!back.pin_matches(&pin_hash(b"1235")[..]));
        assert!(!back.pin_matches(&[0; 15]));
        let shown = format!("{back:?}");
        assert!(shown.contains("pin_set: true") && !shown.contains("pin_hash"));
        assert!(PinState::from_record(&[0xA1, 0x03, 0x09], &config).is_err());
        assert!(PinState::from_record(&[0xA1, 0x01, 0x41, 0x00], &config).is_err());
    }
}
