//! Stored credentials as records in the store: discoverable (resident) ones, at most one per
//! (rpId, user handle), and non-discoverable ones imported through a control API, which are
//! found only when an allow or exclude list names them.

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

/// A stored credential.
#[derive(Clone, Debug)]
pub(crate) struct ResidentCredential {
    /// The credential id (also the record key): 32 random bytes when made by
    /// makeCredential, any 1..=128 bytes when imported.
    pub id: Vec<u8>,
    /// The relying party id.
    pub rp_id: String,
    /// The user.
    pub user: UserEntity,
    /// The private key.
    pub key: PrivateKey,
    /// Creation order, larger is newer.
    pub created: u64,
    /// Found without an allow list (record field 8, absent means true).
    pub discoverable: bool,
}

/// A stored credential's record without its key (cheap to read for every record).
#[derive(Clone, Debug)]
pub(crate) struct RecordInfo {
    /// The credential id (the record key).
    pub id: Vec<u8>,
    /// The relying party id.
    pub rp_id: String,
    /// The user handle.
    pub user_id: Vec<u8>,
    /// Creation order, larger is newer.
    pub created: u64,
    /// Found without an allow list.
    pub discoverable: bool,
}

impl RecordInfo {
    /// Parses and checks a record value, including the key's length and (for ECDSA keys) its
    /// range, without deriving the key pair; any damage is reported as `CTAP1_ERR_OTHER`.
    pub(crate) fn from_record(id: &[u8], bytes: &[u8]) -> CtapResult<Self> {
        with_record(bytes, |r| {
            r.check_key()?;
            Ok(Self {
                id: id.to_vec(),
                rp_id: r.rp_id.to_owned(),
                user_id: r.user_id.to_vec(),
                created: r.created,
                discoverable: r.discoverable,
            })
        })?
    }
}

/// A stored credential's record, its fields borrowed (from the record's bytes, or from its
/// full decode); the secret is still bytes.
pub(crate) struct RecordRef<'a> {
    /// The relying party id.
    pub rp_id: &'a str,
    /// The user handle.
    pub user_id: &'a [u8],
    /// The account name.
    pub name: Option<&'a str>,
    /// The display name.
    pub display_name: Option<&'a str>,
    /// The key's algorithm.
    pub alg: Algorithm,
    /// The key's secret bytes.
    pub secret: &'a [u8],
    /// Creation order, larger is newer.
    pub created: u64,
    /// Found without an allow list.
    pub discoverable: bool,
}

