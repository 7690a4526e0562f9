//! The host side of CTAPHID (CTAP 2.1 §11.2), without I/O: the reports of a request, the INIT
//! exchange, and the reassembly of the device's answer on one channel (keepalives, error frames,
//! sequence checks). Every host-side client of the project (the WebAuthn client, the real-key
//! commands, the test hosts, in-process or over a socket, UDP or hidraw) is built on this; the
//! I/O around it lives with each caller.

use thiserror::Error;

use super::{BROADCAST_CID, CONT_DATA_LEN, INIT_DATA_LEN, MAX_MESSAGE_LEN, REPORT_LEN, Report};
use super::{cmd, fragment};

/// The length of the INIT nonce.
pub const NONCE_LEN: usize = 8;

/// What went wrong on the host's channel.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The device answered with CTAPHID_ERROR and this code (see [`super::err`]).
    #[error("CTAPHID error 0x{0:02X}")]
    Hid(u8),
    /// The device's answer broke the framing rules.
    #[error("malformed CTAPHID response: {0}")]
    Malformed(&'static str),
    /// A request longer than a CTAPHID message can carry.
    #[error("a {0}-byte message is longer than CTAPHID carries ({MAX_MESSAGE_LEN} bytes)")]
    TooLong(usize),
}

/// The reports that carry `payload` as `command` on channel `cid`; refuses what CTAPHID cannot
/// carry instead of cutting it.
pub fn request_reports(cid: u32, command: u8, payload: &[u8]) -> Result<Vec<Report>, HostError> {
    if payload.len() > MAX_MESSAGE_LEN {
        return Err(HostError::TooLong(payload.len()));
    }
    Ok(fragment(cid, command, payload))
}

/// The single report of an INIT request on the broadcast channel.
pub fn init_request(nonce: &[u8; NONCE_LEN]) -> Report {
    fragment(BROADCAST_CID, cmd::INIT, nonce)[0]
}

/// A device's answer to INIT (CTAP 2.1 §11.2.9.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitResponse {
    /// The channel allocated to the host.
    pub cid: u32,
    /// CTAPHID protocol version (2).
    pub protocol_version: u8,
    /// Device version: major, minor, build.
    pub device_version: [u8; 3],
    /// Capability flags (see [`super::capability`]).
    pub capabilities: u8,
}

impl InitResponse {
    /// Reads an INIT answer to `nonce`; a different nonce is another host's answer (`None`).
    pub fn parse(nonce: &[u8; NONCE_LEN], payload: &[u8]) -> Result<Option<Self>, HostError> {
        if payload.len() < 17 {
            return Err(HostError::Malformed("short INIT response"));
        }
        if payload[..NONCE_LEN] != nonce[..] {
            return Ok(None);
        }
        let cid = u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]);
        if cid == 0 || cid == BROADCAST_CID {
            return Err(HostError::Malformed("INIT allocated a reserved channel"));
        }
        Ok(Some(Self {
            cid,
            protocol_version: payload[12],
            device_version: [payload[13], payload[14], payload[15]],
            capabilities: payload[16],
        }))
    }

    /// Whether the device implements WINK.
    pub fn has_wink(&self) -> bool {
        self.capabilities & super::capability::WINK != 0
    }

    /// Whether the device implements CBOR (CTAP2).
    pub fn has_cbor(&self) -> bool {
        self.capabilities & super::capability::CBOR != 0
    }
}

/// What one report did to the answer being read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Not for this channel, or a part of a longer message: keep reading.
    Nothing,
    /// A KEEPALIVE with this status (see [`super::keepalive`]): the device is still at work.
    Keepalive(u8),
    /// The complete answer: its command (without the 0x80 bit) and payload.
    Message {
        /// The response command.
        command: u8,
        /// The response payload.
        payload: Vec<u8>,
    },
}

/// Reassembles the device's answer on one channel, report by report.
#[derive(Debug)]
pub struct ResponseReader {
    cid: u32,
    command: u8,
    expected: usize,
    next_seq: u8,
    data: Vec<u8>,
    started: bool,
}

impl ResponseReader {
    /// A reader of the answers on channel `cid`.
    pub fn new(cid: u32) -> Self {
        Self {
            cid,
            command: 0,
            expected: 0,
            next_seq: 0,
            data: Vec::new(),
            started: false,
        }
    }

