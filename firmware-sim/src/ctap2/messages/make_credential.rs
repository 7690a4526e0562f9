//! authenticatorMakeCredential (0x01) request and response (CTAP 2.1 §6.1).

use ciborium::value::Value;

use super::common::{CredentialDescriptor, Extensions, PubKeyCredParam, RequestOptions, RpEntity};
use super::{Fields, MapWriter, Message, bytes, redacted_len, text, uint};
use crate::cbor;
use crate::credential::UserEntity;
use crate::status::{CtapResult, StatusCode};

/// Request member keys.
mod key {
    pub const CLIENT_DATA_HASH: i64 = 0x01;
    pub const RP: i64 = 0x02;
    pub const USER: i64 = 0x03;
    pub const PUB_KEY_CRED_PARAMS: i64 = 0x04;
    pub const EXCLUDE_LIST: i64 = 0x05;
    pub const EXTENSIONS: i64 = 0x06;
    pub const OPTIONS: i64 = 0x07;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x08;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x09;
    pub const ENTERPRISE_ATTESTATION: i64 = 0x0A;
}

/// Response member keys.
mod resp {
    pub const FMT: i64 = 0x01;
    pub const AUTH_DATA: i64 = 0x02;
    pub const ATT_STMT: i64 = 0x03;
    pub const EP_ATT: i64 = 0x04;
    pub const LARGE_BLOB_KEY: i64 = 0x05;
}

/// The length of a clientDataHash (SHA-256).
pub(crate) const CLIENT_DATA_HASH_LEN: usize = 32;

/// Reads a clientDataHash: a byte string of exactly 32 bytes (`CTAP1_ERR_INVALID_LENGTH`).
pub(crate) fn read_client_data_hash(f: &Fields<'_>, key: i64) -> CtapResult<Vec<u8>> {
    let hash = cbor::as_bytes(f.required(key)?)?;
    if hash.len() != CLIENT_DATA_HASH_LEN {
        return Err(StatusCode::InvalidLength);
    }
    Ok(hash.to_vec())
}

/// authenticatorMakeCredential parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MakeCredentialRequest {
    /// 0x01: hash of the serialized client data (32 bytes).
    pub client_data_hash: Vec<u8>,
    /// 0x02: the relying party.
    pub rp: RpEntity,
    /// 0x03: the user account.
    pub user: UserEntity,
    /// 0x04: acceptable credential types and algorithms, most preferred first.
    pub pub_key_cred_params: Vec<PubKeyCredParam>,
    /// 0x05: credentials the user must not register again.
    pub exclude_list: Option<Vec<CredentialDescriptor>>,
    /// 0x06: extension inputs.
    pub extensions: Option<Extensions>,
    /// 0x07: options (rk, up, uv).
    pub options: RequestOptions,
    /// 0x08: authenticate(pinUvAuthToken, clientDataHash).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x09: the PIN/UV auth protocol of the parameter.
    pub pin_uv_auth_protocol: Option<u64>,
    /// 0x0A: enterprise attestation requested (1 vendor-facilitated, 2 platform-managed).
    pub enterprise_attestation: Option<u64>,
}

impl MakeCredentialRequest {
    /// A request with the required members and nothing else.
    pub fn new(
        client_data_hash: &[u8],
        rp: RpEntity,
        user: UserEntity,
        pub_key_cred_params: Vec<PubKeyCredParam>,
    ) -> Self {
        Self {
            client_data_hash: client_data_hash.to_vec(),
            rp,
            user,
            pub_key_cred_params,
            exclude_list: None,
            extensions: None,
            options: RequestOptions::default(),
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
            enterprise_attestation: None,
        }
    }
}

impl Message for MakeCredentialRequest {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .put(key::CLIENT_DATA_HASH, bytes(&self.client_data_hash))
            .put(key::RP, self.rp.to_value())
            .put(key::USER, self.user.to_value())
            .put(
                key::PUB_KEY_CRED_PARAMS,
                Value::Array(
                    self.pub_key_cred_params
                        .iter()
                        .map(PubKeyCredParam::to_value)
                        .collect(),
                ),
            )
            .opt(
                key::EXCLUDE_LIST,
                self.exclude_list
                    .as_deref()
                    .map(CredentialDescriptor::write_list),
            )
            .opt(
                key::EXTENSIONS,
                self.extensions.as_ref().map(Extensions::to_value),
            )
            .opt(key::OPTIONS, self.options.write())
            .opt(
                key::PIN_UV_AUTH_PARAM,
                self.pin_uv_auth_param.as_deref().map(bytes),
            )
            .opt(
                key::PIN_UV_AUTH_PROTOCOL,
                self.pin_uv_auth_protocol.map(uint),
            )
            .opt(
                key::ENTERPRISE_ATTESTATION,
                self.enterprise_attestation.map(uint),
            )
            .build()
    }

    /// Members are read in key order, so the first malformed one decides the status.
    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let client_data_hash = read_client_data_hash(&f, key::CLIENT_DATA_HASH)?;
        let rp = RpEntity::from_value(f.required(key::RP)?)?;
        let user = UserEntity::from_value(f.required(key::USER)?)?;
        let params = cbor::as_array(f.required(key::PUB_KEY_CRED_PARAMS)?)?;
        let pub_key_cred_params = params
            .iter()
            .map(PubKeyCredParam::from_value)
            .collect::<CtapResult<_>>()?;
        let exclude_list = f
            .array(key::EXCLUDE_LIST)?
            .map(CredentialDescriptor::read_list)
            .transpose()?;
        let extensions = f
            .get(key::EXTENSIONS)
            .map(Extensions::from_value)
            .transpose()?;
        let options = RequestOptions::read(f.get(key::OPTIONS))?;
        Ok(Self {
            client_data_hash,
            rp,
            user,
            pub_key_cred_params,
            exclude_list,
            extensions,
            options,
            pin_uv_auth_param: f.bytes(key::PIN_UV_AUTH_PARAM)?,
            pin_uv_auth_protocol: f.uint(key::PIN_UV_AUTH_PROTOCOL)?,
            enterprise_attestation: f.uint(key::ENTERPRISE_ATTESTATION)?,
        })
    }
}

