//! Attestation: the per-installation attestation CA and batch certificate (made with rcgen),
//! and the "packed", "none" and "fido-u2f" statements.

use ciborium::value::Value;
use p256::ecdsa::signature::Signer;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm,
    SigningKey,
};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::cbor;
use crate::credential::PrivateKey;
use crate::env::Rng;

/// Which attestation statement `authenticatorMakeCredential` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AttestationMode {
    /// fmt "none" with an empty statement.
    None,
    /// fmt "packed", signed by the new credential's own key (no x5c).
    SelfAttestation,
    /// fmt "packed", signed by the batch key with the batch certificate in x5c.
    #[default]
    Batch,
}

/// OID of the FIDO extension carrying the AAGUID (id-fido-gen-ce-aaguid, 1.3.6.1.4.1.45724.1.1.4).
pub const ID_FIDO_GEN_CE_AAGUID: [u64; 10] = [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

/// Failure to build or load attestation certificates.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AttestationError {
    /// A private key is not a valid P-256 scalar.
    #[error("attestation key is not a valid P-256 private key")]
    InvalidKey,
    /// The certificate parameters were rejected (message from rcgen, no secrets).
    #[error("cannot build attestation certificate: {0}")]
    Certificate(String),
    /// The validity period does not fit in an X.509 time.
    #[error("attestation certificate validity is out of range")]
    Validity,
}

impl PkiParams {
    /// Parameters with authsim's defaults: organisation "authsim", country "US", 20 years of
    /// validity from `not_before_unix`, zero serial numbers (set them, or use
    /// [`AttestationPki::generate`]).
    pub fn new(aaguid: [u8; 16], not_before_unix: i64) -> Self {
        Self {
            aaguid,
            not_before_unix,
            validity_days: 20 * 365,
            ca_serial: [0; 16],
            batch_serial: [0; 16],
            organization: "authsim".to_owned(),
            country: "US".to_owned(),
        }
    }
}

/// Parameters of [`create_attestation_pki`] other than the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiParams {
    /// The AAGUID written into the batch certificate's id-fido-gen-ce-aaguid extension.
    pub aaguid: [u8; 16],
    /// Start of validity, seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// Length of validity in days.
    pub validity_days: u32,
    /// Serial number of the CA certificate (made positive).
    pub ca_serial: [u8; 16],
    /// Serial number of the batch certificate (made positive).
    pub batch_serial: [u8; 16],
    /// Subject O of both certificates.
    pub organization: String,
    /// Subject C of both certificates (ISO 3166 alpha-2).
    pub country: String,
}

/// The attestation CA (self-signed root) and the batch certificate it issued.
#[derive(Clone)]
pub struct AttestationPki {
    ca_key: Zeroizing<[u8; 32]>,
    ca_cert_der: Vec<u8>,
    batch_key: Zeroizing<[u8; 32]>,
    batch_cert_der: Vec<u8>,
}

impl PartialEq for AttestationPki {
    fn eq(&self, other: &Self) -> bool {
        self.ca_cert_der == other.ca_cert_der
            && self.batch_cert_der == other.batch_cert_der
            && self.ca_key.as_ref() == other.ca_key.as_ref()
            && self.batch_key.as_ref() == other.batch_key.as_ref()
    }
}

impl Eq for AttestationPki {}

impl std::fmt::Debug for AttestationPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationPki")
            .field("ca_cert_der_len", &self.ca_cert_der.len())
            .field("batch_cert_der_len", &self.batch_cert_der.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// An rcgen signer backed by a p256 key (rcgen's own crypto backends are not used).
struct P256Signer {
    key: p256::ecdsa::SigningKey,
    point: Vec<u8>,
}

impl P256Signer {
    fn new(secret: &[u8; 32]) -> Result<Self, AttestationError> {
        let key = p256::ecdsa::SigningKey::from_slice(secret)
            .map_err(|_| AttestationError::InvalidKey)?;
        let point = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        Ok(Self { key, point })
    }

    /// RFC 7093 method 1: the leftmost 160 bits of SHA-256 over the public key.
    fn key_id(&self) -> Vec<u8> {
        Sha256::digest(&self.point)[..20].to_vec()
    }
}

impl PublicKeyData for P256Signer {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for P256Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig: p256::ecdsa::Signature = self.key.sign(msg);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

fn positive_serial(raw: &[u8; 16]) -> SerialNumber {
    let mut s = *raw;
    // Positive, and no leading zero octet to be stripped.
    s[0] = (s[0] & 0x7F) | 0x40;
    SerialNumber::from_slice(&s)
}

fn cert_error(e: rcgen::Error) -> AttestationError {
    AttestationError::Certificate(e.to_string())
}

fn subject(
    params: &PkiParams,
    unit: &str,
    common_name: &str,
) -> Result<DistinguishedName, AttestationError> {
    let mut dn = DistinguishedName::new();
    let country = rcgen::string::PrintableString::try_from(params.country.as_str())
        .map_err(|e| AttestationError::Certificate(e.to_string()))?;
    dn.push(DnType::CountryName, DnValue::PrintableString(country));
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(params.organization.clone()),
    );
    dn.push(
        DnType::OrganizationalUnitName,
        DnValue::Utf8String(unit.to_owned()),
    );
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(common_name.to_owned()),
    );
    Ok(dn)
}

