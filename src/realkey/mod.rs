//! Real security keys over hidraw, through the project's one host-side CTAPHID
//! ([`crate::fido`]): devices found in sysfs by the FIDO usage page, getInfo decoded with
//! firmware-sim's typed messages.
//!
//! Every call here blocks on USB I/O (a key waiting for a touch can take 30 s); async callers
//! run them on `tokio::task::spawn_blocking`. Virtual keys that authsim exposes through
//! `/dev/uhid` show up here exactly like physical ones.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fido::ctap2::{Authenticator, CtapError};
use crate::fido::device::Hidraw;
use crate::fido::hid::{CtapHid, Progress};
pub use crate::fido::sysfs::Device;

/// How long `select` waits for a touch.
const SELECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a key says about itself (authenticatorGetInfo), in plain form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The device it came from.
    pub device: Device,
    /// Protocol versions (FIDO_2_0, FIDO_2_1, U2F_V2, ...).
    pub versions: Vec<String>,
    /// Supported extensions.
    pub extensions: Vec<String>,
    /// The authenticator model's AAGUID (canonical UUID form).
    pub aaguid: String,
    /// Options and their values (rk, up, uv, plat, clientPin, ...).
    pub options: Vec<(String, bool)>,
    /// Largest CTAP message the key accepts, in bytes (0 when the key does not say).
    pub max_msg_size: u64,
    /// PIN/UV auth protocols.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// Transports (usb, nfc, ...).
    pub transports: Vec<String>,
    /// Credential algorithms, as (type, COSE alg) pairs.
    pub algorithms: Vec<(String, i64)>,
    /// Firmware version number (0 when the key does not say).
    pub firmware_version: u64,
    /// How many more discoverable credentials fit (0 when the key does not say).
    pub remaining_discoverable_credentials: u64,
}

/// Why a real key could not be used; says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum RealKeyError {
    /// No FIDO device is present.
    #[error(
        "no FIDO security key found: plug one in (and check the udev rule in udev/ gives you the hidraw node), or start a virtual one with `authsim daemon`"
    )]
    NoDevice,
    /// Several devices and no choice made.
    #[error(
        "{0} FIDO security keys found; choose one with --device PATH (see `authsim realkey list`)"
    )]
    Ambiguous(usize),
    /// The chosen path is not a FIDO device.
    #[error("{0} is not a FIDO security key (see `authsim realkey list`)")]
    NotFound(String),
    /// Opening or talking to the device failed.
    #[error("security key {path}: {problem}")]
    Device {
        /// The device path.
        path: String,
        /// What the library said.
        problem: String,
    },
}

/// All FIDO HID devices (usage page 0xF1D0), physical and virtual.
pub fn list() -> Vec<Device> {
    crate::fido::sysfs::list()
}

/// Pick a device: the one at `path`, or the only one present.
pub fn choose(path: Option<&str>) -> Result<Device, RealKeyError> {
    let devs = list();
    match path {
        Some(p) => devs
            .into_iter()
            .find(|d| d.path == p)
            .ok_or_else(|| RealKeyError::NotFound(p.to_string())),
        None => match devs.len() {
            0 => Err(RealKeyError::NoDevice),
            1 => Ok(devs.into_iter().next().ok_or(RealKeyError::NoDevice)?),
            n => Err(RealKeyError::Ambiguous(n)),
        },
    }
}

fn device_err(dev: &Device) -> impl Fn(CtapError) -> RealKeyError + '_ {
    move |e| RealKeyError::Device {
        path: dev.path.clone(),
        problem: e.to_string(),
    }
}

/// Opens a CTAPHID channel on the device.
pub fn open(dev: &Device) -> Result<Authenticator, RealKeyError> {
    let io = Hidraw::open(Path::new(&dev.path)).map_err(|e| RealKeyError::Device {
        path: dev.path.clone(),
        problem: match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "{e} (install the udev rule in udev/ so your user may open it, or run as root)"
            ),
            _ => e.to_string(),
        },
    })?;
    let hid = CtapHid::open(Box::new(io)).map_err(|e| device_err(dev)(e.into()))?;
    let mut key = Authenticator::new(hid);
    // Keepalives asking for a touch are told on stderr, once.
    let mut told = false;
    key.on_progress(move |p| {
        if p == Progress::UserPresenceNeeded && !told {
            told = true;
            eprintln!("- touch your security key");
        }
    });
    Ok(key)
}

/// Ask a key for its authenticatorGetInfo.
pub fn info(dev: &Device) -> Result<KeyInfo, RealKeyError> {
    let mut key = open(dev)?;
    let i = key.get_info().map_err(device_err(dev))?.clone();
    Ok(KeyInfo {
        device: dev.clone(),
        versions: i.versions,
        extensions: i.extensions.unwrap_or_default(),
        aaguid: format_uuid(&i.aaguid),
        options: i.options.unwrap_or_default(),
        max_msg_size: i.max_msg_size.unwrap_or(0),
        pin_uv_auth_protocols: i.pin_uv_auth_protocols.unwrap_or_default(),
        transports: i.transports.unwrap_or_default(),
        algorithms: i
            .algorithms
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.kind, p.alg))
            .collect(),
        firmware_version: i.firmware_version.unwrap_or(0),
        remaining_discoverable_credentials: i.remaining_discoverable_credentials.unwrap_or(0),
    })
}

/// Make the key blink (CTAPHID_WINK), to find it on the desk.
pub fn wink(dev: &Device) -> Result<(), RealKeyError> {
    let mut key = open(dev)?;
    if !key.hid().init().has_wink() {
        return Err(RealKeyError::Device {
            path: dev.path.clone(),
            problem: "this key cannot wink (no WINK capability)".into(),
        });
    }
    key.hid().wink().map_err(|e| device_err(dev)(e.into()))
}

/// authenticatorSelection: returns once the user touched this key (asks on stderr).
pub fn select(dev: &Device) -> Result<(), RealKeyError> {
    open(dev)?
        .selection(Some(Instant::now() + SELECT_TIMEOUT))
        .map_err(device_err(dev))
}

/// 16 bytes as a canonical UUID; anything else as plain hex.
pub fn format_uuid(b: &[u8]) -> String {
    match uuid::Uuid::from_slice(b) {
        Ok(u) => u.to_string(),
        Err(_) => hex::encode(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_format() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(format_uuid(&b), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(format_uuid(&[0xab, 0xcd]), "abcd");
    }

    #[test]
    fn a_path_that_is_no_key_is_refused() {
        let e = choose(Some("/dev/does-not-exist")).unwrap_err();
        assert!(matches!(e, RealKeyError::NotFound(_)), "{e}");
        assert!(e.to_string().contains("authsim realkey list"));
    }
}
