//! `authsim key ...`: the running daemon's virtual keys, through its control API; and the
//! installation's attestation CA (read from the store, no daemon needed).

use super::Ctx;
use crate::api::client::{self, Answer};
use crate::daemon::pki::installation_pki;
use crate::store::{KeySource, Store};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::{Args as ClapArgs, Subcommand};
use hyper::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `authsim key` subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the daemon's virtual keys.
    List,
    /// Show one key.
    Show {
        /// The key's name.
        name: String,
    },
    /// Add a virtual key (it persists across daemon restarts).
    Add(AddArgs),
    /// Remove a key and erase its credentials.
    Remove {
        /// The key's name.
        name: String,
    },
    /// List a key's stored credentials (discoverable and imported ones).
    Credentials {
        /// The key's name.
        name: String,
    },
    /// Import a credential (a PKCS#8 private key) into a key.
    AddCredential(AddCredentialArgs),
    /// Remove one stored credential (id in base64url), or all with --all.
    RemoveCredential {
        /// The key's name.
        name: String,
        /// The credential id (base64url).
        #[arg(required_unless_present = "all")]
        credential_id: Option<String>,
        /// Remove every stored credential of the key.
        #[arg(long, conflicts_with = "credential_id")]
        all: bool,
    },
    /// Set whether the key's built-in user verification succeeds.
    Uv {
        /// The key's name.
        name: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        verified: bool,
    },
    /// Show or set the presence policy (auto, deny, manual) and list waiting requests.
    Presence {
        /// The key's name.
        name: String,
        /// The new policy.
        policy: Option<String>,
    },
    /// Approve a waiting presence request (manual policy).
    Approve {
        /// The key's name.
        name: String,
        /// The request id (from `authsim key presence NAME`).
        id: u64,
        /// Approve the touch but fail built-in user verification.
        #[arg(long)]
        not_verified: bool,
    },
    /// Deny a waiting presence request (manual policy).
    Deny {
        /// The key's name.
        name: String,
        /// The request id.
        id: u64,
    },
    /// Unplug and replug the key (its hidraw node goes away and comes back).
    PowerCycle {
        /// The key's name.
        name: String,
    },
    /// Print the installation's attestation CA certificate (PEM), the trust anchor for
    /// "packed" x5c attestation; created on first use.
    AttestationCa {
        /// Also write the certificate in DER form to FILE.
        #[arg(long, value_name = "FILE")]
        der: Option<PathBuf>,
    },
}

/// Options of `authsim key add`.
#[derive(Debug, ClapArgs)]
pub struct AddArgs {
    /// The key's name.
    name: String,
    /// ctap2, ctap2_1 or u2f.
    #[arg(long)]
    protocol: Option<String>,
    /// No discoverable credentials.
    #[arg(long)]
    no_resident_key: bool,
    /// Built-in user verification.
    #[arg(long)]
    user_verification: bool,
    /// auto, deny or manual.
    #[arg(long)]
    presence: Option<String>,
    /// none, self or x5c.
    #[arg(long)]
    attestation: Option<String>,
    /// per-credential, global or always-zero.
    #[arg(long)]
    counter_mode: Option<String>,
    /// Most discoverable credentials.
    #[arg(long)]
    max_resident_credentials: Option<usize>,
    /// Put the key on /dev/uhid.
    #[arg(long)]
    uhid: bool,
    /// Put the key on this Unix socket.
    #[arg(long, value_name = "PATH")]
    hid_socket: Option<PathBuf>,
    /// Put the key on this loopback UDP address.
    #[arg(long, value_name = "127.0.0.1:PORT")]
    hid_udp: Option<String>,
}

