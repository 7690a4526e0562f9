//! hmac-secret (CTAP 2.1 §12.5) over real CTAPHID framing. The platform's side (key agreement,
//! salt encryption, saltAuth, output decryption) is written by the test with the crates directly
//! (tests/common/pin.rs, tests/common/hmac.rs). CredRandom is the token's secret, so the outputs
//! are judged by what the specification makes observable: 32 bytes per salt, output2 of (salt1,
//! salt2) is output1 of (salt2), the same salt gives the same output across assertions,
//! protocols and power cycles, and UV and no UV give different ones. hmac-secret-mc has
//! tests/hmac_secret_mc.rs.

mod common;

use ciborium::Value;
use common::hmac::*;
use common::pin::*;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};

#[test]
fn one_and_two_salts_under_both_protocols_give_consistent_outputs() {
    let (mut token, mut env, host) = with_pin();
    let reg = register(&mut token, &mut env, &host, false);
    let one = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        2,
        Some(&reg),
        &salts(false),
        false,
    )
    .unwrap();
    assert_eq!(one.len(), 32);
    let two = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        2,
        Some(&reg),
        &salts(true),
        false,
    )
    .unwrap();
    assert_eq!(two.len(), 64);
    assert_eq!(
        two[..32],
        one[..],
        "output1 is HMAC(CredRandom, salt1) either way"
    );
    assert_ne!(two[32..], two[..32], "salt2 gives another output");
    let second_alone =
        hmac_assertion(&mut token, &mut env, &host, 2, Some(&reg), &SALT2, false).unwrap();
    assert_eq!(two[32..], second_alone[..]);
    // The same salt gives the same output again, and under protocol one (CredRandom does not
    // depend on the protocol that carries the salts).
    let again = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        2,
        Some(&reg),
        &salts(false),
        false,
    )
    .unwrap();
    assert_eq!(again, one);
    let p1 = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        1,
        Some(&reg),
        &salts(true),
        false,
    )
    .unwrap();
    assert_eq!(p1, two);
    // A random-looking output, not the salt or zeros.
    assert_ne!(one, SALT1.to_vec());
    assert_ne!(one, vec![0; 32]);
}

#[test]
fn user_verification_chooses_another_cred_random_and_power_cycles_change_nothing() {
    for rk in [false, true] {
        let (mut token, mut env, mut host) = with_pin();
        let reg = register(&mut token, &mut env, &host, rk);
        let allow = (!rk).then_some(&reg);
        let without = |t: &mut Token, e: &mut TestEnv, h: &HidHost, protocol| {
            hmac_assertion(t, e, h, protocol, allow, &salts(true), false).unwrap()
        };
        let with = |t: &mut Token, e: &mut TestEnv, h: &HidHost, protocol| {
            hmac_assertion(t, e, h, protocol, allow, &salts(true), true).unwrap()
        };
        let no_uv = without(&mut token, &mut env, &host, 2);
        let uv = with(&mut token, &mut env, &host, 1);
        assert_ne!(
            no_uv, uv,
            "CredRandomWithUV is not CredRandomWithoutUV (rk {rk})"
        );
        assert_eq!(with(&mut token, &mut env, &host, 2), uv);
        // New key-agreement keys and no loaded secrets after a power cycle: same outputs.
        token.power_cycle(&mut env);
        host = HidHost::connect(&mut token, &mut env).unwrap();
        assert_eq!(without(&mut token, &mut env, &host, 1), no_uv);
        assert_eq!(with(&mut token, &mut env, &host, 2), uv);
    }
}

#[test]
fn built_in_uv_selects_the_same_cred_random_as_a_pin_token() {
    let (mut token, mut env, host) = setup(TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    });
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    let reg = register(&mut token, &mut env, &host, false);
    let by_pin = hmac_assertion(&mut token, &mut env, &host, 2, Some(&reg), &SALT1, true).unwrap();
    let mut session = Session::new(&mut token, &mut env, &host, 2);
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.uv = Some(true);
    ga.extensions = Some(tmap(vec![(
        "hmac-secret",
        session.hmac_secret_input(&SALT1),
    )]));
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(ad.flags & 0x05, 0x05, "UP and UV by built-in UV");
    let by_built_in = session.decrypt(&as_bytes(ad.extension("hmac-secret").unwrap()));
    assert_eq!(by_built_in, by_pin);
}

