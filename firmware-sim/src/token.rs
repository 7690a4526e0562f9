//! The token: CTAPHID channels and transactions around the CTAP1 and CTAP2 processors.

use thiserror::Error;

use crate::config::TokenConfig;
use crate::ctap1;
use crate::ctap2::{self, Authenticator, Continuation, Outcome, Step};
use crate::ctaphid::{
    self, Assembled, Assembler, BROADCAST_CID, PROTOCOL_VERSION, REPORT_LEN, capability, cmd, err,
    keepalive,
};
use crate::env::{Env, Environment, PresenceRequest, PresenceStatus, StoreError};
use crate::manage::{ImportError, ImportedCredential};
use crate::status::StatusCode;

/// One 64-byte HID report.
pub type Report = [u8; REPORT_LEN];

/// Failure of the token's host-facing (non-HID) API.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state is damaged or inconsistent (what is wrong, never a secret).
    #[error("stored token state is damaged: {0}")]
    Corrupt(String),
}

/// Distinguishes a store failure from damaged content after a failed load.
fn store_error(env: &mut Env<'_>) -> TokenError {
    match env
        .store
        .get(crate::persist::NS_META, crate::persist::KEY_MASTER)
    {
        Err(e) => TokenError::Store(e),
        Ok(_) => TokenError::Corrupt("persistent state could not be loaded".into()),
    }
}

/// How long a CTAPHID_LOCK may last, in seconds.
const MAX_LOCK_SECONDS: u8 = 10;

/// A CBOR transaction waiting for the user.
struct Pending {
    cid: u32,
    request: PresenceRequest,
    cont: Continuation,
    deadline_ms: u64,
    last_keepalive_ms: u64,
}

/// The virtual security key: 64-byte HID output reports in, 64-byte HID input reports out.
///
/// Drive it with [`Token::handle_report`] for every report the host writes and with
/// [`Token::tick`] regularly (at least every 50 ms while [`Token::next_deadline`] is `Some`),
/// and send every returned report to the host in order.
pub struct Token {
    app: Authenticator,
    next_cid: u32,
    assembly: Option<Assembler>,
    pending: Option<Pending>,
    lock: Option<(u32, u64)>,
    winks: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("config", &self.app.config)
            .field("next_cid", &self.next_cid)
            .field("receiving", &self.assembly.as_ref().map(|a| a.cid))
            .field("waiting_for_user", &self.pending.as_ref().map(|p| p.cid))
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Powers up a token with `config`; its persistent state lives in `env`'s store.
    pub fn new(config: TokenConfig, env: &mut impl Environment) -> Self {
        let env = env.env();
        Self {
            app: Authenticator::new(config, env.clock.now_ms()),
            next_cid: 1,
            assembly: None,
            pending: None,
            lock: None,
            winks: 0,
        }
    }

    /// The configuration the token was built with.
    pub fn config(&self) -> &TokenConfig {
        &self.app.config
    }

    /// Simulates unplugging and replugging: drops channels, any message being received, any
    /// pending transaction (without a response), the lock, the getNextAssertion state and the
    /// loaded secrets, and restarts the reset window. Persistent state is untouched.
    pub fn power_cycle(&mut self, env: &mut impl Environment) {
        let env = env.env();
        if let Some(p) = self.pending.take() {
            env.presence.finished(p.request.id);
        }
        self.assembly = None;
        self.lock = None;
        self.next_cid = 1;
        self.app.power_cycle(env.clock.now_ms());
    }

    /// Forgets what channel `cid` was doing because its host went away (the program closed the
    /// device, or was killed): a message being received, a transaction waiting for the user
    /// (ended without a response, as CTAPHID_INIT resynchronisation ends it) and the lock it
    /// holds. Other channels are untouched; the channel id stays allocated.
    pub fn abort_channel(&mut self, env: &mut impl Environment, cid: u32) {
        let env = env.env();
        if self.assembly.as_ref().is_some_and(|a| a.cid == cid) {
            self.assembly = None;
        }
        if self.pending.as_ref().is_some_and(|p| p.cid == cid)
            && let Some(p) = self.pending.take()
        {
            env.presence.finished(p.request.id);
        }
        if self.lock.is_some_and(|(owner, _)| owner == cid) {
            self.lock = None;
        }
    }

