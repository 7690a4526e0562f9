//! Non-resident credential ids: the private key sealed with AES-256-GCM under a key derived
//! from the token's master secret, bound to the relying party by the associated data.
//!
//! Layout: `version (1) || nonce (12) || AES-GCM(plaintext) || tag (16)` with associated data
//! `version || rpIdHash`. An id made by another token (another master secret), for another
//! relying party, or altered in any bit fails to open.
//!
//! - Version 1 (read only): plaintext `alg code (1) || flags (1) || secret`.
//! - Version 2 (written now): plaintext
//!   `alg code (1) || flags (1) || credProtect (1) || secret || credBlob`, credProtect 0 for
//!   none, else the level 1–3; the secret's length follows from the algorithm and the credBlob
//!   (at most 32 bytes, CTAP 2.1 §12.2) is the rest.
//!
//! Why a version 2: a non-discoverable credential has no record, so what the relying party chose
//! for it must travel inside the id, sealed with the key: its credProtect level (CTAP 2.1
//! §12.1; otherwise an id could be presented with its protection stripped) and its credBlob.
//! Nothing could derive them. The version-1 flags byte had room for the level, but a byte of its
//! own keeps the meaning of every version-1 id untouched (they open as before, with neither) and
//! the format self-describing. The hmac-secret CredRandom values are not sealed into the id (64
//! more bytes): they are derived from the master secret and the credential's key
//! (`credential::cred_random`), which also gives version-1 ids hmac-secret. The longest id, ES384
//! with a 32-byte blob, is 112 bytes (the token's limit is 128).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::{Algorithm, PrivateKey};
use crate::env::Rng;
use crate::status::{CtapResult, StatusCode};

/// The format version [`wrap`] writes.
const VERSION: u8 = 0x02;
/// The first format version, still opened.
const VERSION_1: u8 = 0x01;
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
    /// The credProtect level sealed with it (version 2; `None` for none and for version 1).
    pub cred_protect: Option<u8>,
    /// The credBlob sealed with it (version 2; `None` for none and for version 1).
    pub cred_blob: Option<Vec<u8>>,
}

/// What a version-2 id seals beside the key.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sealed<'a> {
    /// Flags (see [`FLAG_U2F`]).
    pub flags: u8,
    /// The credProtect level, 1–3.
    pub cred_protect: Option<u8>,
    /// The credBlob, at most [`MAX_SEALED_BLOB_LEN`] bytes.
    pub cred_blob: Option<&'a [u8]>,
}

/// The longest credBlob an id seals.
pub(crate) const MAX_SEALED_BLOB_LEN: usize = 32;

/// Seals `key` with what `sealed` carries into a credential id bound to `rp_id_hash`.
pub(crate) fn wrap(
    wrap_key: &WrapKey,
    rng: &mut dyn Rng,
    rp_id_hash: &[u8; 32],
    key: &PrivateKey,
    sealed: Sealed<'_>,
) -> CtapResult<Vec<u8>> {
    let blob = sealed.cred_blob.unwrap_or_default();
    if blob.len() > MAX_SEALED_BLOB_LEN
        || sealed.cred_protect.is_some_and(|p| !(1..=3).contains(&p))
    {
        return Err(StatusCode::Other);
    }
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let secret = key.to_bytes();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(3 + secret.len() + blob.len()));
    plaintext.push(key.algorithm().code());
    plaintext.push(sealed.flags);
    plaintext.push(sealed.cred_protect.unwrap_or(0));
    plaintext.extend_from_slice(&secret);
    plaintext.extend_from_slice(blob);
    let aad = aad(VERSION, rp_id_hash);
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

