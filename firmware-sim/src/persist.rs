//! The token's persistent state in the record store: layout, first-boot creation, loading.
//!
//! Namespaces: `meta` (master secret, global counter), `attestation` (the per-installation CA
//! and batch certificate), `rk` (resident credentials keyed by credential id) and `ctr`
//! (per-credential counters keyed by SHA-256 of the credential id).

use ciborium::value::Value;
use zeroize::Zeroizing;

use crate::attestation::{AttestationPki, PkiParams, create_attestation_pki};
use crate::cbor::{self, MapView};
use crate::config::TokenConfig;
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

const KEY_MASTER: &[u8] = b"master-secret";
const KEY_PKI: &[u8] = b"pki";

/// Reads a record; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn get(env: &mut Env<'_>, ns: &str, key: &[u8]) -> CtapResult<Option<Vec<u8>>> {
    env.store.get(ns, key).map_err(|_| StatusCode::Other)
}

/// Lists a namespace; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn list(env: &mut Env<'_>, ns: &str) -> CtapResult<crate::env::Records> {
    env.store.list(ns).map_err(|_| StatusCode::Other)
}

/// Commits a batch; store failures become `CTAP1_ERR_OTHER`.
pub(crate) fn commit(env: &mut Env<'_>, batch: &WriteBatch) -> CtapResult<()> {
    env.store.commit(batch).map_err(|_| StatusCode::Other)
}

/// The secrets loaded from the store (volatile copy, dropped at power-off and wiped).
pub(crate) struct Persistent {
    /// Seals non-resident credential ids.
    pub wrap_key: WrapKey,
    /// The attestation CA and batch certificate.
    pub pki: AttestationPki,
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

/// Loads the persistent state, creating (and committing, in one batch) whatever is missing.
pub(crate) fn load_or_create(env: &mut Env<'_>, config: &TokenConfig) -> CtapResult<Persistent> {
    let mut batch = WriteBatch::new();
    let master = match get(env, NS_META, KEY_MASTER)? {
        Some(bytes) => {
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
            m
        }
    };
    let pki = match get(env, NS_ATTESTATION, KEY_PKI)? {
        Some(bytes) => pki_from_record(&bytes)?,
        None => {
            let pki = generate_pki(env, config)?;
            batch.put(NS_ATTESTATION, KEY_PKI, pki_to_record(&pki));
            pki
        }
    };
    if !batch.is_empty() {
        commit(env, &batch)?;
    }
    Ok(Persistent {
        wrap_key: WrapKey::derive(&master)?,
        pki,
    })
}

fn generate_pki(env: &mut Env<'_>, config: &TokenConfig) -> CtapResult<AttestationPki> {
    for _ in 0..16 {
        let mut ca_key = Zeroizing::new([0u8; 32]);
        let mut batch_key = Zeroizing::new([0u8; 32]);
        let mut ca_serial = [0u8; 16];
        let mut batch_serial = [0u8; 16];
        env.rng.fill_bytes(ca_key.as_mut());
        env.rng.fill_bytes(batch_key.as_mut());
        env.rng.fill_bytes(&mut ca_serial);
        env.rng.fill_bytes(&mut batch_serial);
        let now = i64::try_from(env.clock.unix_seconds()).unwrap_or(i64::MAX / 2);
        let params = PkiParams {
            aaguid: config.aaguid,
            // A day of slack for relying parties whose clock runs behind ours.
            not_before_unix: now.saturating_sub(86_400),
            validity_days: 20 * 365,
            ca_serial,
            batch_serial,
            organization: config.attestation_organization.clone(),
            country: config.attestation_country.clone(),
        };
        match create_attestation_pki(&ca_key, &batch_key, &params) {
            Ok(pki) => return Ok(pki),
            // Only an out-of-range random scalar can make this fail: draw again.
            Err(crate::attestation::AttestationError::InvalidKey) => continue,
            Err(_) => return Err(StatusCode::Other),
        }
    }
    Err(StatusCode::Other)
}

fn pki_to_record(pki: &AttestationPki) -> Vec<u8> {
    let (ca_key, ca_der, batch_key, batch_der) = pki.parts();
    cbor::encode(&cbor::int_map(vec![
        (1, Value::Bytes(ca_key.to_vec())),
        (2, Value::Bytes(ca_der.to_vec())),
        (3, Value::Bytes(batch_key.to_vec())),
        (4, Value::Bytes(batch_der.to_vec())),
    ]))
}

fn pki_from_record(bytes: &[u8]) -> CtapResult<AttestationPki> {
    let corrupt = |_| StatusCode::Other;
    let value = cbor::decode(bytes).map_err(corrupt)?;
    let map = MapView::new(&value).map_err(corrupt)?;
    let field = |k: i64| -> CtapResult<&[u8]> {
        cbor::as_bytes(map.int_key(k).ok_or(StatusCode::Other)?).map_err(corrupt)
    };
    AttestationPki::from_parts(field(1)?, field(2)?, field(3)?, field(4)?)
        .map_err(|_| StatusCode::Other)
}
