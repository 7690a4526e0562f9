//! The AWS commands through the real binary, without a network: the command line is sound,
//! flags are checked before anything is sent, an unreachable endpoint fails in bounded time
//! with advice, and no secret given on standard input reaches the output.

mod common;
use clap::CommandFactory;
use common::Authsim;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Correct-Horse-7!";

fn aws(a: Authsim) -> Authsim {
    let dir = a.dir.clone();
    a.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &dir.join("no-config").to_string_lossy())
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            &dir.join("no-credentials").to_string_lossy(),
        )
}

/// A local port with nothing listening on it.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_command_line_is_consistent() {
    // clap's own checks of every argument, group and conflict of every subcommand.
    authsim::cli::Cli::command().debug_assert();
}

#[test]
fn every_aws_command_takes_the_aws_cli_options() {
    let a = Authsim::new("awshelp");
    for cmd in [
        &["cognito", "sign-in"][..],
        &["cognito", "enroll-totp"],
        &["cognito", "refresh"],
        &["iam", "enable-mfa"],
        &["iam", "resync-mfa"],
        &["iam", "deactivate-mfa"],
        &["iam", "delete-mfa"],
        &["iam", "list-mfa"],
        &["iam", "get-mfa"],
        &["iam", "tag-mfa"],
        &["iam", "untag-mfa"],
        &["iam", "list-mfa-tags"],
        &["sts", "session"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = a.ok(&args);
        for flag in ["--endpoint-url", "--region", "--profile"] {
            assert!(out.contains(flag), "{cmd:?} lacks {flag}");
        }
    }
}

#[test]
fn srp_without_pool_id_is_refused_before_any_request() {
    let a = aws(Authsim::new("srp-pool"));
    let port = dead_port();
    let r = a.run_stdin(
        &[
            "cognito",
            "sign-in",
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "--client-id",
            "c",
            "--username",
            "u",
            "--password-stdin",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("--pool-id"), "{}", r.stderr);
    assert!(!r.stderr.contains("InitiateAuth failed"), "{}", r.stderr);
}

#[test]
fn missing_stdin_secret_is_named() {
    let a = aws(Authsim::new("stdin"));
    let r = a.run_stdin(
        &[
            "cognito",
            "sign-in",
            "--client-id",
            "c",
            "--username",
            "u",
            "--password-stdin",
            "--client-secret-stdin",
            "--flow",
            "password",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("app client secret"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD));
}

#[test]
fn unreachable_endpoints_fail_fast_with_advice_and_no_secrets() {
    let a = aws(Authsim::new("dead"));
    let url = format!("http://127.0.0.1:{}", dead_port());
    a.ok(&["totp", "add", "t", "--secret", "JBSWY3DPEHPK3PXP"]);
    let start = Instant::now();
    let r = a.run_stdin(
        &[
            "cognito",
            "sign-in",
            "--endpoint-url",
            &url,
            "--client-id",
            "c",
            "--username",
            "u",
            "--password-stdin",
            "--flow",
            "password",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("InitiateAuth failed"), "{}", r.stderr);
    assert!(r.stderr.contains("--endpoint-url"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
    let r = a.run(&[
        "sts",
        "session",
        "--endpoint-url",
        &url,
        "--serial",
        "arn:aws:iam::123456789012:mfa/x",
        "--totp",
        "t",
    ]);
    assert!(!r.ok);
    assert!(r.stderr.contains("GetSessionToken failed"), "{}", r.stderr);
    let r = a.run(&[
        "iam",
        "list-mfa",
        "--endpoint-url",
        &url,
        "--virtual",
        "--assignment-status",
        "Any",
    ]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("ListVirtualMFADevices failed"),
        "{}",
        r.stderr
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
    assert!(!r.stderr.contains("panicked"));
}

/// Even at RUST_LOG=trace neither the password nor the AWS session token reaches a log line.
#[test]
fn trace_logs_never_show_the_password_or_session_token() {
    let a = aws(Authsim::new("trace")).env("AWS_SESSION_TOKEN", "SESSION-TOKEN-MARKER");
    let url = format!("http://127.0.0.1:{}", dead_port());
    let mut c = a.command(&[
        "cognito",
        "sign-in",
        "--endpoint-url",
        &url,
        "--client-id",
        "c",
        "--username",
        "u",
        "--password-stdin",
        "--flow",
        "password",
    ]);
    // Common::command removes RUST_LOG; set it again for this run.
    c.env("RUST_LOG", "trace")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("TRACE") || err.contains("DEBUG") || err.contains("INFO"),
        "RUST_LOG had no effect: {err}"
    );
    assert!(!err.contains(PASSWORD), "the password reached a log line");
    let mut c = a.command(&["iam", "list-mfa", "--endpoint-url", &url, "--virtual"]);
    let out = c.env("RUST_LOG", "trace").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ListVirtualMFADevices"), "{err}");
    assert!(
        !err.contains("SESSION-TOKEN-MARKER"),
        "the session token reached a log line"
    );
}

#[test]
fn sts_duration_is_checked_locally() {
    let a = aws(Authsim::new("dur"));
    let r = a.run(&[
        "sts",
        "session",
        "--serial",
        "arn:aws:iam::123456789012:mfa/x",
        "--totp",
        "t",
        "--duration",
        "60",
    ]);
    assert!(!r.ok);
    assert!(r.stderr.contains("900"), "{}", r.stderr);
}
