//! Credential key pairs: generation, signing and COSE_Key encoding for ES256, EdDSA and ES384.

use ciborium::value::Value;
use coset::{AsCborValue, CoseKeyBuilder, iana};
use p256::ecdsa::signature::Signer;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::env::Rng;
use crate::status::{CtapResult, StatusCode};

/// A COSE signature algorithm the token can create credentials for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
    /// ECDSA over P-384 with SHA-384 (COSE -35).
    Es384,
}

impl Algorithm {
    /// Every supported algorithm, in the token's own order of preference.
    pub const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Es384];

    /// The COSE algorithm identifier.
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Es384 => -35,
        }
    }

    /// The algorithm with this COSE identifier, if supported.
    pub fn from_cose_id(id: i128) -> Option<Self> {
        match id {
            -7 => Some(Algorithm::Es256),
            -8 => Some(Algorithm::EdDsa),
            -35 => Some(Algorithm::Es384),
            _ => None,
        }
    }

    /// One-byte code used inside credential ids and records.
    pub(crate) fn code(self) -> u8 {
        match self {
            Algorithm::Es256 => 1,
            Algorithm::EdDsa => 2,
            Algorithm::Es384 => 3,
        }
    }

    /// Inverse of [`Algorithm::code`].
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Algorithm::Es256),
            2 => Some(Algorithm::EdDsa),
            3 => Some(Algorithm::Es384),
            _ => None,
        }
    }

    /// Length of the private scalar / seed in bytes.
    pub(crate) fn secret_len(self) -> usize {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => 32,
            Algorithm::Es384 => 48,
        }
    }
}

/// A credential's private key. Its bytes never appear in `Debug` output and are wiped on drop.
///
/// ECDSA keys are held as bare secret scalars, not `ecdsa::SigningKey`s: a `SigningKey`
/// computes its public point when it is built (a full scalar multiplication), and a key is
/// rebuilt from its credential for every assertion, where only a signature is needed. That
/// halved the ES256 assertion rate; the public point is computed only where it is sent.
#[derive(Clone)]
pub enum PrivateKey {
    /// P-256 ECDSA key.
    Es256(p256::SecretKey),
    /// Ed25519 key.
    EdDsa(ed25519_dalek::SigningKey),
    /// P-384 ECDSA key.
    Es384(p384::SecretKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, <redacted>)", self.algorithm())
    }
}

impl PrivateKey {
    /// Generates a fresh key for `alg` from the token's random source.
    pub fn generate(alg: Algorithm, rng: &mut dyn Rng) -> CtapResult<Self> {
        // Rejection sampling: a uniformly random scalar is out of range with negligible
        // probability, so a handful of attempts always suffices with a working generator.
        for _ in 0..16 {
            let mut seed = Zeroizing::new(vec![0u8; alg.secret_len()]);
            rng.fill_bytes(&mut seed);
            if let Ok(key) = Self::from_bytes(alg, &seed) {
                return Ok(key);
            }
        }
        Err(StatusCode::Other)
    }

