//! Where a host's reports go: a hidraw node (a real key, or a virtual one on /dev/uhid), a
//! daemon key's Unix socket or UDP address, or a key inside the daemon itself. Each is a
//! [`HidIo`] for [`super::hid::CtapHid`].

// poll(2) on a hidraw node: std has no read with a timeout for character devices.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firmware_sim::ctaphid::{REPORT_LEN, Report};

use super::hid::HidIo;
use crate::transport::inproc::InProcessHost;

/// A hidraw node (`/dev/hidrawN`). Output reports carry the report-id byte (0: FIDO keys have
/// no numbered reports) in front; input reports come without it.
#[derive(Debug)]
pub struct Hidraw {
    path: PathBuf,
    file: File,
}

impl Hidraw {
    /// Opens the node read-write.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Whether a read would not block within `timeout`.
    fn readable(&self, timeout: Duration) -> std::io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is a valid, exclusively borrowed array of one pollfd whose descriptor
        // stays open (owned by `self.file`) for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        if r > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the device went away",
            ));
        }
        Ok(r > 0)
    }
}

impl HidIo for Hidraw {
    fn write_report(&mut self, report: &Report) -> std::io::Result<()> {
        let mut buf = [0u8; REPORT_LEN + 1];
        buf[1..].copy_from_slice(report);
        self.file.write_all(&buf)
    }

    fn read_report(&mut self, timeout: Duration) -> std::io::Result<Option<Report>> {
        if !self.readable(timeout)? {
            return Ok(None);
        }
        let mut buf = [0u8; REPORT_LEN];
        let n = self.file.read(&mut buf)?;
        if n != REPORT_LEN {
            return Err(std::io::Error::other(format!(
                "a {n}-byte input report (FIDO keys send {REPORT_LEN})"
            )));
        }
        Ok(Some(buf))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// A daemon key's Unix socket transport: bare 64-byte reports both ways.
#[derive(Debug)]
pub struct UnixSocket {
    path: PathBuf,
    stream: UnixStream,
}

impl UnixSocket {
    /// Connects to the socket.
    pub fn connect(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            stream: UnixStream::connect(path)?,
        })
    }
}

impl HidIo for UnixSocket {
    fn write_report(&mut self, report: &Report) -> std::io::Result<()> {
        self.stream.write_all(report)
    }

    fn write_reports(&mut self, reports: &[Report]) -> std::io::Result<()> {
        self.stream.write_all(reports.as_flattened())
    }

    fn read_report(&mut self, timeout: Duration) -> std::io::Result<Option<Report>> {
        let mut buf = [0u8; REPORT_LEN];
        let mut filled = 0;
        let deadline = Instant::now() + timeout;
        while filled < REPORT_LEN {
            // Once a report has begun, its rest is read whatever the timeout: stopping half
            // way would leave the stream out of step.
            let left = if filled == 0 {
                deadline.saturating_duration_since(Instant::now())
            } else {
                super::hid::IDLE_TIMEOUT
            };
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the key closed the connection",
                    ));
                }
                Ok(n) => filled += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && filled == 0 =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(buf))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// A daemon key's loopback UDP transport: one report per datagram.
#[derive(Debug)]
pub struct Udp {
    peer: SocketAddr,
    socket: UdpSocket,
}

impl Udp {
    /// A socket on an ephemeral loopback port, connected to the key at `peer`.
    pub fn connect(peer: SocketAddr) -> std::io::Result<Self> {
        let local: SocketAddr = if peer.is_ipv6() {
            "[::1]:0".parse().map_err(std::io::Error::other)?
        } else {
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(peer)?;
        Ok(Self { peer, socket })
    }
}

impl HidIo for Udp {
    fn write_report(&mut self, report: &Report) -> std::io::Result<()> {
        self.socket.send(report).map(drop)
    }

    fn read_report(&mut self, timeout: Duration) -> std::io::Result<Option<Report>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 2048];
            match self.socket.recv(&mut buf) {
                // Anything but a whole report is not CTAPHID: skipped.
                Ok(REPORT_LEN) => {
                    let mut r = [0u8; REPORT_LEN];
                    r.copy_from_slice(&buf[..REPORT_LEN]);
                    return Ok(Some(r));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn describe(&self) -> String {
        format!("udp {}", self.peer)
    }
}

/// A key of this daemon, opened from inside it.
#[derive(Debug)]
pub struct InProcess {
    name: String,
    host: InProcessHost,
}

impl InProcess {
    /// Wraps an in-process host of the key `name`.
    pub fn new(name: &str, host: InProcessHost) -> Self {
        Self {
            name: name.to_owned(),
            host,
        }
    }
}

fn gone(e: crate::transport::DeviceGone) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string())
}

impl HidIo for InProcess {
    fn write_report(&mut self, report: &Report) -> std::io::Result<()> {
        self.host.write(std::slice::from_ref(report)).map_err(gone)
    }

    fn write_reports(&mut self, reports: &[Report]) -> std::io::Result<()> {
        self.host.write(reports).map_err(gone)
    }

    fn read_report(&mut self, timeout: Duration) -> std::io::Result<Option<Report>> {
        self.host.read(timeout).map_err(gone)
    }

    fn describe(&self) -> String {
        format!("key {:?}", self.name)
    }
}
