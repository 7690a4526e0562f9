//! The stand-in's WebAuthn relying party, on webauthn-rs-core (an independent verifier: the
//! stand-in never uses the project's own WebAuthn client code, which it judges).
//!
//! It makes Cognito's CredentialCreationOptions and CREDENTIAL_REQUEST_OPTIONS, verifies a
//! RegistrationResponseJSON (attestation `none` or `packed`, rpIdHash, origin against the RP
//! id, challenge, user presence, user verification when required) and an
//! AuthenticationResponseJSON (signature, counter, challenge, origin, user verification),
//! and names each refusal as Cognito does.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AuthenticationState, COSEAlgorithm, Credential, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

use crate::emulator::cognito::error::CognitoError;
use crate::emulator::cognito::model::{Passkey, UserPool};
use crate::emulator::crypto;

/// How long a client has for a ceremony, in milliseconds (the options' `timeout`).
pub const TIMEOUT_MS: u64 = 180_000;

/// A pool's relying party.
pub struct RelyingParty {
    core: WebauthnCore,
    /// The RP id.
    pub id: String,
    uv: UserVerificationPolicy,
}

/// A verified registration, ready to be kept.
pub struct Registered {
    /// The credential id, base64url.
    pub id: String,
    /// webauthn-rs-core's credential record, serialised.
    pub credential: Value,
    /// Transports the client reported.
    pub transports: Vec<String>,
    /// `authenticatorAttachment` the client reported.
    pub attachment: Option<String>,
}

fn err(kind: &'static str, message: &str) -> CognitoError {
    CognitoError::new(kind, message)
}

/// The challenge (base64url) a response's clientDataJSON carries, read without trusting it:
/// it only finds the pending ceremony, which then verifies everything.
pub fn challenge_of(credential: &Value) -> Option<String> {
    let cdj = credential
        .get("response")?
        .get("clientDataJSON")?
        .as_str()?;
    let bytes = crypto::b64url_decode(cdj.trim_end_matches('='))?;
    let parsed: Value = serde_json::from_slice(&bytes).ok()?;
    parsed.get("challenge")?.as_str().map(str::to_owned)
}

fn descriptor(p: &Passkey) -> Value {
    let mut d = json!({"type": "public-key", "id": p.id});
    if !p.transports.is_empty() {
        d["transports"] = json!(p.transports);
    }
    d
}

fn credential_of(p: &Passkey) -> Result<Credential, CognitoError> {
    serde_json::from_value(p.credential.clone())
        .map_err(|_| CognitoError::internal("stored passkey is corrupt"))
}

impl RelyingParty {
    /// The relying party of a pool (`WebAuthnConfigurationMissingException` without an RP id).
    pub fn for_pool(pool: &UserPool) -> Result<RelyingParty, CognitoError> {
        let id = pool.webauthn.relying_party_id.clone().ok_or_else(|| {
            err(
                "WebAuthnConfigurationMissingException",
                "The user pool has no WebAuthn relying party id: set WebAuthnConfiguration.RelyingPartyId with SetUserPoolMfaConfig.",
            )
        })?;
        // The origin must be the RP id or a subdomain of it, over https (http for localhost,
        // as browsers allow), on any port.
        let mut origins = Vec::new();
        for o in [format!("https://{id}"), format!("http://{id}")] {
            if o.starts_with("https://") || id == "localhost" {
                origins.push(Url::parse(&o).map_err(|_| {
                    CognitoError::internal("the relying party id is not a host name")
                })?);
            }
        }
        let core = WebauthnCore::new_unsafe_experts_only(
            &pool.name,
            &id,
            origins,
            Duration::from_millis(TIMEOUT_MS),
            Some(true),
            Some(true),
        );
        let uv = if pool.webauthn.uv_required() {
            UserVerificationPolicy::Required
        } else {
            UserVerificationPolicy::Preferred
        };
        Ok(RelyingParty { core, id, uv })
    }

    /// The same relying party, requiring user verification whatever the pool prefers (a
    /// passkey standing in for MFA).
    pub fn requiring_uv(mut self) -> Self {
        self.uv = UserVerificationPolicy::Required;
        self
    }

    /// Cognito's CredentialCreationOptions for a user (resident key required, ES256 and
    /// RS256, the user's passkeys excluded) and the state that verifies the answer.
    pub fn start_registration(
        &self,
        user_handle: &[u8],
        username: &str,
        existing: &[Passkey],
    ) -> Result<(Value, String, RegistrationState), CognitoError> {
        let exclude = existing
            .iter()
            .filter_map(|p| crypto::b64url_decode(&p.id))
            .collect();
        let builder = self
            .core
            .new_challenge_register_builder(user_handle, username, username)
            .map_err(|e| CognitoError::internal(e.to_string()))?
            .user_verification_policy(self.uv)
            .require_resident_key(true)
            .exclude_credentials(Some(exclude))
            .credential_algorithms(vec![COSEAlgorithm::ES256, COSEAlgorithm::RS256]);
        let (ccr, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(|e| CognitoError::internal(e.to_string()))?;
        let pk = ccr.public_key;
        let challenge = crypto::b64url(&pk.challenge);
        let options = json!({
            "challenge": challenge,
            "rp": {"id": pk.rp.id, "name": pk.rp.name},
            "user": {
                "id": crypto::b64url(&pk.user.id),
                "name": pk.user.name,
                "displayName": pk.user.display_name,
            },
            "pubKeyCredParams": pk.pub_key_cred_params.iter()
                .map(|p| json!({"type": p.type_, "alg": p.alg}))
                .collect::<Vec<_>>(),
            "timeout": TIMEOUT_MS,
            "excludeCredentials": existing.iter().map(descriptor).collect::<Vec<_>>(),
            "authenticatorSelection": {
                "requireResidentKey": true,
                "residentKey": "required",
                "userVerification": self.uv_name(),
            },
        });
        Ok((options, challenge, state))
    }

    fn uv_name(&self) -> &'static str {
        match self.uv {
            UserVerificationPolicy::Required => "required",
            _ => "preferred",
        }
    }