/// Opens a credential id (version 1 or 2) made by this token for `rp_id_hash`; `None` for
/// anything else.
pub(crate) fn unwrap(wrap_key: &WrapKey, id: &[u8], rp_id_hash: &[u8; 32]) -> Option<Unwrapped> {
    let version = *id.first()?;
    let header = match version {
        VERSION_1 => 2,
        VERSION => 3,
        _ => return None,
    };
    if id.len() < 1 + NONCE_LEN + header + TAG_LEN {
        return None;
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&id[1..1 + NONCE_LEN]);
    let aad = aad(version, rp_id_hash);
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
    let cred_protect = match version {
        VERSION_1 => None,
        _ => match *plaintext.get(2)? {
            0 => None,
            level @ 1..=3 => Some(level),
            // Sealed by this token, so never written; treated as damage.
            _ => return None,
        },
    };
    let rest = plaintext.get(header..)?;
    // Version 1 sealed the secret alone; version 2 may add a credBlob after it.
    let secret_len = match version {
        VERSION_1 => rest.len(),
        _ => alg.secret_len(),
    };
    let key = PrivateKey::from_bytes(alg, rest.get(..secret_len)?).ok()?;
    let blob = &rest[secret_len..];
    if blob.len() > MAX_SEALED_BLOB_LEN {
        return None;
    }
    Some(Unwrapped {
        key,
        flags,
        cred_protect,
        cred_blob: (!blob.is_empty()).then(|| blob.to_vec()),
    })
}

fn aad(version: u8, rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = version;
    aad[1..].copy_from_slice(rp_id_hash);
    aad
}

/// The longest id [`wrap`] produces (ES384 with the longest credBlob).
pub(crate) const MAX_WRAPPED_LEN: usize = 1 + NONCE_LEN + 3 + 48 + MAX_SEALED_BLOB_LEN + TAG_LEN;

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
            for protect in [None, Some(1), Some(2), Some(3)] {
                for blob in [
                    None,
                    Some(&[7u8][..]),
                    Some(&[9u8; MAX_SEALED_BLOB_LEN][..]),
                ] {
                    let sealed = Sealed {
                        flags: FLAG_U2F,
                        cred_protect: protect,
                        cred_blob: blob,
                    };
                    let id = wrap(&wk, &mut rng, &[1; 32], &key, sealed).unwrap();
                    assert!(id.len() <= MAX_WRAPPED_LEN);
                    assert_eq!(id[0], VERSION);
                    let back = unwrap(&wk, &id, &[1; 32]).unwrap();
                    assert_eq!(back.flags, FLAG_U2F);
                    assert_eq!(back.cred_protect, protect);
                    assert_eq!(back.cred_blob.as_deref(), blob);
                    assert_eq!(back.key.to_bytes(), key.to_bytes());
                }
            }
            let too_long = Sealed {
                cred_blob: Some(&[0; MAX_SEALED_BLOB_LEN + 1]),
                ..Sealed::default()
            };
            assert!(wrap(&wk, &mut rng, &[1; 32], &key, too_long).is_err());
        }
    }

    /// A version-1 id as the firmware before version 2 sealed it.
    fn wrap_v1(wk: &WrapKey, rng: &mut SeededRng, rp: &[u8; 32], key: &PrivateKey) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut plaintext = vec![key.algorithm().code(), 0];
        plaintext.extend_from_slice(&key.to_bytes());
        let sealed = wk
            .cipher()
            .unwrap()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad(VERSION_1, rp),
                },
            )
            .unwrap();
        let mut id = vec![VERSION_1];
        id.extend_from_slice(&nonce);
        id.extend_from_slice(&sealed);
        id
    }

    #[test]
    fn version_one_ids_still_open_without_cred_protect() {
        let (wk, mut rng) = setup();
        let key = PrivateKey::generate(Algorithm::Es384, &mut rng).unwrap();
        let id = wrap_v1(&wk, &mut rng, &[3; 32], &key);
        let back = unwrap(&wk, &id, &[3; 32]).unwrap();
        assert_eq!(back.key.to_bytes(), key.to_bytes());
        assert_eq!((back.flags, back.cred_protect), (0, None));
        assert_eq!(back.cred_blob, None);
        // The version byte is bound by the associated data: relabelled, it opens as nothing.
        let mut relabelled = id.clone();
        relabelled[0] = VERSION;
        assert!(unwrap(&wk, &relabelled, &[3; 32]).is_none());
    }

    #[test]
    fn other_rp_other_token_or_tampering_fail() {
        let (wk, mut rng) = setup();
        let key = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        let sealed = Sealed {
            cred_protect: Some(3),
            ..Sealed::default()
        };
        let id = wrap(&wk, &mut rng, &[1; 32], &key, sealed).unwrap();
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
