//! Sign-in: InitiateAuth (USER_SRP_AUTH, USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH),
//! RespondToAuthChallenge (PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, SELECT_MFA_TYPE,
//! SOFTWARE_TOKEN_MFA, SMS_MFA, MFA_SETUP), tokens, and the token- or session-authorised
//! TOTP calls (AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference, GetUser).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{CognitoState, Message, MfaMode, RefreshToken, User, UserStatus};
use super::pools::{self, check_secret_hash};
use super::{
    CognitoError, Ephemeral, Req, SESSION_TTL_SECS, Session, SessionKind, SrpPending, jwt, srp,
};
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::server::Ctx;
use crate::emulator::totp::{self, Rejection};

fn incorrect() -> CognitoError {
    CognitoError::not_authorized("Incorrect username or password.")
}

fn invalid_session() -> CognitoError {
    CognitoError::not_authorized("Invalid session for the user.")
}

fn missing_param(name: &str) -> CognitoError {
    CognitoError::invalid(format!("Missing required parameter {name}"))
}

fn param<'a>(m: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, CognitoError> {
    m.get(name)
        .map(String::as_str)
        .ok_or_else(|| missing_param(name))
}

fn new_session(eph: &mut Ephemeral, s: Session) -> String {
    let id = format!("AYABe{}", crypto::b64url(&crypto::random_bytes(180)));
    eph.sessions.insert(id.clone(), s);
    id
}

/// Look up a live session (not consuming it).
fn session<'e>(
    eph: &'e Ephemeral,
    id: Option<&str>,
    now: f64,
) -> Result<&'e Session, CognitoError> {
    let id = id.ok_or_else(|| missing_param("Session"))?;
    match eph.sessions.get(id) {
        Some(s) if s.expires < now => Err(CognitoError::not_authorized(
            "Invalid session for the user, session is expired.",
        )),
        Some(s) => Ok(s),
        None if eph.spent_sessions.contains_key(id) => Err(CognitoError::not_authorized(
            "Invalid session for the user, session can only be used once.",
        )),
        None => Err(invalid_session()),
    }
}

fn spend(eph: &mut Ephemeral, id: &str) {
    if let Some(s) = eph.sessions.remove(id) {
        eph.spent_sessions.insert(id.to_owned(), s.expires);
    }
}

fn user_of<'a>(
    state: &'a CognitoState,
    pool_id: &str,
    username: &str,
) -> Result<&'a User, CognitoError> {
    pools::pool(state, pool_id)?
        .users
        .get(username)
        .ok_or_else(CognitoError::user_not_found)
}

fn user_mut<'a>(
    state: &'a mut CognitoState,
    pool_id: &str,
    username: &str,
) -> Result<&'a mut User, CognitoError> {
    pools::pool_mut(state, pool_id)?
        .users
        .get_mut(username)
        .ok_or_else(CognitoError::user_not_found)
}

fn challenge(name: &str, session: Option<String>, params: Value) -> Value {
    let mut v = json!({"ChallengeName": name, "ChallengeParameters": params});
    if let Some(s) = session {
        v["Session"] = json!(s);
    }
    v
}

