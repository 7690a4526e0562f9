//! authenticatorMakeCredential (0x01): register a new credential.

use ciborium::value::Value;

use super::{
    Authenticator, Continuation, Wait, check_pin_uv_auth, client_data_hash, decode_params,
    find_listed, parse_descriptor, parse_options, rp_id_hash, stored_infos,
};
use crate::attestation;
use crate::cbor::{self, MapView};
use crate::credential::id;
use crate::credential::user::truncate_utf8;
use crate::credential::{Algorithm, PrivateKey, UserEntity, counter};
use crate::env::{Env, PresencePurpose, WriteBatch};
use crate::persist::record::{CredentialExtras, RESIDENT_ID_LEN, ResidentCredential};
use crate::persist::{self, NS_COUNTERS, NS_RESIDENT, counter_key};
use crate::status::{CtapResult, StatusCode};

/// authData flag bits (WebAuthn §6.1).
pub(crate) const FLAG_UP: u8 = 0x01;
/// User verified.
pub(crate) const FLAG_UV: u8 = 0x04;
/// Attested credential data included.
pub(crate) const FLAG_AT: u8 = 0x40;

/// Longest user handle (WebAuthn: at most 64 bytes).
const MAX_USER_ID_LEN: usize = 64;
/// Stored user names are cut to this many bytes (CTAP 2.1 allows truncation to 64).
const MAX_NAME_LEN: usize = 64;

/// A validated request waiting for the user.
#[derive(Debug)]
pub(crate) struct Plan {
    rp_id: String,
    rp_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    user: UserEntity,
    alg: Algorithm,
    resident: bool,
    uv: bool,
}

impl Plan {
    /// Whether built-in user verification was requested.
    pub(crate) fn uv(&self) -> bool {
        self.uv
    }
}

fn optional_text(map: &MapView<'_>, key: &str) -> CtapResult<Option<String>> {
    map.text_key(key)
        .map(|v| cbor::as_text(v).map(str::to_owned))
        .transpose()
}

/// Validates the request (CTAP 2.1 §6.1.2 steps 1–12) and asks for the user.
pub(crate) fn begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    params: &[u8],
) -> CtapResult<Wait> {
    let value = decode_params(params)?;
    let map = MapView::new(&value)?;

    // Parameter presence and types.
    let client_data_hash = client_data_hash(&map, 0x01)?;
    let rp = MapView::new(map.int_key(0x02).ok_or(StatusCode::MissingParameter)?)?;
    let rp_id = cbor::as_text(rp.text_key("id").ok_or(StatusCode::MissingParameter)?)?.to_owned();
    optional_text(&rp, "name")?;
    optional_text(&rp, "icon")?;
    let user_map = MapView::new(map.int_key(0x03).ok_or(StatusCode::MissingParameter)?)?;
    let user_id = cbor::as_bytes(
        user_map
            .text_key("id")
            .ok_or(StatusCode::MissingParameter)?,
    )?;
    if user_id.len() > MAX_USER_ID_LEN {
        return Err(StatusCode::InvalidLength);
    }
    let user = UserEntity {
        id: user_id.to_vec(),
        name: optional_text(&user_map, "name")?.map(|s| truncate_utf8(&s, MAX_NAME_LEN)),
        display_name: optional_text(&user_map, "displayName")?
            .map(|s| truncate_utf8(&s, MAX_NAME_LEN)),
    };
    optional_text(&user_map, "icon")?;
    let cred_params = cbor::as_array(map.int_key(0x04).ok_or(StatusCode::MissingParameter)?)?;
    let exclude_list = map.int_key(0x05).map(cbor::as_array).transpose()?;
    if let Some(ext) = map.int_key(0x06) {
        // No extension is implemented; unknown extensions are ignored.
        MapView::new(ext)?;
    }
    let options = parse_options(map.int_key(0x07))?;

    // Steps 1–2: pinUvAuthParam (no PIN/UV auth protocol is implemented).
    check_pin_uv_auth(&map, 0x08, 0x09)?;

    // Step 3: the first supported algorithm in the caller's order.
    let mut chosen = None;
    for entry in cred_params {
        let entry = MapView::new(entry)?;
        let kind = cbor::as_text(entry.text_key("type").ok_or(StatusCode::MissingParameter)?)?;
        let alg = cbor::as_int(entry.text_key("alg").ok_or(StatusCode::MissingParameter)?)?;
        if chosen.is_none() && kind == "public-key" {
            chosen = Algorithm::from_cose_id(alg);
        }
    }
    let alg = chosen.ok_or(StatusCode::UnsupportedAlgorithm)?;

    // Step 5: options.
    let config = &auth.config;
    let resident = options.rk.unwrap_or(false);
    if resident && !config.resident_keys {
        return Err(StatusCode::UnsupportedOption);
    }
    if options.up == Some(false) {
        return Err(StatusCode::InvalidOption);
    }
    let uv = options.uv.unwrap_or(false);
    if uv && !config.user_verification {
        return Err(StatusCode::InvalidOption);
    }
    // Step 7 (makeCredUvNotRqd is true): a token protected by user verification makes
    // discoverable credentials only with it. Without clientPin the answer is
    // CTAP2_ERR_OPERATION_DENIED (CTAP2_ERR_PUAT_REQUIRED would send the platform to a PIN).
    if config.user_verification && !uv && resident {
        return Err(StatusCode::OperationDenied);
    }
    // Step 8: enterprise attestation is not supported.
    if map.int_key(0x0A).is_some() {
        return Err(StatusCode::InvalidParameter);
    }

    let rp_hash = rp_id_hash(&rp_id);
    // Step 12: the exclude list.
    for descriptor in exclude_list.unwrap_or(&[]) {
        let Some(cred_id) = parse_descriptor(descriptor)? else {
            continue;
        };
        if find_listed(auth, env, &cred_id, &rp_id, &rp_hash)?.is_some() {
            return Ok(Wait {
                purpose: PresencePurpose::ExcludedCredential,
                rp_id: Some(rp_id),
                uv: false,
                cont: Continuation::Excluded,
            });
        }
    }

    // Step 13: user presence (and verification, when asked).
    Ok(Wait {
        purpose: PresencePurpose::MakeCredential,
        rp_id: Some(rp_id.clone()),
        uv,
        cont: Continuation::MakeCredential(Box::new(Plan {
            rp_id,
            rp_hash,
            client_data_hash,
            user,
            alg,
            resident,
            uv,
        })),
    })
}

