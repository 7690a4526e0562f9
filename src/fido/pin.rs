//! The platform's use of authenticatorClientPIN (CTAP 2.1 §6.5.5): a pinUvAuthToken through the
//! PIN or built-in user verification, with permissions and an RP ID, and the shared secret that
//! hmac-secret needs. The cryptography is firmware-sim's platform half of the protocols.

use firmware_sim::StatusCode;
use firmware_sim::ctap2::messages::{
    ClientPinRequest, ClientPinResponse, ClientPinSubCommand, CoseEcdhKey, GetInfoResponse,
};
use firmware_sim::ctap2_command as command;
use firmware_sim::pin_platform::{self, PlatformSession, SUPPORTED_PROTOCOLS};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::ctap2::{Authenticator, CtapError};
use crate::daemon::env::OsRng;

/// A pinUvAuthToken and the protocol it belongs to; wiped on drop, never shown.
pub struct PinUvToken {
    protocol: u64,
    token: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinUvToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinUvToken")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl PinUvToken {
    /// The PIN/UV auth protocol.
    pub fn protocol(&self) -> u64 {
        self.protocol
    }

    /// authenticate(pinUvAuthToken, message): a request's pinUvAuthParam.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        pin_platform::authenticate(self.protocol, &self.token, message).unwrap_or_default()
    }
}

/// The protocol to use with this authenticator: the first of ours it lists.
pub fn choose_protocol(info: &GetInfoResponse) -> Option<u64> {
    let theirs = info.pin_uv_auth_protocols.as_deref().unwrap_or(&[]);
    // A key that lists none but has a PIN option speaks protocol one (CTAP 2.0).
    if theirs.is_empty() && info.option("clientPin").is_some() {
        return Some(1);
    }
    SUPPORTED_PROTOCOLS.into_iter().find(|p| theirs.contains(p))
}

fn protocol_of(key: &mut Authenticator) -> Result<u64, CtapError> {
    let info = key.get_info()?;
    choose_protocol(info).ok_or_else(|| CtapError::Status {
        device: key.describe(),
        status: StatusCode::InvalidParameter.as_u8(),
    })
}

/// getKeyAgreement, then encapsulate: a session with the authenticator.
pub fn key_agreement(key: &mut Authenticator) -> Result<PlatformSession, CtapError> {
    let protocol = protocol_of(key)?;
    let request = ClientPinRequest::new(Some(protocol), ClientPinSubCommand::GetKeyAgreement);
    let resp: ClientPinResponse = key.call(command::CLIENT_PIN, "clientPIN", &request, None)?;
    let theirs: CoseEcdhKey = resp.key_agreement.ok_or_else(|| CtapError::Malformed {
        device: key.describe(),
        what: "getKeyAgreement",
        problem: "no keyAgreement".into(),
    })?;
    PlatformSession::encapsulate(protocol, &theirs, &mut OsRng).map_err(|s| CtapError::Malformed {
        device: key.describe(),
        what: "getKeyAgreement",
        problem: s.name().to_owned(),
    })
}

fn token_from(
    key: &Authenticator,
    session: &PlatformSession,
    resp: ClientPinResponse,
) -> Result<PinUvToken, CtapError> {
    let malformed = |problem: &str| CtapError::Malformed {
        device: key.describe(),
        what: "pinUvAuthToken",
        problem: problem.to_owned(),
    };
    let enc = resp
        .pin_uv_auth_token
        .ok_or_else(|| malformed("no token"))?;
    let token = session
        .decrypt(&enc)
        .map_err(|_| malformed("undecryptable token"))?;
    Ok(PinUvToken {
        protocol: session.protocol(),
        token: Zeroizing::new(token.to_vec()),
    })
}

/// How many PIN attempts are left.
pub fn pin_retries(key: &mut Authenticator) -> Result<u64, CtapError> {
    let request = ClientPinRequest::new(None, ClientPinSubCommand::GetPinRetries);
    let resp: ClientPinResponse = key.call(command::CLIENT_PIN, "clientPIN", &request, None)?;
    Ok(resp.pin_retries.unwrap_or(0))
}

/// A pinUvAuthToken through the PIN: getPinUvAuthTokenUsingPinWithPermissions when the key
/// has pinUvAuthToken, else getPinToken (which carries no permissions).
pub fn token_with_pin(
    key: &mut Authenticator,
    pin: &str,
    permissions: u64,
    rp_id: Option<&str>,
) -> Result<PinUvToken, CtapError> {
    let with_permissions = key.get_info()?.option("pinUvAuthToken") == Some(true);
    let session = key_agreement(key)?;
    let hash = Zeroizing::new(Sha256::digest(pin.as_bytes()));
    let pin_hash_enc =
        session
            .encrypt(&mut OsRng, &hash[..16])
            .map_err(|s| CtapError::Malformed {
                device: key.describe(),
                what: "PIN hash",
                problem: s.name().to_owned(),
            })?;
    let sub = if with_permissions {
        ClientPinSubCommand::GetPinUvAuthTokenUsingPinWithPermissions
    } else {
        ClientPinSubCommand::GetPinToken
    };
    let mut request = ClientPinRequest::new(Some(session.protocol()), sub);
    request.key_agreement = Some(session.platform_key().clone());
    request.pin_hash_enc = Some(pin_hash_enc);
    if with_permissions {
        request.permissions = Some(permissions);
        request.rp_id = rp_id.map(str::to_owned);
    }
    let resp: ClientPinResponse = key.call(command::CLIENT_PIN, "clientPIN", &request, None)?;
    token_from(key, &session, resp)
}

/// A pinUvAuthToken through built-in user verification
/// (getPinUvAuthTokenUsingUvWithPermissions).
pub fn token_with_uv(
    key: &mut Authenticator,
    permissions: u64,
    rp_id: Option<&str>,
    deadline: Option<std::time::Instant>,
) -> Result<PinUvToken, CtapError> {
    let session = key_agreement(key)?;
    let mut request = ClientPinRequest::new(
        Some(session.protocol()),
        ClientPinSubCommand::GetPinUvAuthTokenUsingUvWithPermissions,
    );
    request.key_agreement = Some(session.platform_key().clone());
    request.permissions = Some(permissions);
    request.rp_id = rp_id.map(str::to_owned);
    let resp: ClientPinResponse = key.call(command::CLIENT_PIN, "clientPIN", &request, deadline)?;
    token_from(key, &session, resp)
}
