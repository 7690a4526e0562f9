//! authenticatorMakeCredential (0x01): register a new credential.

use ciborium::value::Value;

use super::auth_data::{AttestedCredentialData, AuthenticatorData, backup_flags, flags};
use super::lookup::{find_listed, stored_infos};
use super::messages::permission;
use super::messages::{
    CredentialDescriptor, Extensions, MakeCredentialRequest, MakeCredentialResponse, Message,
};
use super::pin_uv::{self, Verification};
use super::{Authenticator, Continuation, Step, Wait, response, rp_id_hash};
use crate::attestation::{self, AttestationMode};
use crate::credential::id;
use crate::credential::user::truncate_utf8;
use crate::credential::{Algorithm, PrivateKey, UserEntity, counter};
use crate::env::{Env, PresencePurpose, WriteBatch};
use crate::extensions::{self, McContext, Operation, Requested, ResponseMembers};
use crate::persist::record::{CredentialExtras, RESIDENT_ID_LEN, ResidentCredential};
use crate::persist::{self, NS_COUNTERS, NS_RESIDENT, counter_key};
use crate::pin::state::PinState;
use crate::status::{CtapResult, StatusCode};

/// Stored user names are cut to this many bytes (CTAP 2.1 allows truncation to 64).
const MAX_NAME_LEN: usize = 64;

/// A validated request waiting for the user.
#[derive(Debug)]
pub(crate) struct Plan {
    rp_id: String,
    rp_hash: [u8; 32],
    client_data_hash: Vec<u8>,
    user: UserEntity,
    alg: Algorithm,
    resident: bool,
    verification: Verification,
    extensions: Vec<Requested>,
    enterprise: bool,
}

impl Plan {
    /// Whether built-in user verification was requested.
    pub(crate) fn uv(&self) -> bool {
        self.verification.built_in
    }
}

/// Validates the request (CTAP 2.1 §6.1.2 steps 1–12) and asks for the user, or finishes at
/// once when a pinUvAuthToken remembers the user as present.
pub(crate) fn begin(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    params: &[u8],
) -> CtapResult<Step> {
    let req = MakeCredentialRequest::from_cbor(params)?;
    let param = req.pin_uv_auth_param.as_deref();

    // Step 1: the zero-length pinUvAuthParam probe.
    if let Some(wait) = pin_uv::probe(auth, param, &req.rp.id) {
        return Ok(Step::Wait(wait));
    }
    // Step 2: the pinUvAuthProtocol.
    let protocol = pin_uv::param_protocol(auth, param, req.pin_uv_auth_protocol)?;

    // Step 3: the first supported algorithm in the caller's order.
    let alg = req
        .pub_key_cred_params
        .iter()
        .filter(|p| p.kind == "public-key")
        .find_map(|p| Algorithm::from_cose_id(i128::from(p.alg)))
        .ok_or(StatusCode::UnsupportedAlgorithm)?;

    let (resident, uv, protection) = options(auth, env, &req)?;
    // Step 9: enterprise attestation, when the key can and it was enabled.
    let enterprise = match req.enterprise_attestation {
        None => false,
        Some(_) if !(auth.caps.enterprise_attestation && protection.enterprise_attestation) => {
            return Err(StatusCode::InvalidParameter);
        }
        // Vendor-facilitated: only for RP IDs built into the key, and there are none.
        Some(1) => false,
        // Platform-managed: the platform vouches for the RP.
        Some(2) => true,
        Some(_) => return Err(StatusCode::InvalidOption),
    };
    let requested = auth.check_extensions(
        env,
        Operation::MakeCredential { resident },
        req.extensions.as_ref(),
        true,
    )?;

    let rp_id = req.rp.id;
    // Step 11: user verification, by the token or built in.
    let verification = pin_uv::verify(
        auth,
        env,
        &protection,
        &pin_uv::Request {
            param: param.zip(protocol),
            uv,
            client_data_hash: &req.client_data_hash,
            permission: permission::MC,
            rp_id: &rp_id,
        },
    )?;

    let rp_hash = rp_id_hash(&rp_id);
    // Step 12: the exclude list.
    let listed = req.exclude_list.as_deref().unwrap_or_default();
    if let Some(step) = exclude_step(auth, env, listed, &rp_id, &rp_hash, &verification)? {
        return Ok(step);
    }

    let user = UserEntity {
        id: req.user.id,
        name: req.user.name.map(|s| truncate_utf8(&s, MAX_NAME_LEN)),
        display_name: req
            .user
            .display_name
            .map(|s| truncate_utf8(&s, MAX_NAME_LEN)),
    };
    let plan = Plan {
        rp_id: rp_id.clone(),
        rp_hash,
        client_data_hash: req.client_data_hash,
        user,
        alg,
        resident,
        verification,
        extensions: requested,
        enterprise,
    };
    // Steps 13–14: user presence (with built-in verification when asked), unless the token
    // remembers the user as present.
    if verification.cached_presence {
        return Ok(Step::Reply(response(finish(auth, env, plan).map(Some))));
    }
    Ok(Step::Wait(Wait {
        purpose: PresencePurpose::MakeCredential,
        rp_id: Some(rp_id),
        uv: verification.built_in,
        cont: Continuation::MakeCredential(Box::new(plan)),
    }))
}

