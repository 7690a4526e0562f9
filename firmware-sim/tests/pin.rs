//! CTAP 2.1 PIN/UV auth (authenticatorClientPIN, pinUvAuthParam in makeCredential and
//! getAssertion) over real CTAPHID framing, with the platform's side of both PIN/UV auth
//! protocols written by the test (tests/common/pin.rs). Each refusal is checked to change
//! nothing it must not: the store, the retries, the token's validity.

mod common;

use common::pin::*;
use common::*;
use firmware_sim::env::PresenceStatus;
use firmware_sim::testing::{HidHost, ScriptedPresence, TestEnv};
use firmware_sim::{SecretPin, Token, TokenConfig};

const RP: &str = "example.com";
const PIN: &str = "1234";
const PROTOCOLS: [u8; 2] = [1, 2];

fn with_pin(protocol: u8) -> (Token, TestEnv, HidHost) {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
    (token, env, host)
}

fn mc_status(token: &mut Token, env: &mut TestEnv, host: &HidHost, mc: &Mc) -> u8 {
    host.ctap2(token, env, MC, Some(&mc.value())).unwrap().0
}

fn ga_status(token: &mut Token, env: &mut TestEnv, host: &HidHost, ga: &Ga) -> u8 {
    host.ctap2(token, env, GA, Some(&ga.value())).unwrap().0
}

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
fn a_token_is_used_up_by_an_operation_with_user_presence() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = with_pin(protocol);
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        let mc = Mc::new(RP, b"u").with_token(protocol, &t);
        let reg = make_credential(&mut token, &mut env, &host, &mc);
        assert_eq!(reg.auth_data.flags & 0x05, 0x05, "UP and UV");
        assert!(
            env.presence
                .requests()
                .last()
                .is_some_and(|r| !r.user_verification),
            "a PIN token does not remember presence: the key asked for a touch"
        );
        // Used up: mc and ga permissions are gone.
        assert_eq!(
            mc_status(&mut token, &mut env, &host, &mc),
            PIN_AUTH_INVALID
        );
        let ga = Ga::new(RP).allow(&reg.id).with_token(protocol, &t);
        assert_eq!(
            ga_status(&mut token, &mut env, &host, &ga),
            PIN_AUTH_INVALID
        );

        // up=false does not use a token up.
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        let mut silent = Ga::new(RP).allow(&reg.id).with_token(protocol, &t);
        silent.up = Some(false);
        for _ in 0..2 {
            let (status, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&silent.value()))
                .unwrap();
            assert_eq!(status, OK);
            let ad = assert_signed(&body.unwrap(), &reg.key, &silent.client_data_hash);
            assert_eq!(ad.flags, 0x04, "UV without UP");
        }
        let ga = Ga::new(RP).allow(&reg.id).with_token(protocol, &t);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        assert_eq!(
            assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash).flags,
            0x05
        );
        assert_eq!(
            ga_status(&mut token, &mut env, &host, &ga),
            PIN_AUTH_INVALID
        );
    }
}

#[test]
fn a_token_without_an_rp_id_is_bound_to_its_first_relying_party() {
    let (mut token, mut env, host) = with_pin(2);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    let mut silent = Ga::new(RP).with_token(2, &t);
    silent.up = Some(false);
    // No credential, but the token is checked (and bound) first.
    assert_eq!(ga_status(&mut token, &mut env, &host, &silent), 0x2E);
    let mut other = Ga::new("other.example").with_token(2, &t);
    other.up = Some(false);
    assert_eq!(
        ga_status(&mut token, &mut env, &host, &other),
        PIN_AUTH_INVALID
    );
    // With an RP ID given, only that RP.
    let t = pin_token(
        &mut token,
        &mut env,
        &host,
        2,
        PIN,
        Some(PERM_MC | PERM_GA),
        Some(RP),
    )
    .unwrap();
    let mc = Mc::new("other.example", b"u").with_token(2, &t);
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        PIN_AUTH_INVALID
    );
    let mc = Mc::new(RP, b"u").with_token(2, &t);
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), OK);
}

