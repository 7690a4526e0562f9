//! hmac-secret-mc (CTAP 2.2 §12.8): hmac-secret's outputs at registration, so a platform gets
//! WebAuthn prf results from `create()` without a second ceremony.
//!
//! The input is hmac-secret's getAssertion input (`{1: keyAgreement, 2: saltEnc, 3: saltAuth,
//! 4: pinUvAuthProtocol}`), sent beside `"hmac-secret": true`; the output, in the
//! makeCredential authenticator data, is hmac-secret's getAssertion output computed with the new
//! credential's CredRandom of the response's "uv" bit, so a later getAssertion with the same
//! salts and the same verification gives the same secret. Without `"hmac-secret": true` in the
//! same request the input is `CTAP2_ERR_MISSING_PARAMETER`; its other errors are
//! hmac-secret's. The key claims the identifier in getInfo exactly when it supports hmac-secret;
//! the protocol level it reports stays FIDO_2_1 (a 2.1 key may implement a later extension).

use ciborium::value::Value;

use super::hmac_secret::{self, SaltRequest};
use super::{CheckContext, Extension, McContext, Prepared};
use crate::capabilities::model::Capabilities;
use crate::status::{CtapResult, StatusCode};

/// hmac-secret-mc.
pub(crate) struct HmacSecretMc;

impl Extension for HmacSecretMc {
    fn id(&self) -> &'static str {
        "hmac-secret-mc"
    }

    fn supported(&self, caps: &Capabilities) -> bool {
        hmac_secret::HmacSecret.supported(caps)
    }

    fn check_make_credential(
        &self,
        input: &Value,
        ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        if ctx.inputs.get(hmac_secret::ID) != Some(&Value::Bool(true)) {
            return Err(StatusCode::MissingParameter);
        }
        SaltRequest::read(input, ctx).map(|s| Some(Prepared::Salts(s)))
    }

    fn make_credential(
        &self,
        _input: &Value,
        prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let Some(Prepared::Salts(salts)) = prepared else {
            return Err(StatusCode::Other);
        };
        // hmac-secret's `new_credential` has run: a discoverable credential has its values.
        let cred_random = hmac_secret::cred_random(ctx.extras, ctx.key, ctx.cred_random, ctx.uv);
        salts.output(&cred_random, ctx.rng).map(Some)
    }
}
