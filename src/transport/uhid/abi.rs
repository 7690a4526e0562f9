//! The `/dev/uhid` wire format of `<linux/uhid.h>`, written by hand, and the encoding and
//! decoding of the events authsim exchanges with the kernel.
//!
//! The `#[repr(C)]` structs below mirror the kernel header field for field and exist to pin
//! the layout: compile-time assertions check their sizes against the kernel's, and the byte
//! offsets the codec uses are taken from them with `offset_of!`. The codec itself works on
//! plain byte arrays, so no `unsafe` is needed to build or read an event. All integers are
//! in the host's byte order, as the kernel expects.

use std::mem::{offset_of, size_of};

use thiserror::Error;

/// Length of a FIDO HID report (CTAPHID packet), in each direction.
pub const REPORT_LEN: usize = 64;

/// One 64-byte HID report, without a report id.
pub type Report = [u8; REPORT_LEN];

/// `UHID_DATA_MAX`: the largest payload of an input, output or feature event.
pub const UHID_DATA_MAX: usize = 4096;

/// `HID_MAX_DESCRIPTOR_SIZE`: the largest report descriptor the kernel accepts.
pub const HID_MAX_DESCRIPTOR_SIZE: usize = 4096;

/// `BUS_USB` from `<linux/input.h>`. libfido2 on Linux lists only USB-bus hidraw devices
/// (unless built with `FIDO_HID_ANY`), so a virtual key must claim to be on USB.
pub const BUS_USB: u16 = 0x03;

/// `enum uhid_event_type` values used by authsim (the legacy ones are never sent).
pub mod event_type {
    /// Legacy create with a user pointer to the descriptor (not used).
    pub const CREATE: u32 = 0;
    /// User space → kernel: remove the device.
    pub const DESTROY: u32 = 1;
    /// Kernel → user space: a HID driver bound the device.
    pub const START: u32 = 2;
    /// Kernel → user space: the HID driver let go of the device.
    pub const STOP: u32 = 3;
    /// Kernel → user space: the first reader opened the device (e.g. a hidraw node).
    pub const OPEN: u32 = 4;
    /// Kernel → user space: the last reader closed the device.
    pub const CLOSE: u32 = 5;
    /// Kernel → user space: an output report the host wrote.
    pub const OUTPUT: u32 = 6;
    /// Legacy input-event output (obsolete, never sent by current kernels).
    pub const OUTPUT_EV: u32 = 7;
    /// Legacy input (not used).
    pub const INPUT: u32 = 8;
    /// Kernel → user space: a GET_REPORT request that wants a `GET_REPORT_REPLY`.
    pub const GET_REPORT: u32 = 9;
    /// User space → kernel: the answer to a `GET_REPORT`.
    pub const GET_REPORT_REPLY: u32 = 10;
    /// User space → kernel: create the device with the descriptor inline.
    pub const CREATE2: u32 = 11;
    /// User space → kernel: an input report for the host.
    pub const INPUT2: u32 = 12;
    /// Kernel → user space: a SET_REPORT request that wants a `SET_REPORT_REPLY`.
    pub const SET_REPORT: u32 = 13;
    /// User space → kernel: the answer to a `SET_REPORT`.
    pub const SET_REPORT_REPLY: u32 = 14;
}

/// `enum uhid_report_type` values.
pub mod report_type {
    /// A feature report.
    pub const FEATURE: u8 = 0;
    /// An output report (host → device).
    pub const OUTPUT: u8 = 1;
    /// An input report (device → host).
    pub const INPUT: u8 = 2;
}

/// `UHID_DEV_NUMBERED_*_REPORTS` bits of `uhid_start_req::dev_flags`.
pub const UHID_DEV_NUMBERED_REPORTS_MASK: u64 = 0b111;

/// The FIDO HID report descriptor (CTAP 2.1 §11.2.8.2): usage page 0xF1D0, usage 0x01
/// (CTAPHID), one 64-byte input report and one 64-byte output report, no report ids.
pub const FIDO_REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, // Usage Page (FIDO Alliance, 0xF1D0)
    0x09, 0x01, // Usage (CTAPHID)
    0xA1, 0x01, // Collection (Application)
    0x09, 0x20, //   Usage (Input Report Data)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, 0x40, //   Report Count (64)
    0x81, 0x02, //   Input (Data, Variable, Absolute)
    0x09, 0x21, //   Usage (Output Report Data)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, 0x40, //   Report Count (64)
    0x91, 0x02, //   Output (Data, Variable, Absolute)
    0xC0, // End Collection
];

