//! The virtual key's ceremony rates with a native client (no python, no browser):
//!
//! 1. over the daemon's Unix socket (`authsim daemon`, release build), with the state
//!    directory on tmpfs (`/dev/shm`, where fsync is free) and on the disk (every counter
//!    update is a durable SQLite commit, `synchronous=FULL`); registrations and assertions
//!    per second with one client, and assertions per second with several clients at once;
//! 2. in process: the same token through the same SQLite record store adapter, and through
//!    firmware-sim's in-memory store with `HidHost` (the token alone).
//!
//! Run by `make bench` through `benches/fido_bench.py`, which sets Chromium's virtual
//! authenticator beside it; the last line printed is JSON. `FIDO_BENCH_N` sets the number of
//! ceremonies (default 2000).

#[path = "../tests/fido_support/mod.rs"]
mod fido_support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use authsim::daemon::env::{DeviceEnv, OsRng, SystemClock};
use authsim::daemon::presence::{PresencePolicy, SharedPresence};
use authsim::daemon::token_store::SqliteRecordStore;
use authsim::store::{KeySource, Keyring, Store};
use ciborium::value::Value;
use fido_support::*;
use firmware_sim::env::Environment;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{AttestationMode, Token, TokenConfig};
use sha2::{Digest, Sha256};

const RP_ID: &str = "localhost";
const MC: u8 = 0x01;
const GA: u8 = 0x02;

/// What a browser does per ceremony besides talking to the key: clientDataJSON and its hash.
fn client_data_hash(kind: &str, i: u64) -> Vec<u8> {
    let mut challenge = [0u8; 32];
    getrandom::fill(&mut challenge).expect("random");
    let cdj = format!(
        r#"{{"type":"{kind}","challenge":"{}","origin":"http://localhost","crossOrigin":false,"n":{i}}}"#,
        hex::encode(challenge)
    );
    Sha256::digest(cdj.as_bytes()).to_vec()
}

fn mc_request(i: u64, alg: i64) -> Value {
    let user = format!("user-{i}");
    make_credential_request(
        &client_data_hash("webauthn.create", i),
        RP_ID,
        user.as_bytes(),
        alg,
        false,
        &[],
    )
}

fn ga_request(i: u64, id: &[u8]) -> Value {
    get_assertion_request(RP_ID, &client_data_hash("webauthn.get", i), &[id.to_vec()])
}

fn registered_id(body: Option<Value>) -> Vec<u8> {
    let body = body.expect("makeCredential body");
    credential_id(get_bytes(&body, 2).expect("authData")).expect("credential id")
}

/// Sends a CTAP2 request, retrying while another host's message holds the device.
fn call(host: &mut HidSocket, cmd: u8, req: &Value) -> Option<Value> {
    loop {
        match host.ctap2(cmd, Some(req)) {
            Ok((0, body)) => return body,
            Ok((status, _)) => panic!("CTAP2 status 0x{status:02x}"),
            Err(e) if e.to_string().contains("command 0x3f [06]") => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

struct Rates {
    registrations_per_s: f64,
    assertions_per_s: f64,
    concurrent_assertions_per_s: f64,
    clients: usize,
}

fn over_socket(bin: &Path, state: PathBuf, n: u64, clients: usize, alg: i64) -> Rates {
    let d = DaemonProc::start(bin, Some(state.clone()), &["--attestation", "none"]);
    let mut host = d.host();
    // Warm up (first boot writes the master secret).
    let id = registered_id(call(&mut host, MC, &mc_request(0, alg)));
    for i in 0..20 {
        call(&mut host, GA, &ga_request(i, &id));
    }
    let regs = (n / 4).max(10);
    let t = Instant::now();
    for i in 0..regs {
        call(&mut host, MC, &mc_request(i, alg));
    }
    let registrations_per_s = regs as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        call(&mut host, GA, &ga_request(i, &id));
    }
    let assertions_per_s = n as f64 / t.elapsed().as_secs_f64();

    let per_client = n / clients as u64;
    let socket = d.socket.clone();
    let t = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let socket = socket.clone();
            let id = id.clone();
            std::thread::spawn(move || {
                let mut host = HidSocket::connect(&socket).expect("connect");
                for i in 0..per_client {
                    call(&mut host, GA, &ga_request(i, &id));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("client thread");
    }
    let concurrent_assertions_per_s =
        (per_client * clients as u64) as f64 / t.elapsed().as_secs_f64();
    drop(d);
    let _ = std::fs::remove_dir_all(state);
    Rates {
        registrations_per_s,
        assertions_per_s,
        concurrent_assertions_per_s,
        clients,
    }
}

/// The token in process with the daemon's SQLite record store: no transport, no threads.
fn in_process_sqlite(state: PathBuf, n: u64, alg: i64) -> (f64, f64) {
    let store = Store::open(&state, &KeySource::new(None, Keyring::Off)).expect("store");
    let mut env = DeviceEnv {
        clock: SystemClock::new(),
        rng: OsRng,
        presence: SharedPresence::new(PresencePolicy::Auto, true),
        store: SqliteRecordStore::new(store, "bench").expect("name"),
    };
    let config = TokenConfig {
        attestation: AttestationMode::None,
        ..TokenConfig::default()
    };
    let mut token = Token::new(config, &mut env);
    let r = run_in_process(&mut token, &mut env, n, alg);
    let _ = std::fs::remove_dir_all(state);
    r
}

/// One CTAP2 request as raw CTAPHID reports straight into the token; returns the body.
fn raw_request(
    token: &mut Token,
    env: &mut impl Environment,
    cid: u32,
    cmd: u8,
    req: &Value,
) -> Value {
    let mut payload = vec![cmd];
    payload.extend_from_slice(&firmware_sim::cbor::encode(req));
    let mut reply = Vec::new();
    let mut expected = 0usize;
    for report in firmware_sim::ctaphid::fragment(cid, 0x10, &payload) {
        for r in token.handle_report(env, &report) {
            if r[4] == 0x90 {
                expected = usize::from(u16::from_be_bytes([r[5], r[6]]));
                reply.extend_from_slice(&r[7..7 + expected.min(57)]);
            } else if r[4] & 0x80 == 0 {
                let k = (expected - reply.len()).min(59);
                reply.extend_from_slice(&r[5..5 + k]);
            }
        }
    }
    assert!(
        reply.len() == expected && reply.first() == Some(&0),
        "CTAP2 request failed"
    );
    ciborium::de::from_reader(&reply[1..]).expect("CBOR")
}

/// Drives `token` with raw CTAPHID reports through any environment.
fn run_in_process(token: &mut Token, env: &mut impl Environment, n: u64, alg: i64) -> (f64, f64) {
    let mut init = [0u8; 64];
    init[..4].copy_from_slice(&[0xFF; 4]);
    init[4] = 0x86;
    init[6] = 8;
    let out = token.handle_report(env, &init);
    let cid = u32::from_be_bytes([out[0][15], out[0][16], out[0][17], out[0][18]]);
    let id = registered_id(Some(raw_request(token, env, cid, MC, &mc_request(0, alg))));
    let regs = (n / 4).max(10);
    let t = Instant::now();
    for i in 0..regs {
        raw_request(token, env, cid, MC, &mc_request(i, alg));
    }
    let reg_rate = regs as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        raw_request(token, env, cid, GA, &ga_request(i, &id));
    }
    (reg_rate, n as f64 / t.elapsed().as_secs_f64())
}

/// firmware-sim alone: in-memory store, simulated clock, HidHost.
fn in_memory(n: u64, alg: i64) -> (f64, f64) {
    let mut env = TestEnv::new(7);
    let config = TokenConfig {
        attestation: AttestationMode::None,
        ..TokenConfig::default()
    };
    let mut token = Token::new(config, &mut env);
    let host = HidHost::connect(&mut token, &mut env).expect("INIT");
    let (_, body) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc_request(0, alg)))
        .expect("makeCredential");
    let id = registered_id(body);
    let regs = (n / 4).max(10);
    let t = Instant::now();
    for i in 0..regs {
        host.ctap2(&mut token, &mut env, MC, Some(&mc_request(i, alg)))
            .expect("makeCredential");
    }
    let reg_rate = regs as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        host.ctap2(&mut token, &mut env, GA, Some(&ga_request(i, &id)))
            .expect("getAssertion");
    }
    (reg_rate, n as f64 / t.elapsed().as_secs_f64())
}

