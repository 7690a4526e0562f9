//! A host-side CTAPHID client that drives a [`Token`] in-process, advancing a [`TestEnv`]'s
//! clock while it waits (as a platform would while the user is asked to touch the key). The
//! framing is the project's one host-side CTAPHID ([`crate::ctaphid::host`]).

use ciborium::value::Value;

use super::TestEnv;
use crate::cbor;
use crate::ctaphid::Report;
use crate::ctaphid::host::{self, InitResponse, Received, ResponseReader};
use crate::ctaphid::{BROADCAST_CID, cmd, fragment};
use crate::token::Token;

use crate::ctaphid::host::HostError as FrameError;

/// Failure seen by the host.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The token answered with CTAPHID_ERROR and this code.
    #[error("CTAPHID error 0x{0:02X}")]
    Hid(u8),
    /// The token did not answer within the simulated time limit.
    #[error("no response from the token")]
    NoResponse,
    /// The response did not have the expected form.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

impl From<FrameError> for HostError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Hid(code) => HostError::Hid(code),
            FrameError::Malformed(m) => HostError::Malformed(m),
            FrameError::TooLong(_) => HostError::Malformed("request longer than CTAPHID carries"),
        }
    }
}

/// A complete response on the host's channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HidResponse {
    /// The response command (without the 0x80 bit).
    pub command: u8,
    /// The response payload.
    pub payload: Vec<u8>,
    /// The status byte of every KEEPALIVE received before it.
    pub keepalives: Vec<u8>,
    /// Simulated milliseconds spent waiting after the request was sent.
    pub waited_ms: u64,
}

/// One host application with its own CTAPHID channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HidHost {
    cid: u32,
    /// Simulated time advanced per tick while waiting for a response.
    pub tick_ms: u64,
    /// Give up after this much simulated waiting.
    pub limit_ms: u64,
}

impl HidHost {
    /// A host using an already known channel id.
    pub fn with_cid(cid: u32) -> Self {
        Self {
            cid,
            tick_ms: 10,
            limit_ms: 60_000,
        }
    }

    /// The host's channel id.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// Allocates a channel with CTAPHID_INIT on the broadcast channel.
    pub fn connect(token: &mut Token, env: &mut TestEnv) -> Result<Self, HostError> {
        let nonce = [0x4E, 0x4F, 0x4E, 0x43, 0x45, 0x21, 0x21, 0x21];
        let reply = Self::with_cid(BROADCAST_CID).request(token, env, cmd::INIT, &nonce)?;
        if reply.command != cmd::INIT {
            return Err(HostError::Malformed("INIT response"));
        }
        let init = InitResponse::parse(&nonce, &reply.payload)?
            .ok_or(HostError::Malformed("INIT response"))?;
        Ok(Self::with_cid(init.cid))
    }

    /// Writes one message's reports and returns everything the token sent meanwhile.
    pub fn send(
        &self,
        token: &mut Token,
        env: &mut TestEnv,
        command: u8,
        payload: &[u8],
    ) -> Vec<Report> {
        super::seeds::request(self.cid, command, payload);
        // Tests send oversized messages on purpose: those are cut as `fragment` cuts them.
        fragment(self.cid, command, payload)
            .iter()
            .flat_map(|r| token.handle_report(env, r))
            .collect()
    }

    /// Sends a request and waits (ticking the token, advancing the clock) for the response.
    pub fn request(
        &self,
        token: &mut Token,
        env: &mut TestEnv,
        command: u8,
        payload: &[u8],
    ) -> Result<HidResponse, HostError> {
        let sent = self.send(token, env, command, payload);
        self.receive(token, env, sent)
    }

    /// Waits for a response, starting with reports already received.
    pub fn receive(
        &self,
        token: &mut Token,
        env: &mut TestEnv,
        mut reports: Vec<Report>,
    ) -> Result<HidResponse, HostError> {
        let mut rx = ResponseReader::new(self.cid);
        let mut keepalives = Vec::new();
        let mut waited = 0;
        loop {
            for r in &reports {
                match rx.feed(r)? {
                    Received::Nothing => {}
                    Received::Keepalive(status) => keepalives.push(status),
                    Received::Message { command, payload } => {
                        return Ok(HidResponse {
                            command,
                            payload,
                            keepalives,
                            waited_ms: waited,
                        });
                    }
                }
            }
            if waited >= self.limit_ms {
                return Err(HostError::NoResponse);
            }
            env.clock.advance(self.tick_ms);
            waited += self.tick_ms;
            reports = token.tick(env);
        }
    }

    /// Sends a CTAP2 command with optional CBOR parameters; returns the status byte and body.
    pub fn ctap2(
        &self,
        token: &mut Token,
        env: &mut TestEnv,
        command: u8,
        params: Option<&Value>,
    ) -> Result<(u8, Option<Value>), HostError> {
        let mut payload = vec![command];
        if let Some(p) = params {
            payload.extend_from_slice(&cbor::encode(p));
        }
        let reply = self.request(token, env, cmd::CBOR, &payload)?;
        if reply.command != cmd::CBOR {
            return Err(HostError::Malformed("not a CBOR response"));
        }
        let (status, body) = host::split_cbor(&reply.payload)?;
        match body {
            None => Ok((status, None)),
            Some(body) => {
                super::seeds::response(body);
                let value =
                    cbor::decode(body).map_err(|_| HostError::Malformed("response CBOR"))?;
                Ok((status, Some(value)))
            }
        }
    }
}
