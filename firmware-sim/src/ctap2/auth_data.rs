//! Authenticator data (WebAuthn §6.1): the one builder makeCredential and getAssertion use, and
//! its parser for hosts.
//!
//! Layout: `rpIdHash (32) | flags (1) | signCount (4, big-endian)
//! [| aaguid (16) | credentialIdLength (2) | credentialId | credentialPublicKey (COSE_Key)]
//! [| extensions (CBOR map)]`.

use ciborium::value::Value;
use thiserror::Error;

use super::messages::Extensions;
use crate::cbor;

/// authenticatorData flag bits.
pub mod flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Backup eligible: the credential may be backed up (synced).
    pub const BE: u8 = 0x08;
    /// Backup state: the credential is backed up now.
    pub const BS: u8 = 0x10;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;
}

/// The attested credential data of a registration.
#[derive(Clone, Debug, PartialEq)]
pub struct AttestedCredentialData {
    /// The authenticator model.
    pub aaguid: [u8; 16],
    /// The new credential's id.
    pub credential_id: Vec<u8>,
    /// Its public key, a COSE_Key.
    pub public_key: Value,
}

/// Authenticator data.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the relying party id.
    pub rp_id_hash: [u8; 32],
    /// UP, UV, BE and BS (see [`flags`]); AT and ED follow from the members below.
    pub flags: u8,
    /// The signature counter.
    pub sign_count: u32,
    /// Present in registrations.
    pub attested: Option<AttestedCredentialData>,
    /// Authenticator extension outputs.
    pub extensions: Option<Extensions>,
}

/// Why bytes are not authenticator data.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AuthDataError {
    /// The data ends before a member it announces.
    #[error("authenticator data is truncated")]
    Truncated,
    /// A CBOR member (credential public key or extensions) is malformed.
    #[error("authenticator data holds malformed CBOR")]
    Cbor,
    /// Bytes follow the last member.
    #[error("authenticator data has trailing bytes")]
    TrailingBytes,
}

impl AuthenticatorData {
    /// Authenticator data with no attested credential data and no extensions.
    pub fn new(rp_id_hash: [u8; 32], flags: u8, sign_count: u32) -> Self {
        Self {
            rp_id_hash,
            flags,
            sign_count,
            attested: None,
            extensions: None,
        }
    }

    /// The flags byte as encoded: AT and ED set exactly when their members are present.
    pub fn flags_byte(&self) -> u8 {
        let mut f = self.flags & !(flags::AT | flags::ED);
        if self.attested.is_some() {
            f |= flags::AT;
        }
        if self.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            f |= flags::ED;
        }
        f
    }

    /// Serialises the authenticator data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(if self.attested.is_some() { 200 } else { 37 });
        out.extend_from_slice(&self.rp_id_hash);
        out.push(self.flags_byte());
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(a) = &self.attested {
            out.extend_from_slice(&a.aaguid);
            // Credential ids are at most 1023 bytes (WebAuthn); the token's at most 128.
            out.extend_from_slice(&(a.credential_id.len() as u16).to_be_bytes());
            out.extend_from_slice(&a.credential_id);
            out.extend_from_slice(&cbor::encode(&a.public_key));
        }
        if let Some(e) = self.extensions.as_ref().filter(|e| !e.is_empty()) {
            out.extend_from_slice(&cbor::encode(&e.to_value()));
        }
        out
    }

    /// Parses authenticator data; the CBOR members must be canonical.
    pub fn parse(bytes: &[u8]) -> Result<Self, AuthDataError> {
        let head = bytes.get(..37).ok_or(AuthDataError::Truncated)?;
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&head[..32]);
        let flags_byte = head[32];
        let sign_count = u32::from_be_bytes([head[33], head[34], head[35], head[36]]);
        let mut rest = &bytes[37..];
        let attested = if flags_byte & flags::AT != 0 {
            let fixed = rest.get(..18).ok_or(AuthDataError::Truncated)?;
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&fixed[..16]);
            let len = usize::from(u16::from_be_bytes([fixed[16], fixed[17]]));
            let credential_id = rest
                .get(18..18 + len)
                .ok_or(AuthDataError::Truncated)?
                .to_vec();
            rest = &rest[18 + len..];
            let (public_key, used) = cbor::decode_prefix(rest).map_err(|_| AuthDataError::Cbor)?;
            rest = &rest[used..];
            Some(AttestedCredentialData {
                aaguid,
                credential_id,
                public_key,
            })
        } else {
            None
        };
        let extensions = if flags_byte & flags::ED != 0 {
            let (value, used) = cbor::decode_prefix(rest).map_err(|_| AuthDataError::Cbor)?;
            rest = &rest[used..];
            Some(Extensions::from_value(&value).map_err(|_| AuthDataError::Cbor)?)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(AuthDataError::TrailingBytes);
        }
        Ok(Self {
            rp_id_hash,
            flags: flags_byte & !(flags::AT | flags::ED),
            sign_count,
            attested,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> AuthenticatorData {
        AuthenticatorData {
            rp_id_hash: [1; 32],
            flags: flags::UP | flags::UV | flags::BE,
            sign_count: 7,
            attested: Some(AttestedCredentialData {
                aaguid: [2; 16],
                credential_id: vec![3; 32],
                public_key: cbor::int_map(vec![(1, cbor::int(2)), (3, cbor::int(-7))]),
            }),
            extensions: Some(Extensions(vec![("credProtect".into(), cbor::int(2))])),
        }
    }

    #[test]
    fn builds_and_parses_both_shapes() {
        let reg = registration();
        let bytes = reg.to_bytes();
        assert_eq!(
            bytes[32],
            flags::UP | flags::UV | flags::BE | flags::AT | flags::ED
        );
        assert_eq!(&bytes[33..37], &[0, 0, 0, 7]);
        assert_eq!(&bytes[53..55], &[0, 32]);
        assert_eq!(AuthenticatorData::parse(&bytes), Ok(reg));

        let assertion = AuthenticatorData::new([9; 32], flags::UP | flags::AT, 1);
        let bytes = assertion.to_bytes();
        assert_eq!(bytes.len(), 37);
        assert_eq!(
            bytes[32],
            flags::UP,
            "AT without attested data is not encoded"
        );
        let back = AuthenticatorData::parse(&bytes).unwrap();
        assert_eq!(back.flags, flags::UP);
        assert!(back.attested.is_none() && back.extensions.is_none());
    }

    #[test]
    fn refuses_truncated_or_padded_data() {
        let bytes = registration().to_bytes();
        for end in 0..bytes.len() {
            assert!(AuthenticatorData::parse(&bytes[..end]).is_err(), "{end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            AuthenticatorData::parse(&longer),
            Err(AuthDataError::TrailingBytes)
        );
    }
}
