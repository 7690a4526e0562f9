//! Registration: navigator.credentials.create() for a roaming authenticator (WebAuthn L3
//! §5.1.3, with the CTAP 2.1 §6.1 platform steps): options and origin checked before anything
//! is sent, excludeCredentials probed silently, user verification as asked, makeCredential,
//! and the attestation conveyed as the RP asked.

use std::time::Instant;

use ciborium::value::Value as Cbor;
use firmware_sim::cbor;
use firmware_sim::credential::UserEntity;
use firmware_sim::ctap2::AuthenticatorData;
use firmware_sim::ctap2::messages::{
    CredentialDescriptor, GetAssertionRequest, MakeCredentialRequest, MakeCredentialResponse,
    PubKeyCredParam, RpEntity, permission,
};
use firmware_sim::ctap2_command as command;
use serde_json::Value;

use super::client_data::{CeremonyType, client_data_hash, client_data_json};
use super::extensions::Create;
use super::options::{self, CreationOptions, UserVerification, b64};
use super::response::{self, AttestationResponseJson, CredentialJson, encode};
use super::uv::{self, UvPlan};
use super::{WebAuthnError, deadline, from_ctap};
use crate::fido::ctap2::Authenticator;

/// The checked request, before the authenticator is touched.
struct Prepared {
    rp_id: String,
    rp_name: String,
    origin: String,
    challenge: Vec<u8>,
    user: UserEntity,
    params: Vec<PubKeyCredParam>,
    exclude: Vec<Vec<u8>>,
}

/// Steps 1–11 of [[Create]]: every check a browser makes before it talks to an authenticator.
fn prepare(origin: &str, o: &CreationOptions) -> Result<Prepared, WebAuthnError> {
    let caller = super::origin::parse_origin(origin)?;
    let rp_id = super::origin::rp_id_for(&caller, o.rp.id.as_deref())?;
    let user_id = b64("user.id", &o.user.id)?;
    if user_id.is_empty() || user_id.len() > 64 {
        return Err(WebAuthnError::type_error(format!(
            "user.id is {} bytes; it must be 1 to 64",
            user_id.len()
        )));
    }
    let challenge = b64("challenge", &o.challenge)?;
    let mut params: Vec<PubKeyCredParam> = o
        .pub_key_cred_params
        .iter()
        .filter(|p| p.kind == "public-key")
        .map(|p| PubKeyCredParam::public_key(p.alg))
        .collect();
    if o.pub_key_cred_params.is_empty() {
        // L3 step 10: an empty list means ES256 and RS256.
        params = vec![
            PubKeyCredParam::public_key(-7),
            PubKeyCredParam::public_key(-257),
        ];
    } else if params.is_empty() {
        return Err(WebAuthnError::not_supported(
            "pubKeyCredParams names no credential type this client knows (use \"public-key\")",
        ));
    }
    if let Some(sel) = &o.authenticator_selection
        && sel.authenticator_attachment.as_deref() == Some("platform")
    {
        return Err(WebAuthnError::not_allowed(
            "authenticatorAttachment \"platform\": authsim's keys are roaming (cross-platform) authenticators",
        ));
    }
    Ok(Prepared {
        rp_id,
        rp_name: o.rp.name.clone(),
        origin: caller.serialized,
        challenge,
        user: UserEntity {
            id: user_id,
            name: Some(o.user.name.clone()),
            display_name: Some(o.user.display_name.clone()),
        },
        params,
        exclude: options::credential_ids(&o.exclude_credentials, "excludeCredentials[].id")?,
    })
}

/// residentKey → whether to ask for a discoverable credential (L3 step 19.8).
fn wants_rk(o: &CreationOptions, key: &mut Authenticator) -> Result<bool, WebAuthnError> {
    let sel = o.authenticator_selection.clone().unwrap_or_default();
    let requirement = match sel.resident_key.as_deref() {
        Some(r @ ("required" | "preferred" | "discouraged")) => r.to_owned(),
        _ if sel.require_resident_key => "required".to_owned(),
        _ => "discouraged".to_owned(),
    };
    let can = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?
        .option("rk")
        == Some(true);
    match requirement.as_str() {
        "required" if !can => Err(WebAuthnError::constraint(
            "residentKey is required, and this key cannot store discoverable credentials",
        )),
        "required" => Ok(true),
        "preferred" => Ok(can),
        _ => Ok(false),
    }
}

