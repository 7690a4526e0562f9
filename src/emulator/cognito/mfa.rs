//! MFA: the pool's configuration (SetUserPoolMfaConfig, GetUserPoolMfaConfig), a user's
//! settings (SetUserMFAPreference, AdminSetUserMFAPreference) and TOTP enrollment
//! (AssociateSoftwareToken, VerifySoftwareToken) by access token or MFA_SETUP session.

use serde_json::{Value, json};

use super::access::authorize;
use super::error::CognitoError;
use super::model::{CognitoState, MfaMode, User, UserPool};
use super::passkeys;
use super::request::Req;
use super::session::{Ephemeral, SESSION_TTL_SECS, Session, SessionKind, invalid_session};
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::totp;

fn mfa_config_json(p: &UserPool) -> Value {
    let mut v = json!({
        "SoftwareTokenMfaConfiguration": {"Enabled": p.software_token_mfa},
        "MfaConfiguration": p.mfa.as_str(),
        "WebAuthnConfiguration": passkeys::config_json(&p.webauthn),
    });
    if p.sms_mfa {
        v["SmsMfaConfiguration"] = json!({
            "SmsAuthenticationMessage": p.sms_message.clone().unwrap_or_else(|| "Your authentication code is {####}. ".into()),
            "SmsConfiguration": {"SnsCallerArn": format!("arn:aws:iam::{}:role/authsim-sms", crate::emulator::ACCOUNT_ID)},
        });
    }
    v
}

/// `SetUserPoolMfaConfig`.
pub fn set_user_pool_mfa_config(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let totp = match req.obj("SoftwareTokenMfaConfiguration")? {
        Some(o) => Some(o.bool("Enabled")?.unwrap_or(false)),
        None => None,
    };
    let sms = req.obj("SmsMfaConfiguration")?;
    let sms_msg = match &sms {
        Some(s) => s.str("SmsAuthenticationMessage")?.map(str::to_owned),
        None => None,
    };
    if let Some(m) = &sms_msg
        && !m.contains("{####}")
    {
        return Err(CognitoError::invalid(
            "SmsAuthenticationMessage must contain the code placeholder {####}.",
        ));
    }
    let mode = match req.str("MfaConfiguration")? {
        None => None,
        Some(s) => Some(MfaMode::parse(s).ok_or_else(|| {
            CognitoError::invalid(format!(
                "1 validation error detected: Value '{s}' at 'mfaConfiguration' failed to satisfy constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]"
            ))
        })?),
    };
    let p = state.pool_mut(pool_id)?;
    let mut staged = p.clone();
    passkeys::apply_config(&mut staged, req)?;
    let new_totp = totp.unwrap_or(p.software_token_mfa);
    let new_sms = if sms.is_some() {
        true
    } else {
        p.sms_mfa && mode != Some(MfaMode::Off)
    };
    let new_mode = mode.unwrap_or(p.mfa);
    if new_mode != MfaMode::Off && !new_totp && !new_sms {
        return Err(CognitoError::invalid(
            "At least one MFA method must be enabled when MfaConfiguration is ON or OPTIONAL.",
        ));
    }
    p.software_token_mfa = new_totp;
    p.sms_mfa = new_sms;
    if sms_msg.is_some() {
        p.sms_message = sms_msg;
    }
    p.mfa = new_mode;
    p.webauthn = staged.webauthn;
    p.modified = ctx.now;
    Ok(mfa_config_json(p))
}

/// `GetUserPoolMfaConfig`.
pub fn get_user_pool_mfa_config(state: &CognitoState, req: &Req) -> Result<Value, CognitoError> {
    Ok(mfa_config_json(state.pool(req.req("UserPoolId")?)?))
}