/// Step 12: when the exclude list names a credential of ours that the request may see, the touch
/// that ends the request with `CTAP2_ERR_CREDENTIAL_EXCLUDED` (it only paces probing of the
/// list; a remembered touch needs none).
fn exclude_step(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    list: &[CredentialDescriptor],
    rp_id: &str,
    rp_hash: &[u8; 32],
    verification: &Verification,
) -> CtapResult<Option<Step>> {
    let Some(needs_uv) = excluded(auth, env, list, rp_id, rp_hash, verification)? else {
        return Ok(None);
    };
    if verification.cached_presence {
        return Err(StatusCode::CredentialExcluded);
    }
    Ok(Some(Step::Wait(Wait {
        purpose: PresencePurpose::ExcludedCredential,
        rp_id: Some(rp_id.to_owned()),
        // A credential that needs user verification excludes only once built-in UV succeeds
        // (a failure is a failed UV attempt, not an answer about the list).
        uv: needs_uv,
        cont: Continuation::Excluded,
    })))
}

/// Whether the exclude list names a credential of ours for this relying party that the request
/// may see (credProtect: a level-3 credential only with user verification, else it is skipped
/// silently); `Some(needs_uv)` when it does, `needs_uv` when that verification is built-in UV
/// still to be done.
fn excluded(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    list: &[CredentialDescriptor],
    rp_id: &str,
    rp_hash: &[u8; 32],
    verification: &Verification,
) -> CtapResult<Option<bool>> {
    for descriptor in list.iter().filter(|d| d.is_public_key()) {
        let Some(found) = find_listed(auth, env, &descriptor.id, rp_id, rp_hash)? else {
            continue;
        };
        if !extensions::usable(&auth.extensions, &found.extras, false, true) {
            if !extensions::usable(&auth.extensions, &found.extras, verification.uv(), true) {
                continue;
            }
            return Ok(Some(verification.built_in));
        }
        return Ok(Some(false));
    }
    Ok(None)
}

