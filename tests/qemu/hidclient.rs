//! A tiny CTAPHID host for the qemu guest (std only; `tests/uhid_qemu.rs` compiles it with
//! rustc): it speaks the same 64-byte reports over a hidraw node (`/dev/hidrawN`, one
//! report-id byte in front of each output report) and over the daemon's Unix socket
//! transport (`--hid-socket`, bare reports), so both transports can be timed by one client
//! in one process. libfido2 cannot open a socket, hence this.
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

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const REPORT: usize = 64;
const BROADCAST: u32 = 0xFFFF_FFFF;
const CMD_PING: u8 = 0x01;
const CMD_INIT: u8 = 0x06;
const CMD_CBOR: u8 = 0x10;
const CMD_KEEPALIVE: u8 = 0x3B;
const CMD_ERROR: u8 = 0x3F;
/// PING round trips timed per getAssertion (they are cheap and show the transport alone).
const PINGS_PER_ASSERTION: u32 = 5;

enum Io {
    Hidraw(File),
    Socket(UnixStream),
}

struct Host {
    io: Io,
    cid: u32,
}

fn fail(msg: String) -> ! {
    eprintln!("hidclient: {msg}");
    std::process::exit(1)
}

impl Host {
    fn open(target: &str) -> Host {
        let io = if target.starts_with("/dev/") {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(target)
                .unwrap_or_else(|e| fail(format!("open {target}: {e}")));
            Io::Hidraw(f)
        } else {
            let s = UnixStream::connect(target)
                .unwrap_or_else(|e| fail(format!("connect {target}: {e}")));
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            Io::Socket(s)
        };
        let mut host = Host { io, cid: BROADCAST };
        let nonce = *b"qemu-cli";
        let (cmd, payload) = host.request(CMD_INIT, &nonce);
        if cmd != CMD_INIT || payload.len() < 17 || payload[..8] != nonce {
            fail(format!(
                "{target}: bad INIT response {cmd:#x} {payload:02x?}"
            ));
        }
        host.cid = u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]);
        host
    }

    fn write_report(&mut self, report: &[u8; REPORT]) {
        let r = match &mut self.io {
            Io::Hidraw(f) => {
                let mut buf = [0u8; REPORT + 1];
                buf[1..].copy_from_slice(report);
                f.write_all(&buf)
            }
            Io::Socket(s) => s.write_all(report),
        };
        r.unwrap_or_else(|e| fail(format!("write: {e}")));
    }

    fn read_report(&mut self) -> [u8; REPORT] {
        let mut buf = [0u8; REPORT];
        match &mut self.io {
            // hidraw hands over one whole input report per read (no report id: the key has none).
            Io::Hidraw(f) => {
                let n = f
                    .read(&mut buf)
                    .unwrap_or_else(|e| fail(format!("read: {e}")));
                if n != REPORT {
                    fail(format!("short hidraw read: {n} bytes"));
                }
            }
            Io::Socket(s) => s
                .read_exact(&mut buf)
                .unwrap_or_else(|e| fail(format!("read: {e}"))),
        }
        buf
    }

    /// The reports of one message on this host's channel.
    fn frames(&self, cmd: u8, payload: &[u8]) -> Vec<[u8; REPORT]> {
        let cid = self.cid.to_be_bytes();
        let mut out = Vec::new();
        let mut first = [0u8; REPORT];
        first[..4].copy_from_slice(&cid);
        first[4] = 0x80 | cmd;
        first[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        let n = payload.len().min(REPORT - 7);
        first[7..7 + n].copy_from_slice(&payload[..n]);
        out.push(first);
        for (seq, chunk) in payload[n..].chunks(REPORT - 5).enumerate() {
            let mut r = [0u8; REPORT];
            r[..4].copy_from_slice(&cid);
            r[4] = seq as u8;
            r[5..5 + chunk.len()].copy_from_slice(chunk);
            out.push(r);
        }
        out
    }

    /// Sends a message and returns the response on this channel (keepalives skipped).
    fn request(&mut self, cmd: u8, payload: &[u8]) -> (u8, Vec<u8>) {
        for r in self.frames(cmd, payload) {
            self.write_report(&r);
        }
        let cid = self.cid.to_be_bytes();
        let (rcmd, len, mut data) = loop {
            let r = self.read_report();
            if r[..4] != cid || r[4] & 0x80 == 0 {
                continue; // another host's traffic (hidraw shows every reader every report)
            }
            let rcmd = r[4] & 0x7F;
            if rcmd == CMD_KEEPALIVE {
                continue;
            }
            let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
            break (rcmd, len, r[7..].to_vec());
        };
        let mut seq = 0u8;
        while data.len() < len {
            let r = self.read_report();
            if r[..4] != cid {
                continue;
            }
            if r[4] != seq {
                fail(format!("continuation {} where {seq} was due", r[4]));
            }
            seq += 1;
            data.extend_from_slice(&r[5..]);
        }
        data.truncate(len);
        if rcmd == CMD_ERROR {
            fail(format!("CTAPHID error {data:02x?}"));
        }
        (rcmd, data)
    }
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
            let mut hosts: Vec<Host> = targets.iter().map(|t| Host::open(t)).collect();
            let mut ping = vec![Vec::new(); hosts.len()];
            let mut ga = vec![Vec::new(); hosts.len()];
            let ping_payload = [0xA5u8; 57];
            for _ in 0..n * PINGS_PER_ASSERTION {
                for (k, host) in hosts.iter_mut().enumerate() {
                    let t = Instant::now();
                    let (cmd, data) = host.request(CMD_PING, &ping_payload);
                    ping[k].push(t.elapsed().as_micros());
                    if cmd != CMD_PING || data != ping_payload {
                        fail(format!("{}: bad PING response", targets[k]));
                    }
                }
            }
            for i in 0..n {
                for (k, host) in hosts.iter_mut().enumerate() {
                    let req = get_assertion(&args[2], &cred, i);
                    let t = Instant::now();
                    let (cmd, data) = host.request(CMD_CBOR, &req);
                    ga[k].push(t.elapsed().as_micros());
                    if cmd != CMD_CBOR || data.first() != Some(&0) {
                        fail(format!(
                            "{}: getAssertion failed: {cmd:#x} status {:02x?}",
                            targets[k],
                            data.first()
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
            let mut host = Host::open(&args[1]);
            // A 200-byte CBOR message (authenticatorGetInfo padded): only its first report goes out.
            let mut payload = vec![0x04u8];
            payload.resize(200, 0);
            let first = host.frames(CMD_CBOR, &payload)[0];
            host.write_report(&first);
            println!("abandoned channel {:08x}", host.cid);
        }
        _ => fail(
            "usage: hidclient bench N RP_ID CRED_ID_FILE TARGET... | hidclient abandon TARGET"
                .into(),
        ),
    }
}
