//! hmac-secret's CredRandomWithUV and CredRandomWithoutUV (CTAP 2.1 §12.5) for credentials that
//! do not store their own: derived from the token's master secret and the credential's key.
//!
//! Discoverable credentials made by makeCredential store two random values in their record, as
//! the specification describes. A sealed (non-discoverable) id cannot store them without growing
//! by 64 bytes, and credentials imported through a control API or stored before this firmware
//! knew hmac-secret have none; for those the token derives them:
//! `CredRandom = HMAC-SHA-256(K, label || alg code || private key)`, with
//! `K = HKDF-SHA-256(master secret, "hmac-secret CredRandom v1")` and a label per UV state.
//! Keyed by a secret only the token holds and unique per credential (keys are random), the
//! values are indistinguishable from random ones to anyone else, stable across power cycles and
//! re-imports of the same credential, and gone with the master secret at reset. Deriving from
//! the key rather than the credential id lets makeCredential know them before the sealed id is
//! made (hmac-secret-mc answers with them in the same request).

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::PrivateKey;
use crate::status::{CtapResult, StatusCode};

/// The length of a CredRandom.
pub(crate) const CRED_RANDOM_LEN: usize = 32;

/// A CredRandom value (a secret, wiped on drop).
pub(crate) type CredRandom = Zeroizing<[u8; CRED_RANDOM_LEN]>;

/// The key CredRandom values are derived under.
pub(crate) struct CredRandomKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CredRandomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredRandomKey(<redacted>)")
    }
}

impl CredRandomKey {
    /// Derives the key from the master secret with HKDF-SHA-256.
    pub(crate) fn derive(master: &[u8; 32]) -> CtapResult<Self> {
        let hk = Hkdf::<Sha256>::new(Some(b"authsim firmware-sim"), master);
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(b"hmac-secret CredRandom v1", key.as_mut())
            .map_err(|_| StatusCode::Other)?;
        Ok(Self(key))
    }

    /// CredRandomWithUV (`uv`) or CredRandomWithoutUV of the credential with `key`.
    pub(crate) fn cred_random(&self, key: &PrivateKey, uv: bool) -> CredRandom {
        let label: &[u8] = if uv { b"with uv" } else { b"without uv" };
        // HMAC takes keys of any length, so building it cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(label);
        mac.update(&[key.algorithm().code()]);
        mac.update(&key.to_bytes());
        let mut out = Zeroizing::new([0u8; CRED_RANDOM_LEN]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::Algorithm;
    use crate::testing::SeededRng;

    #[test]
    fn values_differ_per_state_key_and_master_and_are_stable() {
        let mut rng = SeededRng::new(5);
        let k = CredRandomKey::derive(&[1; 32]).unwrap();
        let a = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        let b = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        assert_ne!(*k.cred_random(&a, true), *k.cred_random(&a, false));
        assert_ne!(*k.cred_random(&a, true), *k.cred_random(&b, true));
        assert_eq!(*k.cred_random(&a, true), *k.cred_random(&a, true));
        let other = CredRandomKey::derive(&[2; 32]).unwrap();
        assert_ne!(*k.cred_random(&a, false), *other.cred_random(&a, false));
        assert!(format!("{k:?}").contains("redacted"));
    }
}
