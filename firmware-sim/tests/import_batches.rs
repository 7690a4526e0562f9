//! Credentials imported in batches: one commit per batch, all-or-nothing with a named bad entry,
//! later entries winning as one-by-one imports would, the full-store decision, power cuts at
//! every write, and imports that must not overwrite.

mod common;

use common::import::*;
use common::*;
use firmware_sim::credential::Algorithm;
use firmware_sim::testing::{HidHost, SeededRng, TestEnv};
use firmware_sim::{ImportError, ImportedCredential, PrivateKey, Token, TokenConfig};

/// A discoverable credential for `rp_id` and `user_id`.
fn discoverable_for(rp_id: &str, id: &[u8], user_id: &[u8], key: PrivateKey) -> ImportedCredential {
    ImportedCredential {
        rp_id: rp_id.into(),
        ..discoverable(id, user_id, key)
    }
}

/// What discovery should return for one imported credential.
struct Expected {
    id: Vec<u8>,
    user_id: Vec<u8>,
    sign_count: u32,
    key: Option<PublicKey>,
}

#[test]
fn a_batch_of_two_thousand_discoverable_imports_commits_once_and_all_are_discovered() {
    let (mut token, mut env, host) = setup(TokenConfig {
        max_resident_credentials: 5_000,
        ..TokenConfig::default()
    });
    const RPS: [&str; 4] = ["a.example", "b.example", "c.example", "d.example"];
    let mut rng = SeededRng::new(80);
    let mut expected: Vec<Vec<Expected>> = (0..RPS.len()).map(|_| Vec::new()).collect();
    let mut creds = Vec::new();
    for i in 0..2_000u32 {
        let rp = i as usize % RPS.len();
        let id = [b"batch-".as_slice(), &i.to_be_bytes()].concat();
        let user_id = format!("user-{i}").into_bytes();
        let k = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
        expected[rp].push(Expected {
            id: id.clone(),
            user_id: user_id.clone(),
            sign_count: i,
            // Checking every signature would only slow the test; every 50th is checked.
            key: (i % 50 == 0).then(|| public(&k)),
        });
        let mut cred = discoverable_for(RPS[rp], &id, &user_id, k);
        cred.sign_count = i;
        creds.push(cred);
    }
    let (commits, writes) = (env.store.commits(), env.store.writes());
    assert_eq!(token.import_credentials(&mut env, creds).unwrap(), 2_000);
    assert_eq!(
        env.store.commits(),
        commits + 1,
        "one commit for the whole batch"
    );
    assert_eq!(
        env.store.writes(),
        writes + 4_000,
        "a record and a counter per credential"
    );
    assert_eq!(env.store.count("rk"), 2_000);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(&info.unwrap(), 0x14).unwrap()), 3_000);

    for (rp, wanted) in RPS.iter().zip(&expected) {
        let ga = Ga::new(rp);
        let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
        assert_eq!(status, OK, "{rp}");
        let body = body.unwrap();
        assert_eq!(
            as_int(get(&body, 5).unwrap()),
            500,
            "{rp}: numberOfCredentials"
        );
        let mut seen = vec![body];
        for _ in 1..500 {
            let (status, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
            assert_eq!(status, OK, "{rp}");
            seen.push(body.unwrap());
        }
        // Most recently created first: the batch's order, reversed.
        for (body, want) in seen.iter().zip(wanted.iter().rev()) {
            assert_eq!(credential_id_of(body), want.id, "{rp}");
            assert_eq!(
                as_bytes(tget(get(body, 4).unwrap(), "id").unwrap()),
                want.user_id
            );
            if let Some(pk) = &want.key {
                let ad = assert_signed(body, pk, &ga.client_data_hash);
                assert_eq!(ad.rp_id_hash, rp_hash(rp));
                assert_eq!(
                    ad.sign_count,
                    want.sign_count + 1,
                    "the counter continues from sign_count"
                );
            }
        }
        let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
        assert_eq!(
            status, 0x30,
            "{rp}: no 501st credential (CTAP2_ERR_NOT_ALLOWED)"
        );
    }
    token.check_store(&mut env).unwrap();
}

