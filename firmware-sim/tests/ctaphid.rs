//! CTAPHID framing and channel behaviour, spoken as raw 64-byte reports.

mod common;

use common::*;
use firmware_sim::ctaphid::{BROADCAST_CID, MAX_MESSAGE_LEN, cmd, err, fragment};
use firmware_sim::env::PresenceStatus;
use firmware_sim::testing::{HidHost, HostError, ScriptedPresence, TestEnv};
use firmware_sim::{Report, Token, TokenConfig};

fn report(bytes: &[u8]) -> Report {
    let mut r = [0u8; 64];
    r[..bytes.len()].copy_from_slice(bytes);
    r
}

fn init_packet(cid: u32, command: u8, bcnt: u16, data: &[u8]) -> Report {
    let mut r = [0u8; 64];
    r[..4].copy_from_slice(&cid.to_be_bytes());
    r[4] = 0x80 | command;
    r[5..7].copy_from_slice(&bcnt.to_be_bytes());
    r[7..7 + data.len()].copy_from_slice(data);
    r
}

fn cont_packet(cid: u32, seq: u8, data: &[u8]) -> Report {
    let mut r = [0u8; 64];
    r[..4].copy_from_slice(&cid.to_be_bytes());
    r[4] = seq;
    r[5..5 + data.len()].copy_from_slice(data);
    r
}

fn is_error(r: &Report, cid: u32, code: u8) -> bool {
    r[..4] == cid.to_be_bytes() && r[4] == 0x80 | cmd::ERROR && r[5..7] == [0, 1] && r[7] == code
}

fn fresh() -> (Token, TestEnv) {
    let mut env = TestEnv::new(7);
    let token = Token::new(TokenConfig::default(), &mut env);
    (token, env)
}

#[test]
fn init_allocates_distinct_channels_and_reports_the_device() {
    let (mut token, mut env) = fresh();
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    let out = token.handle_report(&mut env, &init_packet(BROADCAST_CID, cmd::INIT, 8, &nonce));
    assert_eq!(out.len(), 1);
    let r = out[0];
    assert_eq!(&r[..4], &BROADCAST_CID.to_be_bytes());
    assert_eq!(r[4], 0x86);
    assert_eq!(&r[5..7], &[0, 17]);
    assert_eq!(&r[7..15], &nonce);
    let cid1 = u32::from_be_bytes(r[15..19].try_into().unwrap());
    assert_ne!(cid1, 0);
    assert_ne!(cid1, BROADCAST_CID);
    assert_eq!(r[19], 2, "CTAPHID protocol version");
    assert_eq!(&r[20..23], &[0, 1, 0], "device version");
    assert_eq!(r[23], 0x01 | 0x04, "WINK | CBOR, NMSG clear");
    assert!(r[24..].iter().all(|b| *b == 0));

    let out = token.handle_report(&mut env, &init_packet(BROADCAST_CID, cmd::INIT, 8, &nonce));
    let cid2 = u32::from_be_bytes(out[0][15..19].try_into().unwrap());
    assert_ne!(cid1, cid2);
}

#[test]
fn init_with_wrong_length_or_on_bad_channels_is_rejected() {
    let (mut token, mut env) = fresh();
    let out = token.handle_report(&mut env, &init_packet(BROADCAST_CID, cmd::INIT, 7, &[0; 7]));
    assert!(is_error(&out[0], BROADCAST_CID, err::INVALID_LEN));
    let out = token.handle_report(&mut env, &init_packet(0, cmd::INIT, 8, &[0; 8]));
    assert!(is_error(&out[0], 0, err::INVALID_CHANNEL));
    // A never-allocated channel.
    let out = token.handle_report(&mut env, &init_packet(0x1234_5678, cmd::INIT, 8, &[0; 8]));
    assert!(is_error(&out[0], 0x1234_5678, err::INVALID_CHANNEL));
}

