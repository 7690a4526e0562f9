//! authenticatorCredentialManagement (0x0A, CTAP 2.1 §6.8) and its CTAP 2.1 prototype (0x41,
//! "credentialMgmtPreview", answered the same way): the discoverable credentials listed by
//! relying party, deleted, and their user information updated, each authorised by a
//! pinUvAuthToken with the cm permission.
//!
//! Only discoverable credentials are managed: imported non-discoverable ones are neither
//! counted, listed, deleted nor updated here (the control API manages those).
//!
//! The enumerations keep their place between a Begin and its GetNext subcommands on the channel
//! that began them. Any other command on that channel, any other credential-management
//! subcommand, a change to the stored credentials and a power cycle end them; a GetNext without
//! a running enumeration of its kind is `CTAP2_ERR_NOT_ALLOWED`.

use std::collections::{BTreeSet, VecDeque};

use ciborium::value::Value;
use sha2::{Digest, Sha256};

use super::Authenticator;
use super::lookup::stored_infos;
use super::messages::{
    CredentialDescriptor, CredentialManagementParams, CredentialManagementRequest,
    CredentialManagementResponse, CredentialManagementSubCommand as Sub, Message, RpEntity,
    permission,
};
use super::pin_uv;
use crate::cbor;
use crate::credential::user::truncate_utf8;
use crate::env::{Env, WriteBatch};
use crate::persist::record::ResidentCredential;
use crate::persist::{self, NS_COUNTERS, NS_RESIDENT, counter_key};
use crate::status::{CtapResult, StatusCode};

/// Stored user names are cut to this many bytes, as makeCredential does.
const MAX_NAME_LEN: usize = 64;

/// An enumeration in progress: what the next GetNext subcommand returns.
#[derive(Debug)]
pub(crate) struct Enumeration {
    /// The channel that began it; GetNext on another channel is not allowed.
    pub cid: u32,
    remaining: Remaining,
}

/// The items an enumeration has yet to return.
#[derive(Debug)]
enum Remaining {
    /// Relying party ids, in the order they are returned.
    Rps(VecDeque<String>),
    /// Credential ids of one relying party, oldest first.
    Credentials(VecDeque<Vec<u8>>),
}

