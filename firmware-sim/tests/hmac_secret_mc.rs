//! hmac-secret-mc (CTAP 2.2 §12.8) over real CTAPHID framing: the salts given at
//! makeCredential are answered in the registration's authenticator data with what a later
//! getAssertion with the same salts and the same user verification answers; refusals register
//! nothing. The platform's side is tests/common/pin.rs and tests/common/hmac.rs.

mod common;

use ciborium::Value;
use common::hmac::*;
use common::pin::*;
use common::*;
use firmware_sim::Token;
use firmware_sim::testing::{HidHost, TestEnv};

/// makeCredential with hmac-secret-mc for `salt_bytes`, verified when `uv`; the registration
/// and the decrypted output.
fn register_mc(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    rk: bool,
    uv: bool,
    salt_bytes: &[u8],
) -> (Registered, Vec<u8>) {
    let mut session = Session::new(token, env, host, protocol);
    let mut mc = Mc::new(RP, b"mc user");
    mc.extensions = Some(tmap(vec![
        ("hmac-secret", Value::Bool(true)),
        ("hmac-secret-mc", session.hmac_secret_input(salt_bytes)),
    ]));
    if uv {
        let t = pin_token(token, env, host, protocol, PIN, Some(PERM_MC), Some(RP)).unwrap();
        mc = mc.with_token(protocol, &t);
    }
    mc.rk = Some(rk);
    let reg = make_credential(token, env, host, &mc);
    assert_eq!(reg.auth_data.flags & 0x04 != 0, uv);
    assert_eq!(
        reg.auth_data.extension("hmac-secret"),
        Some(&Value::Bool(true))
    );
    let sealed = as_bytes(reg.auth_data.extension("hmac-secret-mc").unwrap());
    let out = session.decrypt(&sealed);
    assert_eq!(out.len(), salt_bytes.len());
    (reg, out)
}

#[test]
fn hmac_secret_mc_gives_at_registration_what_get_assertion_gives_later() {
    let (mut token, mut env, host) = with_pin();
    let info = info(&mut token, &mut env, &host);
    let extensions = get(&info, 2).unwrap();
    assert!(matches!(extensions, Value::Array(a) if a.contains(&text("hmac-secret-mc"))));
    for protocol in [1, 2] {
        // Non-discoverable without UV (makeCredUvNotRqd), and discoverable with it.
        let (reg, at_mc) = register_mc(
            &mut token,
            &mut env,
            &host,
            protocol,
            false,
            false,
            &salts(true),
        );
        let later = hmac_assertion(
            &mut token,
            &mut env,
            &host,
            3 - protocol,
            Some(&reg),
            &salts(true),
            false,
        )
        .unwrap();
        assert_eq!(at_mc, later, "protocol {protocol}, no UV");
        let with_uv = hmac_assertion(
            &mut token,
            &mut env,
            &host,
            2,
            Some(&reg),
            &salts(true),
            true,
        )
        .unwrap();
        assert_ne!(with_uv, at_mc);

        let (rk_reg, rk_mc) =
            register_mc(&mut token, &mut env, &host, protocol, true, true, &SALT2);
        let later =
            hmac_assertion(&mut token, &mut env, &host, protocol, None, &SALT2, true).unwrap();
        assert_eq!(rk_mc, later, "protocol {protocol}, discoverable, UV");
        assert_ne!(rk_reg.id, reg.id);
    }
}

#[test]
fn hmac_secret_mc_refusals_register_nothing() {
    let (mut token, mut env, host) = with_pin();
    let store = env.store.snapshot();
    let polls = env.presence.requests().len();
    let mut session = Session::new(&mut token, &mut env, &host, 2);
    let good = session.hmac_secret_input(&SALT1);
    let mut bad_auth = good.clone();
    if let Value::Map(m) = &mut bad_auth {
        for (k, v) in m.iter_mut() {
            if *k == int(3)
                && let Value::Bytes(b) = v
            {
                b[5] ^= 0x80;
            }
        }
    }
    let odd = session.hmac_secret_input(&[3; 48]);
    let cases = vec![
        // hmac-secret-mc without "hmac-secret": true beside it.
        (vec![("hmac-secret-mc", good.clone())], MISSING_PARAMETER),
        (
            vec![
                ("hmac-secret", Value::Bool(false)),
                ("hmac-secret-mc", good.clone()),
            ],
            MISSING_PARAMETER,
        ),
        (
            vec![
                ("hmac-secret", Value::Bool(true)),
                ("hmac-secret-mc", bad_auth),
            ],
            PIN_AUTH_INVALID,
        ),
        (
            vec![("hmac-secret", Value::Bool(true)), ("hmac-secret-mc", odd)],
            INVALID_PARAMETER,
        ),
        (
            vec![
                ("hmac-secret", Value::Bool(true)),
                ("hmac-secret-mc", int(7)),
            ],
            CBOR_UNEXPECTED_TYPE,
        ),
    ];
    for (i, (extensions, status)) in cases.into_iter().enumerate() {
        let mut mc = Mc::new(RP, b"user");
        mc.extensions = Some(tmap(extensions));
        let got = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0;
        assert_eq!(got, status, "case {i}");
    }
    assert_eq!(env.store.snapshot(), store, "nothing registered");
    assert_eq!(env.presence.requests().len(), polls, "no touch asked");
}
