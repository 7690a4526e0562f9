//! The CTAPHID channel engine (CTAP 2.1 §11.2.9): channel allocation, message reassembly,
//! LOCK, CANCEL, keepalives, and the one CBOR transaction that may wait for the user, around the
//! CTAP1 and CTAP2 processors of an [`Authenticator`].

use crate::ctap1;
use crate::ctap2::{self, Authenticator, Continuation, Outcome, Step};
use crate::ctaphid::{
    self, Assembled, Assembler, BROADCAST_CID, PROTOCOL_VERSION, Report, capability, cmd, err,
    keepalive,
};
use crate::env::{Env, PresenceRequest, PresenceStatus};

/// How long a CTAPHID_LOCK may last, in seconds.
const MAX_LOCK_SECONDS: u8 = 10;

/// A CBOR transaction waiting for the user.
struct Pending {
    cid: u32,
    /// The CTAP2 command byte and when the request was complete (for the trace).
    operation: u8,
    started_ms: u64,
    request: PresenceRequest,
    cont: Continuation,
    deadline_ms: u64,
    last_keepalive_ms: u64,
}

/// The channels of one token and what they are doing.
#[derive(Default)]
pub(crate) struct Channels {
    next_cid: u32,
    assembly: Option<Assembler>,
    pending: Option<Pending>,
    lock: Option<(u32, u64)>,
    winks: u64,
    trace: std::collections::VecDeque<ctaphid::Transaction>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("next_cid", &self.next_cid)
            .field("receiving", &self.assembly.as_ref().map(|a| a.cid))
            .field("waiting_for_user", &self.pending.as_ref().map(|p| p.cid))
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl Channels {
    /// No channel allocated yet.
    pub(crate) fn new() -> Self {
        Self {
            next_cid: 1,
            ..Self::default()
        }
    }

    /// Drops every channel, partial message, pending transaction (without a response) and the
    /// lock, as unplugging does.
    pub(crate) fn power_cycle(&mut self, env: &mut Env<'_>) {
        if let Some(p) = self.pending.take() {
            env.presence.finished(p.request.id);
        }
        self.assembly = None;
        self.lock = None;
        self.next_cid = 1;
    }

    /// Forgets what channel `cid` was doing because its host went away.
    pub(crate) fn abort_channel(&mut self, env: &mut Env<'_>, cid: u32) {
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

    /// Whether a transaction is waiting for the user.
    pub(crate) fn is_waiting_for_user(&self) -> bool {
        self.pending.is_some()
    }

    /// The transactions finished since the last call, oldest first.
    pub(crate) fn take_transactions(&mut self) -> Vec<ctaphid::Transaction> {
        self.trace.drain(..).collect()
    }

    fn record(&mut self, t: ctaphid::Transaction) {
        if self.trace.len() == ctaphid::MAX_KEPT_TRANSACTIONS {
            self.trace.pop_front();
        }
        self.trace.push_back(t);
    }

    /// How many CTAPHID_WINK requests were answered.
    pub(crate) fn wink_count(&self) -> u64 {
        self.winks
    }

    /// When [`Channels::tick`] next has work, or `None` while idle.
    pub(crate) fn next_deadline(&self, app: &Authenticator) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(a) = &self.assembly {
            consider(a.last_packet_ms + app.config.message_timeout_ms);
        }
        if let Some((_, until)) = self.lock {
            consider(until);
        }
        if let Some(p) = &self.pending {
            consider(p.deadline_ms);
            consider(p.last_keepalive_ms + app.config.keepalive_interval_ms);
        }
        next
    }

    /// Handles one HID output report; returns the input reports to send back.
    pub(crate) fn handle_report(
        &mut self,
        app: &mut Authenticator,
        env: &mut Env<'_>,
        report: &Report,
    ) -> Vec<Report> {
        let mut out = Vec::new();
        self.service(app, env, &mut out);
        self.receive(app, env, report, &mut out);
        out
    }

    /// Advances time-driven work; returns the reports to send.
    pub(crate) fn tick(&mut self, app: &mut Authenticator, env: &mut Env<'_>) -> Vec<Report> {
        let mut out = Vec::new();
        self.service(app, env, &mut out);
        out
    }

    fn service(&mut self, app: &mut Authenticator, env: &mut Env<'_>, out: &mut Vec<Report>) {
        let now = env.clock.now_ms();
        if let Some(a) = &self.assembly
            && now.saturating_sub(a.last_packet_ms) >= app.config.message_timeout_ms
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
            Some(outcome) => self.resolve(app, env, outcome, out),
            None => {
                let interval = app.config.keepalive_interval_ms;
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
    fn resolve(
        &mut self,
        app: &mut Authenticator,
        env: &mut Env<'_>,
        outcome: Outcome,
        out: &mut Vec<Report>,
    ) {
        let Some(p) = self.pending.take() else {
            return;
        };
        env.presence.finished(p.request.id);
        let response = ctap2::resume(app, env, p.cid, p.cont, outcome);
        self.record(ctaphid::Transaction {
            cid: p.cid,
            command: cmd::CBOR,
            operation: p.operation,
            status: u16::from(response.first().copied().unwrap_or(0)),
            started_ms: p.started_ms,
            finished_ms: env.clock.now_ms(),
            waited_for_user: true,
        });
        out.extend(ctaphid::fragment(p.cid, cmd::CBOR, &response));
    }

    fn is_allocated(&self, cid: u32) -> bool {
        cid != 0 && cid != BROADCAST_CID && cid < self.next_cid
    }

    fn locked_by_other(&self, cid: u32) -> bool {
        self.lock.is_some_and(|(owner, _)| owner != cid)
    }

    fn receive(
        &mut self,
        app: &mut Authenticator,
        env: &mut Env<'_>,
        report: &Report,
        out: &mut Vec<Report>,
    ) {
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
                    self.dispatch(app, env, cid, command, payload, out);
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
            self.init(app, env, cid, bcnt, report, out);
            return;
        }
        if cid == BROADCAST_CID || !self.is_allocated(cid) {
            out.push(ctaphid::error_report(cid, err::INVALID_CHANNEL));
            return;
        }
        if command == cmd::CANCEL {
            // Cancels this channel's pending request; otherwise ignored, never answered.
            if self.pending.as_ref().is_some_and(|p| p.cid == cid) {
                self.resolve(app, env, Outcome::Cancelled, out);
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
                self.dispatch(app, env, cid, command, payload, out)
            }
            Some((a, _)) => self.assembly = Some(a),
        }
    }

    fn init(
        &mut self,
        app: &mut Authenticator,
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
        let (major, minor, build) = app.config.device_version;
        let mut payload = Vec::with_capacity(17);
        payload.extend_from_slice(&report[7..15]);
        payload.extend_from_slice(&new_cid.to_be_bytes());
        payload.push(PROTOCOL_VERSION);
        payload.extend_from_slice(&[major, minor, build]);
        // CTAP 2.1 §11.2.9.1.3: CAPABILITY_CBOR when CTAPHID_CBOR is implemented;
        // CAPABILITY_NMSG only when CTAPHID_MSG is NOT implemented (every mode here speaks U2F).
        let capabilities = if app.caps.speaks_ctap2() {
            capability::WINK | capability::CBOR
        } else {
            capability::WINK
        };
        payload.push(capabilities);
        out.extend(ctaphid::fragment(cid, cmd::INIT, &payload));
    }

    fn dispatch(
        &mut self,
        app: &mut Authenticator,
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
                let started_ms = env.clock.now_ms();
                let response = ctap1::process(app, env, &payload);
                let sw = match response[..] {
                    [.., a, b] => u16::from_be_bytes([a, b]),
                    _ => 0,
                };
                self.record(ctaphid::Transaction {
                    cid,
                    command: cmd::MSG,
                    operation: payload.get(1).copied().unwrap_or(0),
                    status: sw,
                    started_ms,
                    finished_ms: env.clock.now_ms(),
                    waited_for_user: false,
                });
                out.extend(ctaphid::fragment(cid, cmd::MSG, &response));
            }
            cmd::CBOR if !app.caps.speaks_ctap2() => {
                // A U2F-only device does not implement CTAPHID_CBOR at all.
                out.push(ctaphid::error_report(cid, err::INVALID_CMD))
            }
            cmd::CBOR => {
                if payload.is_empty() {
                    out.push(ctaphid::error_report(cid, err::INVALID_LEN));
                    return;
                }
                let started_ms = env.clock.now_ms();
                match ctap2::process(app, env, cid, &payload) {
                    Step::Reply(response) => {
                        self.record(ctaphid::Transaction {
                            cid,
                            command: cmd::CBOR,
                            operation: payload[0],
                            status: u16::from(response.first().copied().unwrap_or(0)),
                            started_ms,
                            finished_ms: env.clock.now_ms(),
                            waited_for_user: false,
                        });
                        out.extend(ctaphid::fragment(cid, cmd::CBOR, &response))
                    }
                    Step::Wait(wait) => {
                        self.start_wait(app, env, cid, (payload[0], started_ms), wait, out)
                    }
                }
            }
            _ => out.push(ctaphid::error_report(cid, err::INVALID_CMD)),
        }
    }

    fn start_wait(
        &mut self,
        app: &mut Authenticator,
        env: &mut Env<'_>,
        cid: u32,
        (operation, started_ms): (u8, u64),
        wait: ctap2::Wait,
        out: &mut Vec<Report>,
    ) {
        let now = env.clock.now_ms();
        let request = PresenceRequest {
            id: app.new_presence_id(),
            purpose: wait.purpose,
            rp_id: wait.rp_id,
            user_verification: wait.uv,
        };
        let first = presence_outcome(&request, env.presence.poll(&request));
        self.pending = Some(Pending {
            cid,
            operation,
            started_ms,
            request,
            cont: wait.cont,
            deadline_ms: now + app.config.user_presence_timeout_ms,
            last_keepalive_ms: now,
        });
        match first {
            Some(outcome) => self.resolve(app, env, outcome, out),
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
