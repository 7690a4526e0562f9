//! Regression: U2F_VERSION as python-fido2 and libfido2 send it — extended length with an
//! explicit empty body, `00 03 00 00 | 00 00 00 | 00 00` (Lc = 0, then Le) — must answer
//! "U2F_V2". The U2F raw message format encodes every request with a 3-byte extended Lc,
//! including a zero one; both client libraries (and real keys) accept it. Found by the
//! python-fido2 judge over the daemon's socket (`Ctap1.get_version()` got SW 0x6700).

mod common;

use common::setup;
use firmware_sim::TokenConfig;
use firmware_sim::ctaphid::cmd;

#[test]
fn u2f_version_with_zero_extended_lc_and_le_answers_u2f_v2() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let apdu = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    let reply = host.request(&mut token, &mut env, cmd::MSG, &apdu).unwrap();
    assert_eq!(reply.command, cmd::MSG);
    assert_eq!(reply.payload, b"U2F_V2\x90\x00".to_vec());
    // A zero Lc followed by anything but a 2-byte Le is still malformed.
    let bad = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
    let reply = host.request(&mut token, &mut env, cmd::MSG, &bad).unwrap();
    assert_eq!(reply.payload, vec![0x67, 0x00]);
}
