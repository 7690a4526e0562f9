//! Credentials imported from outside (a WebDriver-style control API): stored, found through
//! allow and exclude lists (or by discovery when discoverable), listed and removed, all over
//! real CTAPHID framing with signatures checked by the test itself.
//! Batches are in import_batches.rs.

mod common;

use ciborium::value::Value;
use common::import::*;
use common::*;
use firmware_sim::credential::Algorithm;
use firmware_sim::env::{RecordStore, WriteBatch};
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{CounterMode, ImportError, ImportedCredential, Token, TokenConfig};

#[test]
fn the_listed_counter_is_the_last_one_sent_and_a_reimport_sets_it_anew() {
    let config = TokenConfig {
        counter_reserve: 100,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let id = [0x51; 16];
    let k = key(Algorithm::Es256, 7);
    let pk = public(&k);
    token
        .import_credential(&mut env, non_discoverable(&id, k.clone(), 41))
        .unwrap();
    assert_eq!(token.credentials(&mut env).unwrap()[0].sign_count, 41);
    assert_eq!(count_once(&mut token, &mut env, &host, &id, &pk), 42);
    assert_eq!(count_once(&mut token, &mut env, &host, &id, &pk), 43);
    // The store holds the reserved mark (42 + 99); the API shows what was sent.
    assert_eq!(token.credentials(&mut env).unwrap()[0].sign_count, 43);

    // Importing the same credential again sets its counter, whatever was reserved.
    token
        .import_credential(&mut env, non_discoverable(&id, k, 5))
        .unwrap();
    assert_eq!(count_once(&mut token, &mut env, &host, &id, &pk), 6);
    assert_eq!(token.credentials(&mut env).unwrap()[0].sign_count, 6);

    // After a power cycle the reserved values are skipped: the next signature exceeds the mark,
    // which is what the API shows until then.
    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    assert_eq!(token.credentials(&mut env).unwrap()[0].sign_count, 105);
    assert_eq!(count_once(&mut token, &mut env, &host, &id, &pk), 106);
}

#[test]
fn a_non_discoverable_import_signs_only_when_listed_and_its_counter_continues() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let id: Vec<u8> = (0x10..0x20).collect(); // 16 arbitrary bytes, not a sealed id
    let k = key(Algorithm::Es256, 1);
    let pk = public(&k);
    token
        .import_credential(&mut env, non_discoverable(&id, k, 41))
        .unwrap();

    for expected in 42..=43u32 {
        let ga = Ga::new(RP).allow(&[0xEE; 16]).allow(&id);
        let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
        assert_eq!(status, OK);
        let body = body.unwrap();
        assert_eq!(credential_id_of(&body), id);
        let ad = assert_signed(&body, &pk, &ga.client_data_hash);
        assert_eq!(ad.rp_id_hash, rp_hash(RP));
        assert_eq!(ad.flags, 0x01, "UP");
        assert_eq!(ad.sign_count, expected, "counter continues from sign_count");
        assert_eq!(get(&body, 4), None, "no user entity without one imported");
        // The signature does not verify with another key.
        assert!(!{
            let raw = as_bytes(get(&body, 2).unwrap());
            let mut msg = raw.clone();
            msg.extend_from_slice(&ga.client_data_hash);
            public(&key(Algorithm::Es256, 2)).verify(&msg, &as_bytes(get(&body, 3).unwrap()))
        });
    }

    // Never discovered without an allow list, never for another relying party.
    let (status, _) = assert_with(&mut token, &mut env, &host, &Ga::new(RP));
    assert_eq!(status, 0x2E, "CTAP2_ERR_NO_CREDENTIALS");
    let (status, _) = assert_with(
        &mut token,
        &mut env,
        &host,
        &Ga::new("other.example").allow(&id),
    );
    assert_eq!(status, 0x2E);

    // Listed and removed.
    let listed = token.credentials(&mut env).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].credential_id, id);
    assert!(!listed[0].discoverable);
    assert_eq!(listed[0].sign_count, 43);
    assert_eq!(listed[0].rp_id, RP);
    assert!(listed[0].user.id.is_empty());
    assert!(token.resident_credentials(&mut env).unwrap().is_empty());
    assert_eq!(token.check_store(&mut env).unwrap().resident_credentials, 1);

    assert!(token.remove_credential(&mut env, &id).unwrap());
    assert!(!token.remove_credential(&mut env, &id).unwrap());
    let (status, _) = assert_with(&mut token, &mut env, &host, &Ga::new(RP).allow(&id));
    assert_eq!(status, 0x2E);
    assert!(token.credentials(&mut env).unwrap().is_empty());
    assert_eq!(env.store.count("ctr"), 0, "its counter went with it");
    token.check_store(&mut env).unwrap();
}

