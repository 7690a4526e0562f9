//! authenticatorLargeBlobs (0x0C, CTAP 2.1 §6.10): the serialized large-blob array, read in
//! fragments by anyone and written in fragments with a pinUvAuthToken holding the lbw permission
//! (when the key is protected by user verification or alwaysUv is on).
//!
//! The array is a CBOR array followed by LEFT(SHA-256(array), 16). A write is staged in RAM and
//! reaches the store in one commit, only when its last fragment has arrived and the trailer
//! checks out: the store holds the old array or the new one, never a part. A write that is
//! abandoned (a new one starts at offset 0, the power goes, the key is reset) is discarded.
//! No stored array means the initial one, the empty CBOR array `0x80` and its trailer, so a reset
//! restores it by deleting the record.

use ciborium::value::Value;
use sha2::{Digest, Sha256};

use super::Authenticator;
use super::messages::{LargeBlobsRequest, LargeBlobsResponse, Message, permission};
use super::pin_uv;
use crate::ctaphid::MAX_MESSAGE_LEN;
use crate::env::{Env, WriteBatch};
use crate::persist::{self, KEY_LARGE_BLOB_ARRAY, NS_META};
use crate::status::{CtapResult, StatusCode};

/// The length of the truncated SHA-256 that ends a serialized large-blob array.
const TRAILER_LEN: usize = 16;
/// The shortest serialized array: a one-byte CBOR array and its trailer.
const MIN_ARRAY_LEN: usize = 1 + TRAILER_LEN;
/// The most bytes one get or set may carry (maxMsgSize − 64).
pub(crate) const MAX_FRAGMENT_LEN: usize = MAX_MESSAGE_LEN - 64;

/// A write in progress: the fragments so far, and the length announced by the first one.
/// (The array holds what platforms encrypted with largeBlobKeys: no secret of the key's.)
#[derive(Debug, Default)]
pub(crate) struct PendingWrite {
    buffer: Vec<u8>,
    expected_len: usize,
}

/// The initial serialized large-blob array: an empty CBOR array and its trailer.
pub(crate) fn initial_array() -> Vec<u8> {
    let mut array = vec![0x80];
    array.extend_from_slice(&Sha256::digest([0x80])[..TRAILER_LEN]);
    array
}

/// Whether `bytes` is a serialized array with a matching trailer (the content is the
/// platform's business; only the trailer is the authenticator's).
pub(crate) fn trailer_matches(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_ARRAY_LEN && {
        let (data, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        Sha256::digest(data)[..TRAILER_LEN] == *trailer
    }
}

/// The stored serialized array (the initial one when none was written).
fn stored_array(env: &mut Env<'_>) -> CtapResult<Vec<u8>> {
    Ok(persist::get(env, NS_META, KEY_LARGE_BLOB_ARRAY)?.unwrap_or_else(initial_array))
}

/// Processes one authenticatorLargeBlobs request.
pub(crate) fn process(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    params: &[u8],
) -> CtapResult<Option<Value>> {
    let req = LargeBlobsRequest::from_cbor(params)?;
    match (req.get, &req.set) {
        (Some(get), None) => read(env, &req, get).map(|r| Some(r.to_value())),
        (None, Some(set)) => write(auth, env, &req, set).map(|()| None),
        // Exactly one of get and set.
        _ => Err(StatusCode::InvalidParameter),
    }
}

/// Reading (§6.10.2): up to `get` bytes of the stored array from `offset`.
fn read(env: &mut Env<'_>, req: &LargeBlobsRequest, get: u64) -> CtapResult<LargeBlobsResponse> {
    if req.length.is_some() {
        return Err(StatusCode::InvalidParameter);
    }
    if req.pin_uv_auth_param.is_some() || req.pin_uv_auth_protocol.is_some() {
        return Err(StatusCode::InvalidParameter);
    }
    if get > MAX_FRAGMENT_LEN as u64 {
        return Err(StatusCode::InvalidLength);
    }
    let array = stored_array(env)?;
    let offset = usize::try_from(req.offset)
        .ok()
        .filter(|&o| o <= array.len())
        .ok_or(StatusCode::InvalidParameter)?;
    // `get` is at most MAX_FRAGMENT_LEN, so it fits.
    let end = array.len().min(offset + get as usize);
    Ok(LargeBlobsResponse {
        config: Some(array[offset..end].to_vec()),
    })
}

/// Writing (§6.10.3): one fragment at `offset`; the last one commits the whole array.
///
/// The specification resets the expected length and offset at step 2 for a first fragment even
/// if a later step refuses it; here nothing of a refused fragment is kept (the same status
/// codes, in the same order), so a refusal changes nothing, not even a write in progress.
fn write(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &LargeBlobsRequest,
    fragment: &[u8],
) -> CtapResult<()> {
    if fragment.len() > MAX_FRAGMENT_LEN {
        return Err(StatusCode::InvalidLength);
    }
    let max = auth.caps.max_serialized_large_blob_array;
    // Step 2: a first fragment announces the length; others must not.
    let expected_len = if req.offset == 0 {
        let length = req.length.ok_or(StatusCode::InvalidParameter)?;
        if length > max as u64 {
            return Err(StatusCode::LargeBlobStorageFull);
        }
        if length < MIN_ARRAY_LEN as u64 {
            return Err(StatusCode::InvalidParameter);
        }
        // At most `max`, so it fits.
        length as usize
    } else {
        if req.length.is_some() {
            return Err(StatusCode::InvalidParameter);
        }
        // Step 4: fragments arrive in order.
        let pending = auth.large_blob.as_ref().ok_or(StatusCode::InvalidSeq)?;
        if req.offset != pending.buffer.len() as u64 {
            return Err(StatusCode::InvalidSeq);
        }
        pending.expected_len
    };
    // Step 5: a key protected by user verification (or under alwaysUv) takes only authorised
    // fragments.
    let protection = pin_uv::protection(auth, env)?;
    if protection.protected || protection.always_uv {
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PuatRequired)?;
        // The offset is at most the announced length, itself at most `max`.
        let offset = u32::try_from(req.offset).map_err(|_| StatusCode::InvalidParameter)?;
        let mut message = vec![0xFF; 32];
        message.extend_from_slice(&[0x0C, 0x00]);
        message.extend_from_slice(&offset.to_le_bytes());
        message.extend_from_slice(&Sha256::digest(fragment));
        pin_uv::verify_command_token(
            auth,
            env,
            req.pin_uv_auth_protocol,
            param,
            &message,
            permission::LBW,
        )?;
    }
    // Step 6: the fragment must fit the announced length.
    if req.offset as usize + fragment.len() > expected_len {
        return Err(StatusCode::InvalidParameter);
    }
    // Steps 7–8: the fragment is accepted.
    let pending = if req.offset == 0 {
        auth.large_blob.insert(PendingWrite {
            buffer: Vec::with_capacity(expected_len),
            expected_len,
        })
    } else {
        auth.large_blob.as_mut().ok_or(StatusCode::InvalidSeq)?
    };
    pending.buffer.extend_from_slice(fragment);
    if pending.buffer.len() < expected_len {
        return Ok(());
    }
    // Step 9: complete. The write is over whatever happens now.
    let Some(complete) = auth.large_blob.take() else {
        return Err(StatusCode::Other);
    };
    if !trailer_matches(&complete.buffer) {
        return Err(StatusCode::IntegrityFailure);
    }
    let mut batch = WriteBatch::new();
    batch.put(NS_META, KEY_LARGE_BLOB_ARRAY, complete.buffer);
    persist::commit(env, &batch)
}
