//! Sign-in: InitiateAuth, then one answer per challenge until Cognito hands out tokens:
//! the password's (`challenges`), USER_AUTH's choice of first factor and its passkey
//! (`user_auth`), and the remembered device's (`device`, which also confirms a new device at
//! the end).

mod challenges;
mod device;
mod user_auth;

use super::devices::{self, LocalDevice};
use super::enroll::{EnrollReport, finish_enrollment};
use super::step::{Step, step_or_error};
use super::tokens::Tokens;
use crate::aws::{AwsError, Codes, Redactor, srp};
use crate::webauthn::Platform;
use aws_sdk_cognitoidentityprovider as cip;
use cip::types::{AuthFlowType, ChallengeNameType};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// How long Cognito keeps a sign-in session (the `Session` of a challenge) alive.
pub const SESSION_LIFETIME_SECS: u64 = 180;
/// At most this many challenge rounds in one sign-in.
const MAX_ROUNDS: usize = 10;

/// Which InitiateAuth flow to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// USER_SRP_AUTH: the password never leaves the machine.
    Srp,
    /// USER_PASSWORD_AUTH: the password is sent (over TLS) to Cognito.
    Password,
    /// USER_AUTH: choice-based sign-in, answered with the password (PASSWORD_SRP when the
    /// pool id is known, else PASSWORD), or with a passkey when there is no password, unless
    /// a first factor is preferred.
    UserAuth,
}

/// A first factor to ask USER_AUTH for (PREFERRED_CHALLENGE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstFactor {
    /// PASSWORD: the password itself.
    Password,
    /// PASSWORD_SRP: the password's SRP.
    PasswordSrp,
    /// WEB_AUTHN: a passkey, through the WebAuthn client.
    WebAuthn,
}

impl FirstFactor {
    /// The challenge name.
    pub fn as_str(self) -> &'static str {
        match self {
            FirstFactor::Password => "PASSWORD",
            FirstFactor::PasswordSrp => "PASSWORD_SRP",
            FirstFactor::WebAuthn => "WEB_AUTHN",
        }
    }
}

/// Everything a sign-in needs.
pub struct SignInRequest {
    /// The app client id.
    pub client_id: String,
    /// The app client secret, if the app client has one.
    pub client_secret: Option<Zeroizing<String>>,
    /// The username (or an alias such as the email address).
    pub username: String,
    /// The password (none for a passkey sign-in).
    pub password: Option<Zeroizing<String>>,
    /// The new password, for NEW_PASSWORD_REQUIRED.
    pub new_password: Option<Zeroizing<String>>,
    /// SRP, password or USER_AUTH flow.
    pub flow: Flow,
    /// With USER_AUTH: the first factor to prefer (else the choice is answered).
    pub preferred: Option<FirstFactor>,
    /// The user pool id (needed by SRP).
    pub pool_id: Option<String>,
    /// The vault entry that answers SOFTWARE_TOKEN_MFA, or receives the new secret in MFA_SETUP.
    pub totp: Option<String>,
    /// The name of this device: FriendlyDeviceName of a TOTP made in MFA_SETUP, DeviceName of
    /// a device confirmed with ConfirmDevice.
    pub device_name: Option<String>,
    /// Mark the device of this sign-in remembered (UpdateDeviceStatus), so later sign-ins
    /// with it skip MFA where the pool allows.
    pub remember_device: bool,
    /// The origin a passkey's ceremony runs as (default: https:// + the options' RP id).
    pub origin: Option<String>,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("flow", &self.flow)
            .field("pool_id", &self.pool_id)
            .field("totp", &self.totp)
            .field("remember_device", &self.remember_device)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What happened to this machine's device during a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// The sign-in used the stored device (DEVICE_SRP_AUTH).
    Used {
        /// DeviceKey.
        key: String,
        /// Whether it was marked remembered by this sign-in.
        remembered_now: bool,
    },
    /// Cognito made a new device for this sign-in; it was confirmed and stored.
    Confirmed {
        /// DeviceKey.
        key: String,
        /// Whether it is remembered.
        remembered: bool,
    },
    /// The stored device was unknown to Cognito: forgotten here, and the sign-in went on
    /// without it.
    Dropped {
        /// The DeviceKey forgotten.
        key: String,
    },
}