/// Parses a record value and hands its fields to `f`; any damage is `CTAP1_ERR_OTHER`.
///
/// A record in the exact form [`ResidentCredential::to_record`] writes (canonical CBOR, keys
/// 1 to 8 of their types only) is read in place: nothing is built or copied. Anything else is
/// judged by the full decoder, so both paths accept and refuse the same records.
pub(crate) fn with_record<T>(bytes: &[u8], f: impl FnOnce(&RecordRef<'_>) -> T) -> CtapResult<T> {
    if let Some(r) = RecordRef::read_in_place(bytes) {
        return Ok(f(&r));
    }
    let fields = Fields::parse(bytes)?;
    Ok(f(&fields.as_ref()))
}

impl<'a> RecordRef<'a> {
    /// The fields of a record in the form `to_record` writes, read in place; `None` for any
    /// other input, valid or not.
    fn read_in_place(bytes: &'a [u8]) -> Option<Self> {
        let text = |pos: &mut usize| cbor::read_canonical_text(bytes, pos);
        let uint = |pos: &mut usize| match cbor::read_canonical_head(bytes, pos)? {
            (0, n) => Some(n),
            _ => None,
        };
        let mut pos = 0;
        let (major, entries) = cbor::read_canonical_head(bytes, &mut pos)?;
        if major != 5 {
            return None;
        }
        let (mut rp_id, mut user_id, mut name, mut display_name) = (None, None, None, None);
        let (mut alg, mut secret, mut created, mut discoverable) = (None, None, None, true);
        let mut last = 0;
        for _ in 0..entries {
            // Unsigned keys in canonical order are strictly increasing numbers.
            let key = uint(&mut pos)?;
            if key <= last {
                return None;
            }
            last = key;
            match key {
                1 => rp_id = Some(text(&mut pos)?),
                2 => user_id = Some(cbor::read_canonical_bytes(bytes, &mut pos)?),
                3 => name = Some(text(&mut pos)?),
                4 => display_name = Some(text(&mut pos)?),
                5 => {
                    alg = Some(
                        u8::try_from(uint(&mut pos)?)
                            .ok()
                            .and_then(Algorithm::from_code)?,
                    )
                }
                6 => secret = Some(cbor::read_canonical_bytes(bytes, &mut pos)?),
                7 => created = Some(uint(&mut pos)?),
                8 => {
                    discoverable = match bytes.get(pos)? {
                        0xF4 => false,
                        0xF5 => true,
                        _ => return None,
                    };
                    pos += 1;
                }
                _ => return None,
            }
        }
        if pos != bytes.len() {
            return None;
        }
        Some(Self {
            rp_id: rp_id?,
            user_id: user_id?,
            name,
            display_name,
            alg: alg?,
            secret: secret?,
            created: created?,
            discoverable,
        })
    }

    /// Checks the key's length and (for ECDSA keys) its range without deriving the key pair.
    pub(crate) fn check_key(&self) -> CtapResult<()> {
        match self.alg {
            // Any 32-byte seed is an Ed25519 key; deriving its public key is the costly part.
            Algorithm::EdDsa if self.secret.len() == Algorithm::EdDsa.secret_len() => Ok(()),
            Algorithm::EdDsa => Err(StatusCode::Other),
            alg => PrivateKey::from_bytes(alg, self.secret)
                .map(drop)
                .map_err(|_| StatusCode::Other),
        }
    }

    /// The stored credential with id `id`, its key built.
    pub(crate) fn to_credential(&self, id: &[u8]) -> CtapResult<ResidentCredential> {
        let key = PrivateKey::from_bytes(self.alg, self.secret).map_err(|_| StatusCode::Other)?;
        Ok(ResidentCredential {
            id: id.to_vec(),
            rp_id: self.rp_id.to_owned(),
            user: UserEntity {
                id: self.user_id.to_vec(),
                name: self.name.map(str::to_owned),
                display_name: self.display_name.map(str::to_owned),
            },
            key,
            created: self.created,
            discoverable: self.discoverable,
        })
    }
}

/// Whether a record value is of a discoverable credential, reading only its field 8 (absent
/// means true): no field is decoded or copied and no key is built, so counting the discoverable
/// credentials costs one pass over each record's bytes. Malformed CBOR or a non-boolean field 8
/// is `CTAP1_ERR_OTHER`; the other fields are not checked (every other path that uses a record
/// decodes it in full).
pub(crate) fn record_is_discoverable(bytes: &[u8]) -> CtapResult<bool> {
    cbor::int_map_bool(bytes, 8)
        .map(|flag| flag.unwrap_or(true))
        .map_err(|_| StatusCode::Other)
}

/// The decoded fields of a record, the secret still as bytes (wiped on drop).
struct Fields {
    rp_id: String,
    user: UserEntity,
    alg: Algorithm,
    secret: zeroize::Zeroizing<Vec<u8>>,
    created: u64,
    discoverable: bool,
}

impl Fields {
    fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            rp_id: &self.rp_id,
            user_id: &self.user.id,
            name: self.user.name.as_deref(),
            display_name: self.user.display_name.as_deref(),
            alg: self.alg,
            secret: &self.secret,
            created: self.created,
            discoverable: self.discoverable,
        }
    }

    fn parse(bytes: &[u8]) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let mut value = cbor::decode(bytes).map_err(corrupt)?;
        let fields = Self::from_value(&value);
        cbor::wipe(&mut value);
        fields
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let map = MapView::new(value).map_err(corrupt)?;
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
        let secret = zeroize::Zeroizing::new(
            cbor::as_bytes(map.int_key(6).ok_or(StatusCode::Other)?)
                .map_err(corrupt)?
                .to_vec(),
        );
        let created = cbor::as_int(map.int_key(7).ok_or(StatusCode::Other)?).map_err(corrupt)?;
        let discoverable = map
            .int_key(8)
            .map(cbor::as_bool)
            .transpose()
            .map_err(corrupt)?
            .unwrap_or(true);
        Ok(Self {
            rp_id,
            user: UserEntity {
                id: user_id,
                name: text(3)?,
                display_name: text(4)?,
            },
            alg,
            secret,
            created: u64::try_from(created).map_err(|_| StatusCode::Other)?,
            discoverable,
        })
    }
}

