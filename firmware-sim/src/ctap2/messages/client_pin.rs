//! authenticatorClientPIN (0x06) request and response (CTAP 2.1 §6.5.5).

use ciborium::value::Value;

use super::common::CoseEcdhKey;
use super::{Fields, MapWriter, Message, as_uint, bytes, redacted_len, text, uint};
use crate::status::CtapResult;

/// Request member keys.
mod key {
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x01;
    pub const SUB_COMMAND: i64 = 0x02;
    pub const KEY_AGREEMENT: i64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x04;
    pub const NEW_PIN_ENC: i64 = 0x05;
    pub const PIN_HASH_ENC: i64 = 0x06;
    pub const PERMISSIONS: i64 = 0x09;
    pub const RP_ID: i64 = 0x0A;
}

/// Response member keys.
mod resp {
    pub const KEY_AGREEMENT: i64 = 0x01;
    pub const PIN_UV_AUTH_TOKEN: i64 = 0x02;
    pub const PIN_RETRIES: i64 = 0x03;
    pub const POWER_CYCLE_STATE: i64 = 0x04;
    pub const UV_RETRIES: i64 = 0x05;
}

/// authenticatorClientPIN subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientPinSubCommand {
    /// 0x01: how many PIN attempts are left.
    GetPinRetries = 0x01,
    /// 0x02: the authenticator's key-agreement public key.
    GetKeyAgreement = 0x02,
    /// 0x03: set the first PIN.
    SetPin = 0x03,
    /// 0x04: change the PIN.
    ChangePin = 0x04,
    /// 0x05: a pinUvAuthToken with the default permissions (superseded).
    GetPinToken = 0x05,
    /// 0x06: a pinUvAuthToken through built-in user verification.
    GetPinUvAuthTokenUsingUvWithPermissions = 0x06,
    /// 0x07: how many built-in UV attempts are left.
    GetUvRetries = 0x07,
    /// 0x09: a pinUvAuthToken through the PIN, with permissions.
    GetPinUvAuthTokenUsingPinWithPermissions = 0x09,
}

impl ClientPinSubCommand {
    /// The subcommand with this number, if defined.
    pub fn from_u64(n: u64) -> Option<Self> {
        use ClientPinSubCommand::*;
        Some(match n {
            0x01 => GetPinRetries,
            0x02 => GetKeyAgreement,
            0x03 => SetPin,
            0x04 => ChangePin,
            0x05 => GetPinToken,
            0x06 => GetPinUvAuthTokenUsingUvWithPermissions,
            0x07 => GetUvRetries,
            0x09 => GetPinUvAuthTokenUsingPinWithPermissions,
            _ => return None,
        })
    }
}

/// pinUvAuthToken permission bits (CTAP 2.1 §6.5.5.7).
pub mod permission {
    /// makeCredential.
    pub const MC: u64 = 0x01;
    /// getAssertion.
    pub const GA: u64 = 0x02;
    /// credentialManagement.
    pub const CM: u64 = 0x04;
    /// bioEnrollment.
    pub const BE: u64 = 0x08;
    /// largeBlobWrite.
    pub const LBW: u64 = 0x10;
    /// authenticatorConfig.
    pub const ACFG: u64 = 0x20;
}

/// authenticatorClientPIN parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientPinRequest {
    /// 0x01: the PIN/UV auth protocol (required by every subcommand but the retries ones).
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x02: the subcommand (see [`ClientPinSubCommand`]).
    pub sub_command: u64,
    /// 0x03: the platform's key-agreement public key.
    pub key_agreement: Option<CoseEcdhKey>,
    /// 0x04: authenticate(sharedSecret, ...) over the subcommand's message.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x05: encrypt(sharedSecret, paddedNewPin).
    pub new_pin_enc: Option<Vec<u8>>,
    /// 0x06: encrypt(sharedSecret, LEFT(SHA-256(curPin), 16)).
    pub pin_hash_enc: Option<Vec<u8>>,
    /// 0x09: requested permissions (see [`permission`]).
    pub permissions: Option<u64>,
    /// 0x0A: the permissions RP ID.
    pub rp_id: Option<String>,
}

impl ClientPinRequest {
    /// A request for `sub_command` with no other member.
    pub fn new(protocol: Option<u64>, sub_command: ClientPinSubCommand) -> Self {
        Self {
            pin_uv_auth_protocol: protocol,
            sub_command: sub_command as u64,
            key_agreement: None,
            pin_uv_auth_param: None,
            new_pin_enc: None,
            pin_hash_enc: None,
            permissions: None,
            rp_id: None,
        }
    }
}

impl std::fmt::Debug for ClientPinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The encrypted PIN material is shown by size only.
        f.debug_struct("ClientPinRequest")
            .field("pin_uv_auth_protocol", &self.pin_uv_auth_protocol)
            .field("sub_command", &self.sub_command)
            .field("key_agreement", &self.key_agreement.is_some())
            .field("pin_uv_auth_param", &redacted_len(&self.pin_uv_auth_param))
            .field("new_pin_enc", &redacted_len(&self.new_pin_enc))
            .field("pin_hash_enc", &redacted_len(&self.pin_hash_enc))
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .finish()
    }
}