/// Builds the attestation CA and the batch certificate from two P-256 private scalars.
///
/// Pure and deterministic: the same keys and parameters give the same certificates (ECDSA
/// signatures are RFC 6979). The batch certificate meets the WebAuthn "packed" requirements:
/// X.509 v3; subject C, O, OU = "Authenticator Attestation", CN; basicConstraints CA=false;
/// and the non-critical id-fido-gen-ce-aaguid extension holding the AAGUID as an OCTET STRING.
pub fn create_attestation_pki(
    ca_key: &[u8; 32],
    batch_key: &[u8; 32],
    params: &PkiParams,
) -> Result<AttestationPki, AttestationError> {
    let ca_signer = P256Signer::new(ca_key)?;
    let batch_signer = P256Signer::new(batch_key)?;
    let not_before = time::OffsetDateTime::from_unix_timestamp(params.not_before_unix)
        .map_err(|_| AttestationError::Validity)?;
    let not_after = not_before
        .checked_add(time::Duration::days(i64::from(params.validity_days)))
        .ok_or(AttestationError::Validity)?;

    let mut ca = CertificateParams::default();
    ca.not_before = not_before;
    ca.not_after = not_after;
    ca.serial_number = Some(positive_serial(&params.ca_serial));
    ca.distinguished_name = subject(
        params,
        "Authenticator Attestation CA",
        &format!("{} Attestation Root CA", params.organization),
    )?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.key_identifier_method = KeyIdMethod::PreSpecified(ca_signer.key_id());
    let ca_cert = ca.self_signed(&ca_signer).map_err(cert_error)?;
    let issuer = Issuer::new(ca, ca_signer);

    let mut batch = CertificateParams::default();
    batch.not_before = not_before;
    batch.not_after = not_after;
    batch.serial_number = Some(positive_serial(&params.batch_serial));
    batch.distinguished_name = subject(
        params,
        "Authenticator Attestation",
        &format!("{} Batch Certificate", params.organization),
    )?;
    batch.is_ca = IsCa::ExplicitNoCa;
    batch.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    batch.use_authority_key_identifier_extension = true;
    batch.key_identifier_method = KeyIdMethod::PreSpecified(batch_signer.key_id());
    // extnValue = OCTET STRING (16 bytes AAGUID), DER: 04 10 <aaguid>.
    let mut aaguid_der = vec![0x04, 0x10];
    aaguid_der.extend_from_slice(&params.aaguid);
    let mut ext = CustomExtension::from_oid_content(&ID_FIDO_GEN_CE_AAGUID, aaguid_der);
    ext.set_criticality(false);
    batch.custom_extensions = vec![ext];
    let batch_cert = batch
        .signed_by(&batch_signer, &issuer)
        .map_err(cert_error)?;

    Ok(AttestationPki {
        ca_key: Zeroizing::new(*ca_key),
        ca_cert_der: ca_cert.der().to_vec(),
        batch_key: Zeroizing::new(*batch_key),
        batch_cert_der: batch_cert.der().to_vec(),
    })
}

