//! The TOTP vault through the real binary: RFC 6238 vectors, every command, bad input that
//! changes nothing, the fresh-code rule across processes, and secrets that never leak.

mod common;
use common::Authsim;
use std::process::Stdio;

/// RFC 6238 Appendix B: the seeds are the ASCII "1234567890..." strings of 20, 32 and 64
/// bytes; 8 digits; 30 s steps.
const RFC6238: &[(u64, &str, &str, &str)] = &[
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
];

fn ascii_seed(len: usize) -> String {
    let bytes: Vec<u8> = b"1234567890".iter().cycle().take(len).copied().collect();
    data_encoding::BASE32.encode(&bytes)
}

#[test]
fn rfc6238_appendix_b_all_18_vectors() {
    let a = Authsim::new("rfc");
    for (name, alg, len) in [
        ("sha1", "SHA1", 20),
        ("sha256", "SHA256", 32),
        ("sha512", "SHA512", 64),
    ] {
        a.ok(&[
            "totp",
            "add",
            name,
            "--secret",
            &ascii_seed(len),
            "--algorithm",
            alg,
            "--digits",
            "8",
        ]);
    }
    let mut checked = 0;
    for (t, c1, c256, c512) in RFC6238 {
        for (name, want) in [("sha1", c1), ("sha256", c256), ("sha512", c512)] {
            let got = a.ok(&["totp", "code", name, "--at", &t.to_string()]);
            assert_eq!(got.trim(), *want, "{name} at T={t}");
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn every_way_of_adding_and_reading() {
    let a = Authsim::new("add");
    // 80-bit secret, lower case with spaces, from stdin.
    let r = a.run_stdin(
        &["totp", "add", "stdin-secret", "--secret", "-"],
        b"jbsw y3dp ehpk 3pxp\n",
    );
    assert!(r.ok, "{}", r.stderr);
    a.ok(&[
        "totp",
        "add",
        "arg-secret",
        "--secret",
        "JBSWY3DPEHPK3PXP====",
        "--issuer",
        "ACME",
        "--account",
        "a@b.c",
    ]);
    let uri = "otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=JBSWY3DPEHPK3PXP&issuer=Amazon%20Web%20Services";
    let r = a.run_stdin(&["totp", "add", "aws", "--uri", "-"], uri.as_bytes());
    assert!(r.ok, "{}", r.stderr);
    a.ok(&[
        "totp",
        "add",
        "inline-uri",
        "--uri",
        "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8&period=60&algorithm=SHA256",
    ]);

    // All four JBSWY3DPEHPK3PXP entries agree where their parameters agree.
    let at = "1700000000";
    let codes: Vec<String> = ["stdin-secret", "arg-secret", "aws"]
        .iter()
        .map(|n| a.ok(&["totp", "code", n, "--at", at]).trim().to_string())
        .collect();
    assert!(
        codes.iter().all(|c| c == &codes[0] && c.len() == 6),
        "{codes:?}"
    );

    let j: serde_json::Value =
        serde_json::from_str(&a.ok(&["totp", "code", "inline-uri", "--at", at, "--json"])).unwrap();
    assert_eq!(j["name"], "inline-uri");
    assert_eq!(j["code"].as_str().unwrap().len(), 8);
    assert_eq!(j["step"], 1700000000 / 60);
    assert_eq!(j["valid_from"], 1700000000 / 60 * 60);
    assert_eq!(j["valid_until"], 1700000000 / 60 * 60 + 60);

    let j: serde_json::Value = serde_json::from_str(
        &a.ok(&["totp", "codes", "aws", "--count", "3", "--at", at, "--json"]),
    )
    .unwrap();
    let steps: Vec<u64> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(
        steps,
        [1700000000 / 30, 1700000000 / 30 + 1, 1700000000 / 30 + 2]
    );
    assert_eq!(j[0]["code"].as_str().unwrap(), codes[0]);

    let list: serde_json::Value = serde_json::from_str(&a.ok(&["totp", "list", "--json"])).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arg-secret", "aws", "inline-uri", "stdin-secret"]);
    let aws = &list[1];
    assert_eq!(aws["issuer"], "Amazon Web Services");
    assert_eq!(aws["account"], "alice@123456789012");
    assert!(
        a.ok(&["totp", "list"])
            .contains("Amazon Web Services: alice@123456789012")
    );

    let r = a.run(&["totp", "show", "aws", "--uri"]);
    assert!(
        r.ok && r.stderr.contains("secret"),
        "a warning goes to stderr"
    );
    assert!(r.stdout.starts_with("otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=JBSWY3DPEHPK3PXP&issuer=Amazon%20Web%20Services"), "{}", r.stdout);

    a.ok(&["totp", "rename", "aws", "aws-root"]);
    assert_eq!(
        a.ok(&["totp", "code", "aws-root", "--at", at]).trim(),
        codes[0]
    );
    a.ok(&["totp", "remove", "aws-root"]);
    let r = a.run(&["totp", "code", "aws-root"]);
    assert!(
        !r.ok && r.stderr.contains("no TOTP entry named 'aws-root'"),
        "{}",
        r.stderr
    );
}

/// Each bad input: non-zero exit, a clear message, and the vault exactly as before.
#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let a = Authsim::new("bad");
    a.ok(&["totp", "add", "keep", "--secret", "JBSWY3DPEHPK3PXP"]);
    let before = a.ok(&["totp", "list", "--json"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "totp",
                "add",
                "x",
                "--uri",
                "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=0",
            ],
            "HOTP is not supported yet",
        ),
        (&["totp", "add", "x", "--uri", "otpauth:/broken"], "otpauth"),
        (
            &[
                "totp",
                "add",
                "x",
                "--uri",
                "http://totp/x?secret=JBSWY3DPEHPK3PXP",
            ],
            "not an otpauth:// URI",
        ),
        (
            &["totp", "add", "x", "--uri", "otpauth://totp/x?issuer=a"],
            "no secret",
        ),
        (
            &["totp", "add", "x", "--secret", "NOT-BASE32-!!"],
            "not base32",
        ),
        (&["totp", "add", "x", "--secret", "JBSWY3DP1"], "not base32"),
        (
            &[
                "totp",
                "add",
                "x",
                "--secret",
                "JBSWY3DPEHPK3PXP",
                "--algorithm",
                "MD5",
            ],
            "unknown algorithm",
        ),
        (
            &[
                "totp",
                "add",
                "x",
                "--secret",
                "JBSWY3DPEHPK3PXP",
                "--digits",
                "5",
            ],
            "digits must be 6, 7 or 8",
        ),
        (
            &[
                "totp",
                "add",
                "x",
                "--secret",
                "JBSWY3DPEHPK3PXP",
                "--digits",
                "9",
            ],
            "digits must be 6, 7 or 8",
        ),
        (
            &[
                "totp",
                "add",
                "x",
                "--secret",
                "JBSWY3DPEHPK3PXP",
                "--period",
                "0",
            ],
            "period",
        ),
        (
            &["totp", "add", "keep", "--secret", "JBSWY3DPEHPK3PXP"],
            "exists already",
        ),
        (
            &["totp", "add", "", "--secret", "JBSWY3DPEHPK3PXP"],
            "name is empty",
        ),
        (&["totp", "add", "x"], "required"),
        (&["totp", "rename", "nope", "y"], "no TOTP entry"),
        (&["totp", "rename", "keep", ""], "name is empty"),
        (&["totp", "remove", "nope"], "no TOTP entry"),
        (
            &["totp", "code", "keep", "--fresh", "--at", "5"],
            "cannot be used with",
        ),
        (&["totp", "codes", "keep", "--count", "0"], "--count"),
    ];
    for (args, want) in cases {
        let r = a.run(args);
        assert!(!r.ok, "{args:?} should fail");
        assert!(
            r.stderr.contains(want),
            "{args:?}: expected '{want}' in: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert_eq!(
            a.ok(&["totp", "list", "--json"]),
            before,
            "{args:?} changed the vault"
        );
    }
    // Empty standard input for a '-' secret.
    let r = a.run_stdin(&["totp", "add", "x", "--secret", "-"], b"  \n");
    assert!(
        !r.ok && r.stderr.contains("no base32 secret on standard input"),
        "{}",
        r.stderr
    );
    assert_eq!(a.ok(&["totp", "list", "--json"]), before);
}

#[test]
fn damaged_newer_or_foreign_state_is_refused() {
    // A database from a newer authsim.
    let a = Authsim::new("newer");
    a.ok(&["totp", "add", "k", "--secret", "JBSWY3DPEHPK3PXP"]);
    let db = a.path().join("authsim.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let r = a.run(&["totp", "list"]);
    assert!(
        !r.ok && r.stderr.contains("schema version 99") && r.stderr.contains("upgrade authsim"),
        "{}",
        r.stderr
    );

    // A corrupted database file.
    let b = Authsim::new("corrupt");
    std::fs::create_dir_all(b.path()).unwrap();
    std::fs::write(
        b.path().join("authsim.db"),
        b"this is not a database, just some text that is long enough to look like a header..",
    )
    .unwrap();
    let r = b.run(&["totp", "list"]);
    assert!(
        !r.ok && r.stderr.contains("unreadable or corrupted"),
        "{}",
        r.stderr
    );
    assert!(
        !b.path().join("master.key").exists(),
        "no key made for a file we cannot read"
    );

    // A master key that does not match the vault: refused, and no new vault over the old one.
    let c = Authsim::new("wrongkey");
    c.ok(&["totp", "add", "k", "--secret", "JBSWY3DPEHPK3PXP"]);
    let key_before = std::fs::read(c.path().join("master.key")).unwrap();
    let wrong = "ab".repeat(32);
    let r = c
        .command(&["totp", "list"])
        .env("AUTHSIM_MASTER_KEY", &wrong)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        !r.status.success() && err.contains("does not open"),
        "{err}"
    );
    assert!(!err.contains(&wrong));
    assert_eq!(
        std::fs::read(c.path().join("master.key")).unwrap(),
        key_before
    );
    assert!(c.ok(&["totp", "list"]).contains('k'));

    // The key file removed: refused, never replaced by a new key.
    std::fs::remove_file(c.path().join("master.key")).unwrap();
    let r = c.run(&["totp", "list"]);
    assert!(!r.ok && r.stderr.contains("missing"), "{}", r.stderr);
    assert!(!c.path().join("master.key").exists());
}

#[test]
fn status_says_where_the_key_is() {
    let a = Authsim::new("status");
    let j: serde_json::Value = serde_json::from_str(&a.ok(&["status", "--json"])).unwrap();
    assert_eq!(j["key_source"], "file");
    assert_eq!(
        j["key_location"],
        a.path().join("master.key").display().to_string()
    );
    assert_eq!(j["schema_version"], 1);
    assert!(a.ok(&["status"]).contains("the key file"));
    let b = Authsim::new("status-env").env("AUTHSIM_MASTER_KEY", &"01".repeat(32));
    let j: serde_json::Value = serde_json::from_str(&b.ok(&["status", "--json"])).unwrap();
    assert_eq!(j["key_source"], "env");
    assert!(!b.path().join("master.key").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(b.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn qr_png_and_import_round_trip() {
    let a = Authsim::new("qr");
    a.ok(&[
        "totp",
        "add",
        "src",
        "--uri",
        "otpauth://totp/ACME:bob@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME&digits=7",
    ]);
    let png = a.path().join("qr.png");
    let r = a.run(&["totp", "qr", "src", "--png", png.to_str().unwrap()]);
    assert!(r.ok, "{}", r.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&png).unwrap().permissions().mode() & 0o777,
        0o600
    );
    a.ok(&["totp", "import", "copy", "--qr-png", png.to_str().unwrap()]);
    assert_eq!(
        a.ok(&["totp", "code", "copy", "--at", "1234"]),
        a.ok(&["totp", "code", "src", "--at", "1234"])
    );
    let term = a.run(&["totp", "qr", "src"]);
    assert!(term.ok && term.stdout.contains('█') || term.stdout.contains('▀'));
    // Not a PNG; a PNG without a code.
    let r = a.run(&["totp", "import", "x", "--qr-png", "/etc/hostname"]);
    assert!(
        !r.ok && r.stderr.contains("not a readable PNG"),
        "{}",
        r.stderr
    );
    let r = a.run(&["totp", "import", "x", "--qr-png", "/nonexistent.png"]);
    assert!(
        !r.ok && r.stderr.contains("/nonexistent.png"),
        "{}",
        r.stderr
    );
}

/// Several processes asking for a fresh code at once never get the same time step.
#[test]
fn fresh_codes_across_processes_are_unique() {
    let a = Authsim::new("fresh");
    a.ok(&[
        "totp",
        "add",
        "fast",
        "--secret",
        "JBSWY3DPEHPK3PXP",
        "--period",
        "1",
    ]);
    let children: Vec<_> = (0..5)
        .map(|_| {
            a.command(&["totp", "code", "fast", "--fresh", "--allow-next", "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut steps: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            j["step"].as_u64().unwrap()
        })
        .collect();
    steps.sort();
    let n = steps.len();
    steps.dedup();
    assert_eq!(steps.len(), n, "a step was handed out twice: {steps:?}");
}

/// When the current step is used, --fresh waits for the next one and says so on stderr
/// (plain lines when stderr is not a terminal); --allow-next does not wait.
#[test]
fn fresh_waits_for_the_next_window() {
    let a = Authsim::new("wait");
    a.ok(&[
        "totp",
        "add",
        "w",
        "--secret",
        "JBSWY3DPEHPK3PXP",
        "--period",
        "2",
    ]);
    let first: serde_json::Value =
        serde_json::from_str(&a.ok(&["totp", "code", "w", "--fresh", "--json"])).unwrap();
    let r = a.run(&["totp", "code", "w", "--fresh", "--json"]);
    assert!(r.ok, "{}", r.stderr);
    let second: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(second["step"].as_u64() > first["step"].as_u64());
    assert!(r.stderr.contains("already used; waiting"), "{}", r.stderr);
    assert!(
        !r.stderr.contains('\r'),
        "no terminal control codes when not a terminal"
    );
}

/// With tracing at its most verbose, no command prints the seed (base32 any case, or hex),
/// except `show --uri` and `qr`, which exist to print it (and do).
#[test]
fn secrets_never_leak_into_output_or_logs() {
    let a = Authsim::new("leak").env("RUST_LOG", "trace");
    let seed_b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890"
    let seed_hex = hex::encode(b"12345678901234567890");
    let uri = format!("otpauth://totp/ACME:alice?secret={seed_b32}&issuer=ACME");
    let png = a.path().join("q.png");
    let mut out = String::new();
    let mut record = |r: common::Run| {
        out.push_str(&r.stdout);
        out.push_str(&r.stderr);
    };
    record(a.run_stdin(&["totp", "add", "e", "--uri", "-"], uri.as_bytes()));
    record(a.run_stdin(&["totp", "add", "s", "--secret", "-"], seed_b32.as_bytes()));
    for args in [
        vec!["status"],
        vec!["status", "--json"],
        vec!["totp", "list"],
        vec!["totp", "list", "--json"],
        vec!["totp", "show", "e"],
        vec!["totp", "show", "e", "--json"],
        vec!["totp", "code", "e"],
        vec!["totp", "code", "e", "--json", "--at", "59"],
        vec!["totp", "code", "e", "--fresh", "--allow-next", "--json"],
        vec!["totp", "codes", "e", "--count", "3", "--json"],
        vec!["totp", "qr", "e", "--png", png.to_str().unwrap()],
        vec!["totp", "import", "i", "--qr-png", png.to_str().unwrap()],
        vec!["totp", "rename", "i", "j"],
        vec!["totp", "remove", "j"],
        // Failures print errors; those must not quote the secret either.
        vec![
            "totp",
            "add",
            "e",
            "--uri",
            "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
        ],
        vec![
            "totp",
            "add",
            "x",
            "--secret",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ1",
        ],
    ] {
        record(a.run(&args));
    }
    assert!(
        out.contains("TRACE") || out.contains("DEBUG") || out.contains("INFO"),
        "tracing was on"
    );
    let lower = out.to_lowercase();
    assert!(
        !lower.contains(&seed_b32.to_lowercase()),
        "base32 seed leaked:\n{out}"
    );
    assert!(
        !lower.contains(&seed_b32[..16].to_lowercase()),
        "part of the seed leaked:\n{out}"
    );
    assert!(!lower.contains(&seed_hex), "hex seed leaked:\n{out}");
    assert!(
        !out.contains("12345678901234567890"),
        "raw seed leaked:\n{out}"
    );

    // The two commands whose job is to reveal it do reveal it (so this test can fail).
    let r = a.run(&["totp", "show", "e", "--uri"]);
    assert!(r.stdout.contains(seed_b32));
    let r = a.run(&["totp", "qr", "e"]);
    assert!(r.ok && !r.stdout.is_empty());
}
