//! Authenticators: add, list, get, remove (WebDriver's Add/Remove Virtual Authenticator), and
//! each key's switches: user verification, the presence policy and its waiting requests, power
//! cycles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::error::{ApiError, ApiResult, json_response, ok, parse_body};
use super::types::{
    DecideBody, Decided, KeyInfo, KeyState, ListeningInfo, NewKey, PendingInfo, PresenceInfo,
    SetPresence, SetUv,
};
use crate::daemon::Daemon;
use crate::daemon::keys::{KeySpec, ProtocolName, StartError, VirtualKey};
use crate::daemon::presence::{Decision, PresencePolicy};
use crate::daemon::registry::{FailedKey, Slot};

type St = State<Arc<Daemon>>;

/// A running key as the API shows it.
pub(super) fn key_info(k: &VirtualKey) -> KeyInfo {
    let mut info = spec_info(&k.spec, k.presence.policy(), k.presence.user_verified());
    info.listening = ListeningInfo {
        uhid: k.listening.uhid.clone(),
        hid_socket: k.listening.hid_socket.clone(),
        hid_udp: k.listening.hid_udp,
    };
    info
}

/// A stored key that did not start, as the API shows it.
pub(super) fn failed_info(f: &FailedKey) -> KeyInfo {
    let mut info = spec_info(&f.spec, f.spec.presence, f.spec.is_user_verified);
    info.state = KeyState::Failed;
    info.failure_reason = Some(f.reason.clone());
    info
}

/// Any listed key (running or failed).
fn slot_info(slot: &Slot) -> Option<KeyInfo> {
    match slot {
        Slot::Running(k) => Some(key_info(k)),
        Slot::Failed(f) => Some(failed_info(f)),
        Slot::Starting => None,
    }
}

fn spec_info(spec: &KeySpec, presence: PresencePolicy, user_verified: bool) -> KeyInfo {
    KeyInfo {
        authenticator_id: spec.name.clone(),
        name: spec.name.clone(),
        protocol: spec.protocol,
        transport: "usb".to_owned(),
        has_resident_key: spec.has_resident_key,
        has_user_verification: spec.has_user_verification,
        is_user_verified: user_verified,
        is_user_consenting: presence != PresencePolicy::Deny,
        presence,
        attestation: spec.attestation,
        counter_mode: spec.counter_mode,
        aaguid: spec.aaguid.clone(),
        max_resident_credentials: spec.max_resident_credentials,
        uhid: spec.uhid,
        hid_socket: spec.hid_socket.clone(),
        hid_udp: spec.hid_udp,
        product_name: spec.product_name.clone(),
        extensions: spec
            .capabilities()
            .extensions
            .iter()
            .map(|e| (*e).to_owned())
            .collect(),
        listening: ListeningInfo::default(),
        state: KeyState::Running,
        failure_reason: None,
    }
}

/// The 404 for an unknown key.
pub(super) fn no_key(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no authenticator {id:?} (GET /webauthn/authenticator lists them)"
    ))
}

/// The running key `id`, or the error that says why there is none: 404 for an unknown name,
/// 503 for a key that failed to start (with its reason) or is still starting.
pub(super) fn running_key(d: &Daemon, id: &str) -> Result<Arc<VirtualKey>, ApiError> {
    match d.keys.get(id) {
        Some(Slot::Running(k)) => Ok(k),
        Some(Slot::Failed(f)) => Err(ApiError::unavailable(format!(
            "authenticator {id:?} did not start: {} (DELETE it to erase it)",
            f.reason
        ))),
        Some(Slot::Starting) => Err(ApiError::unavailable(format!(
            "authenticator {id:?} is starting; ask again shortly"
        ))),
        None => Err(no_key(id)),
    }
}

pub(super) async fn list_keys(State(d): St) -> ApiResult {
    let keys = d.keys.all();
    Ok(ok(&keys.iter().filter_map(slot_info).collect::<Vec<_>>()))
}

pub(super) async fn get_key(State(d): St, Path(id): Path<String>) -> ApiResult {
    let slot = d.keys.get(&id).ok_or_else(|| no_key(&id))?;
    slot_info(&slot).map(|i| ok(&i)).ok_or_else(|| {
        ApiError::unavailable(format!(
            "authenticator {id:?} is starting; ask again shortly"
        ))
    })
}