#[test]
fn ping_echoes_single_multi_packet_and_maximum_messages() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    for len in [0usize, 1, 57, 58, 1000, MAX_MESSAGE_LEN] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let reply = host
            .request(&mut token, &mut env, cmd::PING, &payload)
            .unwrap();
        assert_eq!(reply.command, cmd::PING);
        assert_eq!(reply.payload, payload, "len {len}");
    }
}

#[test]
fn wink_answers_and_is_counted() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let reply = host.request(&mut token, &mut env, cmd::WINK, &[]).unwrap();
    assert_eq!((reply.command, reply.payload.len()), (cmd::WINK, 0));
    assert_eq!(token.wink_count(), 1);
    assert_eq!(
        host.request(&mut token, &mut env, cmd::WINK, &[1]),
        Err(HostError::Hid(err::INVALID_LEN))
    );
    assert_eq!(token.wink_count(), 1);
}

#[test]
fn unknown_and_vendor_commands_are_invalid() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    for c in [0x02u8, 0x05, 0x3B, 0x3F, 0x41, 0x7F] {
        assert_eq!(
            host.request(&mut token, &mut env, c, &[]),
            Err(HostError::Hid(err::INVALID_CMD)),
            "command 0x{c:02x}"
        );
    }
}

#[test]
fn commands_on_reserved_broadcast_or_unallocated_channels_fail() {
    let (mut token, mut env) = fresh();
    let _ = HidHost::connect(&mut token, &mut env).unwrap();
    let out = token.handle_report(&mut env, &init_packet(0, cmd::PING, 0, &[]));
    assert!(is_error(&out[0], 0, err::INVALID_CHANNEL));
    let out = token.handle_report(&mut env, &init_packet(BROADCAST_CID, cmd::PING, 0, &[]));
    assert!(is_error(&out[0], BROADCAST_CID, err::INVALID_CHANNEL));
    let out = token.handle_report(&mut env, &init_packet(0x0BAD_CAFE, cmd::PING, 0, &[]));
    assert!(is_error(&out[0], 0x0BAD_CAFE, err::INVALID_CHANNEL));
}

#[test]
fn oversized_bcnt_is_rejected() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let out = token.handle_report(
        &mut env,
        &init_packet(
            host.cid(),
            cmd::PING,
            (MAX_MESSAGE_LEN + 1) as u16,
            &[0; 57],
        ),
    );
    assert_eq!(out.len(), 1);
    assert!(is_error(&out[0], host.cid(), err::INVALID_LEN));
    // Nothing is being received: a continuation is silently ignored, and the channel works.
    assert!(
        token
            .handle_report(&mut env, &cont_packet(host.cid(), 0, &[0; 59]))
            .is_empty()
    );
    assert!(host.request(&mut token, &mut env, cmd::PING, b"ok").is_ok());
}

#[test]
fn wrong_sequence_aborts_the_message() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let cid = host.cid();
    assert!(
        token
            .handle_report(&mut env, &init_packet(cid, cmd::PING, 200, &[1; 57]))
            .is_empty()
    );
    assert!(
        token
            .handle_report(&mut env, &cont_packet(cid, 0, &[1; 59]))
            .is_empty()
    );
    let out = token.handle_report(&mut env, &cont_packet(cid, 2, &[1; 59]));
    assert_eq!(out.len(), 1);
    assert!(is_error(&out[0], cid, err::INVALID_SEQ));
    // The rest of the abandoned message is ignored; the channel starts afresh.
    assert!(
        token
            .handle_report(&mut env, &cont_packet(cid, 3, &[1; 59]))
            .is_empty()
    );
    let reply = host
        .request(&mut token, &mut env, cmd::PING, &[9; 100])
        .unwrap();
    assert_eq!(reply.payload, vec![9; 100]);
}

#[test]
fn spurious_continuation_packets_are_ignored() {
    let (mut token, mut env) = fresh();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert!(
        token
            .handle_report(&mut env, &cont_packet(host.cid(), 0, &[0; 59]))
            .is_empty()
    );
    assert!(
        token
            .handle_report(&mut env, &report(&[0, 0, 0, 0, 5]))
            .is_empty()
    );
}