/// Issue access, id and (for a fresh sign-in) refresh tokens.
fn issue_tokens(
    state: &mut CognitoState,
    pool_id: &str,
    client_id: &str,
    username: &str,
    ctx: &Ctx,
    refresh_of: Option<(&str, i64)>,
) -> Result<Value, CognitoError> {
    let pool = pools::pool(state, pool_id)?;
    let client = pool.clients.get(client_id).ok_or_else(|| {
        CognitoError::not_found(format!("User pool client {client_id} does not exist."))
    })?;
    let user = pool
        .users
        .get(username)
        .ok_or_else(CognitoError::user_not_found)?;
    let iat = ctx.now_secs as i64;
    let (origin_jti, auth_time) = match refresh_of {
        Some((o, t)) => (o.to_owned(), t),
        None => (crypto::uuid_v4(), iat),
    };
    let iss = format!("{}/{}", ctx.base_url, pool.id);
    let event_id = crypto::uuid_v4();
    let access = json!({
        "sub": user.sub,
        "iss": iss,
        "client_id": client.id,
        "origin_jti": origin_jti,
        "event_id": event_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": auth_time,
        "exp": iat + client.access_validity as i64,
        "iat": iat,
        "jti": crypto::uuid_v4(),
        "username": user.username,
    });
    let mut id = json!({
        "sub": user.sub,
        "iss": iss,
        "cognito:username": user.username,
        "origin_jti": origin_jti,
        "aud": client.id,
        "event_id": event_id,
        "token_use": "id",
        "auth_time": auth_time,
        "exp": iat + client.id_validity as i64,
        "iat": iat,
        "jti": crypto::uuid_v4(),
    });
    for (k, v) in &user.attributes {
        id[k] = if k.ends_with("_verified") {
            json!(v == "true")
        } else {
            json!(v)
        };
    }
    let sign = |claims: &Value| {
        jwt::sign(&pool.signing_key, &pool.kid, claims)
            .map_err(|e| CognitoError::internal(e.to_string()))
    };
    let access_token = sign(&access)?;
    let id_token = sign(&id)?;
    let mut result = json!({
        "AccessToken": access_token,
        "ExpiresIn": client.access_validity,
        "TokenType": "Bearer",
        "IdToken": id_token,
    });
    if refresh_of.is_none() {
        let token = format!(
            "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.{}",
            crypto::b64url(&crypto::random_bytes(256))
        );
        let record = RefreshToken {
            pool: pool.id.clone(),
            client: client.id.clone(),
            username: user.username.clone(),
            sub: user.sub.clone(),
            origin_jti,
            auth_time,
            expires: ctx.now + client.refresh_validity as f64,
            revoked: false,
        };
        result["RefreshToken"] = json!(token);
        state.refresh_tokens.insert(token, record);
    }
    Ok(json!({"ChallengeParameters": {}, "AuthenticationResult": result}))
}

/// After the password is proven: new password, MFA challenge, or tokens.
fn after_password(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    pool_id: &str,
    client_id: &str,
    username: &str,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = pools::pool(state, pool_id)?;
    let user = user_of(state, pool_id, username)?;
    match user.status {
        UserStatus::Unconfirmed => {
            return Err(CognitoError::new(
                "UserNotConfirmedException",
                "User is not confirmed.",
            ));
        }
        UserStatus::ForceChangePassword => {
            let days = f64::from(pool.policy.temporary_password_validity_days);
            if user
                .temporary_password_set
                .is_some_and(|t| t + days * 86_400.0 < ctx.now)
            {
                return Err(CognitoError::not_authorized(
                    "Temporary password has expired and must be reset by an administrator.",
                ));
            }
            let attrs: serde_json::Map<String, Value> = user
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            let s = new_session(
                eph,
                Session {
                    pool: pool_id.to_owned(),
                    client: client_id.to_owned(),
                    username: username.to_owned(),
                    sub: user.sub.clone(),
                    kind: SessionKind::NewPassword,
                    expires: ctx.now + SESSION_TTL_SECS,
                },
            );
            return Ok(challenge(
                "NEW_PASSWORD_REQUIRED",
                Some(s),
                json!({
                    "USER_ID_FOR_SRP": username,
                    "requiredAttributes": "[]",
                    "userAttributes": Value::Object(attrs).to_string(),
                }),
            ));
        }
        UserStatus::Confirmed => {}
    }
    mfa_step(state, eph, pool_id, client_id, username, ctx)
}

fn mfa_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    method: &str,
    base: Session,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = pools::pool(state, &base.pool)?;
    let user = user_of(state, &base.pool, &base.username)?;
    let username = user.username.clone();
    match method {
        "SOFTWARE_TOKEN_MFA" => {
            let mut params = json!({"USER_ID_FOR_SRP": username});
            if let Some(n) = &user.totp.friendly_name
                && !n.is_empty()
            {
                params["FRIENDLY_DEVICE_NAME"] = json!(n);
            }
            let s = new_session(
                eph,
                Session {
                    kind: SessionKind::SoftwareTokenMfa,
                    ..base
                },
            );
            Ok(challenge("SOFTWARE_TOKEN_MFA", Some(s), params))
        }
        "SMS_MFA" => {
            let phone = user
                .attributes
                .get("phone_number")
                .cloned()
                .unwrap_or_default();
            let tail: String = phone
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let code = crypto::random_digits(6);
            let pool_id = pool.id.clone();
            pools::pool_mut(state, &pool_id)?.outbox.push(Message {
                username: username.clone(),
                kind: "sms_mfa_code".into(),
                value: SecretString::new(code.clone()),
                at: ctx.now,
            });
            let s = new_session(
                eph,
                Session {
                    kind: SessionKind::SmsMfa {
                        code: SecretString::new(code),
                    },
                    ..base
                },
            );
            Ok(challenge(
                "SMS_MFA",
                Some(s),
                json!({
                    "CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
                    "CODE_DELIVERY_DESTINATION": format!("+*******{tail}"),
                    "USER_ID_FOR_SRP": username,
                }),
            ))
        }
        _ => Err(CognitoError::internal(format!(
            "unknown MFA method {method}"
        ))),
    }
}

