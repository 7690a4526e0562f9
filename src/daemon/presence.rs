//! The "button" of a virtual key in the daemon: a presence policy the control API can change
//! while the key runs, and, in manual mode, the requests waiting for a person (or a test) to
//! approve or deny them over the API.
//!
//! The token polls [`SharedPresence`] on every tick while it waits (it sends keepalives
//! meanwhile and gives up after its 30-second timeout: CTAP2_ERR_OPERATION_DENIED for the
//! touch of a makeCredential or getAssertion, as CTAP 2.1 makeCredential step 14 and
//! getAssertion step 9 say, CTAP2_ERR_USER_ACTION_TIMEOUT for built-in user verification, reset
//! and selection); the API writes decisions into the same shared state and wakes the key's
//! thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use firmware_sim::env::{PresencePurpose, PresenceRequest, PresenceStatus, UserPresence};
use serde::{Deserialize, Serialize};

/// How requests for a touch are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PresencePolicy {
    /// Every request is approved at once (an always-touched key).
    Auto,
    /// Every request is refused at once (WebDriver's `isUserConsenting: false`).
    Deny,
    /// Requests wait until they are approved or denied over the control API.
    Manual,
}

/// A request waiting for a decision (manual mode), as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// The request id (unique per key while the daemon runs).
    pub id: u64,
    /// What the touch is for.
    pub purpose: &'static str,
    /// The relying party, when the request concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// Whether user verification was asked for too.
    pub user_verification: bool,
    /// When the wait started (Unix seconds).
    pub since: u64,
}

/// A decision for a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve (and, when asked, verify the user if `verified`).
    Approve {
        /// Whether built-in user verification succeeds.
        verified: bool,
    },
    /// Refuse.
    Deny,
}

#[derive(Debug)]
struct State {
    policy: PresencePolicy,
    user_verified: bool,
    pending: BTreeMap<u64, PendingRequest>,
    decisions: BTreeMap<u64, Decision>,
}

/// The presence state of one key, shared by its token thread and the control API.
#[derive(Debug, Clone)]
pub struct SharedPresence(Arc<Mutex<State>>);

/// Why a decision could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// No request with that id is waiting.
    #[error(
        "no presence request {0} is waiting (it may have been answered, cancelled or timed out)"
    )]
    NotPending(u64),
}

fn purpose_name(p: PresencePurpose) -> &'static str {
    match p {
        PresencePurpose::MakeCredential => "makeCredential",
        PresencePurpose::ExcludedCredential => "excludedCredential",
        PresencePurpose::GetAssertion => "getAssertion",
        PresencePurpose::Reset => "reset",
        PresencePurpose::Selection => "selection",
        PresencePurpose::UserVerification => "userVerification",
        PresencePurpose::U2fRegister => "u2fRegister",
        PresencePurpose::U2fAuthenticate => "u2fAuthenticate",
    }
}

