//! The Linux `/dev/uhid` transport: one virtual USB-HID FIDO device per key, which the
//! kernel turns into a `/dev/hidrawN` node that browsers and libfido2 use like a real key.
//!
//! # Shape
//!
//! [`UhidDevice::create`] opens `/dev/uhid` (non-blocking, close-on-exec) and sends
//! `UHID_CREATE2` with the FIDO report descriptor. The handle then:
//! - yields kernel events with [`UhidDevice::read_event`]: host output reports (64 bytes,
//!   report-id byte removed), start/stop and open/close notices. It never blocks: `Ok(None)`
//!   means "nothing now". GET_REPORT / SET_REPORT requests are answered (EIO: a FIDO key
//!   has no feature reports) before they are returned, and unknown or malformed events are
//!   logged and skipped, so a caller only has to act on [`UhidEvent::Output`];
//! - sends 64-byte input reports with [`UhidDevice::write_input`];
//! - is removed with [`UhidDevice::destroy`] (and on drop), or removed and created again
//!   with [`UhidDevice::recreate`] (a power cycle: the hidraw node goes away and comes back).
//!
//! # Waiting for events
//!
//! The handle implements [`AsRawFd`]/[`AsFd`], so an async runtime can wait on it; with
//! tokio, `AsyncFd` is the whole adapter (`read_event` and `write_input` take `&self`; a unit
//! test runs this loop). `AsyncFd::register` (tokio 1.53.3+, which deprecates `AsyncFd::new`)
//! is `unsafe`: its condition, a descriptor that stays open and the same for the `AsyncFd`'s
//! life, holds for a `UhidDevice`, which owns its descriptor and never replaces it.
//!
//! ```ignore
//! use tokio::io::{Interest, unix::AsyncFd};
//! let dev = UhidDevice::create(&config)?;
//! // SAFETY: a UhidDevice's descriptor is owned by it and never changes.
//! let dev = unsafe { AsyncFd::register_with_interest(dev, Interest::READABLE) }?;
//! loop {
//!     let mut ready = dev.readable().await?;
//!     match ready.get_inner().read_event()? {
//!         Some(UhidEvent::Output(report)) => { /* feed the token, write_input each reply */ }
//!         Some(_) => {}
//!         None => ready.clear_ready(),
//!     }
//! }
//! ```
//!
//! A synchronous loop uses [`UhidDevice::wait_readable`] (poll(2) with a timeout) instead,
//! as `examples/uhid_token.rs` does. Writes to `/dev/uhid` never block.
//!
//! Each device has its own open file description: the kernel ties one device to one open
//! `/dev/uhid`, and closing it removes the device.
//!
//! This module knows no CTAP: it moves 64-byte reports.

// The kernel interface: raw file I/O and poll(2) on /dev/uhid (each block says why it is sound).
#![allow(unsafe_code)]

pub mod abi;
pub mod serve;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub use abi::{
    BUS_USB, DecodeError, DeviceInfo, EncodeError, FIDO_REPORT_DESCRIPTOR, REPORT_LEN, Report,
    UhidEvent,
};

/// Where the kernel's uhid character device lives.
pub const UHID_PATH: &str = "/dev/uhid";

/// authsim's USB vendor id: 0x1209, the pid.codes open-source vendor id.
pub const AUTHSIM_VENDOR_ID: u16 = 0x1209;

/// authsim's default USB product id: 0x0001, the pid.codes *test* product id (reserved for
/// testing and never assigned to a product), so a virtual key can never be mistaken for a
/// shipped device. The udev rule in `udev/` matches it only on uhid-created devices.
pub const AUTHSIM_PRODUCT_ID: u16 = 0x0001;

/// The errno returned to GET_REPORT / SET_REPORT requests (a FIDO key has no feature reports).
const REPORT_REQUEST_ERRNO: u16 = libc::EIO as u16;

/// How one virtual key presents itself to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UhidConfig {
    /// Product name, shown by `fido2-token -L` and in `HID_NAME` (at most 127 bytes).
    pub name: String,
    /// Physical path (`HID_PHYS`), e.g. `authsim/<key id>` (at most 63 bytes).
    pub phys: String,
    /// Unique id / serial (`HID_UNIQ`) (at most 63 bytes).
    pub uniq: String,
    /// USB vendor id.
    pub vendor: u16,
    /// USB product id.
    pub product: u16,
    /// Device release number (bcdDevice style).
    pub version: u16,
}