#[test]
fn a_batch_with_an_invalid_entry_writes_nothing_and_names_the_entry() {
    let (mut token, mut env, _host) = setup(TokenConfig::default());
    token
        .import_credential(
            &mut env,
            discoverable(b"kept", b"u", key(Algorithm::Es256, 90)),
        )
        .unwrap();
    let before = env.store.snapshot();
    let commits = env.store.commits();
    let mut creds: Vec<ImportedCredential> = (0..10u8)
        .map(|i| discoverable(&[i + 1; 16], &[i; 8], key(Algorithm::Es256, 91)))
        .collect();
    creds[6].rp_id = String::new();
    creds[8].id.clear(); // a second bad entry: the first one is reported
    let err = token.import_credentials(&mut env, creds).unwrap_err();
    assert_eq!(
        err,
        ImportError::InBatch {
            index: 6,
            source: Box::new(ImportError::InvalidRpId)
        }
    );
    assert_eq!(
        err.to_string(),
        "credential #6: the relying party id must not be empty"
    );
    let source = std::error::Error::source(&err).expect("the entry's own error as source");
    assert_eq!(source.to_string(), ImportError::InvalidRpId.to_string());
    assert_eq!(env.store.snapshot(), before, "nothing of the batch written");
    assert_eq!(env.store.commits(), commits);

    // A one-element batch names its entry too; the single import keeps the bare error.
    let bad = discoverable(&[1; 16], &[9; 65], key(Algorithm::Es256, 92));
    let err = token
        .import_credentials(&mut env, vec![bad.clone()])
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::InBatch { index: 0, source } if **source == ImportError::UserHandleTooLong(65)),
        "{err:?}"
    );
    assert_eq!(
        token.import_credential(&mut env, bad).unwrap_err(),
        ImportError::UserHandleTooLong(65)
    );

    // Discoverable entries on a token without resident keys.
    let (mut token, mut env, _host) = setup(TokenConfig {
        resident_keys: false,
        ..TokenConfig::default()
    });
    let before = env.store.snapshot();
    let creds = vec![
        non_discoverable(&[1; 16], key(Algorithm::Es256, 93), 0),
        discoverable(&[2; 16], b"u", key(Algorithm::Es256, 94)),
    ];
    let err = token.import_credentials(&mut env, creds).unwrap_err();
    assert!(
        matches!(&err, ImportError::InBatch { index: 1, source } if **source == ImportError::ResidentKeysUnsupported),
        "{err:?}"
    );
    assert_eq!(env.store.snapshot(), before);

    // An empty batch is fine and writes nothing.
    assert_eq!(token.import_credentials(&mut env, Vec::new()).unwrap(), 0);
    assert_eq!(env.store.snapshot(), before);
}

/// The credentials `ops` describe: (id, user, discoverable, key seed), all for two relying
/// parties picked by the id's first byte.
fn described(ops: &[(u8, u8, bool, u64)]) -> Vec<ImportedCredential> {
    ops.iter()
        .map(|&(id, user_id, is_discoverable, seed)| {
            let rp = if id % 2 == 0 { RP } else { "other.example" };
            let mut cred = if is_discoverable {
                discoverable_for(rp, &[id; 20], &[user_id; 4], key(Algorithm::Es256, seed))
            } else {
                ImportedCredential {
                    rp_id: rp.into(),
                    ..non_discoverable(&[id; 20], key(Algorithm::Es256, seed), 0)
                }
            };
            cred.sign_count = seed as u32 * 10;
            cred
        })
        .collect()
}