/// Steps 5–8 and 10: the options (a pinUvAuthParam takes precedence over "uv"), alwaysUv, and
/// whether user verification may be missing. Returns (rk, uv, the key's protection).
fn options(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    req: &MakeCredentialRequest,
) -> CtapResult<(bool, bool, pin_uv::Protection)> {
    let param = req.pin_uv_auth_param.as_deref();
    let options = req.options;
    let resident = options.rk.unwrap_or(false);
    let uv = options.uv.unwrap_or(false) && param.is_none();
    if uv && !auth.caps.user_verification {
        return Err(StatusCode::InvalidOption);
    }
    if resident && !auth.caps.resident_keys {
        return Err(StatusCode::UnsupportedOption);
    }
    if options.up == Some(false) {
        return Err(StatusCode::InvalidOption);
    }
    let protection = pin_uv::protection(auth, env)?;
    // Step 6: alwaysUv.
    let uv = pin_uv::always_uv(auth, &protection, param, uv)?;
    // Steps 7, 8 and 10: a key protected by user verification makes discoverable credentials
    // only with it, and non-discoverable ones without it only while makeCredUvNotRqd holds
    // (not under alwaysUv). The answer sends the platform to a PIN when one is set.
    let uv_not_required = !protection.always_uv;
    if protection.protected && !uv && param.is_none() && (resident || !uv_not_required) {
        return Err(if protection.pin_set {
            StatusCode::PuatRequired
        } else {
            StatusCode::OperationDenied
        });
    }
    Ok((resident, uv, protection))
}

/// Creates, stores and attests the credential once the user approved.
pub(crate) fn finish(auth: &mut Authenticator, env: &mut Env<'_>, plan: Plan) -> CtapResult<Value> {
    // Step 14.4: presence was collected; the token is used up.
    pin_uv::consume_token(auth);
    if plan.verification.built_in {
        pin_uv::uv_succeeded(auth, env)?;
    }
    // minPinLength reads the persisted configuration.
    let pin_state = if plan.extensions.is_empty() || !auth.caps.pin_uv_auth_token {
        None
    } else {
        Some(auth.pin_state(env)?.clone())
    };
    auth.load(env)?;
    let key = PrivateKey::generate(plan.alg, env.rng)?;
    let mode = auth.config.counter_mode;
    // Step 15: extensions, which may add to what the credential stores.
    let ExtensionResults {
        mut extras,
        outputs,
        members,
    } = run_extensions(auth, env, &plan, &key, pin_state.as_ref())?;
    // Backup eligibility and state are the key's, fixed for the credential's life.
    extras.backup_eligible = auth.config.backup_eligible;
    extras.backup_state = auth.config.backup_eligible && auth.config.backup_state;
    let mut batch = WriteBatch::new();

    let backup = (extras.backup_eligible, extras.backup_state);
    let credential_id = if plan.resident {
        store_resident(auth, env, &plan, &key, extras, &mut batch)?
    } else {
        let persistent = auth.persistent.as_ref().ok_or(StatusCode::Other)?;
        let mut sealed_flags = 0;
        if extras.backup_eligible {
            sealed_flags |= id::FLAG_BACKUP_ELIGIBLE;
        }
        if extras.backup_state {
            sealed_flags |= id::FLAG_BACKUP_STATE;
        }
        let sealed = id::Sealed {
            flags: sealed_flags,
            cred_protect: extras.cred_protect,
            cred_blob: extras.cred_blob.as_deref(),
        };
        id::wrap(&persistent.wrap_key, env.rng, &plan.rp_hash, &key, sealed)?
    };
    let sign_count = counter::for_new_credential(env, &mut auth.counters, mode, &mut batch)?;
    // The credential (and the counter) are durable before the response exists.
    if !batch.is_empty() {
        persist::commit(env, &batch)?;
    }
    if plan.resident {
        // A credential-management enumeration does not know the new credential.
        auth.cred_mgmt = None;
    }

    let mut flag_bits = flags::UP | backup_flags(backup.0, backup.1);
    if plan.verification.uv() {
        flag_bits |= flags::UV;
    }
    let auth_data = AuthenticatorData {
        rp_id_hash: plan.rp_hash,
        flags: flag_bits,
        sign_count,
        attested: Some(AttestedCredentialData {
            aaguid: auth.config.aaguid,
            credential_id,
            public_key: key.cose_public_key()?,
        }),
        extensions: (!outputs.is_empty()).then_some(Extensions(outputs)),
    }
    .to_bytes();

    let persistent = auth.persistent.as_ref().ok_or(StatusCode::Other)?;
    // An enterprise attestation is the batch certificate's, whatever the key's usual mode.
    let att_mode = if plan.enterprise {
        AttestationMode::Batch
    } else {
        auth.config.attestation
    };
    let (fmt, att_stmt) = attestation::statement(
        att_mode,
        &persistent.pki,
        &key,
        &auth_data,
        &plan.client_data_hash,
    )
    .map_err(|_| StatusCode::Other)?;
    Ok(MakeCredentialResponse {
        fmt: fmt.to_owned(),
        auth_data,
        att_stmt,
        ep_att: plan.enterprise.then_some(true),
        large_blob_key: members.large_blob_key(),
    }
    .to_value())
}