#[test]
fn a_second_channel_is_busy_while_a_message_is_being_received() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    let b = HidHost::connect(&mut token, &mut env).unwrap();
    let msg: Vec<u8> = (0..150).map(|i| i as u8).collect();
    let packets = fragment(a.cid(), cmd::PING, &msg);
    assert!(token.handle_report(&mut env, &packets[0]).is_empty());
    let out = token.handle_report(&mut env, &init_packet(b.cid(), cmd::PING, 2, b"hi"));
    assert_eq!(out.len(), 1);
    assert!(is_error(&out[0], b.cid(), err::CHANNEL_BUSY));
    // B's stray continuation packet is refused too, and A is not disturbed.
    let out = token.handle_report(&mut env, &cont_packet(b.cid(), 0, &[0; 59]));
    assert!(is_error(&out[0], b.cid(), err::CHANNEL_BUSY));
    let mut outs = Vec::new();
    for p in &packets[1..] {
        outs.extend(token.handle_report(&mut env, p));
    }
    let reply = a.receive(&mut token, &mut env, outs).unwrap();
    assert_eq!(reply.payload, msg);
    assert!(b.request(&mut token, &mut env, cmd::PING, b"now").is_ok());
}

#[test]
fn a_new_request_in_the_middle_of_a_message_is_an_invalid_sequence() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    assert!(
        token
            .handle_report(&mut env, &init_packet(a.cid(), cmd::PING, 100, &[1; 57]))
            .is_empty()
    );
    let out = token.handle_report(&mut env, &init_packet(a.cid(), cmd::PING, 1, &[2]));
    assert!(is_error(&out[0], a.cid(), err::INVALID_SEQ));
}

#[test]
fn a_stalled_message_times_out() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    let b = HidHost::connect(&mut token, &mut env).unwrap();
    assert!(
        token
            .handle_report(&mut env, &init_packet(a.cid(), cmd::PING, 100, &[1; 57]))
            .is_empty()
    );
    let timeout = token.config().message_timeout_ms;
    assert_eq!(token.next_deadline(), Some(env.clock.now() + timeout));
    env.clock.advance(timeout - 1);
    assert!(token.tick(&mut env).is_empty());
    env.clock.advance(1);
    let out = token.tick(&mut env);
    assert_eq!(out.len(), 1);
    assert!(is_error(&out[0], a.cid(), err::MSG_TIMEOUT));
    assert_eq!(token.next_deadline(), None);
    // The late continuation is ignored; B is no longer busy.
    assert!(
        token
            .handle_report(&mut env, &cont_packet(a.cid(), 0, &[1; 59]))
            .is_empty()
    );
    assert!(b.request(&mut token, &mut env, cmd::PING, b"free").is_ok());
}

#[test]
fn the_timeout_is_also_reported_when_the_next_packet_arrives_late() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    assert!(
        token
            .handle_report(&mut env, &init_packet(a.cid(), cmd::PING, 100, &[1; 57]))
            .is_empty()
    );
    env.clock.advance(10_000);
    let out = token.handle_report(&mut env, &cont_packet(a.cid(), 0, &[1; 59]));
    assert_eq!(out.len(), 1);
    assert!(is_error(&out[0], a.cid(), err::MSG_TIMEOUT));
}