/// Options of `authsim key add-credential`.
#[derive(Debug, ClapArgs)]
pub struct AddCredentialArgs {
    /// The key's name.
    name: String,
    /// The relying party id.
    #[arg(long)]
    rp_id: String,
    /// The credential id (base64url); random 32 bytes when left out.
    #[arg(long)]
    credential_id: Option<String>,
    /// The private key: a PKCS#8 file, DER or PEM ('-' reads standard input).
    #[arg(long, value_name = "FILE")]
    private_key: PathBuf,
    /// The user handle (base64url); needed for a discoverable credential.
    #[arg(long)]
    user_handle: Option<String>,
    /// Make it discoverable (resident).
    #[arg(long)]
    resident: bool,
    /// The signature counter to start from.
    #[arg(long, default_value_t = 0)]
    sign_count: u32,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sends one request to the daemon and returns its JSON (2xx) or its message (otherwise).
fn call(ctx: &Ctx, method: Method, path: &str, body: Option<Value>) -> Result<Answer> {
    let socket = ctx.api_socket()?;
    let answer = client::request_blocking(&socket, method, path, body.as_ref())?;
    if !answer.status.is_success() {
        bail!("{}", answer.error_message());
    }
    Ok(answer)
}

fn print_json(answer: &Answer) -> Result<()> {
    if answer.body.is_empty() {
        return Ok(());
    }
    println!("{}", serde_json::to_string_pretty(&answer.json())?);
    Ok(())
}

fn key_path(name: &str, rest: &str) -> String {
    let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/webauthn/authenticator/{name}{rest}")
}

fn read_private_key(path: &PathBuf) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let raw = zeroize::Zeroizing::new(if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .context("reading the private key from standard input")?;
        b
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    });
    let text = String::from_utf8_lossy(&raw);
    if let Some(start) = text.find("-----BEGIN PRIVATE KEY-----") {
        let body = &text[start + "-----BEGIN PRIVATE KEY-----".len()..];
        let end = body
            .find("-----END PRIVATE KEY-----")
            .context("the PEM private key has no END line")?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .context("the PEM private key is not valid base64")?;
        return Ok(zeroize::Zeroizing::new(der));
    }
    if text.contains("-----BEGIN") {
        bail!(
            "only unencrypted PKCS#8 keys (BEGIN PRIVATE KEY) are accepted; convert with: openssl pkcs8 -topk8 -nocrypt"
        );
    }
    Ok(raw)
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::List => print_json(&call(ctx, Method::GET, "/webauthn/authenticator", None)?),
        Cmd::Show { name } => print_json(&call(ctx, Method::GET, &key_path(&name, ""), None)?),
        Cmd::Add(a) => {
            let mut body = json!({ "name": a.name });
            if let Some(p) = a.protocol {
                body["protocol"] = json!(p);
            }
            if a.no_resident_key {
                body["hasResidentKey"] = json!(false);
            }
            if a.user_verification {
                body["hasUserVerification"] = json!(true);
            }
            if let Some(p) = a.presence {
                body["presence"] = json!(p);
            }
            if let Some(p) = a.attestation {
                body["attestation"] = json!(p);
            }
            if let Some(p) = a.counter_mode {
                body["counterMode"] = json!(p);
            }
            if let Some(m) = a.max_resident_credentials {
                body["maxResidentCredentials"] = json!(m);
            }
            if a.uhid {
                body["uhid"] = json!(true);
            }
            if let Some(p) = a.hid_socket {
                body["hidSocket"] = json!(p);
            }
            if let Some(u) = a.hid_udp {
                body["hidUdp"] = json!(u);
            }
            print_json(&call(
                ctx,
                Method::POST,
                "/webauthn/authenticator",
                Some(body),
            )?)
        }
        Cmd::Remove { name } => {
            call(ctx, Method::DELETE, &key_path(&name, ""), None)?;
            eprintln!("removed key '{name}' and its credentials");
            Ok(())
        }
        Cmd::Credentials { name } => print_json(&call(
            ctx,
            Method::GET,
            &key_path(&name, "/credentials"),
            None,
        )?),
        Cmd::AddCredential(a) => {
            let der = read_private_key(&a.private_key)?;
            let id = match a.credential_id {
                Some(id) => id,
                None => {
                    let mut r = [0u8; 32];
                    getrandom::fill(&mut r).context("the system random source failed")?;
                    b64url(&r)
                }
            };
            let mut body = json!({
                "credentialId": id,
                "isResidentCredential": a.resident,
                "rpId": a.rp_id,
                "privateKey": b64url(&der),
                "signCount": a.sign_count,
            });
            if let Some(h) = a.user_handle {
                body["userHandle"] = json!(h);
            }
            let answer = call(
                ctx,
                Method::POST,
                &key_path(&a.name, "/credential"),
                Some(body),
            );
            print_json(&answer?)
        }
        Cmd::RemoveCredential {
            name,
            credential_id,
            all,
        } => {
            if all {
                print_json(&call(
                    ctx,
                    Method::DELETE,
                    &key_path(&name, "/credentials"),
                    None,
                )?)
            } else {
                let id = credential_id.unwrap_or_default();
                call(
                    ctx,
                    Method::DELETE,
                    &key_path(&name, &format!("/credentials/{id}")),
                    None,
                )?;
                eprintln!("removed credential {id} from key '{name}'");
                Ok(())
            }
        }
        Cmd::Uv { name, verified } => print_json(&call(
            ctx,
            Method::POST,
            &key_path(&name, "/uv"),
            Some(json!({ "isUserVerified": verified })),
        )?),
        Cmd::Presence { name, policy } => match policy {
            Some(p) => print_json(&call(
                ctx,
                Method::PUT,
                &key_path(&name, "/presence"),
                Some(json!({ "policy": p })),
            )?),
            None => print_json(&call(
                ctx,
                Method::GET,
                &key_path(&name, "/presence"),
                None,
            )?),
        },
        Cmd::Approve {
            name,
            id,
            not_verified,
        } => {
            let mut body = json!({ "action": "approve" });
            if not_verified {
                body["userVerified"] = json!(false);
            }
            print_json(&call(
                ctx,
                Method::POST,
                &key_path(&name, &format!("/presence/requests/{id}")),
                Some(body),
            )?)
        }
        Cmd::Deny { name, id } => print_json(&call(
            ctx,
            Method::POST,
            &key_path(&name, &format!("/presence/requests/{id}")),
            Some(json!({ "action": "deny" })),
        )?),
        Cmd::PowerCycle { name } => {
            call(ctx, Method::POST, &key_path(&name, "/power-cycle"), None)?;
            eprintln!("power-cycled key '{name}'");
            Ok(())
        }
        Cmd::AttestationCa { der } => {
            let dir = ctx.state_dir()?;
            let mut store = Store::open(&dir, &KeySource::from_env())?;
            let pki = installation_pki(&mut store)?;
            if let Some(path) = der {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o644)
                    .open(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                f.write_all(pki.ca_certificate_der())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            print!("{}", pki.ca_certificate_pem());
            Ok(())
        }
    }
}
