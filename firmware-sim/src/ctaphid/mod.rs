//! CTAPHID, the USB HID binding of CTAP (CTAP 2.1 §11.2): packets, commands, errors, framing.
//!
//! An initialization packet is `CID (4) | CMD | 0x80 (1) | BCNT (2, big-endian) | DATA (57)`; a
//! continuation packet is `CID (4) | SEQ (1, 0..=0x7F) | DATA (59)`. A message therefore holds at
//! most 57 + 128 × 59 = 7609 bytes.
//!
//! The device side is the channel engine (`channels`); the host side, without I/O, is [`host`].

mod assembler;
pub(crate) mod channels;
pub mod host;

pub(crate) use assembler::{Assembled, Assembler};

/// Size of every HID report.
pub const REPORT_LEN: usize = 64;
/// One 64-byte HID report.
pub type Report = [u8; REPORT_LEN];
/// Data bytes in an initialization packet.
pub const INIT_DATA_LEN: usize = REPORT_LEN - 7;
/// Data bytes in a continuation packet.
pub const CONT_DATA_LEN: usize = REPORT_LEN - 5;
/// The longest CTAPHID message.
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + 128 * CONT_DATA_LEN;
/// The broadcast channel, only for INIT.
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// CTAPHID protocol version reported by INIT.
pub const PROTOCOL_VERSION: u8 = 2;

/// One finished CTAPHID_CBOR or CTAPHID_MSG transaction, as the token records it for its
/// host's debug log ([`crate::Token::take_transactions`]): what was asked and how it ended,
/// never a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    /// The channel.
    pub cid: u32,
    /// The CTAPHID command ([`cmd::CBOR`] or [`cmd::MSG`]).
    pub command: u8,
    /// The CTAP2 command byte (CBOR), or the APDU's INS byte (MSG).
    pub operation: u8,
    /// The CTAP2 status byte (CBOR), or the status word (MSG).
    pub status: u16,
    /// When the request was complete (the token's monotonic ms).
    pub started_ms: u64,
    /// When the response was sent.
    pub finished_ms: u64,
    /// Whether the transaction waited for the user.
    pub waited_for_user: bool,
}

/// How many finished transactions a token keeps for its host to collect; older ones are
/// dropped (a host that never collects them costs a bounded amount of memory).
pub const MAX_KEPT_TRANSACTIONS: usize = 64;

/// CTAPHID command codes (without the 0x80 init-packet bit).
pub mod cmd {
    /// Echo the payload.
    pub const PING: u8 = 0x01;
    /// A CTAP1/U2F APDU.
    pub const MSG: u8 = 0x03;
    /// Lock the device to one channel for some seconds.
    pub const LOCK: u8 = 0x04;
    /// Allocate or resynchronise a channel.
    pub const INIT: u8 = 0x06;
    /// Identify the device visually.
    pub const WINK: u8 = 0x08;
    /// A CTAP2 CBOR request.
    pub const CBOR: u8 = 0x10;
    /// Cancel the channel's pending CBOR request.
    pub const CANCEL: u8 = 0x11;
    /// The device is still working (device to host).
    pub const KEEPALIVE: u8 = 0x3B;
    /// An error (device to host).
    pub const ERROR: u8 = 0x3F;
}

/// CTAPHID_ERROR codes.
pub mod err {
    /// The command in the request is invalid.
    pub const INVALID_CMD: u8 = 0x01;
    /// A parameter in the request is invalid.
    pub const INVALID_PAR: u8 = 0x02;
    /// The length (BCNT) is invalid for the request.
    pub const INVALID_LEN: u8 = 0x03;
    /// The sequence number is not the expected one.
    pub const INVALID_SEQ: u8 = 0x04;
    /// A multi-packet message was not completed in time.
    pub const MSG_TIMEOUT: u8 = 0x05;
    /// The device is busy with another channel.
    pub const CHANNEL_BUSY: u8 = 0x06;
    /// The command requires a channel lock.
    pub const LOCK_REQUIRED: u8 = 0x0A;
    /// The channel id is not valid.
    pub const INVALID_CHANNEL: u8 = 0x0B;
    /// Unspecified error.
    pub const OTHER: u8 = 0x7F;
}

/// KEEPALIVE status bytes.
pub mod keepalive {
    /// The device is processing the request.
    pub const STATUS_PROCESSING: u8 = 1;
    /// The device is waiting for user presence.
    pub const STATUS_UPNEEDED: u8 = 2;
}

/// Capability flags reported by INIT.
pub mod capability {
    /// Implements WINK.
    pub const WINK: u8 = 0x01;
    /// Implements CBOR.
    pub const CBOR: u8 = 0x04;
    /// Does NOT implement MSG.
    pub const NMSG: u8 = 0x08;
}

/// Splits a message into the HID reports that carry it (at least one, zero-padded).
///
/// The payload must not exceed [`MAX_MESSAGE_LEN`]; longer payloads are cut there (the token
/// never produces one).
pub fn fragment(cid: u32, command: u8, payload: &[u8]) -> Vec<[u8; REPORT_LEN]> {
    let payload = &payload[..payload.len().min(MAX_MESSAGE_LEN)];
    let mut reports = Vec::with_capacity(
        1 + payload
            .len()
            .saturating_sub(INIT_DATA_LEN)
            .div_ceil(CONT_DATA_LEN),
    );
    let mut first = [0u8; REPORT_LEN];
    first[..4].copy_from_slice(&cid.to_be_bytes());
    first[4] = 0x80 | command;
    first[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    let n = payload.len().min(INIT_DATA_LEN);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    reports.push(first);
    for (seq, chunk) in payload[n..].chunks(CONT_DATA_LEN).enumerate() {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = seq as u8;
        r[5..5 + chunk.len()].copy_from_slice(chunk);
        reports.push(r);
    }
    reports
}

/// The single report of a CTAPHID_ERROR.
pub(crate) fn error_report(cid: u32, code: u8) -> [u8; REPORT_LEN] {
    fragment(cid, cmd::ERROR, &[code])[0]
}

/// The single report of a KEEPALIVE.
pub(crate) fn keepalive_report(cid: u32, status: u8) -> [u8; REPORT_LEN] {
    fragment(cid, cmd::KEEPALIVE, &[status])[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_layout() {
        let r = fragment(0x01020304, cmd::PING, &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(&r[0][..7], &[1, 2, 3, 4, 0x81, 0, 0]);

        let payload: Vec<u8> = (0..200u8).collect();
        let r = fragment(7, cmd::CBOR, &payload);
        assert_eq!(r.len(), 4); // 57 + 59 + 59 + 25
        assert_eq!(&r[0][4..7], &[0x90, 0, 200]);
        assert_eq!(&r[0][7..], &payload[..57]);
        assert_eq!(r[1][4], 0);
        assert_eq!(&r[1][5..], &payload[57..116]);
        assert_eq!(r[3][4], 2);
        assert_eq!(&r[3][5..30], &payload[175..]);
        assert!(r[3][30..].iter().all(|b| *b == 0));

        let max = vec![0xAA; MAX_MESSAGE_LEN];
        let r = fragment(7, cmd::PING, &max);
        assert_eq!(r.len(), 129);
        assert_eq!(r[128][4], 0x7F);
        assert_eq!(MAX_MESSAGE_LEN, 7609);
    }
}
