//! Device authentication, the last step of a sign-in with a confirmed device:
//! DEVICE_SRP_AUTH (the client's SRP_A for the device) answered with
//! DEVICE_PASSWORD_VERIFIER (SALT, SRP_B, SECRET_BLOCK), then the client's claim.
//!
//! The device's SRP is the user's with the device group key in the pool name's place and
//! the device key in the username's: `x = H(salt | H(groupKey | deviceKey | ":" |
//! password))`, claim `HMAC(key, groupKey | deviceKey | secretBlock | timestamp)`. Clients
//! may leave out the Session (pycognito does): the DEVICE_SRP_AUTH session is then found
//! by client, user and device, and the claim by its secret block.

use serde_json::{Value, json};

use super::answer::{Answer, Claim, take_exchange};
use super::next::challenge;
use crate::emulator::cognito::clients::check_secret_hash;
use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::CognitoState;
use crate::emulator::cognito::session::{
    Ephemeral, SESSION_TTL_SECS, SessionKind, SrpPending, Who, invalid_session,
};
use crate::emulator::cognito::srp;
use crate::emulator::cognito::tokens::issue_tokens;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;

/// `DEVICE_SRP_AUTH`: start the device's SRP exchange.
pub fn device_srp_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let username = answer.param("USERNAME")?;
    let key = answer.param("DEVICE_KEY")?;
    let srp_a = answer.param("SRP_A")?;
    let (pool, client) = state.client(answer.client_id)?;
    check_secret_hash(client, username, answer.secret_hash())?;
    let user = pool
        .users
        .get(username)
        .ok_or_else(CognitoError::user_not_found)?;
    let device = user.confirmed_device(key)?;
    let session_id = match answer.session {
        Some(id) => id.to_owned(),
        None => eph
            .device_session(answer.client_id, username, key, ctx.now)
            .map(str::to_owned)
            .ok_or_else(invalid_session)?,
    };
    let with_session = Answer {
        session: Some(&session_id),
        ..*answer
    };
    let s = with_session.checked_session(state, eph, ctx.now)?;
    if !matches!(s.kind, SessionKind::DeviceSrpAuth) || s.device.as_deref() != Some(key) {
        return Err(invalid_session());
    }
    let big_a = srp::from_hex(srp_a)
        .filter(srp::valid_client_public)
        .ok_or_else(|| CognitoError::invalid("SRP_A value is invalid."))?;
    let verifier = device
        .verifier
        .as_ref()
        .ok_or_else(CognitoError::device_not_found)?;
    let v = srp::from_hex(verifier.verifier.expose())
        .ok_or_else(|| CognitoError::internal("stored device verifier is corrupt"))?;
    let half = srp::server_half(&v);
    let salt = verifier.salt.clone();
    with_session.spend(eph);
    let secret_block = crypto::b64(&crypto::random_bytes(64));
    let b_hex = srp::to_hex(&half.big_b);
    eph.srp.insert(
        secret_block.clone(),
        SrpPending {
            pool: s.pool.clone(),
            client: s.client.clone(),
            username: Some(s.username.clone()),
            big_a,
            half,
            device: Some(key.to_owned()),
            expires: ctx.now + SESSION_TTL_SECS,
        },
    );
    Ok(challenge(
        "DEVICE_PASSWORD_VERIFIER",
        None,
        json!({
            "SALT": salt,
            "SECRET_BLOCK": secret_block,
            "SRP_B": b_hex,
            "USERNAME": s.username,
            "DEVICE_KEY": key,
        }),
    ))
}

/// `DEVICE_PASSWORD_VERIFIER`: the client's claim for the device; tokens bound to it.
pub fn device_password_verifier(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    answer: &Answer,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let claim = Claim::read(answer)?;
    let username = answer.param("USERNAME")?;
    let key = answer.param("DEVICE_KEY")?;
    let (pool, client) = state.client(answer.client_id)?;
    check_secret_hash(client, username, answer.secret_hash())?;
    let device = pool
        .users
        .get(username)
        .ok_or_else(CognitoError::user_not_found)?
        .confirmed_device(key)?;
    let pending = take_exchange(eph, answer, claim.block, true, ctx.now)?;
    let timestamp = claim.canonical_timestamp()?;
    if pending.username.as_deref() != Some(username) || pending.device.as_deref() != Some(key) {
        return Err(CognitoError::incorrect_password());
    }
    let verifier = device
        .verifier
        .as_ref()
        .ok_or_else(CognitoError::device_not_found)?;
    claim.check(
        &pending,
        verifier.verifier.expose(),
        (&device.group_key, key),
        &timestamp,
    )?;
    let who = Who {
        pool: pending.pool.clone(),
        client: answer.client_id.to_owned(),
        username: username.to_owned(),
        device: Some(key.to_owned()),
    };
    let d = state
        .user_mut(&who.pool, username)?
        .devices
        .get_mut(key)
        .ok_or_else(CognitoError::device_not_found)?;
    d.last_authenticated = ctx.now;
    issue_tokens(state, &who, ctx, None)
}
