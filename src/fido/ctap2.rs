//! An authenticator as a platform sees it: typed CTAP2 commands (firmware-sim's
//! [`firmware_sim::ctap2::messages`], the same types the virtual key decodes) over one CTAPHID
//! connection, whatever carries it (a real key on hidraw, a daemon key on its socket, UDP or
//! uhid node, or in process).

use std::time::Instant;

use firmware_sim::StatusCode;
use firmware_sim::ctap2::messages::{GetInfoResponse, Message};
use firmware_sim::ctap2_command as command;

use super::hid::{CtapHid, HidError, Progress};

/// Why a CTAP2 command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtapError {
    /// The transport failed.
    #[error(transparent)]
    Hid(#[from] HidError),
    /// The authenticator answered with this CTAP2 status.
    #[error("{device} answered {}", status_name(*.status))]
    Status {
        /// The device.
        device: String,
        /// The status byte.
        status: u8,
    },
    /// The answer did not decode as the command's response.
    #[error("{device}: malformed {what} response ({problem})")]
    Malformed {
        /// The device.
        device: String,
        /// The command.
        what: &'static str,
        /// What was wrong.
        problem: String,
    },
}

impl CtapError {
    /// The CTAP2 status, when the authenticator answered with one.
    pub fn status(&self) -> Option<u8> {
        match self {
            CtapError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether this is the authenticator's answer `code`.
    pub fn is(&self, code: StatusCode) -> bool {
        self.status() == Some(code.as_u8())
    }
}

/// A status byte by its specification name (or in hex when unknown).
pub fn status_name(status: u8) -> String {
    match StatusCode::from_u8(status) {
        Some(s) => format!("{} (0x{status:02X})", s.name()),
        None => format!("CTAP status 0x{status:02X}"),
    }
}

/// One authenticator over one CTAPHID channel.
#[derive(Debug)]
pub struct Authenticator {
    hid: CtapHid,
    info: Option<GetInfoResponse>,
}

impl Authenticator {
    /// An authenticator on an open CTAPHID connection.
    pub fn new(hid: CtapHid) -> Self {
        Self { hid, info: None }
    }

    /// The device, for messages.
    pub fn describe(&self) -> String {
        self.hid.describe()
    }

    /// The CTAPHID connection (INIT data, WINK, PING).
    pub fn hid(&mut self) -> &mut CtapHid {
        &mut self.hid
    }

    /// Calls `f` with each keepalive status while a request waits for the user.
    pub fn on_progress(&mut self, f: impl FnMut(Progress) + Send + 'static) {
        self.hid.on_progress(f);
    }

    /// Sends one CTAP2 command with its parameters' CBOR; `Ok` only with status CTAP2_OK,
    /// returning the body.
    pub fn raw(
        &mut self,
        cmd: u8,
        params: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, CtapError> {
        let (status, body) = self.hid.cbor(cmd, params, deadline)?;
        if status != StatusCode::Ok.as_u8() {
            return Err(CtapError::Status {
                device: self.describe(),
                status,
            });
        }
        Ok(body)
    }

    /// Sends a typed request and decodes the typed response.
    pub fn call<Req: Message, Resp: Message>(
        &mut self,
        cmd: u8,
        what: &'static str,
        request: &Req,
        deadline: Option<Instant>,
    ) -> Result<Resp, CtapError> {
        let body = self.raw(cmd, &request.to_cbor(), deadline)?;
        Resp::from_cbor(&body).map_err(|s| CtapError::Malformed {
            device: self.describe(),
            what,
            problem: s.name().to_owned(),
        })
    }

    /// authenticatorGetInfo (asked once per connection, then remembered).
    pub fn get_info(&mut self) -> Result<&GetInfoResponse, CtapError> {
        if self.info.is_none() {
            let body = self.raw(command::GET_INFO, &[], None)?;
            let info = GetInfoResponse::from_cbor(&body).map_err(|s| CtapError::Malformed {
                device: self.describe(),
                what: "getInfo",
                problem: s.name().to_owned(),
            })?;
            self.info = Some(info);
        }
        self.info.as_ref().ok_or_else(|| CtapError::Malformed {
            device: self.describe(),
            what: "getInfo",
            problem: "no answer".into(),
        })
    }

    /// authenticatorSelection: returns once the user touched this key.
    pub fn selection(&mut self, deadline: Option<Instant>) -> Result<(), CtapError> {
        self.raw(command::SELECTION, &[], deadline).map(drop)
    }
}
