//! `authsim key ...`: the running daemon's virtual keys, through its control API; and the
//! installation's attestation CA (read from the store, no daemon needed).

use super::Ctx;
use super::daemon::{Attestation, Presence};
use super::output::{JsonFlag, Table, print_fields, print_json};
use crate::api::b64url;
use crate::api::client::{self, Answer};
use crate::api::types::{
    CredentialInfo, DecideBody, Decided, KeyInfo, KeyState, NewCredential, NewKey, PresenceInfo,
    Removed, SetPresence, SetUv,
};
use crate::daemon::keys::{CounterName, ProtocolName};
use crate::daemon::pki::installation_pki;
use crate::daemon::presence::PresencePolicy;
use crate::store::{KeySource, Store};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use hyper::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `authsim key` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// List the daemon's virtual keys.
    List(JsonFlag),
    /// Show one key.
    Show {
        /// The key's name.
        name: String,
        #[command(flatten)]
        out: JsonFlag,
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
        #[command(flatten)]
        out: JsonFlag,
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
    /// Show or set the presence policy and list waiting requests.
    Presence {
        /// The key's name.
        name: String,
        /// The new policy.
        #[arg(value_enum)]
        policy: Option<Presence>,
        #[command(flatten)]
        out: JsonFlag,
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
    /// Factory-reset the key: every credential, the PIN and its retries are gone (as
    /// authenticatorReset, without its 10-second window after power-up).
    Reset {
        /// The key's name.
        name: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the installation's attestation CA certificate (PEM), the trust anchor for
    /// "packed" x5c attestation; created on first use.
    AttestationCa {
        /// Also write the certificate in DER form to FILE.
        #[arg(long, value_name = "FILE")]
        der: Option<PathBuf>,
    },
}

/// The CTAP protocol family of a new key.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// CTAP 2.0 and U2F.
    #[value(name = "ctap2")]
    Ctap2,
    /// CTAP 2.1 and U2F.
    #[value(name = "ctap2_1")]
    Ctap21,
    /// U2F only.
    U2f,
}

/// How a new key's signature counters advance.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CounterArg {
    /// One counter per credential.
    PerCredential,
    /// One counter for the whole key.
    Global,
    /// Always zero (as synced passkeys show).
    #[value(alias = "zero")]
    AlwaysZero,
}

// Options of `authsim key add`.
#[derive(Debug, ClapArgs)]
pub struct AddArgs {
    /// The key's name.
    name: String,
    /// The protocol family.
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// No discoverable credentials.
    #[arg(long)]
    no_resident_key: bool,
    /// Built-in user verification.
    #[arg(long)]
    user_verification: bool,
    /// How requests for a touch are answered.
    #[arg(long, value_enum)]
    presence: Option<Presence>,
    /// Attestation of new credentials.
    #[arg(long, value_enum)]
    attestation: Option<Attestation>,
    /// How signature counters advance.
    #[arg(long, value_enum)]
    counter_mode: Option<CounterArg>,
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
    hid_udp: Option<std::net::SocketAddr>,
    /// Give the key a PIN at once, read from standard input (one line; on a terminal, typed
    /// without echo). ctap2_1 keys only.
    #[arg(long)]
    pin_stdin: bool,
    /// Its credentials are backup eligible (BE), as a synced passkey provider's are.
    #[arg(long)]
    backup_eligible: bool,
    /// Its credentials are backed up (BS); needs --backup-eligible.
    #[arg(long, requires = "backup_eligible")]
    backed_up: bool,
    #[command(flatten)]
    out: JsonFlag,
}

// Options of `authsim key add-credential`.
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
    /// A credBlob (base64url), at most the key's maxCredBlobLength.
    #[arg(long)]
    cred_blob: Option<String>,
    /// Replace a stored credential with the same id (or, with --resident, the same RP and user
    /// handle); without it such an import is refused and changes nothing.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    out: JsonFlag,
}

/// Sends one request to the daemon; a non-2xx answer becomes its message.
fn call(ctx: &Ctx, method: Method, path: &str, body: Option<&impl Serialize>) -> Result<Answer> {
    let socket = ctx.api_socket()?;
    let answer = client::request_blocking(&socket, method, path, body)?;
    if !answer.status.is_success() {
        bail!("{}", answer.error_message());
    }
    Ok(answer)
}