#[test]
fn later_entries_of_a_batch_win_as_if_imported_one_by_one() {
    let config = TokenConfig::default();
    // Stored first: a made credential for user A, and imported ones.
    let prepare = || {
        let (mut token, mut env, host) = setup(config.clone());
        let mut mc = Mc::new(RP, b"user-A");
        mc.rk = Some(true);
        let made = make_credential(&mut token, &mut env, &host, &mc);
        for cred in described(&[(2, 1, false, 1), (4, 2, true, 2)]) {
            token.import_credential(&mut env, cred).unwrap();
        }
        (token, env, host, made)
    };
    let user_a = |id: &[u8], seed| discoverable(id, b"user-A", key(Algorithm::EdDsa, seed));
    let batch = || {
        let mut creds = vec![
            user_a(b"first for A", 100),  // replaces the made one
            user_a(b"second for A", 101), // replaces the first, inside the batch
        ];
        creds.extend(described(&[
            (2, 7, false, 3), // same id as the stored non-discoverable one: replaced
            (6, 3, true, 4),  // a new discoverable one...
            (6, 3, false, 5), // ...turned non-discoverable by the same id
            (4, 5, true, 6),  // the stored discoverable id, now for another user...
            (8, 5, true, 7),  // ...whose new credential then replaces it: id 4 is gone
        ]));
        creds
    };

    let (mut token, mut env, host, made) = prepare();
    let commits = env.store.commits();
    assert_eq!(token.import_credentials(&mut env, batch()).unwrap(), 4);
    assert_eq!(env.store.commits(), commits + 1);

    let (mut one_token, mut one_env, _, _) = prepare();
    for cred in batch() {
        one_token.import_credential(&mut one_env, cred).unwrap();
    }
    assert!(
        env.store.snapshot() == one_env.store.snapshot(),
        "the same records, counters and creation order as one by one"
    );

    let listed = token.credentials(&mut env).unwrap();
    let ids: Vec<&[u8]> = listed.iter().map(|c| c.credential_id.as_slice()).collect();
    assert_eq!(
        ids,
        [&b"second for A"[..], &[2; 20], &[6; 20], &[8; 20]],
        "oldest first"
    );
    assert_eq!(
        listed.iter().map(|c| c.discoverable).collect::<Vec<_>>(),
        [true, false, false, true]
    );
    assert_eq!(listed[1].sign_count, 30);
    assert!(listed[1].user.id.is_empty(), "imported without a user");

    // Discovery for RP: user A's second credential, and the one for user 5 (id 8).
    let ga = Ga::new(RP);
    let (status, body) = assert_with(&mut token, &mut env, &host, &ga);
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(as_int(get(&body, 5).unwrap()), 2);
    assert_eq!(credential_id_of(&body), [8; 20], "newest first");
    let (status, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(credential_id_of(&body), b"second for A");
    assert_signed(
        &body,
        &public(&key(Algorithm::EdDsa, 101)),
        &ga.client_data_hash,
    );
    // The replaced ones sign no more.
    for id in [&made.id[..], b"first for A", &[4; 20]] {
        let (status, _) = assert_with(&mut token, &mut env, &host, &Ga::new(RP).allow(id));
        assert_eq!(status, 0x2E, "{id:?}");
    }
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(
        as_int(get(&info.unwrap(), 0x14).unwrap()),
        config.max_resident_credentials as i128 - 2
    );
    token.check_store(&mut env).unwrap();
}

#[test]
fn random_batches_end_where_one_by_one_imports_end() {
    let mut rng = SeededRng::new(85);
    let mut draw = |n: u8| {
        let mut b = [0u8; 1];
        firmware_sim::env::Rng::fill_bytes(&mut rng, &mut b);
        b[0] % n
    };
    for trial in 0..150u64 {
        let mut ops = Vec::new();
        for step in 0..12u64 {
            ops.push((draw(6) + 1, draw(3), draw(3) != 0, trial * 100 + step + 1));
        }
        let (stored, batch) = ops.split_at(usize::from(draw(6)));
        let run = |one_by_one: bool| {
            let (mut token, mut env, _host) = setup(TokenConfig::default());
            for cred in described(stored) {
                token.import_credential(&mut env, cred).unwrap();
            }
            let n = if one_by_one {
                described(batch)
                    .into_iter()
                    .map(|c| token.import_credential(&mut env, c).unwrap())
                    .count()
            } else {
                token
                    .import_credentials(&mut env, described(batch))
                    .unwrap()
            };
            token.check_store(&mut env).unwrap();
            (env.store.snapshot(), n)
        };
        let (batched, n) = run(false);
        let (single, _) = run(true);
        assert!(
            batched == single,
            "trial {trial}: {stored:?} then {batch:?}"
        );
        let distinct_ids: std::collections::HashSet<u8> = batch.iter().map(|o| o.0).collect();
        assert!(n <= distinct_ids.len(), "trial {trial}");
    }
}

#[test]
fn full_is_decided_on_the_final_state_of_a_batch() {
    let config = TokenConfig {
        max_resident_credentials: 3,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let d = |id: &[u8], user_id: &[u8]| discoverable(id, user_id, key(Algorithm::Es256, 95));
    token
        .import_credentials(&mut env, vec![d(b"1", b"u1"), d(b"2", b"u2")])
        .unwrap();
    let before = env.store.snapshot();

    // Two new users need two slots; one is left.
    let err = token
        .import_credentials(&mut env, vec![d(b"3", b"u3"), d(b"4", b"u4")])
        .unwrap_err();
    assert_eq!(err, ImportError::Full(3));
    assert_eq!(env.store.snapshot(), before, "nothing of the batch written");

    // Replacing a user takes no slot, so with one new user it fits exactly.
    assert_eq!(
        token
            .import_credentials(&mut env, vec![d(b"1-again", b"u1"), d(b"3", b"u3")])
            .unwrap(),
        2
    );
    let remaining = |token: &mut Token, env: &mut TestEnv| {
        let (_, info) = host.ctap2(token, env, INFO, None).unwrap();
        as_int(get(&info.unwrap(), 0x14).unwrap())
    };
    assert_eq!(remaining(&mut token, &mut env), 0);

    // Full now, but not for a batch whose final state is no fuller: a new user whose
    // credential a later entry makes non-discoverable, and non-discoverable imports.
    assert_eq!(
        token
            .import_credentials(&mut env, vec![d(b"5", b"u5")])
            .unwrap_err(),
        ImportError::Full(3)
    );
    let mut nd = non_discoverable(b"5", key(Algorithm::Es256, 96), 0);
    nd.rp_id = RP.into();
    assert_eq!(
        token
            .import_credentials(
                &mut env,
                vec![
                    d(b"5", b"u5"),
                    nd,
                    non_discoverable(b"6", key(Algorithm::Es256, 97), 0)
                ]
            )
            .unwrap(),
        2
    );
    assert_eq!(remaining(&mut token, &mut env), 0);
    assert_eq!(token.resident_credentials(&mut env).unwrap().len(), 3);
    assert_eq!(token.credentials(&mut env).unwrap().len(), 5);
    token.check_store(&mut env).unwrap();
}

#[test]
fn a_batch_import_drops_the_saved_get_next_assertion_state() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    token
        .import_credentials(
            &mut env,
            vec![
                discoverable(b"one", b"u1", key(Algorithm::Es256, 98)),
                discoverable(b"two", b"u2", key(Algorithm::Es256, 99)),
            ],
        )
        .unwrap();
    let (status, body) = assert_with(&mut token, &mut env, &host, &Ga::new(RP));
    assert_eq!(status, OK);
    assert_eq!(as_int(get(&body.unwrap(), 5).unwrap()), 2);
    // Replaces the credential getNextAssertion would have signed with next.
    token
        .import_credentials(
            &mut env,
            vec![discoverable(b"one-new", b"u1", key(Algorithm::Es256, 100))],
        )
        .unwrap();
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "CTAP2_ERR_NOT_ALLOWED");
}

