//! A CTAPHID host over the daemon's Unix socket (blocking, no python), and a helper
//! that runs `authsim daemon` on a private state directory. Shared by the Rust judges in
//! `tests/fido_*.rs` and by `benches/fido_socket.rs`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authsim::fido::device::UnixSocket;
use authsim::fido::hid::CtapHid;
use ciborium::value::{Integer, Value};

/// A host that opened the virtual key over its Unix socket, with its own channel: the
/// project's one host-side CTAPHID (`authsim::fido::hid`) on the socket transport.
pub struct HidSocket {
    hid: CtapHid,
}

impl HidSocket {
    /// Connects and allocates a channel with CTAPHID_INIT.
    pub fn connect(path: &Path) -> std::io::Result<HidSocket> {
        let io = UnixSocket::connect(path)?;
        let hid = CtapHid::open(Box::new(io)).map_err(std::io::Error::other)?;
        Ok(HidSocket { hid })
    }

    /// This host's channel.
    pub fn cid(&self) -> u32 {
        self.hid.cid()
    }

    /// A CTAP2 command: status byte and decoded body.
    pub fn ctap2(
        &mut self,
        command: u8,
        params: Option<&Value>,
    ) -> std::io::Result<(u8, Option<Value>)> {
        let body = params.map(firmware_sim::cbor::encode).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (status, body) = self
            .hid
            .cbor(command, &body, Some(deadline))
            .map_err(std::io::Error::other)?;
        if body.is_empty() {
            return Ok((status, None));
        }
        let value: Value = ciborium::de::from_reader(&body[..]).map_err(std::io::Error::other)?;
        Ok((status, Some(value)))
    }
}

/// `authsim daemon` on a socket in a private state directory; SIGTERM on drop.
pub struct DaemonProc {
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    owns_dir: bool,
}

/// A fresh temporary directory path (not created).
pub fn temp_path(tag: &str) -> PathBuf {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).expect("random");
    std::env::temp_dir().join(format!("authsim-{tag}-{}", hex::encode(r)))
}

impl DaemonProc {
    /// Starts the daemon binary `bin` with `args` and waits (at most 30 s) for its ready line.
    pub fn start(bin: &Path, state_dir: Option<PathBuf>, args: &[&str]) -> DaemonProc {
        let owns_dir = state_dir.is_none();
        let state_dir = state_dir.unwrap_or_else(|| temp_path("fido-state"));
        let sock_dir = temp_path("fido-sock");
        std::fs::create_dir_all(&sock_dir).expect("socket dir");
        let socket = sock_dir.join("hid.sock");
        let mut child = Command::new(bin)
            .arg("daemon")
            .arg("--hid-socket")
            .arg(&socket)
            .args(args)
            .env("AUTHSIM_STATE_DIR", &state_dir)
            .env("AUTHSIM_KEYRING", "off")
            .env_remove("AUTHSIM_MASTER_KEY")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn authsim daemon");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready: hid-socket") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("the daemon did not get ready");
        }
        DaemonProc {
            state_dir,
            socket,
            child: Some(child),
            owns_dir,
        }
    }

    /// A new host on the daemon's socket.
    pub fn host(&self) -> HidSocket {
        HidSocket::connect(&self.socket).expect("connect to the daemon")
    }

    /// Runs another authsim command on the same state directory.
    pub fn cli(&self, bin: &Path, args: &[&str]) -> std::process::Output {
        Command::new(bin)
            .args(args)
            .env("AUTHSIM_STATE_DIR", &self.state_dir)
            .env("AUTHSIM_KEYRING", "off")
            .env_remove("AUTHSIM_MASTER_KEY")
            .output()
            .expect("run authsim")
    }

    /// Sends SIGTERM and waits for a clean exit (true) within 15 s.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let _ = std::fs::remove_dir_all(
                        self.socket.parent().unwrap_or(Path::new("/nonexistent")),
                    );
                    return status.success() && !self.socket.exists();
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        self.stop();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// A CBOR integer.
pub fn int(n: i64) -> Value {
    Value::Integer(Integer::from(n))
}

/// A CBOR text string.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// A CBOR byte string.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// An integer-keyed CBOR map.
pub fn imap(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
}

/// A text-keyed CBOR map.
pub fn tmap(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

/// The value at integer key `k` of a CBOR map.
pub fn get(map: &Value, k: i64) -> Option<&Value> {
    match map {
        Value::Map(entries) => entries.iter().find_map(|(key, v)| match key {
            Value::Integer(i) if i128::from(*i) == i128::from(k) => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

/// The value at text key `k` of a CBOR map.
pub fn get_text<'a>(map: &'a Value, k: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries.iter().find_map(|(key, v)| match key {
            Value::Text(t) if t == k => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

/// The bytes at integer key `k`.
pub fn get_bytes(map: &Value, k: i64) -> Option<&[u8]> {
    match get(map, k) {
        Some(Value::Bytes(b)) => Some(b),
        _ => None,
    }
}

/// A makeCredential request.
pub fn make_credential_request(
    cdh: &[u8],
    rp_id: &str,
    user_id: &[u8],
    alg: i64,
    resident: bool,
    exclude: &[Vec<u8>],
) -> Value {
    let mut entries = vec![
        (1, bytes(cdh)),
        (
            2,
            tmap(vec![("id", text(rp_id)), ("name", text("Example"))]),
        ),
        (
            3,
            tmap(vec![
                ("id", bytes(user_id)),
                ("name", text("alice")),
                ("displayName", text("Alice")),
            ]),
        ),
        (
            4,
            Value::Array(vec![tmap(vec![
                ("alg", int(alg)),
                ("type", text("public-key")),
            ])]),
        ),
    ];
    if !exclude.is_empty() {
        entries.push((
            5,
            Value::Array(exclude.iter().map(|id| descriptor(id)).collect()),
        ));
    }
    if resident {
        entries.push((7, tmap(vec![("rk", Value::Bool(true))])));
    }
    imap(entries)
}

/// A getAssertion request.
pub fn get_assertion_request(rp_id: &str, cdh: &[u8], allow: &[Vec<u8>]) -> Value {
    let mut entries = vec![(1, text(rp_id)), (2, bytes(cdh))];
    if !allow.is_empty() {
        entries.push((
            3,
            Value::Array(allow.iter().map(|id| descriptor(id)).collect()),
        ));
    }
    imap(entries)
}

/// A PublicKeyCredentialDescriptor.
pub fn descriptor(id: &[u8]) -> Value {
    tmap(vec![("id", bytes(id)), ("type", text("public-key"))])
}

/// The credential id inside registration authenticator data.
pub fn credential_id(auth_data: &[u8]) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([
        *auth_data.get(53)?,
        *auth_data.get(54)?,
    ]));
    auth_data.get(55..55 + len).map(<[u8]>::to_vec)
}
