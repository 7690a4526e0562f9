//! Remembered devices, the client's part: the device's secrets sealed in the store per pool
//! and user, ConfirmDevice with the verifier amazon-cognito-identity-js computes,
//! UpdateDeviceStatus, ListDevices and ForgetDevice.
//!
//! A sign-in that sends a stored device's DEVICE_KEY ends with the device's SRP
//! (DEVICE_SRP_AUTH → DEVICE_PASSWORD_VERIFIER, see `sign_in`); a remembered device then
//! stands in for the MFA code where the pool lets it.

use crate::aws::{AwsError, Redactor, sdk_error, srp};
use crate::store::Store;
use aws_sdk_cognitoidentityprovider as cip;
use cip::types::{DeviceRememberedStatusType, DeviceSecretVerifierConfigType, DeviceType};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::tokens::{NewDevice, jwt_claim};

/// Record namespace of the devices this machine is, per pool and user (key:
/// `POOL_ID/USERNAME`).
pub const NS_DEVICES: &str = "aws.cognito.device";
/// Record namespace of the pool each app client belongs to, as learned from its tokens (key:
/// the app client id), so a sign-in without --pool-id still finds its device.
pub const NS_CLIENT_POOLS: &str = "aws.cognito.client-pool";

/// This machine as a device of one user: the key, the group key and the device password
/// (secrets: `Debug` shows none).
#[derive(Clone, Serialize, Deserialize)]
pub struct LocalDevice {
    /// DeviceKey.
    pub key: String,
    /// DeviceGroupKey.
    pub group_key: String,
    /// The random device password whose verifier ConfirmDevice stored.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for LocalDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalDevice(<redacted>)")
    }
}

impl LocalDevice {
    /// The device's SRP proof (group key as the pool name, device key as the user id).
    pub fn proof(&self) -> srp::Proof<'_> {
        srp::Proof {
            group: &self.group_key,
            id: &self.key,
            password: &self.password,
        }
    }
}

/// The stored record: everything sealed, bound to its pool, user and random id (associated
/// data), so a sealed device cannot be moved to another user's or pool's record.
#[derive(Serialize, Deserialize)]
struct DeviceRecord {
    v: u32,
    id: String,
    sealed: String,
}

fn record_key(pool_id: &str, username: &str) -> Vec<u8> {
    format!("{pool_id}/{username}").into_bytes()
}

fn record_ad(pool_id: &str, username: &str, id: &str) -> Vec<u8> {
    format!("{NS_DEVICES}:{pool_id}/{username}:{id}").into_bytes()
}

/// The device stored for a user of a pool, if any.
pub fn load(store: &Store, pool_id: &str, username: &str) -> Result<Option<LocalDevice>, AwsError> {
    let Some(v) = store.get(NS_DEVICES, &record_key(pool_id, username))? else {
        return Ok(None);
    };
    let damaged = || {
        AwsError::Flow(format!(
            "the remembered device of '{username}' is damaged; forget it with `authsim cognito device forget`"
        ))
    };
    let rec: DeviceRecord = serde_json::from_slice(&v).map_err(|_| damaged())?;
    let sealed = hex::decode(&rec.sealed).map_err(|_| damaged())?;
    let plain = Zeroizing::new(store.open_sealed(&record_ad(pool_id, username, &rec.id), &sealed)?);
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|_| damaged())
}

/// Keep (or replace) the device of a user of a pool, sealed.
pub fn save(
    store: &mut Store,
    pool_id: &str,
    username: &str,
    device: &LocalDevice,
) -> Result<(), AwsError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| AwsError::Flow(format!("random source failed: {e}")))?;
    let id = hex::encode(id);
    let plain =
        Zeroizing::new(serde_json::to_vec(device).map_err(|e| AwsError::Flow(e.to_string()))?);
    let rec = DeviceRecord {
        v: 1,
        sealed: hex::encode(store.seal(&record_ad(pool_id, username, &id), &plain)?),
        id,
    };
    let value = serde_json::to_vec(&rec).map_err(|e| AwsError::Flow(e.to_string()))?;
    store.transaction(|tx| tx.put(NS_DEVICES, &record_key(pool_id, username), &value))?;
    Ok(())
}

