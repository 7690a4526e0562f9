//! The remembered device's part of a sign-in: DEVICE_SRP_AUTH (a fresh SRP_A for the device)
//! and DEVICE_PASSWORD_VERIFIER (the claim over the device's secrets), and, once tokens come,
//! confirming the new device Cognito made for a sign-in without one and keeping it sealed.

use super::{Answer, DeviceOutcome, SignIn};
use crate::aws::cognito::devices;
use crate::aws::cognito::step::Step;
use crate::aws::cognito::tokens::Tokens;
use crate::aws::{AwsError, srp};

impl SignIn<'_, '_> {
    fn stored_device(&self, challenge: &str) -> Result<&devices::LocalDevice, AwsError> {
        self.device.as_ref().ok_or_else(|| {
            AwsError::Flow(format!(
                "Cognito asks for {challenge}, but this sign-in sent no device"
            ))
        })
    }

    /// `DEVICE_SRP_AUTH`: USERNAME, DEVICE_KEY and a fresh SRP_A for the device.
    pub(super) fn device_srp_auth(&mut self, step: &Step) -> Result<Answer, AwsError> {
        let key = self.stored_device("DEVICE_SRP_AUTH")?.key.clone();
        let c = srp::SrpClient::new()?;
        let mut a = self.base(step);
        a.responses.insert("DEVICE_KEY".into(), key);
        a.responses.insert("SRP_A".into(), c.srp_a());
        self.device_srp = Some(c);
        Ok(a)
    }

    /// `DEVICE_PASSWORD_VERIFIER`: the device's claim, with its group key and key in the
    /// pool name's and user id's places.
    pub(super) fn device_password_verifier(&mut self, step: &Step) -> Result<Answer, AwsError> {
        let device = self.stored_device("DEVICE_PASSWORD_VERIFIER")?;
        let c = self.device_srp.as_ref().ok_or_else(|| {
            AwsError::Flow("Cognito sent DEVICE_PASSWORD_VERIFIER before DEVICE_SRP_AUTH".into())
        })?;
        let get = |k: &'static str| {
            step.params
                .get(k)
                .map(String::as_str)
                .ok_or(srp::SrpError::Malformed(k))
        };
        let block = get("SECRET_BLOCK")?;
        let claim = c.device_claim(
            &device.proof(),
            get("SALT")?,
            get("SRP_B")?,
            &srp::decode_secret_block(block)?,
            crate::clock::now_unix(),
        )?;
        let key = device.key.clone();
        let mut a = self.base(step);
        a.responses
            .insert("PASSWORD_CLAIM_SECRET_BLOCK".into(), block.to_string());
        a.responses
            .insert("PASSWORD_CLAIM_SIGNATURE".into(), claim.signature);
        a.responses.insert("TIMESTAMP".into(), claim.timestamp);
        a.responses.insert("DEVICE_KEY".into(), key);
        Ok(a)
    }

    /// After the tokens: confirm (and keep) a new device, or mark the used one remembered
    /// when asked. Returns the device the tokens are bound to.
    pub(super) async fn settle_device(
        &mut self,
        tokens: &Tokens,
    ) -> Result<Option<String>, AwsError> {
        if self.pool_id.is_none() {
            self.pool_id = devices::token_pool(&tokens.access_token);
        }
        if let Some(pool) = self.pool_id.clone() {
            devices::note_client_pool(self.codes.vault()?.store_mut(), &self.req.client_id, &pool)?;
        }
        if let Some(new) = &tokens.new_device {
            // Confirmed always, as the SDKs do: tokens of an unconfirmed device cannot be
            // refreshed. Remembered only when asked (or when the pool remembers every device).
            let (device, remembered) = devices::confirm(
                self.client,
                &tokens.access_token,
                new,
                self.req.device_name.as_deref(),
                self.req.remember_device,
                &mut self.redact,
            )
            .await?;
            match self.pool_id.clone() {
                Some(pool) => devices::save(
                    self.codes.vault()?.store_mut(),
                    &pool,
                    &self.username,
                    &device,
                )?,
                None => tracing::warn!("the user pool is unknown; the new device is not kept"),
            }
            self.outcomes.push(DeviceOutcome::Confirmed {
                key: new.key.clone(),
                remembered,
            });
            return Ok(Some(new.key.clone()));
        }
        let Some(device) = &self.device else {
            if self.req.remember_device {
                tracing::warn!(
                    "--remember-device: the user pool tracks no devices (no NewDeviceMetadata came)"
                );
            }
            return Ok(None);
        };
        let key = device.key.clone();
        if self.req.remember_device {
            devices::set_status(self.client, &tokens.access_token, &key, true, &self.redact)
                .await?;
        }
        self.outcomes.push(DeviceOutcome::Used {
            key: key.clone(),
            remembered_now: self.req.remember_device,
        });
        Ok(Some(key))
    }
}