    /// Whether a transaction is waiting for the user (touch or verification).
    pub fn is_waiting_for_user(&self) -> bool {
        self.pending.is_some()
    }

    /// How many CTAPHID_WINK requests were answered since construction.
    pub fn wink_count(&self) -> u64 {
        self.winks
    }

    /// When [`Token::tick`] next has work (monotonic ms), or `None` while idle.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(a) = &self.assembly {
            consider(a.last_packet_ms + self.app.config.message_timeout_ms);
        }
        if let Some((_, until)) = self.lock {
            consider(until);
        }
        if let Some(p) = &self.pending {
            consider(p.deadline_ms);
            consider(p.last_keepalive_ms + self.app.config.keepalive_interval_ms);
        }
        next
    }

    /// Handles one HID output report from the host; returns the input reports to send back.
    pub fn handle_report(&mut self, env: &mut impl Environment, report: &Report) -> Vec<Report> {
        let mut env = env.env();
        let mut out = Vec::new();
        self.service(&mut env, &mut out);
        self.receive(&mut env, report, &mut out);
        out
    }

    /// Advances time-driven work: message timeouts, lock expiry, user-presence polling,
    /// keepalives and user-action timeouts. Returns the reports to send.
    pub fn tick(&mut self, env: &mut impl Environment) -> Vec<Report> {
        let mut env = env.env();
        let mut out = Vec::new();
        self.service(&mut env, &mut out);
        out
    }

    /// The attestation CA certificate (DER), created at first boot if needed.
    pub fn attestation_ca_der(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<u8>, TokenError> {
        let mut env = env.env();
        let persistent = self.app.load(&mut env).map_err(|_| store_error(&mut env))?;
        Ok(persistent.pki.ca_certificate_der().to_vec())
    }

    /// The attestation CA certificate as PEM.
    pub fn attestation_ca_pem(&mut self, env: &mut impl Environment) -> Result<String, TokenError> {
        let mut env = env.env();
        let persistent = self.app.load(&mut env).map_err(|_| store_error(&mut env))?;
        Ok(persistent.pki.ca_certificate_pem())
    }

    /// Reads the whole persistent state and checks that it is complete and consistent.
    pub fn check_store(&mut self, env: &mut impl Environment) -> Result<StoreSummary, TokenError> {
        crate::fsck::check(&mut env.env(), &self.app.config)
    }

    /// Lists the discoverable (resident) credentials, oldest first (for a control API; no
    /// private keys). [`Token::credentials`] also lists imported non-discoverable ones.
    pub fn resident_credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
        crate::fsck::credentials(&mut env.env(), &self.app.config, true)
    }

    /// Every stored credential (discoverable ones and imported non-discoverable ones), oldest first.
    pub fn credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
        crate::fsck::credentials(&mut env.env(), &self.app.config, false)
    }

    /// Stores an imported credential in one atomic commit (a discoverable one replaces the
    /// existing discoverable credential of the same (rpId, user handle), as makeCredential does;
    /// an existing credential with the same id is replaced). Its counter starts at sign_count
    /// (per-credential counter mode; ignore for global/always-zero modes but still accept).
    pub fn import_credential(
        &mut self,
        env: &mut impl Environment,
        cred: ImportedCredential,
    ) -> Result<(), ImportError> {
        // A saved getNextAssertion list may hold a credential this replaces.
        self.app.next_assertion = None;
        crate::manage::import_many(&mut env.env(), &self.app.config, vec![cred])
            .map(|_| ())
            .map_err(crate::manage::BatchFailure::bare)
    }

    /// Stores many imported credentials in one atomic commit, with one scan of the stored
    /// ones: all or nothing. Within the batch, later entries win over earlier ones with the same
    /// id or the same discoverable (rpId, user handle), as if imported one by one in order.
    /// Returns how many credentials the batch stored.
    ///
    /// Each entry is checked as by [`Token::import_credential`]; an invalid one fails the whole
    /// batch with [`ImportError::InBatch`] naming it. [`ImportError::Full`] is decided on the
    /// final state (after every replacement). An empty batch writes nothing and returns 0.
    pub fn import_credentials(
        &mut self,
        env: &mut impl Environment,
        creds: Vec<ImportedCredential>,
    ) -> Result<usize, ImportError> {
        // A saved getNextAssertion list may hold a credential this replaces.
        self.app.next_assertion = None;
        crate::manage::import_many(&mut env.env(), &self.app.config, creds)
            .map_err(crate::manage::BatchFailure::indexed)
    }

    /// Removes one stored credential (and its counter); Ok(false) when there is none with that id.
    pub fn remove_credential(
        &mut self,
        env: &mut impl Environment,
        id: &[u8],
    ) -> Result<bool, TokenError> {
        // A saved getNextAssertion list must not sign with a removed credential.
        self.app.next_assertion = None;
        crate::manage::remove(&mut env.env(), id)
    }

    /// Removes every stored credential (and their counters); returns how many.
    pub fn remove_all_credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<usize, TokenError> {
        self.app.next_assertion = None;
        crate::manage::remove_all(&mut env.env())
    }

    fn service(&mut self, env: &mut Env<'_>, out: &mut Vec<Report>) {
        let now = env.clock.now_ms();
        if let Some(a) = &self.assembly
            && now.saturating_sub(a.last_packet_ms) >= self.app.config.message_timeout_ms
        {
            out.push(ctaphid::error_report(a.cid, err::MSG_TIMEOUT));
            self.assembly = None;
        }
        if let Some((_, until)) = self.lock
            && now >= until
        {
            self.lock = None;
        }
        let Some(p) = &self.pending else {
            return;
        };
        let outcome = if now >= p.deadline_ms {
            Some(Outcome::TimedOut)
        } else {
            presence_outcome(&p.request, env.presence.poll(&p.request))
        };
        match outcome {
            Some(outcome) => self.resolve(env, outcome, out),
            None => {
                let interval = self.app.config.keepalive_interval_ms;
                if let Some(p) = &mut self.pending
                    && now.saturating_sub(p.last_keepalive_ms) >= interval
                {
                    p.last_keepalive_ms = now;
                    out.push(ctaphid::keepalive_report(p.cid, keepalive::STATUS_UPNEEDED));
                }
            }
        }
    }

    /// Ends the pending transaction with `outcome` and emits its CBOR response.
    fn resolve(&mut self, env: &mut Env<'_>, outcome: Outcome, out: &mut Vec<Report>) {
        let Some(p) = self.pending.take() else {
            return;
        };
        env.presence.finished(p.request.id);
        let response = ctap2::resume(&mut self.app, env, p.cid, p.cont, outcome);
        out.extend(ctaphid::fragment(p.cid, cmd::CBOR, &response));
    }

    fn is_allocated(&self, cid: u32) -> bool {
        cid != 0 && cid != BROADCAST_CID && cid < self.next_cid
    }

    fn locked_by_other(&self, cid: u32) -> bool {
        self.lock.is_some_and(|(owner, _)| owner != cid)
    }

    fn receive(&mut self, env: &mut Env<'_>, report: &Report, out: &mut Vec<Report>) {
        let now = env.clock.now_ms();
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & 0x80 == 0 {
            // Continuation packet.
            let Some(a) = &mut self.assembly else {
                // Spurious continuation packets are ignored.
                return;
            };
            if a.cid != cid {
                if self.is_allocated(cid) {
                    out.push(ctaphid::error_report(cid, err::CHANNEL_BUSY));
                }
                return;
            }
            match a.push(report, now) {
                Assembled::Incomplete => {}
                Assembled::BadSequence => {
                    self.assembly = None;
                    out.push(ctaphid::error_report(cid, err::INVALID_SEQ));
                }
                Assembled::Complete(payload) => {
                    let command = a.command;
                    self.assembly = None;
                    self.dispatch(env, cid, command, payload, out);
                }
            }
            return;
        }

        let command = report[4] & 0x7F;
        let bcnt = usize::from(u16::from_be_bytes([report[5], report[6]]));
        if cid == 0 {
            out.push(ctaphid::error_report(cid, err::INVALID_CHANNEL));
            return;
        }
        if command == cmd::INIT {
            self.init(env, cid, bcnt, report, out);
            return;
        }
        if cid == BROADCAST_CID || !self.is_allocated(cid) {
            out.push(ctaphid::error_report(cid, err::INVALID_CHANNEL));
            return;
        }
        if command == cmd::CANCEL {
            // Cancels this channel's pending request; otherwise ignored, never answered.
            if self.pending.as_ref().is_some_and(|p| p.cid == cid) {
                self.resolve(env, Outcome::Cancelled, out);
            } else if self.assembly.as_ref().is_some_and(|a| a.cid == cid) {
                self.assembly = None;
            }
            return;
        }
        if self.locked_by_other(cid) || self.pending.is_some() {
            out.push(ctaphid::error_report(cid, err::CHANNEL_BUSY));
            return;
        }
        if let Some(a) = &self.assembly {
            if a.cid != cid {
                out.push(ctaphid::error_report(cid, err::CHANNEL_BUSY));
            } else {
                // A new request before the previous message was complete.
                self.assembly = None;
                out.push(ctaphid::error_report(cid, err::INVALID_SEQ));
            }
            return;
        }
        match Assembler::start(cid, command, bcnt, report, now) {
            None => out.push(ctaphid::error_report(cid, err::INVALID_LEN)),
            Some((_, Assembled::Complete(payload))) => {
                self.dispatch(env, cid, command, payload, out)
            }
            Some((a, _)) => self.assembly = Some(a),
        }
    }

    fn init(
        &mut self,
        env: &mut Env<'_>,
        cid: u32,
        bcnt: usize,
        report: &Report,
        out: &mut Vec<Report>,
    ) {
        if self.locked_by_other(cid) {
            out.push(ctaphid::error_report(cid, err::CHANNEL_BUSY));
            return;
        }
        if cid != BROADCAST_CID && !self.is_allocated(cid) {
            out.push(ctaphid::error_report(cid, err::INVALID_CHANNEL));
            return;
        }
        if bcnt != 8 {
            out.push(ctaphid::error_report(cid, err::INVALID_LEN));
            return;
        }
        let new_cid = if cid == BROADCAST_CID {
            let c = self.next_cid;
            self.next_cid = if c >= BROADCAST_CID - 1 { 1 } else { c + 1 };
            c
        } else {
            // Resynchronisation: abandon whatever this channel was doing, without a response.
            if self.assembly.as_ref().is_some_and(|a| a.cid == cid) {
                self.assembly = None;
            }
            if self.pending.as_ref().is_some_and(|p| p.cid == cid)
                && let Some(p) = self.pending.take()
            {
                env.presence.finished(p.request.id);
            }
            cid
        };
        let (major, minor, build) = self.app.config.device_version;
        let mut payload = Vec::with_capacity(17);
        payload.extend_from_slice(&report[7..15]);
        payload.extend_from_slice(&new_cid.to_be_bytes());
        payload.push(PROTOCOL_VERSION);
        payload.extend_from_slice(&[major, minor, build]);
        // CTAP 2.1 §11.2.9.1.3: CAPABILITY_CBOR when CTAPHID_CBOR is implemented;
        // CAPABILITY_NMSG only when CTAPHID_MSG is NOT implemented (every mode here speaks U2F).
        let capabilities = if self.app.config.protocol.speaks_ctap2() {
            capability::WINK | capability::CBOR
        } else {
            capability::WINK
        };
        payload.push(capabilities);
        out.extend(ctaphid::fragment(cid, cmd::INIT, &payload));
    }

    fn dispatch(
        &mut self,
        env: &mut Env<'_>,
        cid: u32,
        command: u8,
        payload: Vec<u8>,
        out: &mut Vec<Report>,
    ) {
        match command {
            cmd::PING => out.extend(ctaphid::fragment(cid, cmd::PING, &payload)),
            cmd::WINK => {
                if !payload.is_empty() {
                    out.push(ctaphid::error_report(cid, err::INVALID_LEN));
                    return;
                }
                self.winks += 1;
                out.extend(ctaphid::fragment(cid, cmd::WINK, &[]));
            }
            cmd::LOCK => {
                let [seconds] = payload[..] else {
                    out.push(ctaphid::error_report(cid, err::INVALID_LEN));
                    return;
                };
                if seconds > MAX_LOCK_SECONDS {
                    out.push(ctaphid::error_report(cid, err::INVALID_PAR));
                    return;
                }
                self.lock =
                    (seconds > 0).then(|| (cid, env.clock.now_ms() + u64::from(seconds) * 1000));
                out.extend(ctaphid::fragment(cid, cmd::LOCK, &[]));
            }
            cmd::MSG => {
                let response = ctap1::process(&mut self.app, env, &payload);
                out.extend(ctaphid::fragment(cid, cmd::MSG, &response));
            }
            cmd::CBOR if !self.app.config.protocol.speaks_ctap2() => {
                // A U2F-only device does not implement CTAPHID_CBOR at all.
                out.push(ctaphid::error_report(cid, err::INVALID_CMD))
            }
            cmd::CBOR => {
                if payload.is_empty() {
                    out.push(ctaphid::error_report(cid, err::INVALID_LEN));
                    return;
                }
                match ctap2::process(&mut self.app, env, cid, &payload) {
                    Step::Reply(response) => {
                        out.extend(ctaphid::fragment(cid, cmd::CBOR, &response))
                    }
                    Step::Wait(wait) => self.start_wait(env, cid, wait, out),
                }
            }
            _ => out.push(ctaphid::error_report(cid, err::INVALID_CMD)),
        }
    }

    fn start_wait(
        &mut self,
        env: &mut Env<'_>,
        cid: u32,
        wait: ctap2::Wait,
        out: &mut Vec<Report>,
    ) {
        let now = env.clock.now_ms();
        let request = PresenceRequest {
            id: self.app.new_presence_id(),
            purpose: wait.purpose,
            rp_id: wait.rp_id,
            user_verification: wait.uv,
        };
        let first = presence_outcome(&request, env.presence.poll(&request));
        self.pending = Some(Pending {
            cid,
            request,
            cont: wait.cont,
            deadline_ms: now + self.app.config.user_presence_timeout_ms,
            last_keepalive_ms: now,
        });
        match first {
            Some(outcome) => self.resolve(env, outcome, out),
            None => out.push(ctaphid::keepalive_report(cid, keepalive::STATUS_UPNEEDED)),
        }
    }
}

