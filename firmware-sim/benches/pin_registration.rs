//! Registration rates of the token alone (in-memory store, simulated clock, `HidHost`): a
//! registration with a PIN (getKeyAgreement, getPinUvAuthTokenUsingPinWithPermissions with the
//! mc permission, then makeCredential with pinUvAuthParam: what a platform does for
//! `userVerification: "required"`, each token being used up by its registration) beside plain
//! makeCredential on a key without a PIN, in the same run. Both make non-discoverable ES256
//! credentials with attestation "none".
//!
//! The PIN figure includes the platform's side of PIN/UV auth protocol 2 (its ECDH, the PIN
//! hash encrypted, the token decrypted and the HMAC), as a real client pays it; the plain
//! figure has no platform work. `cargo bench -p firmware-sim --bench pin_registration`;
//! `PIN_BENCH_N` sets the registrations per figure (default 1000). The last line printed is
//! JSON. Not a test: nothing here asserts on time.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::time::Instant;

use common::pin::{pin_token, set_pin};
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{AttestationMode, Token, TokenConfig};

const RP: &str = "example.com";
const PIN: &str = "123456";
/// The mc permission.
const MC_PERMISSION: i64 = 0x01;

fn key() -> (Token, TestEnv, HidHost) {
    setup(TokenConfig {
        attestation: AttestationMode::None,
        ..TokenConfig::default()
    })
}

/// The makeCredential request of registration `i`.
fn request(i: u64) -> Mc {
    let mut mc = Mc::new(RP, format!("user {i}").as_bytes());
    mc.client_data_hash = cdh(&format!("mc {i}"));
    mc.user_name = None;
    mc
}

/// Registrations per second of `n` registrations run by `one`.
fn rate(n: u64, one: &mut dyn FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        one(i);
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn registered(status: u8, body: Option<&ciborium::value::Value>, uv: bool) {
    assert_eq!(status, OK, "makeCredential status");
    let raw = as_bytes(get(body.expect("body"), 2).expect("authData"));
    assert_eq!(raw[32] & 0x04 != 0, uv, "the UV flag");
}

fn main() {
    let n: u64 = std::env::var("PIN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (mut plain_token, mut plain_env, plain_host) = key();
    let (mut pin_tok, mut pin_env, pin_host) = key();
    assert_eq!(set_pin(&mut pin_tok, &mut pin_env, &pin_host, 2, PIN), OK);

    let mut plain = |i: u64| {
        let (status, body) = plain_host
            .ctap2(
                &mut plain_token,
                &mut plain_env,
                MC,
                Some(&request(i).value()),
            )
            .expect("makeCredential");
        registered(status, body.as_ref(), false);
    };
    let mut with_pin = |i: u64| {
        let token = pin_token(
            &mut pin_tok,
            &mut pin_env,
            &pin_host,
            2,
            PIN,
            Some(MC_PERMISSION),
            Some(RP),
        )
        .expect("getPinUvAuthTokenUsingPinWithPermissions");
        let mc = request(i).with_token(2, &token);
        let (status, body) = pin_host
            .ctap2(&mut pin_tok, &mut pin_env, MC, Some(&mc.value()))
            .expect("makeCredential");
        registered(status, body.as_ref(), true);
    };

    // Warm-up, then the figures (plain first and last: the machine's load drifts).
    rate(n / 10, &mut plain);
    rate(n / 10, &mut with_pin);
    let plain_first = rate(n, &mut plain);
    let pin = rate(n, &mut with_pin);
    let plain_again = rate(n, &mut plain);
    let plain_mean = (plain_first + plain_again) / 2.0;
    println!("plain makeCredential (no PIN):                       {plain_first:>8.0}/s");
    println!("getPinUvAuthToken (protocol 2) + makeCredential:     {pin:>8.0}/s");
    println!("plain makeCredential, again:                         {plain_again:>8.0}/s");
    println!(
        "time per registration, with PIN / plain:             {:.2}",
        plain_mean / pin
    );
    println!(
        "{{\"plain_per_s\": {plain_first:.1}, \"pin_token_and_make_credential_per_s\": {pin:.1}, \
         \"plain_again_per_s\": {plain_again:.1}, \"pin_over_plain_time_ratio\": {:.2}}}",
        plain_mean / pin
    );
}
