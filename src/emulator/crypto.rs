//! Small cryptographic and encoding helpers the stand-in uses everywhere: randomness,
//! SHA-256, HMAC-SHA256, base64 flavours, identifiers and time formats.

use aws_lc_rs::{digest, hmac};
use data_encoding::{BASE64, BASE64URL_NOPAD};

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // A failing system RNG leaves nothing safe to do: no secret can be issued.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut buf).expect("the system random number generator failed");
    buf
}

/// A random string of `len` characters drawn uniformly from `alphabet` (ASCII only).
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    // Rejection sampling keeps the distribution uniform.
    let limit = 256 - (256 % alphabet.len());
    while out.len() < len {
        for b in random_bytes(len * 2) {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// Lower-case letters and digits.
pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Upper-case letters and digits.
pub const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Letters of both cases and digits.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Decimal digits.
pub const DIGITS: &[u8] = b"0123456789";

/// A random decimal code of `len` digits (confirmation and SMS codes).
pub fn random_digits(len: usize) -> String {
    random_string(DIGITS, len)
}

/// A random RFC 4122 version-4 UUID in its usual text form.
pub fn uuid_v4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compare two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding.
pub fn b64(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// Decode standard base64 with padding; `None` if malformed.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    BASE64.decode(s.trim().as_bytes()).ok()
}

/// URL-safe base64 without padding (JWT segments).
pub fn b64url(data: &[u8]) -> String {
    BASE64URL_NOPAD.encode(data)
}

/// Decode URL-safe base64 without padding; `None` if malformed.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    BASE64URL_NOPAD.decode(s.as_bytes()).ok()
}

/// `Base64(HMAC-SHA256(client_secret, username + client_id))`, Cognito's SECRET_HASH.
pub fn cognito_secret_hash(client_secret: &str, username: &str, client_id: &str) -> String {
    let mut msg = Vec::with_capacity(username.len() + client_id.len());
    msg.extend_from_slice(username.as_bytes());
    msg.extend_from_slice(client_id.as_bytes());
    b64(&hmac_sha256(client_secret.as_bytes(), &msg))
}

/// Format Unix seconds as ISO 8601 UTC with a `Z` suffix, as IAM and STS answer.
pub fn iso8601(unix_secs: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs.floor() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// A secret kept in state (TOTP seed, signing key, client secret, token): serialized as a
/// plain string, but never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }

    /// The secret value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_matches_a_known_value() {
        // Base64(HMAC-SHA256("secret", "alice" + "client")) computed independently with
        // Python: base64.b64encode(hmac.new(b"secret", b"aliceclient", "sha256").digest())
        assert_eq!(
            cognito_secret_hash("secret", "alice", "client"),
            "RTsve+FQ659UKyESgvLg9GYmZEL+QjzQsW/OjL77/b0="
        );
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let s = SecretString::new("JBSWY3DPEHPK3PXP");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.expose(), "JBSWY3DPEHPK3PXP");
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn random_string_uses_alphabet() {
        let s = random_string(DIGITS, 40);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000.5), "2023-11-14T22:13:20Z");
    }
}