#[test]
fn every_algorithm_signs_after_import() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for (i, alg) in Algorithm::ALL.into_iter().enumerate() {
        let id = vec![i as u8 + 1; 20 + i];
        let k = key(alg, 10 + i as u64);
        let pk = public(&k);
        token
            .import_credential(&mut env, non_discoverable(&id, k, 0))
            .unwrap();
        let ga = Ga::new(RP).allow(&id);
        let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
        assert_eq!(status, OK, "{alg:?}");
        let ad = assert_signed(&body.unwrap(), &pk, &ga.client_data_hash);
        assert_eq!(ad.sign_count, 1);
    }
}

#[test]
fn a_discoverable_import_is_discovered_and_replaces_the_same_user() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    // One made by makeCredential first, for the same user handle.
    let mut mc = Mc::new(RP, b"user-7");
    mc.rk = Some(true);
    let made = make_credential(&mut token, &mut env, &host, &mc);

    let id = b"an imported discoverable credential id".to_vec();
    let k = key(Algorithm::EdDsa, 3);
    let pk = public(&k);
    token
        .import_credential(&mut env, discoverable(&id, b"user-7", k))
        .unwrap();

    let ga = Ga::new(RP);
    let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(credential_id_of(&body), id);
    assert_eq!(get(&body, 5), None, "only one credential left for the RP");
    assert_eq!(
        as_bytes(tget(get(&body, 4).unwrap(), "id").unwrap()),
        b"user-7"
    );
    assert_eq!(
        assert_signed(&body, &pk, &ga.client_data_hash).sign_count,
        1
    );

    // The made one is gone: neither discovered nor found by id.
    let (status, _) = assert_with(&mut token, &mut env, &host, &Ga::new(RP).allow(&made.id));
    assert_eq!(status, 0x2E);
    let listed = token.resident_credentials(&mut env).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].discoverable);
    assert_eq!(listed[0].user, user(b"user-7"));
    assert_eq!(listed[0].algorithm, -8);
    token.check_store(&mut env).unwrap();
}

#[test]
fn an_import_with_an_existing_id_replaces_it() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let id = [7u8; 40];
    token
        .import_credential(
            &mut env,
            non_discoverable(&id, key(Algorithm::Es256, 4), 100),
        )
        .unwrap();
    let k = key(Algorithm::Es384, 5);
    let pk = public(&k);
    token
        .import_credential(&mut env, discoverable(&id, b"u", k))
        .unwrap();
    let listed = token.credentials(&mut env).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].discoverable);
    assert_eq!(listed[0].algorithm, -35);
    assert_eq!(listed[0].sign_count, 0);
    let ga = Ga::new(RP);
    let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
    assert_eq!(status, OK);
    assert_eq!(
        assert_signed(&body.unwrap(), &pk, &ga.client_data_hash).sign_count,
        1
    );
}

#[test]
fn imports_hit_the_exclude_list() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let hidden = [0xA1u8; 16];
    let resident = [0xB2u8; 70];
    token
        .import_credential(
            &mut env,
            non_discoverable(&hidden, key(Algorithm::Es256, 6), 0),
        )
        .unwrap();
    token
        .import_credential(
            &mut env,
            discoverable(&resident, b"r", key(Algorithm::Es256, 7)),
        )
        .unwrap();
    for id in [&hidden[..], &resident[..]] {
        let mut mc = Mc::new(RP, b"new user");
        mc.exclude = vec![vec![0x99; 16], id.to_vec()];
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        assert_eq!(status, 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED");
        // Another relying party is not excluded by them.
        let mut mc = Mc::new("other.example", b"new user");
        mc.exclude = vec![id.to_vec()];
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        assert_eq!(status, OK);
    }
}