impl Message for ClientPinRequest {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(
                key::PIN_UV_AUTH_PROTOCOL,
                self.pin_uv_auth_protocol.map(uint),
            )
            .put(key::SUB_COMMAND, uint(self.sub_command))
            .opt(
                key::KEY_AGREEMENT,
                self.key_agreement.as_ref().map(CoseEcdhKey::to_value),
            )
            .opt(
                key::PIN_UV_AUTH_PARAM,
                self.pin_uv_auth_param.as_deref().map(bytes),
            )
            .opt(key::NEW_PIN_ENC, self.new_pin_enc.as_deref().map(bytes))
            .opt(key::PIN_HASH_ENC, self.pin_hash_enc.as_deref().map(bytes))
            .opt(key::PERMISSIONS, self.permissions.map(uint))
            .opt(key::RP_ID, self.rp_id.as_deref().map(text))
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let pin_uv_auth_protocol = f.uint(key::PIN_UV_AUTH_PROTOCOL)?;
        let sub_command = as_uint(f.required(key::SUB_COMMAND)?)?;
        Ok(Self {
            pin_uv_auth_protocol,
            sub_command,
            key_agreement: f
                .get(key::KEY_AGREEMENT)
                .map(CoseEcdhKey::from_value)
                .transpose()?,
            pin_uv_auth_param: f.bytes(key::PIN_UV_AUTH_PARAM)?,
            new_pin_enc: f.bytes(key::NEW_PIN_ENC)?,
            pin_hash_enc: f.bytes(key::PIN_HASH_ENC)?,
            permissions: f.uint(key::PERMISSIONS)?,
            rp_id: f.text(key::RP_ID)?,
        })
    }
}

/// authenticatorClientPIN response.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientPinResponse {
    /// 0x01: the authenticator's key-agreement public key.
    pub key_agreement: Option<CoseEcdhKey>,
    /// 0x02: encrypt(sharedSecret, pinUvAuthToken).
    pub pin_uv_auth_token: Option<Vec<u8>>,
    /// 0x03: PIN attempts left.
    pub pin_retries: Option<u64>,
    /// 0x04: whether a power cycle is needed before the next PIN attempt.
    pub power_cycle_state: Option<bool>,
    /// 0x05: built-in UV attempts left.
    pub uv_retries: Option<u64>,
}

impl std::fmt::Debug for ClientPinResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPinResponse")
            .field("key_agreement", &self.key_agreement)
            .field("pin_uv_auth_token", &redacted_len(&self.pin_uv_auth_token))
            .field("pin_retries", &self.pin_retries)
            .field("power_cycle_state", &self.power_cycle_state)
            .field("uv_retries", &self.uv_retries)
            .finish()
    }
}

impl ClientPinResponse {
    /// Whether the response has no member (such responses carry no body at all).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Message for ClientPinResponse {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(
                resp::KEY_AGREEMENT,
                self.key_agreement.as_ref().map(CoseEcdhKey::to_value),
            )
            .opt(
                resp::PIN_UV_AUTH_TOKEN,
                self.pin_uv_auth_token.as_deref().map(bytes),
            )
            .opt(resp::PIN_RETRIES, self.pin_retries.map(uint))
            .opt(
                resp::POWER_CYCLE_STATE,
                self.power_cycle_state.map(Value::Bool),
            )
            .opt(resp::UV_RETRIES, self.uv_retries.map(uint))
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            key_agreement: f
                .get(resp::KEY_AGREEMENT)
                .map(CoseEcdhKey::from_value)
                .transpose()?,
            pin_uv_auth_token: f.bytes(resp::PIN_UV_AUTH_TOKEN)?,
            pin_retries: f.uint(resp::PIN_RETRIES)?,
            power_cycle_state: f.bool(resp::POWER_CYCLE_STATE)?,
            uv_retries: f.uint(resp::UV_RETRIES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;
    use crate::status::StatusCode;

    #[test]
    fn requests_and_responses_round_trip() {
        let mut r = ClientPinRequest::new(Some(2), ClientPinSubCommand::ChangePin);
        r.key_agreement = Some(CoseEcdhKey::new([1; 32], [2; 32]));
        r.pin_uv_auth_param = Some(vec![3; 32]);
        r.new_pin_enc = Some(vec![4; 80]);
        r.pin_hash_enc = Some(vec![5; 32]);
        r.permissions = Some(permission::MC | permission::GA);
        r.rp_id = Some("example.com".into());
        assert_eq!(ClientPinRequest::from_cbor(&r.to_cbor()), Ok(r.clone()));
        assert!(!format!("{r:?}").contains("[4, 4"));

        let resp = ClientPinResponse {
            pin_retries: Some(8),
            power_cycle_state: Some(false),
            ..ClientPinResponse::default()
        };
        assert_eq!(ClientPinResponse::from_cbor(&resp.to_cbor()), Ok(resp));
        assert!(ClientPinResponse::default().is_empty());
    }

    #[test]
    fn the_subcommand_is_required_and_unsigned() {
        let none = cbor::int_map(vec![(1, uint(2))]);
        assert_eq!(
            ClientPinRequest::from_value(&none),
            Err(StatusCode::MissingParameter)
        );
        let negative = cbor::int_map(vec![(2, cbor::int(-1))]);
        assert_eq!(
            ClientPinRequest::from_value(&negative),
            Err(StatusCode::CborUnexpectedType)
        );
        assert_eq!(ClientPinSubCommand::from_u64(8), None);
        assert_eq!(
            ClientPinSubCommand::from_u64(9),
            Some(ClientPinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions)
        );
    }
}
