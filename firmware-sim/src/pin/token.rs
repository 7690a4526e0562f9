//! The pinUvAuthToken state (CTAP 2.1 §6.5.2.1) and its maintenance functions (§6.5.3.2):
//! permissions, permissions RP ID, usage timer, in-use, userPresent and userVerified flags.
//!
//! The usage timer is observed when the state is read (the token has no timer thread): every
//! accessor takes the current time and applies what pinUvAuthTokenUsageTimerObserver() would
//! have done by then. No rolling timer is used.

use crate::ctap2::messages::permission;

/// How long a fresh token lives if the platform does not use it (USB).
pub(crate) const INITIAL_USAGE_TIME_LIMIT_MS: u64 = 30_000;
/// How long the user counts as present after presence was collected (USB).
pub(crate) const USER_PRESENT_TIME_LIMIT_MS: u64 = 30_000;
/// How long a token lives at most (the specification's default maximum).
pub(crate) const MAX_USAGE_TIME_PERIOD_MS: u64 = 600_000;

/// The state of the (one) pinUvAuthToken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenState {
    permissions: u64,
    rp_id: Option<String>,
    /// When beginUsingPinUvAuthToken() started the usage timer; `None` when not running.
    started_ms: Option<u64>,
    in_use: bool,
    user_present: bool,
    user_verified: bool,
    /// Whether the platform used the token in an operation (it then outlives the initial
    /// usage time limit).
    used: bool,
}

impl TokenState {
    /// beginUsingPinUvAuthToken(userIsPresent).
    pub(crate) fn begin(&mut self, now_ms: u64, user_is_present: bool) {
        *self = Self {
            permissions: 0,
            rp_id: None,
            started_ms: Some(now_ms),
            in_use: true,
            user_present: user_is_present,
            user_verified: true,
            used: false,
        };
    }

    /// stopUsingPinUvAuthToken(): every member back to its initial value.
    pub(crate) fn stop(&mut self) {
        *self = Self::default();
    }

    /// pinUvAuthTokenUsageTimerObserver(), as of `now_ms`.
    pub(crate) fn observe(&mut self, now_ms: u64) {
        let Some(start) = self.started_ms else {
            return;
        };
        let elapsed = now_ms.saturating_sub(start);
        if elapsed >= MAX_USAGE_TIME_PERIOD_MS {
            self.stop();
            return;
        }
        if elapsed >= USER_PRESENT_TIME_LIMIT_MS {
            self.user_present = false;
        }
        if elapsed >= INITIAL_USAGE_TIME_LIMIT_MS && !self.used {
            self.stop();
        }
    }

    /// Whether the token is in use, as of `now_ms`.
    pub(crate) fn in_use(&mut self, now_ms: u64) -> bool {
        self.observe(now_ms);
        self.in_use
    }

    /// getUserPresentFlagValue().
    pub(crate) fn user_present(&mut self, now_ms: u64) -> bool {
        self.in_use(now_ms) && self.user_present
    }

    /// getUserVerifiedFlagValue().
    pub(crate) fn user_verified(&mut self, now_ms: u64) -> bool {
        self.in_use(now_ms) && self.user_verified
    }

    /// Assigns the permissions (undefined bits are kept but mean nothing).
    pub(crate) fn set_permissions(&mut self, permissions: u64) {
        self.permissions = permissions;
    }

    /// Whether the token (in use) has every bit of `wanted`.
    pub(crate) fn has_permission(&mut self, now_ms: u64, wanted: u64) -> bool {
        self.in_use(now_ms) && self.permissions & wanted == wanted
    }

    /// The permissions RP ID, if associated.
    pub(crate) fn rp_id(&self) -> Option<&str> {
        self.rp_id.as_deref()
    }

    /// Associates the permissions RP ID.
    pub(crate) fn set_rp_id(&mut self, rp_id: Option<String>) {
        self.rp_id = rp_id;
    }

    /// Records that the platform used the token in an authenticator operation.
    pub(crate) fn mark_used(&mut self) {
        self.used = true;
    }

    /// clearUserPresentFlag().
    pub(crate) fn clear_user_present(&mut self) {
        if self.in_use {
            self.user_present = false;
        }
    }

    /// clearUserVerifiedFlag().
    pub(crate) fn clear_user_verified(&mut self) {
        if self.in_use {
            self.user_verified = false;
        }
    }

    /// clearPinUvAuthTokenPermissionsExceptLbw().
    pub(crate) fn clear_permissions_except_lbw(&mut self) {
        if self.in_use {
            self.permissions &= permission::LBW;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_token_expires_after_the_initial_limit() {
        let mut t = TokenState::default();
        assert!(!t.in_use(0));
        t.begin(1_000, false);
        t.set_permissions(permission::MC | permission::GA);
        assert!(t.in_use(1_000 + INITIAL_USAGE_TIME_LIMIT_MS - 1));
        assert!(t.user_verified(1_000) && !t.user_present(1_000));
        assert!(!t.in_use(1_000 + INITIAL_USAGE_TIME_LIMIT_MS));
        assert!(!t.has_permission(1_000 + INITIAL_USAGE_TIME_LIMIT_MS, permission::MC));
        assert_eq!(t, TokenState::default(), "stopped: every member reset");
    }

    #[test]
    fn a_used_token_lives_until_the_maximum_and_loses_presence_first() {
        let mut t = TokenState::default();
        t.begin(0, true);
        t.set_permissions(permission::GA | permission::LBW);
        t.set_rp_id(Some("example.com".into()));
        t.mark_used();
        assert!(t.user_present(USER_PRESENT_TIME_LIMIT_MS - 1));
        assert!(!t.user_present(USER_PRESENT_TIME_LIMIT_MS));
        assert!(t.in_use(MAX_USAGE_TIME_PERIOD_MS - 1));
        assert_eq!(t.rp_id(), Some("example.com"));
        assert!(!t.in_use(MAX_USAGE_TIME_PERIOD_MS));
        assert_eq!(t.rp_id(), None);
    }

    #[test]
    fn clearing_keeps_only_lbw_and_does_nothing_when_not_in_use() {
        let mut t = TokenState::default();
        t.clear_permissions_except_lbw();
        t.clear_user_verified();
        assert_eq!(t, TokenState::default());
        t.begin(0, true);
        t.set_permissions(permission::MC | permission::GA | permission::LBW);
        t.clear_permissions_except_lbw();
        t.clear_user_present();
        t.clear_user_verified();
        assert!(t.has_permission(0, permission::LBW));
        assert!(!t.has_permission(0, permission::MC));
        assert!(!t.user_present(0) && !t.user_verified(0));
        assert!(t.in_use(0));
    }
}
