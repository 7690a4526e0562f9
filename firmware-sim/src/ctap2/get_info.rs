//! authenticatorGetInfo (0x04): what the token supports.

use ciborium::value::Value;

use super::lookup::discoverable_count;
use super::messages::{GetInfoResponse, Message, PubKeyCredParam};
use super::{Authenticator, MAX_CREDENTIAL_COUNT_IN_LIST, MAX_CREDENTIAL_ID_LEN};
use crate::config::Protocol;
use crate::credential::Algorithm;
use crate::ctaphid::MAX_MESSAGE_LEN;
use crate::env::Env;
use crate::status::CtapResult;

/// Builds the getInfo response map.
pub(crate) fn process(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Value> {
    let config = &auth.config;
    let mut options = vec![
        ("rk".to_owned(), config.resident_keys),
        ("up".to_owned(), true),
        ("plat".to_owned(), false),
    ];
    let ctap21 = config.protocol != Protocol::Ctap2_0;
    if config.user_verification {
        options.push(("uv".to_owned(), true));
        // Non-discoverable credentials can be made without UV; discoverable ones need it.
        // (The option is CTAP 2.1's; a CTAP 2.0 token does not know it.)
        if ctap21 {
            options.push(("makeCredUvNotRqd".to_owned(), true));
        }
    }
    let versions = if ctap21 {
        vec!["FIDO_2_0", "FIDO_2_1", "U2F_V2"]
    } else {
        vec!["U2F_V2", "FIDO_2_0"]
    };
    let mut info = GetInfoResponse {
        versions: versions.into_iter().map(str::to_owned).collect(),
        aaguid: config.aaguid,
        options: Some(options),
        max_msg_size: Some(MAX_MESSAGE_LEN as u64),
        ..GetInfoResponse::default()
    };
    if !ctap21 {
        // CTAP 2.0 (§5.4) defines members 0x01..=0x06 only.
        return Ok(info.to_value());
    }
    info.max_credential_count_in_list = Some(MAX_CREDENTIAL_COUNT_IN_LIST as u64);
    info.max_credential_id_length = Some(MAX_CREDENTIAL_ID_LEN as u64);
    info.transports = Some(vec!["usb".to_owned()]);
    info.algorithms = Some(
        Algorithm::ALL
            .iter()
            .map(|alg| PubKeyCredParam::public_key(alg.cose_id()))
            .collect(),
    );
    info.firmware_version = Some(u64::from(config.firmware_version));
    if config.resident_keys {
        let max = config.max_resident_credentials;
        // Imported non-discoverable credentials take no discoverable slot.
        let used = discoverable_count(env)?;
        info.remaining_discoverable_credentials = Some(max.saturating_sub(used) as u64);
    }
    Ok(info.to_value())
}
