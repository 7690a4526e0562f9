//! The floor of a getAssertion: one P-256 signature (ES256) with the token's backend (the
//! `p256` crate, RFC 6979 over a bare scalar, as firmware-sim signs) beside aws-lc-rs, with the
//! key pair built once and with it rebuilt from the stored scalar for every signature (what the
//! token's `aws-lc` feature does when its per-thread cache misses), and a new credential's
//! public point from each. Ed25519 (ed25519-dalek, the token's EdDSA backend) for scale. Built
//! alone, firmware-sim takes the p256 path. Prints one JSON line per figure
//! (`{"name","unit","value","competitor","ratio"}`: µs per signature, ratio = ours / theirs).

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use firmware_sim::PrivateKey;
use firmware_sim::credential::Algorithm;
use firmware_sim::env::Rng;
use firmware_sim::testing::SeededRng;

/// SEC 1 ECPrivateKey (RFC 5915) DER of a P-256 scalar, without the optional public key.
fn rfc5915(scalar: &[u8]) -> Vec<u8> {
    let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(scalar);
    // [0] namedCurve prime256v1 (1.2.840.10045.3.1.7)
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    der
}

/// Best of three runs of `n` calls, in µs per call.
fn micros(n: u32, mut f: impl FnMut(u32)) -> f64 {
    for i in 0..n / 10 {
        f(i);
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    best
}

fn line(name: &str, value: f64, competitor: &str, theirs: f64) {
    println!(
        "{{\"name\": \"{name}\", \"unit\": \"us\", \"value\": {value:.2}, \"competitor\": \"{competitor}\", \"competitor_value\": {theirs:.2}, \"ratio\": {:.2}}}",
        value / theirs
    );
}

fn main() {
    let n: u32 = std::env::var("SIGN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rng = SeededRng::new(u64::from(std::process::id()));
    let mut scalar = [0u8; 32];
    rng.fill_bytes(&mut scalar);
    scalar[0] &= 0x7f; // below the group order
    let ours = PrivateKey::from_bytes(Algorithm::Es256, &scalar).expect("scalar");
    let der = rfc5915(&scalar);
    let theirs = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
        .expect("aws-lc-rs key");
    let system = SystemRandom::new();
    // authenticatorData (37 bytes) || clientDataHash: what a getAssertion signs.
    let mut message = vec![0x5au8; 69];

    let p256_sign = micros(n, |i| {
        message[..4].copy_from_slice(&i.to_be_bytes());
        black_box(ours.sign(black_box(&message)));
    });
    let p256_rebuild = micros(n, |i| {
        message[..4].copy_from_slice(&i.to_be_bytes());
        let k = PrivateKey::from_bytes(Algorithm::Es256, &scalar).expect("scalar");
        black_box(k.sign(black_box(&message)));
    });
    let lc_sign = micros(n, |i| {
        message[..4].copy_from_slice(&i.to_be_bytes());
        black_box(theirs.sign(&system, black_box(&message)).expect("sign"));
    });
    let lc_rebuild = micros(n, |i| {
        message[..4].copy_from_slice(&i.to_be_bytes());
        let k = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
            .expect("aws-lc-rs key");
        black_box(k.sign(&system, black_box(&message)).expect("sign"));
    });
    let p256_point = micros(n, |_| {
        black_box(black_box(&ours).p256_public_point());
    });
    let lc_point = micros(n, |_| {
        let k = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
            .expect("aws-lc-rs key");
        black_box(k.public_key().as_ref()[0]);
    });
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let ed = PrivateKey::from_bytes(Algorithm::EdDsa, &seed).expect("seed");
    let ed_sign = micros(n, |i| {
        message[..4].copy_from_slice(&i.to_be_bytes());
        black_box(ed.sign(black_box(&message)));
    });

    line("es256_sign_p256", p256_sign, "aws-lc-rs", lc_sign);
    line(
        "es256_sign_from_scalar_p256",
        p256_rebuild,
        "aws-lc-rs (key pair from RFC 5915 DER)",
        lc_rebuild,
    );
    line(
        "es256_public_point_p256",
        p256_point,
        "aws-lc-rs (key pair from RFC 5915 DER)",
        lc_point,
    );
    line(
        "eddsa_sign_ed25519_dalek",
        ed_sign,
        "aws-lc-rs ES256",
        lc_sign,
    );
}
