//! Sign-in: InitiateAuth by flow and RespondToAuthChallenge by challenge, each in its own
//! function (`flows`, `user_auth`, `challenges`, `device`), what follows a proven factor
//! (`next`), and the Admin variants, which name the pool and may use the admin flows.

pub mod answer;
pub mod challenges;
pub mod device;
pub mod flows;
pub mod next;
pub mod user_auth;

use serde_json::Value;

use super::error::CognitoError;
use super::model::CognitoState;
use super::request::Req;
use super::session::Ephemeral;
use crate::emulator::context::Ctx;
use answer::Answer;
use flows::Start;

/// `InitiateAuth`.
pub fn initiate_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    start(state, eph, req, ctx, false)
}

/// `AdminInitiateAuth`: as InitiateAuth, for a client of the pool named, with
/// ADMIN_USER_PASSWORD_AUTH in place of USER_PASSWORD_AUTH.
pub fn admin_initiate_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    client_of_pool(state, req)?;
    start(state, eph, req, ctx, true)
}

/// The app client must belong to the pool an Admin call names.
fn client_of_pool(state: &CognitoState, req: &Req) -> Result<(), CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let client_id = req.req("ClientId")?;
    state.pool(pool_id)?;
    match state.client(client_id) {
        Ok((pool, _)) if pool.id == pool_id => Ok(()),
        _ => Err(CognitoError::not_found(format!(
            "User pool client {client_id} does not exist."
        ))),
    }
}

fn start(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
    admin: bool,
) -> Result<Value, CognitoError> {
    let flow = req.req("AuthFlow")?;
    let client_id = req.req("ClientId")?;
    let params = req.string_map("AuthParameters")?;
    state.client(client_id)?;
    let start = Start {
        flow,
        client_id,
        params: &params,
        admin,
    };
    match (flow, admin) {
        ("USER_SRP_AUTH", _) => flows::user_srp_auth(state, eph, &start, ctx),
        ("USER_PASSWORD_AUTH", false)
        | ("ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH", true) => {
            flows::user_password_auth(state, eph, &start, ctx)
        }
        ("REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN", _) => {
            flows::refresh_token_auth(state, &start, ctx)
        }
        ("USER_AUTH", _) => user_auth::user_auth(state, eph, &start, ctx),
        ("USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" | "ADMIN_USER_PASSWORD_AUTH", _) => {
            Err(CognitoError::invalid("Initiate Auth method not supported."))
        }
        ("CUSTOM_AUTH", _) => Err(CognitoError::invalid(
            "CUSTOM_AUTH is not supported by the authsim emulator (it implements USER_SRP_AUTH, USER_PASSWORD_AUTH, USER_AUTH and REFRESH_TOKEN_AUTH)",
        )),
        (other, _) => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'authFlow' failed to satisfy constraint: Member must satisfy enum value set: [USER_SRP_AUTH, REFRESH_TOKEN_AUTH, REFRESH_TOKEN, CUSTOM_AUTH, ADMIN_NO_SRP_AUTH, USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_AUTH]"
        ))),
    }
}

/// `RespondToAuthChallenge`.
pub fn respond_to_auth_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    respond(state, eph, req, ctx)
}

/// `AdminRespondToAuthChallenge`: as RespondToAuthChallenge, for a client of the pool named.
pub fn admin_respond_to_auth_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    client_of_pool(state, req)?;
    respond(state, eph, req, ctx)
}

fn respond(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let client_id = req.req("ClientId")?;
    let name = req.req("ChallengeName")?;
    let responses = req.string_map("ChallengeResponses")?;
    let session = req.str("Session")?;
    state.client(client_id)?;
    let answer = Answer {
        name,
        client_id,
        session,
        responses: &responses,
    };
    match name {
        "PASSWORD_VERIFIER" => challenges::password_verifier(state, eph, &answer, ctx),
        "NEW_PASSWORD_REQUIRED" => challenges::new_password_required(state, eph, &answer, ctx),
        "SOFTWARE_TOKEN_MFA" => challenges::software_token_mfa(state, eph, &answer, ctx),
        "SMS_MFA" => challenges::sms_mfa(state, eph, &answer, ctx),
        "SELECT_MFA_TYPE" => challenges::select_mfa_type(state, eph, &answer, ctx),
        "MFA_SETUP" => challenges::mfa_setup(state, eph, &answer, ctx),
        "DEVICE_SRP_AUTH" => device::device_srp_auth(state, eph, &answer, ctx),
        "DEVICE_PASSWORD_VERIFIER" => device::device_password_verifier(state, eph, &answer, ctx),
        "SELECT_CHALLENGE" => user_auth::select_challenge_answer(state, eph, &answer, ctx),
        "PASSWORD" => user_auth::password_answer(state, eph, &answer, ctx),
        "PASSWORD_SRP" => user_auth::password_srp_answer(state, eph, &answer, ctx),
        "WEB_AUTHN" => user_auth::web_authn_answer(state, eph, &answer, ctx),
        "CUSTOM_CHALLENGE" | "ADMIN_NO_SRP_AUTH" | "EMAIL_OTP" | "SMS_OTP" => {
            Err(CognitoError::invalid(format!(
                "Challenge {name} is not supported by the authsim emulator."
            )))
        }
        other => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'challengeName' failed to satisfy constraint: Member must satisfy enum value set: [SMS_MFA, EMAIL_OTP, SOFTWARE_TOKEN_MFA, SELECT_MFA_TYPE, MFA_SETUP, PASSWORD_VERIFIER, CUSTOM_CHALLENGE, SELECT_CHALLENGE, DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER, ADMIN_NO_SRP_AUTH, NEW_PASSWORD_REQUIRED, SMS_OTP, PASSWORD, WEB_AUTHN, PASSWORD_SRP]"
        ))),
    }
}
