//! Command-line interface: clap subcommands, one file per group; thin: parse, call, print.

mod cognito;
mod daemon;
mod demo;
mod docs;
mod emulator;
mod iam;
mod key;
mod output;
mod realkey;
mod status;
mod sts;
mod totp;
mod webauthn;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::store::{KeySource, Store};
use crate::vault::Vault;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "authsim",
    version,
    about = "Software authenticator and hardware-token emulator: TOTP vault, virtual FIDO2 keys, AWS MFA flows"
)]
pub struct Cli {
    /// State directory (default: $XDG_DATA_HOME/authsim).
    #[arg(long, global = true, env = crate::paths::STATE_DIR_ENV, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Log lines (on stderr, filtered by RUST_LOG) as text or as one JSON object per line
    /// (for journald or CI).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "AUTHSIM_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Every subcommand enum is `defer`red: clap defines a subcommand's arguments only when that
/// subcommand runs (or help, completions and man pages build the whole tree), not the ~300
/// arguments of every command at each start; `authsim totp code` is run once per code.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
enum Command {
    /// TOTP codes: add, list, code, fresh codes, QR codes, import, rename, remove.
    #[command(subcommand)]
    Totp(totp::Cmd),
    /// Real security keys over hidraw (and authsim's uhid keys): list, info, wink, select.
    #[command(subcommand)]
    Realkey(realkey::Cmd),
    /// Where the state lives and where its key comes from.
    Status(status::Args),
    /// The main job on the embedded default, end to end on a throw-away state dir: the TOTP
    /// vault, then every AWS MFA flow against the local stand-in.
    Demo(demo::Args),
    /// Run the local stand-in for Cognito user pools, IAM and STS.
    #[command(long_about = emulator::LONG_ABOUT)]
    Emulator(emulator::EmulatorArgs),
    /// Run the daemon: virtual FIDO2 keys on /dev/uhid, a Unix socket or loopback UDP, and the
    /// control API, until SIGTERM/SIGINT.
    Daemon(daemon::Args),
    /// Virtual keys of the running daemon (a client of its control API), and the
    /// installation's attestation CA.
    #[command(subcommand)]
    Key(key::Cmd),
    /// Cognito user pools: sign in (SRP, TOTP MFA, MFA setup), enroll TOTP, refresh tokens.
    #[command(subcommand)]
    Cognito(cognito::Cmd),
    /// IAM virtual MFA devices with their seeds in the vault.
    #[command(subcommand)]
    Iam(iam::Cmd),
    /// The browser's part, headless: register and use passkeys (WebAuthn options JSON in,
    /// response JSON out) on a daemon key or a hidraw device.
    #[command(subcommand)]
    Webauthn(webauthn::Cmd),
    /// STS session credentials behind an MFA code.
    #[command(subcommand)]
    Sts(sts::Cmd),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page (authsim.1), or write every page into a directory (--dir).
    Man(docs::ManArgs),
}

/// Global options every command may need.
pub(crate) struct Ctx {
    state_dir: Option<PathBuf>,
}

impl Ctx {
    /// The state directory in force.
    pub(crate) fn state_dir(&self) -> Result<PathBuf> {
        match &self.state_dir {
            Some(d) => Ok(d.clone()),
            None => crate::paths::default_state_dir().context(
                "cannot find a home for the state: set --state-dir, AUTHSIM_STATE_DIR, XDG_DATA_HOME or HOME",
            ),
        }
    }

    /// Whether the state directory is the default one (no --state-dir, no AUTHSIM_STATE_DIR).
    pub(crate) fn state_dir_is_default(&self) -> bool {
        self.state_dir.is_none()
    }

    /// The control API socket of this state directory's daemon.
    pub(crate) fn api_socket(&self) -> Result<PathBuf> {
        Ok(crate::paths::api_socket(
            &self.state_dir()?,
            self.state_dir_is_default(),
        ))
    }