/// Which credentials a pinUvAuthToken's permissions RP ID lets a subcommand touch.
enum RpScope<'a> {
    /// Every relying party: only a token without a permissions RP ID (metadata, RP listing).
    All,
    /// The relying party with this RP ID hash (enumerateCredentialsBegin).
    Hash(&'a [u8]),
    /// The relying party with this id (deleteCredential, updateUserInformation).
    Id(&'a str),
}

/// Processes one authenticatorCredentialManagement request from channel `cid`.
pub(crate) fn process(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    params: &[u8],
) -> CtapResult<Option<Value>> {
    let req = CredentialManagementRequest::from_cbor(params)?;
    let sub = Sub::from_u64(req.sub_command).ok_or(StatusCode::InvalidSubcommand)?;
    let params = req
        .sub_command_params
        .as_ref()
        .map(CredentialManagementParams::from_value)
        .transpose()?;
    // Whatever this well-formed request is, an enumeration continues only through its GetNext.
    let running = auth.cred_mgmt.take();
    let response = match sub {
        Sub::GetCredsMetadata => metadata(auth, env, &req)?,
        Sub::EnumerateRpsBegin => rps_begin(auth, env, cid, &req)?,
        Sub::EnumerateRpsGetNextRp => next_rp(auth, cid, running)?,
        Sub::EnumerateCredentialsBegin => {
            let hash = params
                .and_then(|p| p.rp_id_hash)
                .ok_or(StatusCode::MissingParameter)?;
            credentials_begin(auth, env, cid, &req, &hash)?
        }
        Sub::EnumerateCredentialsGetNextCredential => next_credential(auth, env, cid, running)?,
        Sub::DeleteCredential => {
            let id = params
                .and_then(|p| p.credential_id)
                .ok_or(StatusCode::MissingParameter)?;
            delete(auth, env, &req, &id.id)?;
            return Ok(None);
        }
        Sub::UpdateUserInformation => {
            let (id, user) = params
                .and_then(|p| p.credential_id.zip(p.user))
                .ok_or(StatusCode::MissingParameter)?;
            update_user(auth, env, &req, &id.id, user)?;
            return Ok(None);
        }
    };
    Ok(Some(response.to_value()))
}

/// The common steps of the subcommands that carry a pinUvAuthParam: it is required
/// (`CTAP2_ERR_PUAT_REQUIRED`), its protocol supported, and it must be authenticate(token,
/// subCommand || subCommandParams) by a token with the cm permission
/// (`CTAP2_ERR_PIN_AUTH_INVALID` otherwise). Returns the token's permissions RP ID.
fn authorise(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &CredentialManagementRequest,
) -> CtapResult<Option<String>> {
    let param = req
        .pin_uv_auth_param
        .as_deref()
        .ok_or(StatusCode::PuatRequired)?;
    // Subcommands are single bytes (the caller matched a known one).
    let mut message = vec![req.sub_command as u8];
    if let Some(p) = &req.sub_command_params {
        // Requests are canonical, so this is the encoding the platform authenticated.
        message.extend_from_slice(&cbor::encode(p));
    }
    pin_uv::verify_command_token(
        auth,
        env,
        req.pin_uv_auth_protocol,
        param,
        &message,
        permission::CM,
    )?;
    Ok(auth.pin.token.rp_id().map(str::to_owned))
}

/// A token with a permissions RP ID may only touch that relying party's credentials
/// (`CTAP2_ERR_PIN_AUTH_INVALID` otherwise); one without may touch any.
fn check_scope(bound: Option<&str>, scope: RpScope<'_>) -> CtapResult<()> {
    let in_scope = match (bound, scope) {
        (None, _) => true,
        (Some(_), RpScope::All) => false,
        (Some(bound), RpScope::Hash(hash)) => Sha256::digest(bound.as_bytes()).as_slice() == hash,
        (Some(bound), RpScope::Id(rp_id)) => bound == rp_id,
    };
    if in_scope {
        Ok(())
    } else {
        Err(StatusCode::PinAuthInvalid)
    }
}

/// getCredsMetadata: how many discoverable credentials exist and how many more fit.
fn metadata(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &CredentialManagementRequest,
) -> CtapResult<CredentialManagementResponse> {
    let bound = authorise(auth, env, req)?;
    check_scope(bound.as_deref(), RpScope::All)?;
    let existing = auth.discoverable_count(env)?;
    let max = auth.caps.max_resident_credentials;
    Ok(CredentialManagementResponse {
        existing_resident_credentials_count: Some(existing as u64),
        max_possible_remaining_resident_credentials_count: Some(max.saturating_sub(existing) as u64),
        ..CredentialManagementResponse::default()
    })
}

/// One relying party of an enumeration.
fn rp_response(rp_id: String) -> CredentialManagementResponse {
    CredentialManagementResponse {
        rp_id_hash: Some(Sha256::digest(rp_id.as_bytes()).to_vec()),
        // Only the id is stored with a credential (the RP's name is not).
        rp: Some(RpEntity {
            id: rp_id,
            name: None,
            icon: None,
        }),
        ..CredentialManagementResponse::default()
    }
}

/// enumerateRPsBegin: the first relying party with discoverable credentials (in RP id order)
/// and how many there are.
fn rps_begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    req: &CredentialManagementRequest,
) -> CtapResult<CredentialManagementResponse> {
    let bound = authorise(auth, env, req)?;
    check_scope(bound.as_deref(), RpScope::All)?;
    let rps: BTreeSet<String> = stored_infos(env)?
        .into_iter()
        .filter(|c| c.discoverable)
        .map(|c| c.rp_id)
        .collect();
    let total = rps.len();
    let mut rps: VecDeque<String> = rps.into_iter().collect();
    let first = rps.pop_front().ok_or(StatusCode::NoCredentials)?;
    if !rps.is_empty() {
        auth.cred_mgmt = Some(Enumeration {
            cid,
            remaining: Remaining::Rps(rps),
        });
    }
    let mut response = rp_response(first);
    response.total_rps = Some(total as u64);
    Ok(response)
}

/// The running enumeration if `cid` began it and `kind` says it is the right one; it stays
/// running for the other channel when that one began it.
fn continue_enumeration(
    auth: &mut Authenticator,
    cid: u32,
    running: Option<Enumeration>,
    kind: fn(&Remaining) -> bool,
) -> CtapResult<Enumeration> {
    match running {
        Some(e) if e.cid == cid && kind(&e.remaining) => Ok(e),
        Some(e) if e.cid != cid => {
            // Another channel's enumeration: leave it alone.
            auth.cred_mgmt = Some(e);
            Err(StatusCode::NotAllowed)
        }
        _ => Err(StatusCode::NotAllowed),
    }
}

/// enumerateRPsGetNextRP.
fn next_rp(
    auth: &mut Authenticator,
    cid: u32,
    running: Option<Enumeration>,
) -> CtapResult<CredentialManagementResponse> {
    let mut e = continue_enumeration(auth, cid, running, |r| matches!(r, Remaining::Rps(_)))?;
    let Remaining::Rps(rps) = &mut e.remaining else {
        return Err(StatusCode::NotAllowed);
    };
    let rp_id = rps.pop_front().ok_or(StatusCode::NotAllowed)?;
    if !rps.is_empty() {
        auth.cred_mgmt = Some(e);
    }
    Ok(rp_response(rp_id))
}

