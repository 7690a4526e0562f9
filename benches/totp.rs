//! In-process TOTP code generation rate (one entry's codes over consecutive steps).
//! Run by `make bench` (benches/totp_process.py sets the competitor beside it); prints JSON.

use authsim::vault::{Algorithm, EntryParams, SecretBytes};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut out = serde_json::Map::new();
    for (alg, name) in [
        (Algorithm::Sha1, "SHA1"),
        (Algorithm::Sha256, "SHA256"),
        (Algorithm::Sha512, "SHA512"),
    ] {
        let mut p = EntryParams::new(SecretBytes::new(b"12345678901234567890".to_vec()));
        p.algorithm = alg;
        let n: u64 = 300_000;
        // Warm up, then take the best of three runs.
        for s in 0..10_000 {
            black_box(p.code_for_step(s));
        }
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for s in 0..n {
                black_box(p.code_for_step(black_box(s)));
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        out.insert(name.into(), serde_json::json!(n as f64 / best));
    }
    println!("{}", serde_json::Value::Object(out));
}
