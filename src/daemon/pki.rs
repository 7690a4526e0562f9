//! The installation-wide attestation PKI: one CA (and batch certificate) for every virtual key
//! in a state directory, kept sealed in the store and created on first use.
//!
//! Relying parties that verify "packed" x5c attestation install the CA certificate
//! (`authsim key attestation-ca`) as a trust anchor once and accept every key of the
//! installation. The batch certificate carries [`firmware_sim::DEFAULT_AAGUID`], the AAGUID of
//! every authsim key.

use firmware_sim::{AttestationPki, DEFAULT_AAGUID, PkiParams};

use super::env::OsRng;
use crate::store::Store;

/// Store namespace of installation-wide key material.
pub const NS_INSTALLATION: &str = "authsim.attestation";
/// Record key of the attestation PKI.
const KEY_PKI: &[u8] = b"pki";
/// Associated data of the sealed PKI record.
const PKI_AD: &[u8] = b"authsim/attestation-pki/v1";

/// Why the attestation PKI could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The store failed or the sealed record does not open.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored PKI is malformed, or creating one failed.
    #[error("attestation PKI: {0}")]
    Pki(#[from] firmware_sim::AttestationError),
}

/// The installation's attestation PKI, created if the store has none yet (two processes
/// creating it at once agree on one: the first insert wins).
pub fn installation_pki(store: &mut Store) -> Result<AttestationPki, PkiError> {
    if let Some(pki) = load(store)? {
        return Ok(pki);
    }
    let now = i64::try_from(crate::clock::now_unix()).unwrap_or(i64::MAX / 2);
    // A day of slack for relying parties whose clock runs behind ours.
    let params = PkiParams::new(DEFAULT_AAGUID, now.saturating_sub(86_400));
    let pki = AttestationPki::generate(&mut OsRng, &params)?;
    let sealed = store.seal(PKI_AD, &pki.to_bytes())?;
    let inserted = store.transaction(|txn| txn.insert_new(NS_INSTALLATION, KEY_PKI, &sealed))?;
    if inserted {
        tracing::info!("created the installation's attestation CA");
        return Ok(pki);
    }
    load(store)?.ok_or_else(|| {
        PkiError::Pki(firmware_sim::AttestationError::Certificate(
            "the attestation PKI record vanished while it was being created".into(),
        ))
    })
}

fn load(store: &Store) -> Result<Option<AttestationPki>, PkiError> {
    let Some(sealed) = store.get(NS_INSTALLATION, KEY_PKI)? else {
        return Ok(None);
    };
    let bytes = store.open_sealed(PKI_AD, &sealed)?;
    Ok(Some(AttestationPki::from_bytes(&bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeySource, Keyring};

    #[test]
    fn created_once_sealed_and_shared() {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("authsim-pki-{}", hex::encode(r)));
        let source = KeySource::new(None, Keyring::Off);
        let mut a = Store::open(&dir, &source).unwrap();
        let mut b = Store::open(&dir, &source).unwrap();
        let first = installation_pki(&mut a).unwrap();
        let second = installation_pki(&mut b).unwrap();
        assert_eq!(first, second, "one CA per installation");
        assert!(
            first
                .ca_certificate_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let raw = a.get(NS_INSTALLATION, KEY_PKI).unwrap().unwrap();
        assert!(
            !raw.windows(16)
                .any(|w| first.ca_certificate_der().windows(16).any(|c| c == w)),
            "stored sealed"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
