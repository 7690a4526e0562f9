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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
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

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo example `hidclient` (tests/qemu/hidclient.rs: the project's host-side CTAPHID),
/// built beside the authsim binary by `make test-qemu` (and by `make test-rust`'s
/// `--all-targets` build) before this test runs.
fn hidclient() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_authsim"))
        .with_file_name("examples")
        .join("hidclient");
    assert!(
        exe.exists(),
        "{} is missing: build it with `cargo build --example hidclient` (make test-qemu does)",
        exe.display()
    );
    exe
}

/// Runs a script from tests/qemu with a time limit; returns success and its output.
fn run_script(script: &str, args: &[&Path], log: &Path, limit: Duration) -> (bool, String) {
    let file = std::fs::File::create(log).expect("creating the build log");
    let mut child = Command::new("bash")
        .arg(workspace().join("tests/qemu").join(script))
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // Ours to stop: the script this test started.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    if status.is_none() {
        text.push_str(&format!("\n{script} did not finish within {limit:?}"));
    }
    (status.is_some_and(|s| s.success()), text)
}

/// The number after `name=` in a PASS line's details.
fn field(details: &str, name: &str) -> Option<u64> {
    details
        .split(' ')
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// A guest console line `AUTHSIM-QEMU <word> <rest>`, split.
fn marker(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_end().split_once("AUTHSIM-QEMU ")?.1;
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

#[test]
#[ignore = "boots a qemu guest; run with `make test-qemu` (part of `make test`)"]
fn the_daemon_serves_uhid_keys_in_a_real_kernel() {
    let qemu_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu");
    let guest = qemu_dir.join("guest");

    // Tools first, so a machine without them fails in a second, saying what to install.
    let mut missing = Vec::new();
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        missing.push("qemu-system-x86_64 (package qemu-system-x86)");
    }
    if !Path::new("/usr/share/qemu/qboot.rom").exists() {
        missing.push("/usr/share/qemu/qboot.rom (package qemu-system-data)");
    }
    assert!(
        missing.is_empty(),
        "cannot run the qemu test, missing: {}.\nInstall: sudo apt-get install qemu-system-x86 \
         qemu-system-data busybox-static cpio kmod fido2-tools (or: make deps)",
        missing.join(", ")
    );

    let started = Instant::now();
    std::fs::create_dir_all(&qemu_dir).expect("creating the qemu directory");
    let hidclient = hidclient();
    let (ok, log) = run_script(
        "build-guest.sh",
        &[&guest, Path::new(env!("CARGO_BIN_EXE_authsim")), &hidclient],
        &qemu_dir.join("build-guest.log"),
        BUILD_TIMEOUT,
    );
    let build_time = started.elapsed();
    assert!(ok, "building the guest failed:\n{log}");
    eprintln!("{log}guest built in {build_time:.1?}");

    let started = Instant::now();
    let mut qemu = Command::new("bash")
        .arg(workspace().join("tests/qemu/boot.sh"))
        .arg(&guest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tests/qemu/boot.sh");
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        qemu.stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        qemu.stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let deadline = started + BOOT_TIMEOUT;
    let mut console = Vec::new();
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut done = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                eprintln!("guest| {line}");
                match marker(&line) {
                    Some(("PASS", rest)) => passed.push(rest.to_owned()),
                    Some(("FAIL", rest)) => failed.push(rest.to_owned()),
                    Some(("DONE", _)) => done = true,
                    _ => {}
                }
                console.push(line);
            }
            // Both streams closed: qemu has exited.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    let boot_time = started.elapsed();
    let timed_out = Instant::now() >= deadline;
    if timed_out {
        // Ours to stop: the qemu process this test started.
        let _ = qemu.kill();
    }
    let status = qemu.wait().expect("waiting for qemu");
    let transcript = console.join("\n");

    // The figures first, so a failing run shows them too.
    let detail = |step: &str| {
        passed
            .iter()
            .find_map(|p| p.strip_prefix(step)?.strip_prefix(' '))
            .unwrap_or("")
            .to_owned()
    };
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
        failed.is_empty(),
        "guest steps failed: {failed:?}\n{transcript}"
    );
    assert!(
        done,
        "the guest never reported DONE (qemu {status}):\n{transcript}"
    );
    let names: Vec<&str> = passed
        .iter()
        .map(|p| p.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(names, STEPS, "guest steps passed:\n{transcript}");
    assert!(status.success(), "qemu exited with {status}");
}