#[test]
fn permissions_are_checked_and_unclaimed_ones_are_unauthorized() {
    for protocol in PROTOCOLS {
        // Without discoverable credentials there is no credential management and no large
        // blob array: cm and lbw are unclaimed there.
        let (mut token, mut env, host) = setup(TokenConfig {
            resident_keys: false,
            ..TokenConfig::default()
        });
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        for unclaimed in [PERM_CM, PERM_LBW, PERM_MC | PERM_LBW] {
            assert_eq!(
                pin_token(
                    &mut token,
                    &mut env,
                    &host,
                    protocol,
                    PIN,
                    Some(unclaimed),
                    None
                ),
                Err(UNAUTHORIZED_PERMISSION),
                "{unclaimed:#x}"
            );
        }
        let (mut token, mut env, host) = with_pin(protocol);
        for unclaimed in [PERM_BE, PERM_MC | PERM_BE] {
            assert_eq!(
                pin_token(
                    &mut token,
                    &mut env,
                    &host,
                    protocol,
                    PIN,
                    Some(unclaimed),
                    None
                ),
                Err(UNAUTHORIZED_PERMISSION),
                "{unclaimed:#x}"
            );
        }
        assert_eq!(
            pin_token(&mut token, &mut env, &host, protocol, PIN, Some(0), None),
            Err(INVALID_PARAMETER)
        );
        // None of those cost a retry: they are refused before the PIN is looked at.
        assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
        // getPinToken takes no permissions and no RP ID.
        let mut s = Session::new(&mut token, &mut env, &host, protocol);
        let hash_enc = s.encrypt(&pin_hash(PIN.as_bytes()));
        let (status, _) = client_pin(
            &mut token,
            &mut env,
            &host,
            vec![
                (1, int(protocol.into())),
                (2, int(5)),
                (3, s.platform_key.clone()),
                (6, bytes(&hash_enc)),
                (9, int(PERM_MC)),
            ],
        );
        assert_eq!(status, INVALID_PARAMETER);
        // An mc-only token cannot sign in; a ga-only token cannot register.
        let t = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_MC),
            Some(RP),
        )
        .unwrap();
        let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
        let mut ga = Ga::new(RP).allow(&reg.id).with_token(protocol, &t);
        ga.up = Some(false);
        assert_eq!(
            ga_status(&mut token, &mut env, &host, &ga),
            PIN_AUTH_INVALID
        );
        let t = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_GA),
            Some(RP),
        )
        .unwrap();
        let mc = Mc::new(RP, b"v").with_token(protocol, &t);
        assert_eq!(
            mc_status(&mut token, &mut env, &host, &mc),
            PIN_AUTH_INVALID
        );
        // cm and lbw are claimed (with discoverable credentials).
        for claimed in [PERM_CM, PERM_LBW, PERM_MC | PERM_GA | PERM_CM | PERM_LBW] {
            assert!(
                pin_token(
                    &mut token,
                    &mut env,
                    &host,
                    protocol,
                    PIN,
                    Some(claimed),
                    None
                )
                .is_ok(),
                "{claimed:#x}"
            );
        }
        // acfg is claimed.
        assert!(
            pin_token(
                &mut token,
                &mut env,
                &host,
                protocol,
                PIN,
                Some(PERM_ACFG),
                None
            )
            .is_ok()
        );
        // A token of the other protocol does not verify.
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        let other = 3 - protocol;
        let mc = Mc::new(RP, b"w").with_token(other, &t);
        assert_eq!(
            mc_status(&mut token, &mut env, &host, &mc),
            PIN_AUTH_INVALID
        );
    }
}

