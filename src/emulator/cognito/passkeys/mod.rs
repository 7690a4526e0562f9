//! Passkeys: the pool's WebAuthnConfiguration, StartWebAuthnRegistration,
//! CompleteWebAuthnRegistration, ListWebAuthnCredentials, DeleteWebAuthnCredential and
//! GetUserAuthFactors. The verifier itself is in `relying_party`.

pub mod relying_party;

use serde_json::{Value, json};

use super::access::authorize;
use super::error::CognitoError;
use super::model::{CognitoState, Passkey, User, UserPool, WebAuthnConfig};
use super::request::Req;
use super::session::{Ephemeral, PendingRegistration};
use super::users::mfa_fields;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use relying_party::{RelyingParty, TIMEOUT_MS};

/// How many passkeys one user may register.
pub const MAX_PASSKEYS: usize = 20;

/// `WebAuthnConfiguration` as GetUserPoolMfaConfig shows it.
pub fn config_json(c: &WebAuthnConfig) -> Value {
    let mut v = json!({
        "UserVerification": c.user_verification,
        "FactorConfiguration": c.factor,
    });
    if let Some(rp) = &c.relying_party_id {
        v["RelyingPartyId"] = json!(rp);
    }
    v
}

/// Whether `id` is a host name a relying party id can be (no scheme, port or path).
fn valid_rp_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 127
        && id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Apply SetUserPoolMfaConfig's `WebAuthnConfiguration` to a pool's configuration.
pub fn apply_config(pool: &mut UserPool, req: &Req) -> Result<(), CognitoError> {
    let Some(w) = req.obj("WebAuthnConfiguration")? else {
        return Ok(());
    };
    let mut config = WebAuthnConfig::default();
    if let Some(rp) = w.str("RelyingPartyId")? {
        if !valid_rp_id(rp) {
            return Err(CognitoError::invalid(format!(
                "RelyingPartyId {rp} is not a valid domain name."
            )));
        }
        config.relying_party_id = Some(rp.to_owned());
    }
    match w.str("UserVerification")? {
        None => {}
        Some(uv @ ("required" | "preferred")) => config.user_verification = uv.to_owned(),
        Some(other) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'webAuthnConfiguration.userVerification' failed to satisfy constraint: Member must satisfy enum value set: [required, preferred]"
            )));
        }
    }
    match w.str("FactorConfiguration")? {
        None => {}
        Some(f @ ("SINGLE_FACTOR" | "MULTI_FACTOR_WITH_USER_VERIFICATION")) => {
            config.factor = f.to_owned()
        }
        Some(other) => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'webAuthnConfiguration.factorConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [SINGLE_FACTOR, MULTI_FACTOR_WITH_USER_VERIFICATION]"
            )));
        }
    }
    if config.multi_factor() && pool.tier == "LITE" {
        return Err(CognitoError::new(
            "FeatureUnavailableInTierException",
            "Passkey MFA requires the ESSENTIALS or PLUS user pool tier.",
        ));
    }
    pool.webauthn = config;
    Ok(())
}

