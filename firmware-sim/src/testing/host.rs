//! A host-side CTAPHID client that drives a [`Token`] in-process, advancing a [`TestEnv`]'s
//! clock while it waits (as a platform would while the user is asked to touch the key).

use ciborium::value::Value;
use thiserror::Error;

use super::TestEnv;
use crate::cbor;
use crate::ctaphid::Report;
use crate::ctaphid::{BROADCAST_CID, REPORT_LEN, cmd, fragment};
use crate::token::Token;

/// Failure seen by the host.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
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

/// Reassembles the reports of one channel.
#[derive(Debug, Default)]
struct Receiver {
    command: u8,
    expected: usize,
    next_seq: u8,
    data: Vec<u8>,
    started: bool,
    keepalives: Vec<u8>,
}

impl Receiver {
    /// Feeds one report; returns the completed message, if any.
    fn feed(&mut self, cid: u32, report: &Report) -> Result<Option<(u8, Vec<u8>)>, HostError> {
        if report[..4] != cid.to_be_bytes() {
            return Ok(None);
        }
        if report[4] & 0x80 != 0 {
            let command = report[4] & 0x7F;
            let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
            if command == cmd::KEEPALIVE {
                self.keepalives.push(report[7]);
                return Ok(None);
            }
            if command == cmd::ERROR {
                return Err(HostError::Hid(report[7]));
            }
            self.command = command;
            self.expected = len;
            self.next_seq = 0;
            self.data = report[7..7 + len.min(REPORT_LEN - 7)].to_vec();
            self.started = true;
        } else {
            if !self.started {
                return Err(HostError::Malformed("continuation before init packet"));
            }
            if report[4] != self.next_seq {
                return Err(HostError::Malformed("sequence out of order"));
            }
            self.next_seq += 1;
            let n = (self.expected - self.data.len()).min(REPORT_LEN - 5);
            self.data.extend_from_slice(&report[5..5 + n]);
        }
        if self.data.len() == self.expected {
            self.started = false;
            return Ok(Some((self.command, std::mem::take(&mut self.data))));
        }
        Ok(None)
    }
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
        if reply.command != cmd::INIT || reply.payload.len() < 17 || reply.payload[..8] != nonce {
            return Err(HostError::Malformed("INIT response"));
        }
        let cid = u32::from_be_bytes([
            reply.payload[8],
            reply.payload[9],
            reply.payload[10],
            reply.payload[11],
        ]);
        Ok(Self::with_cid(cid))
    }

    /// Writes one message's reports and returns everything the token sent meanwhile.
    pub fn send(
        &self,
        token: &mut Token,
        env: &mut TestEnv,
        command: u8,
        payload: &[u8],
    ) -> Vec<Report> {
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
        let mut rx = Receiver::default();
        let mut waited = 0;
        loop {
            for r in &reports {
                if let Some((command, payload)) = rx.feed(self.cid, r)? {
                    return Ok(HidResponse {
                        command,
                        payload,
                        keepalives: rx.keepalives,
                        waited_ms: waited,
                    });
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
        let (&status, body) = reply
            .payload
            .split_first()
            .ok_or(HostError::Malformed("empty CBOR response"))?;
        if body.is_empty() {
            return Ok((status, None));
        }
        let value = cbor::decode(body).map_err(|_| HostError::Malformed("response CBOR"))?;
        Ok((status, Some(value)))
    }
}