/// The key's limits for credential lists: how many ids per request, and the longest id.
pub(super) fn list_limits(key: &mut Authenticator) -> Result<(usize, usize), WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    let count = info.max_credential_count_in_list.unwrap_or(1).max(1);
    let len = info.max_credential_id_length.unwrap_or(u64::MAX);
    Ok((
        usize::try_from(count).unwrap_or(usize::MAX),
        usize::try_from(len).unwrap_or(usize::MAX),
    ))
}

/// Probes `ids` in batches with getAssertion(up=false), as browsers do before a registration or
/// an authentication with a long list: the first batch holding a credential of `rp_id`, if any.
pub(super) fn probe(
    key: &mut Authenticator,
    rp_id: &str,
    ids: &[Vec<u8>],
    cdh: &[u8; 32],
    token: &UvPlan,
) -> Result<Option<Vec<Vec<u8>>>, WebAuthnError> {
    let (count, max_len) = list_limits(key)?;
    let usable: Vec<&Vec<u8>> = ids.iter().filter(|id| id.len() <= max_len).collect();
    for batch in usable.chunks(count) {
        let mut req = GetAssertionRequest::new(rp_id, cdh);
        req.allow_list = Some(
            batch
                .iter()
                .map(|id| CredentialDescriptor::public_key(id))
                .collect(),
        );
        req.options.up = Some(false);
        if let UvPlan::Token(t) = token {
            req.pin_uv_auth_param = Some(t.authenticate(cdh));
            req.pin_uv_auth_protocol = Some(t.protocol());
        }
        match key.raw(
            command::GET_ASSERTION,
            &firmware_sim::ctap2::messages::Message::to_cbor(&req),
            None,
        ) {
            Ok(_) => return Ok(Some(batch.iter().map(|id| id.to_vec()).collect())),
            Err(e) if e.is(firmware_sim::StatusCode::NoCredentials) => {}
            Err(e) => return Err(from_ctap(e, "probing the credential list")),
        }
    }
    Ok(None)
}

/// The attestation object, with the conveyance preference applied (L3 step 22.SUCCESS.3):
/// `none` replaces a statement that is not self attestation with fmt "none" and an empty
/// attStmt (L3 keeps the AAGUID, which Level 2 zeroed); the others pass it on unaltered
/// (`indirect` may anonymize; this client does not); `enterprise` is never granted (no
/// enterprise policy lists an rp id), so it conveys what the key made, as `direct`.
fn attestation_object(
    resp: &MakeCredentialResponse,
    conveyance: &str,
    aaguid: &[u8; 16],
) -> Vec<u8> {
    let x5c = matches!(&resp.att_stmt, Cbor::Map(m) if m.iter().any(|(k, _)| k == &Cbor::Text("x5c".into())));
    let self_attestation = resp.fmt == "packed" && !x5c && aaguid == &[0u8; 16];
    let (fmt, att_stmt) = if conveyance == "none" && !self_attestation {
        ("none".to_owned(), Cbor::Map(vec![]))
    } else {
        (resp.fmt.clone(), resp.att_stmt.clone())
    };
    cbor::encode(&Cbor::Map(vec![
        (Cbor::Text("fmt".into()), Cbor::Text(fmt)),
        (Cbor::Text("attStmt".into()), att_stmt),
        (
            Cbor::Text("authData".into()),
            Cbor::Bytes(resp.auth_data.clone()),
        ),
    ]))
}

