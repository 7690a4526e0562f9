//! Bounded soak (issue 14): mixed operations over 8 CTAPHID channels on each of several keys of
//! one daemon, over the Unix socket transport, with control-API clients at the same time.
//!
//! Checked: every answer comes on the channel that asked and matches its request (a PING
//! echoes its own bytes, getInfo answers getInfo, getAssertion signs for the key's own
//! credential); CHANNEL_BUSY only while another channel of the same key has a transaction in
//! flight, never on a key used by one channel alone; every credential's counter strictly rises;
//! the daemon's RSS after warm-up stays within a small bound.
//!
//! `SOAK_OPS` sets the number of operations (default 10,000: well under a minute in a debug
//! build on 2 cores); `make soak` runs the full million on a release build. Loopback only.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ciborium::Value;
use firmware_sim::ctaphid::host::{
    HostError, Received, ResponseReader, init_request, request_reports,
};
use firmware_sim::ctaphid::{REPORT_LEN, Report, cmd, err as error};

const KEYS: usize = 3;
const CHANNELS: usize = 8;
const API_CLIENTS: usize = 2;
const RP: &str = "soak.example";
/// RSS growth allowed between the sample after warm-up and the last one.
const RSS_BOUND_KB: u64 = 8 * 1024;

/// A throw-away state directory, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("authsim-soak-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon under soak; killed on drop.
struct Daemon {
    child: Child,
    api: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(dir: &Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authsim"))
        .args(["daemon", "--no-uhid", "--hid-socket"])
        .arg(dir.join("k0.sock"))
        .args(["--key", "k0", "--presence", "auto", "--attestation", "none"])
        .env("AUTHSIM_STATE_DIR", dir)
        .env("AUTHSIM_KEYRING", "off")
        .env_remove("AUTHSIM_MASTER_KEY")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the daemon did not get ready");
        match lines.next() {
            Some(Ok(l)) if l.starts_with("ready: api-socket") => break,
            Some(Ok(_)) => continue,
            _ => panic!("the daemon exited before it was ready"),
        }
    }
    // Keep draining stdout so the daemon never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Daemon {
        child,
        api: dir.join("api.sock"),
    }
}

