//! CTAP 2.1 PIN management (authenticatorClientPIN setPIN, changePIN, retries and blocking,
//! key agreement, power cuts) over real CTAPHID framing, with the platform's side of both PIN/UV
//! auth protocols written by the test (tests/common/pin.rs). Each refusal is checked to change
//! nothing it must not: the store, the retries, the token's validity. Tokens and permissions are
//! in pin_tokens.rs, authenticatorConfig and reset in pin_config.rs.

mod common;

use common::pin::*;
use common::pin_key::*;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{SecretPin, Token, TokenConfig};

#[test]
fn set_pin_with_either_protocol_then_get_info_says_so() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        let options = info_options(&mut token, &mut env, &host);
        assert_eq!(
            tget(&options, "clientPin"),
            Some(&ciborium::Value::Bool(false))
        );
        assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        let options = info_options(&mut token, &mut env, &host);
        assert_eq!(
            tget(&options, "clientPin"),
            Some(&ciborium::Value::Bool(true))
        );
        assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
        // The PIN works with both protocols whichever set it.
        for p in PROTOCOLS {
            assert!(pin_token(&mut token, &mut env, &host, p, PIN, None, None).is_ok());
        }
        // The store holds the PIN's hash, never the PIN.
        let snapshot = env.store.snapshot();
        let all: Vec<u8> = snapshot.values().flatten().copied().collect();
        assert!(!all.windows(4).any(|w| w == PIN.as_bytes()));
    }
}

#[test]
fn set_pin_when_a_pin_exists_is_pin_auth_invalid_and_changes_nothing() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = with_pin(protocol);
        let before = env.store.snapshot();
        assert_eq!(
            set_pin(&mut token, &mut env, &host, protocol, "5678"),
            PIN_AUTH_INVALID
        );
        assert_eq!(env.store.snapshot(), before);
        assert!(pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).is_ok());
        assert_eq!(
            pin_token(&mut token, &mut env, &host, protocol, "5678", None, None),
            Err(PIN_INVALID)
        );
    }
}

#[test]
fn the_pin_policy_counts_code_points_and_bytes() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        info(&mut token, &mut env, &host); // first boot
        let before = env.store.snapshot();
        for (pin, what) in [
            (b"123".to_vec(), "three code points"),
            ("ééé".as_bytes().to_vec(), "three code points in six bytes"),
            (vec![b'7'; 64], "64 bytes: no room for the terminating zero"),
            (vec![0xC3, 0x28, 0x41, 0x42], "not UTF-8"),
        ] {
            let mut padded = pin.clone();
            padded.resize(64, 0);
            assert_eq!(
                set_pin_bytes(&mut token, &mut env, &host, protocol, &padded),
                PIN_POLICY_VIOLATION,
                "{what}"
            );
            assert_eq!(env.store.snapshot(), before, "{what}: nothing stored");
        }
        // A padded PIN must be 64 bytes.
        let mut short = b"123456".to_vec();
        short.resize(48, 0);
        assert_eq!(
            set_pin_bytes(&mut token, &mut env, &host, protocol, &short),
            INVALID_PARAMETER
        );
        assert_eq!(env.store.snapshot(), before);
        // Four two-byte code points, and 63 bytes, are fine.
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, "éééé"), OK);
        assert!(pin_token(&mut token, &mut env, &host, protocol, "éééé", None, None).is_ok());
        let long = "x".repeat(63);
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, "éééé", &long),
            OK
        );
        assert!(pin_token(&mut token, &mut env, &host, protocol, &long, None, None).is_ok());
    }
}

