//! hmac-secret (CTAP 2.1 §12.5): a per-credential symmetric secret the platform reaches through
//! salts (WebAuthn's prf).
//!
//! makeCredential `"hmac-secret": true` answers `"hmac-secret": true`. Every new discoverable
//! credential gets two random 32-byte values, CredRandomWithUV and CredRandomWithoutUV, stored
//! in its record, whether or not the request named the extension (the specification's SHOULD);
//! every other credential uses values derived from the master secret and its key
//! (`credential::cred_random`). getAssertion `"hmac-secret": {1: keyAgreement, 2: saltEnc,
//! 3: saltAuth, 4: pinUvAuthProtocol}` answers `encrypt(shared secret, output1 [|| output2])`
//! with `output_i = HMAC-SHA-256(CredRandom, salt_i)` and the CredRandom of the response's
//! "uv" bit.
//!
//! Errors, as the specification gives them: `up` false is `CTAP2_ERR_UNSUPPORTED_OPTION` (the
//! extension needs user presence); a salt authentication that does not verify is
//! `CTAP2_ERR_PIN_AUTH_INVALID`; salts that do not decrypt to 32 or 64 bytes are
//! `CTAP1_ERR_INVALID_PARAMETER`, and so is an unsupported protocol or a key-agreement key that
//! is not a P-256 point; an absent protocol means protocol one. Everything is checked before
//! the user is asked, so a refused request changes nothing.

use ciborium::value::Value;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CheckContext, Extension, GaContext, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::cbor;
use crate::credential::PrivateKey;
use crate::credential::cred_random::{CRED_RANDOM_LEN, CredRandom, CredRandomKey};
use crate::ctap2::messages::{CoseEcdhKey, Fields};
use crate::env::Rng;
use crate::persist::record::CredentialExtras;
use crate::pin::protocol::{self, PinUvAuthProtocol, SharedSecret};
use crate::status::{CtapResult, StatusCode};

/// The extension identifier.
pub(crate) const ID: &str = "hmac-secret";
/// The length of one salt and of one output.
const SALT_LEN: usize = 32;

/// Members of the getAssertion input (and of hmac-secret-mc's).
mod key {
    pub const KEY_AGREEMENT: i64 = 0x01;
    pub const SALT_ENC: i64 = 0x02;
    pub const SALT_AUTH: i64 = 0x03;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x04;
}

/// hmac-secret.
pub(crate) struct HmacSecret;

/// Salts a platform sent, authenticated and decrypted, with the shared secret and protocol that
/// encrypt the output (secrets: wiped on drop, never shown).
pub(crate) struct SaltRequest {
    protocol: &'static dyn PinUvAuthProtocol,
    shared: SharedSecret,
    salts: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SaltRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaltRequest")
            .field("protocol", &self.protocol.number())
            .field("salts", &(self.salts.len() / SALT_LEN))
            .finish_non_exhaustive()
    }
}

impl SaltRequest {
    /// Reads an hmac-secret getAssertion input (the same shape serves hmac-secret-mc):
    /// decapsulates the platform's key, verifies saltAuth over saltEnc and decrypts the salts.
    pub(crate) fn read(input: &Value, ctx: &mut CheckContext<'_>) -> CtapResult<Self> {
        let f = Fields::new(input)?;
        let peer = CoseEcdhKey::from_value(f.required(key::KEY_AGREEMENT)?)?;
        let salt_enc = cbor::as_bytes(f.required(key::SALT_ENC)?)?;
        let salt_auth = cbor::as_bytes(f.required(key::SALT_AUTH)?)?;
        // "If pinUvAuthProtocol is absent ... let the value of pinUvAuthProtocol be 1."
        let number = f.uint(key::PIN_UV_AUTH_PROTOCOL)?.unwrap_or(1);
        let protocol = protocol::protocol(number)
            .filter(|p| ctx.caps.pin_uv_auth_protocols.contains(&p.number()))
            .ok_or(StatusCode::InvalidParameter)?;
        let shared = ctx
            .pin
            .key_agreement(ctx.rng, protocol)?
            .decapsulate(protocol, &peer)?;
        protocol.verify(shared.as_bytes(), salt_enc, salt_auth)?;
        let salts = protocol
            .decrypt(shared.as_bytes(), salt_enc)
            .map_err(|_| StatusCode::InvalidParameter)?;
        if salts.len() != SALT_LEN && salts.len() != 2 * SALT_LEN {
            return Err(StatusCode::InvalidParameter);
        }
        Ok(Self {
            protocol,
            shared,
            salts,
        })
    }