// ---------------------------------------------------------------------------------------
// The kernel structs, for their layout only.
// ---------------------------------------------------------------------------------------

/// `struct uhid_create2_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_create2_req {
    name: [u8; 128],
    phys: [u8; 64],
    uniq: [u8; 64],
    rd_size: u16,
    bus: u16,
    vendor: u32,
    product: u32,
    version: u32,
    country: u32,
    rd_data: [u8; HID_MAX_DESCRIPTOR_SIZE],
}

/// `struct uhid_start_req` (not packed: its `__u64` gives the event union 8-byte alignment).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C)]
pub struct uhid_start_req {
    dev_flags: u64,
}

/// `struct uhid_input2_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_input2_req {
    size: u16,
    data: [u8; UHID_DATA_MAX],
}

/// `struct uhid_output_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_output_req {
    data: [u8; UHID_DATA_MAX],
    size: u16,
    rtype: u8,
}

/// `struct uhid_get_report_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_get_report_req {
    id: u32,
    rnum: u8,
    rtype: u8,
}

/// `struct uhid_get_report_reply_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_get_report_reply_req {
    id: u32,
    err: u16,
    size: u16,
    data: [u8; UHID_DATA_MAX],
}

/// `struct uhid_set_report_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_set_report_req {
    id: u32,
    rnum: u8,
    rtype: u8,
    size: u16,
    data: [u8; UHID_DATA_MAX],
}

/// `struct uhid_set_report_reply_req` (packed).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_set_report_reply_req {
    id: u32,
    err: u16,
}

/// The anonymous union inside `struct uhid_event` (the legacy members are left out: none is
/// larger than `create2`, and none has an alignment above `start`'s, so size and alignment
/// are unchanged).
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C)]
pub union uhid_event_union {
    create2: uhid_create2_req,
    start: uhid_start_req,
    input2: uhid_input2_req,
    output: uhid_output_req,
    get_report: uhid_get_report_req,
    get_report_reply: uhid_get_report_reply_req,
    set_report: uhid_set_report_req,
    set_report_reply: uhid_set_report_reply_req,
}

/// `struct uhid_event` (packed): `__u32 type` followed by the union.
#[allow(non_camel_case_types, dead_code)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct uhid_event {
    type_: u32,
    u: uhid_event_union,
}

// Sizes from <linux/uhid.h> on every architecture (the header packs its structs so the ABI
// is the same for 32- and 64-bit user space). The union is 4376 bytes: create2's 4372
// rounded up to the 8-byte alignment of uhid_start_req.
const _: () = assert!(size_of::<uhid_event>() == 4380);
const _: () = assert!(size_of::<uhid_create2_req>() == 4372);
const _: () = assert!(size_of::<uhid_input2_req>() == 4098);
const _: () = assert!(size_of::<uhid_output_req>() == 4099);
const _: () = assert!(size_of::<uhid_start_req>() == 8);
const _: () = assert!(size_of::<uhid_get_report_req>() == 6);
const _: () = assert!(size_of::<uhid_get_report_reply_req>() == 4104);
const _: () = assert!(size_of::<uhid_set_report_req>() == 4104);
const _: () = assert!(size_of::<uhid_set_report_reply_req>() == 6);
const _: () = assert!(size_of::<uhid_event_union>() == 4376);

/// Size of one `struct uhid_event`: what the kernel hands out per read.
pub const EVENT_SIZE: usize = size_of::<uhid_event>();

/// Where the union starts inside the event.
const U: usize = offset_of!(uhid_event, u);
const _: () = assert!(U == 4);