/// Forget the device stored for a user of a pool; returns whether there was one.
pub fn remove(store: &mut Store, pool_id: &str, username: &str) -> Result<bool, AwsError> {
    Ok(store.transaction(|tx| tx.delete(NS_DEVICES, &record_key(pool_id, username)))?)
}

/// Remember which pool an app client belongs to.
pub fn note_client_pool(store: &mut Store, client_id: &str, pool_id: &str) -> Result<(), AwsError> {
    if store.get(NS_CLIENT_POOLS, client_id.as_bytes())?.as_deref() == Some(pool_id.as_bytes()) {
        return Ok(());
    }
    store.transaction(|tx| tx.put(NS_CLIENT_POOLS, client_id.as_bytes(), pool_id.as_bytes()))?;
    Ok(())
}

/// The pool an app client belongs to, if learned before.
pub fn client_pool(store: &Store, client_id: &str) -> Result<Option<String>, AwsError> {
    Ok(store
        .get(NS_CLIENT_POOLS, client_id.as_bytes())?
        .and_then(|v| String::from_utf8(v).ok()))
}

/// The pool id a token was issued by: the last path segment of its `iss` claim.
pub fn token_pool(token: &str) -> Option<String> {
    let iss = jwt_claim(token, "iss")?;
    let pool = iss.trim_end_matches('/').rsplit('/').next()?;
    srp::pool_name(pool).ok().map(|_| pool.to_string())
}

/// Whether an error is Cognito's "this device does not exist" (a ResourceNotFoundException
/// naming the device), on which amazon-cognito-identity-js forgets its device and retries.
pub fn is_unknown_device(err: &AwsError) -> bool {
    matches!(err, AwsError::Service { code, message, .. }
        if code == "ResourceNotFoundException" && message.to_lowercase().contains("device"))
}

/// ConfirmDevice a device Cognito made for this sign-in, with a fresh verifier, then mark it
/// remembered when asked. Returns the device's secrets and whether it is remembered.
pub async fn confirm(
    client: &cip::Client,
    access_token: &str,
    new: &NewDevice,
    name: Option<&str>,
    remember: bool,
    redact: &mut Redactor,
) -> Result<(LocalDevice, bool), AwsError> {
    let verifier = srp::DeviceVerifier::new(&new.group_key, &new.key)?;
    redact.add(&verifier.password);
    let config = DeviceSecretVerifierConfigType::builder()
        .password_verifier(&verifier.verifier)
        .salt(&verifier.salt)
        .build();
    let out = client
        .confirm_device()
        .access_token(access_token)
        .device_key(&new.key)
        .device_secret_verifier_config(config)
        .set_device_name(name.map(str::to_string))
        .send()
        .await
        .map_err(|e| sdk_error("ConfirmDevice", e, redact))?;
    let remembered = if remember {
        set_status(client, access_token, &new.key, true, redact).await?;
        true
    } else {
        !out.user_confirmation_necessary()
    };
    let device = LocalDevice {
        key: new.key.clone(),
        group_key: new.group_key.clone(),
        password: verifier.password,
    };
    Ok((device, remembered))
}

/// UpdateDeviceStatus: remembered or not.
pub async fn set_status(
    client: &cip::Client,
    access_token: &str,
    key: &str,
    remembered: bool,
    redact: &Redactor,
) -> Result<(), AwsError> {
    let status = if remembered {
        DeviceRememberedStatusType::Remembered
    } else {
        DeviceRememberedStatusType::NotRemembered
    };
    client
        .update_device_status()
        .access_token(access_token)
        .device_key(key)
        .device_remembered_status(status)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateDeviceStatus", e, redact))?;
    Ok(())
}

/// A device as ListDevices shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    /// DeviceKey.
    pub key: String,
    /// `device_name`, if set.
    pub name: Option<String>,
    /// `dev:device_remembered_status`.
    pub status: Option<String>,
    /// DeviceCreateDate (Unix seconds).
    pub created: Option<i64>,
    /// DeviceLastAuthenticatedDate (Unix seconds).
    pub last_authenticated: Option<i64>,
}

impl DeviceInfo {
    fn of(d: &DeviceType) -> DeviceInfo {
        let attr = |n: &str| {
            d.device_attributes()
                .iter()
                .find(|a| a.name() == n)
                .and_then(|a| a.value())
                .map(str::to_string)
        };
        DeviceInfo {
            key: d.device_key().unwrap_or_default().to_string(),
            name: attr("device_name"),
            status: attr("dev:device_remembered_status"),
            created: d.device_create_date().map(|t| t.secs()),
            last_authenticated: d.device_last_authenticated_date().map(|t| t.secs()),
        }
    }
}

