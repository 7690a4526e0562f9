"""Start and stop `authsim emulator` for the judges, and talk to its test controls.

The binary comes from $AUTHSIM_BIN (scripts/test-py.sh sets it). Every server binds
127.0.0.1 with port 0 and announces its address on stdout; every wait is bounded.
"""

import json
import os
import select
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pyotp
from botocore.config import Config

START_TIMEOUT = 20.0
REGION = "us-east-1"
DUMMY_KEY = "AKIAAUTHSIMTESTKEY01"
DUMMY_SECRET = "authsim-dummy-secret-key-not-a-real-one"


def authsim_bin():
    path = os.environ.get("AUTHSIM_BIN")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "..", "target", "debug", "authsim")
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise RuntimeError(f"authsim binary not found at {path}: build it or set AUTHSIM_BIN")
    return path


class Emulator:
    """One running `authsim emulator` process."""

    def __init__(self, state_file=None):
        args = [authsim_bin(), "emulator", "--listen", "127.0.0.1:0"]
        if state_file:
            args += ["--state", str(state_file)]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self._read_line(START_TIMEOUT)
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()!r}")
        self.addr = line.split("listening on ", 1)[1].strip()
        assert self.addr.startswith("127.0.0.1:"), self.addr
        self.url = f"http://{self.addr}"

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = ""
        fd = self.proc.stdout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                return fd.readline()
            if self.proc.poll() is not None:
                return buf
        return buf

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    # --- test controls -------------------------------------------------------------

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def now(self):
        """The server's clock (Unix seconds), including any test offset."""
        status, body = self.control("GET", "/_authsim/clock")
        assert status == 200, body
        return body["now"]

    def advance(self, seconds):
        status, body = self.control("POST", "/_authsim/clock", {"advance_seconds": seconds})
        assert status == 200, body
        return body["now"]

    def next_step(self):
        """Move the server clock to the start of the next 30-second TOTP step."""
        now = self.now()
        return self.advance(30 - (now % 30) + 0.5)

    def code(self, secret, steps=0):
        """The TOTP code of `secret` at the server's current step plus `steps`.

        Near the end of a step the server clock is first moved to the next one, so the
        step cannot roll over between computing a code and the server checking it.
        """
        return self.codes(secret, steps)[0]

    def codes(self, secret, *steps):
        """Several codes of `secret` from one reading of the server's clock."""
        now = self.now()
        if now % 30 > 25:
            now = self.next_step()
        totp = pyotp.TOTP(secret)
        return [totp.at(int(now) + 30 * s) for s in steps]

    def confirmation_code(self, pool, username):
        status, body = self.control(
            "GET", f"/_authsim/confirmation-code?pool={pool}&username={username}"
        )
        assert status == 200, body
        return body["code"]

    def messages(self, pool, username, kind=None):
        q = f"/_authsim/messages?pool={pool}&username={username}"
        if kind:
            q += f"&kind={kind}"
        status, body = self.control("GET", q)
        assert status == 200, body
        return body["messages"]

    # --- clients --------------------------------------------------------------------

    def client(self, service, key=DUMMY_KEY, secret=DUMMY_SECRET, token=None):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 1, "mode": "standard"},
            ),
        )

    def raw(self, body, headers, method="POST", path="/"):
        """Send a raw HTTP request; returns (status, headers, body text)."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        for k, v in headers.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()
