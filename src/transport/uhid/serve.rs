//! The uhid device as a daemon transport: one host (the kernel, on behalf of every program that
//! opened the hidraw node), fed from the device's output reports, answered with input reports.
//!
//! [`UhidTransport::serve`] owns the [`UhidDevice`] on the tokio runtime (`AsyncFd`), forwards
//! each output report to the device queue, writes the device's input reports back, and obeys
//! [`UhidControl`] requests: a power cycle (destroy + create: the hidraw node disappears and
//! comes back as a new host) or a stop (destroy, then end). Dropping the task destroys the
//! kernel device too.

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use super::{UhidConfig, UhidDevice, UhidError, UhidEvent};
use crate::transport::{DeviceInbox, HostEvent, HostId, HostSink, Report};

/// Batches of input reports that may wait for the kernel before reports are dropped.
const SINK_CAPACITY: usize = 256;

/// What the daemon can ask of a running uhid transport.
#[derive(Debug)]
pub enum UhidControl {
    /// Destroy and create the kernel device again; answers when the new one exists.
    PowerCycle(oneshot::Sender<Result<(), String>>),
    /// Destroy the kernel device and stop; answers once it is gone.
    Stop(oneshot::Sender<()>),
}

/// A created uhid device, ready to serve.
#[derive(Debug)]
pub struct UhidTransport {
    dev: AsyncFd<UhidDevice>,
}

/// Input reports for the kernel, handed to the transport task.
struct UhidSink {
    tx: mpsc::Sender<Vec<Report>>,
}

impl HostSink for UhidSink {
    fn deliver(&mut self, reports: &[Report]) -> bool {
        match self.tx.try_send(reports.to_vec()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("uhid writer is behind; input reports dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl UhidTransport {
    /// Opens `/dev/uhid` and creates the kernel device (inside a tokio runtime).
    pub fn create(config: &UhidConfig) -> Result<UhidTransport, UhidError> {
        let dev = UhidDevice::create(config)?;
        // SAFETY: a UhidDevice owns its descriptor and never replaces or closes it while it
        // lives, so the descriptor registered here stays the same open file for the AsyncFd's
        // whole life (AsyncFd::register's condition).
        let dev = unsafe { AsyncFd::register_with_interest(dev, Interest::READABLE) }.map_err(
            |source| UhidError::Io {
                op: "register",
                name: config.name.clone(),
                source: source.into(),
            },
        )?;
        Ok(UhidTransport { dev })
    }

    /// The kernel device's configuration.
    pub fn config(&self) -> &UhidConfig {
        self.dev.get_ref().config()
    }

    /// Serves until asked to stop, the device stops, or the kernel descriptor fails.
    pub async fn serve(mut self, inbox: DeviceInbox, mut control: mpsc::Receiver<UhidControl>) {
        let (mut host, mut out_rx) = match open_host(&inbox).await {
            Some(h) => h,
            None => return,
        };
        loop {
            tokio::select! {
                ready = self.dev.readable() => {
                    let mut guard = match ready {
                        Ok(g) => g,
                        Err(e) => {
                            tracing::error!(error = %e, "waiting on /dev/uhid failed; the key's uhid device stops");
                            break;
                        }
                    };
                    loop {
                        match guard.get_inner().read_event() {
                            Ok(Some(UhidEvent::Output(report))) => {
                                let event = HostEvent::Reports { host, reports: vec![report] };
                                if inbox.send(event).await.is_err() {
                                    return;
                                }
                            }
                            Ok(Some(UhidEvent::Close)) => {
                                // The last program that had the hidraw node open closed it (or
                                // died): the device abandons what its channels were doing.
                                tracing::debug!("uhid close: every reader has gone");
                                let _ = inbox.send(HostEvent::Closed { host }).await;
                                match open_host(&inbox).await {
                                    Some((h, rx)) => (host, out_rx) = (h, rx),
                                    None => return,
                                }
                            }
                            Ok(Some(event)) => tracing::debug!(?event, "uhid event"),
                            Ok(None) => {
                                guard.clear_ready();
                                break;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "reading /dev/uhid failed");
                                guard.clear_ready();
                                break;
                            }
                        }
                    }
                }
                batch = out_rx.recv() => {
                    let Some(batch) = batch else { break };
                    for report in &batch {
                        match self.dev.get_ref().write_input(report) {
                            Ok(()) | Err(UhidError::NotCreated { .. }) => {}
                            Err(e) => tracing::warn!(error = %e, "uhid input report lost"),
                        }
                    }
                }
                cmd = control.recv() => match cmd {
                    Some(UhidControl::PowerCycle(done)) => {
                        let _ = inbox.send(HostEvent::Closed { host }).await;
                        let result = self.dev.get_mut().recreate().map_err(|e| e.to_string());
                        match open_host(&inbox).await {
                            Some((h, rx)) => (host, out_rx) = (h, rx),
                            None => return,
                        }
                        let _ = done.send(result);
                    }
                    Some(UhidControl::Stop(done)) => {
                        if let Err(e) = self.dev.get_mut().destroy() {
                            tracing::warn!(error = %e, "uhid destroy failed");
                        }
                        let _ = inbox.send(HostEvent::Closed { host }).await;
                        let _ = done.send(());
                        return;
                    }
                    None => break,
                },
            }
        }
        let _ = inbox.send(HostEvent::Closed { host }).await;
    }
}

/// Announces the kernel as a new host; its input reports arrive on the returned receiver.
async fn open_host(inbox: &DeviceInbox) -> Option<(HostId, mpsc::Receiver<Vec<Report>>)> {
    let host = HostId::fresh();
    let (tx, rx) = mpsc::channel(SINK_CAPACITY);
    inbox
        .send(HostEvent::Opened {
            host,
            sink: Box::new(UhidSink { tx }),
        })
        .await
        .ok()?;
    Some((host, rx))
}
