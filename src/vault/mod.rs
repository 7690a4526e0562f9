//! The TOTP vault: entries (otpauth URIs in and out, SHA1/256/512, 6–8 digits, any period),
//! codes, and the one-time rule — a code handed out as "fresh" is never handed out again.
//!
//! Entries live in the store as records of the namespace [`NS_ENTRIES`], keyed by name; the
//! secret inside is sealed under the data key with the entry's random id as associated data,
//! so a rename keeps the sealed value valid and a sealed secret cannot be moved to another
//! entry. The last time step handed out as fresh lives in [`NS_FRESH`], keyed by that id, and
//! is read and advanced in one write transaction.

pub mod qr;
pub mod secret;
pub mod uri;

use crate::store::{Store, StoreError};
pub use secret::{SecretBytes, SecretError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Record namespace of TOTP entries (key: the entry's name).
pub const NS_ENTRIES: &str = "totp";
/// Record namespace of the last step handed out as fresh (key: the entry's id).
pub const NS_FRESH: &str = "totp.fresh";
/// Longest entry name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest accepted period, in seconds (one day).
pub const MAX_PERIOD: u64 = 86_400;
/// The latest time a code can be asked for: the end of year 9999 (Unix seconds). Later times
/// would overflow the step arithmetic, and no server accepts them.
pub const MAX_TIME: u64 = 253_402_300_799;

/// A TOTP hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1 (the default nearly everywhere).
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// Parse `SHA1`, `SHA256`, `SHA512` (any case, `SHA-256` too).
    pub fn parse(s: &str) -> Result<Algorithm, ParamError> {
        match s.trim().to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Algorithm::Sha1),
            "SHA256" => Ok(Algorithm::Sha256),
            "SHA512" => Ok(Algorithm::Sha512),
            _ => Err(ParamError::Algorithm(s.chars().take(20).collect())),
        }
    }

    /// The name otpauth URIs use.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    fn hmac(self) -> aws_lc_rs::hmac::Algorithm {
        match self {
            Algorithm::Sha1 => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => aws_lc_rs::hmac::HMAC_SHA256,
            Algorithm::Sha512 => aws_lc_rs::hmac::HMAC_SHA512,
        }
    }
}

/// A parameter outside what TOTP allows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    /// Not SHA1/SHA256/SHA512.
    #[error("unknown algorithm '{0}'; use SHA1, SHA256 or SHA512")]
    Algorithm(String),
    /// Not 6, 7 or 8.
    #[error("digits must be 6, 7 or 8 (got {0})")]
    Digits(String),
    /// Zero, too long, or not a number.
    #[error("period must be a whole number of seconds from 1 to {MAX_PERIOD} (got {0})")]
    Period(String),
    /// An issuer or account with control characters (terminal escapes, NUL) or bidi overrides.
    #[error("the {0} must not contain control characters")]
    Controls(&'static str),
}

/// Whether `text` holds control characters (C0 with NUL, DEL, C1) or bidi overrides: text that
/// could move a terminal's cursor, retitle it, or reorder what it shows.
pub fn has_controls(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
}

/// Everything that defines a TOTP entry, secret included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryParams {
    /// Issuer (the service), if known.
    pub issuer: Option<String>,
    /// Account name at the issuer, if known.
    pub account: Option<String>,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Number of digits, 6 to 8.
    pub digits: u8,
    /// Time step in seconds.
    pub period: u64,
    /// The shared secret.
    pub secret: SecretBytes,
}

impl EntryParams {
    /// New parameters with the usual defaults (SHA1, 6 digits, 30 s).
    pub fn new(secret: SecretBytes) -> EntryParams {
        EntryParams {
            issuer: None,
            account: None,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            secret,
        }
    }