impl SharedPresence {
    /// A presence state with `policy`; built-in user verification succeeds when `user_verified`.
    pub fn new(policy: PresencePolicy, user_verified: bool) -> SharedPresence {
        SharedPresence(Arc::new(Mutex::new(State {
            policy,
            user_verified,
            pending: BTreeMap::new(),
            decisions: BTreeMap::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The policy in force.
    pub fn policy(&self) -> PresencePolicy {
        self.lock().policy
    }

    /// Whether built-in user verification succeeds (WebDriver's `isUserVerified`).
    pub fn user_verified(&self) -> bool {
        self.lock().user_verified
    }

    /// Changes the policy; requests already waiting are decided by the new one (auto approves
    /// them, deny refuses them, manual leaves them waiting).
    pub fn set_policy(&self, policy: PresencePolicy) {
        self.lock().policy = policy;
    }

    /// Sets whether built-in user verification succeeds.
    pub fn set_user_verified(&self, verified: bool) {
        self.lock().user_verified = verified;
    }

    /// The requests waiting for a decision, oldest first.
    pub fn pending(&self) -> Vec<PendingRequest> {
        let s = self.lock();
        s.pending
            .values()
            .filter(|p| !s.decisions.contains_key(&p.id))
            .cloned()
            .collect()
    }

    /// Records a decision for a waiting request; the token picks it up at its next tick.
    pub fn decide(&self, id: u64, decision: Decision) -> Result<(), DecisionError> {
        let mut s = self.lock();
        if !s.pending.contains_key(&id) || s.decisions.contains_key(&id) {
            return Err(DecisionError::NotPending(id));
        }
        s.decisions.insert(id, decision);
        Ok(())
    }
}

impl UserPresence for SharedPresence {
    fn poll(&mut self, request: &PresenceRequest) -> PresenceStatus {
        let mut s = self.lock();
        let verified = s.user_verified;
        let approve = |verified: bool| {
            if request.user_verification && !verified {
                PresenceStatus::NotVerified
            } else {
                PresenceStatus::Approved
            }
        };
        if let Some(d) = s.decisions.get(&request.id).copied() {
            return match d {
                Decision::Approve { verified } => approve(verified),
                Decision::Deny => PresenceStatus::Denied,
            };
        }
        match s.policy {
            PresencePolicy::Auto => approve(verified),
            PresencePolicy::Deny => PresenceStatus::Denied,
            PresencePolicy::Manual => {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    s.pending.entry(request.id)
                {
                    tracing::info!(
                        id = request.id,
                        purpose = purpose_name(request.purpose),
                        rp = ?request.rp_id,
                        "presence requested; waiting for approval over the control API"
                    );
                    slot.insert(PendingRequest {
                        id: request.id,
                        purpose: purpose_name(request.purpose),
                        rp_id: request.rp_id.clone(),
                        user_verification: request.user_verification,
                        since: crate::clock::now_unix(),
                    });
                }
                PresenceStatus::Pending
            }
        }
    }

    fn finished(&mut self, id: u64) {
        let mut s = self.lock();
        s.pending.remove(&id);
        s.decisions.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: u64, uv: bool) -> PresenceRequest {
        PresenceRequest {
            id,
            purpose: PresencePurpose::GetAssertion,
            rp_id: Some("example.com".into()),
            user_verification: uv,
        }
    }

    #[test]
    fn manual_requests_wait_for_a_decision() {
        let mut p = SharedPresence::new(PresencePolicy::Manual, true);
        let api = p.clone();
        assert_eq!(p.poll(&request(7, false)), PresenceStatus::Pending);
        assert_eq!(p.poll(&request(7, false)), PresenceStatus::Pending);
        let pending = api.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].purpose), (7, "getAssertion"));
        assert_eq!(
            api.decide(8, Decision::Deny),
            Err(DecisionError::NotPending(8))
        );
        api.decide(7, Decision::Deny).unwrap();
        assert!(
            api.pending().is_empty(),
            "decided requests are no longer listed"
        );
        assert_eq!(
            api.decide(7, Decision::Deny),
            Err(DecisionError::NotPending(7)),
            "one decision per request"
        );
        assert_eq!(p.poll(&request(7, false)), PresenceStatus::Denied);
        p.finished(7);
        assert_eq!(
            api.decide(7, Decision::Deny),
            Err(DecisionError::NotPending(7))
        );

        assert_eq!(p.poll(&request(9, true)), PresenceStatus::Pending);
        api.decide(9, Decision::Approve { verified: false })
            .unwrap();
        assert_eq!(p.poll(&request(9, true)), PresenceStatus::NotVerified);
        p.finished(9);
        assert_eq!(p.poll(&request(10, true)), PresenceStatus::Pending);
        api.set_policy(PresencePolicy::Auto);
        assert_eq!(p.poll(&request(10, true)), PresenceStatus::Approved);
    }

    #[test]
    fn auto_and_deny_answer_at_once() {
        let mut p = SharedPresence::new(PresencePolicy::Auto, false);
        assert_eq!(p.poll(&request(1, false)), PresenceStatus::Approved);
        assert_eq!(p.poll(&request(2, true)), PresenceStatus::NotVerified);
        p.set_user_verified(true);
        assert_eq!(p.poll(&request(3, true)), PresenceStatus::Approved);
        p.set_policy(PresencePolicy::Deny);
        assert_eq!(p.poll(&request(4, false)), PresenceStatus::Denied);
        assert!(p.pending().is_empty());
    }
}