/// authenticatorMakeCredential response: the attestation object's members.
#[derive(Clone, PartialEq)]
pub struct MakeCredentialResponse {
    /// 0x01: attestation statement format identifier.
    pub fmt: String,
    /// 0x02: authenticator data (see [`crate::ctap2::AuthenticatorData`]).
    pub auth_data: Vec<u8>,
    /// 0x03: the attestation statement.
    pub att_stmt: Value,
    /// 0x04: whether an enterprise attestation was returned.
    pub ep_att: Option<bool>,
    /// 0x05: the credential's largeBlobKey (a secret).
    pub large_blob_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for MakeCredentialResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeCredentialResponse")
            .field("fmt", &self.fmt)
            .field("auth_data_len", &self.auth_data.len())
            .field("att_stmt", &self.att_stmt)
            .field("ep_att", &self.ep_att)
            .field("large_blob_key", &redacted_len(&self.large_blob_key))
            .finish()
    }
}

impl Message for MakeCredentialResponse {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .put(resp::FMT, text(&self.fmt))
            .put(resp::AUTH_DATA, bytes(&self.auth_data))
            .put(resp::ATT_STMT, self.att_stmt.clone())
            .opt(resp::EP_ATT, self.ep_att.map(Value::Bool))
            .opt(
                resp::LARGE_BLOB_KEY,
                self.large_blob_key.as_deref().map(bytes),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let fmt = cbor::as_text(f.required(resp::FMT)?)?.to_owned();
        let auth_data = cbor::as_bytes(f.required(resp::AUTH_DATA)?)?.to_vec();
        let att_stmt = f.required(resp::ATT_STMT)?.clone();
        Fields::new(&att_stmt)?;
        Ok(Self {
            fmt,
            auth_data,
            att_stmt,
            ep_att: f.bool(resp::EP_ATT)?,
            large_blob_key: f.bytes(resp::LARGE_BLOB_KEY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> MakeCredentialRequest {
        let mut r = MakeCredentialRequest::new(
            &[7; 32],
            RpEntity {
                id: "example.com".into(),
                name: Some("Example".into()),
                icon: None,
            },
            UserEntity {
                id: b"user".to_vec(),
                name: Some("alice".into()),
                display_name: None,
            },
            vec![PubKeyCredParam::public_key(-7)],
        );
        r.exclude_list = Some(vec![CredentialDescriptor::public_key(&[1; 32])]);
        r.extensions = Some(Extensions(vec![("credProtect".into(), cbor::int(2))]));
        r.options.rk = Some(true);
        r.pin_uv_auth_param = Some(vec![3; 32]);
        r.pin_uv_auth_protocol = Some(2);
        r
    }

    #[test]
    fn request_round_trips_through_canonical_cbor() {
        let r = request();
        let bytes = r.to_cbor();
        assert_eq!(MakeCredentialRequest::from_cbor(&bytes), Ok(r.clone()));
        // Absent members stay absent.
        let plain = MakeCredentialRequest::new(&[1; 32], r.rp, r.user, r.pub_key_cred_params);
        let back = MakeCredentialRequest::from_cbor(&plain.to_cbor()).unwrap();
        assert_eq!(back.exclude_list, None);
        assert!(back.options.is_empty());
    }

    #[test]
    fn malformed_requests_get_their_status() {
        let r = request();
        let mut short = r.clone();
        short.client_data_hash.pop();
        assert_eq!(
            MakeCredentialRequest::from_value(&short.to_value()),
            Err(StatusCode::InvalidLength)
        );
        let mut value = r.to_value();
        if let Value::Map(entries) = &mut value {
            entries.retain(|(k, _)| *k != cbor::int(key::RP));
        }
        assert_eq!(
            MakeCredentialRequest::from_value(&value),
            Err(StatusCode::MissingParameter)
        );
        assert_eq!(
            MakeCredentialRequest::from_value(&Value::Array(vec![])),
            Err(StatusCode::CborUnexpectedType)
        );
        assert_eq!(
            MakeCredentialRequest::from_cbor(&[0xA1, 0x02, 0x00, 0x01]),
            Err(StatusCode::InvalidCbor)
        );
    }

    #[test]
    fn response_round_trips_and_debug_hides_the_large_blob_key() {
        let r = MakeCredentialResponse {
            fmt: "none".into(),
            auth_data: vec![0; 37],
            att_stmt: Value::Map(vec![]),
            ep_att: None,
            large_blob_key: Some(vec![0xAB; 32]),
        };
        assert_eq!(
            MakeCredentialResponse::from_cbor(&r.to_cbor()),
            Ok(r.clone())
        );
        let shown = format!("{r:?}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains("32 bytes redacted"));
    }
}
