//! Resident (discoverable) credentials as records in the store: one per (rpId, user handle).

use ciborium::value::Value;

use super::keys::{Algorithm, PrivateKey};
use crate::cbor::{self, MapView};
use crate::status::{CtapResult, StatusCode};

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

/// A discoverable credential as stored.
#[derive(Clone, Debug)]
pub(crate) struct ResidentCredential {
    /// Random credential id (also the record key).
    pub id: Vec<u8>,
    /// The relying party id.
    pub rp_id: String,
    /// The user.
    pub user: UserEntity,
    /// The private key.
    pub key: PrivateKey,
    /// Creation order, larger is newer.
    pub created: u64,
}

/// Length of resident credential ids.
pub(crate) const RESIDENT_ID_LEN: usize = 32;

impl ResidentCredential {
    /// Serialises the record value.
    pub(crate) fn to_record(&self) -> Vec<u8> {
        let mut entries = vec![
            (1, Value::Text(self.rp_id.clone())),
            (2, Value::Bytes(self.user.id.clone())),
        ];
        if let Some(n) = &self.user.name {
            entries.push((3, Value::Text(n.clone())));
        }
        if let Some(d) = &self.user.display_name {
            entries.push((4, Value::Text(d.clone())));
        }
        entries.push((5, cbor::int(i64::from(self.key.algorithm().code()))));
        entries.push((6, Value::Bytes(self.key.to_bytes().to_vec())));
        entries.push((7, Value::Integer(self.created.into())));
        let mut value = cbor::int_map(entries);
        let bytes = cbor::encode(&value);
        cbor::wipe(&mut value);
        bytes
    }

    /// Parses a record value; any damage is reported as `CTAP1_ERR_OTHER`.
    pub(crate) fn from_record(id: &[u8], bytes: &[u8]) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let value = cbor::decode(bytes).map_err(corrupt)?;
        let map = MapView::new(&value).map_err(corrupt)?;
        let text = |k: i64| -> CtapResult<Option<String>> {
            map.int_key(k)
                .map(|v| cbor::as_text(v).map(str::to_owned))
                .transpose()
                .map_err(corrupt)
        };
        let rp_id = text(1)?.ok_or(StatusCode::Other)?;
        let user_id = cbor::as_bytes(map.int_key(2).ok_or(StatusCode::Other)?)
            .map_err(corrupt)?
            .to_vec();
        let code = cbor::as_int(map.int_key(5).ok_or(StatusCode::Other)?).map_err(corrupt)?;
        let alg = u8::try_from(code)
            .ok()
            .and_then(Algorithm::from_code)
            .ok_or(StatusCode::Other)?;
        let secret = cbor::as_bytes(map.int_key(6).ok_or(StatusCode::Other)?).map_err(corrupt)?;
        let key = PrivateKey::from_bytes(alg, secret).map_err(corrupt)?;
        let created = cbor::as_int(map.int_key(7).ok_or(StatusCode::Other)?).map_err(corrupt)?;
        Ok(Self {
            id: id.to_vec(),
            rp_id,
            user: UserEntity {
                id: user_id,
                name: text(3)?,
                display_name: text(4)?,
            },
            key,
            created: u64::try_from(created).map_err(|_| StatusCode::Other)?,
        })
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
    use crate::testing::SeededRng;

    #[test]
    fn record_round_trip() {
        let mut rng = SeededRng::new(3);
        let rc = ResidentCredential {
            id: vec![9; RESIDENT_ID_LEN],
            rp_id: "example.com".into(),
            user: UserEntity {
                id: vec![1, 2, 3],
                name: Some("alice".into()),
                display_name: None,
            },
            key: PrivateKey::generate(Algorithm::EdDsa, &mut rng).unwrap(),
            created: 42,
        };
        let back = ResidentCredential::from_record(&rc.id, &rc.to_record()).unwrap();
        assert_eq!(back.rp_id, rc.rp_id);
        assert_eq!(back.user, rc.user);
        assert_eq!(back.created, 42);
        assert_eq!(back.key.to_bytes(), rc.key.to_bytes());
        assert!(ResidentCredential::from_record(&rc.id, &[0xA0]).is_err());
        assert!(ResidentCredential::from_record(&rc.id, &[0xFF]).is_err());
    }

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
