//! The user account a credential belongs to.

use ciborium::value::Value;

use crate::cbor;

/// The user entity remembered with a resident credential.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserEntity {
    /// The user handle chosen by the relying party (at most 64 bytes).
    pub id: Vec<u8>,
    /// The account name, truncated to 64 bytes.
    pub name: Option<String>,
    /// The display name, truncated to 64 bytes.
    pub display_name: Option<String>,
}

impl UserEntity {
    /// The entity as CBOR; names only when `with_names` (they identify the user).
    pub(crate) fn to_cbor(&self, with_names: bool) -> Value {
        let mut entries = vec![("id", Value::Bytes(self.id.clone()))];
        if with_names {
            if let Some(n) = &self.name {
                entries.push(("name", Value::Text(n.clone())));
            }
            if let Some(d) = &self.display_name {
                entries.push(("displayName", Value::Text(d.clone())));
            }
        }
        cbor::text_map(entries)
    }
}

/// Truncates `s` to at most `max` bytes without splitting a character.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_utf8_valid() {
        assert_eq!(truncate_utf8("abc", 64), "abc");
        let s = "é".repeat(40); // 80 bytes
        let t = truncate_utf8(&s, 64);
        assert_eq!(t.len(), 64);
        let s = format!("a{}", "é".repeat(40)); // odd boundary
        assert_eq!(truncate_utf8(&s, 64).len(), 63);
    }
}
