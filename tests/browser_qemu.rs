//! A real browser against the uhid key: boots the browser guest (tests/qemu/browser-init.sh,
//! built by `AUTHSIM_QEMU_GUEST=browser tests/qemu/build-guest.sh`) in which `authsim daemon`
//! serves its default key on /dev/uhid, and Debian's Chromium, run from the host's root
//! (shared read-only over virtio-9p), opens a localhost page that calls
//! navigator.credentials.create() and then get() twice. Chromium finds the key as any USB
//! security key (a hidraw node with the FIDO usage page): no DevTools, no virtual
//! authenticator. The page's relying party (tests/qemu/browser/server.py, in the host's Python)
//! verifies each answer with py_webauthn: attestation, signatures, challenge, origin
//! http://localhost:8080, rpId localhost, user presence, a counter that rises. The guest
//! checks that the key's own CTAP log shows the makeCredential and getAssertions.
//!
//! Ignored in a plain `cargo test`: under TCG the guest takes minutes (Chromium is ~400 MB
//! read over 9p and runs emulated). `make test-browser` runs it (and .ci/run). Missing qemu,
//! chromium or py_webauthn make it fail with what to install, never skip.

mod qemu_guest;

use qemu_guest::{boot, hidclient, require_qemu, run_script};
use std::path::Path;
use std::time::{Duration, Instant};

/// Building the guest (downloading Debian's generic kernel the first time) must end within this.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// The whole boot + browser run must end within this (TCG, a debug build of the daemon).
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Every step the guest must pass, in order.
const STEPS: &[&str] = &[
    "boot",
    "modules",
    "daemon-start",
    "host-root",
    "server",
    "browser",
    "key-served",
];

#[test]
#[ignore = "boots a qemu guest running Chromium (minutes under TCG); run with `make test-browser`"]
fn chromium_registers_and_signs_in_with_the_uhid_key() {
    let qemu_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu");
    let guest = qemu_dir.join("browser-guest");
    require_qemu();
    assert!(
        Path::new("/usr/lib/chromium/chromium").exists(),
        "/usr/lib/chromium/chromium is missing: sudo apt-get install chromium (or: make deps)"
    );

    let started = Instant::now();
    std::fs::create_dir_all(&qemu_dir).expect("creating the qemu directory");
    let (ok, log) = run_script(
        "build-guest.sh",
        &[
            &guest,
            Path::new(env!("CARGO_BIN_EXE_authsim")),
            &hidclient(),
        ],
        &[("AUTHSIM_QEMU_GUEST", "browser")],
        &qemu_dir.join("build-browser-guest.log"),
        BUILD_TIMEOUT,
    );
    let build_time = started.elapsed();
    assert!(ok, "building the browser guest failed:\n{log}");
    eprintln!("{log}guest built in {build_time:.1?}");

    // 2 GiB: Chromium and Python run in the guest (their files stay on the host).
    let run = boot(
        &guest,
        &[("AUTHSIM_QEMU_MEM", "2048"), ("AUTHSIM_QEMU_HOSTROOT", "1")],
        BOOT_TIMEOUT,
    );
    let transcript = run.transcript();
    eprintln!(
        "browser qemu test: guest build {build_time:.1?}, boot + browser {:.1?}\n\
         server start: {}\nceremonies: {}\nthe key's CTAP log: {}",
        run.elapsed,
        run.detail("server"),
        run.detail("browser"),
        run.detail("key-served"),
    );
    assert!(
        !run.timed_out,
        "the guest did not finish within {BOOT_TIMEOUT:?}:\n{transcript}"
    );
    assert!(
        run.failed.is_empty(),
        "guest steps failed: {:?}\n{transcript}",
        run.failed
    );
    assert!(run.done, "the guest never reported DONE:\n{transcript}");
    assert_eq!(run.step_names(), STEPS, "guest steps passed:\n{transcript}");
    // The verdict is the relying party's: two assertions, each counter above the last.
    let browser = run.detail("browser");
    let counters: Vec<u64> = browser
        .split(' ')
        .find_map(|w| w.strip_prefix("counters="))
        .map(|c| c.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(counters.len(), 2, "counters in {browser:?}");
    assert!(
        counters[0] < counters[1],
        "counters must rise: {counters:?}"
    );
    assert!(
        browser.contains("origin=http://localhost:8080") && browser.contains("rp=localhost"),
        "{browser}"
    );
    assert!(run.status.success(), "qemu exited with {}", run.status);
}
