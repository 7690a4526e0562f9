//! TOTP secrets: parsing base32 as services hand it out, and holding the bytes safely.

use data_encoding::{Encoding, Specification};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Longest secret accepted, in bytes (far above any real seed; guards against garbage input).
pub const MAX_SECRET_BYTES: usize = 1024;

/// A TOTP secret: zeroed on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl SecretBytes {
    /// Wrap raw secret bytes.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The raw bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty (never true for a parsed secret).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret as unpadded upper-case base32, as otpauth URIs carry it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }

    /// Parse base32 the way AWS, Google and most sites hand it out: any case, with or without
    /// `=` padding, with spaces or dashes between groups, any length (80-bit seeds included).
    ///
    /// The error never quotes the input: it is a secret.
    pub fn from_base32(input: &str) -> Result<SecretBytes, SecretError> {
        let mut clean = Zeroizing::new(String::with_capacity(input.len()));
        for c in input.chars() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '-' => {}
                c => clean.push(c.to_ascii_uppercase()),
            }
        }
        let trimmed = clean.trim_end_matches('=');
        if trimmed.is_empty() {
            return Err(SecretError::Empty);
        }
        if trimmed.contains('=')
            || !trimmed
                .bytes()
                .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'))
        {
            return Err(SecretError::NotBase32);
        }
        // Base32 groups of 8 characters carry 5 bytes; a partial group of 1, 3 or 6
        // characters cannot end a valid encoding.
        if matches!(trimmed.len() % 8, 1 | 3 | 6) {
            return Err(SecretError::BadLength);
        }
        let bytes = lenient_base32()
            .decode(trimmed.as_bytes())
            .map_err(|_| SecretError::NotBase32)?;
        if bytes.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLong);
        }
        Ok(SecretBytes::new(bytes))
    }
}

/// RFC 4648 base32 without padding that ignores non-zero trailing bits, as many generators
/// produce them and other authenticators accept them.
fn lenient_base32() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
        spec.check_trailing_bits = false;
        // The specification is a constant that data-encoding accepts; fall back to the
        // standard (strict) encoding should that ever change.
        spec.encoding()
            .unwrap_or_else(|_| data_encoding::BASE32_NOPAD.clone())
    })
}

/// Why a secret was refused; never quotes the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Nothing but padding or spaces.
    #[error("the secret is empty")]
    Empty,
    /// A character outside the base32 alphabet.
    #[error(
        "the secret is not base32 (only letters A-Z and digits 2-7, with optional '=' padding, spaces or dashes)"
    )]
    NotBase32,
    /// A length no base32 encoding can have.
    #[error("the secret has a length no base32 text can have (a character is missing or extra)")]
    BadLength,
    /// Longer than [`MAX_SECRET_BYTES`].
    #[error("the secret is longer than {MAX_SECRET_BYTES} bytes")]
    TooLong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_services_hand_out() {
        let want = b"Hello!\xde\xad\xbe\xef".to_vec(); // JBSWY3DPEHPK3PXP, 80 bits
        for s in [
            "JBSWY3DPEHPK3PXP",
            "jbswy3dpehpk3pxp",
            "JBSW Y3DP EHPK 3PXP",
            "jbsw-y3dp-ehpk-3pxp",
            "JBSWY3DPEHPK3PXP======",
        ] {
            assert_eq!(
                SecretBytes::from_base32(s).unwrap().expose(),
                &want[..],
                "{s}"
            );
        }
        // 64 base32 characters, the shape of IAM's Base32StringSeed: 40 bytes.
        let iam = "A".repeat(32) + &"B".repeat(32);
        assert_eq!(SecretBytes::from_base32(&iam).unwrap().len(), 40);
        // Google-style 26-character secret (non-multiple of 8, 16 bytes).
        assert_eq!(
            SecretBytes::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY")
                .unwrap()
                .len(),
            16
        );
    }

    #[test]
    fn refuses_garbage_without_quoting_it() {
        assert_eq!(SecretBytes::from_base32(""), Err(SecretError::Empty));
        assert_eq!(SecretBytes::from_base32(" == "), Err(SecretError::Empty));
        assert_eq!(
            SecretBytes::from_base32("JBSWY3DP1"),
            Err(SecretError::NotBase32)
        );
        assert_eq!(
            SecretBytes::from_base32("JBSW=Y3DP"),
            Err(SecretError::NotBase32)
        );
        assert_eq!(
            SecretBytes::from_base32("JBSWY3DPE"),
            Err(SecretError::BadLength)
        );
        let e = SecretBytes::from_base32("SECRETSECRET0")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("JBSW") && !d.contains("48656c6c6f"), "{d}");
        assert_eq!(&*s.to_base32(), "JBSWY3DPEHPK3PXP");
    }
}
