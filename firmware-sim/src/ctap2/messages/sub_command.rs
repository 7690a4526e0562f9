//! The request shape shared by the CTAP 2.1 commands built of subcommands
//! (authenticatorCredentialManagement §6.8 and authenticatorConfig §6.11): both are keyed
//! 0x01 subCommand, 0x02 subCommandParams, 0x03 pinUvAuthProtocol, 0x04 pinUvAuthParam.

use ciborium::value::Value;

use super::{Fields, MapWriter, Message, as_uint, bytes, uint};
use crate::status::CtapResult;

/// Request member keys.
mod key {
    pub const SUB_COMMAND: i64 = 0x01;
    pub const SUB_COMMAND_PARAMS: i64 = 0x02;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x04;
}

/// A subcommand request.
///
/// `sub_command_params` is kept as the CBOR value that was sent, because pinUvAuthParam
/// authenticates its encoding; each command's parameter type reads and writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubCommandRequest {
    /// 0x01: the subcommand.
    pub sub_command: u64,
    /// 0x02: the subcommand's parameters.
    pub sub_command_params: Option<Value>,
    /// 0x03: the PIN/UV auth protocol.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x04: authenticate(pinUvAuthToken, the command's message over subCommand and its
    /// parameters).
    pub pin_uv_auth_param: Option<Vec<u8>>,
}

impl Message for SubCommandRequest {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .put(key::SUB_COMMAND, uint(self.sub_command))
            .opt(key::SUB_COMMAND_PARAMS, self.sub_command_params.clone())
            .opt(
                key::PIN_UV_AUTH_PROTOCOL,
                self.pin_uv_auth_protocol.map(uint),
            )
            .opt(
                key::PIN_UV_AUTH_PARAM,
                self.pin_uv_auth_param.as_deref().map(bytes),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let sub_command = as_uint(f.required(key::SUB_COMMAND)?)?;
        // A map, kept as sent (pinUvAuthParam covers its encoding).
        f.map(key::SUB_COMMAND_PARAMS)?;
        Ok(Self {
            sub_command,
            sub_command_params: f.get(key::SUB_COMMAND_PARAMS).cloned(),
            pin_uv_auth_protocol: f.uint(key::PIN_UV_AUTH_PROTOCOL)?,
            pin_uv_auth_param: f.bytes(key::PIN_UV_AUTH_PARAM)?,
        })
    }
}