impl AttestationPki {
    /// Draws two fresh keys and serial numbers from `rng` and builds the PKI with `params`
    /// (whose serial numbers are replaced by the random ones).
    pub fn generate(rng: &mut dyn Rng, params: &PkiParams) -> Result<Self, AttestationError> {
        let mut params = params.clone();
        // A random 256-bit value is a valid P-256 scalar except with negligible probability.
        for _ in 0..16 {
            let mut ca_key = Zeroizing::new([0u8; 32]);
            let mut batch_key = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(ca_key.as_mut());
            rng.fill_bytes(batch_key.as_mut());
            rng.fill_bytes(&mut params.ca_serial);
            rng.fill_bytes(&mut params.batch_serial);
            match create_attestation_pki(&ca_key, &batch_key, &params) {
                Err(AttestationError::InvalidKey) => continue,
                other => return other,
            }
        }
        Err(AttestationError::InvalidKey)
    }

    /// Serialises the PKI, keys included, for the embedder to store (wiped on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut value = cbor::int_map(vec![
            (1, Value::Bytes(self.ca_key.to_vec())),
            (2, Value::Bytes(self.ca_cert_der.clone())),
            (3, Value::Bytes(self.batch_key.to_vec())),
            (4, Value::Bytes(self.batch_cert_der.clone())),
        ]);
        let bytes = Zeroizing::new(cbor::encode(&value));
        cbor::wipe(&mut value);
        bytes
    }

    /// Parses what [`AttestationPki::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AttestationError> {
        let malformed =
            || AttestationError::Certificate("stored attestation PKI is malformed".into());
        let value = cbor::decode(bytes).map_err(|_| malformed())?;
        let map = cbor::MapView::new(&value).map_err(|_| malformed())?;
        let part = |k: i64| -> Result<&[u8], AttestationError> {
            map.int_key(k)
                .and_then(|v| cbor::as_bytes(v).ok())
                .ok_or_else(malformed)
        };
        Self::from_parts(part(1)?, part(2)?, part(3)?, part(4)?)
    }

    /// The CA certificate (DER), the trust anchor a relying party installs.
    pub fn ca_certificate_der(&self) -> &[u8] {
        &self.ca_cert_der
    }

    /// The CA certificate as PEM.
    pub fn ca_certificate_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.ca_cert_der)
    }

    /// The batch (attestation) certificate (DER), sent in x5c.
    pub fn batch_certificate_der(&self) -> &[u8] {
        &self.batch_cert_der
    }

    /// Signs with the batch key (DER ECDSA P-256/SHA-256).
    pub(crate) fn sign_with_batch_key(&self, msg: &[u8]) -> Result<Vec<u8>, AttestationError> {
        let key = p256::ecdsa::SigningKey::from_slice(self.batch_key.as_ref())
            .map_err(|_| AttestationError::InvalidKey)?;
        let sig: p256::ecdsa::Signature = key.sign(msg);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// Rebuilds the PKI from its stored parts.
    pub(crate) fn from_parts(
        ca_key: &[u8],
        ca_der: &[u8],
        batch_key: &[u8],
        batch_der: &[u8],
    ) -> Result<Self, AttestationError> {
        let to_key = |k: &[u8]| -> Result<Zeroizing<[u8; 32]>, AttestationError> {
            let mut out = Zeroizing::new([0u8; 32]);
            if k.len() != 32 {
                return Err(AttestationError::InvalidKey);
            }
            out.copy_from_slice(k);
            p256::ecdsa::SigningKey::from_slice(k).map_err(|_| AttestationError::InvalidKey)?;
            Ok(out)
        };
        Ok(Self {
            ca_key: to_key(ca_key)?,
            ca_cert_der: ca_der.to_vec(),
            batch_key: to_key(batch_key)?,
            batch_cert_der: batch_der.to_vec(),
        })
    }
}

/// The `fmt` and `attStmt` of a makeCredential response.
pub(crate) fn statement(
    mode: AttestationMode,
    pki: &AttestationPki,
    credential_key: &PrivateKey,
    auth_data: &[u8],
    client_data_hash: &[u8],
) -> Result<(&'static str, Value), AttestationError> {
    let mut signed = Vec::with_capacity(auth_data.len() + client_data_hash.len());
    signed.extend_from_slice(auth_data);
    signed.extend_from_slice(client_data_hash);
    match mode {
        AttestationMode::None => Ok(("none", Value::Map(vec![]))),
        AttestationMode::SelfAttestation => Ok((
            "packed",
            cbor::text_map(vec![
                ("alg", cbor::int(credential_key.algorithm().cose_id())),
                ("sig", Value::Bytes(credential_key.sign(&signed))),
            ]),
        )),
        AttestationMode::Batch => Ok((
            "packed",
            cbor::text_map(vec![
                ("alg", cbor::int(-7)),
                ("sig", Value::Bytes(pki.sign_with_batch_key(&signed)?)),
                (
                    "x5c",
                    Value::Array(vec![Value::Bytes(pki.batch_cert_der.clone())]),
                ),
            ]),
        )),
    }
}

