//! The two PIN/UV auth protocols (CTAP 2.1 §6.5.6 protocol one, §6.5.7 protocol two) behind one
//! trait, and the key agreement both share (ECDH over P-256).

use aes::Aes256;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ctap2::messages::CoseEcdhKey;
use crate::env::Rng;
use crate::status::{CtapResult, StatusCode};

/// AES block length.
const BLOCK: usize = 16;

/// A shared secret from key agreement: 32 bytes (protocol one) or HMAC key || AES key (64 bytes,
/// protocol two). Wiped on drop, never shown.
pub(crate) struct SharedSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

impl SharedSecret {
    /// The secret's bytes (a key for `verify`, `encrypt` and `decrypt`).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// One PIN/UV auth protocol: the key derivation, encryption and MAC it uses over the shared
/// secret and the pinUvAuthToken.
pub(crate) trait PinUvAuthProtocol: Sync {
    /// The protocol's number (1 or 2).
    fn number(&self) -> u64;
    /// KDF(Z): the shared secret from the ECDH x coordinate.
    fn kdf(&self, z: &[u8; 32]) -> CtapResult<SharedSecret>;
    /// encrypt(key, plaintext); the plaintext is a whole number of AES blocks.
    fn encrypt(&self, key: &[u8], rng: &mut dyn Rng, plaintext: &[u8]) -> CtapResult<Vec<u8>>;
    /// decrypt(key, ciphertext); an error for a malformed ciphertext.
    fn decrypt(&self, key: &[u8], ciphertext: &[u8]) -> CtapResult<Zeroizing<Vec<u8>>>;
    /// authenticate(key, message): the MAC a platform sends as pinUvAuthParam (the platform's
    /// half of the protocol, [`super::platform`]; the authenticator only verifies).
    fn authenticate(&self, key: &[u8], message: &[u8]) -> Vec<u8>;
    /// verify(key, message, signature): `CTAP2_ERR_PIN_AUTH_INVALID` unless `signature` is
    /// authenticate(key, message) (compared in constant time).
    fn verify(&self, key: &[u8], message: &[u8], signature: &[u8]) -> CtapResult<()>;
}

/// PIN/UV auth protocol one: SHA-256 of the ECDH x coordinate, AES-256-CBC with a zero IV, the
/// first 16 bytes of HMAC-SHA-256.
pub(crate) struct ProtocolOne;

/// PIN/UV auth protocol two: HKDF-SHA-256 keys for the HMAC and AES parts, a random IV per
/// ciphertext, the full 32-byte HMAC-SHA-256.
pub(crate) struct ProtocolTwo;

/// The protocols, in the order getInfo lists them (most preferred first).
pub(crate) const SUPPORTED: [&dyn PinUvAuthProtocol; 2] = [&ProtocolTwo, &ProtocolOne];

/// The protocol with this number, if supported.
pub(crate) fn protocol(number: u64) -> Option<&'static dyn PinUvAuthProtocol> {
    SUPPORTED.into_iter().find(|p| p.number() == number)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(message);
    mac
}

fn cbc_encrypt(key: &[u8], iv: &[u8; BLOCK], plaintext: &[u8]) -> CtapResult<Vec<u8>> {
    if !plaintext.len().is_multiple_of(BLOCK) {
        return Err(StatusCode::Other);
    }
    let mut buf = plaintext.to_vec();
    let len = buf.len();
    cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
        .map_err(|_| StatusCode::Other)?
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .map_err(|_| StatusCode::Other)?;
    Ok(buf)
}

fn cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> CtapResult<Zeroizing<Vec<u8>>> {
    if !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(StatusCode::InvalidParameter);
    }
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
        .map_err(|_| StatusCode::Other)?
        .decrypt_padded::<NoPadding>(&mut buf)
        .map_err(|_| StatusCode::InvalidParameter)?;
    Ok(buf)
}

impl PinUvAuthProtocol for ProtocolOne {
    fn number(&self) -> u64 {
        1
    }

    fn kdf(&self, z: &[u8; 32]) -> CtapResult<SharedSecret> {
        Ok(SharedSecret(Zeroizing::new(Sha256::digest(z).to_vec())))
    }

    fn encrypt(&self, key: &[u8], _rng: &mut dyn Rng, plaintext: &[u8]) -> CtapResult<Vec<u8>> {
        cbc_encrypt(key, &[0; BLOCK], plaintext)
    }

    fn decrypt(&self, key: &[u8], ciphertext: &[u8]) -> CtapResult<Zeroizing<Vec<u8>>> {
        cbc_decrypt(key, &[0; BLOCK], ciphertext)
    }

    fn authenticate(&self, key: &[u8], message: &[u8]) -> Vec<u8> {
        hmac_sha256(key, message).finalize().into_bytes()[..16].to_vec()
    }

