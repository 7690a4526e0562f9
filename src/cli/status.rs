//! `authsim status`: where the state lives, which schema, where the data key comes from.

use super::Ctx;
use anyhow::Result;
use clap::Args as ClapArgs;

// Options of `authsim status`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let vault = ctx.vault()?;
    let store = vault.store();
    let origin = store.key_origin();
    let entries = vault.list()?.len();
    if args.json {
        let location = match origin {
            crate::store::KeyOrigin::Env => serde_json::Value::Null,
            crate::store::KeyOrigin::File(p) => p.display().to_string().into(),
            crate::store::KeyOrigin::Keyring(u) => format!("authsim/{u}").into(),
        };
        let v = serde_json::json!({
            "state_dir": store.dir(),
            "database": store.db_path(),
            "schema_version": store.schema_version()?,
            "key_source": origin.kind(),
            "key_location": location,
            "totp_entries": entries,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("state dir:    {}", store.dir().display());
        println!(
            "database:     {} (schema version {})",
            store.db_path().display(),
            store.schema_version()?
        );
        println!("data key:     {}", origin.describe());
        println!("TOTP entries: {entries}");
    }
    Ok(())
}
