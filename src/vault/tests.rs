use super::*;
use crate::store::{KeySource, Keyring};
use std::path::PathBuf;

fn tmpdir() -> PathBuf {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).unwrap();
    std::env::temp_dir().join(format!("authsim-vault-{}", hex::encode(r)))
}

fn open(dir: &std::path::Path) -> Vault {
    Vault::new(Store::open(dir, &KeySource::new(None, Keyring::Off)).unwrap())
}

fn jbswy(period: u64) -> EntryParams {
    let mut p = EntryParams::new(SecretBytes::from_base32("JBSWY3DPEHPK3PXP").unwrap());
    p.period = period;
    p
}

fn ready(f: Fresh) -> Vec<Code> {
    match f {
        Fresh::Ready(c) => c,
        Fresh::WaitUntil(t) => panic!("expected codes, got wait until {t}"),
    }
}

#[test]
fn fresh_codes_are_never_handed_out_twice() {
    let dir = tmpdir();
    let mut v = open(&dir);
    v.add("e", &jbswy(30)).unwrap();
    let t = 1_000_000_005; // step 33333333, 15 s left
    let s = t / 30;
    let a = ready(v.fresh("e", t, 1, false).unwrap());
    assert_eq!(a[0].step, s);
    assert_eq!(a[0].code, v.code_at("e", t).unwrap().code);
    assert_eq!(
        v.fresh("e", t, 1, false).unwrap(),
        Fresh::WaitUntil((s + 1) * 30)
    );
    assert_eq!(
        v.fresh("e", t + 14, 1, false).unwrap(),
        Fresh::WaitUntil((s + 1) * 30)
    );
    let b = ready(v.fresh("e", t, 1, true).unwrap());
    assert_eq!(b[0].step, s + 1, "--allow-next takes the next step");
    assert_eq!(
        v.fresh("e", t, 1, true).unwrap(),
        Fresh::WaitUntil((s + 1) * 30)
    );
    // In step s+1 the next usable step is s+2, which --allow-next may take at once.
    assert_eq!(
        v.fresh("e", (s + 1) * 30, 1, false).unwrap(),
        Fresh::WaitUntil((s + 2) * 30)
    );
    let c = ready(v.fresh("e", (s + 1) * 30, 1, true).unwrap());
    assert_eq!(c[0].step, s + 2);
    // The record survives reopening.
    drop(v);
    let mut v = open(&dir);
    assert_eq!(
        v.fresh("e", (s + 1) * 30 + 1, 1, true).unwrap(),
        Fresh::WaitUntil((s + 2) * 30)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_consecutive_fresh_codes_for_iam() {
    let dir = tmpdir();
    let mut v = open(&dir);
    v.add("iam", &jbswy(30)).unwrap();
    let t = 1_700_000_010;
    let s = t / 30;
    let pair = ready(v.fresh("iam", t, 2, false).unwrap());
    assert_eq!(pair.iter().map(|c| c.step).collect::<Vec<_>>(), [s, s + 1]);
    let codes = v.codes("iam", t, 2).unwrap();
    assert_eq!(pair, codes, "the same codes `codes --count 2` prints");
    // s and s+1 are used: the next pair is s+2, s+3, usable once step s+2 begins.
    assert_eq!(
        v.fresh("iam", t, 2, false).unwrap(),
        Fresh::WaitUntil((s + 2) * 30)
    );
    assert_eq!(
        v.fresh("iam", t, 1, true).unwrap(),
        Fresh::WaitUntil((s + 1) * 30)
    );
    assert!(matches!(
        v.fresh("iam", t, 3, false),
        Err(VaultError::BadRequest(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_openers_never_share_a_fresh_code() {
    let dir = tmpdir();
    open(&dir).add("e", &jbswy(30)).unwrap();
    let t = 1_800_000_000;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || open(&dir).fresh("e", t, 1, true).unwrap())
        })
        .collect();
    let mut steps: Vec<u64> = handles
        .into_iter()
        .filter_map(|h| match h.join().unwrap() {
            Fresh::Ready(c) => Some(c[0].step),
            Fresh::WaitUntil(_) => None,
        })
        .collect();
    steps.sort();
    assert_eq!(
        steps,
        [t / 30, t / 30 + 1],
        "exactly the current and next step, once each"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_rename_remove() {
    let dir = tmpdir();
    let mut v = open(&dir);
    assert!(matches!(v.add("", &jbswy(30)), Err(VaultError::BadName(_))));
    assert!(matches!(
        v.add(" x", &jbswy(30)),
        Err(VaultError::BadName(_))
    ));
    assert!(matches!(
        v.add("a\nb", &jbswy(30)),
        Err(VaultError::BadName(_))
    ));
    assert!(matches!(
        v.add(&"n".repeat(129), &jbswy(30)),
        Err(VaultError::BadName(_))
    ));
    v.add("a", &jbswy(30)).unwrap();
    v.add("b", &jbswy(60)).unwrap();
    assert!(matches!(v.add("a", &jbswy(30)), Err(VaultError::Exists(_))));
    assert_eq!(
        v.info("a").unwrap().period,
        30,
        "the duplicate changed nothing"
    );
    let used = ready(v.fresh("a", 1000, 1, false).unwrap());
    assert!(matches!(v.rename("a", "b"), Err(VaultError::Exists(_))));
    assert!(matches!(v.rename("zz", "c"), Err(VaultError::NotFound(_))));
    v.rename("a", "c").unwrap();
    assert!(matches!(v.info("a"), Err(VaultError::NotFound(_))));
    assert_eq!(
        v.code_at("c", 1000).unwrap().code,
        used[0].code,
        "the secret moved along"
    );
    assert!(
        matches!(v.fresh("c", 1000, 1, false).unwrap(), Fresh::WaitUntil(_)),
        "so did the fresh record"
    );
    v.remove("c").unwrap();
    assert!(matches!(v.remove("c"), Err(VaultError::NotFound(_))));
    v.add("c", &jbswy(30)).unwrap();
    assert!(
        matches!(v.fresh("c", 1000, 1, false).unwrap(), Fresh::Ready(_)),
        "a new entry starts fresh"
    );
    let names: Vec<_> = v.list().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["b", "c"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secrets_are_sealed_at_rest() {
    let dir = tmpdir();
    let mut v = open(&dir);
    let mut p = EntryParams::new(SecretBytes::new(b"very-distinctive-seed!".to_vec()));
    p.issuer = Some("ACME".into());
    v.add("acme", &p).unwrap();
    drop(v);
    let mut raw = Vec::new();
    for f in std::fs::read_dir(&dir).unwrap() {
        raw.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    assert!(!raw.windows(22).any(|w| w == b"very-distinctive-seed!"));
    let b32 = SecretBytes::new(b"very-distinctive-seed!".to_vec()).to_base32();
    assert!(!raw.windows(b32.len()).any(|w| w == b32.as_bytes()));
    assert!(
        raw.windows(4).any(|w| w == b"ACME"),
        "metadata is readable (so the test can fail)"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_parameters_are_refused() {
    let dir = tmpdir();
    let mut v = open(&dir);
    for (digits, period) in [(5, 30), (9, 30), (6, 0), (6, MAX_PERIOD + 1)] {
        let mut p = jbswy(period);
        p.digits = digits;
        assert!(matches!(v.add("x", &p), Err(VaultError::Param(_))));
    }
    assert!(v.list().unwrap().is_empty());
    assert!(matches!(
        v.codes("nope", 0, 1),
        Err(VaultError::NotFound(_))
    ));
    v.add("x", &jbswy(30)).unwrap();
    assert!(matches!(v.codes("x", 0, 0), Err(VaultError::BadRequest(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn control_characters_in_issuer_or_account_are_refused_and_nothing_is_stored() {
    let dir = tmpdir();
    let mut v = open(&dir);
    for (issuer, account) in [
        (Some("\u{1b}]0;title\u{7}"), None),
        (None, Some("a\u{0}b")),
        (Some("ok"), Some("\u{9b}31m")),
        (Some("\u{202e}gro.elpmaxe"), None),
    ] {
        let mut p = EntryParams::new(SecretBytes::from_base32("JBSWY3DPEHPK3PXP").unwrap());
        p.issuer = issuer.map(str::to_owned);
        p.account = account.map(str::to_owned);
        assert!(
            matches!(
                v.add("e", &p),
                Err(VaultError::Param(ParamError::Controls(_)))
            ),
            "{issuer:?} {account:?}"
        );
    }
    assert!(v.list().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn times_past_year_9999_are_refused_not_wrapped() {
    let dir = tmpdir();
    let mut v = open(&dir);
    let p = EntryParams::new(SecretBytes::from_base32("JBSWY3DPEHPK3PXP").unwrap());
    v.add("e", &p).unwrap();
    assert!(matches!(
        v.codes("e", u64::MAX, 1),
        Err(VaultError::BadRequest(_))
    ));
    assert!(matches!(
        v.code_at("e", MAX_TIME + 1),
        Err(VaultError::BadRequest(_))
    ));
    let c = v.code_at("e", MAX_TIME).unwrap();
    assert!(c.valid_until > c.valid_from);
    let _ = std::fs::remove_dir_all(dir);
}

/// RFC 4226 Appendix D: HOTP of counters 0 to 9 under the ASCII seed "12345678901234567890"
/// (6 digits); the vault's code of step N is HOTP(N).
#[test]
fn hotp_rfc4226_appendix_d() {
    let want = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let p = EntryParams::new(SecretBytes::new(b"12345678901234567890".to_vec()));
    for (step, code) in want.iter().enumerate() {
        assert_eq!(p.code_for_step(step as u64), *code, "counter {step}");
        assert_eq!(
            p.code_at(step as u64 * 30 + 29),
            *code,
            "within step {step}"
        );
    }
}