#[test]
fn an_absent_protocol_means_protocol_one() {
    let (mut token, mut env, host) = with_pin();
    let reg = register(&mut token, &mut env, &host, false);
    let expected =
        hmac_assertion(&mut token, &mut env, &host, 2, Some(&reg), &SALT1, false).unwrap();
    let mut session = Session::new(&mut token, &mut env, &host, 1);
    let mut input = session.hmac_secret_input(&SALT1);
    if let Value::Map(m) = &mut input {
        m.retain(|(k, _)| *k != int(4));
    }
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.extensions = Some(tmap(vec![("hmac-secret", input)]));
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = parse_auth_data(&as_bytes(get(&body.unwrap(), 2).unwrap()));
    let out = session.decrypt(&as_bytes(ad.extension("hmac-secret").unwrap()));
    assert_eq!(out, expected);
}

/// A getAssertion with this hmac-secret input and a valid pinUvAuthParam; returns the status.
fn refused(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    reg: &Registered,
    pin_token_bytes: &[u8],
    input: Value,
    up: Option<bool>,
) -> u8 {
    let mut ga = Ga::new(RP).allow(&reg.id).with_token(2, pin_token_bytes);
    ga.up = up;
    ga.extensions = Some(tmap(vec![("hmac-secret", input)]));
    host.ctap2(token, env, GA, Some(&ga.value())).unwrap().0
}

#[test]
fn malformed_or_unauthenticated_salts_are_refused_before_the_touch_and_change_nothing() {
    let (mut token, mut env, host) = with_pin();
    let reg = register(&mut token, &mut env, &host, false);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_GA), Some(RP)).unwrap();
    let mut s = Session::new(&mut token, &mut env, &host, 2);
    let store = env.store.snapshot();
    let polls = env.presence.requests().len();

    let with = |s: &Session, enc: &[u8], auth: &[u8], protocol: i64| {
        imap(vec![
            (1, s.platform_key.clone()),
            (2, bytes(enc)),
            (3, bytes(auth)),
            (4, int(protocol)),
        ])
    };
    let good_enc = s.encrypt(&SALT1);
    let good_auth = s.authenticate(&good_enc);
    let mut bad_auth = good_auth.clone();
    bad_auth[0] ^= 1;
    // Salts of the wrong length, correctly authenticated: 16 and 48 bytes.
    let short = s.encrypt(&[1; 16]);
    let short_auth = s.authenticate(&short);
    let odd = s.encrypt(&[1; 48]);
    let odd_auth = s.authenticate(&odd);
    // A ciphertext that is not whole blocks, correctly authenticated.
    let ragged = good_enc[..good_enc.len() - 1].to_vec();
    let ragged_auth = s.authenticate(&ragged);
    let mut off_curve = s.platform_key.clone();
    if let Value::Map(m) = &mut off_curve {
        for (k, v) in m.iter_mut() {
            if *k == int(-3) {
                *v = bytes(&[7; 32]);
            }
        }
    }
    let cases: Vec<(Value, Option<bool>, u8)> = vec![
        (with(&s, &good_enc, &bad_auth, 2), None, PIN_AUTH_INVALID),
        (
            with(&s, &good_enc, &good_auth[..16], 2),
            None,
            PIN_AUTH_INVALID,
        ),
        (with(&s, &short, &short_auth, 2), None, INVALID_PARAMETER),
        (with(&s, &odd, &odd_auth, 2), None, INVALID_PARAMETER),
        (with(&s, &ragged, &ragged_auth, 2), None, INVALID_PARAMETER),
        // The salts were made under protocol two; protocol one's MAC does not match.
        (with(&s, &good_enc, &good_auth, 1), None, PIN_AUTH_INVALID),
        (with(&s, &good_enc, &good_auth, 3), None, INVALID_PARAMETER),
        (
            imap(vec![
                (1, off_curve),
                (2, bytes(&good_enc)),
                (3, bytes(&good_auth)),
                (4, int(2)),
            ]),
            None,
            INVALID_PARAMETER,
        ),
        (
            imap(vec![(2, bytes(&good_enc)), (3, bytes(&good_auth))]),
            None,
            MISSING_PARAMETER,
        ),
        (
            imap(vec![(1, s.platform_key.clone()), (2, bytes(&good_enc))]),
            None,
            MISSING_PARAMETER,
        ),
        (bytes(&good_enc), None, CBOR_UNEXPECTED_TYPE),
        (
            imap(vec![
                (1, s.platform_key.clone()),
                (2, text("salts")),
                (3, bytes(&good_auth)),
            ]),
            None,
            CBOR_UNEXPECTED_TYPE,
        ),
        // hmac-secret needs user presence.
        (
            with(&s, &good_enc, &good_auth, 2),
            Some(false),
            UNSUPPORTED_OPTION,
        ),
    ];
    for (i, (input, up, status)) in cases.into_iter().enumerate() {
        assert_eq!(
            refused(&mut token, &mut env, &host, &reg, &t, input, up),
            status,
            "case {i}"
        );
    }
    assert_eq!(env.store.snapshot(), store, "no counter, nothing stored");
    assert_eq!(env.presence.requests().len(), polls, "no touch asked");
    // The pinUvAuthToken sent along was not used up, and the counter moves by one.
    let before = reg.auth_data.sign_count;
    let mut ga = Ga::new(RP).allow(&reg.id).with_token(2, &t);
    ga.extensions = Some(tmap(vec![(
        "hmac-secret",
        with(&s, &good_enc, &good_auth, 2),
    )]));
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    assert!(ad.sign_count > before);
    assert_eq!(
        s.decrypt(&as_bytes(ad.extension("hmac-secret").unwrap()))
            .len(),
        32
    );
}

