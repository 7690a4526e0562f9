//! CTAP1/U2F over CTAPHID_MSG (FIDO U2F Raw Message Formats v1.2): register, authenticate,
//! version; ISO 7816-4 APDUs in short or extended encoding.

use crate::credential::id::{self, FLAG_U2F};
use crate::credential::{Algorithm, PrivateKey, counter};
use crate::ctap2::Authenticator;
use crate::env::{Env, PresencePurpose, PresenceRequest, PresenceStatus};

/// ISO 7816 status words used by U2F.
pub mod sw {
    /// The command completed.
    pub const NO_ERROR: u16 = 0x9000;
    /// The user has not (yet) confirmed presence, or a check-only request found its key handle.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Invalid key handle or parameter.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// The request length is wrong.
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// The class byte is not 0x00.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// The instruction is unknown.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Internal failure (for example the store could not be written).
    pub const INTERNAL: u16 = 0x6F00;
}

/// U2F instructions.
mod ins {
    pub const REGISTER: u8 = 0x01;
    pub const AUTHENTICATE: u8 = 0x02;
    pub const VERSION: u8 = 0x03;
}

/// U2F_AUTHENTICATE control bytes (P1).
mod control {
    pub const CHECK_ONLY: u8 = 0x07;
    pub const ENFORCE_USER_PRESENCE: u8 = 0x03;
    pub const DONT_ENFORCE_USER_PRESENCE: u8 = 0x08;
}

/// A parsed command APDU.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Apdu<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
}

/// Parses short (Lc 1 byte) and extended (00 Lc1 Lc2) APDUs, each with or without Le.
pub(crate) fn parse_apdu(bytes: &[u8]) -> Result<Apdu<'_>, u16> {
    if bytes.len() < 4 {
        return Err(sw::WRONG_LENGTH);
    }
    let (header, body) = bytes.split_at(4);
    let apdu = |data| Apdu {
        cla: header[0],
        ins: header[1],
        p1: header[2],
        p2: header[3],
        data,
    };
    match body.len() {
        // Case 1: no data, no Le.
        0 => Ok(apdu(&[])),
        // Case 2 short: Le only.
        1 => Ok(apdu(&[])),
        _ => {
            if body[0] == 0 {
                // Extended: 00 Lc1 Lc2 data [Le1 Le2], or 00 Le1 Le2 (case 2 extended).
                if body.len() < 3 {
                    return Err(sw::WRONG_LENGTH);
                }
                if body.len() == 3 {
                    return Ok(apdu(&[]));
                }
                let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
                let rest = &body[3..];
                // U2F's raw message format writes Lc as 3 bytes even when it is zero
                // (`00 00 00 | Le1 Le2`), as python-fido2 and libfido2 do for U2F_VERSION.
                if lc == 0 && rest.len() == 2 {
                    return Ok(apdu(&[]));
                }
                if lc == 0 || (rest.len() != lc && rest.len() != lc + 2) {
                    return Err(sw::WRONG_LENGTH);
                }
                Ok(apdu(&rest[..lc]))
            } else {
                // Short: Lc data [Le].
                let lc = usize::from(body[0]);
                let rest = &body[1..];
                if rest.len() != lc && rest.len() != lc + 1 {
                    return Err(sw::WRONG_LENGTH);
                }
                Ok(apdu(&rest[..lc]))
            }
        }
    }
}

fn with_status(mut data: Vec<u8>, status: u16) -> Vec<u8> {
    data.extend_from_slice(&status.to_be_bytes());
    data
}

fn status_only(status: u16) -> Vec<u8> {
    status.to_be_bytes().to_vec()
}

