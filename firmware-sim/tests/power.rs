//! Power cuts at every store write: afterwards the store is consistent, and every credential or
//! counter value whose response left the token is durable.

mod common;

use common::power::recover;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{CounterMode, Token, TokenConfig};

const RP: &str = "example.com";

fn boot(seed: u64, config: &TokenConfig) -> (Token, TestEnv, HidHost) {
    let mut env = TestEnv::new(seed);
    let mut token = Token::new(config.clone(), &mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    (token, env, host)
}

fn resident_mc(user: &[u8]) -> Mc {
    let mut mc = Mc::new(RP, user);
    mc.rk = Some(true);
    mc
}

#[test]
fn power_cut_at_every_write_of_a_first_boot_registration() {
    let config = TokenConfig {
        counter_mode: CounterMode::Global,
        ..TokenConfig::default()
    };
    // How many writes a complete run performs.
    let (mut token, mut env, host) = boot(5, &config);
    make_credential(&mut token, &mut env, &host, &resident_mc(b"u"));
    let total = env.store.writes();
    assert!(
        total >= 4,
        "first boot (secret + PKI) and the credential (+ global counter)"
    );

    let mut completed = 0;
    for n in 1..=total + 1 {
        let (mut token, mut env, host) = boot(5, &config);
        env.store.cut_power_at_write(n);
        let mc = resident_mc(b"u");
        let (status, body) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        let cut = !env.store.is_powered();
        let host = recover(&mut token, &mut env);
        if status == OK {
            assert!(
                !cut,
                "a response left only if every write of it was committed (n={n})"
            );
            completed += 1;
            let body = body.unwrap();
            let ad = parse_auth_data(&as_bytes(get(&body, 2).unwrap()));
            let key = PublicKey::from_cose(ad.public_key.as_ref().unwrap());
            let ga = Ga::new(RP);
            let (status, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
                .unwrap();
            assert_eq!(
                status, OK,
                "the credential whose response left exists (n={n})"
            );
            let body = body.unwrap();
            assert_eq!(credential_id_of(&body), ad.credential_id.unwrap());
            let ga_ad = assert_signed(&body, &key, &ga.client_data_hash);
            assert!(
                ga_ad.sign_count > ad.sign_count,
                "the global counter never goes back"
            );
        } else {
            assert!(cut, "only the power cut makes the request fail (n={n})");
            assert_eq!(
                env.store.count("rk"),
                0,
                "nothing of the failed batch is visible (n={n})"
            );
            // The token works normally afterwards.
            let reg = make_credential(&mut token, &mut env, &host, &resident_mc(b"u"));
            let ga = Ga::new(RP).allow(&reg.id);
            let (status, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
                .unwrap();
            assert_eq!(status, OK);
            assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
        }
    }
    assert_eq!(completed, 1, "only the run past the last write completes");
}

#[test]
fn power_cut_while_replacing_a_resident_credential_keeps_exactly_one() {
    let config = TokenConfig::default();
    let (mut token, mut env, host) = boot(6, &config);
    let old = make_credential(&mut token, &mut env, &host, &resident_mc(b"u"));
    host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    let base = env.store.writes();
    make_credential(&mut token, &mut env, &host, &resident_mc(b"u"));
    let per_replacement = env.store.writes() - base;
    assert_eq!(
        per_replacement, 3,
        "delete old record, delete its counter, put the new one"
    );

    for n in 1..=per_replacement {
        let (mut token, mut env, host) = boot(6, &config);
        let old_again = make_credential(&mut token, &mut env, &host, &resident_mc(b"u"));
        assert_eq!(old_again.id, old.id, "deterministic setup");
        host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
            .unwrap();
        env.store.cut_power_at_write(n);
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&resident_mc(b"u").value()))
            .unwrap();
        assert_ne!(status, OK);
        let host = recover(&mut token, &mut env);
        let listed = token.resident_credentials(&mut env).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].credential_id, old.id,
            "the old credential survives intact (n={n})"
        );
        // After the power cycle the API shows the persisted high-water mark (the assertion
        // reserved 1..=counter_reserve and sent 1); the next signature exceeds it.
        let mark = listed[0].sign_count;
        assert!(mark >= 1, "with its counter (n={n})");
        let ga = Ga::new(RP);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        assert_eq!(
            assert_signed(&body.unwrap(), &old.key, &ga.client_data_hash).sign_count,
            mark + 1
        );
    }
}

#[test]
fn a_counter_value_that_left_the_token_is_never_reused() {
    // One write per assertion: every other one is cut.
    assert_eq!(counters_across_cuts(1), vec![1, 2, 3]);
    // A reservation of two values: a cut lands only where a new reservation is written, and
    // the values reserved before it are skipped after it, never repeated.
    assert_eq!(counters_across_cuts(2), vec![1, 2, 3, 4]);
}

/// Six assertions; before every other one the power is set to go at the next store write.
/// Returns the counters that left the token.
fn counters_across_cuts(reserve: u32) -> Vec<u32> {
    let config = TokenConfig {
        counter_reserve: reserve,
        ..TokenConfig::default()
    };
    let (mut token, mut env, mut host) = boot(8, &config);
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let mut seen = Vec::new();
    for round in 0..6 {
        if round % 2 == 1 {
            env.store.cut_power_at_write(1);
        }
        let ga = Ga::new(RP).allow(&reg.id);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        if status == OK {
            seen.push(assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash).sign_count);
        } else {
            assert_eq!(
                status, 0x7F,
                "CTAP1_ERR_OTHER: no signature without a durable counter"
            );
            assert!(body.is_none());
        }
        if !env.store.is_powered() {
            host = recover(&mut token, &mut env);
        }
    }
    seen
}
