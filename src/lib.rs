//! authsim: a software authenticator and hardware-token emulator.
//!
//! The binary (`src/main.rs`) is a thin shell over this library so integration tests and
//! benchmarks can reach the same code the CLI runs.

pub mod api;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod codes;
pub mod daemon;
pub mod emulator;
pub mod fido;
#[doc(hidden)]
pub mod fuzzing;
pub mod httpd;
pub mod logging;
pub mod memory;
pub mod paths;
pub mod realkey;
pub mod store;
pub mod transport;
pub mod vault;
pub mod webauthn;
