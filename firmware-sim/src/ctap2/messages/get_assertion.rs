//! authenticatorGetAssertion (0x02) request, and the response it shares with
//! authenticatorGetNextAssertion (0x08) (CTAP 2.1 §6.2, §6.3).

use ciborium::value::Value;

use super::common::{CredentialDescriptor, Extensions, RequestOptions};
use super::make_credential::read_client_data_hash;
use super::{Fields, MapWriter, Message, bytes, redacted_len, text, uint};
use crate::cbor;
use crate::credential::UserEntity;
use crate::status::CtapResult;

/// Request member keys.
mod key {
    pub const RP_ID: i64 = 0x01;
    pub const CLIENT_DATA_HASH: i64 = 0x02;
    pub const ALLOW_LIST: i64 = 0x03;
    pub const EXTENSIONS: i64 = 0x04;
    pub const OPTIONS: i64 = 0x05;
    pub const PIN_UV_AUTH_PARAM: i64 = 0x06;
    pub const PIN_UV_AUTH_PROTOCOL: i64 = 0x07;
}

/// Response member keys.
mod resp {
    pub const CREDENTIAL: i64 = 0x01;
    pub const AUTH_DATA: i64 = 0x02;
    pub const SIGNATURE: i64 = 0x03;
    pub const USER: i64 = 0x04;
    pub const NUMBER_OF_CREDENTIALS: i64 = 0x05;
    pub const USER_SELECTED: i64 = 0x06;
    pub const LARGE_BLOB_KEY: i64 = 0x07;
}

/// authenticatorGetAssertion parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GetAssertionRequest {
    /// 0x01: the relying party identifier.
    pub rp_id: String,
    /// 0x02: hash of the serialized client data (32 bytes).
    pub client_data_hash: Vec<u8>,
    /// 0x03: acceptable credentials; absent or empty asks for discoverable ones.
    pub allow_list: Option<Vec<CredentialDescriptor>>,
    /// 0x04: extension inputs.
    pub extensions: Option<Extensions>,
    /// 0x05: options (up, uv; rk is not allowed here).
    pub options: RequestOptions,
    /// 0x06: authenticate(pinUvAuthToken, clientDataHash).
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x07: the PIN/UV auth protocol of the parameter.
    pub pin_uv_auth_protocol: Option<u64>,
}

impl GetAssertionRequest {
    /// A request with the required members and nothing else.
    pub fn new(rp_id: &str, client_data_hash: &[u8]) -> Self {
        Self {
            rp_id: rp_id.to_owned(),
            client_data_hash: client_data_hash.to_vec(),
            allow_list: None,
            extensions: None,
            options: RequestOptions::default(),
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
        }
    }
}

impl Message for GetAssertionRequest {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .put(key::RP_ID, text(&self.rp_id))
            .put(key::CLIENT_DATA_HASH, bytes(&self.client_data_hash))
            .opt(
                key::ALLOW_LIST,
                self.allow_list
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
            .build()
    }

    /// Members are read in key order, so the first malformed one decides the status.
    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        let rp_id = cbor::as_text(f.required(key::RP_ID)?)?.to_owned();
        let client_data_hash = read_client_data_hash(&f, key::CLIENT_DATA_HASH)?;
        let allow_list = f
            .array(key::ALLOW_LIST)?
            .map(CredentialDescriptor::read_list)
            .transpose()?;
        let extensions = f
            .get(key::EXTENSIONS)
            .map(Extensions::from_value)
            .transpose()?;
        let options = RequestOptions::read(f.get(key::OPTIONS))?;
        Ok(Self {
            rp_id,
            client_data_hash,
            allow_list,
            extensions,
            options,
            pin_uv_auth_param: f.bytes(key::PIN_UV_AUTH_PARAM)?,
            pin_uv_auth_protocol: f.uint(key::PIN_UV_AUTH_PROTOCOL)?,
        })
    }
}

