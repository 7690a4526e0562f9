//! `authsim completions SHELL` and `authsim man`: shell completions and man pages generated
//! from the same clap definitions the command line parses with, so they never drift from it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, CommandFactory};
use clap_complete::Shell;

use super::Cli;

// Options of `authsim completions`.
#[derive(Debug, ClapArgs)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

// Options of `authsim man`.
#[derive(Debug, ClapArgs)]
pub struct ManArgs {
    /// Write authsim.1 and one page per subcommand (authsim-totp.1, authsim-totp-code.1, ...)
    /// into DIR instead of printing authsim.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub(crate) fn completions(args: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "authsim", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script")?;
    Ok(())
}

/// Prints `authsim.1`, or writes every page into a directory.
pub(crate) fn man(args: ManArgs) -> Result<()> {
    let mut cmd = Cli::command();
    // Subcommands are defined when built (see `Command`'s `defer`): the page lists them all.
    cmd.build();
    match args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("writing the man page")?;
            out.flush().context("writing the man page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut written = 0;
            write_pages(&cmd.name("authsim"), &dir, &mut written)?;
            eprintln!("wrote {written} man pages to {}", dir.display());
        }
    }
    Ok(())
}

/// Writes the page of `cmd` and, recursively, of its visible subcommands (named
/// `authsim-sub-subsub.1`, as git and cargo name theirs).
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut usize) -> Result<()> {
    let mut cmd = cmd.clone();
    cmd.build();
    let name = cmd.get_name().to_owned();
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .context("rendering a man page")?;
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name()));
        write_pages(&sub, dir, written)?;
    }
    Ok(())
}
