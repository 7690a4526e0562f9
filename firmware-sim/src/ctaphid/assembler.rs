//! Reassembly of one multi-packet CTAPHID message.

use super::{CONT_DATA_LEN, INIT_DATA_LEN, MAX_MESSAGE_LEN, REPORT_LEN};

/// A message being received: started by an init packet, filled by continuation packets.
#[derive(Debug)]
pub(crate) struct Assembler {
    /// The channel sending it.
    pub cid: u32,
    /// The command (without the 0x80 bit).
    pub command: u8,
    expected_len: usize,
    next_seq: u8,
    data: Vec<u8>,
    /// When the last packet of this message arrived.
    pub last_packet_ms: u64,
}

/// What a packet did to an assembly.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Assembled {
    /// More continuation packets are needed.
    Incomplete,
    /// The message is complete.
    Complete(Vec<u8>),
    /// The sequence number was wrong: the message is abandoned.
    BadSequence,
}

impl Assembler {
    /// Starts a message from an init packet; `None` if BCNT exceeds [`MAX_MESSAGE_LEN`].
    pub(crate) fn start(
        cid: u32,
        command: u8,
        bcnt: usize,
        report: &[u8; REPORT_LEN],
        now_ms: u64,
    ) -> Option<(Self, Assembled)> {
        if bcnt > MAX_MESSAGE_LEN {
            return None;
        }
        let n = bcnt.min(INIT_DATA_LEN);
        let mut data = Vec::with_capacity(bcnt);
        data.extend_from_slice(&report[7..7 + n]);
        let a = Self {
            cid,
            command,
            expected_len: bcnt,
            next_seq: 0,
            data,
            last_packet_ms: now_ms,
        };
        if a.data.len() == a.expected_len {
            let msg = a.data.clone();
            Some((a, Assembled::Complete(msg)))
        } else {
            Some((a, Assembled::Incomplete))
        }
    }

    /// Adds a continuation packet of this channel.
    pub(crate) fn push(&mut self, report: &[u8; REPORT_LEN], now_ms: u64) -> Assembled {
        let seq = report[4];
        if seq != self.next_seq {
            return Assembled::BadSequence;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last_packet_ms = now_ms;
        let n = (self.expected_len - self.data.len()).min(CONT_DATA_LEN);
        self.data.extend_from_slice(&report[5..5 + n]);
        if self.data.len() == self.expected_len {
            Assembled::Complete(std::mem::take(&mut self.data))
        } else {
            Assembled::Incomplete
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctaphid::fragment;

    #[test]
    fn reassembles_what_fragment_splits() {
        for len in [0usize, 1, 57, 58, 116, 117, 1000, MAX_MESSAGE_LEN] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let reports = fragment(9, 0x10, &payload);
            let (mut a, mut state) = Assembler::start(9, 0x10, len, &reports[0], 0).unwrap();
            for r in &reports[1..] {
                assert_eq!(state, Assembled::Incomplete);
                state = a.push(r, 1);
            }
            assert_eq!(state, Assembled::Complete(payload), "len {len}");
        }
    }

    #[test]
    fn rejects_bad_sequence_and_oversize() {
        let reports = fragment(9, 0x10, &[1u8; 200]);
        let (mut a, _) = Assembler::start(9, 0x10, 200, &reports[0], 0).unwrap();
        assert_eq!(a.push(&reports[2], 1), Assembled::BadSequence);
        assert!(Assembler::start(9, 0x10, MAX_MESSAGE_LEN + 1, &reports[0], 0).is_none());
    }
}