#[test]
fn a_power_cut_at_every_write_of_a_batch_leaves_the_old_state_or_all_of_it() {
    let prepare = || {
        let (mut token, mut env, host) = setup(TokenConfig::default());
        let mut mc = Mc::new(RP, b"user");
        mc.rk = Some(true);
        let made = make_credential(&mut token, &mut env, &host, &mc);
        token
            .import_credential(
                &mut env,
                non_discoverable(b"nd", key(Algorithm::Es256, 101), 3),
            )
            .unwrap();
        (token, env, made)
    };
    let batch = || {
        let mut creds = vec![
            discoverable(
                b"replaces the made one",
                b"user",
                key(Algorithm::Es256, 102),
            ),
            non_discoverable(b"nd", key(Algorithm::Es384, 103), 9),
        ];
        for i in 0..5u8 {
            creds.push(discoverable(&[i; 16], &[i; 3], key(Algorithm::EdDsa, 104)));
        }
        creds
    };
    // The complete run: how many writes it makes and where it ends.
    let (mut token, mut env, _) = prepare();
    let base = env.store.writes();
    token.import_credentials(&mut env, batch()).unwrap();
    let total = env.store.writes() - base;
    assert_eq!(
        total,
        2 + 7 * 2,
        "delete the made one and its counter; put 7 and their counters"
    );
    let after = env.store.snapshot();

    for n in 1..=total + 1 {
        let (mut token, mut env, made) = prepare();
        let before = env.store.snapshot();
        env.store.cut_power_at_write(n);
        let result = token.import_credentials(&mut env, batch());
        env.store.restore_power();
        if n <= total {
            assert!(
                matches!(result, Err(ImportError::Store(_))),
                "cut at write {n}: {result:?}"
            );
            assert!(
                env.store.snapshot() == before,
                "cut at write {n}: the old state"
            );
        } else {
            assert_eq!(result, Ok(7));
            assert!(env.store.snapshot() == after, "all of the batch");
        }
        token.power_cycle(&mut env);
        token.check_store(&mut env).unwrap();
        let host = HidHost::connect(&mut token, &mut env).unwrap();
        let (status, body) = assert_with(&mut token, &mut env, &host, &Ga::new(RP));
        assert_eq!(status, OK, "cut at write {n}");
        let found = credential_id_of(&body.unwrap());
        if n <= total {
            assert_eq!(found, made.id);
        } else {
            assert_eq!(found, [4; 16], "the newest discoverable one");
        }
    }
}