    fn verify(&self, key: &[u8], message: &[u8], signature: &[u8]) -> CtapResult<()> {
        if signature.len() != 16 {
            return Err(StatusCode::PinAuthInvalid);
        }
        hmac_sha256(key, message)
            .verify_truncated_left(signature)
            .map_err(|_| StatusCode::PinAuthInvalid)
    }
}

impl ProtocolTwo {
    /// HKDF-SHA-256 with the specification's salt (32 zero bytes) and `info`.
    fn hkdf(z: &[u8; 32], info: &[u8], out: &mut [u8]) -> CtapResult<()> {
        Hkdf::<Sha256>::new(Some(&[0u8; 32]), z)
            .expand(info, out)
            .map_err(|_| StatusCode::Other)
    }

    /// The HMAC part of a key: a 64-byte shared secret's first half; a token as it is.
    fn hmac_key(key: &[u8]) -> &[u8] {
        &key[..key.len().min(32)]
    }

    /// The AES part of a 64-byte shared secret.
    fn aes_key(key: &[u8]) -> CtapResult<&[u8]> {
        key.get(32..64).ok_or(StatusCode::Other)
    }
}

impl PinUvAuthProtocol for ProtocolTwo {
    fn number(&self) -> u64 {
        2
    }

    fn kdf(&self, z: &[u8; 32]) -> CtapResult<SharedSecret> {
        let mut secret = Zeroizing::new(vec![0u8; 64]);
        Self::hkdf(z, b"CTAP2 HMAC key", &mut secret[..32])?;
        Self::hkdf(z, b"CTAP2 AES key", &mut secret[32..])?;
        Ok(SharedSecret(secret))
    }

    fn encrypt(&self, key: &[u8], rng: &mut dyn Rng, plaintext: &[u8]) -> CtapResult<Vec<u8>> {
        let mut iv = [0u8; BLOCK];
        rng.fill_bytes(&mut iv);
        let mut out = iv.to_vec();
        out.extend_from_slice(&cbc_encrypt(Self::aes_key(key)?, &iv, plaintext)?);
        Ok(out)
    }

    fn decrypt(&self, key: &[u8], ciphertext: &[u8]) -> CtapResult<Zeroizing<Vec<u8>>> {
        if ciphertext.len() < BLOCK {
            return Err(StatusCode::InvalidParameter);
        }
        let (iv, body) = ciphertext.split_at(BLOCK);
        cbc_decrypt(Self::aes_key(key)?, iv, body)
    }

    fn authenticate(&self, key: &[u8], message: &[u8]) -> Vec<u8> {
        hmac_sha256(Self::hmac_key(key), message)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    fn verify(&self, key: &[u8], message: &[u8], signature: &[u8]) -> CtapResult<()> {
        if signature.len() != 32 {
            return Err(StatusCode::PinAuthInvalid);
        }
        hmac_sha256(Self::hmac_key(key), message)
            .verify_slice(signature)
            .map_err(|_| StatusCode::PinAuthInvalid)
    }
}

/// The authenticator's key-agreement key pair for one protocol: made at power-up, made again
/// where the specification says (after a wrong PIN), never stored.
pub(crate) struct KeyAgreementKey(p256::SecretKey);

impl std::fmt::Debug for KeyAgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyAgreementKey(<redacted>)")
    }
}

