//! Finding stored and sealed credentials for a request: the allow/exclude list lookup, the
//! discoverable credentials of a relying party, and counts over the store.

use super::{Authenticator, MAX_CREDENTIAL_ID_LEN};
use crate::credential::id;
use crate::credential::{PrivateKey, UserEntity};
use crate::env::Env;
use crate::persist::record::{
    CredentialExtras, RecordInfo, ResidentCredential, record_is_discoverable, with_record,
};
use crate::persist::{self, NS_RESIDENT};
use crate::status::CtapResult;

/// A credential the token can sign with.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub id: Vec<u8>,
    pub key: PrivateKey,
    /// The user entity of a resident credential.
    pub user: Option<UserEntity>,
    /// Extension and backup data (of a sealed id: its credProtect level and credBlob only).
    pub extras: CredentialExtras,
}

/// Finds the credential a listed id denotes for this relying party, if it is one of ours: a
/// stored credential (discoverable or not, any id length) or a sealed non-resident id.
pub(crate) fn find_listed(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    id: &[u8],
    rp_id: &str,
    rp_hash: &[u8; 32],
) -> CtapResult<Option<Candidate>> {
    if id.is_empty() || id.len() > MAX_CREDENTIAL_ID_LEN {
        return Ok(None);
    }
    if let Some(bytes) = persist::get(env, NS_RESIDENT, id)? {
        let rc = ResidentCredential::from_record(id, &bytes)?;
        if rc.rp_id == rp_id {
            return Ok(Some(Candidate::from_stored(rc)));
        }
        // Another relying party's stored credential; a sealed id cannot be that.
        return Ok(None);
    }
    let persistent = auth.load(env)?;
    Ok(
        id::unwrap(&persistent.wrap_key, id, rp_hash).map(|u| Candidate {
            id: id.to_vec(),
            key: u.key,
            user: None,
            extras: CredentialExtras {
                cred_protect: u.cred_protect,
                cred_blob: u.cred_blob,
                ..CredentialExtras::default()
            },
        }),
    )
}

impl Candidate {
    /// A stored credential as a signing candidate; the user entity goes with it when there is
    /// one (always for discoverable credentials).
    pub(crate) fn from_stored(rc: ResidentCredential) -> Self {
        let user = (rc.discoverable || !rc.user.id.is_empty()).then_some(rc.user);
        Candidate {
            id: rc.id,
            key: rc.key,
            user,
            extras: rc.extras,
        }
    }
}

/// Every stored credential's record, without deriving keys.
pub(crate) fn stored_infos(env: &mut Env<'_>) -> CtapResult<Vec<RecordInfo>> {
    let mut infos = Vec::new();
    let mut damaged = None;
    persist::for_each(env, NS_RESIDENT, &mut |k, v| {
        if damaged.is_none() {
            match RecordInfo::from_record(k, v) {
                Ok(info) => infos.push(info),
                Err(e) => damaged = Some(e),
            }
        }
    })?;
    damaged.map_or(Ok(infos), Err)
}

/// How many stored credentials are discoverable (reads only each record's flag).
pub(crate) fn discoverable_count(env: &mut Env<'_>) -> CtapResult<usize> {
    let mut count = 0;
    let mut damaged = None;
    persist::for_each(env, NS_RESIDENT, &mut |_, v| {
        if damaged.is_none() {
            match record_is_discoverable(v) {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => damaged = Some(e),
            }
        }
    })?;
    damaged.map_or(Ok(count), Err)
}

/// The discoverable credentials of one relying party, most recently created first.
///
/// Every record is opened and checked (as far as [`RecordInfo::from_record`] checks), but a
/// key is built only for this relying party's credentials.
pub(crate) fn discoverable_for(
    env: &mut Env<'_>,
    rp_id: &str,
) -> CtapResult<Vec<ResidentCredential>> {
    let mut mine = Vec::new();
    let mut damaged = None;
    persist::for_each(env, NS_RESIDENT, &mut |k, v| {
        if damaged.is_some() {
            return;
        }
        let found = with_record(v, |r| {
            r.check_key()?;
            if r.discoverable && r.rp_id == rp_id {
                r.to_credential(k).map(Some)
            } else {
                Ok(None)
            }
        });
        match found.and_then(|f| f) {
            Ok(Some(c)) => mine.push(c),
            Ok(None) => {}
            Err(e) => damaged = Some(e),
        }
    })?;
    if let Some(e) = damaged {
        return Err(e);
    }
    mine.sort_by_key(|c| std::cmp::Reverse(c.created));
    Ok(mine)
}