#[test]
fn non_discoverable_imports_take_no_discoverable_slot() {
    let config = TokenConfig {
        max_resident_credentials: 2,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let remaining = |token: &mut Token, env: &mut TestEnv| {
        let (_, info) = host.ctap2(token, env, INFO, None).unwrap();
        as_int(get(&info.unwrap(), 0x14).unwrap())
    };
    for i in 0..5u8 {
        token
            .import_credential(
                &mut env,
                non_discoverable(&[i; 16], key(Algorithm::Es256, 20), 0),
            )
            .unwrap();
    }
    assert_eq!(remaining(&mut token, &mut env), 2);
    token
        .import_credential(
            &mut env,
            discoverable(b"d1", b"u1", key(Algorithm::Es256, 21)),
        )
        .unwrap();
    assert_eq!(remaining(&mut token, &mut env), 1);
    // makeCredential still has the one slot...
    let mut mc = Mc::new(RP, b"u2");
    mc.rk = Some(true);
    make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(remaining(&mut token, &mut env), 0);
    // ...and then neither it nor an import gets another.
    let mut mc = Mc::new(RP, b"u3");
    mc.rk = Some(true);
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x28, "CTAP2_ERR_KEY_STORE_FULL");
    let err = token
        .import_credential(
            &mut env,
            discoverable(b"d3", b"u3", key(Algorithm::Es256, 22)),
        )
        .unwrap_err();
    assert!(matches!(err, ImportError::Full(2)), "{err:?}");
    // Replacing the same user needs no new slot.
    token
        .import_credential(
            &mut env,
            discoverable(b"d1-again", b"u1", key(Algorithm::Es256, 23)),
        )
        .unwrap();
    // Discovery sees exactly the two discoverable ones.
    let (status, body) = assert_with(&mut token, &mut env, &host, &Ga::new(RP));
    assert_eq!(status, OK);
    assert_eq!(as_int(get(&body.unwrap(), 5).unwrap()), 2);
    assert_eq!(token.credentials(&mut env).unwrap().len(), 7);

    assert_eq!(token.remove_all_credentials(&mut env).unwrap(), 7);
    assert_eq!(token.remove_all_credentials(&mut env).unwrap(), 0);
    assert_eq!(remaining(&mut token, &mut env), 2);
    assert_eq!(env.store.count("rk"), 0);
    token.check_store(&mut env).unwrap();
}

