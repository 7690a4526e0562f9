//! authenticatorGetInfo (0x04): what the token supports, from its capabilities and state.

use ciborium::value::Value;

use super::Authenticator;
use super::lookup::discoverable_count;
use super::messages::{GetInfoResponse, Message, PubKeyCredParam};
use crate::env::Env;
use crate::extensions;
use crate::status::CtapResult;

/// Builds the getInfo response map.
pub(crate) fn process(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Value> {
    let caps = &auth.caps;
    let mut options = vec![
        ("rk".to_owned(), caps.resident_keys),
        ("up".to_owned(), true),
        ("plat".to_owned(), false),
    ];
    if caps.user_verification {
        options.push(("uv".to_owned(), true));
    }
    if caps.make_cred_uv_not_rqd {
        options.push(("makeCredUvNotRqd".to_owned(), true));
    }
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
    info.max_credential_count_in_list = Some(caps.max_credential_count_in_list as u64);
    info.max_credential_id_length = Some(caps.max_credential_id_length as u64);
    info.transports = Some(caps.transports.iter().map(|t| (*t).to_owned()).collect());
    info.algorithms = Some(
        caps.algorithms
            .iter()
            .map(|alg| PubKeyCredParam::public_key(alg.cose_id()))
            .collect(),
    );
    info.firmware_version = Some(u64::from(auth.config.firmware_version));
    if caps.resident_keys {
        let max = caps.max_resident_credentials;
        // Imported non-discoverable credentials take no discoverable slot.
        let used = discoverable_count(env)?;
        info.remaining_discoverable_credentials = Some(max.saturating_sub(used) as u64);
    }
    for extension in extensions::supported(&auth.config) {
        extension.info(&mut info);
    }
    Ok(info.to_value())
}