#[test]
fn malformed_set_pin_requests_get_their_status_and_set_nothing() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    info(&mut token, &mut env, &host); // first boot
    let before = env.store.snapshot();
    let mut s = Session::new(&mut token, &mut env, &host, 2);
    let enc = s.encrypt(&padded(PIN.as_bytes()));
    let param = s.authenticate(&enc);
    let good = vec![
        (1, int(2)),
        (2, int(3)),
        (3, s.platform_key.clone()),
        (4, bytes(&param)),
        (5, bytes(&enc)),
    ];
    let without = |k: i64| good.iter().filter(|(key, _)| *key != k).cloned().collect();
    for (members, expected, what) in [
        (without(3), MISSING_PARAMETER, "no keyAgreement"),
        (without(4), MISSING_PARAMETER, "no pinUvAuthParam"),
        (without(5), MISSING_PARAMETER, "no newPinEnc"),
        (without(1), MISSING_PARAMETER, "no protocol"),
    ] {
        assert_eq!(
            client_pin(&mut token, &mut env, &host, members).0,
            expected,
            "{what}"
        );
    }
    let mut bad_protocol = good.clone();
    bad_protocol[0] = (1, int(3));
    assert_eq!(
        client_pin(&mut token, &mut env, &host, bad_protocol).0,
        INVALID_PARAMETER
    );
    let mut bad_mac = good.clone();
    bad_mac[3] = (4, bytes(&[0; 32]));
    assert_eq!(
        client_pin(&mut token, &mut env, &host, bad_mac).0,
        PIN_AUTH_INVALID
    );
    let mut off_curve = good.clone();
    off_curve[2] = (
        3,
        imap(vec![
            (1, int(2)),
            (3, int(-25)),
            (-1, int(1)),
            (-2, bytes(&[1; 32])),
            (-3, bytes(&[2; 32])),
        ]),
    );
    assert_eq!(
        client_pin(&mut token, &mut env, &host, off_curve).0,
        INVALID_PARAMETER
    );
    assert_eq!(
        client_pin(&mut token, &mut env, &host, vec![(1, int(2)), (2, int(8))]).0,
        0x3E,
        "CTAP2_ERR_INVALID_SUBCOMMAND"
    );
    assert_eq!(env.store.snapshot(), before);
    assert_eq!(client_pin(&mut token, &mut env, &host, good).0, OK);
}

#[test]
fn no_pin_set_is_pin_not_set_for_tokens_and_change() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        info(&mut token, &mut env, &host); // first boot
        let before = env.store.snapshot();
        assert_eq!(
            pin_token(&mut token, &mut env, &host, protocol, PIN, None, None),
            Err(PIN_NOT_SET)
        );
        assert_eq!(
            pin_token(
                &mut token,
                &mut env,
                &host,
                protocol,
                PIN,
                Some(PERM_MC),
                Some(RP)
            ),
            Err(PIN_NOT_SET)
        );
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, PIN, "5678"),
            PIN_NOT_SET
        );
        assert_eq!(env.store.snapshot(), before);
        assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    }
}

#[test]
fn three_wrong_pins_block_until_a_power_cycle_and_then_the_right_pin_works() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, mut host) = with_pin(protocol);
        let wrong = |token: &mut Token, env: &mut TestEnv, host: &HidHost| {
            pin_token(token, env, host, protocol, "0000", None, None).unwrap_err()
        };
        assert_eq!(wrong(&mut token, &mut env, &host), PIN_INVALID);
        assert_eq!(pin_retries(&mut token, &mut env, &host), (7, Some(false)));
        assert_eq!(wrong(&mut token, &mut env, &host), PIN_INVALID);
        // The third wrong PIN in a row already answers PIN_AUTH_BLOCKED.
        assert_eq!(wrong(&mut token, &mut env, &host), PIN_AUTH_BLOCKED);
        assert_eq!(pin_retries(&mut token, &mut env, &host), (5, Some(true)));
        // Now even the right PIN is refused, and costs nothing.
        assert_eq!(
            pin_token(&mut token, &mut env, &host, protocol, PIN, None, None),
            Err(PIN_AUTH_BLOCKED)
        );
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, PIN, "5678"),
            PIN_AUTH_BLOCKED
        );
        assert_eq!(pin_retries(&mut token, &mut env, &host), (5, Some(true)));

        token.power_cycle(&mut env);
        host = HidHost::connect(&mut token, &mut env).unwrap();
        assert_eq!(pin_retries(&mut token, &mut env, &host), (5, Some(false)));
        assert!(pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).is_ok());
        assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    }
}

#[test]
fn eight_wrong_pins_block_the_pin_for_good_until_reset() {
    let (mut token, mut env, mut host) = with_pin(2);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        for _ in 0..2 {
            statuses
                .push(pin_token(&mut token, &mut env, &host, 2, "0000", None, None).unwrap_err());
            if statuses.len() == 8 {
                break;
            }
        }
        token.power_cycle(&mut env);
        host = HidHost::connect(&mut token, &mut env).unwrap();
        if statuses.len() == 8 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&PIN_BLOCKED));
    assert!(statuses[..7].iter().all(|s| *s == PIN_INVALID));
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 0);
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, None, None),
        Err(PIN_BLOCKED)
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, PIN, "5678"),
        PIN_BLOCKED
    );
    // Only a reset (within 10 s of power-up, with a touch) gives the key back.
    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(host.ctap2(&mut token, &mut env, RESET, None).unwrap().0, OK);
    assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    assert_eq!(
        tget(&info_options(&mut token, &mut env, &host), "clientPin"),
        Some(&ciborium::Value::Bool(false))
    );
}

