//! CTAP2 getAssertion end to end over CTAPHID, signatures checked by the test: discoverable
//! credentials and getNextAssertion, user names, replacement, excludeList, silent preflight,
//! foreign credential ids and the sign counter modes.

mod common;

use common::*;
use firmware_sim::env::PresencePurpose;
use firmware_sim::testing::{HidHost, ScriptedPresence};
use firmware_sim::{CounterMode, TokenConfig};

const RP: &str = "example.com";

#[test]
fn discoverable_credentials_newest_first_with_get_next_assertion() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut regs = Vec::new();
    for user in [b"alice".as_slice(), b"bob", b"carol"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        mc.user_name = Some(String::from_utf8(user.to_vec()).unwrap());
        regs.push(make_credential(&mut token, &mut env, &host, &mc));
    }
    make_credential(&mut token, &mut env, &host, &{
        let mut mc = Mc::new("other.example", b"alice");
        mc.rk = Some(true);
        mc
    });
    let ga = Ga::new(RP);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(as_int(get(&body, 5).unwrap()), 3);
    assert_eq!(credential_id_of(&body), regs[2].id);
    assert_signed(&body, &regs[2].key, &ga.client_data_hash);
    // Without user verification only the user handle is returned.
    assert_eq!(get(&body, 4), Some(&tmap(vec![("id", bytes(b"carol"))])));

    for (i, user) in [(1usize, b"bob".as_slice()), (0, b"alice")] {
        env.clock.advance(29_000);
        let (status, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
        assert_eq!(status, OK);
        let body = body.unwrap();
        assert_eq!(credential_id_of(&body), regs[i].id);
        let ad = assert_signed(&body, &regs[i].key, &ga.client_data_hash);
        assert_eq!(ad.flags & 0x01, 0x01);
        assert_eq!(get(&body, 4), Some(&tmap(vec![("id", bytes(user))])));
        assert_eq!(
            get(&body, 5),
            None,
            "numberOfCredentials only in the first response"
        );
    }
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "CTAP2_ERR_NOT_ALLOWED after the last one");
    // Only one presence request for the whole set.
    let gets = env
        .presence
        .requests()
        .iter()
        .filter(|r| r.purpose == PresencePurpose::GetAssertion)
        .count();
    assert_eq!(gets, 1);
}

#[test]
fn get_next_assertion_state_expires_and_belongs_to_its_channel() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for user in [b"a".as_slice(), b"b", b"c"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        make_credential(&mut token, &mut env, &host, &mc);
    }
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "no state yet");

    host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    env.clock.advance(30_001);
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "timer expired");

    host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    let other = HidHost::connect(&mut token, &mut env).unwrap();
    let (status, _) = other.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "another channel cannot continue");
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, OK, "the owner still can");
    // Any other command on the owner's channel ends the sequence.
    host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30);
}

