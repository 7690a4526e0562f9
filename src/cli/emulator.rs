//! `authsim emulator`: run the local stand-in for Cognito user pools, IAM and STS.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::emulator::{Emulator, EmulatorConfig};

/// The long help of `authsim emulator` (the test controls it serves).
pub const LONG_ABOUT: &str = "Run a strict local stand-in for the MFA parts of AWS Cognito user pools, IAM and STS.

Point the AWS SDKs, the AWS CLI or boto3 at it with an endpoint URL (e.g. --endpoint-url \
http://127.0.0.1:PORT) and any credentials. When ready it prints one line, `listening on ADDR`, \
on stdout. See src/emulator/README.md for what it implements and how strict it is.

Test controls (no authentication; loopback only):
  GET  /_authsim/health
  GET  /_authsim/clock                      server time and test offset
  POST /_authsim/clock                      {\"offset_seconds\": n} or {\"advance_seconds\": n}
  GET  /_authsim/confirmation-code?pool=ID&username=NAME
  GET  /_authsim/temporary-password?pool=ID&username=NAME
  GET  /_authsim/messages?pool=ID&username=NAME[&kind=confirmation_code|temporary_password|sms_mfa_code]
  GET  /{poolId}/.well-known/jwks.json      the pool's token signing key";

// Options of `authsim emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4599", value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Keep state in FILE across restarts (written atomically after each change).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// Parse `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (which means 127.0.0.1).
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("invalid port in {s:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("{s:?} is not IP:PORT (for example 127.0.0.1:4599, [::1]:4599 or localhost:4599)")
    })
}

/// Run the emulator until interrupted (Ctrl-C or SIGTERM).
pub fn run(args: EmulatorArgs) -> ExitCode {
    // Logging was set up by `cli::run` (rate-limited warnings).
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "authsim emulator: {}",
                super::output::printable_lines(&super::error_text(&e))
            );
            ExitCode::FAILURE
        }
    }
}

fn serve(args: EmulatorArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let emulator = Emulator::start(EmulatorConfig {
            listen: args.listen,
            state_file: args.state,
        })
        .await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", emulator.local_addr())
            .and_then(|()| out.flush())
            .context("cannot write to stdout")?;
        drop(out);
        emulator.run_until(shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("localhost:80"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        assert!(parse_listen("[::1]:0").is_ok_and(|a| a.ip().is_loopback()));
        assert!(parse_listen("example.com:80").is_err());
        assert!(parse_listen("localhost:http").is_err());
    }
}