    /// Check digits, period, and the issuer and account (no control characters).
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.issuer.as_deref().is_some_and(has_controls) {
            return Err(ParamError::Controls("issuer"));
        }
        if self.account.as_deref().is_some_and(has_controls) {
            return Err(ParamError::Controls("account"));
        }
        if !(6..=8).contains(&self.digits) {
            return Err(ParamError::Digits(self.digits.to_string()));
        }
        if self.period == 0 || self.period > MAX_PERIOD {
            return Err(ParamError::Period(self.period.to_string()));
        }
        Ok(())
    }

    /// The code for the time step that contains `unix_time`.
    pub fn code_at(&self, unix_time: u64) -> String {
        self.code_for_step(unix_time.checked_div(self.period).unwrap_or(0))
    }

    /// The code of time step number `step`: HOTP (RFC 4226) of the step number, as RFC 6238
    /// defines TOTP. Only the dynamic truncation is written here; the HMAC is aws-lc-rs's,
    /// whose CPU probe ran when the process started. The RustCrypto hash crates (behind
    /// totp-rs, which the stand-in still uses as an independent judge) probe the CPU again
    /// on first use, and under a hypervisor each CPUID instruction costs ~11 µs: with the
    /// AES-GCM crates' probes (see `store::seal`) they took ~0.2 ms of each `authsim totp
    /// code` process in a perf profile, against ~3 ms for the whole process.
    pub fn code_for_step(&self, step: u64) -> String {
        let key = aws_lc_rs::hmac::Key::new(self.algorithm.hmac(), self.secret.expose());
        let mac = aws_lc_rs::hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let mut word = [0u8; 4];
        word.copy_from_slice(&mac[offset..offset + 4]);
        let value = u64::from(u32::from_be_bytes(word) & 0x7fff_ffff);
        let digits = usize::from(self.digits);
        let modulus = 10u64.saturating_pow(u32::from(self.digits));
        format!("{:0digits$}", value % modulus)
    }
}

/// What the vault tells about an entry without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// The entry's name in the vault.
    pub name: String,
    /// Issuer, if known.
    pub issuer: Option<String>,
    /// Account name, if known.
    pub account: Option<String>,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Number of digits.
    pub digits: u8,
    /// Time step in seconds.
    pub period: u64,
    /// When the entry was added (Unix seconds).
    pub created: u64,
}

/// One code and the time window it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// The entry's name.
    pub name: String,
    /// The code, zero-padded to the entry's digits.
    pub code: String,
    /// The time step number (Unix time / period).
    pub step: u64,
    /// First second of the step (Unix seconds).
    pub valid_from: u64,
    /// First second after the step (Unix seconds).
    pub valid_until: u64,
}

/// The answer to a request for fresh codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fresh {
    /// The codes, now marked as handed out.
    Ready(Vec<Code>),
    /// Every acceptable step was handed out already; ask again at this Unix time.
    WaitUntil(u64),
}

/// What went wrong in the vault; messages say what to do and never quote a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No entry has that name.
    #[error("no TOTP entry named '{0}' (see: authsim totp list)")]
    NotFound(String),
    /// An entry with that name exists.
    #[error("a TOTP entry named '{0}' exists already; remove or rename it first")]
    Exists(String),
    /// The name is empty, too long or has control characters.
    #[error("invalid entry name: {0}")]
    BadName(String),
    /// A parameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The secret is not usable base32.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The URI is not a usable otpauth URI.
    #[error(transparent)]
    Uri(#[from] uri::UriError),
    /// A count that makes no sense.
    #[error("{0}")]
    BadRequest(String),
    /// A stored record cannot be read.
    #[error("the stored entry '{0}' is damaged ({1}); remove it and add it again")]
    Damaged(String, String),
}

#[derive(Serialize, Deserialize)]
struct EntryRecord {
    v: u32,
    id: String,
    issuer: Option<String>,
    account: Option<String>,
    algorithm: Algorithm,
    digits: u8,
    period: u64,
    created: u64,
    /// The secret sealed under the data key (hex), associated data `totp:<id>`.
    secret: String,
}

/// The TOTP vault over an open store.
#[derive(Debug)]
pub struct Vault {
    store: Store,
}

