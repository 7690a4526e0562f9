//! authenticatorLargeBlobs (0x0C) request and response (CTAP 2.1 §6.10).

use ciborium::value::Value;

use super::{Fields, MapWriter, Message, as_uint, bytes, uint};
use crate::status::CtapResult;

/// Request member keys.
mod key {
    pub const GET: i64 = 0x01;
    pub const SET: i64 = 0x02;
    pub const OFFSET: i64 = 0x03;
    pub const LENGTH: i64 = 0x04;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x05;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x06;
}

/// Response member keys.
mod resp {
    pub const CONFIG: i64 = 0x01;
}

/// authenticatorLargeBlobs parameters: a read (`get`) or a write (`set`) of the serialized
/// large-blob array at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LargeBlobsRequest {
    /// 0x01: how many bytes to read.
    pub get: Option<u64>,
    /// 0x02: a fragment to write.
    pub set: Option<Vec<u8>>,
    /// 0x03: the byte offset of the read or write.
    pub offset: u64,
    /// 0x04: the total length of the array being written (first fragment only).
    pub length: Option<u64>,
    /// 0x05: authenticate(pinUvAuthToken, 32×0xff || 0x0c00 || uint32LE(offset) || SHA-256(set)).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06: the PIN/UV auth protocol.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl Message for LargeBlobsRequest {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(key::GET, self.get.map(uint))
            .opt(key::SET, self.set.as_deref().map(bytes))
            .put(key::OFFSET, uint(self.offset))
            .opt(key::LENGTH, self.length.map(uint))
            .opt(
                key::PIN_UV_AUTH_PARAM,
                self.pin_uv_auth_param.as_deref().map(bytes),
            )
            .opt(
                key::PIN_UV_AUTH_PROTOCOL,
                self.pin_uv_auth_protocol.map(uint),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let get = f.uint(key::GET)?;
        let set = f.bytes(key::SET)?;
        let offset = as_uint(f.required(key::OFFSET)?)?;
        Ok(Self {
            get,
            set,
            offset,
            length: f.uint(key::LENGTH)?,
            pin_uv_auth_param: f.bytes(key::PIN_UV_AUTH_PARAM)?,
            pin_uv_auth_protocol: f.uint(key::PIN_UV_AUTH_PROTOCOL)?,
        })
    }
}

/// authenticatorLargeBlobs response: the fragment read (nothing for a write).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LargeBlobsResponse {
    /// 0x01: the bytes read.
    pub config: Option<Vec<u8>>,
}

impl Message for LargeBlobsResponse {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(resp::CONFIG, self.config.as_deref().map(bytes))
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            config: f.bytes(resp::CONFIG)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;
    use crate::status::StatusCode;

    #[test]
    fn round_trip_and_offset_required() {
        let r = LargeBlobsRequest {
            get: None,
            set: Some(vec![1; 17]),
            offset: 0,
            length: Some(17),
            pin_uv_auth_param: Some(vec![2; 32]),
            pin_uv_auth_protocol: Some(2),
        };
        assert_eq!(LargeBlobsRequest::from_cbor(&r.to_cbor()), Ok(r));
        assert_eq!(
            LargeBlobsRequest::from_value(&cbor::int_map(vec![(1, uint(10))])),
            Err(StatusCode::MissingParameter)
        );
        let resp = LargeBlobsResponse {
            config: Some(vec![0x80]),
        };
        assert_eq!(LargeBlobsResponse::from_cbor(&resp.to_cbor()), Ok(resp));
    }
}
