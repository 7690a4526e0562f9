//! The `authsim` binary: parse the command line and run it.

fn main() -> std::process::ExitCode {
    authsim::cli::run()
}
