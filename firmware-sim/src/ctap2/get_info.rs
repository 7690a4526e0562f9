//! authenticatorGetInfo (0x04): what the token supports (its capabilities) and the state that
//! changes at run time (PIN set, alwaysUv, minimum PIN length, enterprise attestation).

use ciborium::value::Value;

use super::Authenticator;
use super::messages::{GetInfoResponse, Message, PubKeyCredParam};
use crate::capabilities::Capabilities;
use crate::env::Env;
use crate::pin::state::PinState;
use crate::status::CtapResult;

/// Builds the getInfo response map.
pub(crate) fn process(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Value> {
    let state = if auth.caps.pin_uv_auth_token {
        Some(auth.pin_state(env)?.clone())
    } else {
        None
    };
    let used = if auth.caps.is_ctap21() && auth.caps.resident_keys {
        // Imported non-discoverable credentials take no discoverable slot.
        auth.discoverable_count(env)?
    } else {
        0
    };
    let caps = &auth.caps;
    let options = options(caps, state.as_ref());
    let mut info = GetInfoResponse {
        versions: caps.versions.iter().map(|v| (*v).to_owned()).collect(),
        aaguid: auth.config.aaguid,
        options: Some(options),
        max_msg_size: Some(caps.max_msg_size as u64),
        ..GetInfoResponse::default()
    };
    if !caps.is_ctap21() {
        // CTAP 2.0 (§5.4) defines members 0x01..=0x06 only.
        return Ok(info.to_value());
    }
    if !caps.extensions.is_empty() {
        info.extensions = Some(caps.extensions.iter().map(|e| (*e).to_owned()).collect());
    }
    if !caps.pin_uv_auth_protocols.is_empty() {
        info.pin_uv_auth_protocols = Some(caps.pin_uv_auth_protocols.clone());
    }
    info.max_credential_count_in_list = Some(caps.max_credential_count_in_list as u64);
    info.max_credential_id_length = Some(caps.max_credential_id_length as u64);
    info.transports = Some(caps.transports.iter().map(|t| (*t).to_owned()).collect());
    info.algorithms = Some(
        caps.algorithms
            .iter()
            .map(|alg| PubKeyCredParam::public_key(alg.cose_id()))
            .collect(),
    );
    if let Some(state) = state.as_ref().filter(|_| caps.client_pin) {
        info.force_pin_change = Some(state.force_pin_change);
        info.min_pin_length = Some(u64::from(state.min_pin_length));
    }
    if caps.large_blobs {
        info.max_serialized_large_blob_array = Some(caps.max_serialized_large_blob_array as u64);
    }
    info.firmware_version = Some(u64::from(auth.config.firmware_version));
    if caps.resident_keys {
        let max = caps.max_resident_credentials;
        info.remaining_discoverable_credentials = Some(max.saturating_sub(used) as u64);
    }
    info.max_cred_blob_length = caps.max_cred_blob_length.map(|n| n as u64);
    info.max_rp_ids_for_set_min_pin_length =
        caps.max_rp_ids_for_set_min_pin_length.map(|n| n as u64);
    for extension in &auth.extensions {
        extension.info(&mut info);
    }
    Ok(info.to_value())
}

/// The options: what the key claims, and the state of what can change.
fn options(caps: &Capabilities, state: Option<&PinState>) -> Vec<(String, bool)> {
    let always_uv = state.is_some_and(|s| s.always_uv);
    let mut options = vec![
        ("rk".to_owned(), caps.resident_keys),
        ("up".to_owned(), true),
        ("plat".to_owned(), false),
    ];
    if caps.user_verification {
        options.push(("uv".to_owned(), true));
    }
    if caps.client_pin {
        options.push(("clientPin".to_owned(), state.is_some_and(|s| s.pin_set())));
        // mc and ga permissions are granted through clientPin.
        options.push(("noMcGaPermissionsWithClientPin".to_owned(), false));
    }
    if caps.pin_uv_auth_token {
        options.push(("pinUvAuthToken".to_owned(), true));
    }
    if caps.make_cred_uv_not_rqd {
        // Under alwaysUv every credential needs user verification.
        options.push(("makeCredUvNotRqd".to_owned(), !always_uv));
    }
    if caps.credential_management {
        options.push(("credMgmt".to_owned(), true));
        // The prototype command (0x41), as shipping CTAP 2.1 keys still offer it.
        options.push(("credentialMgmtPreview".to_owned(), true));
    }
    if caps.large_blobs {
        options.push(("largeBlobs".to_owned(), true));
    }
    if caps.authenticator_config {
        options.push(("authnrCfg".to_owned(), true));
    }
    if caps.always_uv {
        options.push(("alwaysUv".to_owned(), always_uv));
    }
    if caps.set_min_pin_length {
        options.push(("setMinPINLength".to_owned(), true));
    }
    if caps.enterprise_attestation {
        options.push((
            "ep".to_owned(),
            state.is_some_and(|s| s.enterprise_attestation),
        ));
    }
    options
}
