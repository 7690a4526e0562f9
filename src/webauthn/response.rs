//! What the client hands back: RegistrationResponseJSON and AuthenticationResponseJSON (WebAuthn
//! L3 §5.1.8 toJSON()), the attestation object with the conveyance preference applied, and the
//! credential public key as SubjectPublicKeyInfo.

use ciborium::value::Value as Cbor;
use serde::Serialize;
use serde_json::{Map, Value};

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// AuthenticatorAttestationResponseJSON.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    /// clientDataJSON, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// The authenticator data, base64url.
    pub authenticator_data: String,
    /// Transports, sorted.
    pub transports: Vec<String>,
    /// The credential public key as SPKI DER, base64url (absent for algorithms the client
    /// cannot express that way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The COSE algorithm of the key.
    pub public_key_algorithm: i64,
    /// The attestation object, base64url.
    pub attestation_object: String,
}

/// AuthenticatorAssertionResponseJSON.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    /// clientDataJSON, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// The authenticator data, base64url.
    pub authenticator_data: String,
    /// The signature, base64url.
    pub signature: String,
    /// The user handle, base64url (absent when the authenticator returned none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
}

/// RegistrationResponseJSON / AuthenticationResponseJSON.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialJson<R> {
    /// The credential id, base64url.
    pub id: String,
    /// The same.
    pub raw_id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The authenticator's response.
    pub response: R,
    /// `cross-platform`: a roaming key.
    pub authenticator_attachment: &'static str,
    /// Client extension outputs.
    pub client_extension_results: Map<String, Value>,
}

impl<R> CredentialJson<R> {
    /// A public-key credential with this id and response.
    pub fn new(id: &[u8], response: R, extensions: Map<String, Value>) -> Self {
        Self {
            id: b64(id),
            raw_id: b64(id),
            kind: "public-key",
            response,
            authenticator_attachment: "cross-platform",
            client_extension_results: extensions,
        }
    }
}

/// base64url without padding, as the JSON forms use it.
pub fn encode(bytes: &[u8]) -> String {
    b64(bytes)
}

/// A member of a COSE_Key map.
fn cose_get(key: &Cbor, label: i64) -> Option<&Cbor> {
    let Cbor::Map(entries) = key else { return None };
    entries.iter().find_map(|(k, v)| match k {
        Cbor::Integer(i) if i128::from(*i) == i128::from(label) => Some(v),
        _ => None,
    })
}

fn cose_int(key: &Cbor, label: i64) -> Option<i64> {
    match cose_get(key, label)? {
        Cbor::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

fn cose_bytes(key: &Cbor, label: i64) -> Option<&[u8]> {
    match cose_get(key, label)? {
        Cbor::Bytes(b) => Some(b),
        _ => None,
    }
}

/// The COSE algorithm (label 3) of a credential public key.
pub fn cose_alg(key: &Cbor) -> Option<i64> {
    cose_int(key, 3)
}

/// DER: one TLV.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xFF {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// A DER INTEGER from unsigned big-endian bytes.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        &bytes[start..]
    };
    let mut body = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(trimmed);
    der(0x02, &body)
}

/// The credential public key (a COSE_Key) as SubjectPublicKeyInfo DER: EC2 P-256/P-384
/// (RFC 5480), OKP Ed25519 (RFC 8410), RSA (RFC 3279); `None` for anything else, which the JSON
/// then leaves out, as L3 lets a client do.
///
/// Written by hand: each form is a fixed algorithm identifier around the key's own bytes, and
/// the curve crates' encoders would each want the point parsed and checked first, which the
/// relying party does anyway.
pub fn spki(cose: &Cbor) -> Option<Vec<u8>> {
    let kty = cose_int(cose, 1)?;
    let (algorithm, key_bits): (Vec<u8>, Vec<u8>) = match kty {
        // EC2
        2 => {
            let (x, y) = (cose_bytes(cose, -2)?, cose_bytes(cose, -3)?);
            let curve_oid: &[u8] = match (cose_int(cose, -1)?, x.len()) {
                // secp256r1 1.2.840.10045.3.1.7
                (1, 32) => &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07],
                // secp384r1 1.3.132.0.34
                (2, 48) => &[0x2B, 0x81, 0x04, 0x00, 0x22],
                _ => return None,
            };
            if y.len() != x.len() {
                return None;
            }
            // id-ecPublicKey 1.2.840.10045.2.1
            let mut alg = der(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]);
            alg.extend(der(0x06, curve_oid));
            let mut point = vec![0x04];
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            (alg, point)
        }
        // OKP
        1 => {
            let x = cose_bytes(cose, -2)?;
            if cose_int(cose, -1)? != 6 || x.len() != 32 {
                return None;
            }
            // id-Ed25519 1.3.101.112
            (der(0x06, &[0x2B, 0x65, 0x70]), x.to_vec())
        }
        // RSA
        3 => {
            let (n, e) = (cose_bytes(cose, -1)?, cose_bytes(cose, -2)?);
            // rsaEncryption 1.2.840.113549.1.1.1, NULL parameters
            let mut alg = der(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01],
            );
            alg.extend(der(0x05, &[]));
            let mut seq = der_uint(n);
            seq.extend(der_uint(e));
            (alg, der(0x30, &seq))
        }
        _ => return None,
    };
    let mut bits = vec![0];
    bits.extend(key_bits);
    let mut body = der(0x30, &algorithm);
    body.extend(der(0x03, &bits));
    Some(der(0x30, &body))
}

/// Sorted, de-duplicated transports (the order toJSON() reports them in).
pub fn transports(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Cbor {
        Cbor::Integer(n.into())
    }

    #[test]
    fn p256_and_ed25519_keys_become_spki() {
        let mut x = vec![0u8; 32];
        x[0] = 1;
        let p256 = Cbor::Map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), Cbor::Bytes(x.clone())),
            (int(-3), Cbor::Bytes(vec![2; 32])),
        ]);
        let der = spki(&p256).unwrap();
        assert_eq!(der.len(), 91);
        assert_eq!(
            hex::encode(&der[..26]),
            "3059301306072a8648ce3d020106082a8648ce3d030107034200"
        );
        assert_eq!(der[26], 0x04);
        assert_eq!(cose_alg(&p256), Some(-7));
        let ed = Cbor::Map(vec![
            (int(1), int(1)),
            (int(3), int(-8)),
            (int(-1), int(6)),
            (int(-2), Cbor::Bytes(vec![9; 32])),
        ]);
        let der = spki(&ed).unwrap();
        assert_eq!(hex::encode(&der[..12]), "302a300506032b6570032100");
        assert_eq!(der.len(), 44);
        let rsa = Cbor::Map(vec![
            (int(1), int(3)),
            (int(-1), Cbor::Bytes(vec![0xC0; 256])),
            (int(-2), Cbor::Bytes(vec![1, 0, 1])),
        ]);
        let der = spki(&rsa).unwrap();
        assert_eq!(hex::encode(&der[..4]), "30820122");
        assert!(spki(&Cbor::Map(vec![(int(1), int(9))])).is_none());
    }
}
