//! Sign-in: InitiateAuth, then one answer per challenge (`challenges`) until Cognito hands
//! out tokens.

mod challenges;

use super::enroll::{EnrollReport, finish_enrollment};
use super::step::{Step, step_or_error};
use super::tokens::Tokens;
use crate::aws::{AwsError, Codes, Redactor, srp};
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
}

/// Everything a sign-in needs.
pub struct SignInRequest {
    /// The app client id.
    pub client_id: String,
    /// The app client secret, if the app client has one.
    pub client_secret: Option<Zeroizing<String>>,
    /// The username (or an alias such as the email address).
    pub username: String,
    /// The password.
    pub password: Zeroizing<String>,
    /// The new password, for NEW_PASSWORD_REQUIRED.
    pub new_password: Option<Zeroizing<String>>,
    /// SRP or password flow.
    pub flow: Flow,
    /// The user pool id (needed by SRP).
    pub pool_id: Option<String>,
    /// The vault entry that answers SOFTWARE_TOKEN_MFA, or receives the new secret in MFA_SETUP.
    pub totp: Option<String>,
    /// Friendly device name for MFA_SETUP's VerifySoftwareToken.
    pub device_name: Option<String>,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("flow", &self.flow)
            .field("pool_id", &self.pool_id)
            .field("totp", &self.totp)
            .finish_non_exhaustive()
    }
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
    redact: Redactor,
    username: String,
    srp: Option<srp::SrpClient>,
    enrolled: Option<EnrollReport>,
    challenges: Vec<String>,
}

impl SignIn<'_, '_> {
    fn secret_hash(&self, user: &str) -> Option<String> {
        self.req
            .client_secret
            .as_ref()
            .map(|s| srp::secret_hash(s, user, &self.req.client_id))
    }

    /// InitiateAuth with the request's flow.
    async fn initiate(&mut self) -> Result<Step, AwsError> {
        let req = self.req;
        let mut init = self.client.initiate_auth().client_id(&req.client_id);
        match req.flow {
            Flow::Srp => {
                let pool = req.pool_id.as_deref().ok_or_else(|| {
                    AwsError::Flow(
                        "--flow srp needs --pool-id (the user pool id, e.g. us-east-1_AbC123xyz): Cognito's SRP mixes the pool's name into the proof".into(),
                    )
                })?;
                srp::pool_name(pool)?;
                let c = srp::SrpClient::new()?;
                init = init
                    .auth_flow(AuthFlowType::UserSrpAuth)
                    .auth_parameters("USERNAME", &self.username)
                    .auth_parameters("SRP_A", c.srp_a());
                self.srp = Some(c);
            }
            Flow::Password => {
                init = init
                    .auth_flow(AuthFlowType::UserPasswordAuth)
                    .auth_parameters("USERNAME", &self.username)
                    .auth_parameters("PASSWORD", req.password.as_str());
            }
        }
        if let Some(h) = self.secret_hash(&self.username) {
            self.redact.add(&h);
            init = init.auth_parameters("SECRET_HASH", h);
        }
        let res = init.send().await;
        step_or_error("InitiateAuth", res, &self.redact, Step::from_initiate)
    }

    /// Answer one challenge.
    async fn answer(&mut self, name: &str, step: &Step) -> Result<Answer, AwsError> {
        match name {
            "PASSWORD_VERIFIER" => self.password_verifier(step),
            "NEW_PASSWORD_REQUIRED" => self.new_password_required(step),
            "SELECT_MFA_TYPE" => self.select_mfa_type(step),
            "SOFTWARE_TOKEN_MFA" => self.software_token_mfa(step).await,
            "MFA_SETUP" => self.mfa_setup(step).await,
            other => Err(AwsError::Flow(format!(
                "Cognito asks for the {other} challenge, which authsim does not answer (it answers PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, SELECT_MFA_TYPE, SOFTWARE_TOKEN_MFA and MFA_SETUP)"
            ))),
        }
    }

    /// RespondToAuthChallenge with an answer (SECRET_HASH added).
    async fn respond(&mut self, name: &str, mut answer: Answer) -> Result<Step, AwsError> {
        if let Some(h) = self.secret_hash(&self.username) {
            self.redact.add(&h);
            answer.responses.insert("SECRET_HASH".into(), h);
        }
        let res = self
            .client
            .respond_to_auth_challenge()
            .client_id(&self.req.client_id)
            .challenge_name(ChallengeNameType::from(name))
            .set_session(answer.session)
            .set_challenge_responses(Some(answer.responses))
            .send()
            .await;
        step_or_error(
            "RespondToAuthChallenge",
            res,
            &self.redact,
            Step::from_respond,
        )
    }

    /// The sign-in is done: finish an enrollment made on the way, and report.
    async fn done(mut self, tokens: Tokens) -> Result<SignInResult, AwsError> {
        if let Some(report) = self.enrolled.as_mut() {
            // MFA_SETUP verified the new secret; now make TOTP the user's MFA and check.
            tokens.redact_into(&mut self.redact);
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
        Ok(SignInResult {
            tokens,
            username: self.username,
            challenges: self.challenges,
            enrolled: self.enrolled,
        })
    }
}

/// Sign in: InitiateAuth, then answer each challenge until Cognito hands out tokens.
pub async fn sign_in(
    client: &cip::Client,
    req: &SignInRequest,
    codes: &mut Codes<'_>,
) -> Result<SignInResult, AwsError> {
    let mut redact = Redactor::default();
    redact.add(&req.password);
    if let Some(p) = &req.new_password {
        redact.add(p);
    }
    if let Some(s) = &req.client_secret {
        redact.add(s);
    }
    let mut s = SignIn {
        client,
        req,
        codes,
        redact,
        username: req.username.clone(),
        srp: None,
        enrolled: None,
        challenges: Vec::new(),
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