#[test]
fn user_names_are_returned_only_with_user_verification_and_several_accounts() {
    let config = TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let mut mc = Mc::new(RP, b"alice");
    mc.rk = Some(true);
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(
        status, 0x27,
        "CTAP2_ERR_OPERATION_DENIED: discoverable needs UV here"
    );
    assert!(
        env.presence.requests().is_empty(),
        "refused before asking the user"
    );
    mc.uv = Some(true);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(reg.auth_data.flags, 0x45, "UP | UV | AT");
    assert!(env.presence.requests().last().unwrap().user_verification);

    let mut ga = Ga::new(RP);
    ga.uv = Some(true);
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    let body = body.unwrap();
    assert_eq!(
        get(&body, 4),
        Some(&tmap(vec![("id", bytes(b"alice"))])),
        "single account: id only"
    );
    assert_eq!(
        assert_signed(&body, &reg.key, &ga.client_data_hash).flags,
        0x05
    );

    let mut mc2 = Mc::new(RP, b"bob");
    mc2.rk = Some(true);
    mc2.uv = Some(true);
    make_credential(&mut token, &mut env, &host, &mc2);
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    let user = get(body.as_ref().unwrap(), 4).unwrap().clone();
    assert_eq!(tget(&user, "name"), Some(&text("alice")));
    assert_eq!(tget(&user, "displayName"), Some(&text("alice display")));
    let (_, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(
        tget(get(body.as_ref().unwrap(), 4).unwrap(), "name"),
        Some(&text("alice"))
    );
    // A verification that never comes is a user action timeout.
    env.presence = ScriptedPresence::waiting();
    assert_eq!(
        host.ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap()
            .0,
        0x2F
    );
    env.presence = ScriptedPresence::approving();
    // Without UV, several accounts still give ids only.
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    assert_eq!(tget(get(body.as_ref().unwrap(), 4).unwrap(), "name"), None);
}

#[test]
fn a_new_resident_credential_replaces_the_old_one_for_the_same_user() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"user");
    mc.rk = Some(true);
    let first = make_credential(&mut token, &mut env, &host, &mc);
    let mut other = Mc::new(RP, b"other-user");
    other.rk = Some(true);
    make_credential(&mut token, &mut env, &host, &other);
    // Use the first one so it has a counter record.
    host.ctap2(
        &mut token,
        &mut env,
        GA,
        Some(&Ga::new(RP).allow(&first.id).value()),
    )
    .unwrap();
    assert_eq!(env.store.count("rk"), 2);
    let second = make_credential(&mut token, &mut env, &host, &mc);
    assert_ne!(first.id, second.id);
    assert_eq!(env.store.count("rk"), 2);
    let listed = token.resident_credentials(&mut env).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.credential_id != first.id));
    let (status, _) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new(RP).allow(&first.id).value()),
        )
        .unwrap();
    assert_eq!(status, 0x2E, "the replaced credential is gone");
    let (status, body) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new(RP).allow(&second.id).value()),
        )
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(
        assert_signed(&body.unwrap(), &second.key, &cdh("ga")).sign_count,
        1
    );
    let summary = token.check_store(&mut env).unwrap();
    assert_eq!(summary.resident_credentials, 2);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(info.as_ref().unwrap(), 20).unwrap()), 98);
}

#[test]
fn an_excluded_credential_is_refused_after_a_touch() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let nonrk = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let mut mc = Mc::new(RP, b"u2");
    mc.rk = Some(true);
    let rk = make_credential(&mut token, &mut env, &host, &mc);
    for excluded in [&nonrk.id, &rk.id] {
        let before = env.store.snapshot();
        let requests_before = env.presence.requests().len();
        let mut mc = Mc::new(RP, b"u3");
        mc.rk = Some(true);
        mc.exclude = vec![vec![1, 2, 3], excluded.clone()];
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        assert_eq!(status, 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED");
        assert_eq!(env.store.snapshot(), before);
        let last = env.presence.requests().last().unwrap();
        assert_eq!(env.presence.requests().len(), requests_before + 1);
        assert_eq!(last.purpose, PresencePurpose::ExcludedCredential);
    }
    // Even a refused touch gives CREDENTIAL_EXCLUDED.
    env.presence = ScriptedPresence::denying();
    let mut mc = Mc::new(RP, b"u3");
    mc.exclude = vec![nonrk.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x19);
    // An exclude list for another RP does not match.
    env.presence = ScriptedPresence::approving();
    let mut mc = Mc::new("other.example", b"u3");
    mc.exclude = vec![nonrk.id.clone(), rk.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, OK);
}

#[test]
fn silent_preflight_signs_without_presence() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let polls = env.presence.polls();
    env.presence = ScriptedPresence::denying();
    let mut ga = Ga::new(RP).allow(b"not-mine").allow(&reg.id);
    ga.up = Some(false);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(body.as_ref().unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(ad.flags & 0x01, 0, "UP clear");
    assert_eq!(env.presence.polls(), 0);
    assert!(polls > 0);
    // The pre-flight for an unknown credential answers NO_CREDENTIALS, also without a touch.
    let mut ga = Ga::new(RP).allow(b"not-mine");
    ga.up = Some(false);
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, 0x2E);
    assert_eq!(env.presence.polls(), 0);
}