    /// Rebuilds a key from its secret bytes.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> CtapResult<Self> {
        if bytes.len() != alg.secret_len() {
            return Err(StatusCode::InvalidCredential);
        }
        match alg {
            Algorithm::Es256 => p256::SecretKey::from_slice(bytes)
                .map(PrivateKey::Es256)
                .map_err(|_| StatusCode::InvalidCredential),
            Algorithm::Es384 => p384::SecretKey::from_slice(bytes)
                .map(PrivateKey::Es384)
                .map_err(|_| StatusCode::InvalidCredential),
            Algorithm::EdDsa => {
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(bytes);
                Ok(PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(
                    &seed,
                )))
            }
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Es256(_) => Algorithm::Es256,
            PrivateKey::EdDsa(_) => Algorithm::EdDsa,
            PrivateKey::Es384(_) => Algorithm::Es384,
        }
    }

    /// The secret bytes (scalar or seed), wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            PrivateKey::Es256(k) => Zeroizing::new(k.to_bytes().to_vec()),
            PrivateKey::EdDsa(k) => Zeroizing::new(k.to_bytes().to_vec()),
            PrivateKey::Es384(k) => Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    /// Signs `message` as WebAuthn expects: DER-encoded ECDSA, or a raw 64-byte Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            // Deterministic ECDSA (RFC 6979) over SHA-256 / SHA-384 of the message: the same
            // signature `ecdsa::SigningKey::sign` makes, without its public-point computation.
            PrivateKey::Es256(k) => {
                #[cfg(feature = "aws-lc")]
                if let Some(sig) = aws_lc::sign_es256(k, message) {
                    return sig;
                }
                let z = sha2::Sha256::digest(message);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, sha2::Sha256>(
                    &k.to_nonzero_scalar(),
                    &z,
                    &[],
                );
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::Es384(k) => {
                let z = sha2::Sha384::digest(message);
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p384::NistP384, sha2::Sha384>(
                    &k.to_nonzero_scalar(),
                    &z,
                    &[],
                );
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::EdDsa(k) => {
                let sig: ed25519_dalek::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        }
    }

    /// The uncompressed SEC1 public point (0x04 || x || y) of an ES256 key, as U2F sends it.
    pub fn p256_public_point(&self) -> Option<[u8; 65]> {
        match self {
            PrivateKey::Es256(k) => {
                #[cfg(feature = "aws-lc")]
                if let Some(point) = aws_lc::public_point(k) {
                    return Some(point);
                }
                let point = ecdsa::VerifyingKey::from(k.public_key()).to_sec1_point(false);
                let mut out = [0u8; 65];
                let bytes = point.as_bytes();
                if bytes.len() != out.len() {
                    return None;
                }
                out.copy_from_slice(bytes);
                Some(out)
            }
            _ => None,
        }
    }

    /// The public key as a COSE_Key (RFC 9053), built with coset.
    pub fn cose_public_key(&self) -> CtapResult<Value> {
        let key = match self {
            PrivateKey::Es256(_) => {
                let point = self.p256_public_point().ok_or(StatusCode::Other)?;
                CoseKeyBuilder::new_ec2_pub_key_sec1_octet_string(
                    iana::EllipticCurve::P_256,
                    &point,
                )
                .map_err(|_| StatusCode::Other)?
                .algorithm(iana::Algorithm::ES256)
                .build()
            }
            PrivateKey::Es384(k) => {
                let point = ecdsa::VerifyingKey::from(k.public_key()).to_sec1_point(false);
                CoseKeyBuilder::new_ec2_pub_key_sec1_octet_string(
                    iana::EllipticCurve::P_384,
                    point.as_bytes(),
                )
                .map_err(|_| StatusCode::Other)?
                .algorithm(iana::Algorithm::ES384)
                .build()
            }
            PrivateKey::EdDsa(k) => CoseKeyBuilder::new_okp_key()
                .algorithm(iana::Algorithm::EdDSA)
                .param(
                    iana::OkpKeyParameter::Crv as i64,
                    Value::from(iana::EllipticCurve::Ed25519 as u64),
                )
                .param(
                    iana::OkpKeyParameter::X as i64,
                    Value::Bytes(k.verifying_key().to_bytes().to_vec()),
                )
                .build(),
        };
        key.to_cbor_value().map_err(|_| StatusCode::Other)
    }
}

/// Why a PKCS#8 private key was refused (never shows key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is well-formed PKCS#8 but of an algorithm or curve the token cannot use.
    #[error(
        "unsupported private key algorithm {0} (supported: P-256 / ES256, P-384 / ES384, Ed25519 / EdDSA)"
    )]
    Unsupported(String),
    /// The bytes are not a valid PKCS#8 private key (what is wrong, never the key).
    #[error("malformed PKCS#8 private key: {0}")]
    Malformed(String),
}

/// OID of id-ecPublicKey (RFC 5480), the algorithm of every EC private key.
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// OID of the P-256 curve (secp256r1).
const OID_P256: &str = "1.2.840.10045.3.1.7";
/// OID of the P-384 curve (secp384r1).
const OID_P384: &str = "1.3.132.0.34";
/// OID of Ed25519 (RFC 8410).
const OID_ED25519: &str = "1.3.101.112";

/// A readable name for an algorithm or curve OID in error messages.
fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.113" => "Ed448",
        "1.3.132.0.10" => "EC secp256k1",
        "1.3.132.0.35" => "EC P-521",
        "1.3.36.3.3.2.8.1.1.7" => "EC brainpoolP256r1",
        _ if oid.starts_with("1.3.132.0.") || oid.starts_with("1.2.840.10045.3.") => {
            return format!("EC curve OID {oid}");
        }
        _ => return format!("OID {oid}"),
    };
    format!("{name} (OID {oid})")
}