fn mfa_step(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    pool_id: &str,
    client_id: &str,
    username: &str,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let pool = pools::pool(state, pool_id)?;
    let user = user_of(state, pool_id, username)?;
    if pool.mfa == MfaMode::Off {
        return issue_tokens(state, pool_id, client_id, username, ctx, None);
    }
    let base = Session {
        pool: pool_id.to_owned(),
        client: client_id.to_owned(),
        username: username.to_owned(),
        sub: user.sub.clone(),
        kind: SessionKind::SoftwareTokenMfa,
        expires: ctx.now + SESSION_TTL_SECS,
    };
    let methods = user.mfa_methods(pool);
    if methods.is_empty() {
        if pool.mfa == MfaMode::Optional {
            return issue_tokens(state, pool_id, client_id, username, ctx, None);
        }
        if pool.sms_mfa && user.attributes.contains_key("phone_number") {
            // With SMS configured and a phone number on file, Cognito just sends a code.
            return mfa_challenge(state, eph, "SMS_MFA", base, ctx);
        }
        let mut can_setup = Vec::new();
        if pool.sms_mfa {
            can_setup.push("SMS_MFA");
        }
        if pool.software_token_mfa {
            can_setup.push("SOFTWARE_TOKEN_MFA");
        }
        let s = new_session(
            eph,
            Session {
                kind: SessionKind::MfaSetup { verified: false },
                ..base
            },
        );
        return Ok(challenge(
            "MFA_SETUP",
            Some(s),
            json!({
                "MFAS_CAN_SETUP": json!(can_setup).to_string(),
                "USER_ID_FOR_SRP": username,
            }),
        ));
    }
    let preferred = user
        .preferred_mfa
        .as_deref()
        .filter(|p| methods.contains(p));
    match (preferred, methods.as_slice()) {
        (Some(p), _) => {
            let p = p.to_owned();
            mfa_challenge(state, eph, &p, base, ctx)
        }
        (None, [only]) => mfa_challenge(state, eph, only, base, ctx),
        (None, many) => {
            let choose = json!(many).to_string();
            let s = new_session(
                eph,
                Session {
                    kind: SessionKind::SelectMfaType,
                    ..base
                },
            );
            Ok(challenge(
                "SELECT_MFA_TYPE",
                Some(s),
                json!({"MFAS_CAN_CHOOSE": choose, "USER_ID_FOR_SRP": username}),
            ))
        }
    }
}

fn require_flow(
    client: &super::model::AppClient,
    flow: &str,
    allow: &str,
) -> Result<(), CognitoError> {
    if client.allows(allow) {
        Ok(())
    } else {
        Err(CognitoError::invalid(format!(
            "{flow} flow not enabled for this client"
        )))
    }
}

