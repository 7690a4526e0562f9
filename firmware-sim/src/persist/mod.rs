//! The token's persistent state in the record store: every namespace and key it writes (this
//! module is the only place they are named), first-boot creation and loading.
//!
//! Namespaces: `meta` (master secret, global counter, PIN/UV and configuration state, the
//! serialized large-blob array), `attestation` (the per-installation CA
//! and batch certificate), `rk` (stored credentials keyed by credential id, in the versioned
//! format of [`record`]) and `ctr` (per-credential counters keyed by SHA-256 of the credential
//! id).

pub(crate) mod record;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::attestation::{AttestationPki, PkiParams};
use crate::config::TokenConfig;
use crate::credential::cred_random::CredRandomKey;
use crate::credential::id::WrapKey;
use crate::env::{Env, WriteBatch};
use crate::status::{CtapResult, StatusCode};

/// Namespace of token-wide values.
pub(crate) const NS_META: &str = "meta";
/// Namespace of resident credentials.
pub(crate) const NS_RESIDENT: &str = "rk";
/// Namespace of per-credential counters.
pub(crate) const NS_COUNTERS: &str = "ctr";
/// Namespace of the attestation PKI.
pub(crate) const NS_ATTESTATION: &str = "attestation";
/// Key of the attestation PKI record.
pub(crate) const KEY_PKI: &[u8] = b"pki";
/// Key of the master secret record.
pub(crate) const KEY_MASTER: &[u8] = b"master-secret";
/// Key of the persisted PIN/UV and configuration state (`pin::state`).
pub(crate) const KEY_PIN_STATE: &[u8] = b"pin-state";
/// Key of the serialized large-blob array (`ctap2::large_blobs`; absent: the initial array).
pub(crate) const KEY_LARGE_BLOB_ARRAY: &[u8] = b"large-blob-array";
/// Key of the token-wide signature counter (global counter mode).
pub(crate) const KEY_GLOBAL_COUNTER: &[u8] = b"global-counter";

/// The store key of a credential's own counter (namespace `ctr`).
pub(crate) fn counter_key(credential_id: &[u8]) -> Vec<u8> {
    Sha256::digest(credential_id).to_vec()
}

/// Reads a record; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn get(env: &mut Env<'_>, ns: &str, key: &[u8]) -> CtapResult<Option<Vec<u8>>> {
    env.store.get(ns, key).map_err(|_| StatusCode::Other)
}

/// Lists a namespace; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn list(env: &mut Env<'_>, ns: &str) -> CtapResult<crate::env::Records> {
    env.store.list(ns).map_err(|_| StatusCode::Other)
}

/// Calls `f` with every record of a namespace (see [`crate::env::RecordStore::for_each`]);
/// store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn for_each(
    env: &mut Env<'_>,
    ns: &str,
    f: &mut dyn FnMut(&[u8], &[u8]),
) -> CtapResult<()> {
    env.store.for_each(ns, f).map_err(|_| StatusCode::Other)
}

/// Commits a batch; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn commit(env: &mut Env<'_>, batch: &WriteBatch) -> CtapResult<()> {
    env.store.commit(batch).map_err(|_| StatusCode::Other)
}

/// The secrets loaded from the store (volatile copy, dropped at power-off and wiped).
pub(crate) struct Persistent {
    /// Seals non-resident credential ids.
    pub wrap_key: WrapKey,
    /// Derives hmac-secret CredRandom values for credentials that store none.
    pub cred_random: CredRandomKey,
    /// The attestation CA and batch certificate.
    pub pki: AttestationPki,
}

impl Persistent {
    /// The secrets derived from `master`, with the attestation PKI.
    pub(crate) fn from_master(master: &[u8; 32], pki: AttestationPki) -> CtapResult<Self> {
        Ok(Self {
            wrap_key: WrapKey::derive(master)?,
            cred_random: CredRandomKey::derive(master)?,
            pki,
        })
    }
}

impl std::fmt::Debug for Persistent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistent").finish_non_exhaustive()
    }
}

/// Draws a fresh master secret.
pub(crate) fn new_master_secret(env: &mut Env<'_>) -> Zeroizing<[u8; 32]> {
    let mut master = Zeroizing::new([0u8; 32]);
    env.rng.fill_bytes(master.as_mut());
    master
}

/// Adds the write of `master` to `batch`.
pub(crate) fn put_master_secret(batch: &mut WriteBatch, master: &[u8; 32]) {
    batch.put(NS_META, KEY_MASTER, master.to_vec());
}

/// Loads the persistent state, creating (and committing, in one batch) whatever is missing; at
/// first boot (no master secret yet) `first_boot` adds its own records to that batch.
pub(crate) fn load_or_create(
    env: &mut Env<'_>,
    config: &TokenConfig,
    first_boot: &mut dyn FnMut(&mut WriteBatch),
) -> CtapResult<Persistent> {
    let mut batch = WriteBatch::new();
    let master = match get(env, NS_META, KEY_MASTER)? {
        Some(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let mut m = Zeroizing::new([0u8; 32]);
            if bytes.len() != 32 {
                return Err(StatusCode::Other);
            }
            m.copy_from_slice(&bytes);
            m
        }
        None => {
            let m = new_master_secret(env);
            put_master_secret(&mut batch, &m);
            first_boot(&mut batch);
            m
        }
    };
    let pki = if let Some(pki) = &config.attestation_pki {
        pki.clone()
    } else {
        match get(env, NS_ATTESTATION, KEY_PKI)? {
            Some(bytes) => {
                let bytes = Zeroizing::new(bytes);
                AttestationPki::from_bytes(&bytes).map_err(|_| StatusCode::Other)?
            }
            None => {
                let pki = generate_pki(env, config)?;
                batch.put(NS_ATTESTATION, KEY_PKI, pki.to_bytes().to_vec());
                pki
            }
        }
    };
    if !batch.is_empty() {
        commit(env, &batch)?;
    }
    Persistent::from_master(&master, pki)
}

fn generate_pki(env: &mut Env<'_>, config: &TokenConfig) -> CtapResult<AttestationPki> {
    let now = i64::try_from(env.clock.unix_seconds()).unwrap_or(i64::MAX / 2);
    // A day of slack for relying parties whose clock runs behind ours.
    let mut params = PkiParams::new(config.aaguid, now.saturating_sub(86_400));
    params.organization = config.attestation_organization.clone();
    params.country = config.attestation_country.clone();
    AttestationPki::generate(env.rng, &params).map_err(|_| StatusCode::Other)
}