#[test]
fn imports_that_must_not_overwrite_refuse_and_change_nothing() {
    let (mut token, mut env, _host) = setup(TokenConfig::default());
    let id: Vec<u8> = vec![0x42; 16];
    token
        .import_credential(
            &mut env,
            non_discoverable(&id, key(Algorithm::Es256, 1), 41),
        )
        .unwrap();
    let before = token.credentials(&mut env).unwrap();
    // The same id again, without asking to replace: refused, the counter stays.
    let err = token
        .import_credential_no_overwrite(
            &mut env,
            non_discoverable(&id, key(Algorithm::Es256, 2), 0),
            false,
        )
        .unwrap_err();
    assert_eq!(err, ImportError::Exists);
    assert_eq!(token.credentials(&mut env).unwrap(), before);
    // A discoverable one for a stored (rpId, user handle), or twice in one batch: refused.
    token
        .import_credential(
            &mut env,
            discoverable(b"rk-1", b"user-1", key(Algorithm::Es256, 3)),
        )
        .unwrap();
    let before = token.credentials(&mut env).unwrap();
    let err = token
        .import_credential_no_overwrite(
            &mut env,
            discoverable(b"rk-2", b"user-1", key(Algorithm::Es256, 4)),
            false,
        )
        .unwrap_err();
    assert_eq!(err, ImportError::UserExists);
    let batch = vec![
        non_discoverable(b"new-1", key(Algorithm::Es256, 5), 0),
        non_discoverable(b"new-1", key(Algorithm::Es256, 6), 0),
    ];
    let err = token
        .import_credentials_no_overwrite(&mut env, batch, &[false, false])
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::InBatch { index: 1, source } if **source == ImportError::Exists),
        "{err:?}"
    );
    assert_eq!(token.credentials(&mut env).unwrap(), before);
    // Asked to replace: replaced.
    token
        .import_credential_no_overwrite(
            &mut env,
            non_discoverable(&id, key(Algorithm::Es256, 7), 5),
            true,
        )
        .unwrap();
    let after = token.credentials(&mut env).unwrap();
    let c = after.iter().find(|c| c.credential_id == id).unwrap();
    assert_eq!(c.sign_count, 5);
}
