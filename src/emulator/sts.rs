//! STS over the query protocol: `GetSessionToken`, checking `SerialNumber` and
//! `TokenCode` against the IAM virtual MFA devices, and `GetCallerIdentity`.

use super::context::Ctx;
use super::crypto::{self, SecretString};
use super::iam::{self, Caller, IamState, SessionKey};
use super::query::{self, Params, QueryError};
use super::{ACCOUNT_ID, totp::Rejection};

/// STS's XML namespace.
pub const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// STS's API version.
pub const VERSION: &str = "2011-06-15";

/// How an action is run; `Ok` is the XML response body.
type Handler = fn(&mut IamState, &Params, &Ctx) -> Result<String, QueryError>;

/// Every STS action the stand-in implements, and its handler.
static ACTIONS: &[(&str, Handler)] = &[
    ("GetSessionToken", get_session_token),
    ("GetCallerIdentity", get_caller_identity),
];

/// Run one STS action; `Ok` is the XML response body.
pub fn handle(
    iam_state: &mut IamState,
    action: &str,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    match ACTIONS.iter().find(|(name, _)| *name == action) {
        Some((_, run)) => run(iam_state, p, ctx),
        None => Err(QueryError::new(
            "InvalidAction",
            400,
            format!("Could not find operation {action} for version {VERSION}"),
        )),
    }
}

fn unable_to_validate() -> QueryError {
    QueryError::new(
        "AccessDenied",
        403,
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
    )
}

fn invalid_code() -> QueryError {
    QueryError::new(
        "AccessDenied",
        403,
        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
    )
}

/// `DurationSeconds` (900 to 129600; 12 hours when absent).
fn duration(p: &Params) -> Result<u64, QueryError> {
    let Some(d) = p.get("DurationSeconds") else {
        return Ok(43_200);
    };
    // A number out of range (negative included) is a range error, as AWS says; only what is
    // not an integer at all is "not an integer".
    match d.parse::<i64>() {
        Ok(n) if (900..=129_600).contains(&n) => Ok(n as u64),
        Ok(n) if n < 900 => Err(QueryError::validation(format!(
            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        ))),
        Ok(_) => Err(QueryError::validation(format!(
            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600"
        ))),
        Err(_) => Err(QueryError::validation(format!(
            "Value '{d}' for parameter DurationSeconds is invalid. It must be an integer."
        ))),
    }
}

/// Check `SerialNumber` and `TokenCode` when given: the device must be enabled (for a
/// caller signing with a key the stand-in issued, enabled for that very user) and the code
/// fresh.
fn check_mfa(iam_state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<(), QueryError> {
    let (serial, code) = match (p.get("SerialNumber"), p.get("TokenCode")) {
        (None, None) => return Ok(()),
        (Some(_), None) => return Err(QueryError::missing("tokenCode")),
        (None, Some(_)) => return Err(QueryError::missing("serialNumber")),
        (Some(serial), Some(code)) => (serial, code),
    };
    if serial.chars().count() < 9 || serial.chars().count() > 256 {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{serial}' at 'serialNumber' failed to satisfy constraint: Member must have length greater than or equal to 9"
        )));
    }
    iam::validate_code("tokenCode", code)?;
    let caller = iam_state.caller(ctx.access_key_id());
    let device = iam_state
        .devices
        .get_mut(serial)
        .filter(|d| match (&d.user, &caller) {
            (None, _) => false,
            (Some(_), Caller::Root) => true,
            (Some(owner), Caller::User(me)) => owner == me,
        })
        .ok_or_else(unable_to_validate)?;
    iam::check_device_code(device, code, ctx.now_secs).map_err(|r| match r {
        Rejection::Mismatch | Rejection::Replay => invalid_code(),
    })
}

/// `GetSessionToken`.
fn get_session_token(
    iam_state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "GetSessionToken";
    let duration = duration(p)?;
    check_mfa(iam_state, p, ctx)?;
    let expiration = ctx.now + duration as f64;
    let id = format!("ASIA{}", crypto::random_string(crypto::UPPER_ALNUM, 16));
    let secret = crypto::random_string(crypto::ALNUM, 40);
    let mut x = query::begin_response(action, NS);
    x.open("Credentials")
        .elem("AccessKeyId", &id)
        .elem("SecretAccessKey", &secret)
        .elem(
            "SessionToken",
            &format!(
                "IQoJb3JpZ2luX2Vj{}",
                crypto::b64(&crypto::random_bytes(240))
            ),
        )
        .elem("Expiration", &crypto::iso8601(expiration))
        .close("Credentials");
    // Requests signed with them act as this caller (GetCallerIdentity names the user, as on
    // AWS); expired ones are forgotten here, so the map stays as small as the live sessions.
    let user = match iam_state.caller(ctx.access_key_id()) {
        Caller::User(name) => Some(name),
        Caller::Root => None,
    };
    iam_state.session_keys.retain(|_, s| s.expiration > ctx.now);
    iam_state.session_keys.insert(
        id,
        SessionKey {
            user,
            secret: SecretString::new(secret),
            expiration,
        },
    );
    Ok(query::end_response(x, action, &ctx.request_id))
}

/// `GetCallerIdentity`.
fn get_caller_identity(
    iam_state: &mut IamState,
    _p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "GetCallerIdentity";
    let mut x = query::begin_response(action, NS);
    match iam_state.caller(ctx.access_key_id()) {
        Caller::User(name) => {
            let u = iam_state.users.get(&name).ok_or_else(|| {
                QueryError::new(
                    "InvalidClientTokenId",
                    403,
                    "The security token included in the request is invalid.",
                )
            })?;
            x.elem("UserId", &u.id)
                .elem("Account", ACCOUNT_ID)
                .elem("Arn", &u.arn());
        }
        Caller::Root => {
            x.elem("UserId", ACCOUNT_ID)
                .elem("Account", ACCOUNT_ID)
                .elem("Arn", &format!("arn:aws:iam::{ACCOUNT_ID}:root"));
        }
    }
    Ok(query::end_response(x, action, &ctx.request_id))
}
