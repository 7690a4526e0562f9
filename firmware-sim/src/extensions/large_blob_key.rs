//! largeBlobKey (CTAP 2.1 §12.3): a random 32-byte key per discoverable credential, returned
//! outside the authenticator data (makeCredential member 0x05, getAssertion member 0x07), with
//! which the platform encrypts the credential's entry in the large-blob array
//! (authenticatorLargeBlobs). Supported only by keys that serve authenticatorLargeBlobs.

use ciborium::value::Value;
use zeroize::Zeroizing;

use super::{CheckContext, Extension, GaContext, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::cbor;
use crate::persist::record::CRED_SECRET_LEN;
use crate::status::{CtapResult, StatusCode};

/// The largeBlobKey extension.
pub(crate) struct LargeBlobKey;

/// The only input is `true`: `false` is `CTAP2_ERR_INVALID_OPTION`, another type
/// `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
fn check_input(input: &Value) -> CtapResult<()> {
    if cbor::as_bool(input)? {
        Ok(())
    } else {
        Err(StatusCode::InvalidOption)
    }
}

impl Extension for LargeBlobKey {
    fn id(&self) -> &'static str {
        "largeBlobKey"
    }

    fn supported(&self, caps: &Capabilities) -> bool {
        caps.large_blobs
    }

    /// A largeBlobKey belongs to a discoverable credential: asked for a non-discoverable one, it
    /// is `CTAP2_ERR_INVALID_OPTION` (as Chromium's virtual authenticator answers; OpenSK
    /// ignores the input instead), before the user is asked.
    fn check_make_credential(
        &self,
        input: &Value,
        ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        check_input(input)?;
        if ctx.resident {
            Ok(None)
        } else {
            Err(StatusCode::InvalidOption)
        }
    }

    fn make_credential(
        &self,
        _input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let mut key = Zeroizing::new([0u8; CRED_SECRET_LEN]);
        ctx.rng.fill_bytes(key.as_mut());
        ctx.members.large_blob_key = Some(key.clone());
        ctx.extras.large_blob_key = Some(key);
        // The key is a member of the response, not an authenticator-data output.
        Ok(None)
    }

    fn check_get_assertion(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        check_input(input).map(|()| None)
    }

    fn get_assertion(
        &self,
        _input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut GaContext<'_>,
    ) -> CtapResult<Option<Value>> {
        // Credentials made without the extension (and non-discoverable ones) have none.
        ctx.members.large_blob_key = ctx.extras.large_blob_key.clone();
        Ok(None)
    }
}