/// PEM armour (RFC 7468) with 64-character lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn params() -> PkiParams {
        PkiParams {
            aaguid: [0xAB; 16],
            not_before_unix: 1_767_225_600,
            validity_days: 365,
            ca_serial: [1; 16],
            batch_serial: [2; 16],
            organization: "authsim".into(),
            country: "US".into(),
        }
    }

    #[test]
    fn batch_certificate_meets_packed_requirements() {
        let pki = create_attestation_pki(&[3; 32], &[4; 32], &params()).unwrap();
        let (_, cert) = X509Certificate::from_der(pki.batch_certificate_der()).unwrap();
        assert_eq!(cert.version(), X509Version::V3);
        let subject = cert.subject();
        let first = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue>| {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
        };
        assert_eq!(first(&mut subject.iter_country()).as_deref(), Some("US"));
        assert_eq!(
            first(&mut subject.iter_organization()).as_deref(),
            Some("authsim")
        );
        assert_eq!(
            first(&mut subject.iter_organizational_unit()).as_deref(),
            Some("Authenticator Attestation")
        );
        assert!(first(&mut subject.iter_common_name()).is_some());
        // C is a PrintableString.
        let c = subject.iter_country().next().unwrap();
        assert_eq!(
            c.attr_value().header.tag(),
            x509_parser::der_parser::asn1_rs::Tag::PrintableString
        );
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(!bc.value.ca);
        let oid = x509_parser::der_parser::oid!(1.3.6.1.4.1.45724.1.1.4);
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid == oid)
            .expect("aaguid extension");
        assert!(!ext.critical);
        let mut expected = vec![0x04, 0x10];
        expected.extend_from_slice(&[0xAB; 16]);
        assert_eq!(ext.value, &expected[..]);
        // Issued by the CA, whose signature verifies.
        let (_, ca) = X509Certificate::from_der(pki.ca_certificate_der()).unwrap();
        assert_eq!(cert.issuer(), ca.subject());
        assert!(ca.basic_constraints().unwrap().unwrap().value.ca);
        let ca_point = ca.public_key().subject_public_key.data.to_vec();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&ca_point).unwrap();
        let sig = p256::ecdsa::Signature::from_der(&cert.signature_value.data).unwrap();
        use p256::ecdsa::signature::Verifier;
        vk.verify(cert.tbs_certificate.as_ref(), &sig).unwrap();
    }

    #[test]
    fn pki_is_deterministic_and_round_trips() {
        let a = create_attestation_pki(&[3; 32], &[4; 32], &params()).unwrap();
        let b = create_attestation_pki(&[3; 32], &[4; 32], &params()).unwrap();
        assert_eq!(a.ca_certificate_der(), b.ca_certificate_der());
        let again = AttestationPki::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(again, a);
        assert!(AttestationPki::from_bytes(&[0xA0]).is_err());
        let mut rng = crate::testing::SeededRng::new(5);
        let g =
            AttestationPki::generate(&mut rng, &PkiParams::new([1; 16], 1_767_225_600)).unwrap();
        assert_ne!(g, a);
        assert!(format!("{a:?}").contains("redacted"));
        assert_eq!(
            create_attestation_pki(&[0; 32], &[4; 32], &params()).err(),
            Some(AttestationError::InvalidKey)
        );
    }

    #[test]
    fn pem_has_standard_armour() {
        assert_eq!(
            pem_encode("X", b"hello"),
            "-----BEGIN X-----\naGVsbG8=\n-----END X-----\n"
        );
        assert_eq!(
            pem_encode("X", b"hi!"),
            "-----BEGIN X-----\naGkh\n-----END X-----\n"
        );
        assert_eq!(
            pem_encode("X", b"h"),
            "-----BEGIN X-----\naA==\n-----END X-----\n"
        );
    }
}
