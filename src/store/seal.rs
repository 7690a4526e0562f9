//! Sealing secret values at rest: AES-256-GCM under the data key, a fresh random nonce per
//! write, and the record's identity as associated data so a sealed value cannot be moved to
//! another record.
//!
//! AES-GCM comes from aws-lc-rs, which the binary links for its signatures anyway: its CPU
//! probe runs once at process start, where RustCrypto's `aes` and `polyval` would each probe
//! again on first use (tens of µs per probe under a hypervisor, paid by every `authsim totp
//! code` process).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

/// Format byte in front of every sealed value, so the format can change later.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// What [`Opener::open_into`] reserves at least when its buffer must grow.
const MIN_BUFFER: usize = 256;

/// Why a value could not be sealed or opened (never carries key or plaintext material).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
    /// The sealed value is damaged, was sealed under another key, or belongs to another record.
    #[error("a sealed value does not open: it is damaged, or was written with another key")]
    Open,
}

/// The 256-bit data key; zeroed on drop and never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// Wrap 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// A new random key from the operating system.
    pub fn generate() -> Result<DataKey, SealError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *k).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(DataKey(k))
    }

    /// The raw key bytes, for handing to the key's home (keyring or key file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> LessSafeKey {
        // A 32-byte key is always an AES-256 key: new() fails only for another length.
        let key = UnboundKey::new(&AES_256_GCM, &self.0[..]).expect("AES-256 takes 32-byte keys");
        LessSafeKey::new(key)
    }

    /// Seal `plaintext` bound to `ad`: format byte, nonce, ciphertext and tag.
    pub fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        let start = out.len();
        // Encrypted in place: the plaintext's copy is ciphertext when this returns.
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher()
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad),
                &mut out[start..],
            )
            .map_err(|_| SealError::Open)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Open a value made by [`DataKey::seal`] with the same `ad`.
    pub fn open(&self, ad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut out = Zeroizing::new(Vec::new());
        self.opener().open_into(ad, sealed, &mut out)?;
        Ok(out)
    }

    /// An opener for many values: the cipher's key schedule is computed once, not per value.
    pub fn opener(&self) -> Opener {
        Opener {
            cipher: self.cipher(),
        }
    }
}

/// Opens sealed values under one data key (see [`DataKey::opener`]); never printed.
pub struct Opener {
    cipher: LessSafeKey,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener(<redacted>)")
    }
}

impl Opener {
    /// Opens a value made by [`DataKey::seal`] with the same `ad` into `out`, replacing its
    /// contents and reusing its allocation (a buffer that must grow is wiped, then replaced).
    /// Nothing unauthenticated is handed out: on failure `out` is wiped and left empty.
    pub fn open_into(
        &self,
        ad: &[u8],
        sealed: &[u8],
        out: &mut Zeroizing<Vec<u8>>,
    ) -> Result<(), SealError> {
        out.clear();
        let (&format, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Open);
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        if out.capacity() < ct.len() {
            // Dropping the old buffer wipes it; growing it in place could leave a copy behind.
            *out = Zeroizing::new(Vec::with_capacity(ct.len().max(MIN_BUFFER)));
        }
        out.resize(ct.len(), 0);
        match self.cipher.open_separate_gather(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ad),
            ct,
            tag,
            &mut out[..],
        ) {
            Ok(()) => Ok(()),
            Err(_) => {
                out.zeroize();
                Err(SealError::Open)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = DataKey::generate().unwrap();
        let a = k.seal(b"rec-1", b"seed bytes").unwrap();
        let b = k.seal(b"rec-1", b"seed bytes").unwrap();
        assert_ne!(a, b, "a fresh nonce per write");
        assert_eq!(&*k.open(b"rec-1", &a).unwrap(), b"seed bytes");
        assert!(k.open(b"rec-2", &a).is_err(), "bound to its record");
        let other = DataKey::generate().unwrap();
        assert!(other.open(b"rec-1", &a).is_err(), "bound to its key");
        let mut t = a.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(k.open(b"rec-1", &t).is_err(), "tamper detected");
        assert!(k.open(b"rec-1", &a[..10]).is_err(), "truncation detected");
        assert_eq!(format!("{k:?}"), "DataKey(<redacted>)");
    }

    /// Values written before the move to aws-lc-rs (RustCrypto's `aes-gcm`) still open, and
    /// the other way round: the same AES-256-GCM, the same layout.
    #[test]
    fn values_sealed_with_rustcrypto_aes_gcm_open_and_back() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let k = DataKey::generate().unwrap();
        let theirs = aes_gcm::Aes256Gcm::new(&(*k.expose()).into());
        let nonce = [7u8; NONCE_LEN];
        let ct = theirs
            .encrypt(
                &aes_gcm::Nonce::from(nonce),
                Payload {
                    msg: b"an older seed",
                    aad: b"rec-9",
                },
            )
            .unwrap();
        let mut sealed = vec![FORMAT_V1];
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ct);
        assert_eq!(&*k.open(b"rec-9", &sealed).unwrap(), b"an older seed");
        let ours = k.seal(b"rec-9", b"a newer seed").unwrap();
        let back = theirs
            .decrypt(
                &aes_gcm::Nonce::from(
                    <[u8; NONCE_LEN]>::try_from(&ours[1..1 + NONCE_LEN]).unwrap(),
                ),
                Payload {
                    msg: &ours[1 + NONCE_LEN..],
                    aad: b"rec-9",
                },
            )
            .unwrap();
        assert_eq!(back, b"a newer seed");
    }

    #[test]
    fn an_opener_reuses_its_buffer_and_checks_every_value() {
        let k = DataKey::generate().unwrap();
        let opener = k.opener();
        let mut out = Zeroizing::new(Vec::new());
        let long = vec![5u8; 1000];
        for (ad, plain) in [
            (&b"a"[..], &b"one"[..]),
            (b"b", b""),
            (b"c", &long),
            (b"d", b"four"),
        ] {
            let sealed = k.seal(ad, plain).unwrap();
            opener.open_into(ad, &sealed, &mut out).unwrap();
            assert_eq!(&out[..], plain);
            assert_eq!(&*k.open(ad, &sealed).unwrap(), plain);
            assert!(opener.open_into(b"other", &sealed, &mut out).is_err());
            assert!(out.is_empty(), "nothing unauthenticated is left");
            let mut t = sealed.clone();
            t[14] ^= 1;
            assert!(opener.open_into(ad, &t, &mut out).is_err());
            assert!(out.is_empty());
            for end in 0..sealed.len() {
                assert!(opener.open_into(ad, &sealed[..end], &mut out).is_err());
            }
        }
        assert_eq!(format!("{opener:?}"), "Opener(<redacted>)");
    }
}
