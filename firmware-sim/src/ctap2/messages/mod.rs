//! Typed CTAP2 messages (CTAP 2.1 §6): one Rust type per request and response, each integer key
//! named once, decoded and encoded here and nowhere else.
//!
//! The token decodes requests and encodes responses with these types; a host (a WebAuthn
//! client) encodes requests and decodes responses with the same ones. Every type converts to and
//! from a `ciborium::Value` ([`Message`]); bytes on the wire are canonical CTAP2 CBOR
//! ([`crate::cbor`]).
//!
//! ciborium's serde derive writes text keys only, and CTAP2 maps are keyed by integers, so the
//! conversions are written by hand on top of `Value`, with the small reader and writer of this
//! module. Decoding checks structure and types only (the protocol's meaning is the command's
//! business) and answers with the CTAP2 status a malformed request deserves: a value of the wrong
//! type is `CTAP2_ERR_CBOR_UNEXPECTED_TYPE`, a missing required member
//! `CTAP2_ERR_MISSING_PARAMETER`. Members a type does not know are ignored.

mod client_pin;
mod common;
mod config;
mod credential_management;
mod get_assertion;
mod get_info;
mod large_blobs;
mod make_credential;
mod sub_command;

use ciborium::value::{Integer, Value};

pub use client_pin::{ClientPinRequest, ClientPinResponse, ClientPinSubCommand, permission};
pub use common::{
    CoseEcdhKey, CredentialDescriptor, Extensions, PubKeyCredParam, RequestOptions, RpEntity,
};
pub use config::{ConfigRequest, ConfigSubCommand, SetMinPinLengthParams};
pub use credential_management::{
    CredentialManagementParams, CredentialManagementRequest, CredentialManagementResponse,
    CredentialManagementSubCommand,
};
pub use get_assertion::{GetAssertionRequest, GetAssertionResponse};
pub use get_info::GetInfoResponse;
pub use large_blobs::{LargeBlobsRequest, LargeBlobsResponse};
pub use make_credential::{MakeCredentialRequest, MakeCredentialResponse};
pub use sub_command::SubCommandRequest;

use crate::cbor::{self, MapView};
use crate::status::{CtapResult, StatusCode};

/// A CTAP2 message: converts to and from its CBOR value.
pub trait Message: Sized {
    /// The message as a CBOR value (encode it with [`Message::to_cbor`] for the wire).
    fn to_value(&self) -> Value;

    /// Reads the message from a decoded CBOR value.
    fn from_value(value: &Value) -> Result<Self, StatusCode>;

    /// The message as canonical CTAP2 CBOR.
    fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decodes canonical CTAP2 CBOR (`CTAP2_ERR_INVALID_CBOR` for anything else) into the message.
    fn from_cbor(bytes: &[u8]) -> Result<Self, StatusCode> {
        Self::from_value(&cbor::decode(bytes)?)
    }
}

/// A map key: CTAP2 request and response maps use integers, their sub-structures text.
#[derive(Clone, Copy)]
pub(crate) enum Key<'k> {
    Int(i64),
    Text(&'k str),
}

impl From<i64> for Key<'_> {
    fn from(k: i64) -> Self {
        Key::Int(k)
    }
}

impl<'k> From<&'k str> for Key<'k> {
    fn from(k: &'k str) -> Self {
        Key::Text(k)
    }
}

/// Read access to the members of a map, each typed getter answering with the CTAP2 status of
/// its kind of mistake.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a> {
    map: MapView<'a>,
}

impl<'a> Fields<'a> {
    /// Views `value` as a map (`CTAP2_ERR_CBOR_UNEXPECTED_TYPE` otherwise).
    pub(crate) fn new(value: &'a Value) -> CtapResult<Self> {
        Ok(Self {
            map: MapView::new(value)?,
        })
    }

    /// The member under `key`, if present.
    pub(crate) fn get<'k>(&self, key: impl Into<Key<'k>>) -> Option<&'a Value> {
        match key.into() {
            Key::Int(k) => self.map.int_key(k),
            Key::Text(k) => self.map.text_key(k),
        }
    }

    /// The member under `key`, which must be present.
    pub(crate) fn required<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<&'a Value> {
        self.get(key).ok_or(StatusCode::MissingParameter)
    }

    /// An optional byte string.
    pub(crate) fn bytes<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<Vec<u8>>> {
        self.get(key)
            .map(|v| cbor::as_bytes(v).map(<[u8]>::to_vec))
            .transpose()
    }

    /// An optional text string.
    pub(crate) fn text<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<String>> {
        self.get(key)
            .map(|v| cbor::as_text(v).map(str::to_owned))
            .transpose()
    }

    /// An optional unsigned integer.
    pub(crate) fn uint<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<u64>> {
        self.get(key).map(as_uint).transpose()
    }

    /// An optional boolean.
    pub(crate) fn bool<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<bool>> {
        self.get(key).map(cbor::as_bool).transpose()
    }

    /// An optional array.
    pub(crate) fn array<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<&'a [Value]>> {
        self.get(key).map(cbor::as_array).transpose()
    }

    /// An optional map.
    pub(crate) fn map<'k>(&self, key: impl Into<Key<'k>>) -> CtapResult<Option<Fields<'a>>> {
        self.get(key).map(Fields::new).transpose()
    }

    /// Every member, in wire order.
    pub(crate) fn entries(&self) -> &'a [(Value, Value)] {
        self.map.entries()
    }
}

/// The value must be an unsigned integer.
pub(crate) fn as_uint(value: &Value) -> CtapResult<u64> {
    u64::try_from(cbor::as_int(value)?).map_err(|_| StatusCode::CborUnexpectedType)
}

/// The value must be an integer; values beyond `i64` saturate (no identifier lives there).
pub(crate) fn as_i64(value: &Value) -> CtapResult<i64> {
    let n = cbor::as_int(value)?;
    Ok(i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX }))
}

/// Builds a map member by member, skipping absent optional ones.
#[derive(Default)]
pub(crate) struct MapWriter {
    entries: Vec<(Value, Value)>,
}

impl MapWriter {
    /// An empty map.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `key: value`.
    pub(crate) fn put<'k>(mut self, key: impl Into<Key<'k>>, value: Value) -> Self {
        let key = match key.into() {
            Key::Int(k) => Value::Integer(Integer::from(k)),
            Key::Text(k) => Value::Text(k.to_owned()),
        };
        self.entries.push((key, value));
        self
    }

    /// Adds `key: value` when `value` is present.
    pub(crate) fn opt<'k>(self, key: impl Into<Key<'k>>, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    /// The map.
    pub(crate) fn build(self) -> Value {
        Value::Map(self.entries)
    }
}

/// A byte string value.
pub(crate) fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A text string value.
pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// An unsigned integer value.
pub(crate) fn uint(n: u64) -> Value {
    Value::Integer(Integer::from(n))
}

/// An array of text strings.
pub(crate) fn text_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| text(s)).collect())
}

/// Reads an array of text strings.
pub(crate) fn read_text_array(items: &[Value]) -> CtapResult<Vec<String>> {
    items
        .iter()
        .map(|v| cbor::as_text(v).map(str::to_owned))
        .collect()
}

/// Reads an array of unsigned integers.
pub(crate) fn read_uint_array(items: &[Value]) -> CtapResult<Vec<u64>> {
    items.iter().map(as_uint).collect()
}

/// Shows a secret's size, never its bytes (for hand-written `Debug` implementations).
pub(crate) fn redacted_len(secret: &Option<Vec<u8>>) -> Option<String> {
    secret
        .as_ref()
        .map(|s| format!("<{} bytes redacted>", s.len()))
}
