//! Command-line interface: clap subcommands, one file per group; thin: parse, call, print.

use clap::Parser;
use std::process::ExitCode;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(name = "authsim", version, about = "Software authenticator and hardware-token emulator")]
pub struct Cli {}

/// Parse `std::env::args`, run the command, and map errors to a message and exit code.
pub fn run() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
