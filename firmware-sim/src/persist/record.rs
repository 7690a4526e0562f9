//! The persisted credential record (namespace `rk`, keyed by credential id): one versioned codec
//! that writes the current version and reads every version ever written.
//!
//! A record is a canonical CBOR map with unsigned integer keys:
//!
//! | key | member | since |
//! | --- | --- | --- |
//! | 0 | format version (absent: 1) | 2 |
//! | 1 | rpId (text) | 1 |
//! | 2 | user handle (bytes) | 1 |
//! | 3 | user name (text, optional) | 1 |
//! | 4 | user display name (text, optional) | 1 |
//! | 5 | algorithm code (1 ES256, 2 EdDSA, 3 ES384) | 1 |
//! | 6 | private key (bytes) | 1 |
//! | 7 | creation order (uint, larger is newer) | 1 |
//! | 8 | `false` for a non-discoverable credential (absent: discoverable) | 1 |
//! | 9 | credProtect level 1–3 (optional) | 2 |
//! | 10 | credBlob (bytes, optional) | 2 |
//! | 11 | largeBlobKey (32 bytes, optional) | 2 |
//! | 12 | hmac-secret CredRandomWithUV (32 bytes, optional) | 2 |
//! | 13 | hmac-secret CredRandomWithoutUV (32 bytes, optional) | 2 |
//! | 14 | backup eligible (`true` only; absent: false) | 2 |
//! | 15 | backup state (`true` only; absent: false) | 2 |
//!
//! Version 1 is version 2 without keys 0 and 9–15, so both read through one decoder; a version
//! this firmware does not know is damage. Records are read in place when they are in the exact
//! form the encoder writes (the hot path of every credential scan), and by a full decoder
//! otherwise; both accept and refuse the same records.

use ciborium::value::Value;
use zeroize::Zeroizing;

use crate::cbor::{self, MapView};
use crate::credential::UserEntity;
use crate::credential::keys::{Algorithm, PrivateKey};
use crate::status::{CtapResult, StatusCode};

/// The version the encoder writes.
pub(crate) const FORMAT_VERSION: u64 = 2;

/// Record member keys.
mod field {
    pub const VERSION: u64 = 0;
    pub const RP_ID: u64 = 1;
    pub const USER_ID: u64 = 2;
    pub const NAME: u64 = 3;
    pub const DISPLAY_NAME: u64 = 4;
    pub const ALG: u64 = 5;
    pub const SECRET: u64 = 6;
    pub const CREATED: u64 = 7;
    pub const DISCOVERABLE: u64 = 8;
    pub const CRED_PROTECT: u64 = 9;
    pub const CRED_BLOB: u64 = 10;
    pub const LARGE_BLOB_KEY: u64 = 11;
    pub const CRED_RANDOM_WITH_UV: u64 = 12;
    pub const CRED_RANDOM_WITHOUT_UV: u64 = 13;
    pub const BACKUP_ELIGIBLE: u64 = 14;
    pub const BACKUP_STATE: u64 = 15;
}

/// Length of the ids makeCredential gives discoverable credentials.
pub(crate) const RESIDENT_ID_LEN: usize = 32;
/// Length of a largeBlobKey and of each hmac-secret CredRandom.
pub(crate) const CRED_SECRET_LEN: usize = 32;

/// What a credential carries for extensions and backup, beyond its key and user (version 2).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CredentialExtras {
    /// credProtect level (1 userVerificationOptional, 2 ...WithCredentialIDList,
    /// 3 userVerificationRequired); `None` means none was asked (level 1).
    pub cred_protect: Option<u8>,
    /// credBlob.
    pub cred_blob: Option<Vec<u8>>,
    /// largeBlobKey (a secret).
    pub large_blob_key: Option<Zeroizing<[u8; CRED_SECRET_LEN]>>,
    /// hmac-secret CredRandomWithUV (a secret).
    pub cred_random_with_uv: Option<Zeroizing<[u8; CRED_SECRET_LEN]>>,
    /// hmac-secret CredRandomWithoutUV (a secret).
    pub cred_random_without_uv: Option<Zeroizing<[u8; CRED_SECRET_LEN]>>,
    /// The credential may be backed up (the BE flag).
    pub backup_eligible: bool,
    /// The credential is backed up (the BS flag).
    pub backup_state: bool,
}

impl std::fmt::Debug for CredentialExtras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialExtras")
            .field("cred_protect", &self.cred_protect)
            .field("cred_blob_len", &self.cred_blob.as_ref().map(Vec::len))
            .field("large_blob_key", &self.large_blob_key.is_some())
            .field("cred_random_with_uv", &self.cred_random_with_uv.is_some())
            .field(
                "cred_random_without_uv",
                &self.cred_random_without_uv.is_some(),
            )
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .finish()
    }
}

