//! `authsim cognito ...`: sign in to a Cognito user pool (SRP, password or USER_AUTH, with TOTP
//! MFA, MFA setup and remembered devices), enroll a TOTP authenticator, refresh and keep
//! sessions, manage remembered devices and passkeys.
//!
//! Also home of what the AWS command groups share (`common`): `--endpoint-url/--region/
//! --profile`, reading secrets from standard input, running a flow.

pub mod common;
pub mod devices;
pub mod enroll;
pub mod passkeys;
pub mod sessions;
pub mod sign_in;

use super::Ctx;
use anyhow::Result;
use clap::Subcommand;
pub(crate) use common::{AwsArgs, run_flow};

/// `authsim cognito` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Sign in (SRP, password, USER_AUTH or a passkey) and answer Cognito's challenges: new
    /// password, TOTP code, MFA type, MFA setup, the remembered device, the choice of first
    /// factor, the passkey (--passkey: signed by a daemon key or --device). Prints the tokens
    /// as JSON, or keeps them sealed with --save.
    ///
    /// Secrets come from standard input, one per line, in this order: the password (none with
    /// --passkey), the new password (--new-password-stdin), the app client secret
    /// (--client-secret-stdin), the key's PIN (--pin-stdin).
    SignIn(sign_in::SignInArgs),
    /// Enroll a TOTP authenticator: AssociateSoftwareToken, secret into the vault,
    /// VerifySoftwareToken, SetUserMFAPreference, then GetUser to confirm.
    EnrollTotp(enroll::EnrollArgs),
    /// New access and ID tokens from the refresh token (REFRESH_TOKEN_AUTH).
    ///
    /// Without --session, secrets come from standard input, one per line: the refresh
    /// token, then the app client secret (--client-secret-stdin).
    Refresh(sessions::RefreshArgs),
    /// Print one token of a saved session (a secret: for pipes).
    Token(sessions::TokenArgs),
    /// List saved sessions (no secrets).
    Sessions(crate::cli::output::JsonFlag),
    /// Remove a saved session.
    Forget {
        /// The session's name.
        name: String,
    },
    /// Remembered devices of a saved session's user: list, forget, remembered or not.
    #[command(subcommand)]
    Device(devices::DeviceCmd),
    /// The sign-in factors a saved session's user has set up (GetUserAuthFactors).
    AuthFactors(devices::AuthFactorsArgs),
    /// Passkeys of a saved session's user: register one on a key, list, delete.
    #[command(subcommand)]
    Passkey(passkeys::PasskeyCmd),
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::SignIn(a) => sign_in::sign_in(ctx, a),
        Cmd::EnrollTotp(a) => enroll::enroll(ctx, a),
        Cmd::Refresh(a) => sessions::refresh(ctx, a),
        Cmd::Token(a) => sessions::token(ctx, a),
        Cmd::Sessions(out) => sessions::sessions(ctx, out),
        Cmd::Forget { name } => sessions::forget(ctx, name),
        Cmd::Device(c) => devices::run(ctx, c),
        Cmd::AuthFactors(a) => devices::auth_factors(ctx, a),
        Cmd::Passkey(c) => passkeys::run(ctx, c),
    }
}