fn spec_from(d: &Daemon, n: NewKey) -> Result<KeySpec, ApiError> {
    let name = match n.name {
        Some(name) => name,
        None => {
            let mut r = [0u8; 4];
            getrandom::fill(&mut r).map_err(|e| ApiError::internal(e.to_string()))?;
            format!("key-{}", hex::encode(r))
        }
    };
    let mut spec = KeySpec::with_defaults(&name);
    if let Some(t) = n.transport
        && t != "usb"
    {
        return Err(ApiError::bad(format!(
            "transport {t:?}: authsim keys are USB HID devices; use \"usb\""
        )));
    }
    if n.default_backup_eligibility == Some(true) || n.default_backup_state == Some(true) {
        return Err(ApiError::bad(
            "backup eligibility/state: a security key's credentials are device-bound; pass false",
        ));
    }
    if let Some(p) = n.protocol {
        spec.protocol = p;
    }
    if let Some(v) = n.has_resident_key {
        spec.has_resident_key = v;
    }
    if let Some(v) = n.has_user_verification {
        spec.has_user_verification = v;
    }
    if let Some(v) = n.is_user_verified {
        spec.is_user_verified = v;
    }
    spec.presence = match (n.presence, n.is_user_consenting) {
        (Some(PresencePolicy::Deny), Some(true))
        | (Some(PresencePolicy::Auto | PresencePolicy::Manual), Some(false)) => {
            return Err(ApiError::bad(
                "presence and isUserConsenting disagree; give one of them",
            ));
        }
        (Some(p), _) => p,
        (None, Some(false)) => PresencePolicy::Deny,
        (None, _) => PresencePolicy::Auto,
    };
    if let Some(a) = n.attestation {
        spec.attestation = a;
    }
    if let Some(c) = n.counter_mode {
        spec.counter_mode = c;
    }
    if let Some(a) = n.aaguid {
        spec.aaguid = a;
    }
    if let Some(m) = n.max_resident_credentials {
        spec.max_resident_credentials = m;
    }
    if let Some(p) = n.product_name {
        spec.product_name = p;
    }
    spec.hid_socket = n.hid_socket;
    spec.hid_udp = n.hid_udp;
    spec.uhid = match n.uhid {
        Some(true) if !d.uhid_available => {
            return Err(ApiError::unavailable(format!(
                "/dev/uhid is not usable by the daemon ({}); ask for hidSocket or hidUdp instead",
                d.uhid_problem.as_deref().unwrap_or("unknown reason")
            )));
        }
        Some(v) => v,
        None => spec.hid_socket.is_none() && spec.hid_udp.is_none() && d.uhid_available,
    };
    if !spec.uhid && spec.hid_socket.is_none() && spec.hid_udp.is_none() {
        spec.hid_socket = Some(d.run_dir.join(format!("hid-{}.sock", spec.name)));
    }
    spec.validate().map_err(|e| ApiError::bad(e.0))?;
    // WebDriver lists the extensions a virtual authenticator is to support. A key supports every
    // extension of its protocol level and features (largeBlobKey needs discoverable credentials,
    // so this comes after them), so a list naming only those is accepted (the key's
    // `extensions` in the answer says what it supports); anything else is refused.
    let caps = spec.capabilities();
    if let Some(unknown) = n
        .extensions
        .iter()
        .flatten()
        .find(|e| !caps.supports_extension(e))
    {
        return Err(ApiError::bad(format!(
            "extensions: {unknown:?} is not a CTAP extension this key supports ({}; CTAP \
             identifiers, as getInfo lists them)",
            if caps.extensions.is_empty() {
                "a key of this protocol supports none; pass []".to_owned()
            } else {
                format!("it supports {}", caps.extensions.join(", "))
            }
        )));
    }
    Ok(spec)
}

pub(super) async fn add_key(State(d): St, body: Bytes) -> ApiResult {
    let mut n: NewKey = parse_body(&body)?;
    let pin = n
        .pin
        .take()
        .map(|p| firmware_sim::SecretPin::new(p.as_str()));
    let spec = spec_from(&d, n)?;
    if let Some(pin) = &pin {
        if spec.protocol != ProtocolName::Ctap21 {
            return Err(ApiError::bad(
                "pin: only a ctap2_1 key has a PIN (clientPin); drop pin or use protocol ctap2_1",
            ));
        }
        firmware_sim::check_pin(pin.as_str()).map_err(|e| ApiError::bad(format!("pin: {e}")))?;
    }
    let name = spec.name.clone();
    if !d.keys.reserve(&name) {
        return Err(ApiError::conflict(format!(
            "an authenticator named {name:?} exists already (DELETE it first)"
        )));
    }
    let started = start_new_key(&d, spec, pin).await;
    match started {
        Ok(key) => {
            let key = d.keys.install(key);
            Ok(json_response(StatusCode::CREATED, &key_info(&key)))
        }
        Err(e) => {
            d.keys.release(&name);
            Err(e)
        }
    }
}