/// A stored credential (its `Debug` shows no secret: the key and extras redact themselves).
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
    /// Extension and backup data.
    pub extras: CredentialExtras,
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

/// The version-2 members of a record, borrowed.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExtrasRef<'a> {
    cred_protect: Option<u8>,
    cred_blob: Option<&'a [u8]>,
    large_blob_key: Option<&'a [u8]>,
    cred_random_with_uv: Option<&'a [u8]>,
    cred_random_without_uv: Option<&'a [u8]>,
    backup_eligible: bool,
    backup_state: bool,
}

fn secret32(bytes: Option<&[u8]>) -> Option<Zeroizing<[u8; CRED_SECRET_LEN]>> {
    let mut out = Zeroizing::new([0u8; CRED_SECRET_LEN]);
    out.copy_from_slice(bytes.filter(|b| b.len() == CRED_SECRET_LEN)?);
    Some(out)
}

impl ExtrasRef<'_> {
    /// Checks the members' values (lengths, credProtect range).
    fn valid(&self) -> bool {
        let secret_ok = |s: Option<&[u8]>| s.is_none_or(|s| s.len() == CRED_SECRET_LEN);
        self.cred_protect.is_none_or(|p| (1..=3).contains(&p))
            && secret_ok(self.large_blob_key)
            && secret_ok(self.cred_random_with_uv)
            && secret_ok(self.cred_random_without_uv)
    }

    fn to_owned(self) -> CredentialExtras {
        CredentialExtras {
            cred_protect: self.cred_protect,
            cred_blob: self.cred_blob.map(<[u8]>::to_vec),
            large_blob_key: secret32(self.large_blob_key),
            cred_random_with_uv: secret32(self.cred_random_with_uv),
            cred_random_without_uv: secret32(self.cred_random_without_uv),
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
        }
    }
}

/// A stored credential's record, its fields borrowed (from the record's bytes, or from its
/// full decode); the secret is still bytes.
pub(crate) struct RecordRef<'a> {
    /// The format version it was written in.
    pub version: u64,
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
    /// Version-2 members.
    pub extras: ExtrasRef<'a>,
}

/// Parses a record value and hands its fields to `f`; any damage is `CTAP1_ERR_OTHER`.
///
/// A record in the exact form [`ResidentCredential::to_record`] writes (canonical CBOR, known
/// keys of their types only) is read in place: nothing is built or copied. Anything else is
/// judged by the full decoder, so both paths accept and refuse the same records.
pub(crate) fn with_record<T>(bytes: &[u8], f: impl FnOnce(&RecordRef<'_>) -> T) -> CtapResult<T> {
    if let Some(r) = RecordRef::read_in_place(bytes) {
        return Ok(f(&r));
    }
    let fields = Fields::parse(bytes)?;
    Ok(f(&fields.as_ref()))
}

impl<'a> RecordRef<'a> {
    /// The fields of a record in the form `to_record` writes (or version 1 wrote), read in
    /// place; `None` for any other input, valid or not.
    fn read_in_place(bytes: &'a [u8]) -> Option<Self> {
        let text = |pos: &mut usize| cbor::read_canonical_text(bytes, pos);
        let raw = |pos: &mut usize| cbor::read_canonical_bytes(bytes, pos);
        let uint = |pos: &mut usize| match cbor::read_canonical_head(bytes, pos)? {
            (0, n) => Some(n),
            _ => None,
        };
        let boolean = |pos: &mut usize| {
            let b = match bytes.get(*pos)? {
                0xF4 => false,
                0xF5 => true,
                _ => return None,
            };
            *pos += 1;
            Some(b)
        };
        let mut pos = 0;
        let (major, entries) = cbor::read_canonical_head(bytes, &mut pos)?;
        if major != 5 {
            return None;
        }
        let mut version = 1;
        let (mut rp_id, mut user_id, mut name, mut display_name) = (None, None, None, None);
        let (mut alg, mut secret, mut created, mut discoverable) = (None, None, None, true);
        let mut extras = ExtrasRef::default();
        let mut last: Option<u64> = None;
        for _ in 0..entries {
            // Unsigned keys in canonical order are strictly increasing numbers.
            let key = uint(&mut pos)?;
            if last.is_some_and(|l| key <= l) {
                return None;
            }
            last = Some(key);
            match key {
                field::VERSION => version = uint(&mut pos)?,
                field::RP_ID => rp_id = Some(text(&mut pos)?),
                field::USER_ID => user_id = Some(raw(&mut pos)?),
                field::NAME => name = Some(text(&mut pos)?),
                field::DISPLAY_NAME => display_name = Some(text(&mut pos)?),
                field::ALG => {
                    alg = Some(
                        u8::try_from(uint(&mut pos)?)
                            .ok()
                            .and_then(Algorithm::from_code)?,
                    )
                }
                field::SECRET => secret = Some(raw(&mut pos)?),
                field::CREATED => created = Some(uint(&mut pos)?),
                field::DISCOVERABLE => discoverable = boolean(&mut pos)?,
                field::CRED_PROTECT => {
                    // Out of range is refused by `members_valid`, as the full decoder does.
                    extras.cred_protect = Some(u8::try_from(uint(&mut pos)?).unwrap_or(0))
                }
                field::CRED_BLOB => extras.cred_blob = Some(raw(&mut pos)?),
                field::LARGE_BLOB_KEY => extras.large_blob_key = Some(raw(&mut pos)?),
                field::CRED_RANDOM_WITH_UV => extras.cred_random_with_uv = Some(raw(&mut pos)?),
                field::CRED_RANDOM_WITHOUT_UV => {
                    extras.cred_random_without_uv = Some(raw(&mut pos)?)
                }
                field::BACKUP_ELIGIBLE => extras.backup_eligible = boolean(&mut pos)?,
                field::BACKUP_STATE => extras.backup_state = boolean(&mut pos)?,
                _ => return None,
            }
        }
        if pos != bytes.len() {
            return None;
        }
        let r = Self {
            version,
            rp_id: rp_id?,
            user_id: user_id?,
            name,
            display_name,
            alg: alg?,
            secret: secret?,
            created: created?,
            discoverable,
            extras,
        };
        r.members_valid().then_some(r)
    }

    /// The checks both decoders make beyond types: a known version, and extras only from
    /// version 2 on, with valid values.
    fn members_valid(&self) -> bool {
        match self.version {
            1 => self.extras == ExtrasRef::default(),
            FORMAT_VERSION => self.extras.valid(),
            _ => false,
        }
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
            extras: self.extras.to_owned(),
        })
    }
}