#[test]
fn foreign_tampered_and_other_rp_credential_ids_are_not_found() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let mut tampered = reg.id.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    // A credential made by another token (another master secret) for the same RP.
    let foreign = {
        let mut e = firmware_sim::testing::TestEnv::new(1234);
        let mut t = firmware_sim::Token::new(TokenConfig::default(), &mut e);
        let h = HidHost::connect(&mut t, &mut e).unwrap();
        make_credential(&mut t, &mut e, &h, &Mc::new(RP, b"u")).id
    };
    for (rp, id) in [
        ("other.example", &reg.id),
        (RP, &tampered),
        (RP, &foreign),
        (RP, &vec![0u8; 32]),
    ] {
        let ga = Ga::new(rp).allow(id);
        let (status, _) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, 0x2E, "CTAP2_ERR_NO_CREDENTIALS for {rp}");
    }
    assert_eq!(env.store.snapshot(), before);
    assert_eq!(
        env.presence.requests().len(),
        1,
        "no touch asked for unknown credentials"
    );
    // Discoverable lookup finds nothing for an RP with no resident credential.
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    assert_eq!(status, 0x2E);
}

#[test]
fn sign_counter_modes() {
    for (mode, reserve) in [
        (CounterMode::PerCredential, 1),
        (CounterMode::Global, 1),
        (CounterMode::AlwaysZero, 1),
        (CounterMode::PerCredential, 4),
        (CounterMode::Global, 4),
        (CounterMode::AlwaysZero, 4),
    ] {
        let config = TokenConfig {
            counter_mode: mode,
            counter_reserve: reserve,
            ..TokenConfig::default()
        };
        let (mut token, mut env, host) = setup(config);
        let a = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"a"));
        let b = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"b"));
        let mut seen = vec![a.auth_data.sign_count, b.auth_data.sign_count];
        for reg in [&a, &a, &b] {
            let ga = Ga::new(RP).allow(&reg.id);
            let (_, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
                .unwrap();
            seen.push(assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash).sign_count);
        }
        // The counter survives a power cycle because its high-water mark was committed before
        // the response; values reserved and not sent are skipped after it.
        token.power_cycle(&mut env);
        let host = HidHost::connect(&mut token, &mut env).unwrap();
        let ga = Ga::new(RP).allow(&a.id);
        let (_, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        seen.push(assert_signed(&body.unwrap(), &a.key, &ga.client_data_hash).sign_count);
        let expected = match (mode, reserve) {
            (CounterMode::PerCredential, 1) => vec![0, 0, 1, 2, 1, 3],
            (CounterMode::Global, 1) => vec![1, 2, 3, 4, 5, 6],
            // a reserved 1..=4 (b its own 1..=4); after the power cycle a starts above 4.
            (CounterMode::PerCredential, _) => vec![0, 0, 1, 2, 1, 5],
            // The registrations commit 1 and 2; the first assertion reserves 3..=6.
            (CounterMode::Global, _) => vec![1, 2, 3, 4, 5, 7],
            (CounterMode::AlwaysZero, _) => vec![0, 0, 0, 0, 0, 0],
        };
        assert_eq!(seen, expected, "{mode:?} reserve {reserve}");
    }
}

/// With the `aws-lc` feature the key's thread keeps the pairs it decoded to sign; a power
/// cycle and a factory reset leave none behind, and assertions sign correctly on either side.
#[cfg(feature = "aws-lc")]
#[test]
fn decoded_signing_keys_are_dropped_on_power_cycle_and_reset() {
    use firmware_sim::credential::{decoded_signing_keys, forget_signing_keys};
    // A thread of its own: the keys are kept per thread.
    std::thread::spawn(|| {
        forget_signing_keys();
        let (mut token, mut env, mut host) = setup(TokenConfig::default());
        let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"alice"));
        assert_eq!(decoded_signing_keys(), 0, "registration keeps no pair");
        let assert_once = |token: &mut firmware_sim::Token, env: &mut _, host: &HidHost| {
            let ga = Ga::new(RP).allow(&reg.id);
            let (status, body) = host.ctap2(token, env, GA, Some(&ga.value())).unwrap();
            assert_eq!(status, OK);
            assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
        };
        assert_once(&mut token, &mut env, &host);
        assert_once(&mut token, &mut env, &host);
        assert_eq!(decoded_signing_keys(), 1, "one credential, one pair");
        token.power_cycle(&mut env);
        assert_eq!(decoded_signing_keys(), 0, "a power cycle forgets");
        host = HidHost::connect(&mut token, &mut env).unwrap();
        assert_once(&mut token, &mut env, &host);
        assert_eq!(decoded_signing_keys(), 1);
        token.factory_reset(&mut env).unwrap();
        assert_eq!(decoded_signing_keys(), 0, "a reset forgets");
    })
    .join()
    .unwrap();
}
