//! Non-resident credential ids: the private key sealed with AES-256-GCM under a key derived
//! from the token's master secret, bound to the relying party by the associated data.
//!
//! Layout: `version (1) || nonce (12) || AES-GCM(alg code (1) || flags (1) || secret) || tag (16)`
//! with associated data `version || rpIdHash`. An id made by another token (another master
//! secret), for another relying party, or altered in any bit fails to open.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::{Algorithm, PrivateKey};
use crate::env::Rng;
use crate::status::{CtapResult, StatusCode};

/// Format version of wrapped credential ids.
const VERSION: u8 = 0x01;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Flag: the credential was registered through CTAP1/U2F.
pub(crate) const FLAG_U2F: u8 = 0x01;

/// The AEAD key that seals credential ids, derived from the master secret.
pub(crate) struct WrapKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrapKey(<redacted>)")
    }
}

impl WrapKey {
    /// Derives the wrapping key from the master secret with HKDF-SHA-256.
    pub(crate) fn derive(master: &[u8; 32]) -> CtapResult<Self> {
        let hk = Hkdf::<Sha256>::new(Some(b"authsim firmware-sim"), master);
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(b"credential id wrapping v1", key.as_mut())
            .map_err(|_| StatusCode::Other)?;
        Ok(Self(key))
    }

    fn cipher(&self) -> CtapResult<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.0.as_ref()).map_err(|_| StatusCode::Other)
    }
}

/// What a credential id opens to.
#[derive(Debug)]
pub(crate) struct Unwrapped {
    /// The credential's private key.
    pub key: PrivateKey,
    /// Flags sealed with it (see [`FLAG_U2F`]).
    pub flags: u8,
}

/// Seals `key` into a credential id bound to `rp_id_hash`.
pub(crate) fn wrap(
    wrap_key: &WrapKey,
    rng: &mut dyn Rng,
    rp_id_hash: &[u8; 32],
    key: &PrivateKey,
    flags: u8,
) -> CtapResult<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let secret = key.to_bytes();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(2 + secret.len()));
    plaintext.push(key.algorithm().code());
    plaintext.push(flags);
    plaintext.extend_from_slice(&secret);
    let aad = aad(rp_id_hash);
    let sealed = wrap_key
        .cipher()?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| StatusCode::Other)?;
    let mut id = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    id.push(VERSION);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    Ok(id)
}

/// Opens a credential id made by this token for `rp_id_hash`; `None` for anything else.
pub(crate) fn unwrap(wrap_key: &WrapKey, id: &[u8], rp_id_hash: &[u8; 32]) -> Option<Unwrapped> {
    if id.len() < 1 + NONCE_LEN + 2 + TAG_LEN || id[0] != VERSION {
        return None;
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&id[1..1 + NONCE_LEN]);
    let aad = aad(rp_id_hash);
    let plaintext = Zeroizing::new(
        wrap_key
            .cipher()
            .ok()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &id[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .ok()?,
    );
    let alg = Algorithm::from_code(*plaintext.first()?)?;
    let flags = *plaintext.get(1)?;
    let key = PrivateKey::from_bytes(alg, plaintext.get(2..)?).ok()?;
    Some(Unwrapped { key, flags })
}

fn aad(rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = VERSION;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// The longest id [`wrap`] produces (ES384).
pub(crate) const MAX_WRAPPED_LEN: usize = 1 + NONCE_LEN + 2 + 48 + TAG_LEN;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    fn setup() -> (WrapKey, SeededRng) {
        (WrapKey::derive(&[7u8; 32]).unwrap(), SeededRng::new(1))
    }

    #[test]
    fn round_trip_for_every_algorithm() {
        let (wk, mut rng) = setup();
        for alg in Algorithm::ALL {
            let key = PrivateKey::generate(alg, &mut rng).unwrap();
            let id = wrap(&wk, &mut rng, &[1; 32], &key, FLAG_U2F).unwrap();
            assert!(id.len() <= MAX_WRAPPED_LEN);
            let back = unwrap(&wk, &id, &[1; 32]).unwrap();
            assert_eq!(back.flags, FLAG_U2F);
            assert_eq!(back.key.to_bytes(), key.to_bytes());
        }
    }

    #[test]
    fn other_rp_other_token_or_tampering_fail() {
        let (wk, mut rng) = setup();
        let key = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        let id = wrap(&wk, &mut rng, &[1; 32], &key, 0).unwrap();
        assert!(unwrap(&wk, &id, &[2; 32]).is_none());
        let other = WrapKey::derive(&[8u8; 32]).unwrap();
        assert!(unwrap(&other, &id, &[1; 32]).is_none());
        for i in 0..id.len() {
            let mut bad = id.clone();
            bad[i] ^= 0x01;
            assert!(unwrap(&wk, &bad, &[1; 32]).is_none(), "bit flip at {i}");
        }
        assert!(unwrap(&wk, &id[..id.len() - 1], &[1; 32]).is_none());
        assert!(unwrap(&wk, &[], &[1; 32]).is_none());
    }
}