// Byte offsets inside an event buffer, derived from the structs above.
const CREATE2_NAME: usize = U + offset_of!(uhid_create2_req, name);
const CREATE2_PHYS: usize = U + offset_of!(uhid_create2_req, phys);
const CREATE2_UNIQ: usize = U + offset_of!(uhid_create2_req, uniq);
const CREATE2_RD_SIZE: usize = U + offset_of!(uhid_create2_req, rd_size);
const CREATE2_BUS: usize = U + offset_of!(uhid_create2_req, bus);
const CREATE2_VENDOR: usize = U + offset_of!(uhid_create2_req, vendor);
const CREATE2_PRODUCT: usize = U + offset_of!(uhid_create2_req, product);
const CREATE2_VERSION: usize = U + offset_of!(uhid_create2_req, version);
const CREATE2_COUNTRY: usize = U + offset_of!(uhid_create2_req, country);
const CREATE2_RD_DATA: usize = U + offset_of!(uhid_create2_req, rd_data);
const CREATE2_END: usize = U + size_of::<uhid_create2_req>();

const START_DEV_FLAGS: usize = U + offset_of!(uhid_start_req, dev_flags);

const INPUT2_SIZE: usize = U + offset_of!(uhid_input2_req, size);
const INPUT2_DATA: usize = U + offset_of!(uhid_input2_req, data);

const OUTPUT_DATA: usize = U + offset_of!(uhid_output_req, data);
const OUTPUT_SIZE: usize = U + offset_of!(uhid_output_req, size);
const OUTPUT_RTYPE: usize = U + offset_of!(uhid_output_req, rtype);
const OUTPUT_END: usize = U + size_of::<uhid_output_req>();

const GET_REPORT_ID: usize = U + offset_of!(uhid_get_report_req, id);
const GET_REPORT_RNUM: usize = U + offset_of!(uhid_get_report_req, rnum);
const GET_REPORT_RTYPE: usize = U + offset_of!(uhid_get_report_req, rtype);
const GET_REPORT_END: usize = U + size_of::<uhid_get_report_req>();

const GET_REPORT_REPLY_ID: usize = U + offset_of!(uhid_get_report_reply_req, id);
const GET_REPORT_REPLY_ERR: usize = U + offset_of!(uhid_get_report_reply_req, err);
const GET_REPORT_REPLY_SIZE: usize = U + offset_of!(uhid_get_report_reply_req, size);
const GET_REPORT_REPLY_END: usize = U + offset_of!(uhid_get_report_reply_req, data);

const SET_REPORT_ID: usize = U + offset_of!(uhid_set_report_req, id);
const SET_REPORT_RNUM: usize = U + offset_of!(uhid_set_report_req, rnum);
const SET_REPORT_RTYPE: usize = U + offset_of!(uhid_set_report_req, rtype);
const SET_REPORT_END: usize = U + offset_of!(uhid_set_report_req, size);

const SET_REPORT_REPLY_ID: usize = U + offset_of!(uhid_set_report_reply_req, id);
const SET_REPORT_REPLY_ERR: usize = U + offset_of!(uhid_set_report_reply_req, err);
const SET_REPORT_REPLY_END: usize = U + size_of::<uhid_set_report_reply_req>();

// ---------------------------------------------------------------------------------------
// Encoding (user space → kernel).
// ---------------------------------------------------------------------------------------

/// The identity of a device as `UHID_CREATE2` announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Product name (`HID_NAME`; libfido2 shows it when there is no USB parent). At most 127 bytes.
    pub name: String,
    /// Physical location (`HID_PHYS`). At most 63 bytes.
    pub phys: String,
    /// Unique id, e.g. a serial number (`HID_UNIQ`). At most 63 bytes.
    pub uniq: String,
    /// Bus type; [`BUS_USB`] for anything libfido2 must see.
    pub bus: u16,
    /// Vendor id.
    pub vendor: u32,
    /// Product id.
    pub product: u32,
    /// Device release number.
    pub version: u32,
    /// HID country code (0: not localised).
    pub country: u32,
}

