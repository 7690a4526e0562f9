//! USER_AUTH's first factors: answering SELECT_CHALLENGE, and the PASSWORD, PASSWORD_SRP and
//! WEB_AUTHN (a passkey, through the WebAuthn client) challenges.

use super::{Answer, FirstFactor, SignIn};
use crate::aws::AwsError;
use crate::aws::cognito::passkeys::{ceremony_error, origin_for};
use crate::aws::cognito::step::Step;
use std::collections::HashMap;

impl SignIn<'_, '_> {
    /// What a first factor's answer carries: the password, a fresh SRP_A, or nothing (a
    /// passkey's challenge comes back with the options to sign).
    pub(super) fn factor_params(
        &mut self,
        factor: FirstFactor,
        into: &mut HashMap<String, String>,
    ) -> Result<(), AwsError> {
        match factor {
            FirstFactor::Password => {
                into.insert("PASSWORD".into(), self.password()?.to_string());
            }
            FirstFactor::PasswordSrp => {
                into.insert("SRP_A".into(), self.start_srp()?);
            }
            FirstFactor::WebAuthn => {}
        }
        Ok(())
    }

    /// The first factor to choose among AvailableChallenges: the preferred one; else, with a
    /// password, its SRP when the pool id is known, else the password itself; else a passkey
    /// when there is a key to sign with.
    fn choose(&self, available: &[String]) -> Result<FirstFactor, AwsError> {
        let offered = |f: FirstFactor| available.iter().any(|a| a == f.as_str());
        let mut order = Vec::new();
        if let Some(p) = self.req.preferred {
            order.push(p);
        }
        if self.req.password.is_some() {
            if self.pool_id.is_some() {
                order.push(FirstFactor::PasswordSrp);
            }
            order.push(FirstFactor::Password);
            order.push(FirstFactor::PasswordSrp);
        }
        if self.passkey.is_some() {
            order.push(FirstFactor::WebAuthn);
        }
        order.into_iter().find(|f| offered(*f)).ok_or_else(|| {
            AwsError::Flow(format!(
                "Cognito offers {available:?} for this user and authsim was given nothing that answers one of them: give --password-stdin for PASSWORD/PASSWORD_SRP, --passkey for WEB_AUTHN"
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

    /// `WEB_AUTHN`: CREDENTIAL_REQUEST_OPTIONS (a JSON string) to the WebAuthn client's get(),
    /// its AuthenticationResponseJSON back as CREDENTIAL (a JSON string too).
    pub(super) fn web_authn(&mut self, step: &Step) -> Result<Answer, AwsError> {
        let raw = step
            .params
            .get("CREDENTIAL_REQUEST_OPTIONS")
            .ok_or_else(|| {
                AwsError::Flow(
                    "Cognito's WEB_AUTHN challenge came without CREDENTIAL_REQUEST_OPTIONS".into(),
                )
            })?;
        let options: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            AwsError::Flow(format!(
                "Cognito's CREDENTIAL_REQUEST_OPTIONS is not JSON ({e})"
            ))
        })?;
        let origin = origin_for(self.req.origin.as_deref(), &options)?;
        let platform = self.passkey.as_deref_mut().ok_or_else(|| {
            AwsError::Flow(
                "Cognito asks for a passkey (WEB_AUTHN): give --passkey (and --key KEY or --device HIDRAW for the key that holds it)".into(),
            )
        })?;
        // The key may wait for a touch; the sign-in has nothing else to do meanwhile.
        let response = platform
            .get(&origin, &options)
            .map_err(|e| ceremony_error("signing in with the passkey", e))?;
        let mut a = self.base(step);
        a.responses
            .insert("CREDENTIAL".into(), response.to_string());
        Ok(a)
    }
}
