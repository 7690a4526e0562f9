//! `authsim demo`: the main job on the embedded default, end to end, on a throw-away state
//! directory — no AWS account, no uhid, no keyring needed: the TOTP vault and its rules, then
//! the AWS MFA flows against the strict stand-in ([`aws`]).

mod aws;

use crate::store::{KeySource, Keyring, Store};
use crate::vault::{EntryParams, Fresh, SecretBytes, Vault, qr, uri};
use anyhow::{Context, Result, ensure};
use clap::Args as ClapArgs;

// Options of `authsim demo`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Keep the throw-away state directory afterwards (its path is printed).
    #[arg(long)]
    keep: bool,
}

struct TempDir(std::path::PathBuf, bool);

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub(crate) fn run(args: Args) -> Result<()> {
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("system random source: {e}"))?;
    let dir = TempDir(
        std::env::temp_dir().join(format!("authsim-demo-{}", hex::encode(rnd))),
        args.keep,
    );
    step(&format!("throw-away state directory {}", dir.0.display()));
    // The demo's own key file lives in the throw-away directory; the OS keyring is left alone.
    let store = Store::open(&dir.0, &KeySource::new(None, Keyring::Off))?;
    let mut vault = Vault::new(store);
    ok(&format!(
        "vault created; data key in {}",
        vault.store().key_origin().describe()
    ));

    step("RFC 6238 Appendix B: SHA1 seed \"12345678901234567890\", 8 digits, T = 59");
    let mut rfc = EntryParams::new(SecretBytes::new(b"12345678901234567890".to_vec()));
    rfc.digits = 8;
    vault.add("rfc6238-sha1", &rfc)?;
    let c = vault.code_at("rfc6238-sha1", 59)?;
    ensure!(
        c.code == "94287082",
        "RFC 6238 vector failed: got {}",
        c.code
    );
    ok(&format!("code {} (RFC says 94287082)", c.code));

    step("add an 80-bit secret from an otpauth URI, as many sites issue them");
    let params = uri::parse(
        "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
    )?;
    vault.add("example", &params)?;
    let now = crate::clock::now_unix();
    let c = vault.code_at("example", now)?;
    ok(&format!(
        "current code {} (step {}, valid {}..{})",
        c.code, c.step, c.valid_from, c.valid_until
    ));

    step("two consecutive codes at once (what IAM's EnableMFADevice needs)");
    let codes = vault.codes("example", now, 2)?;
    ok(&format!("{} then {}", codes[0].code, codes[1].code));

    step("fresh codes: a code handed out once is never handed out again");
    let first = match vault.fresh("example", now, 1, false)? {
        Fresh::Ready(c) => c[0].clone(),
        Fresh::WaitUntil(_) => anyhow::bail!("a new entry's first fresh code was refused"),
    };
    ok(&format!(
        "fresh code {} for step {}",
        first.code, first.step
    ));
    match vault.fresh("example", now, 1, false)? {
        Fresh::WaitUntil(t) => ok(&format!(
            "asked again in the same step: refused, next code at {t} (in {} s)",
            t.saturating_sub(now)
        )),
        Fresh::Ready(_) => anyhow::bail!("the same step was handed out twice"),
    }
    match vault.fresh("example", now, 1, true)? {
        Fresh::Ready(c) => {
            ensure!(
                c[0].step == first.step + 1,
                "--allow-next gave the wrong step"
            );
            ok(&format!(
                "with --allow-next: next step's code {} at once",
                c[0].code
            ))
        }
        Fresh::WaitUntil(_) => anyhow::bail!("--allow-next did not give the next step"),
    }

    step("otpauth URI and QR code round trip");
    let u = vault.uri("example")?;
    let png = qr::to_png(&u, 4)?;
    let back = qr::decode_png(&png)?;
    ensure!(*back == *u, "QR round trip changed the URI");
    let reparsed = uri::parse(&back)?;
    ensure!(reparsed == params, "URI round trip changed the entry");
    ok(&format!(
        "{}-byte PNG decoded back to the same entry",
        png.len()
    ));

    step("reopen the vault from disk (durable, encrypted at rest)");
    drop(vault);
    let vault = Vault::new(Store::open(&dir.0, &KeySource::new(None, Keyring::Off))?);
    let names: Vec<_> = vault.list()?.into_iter().map(|e| e.name).collect();
    ensure!(
        names == ["example", "rfc6238-sha1"],
        "entries lost: {names:?}"
    );
    let raw = std::fs::read(vault.store().db_path()).context("reading the database")?;
    ensure!(
        !raw.windows(10).any(|w| w == b"Hello!\xde\xad\xbe\xef"),
        "the secret is stored in clear"
    );
    ok("2 entries back; the secret's bytes appear nowhere in the database file");

    aws::run(&dir.0.join("aws"))?;

    if args.keep {
        println!("kept {}", dir.0.display());
    }
    println!("demo: all steps passed");
    Ok(())
}

fn step(s: &str) {
    println!("==> {s}");
}

fn ok(s: &str) {
    println!("    ok: {s}");
}
