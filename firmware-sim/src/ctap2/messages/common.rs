//! Sub-structures shared by several messages: entities, credential descriptors, algorithm
//! parameters, options, extension maps and the COSE_Key of PIN/UV key agreement.

use ciborium::value::Value;

use super::{Fields, MapWriter, as_i64, bytes, read_text_array, text, text_array};
use crate::cbor;
use crate::credential::UserEntity;
use crate::status::{CtapResult, StatusCode};

/// PublicKeyCredentialRpEntity (WebAuthn §5.4.2; CTAP 2.1 §6.1 rp).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpEntity {
    /// The relying party identifier.
    pub id: String,
    /// Its human-palatable name.
    pub name: Option<String>,
    /// Deprecated icon URL (checked for its type, otherwise ignored).
    pub icon: Option<String>,
}

impl RpEntity {
    /// The entity as a CBOR map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .put("id", text(&self.id))
            .opt("name", self.name.as_deref().map(text))
            .opt("icon", self.icon.as_deref().map(text))
            .build()
    }

    /// Reads the entity (id required).
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let id = cbor::as_text(f.required("id")?)?.to_owned();
        Ok(Self {
            id,
            name: f.text("name")?,
            icon: f.text("icon")?,
        })
    }
}

/// The longest user handle WebAuthn allows.
pub(crate) const MAX_USER_ID_LEN: usize = 64;

impl UserEntity {
    /// The entity as a CBOR map, with every member it has.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .put("id", bytes(&self.id))
            .opt("name", self.name.as_deref().map(text))
            .opt("displayName", self.display_name.as_deref().map(text))
            .build()
    }

    /// Reads a PublicKeyCredentialUserEntity: the id is required and at most 64 bytes
    /// (`CTAP1_ERR_INVALID_LENGTH` beyond), names are text, a deprecated icon is checked for its
    /// type and dropped.
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let id = cbor::as_bytes(f.required("id")?)?;
        if id.len() > MAX_USER_ID_LEN {
            return Err(StatusCode::InvalidLength);
        }
        let user = Self {
            id: id.to_vec(),
            name: f.text("name")?,
            display_name: f.text("displayName")?,
        };
        f.text("icon")?;
        Ok(user)
    }
}

/// PublicKeyCredentialDescriptor: a credential named in an allow or exclude list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialDescriptor {
    /// The credential type; only "public-key" denotes a credential the token knows.
    pub kind: String,
    /// The credential id.
    pub id: Vec<u8>,
    /// Transport hints (text items only; others are skipped).
    pub transports: Option<Vec<String>>,
}

impl CredentialDescriptor {
    /// A "public-key" descriptor for `id`.
    pub fn public_key(id: &[u8]) -> Self {
        Self {
            kind: "public-key".to_owned(),
            id: id.to_vec(),
            transports: None,
        }
    }

    /// Whether the descriptor is of type "public-key".
    pub fn is_public_key(&self) -> bool {
        self.kind == "public-key"
    }

    /// The descriptor as a CBOR map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .put("id", bytes(&self.id))
            .put("type", text(&self.kind))
            .opt("transports", self.transports.as_deref().map(text_array))
            .build()
    }

    /// Reads a descriptor (type and id required, transports an array).
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let kind = cbor::as_text(f.required("type")?)?.to_owned();
        let id = cbor::as_bytes(f.required("id")?)?.to_vec();
        let transports = f.array("transports")?.map(|items| {
            items
                .iter()
                .filter_map(|v| cbor::as_text(v).ok().map(str::to_owned))
                .collect()
        });
        Ok(Self {
            kind,
            id,
            transports,
        })
    }

    /// Reads a list of descriptors.
    pub(crate) fn read_list(items: &[Value]) -> CtapResult<Vec<Self>> {
        items.iter().map(Self::from_value).collect()
    }

    /// Writes a list of descriptors.
    pub(crate) fn write_list(list: &[Self]) -> Value {
        Value::Array(list.iter().map(Self::to_value).collect())
    }
}

/// PublicKeyCredentialParameters: a credential type and COSE algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubKeyCredParam {
    /// The credential type ("public-key").
    pub kind: String,
    /// The COSE algorithm identifier.
    pub alg: i64,
}

impl PubKeyCredParam {
    /// A "public-key" entry for `alg`.
    pub fn public_key(alg: i64) -> Self {
        Self {
            kind: "public-key".to_owned(),
            alg,
        }
    }