/// Why an event could not be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// A name, phys or uniq string does not fit its field or contains a NUL byte.
    #[error("the {field} {value:?} must be at most {max} bytes with no NUL byte")]
    BadString {
        /// Which field.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Its largest allowed length in bytes.
        max: usize,
    },
    /// The report descriptor is empty or larger than the kernel accepts.
    #[error("a report descriptor must be 1 to {HID_MAX_DESCRIPTOR_SIZE} bytes, not {0}")]
    BadDescriptor(usize),
    /// An input report larger than the kernel accepts.
    #[error("an input report must be at most {UHID_DATA_MAX} bytes, not {0}")]
    BadReport(usize),
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_str(
    buf: &mut [u8],
    at: usize,
    field_len: usize,
    field: &'static str,
    value: &str,
) -> Result<(), EncodeError> {
    let bytes = value.as_bytes();
    // The kernel copies the field with strscpy-like semantics: keep room for the NUL.
    if bytes.len() >= field_len || bytes.contains(&0) {
        return Err(EncodeError::BadString {
            field,
            value: value.to_owned(),
            max: field_len - 1,
        });
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    Ok(())
}

/// A `UHID_CREATE2` event for `info` with `descriptor` (the whole struct, zero padded).
pub fn encode_create2(info: &DeviceInfo, descriptor: &[u8]) -> Result<Vec<u8>, EncodeError> {
    if descriptor.is_empty() || descriptor.len() > HID_MAX_DESCRIPTOR_SIZE {
        return Err(EncodeError::BadDescriptor(descriptor.len()));
    }
    let mut buf = vec![0u8; CREATE2_END];
    put_u32(&mut buf, 0, event_type::CREATE2);
    put_str(
        &mut buf,
        CREATE2_NAME,
        CREATE2_PHYS - CREATE2_NAME,
        "name",
        &info.name,
    )?;
    put_str(
        &mut buf,
        CREATE2_PHYS,
        CREATE2_UNIQ - CREATE2_PHYS,
        "phys",
        &info.phys,
    )?;
    put_str(
        &mut buf,
        CREATE2_UNIQ,
        CREATE2_RD_SIZE - CREATE2_UNIQ,
        "uniq",
        &info.uniq,
    )?;
    // Fits: checked against HID_MAX_DESCRIPTOR_SIZE (4096) above.
    put_u16(&mut buf, CREATE2_RD_SIZE, descriptor.len() as u16);
    put_u16(&mut buf, CREATE2_BUS, info.bus);
    put_u32(&mut buf, CREATE2_VENDOR, info.vendor);
    put_u32(&mut buf, CREATE2_PRODUCT, info.product);
    put_u32(&mut buf, CREATE2_VERSION, info.version);
    put_u32(&mut buf, CREATE2_COUNTRY, info.country);
    buf[CREATE2_RD_DATA..CREATE2_RD_DATA + descriptor.len()].copy_from_slice(descriptor);
    Ok(buf)
}

/// A `UHID_DESTROY` event (the type alone: the kernel zero-fills short writes).
pub fn encode_destroy() -> Vec<u8> {
    event_type::DESTROY.to_ne_bytes().to_vec()
}

/// A `UHID_INPUT2` event carrying `data` (for a FIDO key: one 64-byte report, no report id).
///
/// Only the used part is written; the kernel zero-fills the rest of a short write.
pub fn encode_input2(data: &[u8]) -> Result<Vec<u8>, EncodeError> {
    if data.len() > UHID_DATA_MAX {
        return Err(EncodeError::BadReport(data.len()));
    }
    let mut buf = vec![0u8; INPUT2_DATA + data.len()];
    put_u32(&mut buf, 0, event_type::INPUT2);
    // Fits: at most UHID_DATA_MAX (4096).
    put_u16(&mut buf, INPUT2_SIZE, data.len() as u16);
    buf[INPUT2_DATA..].copy_from_slice(data);
    Ok(buf)
}

/// A `UHID_GET_REPORT_REPLY` event answering request `id` with error `err` (an errno) and
/// no data.
pub fn encode_get_report_reply(id: u32, err: u16) -> Vec<u8> {
    let mut buf = vec![0u8; GET_REPORT_REPLY_END];
    put_u32(&mut buf, 0, event_type::GET_REPORT_REPLY);
    put_u32(&mut buf, GET_REPORT_REPLY_ID, id);
    put_u16(&mut buf, GET_REPORT_REPLY_ERR, err);
    put_u16(&mut buf, GET_REPORT_REPLY_SIZE, 0);
    buf
}

/// A `UHID_SET_REPORT_REPLY` event answering request `id` with error `err` (an errno).
pub fn encode_set_report_reply(id: u32, err: u16) -> Vec<u8> {
    let mut buf = vec![0u8; SET_REPORT_REPLY_END];
    put_u32(&mut buf, 0, event_type::SET_REPORT_REPLY);
    put_u32(&mut buf, SET_REPORT_REPLY_ID, id);
    put_u16(&mut buf, SET_REPORT_REPLY_ERR, err);
    buf
}

// ---------------------------------------------------------------------------------------
// Decoding (kernel → user space).
// ---------------------------------------------------------------------------------------

/// An event the kernel sent about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UhidEvent {
    /// A HID driver bound the device; `dev_flags` says which report kinds are numbered.
    Start {
        /// `UHID_DEV_NUMBERED_*_REPORTS` bits (0 for the FIDO descriptor).
        dev_flags: u64,
    },
    /// The HID driver let go of the device.
    Stop,
    /// The first reader opened the device (a hidraw node was opened).
    Open,
    /// The last reader closed the device.
    Close,
    /// A 64-byte output report from the host, with the report-id byte already removed.
    Output(Report),
    /// A GET_REPORT request (feature/input report read); it must be answered.
    GetReport {
        /// Request id to echo in the reply.
        id: u32,
        /// Report number asked for.
        report_number: u8,
        /// `report_type::*` value.
        report_type: u8,
    },
    /// A SET_REPORT request (feature/output report write); it must be answered.
    SetReport {
        /// Request id to echo in the reply.
        id: u32,
        /// Report number written.
        report_number: u8,
        /// `report_type::*` value.
        report_type: u8,
    },
}