/// [`call`], with the answer parsed as `T`.
fn get<T: DeserializeOwned>(
    ctx: &Ctx,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T> {
    let answer = call(ctx, method, path, body)?;
    serde_json::from_slice(&answer.body).context("the daemon's answer did not parse")
}

const NO_BODY: Option<&()> = None;

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
    if raw.starts_with(b"-----BEGIN") || raw.windows(11).any(|w| w == b"-----BEGIN ") {
        let text = std::str::from_utf8(&raw).context("the PEM private key is not text")?;
        let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
            .map_err(|e| anyhow::anyhow!("the PEM private key does not decode: {e}"))?;
        if label != "PRIVATE KEY" {
            bail!(
                "only unencrypted PKCS#8 keys (BEGIN PRIVATE KEY) are accepted, not {label}; convert with: openssl pkcs8 -topk8 -nocrypt"
            );
        }
        return Ok(zeroize::Zeroizing::new(der));
    }
    Ok(raw)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn protocol_name(p: ProtocolName) -> &'static str {
    match p {
        ProtocolName::Ctap2 => "ctap2",
        ProtocolName::Ctap21 => "ctap2_1",
        ProtocolName::U2f => "u2f",
    }
}

fn policy_name(p: PresencePolicy) -> &'static str {
    match p {
        PresencePolicy::Auto => "auto",
        PresencePolicy::Deny => "deny",
        PresencePolicy::Manual => "manual",
    }
}

fn transports(k: &KeyInfo) -> String {
    if k.state == KeyState::Failed {
        return format!(
            "FAILED: {} (authsim key remove {} erases it)",
            k.failure_reason.as_deref().unwrap_or("did not start"),
            k.name
        );
    }
    let l = &k.listening;
    let mut t = Vec::new();
    if let Some(u) = &l.uhid {
        t.push(format!("uhid {u}"));
    }
    if let Some(p) = &l.hid_socket {
        t.push(format!("socket {}", p.display()));
    }
    if let Some(a) = &l.hid_udp {
        t.push(format!("udp {a}"));
    }
    t.join(", ")
}

fn print_keys(keys: &[KeyInfo]) {
    let mut t = Table::new(vec!["NAME", "PROTOCOL", "UV", "PRESENCE", "LISTENING"]);
    for k in keys {
        let uv = if !k.has_user_verification {
            "none".to_owned()
        } else if k.is_user_verified {
            "succeeds".to_owned()
        } else {
            "fails".to_owned()
        };
        t.row(vec![
            k.name.clone(),
            protocol_name(k.protocol).to_owned(),
            uv,
            policy_name(k.presence).to_owned(),
            transports(k),
        ]);
    }
    t.print();
}

