//! The platform's half of the PIN/UV auth protocols (CTAP 2.1 §6.5.4–§6.5.7), for a host (a
//! WebAuthn client): encapsulate against the authenticator's key-agreement key, then encrypt
//! the PIN hash, decrypt the pinUvAuthToken and hmac-secret outputs, and authenticate requests.
//! The same two protocol implementations the token uses, so both sides cannot drift.

use zeroize::Zeroizing;

use super::protocol::{self, KeyAgreementKey, PinUvAuthProtocol, SharedSecret};
use crate::ctap2::messages::CoseEcdhKey;
use crate::env::Rng;
use crate::status::{CtapResult, StatusCode};

/// The PIN/UV auth protocols a platform may use, most preferred first.
pub const SUPPORTED_PROTOCOLS: [u64; 2] = [2, 1];

/// One key agreement with an authenticator: the platform's ephemeral public key (sent as
/// keyAgreement) and the shared secret. The secret is wiped on drop and never shown.
pub struct PlatformSession {
    protocol: &'static dyn PinUvAuthProtocol,
    platform_key: CoseEcdhKey,
    secret: SharedSecret,
}

impl std::fmt::Debug for PlatformSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSession")
            .field("protocol", &self.protocol.number())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl PlatformSession {
    /// encapsulate(peerCoseKey) with protocol `number`: a fresh key pair of the platform's and
    /// the shared secret with `authenticator_key` (`CTAP1_ERR_INVALID_PARAMETER` for a key that
    /// is not a P-256 point or an unknown protocol).
    pub fn encapsulate(
        number: u64,
        authenticator_key: &CoseEcdhKey,
        rng: &mut dyn Rng,
    ) -> CtapResult<Self> {
        let protocol = protocol::protocol(number).ok_or(StatusCode::InvalidParameter)?;
        let ours = KeyAgreementKey::generate(rng)?;
        let secret = ours.decapsulate(protocol, authenticator_key)?;
        Ok(Self {
            protocol,
            platform_key: ours.public_key()?,
            secret,
        })
    }

    /// The protocol's number.
    pub fn protocol(&self) -> u64 {
        self.protocol.number()
    }

    /// The platform's public key, sent to the authenticator as keyAgreement.
    pub fn platform_key(&self) -> &CoseEcdhKey {
        &self.platform_key
    }

    /// encrypt(sharedSecret, plaintext); the plaintext is a whole number of AES blocks.
    pub fn encrypt(&self, rng: &mut dyn Rng, plaintext: &[u8]) -> CtapResult<Vec<u8>> {
        self.protocol
            .encrypt(self.secret.as_bytes(), rng, plaintext)
    }

    /// decrypt(sharedSecret, ciphertext).
    pub fn decrypt(&self, ciphertext: &[u8]) -> CtapResult<Zeroizing<Vec<u8>>> {
        self.protocol.decrypt(self.secret.as_bytes(), ciphertext)
    }

    /// authenticate(sharedSecret, message).
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(self.secret.as_bytes(), message)
    }
}

/// authenticate(pinUvAuthToken, message) with protocol `number` (the pinUvAuthParam of a
/// request); `CTAP1_ERR_INVALID_PARAMETER` for an unknown protocol.
pub fn authenticate(number: u64, token: &[u8], message: &[u8]) -> CtapResult<Vec<u8>> {
    let protocol = protocol::protocol(number).ok_or(StatusCode::InvalidParameter)?;
    Ok(protocol.authenticate(token, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    #[test]
    fn both_sides_share_a_secret_under_both_protocols() {
        let mut rng = SeededRng::new(9);
        for number in SUPPORTED_PROTOCOLS {
            let protocol = protocol::protocol(number).unwrap();
            let authenticator = KeyAgreementKey::generate(&mut rng).unwrap();
            let platform = PlatformSession::encapsulate(
                number,
                &authenticator.public_key().unwrap(),
                &mut rng,
            )
            .unwrap();
            let theirs = authenticator
                .decapsulate(protocol, platform.platform_key())
                .unwrap();
            let ct = platform.encrypt(&mut rng, &[7; 32]).unwrap();
            assert_eq!(
                &protocol.decrypt(theirs.as_bytes(), &ct).unwrap()[..],
                &[7; 32]
            );
            let mac = platform.authenticate(b"m");
            assert_eq!(protocol.verify(theirs.as_bytes(), b"m", &mac), Ok(()));
            assert_eq!(
                authenticate(number, &[1; 32], b"m").unwrap(),
                protocol.authenticate(&[1; 32], b"m")
            );
            assert!(format!("{platform:?}").contains("redacted"));
        }
        assert!(authenticate(3, &[1; 32], b"m").is_err());
    }
}
