//! The transaction trace a host reads for its debug log: one entry per finished CBOR or MSG
//! transaction, with the command and status, and a bound on what is kept uncollected.

use firmware_sim::ctaphid::{MAX_KEPT_TRANSACTIONS, cmd};
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{StatusCode, Token, TokenConfig, ctap2_command};

#[test]
fn finished_transactions_are_recorded_with_their_status() {
    let mut env = TestEnv::new(7);
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert!(
        token.take_transactions().is_empty(),
        "INIT is not a CTAP transaction"
    );
    let (status, _) = host
        .ctap2(&mut token, &mut env, ctap2_command::GET_INFO, None)
        .unwrap();
    assert_eq!(status, 0);
    // A command the key does not know.
    let (status, _) = host.ctap2(&mut token, &mut env, 0x7f, None).unwrap();
    assert_eq!(status, StatusCode::InvalidCommand.as_u8());
    let t = token.take_transactions();
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(
        (t[0].cid, t[0].command, t[0].operation, t[0].status),
        (host.cid(), cmd::CBOR, ctap2_command::GET_INFO, 0)
    );
    assert_eq!(t[1].operation, 0x7f);
    assert_eq!(t[1].status, u16::from(StatusCode::InvalidCommand.as_u8()));
    assert!(
        t.iter()
            .all(|t| !t.waited_for_user && t.finished_ms >= t.started_ms)
    );
    assert!(token.take_transactions().is_empty(), "taken once");
    assert_eq!(
        ctap2_command::name(ctap2_command::GET_INFO),
        "authenticatorGetInfo"
    );
}

#[test]
fn an_uncollected_trace_is_bounded() {
    let mut env = TestEnv::new(8);
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    for _ in 0..MAX_KEPT_TRANSACTIONS + 10 {
        host.ctap2(&mut token, &mut env, ctap2_command::GET_INFO, None)
            .unwrap();
    }
    assert_eq!(token.take_transactions().len(), MAX_KEPT_TRANSACTIONS);
}