#[test]
fn lock_gives_one_channel_exclusive_access_for_a_while() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    let b = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(
        a.request(&mut token, &mut env, cmd::LOCK, &[11]),
        Err(HostError::Hid(err::INVALID_PAR))
    );
    assert_eq!(
        a.request(&mut token, &mut env, cmd::LOCK, &[]),
        Err(HostError::Hid(err::INVALID_LEN))
    );
    let reply = a.request(&mut token, &mut env, cmd::LOCK, &[2]).unwrap();
    assert_eq!((reply.command, reply.payload.len()), (cmd::LOCK, 0));
    assert_eq!(
        b.request(&mut token, &mut env, cmd::PING, b"x"),
        Err(HostError::Hid(err::CHANNEL_BUSY))
    );
    let out = token.handle_report(&mut env, &init_packet(BROADCAST_CID, cmd::INIT, 8, &[0; 8]));
    assert!(is_error(&out[0], BROADCAST_CID, err::CHANNEL_BUSY));
    assert!(a.request(&mut token, &mut env, cmd::PING, b"mine").is_ok());
    env.clock.advance(2_000);
    assert!(b.request(&mut token, &mut env, cmd::PING, b"x").is_ok());
    // LOCK 0 releases at once.
    a.request(&mut token, &mut env, cmd::LOCK, &[10]).unwrap();
    a.request(&mut token, &mut env, cmd::LOCK, &[0]).unwrap();
    assert!(b.request(&mut token, &mut env, cmd::PING, b"x").is_ok());
}

#[test]
fn empty_cbor_message_is_invalid_length() {
    let (mut token, mut env) = fresh();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(
        a.request(&mut token, &mut env, cmd::CBOR, &[]),
        Err(HostError::Hid(err::INVALID_LEN))
    );
}

/// Starts a makeCredential that waits for the user; returns the reports sent so far.
fn start_waiting_make_credential(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
) -> Vec<Report> {
    let mut payload = vec![MC];
    payload.extend(firmware_sim::cbor::encode(
        &Mc::new("example.com", b"u").value(),
    ));
    host.send(token, env, cmd::CBOR, &payload)
}

#[test]
fn waiting_for_presence_sends_keepalives_and_keeps_other_channels_out() {
    let (mut token, mut env) = fresh();
    env.presence = ScriptedPresence::waiting();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    let b = HidHost::connect(&mut token, &mut env).unwrap();
    let out = start_waiting_make_credential(&mut token, &mut env, &a);
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0][..8],
        &[&a.cid().to_be_bytes()[..], &[0xBB, 0, 1, 2]].concat()[..]
    );
    assert!(token.is_waiting_for_user());

    // Keepalives keep coming, never more than 100 ms apart, when ticked every 10 ms.
    let mut last = env.clock.now();
    for _ in 0..100 {
        env.clock.advance(10);
        for r in token.tick(&mut env) {
            assert_eq!(
                &r[..8],
                &[&a.cid().to_be_bytes()[..], &[0xBB, 0, 1, 2]].concat()[..]
            );
            assert!(env.clock.now() - last <= 100);
            last = env.clock.now();
        }
    }
    assert!(env.clock.now() - last <= 100);

    // Other channels are busy; their CANCEL is ignored.
    assert_eq!(
        b.request(&mut token, &mut env, cmd::PING, b"x"),
        Err(HostError::Hid(err::CHANNEL_BUSY))
    );
    assert!(
        token
            .handle_report(&mut env, &init_packet(b.cid(), cmd::CANCEL, 0, &[]))
            .is_empty()
    );
    assert!(token.is_waiting_for_user());
    // The owner's own new requests are refused too.
    let out = token.handle_report(&mut env, &init_packet(a.cid(), cmd::PING, 1, &[1]));
    assert!(is_error(&out[0], a.cid(), err::CHANNEL_BUSY));

    // CANCEL from the owner ends it with CTAP2_ERR_KEEPALIVE_CANCEL, and nothing was stored.
    let before = env.store.snapshot();
    let out = token.handle_report(&mut env, &init_packet(a.cid(), cmd::CANCEL, 0, &[]));
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0][..8],
        &[&a.cid().to_be_bytes()[..], &[0x90, 0, 1, 0x2D]].concat()[..]
    );
    assert!(!token.is_waiting_for_user());
    assert_eq!(env.store.snapshot(), before);
    assert!(b.request(&mut token, &mut env, cmd::PING, b"x").is_ok());
    let id = env.presence.requests()[0].id;
    assert!(env.presence.finished_ids().contains(&id));
}

