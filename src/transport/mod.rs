//! Where HID reports come from: thin adapters that move raw 64-byte reports between hosts and
//! the device, and know nothing of CTAP.
//!
//! A transport turns each host (a Unix socket connection, a UDP peer) into a [`HostId`] with a
//! [`HostSink`], and forwards every report the host writes to the device as a [`HostEvent`]
//! through a [`DeviceInbox`]. The device decides which host each input report goes to.
//!
//! - [`unix`]: a Unix stream socket; each connection is a host opening the device; exactly 64
//!   bytes per report both ways, no report-id byte.
//! - [`udp`]: loopback UDP; each datagram is one 64-byte report, replies go to the sender.
//! - [`inproc`]: a host inside the daemon itself (the control API's WebAuthn routes).

pub mod inproc;
pub mod udp;
pub mod uhid;
pub mod unix;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// The daemon's effective uid: the one user its sockets serve.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

/// Size of every HID report, both directions.
pub const REPORT_LEN: usize = 64;

/// One HID report (no report-id byte).
pub type Report = [u8; REPORT_LEN];

/// How many events may wait for the device before transports slow down.
const INBOX_CAPACITY: usize = 256;

/// Identifies one host (a connection or a UDP peer) for the lifetime of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(u64);

impl HostId {
    /// A host id never handed out before in this process.
    pub fn fresh() -> HostId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        HostId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host#{}", self.0)
    }
}

/// Where the device's input reports for one host go.
pub trait HostSink: Send {
    /// Queues `reports` for the host, in order, without blocking; returns false when the host
    /// is gone (the device then forgets it). A host that does not read loses reports, as with
    /// a real HID device whose reader falls behind.
    fn deliver(&mut self, reports: &[Report]) -> bool;
}

/// What a transport tells the device.
pub enum HostEvent {
    /// A host appeared (a connection was accepted, a UDP peer wrote for the first time).
    Opened {
        /// The new host.
        host: HostId,
        /// Where its input reports go.
        sink: Box<dyn HostSink>,
    },
    /// A host wrote these output reports, in order.
    Reports {
        /// The writer.
        host: HostId,
        /// The reports.
        reports: Vec<Report>,
    },
    /// A host went away.
    Closed {
        /// The host.
        host: HostId,
    },
    /// Not from a host: something beside the transports (the control API) queued work for
    /// the device and wants it to look now.
    Wake,
}

impl std::fmt::Debug for HostEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostEvent::Opened { host, .. } => write!(f, "Opened({host})"),
            HostEvent::Reports { host, reports } => {
                write!(f, "Reports({host}, {} reports)", reports.len())
            }
            HostEvent::Closed { host } => write!(f, "Closed({host})"),
            HostEvent::Wake => write!(f, "Wake"),
        }
    }
}

/// The device side stopped; the transport should stop too.
#[derive(Debug, thiserror::Error)]
#[error("the device stopped")]
pub struct DeviceGone;

/// The sending end of the device's event queue, shared by all transports.
#[derive(Clone, Debug)]
pub struct DeviceInbox {
    tx: SyncSender<HostEvent>,
}

/// The receiving end of the device's event queue (owned by the device thread).
#[derive(Debug)]
pub struct DeviceOutbox {
    rx: Receiver<HostEvent>,
}

/// A bounded queue from the transports to the device.
pub fn device_queue() -> (DeviceInbox, DeviceOutbox) {
    let (tx, rx) = sync_channel(INBOX_CAPACITY);
    (DeviceInbox { tx }, DeviceOutbox { rx })
}

impl DeviceInbox {
    /// Queues an event for the device, waiting (asynchronously) while the queue is full.
    pub async fn send(&self, mut event: HostEvent) -> Result<(), DeviceGone> {
        loop {
            match self.tx.try_send(event) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    event = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(DeviceGone),
            }
        }
    }

    /// Queues an event from a thread outside the runtime, blocking while the queue is full.
    pub fn send_blocking(&self, event: HostEvent) -> Result<(), DeviceGone> {
        self.tx.send(event).map_err(|_| DeviceGone)
    }

    /// Queues an event without waiting; false if the queue is full or the device stopped.
    pub fn try_send(&self, event: HostEvent) -> bool {
        self.tx.try_send(event).is_ok()
    }
}

/// Why [`DeviceOutbox::next`] returned no event.
#[derive(Debug, PartialEq, Eq)]
pub enum NoEvent {
    /// The wait timed out.
    Timeout,
    /// Every transport is gone.
    Closed,
}

/// How long a device polls its queue before sleeping: long enough to span the gap between
/// two API ceremonies of a keep-alive client (about 0.2 ms), whose first message (a new
/// host) otherwise waited ~30 µs for the key thread to wake.
const NEXT_SPIN: Duration = Duration::from_micros(500);

impl DeviceOutbox {
    /// The next event, waiting at most `timeout` (forever with `None`).
    pub fn next(&self, timeout: Option<Duration>) -> Result<HostEvent, NoEvent> {
        // The next request of a ceremony (getAssertion after getInfo) usually follows within
        // microseconds, the next ceremony within a fraction of a millisecond: look for it a
        // little, CPU yielded, before sleeping.
        let until = std::time::Instant::now() + NEXT_SPIN;
        loop {
            match self.rx.try_recv() {
                Ok(event) => return Ok(event),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(NoEvent::Closed),
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if std::time::Instant::now() >= until {
                break;
            }
            std::thread::yield_now();
        }
        match timeout {
            None => self.rx.recv().map_err(|_| NoEvent::Closed),
            Some(t) => self.rx.recv_timeout(t).map_err(|e| match e {
                RecvTimeoutError::Timeout => NoEvent::Timeout,
                RecvTimeoutError::Disconnected => NoEvent::Closed,
            }),
        }
    }

    /// The next event if one is queued now.
    pub fn try_next(&self) -> Option<HostEvent> {
        self.rx.try_recv().ok()
    }
}

/// Errors binding a transport (messages say what to do).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Binding or preparing the socket failed.
    #[error("cannot listen on {what}: {source}")]
    Bind {
        /// The socket path or address.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process is already listening on the socket path.
    #[error("{0} is in use by another process (is a daemon already running?)")]
    InUse(String),
    /// Something that is not a socket sits at the socket path.
    #[error("{0} exists and is not a socket; remove it or choose another path")]
    NotASocket(String),
    /// A UDP bind on an address other than loopback was requested.
    #[error(
        "refusing to listen on {0}: the UDP transport carries raw HID reports without authentication, so it binds only loopback addresses (127.0.0.1, ::1)"
    )]
    NotLoopback(String),
}

/// Test helper: waits (off the runtime thread) for the device's next event.
#[cfg(test)]
pub(crate) async fn next_event(outbox: DeviceOutbox) -> (DeviceOutbox, HostEvent) {
    tokio::task::spawn_blocking(move || {
        let event = outbox
            .next(Some(Duration::from_secs(5)))
            .expect("an event within 5 s");
        (outbox, event)
    })
    .await
    .expect("waiter")
}
