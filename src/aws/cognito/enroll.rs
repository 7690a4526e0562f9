//! TOTP enrollment: AssociateSoftwareToken → the secret into the vault → VerifySoftwareToken
//! → SetUserMFAPreference → GetUser, by access token or during sign-in's MFA_SETUP, resumable
//! from the state kept in the store; and the setup URI Amplify builds.

use super::step::SOFTWARE_TOKEN_MFA;
use crate::aws::{AwsError, Codes, Redactor, fresh_codes, sdk_error};
use crate::store::Store;
use crate::vault::{EntryParams, SecretBytes, VaultError};
use aws_sdk_cognitoidentityprovider as cip;
use cip::types::{SoftwareTokenMfaSettingsType, VerifySoftwareTokenResponseType};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Record namespace of TOTP enrollments in progress or done (key: the vault entry's name).
pub const NS_ENROLL: &str = "aws.cognito.enroll";
/// Issuer written into vault entries (and setup URIs) when no app name is given.
pub const DEFAULT_ISSUER: &str = "AWSCognito";

pub(super) fn take_one(mut v: Vec<Zeroizing<String>>) -> Result<Zeroizing<String>, AwsError> {
    v.pop()
        .ok_or_else(|| AwsError::Flow("the vault produced no code".into()))
}

/// How an enrollment call is authorised.
pub enum Auth {
    /// An access token (a signed-in user).
    AccessToken(Zeroizing<String>),
    /// The session of an MFA_SETUP challenge.
    Session(String),
}

/// What enroll-totp should do.
#[derive(Clone, Debug)]
pub struct EnrollRequest {
    /// The vault entry to create for the new secret.
    pub vault_name: String,
    /// FriendlyDeviceName for VerifySoftwareToken.
    pub device_name: Option<String>,
    /// Make TOTP the preferred MFA.
    pub preferred: bool,
    /// The issuer (app name) for the vault entry and the setup URI; default [`DEFAULT_ISSUER`].
    pub issuer: Option<String>,
}

/// The outcome of an enrollment.
#[derive(Debug, Clone, Default)]
pub struct EnrollReport {
    /// The user's username.
    pub username: String,
    /// The vault entry holding the secret.
    pub vault_name: String,
    /// True when an earlier run had verified the secret already and this one finished the job.
    pub resumed: bool,
    /// Where an unverified secret of an earlier, interrupted run was kept.
    pub kept_previous_as: Option<String>,
    /// GetUser's UserMFASettingList after the enrollment.
    pub mfa_settings: Vec<String>,
    /// GetUser's PreferredMfaSetting after the enrollment.
    pub preferred: Option<String>,
}

/// State of one enrollment, kept in [`NS_ENROLL`] under the vault entry's name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct EnrollRecord {
    v: u32,
    username: String,
    /// associating → associated (secret in the vault) → verified → enabled.
    state: String,
    updated: u64,
}

fn load_enroll(store: &Store, name: &str) -> Result<Option<EnrollRecord>, AwsError> {
    match store.get(NS_ENROLL, name.as_bytes())? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(|_| {
            AwsError::Flow(format!(
                "the enrollment record of '{name}' is damaged; remove the vault entry or choose another --name"
            ))
        }),
    }
}

fn put_enroll(store: &mut Store, name: &str, username: &str, state: &str) -> Result<(), AwsError> {
    let rec = EnrollRecord {
        v: 1,
        username: username.to_string(),
        state: state.to_string(),
        updated: crate::clock::now_unix(),
    };
    let value = serde_json::to_vec(&rec).map_err(|e| AwsError::Flow(e.to_string()))?;
    store.transaction(|tx| tx.put(NS_ENROLL, name.as_bytes(), &value))?;
    Ok(())
}

