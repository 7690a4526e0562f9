//! FIDO devices among the system's hidraw nodes, from sysfs alone: a node is a FIDO key when its
//! HID report descriptor opens with the FIDO Alliance usage page (0xF1D0, CTAP 2.1 §11.2.8.1);
//! its name, ids and serial come from the HID device's uevent. No udev, no hidapi.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The FIDO Alliance HID usage page.
pub const FIDO_USAGE_PAGE: u32 = 0xF1D0;

/// Where the kernel lists hidraw nodes.
const HIDRAW_CLASS: &str = "/sys/class/hidraw";

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
    /// The device's serial (HID_UNIQ; `authsim-NAME` for authsim's uhid keys).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serial: String,
}

/// The first usage page a HID report descriptor declares (the top-level collection's), if any.
///
/// Written by hand: the short-item walk of HID 1.11 §6.2.2.2 is a dozen lines, and the crates
/// that parse descriptors bring far more than this needs.
pub fn first_usage_page(descriptor: &[u8]) -> Option<u32> {
    let mut i = 0;
    while i < descriptor.len() {
        let prefix = descriptor[i];
        if prefix == 0xFE {
            // A long item: its data size is the next byte.
            let size = usize::from(*descriptor.get(i + 1)?);
            i += 3 + size;
            continue;
        }
        let size = [0, 1, 2, 4][usize::from(prefix & 0x03)];
        let data = descriptor.get(i + 1..i + 1 + size)?;
        // Global item, tag 0: Usage Page.
        if prefix & 0xFC == 0x04 {
            let mut value = 0u32;
            for (k, b) in data.iter().enumerate() {
                value |= u32::from(*b) << (8 * k);
            }
            return Some(value);
        }
        i += 1 + size;
    }
    None
}

/// The fields of a HID device's uevent file.
fn uevent_field<'a>(uevent: &'a str, name: &str) -> Option<&'a str> {
    uevent
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

/// `HID_ID=BUS:VENDOR:PRODUCT` (hex, 4 and 8 digits).
fn ids(uevent: &str) -> (u16, u16) {
    let mut parts = uevent_field(uevent, "HID_ID").unwrap_or("").split(':');
    let _bus = parts.next();
    let hex = |p: Option<&str>| {
        p.and_then(|s| u32::from_str_radix(s, 16).ok())
            .and_then(|v| u16::try_from(v).ok())
            .unwrap_or(0)
    };
    let vendor = hex(parts.next());
    let product = hex(parts.next());
    (vendor, product)
}

/// The FIDO device behind one `/sys/class/hidraw/hidrawN` entry, if it is one.
fn device_at(dev_dir: &Path, entry: &Path) -> Option<Device> {
    let descriptor = std::fs::read(entry.join("device/report_descriptor")).ok()?;
    if first_usage_page(&descriptor) != Some(FIDO_USAGE_PAGE) {
        return None;
    }
    let name = entry.file_name()?.to_str()?.to_owned();
    let uevent = std::fs::read_to_string(entry.join("device/uevent")).unwrap_or_default();
    let (vendor_id, product_id) = ids(&uevent);
    Some(Device {
        path: dev_dir.join(&name).display().to_string(),
        vendor_id,
        product_id,
        product: uevent_field(&uevent, "HID_NAME").unwrap_or("").to_owned(),
        serial: uevent_field(&uevent, "HID_UNIQ").unwrap_or("").to_owned(),
    })
}

/// Every FIDO device under `class_dir` (a sysfs hidraw class directory), with paths in
/// `dev_dir`, sorted by path.
pub fn list_in(class_dir: &Path, dev_dir: &Path) -> Vec<Device> {
    let Ok(entries) = std::fs::read_dir(class_dir) else {
        return Vec::new();
    };
    let mut devs: Vec<Device> = entries
        .filter_map(Result::ok)
        .filter_map(|e| device_at(dev_dir, &e.path()))
        .collect();
    devs.sort_by(|a, b| a.path.cmp(&b.path));
    devs
}

/// Every FIDO device on the system (physical keys and authsim's uhid keys).
pub fn list() -> Vec<Device> {
    list_in(Path::new(HIDRAW_CLASS), Path::new("/dev"))
}

/// The hidraw node of the FIDO device whose serial (HID_UNIQ) is `serial`.
pub fn find_by_serial(serial: &str) -> Option<PathBuf> {
    list()
        .into_iter()
        .find(|d| d.serial == serial)
        .map(|d| PathBuf::from(d.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report descriptor authsim's uhid keys use (a FIDO key's usual one).
    const FIDO: &[u8] = &[
        0x06, 0xD0, 0xF1, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75,
        0x08, 0x95, 0x40, 0x81, 0x02, 0x09, 0x21, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95,
        0x40, 0x91, 0x02, 0xC0,
    ];

    #[test]
    fn the_fido_usage_page_is_found_and_others_are_not() {
        assert_eq!(first_usage_page(FIDO), Some(FIDO_USAGE_PAGE));
        // A keyboard: Usage Page (Generic Desktop), one byte.
        assert_eq!(
            first_usage_page(&[0x05, 0x01, 0x09, 0x06, 0xA1, 0x01]),
            Some(1)
        );
        // A long item first, then the page.
        assert_eq!(
            first_usage_page(&[0xFE, 0x01, 0x00, 0xAA, 0x06, 0xD0, 0xF1]),
            Some(FIDO_USAGE_PAGE)
        );
        assert_eq!(first_usage_page(&[0x06, 0xD0]), None);
        assert_eq!(first_usage_page(&[]), None);
    }

    #[test]
    fn devices_are_read_from_a_sysfs_tree() {
        let root = std::env::temp_dir().join(format!("authsim-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (node, descriptor, uevent) in [
            (
                "hidraw3",
                FIDO,
                "DRIVER=hid-generic\nHID_ID=0003:00001209:0000BEEF\nHID_NAME=authsim virtual key\nHID_UNIQ=authsim-default\n",
            ),
            (
                "hidraw1",
                &[0x05u8, 0x01, 0x09, 0x06][..],
                "HID_ID=0003:0000046D:0000C31C\nHID_NAME=Keyboard\n",
            ),
        ] {
            let dir = root.join(node).join("device");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("report_descriptor"), descriptor).unwrap();
            std::fs::write(dir.join("uevent"), uevent).unwrap();
        }
        let devs = list_in(&root, Path::new("/dev"));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            devs,
            vec![Device {
                path: "/dev/hidraw3".into(),
                vendor_id: 0x1209,
                product_id: 0xBEEF,
                product: "authsim virtual key".into(),
                serial: "authsim-default".into(),
            }]
        );
        assert!(list_in(Path::new("/nonexistent"), Path::new("/dev")).is_empty());
    }
}