#[test]
fn presence_arriving_later_completes_the_request() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    env.presence.script([PresenceStatus::Pending; 20]);
    let reply = host
        .request(
            &mut token,
            &mut env,
            cmd::CBOR,
            &[
                &[MC][..],
                &firmware_sim::cbor::encode(&Mc::new("example.com", b"u").value()),
            ]
            .concat(),
        )
        .unwrap();
    assert_eq!(reply.payload[0], OK);
    assert!(reply.keepalives.len() >= 2);
    assert!(reply.keepalives.iter().all(|s| *s == 2));
}

#[test]
fn init_on_a_busy_channel_aborts_its_transaction() {
    let (mut token, mut env) = fresh();
    env.presence = ScriptedPresence::waiting();
    let a = HidHost::connect(&mut token, &mut env).unwrap();
    let b = HidHost::connect(&mut token, &mut env).unwrap();
    start_waiting_make_credential(&mut token, &mut env, &a);
    let nonce = [9u8; 8];
    let out = token.handle_report(&mut env, &init_packet(a.cid(), cmd::INIT, 8, &nonce));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..4], &a.cid().to_be_bytes());
    assert_eq!(out[0][4], 0x86);
    assert_eq!(&out[0][7..15], &nonce);
    assert_eq!(&out[0][15..19], &a.cid().to_be_bytes(), "same channel kept");
    assert!(!token.is_waiting_for_user());
    // Even if the user now touches, no response for the aborted request ever comes.
    env.presence.set_default(PresenceStatus::Approved);
    for _ in 0..10 {
        env.clock.advance(50);
        assert!(token.tick(&mut env).is_empty());
    }
    assert_eq!(env.store.count("rk") + env.store.count("ctr"), 0);
    assert!(b.request(&mut token, &mut env, cmd::PING, b"x").is_ok());
}

#[test]
fn unanswered_presence_times_out_and_denial_is_reported() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    env.presence = ScriptedPresence::waiting();
    let (status, _) = host
        .ctap2(
            &mut token,
            &mut env,
            MC,
            Some(&Mc::new("example.com", b"u").value()),
        )
        .unwrap();
    assert_eq!(
        status, 0x27,
        "makeCredential: a timeout is CTAP2_ERR_OPERATION_DENIED"
    );
    assert!(env.clock.now() >= 30_000);
    let started = env.clock.now();
    let (status, _) = host.ctap2(&mut token, &mut env, SELECTION, None).unwrap();
    assert_eq!(status, 0x2F, "selection: CTAP2_ERR_USER_ACTION_TIMEOUT");
    assert!(env.clock.now() - started >= 30_000);
    env.presence = ScriptedPresence::denying();
    let (status, _) = host
        .ctap2(
            &mut token,
            &mut env,
            MC,
            Some(&Mc::new("example.com", b"u").value()),
        )
        .unwrap();
    assert_eq!(status, 0x27, "CTAP2_ERR_OPERATION_DENIED");
    assert_eq!(env.store.count("rk"), 0);
}

#[test]
fn responses_only_ever_go_to_the_requesting_channel() {
    let (mut token, mut env) = fresh();
    let hosts: Vec<HidHost> = (0..3)
        .map(|_| HidHost::connect(&mut token, &mut env).unwrap())
        .collect();
    for (i, h) in hosts.iter().enumerate() {
        let payload = vec![i as u8; 300];
        let out = h.send(&mut token, &mut env, cmd::PING, &payload);
        assert!(!out.is_empty());
        assert!(out.iter().all(|r| r[..4] == h.cid().to_be_bytes()));
        let mut outs = Vec::new();
        let (status, _) = h.ctap2(&mut token, &mut env, INFO, None).unwrap();
        assert_eq!(status, OK);
        outs.extend(h.send(&mut token, &mut env, cmd::CBOR, &[INFO]));
        assert!(outs.iter().all(|r| r[..4] == h.cid().to_be_bytes()));
    }
}