    /// Verify a RegistrationResponseJSON against its ceremony.
    pub fn finish_registration(
        &self,
        credential: &Value,
        state: &RegistrationState,
    ) -> Result<Registered, CognitoError> {
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|e| {
                CognitoError::invalid(format!(
                    "Credential is not a valid RegistrationResponseJSON: {e}"
                ))
            })?;
        let cred = self
            .core
            .register_credential(&reg, state, None)
            .map_err(registration_error)?;
        let transports = credential
            .pointer("/response/transports")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let attachment = credential
            .get("authenticatorAttachment")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Registered {
            id: crypto::b64url(&cred.cred_id),
            credential: serde_json::to_value(&cred)
                .map_err(|e| CognitoError::internal(e.to_string()))?,
            transports,
            attachment,
        })
    }

    /// CREDENTIAL_REQUEST_OPTIONS for the user's passkeys, and the state that verifies the
    /// answer.
    pub fn start_authentication(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(Value, AuthenticationState), CognitoError> {
        let creds = passkeys
            .iter()
            .map(credential_of)
            .collect::<Result<Vec<_>, _>>()?;
        let builder = self
            .core
            .new_challenge_authenticate_builder(creds, Some(self.uv))
            .map_err(|e| CognitoError::internal(e.to_string()))?;
        let (rcr, state) = self
            .core
            .generate_challenge_authenticate(builder)
            .map_err(|e| CognitoError::internal(e.to_string()))?;
        let pk = rcr.public_key;
        let options = json!({
            "challenge": crypto::b64url(&pk.challenge),
            "rpId": pk.rp_id,
            "timeout": TIMEOUT_MS,
            "allowCredentials": passkeys.iter().map(descriptor).collect::<Vec<_>>(),
            "userVerification": self.uv_name(),
        });
        Ok((options, state))
    }

    /// Verify an AuthenticationResponseJSON (a JSON string, as the CREDENTIAL response is)
    /// against its ceremony and the user's current passkeys. Returns the passkey's id, its
    /// updated record (counter) and whether the user was verified. Every refusal is
    /// `NotAuthorizedException`, the only error RespondToAuthChallenge has for it.
    pub fn finish_authentication(
        &self,
        credential: &str,
        state: &AuthenticationState,
        passkeys: &[Passkey],
    ) -> Result<(String, Value, bool), CognitoError> {
        let refused = |why: &str| {
            tracing::info!(why, "passkey assertion refused");
            CognitoError::not_authorized("Incorrect username or password.")
        };
        let rsp: PublicKeyCredential = serde_json::from_str(credential)
            .map_err(|_| refused("not AuthenticationResponseJSON"))?;
        let id = crypto::b64url(&rsp.raw_id);
        // A passkey deleted since the challenge was issued no longer counts.
        let stored = passkeys
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| refused("unknown or deleted credential"))?;
        let mut cred = credential_of(stored)?;
        // webauthn-rs-core demands UV on every assertion of a credential registered with UV
        // even when UV is only preferred; WebAuthn (Level 3, 7.2 step 17) asks for the UV flag
        // only when verification is required, so the stand-in follows the specification.
        let mut judged = cred.clone();
        if self.uv != UserVerificationPolicy::Required {
            judged.user_verified = false;
        }
        let result = self
            .core
            .authenticate_single_credential(&rsp, state, &judged)
            .map_err(|e| refused(&e.to_string()))?;
        cred.counter = result.counter();
        cred.backup_state = result.backup_state();
        let record =
            serde_json::to_value(&cred).map_err(|e| CognitoError::internal(e.to_string()))?;
        Ok((id, record, result.user_verified()))
    }
}

/// Cognito's name for a registration refusal.
fn registration_error(e: WebauthnError) -> CognitoError {
    tracing::info!(error = %e, "passkey registration refused");
    match e {
        WebauthnError::MismatchedChallenge => err(
            "WebAuthnChallengeNotFoundException",
            "The WebAuthn challenge was not found or has expired.",
        ),
        WebauthnError::InvalidRPOrigin => err(
            "WebAuthnOriginNotAllowedException",
            "The origin of the WebAuthn response is not allowed for the relying party.",
        ),
        WebauthnError::InvalidRPIDHash => err(
            "WebAuthnRelyingPartyMismatchException",
            "The WebAuthn response was made for another relying party.",
        ),
        WebauthnError::InvalidClientDataType | WebauthnError::CredentialCrossOrigin => err(
            "WebAuthnClientMismatchException",
            "The WebAuthn response is not a registration made by this client.",
        ),
        WebauthnError::UserNotVerified => err(
            "WebAuthnCredentialNotSupportedException",
            "The user pool requires user verification, and the passkey did not verify the user.",
        ),
        WebauthnError::AttestationNotSupported
        | WebauthnError::COSEKeyInvalidType
        | WebauthnError::CredentialInsecureCryptography => err(
            "WebAuthnCredentialNotSupportedException",
            "The passkey's attestation format or algorithm is not supported.",
        ),
        other => CognitoError::invalid(format!("The WebAuthn registration is not valid: {other}")),
    }
}
