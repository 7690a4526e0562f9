//! CTAP 2.1 pinUvAuthTokens over real CTAPHID framing: use and expiry, rpId binding,
//! permissions, pinUvAuthParam in makeCredential and getAssertion, alwaysUv, the zero-length
//! probe and built-in user verification (see pin.rs for the PIN itself).

mod common;

use common::pin::*;
use common::pin_key::*;
use common::*;
use firmware_sim::env::PresenceStatus;
use firmware_sim::testing::{HidHost, ScriptedPresence, TestEnv};
use firmware_sim::{Token, TokenConfig};

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
