//! The AWS MFA flows on the AWS SDK for Rust: Cognito sign-in (SRP or password) and TOTP
//! enrollment, IAM virtual MFA devices, and STS session credentials behind an MFA code.
//!
//! Codes come from the vault under its one-time rule (see [`Codes`]); new seeds go into the
//! vault before anything that would make them matter, and the state of each enrollment is
//! kept in the store so an interrupted run can be finished by running it again.
//!
//! Every call runs on a current-thread tokio runtime made for the command ([`run`]); the SDK's
//! own logs are capped at INFO there. The SDK already keeps the bodies of operations it marks
//! sensitive out of its logs, but at DEBUG/TRACE it prints whole requests and the bodies of
//! the other responses; the cap keeps any future change there from reaching a log line.

pub mod cognito;
pub mod iam;
pub mod srp;
pub mod sts;

use crate::codes::{CodeError, CodeSource, WaitObserver};
use crate::store::StoreError;
use crate::vault::{Code, Vault, VaultError};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;
use zeroize::Zeroizing;

/// Where and as whom to call AWS: the AWS CLI's `--endpoint-url`, `--region` and `--profile`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Endpoint URL (e.g. a local stand-in); default: the service's public endpoint.
    pub endpoint_url: Option<String>,
    /// Region; default: AWS_REGION / the profile's region.
    pub region: Option<String>,
    /// Named profile of ~/.aws/config and ~/.aws/credentials; default: AWS_PROFILE / default.
    pub profile: Option<String>,
}

/// Time allowed for one whole AWS operation (retries included).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A code is sent only while at least this many seconds of its time step remain: a code sent
/// at the very end of its step may arrive in the next one, and servers without a skew window
/// refuse it.
pub const MIN_SECONDS_LEFT: u64 = 3;

/// Load the SDK configuration: credentials from the standard chain (environment, profile, SSO,
/// web identity, ...), the region from `--region`, the environment or the profile, else
/// `fallback_region`.
pub async fn sdk_config(target: &Target, fallback_region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    );
    if let Some(p) = &target.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &target.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &target.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let config = loader.load().await;
    match (config.region(), fallback_region) {
        (None, Some(r)) => config
            .to_builder()
            .region(Region::new(r.to_string()))
            .build(),
        _ => config,
    }
}

/// Run an AWS flow to completion on a current-thread runtime, with the SDK's logs capped.
pub fn run<T>(fut: impl std::future::Future<Output = Result<T, AwsError>>) -> Result<T, AwsError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AwsError::Flow(format!("cannot start the async runtime: {e}")))?;
    with_quiet_sdk_logs(|| rt.block_on(fut))
}

/// Targets whose DEBUG/TRACE output can carry request or response bodies and headers.
const NOISY_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_http",
    "aws_smithy_types",
    "aws_runtime",
    "aws_sigv4",
    "aws_config",
    "aws_sdk_",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// Run `f` with a thread-local subscriber that follows RUST_LOG (default: warnings) but lets
/// nothing below INFO through from the SDK and HTTP stack.
fn with_quiet_sdk_logs<T>(f: impl FnOnce() -> T) -> T {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{EnvFilter, Layer, filter};
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let cap = filter::filter_fn(|meta| {
        let noisy = NOISY_TARGETS.iter().any(|t| meta.target().starts_with(t));
        !noisy || *meta.level() <= tracing::Level::INFO
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(env)
        .with_filter(cap);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

/// Where the flows get TOTP codes and keep new seeds: the code source (the daemon or the
/// vault, under the one-time rule), and how to wait for a fresh code.
pub struct Codes<'a> {
    /// The daemon or the vault.
    pub source: &'a mut CodeSource,
    /// When the current step was used already, take the next step's code at once instead of
    /// waiting for it (`--allow-next`).
    pub allow_next: bool,
    /// Hears how a wait for the next step goes (the CLI shows a countdown).
    pub observe: WaitObserver<'a>,
}

impl std::fmt::Debug for Codes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codes")
            .field("source", &self.source)
            .field("allow_next", &self.allow_next)
            .finish_non_exhaustive()
    }
}

impl Codes<'_> {
    /// The vault, to store new seeds and the flows' records and look entries up.
    pub fn vault(&mut self) -> Result<&mut Vault, AwsError> {
        Ok(self.source.vault()?)
    }

    /// `count` (1, or 2 consecutive for IAM) codes of entry `name` never handed out as fresh
    /// before, waiting for the next time step when the current one is used.
    pub fn fresh(&mut self, name: &str, count: u32) -> Result<Vec<Code>, AwsError> {
        Ok(self
            .source
            .fresh(name, count, self.allow_next, &mut *self.observe)?)
    }
}