/// How a poll's answer ends a wait, if it does: a failed verification fails only a wait that
/// asked for verification, and is an ordinary touch otherwise.
fn presence_outcome(request: &PresenceRequest, status: PresenceStatus) -> Option<Outcome> {
    match status {
        PresenceStatus::Approved => Some(Outcome::Approved),
        PresenceStatus::Denied => Some(Outcome::Denied),
        PresenceStatus::NotVerified if request.user_verification => Some(Outcome::UvFailed),
        PresenceStatus::NotVerified => Some(Outcome::Approved),
        PresenceStatus::Pending => None,
    }
}

/// A summary of a consistent store, from [`Token::check_store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    /// Whether the master secret exists (false before first boot).
    pub initialized: bool,
    /// Number of stored credentials (discoverable and imported non-discoverable ones).
    pub resident_credentials: usize,
    /// Number of per-credential counters.
    pub counters: usize,
}

/// A stored credential as a control API may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidentCredentialInfo {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The relying party id.
    pub rp_id: String,
    /// The user entity (an empty id for a non-discoverable credential imported without one).
    pub user: crate::credential::UserEntity,
    /// The COSE algorithm identifier.
    pub algorithm: i64,
    /// The public key as an encoded COSE_Key.
    pub public_key_cose: Vec<u8>,
    /// The signature counter value last used.
    pub sign_count: u32,
    /// Whether it is found without an allow list (resident); false for imported
    /// non-discoverable credentials.
    pub discoverable: bool,
}

impl From<StatusCode> for TokenError {
    fn from(status: StatusCode) -> Self {
        TokenError::Corrupt(status.to_string())
    }
}
