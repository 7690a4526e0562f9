//! Real security keys over hidraw, through ctap-hid-fido2 (which uses hidapi's
//! `linux-static-hidraw` backend: libudev-dev and pkg-config at build time).
//!
//! Every call here blocks on USB I/O (a key waiting for a touch can take 30 s); async callers
//! run them on `tokio::task::spawn_blocking`. Virtual keys that authsim exposes through
//! `/dev/uhid` show up here exactly like physical ones.

use ctap_hid_fido2::{FidoKeyHid, FidoKeyHidFactory, HidParam, LibCfg};
use serde::Serialize;

/// A FIDO HID device found on the system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The hidraw path to open it with (`--device`).
    pub path: String,
    /// USB vendor id.
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
    /// The product name the device reports.
    pub product: String,
}

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
    /// Largest CTAP message the key accepts, in bytes.
    pub max_msg_size: i32,
    /// PIN/UV auth protocols.
    pub pin_uv_auth_protocols: Vec<u32>,
    /// Transports (usb, nfc, ...).
    pub transports: Vec<String>,
    /// Credential algorithms, as (type, alg) pairs.
    pub algorithms: Vec<(String, String)>,
    /// Firmware version number.
    pub firmware_version: u32,
    /// How many more discoverable credentials fit (0 when the key does not say).
    pub remaining_discoverable_credentials: u32,
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

fn cfg() -> LibCfg {
    let mut c = LibCfg::init()
        .with_enable_log(false)
        .with_keep_alive_msg_to_stderr(true);
    c.keep_alive_msg = "- touch your security key".into();
    c
}

/// All FIDO HID devices (usage page 0xF1D0), physical and virtual.
pub fn list() -> Vec<Device> {
    let mut devs: Vec<Device> = ctap_hid_fido2::get_fidokey_devices()
        .into_iter()
        .map(|d| Device {
            path: match &d.param {
                HidParam::Path(p) => p.clone(),
                HidParam::VidPid { vid, pid } => format!("{vid:04x}:{pid:04x}"),
            },
            vendor_id: d.vid,
            product_id: d.pid,
            product: d.product_string,
        })
        .collect();
    devs.sort_by(|a, b| a.path.cmp(&b.path));
    devs.dedup_by(|a, b| a.path == b.path);
    devs
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

fn open(dev: &Device) -> Result<FidoKeyHid, RealKeyError> {
    FidoKeyHidFactory::create_by_params(&[HidParam::Path(dev.path.clone())], &cfg()).map_err(|e| {
        RealKeyError::Device {
            path: dev.path.clone(),
            problem: e.to_string(),
        }
    })
}

fn device_err(dev: &Device) -> impl Fn(anyhow::Error) -> RealKeyError + '_ {
    move |e| RealKeyError::Device {
        path: dev.path.clone(),
        problem: e.to_string(),
    }
}

/// Ask a key for its authenticatorGetInfo.
pub fn info(dev: &Device) -> Result<KeyInfo, RealKeyError> {
    let key = open(dev)?;
    let i = key.get_info().map_err(device_err(dev))?;
    Ok(KeyInfo {
        device: dev.clone(),
        versions: i.versions,
        extensions: i.extensions,
        aaguid: format_uuid(&i.aaguid),
        options: i.options,
        max_msg_size: i.max_msg_size,
        pin_uv_auth_protocols: i.pin_uv_auth_protocols,
        transports: i.transports,
        algorithms: i.algorithms,
        firmware_version: i.firmware_version,
        remaining_discoverable_credentials: i.remaining_discoverable_credentials,
    })
}

/// Make the key blink (CTAPHID_WINK), to find it on the desk.
pub fn wink(dev: &Device) -> Result<(), RealKeyError> {
    open(dev)?.wink().map_err(device_err(dev))
}

/// authenticatorSelection: returns once the user touched this key (asks on stderr).
pub fn select(dev: &Device) -> Result<(), RealKeyError> {
    open(dev)?.selection().map_err(device_err(dev))
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