/// Length of the ids makeCredential gives discoverable credentials.
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
        if !self.discoverable {
            // Absent means discoverable, so records written before this field still load.
            entries.push((8, Value::Bool(false)));
        }
        let mut value = cbor::int_map(entries);
        let bytes = cbor::encode(&value);
        cbor::wipe(&mut value);
        bytes
    }

    /// Parses a record value; any damage is reported as `CTAP1_ERR_OTHER`.
    pub(crate) fn from_record(id: &[u8], bytes: &[u8]) -> CtapResult<Self> {
        with_record(bytes, |r| r.to_credential(id))?
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
            discoverable: true,
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
    fn the_discoverable_field_is_written_only_when_false() {
        let mut rng = SeededRng::new(4);
        let mut rc = ResidentCredential {
            id: vec![1; 16],
            rp_id: "example.com".into(),
            user: UserEntity::default(),
            key: PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap(),
            created: 1,
            discoverable: true,
        };
        // A discoverable record is exactly what the format had before field 8 existed.
        let old = rc.to_record();
        let map = cbor::decode(&old).unwrap();
        assert!(MapView::new(&map).unwrap().int_key(8).is_none());
        assert!(
            ResidentCredential::from_record(&rc.id, &old)
                .unwrap()
                .discoverable
        );
        assert!(RecordInfo::from_record(&rc.id, &old).unwrap().discoverable);

        rc.discoverable = false;
        let new = rc.to_record();
        let back = ResidentCredential::from_record(&rc.id, &new).unwrap();
        assert!(!back.discoverable);
        assert_eq!(back.key.to_bytes(), rc.key.to_bytes());
        let info = RecordInfo::from_record(&rc.id, &new).unwrap();
        assert!(!info.discoverable);
        assert_eq!(info.rp_id, "example.com");
        assert_eq!(info.created, 1);

        // A non-boolean field 8 is damage.
        let mut value = cbor::decode(&new).unwrap();
        if let Value::Map(entries) = &mut value {
            for (k, v) in entries.iter_mut() {
                if *k == cbor::int(8) {
                    *v = cbor::int(0);
                }
            }
        }
        let bad = cbor::encode(&value);
        assert!(ResidentCredential::from_record(&rc.id, &bad).is_err());
        assert!(RecordInfo::from_record(&rc.id, &bad).is_err());
    }

    #[test]
    fn record_info_checks_the_key_without_deriving_it() {
        let mut rng = SeededRng::new(5);
        for alg in Algorithm::ALL {
            let rc = ResidentCredential {
                id: vec![2; 32],
                rp_id: "example.com".into(),
                user: UserEntity::default(),
                key: PrivateKey::generate(alg, &mut rng).unwrap(),
                created: 1,
                discoverable: true,
            };
            let mut value = cbor::decode(&rc.to_record()).unwrap();
            if let Value::Map(entries) = &mut value {
                for (k, v) in entries.iter_mut() {
                    if *k == cbor::int(6) {
                        *v = Value::Bytes(vec![0; alg.secret_len() - 1]);
                    }
                }
            }
            let bad = cbor::encode(&value);
            assert!(RecordInfo::from_record(&rc.id, &bad).is_err(), "{alg:?}");
            assert!(
                ResidentCredential::from_record(&rc.id, &bad).is_err(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn the_discoverable_flag_is_read_without_decoding_the_record() {
        let mut rng = SeededRng::new(6);
        for alg in Algorithm::ALL {
            for discoverable in [true, false] {
                let rc = ResidentCredential {
                    id: vec![3; 32],
                    rp_id: "example.com".into(),
                    user: UserEntity {
                        id: vec![7; 64],
                        name: Some("n".repeat(64)),
                        display_name: Some("é".repeat(32)),
                    },
                    key: PrivateKey::generate(alg, &mut rng).unwrap(),
                    created: u64::MAX,
                    discoverable,
                };
                let record = rc.to_record();
                assert_eq!(record_is_discoverable(&record), Ok(discoverable), "{alg:?}");
                let info = RecordInfo::from_record(&rc.id, &record).unwrap();
                assert_eq!(info.discoverable, discoverable);
                // Damage the flag reader must see: cut anywhere, or a trailing byte.
                for end in 0..record.len() {
                    assert!(record_is_discoverable(&record[..end]).is_err(), "{end}");
                }
                let mut longer = record.clone();
                longer.push(0);
                assert!(record_is_discoverable(&longer).is_err());
            }
        }

        // The key is not looked at: an out-of-range P-256 scalar, which a full decode refuses,
        // still counts (proof that no PrivateKey is built).
        let rc = ResidentCredential {
            id: vec![4; 32],
            rp_id: "example.com".into(),
            user: UserEntity::default(),
            key: PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap(),
            created: 1,
            discoverable: false,
        };
        let mut value = cbor::decode(&rc.to_record()).unwrap();
        if let Value::Map(entries) = &mut value {
            for (k, v) in entries.iter_mut() {
                if *k == cbor::int(6) {
                    *v = Value::Bytes(vec![0xFF; 32]);
                }
            }
        }
        let bad_key = cbor::encode(&value);
        assert!(RecordInfo::from_record(&rc.id, &bad_key).is_err());
        assert_eq!(record_is_discoverable(&bad_key), Ok(false));

        // Not a record: other shapes, non-integer keys, a non-boolean flag, tags, indefinite
        // lengths, lengths past the end.
        let bad: [&[u8]; 9] = [
            &[],
            &[0x80],                   // an array
            &[0xA1, 0x61, 0x61, 0xF5], // {"a": true}
            &[0xA1, 0x08, 0x00],       // {8: 0}
            &[0xA1, 0x08, 0xF6],       // {8: null}
            &[0xA1, 0x01, 0xC0, 0x00], // {1: tag 0}
            &[0xBF, 0x08, 0xF5, 0xFF], // indefinite map
            &[0xA1, 0x01, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF],
            &[
                0xA1, 0x01, 0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
        ];
        for bytes in bad {
            assert_eq!(
                record_is_discoverable(bytes),
                Err(StatusCode::Other),
                "{bytes:02X?}"
            );
        }
        // Absent means discoverable; the value of field 8 decides, wherever it is.
        assert_eq!(record_is_discoverable(&[0xA0]), Ok(true));
        assert_eq!(
            record_is_discoverable(&[0xA2, 0x08, 0xF4, 0x01, 0x61, 0x78]),
            Ok(false)
        );
    }

    /// Everything a reader of a record sees, owned.
    type Seen = (
        String,
        Vec<u8>,
        Option<String>,
        Option<String>,
        Algorithm,
        Vec<u8>,
        u64,
        bool,
    );

    fn seen(r: &RecordRef<'_>) -> Seen {
        (
            r.rp_id.to_owned(),
            r.user_id.to_vec(),
            r.name.map(str::to_owned),
            r.display_name.map(str::to_owned),
            r.alg,
            r.secret.to_vec(),
            r.created,
            r.discoverable,
        )
    }

    #[test]
    fn records_read_in_place_as_the_full_decoder_reads_them() {
        let mut rng = SeededRng::new(7);
        let mut records = Vec::new();
        for alg in Algorithm::ALL {
            for (discoverable, name, display_name, created) in [
                (true, None, None, 0),
                (false, Some("n".repeat(64)), Some("é".repeat(32)), u64::MAX),
                (true, Some("alice".to_owned()), None, 23),
                (false, None, Some("Bob".to_owned()), 1 << 40),
            ] {
                let rc = ResidentCredential {
                    id: vec![5; 32],
                    rp_id: "example.com".into(),
                    user: UserEntity {
                        id: vec![7; 64],
                        name,
                        display_name,
                    },
                    key: PrivateKey::generate(alg, &mut rng).unwrap(),
                    created,
                    discoverable,
                };
                let record = rc.to_record();
                let fast = RecordRef::read_in_place(&record).expect("the form to_record writes");
                assert_eq!(seen(&fast), seen(&Fields::parse(&record).unwrap().as_ref()));
                records.push(record);
            }
        }
        // Valid records in another form go to the full decoder: an extra key, a text key.
        let mut value = cbor::decode(&records[0]).unwrap();
        if let Value::Map(entries) = &mut value {
            entries.push((cbor::int(9), Value::Null));
            entries.push((Value::Text("x".into()), cbor::int(1)));
        }
        let other = cbor::encode(&value);
        assert!(RecordRef::read_in_place(&other).is_none());
        assert_eq!(
            with_record(&other, seen).unwrap(),
            with_record(&records[0], seen).unwrap()
        );
        records.push(other);

        // Differential: every truncation, every one-byte change and every extra byte is accepted
        // or refused by both paths alike, with the same fields.
        for record in &records {
            let mut variants = Vec::new();
            for end in 0..record.len() {
                variants.push(record[..end].to_vec());
            }
            for i in 0..record.len() {
                for x in [0x01, 0x20, 0x80, 0xFF, 0x1F] {
                    let mut v = record.clone();
                    v[i] ^= x;
                    variants.push(v);
                }
            }
            let mut longer = record.clone();
            longer.push(0);
            variants.push(longer);
            for v in variants {
                let full = Fields::parse(&v).map(|f| seen(&f.as_ref()));
                assert_eq!(with_record(&v, seen), full, "{v:02X?}");
                if let Some(fast) = RecordRef::read_in_place(&v) {
                    assert_eq!(Ok(seen(&fast)), full, "{v:02X?}");
                }
            }
        }
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