#[test]
fn tokens_expire_unused_after_thirty_seconds_and_a_new_one_replaces_the_old() {
    let (mut token, mut env, host) = with_pin(2);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    env.clock.advance(30_000);
    let mc = Mc::new(RP, b"u").with_token(2, &t);
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        PIN_AUTH_INVALID
    );

    let old = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    let new = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    assert_ne!(old, new);
    let mut silent = Ga::new(RP).with_token(2, &old);
    silent.up = Some(false);
    assert_eq!(
        ga_status(&mut token, &mut env, &host, &silent),
        PIN_AUTH_INVALID
    );
    // A used token lives on past the initial limit (with up=false it is not used up).
    let mut silent = Ga::new(RP).with_token(2, &new);
    silent.up = Some(false);
    assert_eq!(ga_status(&mut token, &mut env, &host, &silent), 0x2E);
    env.clock.advance(60_000);
    assert_eq!(ga_status(&mut token, &mut env, &host, &silent), 0x2E);
    env.clock.advance(600_000);
    assert_eq!(
        ga_status(&mut token, &mut env, &host, &silent),
        PIN_AUTH_INVALID
    );
    // Tokens never survive a power cycle.
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let mc = Mc::new(RP, b"u").with_token(2, &t);
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        PIN_AUTH_INVALID
    );
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
fn force_pin_change_and_a_raised_minimum_pin_length() {
    let (mut token, mut env, host) = with_pin(2);
    let acfg = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_ACFG), None).unwrap();
    // Lowering the minimum is refused; raising it above the PIN's length forces a change.
    let lower = imap(vec![(1, int(3))]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(lower),
            Some((2, &acfg))
        ),
        PIN_POLICY_VIOLATION
    );
    let raise = imap(vec![
        (1, int(6)),
        (2, ciborium::Value::Array(vec![text(RP)])),
    ]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(raise),
            Some((2, &acfg))
        ),
        OK
    );
    let got = info(&mut token, &mut env, &host);
    assert_eq!(as_int(get(&got, 13).unwrap()), 6);
    assert_eq!(get(&got, 12), Some(&ciborium::Value::Bool(true)));
    // getPinToken: PIN_INVALID; with permissions: PIN_POLICY_VIOLATION (the PIN is right, so
    // the retries are full).
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, None, None),
        Err(PIN_INVALID)
    );
    assert_eq!(
        pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_GA), Some(RP)),
        Err(PIN_POLICY_VIOLATION)
    );
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
    // The new PIN must follow the new minimum and differ from the current one.
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, PIN, "12345"),
        PIN_POLICY_VIOLATION
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 1, PIN, "123456"),
        OK
    );
    let got = info(&mut token, &mut env, &host);
    assert_eq!(get(&got, 12), Some(&ciborium::Value::Bool(false)));
    assert!(pin_token(&mut token, &mut env, &host, 2, "123456", None, None).is_ok());

    // forceChangePin on its own, and the same PIN refused while it holds.
    let acfg = pin_token(
        &mut token,
        &mut env,
        &host,
        1,
        "123456",
        Some(PERM_ACFG),
        None,
    )
    .unwrap();
    let force = imap(vec![(3, ciborium::Value::Bool(true))]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            3,
            Some(force),
            Some((1, &acfg))
        ),
        OK
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, "123456", "123456"),
        PIN_POLICY_VIOLATION
    );
    assert_eq!(
        change_pin(&mut token, &mut env, &host, 2, "123456", "654321"),
        OK
    );
    assert!(pin_token(&mut token, &mut env, &host, 2, "654321", None, None).is_ok());
}

#[test]
fn config_needs_an_acfg_token_once_a_pin_is_set() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        // No PIN, no UV: the key is not protected, config needs no token.
        assert_eq!(config(&mut token, &mut env, &host, 2, None, None), OK);
        assert_eq!(
            tget(&info_options(&mut token, &mut env, &host), "alwaysUv"),
            Some(&ciborium::Value::Bool(true))
        );
        // ...but now it is (alwaysUv): toggling back needs a token.
        assert_eq!(
            config(&mut token, &mut env, &host, 2, None, None),
            PUAT_REQUIRED
        );
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
        let no_acfg = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_MC),
            Some(RP),
        )
        .unwrap();
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &no_acfg))
            ),
            PIN_AUTH_INVALID
        );
        let acfg = pin_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_ACFG),
            None,
        )
        .unwrap();
        let mut wrong = acfg.clone();
        wrong[0] ^= 1;
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &wrong))
            ),
            PIN_AUTH_INVALID
        );
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                2,
                None,
                Some((protocol, &acfg))
            ),
            OK
        );
        let options = info_options(&mut token, &mut env, &host);
        assert_eq!(
            tget(&options, "alwaysUv"),
            Some(&ciborium::Value::Bool(false))
        );
        assert_eq!(
            tget(&options, "makeCredUvNotRqd"),
            Some(&ciborium::Value::Bool(true))
        );
        // Enterprise attestation on a key that cannot: invalid.
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                1,
                None,
                Some((protocol, &acfg))
            ),
            INVALID_PARAMETER
        );
        assert_eq!(
            config(
                &mut token,
                &mut env,
                &host,
                0x7F,
                None,
                Some((protocol, &acfg))
            ),
            0x3E
        );
    }
}

