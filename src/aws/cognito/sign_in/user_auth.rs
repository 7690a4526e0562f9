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

    /// The first factor to choose among AvailableChallenges (see [`choose`]).
    fn choose(&self, available: &[String]) -> Result<FirstFactor, AwsError> {
        choose(
            available,
            Means {
                preferred: self.req.preferred,
                password: self.req.password.is_some(),
                pool_known: self.pool_id.is_some(),
                passkey: self.passkey.is_some(),
            },
        )
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

/// What a sign-in has to answer a first factor with.
#[derive(Clone, Copy)]
struct Means {
    preferred: Option<FirstFactor>,
    password: bool,
    pool_known: bool,
    passkey: bool,
}

/// The first factor to choose among AvailableChallenges: the preferred one; else, with a
/// password, its SRP when the pool id is known, else the password itself; else a passkey when
/// there is a key to sign with.
fn choose(available: &[String], m: Means) -> Result<FirstFactor, AwsError> {
    let offered = |f: FirstFactor| available.iter().any(|a| a == f.as_str());
    let mut order = Vec::new();
    if let Some(p) = m.preferred {
        order.push(p);
    }
    if m.password {
        if m.pool_known {
            order.push(FirstFactor::PasswordSrp);
        }
        order.push(FirstFactor::Password);
        order.push(FirstFactor::PasswordSrp);
    }
    if m.passkey {
        order.push(FirstFactor::WebAuthn);
    }
    order.into_iter().find(|f| offered(*f)).ok_or_else(|| {
        AwsError::Flow(format!(
            "Cognito offers {available:?} for this user and authsim was given nothing that answers one of them: give --password-stdin for PASSWORD/PASSWORD_SRP, --passkey for WEB_AUTHN"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const NOTHING: Means = Means {
        preferred: None,
        password: false,
        pool_known: false,
        passkey: false,
    };

    #[test]
    fn select_challenge_is_answered_with_what_the_sign_in_has() {
        let all = offered(&["PASSWORD", "PASSWORD_SRP", "WEB_AUTHN"]);
        let password = Means {
            password: true,
            ..NOTHING
        };
        let passkey = Means {
            passkey: true,
            ..NOTHING
        };
        assert_eq!(choose(&all, password).unwrap(), FirstFactor::Password);
        let srp = Means {
            pool_known: true,
            ..password
        };
        assert_eq!(choose(&all, srp).unwrap(), FirstFactor::PasswordSrp);
        // A passkey sign-in (no password) answers WEB_AUTHN.
        assert_eq!(choose(&all, passkey).unwrap(), FirstFactor::WebAuthn);
        let both = Means {
            preferred: Some(FirstFactor::WebAuthn),
            passkey: true,
            ..srp
        };
        assert_eq!(choose(&all, both).unwrap(), FirstFactor::WebAuthn);
        // The preferred factor not offered: the next one the sign-in can answer.
        let only_password = offered(&["PASSWORD", "PASSWORD_SRP"]);
        assert_eq!(
            choose(&only_password, both).unwrap(),
            FirstFactor::PasswordSrp
        );
        // Nothing that answers what is offered: say what to give.
        let err = choose(&only_password, passkey).unwrap_err().to_string();
        assert!(err.contains("--password-stdin"), "{err}");
        let err = choose(&offered(&["WEB_AUTHN"]), password)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--passkey"), "{err}");
    }
}