/// What a sign-in produced.
#[derive(Debug)]
pub struct SignInResult {
    /// The tokens.
    pub tokens: Tokens,
    /// The user's actual username (not an alias).
    pub username: String,
    /// The challenges answered, in order.
    pub challenges: Vec<String>,
    /// The enrollment done on the way (MFA_SETUP), if any.
    pub enrolled: Option<EnrollReport>,
    /// What happened to this machine's device, if anything.
    pub device: Vec<DeviceOutcome>,
    /// The device the tokens are bound to (refresh needs its DEVICE_KEY).
    pub device_key: Option<String>,
    /// The user pool, as given or learned from the tokens.
    pub pool_id: Option<String>,
}

/// What answering one challenge sends back: the responses and the session to send them with.
struct Answer {
    responses: HashMap<String, String>,
    session: Option<String>,
}

/// One sign-in in progress: what every challenge's answer reads and adds to.
struct SignIn<'a, 'c> {
    client: &'a cip::Client,
    req: &'a SignInRequest,
    codes: &'a mut Codes<'c>,
    /// The WebAuthn client that answers WEB_AUTHN, if the caller gave one.
    passkey: Option<&'a mut Platform>,
    redact: Redactor,
    username: String,
    /// The pool, as given or learned earlier for this app client.
    pool_id: Option<String>,
    srp: Option<srp::SrpClient>,
    /// The stored device of this user, sent as DEVICE_KEY.
    device: Option<LocalDevice>,
    /// The SRP of the device's proof.
    device_srp: Option<srp::SrpClient>,
    enrolled: Option<EnrollReport>,
    challenges: Vec<String>,
    outcomes: Vec<DeviceOutcome>,
}

impl SignIn<'_, '_> {
    fn secret_hash(&self, user: &str) -> Option<String> {
        self.req
            .client_secret
            .as_ref()
            .map(|s| srp::secret_hash(s, user, &self.req.client_id))
    }

    /// The password, or what to do when none was given.
    fn password(&self) -> Result<&str, AwsError> {
        self.req.password.as_deref().map(String::as_str).ok_or_else(|| {
            AwsError::Flow(
                "Cognito asks for the password and none was given: give --password-stdin (or sign in with --passkey)".into(),
            )
        })
    }

    /// A new SRP exchange for the password; the pool id is needed for its proof.
    fn start_srp(&mut self) -> Result<String, AwsError> {
        let pool = self.pool_id.as_deref().ok_or_else(|| {
            AwsError::Flow(
                "the password's SRP needs --pool-id (the user pool id, e.g. us-east-1_AbC123xyz): Cognito's SRP mixes the pool's name into the proof".into(),
            )
        })?;
        srp::pool_name(pool)?;
        let c = srp::SrpClient::new()?;
        let a = c.srp_a();
        self.srp = Some(c);
        Ok(a)
    }

    /// InitiateAuth with the request's flow (and the stored device's DEVICE_KEY); a device
    /// Cognito does not know is forgotten and the call made again without it.
    async fn initiate(&mut self) -> Result<Step, AwsError> {
        match self.initiate_once().await {
            Err(e) if devices::is_unknown_device(&e) && self.device.is_some() => {
                self.drop_device()?;
                self.initiate_once().await
            }
            other => other,
        }
    }

    async fn initiate_once(&mut self) -> Result<Step, AwsError> {
        let req = self.req;
        let mut params: HashMap<String, String> = HashMap::new();
        params.insert("USERNAME".into(), self.username.clone());
        let flow = match req.flow {
            Flow::Srp => {
                params.insert("SRP_A".into(), self.start_srp()?);
                AuthFlowType::UserSrpAuth
            }
            Flow::Password => {
                params.insert("PASSWORD".into(), self.password()?.to_string());
                AuthFlowType::UserPasswordAuth
            }
            Flow::UserAuth => {
                if let Some(f) = req.preferred {
                    params.insert("PREFERRED_CHALLENGE".into(), f.as_str().into());
                    self.factor_params(f, &mut params)?;
                }
                AuthFlowType::UserAuth
            }
        };
        if let Some(d) = &self.device {
            params.insert("DEVICE_KEY".into(), d.key.clone());
        }
        if let Some(h) = self.secret_hash(&self.username) {
            self.redact.add(&h);
            params.insert("SECRET_HASH".into(), h);
        }
        let res = self
            .client
            .initiate_auth()
            .client_id(&req.client_id)
            .auth_flow(flow)
            .set_auth_parameters(Some(params))
            .send()
            .await;
        step_or_error("InitiateAuth", res, &self.redact, Step::from_initiate)
    }

