//! What IAM keeps: users, their access keys, virtual MFA devices; the quotas; and the one
//! TOTP check STS shares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::emulator::ACCOUNT_ID;
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::query::QueryError;
use crate::emulator::totp::{self, Rejection};

/// How many MFA devices one user may have (IAM's quota).
pub const MAX_DEVICES_PER_USER: usize = 8;

/// How many tags one MFA device may carry.
pub const MAX_TAGS: usize = 50;

/// Steps either side of the server's clock that `ResyncMFADevice` searches.
pub const RESYNC_WINDOW_STEPS: u64 = 20;

/// How many access keys one user may have (IAM's quota).
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;

/// IAM's users, their access keys and virtual MFA devices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IamState {
    /// Users by name.
    pub users: BTreeMap<String, IamUser>,
    /// Virtual MFA devices by serial number (ARN).
    pub devices: BTreeMap<String, MfaDevice>,
    /// Access keys by id (`AKIA...`); a request signed with one acts as its user.
    #[serde(default)]
    pub access_keys: BTreeMap<String, AccessKey>,
    /// Session credentials STS issued (`ASIA...`), by key id; a request signed with one acts as
    /// the caller that asked for them, as on AWS.
    #[serde(default)]
    pub session_keys: BTreeMap<String, SessionKey>,
}

/// Session credentials from `GetSessionToken`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionKey {
    /// Who asked for them: an IAM user, or `None` for the account's root.
    pub user: Option<String>,
    /// Their secret access key (SigV4 signatures are checked with it).
    pub secret: SecretString,
    /// When they expire, Unix seconds.
    pub expiration: f64,
}

/// An IAM user's access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessKey {
    /// The owning user.
    pub user: String,
    /// The secret access key (returned once, at creation).
    pub secret: SecretString,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Creation time, Unix seconds.
    pub created: f64,
}

/// Who signed a request: a user (by a key CreateAccessKey issued) or the account's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account's root user (any key the stand-in did not issue).
    Root,
    /// An IAM user, by name.
    User(String),
}

impl IamState {
    /// The caller of a request signed with `access_key_id`.
    pub fn caller(&self, access_key_id: Option<&str>) -> Caller {
        let Some(id) = access_key_id else {
            return Caller::Root;
        };
        if let Some(k) = self.access_keys.get(id).filter(|k| k.status == "Active") {
            return Caller::User(k.user.clone());
        }
        match self.session_keys.get(id).and_then(|s| s.user.as_ref()) {
            Some(user) => Caller::User(user.clone()),
            None => Caller::Root,
        }
    }

    /// The secret of a key the stand-in issued (an access key or session credentials).
    pub fn secret_of(&self, access_key_id: &str) -> Option<&SecretString> {
        self.access_keys
            .get(access_key_id)
            .map(|k| &k.secret)
            .or_else(|| self.session_keys.get(access_key_id).map(|s| &s.secret))
    }
}

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IamUser {
    /// The user's name.
    pub name: String,
    /// `AIDA...` identifier.
    pub id: String,
    /// The path (`/` by default).
    pub path: String,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// Tags as given at creation.
    pub tags: Vec<(String, String)>,
}

impl IamUser {
    /// A new user with a fresh identifier.
    pub fn new(name: &str, path: &str, created: f64, tags: Vec<(String, String)>) -> Self {
        IamUser {
            name: name.to_owned(),
            id: format!("AIDA{}", crypto::random_string(crypto::UPPER_ALNUM, 17)),
            path: path.to_owned(),
            created,
            tags,
        }
    }

    /// The user's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT_ID}:user{}{}", self.path, self.name)
    }
}

/// A virtual MFA device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaDevice {
    /// The serial number: `arn:aws:iam::ACCOUNT:mfa{path}{name}`.
    pub serial: String,
    /// The device name.
    pub name: String,
    /// The device path.
    pub path: String,
    /// The 64-character base32 seed (40 random bytes).
    pub seed: SecretString,
    /// Creation time, Unix seconds.
    pub created: f64,
    /// Tags, in insertion order.
    pub tags: Vec<(String, String)>,
    /// The user the device is enabled for, if any.
    pub user: Option<String>,
    /// When it was enabled.
    pub enable_date: Option<f64>,
    /// The device clock's offset from the server's, in steps (learned by resync).
    pub drift: i64,
    /// The last step accepted for this device; that step and earlier ones are spent.
    pub last_step: Option<u64>,
}

impl MfaDevice {
    /// The seed's bytes.
    pub fn seed_bytes(&self) -> Result<Vec<u8>, QueryError> {
        data_encoding::BASE32_NOPAD
            .decode(self.seed.expose().as_bytes())
            .map_err(|_| QueryError::new("ServiceFailure", 500, "The device seed is corrupt."))
    }
}

/// Outcome of checking one TOTP code against a device (used by STS).
pub fn check_device_code(
    device: &mut MfaDevice,
    code: &str,
    now_secs: u64,
) -> Result<(), Rejection> {
    let seed = data_encoding::BASE32_NOPAD
        .decode(device.seed.expose().as_bytes())
        .map_err(|_| Rejection::Mismatch)?;
    let step = totp::verify(&seed, code, now_secs, device.drift, 1, device.last_step)?;
    device.last_step = Some(step);
    Ok(())
}

impl IamState {
    /// The canonical key of user `name` (IAM names are unique regardless of case).
    pub fn user_key(&self, name: &str) -> Option<String> {
        self.users
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// A user by name, any case.
    pub fn user(&self, name: &str) -> Result<&IamUser, QueryError> {
        self.user_key(name)
            .and_then(|k| self.users.get(&k))
            .ok_or_else(|| no_such_user(name))
    }

    /// The devices enabled for user `user`.
    pub fn devices_of(&self, user: &str) -> Vec<&MfaDevice> {
        self.devices
            .values()
            .filter(|d| d.user.as_deref() == Some(user))
            .collect()
    }
}

/// `NoSuchEntity` for a user.
pub fn no_such_user(name: &str) -> QueryError {
    QueryError::new(
        "NoSuchEntity",
        404,
        format!("The user with name {name} cannot be found."),
    )
}
