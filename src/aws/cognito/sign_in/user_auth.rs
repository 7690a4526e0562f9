//! USER_AUTH's first factors: answering SELECT_CHALLENGE, and the PASSWORD and PASSWORD_SRP
//! challenges. (WEB_AUTHN, a passkey, needs the WebAuthn client: its answer belongs here.)

use super::{Answer, FirstFactor, SignIn};
use crate::aws::AwsError;
use crate::aws::cognito::step::Step;
use std::collections::HashMap;

impl SignIn<'_, '_> {
    /// What a first factor's answer carries: the password, or a fresh SRP_A.
    pub(super) fn factor_params(
        &mut self,
        factor: FirstFactor,
        into: &mut HashMap<String, String>,
    ) -> Result<(), AwsError> {
        match factor {
            FirstFactor::Password => {
                into.insert("PASSWORD".into(), self.req.password.to_string());
            }
            FirstFactor::PasswordSrp => {
                into.insert("SRP_A".into(), self.start_srp()?);
            }
        }
        Ok(())
    }

    /// The first factor to choose among AvailableChallenges: the preferred one, else the
    /// password's SRP when the pool id is known, else the password.
    fn choose(&self, available: &[String]) -> Result<FirstFactor, AwsError> {
        let offered = |f: FirstFactor| available.iter().any(|a| a == f.as_str());
        let mut order = Vec::new();
        if let Some(p) = self.req.preferred {
            order.push(p);
        }
        if self.pool_id.is_some() {
            order.push(FirstFactor::PasswordSrp);
        }
        order.push(FirstFactor::Password);
        order.push(FirstFactor::PasswordSrp);
        order.into_iter().find(|f| offered(*f)).ok_or_else(|| {
            AwsError::Flow(format!(
                "Cognito offers {available:?} for this user and none of them is the password; a passkey (WEB_AUTHN) needs authsim's WebAuthn client, which this build does not have yet"
            ))
        })
    }

    /// `SELECT_CHALLENGE`: the chosen first factor as ANSWER, with what it needs.
    pub(super) fn select_challenge(&mut self, step: &Step) -> Result<Answer, AwsError> {
        let factor = self.choose(&step.available)?;
        let mut a = self.base(step);
        a.responses.insert("ANSWER".into(), factor.as_str().into());
        self.factor_params(factor, &mut a.responses)?;
        Ok(a)
    }

    /// `PASSWORD` or `PASSWORD_SRP`: the password, or SRP_A to start its SRP.
    pub(super) fn first_factor(&mut self, name: &str, step: &Step) -> Result<Answer, AwsError> {
        let factor = if name == "PASSWORD" {
            FirstFactor::Password
        } else {
            FirstFactor::PasswordSrp
        };
        let mut a = self.base(step);
        self.factor_params(factor, &mut a.responses)?;
        Ok(a)
    }
}
