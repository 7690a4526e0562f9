//! The uhid transport against a real Linux kernel: boots a qemu guest (Debian cloud kernel,
//! busybox initramfs, built by `tests/qemu/build-guest.sh`) in which the `uhid_token`
//! example creates its key and fido2-tools (and `authsim realkey`) list it, read its info, make and verify a
//! credential and an assertion; then SIGTERM and a power cycle must remove the hidraw node
//! (and bring it back). The guest reports `AUTHSIM-QEMU PASS|FAIL <step>` lines on its
//! serial console (`tests/qemu/init.sh`).
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

/// The whole boot + test must end within this.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Every step the guest must pass, in order.
const STEPS: &[&str] = &[
    "boot",
    "error-without-uhid",
    "modules",
    "error-without-permission",
    "hidraw-appears",
    "list",
    "info",
    "realkey-list",
    "realkey-info",
    "make-credential",
    "verify-credential",
    "get-assertion",
    "verify-assertion",
    "verify-rejects-tampered",
    "sigterm-removes-node",
    "hidraw-appears-2",
    "power-cycle-gone",
    "power-cycle-back",
    "info-after-power-cycle",
];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the example (cargo releases its build lock before running tests) and returns the
/// executable cargo reports for it.
fn build_example() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "build",
            "--locked",
            "--example",
            "uhid_token",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo build --example uhid_token");
    assert!(
        out.status.success(),
        "cargo build --example uhid_token failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "uhid_token")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for the uhid_token example")
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

/// A guest console line `AUTHSIM-QEMU <word> <rest>`, split.
fn marker(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_end().split_once("AUTHSIM-QEMU ")?.1;
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

#[test]
#[ignore = "boots a qemu guest; run with `make test-qemu` (part of `make test`)"]
fn fido2_tools_use_a_uhid_key_in_a_real_kernel() {
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

    let example = build_example();
    let started = Instant::now();
    std::fs::create_dir_all(&qemu_dir).expect("creating the qemu directory");
    let (ok, log) = run_script(
        "build-guest.sh",
        &[&guest, &example, Path::new(env!("CARGO_BIN_EXE_authsim"))],
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

    let detail = |step: &str| {
        passed
            .iter()
            .find_map(|p| p.strip_prefix(step)?.strip_prefix(' '))
            .unwrap_or("")
            .to_owned()
    };
    eprintln!(
        "uhid qemu test: guest build {build_time:.1?}, boot + test {boot_time:.1?}; \
         first key: {}; after SIGTERM: {}",
        detail("hidraw-appears"),
        detail("hidraw-appears-2"),
    );
}