#[test]
fn the_key_agreement_key_changes_after_a_wrong_pin_and_at_power_up() {
    let (mut token, mut env, mut host) = with_pin(2);
    let key = |token: &mut Token, env: &mut TestEnv, host: &HidHost, p: u8| {
        let (_, body) = client_pin(token, env, host, vec![(1, int(p.into())), (2, int(2))]);
        get(&body.unwrap(), 1).unwrap().clone()
    };
    let first = key(&mut token, &mut env, &host, 2);
    assert_eq!(
        key(&mut token, &mut env, &host, 2),
        first,
        "stable while unused"
    );
    assert_ne!(
        key(&mut token, &mut env, &host, 1),
        first,
        "one per protocol"
    );
    assert!(pin_token(&mut token, &mut env, &host, 2, "0000", None, None).is_err());
    let after_wrong = key(&mut token, &mut env, &host, 2);
    assert_ne!(after_wrong, first);
    // A platform still holding the old key gets nowhere: the shared secret is stale.
    let mut stale = Session::with_key(&first, 2);
    let hash_enc = stale.encrypt(&pin_hash(PIN.as_bytes()));
    let (status, _) = client_pin(
        &mut token,
        &mut env,
        &host,
        vec![
            (1, int(2)),
            (2, int(5)),
            (3, stale.platform_key.clone()),
            (6, bytes(&hash_enc)),
        ],
    );
    assert_eq!(status, PIN_INVALID);
    token.power_cycle(&mut env);
    host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_ne!(key(&mut token, &mut env, &host, 2), after_wrong);
}

#[test]
fn change_pin_replaces_the_pin_and_invalidates_tokens() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = with_pin(protocol);
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        // A wrong current PIN costs a retry and changes nothing else.
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, "0000", "5678"),
            PIN_INVALID
        );
        assert_eq!(pin_retries(&mut token, &mut env, &host).0, 7);
        // A new PIN that breaks the policy: the current PIN was right, retries are back.
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, PIN, "56"),
            PIN_POLICY_VIOLATION
        );
        assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
        assert!(pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).is_ok());
        let t2 = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, PIN, "5678"),
            OK
        );
        for stale in [t, t2] {
            let mc = Mc::new(RP, b"u").with_token(protocol, &stale);
            assert_eq!(
                mc_status(&mut token, &mut env, &host, &mc),
                PIN_AUTH_INVALID
            );
        }
        assert_eq!(
            pin_token(&mut token, &mut env, &host, protocol, PIN, None, None),
            Err(PIN_INVALID)
        );
        assert!(pin_token(&mut token, &mut env, &host, protocol, "5678", None, None).is_ok());
        // Without forcePINChange, "changing" to the same PIN is allowed.
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, "5678", "5678"),
            OK
        );
    }
}

#[test]
fn a_ctap2_0_key_has_no_pin() {
    let (mut token, mut env, host) = setup(TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    let options = info_options(&mut token, &mut env, &host);
    assert_eq!(tget(&options, "clientPin"), None);
    assert_eq!(tget(&options, "pinUvAuthToken"), None);
    let (status, _) = client_pin(&mut token, &mut env, &host, vec![(1, int(1)), (2, int(1))]);
    assert_eq!(status, 0x01, "CTAP1_ERR_INVALID_COMMAND");
    assert_eq!(config(&mut token, &mut env, &host, 2, None, None), 0x01);
}

#[test]
fn an_initial_pin_is_set_at_first_boot_and_set_pin_provisions_one() {
    let (mut token, mut env, host) = setup(TokenConfig {
        initial_pin: Some(SecretPin::new("24680")),
        ..TokenConfig::default()
    });
    assert_eq!(
        tget(&info_options(&mut token, &mut env, &host), "clientPin"),
        Some(&ciborium::Value::Bool(true))
    );
    assert!(pin_token(&mut token, &mut env, &host, 2, "24680", None, None).is_ok());
    assert_eq!(token.pin_retries(&mut env), Ok(Some(8)));
    assert_eq!(
        token.set_pin(&mut env, "13579"),
        Err(firmware_sim::PinError::AlreadySet)
    );
    assert!(
        !format!("{:?}", token.config()).contains("24680"),
        "never shown"
    );

    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(token.pin_retries(&mut env), Ok(None));
    assert_eq!(
        token.set_pin(&mut env, "123"),
        Err(firmware_sim::PinError::Policy { min: 4 })
    );
    assert_eq!(token.set_pin(&mut env, "13579"), Ok(()));
    assert!(pin_token(&mut token, &mut env, &host, 1, "13579", None, None).is_ok());
    assert!(firmware_sim::check_pin("1234").is_ok());
    assert!(firmware_sim::check_pin(&"9".repeat(64)).is_err());
    let u2f = TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    };
    let (mut token, mut env, _) = setup(u2f);
    assert_eq!(
        token.set_pin(&mut env, "13579"),
        Err(firmware_sim::PinError::Unsupported)
    );
}

