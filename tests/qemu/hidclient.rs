//! A tiny CTAPHID host for the qemu guest, built as the cargo example `hidclient` (`make
//! test-qemu` builds it before `tests/uhid_qemu.rs` runs): the project's one host-side CTAPHID
//! (`authsim::fido`) over a hidraw node (`/dev/hidrawN`) and over the daemon's Unix socket
//! transport (`--hid-socket`), so both transports can be timed by one client in one process.
//! libfido2 cannot open a socket, hence this.
//!
//!   hidclient bench N RP_ID CRED_ID_FILE TARGET...
//!       opens every TARGET (CTAPHID_INIT), then times 5*N CTAPHID_PING (57 bytes) and N
//!       authenticatorGetAssertion round trips (allowList = the raw credential id in
//!       CRED_ID_FILE) on each, the targets taking turns; prints one line per TARGET
//!       `TARGET ping-us=MEDIAN ga-us=MEDIAN ga-mean-us=MEAN n=N pings=P` (microseconds)
//!   hidclient abandon TARGET
//!       CTAPHID_INIT, then only the first report of a 200-byte CTAPHID_CBOR message, and exit
//!       (closing the node mid-transaction); prints the channel it used
//!
//! Exit status 1 with a message on any protocol or I/O failure.

use std::path::Path;
use std::time::{Duration, Instant};

use authsim::fido::device::{Hidraw, UnixSocket};
use authsim::fido::hid::{CtapHid, HidIo};
use firmware_sim::ctaphid::cmd;
use firmware_sim::ctaphid::host::request_reports;

/// PING round trips timed per getAssertion (they are cheap and show the transport alone).
const PINGS_PER_ASSERTION: u32 = 5;

fn fail(msg: String) -> ! {
    eprintln!("hidclient: {msg}");
    std::process::exit(1)
}

/// Opens a hidraw node (a /dev path) or a socket transport and allocates a channel.
fn open(target: &str) -> CtapHid {
    let io: Box<dyn HidIo> = if target.starts_with("/dev/") {
        Box::new(
            Hidraw::open(Path::new(target)).unwrap_or_else(|e| fail(format!("open {target}: {e}"))),
        )
    } else {
        Box::new(
            UnixSocket::connect(Path::new(target))
                .unwrap_or_else(|e| fail(format!("connect {target}: {e}"))),
        )
    };
    CtapHid::open(io).unwrap_or_else(|e| fail(format!("{target}: INIT failed: {e}")))
}

/// authenticatorGetAssertion {1: rp id, 2: client data hash, 3: [{"id": cred, "type": "public-key"}]}
/// in canonical CTAP2 CBOR, written out by hand.
fn get_assertion(rp_id: &str, cred: &[u8], i: u32) -> Vec<u8> {
    fn head(major: u8, n: usize, out: &mut Vec<u8>) {
        match n {
            0..=23 => out.push(major << 5 | n as u8),
            24..=255 => out.extend_from_slice(&[major << 5 | 24, n as u8]),
            _ => {
                out.push(major << 5 | 25);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
    }
    fn text(s: &str, out: &mut Vec<u8>) {
        head(3, s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0x02, 0xA3, 0x01];
    text(rp_id, &mut out);
    out.push(0x02);
    head(2, 32, &mut out);
    let mut hash = [0x5Au8; 32];
    hash[..4].copy_from_slice(&i.to_be_bytes());
    out.extend_from_slice(&hash);
    out.extend_from_slice(&[0x03, 0x81, 0xA2]);
    text("id", &mut out);
    head(2, cred.len(), &mut out);
    out.extend_from_slice(cred);
    text("type", &mut out);
    text("public-key", &mut out);
    out
}

fn median(v: &mut [u128]) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") if args.len() >= 5 => {
            let n: u32 = args[1]
                .parse()
                .unwrap_or_else(|_| fail(format!("bad N {}", args[1])));
            let cred = std::fs::read(&args[3])
                .unwrap_or_else(|e| fail(format!("reading {}: {e}", args[3])));
            // All targets open at once and taking turns, request by request, so drift in the
            // guest (other work, TCG) spreads over every transport alike.
            let targets = &args[4..];
            let mut hosts: Vec<CtapHid> = targets.iter().map(|t| open(t)).collect();
            let deadline = || Some(Instant::now() + Duration::from_secs(30));
            let mut ping = vec![Vec::new(); hosts.len()];
            let mut ga = vec![Vec::new(); hosts.len()];
            let ping_payload = [0xA5u8; 57];
            for _ in 0..n * PINGS_PER_ASSERTION {
                for (k, host) in hosts.iter_mut().enumerate() {
                    let t = Instant::now();
                    let data = host
                        .ping(&ping_payload)
                        .unwrap_or_else(|e| fail(format!("{}: PING: {e}", targets[k])));
                    ping[k].push(t.elapsed().as_micros());
                    if data != ping_payload {
                        fail(format!("{}: bad PING response", targets[k]));
                    }
                }
            }
            for i in 0..n {
                for (k, host) in hosts.iter_mut().enumerate() {
                    let req = get_assertion(&args[2], &cred, i);
                    let t = Instant::now();
                    let (status, _) = host
                        .cbor(req[0], &req[1..], deadline())
                        .unwrap_or_else(|e| fail(format!("{}: getAssertion: {e}", targets[k])));
                    ga[k].push(t.elapsed().as_micros());
                    if status != 0 {
                        fail(format!(
                            "{}: getAssertion failed: status {status:#04x}",
                            targets[k]
                        ));
                    }
                }
            }
            for (k, target) in targets.iter().enumerate() {
                let mean = ga[k].iter().sum::<u128>() / ga[k].len().max(1) as u128;
                println!(
                    "{target} ping-us={} ga-us={} ga-mean-us={mean} n={n} pings={}",
                    median(&mut ping[k]),
                    median(&mut ga[k]),
                    n * PINGS_PER_ASSERTION
                );
            }
        }
        Some("abandon") if args.len() == 2 => {
            let mut host = open(&args[1]);
            // A 200-byte CBOR message (authenticatorGetInfo padded): only its first report goes out.
            let mut payload = vec![0x04u8];
            payload.resize(200, 0);
            let reports = request_reports(host.cid(), cmd::CBOR, &payload)
                .unwrap_or_else(|e| fail(e.to_string()));
            host.write_raw(&reports[..1])
                .unwrap_or_else(|e| fail(format!("write: {e}")));
            println!("abandoned channel {:08x}", host.cid());
        }
        _ => fail(
            "usage: hidclient bench N RP_ID CRED_ID_FILE TARGET... | hidclient abandon TARGET"
                .into(),
        ),
    }
}
