//! authenticatorGetInfo (0x04) response (CTAP 2.1 §6.4); the request carries no parameters.

use ciborium::value::Value;

use super::common::{PubKeyCredParam, read_texts};
use super::{Fields, MapWriter, Message, bytes, read_uint_array, text_array, uint};
use crate::cbor;
use crate::status::{CtapResult, StatusCode};

/// Response member keys.
mod key {
    pub const VERSIONS: i64 = 0x01;
    pub const EXTENSIONS: i64 = 0x02;
    pub const AAGUID: i64 = 0x03;
    pub const OPTIONS: i64 = 0x04;
    pub const MAX_MSG_SIZE: i64 = 0x05;
    pub const PIN_UV_AUTH_PROTOCOLS: i64 = 0x06;
    pub const MAX_CREDENTIAL_COUNT_IN_LIST: i64 = 0x07;
    pub const MAX_CREDENTIAL_ID_LENGTH: i64 = 0x08;
    pub const TRANSPORTS: i64 = 0x09;
    pub const ALGORITHMS: i64 = 0x0A;
    pub const MAX_SERIALIZED_LARGE_BLOB_ARRAY: i64 = 0x0B;
    pub const FORCE_PIN_CHANGE: i64 = 0x0C;
    pub const MIN_PIN_LENGTH: i64 = 0x0D;
    pub const FIRMWARE_VERSION: i64 = 0x0E;
    pub const MAX_CRED_BLOB_LENGTH: i64 = 0x0F;
    pub const MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH: i64 = 0x10;
    pub const PREFERRED_PLATFORM_UV_ATTEMPTS: i64 = 0x11;
    pub const UV_MODALITY: i64 = 0x12;
    pub const REMAINING_DISCOVERABLE_CREDENTIALS: i64 = 0x14;
}

/// What the authenticator is and supports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetInfoResponse {
    /// 0x01: supported versions, e.g. "U2F_V2", "FIDO_2_0", "FIDO_2_1".
    pub versions: Vec<String>,
    /// 0x02: supported extension identifiers.
    pub extensions: Option<Vec<String>>,
    /// 0x03: the authenticator model's AAGUID.
    pub aaguid: [u8; 16],
    /// 0x04: option IDs and their values, in the order given.
    pub options: Option<Vec<(String, bool)>>,
    /// 0x05: the largest message the authenticator accepts.
    pub max_msg_size: Option<u64>,
    /// 0x06: supported PIN/UV auth protocols, most preferred first.
    pub pin_uv_auth_protocols: Option<Vec<u64>>,
    /// 0x07: the most credentials an allow or exclude list may hold.
    pub max_credential_count_in_list: Option<u64>,
    /// 0x08: the longest credential id.
    pub max_credential_id_length: Option<u64>,
    /// 0x09: supported transports.
    pub transports: Option<Vec<String>>,
    /// 0x0A: supported algorithms, most preferred first.
    pub algorithms: Option<Vec<PubKeyCredParam>>,
    /// 0x0B: the largest serialized large-blob array.
    pub max_serialized_large_blob_array: Option<u64>,
    /// 0x0C: whether the PIN must be changed before use.
    pub force_pin_change: Option<bool>,
    /// 0x0D: the current minimum PIN length, in code points.
    pub min_pin_length: Option<u64>,
    /// 0x0E: firmware version.
    pub firmware_version: Option<u64>,
    /// 0x0F: the longest credBlob.
    pub max_cred_blob_length: Option<u64>,
    /// 0x10: how many RP IDs setMinPINLength may grant the minPinLength extension.
    pub max_rp_ids_for_set_min_pin_length: Option<u64>,
    /// 0x11: how many built-in UV attempts a platform should offer.
    pub preferred_platform_uv_attempts: Option<u64>,
    /// 0x12: user verification modality (FIDO registry bit flags).
    pub uv_modality: Option<u64>,
    /// 0x14: how many more discoverable credentials fit.
    pub remaining_discoverable_credentials: Option<u64>,
}

impl GetInfoResponse {
    /// The value of option `id`, if listed.
    pub fn option(&self, id: &str) -> Option<bool> {
        self.options
            .as_ref()?
            .iter()
            .find_map(|(k, v)| (k == id).then_some(*v))
    }
}