/// Whether a record value is of a discoverable credential, reading only its field 8 (absent
/// means true): no field is decoded or copied and no key is built, so counting the discoverable
/// credentials costs one pass over each record's bytes. Malformed CBOR or a non-boolean field 8
/// is `CTAP1_ERR_OTHER`; the other fields are not checked (every other path that uses a record
/// decodes it in full).
pub(crate) fn record_is_discoverable(bytes: &[u8]) -> CtapResult<bool> {
    cbor::int_map_bool(bytes, field::DISCOVERABLE)
        .map(|flag| flag.unwrap_or(true))
        .map_err(|_| StatusCode::Other)
}

/// The decoded fields of a record, the secrets still as bytes (wiped on drop).
struct Fields {
    version: u64,
    rp_id: String,
    user: UserEntity,
    alg: Algorithm,
    secret: Zeroizing<Vec<u8>>,
    created: u64,
    discoverable: bool,
    cred_protect: Option<u8>,
    cred_blob: Option<Vec<u8>>,
    large_blob_key: Option<Zeroizing<Vec<u8>>>,
    cred_random_with_uv: Option<Zeroizing<Vec<u8>>>,
    cred_random_without_uv: Option<Zeroizing<Vec<u8>>>,
    backup_eligible: bool,
    backup_state: bool,
}