/// Apply `SMSMfaSettings` / `SoftwareTokenMfaSettings` to a user (shared by the admin and
/// the token-authorised call).
pub fn apply_mfa_preference(
    pool: &UserPool,
    user: &mut User,
    req: &Req,
    now: f64,
) -> Result<(), CognitoError> {
    let sms = req.obj("SMSMfaSettings")?;
    let totp = req.obj("SoftwareTokenMfaSettings")?;
    let read = |o: &Option<Req>| -> Result<(Option<bool>, Option<bool>), CognitoError> {
        match o {
            Some(o) => Ok((o.bool("Enabled")?, o.bool("PreferredMfa")?)),
            None => Ok((None, None)),
        }
    };
    let (sms_enabled, sms_pref) = read(&sms)?;
    let (totp_enabled, totp_pref) = read(&totp)?;
    let passkey_mfa = match req.obj("WebAuthnMfaSettings")? {
        Some(o) => o.bool("Enabled")?,
        None => None,
    };
    if passkey_mfa == Some(true) && !pool.webauthn.multi_factor() {
        return Err(CognitoError::invalid(
            "Passkey MFA is not enabled for the user pool: set WebAuthnConfiguration.FactorConfiguration to MULTI_FACTOR_WITH_USER_VERIFICATION.",
        ));
    }
    if totp_enabled == Some(true) || totp_pref == Some(true) {
        if !pool.software_token_mfa {
            return Err(CognitoError::invalid(
                "Software token MFA is not enabled for the user pool.",
            ));
        }
        if user.totp.active.is_none() {
            return Err(CognitoError::invalid(
                "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA",
            ));
        }
    }
    if (sms_enabled == Some(true) || sms_pref == Some(true))
        && !user.attributes.contains_key("phone_number")
    {
        return Err(CognitoError::invalid(
            "User does not have delivery config set to turn on SMS_MFA",
        ));
    }
    if sms_pref == Some(true) && totp_pref == Some(true) {
        return Err(CognitoError::invalid(
            "Only one MFA method can be preferred.",
        ));
    }
    if let Some(e) = sms_enabled {
        user.sms_mfa_enabled = e;
    }
    if let Some(e) = totp_enabled {
        user.software_mfa_enabled = e;
    }
    if let Some(e) = passkey_mfa {
        user.passkey_mfa = e;
    }
    if sms_pref == Some(true) {
        user.sms_mfa_enabled = true;
        user.preferred_mfa = Some("SMS_MFA".into());
    } else if totp_pref == Some(true) {
        user.software_mfa_enabled = true;
        user.preferred_mfa = Some("SOFTWARE_TOKEN_MFA".into());
    }
    match user.preferred_mfa.as_deref() {
        Some("SMS_MFA") if !user.sms_mfa_enabled || sms_pref == Some(false) => {
            user.preferred_mfa = None
        }
        Some("SOFTWARE_TOKEN_MFA") if !user.software_mfa_enabled || totp_pref == Some(false) => {
            user.preferred_mfa = None
        }
        _ => {}
    }
    user.modified = now;
    Ok(())
}

/// `AdminSetUserMFAPreference`.
pub fn admin_set_user_mfa_preference(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool_id = req.req("UserPoolId")?;
    let username = req.req("Username")?;
    let p = state.pool_mut(pool_id)?;
    let snapshot = p.clone();
    let u = p
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)?;
    apply_mfa_preference(&snapshot, u, req, ctx.now)?;
    Ok(json!({}))
}

/// `SetUserMFAPreference`.
pub fn set_user_mfa_preference(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let pool = state.pool(&pool_id)?.clone();
    let user = state.user_mut(&pool_id, &username)?;
    apply_mfa_preference(&pool, user, req, ctx.now)?;
    Ok(json!({}))
}

enum Authority {
    Token(String, String),
    Session(String, Session),
}