#[test]
fn power_cycle_drops_channels_and_pending_work_but_keeps_credentials() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new("example.com", b"user");
    mc.rk = Some(true);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    env.presence = ScriptedPresence::waiting();
    start_waiting_make_credential(&mut token, &mut env, &host);
    assert!(token.is_waiting_for_user());
    token.power_cycle(&mut env);
    assert!(!token.is_waiting_for_user());
    assert_eq!(token.next_deadline(), None);
    assert_eq!(
        host.request(&mut token, &mut env, cmd::PING, b"x"),
        Err(HostError::Hid(err::INVALID_CHANNEL))
    );
    env.presence = ScriptedPresence::approving();
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let ga = Ga::new("example.com");
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(credential_id_of(body.as_ref().unwrap()), reg.id);
    assert_eq!(env.store.count("rk"), 1);
}

#[test]
fn framing_errors_change_nothing() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new("example.com", b"u");
    mc.rk = Some(true);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    let other = HidHost::connect(&mut token, &mut env).unwrap();
    let cid = host.cid();
    let cases: Vec<(&str, Vec<Report>, u32, u8)> = vec![
        (
            "BCNT over 7609",
            vec![init_packet(cid, cmd::CBOR, 7610, &[MC])],
            cid,
            err::INVALID_LEN,
        ),
        (
            "reserved channel",
            vec![init_packet(0, cmd::CBOR, 1, &[INFO])],
            0,
            err::INVALID_CHANNEL,
        ),
        (
            "unallocated channel",
            vec![init_packet(0x7777, cmd::CBOR, 1, &[INFO])],
            0x7777,
            err::INVALID_CHANNEL,
        ),
        (
            "broadcast CBOR",
            vec![init_packet(BROADCAST_CID, cmd::CBOR, 1, &[RESET])],
            BROADCAST_CID,
            err::INVALID_CHANNEL,
        ),
        (
            "unknown command",
            vec![init_packet(cid, 0x55, 0, &[])],
            cid,
            err::INVALID_CMD,
        ),
        (
            "wrong sequence",
            vec![
                init_packet(cid, cmd::CBOR, 100, &[RESET]),
                cont_packet(cid, 1, &[0; 59]),
            ],
            cid,
            err::INVALID_SEQ,
        ),
        (
            "other channel mid-message",
            vec![
                init_packet(cid, cmd::CBOR, 100, &[RESET]),
                init_packet(other.cid(), cmd::CBOR, 1, &[RESET]),
            ],
            other.cid(),
            err::CHANNEL_BUSY,
        ),
        (
            "INIT with 9 bytes",
            vec![init_packet(cid, cmd::INIT, 9, &[0; 9])],
            cid,
            err::INVALID_LEN,
        ),
        (
            "LOCK for 11 s",
            vec![init_packet(cid, cmd::LOCK, 1, &[11])],
            cid,
            err::INVALID_PAR,
        ),
    ];
    for (what, reports, err_cid, code) in cases {
        let before = env.store.snapshot();
        let polls = env.presence.polls();
        let mut out = Vec::new();
        for r in &reports {
            out.extend(token.handle_report(&mut env, r));
        }
        assert!(
            out.iter().any(|r| is_error(r, err_cid, code)),
            "{what}: expected error 0x{code:02x}"
        );
        // Let any half-received message expire.
        env.clock.advance(1_000);
        token.tick(&mut env);
        assert_eq!(env.store.snapshot(), before, "{what}: store unchanged");
        assert_eq!(env.presence.polls(), polls, "{what}: nobody asked to touch");
        assert!(!token.is_waiting_for_user());
    }
    // Everything still works, and the credential is intact.
    let (status, body) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new("example.com").value()),
        )
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(credential_id_of(body.as_ref().unwrap()), reg.id);
}
