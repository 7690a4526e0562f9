//! ES256 signing with aws-lc-rs (feature `aws-lc`).
//!
//! Building aws-lc's key pair from a bare scalar costs two base-point multiplications (it
//! derives the public point, then checks the pair): about as much again as the signature
//! itself (`benches/p256_sign.rs`). A key signs with the same few credentials again and again,
//! so each thread keeps the last [`CACHED`] key pairs it built for a signature, found by a
//! SHA-256 digest of their scalar (never by id: a reset or an import may give an id another
//! key, a digest cannot). A pair leaves the cache when a newer one pushes it out or
//! [`super::forget_signing_keys`] runs (reset, power cycle); aws-lc wipes its memory when it
//! frees it. Public points come from aws-lc too (faster than the p256 crate's), but a pair
//! decoded only for its point is not kept.

use std::cell::RefCell;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::Digest;
use zeroize::Zeroizing;

/// Decoded key pairs each thread keeps.
pub(super) const CACHED: usize = 16;

/// SEC 1 ECPrivateKey (RFC 5915) DER prefix of a P-256 scalar, without the public key.
const PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
/// `[0] namedCurve prime256v1` (1.2.840.10045.3.1.7).
const SUFFIX: [u8; 12] = [
    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// Domain separation for the cache's digests.
const TAG: &[u8] = b"firmware-sim es256 signing-key cache";

thread_local! {
    /// Most recently used first.
    static PAIRS: RefCell<Vec<([u8; 32], EcdsaKeyPair)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the decoded key pair of `key`, from this thread's cache or built now
/// (and cached if `keep`); `None` if aws-lc refused the key.
fn with_pair<T>(
    key: &p256::SecretKey,
    keep: bool,
    f: impl FnOnce(&EcdsaKeyPair) -> T,
) -> Option<T> {
    let scalar = Zeroizing::new(key.to_bytes());
    let digest: [u8; 32] = sha2::Sha256::new()
        .chain_update(TAG)
        .chain_update(&scalar[..])
        .finalize()
        .into();
    PAIRS.with(|pairs| {
        let mut pairs = pairs.borrow_mut();
        match pairs.iter().position(|(d, _)| *d == digest) {
            Some(0) => {}
            Some(i) => {
                let hit = pairs.remove(i);
                pairs.insert(0, hit);
            }
            None => {
                let mut der = Zeroizing::new([0u8; PREFIX.len() + 32 + SUFFIX.len()]);
                der[..PREFIX.len()].copy_from_slice(&PREFIX);
                der[PREFIX.len()..PREFIX.len() + 32].copy_from_slice(&scalar[..]);
                der[PREFIX.len() + 32..].copy_from_slice(&SUFFIX);
                let pair =
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der[..])
                        .ok()?;
                if !keep {
                    return Some(f(&pair));
                }
                pairs.truncate(CACHED - 1);
                pairs.insert(0, (digest, pair));
            }
        }
        Some(f(&pairs[0].1))
    })
}

/// A DER ECDSA signature of `message` (SHA-256), or `None` if aws-lc refused the key.
pub(super) fn sign_es256(key: &p256::SecretKey, message: &[u8]) -> Option<Vec<u8>> {
    // aws-lc-rs ignores this generator: its nonces are hedged with its own.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    with_pair(key, true, |pair| {
        pair.sign(&rng, message).ok().map(|s| s.as_ref().to_vec())
    })?
}

/// The uncompressed SEC1 point of `key`: aws-lc derives it when it decodes the pair, in
/// about a third of the p256 crate's time. A pair decoded for its point is not kept: the
/// control API's threads import and list credentials, and only the key's own thread
/// forgets its pairs on reset.
pub(super) fn public_point(key: &p256::SecretKey) -> Option<[u8; 65]> {
    with_pair(key, false, |pair| {
        <[u8; 65]>::try_from(pair.public_key().as_ref()).ok()
    })?
}

/// Drops this thread's decoded key pairs.
pub(super) fn forget() {
    PAIRS.with(|pairs| pairs.borrow_mut().clear());
}

/// How many decoded key pairs this thread holds.
#[cfg(any(test, feature = "testing"))]
pub(super) fn cached() -> usize {
    PAIRS.with(|pairs| pairs.borrow().len())
}