impl UhidConfig {
    /// A key named `name` with authsim's ids; `phys` and `uniq` are derived from `key_id`.
    pub fn new(name: impl Into<String>, key_id: &str) -> Self {
        Self {
            name: name.into(),
            phys: format!("authsim/{key_id}"),
            uniq: key_id.to_owned(),
            vendor: AUTHSIM_VENDOR_ID,
            product: AUTHSIM_PRODUCT_ID,
            version: 0x0100,
        }
    }

    /// The `UHID_CREATE2` identity: always on the USB bus (libfido2 lists only USB devices).
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            name: self.name.clone(),
            phys: self.phys.clone(),
            uniq: self.uniq.clone(),
            bus: BUS_USB,
            vendor: u32::from(self.vendor),
            product: u32::from(self.product),
            version: u32::from(self.version),
            country: 0,
        }
    }
}

/// What can go wrong with a uhid device.
#[derive(Debug, Error)]
pub enum UhidError {
    /// The uhid device node does not exist (or its driver is not there).
    #[error(
        "{path} is not available: this kernel has no uhid; run `sudo modprobe uhid` \
         (and add it to /etc/modules-load.d, see udev/README.md), or use --hid-socket"
    )]
    Missing {
        /// The path tried.
        path: PathBuf,
        /// What open(2) said.
        source: io::Error,
    },
    /// The node exists but this user may not open it read-write.
    #[error(
        "{path} is not writable by this user: install the udev rule \
         udev/70-authsim.rules (see udev/README.md) and log in again, or use --hid-socket"
    )]
    PermissionDenied {
        /// The path tried.
        path: PathBuf,
        /// What open(2) said.
        source: io::Error,
    },
    /// Any other failure to open the node.
    #[error("cannot open {path}")]
    Open {
        /// The path tried.
        path: PathBuf,
        /// What open(2) said.
        source: io::Error,
    },
    /// The configuration cannot be expressed in a `UHID_CREATE2` event.
    #[error("invalid uhid device configuration: {0}")]
    Config(#[from] EncodeError),
    /// The device was destroyed; it must be created again before use.
    #[error("the uhid device {name:?} is not created")]
    NotCreated {
        /// The device name.
        name: String,
    },
    /// A read or write on the uhid descriptor failed.
    #[error("uhid {op} for {name:?} failed")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The device name.
        name: String,
        /// The system error.
        source: io::Error,
    },
    /// The kernel accepted fewer bytes than one event.
    #[error("uhid {op} for {name:?}: only {written} of {expected} bytes written")]
    ShortWrite {
        /// What was being done.
        op: &'static str,
        /// The device name.
        name: String,
        /// Bytes accepted.
        written: usize,
        /// Bytes in the event.
        expected: usize,
    },
}

/// Maps an open(2) failure on `path` to an error that says what to do.
pub(crate) fn open_error(path: &Path, source: io::Error) -> UhidError {
    let path = path.to_owned();
    match source.raw_os_error() {
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => UhidError::Missing { path, source },
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => {
            UhidError::PermissionDenied { path, source }
        }
        _ => UhidError::Open { path, source },
    }
}

/// One virtual FIDO HID device backed by `/dev/uhid`.
///
/// Dropping it destroys the kernel device (closing the descriptor would as well). Its
/// descriptor is owned and never replaced: `as_raw_fd` returns the same open descriptor for
/// the whole life of the value (what tokio's `AsyncFd::register` asks of its caller).
#[derive(Debug)]
pub struct UhidDevice {
    file: File,
    config: UhidConfig,
    created: bool,
}

impl UhidDevice {
    /// Opens `/dev/uhid` and creates the device described by `config`.
    pub fn create(config: &UhidConfig) -> Result<Self, UhidError> {
        Self::create_at(Path::new(UHID_PATH), config)
    }

    /// Like [`UhidDevice::create`] with another uhid node path.
    pub fn create_at(path: &Path, config: &UhidConfig) -> Result<Self, UhidError> {
        // std opens with O_CLOEXEC; O_NONBLOCK makes read_event poll-friendly.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        Self::create_on(OwnedFd::from(file), config)
    }

    /// Creates the device on an already open uhid descriptor (e.g. one handed over by a
    /// privileged helper). [`UhidDevice::read_event`] only returns `Ok(None)` if the
    /// descriptor is non-blocking; otherwise it waits for the next event.
    pub fn create_on(fd: OwnedFd, config: &UhidConfig) -> Result<Self, UhidError> {
        let mut dev = Self {
            file: File::from(fd),
            config: config.clone(),
            created: false,
        };
        dev.send_create()?;
        Ok(dev)
    }

