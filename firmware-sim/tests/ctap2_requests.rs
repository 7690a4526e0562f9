//! CTAP2 requests checked end to end over CTAPHID: options, pinUvAuthParam without a protocol,
//! malformed CBOR, unknown commands, reset, selection and a full key store.

mod common;

use ciborium::value::Value;
use common::pin_key::{ga_status, mc_status};
use common::*;
use firmware_sim::TokenConfig;
use firmware_sim::env::{PresencePurpose, PresenceStatus};
use firmware_sim::testing::{HidHost, ScriptedPresence};

const RP: &str = "example.com";

#[test]
fn options_are_checked() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let requests = env.presence.requests().len();
    let mut mc = Mc::new(RP, b"u");
    mc.up = Some(false);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), 0x2C);
    let mut mc = Mc::new(RP, b"u");
    mc.uv = Some(true);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), 0x2C);
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.uv = Some(true);
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), 0x2C);
    let mut v = Ga::new(RP).allow(&reg.id).value();
    if let Value::Map(e) = &mut v {
        e.push((int(5), tmap(vec![("rk", Value::Bool(true))])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, GA, Some(&v)).unwrap().0,
        0x2B
    );
    // Unknown options are ignored.
    let mut v = Mc::new(RP, b"u").value();
    if let Value::Map(e) = &mut v {
        e.push((int(7), tmap(vec![("xyz", Value::Bool(true))])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        OK
    );
    assert_eq!(env.presence.requests().len(), requests + 1);
    assert_eq!(
        env.store.count("rk"),
        before.keys().filter(|(ns, _)| ns == "rk").count()
    );

    let config = TokenConfig {
        resident_keys: false,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let mut mc = Mc::new(RP, b"u");
    mc.rk = Some(true);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), 0x2B);
}

#[test]
fn pin_uv_auth_params_are_refused_without_a_protocol() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut v = Mc::new(RP, b"u").value();
    if let Value::Map(e) = &mut v {
        e.push((int(8), bytes(&[0; 16])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x14
    );
    if let Value::Map(e) = &mut v {
        e.push((int(9), int(3)));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x02,
        "an unsupported protocol"
    );
    assert!(env.presence.requests().is_empty());
    assert_eq!(env.store.count("rk"), 0);
    // A CTAP 2.0 key has no PIN/UV auth protocol at all.
    let config = TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    if let Value::Map(e) = &mut v {
        e.retain(|(k, _)| *k != int(9));
        e.push((int(9), int(1)));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x02
    );
    assert!(env.presence.requests().is_empty());
}

/// Sends raw CTAP2 bytes and returns the status.
fn raw_status(
    token: &mut firmware_sim::Token,
    env: &mut firmware_sim::testing::TestEnv,
    host: &HidHost,
    payload: &[u8],
) -> u8 {
    let reply = host
        .request(token, env, firmware_sim::ctaphid::cmd::CBOR, payload)
        .unwrap();
    assert_eq!(reply.payload.len(), 1, "errors have no body");
    reply.payload[0]
}

#[test]
fn malformed_cbor_gets_the_right_error_and_changes_nothing() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    // Give the store some state first.
    make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let requests = env.presence.requests().len();
    let good = firmware_sim::cbor::encode(&Mc::new(RP, b"u").value());
    let cases: Vec<(&str, Vec<u8>, u8)> = vec![
        ("truncated", good[..good.len() - 3].to_vec(), 0x12),
        ("trailing byte", [&good[..], &[0x00]].concat(), 0x12),
        ("not CBOR at all", vec![0xFF, 0xFF], 0x12),
        ("no parameters", vec![], 0x12),
        ("not a map", vec![0x83, 0x01, 0x02, 0x03], 0x11),
        ("integer", vec![0x01], 0x11),
        // {2: {}, 1: h'00'}: keys out of order.
        (
            "unsorted keys",
            vec![0xA2, 0x02, 0xA0, 0x01, 0x41, 0x00],
            0x12,
        ),
        // {1: h'00', 1: h'00'}: duplicate key.
        (
            "duplicate keys",
            vec![0xA2, 0x01, 0x41, 0x00, 0x01, 0x41, 0x00],
            0x12,
        ),
        // {1: ...} with the key 1 encoded on two bytes.
        (
            "non-minimal integer",
            vec![0xA1, 0x18, 0x01, 0x41, 0x00],
            0x12,
        ),
        // Indefinite-length map.
        ("indefinite map", vec![0xBF, 0x01, 0x41, 0x00, 0xFF], 0x12),
    ];
    for (what, body, expected) in cases {
        let status = raw_status(&mut token, &mut env, &host, &[&[MC][..], &body].concat());
        assert_eq!(status, expected, "makeCredential: {what}");
        let status = raw_status(&mut token, &mut env, &host, &[&[GA][..], &body].concat());
        assert_eq!(status, expected, "getAssertion: {what}");
    }

    // Missing mandatory parameters and wrong types.
    let mc = Mc::new(RP, b"u").value();
    let without = |key: i64| -> Value {
        match &mc {
            Value::Map(e) => {
                Value::Map(e.iter().filter(|(k, _)| *k != int(key)).cloned().collect())
            }
            _ => unreachable!(),
        }
    };
    let replace = |key: i64, v: Value| -> Value {
        match &mc {
            Value::Map(e) => Value::Map(
                e.iter()
                    .map(|(k, old)| {
                        (
                            k.clone(),
                            if *k == int(key) {
                                v.clone()
                            } else {
                                old.clone()
                            },
                        )
                    })
                    .collect(),
            ),
            _ => unreachable!(),
        }
    };
    let cases: Vec<(&str, Value, u8)> = vec![
        ("no clientDataHash", without(1), 0x14),
        ("no rp", without(2), 0x14),
        ("no user", without(3), 0x14),
        ("no pubKeyCredParams", without(4), 0x14),
        (
            "rp without id",
            replace(2, tmap(vec![("name", text("x"))])),
            0x14,
        ),
        (
            "user without id",
            replace(3, tmap(vec![("name", text("x"))])),
            0x14,
        ),
        (
            "param without alg",
            replace(
                4,
                Value::Array(vec![tmap(vec![("type", text("public-key"))])]),
            ),
            0x14,
        ),
        ("clientDataHash as text", replace(1, text("abc")), 0x11),
        ("rp as text", replace(2, text(RP)), 0x11),
        (
            "rp id as bytes",
            replace(2, tmap(vec![("id", bytes(b"x"))])),
            0x11,
        ),
        (
            "user id as text",
            replace(3, tmap(vec![("id", text("x"))])),
            0x11,
        ),
        (
            "user name as int",
            replace(3, tmap(vec![("id", bytes(b"x")), ("name", int(3))])),
            0x11,
        ),
        ("pubKeyCredParams as map", replace(4, tmap(vec![])), 0x11),
        (
            "alg as text",
            replace(
                4,
                Value::Array(vec![tmap(vec![
                    ("alg", text("-7")),
                    ("type", text("public-key")),
                ])]),
            ),
            0x11,
        ),
        (
            "option as int",
            imap(vec![
                (1, bytes(&cdh("x"))),
                (2, tmap(vec![("id", text(RP))])),
                (3, tmap(vec![("id", bytes(b"u"))])),
                (
                    4,
                    Value::Array(vec![tmap(vec![
                        ("alg", int(-7)),
                        ("type", text("public-key")),
                    ])]),
                ),
                (7, tmap(vec![("rk", int(1))])),
            ]),
            0x11,
        ),
        (
            "clientDataHash of 31 bytes",
            replace(1, bytes(&[0; 31])),
            0x03,
        ),
        (
            "user id of 65 bytes",
            replace(3, tmap(vec![("id", bytes(&[1; 65]))])),
            0x03,
        ),
        (
            "excludeList entry without id",
            imap(vec![
                (1, bytes(&cdh("x"))),
                (2, tmap(vec![("id", text(RP))])),
                (3, tmap(vec![("id", bytes(b"u"))])),
                (
                    4,
                    Value::Array(vec![tmap(vec![
                        ("alg", int(-7)),
                        ("type", text("public-key")),
                    ])]),
                ),
                (
                    5,
                    Value::Array(vec![tmap(vec![("type", text("public-key"))])]),
                ),
            ]),
            0x14,
        ),
    ];
    for (what, value, expected) in cases {
        let (status, _) = host.ctap2(&mut token, &mut env, MC, Some(&value)).unwrap();
        assert_eq!(status, expected, "makeCredential: {what}");
    }
    let ga_cases: Vec<(&str, Value, u8)> = vec![
        ("no rpId", imap(vec![(2, bytes(&cdh("x")))]), 0x14),
        ("no clientDataHash", imap(vec![(1, text(RP))]), 0x14),
        (
            "rpId as bytes",
            imap(vec![(1, bytes(b"x")), (2, bytes(&cdh("x")))]),
            0x11,
        ),
        (
            "allowList as map",
            imap(vec![
                (1, text(RP)),
                (2, bytes(&cdh("x"))),
                (3, tmap(vec![])),
            ]),
            0x11,
        ),
        (
            "descriptor without type",
            imap(vec![
                (1, text(RP)),
                (2, bytes(&cdh("x"))),
                (3, Value::Array(vec![tmap(vec![("id", bytes(b"x"))])])),
            ]),
            0x14,
        ),
    ];
    for (what, value, expected) in ga_cases {
        let (status, _) = host.ctap2(&mut token, &mut env, GA, Some(&value)).unwrap();
        assert_eq!(status, expected, "getAssertion: {what}");
    }
    assert_eq!(env.store.snapshot(), before, "no state change");
    assert_eq!(
        env.presence.requests().len(),
        requests,
        "no touch requested"
    );
    assert!(token.check_store(&mut env).is_ok());
}

#[test]
fn unknown_ctap2_commands_are_invalid() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for c in [0x00u8, 0x03, 0x05, 0x09, 0x40, 0xFF] {
        let (status, body) = host.ctap2(&mut token, &mut env, c, None).unwrap();
        assert_eq!((status, body), (0x01, None), "command 0x{c:02x}");
    }
    // Served: credential management (and its prototype) and large blobs, which need
    // parameters.
    for c in [0x0Au8, 0x0C, 0x41] {
        let (status, _) = host.ctap2(&mut token, &mut env, c, None).unwrap();
        assert_eq!(status, 0x12, "command 0x{c:02x}: CTAP2_ERR_INVALID_CBOR");
    }
}

