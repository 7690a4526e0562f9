//! authenticatorCredentialManagement (0x0A, prototype 0x41) request and response
//! (CTAP 2.1 §6.8).

use ciborium::value::Value;

use super::common::{CredentialDescriptor, RpEntity};
use super::{Fields, MapWriter, Message, bytes, redacted_len, uint};
use crate::credential::UserEntity;
use crate::status::CtapResult;

/// subCommandParams member keys.
mod param {
    pub const RP_ID_HASH: i64 = 0x01;
    pub const CREDENTIAL_ID: i64 = 0x02;
    pub const USER: i64 = 0x03;
}

/// Response member keys.
mod resp {
    pub const EXISTING_RESIDENT_CREDENTIALS_COUNT: i64 = 0x01;
    pub const MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT: i64 = 0x02;
    pub const RP: i64 = 0x03;
    pub const RP_ID_HASH: i64 = 0x04;
    pub const TOTAL_RPS: i64 = 0x05;
    pub const USER: i64 = 0x06;
    pub const CREDENTIAL_ID: i64 = 0x07;
    pub const PUBLIC_KEY: i64 = 0x08;
    pub const TOTAL_CREDENTIALS: i64 = 0x09;
    pub const CRED_PROTECT: i64 = 0x0A;
    pub const LARGE_BLOB_KEY: i64 = 0x0B;
}

/// authenticatorCredentialManagement subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CredentialManagementSubCommand {
    /// 0x01: how many discoverable credentials exist and fit.
    GetCredsMetadata = 0x01,
    /// 0x02: the first relying party with discoverable credentials.
    EnumerateRpsBegin = 0x02,
    /// 0x03: the next relying party.
    EnumerateRpsGetNextRp = 0x03,
    /// 0x04: the first credential of a relying party.
    EnumerateCredentialsBegin = 0x04,
    /// 0x05: the next credential.
    EnumerateCredentialsGetNextCredential = 0x05,
    /// 0x06: delete a credential.
    DeleteCredential = 0x06,
    /// 0x07: replace a credential's user information.
    UpdateUserInformation = 0x07,
}

impl CredentialManagementSubCommand {
    /// The subcommand with this number, if defined.
    pub fn from_u64(n: u64) -> Option<Self> {
        use CredentialManagementSubCommand::*;
        Some(match n {
            0x01 => GetCredsMetadata,
            0x02 => EnumerateRpsBegin,
            0x03 => EnumerateRpsGetNextRp,
            0x04 => EnumerateCredentialsBegin,
            0x05 => EnumerateCredentialsGetNextCredential,
            0x06 => DeleteCredential,
            0x07 => UpdateUserInformation,
            _ => return None,
        })
    }
}

/// authenticatorCredentialManagement parameters; pinUvAuthParam is
/// authenticate(pinUvAuthToken, subCommand || subCommandParams) and
/// [`CredentialManagementParams`] reads and writes subCommandParams.
pub type CredentialManagementRequest = super::sub_command::SubCommandRequest;

/// The subCommandParams of credential management.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialManagementParams {
    /// 0x01: SHA-256 of the relying party id (enumerateCredentialsBegin).
    pub rp_id_hash: Option<Vec<u8>>,
    /// 0x02: the credential (deleteCredential, updateUserInformation).
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x03: the new user information (updateUserInformation).
    pub user: Option<UserEntity>,
}

impl CredentialManagementParams {
    /// The parameters as a CBOR map.
    pub fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(param::RP_ID_HASH, self.rp_id_hash.as_deref().map(bytes))
            .opt(
                param::CREDENTIAL_ID,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_value),
            )
            .opt(param::USER, self.user.as_ref().map(UserEntity::to_value))
            .build()
    }

    /// Reads the parameters.
    pub fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            rp_id_hash: f.bytes(param::RP_ID_HASH)?,
            credential_id: f
                .get(param::CREDENTIAL_ID)
                .map(CredentialDescriptor::from_value)
                .transpose()?,
            user: f.get(param::USER).map(UserEntity::from_value).transpose()?,
        })
    }
}

