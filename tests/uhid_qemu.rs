//! The daemon's uhid transport against a real Linux kernel: boots a qemu guest (Debian cloud
//! kernel, busybox initramfs, built by `tests/qemu/build-guest.sh`) in which `authsim daemon`
//! runs as root and creates its default key on /dev/uhid; fido2-tools (and `authsim realkey`)
//! list it, read its info, make and verify a credential and an assertion (and authsim's
//! WebAuthn client registers and signs in over the hidraw node); the control API
//! (`authsim key ...`) adds a second uhid key, approves a waiting touch, power-cycles and
//! removes keys, each seen in sysfs; clients at once, killed mid-request or closing the node
//! mid-message must not wedge a key; SIGTERM must remove every node, and a restart brings
//! back the credential and the API-added key. Before `insmod uhid`, and as a user who may not
//! open /dev/uhid, the daemon must fall back to a socket with a note saying what to do. The
//! guest reports `AUTHSIM-QEMU PASS|FAIL <step> [details]` lines on its serial console
//! (`tests/qemu/init.sh`); the details carry the figures printed at the end (daemon start to
//! ready line and to hidraw node; one ceremony over uhid and over the socket transport).
//! They are reported, never asserted.
//!
//! Ignored in a plain `cargo test` (it boots a VM, ~10 s of emulated CPU); `make test-qemu`
//! and `make test` run it. Missing qemu, busybox-static, cpio or fido2-tools make it fail
//! with the packages to install, never skip.

mod qemu_guest;

use qemu_guest::{boot, field, hidclient, require_qemu, run_script};
use std::path::Path;
use std::time::{Duration, Instant};

/// Building the guest (downloading the kernel the first time) must end within this.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// The whole boot + test must end within this (TCG, a debug build of the daemon).
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// Every step the guest must pass, in order.
const STEPS: &[&str] = &[
    "boot",
    "error-without-uhid",
    "modules",
    "error-without-permission",
    "daemon-start",
    "list",
    "info",
    "realkey-list",
    "realkey-info",
    "webauthn-hidraw",
    "make-credential",
    "verify-credential",
    "get-assertion",
    "verify-assertion",
    "verify-rejects-tampered",
    "second-key",
    "list-two",
    "parallel-clients",
    "presence-approve",
    "killed-client",
    "power-cycle-gone",
    "power-cycle-back",
    "info-after-power-cycle",
    "half-message",
    "sigterm-removes-nodes",
    "restart",
    "persisted-credential",
    "second-key-back",
    "pin-set",
    "pin-make-credential",
    "latency",
    "remove-second",
    "sigterm-2",
];

#[test]
#[ignore = "boots a qemu guest; run with `make test-qemu` (part of `make test`)"]
fn the_daemon_serves_uhid_keys_in_a_real_kernel() {
    let qemu_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu");
    let guest = qemu_dir.join("guest");

    // Tools first, so a machine without them fails in a second, saying what to install.
    require_qemu();

    let started = Instant::now();
    std::fs::create_dir_all(&qemu_dir).expect("creating the qemu directory");
    let hidclient = hidclient();
    let (ok, log) = run_script(
        "build-guest.sh",
        &[&guest, Path::new(env!("CARGO_BIN_EXE_authsim")), &hidclient],
        &[],
        &qemu_dir.join("build-guest.log"),
        BUILD_TIMEOUT,
    );
    let build_time = started.elapsed();
    assert!(ok, "building the guest failed:\n{log}");
    eprintln!("{log}guest built in {build_time:.1?}");

    let run = boot(&guest, &[], BOOT_TIMEOUT);
    let boot_time = run.elapsed;
    let timed_out = run.timed_out;
    let status = run.status;
    let transcript = run.transcript();

    // The figures first, so a failing run shows them too.
    let detail = |step: &str| run.detail(step);
    eprintln!(
        "uhid qemu test: guest build {build_time:.1?}, boot + test {boot_time:.1?}\n\
         daemon start -> ready line / hidraw node: {}\n\
         restart on the same state: {}\n\
         one ceremony (median of the guest's runs; TCG, debug build): {}\n\
         second key via the API: {}; power cycle: {}; closing mid-message: {}",
        detail("daemon-start"),
        detail("restart"),
        detail("latency"),
        detail("second-key"),
        detail("power-cycle-back"),
        detail("half-message"),
    );
    if let (Some(uhid), Some(socket)) = (
        field(&detail("latency"), "uhid-ga-us"),
        field(&detail("latency"), "socket-ga-us"),
    ) {
        eprintln!(
            "getAssertion round trip, uhid / socket transport: {:.2}",
            uhid as f64 / socket.max(1) as f64
        );
    }

    assert!(
        !timed_out,
        "the guest did not finish within {BOOT_TIMEOUT:?}:\n{transcript}"
    );
    assert!(
        run.failed.is_empty(),
        "guest steps failed: {:?}\n{transcript}",
        run.failed
    );
    assert!(
        run.done,
        "the guest never reported DONE (qemu {status}):\n{transcript}"
    );
    assert_eq!(run.step_names(), STEPS, "guest steps passed:\n{transcript}");
    assert!(status.success(), "qemu exited with {status}");
}
