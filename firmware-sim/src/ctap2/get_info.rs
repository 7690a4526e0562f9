//! authenticatorGetInfo (0x04): what the token supports.

use ciborium::value::Value;

use super::{Authenticator, MAX_CREDENTIAL_COUNT_IN_LIST, MAX_CREDENTIAL_ID_LEN, all_resident};
use crate::cbor;
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
    if config.user_verification {
        options.push(("uv", Value::Bool(true)));
        // Non-discoverable credentials can be made without UV; discoverable ones need it.
        options.push(("makeCredUvNotRqd", Value::Bool(true)));
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
    let mut entries = vec![
        (
            0x01,
            Value::Array(vec![
                Value::Text("FIDO_2_0".into()),
                Value::Text("FIDO_2_1".into()),
                Value::Text("U2F_V2".into()),
            ]),
        ),
        (0x03, Value::Bytes(config.aaguid.to_vec())),
        (0x04, cbor::text_map(options)),
        (0x05, cbor::int(MAX_MESSAGE_LEN as i64)),
        (0x07, cbor::int(MAX_CREDENTIAL_COUNT_IN_LIST as i64)),
        (0x08, cbor::int(MAX_CREDENTIAL_ID_LEN as i64)),
        (0x09, Value::Array(vec![Value::Text("usb".into())])),
        (0x0A, Value::Array(algorithms)),
        (0x0E, cbor::int(i64::from(config.firmware_version))),
    ];
    if config.resident_keys {
        let max = config.max_resident_credentials;
        let used = all_resident(env)?.len();
        entries.push((0x14, cbor::int(max.saturating_sub(used) as i64)));
    }
    Ok(cbor::int_map(entries))
}