    /// Where TOTP codes come from: the daemon of this state directory when one runs, else
    /// the vault.
    pub(crate) fn code_source(&self) -> Result<crate::codes::CodeSource> {
        Ok(crate::codes::CodeSource::open(
            &self.state_dir()?,
            &self.api_socket()?,
            KeySource::from_env(),
        )?)
    }

    /// Open the store and vault in the state directory.
    pub(crate) fn vault(&self) -> Result<Vault> {
        let dir = self.state_dir()?;
        let store = Store::open(&dir, &KeySource::from_env())?;
        Ok(Vault::new(store))
    }
}

/// Parse `std::env::args`, run the command, and map errors to a message and exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(match cli.log_format {
        LogFormat::Text => crate::logging::Format::Text,
        LogFormat::Json => crate::logging::Format::Json,
    });
    if let Err(e) = crate::clock::init() {
        eprintln!("authsim: error: {e}");
        return ExitCode::FAILURE;
    }
    let ctx = Ctx {
        state_dir: cli.state_dir,
    };
    let result = match cli.command {
        Command::Emulator(args) => return emulator::run(args),
        Command::Totp(cmd) => totp::run(&ctx, cmd),
        Command::Status(args) => status::run(&ctx, args),
        Command::Realkey(cmd) => realkey::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Daemon(args) => daemon::run(&ctx, args),
        Command::Key(cmd) => key::run(&ctx, cmd),
        Command::Cognito(cmd) => cognito::run(&ctx, cmd),
        Command::Iam(cmd) => iam::run(&ctx, cmd),
        Command::Sts(cmd) => sts::run(&ctx, cmd),
        Command::Webauthn(cmd) => webauthn::run(&ctx, cmd),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Escaped: an error may quote a name or a value the user gave.
            eprintln!(
                "authsim: error: {}",
                output::printable_lines(&error_text(&e))
            );
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: many errors already include their
/// cause's text in their own message, and `{:#}` would print it again.
pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `authsim PATH... -h`, as the user sees it.
    fn short_help(path: &[String]) -> String {
        let argv = std::iter::once("authsim")
            .chain(path.iter().map(String::as_str))
            .chain(std::iter::once("-h"));
        match Cli::try_parse_from(argv) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{path:?} -h parsed as a command"),
        }
    }

    /// Every command's description reads the same in its parent's list of commands and at the
    /// top of its own help. Subcommands are deferred: an argument struct's doc comment would
    /// replace the variant's description when the subcommand is built (argument structs carry
    /// plain comments for that reason).
    #[test]
    fn descriptions_agree_between_command_lists_and_own_help() {
        let mut pending: Vec<Vec<String>> = vec![vec![]];
        let mut checked = 0;
        while let Some(path) = pending.pop() {
            let text = short_help(&path);
            let Some((_, list)) = text.split_once("\nCommands:\n") else {
                continue;
            };
            for line in list.lines().take_while(|l| l.starts_with("  ")) {
                let (name, about) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
                if name == "help" {
                    continue;
                }
                let mut child = path.clone();
                child.push(name.to_owned());
                let own = short_help(&child);
                assert!(
                    own.starts_with(about.trim()),
                    "{child:?}: listed as {:?}, its own help starts {:?}",
                    about.trim(),
                    own.lines().next()
                );
                checked += 1;
                pending.push(child);
            }
        }
        assert!(checked > 50, "only {checked} commands seen");
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("Not a socket (os error 88)");
        let e = anyhow::Error::new(crate::transport::TransportError::Bind {
            what: "/tmp/x".into(),
            source: io,
        })
        .context("starting the daemon");
        let text = error_text(&e);
        assert_eq!(text.matches("os error 88").count(), 1, "{text}");
        assert!(
            text.starts_with("starting the daemon: cannot listen on /tmp/x"),
            "{text}"
        );
        let e = anyhow::Error::new(crate::vault::uri::UriError::Secret(
            crate::vault::SecretError::NotBase32,
        ));
        let text = error_text(&e);
        let inner = crate::vault::SecretError::NotBase32.to_string();
        assert_eq!(text.matches(&inner).count(), 1, "{text}");
    }
}
