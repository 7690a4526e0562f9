//! authenticatorConfig (0x0D) request (CTAP 2.1 §6.11); the response carries no data.

use ciborium::value::Value;

use super::common::read_texts;
use super::{Fields, MapWriter, text_array, uint};
use crate::status::CtapResult;

/// setMinPINLength parameter keys.
mod param {
    pub const NEW_MIN_PIN_LENGTH: i64 = 0x01;
    pub const MIN_PIN_LENGTH_RP_IDS: i64 = 0x02;
    pub const FORCE_CHANGE_PIN: i64 = 0x03;
}

/// authenticatorConfig subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConfigSubCommand {
    /// 0x01: turn enterprise attestation on.
    EnableEnterpriseAttestation = 0x01,
    /// 0x02: toggle "always require user verification".
    ToggleAlwaysUv = 0x02,
    /// 0x03: raise the minimum PIN length, name RPs that may read it, force a PIN change.
    SetMinPinLength = 0x03,
    /// 0xFF: vendor prototype (not supported here).
    VendorPrototype = 0xFF,
}

impl ConfigSubCommand {
    /// The subcommand with this number, if defined.
    pub fn from_u64(n: u64) -> Option<Self> {
        use ConfigSubCommand::*;
        Some(match n {
            0x01 => EnableEnterpriseAttestation,
            0x02 => ToggleAlwaysUv,
            0x03 => SetMinPinLength,
            0xFF => VendorPrototype,
            _ => return None,
        })
    }
}

/// authenticatorConfig parameters; pinUvAuthParam is
/// authenticate(pinUvAuthToken, 32×0xff || 0x0d || subCommand || subCommandParams) and
/// [`SetMinPinLengthParams`] reads and writes subCommandParams.
pub type ConfigRequest = super::sub_command::SubCommandRequest;

/// The setMinPINLength parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetMinPinLengthParams {
    /// 0x01: the new minimum PIN length (code points).
    pub new_min_pin_length: Option<u64>,
    /// 0x02: relying parties allowed to read the minimum PIN length (minPinLength extension).
    pub min_pin_length_rp_ids: Option<Vec<String>>,
    /// 0x03: require a PIN change before the PIN is used again.
    pub force_change_pin: Option<bool>,
}

impl SetMinPinLengthParams {
    /// The parameters as a CBOR map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(param::NEW_MIN_PIN_LENGTH, self.new_min_pin_length.map(uint))
            .opt(
                param::MIN_PIN_LENGTH_RP_IDS,
                self.min_pin_length_rp_ids.as_deref().map(text_array),
            )
            .opt(
                param::FORCE_CHANGE_PIN,
                self.force_change_pin.map(Value::Bool),
            )
            .build()
    }

    /// Reads the parameters.
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            new_min_pin_length: f.uint(param::NEW_MIN_PIN_LENGTH)?,
            min_pin_length_rp_ids: read_texts(f.array(param::MIN_PIN_LENGTH_RP_IDS)?)?,
            force_change_pin: f.bool(param::FORCE_CHANGE_PIN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap2::messages::Message;

    #[test]
    fn request_and_params_round_trip() {
        let params = SetMinPinLengthParams {
            new_min_pin_length: Some(6),
            min_pin_length_rp_ids: Some(vec!["example.com".into()]),
            force_change_pin: Some(true),
        };
        let r = ConfigRequest {
            sub_command: ConfigSubCommand::SetMinPinLength as u64,
            sub_command_params: Some(params.to_value()),
            pin_uv_auth_protocol: Some(1),
            pin_uv_auth_param: Some(vec![1; 16]),
        };
        let back = ConfigRequest::from_cbor(&r.to_cbor()).unwrap();
        assert_eq!(
            SetMinPinLengthParams::from_value(back.sub_command_params.as_ref().unwrap()),
            Ok(params)
        );
        assert_eq!(ConfigSubCommand::from_u64(4), None);
    }
}