#[test]
fn reset_needs_a_touch_within_ten_seconds_of_power_up() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"u");
    mc.rk = Some(true);
    let rk = make_credential(&mut token, &mut env, &host, &mc);
    let nonrk = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"v"));
    host.ctap2(
        &mut token,
        &mut env,
        GA,
        Some(&Ga::new(RP).allow(&nonrk.id).value()),
    )
    .unwrap();
    let ca_before = token.attestation_ca_der(&mut env).unwrap();

    env.clock.advance(10_001);
    let before = env.store.snapshot();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x30
    );
    assert_eq!(env.store.snapshot(), before);

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x27
    );
    env.presence = ScriptedPresence::waiting();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x2F
    );
    assert_eq!(
        env.store.snapshot(),
        before,
        "nothing erased without the touch"
    );

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    env.presence = ScriptedPresence::approving();
    env.presence
        .script([PresenceStatus::Pending, PresenceStatus::Pending]);
    env.clock.advance(9_000);
    let (status, body) = host.ctap2(&mut token, &mut env, RESET, None).unwrap();
    assert_eq!((status, body), (OK, None));
    assert_eq!(
        env.presence.requests().last().unwrap().purpose,
        PresencePurpose::Reset
    );
    assert_eq!(env.store.count("rk"), 0);
    assert_eq!(env.store.count("ctr"), 0);
    for id in [&rk.id, &nonrk.id] {
        let (status, _) = host
            .ctap2(
                &mut token,
                &mut env,
                GA,
                Some(&Ga::new(RP).allow(id).value()),
            )
            .unwrap();
        assert_eq!(status, 0x2E, "credentials are invalid after reset");
    }
    assert_eq!(
        token.attestation_ca_der(&mut env).unwrap(),
        ca_before,
        "the attestation CA stays"
    );
    assert!(token.check_store(&mut env).is_ok());
    // New credentials work after the reset.
    let fresh = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"w"));
    let ga = Ga::new(RP).allow(&fresh.id);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_signed(&body.unwrap(), &fresh.key, &ga.client_data_hash);
}

#[test]
fn selection_waits_for_the_touch() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    env.presence.script([PresenceStatus::Pending; 3]);
    let reply = host
        .request(
            &mut token,
            &mut env,
            firmware_sim::ctaphid::cmd::CBOR,
            &[SELECTION],
        )
        .unwrap();
    assert_eq!(reply.payload, vec![OK]);
    assert!(!reply.keepalives.is_empty());
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        host.ctap2(&mut token, &mut env, SELECTION, None).unwrap().0,
        0x27
    );
}

#[test]
fn the_key_store_fills_up() {
    let config = TokenConfig {
        max_resident_credentials: 2,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    for user in [b"a", b"b"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        make_credential(&mut token, &mut env, &host, &mc);
    }
    let mut mc = Mc::new(RP, b"c");
    mc.rk = Some(true);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), 0x28);
    // Replacing an existing user's credential still works when full.
    let mut mc = Mc::new(RP, b"a");
    mc.rk = Some(true);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), OK);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(info.as_ref().unwrap(), 20).unwrap()), 0);
}
