//! An in-process host: code inside the daemon (the control API's WebAuthn routes) opens a key
//! exactly as a socket client would, through the key's event queue, and exchanges raw 64-byte
//! reports with it. Blocking calls: use it off the async runtime (`spawn_blocking`).

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use super::{DeviceGone, DeviceInbox, HostEvent, HostId, HostSink, Report};

/// Batches of input reports that may wait for the host before reports are dropped.
const SINK_CAPACITY: usize = 256;

/// How long a read polls (yielding the CPU) before it sleeps: about one signature. A sleeping
/// thread's wake-up costs tens of microseconds more, most of all on a virtual machine whose
/// idle CPU halts.
const SPIN: Duration = Duration::from_micros(250);

/// What arrives on `rx` within `spin`, polled with the CPU yielded between looks.
fn spin_for<T>(rx: &Receiver<T>, spin: Duration) -> Option<T> {
    let until = std::time::Instant::now() + spin;
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        if std::time::Instant::now() >= until {
            return None;
        }
        std::thread::yield_now();
    }
}

/// One in-process host of a key; closing it (drop) tells the key, which abandons whatever the
/// host's channels were doing.
#[derive(Debug)]
pub struct InProcessHost {
    host: HostId,
    inbox: DeviceInbox,
    rx: Receiver<Vec<Report>>,
    pending: std::collections::VecDeque<Report>,
}

struct Sink(SyncSender<Vec<Report>>);

impl HostSink for Sink {
    fn deliver(&mut self, reports: &[Report]) -> bool {
        match self.0.try_send(reports.to_vec()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

impl InProcessHost {
    /// Opens the key behind `inbox` as a new host.
    pub fn open(inbox: &DeviceInbox) -> Result<Self, DeviceGone> {
        let host = HostId::fresh();
        let (tx, rx) = sync_channel(SINK_CAPACITY);
        inbox.send_blocking(HostEvent::Opened {
            host,
            sink: Box::new(Sink(tx)),
        })?;
        Ok(Self {
            host,
            inbox: inbox.clone(),
            rx,
            pending: Default::default(),
        })
    }

    /// Writes output reports to the key, in order.
    pub fn write(&mut self, reports: &[Report]) -> Result<(), DeviceGone> {
        self.inbox.send_blocking(HostEvent::Reports {
            host: self.host,
            reports: reports.to_vec(),
        })
    }

    /// The next input report, waiting at most `timeout` (`Ok(None)` when none came).
    pub fn read(&mut self, timeout: Duration) -> Result<Option<Report>, DeviceGone> {
        if let Some(r) = self.pending.pop_front() {
            return Ok(Some(r));
        }
        if let Some(batch) = spin_for(&self.rx, SPIN) {
            self.pending.extend(batch);
            return Ok(self.pending.pop_front());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(batch) => {
                self.pending.extend(batch);
                Ok(self.pending.pop_front())
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(DeviceGone),
        }
    }
}

impl Drop for InProcessHost {
    fn drop(&mut self) {
        let _ = self.inbox.try_send(HostEvent::Closed { host: self.host });
    }
}