fn token_or_session(
    state: &CognitoState,
    eph: &Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Authority, CognitoError> {
    match (req.str("AccessToken")?, req.str("Session")?) {
        (Some(_), Some(_)) => Err(CognitoError::invalid(
            "Provide either AccessToken or Session, not both.",
        )),
        (None, None) => Err(CognitoError::invalid(
            "Either AccessToken or Session is required.",
        )),
        (Some(t), None) => {
            let (p, u) = authorize(state, t, ctx)?;
            Ok(Authority::Token(p, u))
        }
        (None, Some(id)) => {
            let s = eph.live(Some(id), ctx.now)?.clone();
            if !matches!(s.kind, SessionKind::MfaSetup { .. }) {
                return Err(invalid_session());
            }
            let user = state.user(&s.pool, &s.username)?;
            if user.sub != s.sub {
                return Err(invalid_session());
            }
            Ok(Authority::Session(id.to_owned(), s))
        }
    }
}

/// `AssociateSoftwareToken`: a fresh 32-character base32 secret per call.
pub fn associate_software_token(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let authority = token_or_session(state, eph, req, ctx)?;
    let (pool_id, username) = match &authority {
        Authority::Token(p, u) => (p.clone(), u.clone()),
        Authority::Session(_, s) => (s.pool.clone(), s.username.clone()),
    };
    let secret = data_encoding::BASE32_NOPAD.encode(&crypto::random_bytes(20));
    let user = state.user_mut(&pool_id, &username)?;
    user.totp.pending = Some(SecretString::new(secret.clone()));
    user.modified = ctx.now;
    match authority {
        Authority::Token(..) => Ok(json!({"SecretCode": secret})),
        Authority::Session(id, s) => {
            eph.spend(&id);
            let next = eph.open(Session {
                kind: SessionKind::MfaSetup { verified: false },
                expires: ctx.now + SESSION_TTL_SECS,
                ..s
            });
            Ok(json!({"SecretCode": secret, "Session": next}))
        }
    }
}

/// `VerifySoftwareToken`.
pub fn verify_software_token(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let code = req.req("UserCode")?;
    if code.chars().count() != 6 {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{code}' at 'userCode' failed to satisfy constraint: Member must have length less than or equal to 6 and greater than or equal to 6"
        )));
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{code}' at 'userCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]+"
        )));
    }
    let friendly = req.str("FriendlyDeviceName")?.map(str::to_owned);
    let authority = token_or_session(state, eph, req, ctx)?;
    let (pool_id, username) = match &authority {
        Authority::Token(p, u) => (p.clone(), u.clone()),
        Authority::Session(_, s) => (s.pool.clone(), s.username.clone()),
    };
    let user = state.user_mut(&pool_id, &username)?;
    let pending = user.totp.pending.clone().ok_or_else(|| {
        CognitoError::invalid("No software token is associated: call AssociateSoftwareToken first.")
    })?;
    let secret = data_encoding::BASE32_NOPAD
        .decode(pending.expose().as_bytes())
        .map_err(|_| CognitoError::internal("stored secret is corrupt"))?;
    let step = totp::verify(&secret, code, ctx.now_secs, 0, 1, None).map_err(|_| {
        CognitoError::new(
            "EnableSoftwareTokenMFAException",
            "Code mismatch and fail enable Software Token MFA",
        )
    })?;
    user.totp.active = Some(pending);
    user.totp.pending = None;
    user.totp.last_step = Some(step);
    user.totp.friendly_name = friendly;
    user.modified = ctx.now;
    match authority {
        Authority::Token(..) => Ok(json!({"Status": "SUCCESS"})),
        Authority::Session(id, s) => {
            // Enrolling during sign-in turns the factor on, as Cognito does.
            user.software_mfa_enabled = true;
            if user.preferred_mfa.is_none() {
                user.preferred_mfa = Some("SOFTWARE_TOKEN_MFA".into());
            }
            eph.spend(&id);
            let next = eph.open(Session {
                kind: SessionKind::MfaSetup { verified: true },
                expires: ctx.now + SESSION_TTL_SECS,
                ..s
            });
            Ok(json!({"Status": "SUCCESS", "Session": next}))
        }
    }
}
