//! The user account a credential belongs to.

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