impl PrivateKey {
    /// Parses a PKCS#8 (RFC 5208/5958) DER private key: P-256 (ES256), P-384 (ES384) or Ed25519 (EdDSA).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        use p256::pkcs8::der::Decode;

        let info = p256::pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| {
            KeyError::Malformed(format!("not PKCS#8 PrivateKeyInfo DER ({})", e.kind()))
        })?;
        let algorithm = info.algorithm.oid.to_string();
        // Each crate checks the key against its own algorithm identifier; the OIDs here only
        // pick the crate and name what is unsupported.
        let malformed = |what: &str, e: p256::pkcs8::Error| {
            KeyError::Malformed(format!("{what} private key does not decode ({e})"))
        };
        match algorithm.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| KeyError::Malformed("EC key without a named curve".into()))?
                    .to_string();
                match curve.as_str() {
                    OID_P256 => p256::SecretKey::from_pkcs8_der(der)
                        .map(PrivateKey::Es256)
                        .map_err(|e| malformed("P-256", e)),
                    OID_P384 => p384::SecretKey::from_pkcs8_der(der)
                        .map(PrivateKey::Es384)
                        .map_err(|e| malformed("P-384", e)),
                    other => Err(KeyError::Unsupported(oid_name(other))),
                }
            }
            OID_ED25519 => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(PrivateKey::EdDsa)
                .map_err(|e| malformed("Ed25519", e)),
            other => Err(KeyError::Unsupported(oid_name(other))),
        }
    }

    /// The key as PKCS#8 DER (wiped on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match self {
            PrivateKey::Es256(k) => k.to_pkcs8_der(),
            PrivateKey::Es384(k) => k.to_pkcs8_der(),
            PrivateKey::EdDsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Malformed(format!("the key could not be encoded ({e})")))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

#[cfg(feature = "aws-lc")]
mod aws_lc;

/// How many decoded signing keys the calling thread keeps (feature `aws-lc`, for tests).
#[cfg(all(feature = "aws-lc", feature = "testing"))]
pub fn decoded_signing_keys() -> usize {
    aws_lc::cached()
}

