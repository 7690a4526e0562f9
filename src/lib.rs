//! authsim: a software authenticator and hardware-token emulator.
//!
//! The binary (`src/main.rs`) is a thin shell over this library so integration tests and
//! benchmarks can reach the same code the CLI runs.

pub mod aws;
pub mod cli;
pub mod paths;
pub mod store;
pub mod vault;