    /// Forget the stored device (Cognito does not know it), as amazon-cognito-identity-js
    /// does before it retries without one.
    fn drop_device(&mut self) -> Result<(), AwsError> {
        if let Some(d) = self.device.take() {
            tracing::warn!("Cognito does not know the stored device; forgetting it");
            if let Some(pool) = &self.pool_id {
                devices::remove(self.codes.vault()?.store_mut(), pool, &self.username)?;
            }
            self.outcomes.push(DeviceOutcome::Dropped { key: d.key });
        }
        Ok(())
    }

    /// Answer one challenge.
    async fn answer(&mut self, name: &str, step: &Step) -> Result<Answer, AwsError> {
        match name {
            "PASSWORD_VERIFIER" => self.password_verifier(step),
            "NEW_PASSWORD_REQUIRED" => self.new_password_required(step),
            "SELECT_MFA_TYPE" => self.select_mfa_type(step),
            "SOFTWARE_TOKEN_MFA" => self.software_token_mfa(step).await,
            "MFA_SETUP" => self.mfa_setup(step).await,
            "DEVICE_SRP_AUTH" => self.device_srp_auth(step),
            "DEVICE_PASSWORD_VERIFIER" => self.device_password_verifier(step),
            "SELECT_CHALLENGE" => self.select_challenge(step),
            "PASSWORD" | "PASSWORD_SRP" => self.first_factor(name, step),
            "WEB_AUTHN" => self.web_authn(step),
            other => Err(AwsError::Flow(format!(
                "Cognito asks for the {other} challenge, which authsim does not answer (it answers PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, SELECT_MFA_TYPE, SOFTWARE_TOKEN_MFA, MFA_SETUP, DEVICE_SRP_AUTH, DEVICE_PASSWORD_VERIFIER, SELECT_CHALLENGE, PASSWORD, PASSWORD_SRP and WEB_AUTHN)"
            ))),
        }
    }

    /// RespondToAuthChallenge with an answer (SECRET_HASH added). An answer naming a device
    /// Cognito does not know is sent again once without it, the device forgotten.
    async fn respond(&mut self, name: &str, mut answer: Answer) -> Result<Step, AwsError> {
        if let Some(h) = self.secret_hash(&self.username) {
            self.redact.add(&h);
            answer.responses.insert("SECRET_HASH".into(), h);
        }
        match self.respond_once(name, &answer).await {
            Err(e)
                if devices::is_unknown_device(&e)
                    && answer.responses.contains_key("DEVICE_KEY")
                    && !name.starts_with("DEVICE_") =>
            {
                self.drop_device()?;
                answer.responses.remove("DEVICE_KEY");
                self.respond_once(name, &answer).await
            }
            other => other,
        }
    }

    async fn respond_once(&self, name: &str, answer: &Answer) -> Result<Step, AwsError> {
        let res = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.req.client_id)
            .challenge_name(ChallengeNameType::from(name))
            .set_session(answer.session.clone())
            .set_challenge_responses(Some(answer.responses.clone()))
            .send()
            .await;
        step_or_error(
            "RespondToAuthChallenge",
            res,
            &self.redact,
            Step::from_respond,
        )
    }

    /// The sign-in is done: finish an enrollment made on the way, confirm a new device, and
    /// report.
    async fn done(mut self, tokens: Tokens) -> Result<SignInResult, AwsError> {
        tokens.redact_into(&mut self.redact);
        if let Some(report) = self.enrolled.as_mut() {
            // MFA_SETUP verified the new secret; now make TOTP the user's MFA and check.
            finish_enrollment(
                self.client,
                &tokens.access_token,
                report,
                true,
                self.codes,
                &self.redact,
            )
            .await?;
        }
        let device_key = self.settle_device(&tokens).await?;
        Ok(SignInResult {
            tokens,
            username: self.username,
            challenges: self.challenges,
            enrolled: self.enrolled,
            device: self.outcomes,
            device_key,
            pool_id: self.pool_id,
        })
    }
}