    /// The entry as a CBOR map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .put("alg", cbor::int(self.alg))
            .put("type", text(&self.kind))
            .build()
    }

    /// Reads an entry (type and alg required).
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let kind = cbor::as_text(f.required("type")?)?.to_owned();
        let alg = as_i64(f.required("alg")?)?;
        Ok(Self { kind, alg })
    }
}

/// The options of makeCredential and getAssertion; absent means "not sent".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Resident key (discoverable credential).
    pub rk: Option<bool>,
    /// User presence.
    pub up: Option<bool>,
    /// Built-in user verification.
    pub uv: Option<bool>,
}

impl RequestOptions {
    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.rk.is_none() && self.up.is_none() && self.uv.is_none()
    }

    /// The options as a CBOR map (only those set).
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .opt("rk", self.rk.map(Value::Bool))
            .opt("up", self.up.map(Value::Bool))
            .opt("uv", self.uv.map(Value::Bool))
            .build()
    }

    /// Reads an options map: every key text and every value a boolean; unknown keys ignored.
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let mut options = Self::default();
        for (k, v) in f.entries() {
            let key = cbor::as_text(k)?;
            let flag = cbor::as_bool(v)?;
            match key {
                "rk" => options.rk = Some(flag),
                "up" => options.up = Some(flag),
                "uv" => options.uv = Some(flag),
                _ => {}
            }
        }
        Ok(options)
    }

    /// Reads an optional options member.
    pub(crate) fn read(value: Option<&Value>) -> CtapResult<Self> {
        value.map_or(Ok(Self::default()), Self::from_value)
    }

    /// Writes the options member, absent when no option is set.
    pub(crate) fn write(&self) -> Option<Value> {
        (!self.is_empty()).then(|| self.to_value())
    }
}

/// An extensions map (inputs in a request, outputs in authenticator data): extension
/// identifier to its CBOR value, in wire order. Non-text keys are skipped when reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions(pub Vec<(String, Value)>);

impl Extensions {
    /// The value of extension `id`, if present.
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.0.iter().find_map(|(k, v)| (k == id).then_some(v))
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map as CBOR.
    pub fn to_value(&self) -> Value {
        Value::Map(
            self.0
                .iter()
                .map(|(k, v)| (Value::Text(k.clone()), v.clone()))
                .collect(),
        )
    }

    /// Reads an extensions map.
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self(
            f.entries()
                .iter()
                .filter_map(|(k, v)| match k {
                    Value::Text(t) => Some((t.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
        ))
    }
}

/// A P-256 key-agreement public key as a COSE_Key (CTAP 2.1 §6.5.6 getPublicKey):
/// `{1: 2 (EC2), 3: -25 (ECDH-ES+HKDF-256), -1: 1 (P-256), -2: x, -3: y}`.
///
/// Reading is lenient (only the map type is checked) because a bad key is the command's
/// business at a step of its own (decapsulate: `CTAP1_ERR_INVALID_PARAMETER`); see
/// [`CoseEcdhKey::coordinates`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoseEcdhKey {
    /// Key type (2, EC2), if present as an integer.
    pub kty: Option<i64>,
    /// Algorithm (-25), if present as an integer.
    pub alg: Option<i64>,
    /// Curve (1, P-256), if present as an integer.
    pub crv: Option<i64>,
    /// The x coordinate (empty when absent or not a byte string).
    pub x: Vec<u8>,
    /// The y coordinate (empty when absent or not a byte string).
    pub y: Vec<u8>,
}

impl CoseEcdhKey {
    /// COSE algorithm ECDH-ES + HKDF-256, the value CTAP puts in key-agreement keys.
    pub const ALG_ECDH_ES_HKDF_256: i64 = -25;

    /// A key-agreement key with these coordinates.
    pub fn new(x: [u8; 32], y: [u8; 32]) -> Self {
        Self {
            kty: Some(2),
            alg: Some(Self::ALG_ECDH_ES_HKDF_256),
            crv: Some(1),
            x: x.to_vec(),
            y: y.to_vec(),
        }
    }

    /// The coordinates of a well-formed EC2 P-256 key; `CTAP1_ERR_INVALID_PARAMETER` otherwise
    /// (whether the point is on the curve is checked by whoever uses it).
    pub fn coordinates(&self) -> CtapResult<([u8; 32], [u8; 32])> {
        if self.kty != Some(2) || self.crv != Some(1) {
            return Err(StatusCode::InvalidParameter);
        }
        let x: [u8; 32] = self
            .x
            .as_slice()
            .try_into()
            .map_err(|_| StatusCode::InvalidParameter)?;
        let y: [u8; 32] = self
            .y
            .as_slice()
            .try_into()
            .map_err(|_| StatusCode::InvalidParameter)?;
        Ok((x, y))
    }

