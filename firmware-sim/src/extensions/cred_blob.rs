//! credBlob (CTAP 2.1 §12.2): a few bytes a relying party stores with a credential and reads
//! back at sign-in.
//!
//! makeCredential `"credBlob": bytes` stores them with the credential when they are at most
//! `maxCredBlobLength` ([`MAX_CRED_BLOB_LEN`], reported in getInfo) and answers
//! `"credBlob": true`; a longer blob is not stored and the answer is `false`. A discoverable
//! credential keeps its blob in its record, a non-discoverable one sealed in its id (version 2,
//! `credential::id`). getAssertion `"credBlob": true` answers with the stored blob, or an empty
//! byte string when there is none.

use ciborium::value::Value;

use super::{CheckContext, Extension, GaContext, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::cbor;
use crate::credential::id;
use crate::status::CtapResult;

/// The longest credBlob a credential stores (the specification's minimum for
/// `maxCredBlobLength`, and what a sealed id has room for).
pub(crate) const MAX_CRED_BLOB_LEN: usize = id::MAX_SEALED_BLOB_LEN;

/// credBlob.
pub(crate) struct CredBlob;

impl Extension for CredBlob {
    fn id(&self) -> &'static str {
        "credBlob"
    }

    fn supported(&self, caps: &Capabilities) -> bool {
        caps.is_ctap21()
    }

    fn limits(&self, caps: &mut Capabilities) {
        caps.max_cred_blob_length = Some(MAX_CRED_BLOB_LEN);
    }

    fn check_make_credential(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        cbor::as_bytes(input)?;
        Ok(None)
    }

    fn make_credential(
        &self,
        input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let blob = cbor::as_bytes(input)?;
        let stored = blob.len() <= MAX_CRED_BLOB_LEN;
        if stored {
            ctx.extras.cred_blob = Some(blob.to_vec());
        }
        Ok(Some(Value::Bool(stored)))
    }

    fn check_get_assertion(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        cbor::as_bool(input)?;
        Ok(None)
    }

    fn get_assertion(
        &self,
        input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut GaContext<'_>,
    ) -> CtapResult<Option<Value>> {
        Ok((input == &Value::Bool(true))
            .then(|| Value::Bytes(ctx.extras.cred_blob.clone().unwrap_or_default())))
    }
}