impl Message for GetInfoResponse {
    fn to_value(&self) -> Value {
        let options = self.options.as_ref().map(|o| {
            Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::Text(k.clone()), Value::Bool(*v)))
                    .collect(),
            )
        });
        let algorithms = self
            .algorithms
            .as_ref()
            .map(|a| Value::Array(a.iter().map(PubKeyCredParam::to_value).collect()));
        MapWriter::new()
            .put(key::VERSIONS, text_array(&self.versions))
            .opt(key::EXTENSIONS, self.extensions.as_deref().map(text_array))
            .put(key::AAGUID, bytes(&self.aaguid))
            .opt(key::OPTIONS, options)
            .opt(key::MAX_MSG_SIZE, self.max_msg_size.map(uint))
            .opt(
                key::PIN_UV_AUTH_PROTOCOLS,
                self.pin_uv_auth_protocols
                    .as_ref()
                    .map(|p| Value::Array(p.iter().map(|n| uint(*n)).collect())),
            )
            .opt(
                key::MAX_CREDENTIAL_COUNT_IN_LIST,
                self.max_credential_count_in_list.map(uint),
            )
            .opt(
                key::MAX_CREDENTIAL_ID_LENGTH,
                self.max_credential_id_length.map(uint),
            )
            .opt(key::TRANSPORTS, self.transports.as_deref().map(text_array))
            .opt(key::ALGORITHMS, algorithms)
            .opt(
                key::MAX_SERIALIZED_LARGE_BLOB_ARRAY,
                self.max_serialized_large_blob_array.map(uint),
            )
            .opt(
                key::FORCE_PIN_CHANGE,
                self.force_pin_change.map(Value::Bool),
            )
            .opt(key::MIN_PIN_LENGTH, self.min_pin_length.map(uint))
            .opt(key::FIRMWARE_VERSION, self.firmware_version.map(uint))
            .opt(
                key::MAX_CRED_BLOB_LENGTH,
                self.max_cred_blob_length.map(uint),
            )
            .opt(
                key::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH,
                self.max_rp_ids_for_set_min_pin_length.map(uint),
            )
            .opt(
                key::PREFERRED_PLATFORM_UV_ATTEMPTS,
                self.preferred_platform_uv_attempts.map(uint),
            )
            .opt(key::UV_MODALITY, self.uv_modality.map(uint))
            .opt(
                key::REMAINING_DISCOVERABLE_CREDENTIALS,
                self.remaining_discoverable_credentials.map(uint),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let versions =
            read_texts(Some(cbor::as_array(f.required(key::VERSIONS)?)?))?.unwrap_or_default();
        let aaguid: [u8; 16] = cbor::as_bytes(f.required(key::AAGUID)?)?
            .try_into()
            .map_err(|_| StatusCode::InvalidLength)?;
        let options = f
            .map(key::OPTIONS)?
            .map(|o| {
                o.entries()
                    .iter()
                    .map(|(k, v)| Ok((cbor::as_text(k)?.to_owned(), cbor::as_bool(v)?)))
                    .collect::<CtapResult<Vec<_>>>()
            })
            .transpose()?;
        let algorithms = f
            .array(key::ALGORITHMS)?
            .map(|a| a.iter().map(PubKeyCredParam::from_value).collect())
            .transpose()?;
        Ok(Self {
            versions,
            extensions: read_texts(f.array(key::EXTENSIONS)?)?,
            aaguid,
            options,
            max_msg_size: f.uint(key::MAX_MSG_SIZE)?,
            pin_uv_auth_protocols: f
                .array(key::PIN_UV_AUTH_PROTOCOLS)?
                .map(read_uint_array)
                .transpose()?,
            max_credential_count_in_list: f.uint(key::MAX_CREDENTIAL_COUNT_IN_LIST)?,
            max_credential_id_length: f.uint(key::MAX_CREDENTIAL_ID_LENGTH)?,
            transports: read_texts(f.array(key::TRANSPORTS)?)?,
            algorithms,
            max_serialized_large_blob_array: f.uint(key::MAX_SERIALIZED_LARGE_BLOB_ARRAY)?,
            force_pin_change: f.bool(key::FORCE_PIN_CHANGE)?,
            min_pin_length: f.uint(key::MIN_PIN_LENGTH)?,
            firmware_version: f.uint(key::FIRMWARE_VERSION)?,
            max_cred_blob_length: f.uint(key::MAX_CRED_BLOB_LENGTH)?,
            max_rp_ids_for_set_min_pin_length: f.uint(key::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH)?,
            preferred_platform_uv_attempts: f.uint(key::PREFERRED_PLATFORM_UV_ATTEMPTS)?,
            uv_modality: f.uint(key::UV_MODALITY)?,
            remaining_discoverable_credentials: f.uint(key::REMAINING_DISCOVERABLE_CREDENTIALS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips() {
        let info = GetInfoResponse {
            versions: vec!["U2F_V2".into(), "FIDO_2_0".into(), "FIDO_2_1".into()],
            extensions: Some(vec!["credProtect".into()]),
            aaguid: [9; 16],
            options: Some(vec![("rk".into(), true), ("clientPin".into(), false)]),
            max_msg_size: Some(7609),
            pin_uv_auth_protocols: Some(vec![2, 1]),
            algorithms: Some(vec![PubKeyCredParam::public_key(-7)]),
            min_pin_length: Some(4),
            force_pin_change: Some(false),
            remaining_discoverable_credentials: Some(10),
            ..GetInfoResponse::default()
        };
        let back = GetInfoResponse::from_cbor(&info.to_cbor()).unwrap();
        assert_eq!(back.option("clientPin"), Some(false));
        assert_eq!(back.option("uv"), None);
        // Canonical encoding sorts the options; compare them as a set.
        let mut a = back.options.clone().unwrap();
        let mut b = info.options.clone().unwrap();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(
            GetInfoResponse {
                options: None,
                ..back
            },
            GetInfoResponse {
                options: None,
                ..info
            }
        );
    }
}