    /// The channel read.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// Feeds one report from the device. Reports of other channels are ignored (on hidraw every
    /// reader sees every report); a CTAPHID_ERROR on this channel is [`HostError::Hid`].
    pub fn feed(&mut self, report: &Report) -> Result<Received, HostError> {
        if report[..4] != self.cid.to_be_bytes() {
            return Ok(Received::Nothing);
        }
        if report[4] & 0x80 != 0 {
            let command = report[4] & 0x7F;
            let len = usize::from(u16::from_be_bytes([report[5], report[6]]));
            match command {
                cmd::KEEPALIVE => return Ok(Received::Keepalive(report[7])),
                cmd::ERROR => return Err(HostError::Hid(report[7])),
                _ => {}
            }
            if len > MAX_MESSAGE_LEN {
                return Err(HostError::Malformed("BCNT beyond the longest message"));
            }
            self.command = command;
            self.expected = len;
            self.next_seq = 0;
            self.data = report[7..7 + len.min(INIT_DATA_LEN)].to_vec();
            self.started = true;
        } else {
            if !self.started {
                return Err(HostError::Malformed("continuation before an init packet"));
            }
            if report[4] != self.next_seq {
                return Err(HostError::Malformed("continuation out of sequence"));
            }
            self.next_seq = self.next_seq.wrapping_add(1);
            let n = (self.expected - self.data.len()).min(CONT_DATA_LEN);
            self.data.extend_from_slice(&report[5..5 + n]);
        }
        if self.data.len() == self.expected {
            self.started = false;
            return Ok(Received::Message {
                command: self.command,
                payload: std::mem::take(&mut self.data),
            });
        }
        Ok(Received::Nothing)
    }
}

/// Splits a CBOR answer into its status byte and body (`None` for a status alone).
pub fn split_cbor(payload: &[u8]) -> Result<(u8, Option<&[u8]>), HostError> {
    let (&status, body) = payload
        .split_first()
        .ok_or(HostError::Malformed("empty CBOR response"))?;
    Ok((status, (!body.is_empty()).then_some(body)))
}

const _: () = assert!(REPORT_LEN == 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_fragment_writes_across_keepalives_and_other_channels() {
        for len in [0usize, 1, 57, 58, 200, MAX_MESSAGE_LEN] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 3) as u8).collect();
            let mut reader = ResponseReader::new(7);
            assert_eq!(
                reader.feed(&fragment(7, cmd::KEEPALIVE, &[2])[0]),
                Ok(Received::Keepalive(2))
            );
            assert_eq!(
                reader.feed(&fragment(8, cmd::PING, &[1])[0]),
                Ok(Received::Nothing)
            );
            let reports = fragment(7, cmd::CBOR, &payload);
            let mut last = Received::Nothing;
            for r in &reports {
                last = reader.feed(r).unwrap();
            }
            assert_eq!(
                last,
                Received::Message {
                    command: cmd::CBOR,
                    payload
                }
            );
        }
    }

    #[test]
    fn errors_and_broken_framing_are_reported() {
        let mut reader = ResponseReader::new(7);
        assert_eq!(
            reader.feed(&fragment(7, cmd::ERROR, &[0x06])[0]),
            Err(HostError::Hid(0x06))
        );
        let reports = fragment(7, cmd::CBOR, &[0u8; 200]);
        assert!(matches!(
            reader.feed(&reports[1]),
            Err(HostError::Malformed(_))
        ));
        reader.feed(&reports[0]).unwrap();
        assert!(matches!(
            reader.feed(&reports[2]),
            Err(HostError::Malformed(_))
        ));
        assert_eq!(
            request_reports(1, cmd::CBOR, &vec![0; MAX_MESSAGE_LEN + 1]),
            Err(HostError::TooLong(MAX_MESSAGE_LEN + 1))
        );
    }

    #[test]
    fn init_answers_are_matched_by_nonce() {
        let nonce = *b"abcdefgh";
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&[0, 0, 0, 9, 2, 1, 2, 3, 0x05]);
        let r = InitResponse::parse(&nonce, &payload).unwrap().unwrap();
        assert_eq!(r.cid, 9);
        assert_eq!(r.device_version, [1, 2, 3]);
        assert!(r.has_wink() && r.has_cbor());
        assert_eq!(InitResponse::parse(b"otherone", &payload), Ok(None));
        assert!(InitResponse::parse(&nonce, &payload[..16]).is_err());
        payload[8..12].copy_from_slice(&[0xFF; 4]);
        assert!(InitResponse::parse(&nonce, &payload).is_err());
        assert_eq!(
            &init_request(&nonce)[..7],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0, 8]
        );
    }
}