    /// The configuration the device was created with.
    pub fn config(&self) -> &UhidConfig {
        &self.config
    }

    /// Whether the kernel device currently exists (created and not destroyed).
    pub fn is_created(&self) -> bool {
        self.created
    }

    fn send_create(&mut self) -> Result<(), UhidError> {
        let event = abi::encode_create2(&self.config.device_info(), &FIDO_REPORT_DESCRIPTOR)?;
        self.write_event("create", &event)?;
        self.created = true;
        tracing::debug!(name = %self.config.name, "uhid device created");
        Ok(())
    }

    /// Removes the kernel device (its hidraw node disappears). Does nothing if it is not
    /// created. The descriptor stays open for [`UhidDevice::recreate`].
    pub fn destroy(&mut self) -> Result<(), UhidError> {
        if !self.created {
            return Ok(());
        }
        // Whatever the outcome, do not try again: a failed destroy means the kernel has
        // no device for this descriptor anyway.
        self.created = false;
        self.write_event("destroy", &abi::encode_destroy())?;
        // Whatever the old device still had queued (host requests, stop/close notices)
        // belongs to it: a re-created device must not answer its predecessor's requests.
        let mut discarded = 0usize;
        while self.wait_readable(Some(Duration::ZERO))? {
            let mut buf = [0u8; abi::EVENT_SIZE];
            match (&self.file).read(&mut buf) {
                Ok(_) => discarded += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(source) => return Err(self.io_error("read", source)),
            }
        }
        tracing::debug!(name = %self.config.name, discarded, "uhid device destroyed");
        Ok(())
    }

    /// A power cycle as the host sees it: destroy, then create the same device again.
    pub fn recreate(&mut self) -> Result<(), UhidError> {
        self.destroy()?;
        self.send_create()
    }

    /// Sends one 64-byte input report (device → host).
    pub fn write_input(&self, report: &Report) -> Result<(), UhidError> {
        if !self.created {
            return Err(UhidError::NotCreated {
                name: self.config.name.clone(),
            });
        }
        let event = abi::encode_input2(report)?;
        self.write_event("input", &event)
    }