/// Why bytes from the kernel are not an event authsim understands.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the event type needs.
    #[error("uhid event of type {event_type} truncated: {len} bytes, {needed} needed")]
    Truncated {
        /// The event type (or 0 when even the type is missing).
        event_type: u32,
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// An event type this code does not handle (legacy or newer than this code).
    #[error("unknown uhid event type {0}")]
    UnknownType(u32),
    /// An output event that is not a usable FIDO output report.
    #[error("unusable uhid output report: {0}")]
    BadOutput(String),
}

fn get_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(b)
}

fn need(buf: &[u8], event_type: u32, needed: usize) -> Result<(), DecodeError> {
    if buf.len() < needed {
        Err(DecodeError::Truncated {
            event_type,
            len: buf.len(),
            needed,
        })
    } else {
        Ok(())
    }
}

/// Decodes one event as read from `/dev/uhid` (normally [`EVENT_SIZE`] bytes).
///
/// An output report arrives as the hidraw writer gave it: report id 0 followed by up to 64
/// bytes. The id byte is removed and a short report is zero-padded to 64 bytes; a non-zero
/// id (this device has no numbered reports), an empty or an over-long report is refused.
pub fn decode_event(buf: &[u8]) -> Result<UhidEvent, DecodeError> {
    need(buf, 0, 4)?;
    let t = get_u32(buf, 0);
    match t {
        event_type::START => {
            need(buf, t, START_DEV_FLAGS + 8)?;
            Ok(UhidEvent::Start {
                dev_flags: get_u64(buf, START_DEV_FLAGS),
            })
        }
        event_type::STOP => Ok(UhidEvent::Stop),
        event_type::OPEN => Ok(UhidEvent::Open),
        event_type::CLOSE => Ok(UhidEvent::Close),
        event_type::OUTPUT => {
            need(buf, t, OUTPUT_END)?;
            let size = usize::from(get_u16(buf, OUTPUT_SIZE));
            let rtype = buf[OUTPUT_RTYPE];
            if rtype != report_type::OUTPUT {
                return Err(DecodeError::BadOutput(format!(
                    "report type {rtype}, not an output report"
                )));
            }
            if size > UHID_DATA_MAX {
                return Err(DecodeError::BadOutput(format!(
                    "size {size} over the maximum"
                )));
            }
            let data = &buf[OUTPUT_DATA..OUTPUT_DATA + size];
            let Some((&report_id, payload)) = data.split_first() else {
                return Err(DecodeError::BadOutput("empty report".into()));
            };
            if report_id != 0 {
                return Err(DecodeError::BadOutput(format!(
                    "report id {report_id} on a device without numbered reports"
                )));
            }
            if payload.len() > REPORT_LEN {
                return Err(DecodeError::BadOutput(format!(
                    "{} bytes after the report id, more than {REPORT_LEN}",
                    payload.len()
                )));
            }
            let mut report = [0u8; REPORT_LEN];
            report[..payload.len()].copy_from_slice(payload);
            Ok(UhidEvent::Output(report))
        }
        event_type::GET_REPORT => {
            need(buf, t, GET_REPORT_END)?;
            Ok(UhidEvent::GetReport {
                id: get_u32(buf, GET_REPORT_ID),
                report_number: buf[GET_REPORT_RNUM],
                report_type: buf[GET_REPORT_RTYPE],
            })
        }
        event_type::SET_REPORT => {
            need(buf, t, SET_REPORT_END)?;
            Ok(UhidEvent::SetReport {
                id: get_u32(buf, SET_REPORT_ID),
                report_number: buf[SET_REPORT_RNUM],
                report_type: buf[SET_REPORT_RTYPE],
            })
        }
        other => Err(DecodeError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> DeviceInfo {
        DeviceInfo {
            name: "authsim key".into(),
            phys: "authsim/0".into(),
            uniq: "serial-1".into(),
            bus: BUS_USB,
            vendor: 0x1209,
            product: 0x0001,
            version: 0x0100,
            country: 0,
        }
    }

    /// An event as the kernel would hand it out: full size, type first.
    fn kernel_event(t: u32, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut buf = vec![0u8; EVENT_SIZE];
        buf[..4].copy_from_slice(&t.to_ne_bytes());
        fill(&mut buf);
        buf
    }

    #[test]
    fn offsets_match_the_kernel_header() {
        // Hand-computed from <linux/uhid.h>: name[128] phys[64] uniq[64] then the integers.
        assert_eq!(CREATE2_NAME, 4);
        assert_eq!(CREATE2_PHYS, 132);
        assert_eq!(CREATE2_UNIQ, 196);
        assert_eq!(CREATE2_RD_SIZE, 260);
        assert_eq!(CREATE2_BUS, 262);
        assert_eq!(CREATE2_VENDOR, 264);
        assert_eq!(CREATE2_PRODUCT, 268);
        assert_eq!(CREATE2_VERSION, 272);
        assert_eq!(CREATE2_COUNTRY, 276);
        assert_eq!(CREATE2_RD_DATA, 280);
        assert_eq!(CREATE2_END, 4376);
        assert_eq!((INPUT2_SIZE, INPUT2_DATA), (4, 6));
        assert_eq!((OUTPUT_DATA, OUTPUT_SIZE, OUTPUT_RTYPE), (4, 4100, 4102));
        assert_eq!(START_DEV_FLAGS, 4);
        assert_eq!(
            (GET_REPORT_ID, GET_REPORT_RNUM, GET_REPORT_RTYPE),
            (4, 8, 9)
        );
        assert_eq!((SET_REPORT_REPLY_ID, SET_REPORT_REPLY_ERR), (4, 8));
        assert_eq!(EVENT_SIZE, 4380);
    }

    #[test]
    fn create2_carries_identity_and_descriptor() {
        let buf = encode_create2(&info(), &FIDO_REPORT_DESCRIPTOR).unwrap();
        assert_eq!(buf.len(), 4376);
        assert_eq!(get_u32(&buf, 0), 11);
        assert_eq!(&buf[4..15], b"authsim key");
        assert_eq!(buf[15], 0, "name is NUL-terminated");
        assert_eq!(&buf[132..141], b"authsim/0");
        assert_eq!(&buf[196..204], b"serial-1");
        assert_eq!(get_u16(&buf, 260), 34);
        assert_eq!(get_u16(&buf, 262), 3);
        assert_eq!(get_u32(&buf, 264), 0x1209);
        assert_eq!(get_u32(&buf, 268), 0x0001);
        assert_eq!(get_u32(&buf, 272), 0x0100);
        assert_eq!(get_u32(&buf, 276), 0);
        assert_eq!(&buf[280..314], &FIDO_REPORT_DESCRIPTOR);
        assert!(buf[314..].iter().all(|&b| b == 0));
    }

    #[test]
    fn create2_refuses_strings_that_do_not_fit() {
        let mut i = info();
        i.name = "n".repeat(128);
        assert!(matches!(
            encode_create2(&i, &FIDO_REPORT_DESCRIPTOR),
            Err(EncodeError::BadString {
                field: "name",
                max: 127,
                ..
            })
        ));
        i.name = "n".repeat(127);
        assert!(encode_create2(&i, &FIDO_REPORT_DESCRIPTOR).is_ok());
        i.uniq = "a\0b".into();
        assert!(matches!(
            encode_create2(&i, &FIDO_REPORT_DESCRIPTOR),
            Err(EncodeError::BadString { field: "uniq", .. })
        ));
        assert_eq!(
            encode_create2(&info(), &[]),
            Err(EncodeError::BadDescriptor(0))
        );
        assert_eq!(
            encode_create2(&info(), &[0u8; 4097]),
            Err(EncodeError::BadDescriptor(4097))
        );
    }

    #[test]
    fn input2_and_replies() {
        let mut report = [0u8; REPORT_LEN];
        report[0] = 0xFF;
        report[63] = 0x42;
        let buf = encode_input2(&report).unwrap();
        assert_eq!(buf.len(), 6 + 64);
        assert_eq!(get_u32(&buf, 0), 12);
        assert_eq!(get_u16(&buf, 4), 64);
        assert_eq!(&buf[6..], &report);
        assert_eq!(
            encode_input2(&[0u8; 4097]),
            Err(EncodeError::BadReport(4097))
        );

        assert_eq!(encode_destroy(), 1u32.to_ne_bytes());

        let r = encode_get_report_reply(0xDEAD_BEEF, 5);
        assert_eq!(get_u32(&r, 0), 10);
        assert_eq!(get_u32(&r, 4), 0xDEAD_BEEF);
        assert_eq!(get_u16(&r, 8), 5);
        assert_eq!(get_u16(&r, 10), 0);

        let r = encode_set_report_reply(7, 5);
        assert_eq!(r.len(), 10);
        assert_eq!(get_u32(&r, 0), 14);
        assert_eq!(get_u32(&r, 4), 7);
        assert_eq!(get_u16(&r, 8), 5);
    }

    #[test]
    fn decodes_lifecycle_events() {
        let start = kernel_event(2, |b| b[4..12].copy_from_slice(&5u64.to_ne_bytes()));
        assert_eq!(decode_event(&start), Ok(UhidEvent::Start { dev_flags: 5 }));
        assert_eq!(decode_event(&kernel_event(3, |_| ())), Ok(UhidEvent::Stop));
        assert_eq!(decode_event(&kernel_event(4, |_| ())), Ok(UhidEvent::Open));
        assert_eq!(decode_event(&kernel_event(5, |_| ())), Ok(UhidEvent::Close));
        // The type alone is enough for the events without a payload.
        assert_eq!(decode_event(&4u32.to_ne_bytes()), Ok(UhidEvent::Open));
    }

    #[test]
    fn output_report_loses_its_report_id_byte() {
        let ev = kernel_event(6, |b| {
            b[4] = 0; // report id
            for i in 0..64 {
                b[5 + i] = i as u8 + 1;
            }
            b[4100..4102].copy_from_slice(&65u16.to_ne_bytes());
            b[4102] = report_type::OUTPUT;
        });
        let mut want = [0u8; 64];
        for (i, w) in want.iter_mut().enumerate() {
            *w = i as u8 + 1;
        }
        assert_eq!(decode_event(&ev), Ok(UhidEvent::Output(want)));
    }

    #[test]
    fn short_output_report_is_zero_padded() {
        let ev = kernel_event(6, |b| {
            b[5..8].copy_from_slice(&[0xAA, 0xBB, 0xCC]);
            b[9] = 0x99; // beyond `size`: must not leak into the report
            b[4100..4102].copy_from_slice(&4u16.to_ne_bytes());
            b[4102] = report_type::OUTPUT;
        });
        let mut want = [0u8; 64];
        want[..3].copy_from_slice(&[0xAA, 0xBB, 0xCC]);
        assert_eq!(decode_event(&ev), Ok(UhidEvent::Output(want)));
    }

    #[test]
    fn bad_output_reports_are_refused() {
        let with = |size: u16, rtype: u8, id: u8| {
            kernel_event(6, |b| {
                b[4] = id;
                b[4100..4102].copy_from_slice(&size.to_ne_bytes());
                b[4102] = rtype;
            })
        };
        for (ev, what) in [
            (with(66, report_type::OUTPUT, 0), "too long"),
            (with(0, report_type::OUTPUT, 0), "empty"),
            (with(65, report_type::OUTPUT, 3), "numbered"),
            (with(65, report_type::FEATURE, 0), "feature"),
            (with(5000, report_type::OUTPUT, 0), "over UHID_DATA_MAX"),
        ] {
            assert!(
                matches!(decode_event(&ev), Err(DecodeError::BadOutput(_))),
                "{what}"
            );
        }
    }

    #[test]
    fn truncated_and_unknown_events_are_errors_not_panics() {
        assert!(matches!(
            decode_event(&[6, 0]),
            Err(DecodeError::Truncated { event_type: 0, .. })
        ));
        let short_output = kernel_event(6, |_| ());
        assert!(matches!(
            decode_event(&short_output[..100]),
            Err(DecodeError::Truncated { event_type: 6, .. })
        ));
        assert!(matches!(
            decode_event(&2u32.to_ne_bytes()),
            Err(DecodeError::Truncated { event_type: 2, .. })
        ));
        assert_eq!(
            decode_event(&kernel_event(7, |_| ())),
            Err(DecodeError::UnknownType(7))
        );
        assert_eq!(
            decode_event(&kernel_event(999, |_| ())),
            Err(DecodeError::UnknownType(999))
        );
        for len in 0..64 {
            let _ = decode_event(&vec![0xFF; len]);
        }
    }

    #[test]
    fn get_and_set_report_requests() {
        let ev = kernel_event(9, |b| {
            b[4..8].copy_from_slice(&77u32.to_ne_bytes());
            b[8] = 2;
            b[9] = report_type::FEATURE;
        });
        assert_eq!(
            decode_event(&ev),
            Ok(UhidEvent::GetReport {
                id: 77,
                report_number: 2,
                report_type: 0
            })
        );
        let ev = kernel_event(13, |b| {
            b[4..8].copy_from_slice(&78u32.to_ne_bytes());
            b[8] = 0;
            b[9] = report_type::OUTPUT;
        });
        assert_eq!(
            decode_event(&ev),
            Ok(UhidEvent::SetReport {
                id: 78,
                report_number: 0,
                report_type: 1
            })
        );
    }

    /// Splits a report descriptor into its short items: (prefix with the size bits
    /// cleared, data bytes).
    fn items(mut d: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((&prefix, rest)) = d.split_first() {
            let len = match prefix & 0x03 {
                3 => 4,
                n => usize::from(n),
            };
            assert!(rest.len() >= len, "item 0x{prefix:02X} runs past the end");
            out.push((prefix & 0xFC, rest[..len].to_vec()));
            d = &rest[len..];
        }
        out
    }

    #[test]
    fn descriptor_declares_fido_usage_and_64_byte_reports() {
        let items = items(&FIDO_REPORT_DESCRIPTOR);
        assert_eq!(items[0], (0x04, vec![0xD0, 0xF1]), "usage page 0xF1D0");
        assert_eq!(items[1], (0x08, vec![0x01]), "usage CTAPHID");
        assert_eq!(items[2], (0xA0, vec![0x01]), "application collection");
        assert_eq!(items.last(), Some(&(0xC0, vec![])), "end collection");
        // Input and Output main items, each preceded by Report Size 8 and Report Count 64.
        for main in [0x80u8, 0x90] {
            let at = items.iter().position(|(t, _)| *t == main).unwrap();
            let before = &items[..at];
            let last = |tag: u8| before.iter().rev().find(|(t, _)| *t == tag).cloned();
            assert_eq!(
                last(0x74),
                Some((0x74, vec![8])),
                "report size before 0x{main:02X}"
            );
            assert_eq!(
                last(0x94),
                Some((0x94, vec![64])),
                "report count before 0x{main:02X}"
            );
        }
        assert!(!items.iter().any(|(t, _)| *t == 0x84), "no Report ID item");
        assert!(!items.iter().any(|(t, _)| *t == 0xB0), "no feature report");
    }
}
