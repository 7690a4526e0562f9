//! `authsim totp ...`: the TOTP vault from the command line.

use super::Ctx;
use crate::clock::now_unix;
use crate::vault::{Algorithm, Code, EntryInfo, EntryParams, SecretBytes, qr, uri};
use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// `authsim totp` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Add an entry from an otpauth URI or a base32 secret.
    Add(AddArgs),
    /// Print the current code (or the code at --at); --fresh never repeats a code.
    Code(CodeArgs),
    /// Print the codes of N consecutive time steps.
    Codes(CodesArgs),
    /// List entries (no secrets).
    List(ListArgs),
    /// Show an entry; --uri prints its otpauth URI (secret!).
    Show(ShowArgs),
    /// Show the entry's otpauth URI as a QR code (secret!), or write it as a PNG.
    Qr(QrArgs),
    /// Import an entry from a QR code image (PNG), e.g. IAM's QRCodePNG.
    Import(ImportArgs),
    /// Rename an entry.
    Rename {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// Remove an entry and its secret.
    Remove {
        /// Entry name.
        name: String,
    },
}

// Options of `totp add`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["uri", "secret"])))]
pub struct AddArgs {
    /// Name of the new entry.
    name: String,
    /// otpauth://totp/... URI, or '-' to read it from standard input.
    #[arg(long, value_name = "URI|-")]
    uri: Option<String>,
    /// Base32 secret, or '-' to read it from standard input (keeps it out of history and ps).
    #[arg(long, value_name = "BASE32|-")]
    secret: Option<String>,
    /// Issuer (service) name.
    #[arg(long, conflicts_with = "uri")]
    issuer: Option<String>,
    /// Account name.
    #[arg(long, conflicts_with = "uri")]
    account: Option<String>,
    /// SHA1, SHA256 or SHA512.
    #[arg(long, default_value = "SHA1", conflicts_with = "uri")]
    algorithm: String,
    /// Digits per code, 6 to 8.
    #[arg(long, default_value_t = 6, conflicts_with = "uri")]
    digits: u8,
    /// Time step in seconds.
    #[arg(long, default_value_t = 30, conflicts_with = "uri")]
    period: u64,
}

// Options of `totp code`.
#[derive(Debug, Args)]
pub struct CodeArgs {
    /// Entry name.
    name: String,
    /// Unix time to compute the code for (default: now).
    #[arg(long, value_name = "UNIX_SECONDS", conflicts_with = "fresh")]
    at: Option<u64>,
    /// Print JSON: {"name","code","step","valid_from","valid_until"}.
    #[arg(long)]
    json: bool,
    /// Never hand out a code for a time step already handed out as fresh; wait for the next
    /// window when the current one is used.
    #[arg(long)]
    fresh: bool,
    /// With --fresh: when the current step is used, return the next step's code at once.
    #[arg(long, requires = "fresh")]
    allow_next: bool,
}

// Options of `totp codes`.
#[derive(Debug, Args)]
pub struct CodesArgs {
    /// Entry name.
    name: String,
    /// How many consecutive steps (IAM's EnableMFADevice needs 2).
    #[arg(long, default_value_t = 2)]
    count: u32,
    /// Unix time of the first step (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
    /// Print JSON (an array).
    #[arg(long)]
    json: bool,
}

// Options of `totp list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

// Options of `totp show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Entry name.
    name: String,
    /// Print the otpauth URI, secret included.
    #[arg(long)]
    uri: bool,
    /// Print JSON (without the secret).
    #[arg(long, conflicts_with = "uri")]
    json: bool,
}

// Options of `totp qr`.
#[derive(Debug, Args)]
pub struct QrArgs {
    /// Entry name.
    name: String,
    /// Write a PNG file instead of drawing in the terminal.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Pixels per QR module in the PNG.
    #[arg(long, default_value_t = 8, requires = "png")]
    scale: u32,
}

// Options of `totp import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Name of the new entry.
    name: String,
    /// PNG image holding the QR code ('-' for standard input).
    #[arg(long, value_name = "FILE|-")]
    qr_png: PathBuf,
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Add(a) => add(ctx, a),
        Cmd::Code(a) => code(ctx, a),
        Cmd::Codes(a) => {
            let mut source = ctx.code_source()?;
            let codes = source.codes(&a.name, a.at.unwrap_or_else(now_unix), a.count)?;
            if a.json {
                println!("{}", serde_json::to_string(&codes)?);
            } else {
                for c in &codes {
                    println!("{}", c.code);
                }
            }
            Ok(())
        }
        Cmd::List(a) => {
            let list = ctx.code_source()?.list()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                eprintln!("no TOTP entries (add one: authsim totp add NAME --uri -)");
            } else {
                print_table(&list);
            }
            Ok(())
        }
        Cmd::Show(a) => {
            if a.uri {
                // The secret never travels through the daemon: read it from the store here.
                let uri = ctx.vault()?.uri(&a.name)?;
                eprintln!("warning: this URI holds the secret; anyone who sees it can make codes");
                println!("{}", &*uri);
            } else {
                let info = ctx.code_source()?.info(&a.name)?;
                if a.json {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    print_table(std::slice::from_ref(&info));
                }
            }
            Ok(())
        }
        Cmd::Qr(a) => {
            let vault = ctx.vault()?;
            let uri = vault.uri(&a.name)?;
            match a.png {
                Some(path) => {
                    let png = qr::to_png(&uri, a.scale)?;
                    write_private_file(&path, &png)?;
                    eprintln!("wrote {} (mode 0600); it holds the secret", path.display());
                }
                None => {
                    eprintln!("warning: this QR code holds the secret");
                    print!("{}", &*qr::to_terminal(&uri)?);
                    println!();
                }
            }
            Ok(())
        }
        Cmd::Import(a) => {
            let bytes = if a.qr_png.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut b)
                    .context("reading the PNG from standard input")?;
                b
            } else {
                std::fs::read(&a.qr_png)
                    .with_context(|| format!("reading {}", a.qr_png.display()))?
            };
            let text = qr::decode_png(&bytes)?;
            let params =
                uri::parse(&text).context("the QR code does not hold a usable otpauth URI")?;
            let mut vault = ctx.vault()?;
            let info = vault.add(&a.name, &params)?;
            report_added(&info);
            Ok(())
        }
        Cmd::Rename { old, new } => {
            ctx.vault()?.rename(&old, &new)?;
            eprintln!("renamed '{old}' to '{new}'");
            Ok(())
        }
        Cmd::Remove { name } => {
            ctx.code_source()?.remove(&name)?;
            eprintln!("removed '{name}'");
            Ok(())
        }
    }
}