/// Fresh codes with at least [`MIN_SECONDS_LEFT`] seconds of validity left in the first one
/// (when less is left, the next step is awaited before any code is taken). Returns the code
/// strings.
pub(crate) async fn fresh_codes(
    codes: &mut Codes<'_>,
    name: &str,
    count: u32,
) -> Result<Vec<Zeroizing<String>>, AwsError> {
    loop {
        // Look before taking: a code handed out as fresh is spent whether or not it is sent,
        // so a step about to end is waited out before the vault hands any code out. (Taking
        // two codes and then waiting would leave the second one spent, and the next try
        // would wait a whole step for a fresh pair.)
        let now = crate::clock::now_unix();
        if let Some(current) = codes.source.codes(name, now, 1)?.first() {
            let left = current.valid_until.saturating_sub(now);
            if left < MIN_SECONDS_LEFT {
                tracing::info!(
                    name,
                    left,
                    "the current step is about to end; waiting for the next one"
                );
                tokio::time::sleep(Duration::from_millis(left * 1000 + 200)).await;
            }
        }
        let got = codes.fresh(name, count)?;
        let first = got
            .first()
            .ok_or_else(|| AwsError::Flow("the vault produced no code".into()))?;
        let now = crate::clock::now_unix();
        let left = first.valid_until.saturating_sub(now);
        if left >= MIN_SECONDS_LEFT {
            return Ok(got.into_iter().map(|c| Zeroizing::new(c.code)).collect());
        }
        tracing::info!(
            name,
            left,
            "the fresh code is about to expire; waiting for the next one"
        );
        tokio::time::sleep(Duration::from_millis(left * 1000 + 200)).await;
    }
}