/// navigator.credentials.create({publicKey}) on `key` for a page at `origin`, with `pin` for
/// user verification when the key has one: RegistrationResponseJSON.
pub fn register(
    key: &mut Authenticator,
    origin: &str,
    options_json: &Value,
    pin: Option<&str>,
) -> Result<Value, WebAuthnError> {
    let o: CreationOptions = options::parse(options_json)?;
    let p = prepare(origin, &o)?;
    let until = deadline(o.timeout);
    let client_data = client_data_json(CeremonyType::Create, &p.challenge, &p.origin);
    let cdh = client_data_hash(&client_data);
    let rk = wants_rk(&o, key)?;
    let wanted = UserVerification::from_member(
        o.authenticator_selection
            .as_ref()
            .and_then(|s| s.user_verification.as_deref()),
    );
    let extensions = Create::prepare(key, o.extensions.as_ref(), rk)?;
    let permissions = permission::MC
        | if p.exclude.is_empty() {
            0
        } else {
            permission::GA
        };
    let demands = uv::make_credential_demands_uv(key, rk)?;
    let plan = uv::plan(key, wanted, pin, permissions, &p.rp_id, demands, until)?;
    let exclude = if p.exclude.is_empty() {
        None
    } else {
        probe(key, &p.rp_id, &p.exclude, &cdh, &plan)?
    };
    let resp = make_credential(key, &p, &cdh, rk, &plan, &extensions, exclude, until)?;
    let auth_data = AuthenticatorData::parse(&resp.auth_data)
        .map_err(|e| WebAuthnError::unknown(format!("the key's authenticator data: {e}")))?;
    let attested = auth_data
        .attested
        .as_ref()
        .ok_or_else(|| WebAuthnError::unknown("the key returned no attested credential data"))?;
    let conveyance = o.attestation.as_deref().unwrap_or("none");
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    let transports = response::transports(
        info.transports
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| vec!["usb".to_owned()]),
    );
    let alg = response::cose_alg(&attested.public_key)
        .ok_or_else(|| WebAuthnError::unknown("the credential public key has no algorithm"))?;
    let body = AttestationResponseJson {
        client_data_json: encode(&client_data),
        authenticator_data: encode(&resp.auth_data),
        transports,
        public_key: response::spki(&attested.public_key).map(|d| encode(&d)),
        public_key_algorithm: alg,
        attestation_object: encode(&attestation_object(&resp, conveyance, &attested.aaguid)),
    };
    let ext_out = extensions.outputs(
        auth_data.extensions.as_ref(),
        rk,
        resp.large_blob_key.is_some(),
    );
    let json = CredentialJson::new(&attested.credential_id, body, ext_out);
    serde_json::to_value(json).map_err(|e| WebAuthnError::unknown(e.to_string()))
}

/// authenticatorMakeCredential itself; an excluded credential found by the probe is sent as the
/// exclude list, so the key asks for the touch and answers CREDENTIAL_EXCLUDED
/// (InvalidStateError), as a browser lets it.
#[allow(clippy::too_many_arguments)]
fn make_credential(
    key: &mut Authenticator,
    p: &Prepared,
    cdh: &[u8; 32],
    rk: bool,
    plan: &UvPlan,
    extensions: &Create,
    exclude: Option<Vec<Vec<u8>>>,
    until: Instant,
) -> Result<MakeCredentialResponse, WebAuthnError> {
    let mut req = MakeCredentialRequest::new(
        cdh,
        RpEntity {
            id: p.rp_id.clone(),
            name: Some(p.rp_name.clone()),
            icon: None,
        },
        p.user.clone(),
        p.params.clone(),
    );
    req.exclude_list = exclude.map(|ids| {
        ids.iter()
            .map(|id| CredentialDescriptor::public_key(id))
            .collect()
    });
    req.extensions = extensions.ctap_inputs();
    if rk {
        req.options.rk = Some(true);
    }
    match plan {
        UvPlan::Token(t) => {
            req.pin_uv_auth_param = Some(t.authenticate(cdh));
            req.pin_uv_auth_protocol = Some(t.protocol());
        }
        UvPlan::Option => req.options.uv = Some(true),
        UvPlan::Nothing => {}
    }
    let excluded = req.exclude_list.is_some();
    let r = key.call(
        command::MAKE_CREDENTIAL,
        "makeCredential",
        &req,
        Some(until),
    );
    match r {
        Ok(resp) if excluded => {
            // The probe found a credential, yet the key made a new one: say so plainly.
            drop(resp);
            Err(WebAuthnError::unknown(
                "the key made a credential although one in excludeCredentials was found",
            ))
        }
        Ok(resp) => Ok(resp),
        Err(e) => Err(from_ctap(e, "makeCredential")),
    }
}