/// Read a secret value given as '-' from standard input (one value, surrounding space trimmed).
fn read_stdin_value(what: &str) -> Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
        let _ = std::io::stderr().flush();
    }
    let mut s = Zeroizing::new(String::new());
    // On a terminal one line is enough; from a pipe, everything up to end of input.
    let read = if stdin.is_terminal() {
        stdin.lock().read_line(&mut s)
    } else {
        stdin.lock().read_to_string(&mut s)
    };
    read.with_context(|| format!("reading the {what} from standard input"))?;
    let trimmed = Zeroizing::new(s.trim().to_string());
    if trimmed.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(trimmed)
}

fn add(ctx: &Ctx, a: AddArgs) -> Result<()> {
    let params = if let Some(u) = &a.uri {
        let text = if u == "-" {
            read_stdin_value("otpauth URI")?
        } else {
            Zeroizing::new(u.clone())
        };
        uri::parse(&text)?
    } else {
        let s = a.secret.as_deref().unwrap_or_default();
        let text = if s == "-" {
            read_stdin_value("base32 secret")?
        } else {
            Zeroizing::new(s.to_string())
        };
        let mut p = EntryParams::new(SecretBytes::from_base32(&text)?);
        p.issuer = a.issuer.filter(|s| !s.trim().is_empty());
        p.account = a.account.filter(|s| !s.trim().is_empty());
        p.algorithm = Algorithm::parse(&a.algorithm)?;
        p.digits = a.digits;
        p.period = a.period;
        p.validate()?;
        p
    };
    let info = ctx.code_source()?.add(&a.name, &params)?;
    report_added(&info);
    Ok(())
}

fn report_added(info: &EntryInfo) {
    let who = match (&info.issuer, &info.account) {
        (Some(i), Some(a)) => format!("{i}: {a}, "),
        (Some(i), None) => format!("{i}, "),
        (None, Some(a)) => format!("{a}, "),
        (None, None) => String::new(),
    };
    let who = super::output::printable(&who);
    eprintln!(
        "added '{}' ({who}{}, {} digits, {} s)",
        info.name,
        info.algorithm.name(),
        info.digits,
        info.period
    );
}

fn print_code(c: &Code, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(c)?);
    } else {
        println!("{}", c.code);
    }
    Ok(())
}

fn code(ctx: &Ctx, a: CodeArgs) -> Result<()> {
    let mut source = ctx.code_source()?;
    if !a.fresh {
        let mut c = source.codes(&a.name, a.at.unwrap_or_else(now_unix), 1)?;
        let Some(c) = c.pop() else {
            bail!("no code was produced")
        };
        return print_code(&c, a.json);
    }
    let mut countdown = Countdown::new();
    let codes = source.fresh(&a.name, 1, a.allow_next, &mut |n, left| {
        countdown.observe(n, left)
    })?;
    drop(countdown);
    match codes.first() {
        Some(c) => print_code(c, a.json),
        None => bail!("no code was produced"),
    }
}

/// Shows a wait for a fresh code: a countdown on a terminal (cleared when dropped), and a
/// plain line every 10 s otherwise.
pub(crate) struct Countdown {
    tty: bool,
    announced: bool,
    last_line: u64,
}

impl Countdown {
    /// A countdown on standard error.
    pub(crate) fn new() -> Countdown {
        Countdown {
            tty: std::io::stderr().is_terminal(),
            announced: false,
            last_line: 0,
        }
    }

    /// Shows that `name`'s next code comes in `left` seconds.
    pub(crate) fn observe(&mut self, name: &str, left: u64) {
        if self.tty {
            eprint!(
                "\r\x1b[2K'{name}': the code for this time step was already used; next code in {left:>2} s"
            );
            let _ = std::io::stderr().flush();
        } else if !self.announced || self.last_line.saturating_sub(left) >= 10 {
            eprintln!(
                "'{name}': the code for this time step was already used; waiting {left} s for the next one"
            );
            self.last_line = left;
        }
        self.announced = true;
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        if self.tty && self.announced {
            eprint!("\r\x1b[2K");
        }
    }
}

fn print_table(list: &[EntryInfo]) {
    let mut t =
        super::output::Table::new(vec!["NAME", "ISSUER / ACCOUNT", "ALG", "DIGITS", "PERIOD"]);
    for e in list {
        let who = match (&e.issuer, &e.account) {
            (Some(i), Some(a)) => format!("{i}: {a}"),
            (Some(i), None) => i.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => "-".into(),
        };
        t.row(vec![
            e.name.clone(),
            who,
            e.algorithm.name().to_owned(),
            e.digits.to_string(),
            format!("{}s", e.period),
        ]);
    }
    t.print();
}

/// Write a file that holds a secret: created 0600, never following an existing file's mode.
fn write_private_file(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("authsim-tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