/// What an earlier run of the same enrollment left: nothing to stop for (`Ok(false)`), a
/// verified secret to resume from (`Ok(true)`), or a reason to stop. An unverified secret of
/// an interrupted run is kept under another name (it is never thrown away).
fn check_earlier_run(
    codes: &mut Codes<'_>,
    auth: &Auth,
    username: &str,
    report: &mut EnrollReport,
) -> Result<bool, AwsError> {
    let name = report.vault_name.clone();
    let record = load_enroll(codes.vault()?.store(), &name)?;
    let exists = match codes.vault()?.info(&name) {
        Ok(_) => true,
        Err(VaultError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    match (&record, exists) {
        (Some(r), _) if r.username != username => Err(AwsError::Flow(format!(
            "the vault entry '{name}' belongs to the Cognito user '{}'; choose another --name",
            r.username
        ))),
        (Some(r), true) if r.state == "verified" || r.state == "enabled" => {
            if let Auth::Session(_) = auth {
                // In MFA_SETUP the user has no verified authenticator, whatever the record says.
                return Err(AwsError::Flow(format!(
                    "the vault entry '{name}' holds a verified secret, yet Cognito asks this user to set up MFA again; choose another --totp name (the old entry is kept)"
                )));
            }
            report.resumed = true;
            Ok(true)
        }
        (Some(_), true) => {
            let kept = format!("{name}.unverified-{}", crate::clock::now_unix());
            codes.vault()?.rename(&name, &kept)?;
            report.kept_previous_as = Some(kept);
            Ok(false)
        }
        (None, true) => Err(AwsError::Flow(format!(
            "a TOTP entry named '{name}' exists already and was not made by enroll-totp for '{username}'; choose another name (the entry is left alone)"
        ))),
        (_, false) => Ok(false),
    }
}

/// AssociateSoftwareToken → the secret into the vault (durably, before anything else) →
/// VerifySoftwareToken with a fresh code. Returns VerifySoftwareToken's session (for
/// MFA_SETUP) and the report so far. Resumes an enrollment whose secret was verified already.
pub(super) async fn associate_and_verify(
    client: &cip::Client,
    auth: Auth,
    username: &str,
    req: &EnrollRequest,
    codes: &mut Codes<'_>,
    redact: &mut Redactor,
) -> Result<(Option<String>, EnrollReport), AwsError> {
    let name = req.vault_name.as_str();
    crate::vault::check_name(name)?;
    let mut report = EnrollReport {
        username: username.to_string(),
        vault_name: name.to_string(),
        ..EnrollReport::default()
    };
    if check_earlier_run(codes, &auth, username, &mut report)? {
        return Ok((None, report));
    }

    put_enroll(codes.vault()?.store_mut(), name, username, "associating")?;
    let mut assoc = client.associate_software_token();
    assoc = match &auth {
        Auth::AccessToken(t) => assoc.access_token(t.as_str()),
        Auth::Session(s) => assoc.session(s),
    };
    let out = assoc
        .send()
        .await
        .map_err(|e| sdk_error("AssociateSoftwareToken", e, redact))?;
    let secret_text = Zeroizing::new(
        out.secret_code()
            .ok_or_else(|| AwsError::Flow("AssociateSoftwareToken returned no SecretCode".into()))?
            .to_string(),
    );
    redact.add(&secret_text);
    let secret = SecretBytes::from_base32(&secret_text).map_err(|e| {
        AwsError::Flow(format!(
            "AssociateSoftwareToken returned a SecretCode that is not base32 ({e})"
        ))
    })?;
    let mut params = EntryParams::new(secret);
    params.issuer = Some(req.issuer.clone().unwrap_or_else(|| DEFAULT_ISSUER.into()));
    params.account = Some(username.to_string());
    codes.vault()?.add(name, &params)?;
    put_enroll(codes.vault()?.store_mut(), name, username, "associated")?;
    tracing::info!(name, "stored the new TOTP secret in the vault");

    let session = out.session().map(str::to_string).or(match &auth {
        Auth::Session(s) => Some(s.clone()),
        Auth::AccessToken(_) => None,
    });
    if let Some(s) = &session {
        redact.add(s);
    }
    let code = take_one(fresh_codes(codes, name, 1).await?)?;
    redact.add(&code);
    let mut verify = client
        .verify_software_token()
        .user_code(code.as_str())
        .set_friendly_device_name(req.device_name.clone());
    verify = match &auth {
        Auth::AccessToken(t) => verify.access_token(t.as_str()),
        Auth::Session(_) => verify.set_session(session.clone()),
    };
    let out = verify
        .send()
        .await
        .map_err(|e| sdk_error("VerifySoftwareToken", e, redact))?;
    match out.status() {
        Some(VerifySoftwareTokenResponseType::Success) => {}
        other => {
            return Err(AwsError::Flow(format!(
                "VerifySoftwareToken answered {}; the secret stays in the vault as '{name}'. Run the command again to retry",
                other.map(|s| s.as_str()).unwrap_or("no status")
            )));
        }
    }
    put_enroll(codes.vault()?.store_mut(), name, username, "verified")?;
    let new_session = out.session().map(str::to_string);
    if let Some(s) = &new_session {
        redact.add(s);
    }
    Ok((new_session, report))
}

/// SetUserMFAPreference (TOTP enabled, preferred if asked) → GetUser must list
/// SOFTWARE_TOKEN_MFA.
pub(super) async fn finish_enrollment(
    client: &cip::Client,
    access_token: &str,
    report: &mut EnrollReport,
    preferred: bool,
    codes: &mut Codes<'_>,
    redact: &Redactor,
) -> Result<(), AwsError> {
    let mut settings = SoftwareTokenMfaSettingsType::builder().enabled(true);
    if preferred {
        settings = settings.preferred_mfa(true);
    }
    client
        .set_user_mfa_preference()
        .access_token(access_token)
        .software_token_mfa_settings(settings.build())
        .send()
        .await
        .map_err(|e| sdk_error("SetUserMFAPreference", e, redact))?;
    put_enroll(
        codes.vault()?.store_mut(),
        &report.vault_name,
        &report.username,
        "enabled",
    )?;
    let user = client
        .get_user()
        .access_token(access_token)
        .send()
        .await
        .map_err(|e| sdk_error("GetUser", e, redact))?;
    report.mfa_settings = user.user_mfa_setting_list().to_vec();
    report.preferred = user
        .preferred_mfa_setting()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if !report.mfa_settings.iter().any(|s| s == SOFTWARE_TOKEN_MFA) {
        return Err(AwsError::Flow(format!(
            "TOTP was verified and enabled, yet GetUser lists {:?} without SOFTWARE_TOKEN_MFA; check the user pool's MFA configuration",
            report.mfa_settings
        )));
    }
    Ok(())
}

/// Enroll a TOTP authenticator for the user of `access_token`.
pub async fn enroll_totp(
    client: &cip::Client,
    access_token: &Zeroizing<String>,
    req: &EnrollRequest,
    codes: &mut Codes<'_>,
) -> Result<EnrollReport, AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    let user = client
        .get_user()
        .access_token(access_token.as_str())
        .send()
        .await
        .map_err(|e| sdk_error("GetUser", e, &redact))?;
    let username = user.username().to_string();
    let (_, mut report) = associate_and_verify(
        client,
        Auth::AccessToken(access_token.clone()),
        &username,
        req,
        codes,
        &mut redact,
    )
    .await?;
    finish_enrollment(
        client,
        access_token,
        &mut report,
        req.preferred,
        codes,
        &redact,
    )
    .await?;
    Ok(report)
}

/// The otpauth URI Amplify's `getSetupUri(appName, username)` builds:
/// `otpauth://totp/APP:USER?secret=SECRET&issuer=APP` (holds the secret).
pub fn setup_uri(app: &str, username: &str, secret: &SecretBytes) -> Zeroizing<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'@')
        .remove(b'+');
    let app = utf8_percent_encode(app, KEEP).to_string();
    let user = utf8_percent_encode(username, KEEP).to_string();
    let b32 = secret.to_base32();
    Zeroizing::new(format!(
        "otpauth://totp/{app}:{user}?secret={}&issuer={app}",
        b32.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_uri_is_amplifys_shape() {
        let s = SecretBytes::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            setup_uri("MyApp", "alice@example.com", &s).as_str(),
            "otpauth://totp/MyApp:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=MyApp"
        );
        assert_eq!(
            setup_uri("My App", "bob", &s).as_str(),
            "otpauth://totp/My%20App:bob?secret=JBSWY3DPEHPK3PXP&issuer=My%20App"
        );
    }
}
