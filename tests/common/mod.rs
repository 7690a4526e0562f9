//! Shared helpers for the integration tests: run the real `authsim` binary on a private state
//! directory.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A throw-away state directory and the binary to run against it.
pub struct Authsim {
    pub dir: PathBuf,
    pub envs: Vec<(String, String)>,
}

/// A finished command's status and text output.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Authsim {
    /// A new empty state directory with the keyring off (the key file fallback).
    pub fn new(tag: &str) -> Authsim {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("authsim-it-{tag}-{}", hex::encode(r)));
        Authsim {
            dir,
            envs: vec![("AUTHSIM_KEYRING".into(), "off".into())],
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Authsim {
        self.envs.retain(|(a, _)| a != k);
        self.envs.push((k.into(), v.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_authsim"));
        c.args(args)
            .env("AUTHSIM_STATE_DIR", &self.dir)
            .env_remove("AUTHSIM_MASTER_KEY")
            .env_remove("RUST_LOG");
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Run with no standard input.
    pub fn run(&self, args: &[&str]) -> Run {
        let o = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run authsim");
        Run::from(o)
    }

    /// Run with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn authsim");
        child.stdin.take().unwrap().write_all(input).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Run and insist on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "authsim {args:?} failed: {}", r.stderr);
        r.stdout
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Authsim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
