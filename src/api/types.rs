//! The control API's request and response bodies: one definition that the server (the route
//! modules) and the CLI client both use, so a field cannot be spelt two ways.
//!
//! Names follow the W3C WebDriver virtual-authenticator extension where it has them
//! (camelCase, base64url values without padding); `src/api/openapi.yaml` documents the same
//! shapes and the tests validate real responses against it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::daemon::keys::{AttestationName, CounterName, ProtocolName};
use crate::daemon::presence::PresencePolicy;

/// Every error: `{"error": CODE, "message": TEXT}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code (`invalid-argument`, `not-found`, `conflict`, ...).
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfo {
    /// The daemon's version.
    pub version: String,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// Whether /dev/uhid was usable at start.
    pub uhid: bool,
    /// The names of the running keys.
    pub authenticators: Vec<String>,
}

/// `GET /attestation-ca?format=pem|der`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaQuery {
    /// `pem` (default) or `der`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The body of "Add Virtual Authenticator" (WebDriver's names, and authsim's own).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    /// The key's name (its authenticatorId); random when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ctap2, ctap2_1 or u2f.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProtocolName>,
    /// Always `usb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Discoverable credentials supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_resident_key: Option<bool>,
    /// Built-in user verification present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_user_verification: Option<bool>,
    /// WebDriver's consent switch (false: every touch refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_user_consenting: Option<bool>,
    /// Whether built-in user verification succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_user_verified: Option<bool>,
    /// CTAP extensions the key supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    /// WebDriver Level 3: BE of new credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_backup_eligibility: Option<bool>,
    /// WebDriver Level 3: BS of new credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_backup_state: Option<bool>,
    /// Attestation of new credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<AttestationName>,
    /// Counter mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_mode: Option<CounterName>,
    /// How requests for a touch are answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresencePolicy>,
    /// The AAGUID (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<String>,
    /// Most discoverable credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resident_credentials: Option<usize>,
    /// Serve the key on /dev/uhid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uhid: Option<bool>,
    /// Serve the key on this Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_socket: Option<PathBuf>,
    /// Serve the key on this loopback UDP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_udp: Option<SocketAddr>,
    /// The USB product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// A PIN the new key gets at once (ctap2_1 keys only); never stored by the daemon, never
    /// shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretText>,
}

/// A secret text sent to the API (a PIN): no `Debug` shows it, and it is wiped when dropped.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

/// Where a running key listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListeningInfo {
    /// The uhid device's HID_UNIQ, when the key is on /dev/uhid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uhid: Option<String>,
    /// The Unix socket path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_socket: Option<PathBuf>,
    /// The bound UDP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_udp: Option<SocketAddr>,
}

/// A key as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The key's name.
    pub authenticator_id: String,
    /// The same name (as the key's spec stores it).
    pub name: String,
    /// ctap2, ctap2_1 or u2f.
    pub protocol: ProtocolName,
    /// Always `usb`.
    pub transport: String,
    /// Discoverable credentials supported.
    pub has_resident_key: bool,
    /// Built-in user verification present.
    pub has_user_verification: bool,
    /// Whether built-in user verification succeeds.
    pub is_user_verified: bool,
    /// Whether touches are approved (presence policy not `deny`).
    pub is_user_consenting: bool,
    /// The presence policy.
    pub presence: PresencePolicy,
    /// Attestation of new credentials.
    pub attestation: AttestationName,
    /// Counter mode.
    pub counter_mode: CounterName,
    /// The AAGUID.
    pub aaguid: String,
    /// Most discoverable credentials.
    pub max_resident_credentials: usize,
    /// Whether the key is on /dev/uhid.
    pub uhid: bool,
    /// The configured Unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_socket: Option<PathBuf>,
    /// The configured UDP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hid_udp: Option<SocketAddr>,
    /// The USB product name.
    pub product_name: String,
    /// CTAP extensions the key supports.
    pub extensions: Vec<String>,
    /// Where it listens now.
    pub listening: ListeningInfo,
    /// `running`, or `failed` for a stored key that did not start (see `failureReason`).
    pub state: KeyState,
    /// Why a failed key did not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// Whether a key runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// It serves its transports.
    Running,
    /// It is stored but did not start; it can be removed.
    Failed,
}

/// WebDriver's Credential Parameters (authsim adds the user's names).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCredential {
    /// The credential id (base64url).
    pub credential_id: String,
    /// Discoverable.
    pub is_resident_credential: bool,
    /// The relying party id.
    pub rp_id: String,
    /// PKCS#8 private key (base64url DER). Never sent back.
    pub private_key: String,
    /// The user handle (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    /// The counter to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_count: Option<u32>,
    /// WebDriver's largeBlob (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<String>,
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_display_name: Option<String>,
    /// WebDriver Level 3: BE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_eligibility: Option<bool>,
    /// WebDriver Level 3: BS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_state: Option<bool>,
    /// WebDriver Level 3: a name hint (accepted, not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name_hint: Option<String>,
    /// authsim: replace a stored credential with the same id (or, for a discoverable one, the
    /// same rpId and user handle); without it such an import is a 409 and changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("credential_id", &self.credential_id)
            .field("is_resident_credential", &self.is_resident_credential)
            .field("rp_id", &self.rp_id)
            .field("private_key", &"<secret>")
            .finish_non_exhaustive()
    }
}