/// Processes one U2F request and returns the response APDU (data followed by the status word).
pub(crate) fn process(auth: &mut Authenticator, env: &mut Env<'_>, request: &[u8]) -> Vec<u8> {
    let apdu = match parse_apdu(request) {
        Ok(a) => a,
        Err(status) => return status_only(status),
    };
    if apdu.cla != 0 {
        return status_only(sw::CLA_NOT_SUPPORTED);
    }
    let result = match apdu.ins {
        // CTAP 2.1 alwaysUv: U2F verifies no user, so while alwaysUv is on it neither
        // registers nor signs (the version query stays).
        ins::REGISTER | ins::AUTHENTICATE if always_uv(auth, env) => {
            Err(sw::CONDITIONS_NOT_SATISFIED)
        }
        ins::REGISTER => register(auth, env, apdu.data),
        ins::AUTHENTICATE => authenticate(auth, env, apdu.p1, apdu.data),
        ins::VERSION => {
            if apdu.data.is_empty() {
                Ok(b"U2F_V2".to_vec())
            } else {
                Err(sw::WRONG_LENGTH)
            }
        }
        _ => Err(sw::INS_NOT_SUPPORTED),
    };
    match result {
        Ok(data) => with_status(data, sw::NO_ERROR),
        Err(status) => status_only(status),
    }
}

/// Whether alwaysUv is on (keys without the feature: never; an unreadable store: on, so no
/// credential is used without verification).
fn always_uv(auth: &mut Authenticator, env: &mut Env<'_>) -> bool {
    auth.caps.always_uv && auth.pin_state(env).map_or(true, |s| s.always_uv)
}

/// U2F has no keepalive: presence is whatever the user answers right now; the host retries.
fn user_present(auth: &mut Authenticator, env: &mut Env<'_>, purpose: PresencePurpose) -> bool {
    let request = PresenceRequest {
        id: auth.new_presence_id(),
        purpose,
        rp_id: None,
        user_verification: false,
    };
    let status = env.presence.poll(&request);
    env.presence.finished(request.id);
    // U2F never asks for user verification: a touch whose verification failed is still a touch.
    matches!(
        status,
        PresenceStatus::Approved | PresenceStatus::NotVerified
    )
}

fn register(auth: &mut Authenticator, env: &mut Env<'_>, data: &[u8]) -> Result<Vec<u8>, u16> {
    if data.len() != 64 {
        return Err(sw::WRONG_LENGTH);
    }
    let (challenge, application) = data.split_at(32);
    let mut app = [0u8; 32];
    app.copy_from_slice(application);
    auth.load(env).map_err(|_| sw::INTERNAL)?;
    if !user_present(auth, env, PresencePurpose::U2fRegister) {
        return Err(sw::CONDITIONS_NOT_SATISFIED);
    }
    let key = PrivateKey::generate(Algorithm::Es256, env.rng).map_err(|_| sw::INTERNAL)?;
    let point = key.p256_public_point().ok_or(sw::INTERNAL)?;
    let persistent = auth.persistent.as_ref().ok_or(sw::INTERNAL)?;
    let key_handle = id::wrap(
        &persistent.wrap_key,
        env.rng,
        &app,
        &key,
        id::Sealed {
            flags: FLAG_U2F,
            ..id::Sealed::default()
        },
    )
    .map_err(|_| sw::INTERNAL)?;
    let kh_len = u8::try_from(key_handle.len()).map_err(|_| sw::INTERNAL)?;

    let mut signed = Vec::with_capacity(1 + 32 + 32 + key_handle.len() + 65);
    signed.push(0x00);
    signed.extend_from_slice(&app);
    signed.extend_from_slice(challenge);
    signed.extend_from_slice(&key_handle);
    signed.extend_from_slice(&point);
    let signature = persistent
        .pki
        .sign_with_batch_key(&signed)
        .map_err(|_| sw::INTERNAL)?;

    let cert = persistent.pki.batch_certificate_der();
    let mut out = Vec::with_capacity(1 + 65 + 1 + key_handle.len() + cert.len() + signature.len());
    out.push(0x05);
    out.extend_from_slice(&point);
    out.push(kh_len);
    out.extend_from_slice(&key_handle);
    out.extend_from_slice(cert);
    out.extend_from_slice(&signature);
    Ok(out)
}