/// Restores power, replugs and checks the store.
fn recover(token: &mut Token, env: &mut TestEnv) -> HidHost {
    env.store.restore_power();
    token.power_cycle(env);
    token
        .check_store(env)
        .expect("store consistent after the power cut");
    HidHost::connect(token, env).unwrap()
}

fn booted(seed: u64) -> (Token, TestEnv, HidHost) {
    let mut env = TestEnv::new(seed);
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    info(&mut token, &mut env, &host); // first boot
    (token, env, host)
}

#[test]
fn a_power_cut_at_any_write_of_set_pin_leaves_no_pin_or_the_pin() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = booted(7);
        let w0 = env.store.writes();
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        let total = env.store.writes() - w0;
        assert!(total >= 1);
        for n in 1..=total {
            let (mut token, mut env, host) = booted(7);
            env.store.cut_power_at_write(n);
            assert_ne!(
                set_pin(&mut token, &mut env, &host, protocol, PIN),
                OK,
                "n={n}"
            );
            let host = recover(&mut token, &mut env);
            assert_eq!(
                tget(&info_options(&mut token, &mut env, &host), "clientPin"),
                Some(&ciborium::Value::Bool(false)),
                "n={n}: the PIN was not set"
            );
            assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
            assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        }
    }
}

#[test]
fn a_power_cut_at_any_write_of_change_pin_never_gives_retries_back() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = booted(8);
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        let w0 = env.store.writes();
        assert_eq!(
            change_pin(&mut token, &mut env, &host, protocol, PIN, "5678"),
            OK
        );
        let total = env.store.writes() - w0;
        assert_eq!(
            total, 2,
            "the paid attempt, then the new PIN with full retries"
        );
        for n in 1..=total {
            let (mut token, mut env, host) = booted(8);
            assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
            env.store.cut_power_at_write(n);
            assert_eq!(
                change_pin(&mut token, &mut env, &host, protocol, PIN, "5678"),
                0x7F,
                "CTAP1_ERR_OTHER (n={n})"
            );
            let host = recover(&mut token, &mut env);
            let (retries, _) = pin_retries(&mut token, &mut env, &host);
            // Cut at the first write: the attempt was not paid, nothing was checked. At the
            // second: it was paid, and stays paid.
            assert_eq!(retries, if n == 1 { 8 } else { 7 }, "n={n}");
            assert!(
                pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).is_ok(),
                "the old PIN holds (n={n})"
            );
        }
    }
}

#[test]
fn a_power_cut_during_a_pin_check_never_gives_an_attempt_back() {
    let (mut token, mut env, host) = booted(9);
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    // A wrong PIN pays before it is compared: cut there, and nothing was compared.
    env.store.cut_power_at_write(1);
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, "0000", None, None),
        Err(0x7F)
    );
    let host = recover(&mut token, &mut env);
    assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    // A right PIN pays, then gets its retries back: cut the second write, and it stays paid.
    env.store.cut_power_at_write(2);
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, None, None),
        Err(0x7F)
    );
    let mut host = recover(&mut token, &mut env);
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 7);
    // Wrong PINs with a cut after each: the count only ever goes down.
    let mut last = 7;
    for round in 0..6 {
        if round % 2 == 0 {
            env.store.cut_power_at_write(2);
        }
        let _ = pin_token(&mut token, &mut env, &host, 2, "0000", None, None);
        if !env.store.is_powered() {
            host = recover(&mut token, &mut env);
        }
        let (now, _) = pin_retries(&mut token, &mut env, &host);
        assert!(now <= last, "retries went back up: {last} -> {now}");
        last = now;
        if round % 3 == 2 {
            token.power_cycle(&mut env);
            host = HidHost::connect(&mut token, &mut env).unwrap();
        }
    }
    assert!(last < 7);
}
