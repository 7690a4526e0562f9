"""Harness for the AWS tests: a moto server, a recording proxy that sees every request authsim
sends (so pyotp can cross-check each code), and a strict Cognito judge that verifies SRP
proofs, SECRET_HASH values, timestamps and TOTP codes on its own (with pycognito's SRP
primitives and pyotp, code nobody here wrote).

The AWS tests reach their backend only through an endpoint URL, so the same tests can run
against moto (default), or any stand-in (e.g. `authsim emulator --listen 127.0.0.1:PORT`):
set AUTHSIM_AWS_BACKENDS=moto,emulator. The self-tests at the bottom show that the judge and
the proxy can fail."""
import base64
import hashlib
import hmac
import http.client
import json
import urllib.request
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyotp
import pytest

# ----------------------------------------------------------------------------------------------
# Processes and ports


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc=None, deadline_s=30):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline_s} s")


# ----------------------------------------------------------------------------------------------
# The tests' clock


class TestClock:
    """Real time plus an offset that only grows, so no test sleeps for a TOTP window.

    authsim reads the offset from AUTHSIM_CLOCK_OFFSET (`env()`), a stand-in with a clock
    endpoint (`authsim emulator`'s POST /_authsim/clock) is moved with it, and the judges ask
    `now()`. `real=True` keeps the offset at zero and waits instead: for a server whose clock
    cannot be moved (moto checks Cognito TOTP codes against its own time)."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, server_url=None, real=False, period=30):
        self.offset = 0
        self.server_url = server_url
        self.real = real
        self.period = period

    def now(self):
        return time.time() + self.offset

    def env(self, base):
        return dict(base, AUTHSIM_CLOCK_OFFSET=str(self.offset))

    def advance(self, seconds):
        seconds = int(seconds)
        if self.real:
            time.sleep(seconds)
            return
        self.offset += seconds
        if self.server_url:
            req = urllib.request.Request(
                self.server_url + "/_authsim/clock", method="POST",
                data=json.dumps({"offset_seconds": self.offset}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 200

    def next_step(self, steps=1):
        """Moves to one second into the `steps`-th next time step, so a code of every step up
        to now is history and the new step's code has 29 s to live."""
        now = self.now()
        to_next = self.period - (now % self.period)
        self.advance(int(to_next) + 1 + self.period * (steps - 1))


