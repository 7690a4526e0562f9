//! CollectedClientData and its JSON serialization (WebAuthn L3 §5.8.1.1): type, challenge,
//! origin, crossOrigin, in that order, each string through CCDToString, as browsers write it.

use sha2::{Digest, Sha256};

/// `webauthn.create` or `webauthn.get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyType {
    /// A registration.
    Create,
    /// An authentication.
    Get,
}

impl CeremonyType {
    fn as_str(self) -> &'static str {
        match self {
            CeremonyType::Create => "webauthn.create",
            CeremonyType::Get => "webauthn.get",
        }
    }
}

/// CCDToString: a JSON string with only `"`, `\` and the code points below U+0020 escaped,
/// control characters as `\u` and four lowercase hex digits.
fn ccd_to_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The clientDataJSON bytes of a ceremony (crossOrigin false: the client is the top level).
pub fn client_data_json(kind: CeremonyType, challenge: &[u8], origin: &str) -> Vec<u8> {
    let mut out = String::from("{\"type\":");
    ccd_to_string(kind.as_str(), &mut out);
    out.push_str(",\"challenge\":");
    ccd_to_string(&data_encoding::BASE64URL_NOPAD.encode(challenge), &mut out);
    out.push_str(",\"origin\":");
    ccd_to_string(origin, &mut out);
    out.push_str(",\"crossOrigin\":false}");
    out.into_bytes()
}

/// SHA-256 of the clientDataJSON: what the authenticator signs over.
pub fn client_data_hash(json: &[u8]) -> [u8; 32] {
    Sha256::digest(json).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_as_browsers_do() {
        let json = client_data_json(
            CeremonyType::Create,
            b"\x00\x01\xfe\xff",
            "https://example.com",
        );
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"type":"webauthn.create","challenge":"AAH-_w","origin":"https://example.com","crossOrigin":false}"#
        );
        let get = client_data_json(CeremonyType::Get, b"abc", "http://localhost:8080");
        assert_eq!(
            String::from_utf8(get).unwrap(),
            r#"{"type":"webauthn.get","challenge":"YWJj","origin":"http://localhost:8080","crossOrigin":false}"#
        );
        // Parsed by a JSON parser, the same members.
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["crossOrigin"], false);
        assert_eq!(client_data_hash(&json).len(), 32);
    }

    #[test]
    fn ccd_to_string_escapes_only_what_it_must() {
        let mut s = String::new();
        ccd_to_string("a\"b\\c\u{1}d/é\u{7f}", &mut s);
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001d/é\u{7f}\"");
        let v: String = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\u{1}d/é\u{7f}");
    }
}
