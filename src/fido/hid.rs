//! A CTAPHID connection to one authenticator: channel allocation (INIT), requests with their
//! keepalives, CANCEL at a deadline, error frames, and a watchdog for a device that stops
//! talking. The framing is firmware-sim's host side ([`firmware_sim::ctaphid::host`]); the
//! bytes move through a [`HidIo`] (a Unix socket, UDP, hidraw, or a host inside the daemon).

use std::time::{Duration, Instant};

use firmware_sim::ctaphid::host::{
    self, HostError, InitResponse, NONCE_LEN, Received, ResponseReader,
};
use firmware_sim::ctaphid::{Report, cmd};

/// Moves raw 64-byte reports to and from one device.
pub trait HidIo: Send {
    /// Writes one output report.
    fn write_report(&mut self, report: &Report) -> std::io::Result<()>;
    /// Writes a message's reports in order (one write where the transport allows).
    fn write_reports(&mut self, reports: &[Report]) -> std::io::Result<()> {
        reports.iter().try_for_each(|r| self.write_report(r))
    }
    /// The next input report, waiting at most `timeout` (`Ok(None)` when none came).
    fn read_report(&mut self, timeout: Duration) -> std::io::Result<Option<Report>>;
    /// What the device is, for messages (a path or an address).
    fn describe(&self) -> String;
}

/// The longest silence accepted from a device that is working on a request: CTAP 2.1 §11.2.9.2.1
/// has it send a KEEPALIVE at least every 100 ms, so this is generous.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a device may take to answer a CANCEL.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Why a CTAPHID exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HidError {
    /// Reading or writing the device failed.
    #[error("{device}: {source}")]
    Io {
        /// The device.
        device: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The device answered with a CTAPHID error or broke the framing.
    #[error("{device}: {source}")]
    Frame {
        /// The device.
        device: String,
        /// What it did.
        source: HostError,
    },
    /// The device fell silent.
    #[error("{0}: the device stopped answering")]
    Silent(String),
    /// The request's deadline passed (the request was cancelled).
    #[error("{0}: timed out (nobody touched the key?)")]
    Timeout(String),
}

/// A device's status while it works on a request (its keepalives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Processing.
    Processing,
    /// Waiting for the user to touch the key.
    UserPresenceNeeded,
}

/// One host channel on one device.
pub struct CtapHid {
    io: Box<dyn HidIo>,
    init: InitResponse,
    on_progress: Box<dyn FnMut(Progress) + Send>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for CtapHid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtapHid")
            .field("device", &self.io.describe())
            .field("init", &self.init)
            .finish()
    }
}

impl CtapHid {
    /// Allocates a channel on the device (CTAPHID_INIT with a random nonce).
    pub fn open(mut io: Box<dyn HidIo>) -> Result<Self, HidError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| HidError::Io {
            device: io.describe(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let device = io.describe();
        io.write_report(&host::init_request(&nonce))
            .map_err(|source| HidError::Io {
                device: device.clone(),
                source,
            })?;
        let mut reader = ResponseReader::new(firmware_sim::ctaphid::BROADCAST_CID);
        let deadline = Instant::now() + IDLE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let report = io
                .read_report(left)
                .map_err(|source| HidError::Io {
                    device: device.clone(),
                    source,
                })?
                .ok_or_else(|| HidError::Silent(device.clone()))?;
            let frame = |source| HidError::Frame {
                device: device.clone(),
                source,
            };
            if let Received::Message { command, payload } = reader.feed(&report).map_err(frame)?
                && command == cmd::INIT
                && let Some(init) = InitResponse::parse(&nonce, &payload).map_err(frame)?
            {
                return Ok(Self {
                    io,
                    init,
                    on_progress: Box::new(|_| {}),
                    idle_timeout: IDLE_TIMEOUT,
                });
            }
        }
    }

    /// What the device said in its INIT answer.
    pub fn init(&self) -> &InitResponse {
        &self.init
    }

    /// The device, for messages.
    pub fn describe(&self) -> String {
        self.io.describe()
    }

    /// Calls `f` with each keepalive status while a request waits (e.g. "touch your key").
    pub fn on_progress(&mut self, f: impl FnMut(Progress) + Send + 'static) {
        self.on_progress = Box::new(f);
    }

