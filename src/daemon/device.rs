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
use std::sync::mpsc::Receiver;
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

/// Work the control API runs on the key's thread, with the device to itself.
pub type Control = Box<dyn FnOnce(&mut Device) + Send>;

/// The token, its environment and the hosts that opened it.
pub struct Device {
    token: Token,
    env: DeviceEnv,
    hosts: HashMap<HostId, Box<dyn HostSink>>,
    routes: HashMap<u32, (HostId, u64)>,
    seq: u64,
    control: Option<Receiver<Control>>,
    stopping: bool,
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
            control: None,
            stopping: false,
        }
    }

    /// The token and its environment, e.g. to check the store before serving.
    pub fn parts(&mut self) -> (&mut Token, &mut DeviceEnv) {
        (&mut self.token, &mut self.env)
    }

    /// The key's shared presence state.
    pub fn presence(&self) -> &super::presence::SharedPresence {
        &self.env.presence
    }

    /// Makes [`Device::run`] return after the current event (the key is being removed).
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Forgets which host speaks on which channel (after a power cycle every channel is new).
    pub fn clear_routes(&mut self) {
        self.routes.clear();
    }

    /// Serves events until every transport (and the control API's waker) is gone; `control`
    /// holds work queued by the API, run when a [`HostEvent::Wake`] arrives.
    pub fn run(mut self, outbox: DeviceOutbox, control: Receiver<Control>) {
        self.control = Some(control);
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
            if self.stopping {
                break;
            }
            self.tick_if_due();
        }
        if let Err(e) = self.token.power_down(&mut self.env) {
            // Only a gap in the counters follows (the reserved values are skipped).
            tracing::warn!("the key's counters could not be settled at shutdown: {e}");
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
            HostEvent::Wake => {
                let queued: Vec<Control> = self
                    .control
                    .as_ref()
                    .map(|rx| rx.try_iter().collect())
                    .unwrap_or_default();
                for work in queued {
                    work(self);
                }
                // A presence decision may be waiting: let the token look at once.
                let out = self.token.tick(&mut self.env);
                self.deliver(out, None);
            }
            HostEvent::Reports { host, reports } => {
                for report in &reports {
                    self.learn(host, report);
                    let out = self.token.handle_report(&mut self.env, report);
                    self.deliver(out, Some(host));
                }
            }
        }
    }

    /// Logs at debug each CTAP command the token finished: the command, its status, how long
    /// it took (never a payload).
    fn log_transactions(&mut self) {
        for t in self.token.take_transactions() {
            let micros = t.finished_ms.saturating_sub(t.started_ms) * 1000;
            if t.command == firmware_sim::ctaphid::cmd::CBOR {
                let status = u8::try_from(t.status).unwrap_or(u8::MAX);
                tracing::debug!(
                    target: "authsim::ctap",
                    channel = format_args!("{:08x}", t.cid),
                    command = firmware_sim::ctap2_command::name(t.operation),
                    status = firmware_sim::StatusCode::from_u8(status)
                        .map_or("unknown", firmware_sim::StatusCode::name),
                    ms = micros / 1000,
                    waited_for_user = t.waited_for_user,
                    "CTAP2"
                );
            } else {
                tracing::debug!(
                    target: "authsim::ctap",
                    channel = format_args!("{:08x}", t.cid),
                    ins = format_args!("{:#04x}", t.operation),
                    status = format_args!("{:#06x}", t.status),
                    ms = micros / 1000,
                    "U2F"
                );
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

    /// A host went away: whatever its channels were doing is abandoned at once (a killed
    /// client must not keep the key busy until a timeout), and its routes are forgotten.
    fn forget(&mut self, host: HostId) {
        self.hosts.remove(&host);
        let gone: Vec<u32> = self
            .routes
            .iter()
            .filter(|(_, (h, _))| *h == host)
            .map(|(cid, _)| *cid)
            .collect();
        for cid in gone {
            self.routes.remove(&cid);
            self.token.abort_channel(&mut self.env, cid);
        }
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
        self.log_transactions();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::env::{OsRng, SystemClock};
    use crate::daemon::presence::{PresencePolicy, SharedPresence};
    use crate::daemon::token_store::SqliteRecordStore;
    use crate::store::{KeySource, Keyring, Store};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Report>>>);

    impl HostSink for Recorder {
        fn deliver(&mut self, reports: &[Report]) -> bool {
            self.0.lock().unwrap().extend_from_slice(reports);
            true
        }
    }

    impl Recorder {
        fn take(&self) -> Vec<Report> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn device() -> (Device, std::path::PathBuf) {
        device_with(PresencePolicy::Auto)
    }

    fn device_with(policy: PresencePolicy) -> (Device, std::path::PathBuf) {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let dir = std::env::temp_dir().join(format!("authsim-dev-{}", hex::encode(r)));
        let store = Store::open(&dir, &KeySource::new(None, Keyring::Off)).unwrap();
        let env = DeviceEnv {
            clock: SystemClock::new(),
            rng: OsRng,
            presence: SharedPresence::new(policy, true),
            store: SqliteRecordStore::new(store, "t").unwrap(),
        };
        (Device::new(TokenConfig::default(), env), dir)
    }

    fn packet(cid: u32, cmd: u8, bcnt: u16, data: &[u8]) -> Report {
        let mut r = [0u8; 64];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = 0x80 | cmd;
        r[5..7].copy_from_slice(&bcnt.to_be_bytes());
        r[7..7 + data.len()].copy_from_slice(data);
        r
    }

    fn init(d: &mut Device, host: HostId, rec: &Recorder, nonce: [u8; 8]) -> u32 {
        d.on_event(HostEvent::Reports {
            host,
            reports: vec![packet(BROADCAST_CID, 0x06, 8, &nonce)],
        });
        let out = rec.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0][7..15], nonce);
        u32::from_be_bytes([out[0][15], out[0][16], out[0][17], out[0][18]])
    }

    #[test]
    fn responses_go_to_the_host_of_their_channel() {
        let (mut d, dir) = device();
        let (a, b) = (HostId::fresh(), HostId::fresh());
        let (ra, rb) = (Recorder::default(), Recorder::default());
        d.on_event(HostEvent::Opened {
            host: a,
            sink: Box::new(ra.clone()),
        });
        d.on_event(HostEvent::Opened {
            host: b,
            sink: Box::new(rb.clone()),
        });
        let ca = init(&mut d, a, &ra, *b"nonce-aa");
        assert!(rb.take().is_empty(), "B does not hear A's INIT answer");
        let cb = init(&mut d, b, &rb, *b"nonce-bb");
        assert!(ra.take().is_empty());
        assert_ne!(ca, cb);

        d.on_event(HostEvent::Reports {
            host: a,
            reports: vec![packet(ca, 0x01, 3, b"abc")],
        });
        let out = ra.take();
        assert_eq!((out.len(), &out[0][7..10]), (1, &b"abc"[..]));
        assert!(rb.take().is_empty());

        // A message A leaves unfinished times out; the error reaches A from a tick.
        d.on_event(HostEvent::Reports {
            host: a,
            reports: vec![packet(ca, 0x01, 100, &[0x55; 57])],
        });
        assert!(ra.take().is_empty());
        let deadline = d
            .token
            .next_deadline()
            .expect("a message timeout is pending");
        while d.env.clock.now_ms() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        d.tick_if_due();
        let out = ra.take();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0][4], out[0][7]), (0xBF, 0x05), "ERR_MSG_TIMEOUT to A");
        assert!(rb.take().is_empty());

        // Once B has gone, nothing is delivered to it; A carries on.
        d.on_event(HostEvent::Closed { host: b });
        assert!(!d.routes.values().any(|(h, _)| *h == b));
        d.on_event(HostEvent::Reports {
            host: a,
            reports: vec![packet(ca, 0x01, 1, b"z")],
        });
        assert_eq!(ra.take().len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_host_that_goes_away_leaves_the_key_free() {
        let (mut d, dir) = device_with(PresencePolicy::Manual);
        let (a, b) = (HostId::fresh(), HostId::fresh());
        let (ra, rb) = (Recorder::default(), Recorder::default());
        for (h, r) in [(a, &ra), (b, &rb)] {
            d.on_event(HostEvent::Opened {
                host: h,
                sink: Box::new(r.clone()),
            });
        }
        let ca = init(&mut d, a, &ra, *b"nonce-aa");
        let cb = init(&mut d, b, &rb, *b"nonce-bb");
        // A half-sent message from A keeps B out...
        d.on_event(HostEvent::Reports {
            host: a,
            reports: vec![packet(ca, 0x01, 100, &[0x55; 57])],
        });
        d.on_event(HostEvent::Reports {
            host: b,
            reports: vec![packet(cb, 0x01, 1, b"b")],
        });
        let out = rb.take();
        assert_eq!(
            (out[0][4], out[0][7]),
            (0xBF, 0x06),
            "ERR_CHANNEL_BUSY while A sends"
        );
        // ...until A goes away.
        d.on_event(HostEvent::Closed { host: a });
        d.on_event(HostEvent::Reports {
            host: b,
            reports: vec![packet(cb, 0x01, 1, b"b")],
        });
        let out = rb.take();
        assert_eq!((out[0][4], out[0][7]), (0x81, b'b'), "B is served at once");

        // A transaction of A waiting for a touch (manual presence) is abandoned when A goes.
        let a2 = HostId::fresh();
        let ra2 = Recorder::default();
        d.on_event(HostEvent::Opened {
            host: a2,
            sink: Box::new(ra2.clone()),
        });
        let ca2 = init(&mut d, a2, &ra2, *b"nonce-a2");
        // authenticatorSelection (0x0B) waits for the user.
        d.on_event(HostEvent::Reports {
            host: a2,
            reports: vec![packet(ca2, 0x10, 1, &[0x0B])],
        });
        assert!(d.token.is_waiting_for_user());
        assert_eq!(d.presence().pending().len(), 1);
        let out = ra2.take();
        assert_eq!(out[0][4], 0xBB, "KEEPALIVE while it waits");
        d.on_event(HostEvent::Closed { host: a2 });
        assert!(
            !d.token.is_waiting_for_user(),
            "the wait ends with its host"
        );
        assert!(d.presence().pending().is_empty(), "and is no longer listed");
        d.on_event(HostEvent::Reports {
            host: b,
            reports: vec![packet(cb, 0x10, 1, &[0x04])],
        });
        let out = rb.take();
        assert_eq!(
            (out[0][4], out[0][7]),
            (0x90, 0x00),
            "getInfo for B at once"
        );
        assert!(
            ra2.take().is_empty(),
            "nothing is sent to a host that has gone"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_manual_touch_that_times_out_is_operation_denied() {
        // CTAP 2.1 makeCredential step 14: "If the user declines permission, or the operation
        // times out, then end the operation by returning CTAP2_ERR_OPERATION_DENIED."
        let (d0, dir) = device_with(PresencePolicy::Manual);
        let config = TokenConfig {
            user_presence_timeout_ms: 300,
            ..TokenConfig::default()
        };
        let mut d = Device::new(config, d0.env);
        let a = HostId::fresh();
        let ra = Recorder::default();
        d.on_event(HostEvent::Opened {
            host: a,
            sink: Box::new(ra.clone()),
        });
        let cid = init(&mut d, a, &ra, *b"nonce-mc");
        use ciborium::Value as V;
        let req = V::Map(vec![
            (V::Integer(1.into()), V::Bytes(vec![7u8; 32])),
            (
                V::Integer(2.into()),
                V::Map(vec![(V::Text("id".into()), V::Text("example.com".into()))]),
            ),
            (
                V::Integer(3.into()),
                V::Map(vec![
                    (V::Text("id".into()), V::Bytes(b"u".to_vec())),
                    (V::Text("name".into()), V::Text("u".into())),
                ]),
            ),
            (
                V::Integer(4.into()),
                V::Array(vec![V::Map(vec![
                    (V::Text("alg".into()), V::Integer((-7).into())),
                    (V::Text("type".into()), V::Text("public-key".into())),
                ])]),
            ),
        ]);
        let mut payload = vec![0x01];
        ciborium::ser::into_writer(&req, &mut payload).unwrap();
        let mut reports = vec![packet(
            cid,
            0x10,
            payload.len() as u16,
            &payload[..57.min(payload.len())],
        )];
        for (seq, chunk) in payload[57.min(payload.len())..].chunks(59).enumerate() {
            let mut r = [0u8; 64];
            r[..4].copy_from_slice(&cid.to_be_bytes());
            r[4] = seq as u8;
            r[5..5 + chunk.len()].copy_from_slice(chunk);
            reports.push(r);
        }
        d.on_event(HostEvent::Reports { host: a, reports });
        assert!(d.token.is_waiting_for_user());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut answer = None;
        while Instant::now() < deadline && answer.is_none() {
            std::thread::sleep(Duration::from_millis(20));
            d.tick_if_due();
            answer = ra.take().into_iter().find(|r| r[4] == 0x90);
        }
        let r = answer.expect("an answer after the timeout");
        assert_eq!(
            r[7], 0x27,
            "CTAP2_ERR_OPERATION_DENIED, not USER_ACTION_TIMEOUT"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn routes_are_bounded() {
        let (mut d, dir) = device();
        let a = HostId::fresh();
        d.on_event(HostEvent::Opened {
            host: a,
            sink: Box::new(Recorder::default()),
        });
        for cid in 1..=(MAX_ROUTES as u32 + 100) {
            d.learn(a, &packet(cid, 0x01, 0, &[]));
        }
        assert!(d.routes.len() <= MAX_ROUTES);
        assert!(
            d.routes.contains_key(&(MAX_ROUTES as u32 + 100)),
            "newest kept"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
