//! `authsim realkey` on a machine with no security key (the hidraw path with a key is
//! exercised inside the qemu guest, against a uhid key).

mod common;
use common::Authsim;

#[test]
fn no_key_present_is_said_plainly() {
    if std::path::Path::new("/dev/hidraw0").exists() {
        eprintln!("a hidraw device exists here; this test is for machines without one");
        return;
    }
    let a = Authsim::new("realkey");
    let r = a.run(&["realkey", "list", "--json"]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "[]");
    let r = a.run(&["realkey", "list"]);
    assert!(
        r.ok && r.stderr.contains("no FIDO security keys found"),
        "{}",
        r.stderr
    );
    let r = a.run(&["realkey", "info"]);
    assert!(
        !r.ok && r.stderr.contains("no FIDO security key found"),
        "{}",
        r.stderr
    );
    let r = a.run(&["realkey", "info", "--device", "/dev/hidraw77"]);
    assert!(
        !r.ok
            && r.stderr
                .contains("/dev/hidraw77 is not a FIDO security key"),
        "{}",
        r.stderr
    );
}