#[test]
fn make_credential_checks_the_hmac_secret_input_type() {
    let (mut token, mut env, host) = with_pin();
    let mut mc = Mc::new(RP, b"user");
    mc.extensions = Some(tmap(vec![("hmac-secret", int(1))]));
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, CBOR_UNEXPECTED_TYPE);
    // false: no output, and the credential still gets its secrets (hmac-secret works later).
    mc.extensions = Some(tmap(vec![("hmac-secret", Value::Bool(false))]));
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(reg.auth_data.extensions, None);
    assert_eq!(reg.auth_data.flags & 0x80, 0, "no ED without outputs");
    let out = hmac_assertion(&mut token, &mut env, &host, 2, Some(&reg), &SALT1, false);
    assert_eq!(out.map(|o| o.len()), Ok(32));
}

#[test]
fn every_discoverable_credential_of_a_get_next_assertion_answers_with_its_own_secret() {
    let (mut token, mut env, host) = with_pin();
    for user in [b"alice".as_slice(), b"bob"] {
        let t = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_MC), Some(RP)).unwrap();
        let mut mc = Mc::new(RP, user).with_token(2, &t);
        mc.rk = Some(true);
        make_credential(&mut token, &mut env, &host, &mc);
    }
    let mut session = Session::new(&mut token, &mut env, &host, 2);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_GA), Some(RP)).unwrap();
    let mut ga = Ga::new(RP).with_token(2, &t);
    ga.extensions = Some(tmap(vec![(
        "hmac-secret",
        session.hmac_secret_input(&SALT1),
    )]));
    let (status, first) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let first = first.unwrap();
    assert_eq!(as_int(get(&first, 5).unwrap()), 2);
    let (status, next) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, OK);
    let outputs: Vec<Vec<u8>> = [first, next.unwrap()]
        .iter()
        .map(|b| {
            let ad = parse_auth_data(&as_bytes(get(b, 2).unwrap()));
            session.decrypt(&as_bytes(ad.extension("hmac-secret").unwrap()))
        })
        .collect();
    assert_ne!(outputs[0], outputs[1]);
}

#[test]
fn imported_credentials_derive_their_secrets_stably() {
    use firmware_sim::{ImportedCredential, PrivateKey, UserEntity, credential::Algorithm};
    let (mut token, mut env, mut host) = with_pin();
    let key = PrivateKey::generate(Algorithm::Es256, &mut env.rng).unwrap();
    let import = |discoverable: bool, id: &[u8]| ImportedCredential {
        id: id.to_vec(),
        rp_id: RP.into(),
        user: Some(UserEntity {
            id: b"imported".to_vec(),
            name: None,
            display_name: None,
        }),
        key: key.clone(),
        sign_count: 0,
        discoverable,
    };
    token
        .import_credential(&mut env, import(false, b"imported-1"))
        .unwrap();
    let cose = key.cose_public_key().unwrap();
    let reg = Registered {
        id: b"imported-1".to_vec(),
        key: PublicKey::from_cose(&cose),
        auth_data: parse_auth_data(&[0; 37]),
        response: Value::Null,
    };
    let first = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        2,
        Some(&reg),
        &salts(true),
        false,
    )
    .unwrap();
    let uv = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        1,
        Some(&reg),
        &salts(true),
        true,
    )
    .unwrap();
    assert_ne!(first, uv);
    // Stable across a power cycle and a re-import of the same credential.
    token.power_cycle(&mut env);
    host = HidHost::connect(&mut token, &mut env).unwrap();
    token
        .import_credential(&mut env, import(false, b"imported-1"))
        .unwrap();
    let again = hmac_assertion(
        &mut token,
        &mut env,
        &host,
        2,
        Some(&reg),
        &salts(true),
        false,
    )
    .unwrap();
    assert_eq!(again, first);
}
