//! authenticatorConfig (0x0D, CTAP 2.1 §6.11): enableEnterpriseAttestation, toggleAlwaysUv
//! and setMinPINLength, authorised by a pinUvAuthToken with the acfg permission.

use super::Authenticator;
use super::messages::{
    ConfigRequest, ConfigSubCommand, Message, SetMinPinLengthParams, permission,
};
use super::pin_uv;
use crate::cbor;
use crate::env::Env;
use crate::pin::state::{MAX_MIN_PIN_LENGTH_RP_IDS, MAX_PIN_BYTES};
use crate::status::{CtapResult, StatusCode};

/// Processes one authenticatorConfig request; success has no response data.
pub(crate) fn process(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    params: &[u8],
) -> CtapResult<()> {
    let req = ConfigRequest::from_cbor(params)?;
    let sub = ConfigSubCommand::from_u64(req.sub_command)
        .filter(|s| *s != ConfigSubCommand::VendorPrototype)
        .ok_or(StatusCode::InvalidSubcommand)?;
    authorise(auth, env, &req)?;
    let mut state = auth.pin_state(env)?.clone();
    match sub {
        ConfigSubCommand::EnableEnterpriseAttestation => {
            if !auth.caps.enterprise_attestation {
                return Err(StatusCode::InvalidParameter);
            }
            state.enterprise_attestation = true;
        }
        ConfigSubCommand::ToggleAlwaysUv => state.always_uv = !state.always_uv,
        ConfigSubCommand::SetMinPinLength => {
            if !auth.caps.set_min_pin_length {
                return Err(StatusCode::InvalidSubcommand);
            }
            let params = req
                .sub_command_params
                .as_ref()
                .map(SetMinPinLengthParams::from_value)
                .transpose()?
                .unwrap_or_default();
            let new_min = match params.new_min_pin_length {
                None => state.min_pin_length,
                Some(n) => u8::try_from(n).map_err(|_| StatusCode::PinPolicyViolation)?,
            };
            // The minimum can only grow, and no PIN may be longer than 63 bytes.
            if new_min < state.min_pin_length || usize::from(new_min) > MAX_PIN_BYTES {
                return Err(StatusCode::PinPolicyViolation);
            }
            let force = params.force_change_pin.unwrap_or(false);
            if force && !state.pin_set() {
                return Err(StatusCode::PinNotSet);
            }
            if let Some(rp_ids) = params.min_pin_length_rp_ids {
                if rp_ids.len() > MAX_MIN_PIN_LENGTH_RP_IDS {
                    return Err(StatusCode::InvalidParameter);
                }
                state.min_pin_length_rp_ids = rp_ids;
            }
            // A PIN shorter than the new minimum must be changed.
            if force || (state.pin_set() && state.pin_code_points < new_min) {
                state.force_pin_change = true;
            }
            state.min_pin_length = new_min;
        }
        ConfigSubCommand::VendorPrototype => return Err(StatusCode::InvalidSubcommand),
    }
    auth.pin.commit_state(env, state)
}

/// Step 4: a key protected by user verification (or under alwaysUv) takes authenticatorConfig
/// only with a pinUvAuthParam over `32×0xff || 0x0d || subCommand || subCommandParams` made with
/// a token holding the acfg permission.
fn authorise(auth: &mut Authenticator, env: &mut Env<'_>, req: &ConfigRequest) -> CtapResult<()> {
    let protection = pin_uv::protection(auth, env)?;
    if !protection.protected && !protection.always_uv {
        return Ok(());
    }
    let param = req
        .pin_uv_auth_param
        .as_deref()
        .ok_or(StatusCode::PuatRequired)?;
    let mut message = vec![0xFF; 32];
    message.push(0x0D);
    // Subcommands are single bytes (checked by the caller).
    message.push(req.sub_command as u8);
    if let Some(p) = &req.sub_command_params {
        // Requests are canonical, so this is the encoding the platform authenticated.
        message.extend_from_slice(&cbor::encode(p));
    }
    pin_uv::verify_command_token(
        auth,
        env,
        req.pin_uv_auth_protocol,
        param,
        &message,
        permission::ACFG,
    )
}