/// `InitiateAuth`.
pub fn initiate_auth(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let flow = req.req("AuthFlow")?;
    let client_id = req.req("ClientId")?;
    let params = req.string_map("AuthParameters")?;
    let (pool, client) = pools::pool_of_client(state, client_id)?;
    let pool_id = pool.id.clone();
    match flow {
        "USER_SRP_AUTH" => {
            require_flow(client, flow, "ALLOW_USER_SRP_AUTH")?;
            let username = param(&params, "USERNAME")?;
            let srp_a = param(&params, "SRP_A")?;
            check_secret_hash(
                client,
                username,
                params.get("SECRET_HASH").map(String::as_str),
            )?;
            let big_a = srp::from_hex(srp_a)
                .filter(srp::valid_client_public)
                .ok_or_else(|| CognitoError::invalid("SRP_A value is invalid."))?;
            let user = pool.users.get(username);
            let (half, salt, user_id) = match user {
                Some(u) => {
                    if !u.enabled {
                        return Err(CognitoError::not_authorized("User is disabled."));
                    }
                    let pv = u.password.as_ref().ok_or_else(incorrect)?;
                    let v = srp::from_hex(pv.verifier.expose())
                        .ok_or_else(|| CognitoError::internal("stored verifier is corrupt"))?;
                    (
                        srp::server_half(&v),
                        pv.salt.clone(),
                        Some(u.username.clone()),
                    )
                }
                None if client.prevent_user_existence_errors == "ENABLED" => {
                    // A decoy exchange: indistinguishable until the proof is refused.
                    let fake = srp::verifier(pool.srp_name(), username, "", &srp::new_salt());
                    (srp::server_half(&fake), srp::to_hex(&srp::new_salt()), None)
                }
                None => return Err(CognitoError::user_not_found()),
            };
            let secret_block = crypto::b64(&crypto::random_bytes(64));
            let b_hex = srp::to_hex(&half.big_b);
            eph.srp.insert(
                secret_block.clone(),
                SrpPending {
                    pool: pool_id,
                    client: client_id.to_owned(),
                    username: user_id,
                    big_a,
                    half,
                    expires: ctx.now + SESSION_TTL_SECS,
                },
            );
            Ok(challenge(
                "PASSWORD_VERIFIER",
                None,
                json!({
                    "SALT": salt,
                    "SECRET_BLOCK": secret_block,
                    "SRP_B": b_hex,
                    "USERNAME": username,
                    "USER_ID_FOR_SRP": username,
                }),
            ))
        }
        "USER_PASSWORD_AUTH" => {
            require_flow(client, flow, "ALLOW_USER_PASSWORD_AUTH")?;
            let username = param(&params, "USERNAME")?;
            let password = param(&params, "PASSWORD")?;
            check_secret_hash(
                client,
                username,
                params.get("SECRET_HASH").map(String::as_str),
            )?;
            let Some(user) = pool.users.get(username) else {
                return Err(if client.prevent_user_existence_errors == "ENABLED" {
                    incorrect()
                } else {
                    CognitoError::user_not_found()
                });
            };
            if !user.enabled {
                return Err(CognitoError::not_authorized("User is disabled."));
            }
            if !pools::password_matches(pool, user, password) {
                return Err(incorrect());
            }
            let username = username.to_owned();
            after_password(state, eph, &pool_id, client_id, &username, ctx)
        }
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
            require_flow(client, "REFRESH_TOKEN_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")?;
            let token = param(&params, "REFRESH_TOKEN")?;
            let rec = state
                .refresh_tokens
                .get(token)
                .filter(|r| r.client == client_id)
                .cloned()
                .ok_or_else(|| CognitoError::not_authorized("Invalid Refresh Token"))?;
            if rec.revoked {
                return Err(CognitoError::not_authorized(
                    "Refresh Token has been revoked",
                ));
            }
            if rec.expires < ctx.now {
                return Err(CognitoError::not_authorized("Refresh Token has expired"));
            }
            let (pool, client) = pools::pool_of_client(state, client_id)?;
            check_secret_hash(
                client,
                &rec.username,
                params.get("SECRET_HASH").map(String::as_str),
            )?;
            let user = pool
                .users
                .get(&rec.username)
                .filter(|u| u.sub == rec.sub)
                .ok_or_else(|| CognitoError::not_authorized("Invalid Refresh Token"))?;
            if !user.enabled {
                return Err(CognitoError::not_authorized("User is disabled."));
            }
            issue_tokens(
                state,
                &rec.pool,
                client_id,
                &rec.username,
                ctx,
                Some((&rec.origin_jti, rec.auth_time)),
            )
        }
        "ADMIN_NO_SRP_AUTH" | "ADMIN_USER_PASSWORD_AUTH" => {
            Err(CognitoError::invalid("Initiate Auth method not supported."))
        }
        "CUSTOM_AUTH" | "USER_AUTH" => Err(CognitoError::invalid(format!(
            "{flow} is not supported by the authsim emulator (it implements USER_SRP_AUTH, USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH)"
        ))),
        other => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'authFlow' failed to satisfy constraint: Member must satisfy enum value set: [USER_SRP_AUTH, REFRESH_TOKEN_AUTH, REFRESH_TOKEN, CUSTOM_AUTH, ADMIN_NO_SRP_AUTH, USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_AUTH]"
        ))),
    }
}