    /// `encrypt(shared secret, HMAC-SHA-256(CredRandom, salt1) [|| HMAC(CredRandom, salt2)])`.
    pub(crate) fn output(&self, cred_random: &CredRandom, rng: &mut dyn Rng) -> CtapResult<Value> {
        let mut outputs = Zeroizing::new(Vec::with_capacity(self.salts.len()));
        for salt in self.salts.chunks(SALT_LEN) {
            // HMAC takes keys of any length, so building it cannot fail.
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(cred_random.as_ref())
                .map_err(|_| StatusCode::Other)?;
            mac.update(salt);
            outputs.extend_from_slice(&mac.finalize().into_bytes());
        }
        let sealed = self
            .protocol
            .encrypt(self.shared.as_bytes(), rng, &outputs)?;
        Ok(Value::Bytes(sealed))
    }
}

/// The credential's CredRandomWithUV (`uv`) or CredRandomWithoutUV: stored in its record, or
/// derived from its key.
pub(crate) fn cred_random(
    extras: &CredentialExtras,
    key: &PrivateKey,
    derive: &CredRandomKey,
    uv: bool,
) -> CredRandom {
    let stored = if uv {
        &extras.cred_random_with_uv
    } else {
        &extras.cred_random_without_uv
    };
    stored
        .clone()
        .unwrap_or_else(|| derive.cred_random(key, uv))
}

fn random_secret(rng: &mut dyn Rng) -> CredRandom {
    let mut v = Zeroizing::new([0u8; CRED_RANDOM_LEN]);
    rng.fill_bytes(v.as_mut());
    v
}

impl Extension for HmacSecret {
    fn id(&self) -> &'static str {
        ID
    }

    /// CTAP 2.1 keys with a PIN/UV auth protocol (the salts travel under its key agreement).
    fn supported(&self, caps: &Capabilities) -> bool {
        caps.is_ctap21() && !caps.pin_uv_auth_protocols.is_empty()
    }

    fn check_make_credential(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        cbor::as_bool(input)?;
        Ok(None)
    }

    fn new_credential(&self, ctx: &mut McContext<'_>) {
        // A sealed id has no room: its values are derived from its key.
        if ctx.resident {
            ctx.extras.cred_random_with_uv = Some(random_secret(ctx.rng));
            ctx.extras.cred_random_without_uv = Some(random_secret(ctx.rng));
        }
    }

    fn make_credential(
        &self,
        input: &Value,
        _prepared: Option<&Prepared>,
        _ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        Ok((input == &Value::Bool(true)).then_some(Value::Bool(true)))
    }

    fn check_get_assertion(
        &self,
        input: &Value,
        ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        if !ctx.up {
            return Err(StatusCode::UnsupportedOption);
        }
        SaltRequest::read(input, ctx).map(|s| Some(Prepared::Salts(s)))
    }

    fn get_assertion(
        &self,
        _input: &Value,
        prepared: Option<&Prepared>,
        ctx: &mut GaContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let Some(Prepared::Salts(salts)) = prepared else {
            return Err(StatusCode::Other);
        };
        let cred_random = cred_random(ctx.extras, ctx.key, ctx.cred_random, ctx.uv);
        salts.output(&cred_random, ctx.rng).map(Some)
    }
}