class MotoServer:
    """moto_server on 127.0.0.1 and a free port, with Cognito TOTP checking on."""

    def __init__(self):
        exe = shutil.which("moto_server")
        if exe is None:
            pytest.fail("moto_server is missing: pip install 'moto[server]' (tests/requirements.txt)")
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        env = dict(os.environ, MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP="true")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for_port(self.port, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        os.unlink(self.log.name)


class EmulatorServer:
    """`authsim emulator --listen 127.0.0.1:PORT` (the strict stand-in, when it exists)."""

    def __init__(self, authsim_bin):
        # AUTHSIM_EMULATOR_BIN runs the stand-in from another build (e.g. another branch's).
        authsim_bin = os.environ.get("AUTHSIM_EMULATOR_BIN") or authsim_bin
        self.port = free_port()
        self.proc = subprocess.Popen([authsim_bin, "emulator", "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ----------------------------------------------------------------------------------------------
# The recording proxy


class Recorded:
    def __init__(self, op, params, status, response):
        self.op = op            # e.g. "EnableMFADevice", "InitiateAuth"
        self.params = params    # dict: JSON body, or the query parameters
        self.status = status
        self.response = response  # bytes

    def json(self):
        return json.loads(self.response)

    def __repr__(self):
        return f"<{self.op} {self.status}>"


class RecordingProxy:
    """Forwards every request verbatim (Host header included, so SigV4 stays valid) to the
    upstream and records it. `fail(op, ...)` makes matching requests fail with a 400 the SDK
    does not retry, after forwarding them or instead of forwarding them."""

    def __init__(self, upstream_url):
        u = urllib.parse.urlparse(upstream_url)
        self.upstream = (u.hostname, u.port)
        self.records = []
        self.faults = {}
        self.answers = {}  # op -> fn(params) -> (status, body): answered here, not forwarded
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                op, params = proxy.parse(self.headers, body)
                fault = proxy.take_fault(op)
                status, headers, data = 0, [], b""
                answer = proxy.answers.get(op)
                if answer is not None and not fault:
                    status, data = answer(params)
                    headers = [("Content-Type", "text/xml")]
                    fault = "answered"
                elif fault != "instead":
                    conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                    try:
                        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                        r = conn.getresponse()
                        status, headers, data = r.status, r.getheaders(), r.read()
                    finally:
                        conn.close()
                with proxy.lock:
                    proxy.records.append(Recorded(op, params, status, data))
                if fault and fault != "answered":
                    data = proxy.fault_body(self.headers)
                    status = 400
                    headers = [("Content-Type", self.headers.get("Content-Type") or "text/xml")]
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_GET = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def parse(headers, body):
        target = headers.get("X-Amz-Target")
        if target:
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
            return target.split(".")[-1], params
        q = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        return q.get("Action", "?"), q

    @staticmethod
    def fault_body(headers):
        if headers.get("X-Amz-Target"):
            return json.dumps({"__type": "InjectedFault", "message": "injected by the test proxy"}).encode()
        return (b"<ErrorResponse><Error><Type>Sender</Type><Code>InjectedFault</Code>"
                b"<Message>injected by the test proxy</Message></Error><RequestId>x</RequestId></ErrorResponse>")

    def fail(self, op, mode="after", count=1):
        """The next `count` requests of `op` fail: 'after' forwarding them, or 'instead'."""
        with self.lock:
            self.faults[op] = [mode, count]

    def take_fault(self, op):
        with self.lock:
            f = self.faults.get(op)
            if not f or f[1] <= 0:
                return None
            f[1] -= 1
            return f[0]

    def ops(self, op=None):
        with self.lock:
            return [r for r in self.records if op is None or r.op == op]

    def clear(self):
        with self.lock:
            self.records.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------------------------
# TOTP judging


def b32_bytes(secret):
    s = secret.replace(" ", "").upper().rstrip("=")
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp_at(secret_b32, t, step_offset=0):
    """pyotp's code for the step holding time t (secrets of any length, e.g. moto's 60-bit one)."""
    norm = base64.b32encode(b32_bytes(secret_b32)).decode()
    class Short(pyotp.TOTP):
        def byte_secret(self):
            return b32_bytes(self.secret)
    return Short(norm).at(t + 30 * step_offset)


def code_step(secret_b32, code, around, window=3):
    """The time step (of those within `window` steps of `around`) whose code is `code`, or None."""
    base = int(around) // 30
    for s in range(base - window, base + window + 1):
        if totp_at(secret_b32, s * 30) == code:
            return s
    return None


# ----------------------------------------------------------------------------------------------
# The strict Cognito judge (JSON 1.1 protocol, as the SDK speaks it)

from pycognito import aws_srp as srp  # noqa: E402  (pycognito is the independent SRP reference)

N = srp.hex_to_long(srp.N_HEX)
G = srp.hex_to_long(srp.G_HEX)
K = srp.hex_to_long(srp.hex_hash("00" + srp.N_HEX + "0" + srp.G_HEX))
TIMESTAMP_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] UTC [0-9]{4}$")


class CognitoError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def secret_hash(client_secret, username, client_id):
    mac = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def fake_jwt(claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{enc({'alg': 'none', 'kid': 'judge'})}.{enc(claims)}.{secrets.token_urlsafe(32)}"


class JudgeUser:
    def __init__(self, username, password, email=None):
        self.username = username
        self.password = password
        self.email = email
        self.sub = str(uuid.uuid4())
        self.status = "CONFIRMED"
        self.totp_secret = None       # verified secret
        self.pending_secret = None    # associated, not yet verified
        self.totp_enabled = False
        self.totp_preferred = False
        self.sms_too = False          # offers SMS as well (makes Cognito ask SELECT_MFA_TYPE)
        self.last_step = -1           # Cognito refuses a code it accepted before
        self.codes = []               # (operation, code, time) accepted or refused


class CognitoJudge:
    """A strict user pool: verifies the SRP proof the server's way, S = (A·v^u)^b, every
    SECRET_HASH, the TIMESTAMP format, TOTP codes (pyotp, ±1 step, no reuse), and sessions
    (lifetime `session_ttl`, single use)."""

    def __init__(self, pool_id="eu-west-1_JudgePool1", client_secret=None, mfa="OPTIONAL",
                 session_ttl=180, clock=None):
        self.clock = clock or TestClock()
        self.pool_id = pool_id
        self.pool_name = pool_id.split("_", 1)[1]
        self.client_id = "judgeclient" + secrets.token_hex(6)
        self.client_secret = client_secret
        self.mfa = mfa
        self.session_ttl = session_ttl
        self.users = {}
        self.sessions = {}
        self.access = {}
        self.refresh = {}
        self.log = []   # (op, params, error kind or None)
        self.lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                op = (self.headers.get("X-Amz-Target") or "").split(".")[-1]
                try:
                    with judge.lock:
                        out = getattr(judge, "op_" + op)(body)
                    judge.log.append((op, body, None))
                    status, data = 200, json.dumps(out).encode()
                except CognitoError as e:
                    judge.log.append((op, body, e.kind))
                    status, data = 400, json.dumps({"__type": e.kind, "message": e.message}).encode()
                except AttributeError:
                    status, data = 400, json.dumps({"__type": "InvalidAction", "message": op}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                if status != 200:
                    self.send_header("x-amzn-ErrorType", json.loads(data)["__type"])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- helpers

    def add_user(self, username, password, email=None):
        u = JudgeUser(username, password, email)
        self.users[username] = u
        return u

    def find(self, name):
        for u in self.users.values():
            if name in (u.username, u.email):
                return u
        raise CognitoError("UserNotFoundException", "User does not exist.")

    def check_client(self, body):
        if body.get("ClientId") != self.client_id:
            raise CognitoError("ResourceNotFoundException", "User pool client does not exist.")

    def check_hash(self, params, username):
        if self.client_secret is None:
            return
        got = params.get("SECRET_HASH")
        if got is None:
            raise CognitoError("NotAuthorizedException",
                               f"Client {self.client_id} is configured with secret but SECRET_HASH was not received")
        if got != secret_hash(self.client_secret, username, self.client_id):
            raise CognitoError("NotAuthorizedException",
                               f"Unable to verify secret hash for client {self.client_id}")

    def new_session(self, user, stage, **extra):
        sid = base64.b64encode(secrets.token_bytes(96)).decode()
        self.sessions[sid] = dict(user=user, stage=stage, issued=time.time(), **extra)
        return sid

    def take_session(self, sid, stage):
        s = self.sessions.pop(sid or "", None)
        if s is None or time.time() - s["issued"] > self.session_ttl:
            raise CognitoError("NotAuthorizedException", "Invalid session for the user, session is expired.")
        if s["stage"] != stage:
            raise CognitoError("NotAuthorizedException", "Invalid session for the user.")
        return s

    def tokens(self, user):
        access = fake_jwt({"username": user.username, "sub": user.sub, "token_use": "access",
                           "client_id": self.client_id})
        refresh = secrets.token_urlsafe(48)
        self.access[access] = user
        self.refresh[refresh] = user
        return {"AuthenticationResult": {
            "AccessToken": access, "IdToken": fake_jwt({"sub": user.sub, "token_use": "id"}),
            "RefreshToken": refresh, "ExpiresIn": 3600, "TokenType": "Bearer"}}

    def user_of_token(self, token):
        u = self.access.get(token or "")
        if u is None:
            raise CognitoError("NotAuthorizedException", "Invalid Access Token")
        return u

    def check_code(self, user, secret, code, op):
        now = self.clock.now()
        user.codes.append((op, code, now))
        step = code_step(secret, code, now, window=1)
        if step is None:
            raise CognitoError("CodeMismatchException", "Invalid code received for user")
        if step <= user.last_step:
            raise CognitoError("ExpiredCodeException", "Your software token has already been used once.")
        user.last_step = step

    def after_password(self, user):
        """The next challenge once the password is proven, or the tokens."""
        if user.status == "FORCE_CHANGE_PASSWORD":
            return {"ChallengeName": "NEW_PASSWORD_REQUIRED",
                    "ChallengeParameters": {"USERNAME": user.username, "requiredAttributes": "[]",
                                            "userAttributes": "{}"},
                    "Session": self.new_session(user, "NEW_PASSWORD_REQUIRED")}
        if user.totp_enabled and user.sms_too:
            return {"ChallengeName": "SELECT_MFA_TYPE",
                    "ChallengeParameters": {"USERNAME": user.username,
                                            "MFAS_CAN_CHOOSE": '["SMS_MFA","SOFTWARE_TOKEN_MFA"]'},
                    "Session": self.new_session(user, "SELECT_MFA_TYPE")}
        if user.totp_enabled:
            return self.mfa_challenge(user)
        if self.mfa == "ON":
            return {"ChallengeName": "MFA_SETUP",
                    "ChallengeParameters": {"USERNAME": user.username, "MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]'},
                    "Session": self.new_session(user, "MFA_SETUP_ASSOCIATE")}
        return self.tokens(user)

    def mfa_challenge(self, user):
        return {"ChallengeName": "SOFTWARE_TOKEN_MFA",
                "ChallengeParameters": {"USERNAME": user.username},
                "Session": self.new_session(user, "SOFTWARE_TOKEN_MFA")}

    # -- operations

    def op_InitiateAuth(self, body):
        self.check_client(body)
        flow = body.get("AuthFlow")
        p = body.get("AuthParameters") or {}
        if flow == "USER_SRP_AUTH":
            user = self.find(p.get("USERNAME", ""))
            self.check_hash(p, p.get("USERNAME", ""))
            a = int(p.get("SRP_A", "0"), 16)
            if a % N == 0:
                raise CognitoError("NotAuthorizedException", "Invalid SRP_A")
            salt = f"{secrets.randbits(128) | (1 << 127):x}"
            x = srp.hex_to_long(srp.hex_hash(srp.pad_hex(salt) + srp.hash_sha256(
                f"{self.pool_name}{user.username}:{user.password}".encode())))
            v = pow(G, x, N)
            b = secrets.randbits(1024) % N
            big_b = (K * v + pow(G, b, N)) % N
            block = base64.b64encode(secrets.token_bytes(64)).decode()
            sid = self.new_session(user, "PASSWORD_VERIFIER", a=a, b=b, B=big_b, v=v, block=block)
            return {"ChallengeName": "PASSWORD_VERIFIER", "Session": sid, "ChallengeParameters": {
                "SALT": salt, "SRP_B": f"{big_b:x}", "SECRET_BLOCK": block,
                "USERNAME": user.username, "USER_ID_FOR_SRP": user.username}}
        if flow == "USER_PASSWORD_AUTH":
            user = self.find(p.get("USERNAME", ""))
            self.check_hash(p, p.get("USERNAME", ""))
            if p.get("PASSWORD") != user.password:
                raise CognitoError("NotAuthorizedException", "Incorrect username or password.")
            return self.after_password(user)
        if flow == "REFRESH_TOKEN_AUTH":
            user = self.refresh.get(p.get("REFRESH_TOKEN", ""))
            if user is None:
                raise CognitoError("NotAuthorizedException", "Invalid Refresh Token")
            self.check_hash(p, user.username)
            out = self.tokens(user)
            del out["AuthenticationResult"]["RefreshToken"]
            return out
        raise CognitoError("InvalidParameterException", f"Initiate Auth method not supported: {flow}")

    def op_RespondToAuthChallenge(self, body):
        self.check_client(body)
        name = body.get("ChallengeName")
        r = body.get("ChallengeResponses") or {}
        stage = "MFA_SETUP_DONE" if name == "MFA_SETUP" else name
        sid = body.get("Session")
        if name == "PASSWORD_VERIFIER" and not sid:
            # Cognito finds the SRP state by its SECRET_BLOCK (pycognito sends no Session).
            block = r.get("PASSWORD_CLAIM_SECRET_BLOCK")
            sid = next((k for k, v in self.sessions.items() if v.get("block") == block), None)
        s = self.take_session(sid, stage)
        user = s["user"]
        if r.get("USERNAME") != user.username:
            raise CognitoError("NotAuthorizedException", "USERNAME does not match the session")
        self.check_hash(r, user.username)
        if name == "PASSWORD_VERIFIER":
            ts = r.get("TIMESTAMP", "")
            if not TIMESTAMP_RE.match(ts):
                raise CognitoError("InvalidParameterException", f"TIMESTAMP format: {ts!r}")
            # It must also be now, in UTC, as pycognito formats it.
            now = self.clock.now()
            import datetime
            near = {srp.AWSSRP.get_cognito_formatted_timestamp(
                datetime.datetime.fromtimestamp(now + d, datetime.timezone.utc)) for d in range(-5, 6)}
            if ts not in near:
                raise CognitoError("NotAuthorizedException", f"TIMESTAMP is not now: {ts!r}")
            if r.get("PASSWORD_CLAIM_SECRET_BLOCK") != s["block"]:
                raise CognitoError("NotAuthorizedException", "SECRET_BLOCK mismatch")
            u = srp.calculate_u(s["a"], s["B"])
            big_s = pow(s["a"] * pow(s["v"], u, N), s["b"], N)
            key = srp.compute_hkdf(bytes.fromhex(srp.pad_hex(big_s)), bytes.fromhex(srp.pad_hex(srp.long_to_hex(u))))
            msg = self.pool_name.encode() + user.username.encode() + base64.b64decode(s["block"]) + ts.encode()
            want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
            if r.get("PASSWORD_CLAIM_SIGNATURE") != want:
                raise CognitoError("NotAuthorizedException", "Incorrect username or password.")
            return self.after_password(user)
        if name == "NEW_PASSWORD_REQUIRED":
            if not r.get("NEW_PASSWORD") or len(r["NEW_PASSWORD"]) < 8:
                raise CognitoError("InvalidPasswordException", "Password does not conform to policy")
            user.password = r["NEW_PASSWORD"]
            user.status = "CONFIRMED"
            return self.after_password(user)
        if name == "SELECT_MFA_TYPE":
            if r.get("ANSWER") != "SOFTWARE_TOKEN_MFA":
                raise CognitoError("InvalidParameterException", "ANSWER")
            return self.mfa_challenge(user)
        if name == "SOFTWARE_TOKEN_MFA":
            try:
                self.check_code(user, user.totp_secret, r.get("SOFTWARE_TOKEN_MFA_CODE", ""), name)
            except CognitoError:
                # Cognito lets the user try again within the session.
                self.sessions[sid] = s
                raise
            return self.tokens(user)
        if name == "MFA_SETUP":
            user.totp_enabled = True
            return self.tokens(user)
        raise CognitoError("InvalidParameterException", f"challenge {name}")

    def op_AssociateSoftwareToken(self, body):
        secret = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
        if body.get("Session"):
            s = self.take_session(body["Session"], "MFA_SETUP_ASSOCIATE")
            s["user"].pending_secret = secret
            return {"SecretCode": secret, "Session": self.new_session(s["user"], "MFA_SETUP_VERIFY")}
        user = self.user_of_token(body.get("AccessToken"))
        user.pending_secret = secret
        return {"SecretCode": secret}

    def op_VerifySoftwareToken(self, body):
        if body.get("Session"):
            s = self.take_session(body["Session"], "MFA_SETUP_VERIFY")
            user = s["user"]
        else:
            user = self.user_of_token(body.get("AccessToken"))
        if user.pending_secret is None:
            raise CognitoError("InvalidParameterException", "no software token associated")
        try:
            self.check_code(user, user.pending_secret, body.get("UserCode", ""), "VerifySoftwareToken")
        except CognitoError as e:
            if body.get("Session"):
                self.sessions[body["Session"]] = s
            raise CognitoError("EnableSoftwareTokenMFAException", "Code mismatch") from e
        user.totp_secret, user.pending_secret = user.pending_secret, None
        out = {"Status": "SUCCESS"}
        if body.get("Session"):
            out["Session"] = self.new_session(user, "MFA_SETUP_DONE")
        return out

    def op_SetUserMFAPreference(self, body):
        user = self.user_of_token(body.get("AccessToken"))
        st = body.get("SoftwareTokenMfaSettings") or {}
        if st.get("Enabled") and user.totp_secret is None:
            raise CognitoError("InvalidParameterException", "User has not verified software token mfa")
        if "Enabled" in st:
            user.totp_enabled = bool(st["Enabled"])
        if "PreferredMfa" in st:
            user.totp_preferred = bool(st["PreferredMfa"])
        return {}

    def op_GetUser(self, body):
        user = self.user_of_token(body.get("AccessToken"))
        return {"Username": user.username,
                "UserAttributes": [{"Name": "sub", "Value": user.sub}],
                "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"] if user.totp_enabled else [],
                "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA" if user.totp_preferred else ""}


# ----------------------------------------------------------------------------------------------
# Running authsim against an endpoint


def aws_env(base_env, state_dir):
    """An environment with fake credentials and no real AWS configuration."""
    env = dict(base_env)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    config = os.path.join(state_dir, "aws-config-empty")
    creds = os.path.join(state_dir, "aws-credentials-empty")
    for f in (config, creds):
        open(f, "a").close()
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE=creds)
    return env


# ----------------------------------------------------------------------------------------------
# Self-tests: the judge accepts pycognito's own client and refuses wrong proofs; the proxy
# records and injects faults.


@pytest.fixture
def judge():
    j = CognitoJudge(client_secret="judge-client-secret-0123456789")
    yield j
    j.close()


def boto_idp(url):
    import boto3
    return boto3.client("cognito-idp", endpoint_url=url, region_name="eu-west-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def test_judge_accepts_pycognitos_srp_and_refuses_a_wrong_password(judge):
    judge.add_user("alice", "Correct-Horse-7!")
    client = boto_idp(judge.url)
    good = srp.AWSSRP("alice", "Correct-Horse-7!", judge.pool_id, judge.client_id, client=client,
                      client_secret=judge.client_secret)
    tokens = good.authenticate_user()
    assert tokens["AuthenticationResult"]["AccessToken"]
    bad = srp.AWSSRP("alice", "Correct-Horse-8!", judge.pool_id, judge.client_id, client=client,
                     client_secret=judge.client_secret)
    with pytest.raises(Exception) as e:
        bad.authenticate_user()
    assert "NotAuthorizedException" in str(e.value)


def test_judge_refuses_a_wrong_secret_hash(judge):
    judge.add_user("alice", "Correct-Horse-7!")
    client = boto_idp(judge.url)
    wrong = srp.AWSSRP("alice", "Correct-Horse-7!", judge.pool_id, judge.client_id, client=client,
                       client_secret="not-the-secret")
    with pytest.raises(Exception) as e:
        wrong.authenticate_user()
    assert "secret hash" in str(e.value)


def test_judge_refuses_a_zero_padded_day(judge):
    judge.add_user("alice", "Correct-Horse-7!")
    assert TIMESTAMP_RE.match("Tue Nov 3 09:05:07 UTC 2026")
    assert not TIMESTAMP_RE.match("Tue Nov 03 09:05:07 UTC 2026")
    assert not TIMESTAMP_RE.match("Tue Nov 3 9:05:07 UTC 2026")


def test_proxy_records_and_injects_faults():
    judge = CognitoJudge()
    proxy = RecordingProxy(judge.url)
    try:
        judge.add_user("bob", "Pass-word-1")
        client = boto_idp(proxy.url)
        out = client.initiate_auth(ClientId=judge.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "bob", "PASSWORD": "Pass-word-1"})
        assert out["AuthenticationResult"]["AccessToken"]
        rec = proxy.ops("InitiateAuth")
        assert len(rec) == 1 and rec[0].params["AuthParameters"]["USERNAME"] == "bob"
        proxy.fail("InitiateAuth", "instead")
        with pytest.raises(Exception) as e:
            client.initiate_auth(ClientId=judge.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": "bob", "PASSWORD": "Pass-word-1"})
        assert "InjectedFault" in str(e.value)
    finally:
        proxy.close()
        judge.close()


def test_code_step_finds_the_step_and_refuses_others():
    s = "JBSWY3DPEHPK3PXP"
    now = 1_700_000_000
    assert code_step(s, totp_at(s, now), now) == now // 30
    assert code_step(s, totp_at(s, now, 1), now) == now // 30 + 1
    assert code_step(s, totp_at(s, now + 3600), now) is None