fn print_key(k: &KeyInfo) {
    let mut fields = vec![
        ("name", k.name.clone()),
        (
            "state",
            match k.state {
                KeyState::Running => "running".to_owned(),
                KeyState::Failed => "failed".to_owned(),
            },
        ),
        ("protocol", protocol_name(k.protocol).to_owned()),
        ("aaguid", k.aaguid.clone()),
        ("resident keys", yes_no(k.has_resident_key)),
        ("max resident", k.max_resident_credentials.to_string()),
        ("built-in UV", yes_no(k.has_user_verification)),
        ("UV succeeds", yes_no(k.is_user_verified)),
        ("presence", policy_name(k.presence).to_owned()),
        (
            "attestation",
            serde_json::to_value(k.attestation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ),
        (
            "counter mode",
            serde_json::to_value(k.counter_mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ),
        ("product", k.product_name.clone()),
        ("listening", transports(k)),
    ];
    if let Some(set) = k.pin_set {
        fields.push(("PIN set", yes_no(set)));
    }
    if let Some(r) = k.pin_retries {
        fields.push(("PIN retries", r.to_string()));
    }
    if let Some(r) = k.uv_retries {
        fields.push(("UV retries", r.to_string()));
    }
    fields.push((
        "backup (new credentials)",
        match (k.default_backup_eligibility, k.default_backup_state) {
            (false, _) => "not eligible".to_owned(),
            (true, false) => "eligible".to_owned(),
            (true, true) => "eligible, backed up".to_owned(),
        },
    ));
    print_fields(&fields);
}

fn print_credentials(creds: &[CredentialInfo]) {
    if creds.is_empty() {
        eprintln!("no stored credentials");
        return;
    }
    let mut t = Table::new(vec![
        "CREDENTIAL ID",
        "RP",
        "USER",
        "DISCOVERABLE",
        "ALG",
        "COUNT",
        "PROTECT",
        "BLOB",
        "BACKUP",
    ]);
    for c in creds {
        let user = c
            .user_name
            .clone()
            .or_else(|| c.user_handle.clone())
            .unwrap_or_default();
        t.row(vec![
            c.credential_id.clone(),
            c.rp_id.clone(),
            user,
            yes_no(c.is_resident_credential),
            c.algorithm.to_string(),
            c.sign_count.to_string(),
            c.cred_protect
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            yes_no(c.has_cred_blob),
            match (c.backup_eligibility, c.backup_state) {
                (false, _) => "-",
                (true, false) => "BE",
                (true, true) => "BE+BS",
            }
            .to_owned(),
        ]);
    }
    t.print();
}

fn print_presence(p: &PresenceInfo) {
    println!("policy: {}", policy_name(p.policy));
    if p.pending.is_empty() {
        println!("no requests waiting");
        return;
    }
    let mut t = Table::new(vec!["ID", "PURPOSE", "RP", "UV", "SINCE"]);
    for r in &p.pending {
        t.row(vec![
            r.id.to_string(),
            r.purpose.clone(),
            r.rp_id.clone().unwrap_or_default(),
            yes_no(r.user_verification),
            r.since.to_string(),
        ]);
    }
    t.print();
}

/// The PIN of `authsim key add --pin-stdin`, checked against a new key's PIN rules before
/// anything is sent (the daemon checks it again before it creates the key).
fn read_pin() -> Result<firmware_sim::SecretPin> {
    let pin = super::cognito::common::StdinSecrets::new().next("PIN")?;
    firmware_sim::check_pin(&pin).map_err(|e| anyhow::anyhow!("the PIN is refused: {e}"))?;
    Ok(firmware_sim::SecretPin::new(pin.as_str()))
}

fn new_key(a: AddArgs, pin: Option<firmware_sim::SecretPin>) -> NewKey {
    NewKey {
        name: Some(a.name),
        protocol: a.protocol.map(|p| match p {
            ProtocolArg::Ctap2 => ProtocolName::Ctap2,
            ProtocolArg::Ctap21 => ProtocolName::Ctap21,
            ProtocolArg::U2f => ProtocolName::U2f,
        }),
        has_resident_key: a.no_resident_key.then_some(false),
        has_user_verification: a.user_verification.then_some(true),
        presence: a.presence.map(Presence::policy),
        attestation: a.attestation.map(Attestation::name),
        counter_mode: a.counter_mode.map(|c| match c {
            CounterArg::PerCredential => CounterName::PerCredential,
            CounterArg::Global => CounterName::Global,
            CounterArg::AlwaysZero => CounterName::AlwaysZero,
        }),
        max_resident_credentials: a.max_resident_credentials,
        uhid: a.uhid.then_some(true),
        hid_socket: a.hid_socket,
        hid_udp: a.hid_udp,
        default_backup_eligibility: a.backup_eligible.then_some(true),
        default_backup_state: a.backed_up.then_some(true),
        pin: pin.map(|p| crate::api::types::SecretText::new(p.as_str())),
        ..NewKey::default()
    }
}

fn add_credential(ctx: &Ctx, a: AddCredentialArgs) -> Result<()> {
    let der = read_private_key(&a.private_key)?;
    let id = match a.credential_id {
        Some(id) => id,
        None => {
            let mut r = [0u8; 32];
            getrandom::fill(&mut r).context("the system random source failed")?;
            b64url(&r)
        }
    };
    // Every field named: NewCredential wipes its private key on drop.
    let body = NewCredential {
        credential_id: id,
        is_resident_credential: a.resident,
        rp_id: a.rp_id,
        private_key: b64url(&der),
        user_handle: a.user_handle,
        sign_count: Some(a.sign_count),
        large_blob: None,
        cred_blob: a.cred_blob,
        user_name: None,
        user_display_name: None,
        backup_eligibility: None,
        backup_state: None,
        user_name_hint: None,
        replace: a.replace.then_some(true),
    };
    let c: CredentialInfo = get(
        ctx,
        Method::POST,
        &key_path(&a.name, "/credential"),
        Some(&body),
    )?;
    if a.out.json {
        print_json(&c)
    } else {
        print_credentials(std::slice::from_ref(&c));
        Ok(())
    }
}

fn attestation_ca(ctx: &Ctx, der: Option<PathBuf>) -> Result<()> {
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

/// Prints `value` as JSON with `--json`, else with `human`.
fn show<T: Serialize>(value: &T, out: JsonFlag, human: impl FnOnce(&T)) -> Result<()> {
    if out.json {
        print_json(value)
    } else {
        human(value);
        Ok(())
    }
}

pub(crate) fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::List(out) => {
            let keys: Vec<KeyInfo> = get(ctx, Method::GET, "/webauthn/authenticator", NO_BODY)?;
            show(&keys, out, |k| print_keys(k))
        }
        Cmd::Show { name, out } => {
            let k: KeyInfo = get(ctx, Method::GET, &key_path(&name, ""), NO_BODY)?;
            show(&k, out, print_key)
        }
        Cmd::Add(a) => {
            let out = a.out;
            let pin = if a.pin_stdin { Some(read_pin()?) } else { None };
            let body = new_key(a, pin);
            let k: KeyInfo = get(ctx, Method::POST, "/webauthn/authenticator", Some(&body))?;
            show(&k, out, print_key)
        }
        Cmd::Remove { name } => {
            call(ctx, Method::DELETE, &key_path(&name, ""), NO_BODY)?;
            eprintln!("removed key '{name}' and its credentials");
            Ok(())
        }
        Cmd::Credentials { name, out } => {
            let creds: Vec<CredentialInfo> =
                get(ctx, Method::GET, &key_path(&name, "/credentials"), NO_BODY)?;
            show(&creds, out, |c| print_credentials(c))
        }
        Cmd::AddCredential(a) => add_credential(ctx, a),
        Cmd::RemoveCredential {
            name,
            credential_id,
            all,
        } => {
            if all {
                let r: Removed = get(
                    ctx,
                    Method::DELETE,
                    &key_path(&name, "/credentials"),
                    NO_BODY,
                )?;
                eprintln!("removed {} credentials from key '{name}'", r.removed);
            } else {
                let id = credential_id.unwrap_or_default();
                let id_path =
                    percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
                call(
                    ctx,
                    Method::DELETE,
                    &key_path(&name, &format!("/credentials/{id_path}")),
                    NO_BODY,
                )?;
                eprintln!("removed credential {id} from key '{name}'");
            }
            Ok(())
        }
        Cmd::Uv { name, verified } => {
            let body = SetUv {
                is_user_verified: verified,
            };
            let _: KeyInfo = get(ctx, Method::POST, &key_path(&name, "/uv"), Some(&body))?;
            eprintln!(
                "key '{name}': built-in user verification now {}",
                if verified { "succeeds" } else { "fails" }
            );
            Ok(())
        }
        Cmd::Presence { name, policy, out } => {
            let p: PresenceInfo = match policy {
                Some(p) => get(
                    ctx,
                    Method::PUT,
                    &key_path(&name, "/presence"),
                    Some(&SetPresence { policy: p.policy() }),
                )?,
                None => get(ctx, Method::GET, &key_path(&name, "/presence"), NO_BODY)?,
            };
            show(&p, out, print_presence)
        }
        Cmd::Approve {
            name,
            id,
            not_verified,
        } => {
            let body = DecideBody {
                action: "approve".into(),
                user_verified: not_verified.then_some(false),
            };
            let d: Decided = get(
                ctx,
                Method::POST,
                &key_path(&name, &format!("/presence/requests/{id}")),
                Some(&body),
            )?;
            eprintln!("approved request {} of key '{name}'", d.id);
            Ok(())
        }
        Cmd::Deny { name, id } => {
            let body = DecideBody {
                action: "deny".into(),
                user_verified: None,
            };
            let d: Decided = get(
                ctx,
                Method::POST,
                &key_path(&name, &format!("/presence/requests/{id}")),
                Some(&body),
            )?;
            eprintln!("denied request {} of key '{name}'", d.id);
            Ok(())
        }
        Cmd::PowerCycle { name } => {
            call(ctx, Method::POST, &key_path(&name, "/power-cycle"), NO_BODY)?;
            eprintln!("power-cycled key '{name}'");
            Ok(())
        }
        Cmd::Reset { name, out } => {
            let k: KeyInfo = get(ctx, Method::POST, &key_path(&name, "/reset"), NO_BODY)?;
            if !out.json {
                eprintln!("reset key '{name}': its credentials and PIN are gone");
            }
            show(&k, out, print_key)
        }
        Cmd::AttestationCa { der } => attestation_ca(ctx, der),
    }
}