impl KeyAgreementKey {
    /// Draws a fresh key pair.
    pub(crate) fn generate(rng: &mut dyn Rng) -> CtapResult<Self> {
        // A uniformly random scalar is out of range with negligible probability.
        for _ in 0..16 {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut());
            if let Ok(key) = p256::SecretKey::from_slice(seed.as_ref()) {
                return Ok(Self(key));
            }
        }
        Err(StatusCode::Other)
    }

    /// getPublicKey(): the public key as a COSE_Key.
    pub(crate) fn public_key(&self) -> CtapResult<CoseEcdhKey> {
        let point = ecdsa::VerifyingKey::from(self.0.public_key()).to_sec1_point(false);
        let bytes = point.as_bytes();
        let (x, y) = (bytes.get(1..33), bytes.get(33..65));
        match (x, y) {
            (Some(x), Some(y)) => Ok(CoseEcdhKey::new(
                x.try_into().map_err(|_| StatusCode::Other)?,
                y.try_into().map_err(|_| StatusCode::Other)?,
            )),
            _ => Err(StatusCode::Other),
        }
    }

    /// decapsulate(peerCoseKey): the shared secret with the platform's key, or
    /// `CTAP1_ERR_INVALID_PARAMETER` for a key that is not a P-256 point.
    pub(crate) fn decapsulate(
        &self,
        protocol: &dyn PinUvAuthProtocol,
        peer: &CoseEcdhKey,
    ) -> CtapResult<SharedSecret> {
        let (x, y) = peer.coordinates()?;
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        let peer =
            p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| StatusCode::InvalidParameter)?;
        let shared = p256::ecdh::diffie_hellman(self.0.to_nonzero_scalar(), peer.as_affine());
        let mut z = Zeroizing::new([0u8; 32]);
        z.copy_from_slice(shared.raw_secret_bytes());
        protocol.kdf(&z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    /// Both sides of a key agreement: the platform's view is computed with the crates directly.
    fn agree(protocol: &dyn PinUvAuthProtocol, rng: &mut SeededRng) -> (SharedSecret, Vec<u8>) {
        let authenticator = KeyAgreementKey::generate(rng).unwrap();
        let platform = KeyAgreementKey::generate(rng).unwrap();
        let ours = authenticator
            .decapsulate(protocol, &platform.public_key().unwrap())
            .unwrap();
        let theirs = platform
            .decapsulate(protocol, &authenticator.public_key().unwrap())
            .unwrap();
        (ours, theirs.as_bytes().to_vec())
    }

    #[test]
    fn both_sides_derive_the_same_secret_and_round_trip() {
        let mut rng = SeededRng::new(1);
        for protocol in SUPPORTED {
            let (secret, peer) = agree(protocol, &mut rng);
            assert_eq!(secret.as_bytes(), &peer[..]);
            let expected_len = if protocol.number() == 1 { 32 } else { 64 };
            assert_eq!(secret.as_bytes().len(), expected_len);
            let plaintext = [0x5A; 64];
            let ct = protocol
                .encrypt(secret.as_bytes(), &mut rng, &plaintext)
                .unwrap();
            assert_eq!(ct.len(), if protocol.number() == 1 { 64 } else { 80 });
            assert_eq!(&protocol.decrypt(&peer, &ct).unwrap()[..], &plaintext[..]);
            let mac = protocol.authenticate(&peer, b"message");
            assert_eq!(mac.len(), if protocol.number() == 1 { 16 } else { 32 });
            assert_eq!(protocol.verify(secret.as_bytes(), b"message", &mac), Ok(()));
            assert_eq!(
                protocol.verify(secret.as_bytes(), b"massage", &mac),
                Err(StatusCode::PinAuthInvalid)
            );
            assert_eq!(
                protocol.verify(secret.as_bytes(), b"message", &mac[..15]),
                Err(StatusCode::PinAuthInvalid)
            );
            assert!(
                protocol
                    .decrypt(secret.as_bytes(), &ct[..ct.len() - 1])
                    .is_err()
            );
        }
    }

    #[test]
    fn protocol_two_uses_a_fresh_iv_and_protocol_one_none() {
        let mut rng = SeededRng::new(2);
        let (secret, _) = agree(&ProtocolTwo, &mut rng);
        let a = ProtocolTwo
            .encrypt(secret.as_bytes(), &mut rng, &[0; 16])
            .unwrap();
        let b = ProtocolTwo
            .encrypt(secret.as_bytes(), &mut rng, &[0; 16])
            .unwrap();
        assert_ne!(a, b);
        let (secret, _) = agree(&ProtocolOne, &mut rng);
        let a = ProtocolOne
            .encrypt(secret.as_bytes(), &mut rng, &[0; 16])
            .unwrap();
        let b = ProtocolOne
            .encrypt(secret.as_bytes(), &mut rng, &[0; 16])
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn known_answers() {
        // HMAC-SHA-256 test case 2 of RFC 4231 ("Jefe"), truncated for protocol one.
        let full = ProtocolTwo.authenticate(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(full[..8], [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e]);
        assert_eq!(
            ProtocolOne.authenticate(b"Jefe", b"what do ya want for nothing?"),
            full[..16].to_vec()
        );
        // Protocol one's KDF is SHA-256 of Z.
        let z = [0u8; 32];
        assert_eq!(
            ProtocolOne.kdf(&z).unwrap().as_bytes(),
            &Sha256::digest(z)[..]
        );
    }

    #[test]
    fn bad_peer_keys_are_invalid_parameters() {
        let mut rng = SeededRng::new(3);
        let key = KeyAgreementKey::generate(&mut rng).unwrap();
        let off_curve = CoseEcdhKey::new([1; 32], [2; 32]);
        assert_eq!(
            key.decapsulate(&ProtocolTwo, &off_curve).map(drop),
            Err(StatusCode::InvalidParameter)
        );
        let mut wrong_curve = key.public_key().unwrap();
        wrong_curve.crv = Some(2);
        assert_eq!(
            key.decapsulate(&ProtocolOne, &wrong_curve).map(drop),
            Err(StatusCode::InvalidParameter)
        );
        assert!(format!("{key:?}").contains("redacted"));
    }
}
