//! Protocol selection (CTAP 2.0 / CTAP 2.1 / U2F only) and built-in user verification that
//! fails, over real CTAPHID framing.

mod common;

use ciborium::value::Value;
use common::*;
use firmware_sim::ctaphid::{BROADCAST_CID, cmd};
use firmware_sim::env::PresenceStatus;
use firmware_sim::testing::{HidHost, HostError, ScriptedPresence, TestEnv};
use firmware_sim::{Protocol, Token, TokenConfig};

const RP: &str = "example.com";

/// The capability byte of a CTAPHID_INIT response.
fn capabilities(token: &mut Token, env: &mut TestEnv) -> u8 {
    let nonce = [9u8; 8];
    let reply = HidHost::with_cid(BROADCAST_CID)
        .request(token, env, cmd::INIT, &nonce)
        .unwrap();
    assert_eq!(reply.command, cmd::INIT);
    assert_eq!(reply.payload.len(), 17);
    reply.payload[16]
}

/// U2F VERSION over CTAPHID_MSG: the payload and status word.
fn u2f_version(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> Vec<u8> {
    let reply = host
        .request(
            token,
            env,
            cmd::MSG,
            &[0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00],
        )
        .unwrap();
    assert_eq!(reply.command, cmd::MSG);
    reply.payload
}

fn versions(info: &Value) -> Vec<String> {
    match get(info, 1).unwrap() {
        Value::Array(a) => a.iter().map(as_text).collect(),
        other => panic!("{other:?}"),
    }
}

fn config(protocol: Protocol) -> TokenConfig {
    TokenConfig {
        protocol,
        ..TokenConfig::default()
    }
}

#[test]
fn ctap2_1_is_the_default_and_keeps_todays_behaviour() {
    assert_eq!(TokenConfig::default().protocol, Protocol::Ctap2_1);
    assert_eq!(Protocol::default(), Protocol::Ctap2_1);
    let (mut token, mut env, host) = setup(config(Protocol::Ctap2_1));
    assert_eq!(
        capabilities(&mut token, &mut env),
        0x01 | 0x04,
        "WINK | CBOR"
    );
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(versions(&info.unwrap()), ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    assert_eq!(u2f_version(&mut token, &mut env, &host), b"U2F_V2\x90\x00");
}

#[test]
fn ctap2_0_reports_fido_2_0_and_only_ctap_2_0_members() {
    let (mut token, mut env, host) = setup(TokenConfig {
        user_verification: true,
        ..config(Protocol::Ctap2_0)
    });
    // CBOR and MSG are both implemented: CBOR set, NMSG clear.
    assert_eq!(capabilities(&mut token, &mut env), 0x01 | 0x04);
    let (status, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(status, OK);
    let info = info.unwrap();
    assert_eq!(versions(&info), ["U2F_V2", "FIDO_2_0"]);
    let keys: Vec<i128> = match &info {
        Value::Map(m) => m.iter().map(|(k, _)| as_int(k)).collect(),
        _ => panic!(),
    };
    assert_eq!(keys, [1, 3, 4, 5], "CTAP 2.0 getInfo members only");
    let options = get(&info, 4).unwrap();
    assert_eq!(tget(options, "uv"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "makeCredUvNotRqd"), None, "a CTAP 2.1 option");

    // Registration and sign-in work as before; authenticatorSelection is CTAP 2.1's.
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let ga = Ga::new(RP).allow(&reg.id);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    let (status, _) = host.ctap2(&mut token, &mut env, SELECTION, None).unwrap();
    assert_eq!(status, 0x01, "CTAP1_ERR_INVALID_COMMAND");
    assert_eq!(u2f_version(&mut token, &mut env, &host), b"U2F_V2\x90\x00");
}

#[test]
fn u2f_only_has_no_cbor() {
    let (mut token, mut env, host) = setup(config(Protocol::U2f));
    // WINK only: CBOR clear, and NMSG clear because CTAPHID_MSG is implemented.
    assert_eq!(capabilities(&mut token, &mut env), 0x01);
    for command in [INFO, MC, GA] {
        assert_eq!(
            host.ctap2(&mut token, &mut env, command, None),
            Err(HostError::Hid(0x01)),
            "CTAPHID_CBOR is ERR_INVALID_CMD"
        );
    }
    assert_eq!(u2f_version(&mut token, &mut env, &host), b"U2F_V2\x90\x00");
    // U2F register still works (and writes the token's first-boot state only).
    let mut data = vec![1u8; 32];
    data.extend_from_slice(&[2u8; 32]);
    let mut apdu = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
    apdu.extend_from_slice(&data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let reply = host.request(&mut token, &mut env, cmd::MSG, &apdu).unwrap();
    assert_eq!(&reply.payload[reply.payload.len() - 2..], &[0x90, 0x00]);
    assert_eq!(reply.payload[0], 0x05);
    // PING and WINK are unaffected.
    let reply = host
        .request(&mut token, &mut env, cmd::PING, b"hello")
        .unwrap();
    assert_eq!(reply.payload, b"hello");
}

fn uv_token() -> (Token, TestEnv, HidHost) {
    setup(TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    })
}

#[test]
fn failed_built_in_uv_denies_requests_that_asked_for_it() {
    let (mut token, mut env, host) = uv_token();
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();

    env.presence = ScriptedPresence::not_verifying();
    let mut mc = Mc::new(RP, b"u2");
    mc.rk = Some(true);
    mc.uv = Some(true);
    let (status, body) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x27, "CTAP2_ERR_OPERATION_DENIED");
    assert!(body.is_none());
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.uv = Some(true);
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, 0x27);
    // No credential, no counter step: only the UV retries went down (two failures).
    let without_pin_state = |s: std::collections::BTreeMap<(String, Vec<u8>), Vec<u8>>| {
        s.into_iter()
            .filter(|((ns, k), _)| !(ns == "meta" && k == b"pin-state"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_pin_state(env.store.snapshot()),
        without_pin_state(before.clone()),
        "no credential, no counter step"
    );
    assert_eq!(uv_retries(&mut token, &mut env, &host), 6);
    assert!(env.presence.requests().iter().all(|r| r.user_verification));

    // After some waiting, too: the keepalives say the token wanted the user.
    env.presence = ScriptedPresence::approving();
    env.presence.script([
        PresenceStatus::Pending,
        PresenceStatus::Pending,
        PresenceStatus::NotVerified,
    ]);
    let mut payload = vec![GA];
    let mut bytes_ = Vec::new();
    ciborium::ser::into_writer(&ga.value(), &mut bytes_).unwrap();
    payload.extend_from_slice(&bytes_);
    let reply = host
        .request(&mut token, &mut env, cmd::CBOR, &payload)
        .unwrap();
    assert_eq!(reply.payload, [0x27]);
    assert!(!reply.keepalives.is_empty());

    // A verified request afterwards succeeds, and its counter is the next one.
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(ad.flags, 0x05, "UP | UV");
    assert_eq!(ad.sign_count, 1);
    assert_eq!(
        uv_retries(&mut token, &mut env, &host),
        8,
        "verified: all back"
    );
}

/// authenticatorClientPIN getUVRetries.
fn uv_retries(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> i128 {
    let req = imap(vec![(1, int(2)), (2, int(7))]);
    let (status, body) = host.ctap2(token, env, 0x06, Some(&req)).unwrap();
    assert_eq!(status, OK);
    as_int(get(&body.unwrap(), 5).unwrap())
}

#[test]
fn failed_uv_is_an_ordinary_touch_when_no_uv_was_asked() {
    let (mut token, mut env, host) = uv_token();
    env.presence = ScriptedPresence::not_verifying();
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    assert_eq!(reg.auth_data.flags, 0x41, "UP | AT, no UV");
    let ga = Ga::new(RP).allow(&reg.id);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(
        assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash).flags,
        0x01
    );

    // The exclude list's touch, selection and reset do not ask for UV either.
    let mut mc = Mc::new(RP, b"v");
    mc.exclude = vec![reg.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED");
    let (status, _) = host.ctap2(&mut token, &mut env, SELECTION, None).unwrap();
    assert_eq!(status, OK);
    let (status, _) = host.ctap2(&mut token, &mut env, RESET, None).unwrap();
    assert_eq!(status, OK);

    // U2F never asks for UV: register succeeds.
    let mut apdu = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
    apdu.extend_from_slice(&[3u8; 64]);
    apdu.extend_from_slice(&[0x00, 0x00]);
    let reply = host.request(&mut token, &mut env, cmd::MSG, &apdu).unwrap();
    assert_eq!(&reply.payload[reply.payload.len() - 2..], &[0x90, 0x00]);
}