/// An assertion: the authenticatorGetAssertion and authenticatorGetNextAssertion response.
#[derive(Clone, PartialEq)]
pub struct GetAssertionResponse {
    /// 0x01: the credential that signed.
    pub credential: CredentialDescriptor,
    /// 0x02: authenticator data (see [`crate::ctap2::AuthenticatorData`]).
    pub auth_data: Vec<u8>,
    /// 0x03: signature over authData || clientDataHash.
    pub signature: Vec<u8>,
    /// 0x04: the user of a discoverable credential (names only after user verification with
    /// several accounts).
    pub user: Option<UserEntity>,
    /// 0x05: how many credentials match (first assertion of a discoverable lookup only).
    pub number_of_credentials: Option<u64>,
    /// 0x06: whether the user chose the credential on the authenticator.
    pub user_selected: Option<bool>,
    /// 0x07: the credential's largeBlobKey (a secret).
    pub large_blob_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for GetAssertionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetAssertionResponse")
            .field("credential", &self.credential)
            .field("auth_data_len", &self.auth_data.len())
            .field("signature_len", &self.signature.len())
            .field("user", &self.user)
            .field("number_of_credentials", &self.number_of_credentials)
            .field("user_selected", &self.user_selected)
            .field("large_blob_key", &redacted_len(&self.large_blob_key))
            .finish()
    }
}

impl Message for GetAssertionResponse {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .put(resp::CREDENTIAL, self.credential.to_value())
            .put(resp::AUTH_DATA, bytes(&self.auth_data))
            .put(resp::SIGNATURE, bytes(&self.signature))
            .opt(resp::USER, self.user.as_ref().map(UserEntity::to_value))
            .opt(
                resp::NUMBER_OF_CREDENTIALS,
                self.number_of_credentials.map(uint),
            )
            .opt(resp::USER_SELECTED, self.user_selected.map(Value::Bool))
            .opt(
                resp::LARGE_BLOB_KEY,
                self.large_blob_key.as_deref().map(bytes),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            credential: CredentialDescriptor::from_value(f.required(resp::CREDENTIAL)?)?,
            auth_data: cbor::as_bytes(f.required(resp::AUTH_DATA)?)?.to_vec(),
            signature: cbor::as_bytes(f.required(resp::SIGNATURE)?)?.to_vec(),
            user: f.get(resp::USER).map(UserEntity::from_value).transpose()?,
            number_of_credentials: f.uint(resp::NUMBER_OF_CREDENTIALS)?,
            user_selected: f.bool(resp::USER_SELECTED)?,
            large_blob_key: f.bytes(resp::LARGE_BLOB_KEY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::StatusCode;

    #[test]
    fn request_and_response_round_trip() {
        let mut r = GetAssertionRequest::new("example.com", &[5; 32]);
        r.allow_list = Some(vec![CredentialDescriptor::public_key(&[1; 40])]);
        r.options.up = Some(false);
        r.pin_uv_auth_param = Some(vec![1; 16]);
        r.pin_uv_auth_protocol = Some(1);
        assert_eq!(GetAssertionRequest::from_cbor(&r.to_cbor()), Ok(r));

        let a = GetAssertionResponse {
            credential: CredentialDescriptor::public_key(&[2; 32]),
            auth_data: vec![0; 37],
            signature: vec![3; 70],
            user: Some(UserEntity {
                id: vec![4; 8],
                name: None,
                display_name: None,
            }),
            number_of_credentials: Some(2),
            user_selected: None,
            large_blob_key: None,
        };
        assert_eq!(GetAssertionResponse::from_cbor(&a.to_cbor()), Ok(a));
    }

    #[test]
    fn the_rp_id_and_client_data_hash_are_required() {
        let r = GetAssertionRequest::new("example.com", &[5; 31]);
        assert_eq!(
            GetAssertionRequest::from_value(&r.to_value()),
            Err(StatusCode::InvalidLength)
        );
        let only_rp = cbor::int_map(vec![(1, text("example.com"))]);
        assert_eq!(
            GetAssertionRequest::from_value(&only_rp),
            Err(StatusCode::MissingParameter)
        );
        let rp_bytes = cbor::int_map(vec![(1, bytes(b"x")), (2, bytes(&[0; 32]))]);
        assert_eq!(
            GetAssertionRequest::from_value(&rp_bytes),
            Err(StatusCode::CborUnexpectedType)
        );
    }
}