/// Creates, stores and attests the credential once the user approved.
pub(crate) fn finish(auth: &mut Authenticator, env: &mut Env<'_>, plan: Plan) -> CtapResult<Value> {
    auth.load(env)?;
    let key = PrivateKey::generate(plan.alg, env.rng)?;
    let mode = auth.config.counter_mode;
    let mut batch = WriteBatch::new();

    let credential_id = if plan.resident {
        let existing = stored_infos(env)?;
        let replaced = existing
            .iter()
            .find(|c| c.discoverable && c.rp_id == plan.rp_id && c.user_id == plan.user.id);
        let discoverable = existing.iter().filter(|c| c.discoverable).count();
        if replaced.is_none() && discoverable >= auth.config.max_resident_credentials {
            return Err(StatusCode::KeyStoreFull);
        }
        let mut new_id = vec![0u8; RESIDENT_ID_LEN];
        loop {
            env.rng.fill_bytes(&mut new_id);
            if !existing.iter().any(|c| c.id == new_id) {
                break;
            }
        }
        if let Some(old) = replaced {
            batch.delete(NS_RESIDENT, &old.id);
            batch.delete(NS_COUNTERS, &counter_key(&old.id));
        }
        let created = existing.iter().map(|c| c.created).max().unwrap_or(0) + 1;
        let record = ResidentCredential {
            id: new_id.clone(),
            rp_id: plan.rp_id.clone(),
            user: plan.user.clone(),
            key: key.clone(),
            created,
            discoverable: true,
            extras: CredentialExtras::default(),
        };
        batch.put(NS_RESIDENT, &new_id, record.to_record());
        new_id
    } else {
        let persistent = auth.persistent.as_ref().ok_or(StatusCode::Other)?;
        id::wrap(&persistent.wrap_key, env.rng, &plan.rp_hash, &key, 0)?
    };
    let sign_count = counter::for_new_credential(env, mode, &mut batch)?;
    // The credential (and the counter) are durable before the response exists.
    if !batch.is_empty() {
        persist::commit(env, &batch)?;
    }

    let mut flags = FLAG_UP | FLAG_AT;
    if plan.uv {
        flags |= FLAG_UV;
    }
    let mut auth_data = Vec::with_capacity(200);
    auth_data.extend_from_slice(&plan.rp_hash);
    auth_data.push(flags);
    auth_data.extend_from_slice(&sign_count.to_be_bytes());
    auth_data.extend_from_slice(&auth.config.aaguid);
    auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend_from_slice(&cbor::encode(&key.cose_public_key()?));

    let persistent = auth.persistent.as_ref().ok_or(StatusCode::Other)?;
    let (fmt, att_stmt) = attestation::statement(
        auth.config.attestation,
        &persistent.pki,
        &key,
        &auth_data,
        &plan.client_data_hash,
    )
    .map_err(|_| StatusCode::Other)?;
    Ok(cbor::int_map(vec![
        (0x01, Value::Text(fmt.to_owned())),
        (0x02, Value::Bytes(auth_data)),
        (0x03, att_stmt),
    ]))
}