/// The signed-in user of an access token: its pool and username.
fn token_user(
    state: &CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<(String, String), CognitoError> {
    authorize(state, req.req("AccessToken")?, ctx)
}

/// The pool's relying party, once passkeys are enabled for it.
fn enabled_rp(pool: &UserPool) -> Result<RelyingParty, CognitoError> {
    if !pool.allows_first_factor("WEB_AUTHN") {
        return Err(CognitoError::new(
            "WebAuthnNotEnabledException",
            "Passkeys are not enabled for this user pool: add WEB_AUTHN to Policies.SignInPolicy.AllowedFirstAuthFactors.",
        ));
    }
    RelyingParty::for_pool(pool)
}

/// `StartWebAuthnRegistration`.
pub fn start_registration(
    state: &CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = token_user(state, req, ctx)?;
    let pool = state.pool(&pool_id)?;
    let rp = enabled_rp(pool)?;
    let user = state.user(&pool_id, &username)?;
    if user.passkeys.len() >= MAX_PASSKEYS {
        return Err(CognitoError::new(
            "LimitExceededException",
            format!("A user can register at most {MAX_PASSKEYS} passkeys."),
        ));
    }
    let (options, challenge, reg_state) =
        rp.start_registration(user.sub.as_bytes(), &username, &user.passkeys)?;
    eph.registrations.insert(
        challenge,
        PendingRegistration {
            pool: pool_id,
            username,
            sub: user.sub.clone(),
            state: reg_state,
            expires: ctx.now + TIMEOUT_MS as f64 / 1000.0,
        },
    );
    Ok(json!({"CredentialCreationOptions": options}))
}

/// `CompleteWebAuthnRegistration`: `Credential` is a RegistrationResponseJSON object.
pub fn complete_registration(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let credential = match req.value("Credential") {
        None => return Err(CognitoError::null_member("credential")),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(CognitoError::invalid(
                "Credential must be a RegistrationResponseJSON object.",
            ));
        }
    };
    let (pool_id, username) = token_user(state, req, ctx)?;
    let rp = enabled_rp(state.pool(&pool_id)?)?;
    let not_found = || {
        CognitoError::new(
            "WebAuthnChallengeNotFoundException",
            "The WebAuthn challenge was not found or has expired.",
        )
    };
    let challenge = relying_party::challenge_of(&credential).ok_or_else(not_found)?;
    // The challenge is single-use, whatever the outcome.
    let pending = eph.registrations.remove(&challenge).ok_or_else(not_found)?;
    let user = state.user(&pool_id, &username)?;
    if pending.pool != pool_id
        || pending.username != username
        || pending.sub != user.sub
        || pending.expires < ctx.now
    {
        return Err(not_found());
    }
    let registered = rp.finish_registration(&credential, &pending.state)?;
    let taken = state
        .pool(&pool_id)?
        .users
        .values()
        .any(|u| u.passkeys.iter().any(|p| p.id == registered.id));
    if taken {
        return Err(CognitoError::invalid(
            "This passkey is already registered in the user pool.",
        ));
    }
    let user = state.user_mut(&pool_id, &username)?;
    let name = format!("Passkey {}", user.passkeys.len() + 1);
    user.passkeys.push(Passkey {
        id: registered.id,
        name,
        rp_id: rp.id,
        attachment: registered.attachment,
        transports: registered.transports,
        created: ctx.now,
        credential: registered.credential,
    });
    user.modified = ctx.now;
    Ok(json!({}))
}

fn passkey_json(p: &Passkey) -> Value {
    let mut v = json!({
        "CredentialId": p.id,
        "FriendlyCredentialName": p.name,
        "RelyingPartyId": p.rp_id,
        "AuthenticatorTransports": p.transports,
        "CreatedAt": p.created,
    });
    if let Some(a) = &p.attachment {
        v["AuthenticatorAttachment"] = json!(a);
    }
    v
}

/// `ListWebAuthnCredentials` (`MaxResults` 0 to 20, an opaque `NextToken`).
pub fn list_credentials(state: &CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let (pool_id, username) = token_user(state, req, ctx)?;
    let max = req.u64("MaxResults")?.unwrap_or(20);
    if max > 20 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 20"
        )));
    }
    let start: usize = match req.str("NextToken")? {
        None => 0,
        Some(t) => crypto::b64url_decode(t)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("authsim-passkey:")
                    .and_then(|n| n.parse().ok())
            })
            .ok_or_else(|| CognitoError::invalid("Invalid NextToken."))?,
    };
    let user = state.user(&pool_id, &username)?;
    let end = start.saturating_add(max as usize);
    let page: Vec<Value> = user
        .passkeys
        .iter()
        .skip(start)
        .take(max as usize)
        .map(passkey_json)
        .collect();
    let mut out = json!({"Credentials": page});
    if end < user.passkeys.len() {
        out["NextToken"] = json!(crypto::b64url(format!("authsim-passkey:{end}").as_bytes()));
    }
    Ok(out)
}

/// `DeleteWebAuthnCredential`.
pub fn delete_credential(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = token_user(state, req, ctx)?;
    let id = req.req("CredentialId")?;
    let user = state.user_mut(&pool_id, &username)?;
    let before = user.passkeys.len();
    user.passkeys.retain(|p| p.id != id);
    if user.passkeys.len() == before {
        return Err(CognitoError::not_found(
            "The passkey credential does not exist.",
        ));
    }
    user.modified = ctx.now;
    Ok(json!({}))
}

/// The first factors a user has set up (`ConfiguredUserAuthFactors`).
pub fn configured_factors(user: &User) -> Vec<&'static str> {
    let mut f = Vec::new();
    if user.password.is_some() {
        f.push("PASSWORD");
    }
    if !user.passkeys.is_empty() {
        f.push("WEB_AUTHN");
    }
    f
}

/// `GetUserAuthFactors`.
pub fn get_user_auth_factors(
    state: &CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = token_user(state, req, ctx)?;
    let pool = state.pool(&pool_id)?;
    let user = state.user(&pool_id, &username)?;
    let mut v = json!({
        "Username": user.username,
        "ConfiguredUserAuthFactors": configured_factors(user),
    });
    mfa_fields(pool, user, &mut v);
    Ok(v)
}