/// Sign in: InitiateAuth, then answer each challenge until Cognito hands out tokens; a
/// WEB_AUTHN challenge is answered by `passkey`'s key.
pub async fn sign_in(
    client: &cip::Client,
    req: &SignInRequest,
    codes: &mut Codes<'_>,
    passkey: Option<&mut Platform>,
) -> Result<SignInResult, AwsError> {
    let mut redact = Redactor::default();
    if let Some(p) = &req.password {
        redact.add(p);
    }
    if let Some(p) = &req.new_password {
        redact.add(p);
    }
    if let Some(s) = &req.client_secret {
        redact.add(s);
    }
    let pool_id = match &req.pool_id {
        Some(p) => Some(p.clone()),
        None => devices::client_pool(codes.vault()?.store(), &req.client_id)?,
    };
    let device = match &pool_id {
        Some(p) => devices::load(codes.vault()?.store(), p, &req.username)?,
        None => None,
    };
    if let Some(d) = &device {
        redact.add(&d.password);
    }
    let mut s = SignIn {
        client,
        req,
        codes,
        passkey,
        redact,
        username: req.username.clone(),
        pool_id,
        srp: None,
        device,
        device_srp: None,
        enrolled: None,
        challenges: Vec::new(),
        outcomes: Vec::new(),
    };
    let mut step = s.initiate().await?;
    let mut session_since = crate::clock::now_unix();
    for _ in 0..MAX_ROUNDS {
        if let Some(tokens) = step.result.take() {
            return s.done(tokens).await;
        }
        let name = step.challenge.take().ok_or_else(|| {
            AwsError::Flow("Cognito answered with neither tokens nor a challenge".into())
        })?;
        s.challenges.push(name.clone());
        if let Some(session) = &step.session {
            s.redact.add(session);
        }
        if let Some(u) = step.params.get("USERNAME").filter(|u| !u.is_empty()) {
            s.username = u.clone();
        }
        let answer = s.answer(&name, &step).await?;
        let sent_at = crate::clock::now_unix();
        step = s
            .respond(&name, answer)
            .await
            .map_err(|err| session_expired(err, sent_at.saturating_sub(session_since)))?;
        session_since = crate::clock::now_unix();
    }
    Err(AwsError::Flow(format!(
        "Cognito kept asking for challenges ({}); giving up after {MAX_ROUNDS} rounds",
        s.challenges.join(", ")
    )))
}

/// A NotAuthorizedException on a session older than Cognito keeps sessions means the session
/// expired: say so plainly.
fn session_expired(err: AwsError, age: u64) -> AwsError {
    if err.code() == Some("NotAuthorizedException") && age >= SESSION_LIFETIME_SECS {
        AwsError::Flow(format!(
            "the sign-in session expired: Cognito keeps it {SESSION_LIFETIME_SECS} s and this step came {age} s after it was issued; start again with `authsim cognito sign-in` ({err})"
        ))
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_sessions_are_named() {
        let e = AwsError::Service {
            op: "RespondToAuthChallenge",
            code: "NotAuthorizedException".into(),
            message: "Invalid session for the user, session is expired.".into(),
            hint: String::new(),
        };
        let msg = session_expired(e, 200).to_string();
        assert!(
            msg.contains("session expired") && msg.contains("200 s"),
            "{msg}"
        );
        let e = AwsError::Service {
            op: "RespondToAuthChallenge",
            code: "NotAuthorizedException".into(),
            message: "Incorrect username or password.".into(),
            hint: String::new(),
        };
        assert!(session_expired(e, 5).to_string().contains("Incorrect"));
    }
}