/// getInfo keeps its count of discoverable credentials between requests (counting opens every
/// record); asked after each kind of change, it is never stale: an import, makeCredential, a
/// removal, a failed (power-cut) import, a factory reset, and a store swapped under the token.
#[test]
fn the_remaining_count_follows_every_change_when_asked_in_between() {
    let config = TokenConfig {
        max_resident_credentials: 10,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let remaining = |token: &mut Token, env: &mut TestEnv| {
        let (_, info) = host.ctap2(token, env, INFO, None).unwrap();
        as_int(get(&info.unwrap(), 0x14).unwrap())
    };
    assert_eq!(remaining(&mut token, &mut env), 10);
    assert_eq!(remaining(&mut token, &mut env), 10);
    token
        .import_credential(
            &mut env,
            discoverable(b"d1", b"u1", key(Algorithm::Es256, 31)),
        )
        .unwrap();
    assert_eq!(remaining(&mut token, &mut env), 9);
    let mut mc = Mc::new(RP, b"u2");
    mc.rk = Some(true);
    let made = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(remaining(&mut token, &mut env), 8);
    assert!(token.remove_credential(&mut env, &made.id).unwrap());
    assert_eq!(remaining(&mut token, &mut env), 9);

    env.store.cut_power_at_write(1);
    let cut = token.import_credential(
        &mut env,
        discoverable(b"d3", b"u3", key(Algorithm::Es256, 32)),
    );
    assert!(matches!(cut, Err(ImportError::Store(_))), "{cut:?}");
    env.store.restore_power();
    assert_eq!(
        remaining(&mut token, &mut env),
        9,
        "the cut import added nothing"
    );

    // Another store under the same token (same contents, then one more credential): its own
    // version, so the count is taken again.
    let mut other = env.store.clone();
    let mut batch = WriteBatch::new();
    let before = env.store.snapshot();
    let (ns, id) = before.keys().find(|(ns, _)| ns == "rk").unwrap().clone();
    let record = before[&(ns.clone(), id.clone())].clone();
    batch.put(&ns, &[id.as_slice(), b"-copy"].concat(), record);
    other.commit(&batch).unwrap();
    env.store = other;
    assert_eq!(remaining(&mut token, &mut env), 8);

    token.factory_reset(&mut env).unwrap();
    assert_eq!(remaining(&mut token, &mut env), 10);
}

/// Whether an import error is the one a case expects.
type IsExpected = fn(&ImportError) -> bool;

#[test]
fn invalid_imports_are_refused_and_change_nothing() {
    let (mut token, mut env, _host) = setup(TokenConfig::default());
    let before = env.store.snapshot();
    let k = || key(Algorithm::Es256, 30);
    let cases: Vec<(ImportedCredential, IsExpected)> = vec![
        (non_discoverable(&[], k(), 0), |e| {
            matches!(e, ImportError::InvalidId(0))
        }),
        (non_discoverable(&[1; 129], k(), 0), |e| {
            matches!(e, ImportError::InvalidId(129))
        }),
        (
            ImportedCredential {
                rp_id: String::new(),
                ..non_discoverable(&[1; 16], k(), 0)
            },
            |e| matches!(e, ImportError::InvalidRpId),
        ),
        (
            ImportedCredential {
                user: None,
                ..discoverable(&[1; 16], b"u", k())
            },
            |e| matches!(e, ImportError::UserRequired),
        ),
        (discoverable(&[1; 16], b"", k()), |e| {
            matches!(e, ImportError::UserRequired)
        }),
        (discoverable(&[1; 16], &[9; 65], k()), |e| {
            matches!(e, ImportError::UserHandleTooLong(65))
        }),
    ];
    for (cred, expected) in cases {
        let err = token.import_credential(&mut env, cred).unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(env.store.snapshot(), before);

    let (mut token, mut env, _host) = setup(TokenConfig {
        resident_keys: false,
        ..TokenConfig::default()
    });
    let err = token
        .import_credential(&mut env, discoverable(&[1; 16], b"u", k()))
        .unwrap_err();
    assert!(matches!(err, ImportError::ResidentKeysUnsupported));
    // Non-discoverable ones are still fine there.
    token
        .import_credential(&mut env, non_discoverable(&[1; 16], k(), 0))
        .unwrap();
}

#[test]
fn debug_and_errors_never_show_the_key() {
    let k = key(Algorithm::Es256, 31);
    let hex: String = k.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let cred = non_discoverable(&[1; 16], k, 0);
    let dbg = format!("{cred:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    assert!(!dbg.to_lowercase().contains(&hex[..16]));
    let bytes_dbg = format!("{:?}", cred.key.to_bytes().to_vec());
    assert!(!dbg.contains(&bytes_dbg[1..20]));
}

#[test]
fn counter_modes_accept_a_sign_count_but_use_their_own_counter() {
    for (mode, expected) in [
        (CounterMode::Global, None),
        (CounterMode::AlwaysZero, Some(0)),
    ] {
        let (mut token, mut env, host) = setup(TokenConfig {
            counter_mode: mode,
            ..TokenConfig::default()
        });
        let k = key(Algorithm::Es256, 40);
        let pk = public(&k);
        token
            .import_credential(&mut env, non_discoverable(&[5; 16], k, 1000))
            .unwrap();
        let ga = Ga::new(RP).allow(&[5; 16]);
        let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
        assert_eq!(status, OK);
        let count = assert_signed(&body.unwrap(), &pk, &ga.client_data_hash).sign_count;
        match expected {
            Some(n) => assert_eq!(count, n, "{mode:?}"),
            None => assert!(count < 1000, "{mode:?}: the token-wide counter, not 1000+"),
        }
    }
}

#[test]
fn a_power_cut_during_an_import_leaves_the_old_state() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"user");
    mc.rk = Some(true);
    let made = make_credential(&mut token, &mut env, &host, &mc);
    let before = env.store.snapshot();

    // Replacing the made credential writes several records in one commit; cut at each of them.
    for n in 1..=4 {
        env.store.cut_power_at_write(n);
        let result = token.import_credential(
            &mut env,
            discoverable(&[0x42; 16], b"user", key(Algorithm::Es256, 50)),
        );
        env.store.restore_power();
        assert!(
            matches!(result, Err(ImportError::Store(_))),
            "cut at write {n}: {result:?}"
        );
        assert_eq!(env.store.snapshot(), before, "cut at write {n}");
        token.power_cycle(&mut env);
        token.check_store(&mut env).unwrap();
    }
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let ga = Ga::new(RP);
    let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
    assert_eq!(status, OK);
    assert_eq!(credential_id_of(&body.unwrap()), made.id);
}

#[test]
fn reset_removes_imported_credentials() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    token
        .import_credential(
            &mut env,
            non_discoverable(&[1; 16], key(Algorithm::Es256, 60), 5),
        )
        .unwrap();
    token
        .import_credential(
            &mut env,
            discoverable(&[2; 16], b"u", key(Algorithm::Es256, 61)),
        )
        .unwrap();
    let (status, _) = host.ctap2(&mut token, &mut env, RESET, None).unwrap();
    assert_eq!(status, OK);
    assert!(token.credentials(&mut env).unwrap().is_empty());
    assert_eq!(env.store.count("ctr"), 0);
    let (status, _) = assert_with(&mut token, &mut env, &host, &Ga::new(RP).allow(&[1; 16]));
    assert_eq!(status, 0x2E);
}