impl Drop for NewCredential {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.private_key.zeroize();
    }
}

/// A stored credential as the API lists it (never its private key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialInfo {
    /// The credential id (base64url).
    pub credential_id: String,
    /// Discoverable.
    pub is_resident_credential: bool,
    /// The relying party id.
    pub rp_id: String,
    /// The signature counter.
    pub sign_count: u32,
    /// The COSE algorithm.
    pub algorithm: i64,
    /// The COSE public key (base64url).
    pub public_key: String,
    /// The user handle (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_display_name: Option<String>,
    /// The credProtect level (1–3) it was made with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_protect: Option<u8>,
    /// Whether it stores a credBlob.
    #[serde(default)]
    pub has_cred_blob: bool,
}

/// The answer to a bulk import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// How many credentials were stored.
    pub stored: usize,
}

/// The answer to "remove all credentials".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Removed {
    /// How many credentials were removed.
    pub removed: usize,
}

/// `POST .../uv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetUv {
    /// Whether built-in user verification succeeds.
    pub is_user_verified: bool,
}

/// `PUT .../presence`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    /// The new policy.
    pub policy: PresencePolicy,
}

/// A presence request waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingInfo {
    /// The request id.
    pub id: u64,
    /// What the touch is for (makeCredential, getAssertion, ...).
    pub purpose: String,
    /// The relying party, when the request concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Whether user verification was asked for too.
    pub user_verification: bool,
    /// When the wait started (Unix seconds).
    pub since: u64,
}

/// `GET .../presence`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresenceInfo {
    /// The policy.
    pub policy: PresencePolicy,
    /// The requests waiting (manual policy).
    pub pending: Vec<PendingInfo>,
}

/// `POST .../presence/requests/ID`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideBody {
    /// `approve` or `deny`.
    pub action: String,
    /// With approve: whether built-in user verification succeeds (default: the key's switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verified: Option<bool>,
}

/// The answer to a decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decided {
    /// The request id.
    pub id: u64,
    /// The action taken.
    pub action: String,
}

/// A new TOTP entry: an otpauth URI, or a base32 secret with its parameters.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTotp {
    /// The entry's name.
    pub name: String,
    /// An otpauth URI (secret!).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// A base32 secret (secret!).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// SHA1, SHA256 or SHA512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// 6 to 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<u8>,
    /// Seconds per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

impl std::fmt::Debug for NewTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTotp")
            .field("name", &self.name)
            .field("uri", &self.uri.as_ref().map(|_| "<secret>"))
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Drop for NewTotp {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.uri.zeroize();
        self.secret.zeroize();
    }
}

/// `GET /totp/NAME/code` and `/codes`: `at` (Unix seconds, default now), `count` (codes only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeQuery {
    /// The time the codes are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    /// How many consecutive steps (codes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// `POST /totp/NAME/fresh`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FreshBody {
    /// How many consecutive codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Take the next step's code when this step's is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_next: Option<bool>,
}

/// The 409 of `POST /totp/NAME/fresh` when every acceptable step is used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeUsed {
    /// `code-used`.
    pub error: String,
    /// What to do.
    pub message: String,
    /// When to ask again (Unix seconds).
    pub retry_at: u64,
    /// Seconds until then.
    pub retry_after_seconds: u64,
}

/// A list of codes (`/codes`, `/fresh`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Codes {
    /// The codes, first step first.
    pub codes: Vec<crate::vault::Code>,
}

/// `POST /webauthn/authenticator/{id}/register` and `.../authenticate`: the browser's part,
/// done by the daemon on its own key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CeremonyBody {
    /// The page's origin (`https://example.com`; http only for localhost).
    pub origin: String,
    /// PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON (or `{"publicKey": …}`).
    pub options: serde_json::Value,
    /// The key's PIN, for user verification when none is saved (`authsim webauthn pin save`);
    /// never stored, logged or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<SecretText>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_secret() {
        let secret = "s3cret-MIGHAgEAMBMGByqGSM49";
        let key = NewKey {
            name: Some("k".into()),
            pin: Some(SecretText::new(secret)),
            ..NewKey::default()
        };
        let mut cred = NewCredential::default();
        cred.credential_id = "AA".into();
        cred.private_key = secret.into();
        let ceremony = CeremonyBody {
            origin: "https://example.com".into(),
            options: serde_json::json!({}),
            pin: Some(SecretText::new(secret)),
        };
        let mut totp = NewTotp::default();
        totp.name = "t".into();
        totp.uri = Some(format!("otpauth://totp/x?secret={secret}"));
        totp.secret = Some(secret.into());
        for shown in [
            format!("{key:?}"),
            format!("{cred:?}"),
            format!("{totp:?}"),
            format!("{ceremony:?}"),
            format!("{:?}", SecretText::new(secret)),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