/// Check the session answers `challenge` for `client_id` and `USERNAME`, and its user
/// still exists.
fn checked_session(
    state: &CognitoState,
    eph: &Ephemeral,
    session_id: Option<&str>,
    client_id: &str,
    challenge_name: &str,
    responses: &BTreeMap<String, String>,
    now: f64,
) -> Result<Session, CognitoError> {
    let s = session(eph, session_id, now)?.clone();
    if s.client != client_id {
        return Err(invalid_session());
    }
    if s.kind.challenge() != challenge_name {
        return Err(CognitoError::invalid(format!(
            "Invalid challenge name {challenge_name}: this session answers {}",
            s.kind.challenge()
        )));
    }
    let username = param(responses, "USERNAME")?;
    if username != s.username {
        return Err(invalid_session());
    }
    let user = user_of(state, &s.pool, &s.username)?;
    if user.sub != s.sub {
        return Err(invalid_session());
    }
    let (_, client) = pools::pool_of_client(state, client_id)?;
    check_secret_hash(
        client,
        username,
        responses.get("SECRET_HASH").map(String::as_str),
    )?;
    Ok(s)
}

/// `RespondToAuthChallenge`.
pub fn respond_to_auth_challenge(
    state: &mut CognitoState,
    eph: &mut Ephemeral,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let client_id = req.req("ClientId")?;
    let name = req.req("ChallengeName")?;
    let responses = req.string_map("ChallengeResponses")?;
    let session_id = req.str("Session")?;
    let (pool, client) = pools::pool_of_client(state, client_id)?;
    let pool_id = pool.id.clone();
    match name {
        "PASSWORD_VERIFIER" => {
            let block = param(&responses, "PASSWORD_CLAIM_SECRET_BLOCK")?;
            let signature = param(&responses, "PASSWORD_CLAIM_SIGNATURE")?;
            let timestamp = param(&responses, "TIMESTAMP")?;
            let username = param(&responses, "USERNAME")?;
            check_secret_hash(
                client,
                username,
                responses.get("SECRET_HASH").map(String::as_str),
            )?;
            // The secret block is single-use, whatever the outcome.
            let pending = eph.srp.remove(block).ok_or_else(invalid_session)?;
            if pending.client != client_id {
                return Err(invalid_session());
            }
            if pending.expires < ctx.now {
                return Err(CognitoError::not_authorized(
                    "Invalid session for the user, session is expired.",
                ));
            }
            let parsed = srp::parse_timestamp(timestamp).ok_or_else(|| {
                CognitoError::invalid(
                    "TIMESTAMP format should be EEE MMM d HH:mm:ss z yyyy in english.",
                )
            })?;
            let canonical = srp::format_timestamp(parsed);
            let Some(user_id) = pending.username.as_deref() else {
                return Err(incorrect());
            };
            if username != user_id {
                return Err(incorrect());
            }
            let user = pool
                .users
                .get(user_id)
                .ok_or_else(CognitoError::user_not_found)?;
            let pv = user.password.as_ref().ok_or_else(incorrect)?;
            let v = srp::from_hex(pv.verifier.expose())
                .ok_or_else(|| CognitoError::internal("stored verifier is corrupt"))?;
            let key = srp::session_key(&pending.big_a, &pending.half, &v).ok_or_else(incorrect)?;
            let block_bytes = crypto::b64_decode(block).ok_or_else(incorrect)?;
            let expected = srp::claim(&key, pool.srp_name(), user_id, &block_bytes, &canonical);
            let given = crypto::b64_decode(signature).ok_or_else(incorrect)?;
            if !crypto::ct_eq(&expected, &given) {
                return Err(incorrect());
            }
            let user_id = user_id.to_owned();
            after_password(state, eph, &pool_id, client_id, &user_id, ctx)
        }
        "NEW_PASSWORD_REQUIRED" => {
            let s = checked_session(state, eph, session_id, client_id, name, &responses, ctx.now)?;
            let new_password = param(&responses, "NEW_PASSWORD")?;
            pools::check_policy(&pool.policy, new_password)?;
            let pv = pools::make_verifier(pool, &s.username, new_password);
            let attrs: Vec<(String, String)> = responses
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
            if let Some(id) = session_id {
                spend(eph, id);
            }
            let u = user_mut(state, &s.pool, &s.username)?;
            u.password = Some(pv);
            u.status = UserStatus::Confirmed;
            u.temporary_password_set = None;
            for (k, v) in attrs {
                u.attributes.insert(k, v);
            }
            u.modified = ctx.now;
            mfa_step(state, eph, &s.pool, client_id, &s.username, ctx)
        }
        "SOFTWARE_TOKEN_MFA" => {
            let s = checked_session(state, eph, session_id, client_id, name, &responses, ctx.now)?;
            let code = param(&responses, "SOFTWARE_TOKEN_MFA_CODE")?;
            let user = user_mut(state, &s.pool, &s.username)?;
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
            if let Some(id) = session_id {
                spend(eph, id);
            }
            issue_tokens(state, &s.pool, client_id, &s.username, ctx, None)
        }
        "SMS_MFA" => {
            let s = checked_session(state, eph, session_id, client_id, name, &responses, ctx.now)?;
            let code = param(&responses, "SMS_MFA_CODE")?;
            let SessionKind::SmsMfa { code: expected } = &s.kind else {
                return Err(invalid_session());
            };
            if !crypto::ct_eq(expected.expose().as_bytes(), code.as_bytes()) {
                return Err(CognitoError::new(
                    "CodeMismatchException",
                    "Invalid code or auth state for the user.",
                ));
            }
            if let Some(id) = session_id {
                spend(eph, id);
            }
            issue_tokens(state, &s.pool, client_id, &s.username, ctx, None)
        }
        "SELECT_MFA_TYPE" => {
            let s = checked_session(state, eph, session_id, client_id, name, &responses, ctx.now)?;
            let answer = param(&responses, "ANSWER")?;
            let user = user_of(state, &s.pool, &s.username)?;
            let methods = user.mfa_methods(pool);
            if !methods.contains(&answer) {
                return Err(CognitoError::invalid(format!(
                    "Invalid MFA type {answer}: choose one of {}",
                    methods.join(", ")
                )));
            }
            if let Some(id) = session_id {
                spend(eph, id);
            }
            let answer = answer.to_owned();
            let base = Session {
                expires: ctx.now + SESSION_TTL_SECS,
                ..s
            };
            mfa_challenge(state, eph, &answer, base, ctx)
        }
        "MFA_SETUP" => {
            let s = checked_session(state, eph, session_id, client_id, name, &responses, ctx.now)?;
            if !matches!(s.kind, SessionKind::MfaSetup { verified: true }) {
                return Err(CognitoError::invalid(
                    "MFA setup is not complete for this session: call AssociateSoftwareToken and VerifySoftwareToken with it first.",
                ));
            }
            if let Some(id) = session_id {
                spend(eph, id);
            }
            issue_tokens(state, &s.pool, client_id, &s.username, ctx, None)
        }
        "DEVICE_SRP_AUTH"
        | "DEVICE_PASSWORD_VERIFIER"
        | "CUSTOM_CHALLENGE"
        | "ADMIN_NO_SRP_AUTH"
        | "EMAIL_OTP"
        | "SMS_OTP"
        | "PASSWORD"
        | "WEB_AUTHN"
        | "SELECT_CHALLENGE" => Err(CognitoError::invalid(format!(
            "Challenge {name} is not supported by the authsim emulator."
        ))),
        other => Err(CognitoError::invalid(format!(
            "1 validation error detected: Value '{other}' at 'challengeName' failed to satisfy constraint: Member must satisfy enum value set: [SMS_MFA, SOFTWARE_TOKEN_MFA, SELECT_MFA_TYPE, MFA_SETUP, PASSWORD_VERIFIER, CUSTOM_CHALLENGE, DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER, ADMIN_NO_SRP_AUTH, NEW_PASSWORD_REQUIRED]"
        ))),
    }
}