#[test]
fn check_store_handles_ten_thousand_credentials_and_still_finds_duplicates() {
    let (mut token, mut env, host) = setup(TokenConfig {
        max_resident_credentials: 20_000,
        ..TokenConfig::default()
    });
    token
        .import_credential(
            &mut env,
            discoverable(b"template", b"t", key(Algorithm::EdDsa, 70)),
        )
        .unwrap();
    let records = RecordStore::list(&env.store, "rk").unwrap();
    let (_, template) = records[0].clone();
    // 10,000 more records for distinct users, written straight into the store (field 2 of a
    // record is the user handle).
    let mut batch = WriteBatch::new();
    for i in 0..10_000u32 {
        let mut value: Value = ciborium::de::from_reader(&template[..]).unwrap();
        if let Value::Map(entries) = &mut value {
            for (k, v) in entries.iter_mut() {
                if *k == int(2) {
                    *v = bytes(&i.to_be_bytes());
                }
            }
        }
        let mut encoded = Vec::new();
        ciborium::ser::into_writer(&value, &mut encoded).unwrap();
        batch.put(
            "rk",
            &[b"id-".as_slice(), &i.to_be_bytes()].concat(),
            encoded,
        );
    }
    RecordStore::commit(&mut env.store, &batch).unwrap();
    let summary = token.check_store(&mut env).unwrap();
    assert_eq!(summary.resident_credentials, 10_001);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(&info.unwrap(), 0x14).unwrap()), 20_000 - 10_001);

    // A duplicate (rpId, user) pair, written behind the token's back, is still found.
    let mut dup = WriteBatch::new();
    dup.put("rk", b"a copy under another id", template);
    RecordStore::commit(&mut env.store, &dup).unwrap();
    let err = token.check_store(&mut env).unwrap_err();
    assert!(
        err.to_string().contains("two resident credentials"),
        "{err}"
    );
}