    fn io_err(&self, source: std::io::Error) -> HidError {
        HidError::Io {
            device: self.io.describe(),
            source,
        }
    }

    fn frame_err(&self, source: HostError) -> HidError {
        HidError::Frame {
            device: self.io.describe(),
            source,
        }
    }

    /// Sends `payload` as `command` and returns the answer's command and payload; at
    /// `deadline` the request is cancelled (CTAPHID_CANCEL) and [`HidError::Timeout`] returned.
    pub fn request(
        &mut self,
        command: u8,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(u8, Vec<u8>), HidError> {
        let reports = host::request_reports(self.init.cid, command, payload)
            .map_err(|e| self.frame_err(e))?;
        self.io
            .write_reports(&reports)
            .map_err(|e| self.io_err(e))?;
        let mut reader = ResponseReader::new(self.init.cid);
        let mut silent_since = Instant::now();
        let mut cancelled_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if let Some(at) = cancelled_at {
                if now >= at + CANCEL_GRACE {
                    return Err(HidError::Timeout(self.describe()));
                }
            } else if deadline.is_some_and(|d| now >= d) {
                self.cancel()?;
                cancelled_at = Some(now);
            }
            if now >= silent_since + self.idle_timeout {
                return Err(HidError::Silent(self.describe()));
            }
            let mut wait = self.idle_timeout - (now - silent_since);
            if let Some(d) = deadline
                && cancelled_at.is_none()
            {
                wait = wait.min(d.saturating_duration_since(now));
            }
            let Some(report) = self
                .io
                .read_report(wait.max(Duration::from_millis(1)))
                .map_err(|e| self.io_err(e))?
            else {
                continue;
            };
            match reader.feed(&report).map_err(|e| self.frame_err(e))? {
                Received::Nothing => {}
                Received::Keepalive(status) => {
                    silent_since = Instant::now();
                    let progress = match status {
                        firmware_sim::ctaphid::keepalive::STATUS_UPNEEDED => {
                            Progress::UserPresenceNeeded
                        }
                        _ => Progress::Processing,
                    };
                    (self.on_progress)(progress);
                }
                Received::Message { command, payload } => {
                    if cancelled_at.is_some() {
                        return Err(HidError::Timeout(self.describe()));
                    }
                    return Ok((command, payload));
                }
            }
        }
    }

    /// A CTAP2 command (CTAPHID_CBOR): the status byte and the CBOR body, if any.
    pub fn cbor(
        &mut self,
        command: u8,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(u8, Vec<u8>), HidError> {
        let mut payload = Vec::with_capacity(1 + body.len());
        payload.push(command);
        payload.extend_from_slice(body);
        let (rcmd, answer) = self.request(cmd::CBOR, &payload, deadline)?;
        if rcmd != cmd::CBOR {
            return Err(self.frame_err(HostError::Malformed("not a CBOR response")));
        }
        let (status, body) = host::split_cbor(&answer).map_err(|e| self.frame_err(e))?;
        Ok((status, body.map(<[u8]>::to_vec).unwrap_or_default()))
    }

    /// CTAPHID_PING: the device echoes `data`.
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>, HidError> {
        let (rcmd, echo) = self.request(cmd::PING, data, None)?;
        if rcmd != cmd::PING {
            return Err(self.frame_err(HostError::Malformed("not a PING response")));
        }
        Ok(echo)
    }

    /// CTAPHID_WINK: the device shows itself (a blink).
    pub fn wink(&mut self) -> Result<(), HidError> {
        let (rcmd, _) = self.request(cmd::WINK, &[], None)?;
        if rcmd != cmd::WINK {
            return Err(self.frame_err(HostError::Malformed("not a WINK response")));
        }
        Ok(())
    }

    /// CTAPHID_CANCEL for this channel's pending request (no answer of its own).
    pub fn cancel(&mut self) -> Result<(), HidError> {
        let reports = host::request_reports(self.init.cid, cmd::CANCEL, &[])
            .map_err(|e| self.frame_err(e))?;
        for r in &reports {
            self.io.write_report(r).map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// Sends raw reports (tests: a half message, a broken sequence).
    pub fn write_raw(&mut self, reports: &[Report]) -> Result<(), HidError> {
        for r in reports {
            self.io.write_report(r).map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// The channel id.
    pub fn cid(&self) -> u32 {
        self.init.cid
    }
}