/// One credential of an enumeration: its user (names included: the platform holds a cm
/// token), id, public key, credProtect level (1 when none was asked) and largeBlobKey.
fn credential_response(rc: &ResidentCredential) -> CtapResult<CredentialManagementResponse> {
    Ok(CredentialManagementResponse {
        user: Some(rc.user.clone()),
        credential_id: Some(CredentialDescriptor::public_key(&rc.id)),
        public_key: Some(rc.key.cose_public_key()?),
        cred_protect: Some(u64::from(rc.extras.cred_protect.unwrap_or(1))),
        large_blob_key: rc.extras.large_blob_key.as_ref().map(|k| k.to_vec()),
        ..CredentialManagementResponse::default()
    })
}

/// enumerateCredentialsBegin: the first (oldest) discoverable credential of the relying party
/// with this RP ID hash, and how many it has.
fn credentials_begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    req: &CredentialManagementRequest,
    rp_id_hash: &[u8],
) -> CtapResult<CredentialManagementResponse> {
    let bound = authorise(auth, env, req)?;
    check_scope(bound.as_deref(), RpScope::Hash(rp_id_hash))?;
    let mut mine: Vec<_> = stored_infos(env)?
        .into_iter()
        .filter(|c| c.discoverable && Sha256::digest(c.rp_id.as_bytes()).as_slice() == rp_id_hash)
        .collect();
    mine.sort_by_key(|c| c.created);
    let total = mine.len();
    let mut ids: VecDeque<Vec<u8>> = mine.into_iter().map(|c| c.id).collect();
    let first = ids.pop_front().ok_or(StatusCode::NoCredentials)?;
    let rc = stored(env, &first)?.ok_or(StatusCode::NoCredentials)?;
    let mut response = credential_response(&rc)?;
    response.total_credentials = Some(total as u64);
    if !ids.is_empty() {
        auth.cred_mgmt = Some(Enumeration {
            cid,
            remaining: Remaining::Credentials(ids),
        });
    }
    Ok(response)
}

/// enumerateCredentialsGetNextCredential.
fn next_credential(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    running: Option<Enumeration>,
) -> CtapResult<CredentialManagementResponse> {
    let mut e = continue_enumeration(auth, cid, running, |r| {
        matches!(r, Remaining::Credentials(_))
    })?;
    let Remaining::Credentials(ids) = &mut e.remaining else {
        return Err(StatusCode::NotAllowed);
    };
    let id = ids.pop_front().ok_or(StatusCode::NotAllowed)?;
    // The enumeration ends whenever the stored credentials change, so the id is still there.
    let rc = stored(env, &id)?.ok_or(StatusCode::NotAllowed)?;
    if !ids.is_empty() {
        auth.cred_mgmt = Some(e);
    }
    credential_response(&rc)
}

/// The discoverable credential stored under `id`, if any.
fn stored(env: &mut Env<'_>, id: &[u8]) -> CtapResult<Option<ResidentCredential>> {
    let Some(bytes) = persist::get(env, NS_RESIDENT, id)? else {
        return Ok(None);
    };
    let rc = ResidentCredential::from_record(id, &bytes)?;
    Ok(rc.discoverable.then_some(rc))
}

/// The discoverable credential a deleteCredential or updateUserInformation names, once the
/// request is authorised for its relying party (`CTAP2_ERR_NO_CREDENTIALS` when there is none).
/// The token is checked first: an unauthorised platform learns nothing about which credentials
/// exist.
fn authorised_credential(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &CredentialManagementRequest,
    id: &[u8],
) -> CtapResult<ResidentCredential> {
    let bound = authorise(auth, env, req)?;
    let rc = stored(env, id)?.ok_or(StatusCode::NoCredentials)?;
    check_scope(bound.as_deref(), RpScope::Id(&rc.rp_id))?;
    Ok(rc)
}

/// deleteCredential: the credential and its counter are gone (committed) before the answer.
fn delete(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &CredentialManagementRequest,
    id: &[u8],
) -> CtapResult<()> {
    let rc = authorised_credential(auth, env, req, id)?;
    let mut batch = WriteBatch::new();
    batch.delete(NS_RESIDENT, &rc.id);
    batch.delete(NS_COUNTERS, &counter_key(&rc.id));
    persist::commit(env, &batch)?;
    auth.credentials_changed();
    Ok(())
}

/// updateUserInformation: the credential's name and displayName become the given ones (an
/// absent or empty one is removed); the user handle must be the stored one
/// (`CTAP1_ERR_INVALID_PARAMETER`), and nothing else changes.
fn update_user(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &CredentialManagementRequest,
    id: &[u8],
    user: crate::credential::UserEntity,
) -> CtapResult<()> {
    let mut rc = authorised_credential(auth, env, req, id)?;
    if user.id != rc.user.id {
        return Err(StatusCode::InvalidParameter);
    }
    let keep = |s: Option<String>| {
        s.filter(|s| !s.is_empty())
            .map(|s| truncate_utf8(&s, MAX_NAME_LEN))
    };
    rc.user.name = keep(user.name);
    rc.user.display_name = keep(user.display_name);
    let mut batch = WriteBatch::new();
    batch.put(NS_RESIDENT, &rc.id, rc.to_record());
    persist::commit(env, &batch)?;
    auth.credentials_changed();
    Ok(())
}
