//! authenticatorGetInfo (0x04): what the token supports.

use ciborium::value::Value;

use super::{
    Authenticator, MAX_CREDENTIAL_COUNT_IN_LIST, MAX_CREDENTIAL_ID_LEN, discoverable_count,
};
use crate::cbor;
use crate::config::Protocol;
use crate::credential::Algorithm;
use crate::ctaphid::MAX_MESSAGE_LEN;
use crate::env::Env;
use crate::status::CtapResult;

/// Builds the getInfo response map.
pub(crate) fn process(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Value> {
    let config = &auth.config;
    let mut options = vec![
        ("rk", Value::Bool(config.resident_keys)),
        ("up", Value::Bool(true)),
        ("plat", Value::Bool(false)),
    ];
    let ctap21 = config.protocol != Protocol::Ctap2_0;
    if config.user_verification {
        options.push(("uv", Value::Bool(true)));
        // Non-discoverable credentials can be made without UV; discoverable ones need it.
        // (The option is CTAP 2.1's; a CTAP 2.0 token does not know it.)
        if ctap21 {
            options.push(("makeCredUvNotRqd", Value::Bool(true)));
        }
    }
    let algorithms = Algorithm::ALL
        .iter()
        .map(|alg| {
            cbor::text_map(vec![
                ("alg", cbor::int(alg.cose_id())),
                ("type", Value::Text("public-key".into())),
            ])
        })
        .collect();
    let versions = if ctap21 {
        vec!["FIDO_2_0", "FIDO_2_1", "U2F_V2"]
    } else {
        vec!["U2F_V2", "FIDO_2_0"]
    };
    let mut entries = vec![
        (
            0x01,
            Value::Array(
                versions
                    .into_iter()
                    .map(|v| Value::Text(v.into()))
                    .collect(),
            ),
        ),
        (0x03, Value::Bytes(config.aaguid.to_vec())),
        (0x04, cbor::text_map(options)),
        (0x05, cbor::int(MAX_MESSAGE_LEN as i64)),
    ];
    if !ctap21 {
        // CTAP 2.0 (§5.4) defines members 0x01..=0x06 only.
        return Ok(cbor::int_map(entries));
    }
    entries.extend([
        (0x07, cbor::int(MAX_CREDENTIAL_COUNT_IN_LIST as i64)),
        (0x08, cbor::int(MAX_CREDENTIAL_ID_LEN as i64)),
        (0x09, Value::Array(vec![Value::Text("usb".into())])),
        (0x0A, Value::Array(algorithms)),
        (0x0E, cbor::int(i64::from(config.firmware_version))),
    ]);
    if config.resident_keys {
        let max = config.max_resident_credentials;
        // Imported non-discoverable credentials take no discoverable slot.
        let used = discoverable_count(env)?;
        entries.push((0x14, cbor::int(max.saturating_sub(used) as i64)));
    }
    Ok(cbor::int_map(entries))
}
