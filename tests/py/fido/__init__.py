"""Helpers for the FIDO judges: run `authsim daemon` on a private state directory, and reach
its Unix socket transport from python-fido2 (a CtapHidConnection) or as raw CTAPHID packets."""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import shutil

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT = 64
BROADCAST = 0xFFFFFFFF
TIMEOUT = 10.0
# Every connection opened during a test; the `daemons` fixture closes them at its end.
_OPEN = []


def authsim_bin():
    path = os.environ.get("AUTHSIM_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "target", "debug", "authsim")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise AssertionError(f"authsim binary not found at {path}: run `cargo build` or set AUTHSIM_BIN")
    return path


class SocketConnection(CtapHidConnection):
    """One host that opened the virtual key: exact 64-byte reports both ways."""

    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _OPEN.append(self.sock)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def write_packet(self, data):
        if len(data) != REPORT:
            raise ValueError(f"a report is {REPORT} bytes, not {len(data)}")
        self.sock.sendall(data)

    def read_packet(self):
        buf = b""
        while len(buf) < REPORT:
            chunk = self.sock.recv(REPORT - len(buf))
            if not chunk:
                raise OSError("the daemon closed the connection")
            buf += chunk
        return buf

    def close(self):
        self.sock.close()


def open_device(path):
    """A python-fido2 CtapHidDevice on the daemon's socket (runs CTAPHID_INIT)."""
    desc = HidDescriptor(path=path, vid=0, pid=0, report_size_in=REPORT, report_size_out=REPORT,
                         product_name="authsim", serial_number=None)
    return CtapHidDevice(desc, SocketConnection(path))


class Daemon:
    """`authsim daemon --hid-socket` on a state directory; stop() checks a clean exit."""

    def __init__(self, state_dir, *extra, key="default", presence="auto", attestation="x5c",
                 udp=False, extra_args=()):
        extra = (*extra, *extra_args)
        self.state_dir = state_dir
        self.sock_dir = tempfile.mkdtemp(prefix="authsim-sock-")
        self.path = os.path.join(self.sock_dir, "hid.sock")
        self.env = dict(os.environ, AUTHSIM_STATE_DIR=state_dir, AUTHSIM_KEYRING="off")
        self.env.pop("AUTHSIM_MASTER_KEY", None)
        self.env.pop("RUST_LOG", None)
        self.args = [authsim_bin(), "daemon", "--no-uhid", "--hid-socket", self.path, "--key", key,
                     "--presence", presence, "--attestation", attestation, *extra]
        # The API socket is announced last: once it is there, everything is served.
        self.expect = ["ready: hid-socket", "ready: api-socket"]
        self.api_socket = os.path.join(state_dir, "api.sock")
        if udp:
            self.args += ["--hid-udp", "127.0.0.1:0"]
            self.expect.append("ready: hid-udp")
        self.udp_addr = None
        self.proc = None
        self.started = None
        self.ready_lines = []

    def start(self, timeout=30):
        # stderr goes to a file: a pipe nobody drains could fill up and stall the daemon.
        self.stderr = open(os.path.join(self.sock_dir, "stderr.log"), "w+")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)
        self.started = time.monotonic()
        lines = []

        def reader():
            for line in self.proc.stdout:
                lines.append(line.strip())

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(any(line.startswith(e) for line in lines) for e in self.expect):
                self.ready_lines = list(lines)
                for line in self.ready_lines:
                    if line.startswith("ready: hid-udp "):
                        host, port = line.split()[2].rsplit(":", 1)
                        self.udp_addr = (host, int(port))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}): {self.errors()}")
            time.sleep(0.02)
        self.proc.kill()
        raise AssertionError("daemon did not print its ready line in time")

    def errors(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def device(self):
        return open_device(self.path)

    def connection(self):
        return SocketConnection(self.path)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("daemon did not stop on a signal")
        err = self.errors()
        self.stderr.close()
        self.proc.stdout.close()
        self.proc = None
        assert code == 0, f"daemon exit code {code}: {err}"
        assert not os.path.exists(self.path), "socket file left behind"
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.proc = None
            self.stderr.close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def api(self, method, path, body=None, raw=None):
        """One request to the control API: (status, decoded JSON or bytes, headers)."""
        conn = UnixHTTPConnection(self.api_socket)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body))
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            ctype = resp.getheader("Content-Type", "")
            value = json.loads(payload) if ctype == "application/json" and payload else payload
            return resp.status, value, dict(resp.getheaders())
        finally:
            conn.close()

    def cli(self, *args, check=True):
        p = subprocess.run([authsim_bin(), *args], env=self.env, capture_output=True, text=True,
                           timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"authsim {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def ca_pem(self):
        return self.cli("key", "attestation-ca").stdout.encode()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix socket (the daemon's control API)."""

    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("authsim", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class RawHid:
    """CTAPHID by hand over one connection, for malformed and edge-case packets."""

    def __init__(self, path, timeout=5.0):
        self.conn = SocketConnection(path, timeout=timeout)
        self.cid = None

    def close(self):
        self.conn.close()

    def send(self, packet):
        self.conn.write_packet(bytes(packet).ljust(REPORT, b"\0"))

    def recv(self):
        return self.conn.read_packet()

    def init(self):
        nonce = os.urandom(8)
        self.send(struct.pack(">IBH", BROADCAST, 0x86, 8) + nonce)
        while True:
            r = self.recv()
            if r[:4] == struct.pack(">I", BROADCAST) and r[4] == 0x86 and r[7:15] == nonce:
                self.cid = struct.unpack(">I", r[15:19])[0]
                return self.cid

    @staticmethod
    def frames(cid, cmd, payload, bcnt=None):
        bcnt = len(payload) if bcnt is None else bcnt
        out = [struct.pack(">IBH", cid, 0x80 | cmd, bcnt) + payload[:57]]
        rest, seq = payload[57:], 0
        while rest:
            out.append(struct.pack(">IB", cid, seq) + rest[:59])
            rest, seq = rest[59:], seq + 1
        return out

    def request(self, cmd, payload, cid=None):
        cid = self.cid if cid is None else cid
        for f in self.frames(cid, cmd, payload):
            self.send(f)
        return self.response(cid)

    def response(self, cid=None):
        """(cmd, payload) of the next complete message on the channel; keepalives skipped."""
        cid = self.cid if cid is None else cid
        while True:
            r = self.recv()
            if struct.unpack(">I", r[:4])[0] != cid:
                continue
            cmd = r[4] & 0x7F
            if cmd == 0x3B:
                continue
            n = struct.unpack(">H", r[5:7])[0]
            data = r[7:7 + min(n, 57)]
            seq = 0
            while len(data) < n:
                c = self.recv()
                assert struct.unpack(">I", c[:4])[0] == cid and c[4] == seq, "bad continuation"
                data += c[5:5 + min(n - len(data), 59)]
                seq += 1
            return cmd, data

    def cbor(self, payload):
        """Status byte and body of a CTAPHID_CBOR request."""
        cmd, data = self.request(0x10, payload)
        assert cmd == 0x10, f"expected a CBOR response, got command 0x{cmd:02x} {data.hex()}"
        return data[0], data[1:]


def _fixture():
    import pytest

    @pytest.fixture
    def daemons():
        """start(state_dir=None, **options) -> a started Daemon; all are stopped (and checked
        for a clean exit) at the end of the test."""
        started, dirs = [], []

        def start(state_dir=None, **kw):
            if state_dir is None:
                state_dir = tempfile.mkdtemp(prefix="authsim-fido-")
                dirs.append(state_dir)
            d = Daemon(state_dir, **kw).start()
            started.append(d)
            return d

        try:
            yield start
        finally:
            while _OPEN:
                _OPEN.pop().close()
            errors = []
            for d in started:
                try:
                    d.stop()
                except AssertionError as e:
                    errors.append(str(e))
                    d.kill()
            for s in dirs:
                shutil.rmtree(s, ignore_errors=True)
            assert not errors, errors

    return daemons


daemons = _fixture()


class UdpConnection(CtapHidConnection):
    """A host on the loopback UDP transport: one 64-byte report per datagram."""

    def __init__(self, addr, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _OPEN.append(self.sock)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)

    def write_packet(self, data):
        if len(data) != REPORT:
            raise ValueError(f"a report is {REPORT} bytes, not {len(data)}")
        self.sock.send(data)

    def read_packet(self):
        data = self.sock.recv(4096)
        if len(data) != REPORT:
            raise OSError(f"a datagram of {len(data)} bytes, not one report")
        return data

    def close(self):
        self.sock.close()


def open_udp_device(addr):
    """A python-fido2 CtapHidDevice on the daemon's UDP transport."""
    desc = HidDescriptor(path=f"udp:{addr[0]}:{addr[1]}", vid=0, pid=0, report_size_in=REPORT,
                         report_size_out=REPORT, product_name="authsim", serial_number=None)
    return CtapHidDevice(desc, UdpConnection(addr))