/// Starts a new key of a reserved name: any state left under that name (by a key that was
/// never removed) is erased first, so a new key starts empty; then its PIN, if any, is set.
async fn start_new_key(
    d: &Arc<Daemon>,
    spec: KeySpec,
    pin: Option<firmware_sim::SecretPin>,
) -> Result<VirtualKey, ApiError> {
    d.forget_key(&spec.name)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let key = d.start_key(spec, true).await.map_err(|e| match e {
        StartError::Spec(b) => ApiError::bad(b.0),
        StartError::Uhid(u) => ApiError::unavailable(u.to_string()),
        StartError::Transport(t) => ApiError::conflict(t.to_string()),
        other => ApiError::internal(other.to_string()),
    })?;
    if let Some(pin) = pin {
        let set = key
            .call(move |dev| {
                let (token, env) = dev.parts();
                token.set_pin(env, pin.as_str())
            })
            .await;
        if let Err(e) = set
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            // The key is not what was asked for: it does not stay.
            let name = key.spec.name.clone();
            key.stop().await;
            let _ = d.forget_key(&name).await;
            return Err(ApiError::internal(format!("setting the PIN failed: {e}")));
        }
    }
    Ok(key)
}

pub(super) async fn remove_key(State(d): St, Path(id): Path<String>) -> ApiResult {
    match d.keys.take(&id) {
        Some(Slot::Running(key)) => key.stop().await,
        // A failed key runs nothing; its spec and state are erased below.
        Some(Slot::Failed(_)) => {}
        Some(Slot::Starting) | None => {
            return Err(match d.keys.get(&id) {
                Some(Slot::Starting) => ApiError::conflict(format!(
                    "authenticator {id:?} is starting; try again shortly"
                )),
                _ => no_key(&id),
            });
        }
    }
    d.forget_key(&id)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn set_uv(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b: SetUv = parse_body(&body)?;
    let k = running_key(&d, &id)?;
    k.presence.set_user_verified(b.is_user_verified);
    Ok(ok(&key_info(&k)))
}

fn pending_info(k: &VirtualKey) -> Vec<PendingInfo> {
    k.presence
        .pending()
        .into_iter()
        .map(|p| PendingInfo {
            id: p.id,
            purpose: p.purpose.to_owned(),
            rp_id: p.rp_id,
            user_verification: p.user_verification,
            since: p.since,
        })
        .collect()
}

fn presence_info(k: &VirtualKey) -> PresenceInfo {
    PresenceInfo {
        policy: k.presence.policy(),
        pending: pending_info(k),
    }
}

pub(super) async fn get_presence(State(d): St, Path(id): Path<String>) -> ApiResult {
    let k = running_key(&d, &id)?;
    Ok(ok(&presence_info(&k)))
}

pub(super) async fn set_presence(State(d): St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let b: SetPresence = parse_body(&body)?;
    let k = running_key(&d, &id)?;
    k.presence.set_policy(b.policy);
    let _ = k.wake().await;
    Ok(ok(&presence_info(&k)))
}

pub(super) async fn list_requests(State(d): St, Path(id): Path<String>) -> ApiResult {
    let k = running_key(&d, &id)?;
    Ok(ok(&pending_info(&k)))
}

pub(super) async fn decide_request(
    State(d): St,
    Path((id, rid)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let b: DecideBody = parse_body(&body)?;
    let rid: u64 = rid
        .parse()
        .map_err(|_| ApiError::bad(format!("request id {rid:?} is not a number")))?;
    let k = running_key(&d, &id)?;
    let decision = match b.action.as_str() {
        "approve" => Decision::Approve {
            verified: b
                .user_verified
                .unwrap_or_else(|| k.presence.user_verified()),
        },
        "deny" => Decision::Deny,
        other => {
            return Err(ApiError::bad(format!(
                "action {other:?}: use \"approve\" or \"deny\""
            )));
        }
    };
    k.presence
        .decide(rid, decision)
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let _ = k.wake().await;
    Ok(ok(&Decided {
        id: rid,
        action: b.action,
    }))
}

pub(super) async fn power_cycle(State(d): St, Path(id): Path<String>) -> ApiResult {
    let k = running_key(&d, &id)?;
    k.power_cycle().await.map_err(ApiError::internal)?;
    Ok(ok(&key_info(&k)))
}