/// Check an entry name: 1 to 128 characters, no control characters, no surrounding spaces.
pub fn check_name(name: &str) -> Result<(), VaultError> {
    if name.is_empty() {
        return Err(VaultError::BadName("the name is empty".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(VaultError::BadName(format!(
            "longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if has_controls(name) {
        return Err(VaultError::BadName("it contains control characters".into()));
    }
    if name.trim() != name {
        return Err(VaultError::BadName(
            "it starts or ends with white space".into(),
        ));
    }
    Ok(())
}

fn secret_ad(id: &str) -> Vec<u8> {
    format!("totp:{id}").into_bytes()
}

impl Vault {
    /// A vault over an open store.
    pub fn new(store: Store) -> Vault {
        Vault { store }
    }

    /// The store underneath (for status output).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store underneath, for writing records of other namespaces (the AWS flows keep
    /// their enrollment state and sealed sessions beside the vault's entries).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Add an entry; refuses a taken name and changes nothing then.
    pub fn add(&mut self, name: &str, params: &EntryParams) -> Result<EntryInfo, VaultError> {
        check_name(name)?;
        params.validate()?;
        if params.secret.is_empty() {
            return Err(SecretError::Empty.into());
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| VaultError::BadRequest(format!("system random source failed: {e}")))?;
        let id = hex::encode(id);
        let sealed = self.store.seal(&secret_ad(&id), params.secret.expose())?;
        let rec = EntryRecord {
            v: 1,
            id,
            issuer: params.issuer.clone(),
            account: params.account.clone(),
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            created: crate::clock::now_unix(),
            secret: hex::encode(sealed),
        };
        let value = serde_json::to_vec(&rec)
            .map_err(|e| VaultError::Damaged(name.to_string(), e.to_string()))?;
        let inserted = self
            .store
            .transaction(|tx| tx.insert_new(NS_ENTRIES, name.as_bytes(), &value))?;
        if !inserted {
            return Err(VaultError::Exists(name.to_string()));
        }
        tracing::info!(name, "added TOTP entry");
        Ok(info_of(name, &rec))
    }

    /// All entries, by name.
    pub fn list(&self) -> Result<Vec<EntryInfo>, VaultError> {
        self.store
            .list(NS_ENTRIES)?
            .into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8_lossy(&k).into_owned();
                let rec = decode_record(&name, &v)?;
                Ok(info_of(&name, &rec))
            })
            .collect()
    }

    fn record(&self, name: &str) -> Result<EntryRecord, VaultError> {
        let v = self
            .store
            .get(NS_ENTRIES, name.as_bytes())?
            .ok_or_else(|| VaultError::NotFound(name.to_string()))?;
        decode_record(name, &v)
    }

    fn params_of(&self, name: &str, rec: &EntryRecord) -> Result<EntryParams, VaultError> {
        let sealed = hex::decode(&rec.secret)
            .map_err(|_| VaultError::Damaged(name.to_string(), "sealed secret".into()))?;
        let secret = self
            .store
            .open_sealed(&secret_ad(&rec.id), &sealed)
            .map_err(|e| VaultError::Damaged(name.to_string(), e.to_string()))?;
        Ok(EntryParams {
            issuer: rec.issuer.clone(),
            account: rec.account.clone(),
            algorithm: rec.algorithm,
            digits: rec.digits,
            period: rec.period,
            secret: SecretBytes::new(secret.to_vec()),
        })
    }

    /// An entry's metadata.
    pub fn info(&self, name: &str) -> Result<EntryInfo, VaultError> {
        Ok(info_of(name, &self.record(name)?))
    }

    /// An entry's full parameters, secret included (for `show --uri`, `qr`).
    pub fn params(&self, name: &str) -> Result<EntryParams, VaultError> {
        let rec = self.record(name)?;
        self.params_of(name, &rec)
    }

    /// The entry's otpauth URI (holds the secret).
    pub fn uri(&self, name: &str) -> Result<Zeroizing<String>, VaultError> {
        Ok(uri::format(&self.params(name)?, name))
    }

    /// The code at `unix_time`.
    pub fn code_at(&self, name: &str, unix_time: u64) -> Result<Code, VaultError> {
        let mut v = self.codes(name, unix_time, 1)?;
        v.pop()
            .ok_or_else(|| VaultError::NotFound(name.to_string()))
    }

    /// The codes of `count` consecutive steps, starting with the step that holds `unix_time`.
    pub fn codes(&self, name: &str, unix_time: u64, count: u32) -> Result<Vec<Code>, VaultError> {
        if count == 0 || count > 1000 {
            return Err(VaultError::BadRequest(
                "--count must be from 1 to 1000".into(),
            ));
        }
        if unix_time > MAX_TIME {
            return Err(VaultError::BadRequest(format!(
                "the time {unix_time} is past the year 9999 (at most {MAX_TIME})"
            )));
        }
        let p = self.params(name)?;
        let first = unix_time / p.period;
        Ok((0..u64::from(count))
            .map(|i| make_code(name, &p, first + i))
            .collect())
    }

    /// Hand out fresh codes: `count` consecutive steps that were never handed out as fresh
    /// before, starting at the current step (`allow_next`: the next step may be used when the
    /// current one is taken — servers accept one step of clock skew). Either returns the codes
    /// and records them as used in the same transaction, or says when to ask again.
    ///
    /// With `count` > 1 the last code may lie one step ahead (IAM wants two consecutive codes).
    pub fn fresh(
        &mut self,
        name: &str,
        now: u64,
        count: u32,
        allow_next: bool,
    ) -> Result<Fresh, VaultError> {
        if count == 0 || count > 2 {
            return Err(VaultError::BadRequest(
                "fresh codes come one or two at a time".into(),
            ));
        }
        let rec = self.record(name)?;
        let params = self.params_of(name, &rec)?;
        let count = u64::from(count);
        let max_ahead = u64::from(allow_next || count > 1);
        let now_step = now / params.period;
        let id = rec.id.clone();
        self.store.transaction(|tx| {
            // The entry may have been removed or replaced since it was read.
            let still = tx
                .get(NS_ENTRIES, name.as_bytes())?
                .map(|v| decode_record(name, &v))
                .transpose()?;
            if still.as_ref().map(|r| r.id.as_str()) != Some(id.as_str()) {
                return Err(VaultError::NotFound(name.to_string()));
            }
            let last = match tx.get(NS_FRESH, id.as_bytes())? {
                Some(v) => Some(decode_step(name, &v)?),
                None => None,
            };
            let start = match last {
                Some(l) => now_step.max(l + 1),
                None => now_step,
            };
            let end = start + count - 1;
            if end > now_step + max_ahead {
                // `last` is Some here: without it `start == now_step`.
                let l = last.unwrap_or(now_step);
                let when = (l + count - max_ahead) * params.period;
                return Ok(Fresh::WaitUntil(when));
            }
            tx.put(NS_FRESH, id.as_bytes(), end.to_string().as_bytes())?;
            Ok(Fresh::Ready(
                (start..=end).map(|s| make_code(name, &params, s)).collect(),
            ))
        })
    }

    /// Rename an entry (its secret and fresh-code record go with it).
    pub fn rename(&mut self, old: &str, new: &str) -> Result<(), VaultError> {
        check_name(new)?;
        self.store.transaction(|tx| {
            let v = tx
                .get(NS_ENTRIES, old.as_bytes())?
                .ok_or_else(|| VaultError::NotFound(old.to_string()))?;
            if old == new {
                return Ok(());
            }
            if !tx.insert_new(NS_ENTRIES, new.as_bytes(), &v)? {
                return Err(VaultError::Exists(new.to_string()));
            }
            tx.delete(NS_ENTRIES, old.as_bytes())?;
            Ok(())
        })?;
        tracing::info!(old, new, "renamed TOTP entry");
        Ok(())
    }

    /// Remove an entry and its fresh-code record.
    pub fn remove(&mut self, name: &str) -> Result<(), VaultError> {
        self.store.transaction(|tx| {
            let v = tx
                .get(NS_ENTRIES, name.as_bytes())?
                .ok_or_else(|| VaultError::NotFound(name.to_string()))?;
            let rec = decode_record(name, &v)?;
            tx.delete(NS_ENTRIES, name.as_bytes())?;
            tx.delete(NS_FRESH, rec.id.as_bytes())?;
            Ok::<_, VaultError>(())
        })?;
        tracing::info!(name, "removed TOTP entry");
        Ok(())
    }
}

fn make_code(name: &str, p: &EntryParams, step: u64) -> Code {
    Code {
        name: name.to_string(),
        code: p.code_for_step(step),
        step,
        valid_from: step * p.period,
        valid_until: (step + 1) * p.period,
    }
}

fn decode_record(name: &str, v: &[u8]) -> Result<EntryRecord, VaultError> {
    serde_json::from_slice(v).map_err(|e| VaultError::Damaged(name.to_string(), e.to_string()))
}

fn decode_step(name: &str, v: &[u8]) -> Result<u64, VaultError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| VaultError::Damaged(name.to_string(), "fresh-code record".into()))
}

fn info_of(name: &str, rec: &EntryRecord) -> EntryInfo {
    EntryInfo {
        name: name.to_string(),
        issuer: rec.issuer.clone(),
        account: rec.account.clone(),
        algorithm: rec.algorithm,
        digits: rec.digits,
        period: rec.period,
        created: rec.created,
    }
}

#[cfg(test)]
mod tests;