/// ListDevices, every page: the user's remembered devices.
pub async fn list(client: &cip::Client, access_token: &str) -> Result<Vec<DeviceInfo>, AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_devices()
            .access_token(access_token)
            .limit(60)
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ListDevices", e, &redact))?;
        out.extend(page.devices().iter().map(DeviceInfo::of));
        match page.pagination_token() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// ForgetDevice.
pub async fn forget(client: &cip::Client, access_token: &str, key: &str) -> Result<(), AwsError> {
    let mut redact = Redactor::default();
    redact.add(access_token);
    client
        .forget_device()
        .access_token(access_token)
        .device_key(key)
        .send()
        .await
        .map_err(|e| sdk_error("ForgetDevice", e, &redact))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_read_from_the_issuer() {
        let claims = |iss: &str| {
            let payload = data_encoding::BASE64URL_NOPAD
                .encode(serde_json::json!({"iss": iss}).to_string().as_bytes());
            format!("eyJhbGciOiJub25lIn0.{payload}.sig")
        };
        assert_eq!(
            token_pool(&claims(
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
            ))
            .as_deref(),
            Some("eu-west-1_AbC123")
        );
        assert_eq!(
            token_pool(&claims("http://127.0.0.1:4599/us-east-1_Xyz/")).as_deref(),
            Some("us-east-1_Xyz")
        );
        assert_eq!(token_pool(&claims("https://example.com/")), None);
        assert_eq!(token_pool("not-a-token"), None);
    }

    #[test]
    fn unknown_device_errors_are_recognised() {
        let e = |code: &str, message: &str| AwsError::Service {
            op: "RespondToAuthChallenge",
            code: code.into(),
            message: message.into(),
            hint: String::new(),
        };
        assert!(is_unknown_device(&e(
            "ResourceNotFoundException",
            "Device does not exist."
        )));
        assert!(!is_unknown_device(&e(
            "ResourceNotFoundException",
            "User pool client x does not exist."
        )));
        assert!(!is_unknown_device(&e("NotAuthorizedException", "device")));
    }

    #[test]
    fn devices_are_kept_sealed_per_pool_and_user() {
        use crate::store::{KeySource, Keyring};
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("authsim-devices-{}", hex::encode(r)));
        let mut store = Store::open(&dir, &KeySource::new(None, Keyring::Off)).unwrap();
        let device = LocalDevice {
            key: "us-east-1_k".into(),
            group_key: "-g".into(),
            password: Zeroizing::new("DEVICE-PASSWORD".into()),
        };
        save(&mut store, "us-east-1_P", "alice", &device).unwrap();
        let back = load(&store, "us-east-1_P", "alice").unwrap().unwrap();
        assert_eq!(
            (
                back.key.as_str(),
                back.group_key.as_str(),
                back.password.as_str()
            ),
            ("us-east-1_k", "-g", "DEVICE-PASSWORD")
        );
        assert!(load(&store, "us-east-1_P", "bob").unwrap().is_none());
        assert!(load(&store, "us-east-1_Q", "alice").unwrap().is_none());
        // The record on disk holds no secret in the clear.
        let raw = store
            .get(NS_DEVICES, &record_key("us-east-1_P", "alice"))
            .unwrap()
            .unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.contains("DEVICE-PASSWORD") && !raw.contains("us-east-1_k"));
        // Moved to another user's record, it does not open.
        store
            .transaction(|tx| {
                tx.put(
                    NS_DEVICES,
                    &record_key("us-east-1_P", "bob"),
                    raw.as_bytes(),
                )
            })
            .unwrap();
        assert!(load(&store, "us-east-1_P", "bob").is_err());
        assert!(remove(&mut store, "us-east-1_P", "alice").unwrap());
        assert!(load(&store, "us-east-1_P", "alice").unwrap().is_none());
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn device_secrets_are_not_debug_printed() {
        let d = LocalDevice {
            key: "us-east-1_k".into(),
            group_key: "-g".into(),
            password: Zeroizing::new("DEVICE-PASSWORD".into()),
        };
        assert!(!format!("{d:?}").contains("DEVICE-PASSWORD"));
    }
}
