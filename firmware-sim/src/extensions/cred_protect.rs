//! credProtect (CTAP 2.1 §12.1): how much user verification a credential needs to be found.
//!
//! makeCredential `"credProtect": level` stores the level with the credential (in the record of
//! a discoverable one, sealed in the id of a non-discoverable one) and answers with it. Levels:
//! 1 userVerificationOptional (as with no policy), 2 userVerificationOptionalWithCredentialIDList
//! (without user verification, only through an allow list: never discovered), 3
//! userVerificationRequired (only with user verification). getAssertion leaves out the
//! credentials a request may not use, before counting them, and makeCredential's exclude list
//! skips a level-3 credential silently without user verification (never
//! `CTAP2_ERR_CREDENTIAL_EXCLUDED`; a level-2 one is named by the list, so it excludes).
//!
//! A level other than 1–3 is `CTAP1_ERR_INVALID_PARAMETER` and a value that is not an unsigned
//! integer `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`: the specification names no error for either (it
//! only says the policy values), and refusing beats registering a credential with a protection
//! the relying party did not get.

use ciborium::value::Value;

use super::{CheckContext, Extension, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::ctap2::messages::as_uint;
use crate::persist::record::CredentialExtras;
use crate::status::{CtapResult, StatusCode};

/// userVerificationOptionalWithCredentialIDList.
const WITH_CREDENTIAL_ID_LIST: u8 = 2;
/// userVerificationRequired.
const UV_REQUIRED: u8 = 3;

/// credProtect.
pub(crate) struct CredProtect;

/// The level an input asks for.
fn level(input: &Value) -> CtapResult<u8> {
    match as_uint(input)? {
        n @ 1..=3 => Ok(n as u8),
        _ => Err(StatusCode::InvalidParameter),
    }
}

impl Extension for CredProtect {
    fn id(&self) -> &'static str {
        "credProtect"
    }

    fn supported(&self, caps: &Capabilities) -> bool {
        caps.is_ctap21()
    }

    fn check_make_credential(
        &self,
        input: &Value,
        _ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        level(input).map(|_| None)
    }

    fn make_credential(
        &self,
        input: &Value,
        _prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let level = level(input)?;
        ctx.extras.cred_protect = Some(level);
        Ok(Some(Value::Integer(level.into())))
    }

    fn usable(&self, extras: &CredentialExtras, uv: bool, listed: bool) -> bool {
        match extras.cred_protect {
            Some(UV_REQUIRED) => uv,
            Some(WITH_CREDENTIAL_ID_LIST) => uv || listed,
            _ => true,
        }
    }
}
