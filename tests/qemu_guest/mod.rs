//! Running a qemu guest of tests/qemu/ from a test: building it (build-guest.sh), booting it
//! (boot.sh) and collecting its `AUTHSIM-QEMU PASS|FAIL|DONE` console lines. Shared by
//! tests/uhid_qemu.rs (the fido guest) and tests/browser_qemu.rs (the browser guest).
#![allow(dead_code)] // each test crate uses a part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository's root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo example `hidclient` (tests/qemu/hidclient.rs: the project's host-side CTAPHID),
/// built beside the authsim binary by `make test-qemu` (and by `make test-rust`'s
/// `--all-targets` build) before the qemu tests run.
pub fn hidclient() -> PathBuf {
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

/// Fails at once, naming the packages, when qemu or its firmware is missing.
pub fn require_qemu() {
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
}

/// Runs a script from tests/qemu with a time limit and extra environment; returns success
/// and its output.
pub fn run_script(
    script: &str,
    args: &[&Path],
    env: &[(&str, &str)],
    log: &Path,
    limit: Duration,
) -> (bool, String) {
    let file = std::fs::File::create(log).expect("creating the build log");
    let mut child = Command::new("bash")
        .arg(workspace().join("tests/qemu").join(script))
        .args(args)
        .envs(env.iter().copied())
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
pub fn marker(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_end().split_once("AUTHSIM-QEMU ")?.1;
    Some(rest.split_once(' ').unwrap_or((rest, "")))
}

/// The number after `name=` in a PASS line's details.
pub fn field(details: &str, name: &str) -> Option<u64> {
    details
        .split(' ')
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// What a guest reported on its console.
pub struct Run {
    /// Every console line.
    pub console: Vec<String>,
    /// The PASS lines' `<step> [details]`, in order.
    pub passed: Vec<String>,
    /// The FAIL lines' `<step>`.
    pub failed: Vec<String>,
    /// Whether the guest said DONE.
    pub done: bool,
    /// Whether the guest was stopped at the time limit.
    pub timed_out: bool,
    /// qemu's exit status.
    pub status: ExitStatus,
    /// From boot.sh's start to qemu's end.
    pub elapsed: Duration,
}

impl Run {
    /// The console as one text.
    pub fn transcript(&self) -> String {
        self.console.join("\n")
    }

    /// The details of a passed step ("" if it did not pass).
    pub fn detail(&self, step: &str) -> String {
        self.passed
            .iter()
            .find_map(|p| p.strip_prefix(step)?.strip_prefix(' '))
            .unwrap_or("")
            .to_owned()
    }

    /// The names of the passed steps, in order.
    pub fn step_names(&self) -> Vec<&str> {
        self.passed
            .iter()
            .map(|p| p.split(' ').next().unwrap_or(""))
            .collect()
    }
}

/// Boots the guest in `guest` with tests/qemu/boot.sh (extra environment for it in `env`),
/// echoes its console to stderr as `guest| ...`, and collects its report; qemu is killed at
/// `limit`.
pub fn boot(guest: &Path, env: &[(&str, &str)], limit: Duration) -> Run {
    let started = Instant::now();
    let mut qemu = Command::new("bash")
        .arg(workspace().join("tests/qemu/boot.sh"))
        .arg(guest)
        .envs(env.iter().copied())
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

    let deadline = started + limit;
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
    let elapsed = started.elapsed();
    let timed_out = Instant::now() >= deadline;
    if timed_out {
        // Ours to stop: the qemu process this test started.
        let _ = qemu.kill();
    }
    let status = qemu.wait().expect("waiting for qemu");
    Run {
        console,
        passed,
        failed,
        done,
        timed_out,
        status,
        elapsed,
    }
}
