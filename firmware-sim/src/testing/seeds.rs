//! Seed capture for the fuzz corpora: with `FIRMWARE_SIM_FUZZ_SEEDS=DIR` set, every message a
//! [`HidHost`](super::HidHost) sends (and every CTAP2 response body it reads) is written under
//! DIR, one file per distinct message, in the input format of the harness in
//! [`fuzz`](super::fuzz) that takes it. Unset (always, but when collecting seeds), this does
//! nothing. (Test support only: the token itself does no I/O.)

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use crate::ctaphid::{BROADCAST_CID, cmd, fragment};

/// The directory seeds go to, when collecting.
fn dir() -> Option<PathBuf> {
    std::env::var_os("FIRMWARE_SIM_FUZZ_SEEDS").map(PathBuf::from)
}

fn write(target: &str, data: &[u8]) {
    let Some(dir) = dir() else { return };
    let dir = dir.join(target);
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    // Best effort: seed capture never fails a test.
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{:016x}", h.finish())), data);
}

/// Records one request message sent on channel `cid`.
pub(super) fn request(cid: u32, command: u8, payload: &[u8]) {
    if dir().is_none() || cid == BROADCAST_CID {
        return;
    }
    // CTAPHID: INIT on broadcast (selector 0), then the message on the channel it gave
    // (selector 1).
    let mut reports = vec![0u8];
    reports.extend(fragment(BROADCAST_CID, cmd::INIT, b"NONCE!!!")[0]);
    for r in fragment(cid, command, payload) {
        reports.push(1);
        reports.extend(r);
    }
    write("ctaphid", &reports);
    match command {
        cmd::CBOR => {
            write("ctap2_commands", payload);
            if payload.len() > 1 {
                write("ctap2_messages", &payload[1..]);
            }
        }
        cmd::MSG => write("ctap1_apdus", payload),
        _ => {}
    }
}

/// Records a CTAP2 response body (the host side decodes it).
pub(super) fn response(body: &[u8]) {
    write("ctap2_messages", body);
}