#[test]
fn always_uv_requires_a_token_for_every_registration_and_sign_in() {
    let (mut token, mut env, host) = with_pin(2);
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let acfg = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_ACFG), None).unwrap();
    assert_eq!(
        config(&mut token, &mut env, &host, 2, None, Some((2, &acfg))),
        OK
    );
    let options = info_options(&mut token, &mut env, &host);
    assert_eq!(
        tget(&options, "alwaysUv"),
        Some(&ciborium::Value::Bool(true))
    );
    assert_eq!(
        tget(&options, "makeCredUvNotRqd"),
        Some(&ciborium::Value::Bool(false))
    );
    let before = env.store.snapshot();
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &Mc::new(RP, b"v")),
        PUAT_REQUIRED
    );
    let ga = Ga::new(RP).allow(&reg.id);
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), PUAT_REQUIRED);
    assert_eq!(env.store.snapshot(), before);
    // up=false is not subject to alwaysUv.
    let mut silent = Ga::new(RP).allow(&reg.id);
    silent.up = Some(false);
    assert_eq!(ga_status(&mut token, &mut env, &host, &silent), OK);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, None, None).unwrap();
    let ga = Ga::new(RP).allow(&reg.id).with_token(2, &t);
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), OK);
    // U2F verifies no user: no registration while alwaysUv is on (the version still answers).
    let mut register = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40];
    register.extend_from_slice(&[3u8; 64]);
    register.extend_from_slice(&[0x00, 0x00]);
    let msg = firmware_sim::ctaphid::cmd::MSG;
    let reply = host.request(&mut token, &mut env, msg, &register).unwrap();
    assert_eq!(reply.payload, [0x69, 0x85], "SW_CONDITIONS_NOT_SATISFIED");
    let version = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00];
    let reply = host.request(&mut token, &mut env, msg, &version).unwrap();
    assert_eq!(reply.payload, b"U2F_V2\x90\x00");
}

#[test]
fn discoverable_credentials_on_a_pin_key_need_a_token() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = with_pin(protocol);
        let mut rk = Mc::new(RP, b"u");
        rk.rk = Some(true);
        assert_eq!(mc_status(&mut token, &mut env, &host, &rk), PUAT_REQUIRED);
        assert_eq!(env.store.count("rk"), 0);
        // A non-discoverable credential needs none (makeCredUvNotRqd), and has no UV.
        let plain = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
        assert_eq!(plain.auth_data.flags, 0x41);
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        let mut rk = Mc::new(RP, b"u").with_token(protocol, &t);
        rk.rk = Some(true);
        let reg = make_credential(&mut token, &mut env, &host, &rk);
        assert_eq!(reg.auth_data.flags, 0x45, "UP | UV | AT");
        // uv=true without built-in UV is an invalid option; a pinUvAuthParam overrides "uv".
        let mut uv = Mc::new(RP, b"w");
        uv.uv = Some(true);
        assert_eq!(mc_status(&mut token, &mut env, &host, &uv), 0x2C);
        let t = pin_token(&mut token, &mut env, &host, protocol, PIN, None, None).unwrap();
        let mut both = Mc::new(RP, b"w").with_token(protocol, &t);
        both.uv = Some(true);
        assert_eq!(mc_status(&mut token, &mut env, &host, &both), OK);
    }
}