/// What went wrong in an AWS flow; messages say what to do next and never quote a token,
/// password, secret or code.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The service refused the request.
    #[error("{op} failed: {code}: {message}{hint}")]
    Service {
        /// The operation, e.g. `VerifySoftwareToken`.
        op: &'static str,
        /// The service's error code, e.g. `CodeMismatchException`.
        code: String,
        /// The service's message, with anything secret removed.
        message: String,
        /// What to do next (starts with a line break), or empty.
        hint: String,
    },
    /// The endpoint could not be reached, or answered with something that is not AWS.
    #[error("{op} failed: {detail}")]
    Transport {
        /// The operation.
        op: &'static str,
        /// What happened and what to check.
        detail: String,
    },
    /// No credentials were found for a signed call.
    #[error(
        "{op} needs AWS credentials and none were found ({detail}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or --profile NAME (aws configure / aws sso login)"
    )]
    Credentials {
        /// The operation.
        op: &'static str,
        /// What the credential chain said.
        detail: String,
    },
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The SRP computation failed.
    #[error(transparent)]
    Srp(#[from] srp::SrpError),
    /// Codes could not be had from the daemon or the vault.
    #[error(transparent)]
    Codes(#[from] CodeError),
    /// A step of the flow cannot go on; the message says why and what to do.
    #[error("{0}")]
    Flow(String),
}

impl AwsError {
    /// The service's error code, if the service refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Secrets that must not appear in any message: the values themselves, and anything that
/// looks like a token.
#[derive(Default)]
pub struct Redactor {
    secrets: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor(<{} secrets>)", self.secrets.len())
    }
}

impl Redactor {
    /// Remember a secret value (ignored when too short to be recognised safely).
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 4 {
            self.secrets.push(Zeroizing::new(secret.to_string()));
        }
    }

    /// `text` with every known secret and every token-like word replaced by `<redacted>`,
    /// shortened to 600 characters.
    pub fn clean(&self, text: &str) -> String {
        let mut s = text.to_string();
        for secret in &self.secrets {
            s = replace_secret(&s, secret);
        }
        // Token-like words: 40+ characters of the base64/base64url/JWT alphabet with a digit.
        let mut out = String::with_capacity(s.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if word.len() >= 40 && word.chars().any(|c| c.is_ascii_digit()) {
                out.push_str("<redacted>");
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in s.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.') {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        if out.chars().count() > 600 {
            out = out.chars().take(600).collect::<String>() + "…";
        }
        out
    }
}

/// `text` with `secret` replaced by `<redacted>`; an all-digit secret (a code) only where it
/// stands alone, so an account id that happens to contain it stays readable.
fn replace_secret(text: &str, secret: &str) -> String {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return text.replace(secret, "<redacted>");
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(pos) = text[i..].find(secret) {
        let start = i + pos;
        let end = start + secret.len();
        let before = start > 0 && bytes[start - 1].is_ascii_digit();
        let after = end < bytes.len() && bytes[end].is_ascii_digit();
        out.push_str(&text[i..start]);
        out.push_str(if before || after {
            secret
        } else {
            "<redacted>"
        });
        i = end;
    }
    out.push_str(&text[i..]);
    out
}

/// What the user should do after a service error, by error code.
fn hint_for(code: &str) -> &'static str {
    match code {
        "CodeMismatchException" => {
            "the code was refused. Check that the vault entry holds this account's secret and that the clock is right (compare `authsim totp code NAME` with another authenticator), then run the command again: it sends the next fresh code, never the same one twice"
        }
        "ExpiredCodeException" => {
            "the code expired or was used already; run the command again to send the next fresh code"
        }
        "EnableSoftwareTokenMFAException" => {
            "the code did not verify the new TOTP secret. Check the clock, then run enroll-totp again: it asks for a new secret and keeps the old one under another name"
        }
        "LimitExceededException" | "LimitExceeded" => {
            "a limit of the account or of attempts was reached; wait a few minutes (or remove unused devices) before trying again"
        }
        "TooManyRequestsException" | "Throttling" | "ThrottlingException" => {
            "too many requests; wait a little and try again"
        }
        "NotAuthorizedException" => {
            "the username/password, token or session was refused. Check --username, the password and --client-id (and --client-secret-stdin if the app client has a secret); a sign-in session lasts 3 minutes, so if a step took longer start again with `authsim cognito sign-in`; an expired access token is renewed with `authsim cognito refresh`"
        }
        "SoftwareTokenMFANotFoundException" => {
            "the user has no verified TOTP authenticator; enroll one first with `authsim cognito enroll-totp`"
        }
        "InvalidParameterException" => {
            "a parameter was refused (see the message): check that the app client allows this auth flow (ALLOW_USER_SRP_AUTH / ALLOW_USER_PASSWORD_AUTH / ALLOW_REFRESH_TOKEN_AUTH) and that the user pool has TOTP MFA turned on"
        }
        "UserNotFoundException" => {
            "no such user in the pool of this app client; check --username and --client-id"
        }
        "UserNotConfirmedException" => {
            "the user has not confirmed the account yet; confirm it (e.g. aws cognito-idp admin-confirm-sign-up) and try again"
        }
        "PasswordResetRequiredException" => {
            "the user must reset the password first (forgot-password flow)"
        }
        "InvalidPasswordException" => "the new password does not meet the pool's password policy",
        "ResourceNotFoundException" => {
            "check --client-id, --pool-id and --region (for a passkey: the CREDENTIAL_ID, see `authsim cognito passkey list`)"
        }
        "WebAuthnOriginNotAllowedException" => {
            "the pool does not accept a passkey made at this origin: give --origin https://RP_ID (or a subdomain of it, default port), where RP_ID is the RelyingPartyId of the pool's WebAuthnConfiguration"
        }
        "WebAuthnRelyingPartyMismatchException" => {
            "the key signed for another relying party id than the pool's WebAuthnConfiguration names; register against that RP id"
        }
        "WebAuthnChallengeNotFoundException" => {
            "the registration's challenge expired or was used already; run `authsim cognito passkey register` again"
        }
        "WebAuthnNotEnabledException" => {
            "the pool does not allow passkeys: it needs the ESSENTIALS tier or above and WEB_AUTHN in Policies.SignInPolicy.AllowedFirstAuthFactors"
        }
        "WebAuthnConfigurationMissingException" => {
            "the pool has no relying party id: set WebAuthnConfiguration.RelyingPartyId (SetUserPoolMfaConfig)"
        }
        "WebAuthnCredentialNotSupportedException" => {
            "the pool refused this key's credential (algorithm, attestation, or user verification it requires); a key with a PIN set (--pin-stdin or `authsim webauthn pin save`) verifies the user"
        }
        "EntityAlreadyExists" | "EntityAlreadyExistsException" => {
            "it exists already; if an earlier run was interrupted, run the command again to finish it, or with --cleanup to delete the orphan device"
        }
        "NoSuchEntity" | "NoSuchEntityException" => {
            "no such user or device; check --user and the serial number (authsim iam list-mfa --user USER)"
        }
        "InvalidAuthenticationCode" | "InvalidAuthenticationCodeException" => {
            "the codes were refused. Check that the vault entry holds this device's seed and that the clock is right; run the command again to send the next fresh codes (resync-mfa if the device was in use long ago)"
        }
        "DeleteConflict" | "DeleteConflictException" => {
            "the device is still assigned to a user; deactivate it first (authsim iam deactivate-mfa)"
        }
        "AccessDenied" | "AccessDeniedException" => {
            "the credentials lack the permission, or (for STS) the MFA serial or code was refused; check the policy, --serial and the vault entry"
        }
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "UnrecognizedClientException" => {
            "the AWS credentials were refused; check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile"
        }
        "ExpiredToken" | "ExpiredTokenException" => {
            "the AWS session credentials have expired; renew them (aws sso login, or a new `authsim sts session`)"
        }
        "ValidationError" | "ValidationException" => "a parameter was refused; see the message",
        "ConcurrentModification" | "ConcurrentModificationException" => {
            "another change to the same resource was in progress; try again"
        }
        _ => "",
    }
}