impl Fields {
    fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            version: self.version,
            rp_id: &self.rp_id,
            user_id: &self.user.id,
            name: self.user.name.as_deref(),
            display_name: self.user.display_name.as_deref(),
            alg: self.alg,
            secret: &self.secret,
            created: self.created,
            discoverable: self.discoverable,
            extras: ExtrasRef {
                cred_protect: self.cred_protect,
                cred_blob: self.cred_blob.as_deref(),
                large_blob_key: self.large_blob_key.as_deref().map(|v| &v[..]),
                cred_random_with_uv: self.cred_random_with_uv.as_deref().map(|v| &v[..]),
                cred_random_without_uv: self.cred_random_without_uv.as_deref().map(|v| &v[..]),
                backup_eligible: self.backup_eligible,
                backup_state: self.backup_state,
            },
        }
    }

    fn parse(bytes: &[u8]) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let mut value = cbor::decode(bytes).map_err(corrupt)?;
        let fields = Self::from_value(&value);
        cbor::wipe(&mut value);
        let fields = fields?;
        if !fields.as_ref().members_valid() {
            return Err(StatusCode::Other);
        }
        Ok(fields)
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let corrupt = |_| StatusCode::Other;
        let map = MapView::new(value).map_err(corrupt)?;
        let key = |k: u64| map.int_key(k as i64);
        let text = |k: u64| -> CtapResult<Option<String>> {
            key(k)
                .map(|v| cbor::as_text(v).map(str::to_owned))
                .transpose()
                .map_err(corrupt)
        };
        let bytes = |k: u64| -> CtapResult<Option<Vec<u8>>> {
            key(k)
                .map(|v| cbor::as_bytes(v).map(<[u8]>::to_vec))
                .transpose()
                .map_err(corrupt)
        };
        let uint = |k: u64| -> CtapResult<Option<u64>> {
            key(k)
                .map(|v| {
                    cbor::as_int(v)
                        .map_err(corrupt)
                        .and_then(|n| u64::try_from(n).map_err(|_| StatusCode::Other))
                })
                .transpose()
        };
        let flag = |k: u64| -> CtapResult<Option<bool>> {
            key(k).map(cbor::as_bool).transpose().map_err(corrupt)
        };
        // Keys no version defines are ignored (a later version may add members).
        let alg = uint(field::ALG)?
            .and_then(|c| u8::try_from(c).ok())
            .and_then(Algorithm::from_code)
            .ok_or(StatusCode::Other)?;
        let secret = Zeroizing::new(bytes(field::SECRET)?.ok_or(StatusCode::Other)?);
        let secret_member = |k| bytes(k).map(|b| b.map(Zeroizing::new));
        Ok(Self {
            version: uint(field::VERSION)?.unwrap_or(1),
            rp_id: text(field::RP_ID)?.ok_or(StatusCode::Other)?,
            user: UserEntity {
                id: bytes(field::USER_ID)?.ok_or(StatusCode::Other)?,
                name: text(field::NAME)?,
                display_name: text(field::DISPLAY_NAME)?,
            },
            alg,
            secret,
            created: uint(field::CREATED)?.ok_or(StatusCode::Other)?,
            discoverable: flag(field::DISCOVERABLE)?.unwrap_or(true),
            // Out of range becomes 0, which `members_valid` refuses.
            cred_protect: uint(field::CRED_PROTECT)?.map(|p| u8::try_from(p).unwrap_or(0)),
            cred_blob: bytes(field::CRED_BLOB)?,
            large_blob_key: secret_member(field::LARGE_BLOB_KEY)?,
            cred_random_with_uv: secret_member(field::CRED_RANDOM_WITH_UV)?,
            cred_random_without_uv: secret_member(field::CRED_RANDOM_WITHOUT_UV)?,
            backup_eligible: flag(field::BACKUP_ELIGIBLE)?.unwrap_or(false),
            backup_state: flag(field::BACKUP_STATE)?.unwrap_or(false),
        })
    }
}

impl ResidentCredential {
    /// Serialises the record value (always the current format version).
    pub(crate) fn to_record(&self) -> Vec<u8> {
        let int = |k: u64| Value::Integer(k.into());
        let mut entries = vec![
            (int(field::VERSION), Value::Integer(FORMAT_VERSION.into())),
            (int(field::RP_ID), Value::Text(self.rp_id.clone())),
            (int(field::USER_ID), Value::Bytes(self.user.id.clone())),
        ];
        if let Some(n) = &self.user.name {
            entries.push((int(field::NAME), Value::Text(n.clone())));
        }
        if let Some(d) = &self.user.display_name {
            entries.push((int(field::DISPLAY_NAME), Value::Text(d.clone())));
        }
        entries.push((
            int(field::ALG),
            Value::Integer(self.key.algorithm().code().into()),
        ));
        entries.push((
            int(field::SECRET),
            Value::Bytes(self.key.to_bytes().to_vec()),
        ));
        entries.push((int(field::CREATED), Value::Integer(self.created.into())));
        if !self.discoverable {
            // Absent means discoverable.
            entries.push((int(field::DISCOVERABLE), Value::Bool(false)));
        }
        let e = &self.extras;
        if let Some(p) = e.cred_protect {
            entries.push((int(field::CRED_PROTECT), Value::Integer(p.into())));
        }
        if let Some(b) = &e.cred_blob {
            entries.push((int(field::CRED_BLOB), Value::Bytes(b.clone())));
        }
        for (k, s) in [
            (field::LARGE_BLOB_KEY, &e.large_blob_key),
            (field::CRED_RANDOM_WITH_UV, &e.cred_random_with_uv),
            (field::CRED_RANDOM_WITHOUT_UV, &e.cred_random_without_uv),
        ] {
            if let Some(s) = s {
                entries.push((int(k), Value::Bytes(s.to_vec())));
            }
        }
        if e.backup_eligible {
            entries.push((int(field::BACKUP_ELIGIBLE), Value::Bool(true)));
        }
        if e.backup_state {
            entries.push((int(field::BACKUP_STATE), Value::Bool(true)));
        }
        let mut value = Value::Map(entries);
        let bytes = cbor::encode(&value);
        cbor::wipe(&mut value);
        bytes
    }

    /// Parses a record value; any damage is reported as `CTAP1_ERR_OTHER`.
    pub(crate) fn from_record(id: &[u8], bytes: &[u8]) -> CtapResult<Self> {
        with_record(bytes, |r| r.to_credential(id))?
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