/// The user an access token belongs to, after checking signature, use, expiry and
/// revocation. Returns (pool id, username).
pub fn authorize(
    state: &CognitoState,
    token: &str,
    ctx: &Ctx,
) -> Result<(String, String), CognitoError> {
    let invalid = || CognitoError::not_authorized("Invalid Access Token");
    let kid = jwt::kid_of(token).ok_or_else(invalid)?;
    let pool = state
        .pools
        .values()
        .find(|p| p.kid == kid)
        .ok_or_else(invalid)?;
    let claims = jwt::verify(&pool.signing_key, token).map_err(|_| invalid())?;
    if claims.get("token_use").and_then(Value::as_str) != Some("access") {
        return Err(invalid());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(invalid)?;
    if exp <= ctx.now_secs as i64 {
        return Err(CognitoError::not_authorized("Access Token has expired"));
    }
    let username = claims
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let origin = claims
        .get("origin_jti")
        .and_then(Value::as_str)
        .unwrap_or("");
    if state
        .refresh_tokens
        .values()
        .any(|r| r.origin_jti == origin && r.revoked)
    {
        return Err(CognitoError::not_authorized(
            "Access Token has been revoked",
        ));
    }
    let user = pool
        .users
        .get(username)
        .filter(|u| u.sub == sub)
        .ok_or_else(|| CognitoError::not_authorized("User does not exist."))?;
    if !user.enabled {
        return Err(CognitoError::not_authorized("User is disabled."));
    }
    Ok((pool.id.clone(), username.to_owned()))
}

/// `GetUser`.
pub fn get_user(state: &CognitoState, req: &Req, ctx: &Ctx) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let pool = pools::pool(state, &pool_id)?;
    let user = user_of(state, &pool_id, &username)?;
    let mut v = json!({
        "Username": user.username,
        "UserAttributes": pools::attributes_json(user),
    });
    pools::mfa_fields(pool, user, &mut v);
    Ok(v)
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
            let s = session(eph, Some(id), ctx.now)?.clone();
            if !matches!(s.kind, SessionKind::MfaSetup { .. }) {
                return Err(invalid_session());
            }
            let user = user_of(state, &s.pool, &s.username)?;
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
    let user = user_mut(state, &pool_id, &username)?;
    user.totp.pending = Some(SecretString::new(secret.clone()));
    user.modified = ctx.now;
    match authority {
        Authority::Token(..) => Ok(json!({"SecretCode": secret})),
        Authority::Session(id, s) => {
            spend(eph, &id);
            let next = new_session(
                eph,
                Session {
                    kind: SessionKind::MfaSetup { verified: false },
                    expires: ctx.now + SESSION_TTL_SECS,
                    ..s
                },
            );
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
    let user = user_mut(state, &pool_id, &username)?;
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
            spend(eph, &id);
            let next = new_session(
                eph,
                Session {
                    kind: SessionKind::MfaSetup { verified: true },
                    expires: ctx.now + SESSION_TTL_SECS,
                    ..s
                },
            );
            Ok(json!({"Status": "SUCCESS", "Session": next}))
        }
    }
}