/// Drops the decoded signing keys the calling thread keeps (feature `aws-lc`; nothing to do
/// otherwise): a reset or a power cycle leaves no key of the old state decoded in memory.
pub fn forget_signing_keys() {
    #[cfg(feature = "aws-lc")]
    aws_lc::forget();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;
    use crate::testing::SeededRng;

    #[test]
    fn cose_keys_have_the_ctap2_canonical_layout() {
        let mut rng = SeededRng::new(7);
        let k = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        let bytes = cbor::encode(&k.cose_public_key().unwrap());
        // {1: 2, 3: -7, -1: 1, -2: x(32), -3: y(32)}
        assert_eq!(
            &bytes[..10],
            &[0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
        );
        assert_eq!(bytes.len(), 77);
        assert!(cbor::decode(&bytes).is_ok());

        let k = PrivateKey::generate(Algorithm::EdDsa, &mut rng).unwrap();
        let bytes = cbor::encode(&k.cose_public_key().unwrap());
        // {1: 1, 3: -8, -1: 6, -2: x(32)}
        assert_eq!(
            &bytes[..9],
            &[0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58]
        );

        let k = PrivateKey::generate(Algorithm::Es384, &mut rng).unwrap();
        let bytes = cbor::encode(&k.cose_public_key().unwrap());
        // {1: 2, 3: -35, -1: 2, -2: x(48), -3: y(48)}
        assert_eq!(
            &bytes[..9],
            &[0xA5, 0x01, 0x02, 0x03, 0x38, 0x22, 0x20, 0x02, 0x21]
        );
    }

    #[test]
    fn ecdsa_signatures_match_signing_key_and_verify() {
        use p256::ecdsa::signature::Verifier;
        let mut rng = SeededRng::new(9);
        let k = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        let sk = p256::ecdsa::SigningKey::from_slice(&k.to_bytes()).unwrap();
        let want: p256::ecdsa::Signature = sk.sign(b"authenticator data || client data hash");
        let got = k.sign(b"authenticator data || client data hash");
        // RFC 6979 makes the same signature; aws-lc (feature `aws-lc`) hedges its nonces.
        if cfg!(not(feature = "aws-lc")) {
            assert_eq!(got, want.to_der().as_bytes());
        }
        let sig = p256::ecdsa::Signature::from_der(&got).unwrap();
        assert!(
            sk.verifying_key()
                .verify(b"authenticator data || client data hash", &sig)
                .is_ok()
        );
        assert!(sk.verifying_key().verify(b"other", &sig).is_err());

        let k = PrivateKey::generate(Algorithm::Es384, &mut rng).unwrap();
        let sk = p384::ecdsa::SigningKey::from_slice(&k.to_bytes()).unwrap();
        let want: p384::ecdsa::Signature = sk.sign(b"m");
        assert_eq!(k.sign(b"m"), want.to_der().as_bytes());
    }

    /// The public point comes from aws-lc when the feature is on: it must be the p256
    /// crate's point, for keys decoded again from their bytes too.
    #[test]
    fn es256_public_points_match_the_p256_crate() {
        let mut rng = SeededRng::new(12);
        for _ in 0..20 {
            let k = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
            let sk = p256::SecretKey::from_slice(&k.to_bytes()).unwrap();
            let want = ecdsa::VerifyingKey::from(sk.public_key()).to_sec1_point(false);
            assert_eq!(&k.p256_public_point().unwrap()[..], want.as_bytes());
            let again = PrivateKey::from_bytes(Algorithm::Es256, &k.to_bytes()).unwrap();
            assert_eq!(&again.p256_public_point().unwrap()[..], want.as_bytes());
        }
    }

    /// The decoded-key cache (feature `aws-lc`) is bounded, keeps signing correctly for keys
    /// it pushed out and for keys it holds, and is empty after `forget_signing_keys`.
    #[cfg(feature = "aws-lc")]
    #[test]
    fn es256_signing_keys_cached_per_thread_are_bounded_and_forgotten() {
        use p256::ecdsa::signature::Verifier;
        // A thread of its own: the cache is per thread.
        std::thread::spawn(|| {
            let mut rng = SeededRng::new(11);
            let keys: Vec<PrivateKey> = (0..aws_lc::CACHED + 4)
                .map(|_| PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap())
                .collect();
            for round in 0..2 {
                for (i, k) in keys.iter().enumerate() {
                    let message = format!("round {round} key {i}");
                    let sig =
                        p256::ecdsa::Signature::from_der(&k.sign(message.as_bytes())).unwrap();
                    let vk = p256::ecdsa::SigningKey::from_slice(&k.to_bytes()).unwrap();
                    assert!(vk.verifying_key().verify(message.as_bytes(), &sig).is_ok());
                    assert!(aws_lc::cached() <= aws_lc::CACHED);
                }
            }
            assert_eq!(aws_lc::cached(), aws_lc::CACHED);
            forget_signing_keys();
            assert_eq!(aws_lc::cached(), 0);
            // The same key (decoded again from its bytes, as each request does) is one entry.
            let again = PrivateKey::from_bytes(Algorithm::Es256, &keys[0].to_bytes()).unwrap();
            keys[0].sign(b"a");
            again.sign(b"b");
            assert_eq!(aws_lc::cached(), 1);
            keys[1].sign(b"c");
            assert_eq!(aws_lc::cached(), 2);
            // A public point (the API's threads ask them) leaves no decoded pair behind.
            keys[2].p256_public_point().unwrap();
            assert_eq!(aws_lc::cached(), 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn keys_round_trip_through_their_bytes_and_debug_redacts() {
        let mut rng = SeededRng::new(8);
        for alg in Algorithm::ALL {
            let k = PrivateKey::generate(alg, &mut rng).unwrap();
            let again = PrivateKey::from_bytes(alg, &k.to_bytes()).unwrap();
            assert_eq!(k.to_bytes(), again.to_bytes());
            if alg != Algorithm::Es256 || cfg!(not(feature = "aws-lc")) {
                assert_eq!(k.sign(b"m"), again.sign(b"m"));
            }
            let dbg = format!("{k:?}");
            assert!(dbg.contains("redacted"));
            let hex: String = k.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert!(!dbg.contains(&hex[..8]));
        }
        assert_eq!(
            PrivateKey::from_bytes(Algorithm::Es256, &[0u8; 32]).err(),
            Some(StatusCode::InvalidCredential)
        );
        assert_eq!(
            PrivateKey::from_bytes(Algorithm::Es256, &[1u8; 31]).err(),
            Some(StatusCode::InvalidCredential)
        );
    }
}
