//! What every RespondToAuthChallenge answer is made of: the answer itself (with its checked
//! session), an SRP claim, and the pending SRP exchange it proves.

use std::collections::BTreeMap;

use crate::emulator::cognito::clients::check_secret_hash;
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::CognitoState;
use crate::emulator::cognito::request::param;
use crate::emulator::cognito::session::{Ephemeral, Session, SrpPending, invalid_session};
use crate::emulator::cognito::srp;
use crate::emulator::crypto;

/// What every answer carries: the app client, the session (if any) and the responses.
pub struct Answer<'a> {
    /// The challenge's name as sent.
    pub name: &'a str,
    /// The app client id.
    pub client_id: &'a str,
    /// The Session member.
    pub session: Option<&'a str>,
    /// ChallengeResponses.
    pub responses: &'a BTreeMap<String, String>,
}

impl Answer<'_> {
    /// A required response.
    pub fn param(&self, name: &str) -> Result<&str, CognitoError> {
        param(self.responses, name)
    }

    /// SECRET_HASH, if sent.
    pub fn secret_hash(&self) -> Option<&str> {
        self.responses.get("SECRET_HASH").map(String::as_str)
    }

    /// The session this answer continues, checked: it waits for this challenge, belongs to
    /// this client and USERNAME, and its user still exists (the same one, by sub).
    pub fn checked_session(
        &self,
        state: &CognitoState,
        eph: &Ephemeral,
        now: f64,
    ) -> Result<Session, CognitoError> {
        let s = eph.live(self.session, now)?.clone();
        if s.client != self.client_id {
            return Err(invalid_session());
        }
        if s.kind.challenge() != self.name {
            return Err(CognitoError::invalid(format!(
                "Invalid challenge name {}: this session answers {}",
                self.name,
                s.kind.challenge()
            )));
        }
        let username = self.param("USERNAME")?;
        if username != s.username {
            return Err(invalid_session());
        }
        let user = state.user(&s.pool, &s.username)?;
        if user.sub != s.sub {
            return Err(invalid_session());
        }
        let (_, client) = state.client(self.client_id)?;
        check_secret_hash(client, username, self.secret_hash())?;
        Ok(s)
    }

    /// Spend the session this answer used.
    pub fn spend(&self, eph: &mut Ephemeral) {
        if let Some(id) = self.session {
            eph.spend(id);
        }
    }
}

/// The parts of an SRP claim (`PASSWORD_CLAIM_*` and `TIMESTAMP`).
pub struct Claim<'a> {
    /// PASSWORD_CLAIM_SECRET_BLOCK (base64).
    pub block: &'a str,
    /// PASSWORD_CLAIM_SIGNATURE (base64).
    pub signature: &'a str,
    /// TIMESTAMP as sent.
    pub timestamp: &'a str,
}

impl<'a> Claim<'a> {
    /// Read the claim's parts from an answer.
    pub fn read(answer: &'a Answer) -> Result<Claim<'a>, CognitoError> {
        Ok(Claim {
            block: answer.param("PASSWORD_CLAIM_SECRET_BLOCK")?,
            signature: answer.param("PASSWORD_CLAIM_SIGNATURE")?,
            timestamp: answer.param("TIMESTAMP")?,
        })
    }

    /// The timestamp re-formatted canonically (so a zero-padded day cannot match), or
    /// Cognito's format error.
    pub fn canonical_timestamp(&self) -> Result<String, CognitoError> {
        let parsed = srp::parse_timestamp(self.timestamp).ok_or_else(|| {
            CognitoError::invalid(
                "TIMESTAMP format should be EEE MMM d HH:mm:ss z yyyy in english.",
            )
        })?;
        Ok(srp::format_timestamp(parsed))
    }

    /// Check the claim: HMAC over `group | id | secret block | timestamp` under the
    /// exchange's session key for the verifier.
    pub fn check(
        &self,
        pending: &SrpPending,
        verifier_hex: &str,
        (group, id): (&str, &str),
        timestamp: &str,
    ) -> Result<(), CognitoError> {
        let v = srp::from_hex(verifier_hex)
            .ok_or_else(|| CognitoError::internal("stored verifier is corrupt"))?;
        let key = srp::session_key(&pending.big_a, &pending.half, &v)
            .ok_or_else(CognitoError::incorrect_password)?;
        let block = crypto::b64_decode(self.block).ok_or_else(CognitoError::incorrect_password)?;
        let expected = srp::claim(&key, group, id, &block, timestamp);
        let given =
            crypto::b64_decode(self.signature).ok_or_else(CognitoError::incorrect_password)?;
        if crypto::ct_eq(&expected, &given) {
            Ok(())
        } else {
            Err(CognitoError::incorrect_password())
        }
    }
}

/// The DEVICE_KEY of an answer, checked against the user of a pending exchange before the
/// exchange is used: an unknown or forgotten device is `ResourceNotFoundException` and the
/// secret block stays valid, because amazon-cognito-identity-js retries the same answer
/// without its device.
pub fn answer_device(
    state: &CognitoState,
    eph: &Ephemeral,
    answer: &Answer,
    block: &str,
) -> Result<Option<String>, CognitoError> {
    let Some(key) = answer.responses.get("DEVICE_KEY") else {
        return Ok(None);
    };
    if let Some(SrpPending {
        pool,
        username: Some(u),
        ..
    }) = eph.srp.get(block)
        && let Ok(user) = state.user(pool, u)
    {
        user.confirmed_device(key)?;
    }
    Ok(Some(key.clone()))
}

/// Take a pending SRP exchange of the right kind (password or device) by its secret
/// block: single-use, whatever the outcome.
pub fn take_exchange(
    eph: &mut Ephemeral,
    answer: &Answer,
    block: &str,
    device: bool,
    now: f64,
) -> Result<SrpPending, CognitoError> {
    let pending = eph.srp.remove(block).ok_or_else(invalid_session)?;
    if pending.client != answer.client_id || pending.device.is_some() != device {
        return Err(invalid_session());
    }
    if pending.expires < now {
        return Err(CognitoError::not_authorized(
            "Invalid session for the user, session is expired.",
        ));
    }
    Ok(pending)
}