    /// The next kernel event, or `Ok(None)` when none is pending.
    ///
    /// GET_REPORT and SET_REPORT requests are answered with EIO before they are returned.
    /// Unknown event types and unusable output reports are logged and skipped.
    pub fn read_event(&self) -> Result<Option<UhidEvent>, UhidError> {
        let mut buf = [0u8; abi::EVENT_SIZE];
        loop {
            let n = match (&self.file).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.io_error("read", source)),
            };
            let event = match abi::decode_event(&buf[..n]) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(name = %self.config.name, "ignoring uhid event: {e}");
                    continue;
                }
            };
            match &event {
                UhidEvent::GetReport { id, .. } => self.write_event(
                    "get-report reply",
                    &abi::encode_get_report_reply(*id, REPORT_REQUEST_ERRNO),
                )?,
                UhidEvent::SetReport { id, .. } => self.write_event(
                    "set-report reply",
                    &abi::encode_set_report_reply(*id, REPORT_REQUEST_ERRNO),
                )?,
                UhidEvent::Start { dev_flags }
                    if dev_flags & abi::UHID_DEV_NUMBERED_REPORTS_MASK != 0 =>
                {
                    tracing::warn!(
                        name = %self.config.name,
                        "kernel reports numbered reports (flags {dev_flags:#x}) for a descriptor without report ids"
                    );
                }
                _ => {}
            }
            return Ok(Some(event));
        }
    }

    /// Waits until an event can be read, at most `timeout` (`None`: no limit). Returns
    /// whether the descriptor is readable. An interrupting signal counts as "not readable".
    pub fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool, UhidError> {
        let timeout_ms: libc::c_int = match timeout {
            None => -1,
            // Round up so a 0.5 ms deadline does not become a busy loop.
            Some(t) => t
                .as_micros()
                .div_ceil(1000)
                .try_into()
                .unwrap_or(libc::c_int::MAX),
        };
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid, exclusively borrowed pollfd array of length 1 that
        // outlives the call, and its descriptor is owned by `self.file`, open for the call.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(self.io_error("poll", e));
        }
        Ok(r > 0 && pfd.revents & libc::POLLIN != 0)
    }

    fn write_event(&self, op: &'static str, event: &[u8]) -> Result<(), UhidError> {
        loop {
            match (&self.file).write(event) {
                Ok(n) if n == event.len() => return Ok(()),
                Ok(written) => {
                    return Err(UhidError::ShortWrite {
                        op,
                        name: self.config.name.clone(),
                        written,
                        expected: event.len(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.io_error(op, source)),
            }
        }
    }

    fn io_error(&self, op: &'static str, source: io::Error) -> UhidError {
        UhidError::Io {
            op,
            name: self.config.name.clone(),
            source,
        }
    }
}

impl Drop for UhidDevice {
    fn drop(&mut self) {
        if let Err(e) = self.destroy() {
            // Closing the descriptor right after destroys the device anyway.
            tracing::debug!("uhid destroy on drop: {e}");
        }
    }
}

impl AsFd for UhidDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for UhidDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    //! The device logic against a fake kernel: a datagram socket pair keeps event
    //! boundaries the way the uhid character device does.

    use std::os::unix::net::UnixDatagram;
    use std::time::Instant;

    use super::abi::{EVENT_SIZE, event_type, report_type};
    use super::*;

    struct FakeKernel {
        sock: UnixDatagram,
    }

    impl FakeKernel {
        fn recv(&self) -> Vec<u8> {
            let mut buf = vec![0u8; 2 * EVENT_SIZE];
            let n = self.sock.recv(&mut buf).expect("an event from the device");
            buf.truncate(n);
            buf
        }

        fn send(&self, t: u32, fill: impl FnOnce(&mut [u8])) {
            let mut buf = vec![0u8; EVENT_SIZE];
            buf[..4].copy_from_slice(&t.to_ne_bytes());
            fill(&mut buf);
            assert_eq!(self.sock.send(&buf).unwrap(), EVENT_SIZE);
        }

        fn send_output(&self, report: &Report) {
            self.send(event_type::OUTPUT, |b| {
                b[5..69].copy_from_slice(report);
                b[4100..4102].copy_from_slice(&65u16.to_ne_bytes());
                b[4102] = report_type::OUTPUT;
            });
        }
    }

    fn event_type_of(buf: &[u8]) -> u32 {
        u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])
    }

    fn pair(config: &UhidConfig) -> (UhidDevice, FakeKernel) {
        let (ours, theirs) = UnixDatagram::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        theirs
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let dev = UhidDevice::create_on(OwnedFd::from(ours), config).unwrap();
        (dev, FakeKernel { sock: theirs })
    }

    fn config() -> UhidConfig {
        UhidConfig::new("authsim test key", "k1")
    }

    #[test]
    fn create_sends_create2_with_usb_bus_and_ids() {
        let (dev, kernel) = pair(&config());
        let ev = kernel.recv();
        assert_eq!(ev.len(), 4376);
        assert_eq!(event_type_of(&ev), event_type::CREATE2);
        assert_eq!(&ev[4..20], b"authsim test key");
        assert_eq!(&ev[132..142], b"authsim/k1");
        assert_eq!(ev[142], 0);
        assert_eq!(&ev[196..198], b"k1");
        assert_eq!(u16::from_ne_bytes([ev[262], ev[263]]), 0x03, "BUS_USB");
        assert_eq!(&ev[264..268], &0x1209u32.to_ne_bytes());
        assert_eq!(&ev[268..272], &0x0001u32.to_ne_bytes());
        assert_eq!(&ev[280..314], &FIDO_REPORT_DESCRIPTOR);
        assert!(dev.is_created());
    }

    #[test]
    fn events_in_reports_out() {
        let (dev, kernel) = pair(&config());
        kernel.recv();
        assert!(dev.read_event().unwrap().is_none(), "nothing pending yet");

        kernel.send(event_type::START, |_| ());
        kernel.send(event_type::OPEN, |_| ());
        let mut report = [0u8; 64];
        report[..7].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
        kernel.send_output(&report);
        kernel.send(event_type::CLOSE, |_| ());
        kernel.send(event_type::STOP, |_| ());

        assert!(dev.wait_readable(Some(Duration::from_secs(5))).unwrap());
        assert_eq!(
            dev.read_event().unwrap(),
            Some(UhidEvent::Start { dev_flags: 0 })
        );
        assert_eq!(dev.read_event().unwrap(), Some(UhidEvent::Open));
        assert_eq!(dev.read_event().unwrap(), Some(UhidEvent::Output(report)));
        assert_eq!(dev.read_event().unwrap(), Some(UhidEvent::Close));
        assert_eq!(dev.read_event().unwrap(), Some(UhidEvent::Stop));
        assert_eq!(dev.read_event().unwrap(), None);

        let mut reply = [0u8; 64];
        reply[0] = 0xAB;
        reply[63] = 0xCD;
        dev.write_input(&reply).unwrap();
        let ev = kernel.recv();
        assert_eq!(event_type_of(&ev), event_type::INPUT2);
        assert_eq!(u16::from_ne_bytes([ev[4], ev[5]]), 64);
        assert_eq!(&ev[6..], &reply);
    }

    #[test]
    fn unknown_and_malformed_events_are_skipped() {
        let (dev, kernel) = pair(&config());
        kernel.recv();
        kernel.send(99, |_| ());
        // An output with a non-zero report id is not for this device.
        kernel.send(event_type::OUTPUT, |b| {
            b[4] = 7;
            b[4100..4102].copy_from_slice(&65u16.to_ne_bytes());
            b[4102] = report_type::OUTPUT;
        });
        assert_eq!(kernel.sock.send(&[1, 2]).unwrap(), 2);
        kernel.send(event_type::OPEN, |_| ());
        assert!(dev.wait_readable(Some(Duration::from_secs(5))).unwrap());
        assert_eq!(dev.read_event().unwrap(), Some(UhidEvent::Open));
        assert_eq!(dev.read_event().unwrap(), None);
    }

    #[test]
    fn report_requests_are_answered_with_eio() {
        let (dev, kernel) = pair(&config());
        kernel.recv();
        kernel.send(event_type::GET_REPORT, |b| {
            b[4..8].copy_from_slice(&41u32.to_ne_bytes());
            b[9] = report_type::FEATURE;
        });
        kernel.send(event_type::SET_REPORT, |b| {
            b[4..8].copy_from_slice(&42u32.to_ne_bytes());
            b[9] = report_type::FEATURE;
        });
        assert!(dev.wait_readable(Some(Duration::from_secs(5))).unwrap());
        assert!(matches!(
            dev.read_event().unwrap(),
            Some(UhidEvent::GetReport { id: 41, .. })
        ));
        let reply = kernel.recv();
        assert_eq!(event_type_of(&reply), event_type::GET_REPORT_REPLY);
        assert_eq!(&reply[4..8], &41u32.to_ne_bytes());
        assert_eq!(u16::from_ne_bytes([reply[8], reply[9]]), libc::EIO as u16);

        assert!(matches!(
            dev.read_event().unwrap(),
            Some(UhidEvent::SetReport { id: 42, .. })
        ));
        let reply = kernel.recv();
        assert_eq!(event_type_of(&reply), event_type::SET_REPORT_REPLY);
        assert_eq!(&reply[4..8], &42u32.to_ne_bytes());
        assert_eq!(u16::from_ne_bytes([reply[8], reply[9]]), libc::EIO as u16);
    }

    #[test]
    fn power_cycle_destroy_and_drop() {
        let (mut dev, kernel) = pair(&config());
        kernel.recv();
        // Requests queued for the old device are not delivered to the new one.
        kernel.send_output(&[7u8; 64]);
        kernel.send(event_type::CLOSE, |_| ());
        dev.recreate().unwrap();
        assert_eq!(event_type_of(&kernel.recv()), event_type::DESTROY);
        assert_eq!(event_type_of(&kernel.recv()), event_type::CREATE2);
        assert_eq!(dev.read_event().unwrap(), None);

        dev.destroy().unwrap();
        assert!(!dev.is_created());
        assert_eq!(event_type_of(&kernel.recv()), event_type::DESTROY);
        assert!(matches!(
            dev.write_input(&[0u8; 64]),
            Err(UhidError::NotCreated { .. })
        ));
        dev.destroy().unwrap(); // a second destroy sends nothing

        dev.recreate().unwrap();
        assert_eq!(event_type_of(&kernel.recv()), event_type::CREATE2);
        kernel.send(event_type::START, |_| ());
        assert!(dev.wait_readable(Some(Duration::from_secs(5))).unwrap());
        assert_eq!(
            dev.read_event().unwrap(),
            Some(UhidEvent::Start { dev_flags: 0 })
        );
        drop(dev);
        assert_eq!(event_type_of(&kernel.recv()), event_type::DESTROY);
        kernel
            .sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(
            kernel.sock.recv(&mut buf).is_err(),
            "nothing after the destroy"
        );
    }

    #[test]
    fn works_under_tokio_async_fd() {
        use tokio::io::Interest;
        use tokio::io::unix::AsyncFd;

        let (dev, kernel) = pair(&config());
        kernel.recv();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let report = [0x5Au8; 64];
        let got = rt.block_on(async {
            // SAFETY: a UhidDevice owns its descriptor and never replaces it, so as_raw_fd
            // names the same open file description for the AsyncFd's whole life.
            let dev = unsafe { AsyncFd::register_with_interest(dev, Interest::READABLE) }
                .map_err(|e| e.to_string())
                .unwrap();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                kernel.send(event_type::OPEN, |_| ());
                kernel.send_output(&report);
                kernel
            });
            let mut got = Vec::new();
            let deadline = Duration::from_secs(5);
            while got.len() < 2 {
                let mut ready = tokio::time::timeout(deadline, dev.readable())
                    .await
                    .expect("readable within 5 s")
                    .unwrap();
                match ready.get_inner().read_event().unwrap() {
                    Some(event) => got.push(event),
                    None => ready.clear_ready(),
                }
            }
            dev.get_ref().write_input(&report).unwrap();
            let kernel = sender.join().unwrap();
            let echoed = kernel.recv();
            assert_eq!(&echoed[6..], &report);
            got
        });
        assert_eq!(got, vec![UhidEvent::Open, UhidEvent::Output(report)]);
    }

    #[test]
    fn wait_readable_honours_its_timeout() {
        let (dev, kernel) = pair(&config());
        kernel.recv();
        let started = Instant::now();
        assert!(!dev.wait_readable(Some(Duration::from_millis(30))).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(25));
        kernel.send(event_type::OPEN, |_| ());
        assert!(dev.wait_readable(Some(Duration::from_secs(5))).unwrap());
    }

    #[test]
    fn a_write_the_kernel_refuses_is_an_error() {
        let (dev, kernel) = pair(&config());
        drop(kernel);
        let err = dev.write_input(&[0u8; 64]).unwrap_err();
        assert!(matches!(err, UhidError::Io { op: "input", .. }), "{err}");
    }

    #[test]
    fn bad_config_is_refused_before_anything_is_sent() {
        let (ours, theirs) = UnixDatagram::pair().unwrap();
        let mut cfg = config();
        cfg.phys = "p".repeat(64);
        let err = UhidDevice::create_on(OwnedFd::from(ours), &cfg).unwrap_err();
        assert!(err.to_string().contains("phys"), "{err}");
        theirs.set_nonblocking(true).unwrap();
        assert!(theirs.recv(&mut [0u8; 8]).is_err());
    }

    #[test]
    fn udev_rule_matches_authsim_ids() {
        let rules = include_str!("../../udev/70-authsim.rules");
        let hid_name = format!(
            "KERNELS==\"{:04X}:{AUTHSIM_VENDOR_ID:04X}:{AUTHSIM_PRODUCT_ID:04X}.*\"",
            BUS_USB
        );
        let hidraw = rules
            .lines()
            .find(|l| l.starts_with("SUBSYSTEM==\"hidraw\""))
            .expect("a hidraw rule");
        assert!(
            hidraw.contains(&hid_name),
            "{hidraw} should match {hid_name}"
        );
        assert!(hidraw.contains("DEVPATH==\"/devices/virtual/misc/uhid/*\""));
        assert!(hidraw.contains("TAG+=\"uaccess\""));
        assert!(
            rules
                .lines()
                .any(|l| l.starts_with("KERNEL==\"uhid\"") && l.contains("TAG+=\"uaccess\""))
        );
    }

    #[test]
    fn open_errors_say_what_to_do() {
        let err = UhidDevice::create_at(Path::new("/nonexistent/uhid"), &config()).unwrap_err();
        assert!(matches!(err, UhidError::Missing { .. }));
        let msg = err.to_string();
        assert!(msg.contains("modprobe uhid"), "{msg}");
        assert!(msg.contains("--hid-socket"), "{msg}");

        let denied = open_error(
            Path::new("/dev/uhid"),
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(matches!(denied, UhidError::PermissionDenied { .. }));
        let msg = denied.to_string();
        assert!(msg.contains("udev/70-authsim.rules"), "{msg}");
        assert!(msg.contains("not writable"), "{msg}");

        let other = open_error(
            Path::new("/dev/uhid"),
            io::Error::from_raw_os_error(libc::EMFILE),
        );
        assert!(matches!(other, UhidError::Open { .. }));
    }
}
