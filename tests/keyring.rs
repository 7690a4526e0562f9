//! The data key in a real Secret Service (gnome-keyring over D-Bus). Ignored in a plain
//! `cargo test` because it needs a session bus; `scripts/test-keyring.sh` runs it under
//! `dbus-run-session` with an unlocked gnome-keyring, and `make test` / CI run that script.

mod common;
use common::Authsim;

#[test]
#[ignore = "needs a Secret Service; run through scripts/test-keyring.sh"]
fn the_data_key_lives_in_the_os_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no session bus: run this through scripts/test-keyring.sh"
    );
    let a = Authsim::new("keyring").env("AUTHSIM_KEYRING", "on");
    a.ok(&["totp", "add", "k", "--secret", "JBSWY3DPEHPK3PXP"]);
    let j: serde_json::Value = serde_json::from_str(&a.ok(&["status", "--json"])).unwrap();
    assert_eq!(j["key_source"], "keyring", "{j}");
    assert!(
        j["key_location"]
            .as_str()
            .unwrap()
            .starts_with("authsim/data-key-")
    );
    assert!(
        !a.path().join("master.key").exists(),
        "no key file when the keyring holds the key"
    );
    // A second process finds the key in the keyring and opens the vault.
    assert_eq!(a.ok(&["totp", "code", "k", "--at", "59"]).trim().len(), 6);
    assert!(a.ok(&["status"]).contains("the OS keyring (Secret Service"));

    // With the keyring turned off, the vault refuses rather than making a new key.
    let b = Authsim {
        dir: a.dir.clone(),
        envs: vec![("AUTHSIM_KEYRING".into(), "off".into())],
    };
    let r = b.run(&["totp", "list"]);
    assert!(!r.ok && r.stderr.contains("OS keyring"), "{}", r.stderr);
    assert!(!a.path().join("master.key").exists());
    // `a` removes the directory; `b` must not (it shares it).
    let _ = std::mem::ManuallyDrop::new(b);
}
