//! largeBlob read and write at authentication (WebAuthn L3 §10.1.5), through the key's
//! authenticatorLargeBlobs (CTAP 2.1 §6.10): the platform's half of the large-blob array.
//!
//! The array is read in fragments of maxMsgSize − 64 bytes and checked against its trailer
//! (the first 16 bytes of SHA-256 of the rest); each entry {1: ciphertext, 2: nonce, 3: origSize}
//! is AES-256-GCM under a credential's largeBlobKey with the associated data "blob" ‖
//! uint64LE(origSize), over the blob DEFLATE-compressed (RFC 1951, raw). A write replaces the
//! entries this key opens and keeps every other entry as it was, then writes the whole array
//! with a pinUvAuthToken holding the lbw permission when the key is protected. Written here (a
//! few dozen lines over aes-gcm, flate2 and ciborium) because no crate does the platform side
//! of CTAP's large blobs.

use std::io::{Read, Write};
use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ciborium::value::Value as Cbor;
use firmware_sim::ctap2::messages::{LargeBlobsRequest, LargeBlobsResponse, Message};
use firmware_sim::ctap2_command as command;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use super::WebAuthnError;
use crate::fido::ctap2::Authenticator;
use crate::fido::pin::PinUvToken;

/// The trailer's length: LEFT(SHA-256(array), 16).
const TRAILER_LEN: usize = 16;
/// AES-GCM's nonce length.
const NONCE_LEN: usize = 12;
/// getInfo's maxMsgSize when the key names none (CTAP 2.1 §6.4).
const DEFAULT_MAX_MSG: u64 = 1024;

fn trailer(data: &[u8]) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t.copy_from_slice(&Sha256::digest(data)[..TRAILER_LEN]);
    t
}

fn fragment_len(key: &mut Authenticator) -> Result<usize, WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    let max = info.max_msg_size.unwrap_or(DEFAULT_MAX_MSG).max(128) - 64;
    Ok(max as usize)
}

/// The key's large-blob array's entries; an array whose trailer does not match reads as empty
/// (CTAP 2.1 §6.10.3: the platform treats it as the initial, empty array).
fn read_entries(key: &mut Authenticator, until: Instant) -> Result<Vec<Cbor>, WebAuthnError> {
    let n = fragment_len(key)?;
    let mut serialized = Vec::new();
    loop {
        let req = LargeBlobsRequest {
            get: Some(n as u64),
            set: None,
            offset: serialized.len() as u64,
            length: None,
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
        };
        let resp: LargeBlobsResponse = key
            .call(command::LARGE_BLOBS, "largeBlobs", &req, Some(until))
            .map_err(|e| super::from_ctap(e, "largeBlobs"))?;
        let part = resp.config.unwrap_or_default();
        let done = part.len() < n;
        serialized.extend_from_slice(&part);
        if done {
            break;
        }
    }
    let Some(split) = serialized.len().checked_sub(TRAILER_LEN) else {
        return Ok(Vec::new());
    };
    let (data, t) = serialized.split_at(split);
    if trailer(data) != t {
        tracing::debug!("the key's large-blob array fails its trailer check; read as empty");
        return Ok(Vec::new());
    }
    match ciborium::from_reader::<Cbor, _>(data) {
        Ok(Cbor::Array(entries)) => Ok(entries),
        _ => Ok(Vec::new()),
    }
}

/// The blob of `entry` if `large_blob_key` opens it.
fn open(entry: &Cbor, large_blob_key: &[u8]) -> Option<Vec<u8>> {
    let Cbor::Map(m) = entry else { return None };
    let field = |k: i64| {
        m.iter()
            .find(|(key, _)| key.as_integer() == Some(k.into()))
            .map(|(_, v)| v)
    };
    let ciphertext = field(1)?.as_bytes()?;
    let nonce: [u8; NONCE_LEN] = field(2)?.as_bytes()?.as_slice().try_into().ok()?;
    let orig_size = u64::try_from(field(3)?.as_integer()?).ok()?;
    let cipher = Aes256Gcm::new_from_slice(large_blob_key).ok()?;
    let compressed = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &associated_data(orig_size),
            },
        )
        .ok()?;
    let mut blob = Vec::new();
    DeflateDecoder::new(compressed.as_slice())
        .take(orig_size.saturating_add(1))
        .read_to_end(&mut blob)
        .ok()?;
    (blob.len() as u64 == orig_size).then_some(blob)
}

fn associated_data(orig_size: u64) -> Vec<u8> {
    let mut ad = b"blob".to_vec();
    ad.extend_from_slice(&orig_size.to_le_bytes());
    ad
}

/// largeBlob.read: the blob stored for the credential whose largeBlobKey this is, if any.
pub fn read(
    key: &mut Authenticator,
    large_blob_key: &[u8],
    until: Instant,
) -> Result<Option<Vec<u8>>, WebAuthnError> {
    Ok(read_entries(key, until)?
        .iter()
        .find_map(|e| open(e, large_blob_key)))
}