/// `SetUserMFAPreference`.
pub fn set_user_mfa_preference(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let pool = pools::pool(state, &pool_id)?.clone();
    let user = user_mut(state, &pool_id, &username)?;
    pools::apply_mfa_preference(&pool, user, req, ctx.now)?;
    Ok(json!({}))
}

/// `GlobalSignOut`: revokes every refresh token (and so every access token) of the user.
pub fn global_sign_out(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    for t in state.refresh_tokens.values_mut() {
        if t.pool == pool_id && t.username == username {
            t.revoked = true;
        }
    }
    Ok(json!({}))
}

/// `RevokeToken`: revokes one refresh token and the access tokens issued with it.
pub fn revoke_token(state: &mut CognitoState, req: &Req) -> Result<Value, CognitoError> {
    let token = req.req("Token")?;
    let client_id = req.req("ClientId")?;
    let (_, client) = pools::pool_of_client(state, client_id)?;
    if let Some(secret) = &client.secret
        && req.str("ClientSecret")? != Some(secret.expose())
    {
        return Err(CognitoError::not_authorized(format!(
            "Unable to verify secret hash for client {client_id}"
        )));
    }
    match state.refresh_tokens.get_mut(token) {
        Some(r) if r.client == client_id => {
            r.revoked = true;
            Ok(json!({}))
        }
        _ => Err(CognitoError::new(
            "UnsupportedTokenTypeException",
            "The token is not a refresh token of this client.",
        )),
    }
}

/// `ChangePassword`.
pub fn change_password(
    state: &mut CognitoState,
    req: &Req,
    ctx: &Ctx,
) -> Result<Value, CognitoError> {
    let (pool_id, username) = authorize(state, req.req("AccessToken")?, ctx)?;
    let previous = req.req("PreviousPassword")?;
    let proposed = req.req("ProposedPassword")?;
    let pool = pools::pool(state, &pool_id)?;
    let user = user_of(state, &pool_id, &username)?;
    if !pools::password_matches(pool, user, previous) {
        return Err(incorrect());
    }
    pools::check_policy(&pool.policy, proposed)?;
    let pv = pools::make_verifier(pool, &username, proposed);
    let user = user_mut(state, &pool_id, &username)?;
    user.password = Some(pv);
    user.modified = ctx.now;
    Ok(json!({}))
}