#[test]
fn the_zero_length_pin_uv_auth_param_probe_asks_for_a_touch() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"u");
    mc.pin_auth = Some((2, vec![]));
    let polls = env.presence.requests().len();
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), PIN_NOT_SET);
    assert_eq!(env.presence.requests().len(), polls + 1, "after a touch");
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    let before = env.store.snapshot();
    assert_eq!(mc_status(&mut token, &mut env, &host, &mc), PIN_INVALID);
    let mut ga = Ga::new(RP);
    ga.pin_auth = Some((1, vec![]));
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), PIN_INVALID);
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        OPERATION_DENIED
    );
    assert_eq!(env.store.snapshot(), before);
    assert_eq!(pin_retries(&mut token, &mut env, &host).0, 8);
}

fn uv_key(client_pin: bool) -> (Token, TestEnv, HidHost) {
    setup(TokenConfig {
        user_verification: true,
        client_pin,
        ..TokenConfig::default()
    })
}

#[test]
fn built_in_uv_gives_a_token_that_remembers_the_touch() {
    for protocol in PROTOCOLS {
        let (mut token, mut env, host) = uv_key(false);
        let options = info_options(&mut token, &mut env, &host);
        assert_eq!(tget(&options, "clientPin"), None);
        assert_eq!(tget(&options, "uv"), Some(&ciborium::Value::Bool(true)));
        assert_eq!(
            tget(&options, "pinUvAuthToken"),
            Some(&ciborium::Value::Bool(true))
        );
        let t = uv_token(
            &mut token,
            &mut env,
            &host,
            protocol,
            PERM_MC | PERM_GA,
            Some(RP),
        )
        .unwrap();
        let last = env.presence.requests().last().unwrap().clone();
        assert!(last.user_verification);
        assert_eq!(
            last.purpose,
            firmware_sim::env::PresencePurpose::UserVerification
        );
        let polls = env.presence.requests().len();
        let mut rk = Mc::new(RP, b"u").with_token(protocol, &t);
        rk.rk = Some(true);
        let reg = make_credential(&mut token, &mut env, &host, &rk);
        assert_eq!(reg.auth_data.flags, 0x45);
        assert_eq!(
            env.presence.requests().len(),
            polls,
            "the UV touch is remembered: no second touch"
        );
        // Used up.
        let ga = Ga::new(RP).with_token(protocol, &t);
        assert_eq!(
            ga_status(&mut token, &mut env, &host, &ga),
            PIN_AUTH_INVALID
        );
        // The PIN subcommands are not there without clientPin.
        assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), 0x3E);
    }
}

#[test]
fn failed_built_in_uv_counts_down_and_blocks() {
    let (mut token, mut env, mut host) = uv_key(true);
    env.presence = ScriptedPresence::not_verifying();
    for left in (1..8).rev() {
        assert_eq!(
            uv_token(&mut token, &mut env, &host, 2, PERM_GA, Some(RP)),
            Err(UV_INVALID)
        );
        assert_eq!(uv_retries(&mut token, &mut env, &host), left);
    }
    // Persisted across power cycles.
    token.power_cycle(&mut env);
    host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(uv_retries(&mut token, &mut env, &host), 1);
    assert_eq!(
        uv_token(&mut token, &mut env, &host, 2, PERM_GA, Some(RP)),
        Err(UV_BLOCKED)
    );
    assert_eq!(uv_retries(&mut token, &mut env, &host), 0);
    let polls = env.presence.requests().len();
    assert_eq!(
        uv_token(&mut token, &mut env, &host, 2, PERM_GA, Some(RP)),
        Err(UV_BLOCKED)
    );
    assert_eq!(
        env.presence.requests().len(),
        polls,
        "blocked: no touch asked"
    );
    // uv=true in getAssertion: no UV left and no PIN: PIN_BLOCKED, as the spec names it.
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.uv = Some(true);
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), PIN_BLOCKED);
    // A PIN set: the platform is sent to the PIN, and a right PIN gives UV back.
    env.presence = ScriptedPresence::approving();
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    assert_eq!(ga_status(&mut token, &mut env, &host, &ga), PUAT_REQUIRED);
    assert!(pin_token(&mut token, &mut env, &host, 2, PIN, None, None).is_ok());
    assert_eq!(uv_retries(&mut token, &mut env, &host), 8);
    let t = uv_token(&mut token, &mut env, &host, 2, PERM_GA, Some(RP)).unwrap();
    assert_eq!(t.len(), 32);
}