/// Every supported extension on the new credential, then the requested ones: what the credential
/// stores, and the outputs for the authenticator data.
fn run_extensions(
    auth: &Authenticator,
    env: &mut Env<'_>,
    plan: &Plan,
    key: &PrivateKey,
    pin_state: Option<&PinState>,
) -> CtapResult<ExtensionResults> {
    let persistent = auth.persistent.as_ref().ok_or(StatusCode::Other)?;
    let mut extras = CredentialExtras::default();
    let mut outputs = Vec::new();
    let mut members = ResponseMembers::default();
    let mut ctx = McContext {
        rp_id: &plan.rp_id,
        resident: plan.resident,
        uv: plan.verification.uv(),
        key,
        cred_random: &persistent.cred_random,
        pin_state,
        extras: &mut extras,
        members: &mut members,
        rng: &mut *env.rng,
    };
    for extension in &auth.extensions {
        extension.new_credential(&mut ctx);
    }
    for r in &plan.extensions {
        if let Some(output) =
            r.extension
                .make_credential(&r.input, r.prepared.as_ref(), &mut ctx)?
        {
            outputs.push((r.extension.id().to_owned(), output));
        }
    }
    Ok(ExtensionResults {
        extras,
        outputs,
        members,
    })
}

/// What the extensions did to a new credential.
struct ExtensionResults {
    /// What the credential stores.
    extras: CredentialExtras,
    /// The authenticator-data outputs, by identifier.
    outputs: Vec<(String, Value)>,
    /// Response members outside the authenticator data.
    members: ResponseMembers,
}

/// Step 17: a discoverable credential, replacing the one of the same (rpId, user handle), in
/// `batch`; returns its new id (`CTAP2_ERR_KEY_STORE_FULL` when no slot is left).
fn store_resident(
    auth: &Authenticator,
    env: &mut Env<'_>,
    plan: &Plan,
    key: &PrivateKey,
    extras: CredentialExtras,
    batch: &mut WriteBatch,
) -> CtapResult<Vec<u8>> {
    let existing = stored_infos(env)?;
    let replaced = existing
        .iter()
        .find(|c| c.discoverable && c.rp_id == plan.rp_id && c.user_id == plan.user.id);
    let discoverable = existing.iter().filter(|c| c.discoverable).count();
    if replaced.is_none() && discoverable >= auth.config.max_resident_credentials {
        return Err(StatusCode::KeyStoreFull);
    }
    let mut new_id = vec![0u8; RESIDENT_ID_LEN];
    loop {
        env.rng.fill_bytes(&mut new_id);
        if !existing.iter().any(|c| c.id == new_id) {
            break;
        }
    }
    if let Some(old) = replaced {
        batch.delete(NS_RESIDENT, &old.id);
        batch.delete(NS_COUNTERS, &counter_key(&old.id));
    }
    let created = existing.iter().map(|c| c.created).max().unwrap_or(0) + 1;
    let record = ResidentCredential {
        id: new_id.clone(),
        rp_id: plan.rp_id.clone(),
        user: plan.user.clone(),
        key: key.clone(),
        created,
        discoverable: true,
        extras,
    };
    batch.put(NS_RESIDENT, &new_id, record.to_record());
    Ok(new_id)
}
