//! What the AWS command groups share: `--endpoint-url/--region/--profile`, reading secrets
//! from standard input, and running a flow.

use crate::aws::{self, AwsError, Target};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{IsTerminal, Read};
use zeroize::Zeroizing;

// The AWS CLI's global options, on every AWS command.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct AwsArgs {
    /// Send requests to this URL instead of the service's public endpoint (e.g. a local
    /// stand-in); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Named profile from ~/.aws/config (default: AWS_PROFILE or "default").
    #[arg(long)]
    pub(crate) profile: Option<String>,
}

impl AwsArgs {
    pub(crate) fn target(&self) -> Target {
        Target {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

/// Secrets given with `--...-stdin` flags: read from standard input one per line, in the
/// order the command documents; on a terminal each is prompted for without echo.
pub(crate) struct StdinSecrets {
    lines: Option<std::vec::IntoIter<Zeroizing<String>>>,
}

impl StdinSecrets {
    pub(crate) fn new() -> StdinSecrets {
        StdinSecrets { lines: None }
    }

    /// The next secret; `what` names it in the prompt and in errors.
    pub(crate) fn next(&mut self, what: &str) -> Result<Zeroizing<String>> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            let v = Zeroizing::new(
                rpassword::prompt_password(format!("{what}: "))
                    .with_context(|| format!("reading the {what} from the terminal"))?,
            );
            if v.is_empty() {
                bail!("no {what} was typed");
            }
            return Ok(v);
        }
        if self.lines.is_none() {
            let mut all = Zeroizing::new(String::new());
            stdin
                .lock()
                .read_to_string(&mut all)
                .context("reading standard input")?;
            let lines: Vec<Zeroizing<String>> = all
                .lines()
                .map(|l| Zeroizing::new(l.trim_end_matches('\r').to_string()))
                .collect();
            self.lines = Some(lines.into_iter());
        }
        match self.lines.as_mut().and_then(Iterator::next) {
            Some(v) if !v.is_empty() => Ok(v),
            Some(_) => bail!("the {what} line on standard input is empty"),
            None => bail!("standard input ended before the {what} (one secret per line)"),
        }
    }
}

/// Run an AWS flow and turn its error into one anyhow error with the full message.
pub(crate) fn run_flow<T>(
    fut: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T> {
    aws::run(fut).map_err(anyhow::Error::from)
}