/// An error and its sources as one line of their `Display` texts (no `Debug` dumps), each
/// text once.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Turn an SDK error into an [`AwsError`] that says what to do, with secrets removed.
pub(crate) fn sdk_error<E, R>(op: &'static str, err: SdkError<E, R>, redact: &Redactor) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("UnknownError").to_string();
            let message = redact.clean(e.message().unwrap_or("(no message)"));
            let hint = hint_for(&code);
            AwsError::Service {
                op,
                code,
                message,
                hint: if hint.is_empty() {
                    String::new()
                } else {
                    format!("\n  next: {hint}")
                },
            }
        }
        SdkError::TimeoutError(_) => AwsError::Transport {
            op,
            detail: format!(
                "no answer within {} s; check --endpoint-url, --region and the network",
                OPERATION_TIMEOUT.as_secs()
            ),
        },
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            let text = redact.clean(&error_chain(&err));
            if text.contains("credentials") || text.contains("identity") {
                AwsError::Credentials { op, detail: text }
            } else {
                AwsError::Transport {
                    op,
                    detail: format!(
                        "could not send the request ({text}); check --endpoint-url, --region and the network"
                    ),
                }
            }
        }
        SdkError::ResponseError(_) => AwsError::Transport {
            op,
            detail: format!(
                "the answer was not an AWS response ({}); is --endpoint-url pointing at the right service?",
                redact.clean(&error_chain(&err))
            ),
        },
        _ => AwsError::Transport {
            op,
            detail: redact.clean(&error_chain(&err)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_removes_known_secrets_and_token_like_words() {
        let mut r = Redactor::default();
        r.add("hunter2-password");
        r.add("123456");
        r.add("0b4c6f10-9d7e-4f43-b1b1-2d3c4e5f6a7b");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        let text = format!(
            "bad password hunter2-password, code 123456, token {jwt}; session 0b4c6f10-9d7e-4f43-b1b1-2d3c4e5f6a7b ok"
        );
        let clean = r.clean(&text);
        assert!(!clean.contains("hunter2"), "{clean}");
        assert!(!clean.contains("123456"), "{clean}");
        assert!(!clean.contains("eyJ"), "{clean}");
        assert!(clean.contains("bad password <redacted>"), "{clean}");
        assert!(
            clean.contains("ok") && !clean.contains("0b4c6f10"),
            "{clean}"
        );
        let long_session = "AYABeKx".repeat(20);
        assert_eq!(r.clean(&format!("s={long_session}3")), "<redacted>");
        // Ordinary words and ARNs stay readable.
        let arn = "arn:aws:iam::123456789012:mfa/alice";
        assert_eq!(r.clean(arn), arn);
        assert_eq!(
            r.clean("Incorrect username or password."),
            "Incorrect username or password."
        );
    }

    #[test]
    fn error_chains_are_display_only() {
        #[derive(Debug)]
        struct Inner;
        impl std::fmt::Display for Inner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connection refused")
            }
        }
        impl std::error::Error for Inner {}
        #[derive(Debug)]
        struct Outer(Inner);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            error_chain(&Outer(Inner)),
            "dispatch failure: connection refused"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let r = Redactor::default();
        let long = "word ".repeat(200);
        assert!(r.clean(&long).chars().count() <= 601);
    }

    #[test]
    fn every_error_the_issue_names_has_a_hint() {
        for code in [
            "CodeMismatchException",
            "ExpiredCodeException",
            "EnableSoftwareTokenMFAException",
            "LimitExceededException",
            "TooManyRequestsException",
            "NotAuthorizedException",
            "SoftwareTokenMFANotFoundException",
            "InvalidParameterException",
            "UserNotFoundException",
        ] {
            assert!(!hint_for(code).is_empty(), "{code}");
        }
        assert!(hint_for("NotAuthorizedException").contains("3 minutes"));
    }
}