fn authenticate(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    p1: u8,
    data: &[u8],
) -> Result<Vec<u8>, u16> {
    if data.len() < 65 {
        return Err(sw::WRONG_LENGTH);
    }
    let kh_len = usize::from(data[64]);
    if data.len() != 65 + kh_len {
        return Err(sw::WRONG_LENGTH);
    }
    let challenge = &data[..32];
    let mut app = [0u8; 32];
    app.copy_from_slice(&data[32..64]);
    let key_handle = &data[65..];
    if !matches!(
        p1,
        control::CHECK_ONLY | control::ENFORCE_USER_PRESENCE | control::DONT_ENFORCE_USER_PRESENCE
    ) {
        return Err(sw::WRONG_DATA);
    }
    let persistent = auth.load(env).map_err(|_| sw::INTERNAL)?;
    // Only credentials registered through U2F are usable through U2F.
    let unwrapped = id::unwrap(&persistent.wrap_key, key_handle, &app)
        .filter(|u| u.flags & FLAG_U2F != 0 && u.key.algorithm() == Algorithm::Es256)
        .ok_or(sw::WRONG_DATA)?;
    let user_presence = match p1 {
        control::CHECK_ONLY => return Err(sw::CONDITIONS_NOT_SATISFIED),
        control::ENFORCE_USER_PRESENCE => {
            if !user_present(auth, env, PresencePurpose::U2fAuthenticate) {
                return Err(sw::CONDITIONS_NOT_SATISFIED);
            }
            0x01
        }
        _ => 0x00,
    };
    let count = counter::next_for_signature(
        env,
        &mut auth.counters,
        auth.config.counter_mode,
        auth.config.counter_reserve,
        key_handle,
    )
    .map_err(|_| sw::INTERNAL)?;
    let mut signed = Vec::with_capacity(32 + 1 + 4 + 32);
    signed.extend_from_slice(&app);
    signed.push(user_presence);
    signed.extend_from_slice(&count.to_be_bytes());
    signed.extend_from_slice(challenge);
    let signature = unwrapped.key.sign(&signed);
    let mut out = Vec::with_capacity(5 + signature.len());
    out.push(user_presence);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&signature);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_extended_apdus() {
        let a = parse_apdu(&[0, 3, 0, 0]).unwrap();
        assert_eq!((a.ins, a.data.len()), (3, 0));
        let a = parse_apdu(&[0, 3, 0, 0, 0]).unwrap(); // short Le
        assert_eq!(a.data.len(), 0);
        let a = parse_apdu(&[0, 3, 0, 0, 0, 0, 0]).unwrap(); // extended Le
        assert_eq!(a.data.len(), 0);
        let a = parse_apdu(&[0, 1, 0, 0, 2, 9, 8]).unwrap(); // short Lc
        assert_eq!(a.data, &[9, 8]);
        let a = parse_apdu(&[0, 1, 0, 0, 2, 9, 8, 0]).unwrap(); // short Lc + Le
        assert_eq!(a.data, &[9, 8]);
        let a = parse_apdu(&[0, 1, 0, 0, 0, 0, 2, 9, 8]).unwrap(); // extended Lc
        assert_eq!(a.data, &[9, 8]);
        let a = parse_apdu(&[0, 1, 0, 0, 0, 0, 2, 9, 8, 0, 0]).unwrap(); // extended Lc + Le
        assert_eq!(a.data, &[9, 8]);
        assert_eq!(parse_apdu(&[0, 1, 0]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse_apdu(&[0, 1, 0, 0, 5, 1]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse_apdu(&[0, 1, 0, 0, 0, 0, 5, 1]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse_apdu(&[0, 1, 0, 0, 0, 0, 0, 1]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse_apdu(&[0, 1, 0, 0, 0, 7]), Err(sw::WRONG_LENGTH));
    }
}