fn main() {
    // AUTHSIM_BENCH_BIN runs the socket figures against another build (a before/after pair).
    let bin_override = std::env::var_os("AUTHSIM_BENCH_BIN").map(PathBuf::from);
    let bin = bin_override
        .as_deref()
        .unwrap_or(Path::new(env!("CARGO_BIN_EXE_authsim")));
    let n: u64 = std::env::var("FIDO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let clients = std::env::var("FIDO_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4usize);
    let shm = Path::new("/dev/shm");
    let tmpfs_dir = |tag: &str| {
        if shm.is_dir() {
            let mut r = [0u8; 8];
            getrandom::fill(&mut r).expect("random");
            shm.join(format!("authsim-bench-{tag}-{}", hex::encode(r)))
        } else {
            temp_path(tag)
        }
    };
    let rates = |r: &Rates| {
        serde_json::json!({
            "registrations_per_s": r.registrations_per_s,
            "assertions_per_s": r.assertions_per_s,
            "concurrent_assertions_per_s": r.concurrent_assertions_per_s,
            "clients": r.clients,
        })
    };
    let mut summary = serde_json::Map::new();
    for (name, alg) in [("ES256", -7i64), ("EdDSA", -8)] {
        let tmpfs = over_socket(bin, tmpfs_dir("sock"), n, clients, alg);
        println!(
            "{name} socket, state on tmpfs: {:.0} registrations/s, {:.0} assertions/s (1 client), {:.0} assertions/s ({} clients)",
            tmpfs.registrations_per_s,
            tmpfs.assertions_per_s,
            tmpfs.concurrent_assertions_per_s,
            tmpfs.clients
        );
        let disk = over_socket(bin, temp_path("bench-disk"), (n / 4).max(50), clients, alg);
        println!(
            "{name} socket, state on disk:  {:.0} registrations/s, {:.0} assertions/s (1 client), {:.0} assertions/s ({} clients)",
            disk.registrations_per_s,
            disk.assertions_per_s,
            disk.concurrent_assertions_per_s,
            disk.clients
        );
        let (ip_reg, ip_ga) = in_process_sqlite(tmpfs_dir("inproc"), n, alg);
        println!(
            "{name} in process, SQLite store on tmpfs: {ip_reg:.0} registrations/s, {ip_ga:.0} assertions/s"
        );
        let (mem_reg, mem_ga) = in_memory(n, alg);
        println!(
            "{name} in process, in-memory store (firmware-sim alone): {mem_reg:.0} registrations/s, {mem_ga:.0} assertions/s"
        );
        summary.insert(
            name.into(),
            serde_json::json!({
                "socket_tmpfs": rates(&tmpfs),
                "socket_disk": rates(&disk),
                "in_process_sqlite_tmpfs": {"registrations_per_s": ip_reg, "assertions_per_s": ip_ga},
                "in_process_memory": {"registrations_per_s": mem_reg, "assertions_per_s": mem_ga},
            }),
        );
    }
    summary.insert("n".into(), n.into());
    println!("{}", serde_json::Value::Object(summary));
}
