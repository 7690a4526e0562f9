//! Replays every committed fuzz corpus file (fuzz/corpus/TARGET/*) and every crash kept as a
//! regression (fuzz/regressions/TARGET/*) through the harness its cargo-fuzz target calls, on
//! the stable toolchain: what once passed or once crashed is checked on every `make test`.
//! (`make fuzz` runs the targets themselves, on nightly.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use firmware_sim::testing::fuzz as fw;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// Feeds every corpus and regression file of `target` to `harness`; fails naming each file
/// that panicked.
fn replay(target: &str, harness: fn(&[u8])) {
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is committed and not empty"
    );
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read a corpus file");
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: these inputs panic: {failed:#?}"
    );
}

macro_rules! replayed {
    ($($name:ident => $harness:path),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), $harness);
            }
        )*

        /// Every target of fuzz/Cargo.toml, in the order of the list above.
        const TARGETS: &[&str] = &[$(stringify!($name)),*];
    };
}

replayed! {
    ctaphid => fw::ctaphid,
    ctap2_messages => fw::ctap2_messages,
    ctap2_commands => fw::ctap2_commands,
    ctap1_apdus => fw::ctap1_apdus,
    otpauth_uri => authsim::fuzzing::otpauth_uri,
    qr_png => authsim::fuzzing::qr_png,
    api_json => authsim::fuzzing::api_json,
    api_import => authsim::fuzzing::api_import,
    api_query => authsim::fuzzing::api_query,
    emulator_requests => authsim::fuzzing::emulator_requests,
}

#[test]
fn every_fuzz_target_is_replayed_here() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "authsim-fuzz")
        .collect();
    declared.sort();
    let mut replayed = TARGETS.to_vec();
    replayed.sort();
    assert_eq!(
        declared, replayed,
        "fuzz/Cargo.toml's targets and this file's list agree"
    );
}

/// Writes the qr_png seeds (PNG images of real otpauth URIs, as `totp qr --png` draws them):
/// `cargo test --test fuzz_corpora -- --ignored write_qr_png_seeds`.
#[test]
#[ignore = "writes seed files; run by hand when the seeds change"]
fn write_qr_png_seeds() {
    let dir = fuzz_dir().join("corpus").join("qr_png");
    std::fs::create_dir_all(&dir).unwrap();
    let uris = [
        ("short", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", 1),
        (
            "aws",
            "otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=JBSWY3DPEHPK3PXP&issuer=Amazon%20Web%20Services",
            2,
        ),
        (
            "sha512",
            "otpauth://totp/My%20Co:a%2Bb@x.org?secret=JBSWY3DPEHPK3PXP&issuer=My%20Co&algorithm=SHA512&digits=7&period=45",
            1,
        ),
    ];
    for (name, uri, scale) in uris {
        let png = authsim::vault::qr::to_png(uri, scale).unwrap();
        assert_eq!(&*authsim::vault::qr::decode_png(&png).unwrap(), uri);
        std::fs::write(dir.join(format!("seed-{name}.png")), png).unwrap();
    }
}

/// The api_import seeds reach both ends of the conversion: a whole body with a P-256 key is
/// converted (so the fuzzer starts inside the PKCS#8 parser), a SEC1 key and the standard
/// base64 alphabet are refused.
#[test]
fn api_import_seeds_reach_the_pkcs8_parser() {
    use authsim::api::types::NewCredential;
    let dir = fuzz_dir().join("corpus").join("api_import");
    let seed = |name: &str| std::fs::read(dir.join(name)).expect("a committed seed");
    let full = seed("seed-json-es256-full");
    let body: NewCredential = serde_json::from_slice(&full[1..]).unwrap();
    let info = authsim::api::import_conversion(body).expect("the full seed converts");
    assert_eq!((info.algorithm, info.sign_count), (-7, 7));
    for refused in ["seed-der-sec1-not-pkcs8", "seed-text-standard-alphabet"] {
        let data = seed(refused);
        let mut body: NewCredential = serde_json::from_slice(&full[1..]).unwrap();
        body.private_key = if data[0] == 1 {
            data_encoding::BASE64URL_NOPAD.encode(&data[1..])
        } else {
            String::from_utf8(data[1..].to_vec()).unwrap()
        };
        assert!(
            authsim::api::import_conversion(body).is_err(),
            "{refused} converts"
        );
    }
}
