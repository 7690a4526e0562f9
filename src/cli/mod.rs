//! Command-line interface: clap subcommands, one file per group; thin: parse, call, print.

pub mod emulator;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "authsim",
    version,
    about = "Software authenticator and hardware-token emulator"
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local stand-in for Cognito user pools, IAM and STS.
    #[command(long_about = emulator::LONG_ABOUT)]
    Emulator(emulator::EmulatorArgs),
}

/// Parse `std::env::args`, run the command, and map errors to a message and exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Emulator(args)) => emulator::run(args),
        None => ExitCode::SUCCESS,
    }
}