#[test]
fn a_uv_token_wait_can_be_cancelled_timed_out_or_denied() {
    let (mut token, mut env, host) = uv_key(false);
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        uv_token(&mut token, &mut env, &host, 1, PERM_MC, None),
        Err(OPERATION_DENIED)
    );
    env.presence = ScriptedPresence::waiting();
    assert_eq!(
        uv_token(&mut token, &mut env, &host, 1, PERM_MC, None),
        Err(0x2F),
        "CTAP2_ERR_USER_ACTION_TIMEOUT"
    );
    assert_eq!(
        uv_retries(&mut token, &mut env, &host),
        8,
        "no UV attempt spent"
    );
    env.presence = ScriptedPresence::approving();
    env.presence
        .script([PresenceStatus::Pending, PresenceStatus::Approved]);
    assert!(uv_token(&mut token, &mut env, &host, 1, PERM_MC, None).is_ok());
}

#[test]
fn reset_clears_the_pin_and_the_configuration() {
    let config = TokenConfig {
        enterprise_attestation: true,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    assert_eq!(
        tget(&info_options(&mut token, &mut env, &host), "ep"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, "123456"), OK);
    let acfg = pin_token(
        &mut token,
        &mut env,
        &host,
        2,
        "123456",
        Some(PERM_ACFG),
        None,
    )
    .unwrap();
    assert_eq!(config_ok(&mut token, &mut env, &host, 1, None, &acfg), OK);
    assert_eq!(
        config_ok(
            &mut token,
            &mut env,
            &host,
            3,
            Some(imap(vec![(1, int(5))])),
            &acfg
        ),
        OK
    );
    assert_eq!(config_ok(&mut token, &mut env, &host, 2, None, &acfg), OK);
    let options = info_options(&mut token, &mut env, &host);
    assert_eq!(tget(&options, "ep"), Some(&ciborium::Value::Bool(true)));
    assert_eq!(
        tget(&options, "alwaysUv"),
        Some(&ciborium::Value::Bool(true))
    );
    // Enterprise attestation, platform-managed: epAtt and the batch statement.
    let t = pin_token(&mut token, &mut env, &host, 2, "123456", None, None).unwrap();
    let mut mc = Mc::new(RP, b"u").with_token(2, &t);
    mc.ep = Some(2);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(get(&reg.response, 4), Some(&ciborium::Value::Bool(true)));
    assert_eq!(get(&reg.response, 1), Some(&text("packed")));
    // Vendor-facilitated for an RP the key does not know: an ordinary attestation.
    let t = pin_token(&mut token, &mut env, &host, 2, "123456", None, None).unwrap();
    let mut mc = Mc::new(RP, b"v").with_token(2, &t);
    mc.ep = Some(1);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(get(&reg.response, 4), None);

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(host.ctap2(&mut token, &mut env, RESET, None).unwrap().0, OK);
    let info = info(&mut token, &mut env, &host);
    let options = get(&info, 4).unwrap();
    assert_eq!(
        tget(options, "clientPin"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(tget(options, "ep"), Some(&ciborium::Value::Bool(false)));
    assert_eq!(
        tget(options, "alwaysUv"),
        Some(&ciborium::Value::Bool(false))
    );
    assert_eq!(as_int(get(&info, 13).unwrap()), 4);
    assert_eq!(pin_retries(&mut token, &mut env, &host), (8, Some(false)));
    // Enterprise attestation is off again.
    let mut mc = Mc::new(RP, b"u");
    mc.ep = Some(2);
    assert_eq!(
        mc_status(&mut token, &mut env, &host, &mc),
        INVALID_PARAMETER
    );
    assert_eq!(set_pin(&mut token, &mut env, &host, 1, "4321"), OK);
}

fn config_ok(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    sub: u8,
    params: Option<ciborium::Value>,
    acfg: &[u8],
) -> u8 {
    config(token, env, host, sub, params, Some((2, acfg)))
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
