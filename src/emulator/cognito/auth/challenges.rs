//! RespondToAuthChallenge, one function per challenge: PASSWORD_VERIFIER,
//! NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, SMS_MFA, SELECT_MFA_TYPE, MFA_SETUP.

use std::collections::BTreeMap;

use serde_json::Value;

use super::next::{Who, after_password, mfa_challenge, mfa_step};
use crate::emulator::cognito::clients::check_secret_hash;
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{CognitoState, UserStatus};
use crate::emulator::cognito::passwords::{check_policy, make_verifier};
use crate::emulator::cognito::request::param;
use crate::emulator::cognito::session::{
    Ephemeral, Session, SessionKind, SrpPending, invalid_session,
};
use crate::emulator::cognito::srp;
use crate::emulator::cognito::tokens::issue_tokens;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use crate::emulator::totp::{self, Rejection};

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
    fn param(&self, name: &str) -> Result<&str, CognitoError> {
        param(self.responses, name)
    }

    fn secret_hash(&self) -> Option<&str> {
        self.responses.get("SECRET_HASH").map(String::as_str)
    }

    /// The session this answer continues, checked: it waits for this challenge, belongs to
    /// this client and USERNAME, and its user still exists (the same one, by sub).
    fn checked_session(
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
    fn spend(&self, eph: &mut Ephemeral) {
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

/// Take a pending SRP exchange by its secret block (single-use, whatever the outcome).
pub fn take_exchange(
    eph: &mut Ephemeral,
    answer: &Answer,
    block: &str,
    now: f64,
) -> Result<SrpPending, CognitoError> {
    let pending = eph.srp.remove(block).ok_or_else(invalid_session)?;
    if pending.client != answer.client_id {
        return Err(invalid_session());
    }
    if pending.expires < now {
        return Err(CognitoError::not_authorized(
            "Invalid session for the user, session is expired.",
        ));
    }
    Ok(pending)
}

/// `PASSWORD_VERIFIER`: the client's SRP proof of the password.
pub fn password_verifier(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool, client) = state.client(answer.client_id)?;
    let claim = Claim::read(answer)?;
    let username = answer.param("USERNAME")?;
    check_secret_hash(client, username, answer.secret_hash())?;
    let pending = take_exchange(eph, answer, claim.block, ctx.now)?;
    let timestamp = claim.canonical_timestamp()?;
    let Some(user_id) = pending.username.as_deref() else {
        return Err(CognitoError::incorrect_password());
    };
    if username != user_id {
        return Err(CognitoError::incorrect_password());
    }
    let user = pool
        .users
        .get(user_id)
        .ok_or_else(CognitoError::user_not_found)?;
    let pv = user
        .password
        .as_ref()
        .ok_or_else(CognitoError::incorrect_password)?;
    claim.check(
        &pending,
        pv.verifier.expose(),
        (pool.srp_name(), user_id),
        &timestamp,
    )?;
    let who = Who {
        pool: pool.id.clone(),
        client: answer.client_id.to_owned(),
        username: user_id.to_owned(),
    };
    after_password(state, eph, &who, ctx)
}

/// `NEW_PASSWORD_REQUIRED`: the new password (and any attributes) after a temporary one.
pub fn new_password_required(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let new_password = answer.param("NEW_PASSWORD")?;
    let pool = state.pool(&s.pool)?;
    check_policy(&pool.policy, new_password)?;
    let pv = make_verifier(pool, &s.username, new_password);
    let attrs: Vec<(String, String)> = answer
        .responses
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("userAttributes.")
                .map(|a| (a.to_owned(), v.clone()))
        })
        .collect();
    if attrs.iter().any(|(k, _)| k == "sub") {
        return Err(CognitoError::invalid(
            "Cannot modify an immutable attribute: sub",
        ));
    }
    answer.spend(eph);
    let u = state.user_mut(&s.pool, &s.username)?;
    u.password = Some(pv);
    u.status = UserStatus::Confirmed;
    u.temporary_password_set = None;
    for (k, v) in attrs {
        u.attributes.insert(k, v);
    }
    u.modified = ctx.now;
    mfa_step(state, eph, &Who::of(&s), ctx)
}

/// `SOFTWARE_TOKEN_MFA`: a TOTP code within one step, never one already used.
pub fn software_token_mfa(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let code = answer.param("SOFTWARE_TOKEN_MFA_CODE")?;
    let user = state.user_mut(&s.pool, &s.username)?;
    let secret = user
        .totp
        .active
        .as_ref()
        .and_then(|s| {
            data_encoding::BASE32_NOPAD
                .decode(s.expose().as_bytes())
                .ok()
        })
        .ok_or_else(|| {
            CognitoError::new(
                "SoftwareTokenMFANotFoundException",
                "Software Token MFA does not exist for the user.",
            )
        })?;
    match totp::verify(&secret, code, ctx.now_secs, 0, 1, user.totp.last_step) {
        Ok(step) => user.totp.last_step = Some(step),
        Err(Rejection::Mismatch) => {
            return Err(CognitoError::new(
                "CodeMismatchException",
                "Invalid code received for user",
            ));
        }
        Err(Rejection::Replay) => {
            return Err(CognitoError::new(
                "ExpiredCodeException",
                "Your software token has already been used once.",
            ));
        }
    }
    answer.spend(eph);
    issue_tokens(state, &s.pool, answer.client_id, &s.username, ctx, None)
}

/// `SMS_MFA`: the code "sent" by SMS.
pub fn sms_mfa(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let code = answer.param("SMS_MFA_CODE")?;
    let SessionKind::SmsMfa { code: expected } = &s.kind else {
        return Err(invalid_session());
    };
    if !crypto::ct_eq(expected.expose().as_bytes(), code.as_bytes()) {
        return Err(CognitoError::new(
            "CodeMismatchException",
            "Invalid code or auth state for the user.",
        ));
    }
    answer.spend(eph);
    issue_tokens(state, &s.pool, answer.client_id, &s.username, ctx, None)
}

/// `SELECT_MFA_TYPE`: the user's choice among the MFA methods offered.
pub fn select_mfa_type(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    let choice = answer.param("ANSWER")?;
    let pool = state.pool(&s.pool)?;
    let methods = state.user(&s.pool, &s.username)?.mfa_methods(pool);
    if !methods.contains(&choice) {
        return Err(CognitoError::invalid(format!(
            "Invalid MFA type {choice}: choose one of {}",
            methods.join(", ")
        )));
    }
    answer.spend(eph);
    mfa_challenge(state, eph, choice, &Who::of(&s), ctx)
}

/// `MFA_SETUP`: finishing sign-in once VerifySoftwareToken succeeded with the session.
pub fn mfa_setup(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let s = answer.checked_session(state, eph, ctx.now)?;
    if !matches!(s.kind, SessionKind::MfaSetup { verified: true }) {
        return Err(CognitoError::invalid(
            "MFA setup is not complete for this session: call AssociateSoftwareToken and VerifySoftwareToken with it first.",
        ));
    }
    answer.spend(eph);
    issue_tokens(state, &s.pool, answer.client_id, &s.username, ctx, None)
}
