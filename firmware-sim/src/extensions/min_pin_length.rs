//! minPinLength (CTAP 2.1 §12.4): tells the relying parties an enterprise allowed (the
//! minPinLengthRPIDs set by authenticatorConfig setMinPINLength) the key's minimum PIN length.
//!
//! makeCredential `"minPinLength": true` answers `"minPinLength": <current minPINLength>` in the
//! authenticator data when the request's RP ID is in that list, and nothing otherwise (the
//! input is still checked: a non-boolean is `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`). Supported by keys
//! that claim setMinPINLength; getInfo reports `maxRPIDsForSetMinPINLength`.

use ciborium::value::Value;

use super::{CheckContext, Extension, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::cbor;
use crate::pin::state::MAX_MIN_PIN_LENGTH_RP_IDS;
use crate::status::CtapResult;

/// minPinLength.
pub(crate) struct MinPinLength;

impl Extension for MinPinLength {
    fn id(&self) -> &'static str {
        "minPinLength"
    }

    fn supported(&self, caps: &Capabilities) -> bool {
        caps.set_min_pin_length
    }

    fn limits(&self, caps: &mut Capabilities) {
        caps.max_rp_ids_for_set_min_pin_length = Some(MAX_MIN_PIN_LENGTH_RP_IDS);
    }

    fn check_make_credential(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        cbor::as_bool(input)?;
        Ok(None)
    }

    fn make_credential(
        &self,
        input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        if input != &Value::Bool(true) {
            return Ok(None);
        }
        Ok(ctx
            .pin_state
            .filter(|s| s.min_pin_length_rp_ids.iter().any(|r| r == ctx.rp_id))
            .map(|s| Value::Integer(s.min_pin_length.into())))
    }
}
