//! Authentication: navigator.credentials.get() for a roaming authenticator (WebAuthn L3
//! §5.1.4, with the CTAP 2.1 §6.2 platform steps): the allow list probed in batches when it is
//! longer than the key takes, user verification as asked, getAssertion.

use firmware_sim::ctap2::AuthenticatorData;
use firmware_sim::ctap2::messages::{
    CredentialDescriptor, GetAssertionRequest, GetAssertionResponse, permission,
};
use firmware_sim::ctap2_command as command;
use serde_json::{Value, json};
use std::time::Instant;

use super::client_data::{CeremonyType, client_data_hash, client_data_json};
use super::extensions::{Get, LargeBlobOp};
use super::large_blob;
use super::options::{self, RequestOptions, UserVerification, b64};
use super::register::{list_limits, probe};
use super::response::{AssertionResponseJson, CredentialJson, encode};
use super::uv::{self, UvPlan};
use super::{WebAuthnError, deadline, from_ctap};
use crate::fido::ctap2::Authenticator;
use crate::fido::pin::PinUvToken;

/// navigator.credentials.get({publicKey}) on `key` for a page at `origin`, with `pin` for user
/// verification when the key has one: AuthenticationResponseJSON.
pub fn authenticate(
    key: &mut Authenticator,
    origin: &str,
    options_json: &Value,
    pin: Option<&str>,
) -> Result<Value, WebAuthnError> {
    let o: RequestOptions = options::parse(options_json)?;
    let caller = super::origin::parse_origin(origin)?;
    let rp_id = super::origin::rp_id_for(&caller, o.rp_id.as_deref())?;
    let challenge = b64("challenge", &o.challenge)?;
    let allow = options::credential_ids(&o.allow_credentials, "allowCredentials[].id")?;
    if !o.allow_credentials.is_empty() && allow.is_empty() {
        return Err(WebAuthnError::not_allowed(
            "allowCredentials holds no public-key credential",
        ));
    }
    let until = deadline(o.timeout);
    let client_data = client_data_json(CeremonyType::Get, &challenge, &caller.serialized);
    let cdh = client_data_hash(&client_data);
    let wanted = UserVerification::from_member(o.user_verification.as_deref());
    let demands = uv::get_assertion_demands_uv(key)?;
    // A largeBlob write needs a token with the lbw permission, and a protected key (a PIN or built-in UV) takes no write without
    // one (CTAP 2.1 §6.10.4), so the write makes user verification required there.
    let (permissions, wanted) = if Get::asks_large_blob_write(key, o.extensions.as_ref())? {
        let protected = uv::protected(key)?;
        let wanted = if protected {
            UserVerification::Required
        } else {
            wanted
        };
        (permission::GA | permission::LBW, wanted)
    } else {
        (permission::GA, wanted)
    };
    let plan = uv::plan(key, wanted, pin, permissions, &rp_id, demands, until)?;
    // A list longer than the key takes is probed batch by batch; the batch that holds a
    // credential is sent.
    let (count, _) = list_limits(key)?;
    let allow = if allow.len() > count || allow.iter().any(|id| id.len() > max_len(key)) {
        match probe(key, &rp_id, &allow, &cdh, &plan)? {
            Some(batch) => batch,
            None => {
                return Err(WebAuthnError::not_allowed(
                    "the key holds none of the credentials in allowCredentials",
                ));
            }
        }
    } else {
        allow
    };
    let extensions = Get::prepare(key, o.extensions.as_ref(), &allow)?;
    let mut req = GetAssertionRequest::new(&rp_id, &cdh);
    if !allow.is_empty() {
        req.allow_list = Some(
            allow
                .iter()
                .map(|id| CredentialDescriptor::public_key(id))
                .collect(),
        );
    }
    req.extensions = extensions.ctap_inputs();
    match &plan {
        UvPlan::Token(t) => {
            req.pin_uv_auth_param = Some(t.authenticate(&cdh));
            req.pin_uv_auth_protocol = Some(t.protocol());
        }
        UvPlan::Option => req.options.uv = Some(true),
        UvPlan::Nothing => {}
    }
    let resp: GetAssertionResponse = key
        .call(command::GET_ASSERTION, "getAssertion", &req, Some(until))
        .map_err(|e| from_ctap(e, "getAssertion"))?;
    // Several discoverable credentials: a browser lets the user pick an account; headless,
    // the first (the key's most recent) is taken.
    let auth_data = AuthenticatorData::parse(&resp.auth_data)
        .map_err(|e| WebAuthnError::unknown(format!("the key's authenticator data: {e}")))?;
    let body = AssertionResponseJson {
        client_data_json: encode(&client_data),
        authenticator_data: encode(&resp.auth_data),
        signature: encode(&resp.signature),
        user_handle: resp
            .user
            .as_ref()
            .filter(|u| !u.id.is_empty())
            .map(|u| encode(&u.id)),
    };
    let mut ext_out = extensions.outputs(auth_data.extensions.as_ref());
    if let Some(op) = extensions.large_blob() {
        let token = match &plan {
            UvPlan::Token(t) => Some(t),
            _ => None,
        };
        let out = large_blob_output(key, op, resp.large_blob_key.as_deref(), token, until)?;
        ext_out.insert("largeBlob".into(), out);
    }
    let json = CredentialJson::new(&resp.credential.id, body, ext_out);
    serde_json::to_value(json).map_err(|e| WebAuthnError::unknown(e.to_string()))
}

/// The largeBlob output of an assertion: the blob read (`{}` when there is none) or whether
/// the write went through.
fn large_blob_output(
    key: &mut Authenticator,
    op: &LargeBlobOp,
    large_blob_key: Option<&[u8]>,
    token: Option<&PinUvToken>,
    until: Instant,
) -> Result<Value, WebAuthnError> {
    // A credential made without largeBlobKey (or not discoverable) has none: nothing to read,
    // nowhere to write.
    let Some(lbk) = large_blob_key else {
        return Ok(match op {
            LargeBlobOp::Read => json!({}),
            LargeBlobOp::Write(_) => json!({ "written": false }),
        });
    };
    Ok(match op {
        LargeBlobOp::Read => match large_blob::read(key, lbk, until)? {
            Some(blob) => json!({ "blob": encode(&blob) }),
            None => json!({}),
        },
        LargeBlobOp::Write(blob) => {
            json!({ "written": large_blob::write(key, lbk, blob, token, until)? })
        }
    })
}

fn max_len(key: &mut Authenticator) -> usize {
    list_limits(key).map(|(_, l)| l).unwrap_or(usize::MAX)
}
