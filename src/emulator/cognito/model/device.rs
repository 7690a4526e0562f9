//! Remembered devices: the pool's device configuration and each device a user confirmed.

use serde::{Deserialize, Serialize};

use crate::emulator::crypto::SecretString;

/// A pool's `DeviceConfiguration`; its presence turns device tracking on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// `ChallengeRequiredOnNewDevice`: a remembered device signs in with device
    /// authentication instead of the MFA code.
    pub challenge_required_on_new_device: bool,
    /// `DeviceOnlyRememberedOnUserPrompt`: a confirmed device is remembered only after
    /// UpdateDeviceStatus says so.
    pub only_remembered_on_user_prompt: bool,
}

/// A device's SRP verifier, from ConfirmDevice's `DeviceSecretVerifierConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceVerifier {
    /// The salt, lower-case hex without leading zeros (sent as SALT).
    pub salt: String,
    /// `g^x mod N`, lower-case hex, where `x = H(salt | H(groupKey | deviceKey | ":" |
    /// devicePassword))`.
    pub verifier: SecretString,
}

/// A device of a user: issued as NewDeviceMetadata, confirmed with ConfirmDevice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// `region_uuid`.
    pub key: String,
    /// The device group key, the "pool name" of the device's SRP.
    pub group_key: String,
    /// `DeviceName` from ConfirmDevice.
    pub name: Option<String>,
    /// The verifier, once confirmed (an unconfirmed device cannot sign in).
    pub verifier: Option<DeviceVerifier>,
    /// `dev:device_remembered_status` is `remembered`.
    pub remembered: bool,
    /// Created (NewDeviceMetadata issued), Unix seconds.
    pub created: f64,
    /// Last modified, Unix seconds.
    pub modified: f64,
    /// Last signed in with device authentication (or confirmed), Unix seconds.
    pub last_authenticated: f64,
}

impl Device {
    /// Whether ConfirmDevice stored a verifier for it.
    pub fn confirmed(&self) -> bool {
        self.verifier.is_some()
    }

    /// The `dev:device_remembered_status` value.
    pub fn remembered_status(&self) -> &'static str {
        if self.remembered {
            "remembered"
        } else {
            "not_remembered"
        }
    }
}