/// authenticatorCredentialManagement response (the members of the subcommand answered).
#[derive(Clone, Default, PartialEq)]
pub struct CredentialManagementResponse {
    /// 0x01: discoverable credentials stored.
    pub existing_resident_credentials_count: Option<u64>,
    /// 0x02: discoverable credentials that still fit.
    pub max_possible_remaining_resident_credentials_count: Option<u64>,
    /// 0x03: a relying party.
    pub rp: Option<RpEntity>,
    /// 0x04: SHA-256 of its id.
    pub rp_id_hash: Option<Vec<u8>>,
    /// 0x05: how many relying parties have discoverable credentials.
    pub total_rps: Option<u64>,
    /// 0x06: a credential's user.
    pub user: Option<UserEntity>,
    /// 0x07: a credential.
    pub credential_id: Option<CredentialDescriptor>,
    /// 0x08: its public key (COSE_Key).
    pub public_key: Option<Value>,
    /// 0x09: how many credentials the relying party has.
    pub total_credentials: Option<u64>,
    /// 0x0A: the credential's credProtect level.
    pub cred_protect: Option<u64>,
    /// 0x0B: the credential's largeBlobKey (a secret).
    pub large_blob_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for CredentialManagementResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialManagementResponse")
            .field(
                "existing_resident_credentials_count",
                &self.existing_resident_credentials_count,
            )
            .field(
                "max_possible_remaining_resident_credentials_count",
                &self.max_possible_remaining_resident_credentials_count,
            )
            .field("rp", &self.rp)
            .field("total_rps", &self.total_rps)
            .field("user", &self.user)
            .field("credential_id", &self.credential_id)
            .field("total_credentials", &self.total_credentials)
            .field("cred_protect", &self.cred_protect)
            .field("large_blob_key", &redacted_len(&self.large_blob_key))
            .finish_non_exhaustive()
    }
}

impl Message for CredentialManagementResponse {
    fn to_value(&self) -> Value {
        MapWriter::new()
            .opt(
                resp::EXISTING_RESIDENT_CREDENTIALS_COUNT,
                self.existing_resident_credentials_count.map(uint),
            )
            .opt(
                resp::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT,
                self.max_possible_remaining_resident_credentials_count
                    .map(uint),
            )
            .opt(resp::RP, self.rp.as_ref().map(RpEntity::to_value))
            .opt(resp::RP_ID_HASH, self.rp_id_hash.as_deref().map(bytes))
            .opt(resp::TOTAL_RPS, self.total_rps.map(uint))
            .opt(resp::USER, self.user.as_ref().map(UserEntity::to_value))
            .opt(
                resp::CREDENTIAL_ID,
                self.credential_id
                    .as_ref()
                    .map(CredentialDescriptor::to_value),
            )
            .opt(resp::PUBLIC_KEY, self.public_key.clone())
            .opt(resp::TOTAL_CREDENTIALS, self.total_credentials.map(uint))
            .opt(resp::CRED_PROTECT, self.cred_protect.map(uint))
            .opt(
                resp::LARGE_BLOB_KEY,
                self.large_blob_key.as_deref().map(bytes),
            )
            .build()
    }

    fn from_value(value: &Value) -> CtapResult<Self> {
        let f = Fields::new(value)?;
        Ok(Self {
            existing_resident_credentials_count: f
                .uint(resp::EXISTING_RESIDENT_CREDENTIALS_COUNT)?,
            max_possible_remaining_resident_credentials_count: f
                .uint(resp::MAX_POSSIBLE_REMAINING_RESIDENT_CREDENTIALS_COUNT)?,
            rp: f.get(resp::RP).map(RpEntity::from_value).transpose()?,
            rp_id_hash: f.bytes(resp::RP_ID_HASH)?,
            total_rps: f.uint(resp::TOTAL_RPS)?,
            user: f.get(resp::USER).map(UserEntity::from_value).transpose()?,
            credential_id: f
                .get(resp::CREDENTIAL_ID)
                .map(CredentialDescriptor::from_value)
                .transpose()?,
            public_key: f
                .get(resp::PUBLIC_KEY)
                .map(|v| Fields::new(v).map(|_| v.clone()))
                .transpose()?,
            total_credentials: f.uint(resp::TOTAL_CREDENTIALS)?,
            cred_protect: f.uint(resp::CRED_PROTECT)?,
            large_blob_key: f.bytes(resp::LARGE_BLOB_KEY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor;

    #[test]
    fn requests_params_and_responses_round_trip() {
        let params = CredentialManagementParams {
            rp_id_hash: Some(vec![1; 32]),
            credential_id: Some(CredentialDescriptor::public_key(&[2; 32])),
            user: None,
        };
        let r = CredentialManagementRequest {
            sub_command: CredentialManagementSubCommand::DeleteCredential as u64,
            sub_command_params: Some(params.to_value()),
            pin_uv_auth_protocol: Some(2),
            pin_uv_auth_param: Some(vec![3; 32]),
        };
        let back = CredentialManagementRequest::from_cbor(&r.to_cbor()).unwrap();
        assert_eq!(
            CredentialManagementParams::from_value(back.sub_command_params.as_ref().unwrap()),
            Ok(params)
        );
        let resp = CredentialManagementResponse {
            rp: Some(RpEntity {
                id: "example.com".into(),
                name: None,
                icon: None,
            }),
            rp_id_hash: Some(vec![4; 32]),
            total_rps: Some(1),
            public_key: Some(cbor::int_map(vec![(1, cbor::int(2))])),
            ..CredentialManagementResponse::default()
        };
        assert_eq!(
            CredentialManagementResponse::from_cbor(&resp.to_cbor()),
            Ok(resp)
        );
    }
}
