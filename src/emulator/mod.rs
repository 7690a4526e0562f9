//! A strict local stand-in for the MFA parts of AWS Cognito user pools, IAM and STS.
//!
//! It speaks the real wire protocols (Cognito's JSON 1.1 with `X-Amz-Target`; IAM and STS
//! query protocol with XML answers) so the AWS SDKs, the AWS CLI and boto3 work against it
//! with an endpoint URL. It is strict where moto is lenient: one secret per user and per
//! device, TOTP codes accepted only within one 30-second step of the server's clock, replays
//! refused, two consecutive codes to enable or resync an IAM device, Cognito's SRP proof
//! checked bit for bit, and AWS's own error codes, messages and HTTP statuses.
//!
//! Boundary: nothing here is shared with the client side it judges (`aws`, `vault`,
//! `webauthn`). TOTP codes are checked with totp-rs directly, SRP on its own.
//!
//! Test-only controls live under `/_authsim/` (see [`server`]).

#![warn(missing_docs)]

pub mod clock;
pub mod cognito;
pub mod context;
pub mod crypto;
pub mod iam;
pub mod qr;
pub mod query;
pub mod server;
pub mod sigv4;
pub mod state;
pub mod sts;
pub mod totp;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use server::{Emulator, EmulatorConfig};

/// The account every IAM ARN and Cognito ARN of the stand-in belongs to.
pub const ACCOUNT_ID: &str = "123456789012";

/// The region used when a request carries none (no SigV4 credential scope).
pub const DEFAULT_REGION: &str = "us-east-1";

/// What can stop the stand-in from starting or from keeping its state.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address is not a loopback address.
    #[error(
        "refusing to listen on {0}: the emulator binds only to loopback addresses (127.0.0.1, ::1)"
    )]
    NotLoopback(SocketAddr),
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state file exists but cannot be read.
    #[error("cannot read state file {path}")]
    StateRead {
        /// The state file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The state file exists but is not a state file this version understands.
    #[error("state file {path} is not valid emulator state: {reason}")]
    StateParse {
        /// The state file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// Writing the state file failed.
    #[error("cannot write state file {path}")]
    StateWrite {
        /// The state file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Serving HTTP failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}