    /// The key as a COSE_Key map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(1, self.kty.map(cbor::int))
            .opt(3, self.alg.map(cbor::int))
            .opt(-1, self.crv.map(cbor::int))
            .put(-2, bytes(&self.x))
            .put(-3, bytes(&self.y))
            .build()
    }

    /// Reads a COSE_Key map leniently (see the type's documentation).
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let int = |k: i64| f.get(k).and_then(|v| as_i64(v).ok());
        let coordinate = |k: i64| {
            f.get(k)
                .and_then(|v| cbor::as_bytes(v).ok())
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        };
        Ok(Self {
            kty: int(1),
            alg: int(3),
            crv: int(-1),
            x: coordinate(-2),
            y: coordinate(-3),
        })
    }
}

/// Reads an optional array of text strings.
pub(crate) fn read_texts(value: Option<&[Value]>) -> CtapResult<Option<Vec<String>>> {
    value.map(read_text_array).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_descriptors_and_params_round_trip() {
        let rp = RpEntity {
            id: "example.com".into(),
            name: Some("Example".into()),
            icon: None,
        };
        assert_eq!(RpEntity::from_value(&rp.to_value()), Ok(rp));
        let user = UserEntity {
            id: vec![1; 64],
            name: Some("alice".into()),
            display_name: Some("Alice".into()),
        };
        assert_eq!(UserEntity::from_value(&user.to_value()), Ok(user));
        let long = UserEntity {
            id: vec![1; 65],
            ..UserEntity::default()
        };
        assert_eq!(
            UserEntity::from_value(&long.to_value()),
            Err(StatusCode::InvalidLength)
        );
        let mut d = CredentialDescriptor::public_key(&[9; 16]);
        d.transports = Some(vec!["usb".into(), "nfc".into()]);
        assert_eq!(CredentialDescriptor::from_value(&d.to_value()), Ok(d));
        let p = PubKeyCredParam::public_key(-8);
        assert_eq!(PubKeyCredParam::from_value(&p.to_value()), Ok(p));
    }

    #[test]
    fn missing_and_mistyped_members_get_their_status() {
        let no_id = cbor::text_map(vec![("type", text("public-key"))]);
        assert_eq!(
            CredentialDescriptor::from_value(&no_id),
            Err(StatusCode::MissingParameter)
        );
        let text_id = cbor::text_map(vec![("id", text("x")), ("type", text("public-key"))]);
        assert_eq!(
            CredentialDescriptor::from_value(&text_id),
            Err(StatusCode::CborUnexpectedType)
        );
        assert_eq!(
            RequestOptions::from_value(&cbor::text_map(vec![("up", cbor::int(1))])),
            Err(StatusCode::CborUnexpectedType)
        );
        assert_eq!(
            RequestOptions::from_value(&cbor::int_map(vec![(1, Value::Bool(true))])),
            Err(StatusCode::CborUnexpectedType)
        );
        let options = RequestOptions::from_value(&cbor::text_map(vec![
            ("rk", Value::Bool(true)),
            ("future", Value::Bool(false)),
        ]))
        .unwrap();
        assert_eq!(options.rk, Some(true));
        assert_eq!(options.up, None);
    }

    #[test]
    fn key_agreement_keys_round_trip_and_check_their_shape() {
        let key = CoseEcdhKey::new([1; 32], [2; 32]);
        let back = CoseEcdhKey::from_value(&key.to_value()).unwrap();
        assert_eq!(back, key);
        assert_eq!(back.coordinates(), Ok(([1; 32], [2; 32])));
        let mut bad = key.clone();
        bad.crv = Some(2);
        assert_eq!(bad.coordinates(), Err(StatusCode::InvalidParameter));
        let mut short = key;
        short.x.pop();
        assert_eq!(short.coordinates(), Err(StatusCode::InvalidParameter));
        assert_eq!(
            CoseEcdhKey::from_value(&cbor::int(3)),
            Err(StatusCode::CborUnexpectedType)
        );
        // The encoding is the canonical one platforms send: {1:2, 3:-25, -1:1, -2:x, -3:y}.
        let encoded = cbor::encode(&CoseEcdhKey::new([0; 32], [0; 32]).to_value());
        assert_eq!(
            &encoded[..9],
            &[0xA5, 0x01, 0x02, 0x03, 0x38, 0x18, 0x20, 0x01, 0x21]
        );
    }
}