/// One HTTP/1.1 request on the API socket: the status and body.
fn api(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = UnixStream::connect(socket).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: authsim\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Which channels of one key have a transaction in flight (host's view), and how many
/// transactions have ended: a CHANNEL_BUSY is justified only by another channel's transaction
/// in flight at some moment between the request and the error.
#[derive(Default)]
struct KeyState {
    in_flight: HashSet<u32>,
    ended: u64,
}

/// What the channels saw.
#[derive(Default)]
struct Tally {
    ops: AtomicU64,
    busy: AtomicU64,
    foreign_reports: AtomicU64,
}

/// One host connection with one CTAPHID channel.
struct Channel {
    sock: UnixStream,
    cid: u32,
    key: usize,
}

impl Channel {
    fn open(path: &Path, key: usize, nonce_seed: u64) -> Channel {
        let sock = UnixStream::connect(path).expect("connect to the key");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut ch = Channel { sock, cid: 0, key };
        let nonce = nonce_seed.to_be_bytes();
        ch.write(&init_request(&nonce));
        loop {
            let r = ch.read();
            if r[..4] == [0xFF; 4] && r[4] == 0x80 | cmd::INIT && r[7..15] == nonce {
                ch.cid = u32::from_be_bytes([r[15], r[16], r[17], r[18]]);
                return ch;
            }
        }
    }

    fn write(&mut self, r: &Report) {
        self.sock.write_all(r).expect("write a report");
    }

    fn read(&mut self) -> Report {
        let mut r = [0u8; REPORT_LEN];
        self.sock.read_exact(&mut r).expect("read a report");
        r
    }

    /// One transaction: Ok(answer) or Err(CTAPHID error code).
    fn transact(
        &mut self,
        command: u8,
        payload: &[u8],
        state: &Mutex<KeyState>,
        tally: &Tally,
    ) -> Result<(u8, Vec<u8>), u8> {
        let ended_before = {
            let mut s = state.lock().unwrap();
            s.in_flight.insert(self.cid);
            s.ended
        };
        for r in request_reports(self.cid, command, payload).unwrap() {
            self.write(&r);
        }
        let mut reader = ResponseReader::new(self.cid);
        let out = loop {
            let r = self.read();
            if r[..4] != self.cid.to_be_bytes() {
                tally.foreign_reports.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match reader.feed(&r) {
                Ok(Received::Message { command, payload }) => break Ok((command, payload)),
                Ok(_) => continue,
                Err(HostError::Hid(code)) => break Err(code),
                Err(e) => panic!("channel {:08x}: {e}", self.cid),
            }
        };
        let mut s = state.lock().unwrap();
        if out == Err(error::CHANNEL_BUSY) {
            let others = s.in_flight.iter().any(|&c| c != self.cid);
            assert!(
                others || s.ended != ended_before,
                "CHANNEL_BUSY on key {} channel {:08x} while no other channel had a transaction",
                self.key,
                self.cid
            );
        }
        s.in_flight.remove(&self.cid);
        s.ended += 1;
        out
    }

    /// After a CHANNEL_BUSY: each continuation packet of the refused request that reached
    /// the key while the other channel's transaction went on was refused with CHANNEL_BUSY as
    /// well. Those errors are read (and nothing else may come) until the channel is quiet, so
    /// none is taken for the answer to the retried request.
    fn drain_busy(&mut self) {
        self.sock
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        loop {
            let mut r = [0u8; REPORT_LEN];
            match self.sock.read_exact(&mut r) {
                Ok(()) => {
                    if r[..4] != self.cid.to_be_bytes() {
                        continue;
                    }
                    assert_eq!(
                        (r[4], r[7]),
                        (0x80 | cmd::ERROR, error::CHANNEL_BUSY),
                        "an answer to a refused request"
                    );
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        self.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }

    /// [`transact`], retrying on CHANNEL_BUSY (what a host does).
    fn transact_retry(
        &mut self,
        command: u8,
        payload: &[u8],
        state: &Mutex<KeyState>,
        tally: &Tally,
    ) -> (u8, Vec<u8>) {
        loop {
            match self.transact(command, payload, state, tally) {
                Ok(a) => return a,
                Err(error::CHANNEL_BUSY) => {
                    tally.busy.fetch_add(1, Ordering::Relaxed);
                    self.drain_busy();
                }
                Err(e) => panic!("channel {:08x}: CTAPHID error {e:#04x}", self.cid),
            }
        }
    }
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn map_get(m: &Value, k: i64) -> Option<&Value> {
    m.as_map()?
        .iter()
        .find(|(key, _)| key.as_integer() == Some(k.into()))
        .map(|(_, v)| v)
}

/// authenticatorMakeCredential (non-resident, ES256): the new credential id.
fn make_credential(ch: &mut Channel, state: &Mutex<KeyState>, tally: &Tally) -> Vec<u8> {
    let req = Value::Map(vec![
        (int(1), Value::Bytes(vec![7; 32])),
        (
            int(2),
            Value::Map(vec![(Value::Text("id".into()), Value::Text(RP.into()))]),
        ),
        (
            int(3),
            Value::Map(vec![
                (
                    Value::Text("id".into()),
                    Value::Bytes(vec![ch.key as u8; 16]),
                ),
                (Value::Text("name".into()), Value::Text("soak".into())),
            ]),
        ),
        (
            int(4),
            Value::Array(vec![Value::Map(vec![
                (Value::Text("alg".into()), int(-7)),
                (Value::Text("type".into()), Value::Text("public-key".into())),
            ])]),
        ),
    ]);
    let mut payload = vec![0x01];
    payload.extend(cbor(&req));
    let (command, answer) = ch.transact_retry(cmd::CBOR, &payload, state, tally);
    assert_eq!(
        (command, answer.first()),
        (cmd::CBOR, Some(&0)),
        "makeCredential"
    );
    let v: Value = ciborium::from_reader(&answer[1..]).unwrap();
    let auth = map_get(&v, 2).and_then(Value::as_bytes).unwrap();
    let len = usize::from(u16::from_be_bytes([auth[53], auth[54]]));
    auth[55..55 + len].to_vec()
}

/// authenticatorGetAssertion with the key's credential: its signature counter.
fn get_assertion(ch: &mut Channel, cred: &[u8], state: &Mutex<KeyState>, tally: &Tally) -> u32 {
    let req = Value::Map(vec![
        (int(1), Value::Text(RP.into())),
        (int(2), Value::Bytes(vec![9; 32])),
        (
            int(3),
            Value::Array(vec![Value::Map(vec![
                (Value::Text("id".into()), Value::Bytes(cred.to_vec())),
                (Value::Text("type".into()), Value::Text("public-key".into())),
            ])]),
        ),
    ]);
    let mut payload = vec![0x02];
    payload.extend(cbor(&req));
    let (command, answer) = ch.transact_retry(cmd::CBOR, &payload, state, tally);
    assert_eq!(
        (command, answer.first()),
        (cmd::CBOR, Some(&0)),
        "getAssertion"
    );
    let v: Value = ciborium::from_reader(&answer[1..]).unwrap();
    let id = map_get(&v, 1)
        .and_then(|c| c.as_map())
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("id")))
        .and_then(|(_, v)| v.as_bytes());
    if let Some(id) = id {
        assert_eq!(
            id.as_slice(),
            cred,
            "an assertion for another key's credential"
        );
    }
    let auth = map_get(&v, 2).and_then(Value::as_bytes).unwrap();
    u32::from_be_bytes([auth[33], auth[34], auth[35], auth[36]])
}

/// A small deterministic generator (the mix needs no cryptographic randomness).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn soak_mixed_operations_over_channels_keys_and_the_api() {
    let total: u64 = std::env::var("SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = TempDir::new();
    let daemon = start_daemon(&dir.0);
    let pid = daemon.child.id();
    let mut sockets = vec![dir.0.join("k0.sock")];
    for k in 1..KEYS {
        let sock = dir.0.join(format!("k{k}.sock"));
        let body = format!(
            r#"{{"name":"k{k}","protocol":"ctap2","attestation":"none","hidSocket":"{}"}}"#,
            sock.display()
        );
        let (status, text) = api(&daemon.api, "POST", "/webauthn/authenticator", Some(&body));
        assert_eq!(status, 201, "{text}");
        sockets.push(sock);
    }
    let tally = Arc::new(Tally::default());
    let states: Vec<Arc<Mutex<KeyState>>> = (0..KEYS).map(|_| Arc::default()).collect();

    // A channel alone on a key is never told CHANNEL_BUSY; each key gets its credential.
    let mut creds = Vec::new();
    for (k, sock) in sockets.iter().enumerate() {
        let mut ch = Channel::open(sock, k, 1000 + k as u64);
        creds.push(make_credential(&mut ch, &states[k], &tally));
        for i in 0..20usize {
            let data: Vec<u8> = (0..(i * 37) % 700).map(|b| b as u8).collect();
            let got = ch.transact(cmd::PING, &data, &states[k], &tally);
            assert_eq!(got, Ok((cmd::PING, data)), "a lone channel's PING");
        }
    }
    assert_eq!(tally.busy.load(Ordering::Relaxed), 0);

    let stop = Arc::new(AtomicBool::new(false));
    let rss: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let sampler = {
        let (stop, rss, tally) = (stop.clone(), rss.clone(), tally.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rss.lock()
                    .unwrap()
                    .push((tally.ops.load(Ordering::Relaxed), rss_kb(pid)));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let started = Instant::now();
    let mut workers = Vec::new();
    let counters: Arc<Mutex<HashMap<usize, Vec<u32>>>> = Arc::default();
    for (k, sock) in sockets.iter().enumerate() {
        for c in 0..CHANNELS {
            let (sock, state, tally, cred, counters) = (
                sock.clone(),
                states[k].clone(),
                tally.clone(),
                creds[k].clone(),
                counters.clone(),
            );
            workers.push(std::thread::spawn(move || {
                let mut ch = Channel::open(&sock, k, (k * 100 + c) as u64 + 1);
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ ch.cid as u64);
                let mut mine = Vec::new();
                while tally.ops.fetch_add(1, Ordering::Relaxed) < total {
                    match rng.next() % 4 {
                        0 | 1 => {
                            // Up to 5 packets, so transactions overlap across channels.
                            let len = (rng.next() % 300) as usize;
                            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                            let got = ch.transact_retry(cmd::PING, &data, &state, &tally);
                            assert_eq!(got, (cmd::PING, data), "a PING answered another's bytes");
                        }
                        2 => {
                            let (command, answer) =
                                ch.transact_retry(cmd::CBOR, &[0x04], &state, &tally);
                            assert_eq!((command, answer.first()), (cmd::CBOR, Some(&0)));
                            let v: Value = ciborium::from_reader(&answer[1..]).unwrap();
                            assert!(map_get(&v, 3).is_some(), "getInfo without an AAGUID");
                        }
                        _ => {
                            let n = get_assertion(&mut ch, &cred, &state, &tally);
                            assert!(
                                mine.last().is_none_or(|&l| n > l),
                                "a counter did not rise on one channel"
                            );
                            mine.push(n);
                        }
                    }
                }
                counters.lock().unwrap().entry(k).or_default().extend(mine);
            }));
        }
    }
    let mut api_clients = Vec::new();
    for _ in 0..API_CLIENTS {
        let (path, tally) = (daemon.api.clone(), tally.clone());
        api_clients.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while tally.ops.fetch_add(1, Ordering::Relaxed) < total {
                let (status, body) = api(&path, "GET", "/webauthn/authenticator", None);
                assert_eq!(status, 200, "{body}");
                assert!(body.contains("\"k2\""), "{body}");
                n += 1;
            }
            n
        }));
    }
    for w in workers {
        w.join().expect("a channel failed");
    }
    let api_ops: u64 = api_clients.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    // Counters: per key, every assertion had its own counter value.
    let counters = counters.lock().unwrap();
    let mut assertions = 0;
    for (k, all) in counters.iter() {
        let distinct: HashSet<u32> = all.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            all.len(),
            "key {k}: a counter value given twice"
        );
        assertions += all.len();
    }
    let samples = rss.lock().unwrap().clone();
    let warm = samples
        .iter()
        .find(|(ops, _)| *ops >= total / 5)
        .or(samples.first())
        .map(|s| s.1)
        .unwrap_or(0);
    let last = samples.last().map(|s| s.1).unwrap_or(0);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    eprintln!(
        "soak: {total} operations ({api_ops} API, {assertions} assertions) over {KEYS} keys x {CHANNELS} channels in {:.1} s ({:.0}/s); CHANNEL_BUSY {}; reports of other channels {}; RSS after warm-up {warm} kB, last {last} kB, peak {peak} kB ({} samples)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        tally.busy.load(Ordering::Relaxed),
        tally.foreign_reports.load(Ordering::Relaxed),
        samples.len()
    );
    assert!(warm > 0 && last > 0, "no RSS samples");
    assert!(
        last <= warm + RSS_BOUND_KB,
        "RSS grew from {warm} kB to {last} kB"
    );
    // The daemon still answers, and the keys are all there.
    let (status, _) = api(&daemon.api, "GET", "/webauthn/authenticator", None);
    assert_eq!(status, 200);
}
