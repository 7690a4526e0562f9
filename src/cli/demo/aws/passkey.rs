//! The passkey part of the demo: a virtual key of `authsim daemon` (on a Unix socket in the
//! client's state directory) registers a passkey with the stand-in's Cognito, then signs in
//! with it, no password — the commands a CI job runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use super::super::{ok, step};
use super::{Flows, START_TIMEOUT, Setup, stop};

/// The daemon as a child process, stopped when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// `authsim daemon --no-uhid --hid-socket …` on the client's state directory, once its control
/// API is up.
fn start_daemon(flows: &Flows) -> Result<Daemon> {
    let sock = flows.client_dir.join("key.sock");
    let sock = sock.to_str().context("the demo's directory is not UTF-8")?;
    let mut child = flows
        .command(&["daemon", "--no-uhid", "--hid-socket", sock])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start authsim daemon")?;
    let stdout = child
        .stdout
        .take()
        .context("the daemon's output is not readable")?;
    let daemon = Daemon(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("the daemon did not announce its control API")?;
        // The API socket is announced last: once it is there, everything is served.
        if line.starts_with("ready: api-socket") {
            return Ok(daemon);
        }
    }
}

/// Register a passkey on the daemon's key for the session `demo`, list it, sign in with it.
pub(super) fn run(flows: &Flows, setup: &Setup) -> Result<()> {
    step(
        "Cognito passkeys: a virtual key (authsim daemon, on a Unix socket) registers a passkey — StartWebAuthnRegistration, create() on the key, CompleteWebAuthnRegistration",
    );
    let t = Instant::now();
    let daemon = start_daemon(flows)?;
    ok(&format!(
        "daemon ready in {} ms; its key 'default' plays the security key",
        t.elapsed().as_millis()
    ));
    let url = flows.url.as_str();
    let out = flows.run(
        &[
            "cognito",
            "passkey",
            "register",
            "--endpoint-url",
            url,
            "--session",
            "demo",
            "--json",
        ],
        None,
    )?;
    let done: serde_json::Value =
        serde_json::from_str(&out).context("passkey register printed no JSON")?;
    let id = done["credential_id"]
        .as_str()
        .context("passkey register printed no credential id")?
        .to_string();
    let listed = flows.run(
        &[
            "cognito",
            "passkey",
            "list",
            "--endpoint-url",
            url,
            "--session",
            "demo",
        ],
        None,
    )?;
    ensure!(
        listed.contains(&id),
        "ListWebAuthnCredentials does not show the new passkey {id}"
    );
    ok(&format!(
        "passkey {id} registered for relying party {} (as {}); ListWebAuthnCredentials shows it",
        done["rp_id"].as_str().unwrap_or("?"),
        done["origin"].as_str().unwrap_or("?")
    ));

    step(
        "Cognito: sign in with the passkey — USER_AUTH with PREFERRED_CHALLENGE WEB_AUTHN, the options signed by the key, no password",
    );
    let t = Instant::now();
    flows.run(
        &[
            "cognito",
            "sign-in",
            "--endpoint-url",
            url,
            "--client-id",
            &setup.client_id,
            "--username",
            &setup.username,
            "--passkey",
            "--save",
            "demo-passkey",
        ],
        None,
    )?;
    let out = flows.run(
        &[
            "cognito",
            "auth-factors",
            "--endpoint-url",
            url,
            "--session",
            "demo-passkey",
            "--json",
        ],
        None,
    )?;
    let factors: serde_json::Value =
        serde_json::from_str(&out).context("auth-factors printed no JSON")?;
    ensure!(
        factors["configured"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "WEB_AUTHN")),
        "GetUserAuthFactors does not list WEB_AUTHN: {factors}"
    );
    ok(&format!(
        "signed in with the passkey in {} ms; GetUserAuthFactors: {}",
        t.elapsed().as_millis(),
        factors["configured"]
    ));
    drop(daemon);
    Ok(())
}
