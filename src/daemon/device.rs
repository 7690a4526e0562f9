//! One virtual key as a device: the token on its own thread, fed by every transport's hosts.
//!
//! Like a real USB key, there is one token per key; a host (a socket connection, a UDP peer)
//! is a program that opened it. Each input report goes to the host that last wrote on the
//! report's CTAPHID channel, or, for a channel no host wrote on yet (the broadcast channel's
//! INIT answer), to the host whose report produced it. CTAPHID channel ids keep the hosts'
//! conversations apart, as on USB; only the first four bytes (the channel id) are looked at
//! here, the token does the rest.
//!
//! The loop: `handle_report` for each incoming report; `tick` when `next_deadline` is reached
//! (waking at least every 50 ms while it is `Some`); every returned report is delivered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use firmware_sim::env::Clock;
use firmware_sim::{Token, TokenConfig};

use super::env::DeviceEnv;
use crate::transport::{DeviceOutbox, HostEvent, HostId, HostSink, NoEvent, Report};

/// The broadcast channel id (used only by INIT).
const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// Longest sleep while the token has timed work pending.
const MAX_TICK_WAIT: Duration = Duration::from_millis(50);
/// Most channel-to-host routes remembered; the oldest quarter is forgotten beyond it.
const MAX_ROUTES: usize = 4096;

/// The token, its environment and the hosts that opened it.
pub struct Device {
    token: Token,
    env: DeviceEnv,
    hosts: HashMap<HostId, Box<dyn HostSink>>,
    routes: HashMap<u32, (HostId, u64)>,
    seq: u64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("token", &self.token)
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Powers up a token with `config` in `env` (the 10-second reset window starts now).
    pub fn new(config: TokenConfig, mut env: DeviceEnv) -> Device {
        let token = Token::new(config, &mut env);
        Device {
            token,
            env,
            hosts: HashMap::new(),
            routes: HashMap::new(),
            seq: 0,
        }
    }

    /// The token and its environment, e.g. to check the store before serving.
    pub fn parts(&mut self) -> (&mut Token, &mut DeviceEnv) {
        (&mut self.token, &mut self.env)
    }

    /// Serves events until every transport is gone.
    pub fn run(mut self, outbox: DeviceOutbox) {
        loop {
            let wait = self.token.next_deadline().map(|deadline| {
                let at = self.env.clock.instant_at(deadline);
                at.saturating_duration_since(Instant::now())
                    .min(MAX_TICK_WAIT)
            });
            match outbox.next(wait) {
                Ok(event) => {
                    self.on_event(event);
                    // Drain what is already queued before looking at the clock again.
                    while let Some(event) = outbox.try_next() {
                        self.on_event(event);
                    }
                }
                Err(NoEvent::Timeout) => {}
                Err(NoEvent::Closed) => break,
            }
            self.tick_if_due();
        }
        tracing::debug!("device stopped: no transport left");
    }

    /// Handles one transport event.
    pub fn on_event(&mut self, event: HostEvent) {
        match event {
            HostEvent::Opened { host, sink } => {
                self.hosts.insert(host, sink);
            }
            HostEvent::Closed { host } => self.forget(host),
            HostEvent::Reports { host, reports } => {
                for report in &reports {
                    self.learn(host, report);
                    let out = self.token.handle_report(&mut self.env, report);
                    self.deliver(out, Some(host));
                }
            }
        }
    }

    /// Calls `tick` if the token's deadline has passed, and delivers what it returns.
    pub fn tick_if_due(&mut self) {
        let due = self
            .token
            .next_deadline()
            .is_some_and(|d| d <= self.env.clock.now_ms());
        if due {
            let out = self.token.tick(&mut self.env);
            self.deliver(out, None);
        }
    }

    fn forget(&mut self, host: HostId) {
        self.hosts.remove(&host);
        self.routes.retain(|_, (h, _)| *h != host);
    }

    /// Remembers that `host` speaks on the report's channel.
    fn learn(&mut self, host: HostId, report: &Report) {
        let cid = channel(report);
        if cid == 0 || cid == BROADCAST_CID {
            return;
        }
        self.seq += 1;
        self.routes.insert(cid, (host, self.seq));
        if self.routes.len() > MAX_ROUTES {
            let mut seqs: Vec<u64> = self.routes.values().map(|(_, s)| *s).collect();
            let cut = seqs.len() / 4;
            let (_, threshold, _) = seqs.select_nth_unstable(cut);
            let threshold = *threshold;
            self.routes.retain(|_, (_, s)| *s > threshold);
        }
    }

    /// Sends each report to its channel's host (or to `asker`), keeping the order per host.
    fn deliver(&mut self, out: Vec<Report>, asker: Option<HostId>) {
        let mut i = 0;
        while i < out.len() {
            let dest = self.destination(&out[i], asker);
            let mut j = i + 1;
            while j < out.len() && self.destination(&out[j], asker) == dest {
                j += 1;
            }
            match dest {
                Some(host) => {
                    let alive = self
                        .hosts
                        .get_mut(&host)
                        .is_some_and(|sink| sink.deliver(&out[i..j]));
                    if !alive {
                        self.forget(host);
                    }
                }
                None => tracing::debug!(
                    channel = channel(&out[i]),
                    "no host for an input report; dropped"
                ),
            }
            i = j;
        }
    }

    fn destination(&self, report: &Report, asker: Option<HostId>) -> Option<HostId> {
        self.routes
            .get(&channel(report))
            .map(|(h, _)| *h)
            .filter(|h| self.hosts.contains_key(h))
            .or(asker)
    }
}

/// The CTAPHID channel id of a report (its first four bytes).
fn channel(report: &Report) -> u32 {
    u32::from_be_bytes([report[0], report[1], report[2], report[3]])
}
