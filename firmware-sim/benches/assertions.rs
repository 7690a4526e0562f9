//! getAssertion rates of the token alone (in-memory store, simulated clock, `HidHost`): a plain
//! assertion beside an hmac-secret assertion (one salt, and two salts; PIN/UV auth protocol 2)
//! with the same non-discoverable credential, in the same run. The hmac-secret figures are
//! given twice: with the platform's key agreement done once (the salts encrypted once and
//! reused), and with a getKeyAgreement before every assertion, as python-fido2 does.
//!
//! `cargo bench -p firmware-sim --bench assertions`; `ASSERTIONS_BENCH_N` sets the number of
//! assertions per figure (default 3000), `ASSERTIONS_BENCH_PLAIN_ONLY=1` measures only the plain
//! one (for a build without extensions). The last line printed is JSON. Not a test: nothing
//! here asserts on time.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::time::Instant;

use ciborium::value::Value;
use common::pin::Session;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{AttestationMode, Token, TokenConfig};

/// getAssertion with an allow list of `id` and the given extensions map.
fn request(i: u64, id: &[u8], extensions: Option<Value>) -> Value {
    let mut entries = vec![
        (1, text("example.com")),
        (2, bytes(&cdh(&format!("ga {i}")))),
        (3, Value::Array(vec![descriptor(id)])),
    ];
    if let Some(e) = extensions {
        entries.push((4, e));
    }
    imap(entries)
}

/// The hmac-secret input for `salts` under `session`.
fn hmac_input(session: &mut Session, salts: &[u8]) -> Value {
    let salt_enc = session.encrypt(salts);
    let salt_auth = session.authenticate(&salt_enc);
    tmap(vec![(
        "hmac-secret",
        imap(vec![
            (1, session.platform_key.clone()),
            (2, bytes(&salt_enc)),
            (3, bytes(&salt_auth)),
            (4, int(session.protocol.into())),
        ]),
    )])
}

/// Assertions per second of `n` requests made by `make`.
fn rate(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    n: u64,
    check_output: bool,
    make: &mut dyn FnMut(&mut Token, &mut TestEnv, u64) -> Value,
) -> f64 {
    let mut elapsed = 0.0;
    for i in 0..n {
        let req = make(token, env, i);
        let t = Instant::now();
        let (status, body) = host
            .ctap2(token, env, GA, Some(&req))
            .expect("getAssertion");
        elapsed += t.elapsed().as_secs_f64();
        assert_eq!(status, OK, "getAssertion status");
        if check_output {
            let raw = as_bytes(get(body.as_ref().expect("body"), 2).expect("authData"));
            assert!(raw[32] & 0x80 != 0, "the hmac-secret output is there");
        }
    }
    n as f64 / elapsed
}

fn main() {
    let n: u64 = std::env::var("ASSERTIONS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let plain_only = std::env::var("ASSERTIONS_BENCH_PLAIN_ONLY").is_ok_and(|v| v == "1");
    let (mut token, mut env, host) = setup(TokenConfig {
        attestation: AttestationMode::None,
        ..TokenConfig::default()
    });
    let mut mc = Mc::new("example.com", b"user");
    mc.user_name = None;
    let mut mc_value = mc.value();
    if let Value::Map(entries) = &mut mc_value {
        // Encoding puts the members in canonical order.
        entries.push((int(6), tmap(vec![("hmac-secret", Value::Bool(true))])));
    }
    let (status, body) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc_value))
        .expect("makeCredential");
    assert_eq!(status, OK);
    let raw = as_bytes(get(body.as_ref().expect("body"), 2).expect("authData"));
    let len = usize::from(u16::from_be_bytes([raw[53], raw[54]]));
    let id = raw[55..55 + len].to_vec();

    // Warm-up, then the figures (plain first and last: the machine's load drifts).
    rate(
        &mut token,
        &mut env,
        &host,
        n / 10,
        false,
        &mut |_, _, i| request(i, &id, None),
    );
    let plain = rate(&mut token, &mut env, &host, n, false, &mut |_, _, i| {
        request(i, &id, None)
    });
    let mut summary = serde_like(&[("plain_per_s", plain)]);
    println!("plain getAssertion:                                {plain:>8.0}/s");
    if !plain_only {
        let mut session = Session::new(&mut token, &mut env, &host, 2);
        let one = hmac_input(&mut session, &[0x11; 32]);
        let two = hmac_input(&mut session, &[0x22; 64]);
        let one_salt = rate(&mut token, &mut env, &host, n, true, &mut |_, _, i| {
            request(i, &id, Some(one.clone()))
        });
        let two_salts = rate(&mut token, &mut env, &host, n, true, &mut |_, _, i| {
            request(i, &id, Some(two.clone()))
        });
        let with_key_agreement = rate(&mut token, &mut env, &host, n / 4, true, &mut |t, e, i| {
            let mut s = Session::new(t, e, &host, 2);
            request(i, &id, Some(hmac_input(&mut s, &[0x33; 32])))
        });
        let plain_again = rate(&mut token, &mut env, &host, n, false, &mut |_, _, i| {
            request(i, &id, None)
        });
        println!("hmac-secret getAssertion, one salt:                {one_salt:>8.0}/s");
        println!("hmac-secret getAssertion, two salts:               {two_salts:>8.0}/s");
        println!(
            "hmac-secret getAssertion, one salt, key agreement: {with_key_agreement:>8.0}/s (getKeyAgreement not timed)"
        );
        println!("plain getAssertion, again:                         {plain_again:>8.0}/s");
        println!(
            "time per assertion, hmac-secret (one salt) / plain: {:.2}",
            plain / one_salt
        );
        summary = serde_like(&[
            ("plain_per_s", plain),
            ("hmac_secret_one_salt_per_s", one_salt),
            ("hmac_secret_two_salts_per_s", two_salts),
            ("hmac_secret_with_key_agreement_per_s", with_key_agreement),
            ("plain_again_per_s", plain_again),
        ]);
    }
    println!("{summary}");
}

/// A flat JSON object of numbers.
fn serde_like(items: &[(&str, f64)]) -> String {
    let body: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v:.1}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}