fn seal(large_blob_key: &[u8], blob: &[u8]) -> Result<Cbor, WebAuthnError> {
    let mut deflate = DeflateEncoder::new(Vec::new(), Compression::default());
    deflate
        .write_all(blob)
        .map_err(|e| WebAuthnError::unknown(format!("compressing the blob: {e}")))?;
    let compressed = deflate
        .finish()
        .map_err(|e| WebAuthnError::unknown(format!("compressing the blob: {e}")))?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| WebAuthnError::unknown(format!("random: {e}")))?;
    let cipher = Aes256Gcm::new_from_slice(large_blob_key)
        .map_err(|_| WebAuthnError::unknown("the key's largeBlobKey is not 32 bytes"))?;
    let orig_size = blob.len() as u64;
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &compressed,
                aad: &associated_data(orig_size),
            },
        )
        .map_err(|_| WebAuthnError::unknown("encrypting the blob"))?;
    let int = |n: i64| Cbor::Integer(n.into());
    Ok(Cbor::Map(vec![
        (int(1), Cbor::Bytes(ciphertext)),
        (int(2), Cbor::Bytes(nonce.to_vec())),
        (int(3), Cbor::Integer(orig_size.into())),
    ]))
}

/// largeBlob.write: stores `blob` for the credential whose largeBlobKey this is, replacing
/// what it had and keeping the other credentials' entries. `Ok(false)` when the key refused
/// (no lbw token on a protected key, the array over maxSerializedLargeBlobArray).
pub fn write(
    key: &mut Authenticator,
    large_blob_key: &[u8],
    blob: &[u8],
    token: Option<&PinUvToken>,
    until: Instant,
) -> Result<bool, WebAuthnError> {
    let mut entries = read_entries(key, until)?;
    entries.retain(|e| open(e, large_blob_key).is_none());
    entries.push(seal(large_blob_key, blob)?);
    let mut serialized = Vec::new();
    ciborium::into_writer(&Cbor::Array(entries), &mut serialized)
        .map_err(|e| WebAuthnError::unknown(format!("encoding the large-blob array: {e}")))?;
    let t = trailer(&serialized);
    serialized.extend_from_slice(&t);
    let max = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?
        .max_serialized_large_blob_array
        .unwrap_or(0);
    if serialized.len() as u64 > max {
        tracing::debug!(
            len = serialized.len(),
            max,
            "large-blob array too big to write"
        );
        return Ok(false);
    }
    let n = fragment_len(key)?;
    for (i, fragment) in serialized.chunks(n).enumerate() {
        let offset = (i * n) as u64;
        let mut req = LargeBlobsRequest {
            get: None,
            set: Some(fragment.to_vec()),
            offset,
            length: (offset == 0).then_some(serialized.len() as u64),
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
        };
        if let Some(t) = token {
            // authenticate(token, 32×0xff ‖ 0x0c 0x00 ‖ uint32LE(offset) ‖ SHA-256(fragment))
            let mut message = vec![0xff; 32];
            message.extend_from_slice(&[command::LARGE_BLOBS, 0x00]);
            message.extend_from_slice(&(offset as u32).to_le_bytes());
            message.extend_from_slice(&Sha256::digest(fragment));
            req.pin_uv_auth_param = Some(t.authenticate(&message));
            req.pin_uv_auth_protocol = Some(t.protocol());
        }
        // A write is answered with status alone (no response map): the raw call.
        if let Err(e) = key.raw(command::LARGE_BLOBS, &req.to_cbor(), Some(until)) {
            tracing::debug!(error = %e, "the key refused the large-blob write");
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_opens_under_its_key_only() {
        let k1 = [7u8; 32];
        let k2 = [8u8; 32];
        let entry = seal(&k1, b"some data, some data, some data").unwrap();
        assert_eq!(
            open(&entry, &k1).as_deref(),
            Some(&b"some data, some data, some data"[..])
        );
        assert_eq!(open(&entry, &k2), None);
        // The associated data binds origSize: a changed size does not open.
        let Cbor::Map(mut m) = entry else {
            unreachable!()
        };
        m[2].1 = Cbor::Integer(3.into());
        assert_eq!(open(&Cbor::Map(m), &k1), None);
    }

    #[test]
    fn the_initial_array_has_the_specs_trailer() {
        // CTAP 2.1 §6.10.2: the initial array is 0x80 followed by LEFT(SHA-256(0x80), 16).
        assert_eq!(
            trailer(&[0x80]),
            [
                0x76, 0xbe, 0x8b, 0x52, 0x8d, 0x00, 0x75, 0xf7, 0xaa, 0xe9, 0x8d, 0x6f, 0xa5, 0x7a,
                0x6d, 0x3c
            ]
        );
    }
}
