"""Judge: every AWS call of every flow, lost on the wire. A fault-injecting proxy sits between
authsim and the strict stand-in (`authsim emulator`) and, for one call of a flow, either
resets the connection before the request reaches the stand-in (`drop`), or forwards it and
resets the connection instead of answering (`cut`: the stand-in did the work, authsim never
hears). Then: every seed or passkey credential authsim was handed is still kept (the vault
holds every TOTP secret and IAM seed that reached it, the virtual key every credential the
pool registered, nothing half-written), and a rerun of the same command completes (or its
error says exactly what to do, and doing that completes).

The AWS SDK retries connection errors on its own, so faults run with retries off
(AWS_MAX_ATTEMPTS=1, one lost call) and with the SDK's default retries, the proxy failing
every attempt in a row (`exhausted`). A third variant loses one attempt only and lets the SDK
retry (`retried`), which replays a request the stand-in has already acted on (a spent code, a
used challenge). Every call runs with retries off; the retrying variants (seconds of SDK
back-off each) run for the calls after which the stand-in holds something authsim must keep,
and for every call with AUTHSIM_FAULTS=full. The TestClock moves the stand-in's and authsim's
clocks: no test waits for a TOTP window. Password sign-ins (not SRP, a second per run in a
debug build) keep the file fast; the SRP calls carry no secret a fault could lose."""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import http.client
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

import test_aws_harness as h
from conftest import authsim_bin
from fido import Daemon

PASSWORD = "Correct-Horse-7!"
RP_ID = "example.com"

pytestmark = pytest.mark.timeout(120)


# ----------------------------------------------------------------------------------------------
# The fault-injecting proxy


def label(headers, body):
    """The call a request makes: the JSON 1.1 target or the query protocol's Action, with a
    Cognito challenge's name (`RespondToAuthChallenge:PASSWORD_VERIFIER`)."""
    target = headers.get("X-Amz-Target")
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        op = target.split(".")[-1]
        if isinstance(params, dict) and params.get("ChallengeName"):
            op += ":" + params["ChallengeName"]
        return op, params
    q = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    return q.get("Action", "?"), q


class Seen:
    """One request the proxy handled."""

    def __init__(self, op, params, fault, status, response):
        self.op = op
        self.params = params
        self.fault = fault          # None, "drop" or "cut"
        self.status = status        # the stand-in's status (0: never forwarded)
        self.response = response    # the stand-in's body (reached authsim unless cut)

    @property
    def delivered(self):
        """The stand-in's answer reached authsim."""
        return self.fault is None and self.status == 200

    @property
    def acted(self):
        """The stand-in accepted the request (whether or not authsim heard)."""
        return self.fault != "drop" and self.status == 200


class FaultProxy:
    """HTTP proxy to `upstream` on 127.0.0.1. `arm(op, nth, mode, count)` makes requests
    number nth .. nth+count-1 of `op` (counted from 0 since the last `reset`) fail: `drop`
    resets the connection without forwarding, `cut` forwards and then resets the connection
    instead of answering."""

    def __init__(self, upstream_url):
        u = urllib.parse.urlparse(upstream_url)
        self.upstream = (u.hostname, u.port)
        self.lock = threading.Lock()
        self.seen = []
        self.counts = {}
        self.rule = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reset(self):
                # SO_LINGER 0: close() sends RST, as a dropped connection looks to the client.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                op, params = label(self.headers, body)
                fault = proxy.take(op)
                status, headers, data = 0, [], b""
                if fault != "drop":
                    conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                    try:
                        conn.request(self.command, self.path, body=body,
                                     headers=dict(self.headers))
                        r = conn.getresponse()
                        status, headers, data = r.status, r.getheaders(), r.read()
                    finally:
                        conn.close()
                with proxy.lock:
                    proxy.seen.append(Seen(op, params, fault, status, data))
                if fault:
                    self.reset()
                    return
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self, op, nth, mode, count):
        with self.lock:
            self.rule = (op, nth, mode, count)
            self.counts = {}

    def disarm(self):
        with self.lock:
            self.rule = None

    def take(self, op):
        with self.lock:
            k = self.counts.get(op, 0)
            self.counts[op] = k + 1
            if self.rule and self.rule[0] == op and self.rule[1] <= k < self.rule[1] + self.rule[3]:
                return self.rule[2]
            return None

    def ops(self, op=None):
        with self.lock:
            return [s for s in self.seen if op is None or s.op == op]

    def reset(self):
        with self.lock:
            self.seen.clear()
            self.counts = {}
            self.rule = None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------------------------
# The world: one stand-in, one proxy, one daemon with a virtual key per xdist worker


class World:
    def __init__(self):
        self.emu = h.EmulatorServer(authsim_bin())
        self.clock = h.TestClock(self.emu.url)
        self.proxy = FaultProxy(self.emu.url)
        self.daemon = Daemon(_tmpdir("authsim-faults-"), attestation="none").start()

    def client(self, service):
        return boto3.client(service, endpoint_url=self.emu.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def close(self):
        self.proxy.close()
        try:
            self.daemon.stop()
        finally:
            self.emu.close()


def _tmpdir(prefix):
    import tempfile
    return tempfile.mkdtemp(prefix=prefix)


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.close()


class Cli:
    """authsim on the daemon's state directory (so `--key` finds its key and the vault is the
    daemon's), with fake AWS credentials, the test clock, and the proxy as the endpoint."""

    def __init__(self, world, tmp_path, retries, on_daemon=False):
        self.world = world
        tmp_path.mkdir(parents=True, exist_ok=True)
        if on_daemon:
            # The passkey flow plays the browser on the daemon's key.
            base = world.daemon.env
        else:
            # The TOTP flows keep seeds in a vault of their own: the daemon's clock does not
            # move with the test clock.
            base = dict(world.daemon.env, AUTHSIM_STATE_DIR=str(tmp_path / "state"))
        self.env = h.aws_env(base, str(tmp_path))
        if retries == "off":
            self.env["AWS_MAX_ATTEMPTS"] = "1"

    def run(self, *args, input=None, check=True):
        env = self.world.clock.env(self.env)
        p = subprocess.run([authsim_bin(), *args], input=input, capture_output=True, text=True,
                           env=env, timeout=90)
        if check and p.returncode != 0:
            raise AssertionError(f"authsim {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def vault_secrets(self, prefix):
        """The secret (bytes) of every TOTP entry whose name starts with `prefix`, by name."""
        out = {}
        for e in json.loads(self.run("totp", "list", "--json").stdout):
            if not e["name"].startswith(prefix):
                continue
            uri = self.run("totp", "show", e["name"], "--uri").stdout.strip()
            out[e["name"]] = h.b32_bytes(re.search(r"[?&]secret=([A-Z2-7=]+)", uri).group(1))
        return out


# ----------------------------------------------------------------------------------------------
# The flows: each a set-up (boto3, straight to the stand-in), the authsim commands through the
# proxy, the calls those make in a clean run, what must be kept after a fault, and the final
# check that the job is done.


def uniq(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sign_in_args(w, f, *extra):
    return ["cognito", "sign-in", "--endpoint-url", w.proxy.url, "--client-id", f["client"],
            "--username", f["user"], "--password-stdin", "--flow", "password", "--pool-id", f["pool"],
            *extra]


def cognito_setup(w, mfa):
    idp = w.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=uniq("faults"))["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration=mfa,
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="authsim",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    user = uniq("u")
    idp.admin_create_user(UserPoolId=pool, Username=user, TemporaryPassword="Temp-Pass-1!",
                          MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD,
                                Permanent=True)
    return {"pool": pool, "client": client, "user": user, "totp": uniq("t"),
            "session": uniq("s")}


def totp_kept(w, cli, f):
    """Every TOTP secret AssociateSoftwareToken delivered is in the vault."""
    have = set(cli.vault_secrets(f["totp"]).values())
    for s in w.proxy.ops("AssociateSoftwareToken"):
        if s.delivered:
            secret = h.b32_bytes(json.loads(s.response)["SecretCode"])
            assert secret in have, "a delivered TOTP secret is not in the vault"


def totp_sign_in_works(w, cli, f):
    """A sign-in answered with the vault's code: the pool verified the vault's secret."""
    w.clock.next_step(2)
    p = cli.run(*sign_in_args(w, f, "--totp", f["totp"]), input=PASSWORD + "\n")
    assert w.client("cognito-idp").get_user(
        AccessToken=json.loads(p.stdout)["AccessToken"])["Username"] == f["user"]
    assert "SOFTWARE_TOKEN_MFA" in p.stderr, p.stderr


class CognitoEnroll:
    """Sign in, enroll-totp on the saved session, sign in with the new TOTP."""

    on_daemon = False
    name = "cognito-enroll"
    calls = ["InitiateAuth",
             "GetUser", "AssociateSoftwareToken", "VerifySoftwareToken", "SetUserMFAPreference",
             "GetUser",
             "InitiateAuth", "RespondToAuthChallenge:SOFTWARE_TOKEN_MFA"]
    # InitiateAuth is faulted in the MFA_SETUP flow, the same call.
    targets = [1, 2, 3, 4, 5, 7]
    retry_targets = [3, 7]  # VerifySoftwareToken, the SOFTWARE_TOKEN_MFA answer

    def setup(self, w):
        return cognito_setup(w, "OPTIONAL")

    def commands(self, w, f):
        return [
            (sign_in_args(w, f, "--save", f["session"]), PASSWORD + "\n"),
            (["cognito", "enroll-totp", "--endpoint-url", w.proxy.url, "--session",
              f["session"], "--name", f["totp"], "--preferred", "--json"], None),
            (sign_in_args(w, f, "--totp", f["totp"]), PASSWORD + "\n"),
        ]

    kept = staticmethod(totp_kept)

    def done(self, w, cli, f):
        totp_sign_in_works(w, cli, f)


class CognitoMfaSetup:
    """Sign in to a pool that requires MFA: MFA_SETUP answered by enrolling a TOTP."""

    on_daemon = False
    name = "cognito-mfa-setup"
    calls = ["InitiateAuth",
             "AssociateSoftwareToken", "VerifySoftwareToken", "RespondToAuthChallenge:MFA_SETUP",
             "SetUserMFAPreference", "GetUser"]
    targets = range(len(calls))
    retry_targets = [2, 3]  # VerifySoftwareToken, RespondToAuthChallenge:MFA_SETUP

    def setup(self, w):
        return cognito_setup(w, "ON")

    def commands(self, w, f):
        return [(sign_in_args(w, f, "--totp", f["totp"]), PASSWORD + "\n")]

    kept = staticmethod(totp_kept)

    def done(self, w, cli, f):
        totp_sign_in_works(w, cli, f)


class IamEnable:
    """iam enable-mfa: CreateVirtualMFADevice, seed into the vault, EnableMFADevice, confirm."""

    on_daemon = False
    name = "iam-enable-mfa"
    calls = ["CreateVirtualMFADevice", "EnableMFADevice", "ListMFADevices"]
    targets = range(len(calls))
    retry_targets = [0, 1]

    def setup(self, w):
        user = uniq("iu")
        w.client("iam").create_user(UserName=user)
        return {"user": user, "device": uniq("d")}

    def commands(self, w, f):
        return [(["iam", "enable-mfa", "--endpoint-url", w.proxy.url, "--user", f["user"],
                  "--device-name", f["device"], "--json"], None)]

    def kept(self, w, cli, f):
        have = set(cli.vault_secrets(f["device"]).values())
        for s in w.proxy.ops("CreateVirtualMFADevice"):
            if s.delivered:
                assert h.b32_bytes(seed_of(s)) in have, "a delivered IAM seed is not in the vault"

    def done(self, w, cli, f):
        listed = w.client("iam").list_mfa_devices(UserName=f["user"])["MFADevices"]
        assert len(listed) == 1, listed
        serial = listed[0]["SerialNumber"]
        created = [s for s in w.proxy.ops("CreateVirtualMFADevice")
                   if s.acted and serial.encode() in s.response]
        assert created, "the enabled device was never created through the proxy"
        assert cli.vault_secrets(f["device"])[f["device"]] == h.b32_bytes(seed_of(created[-1]))
        # No orphan is left behind either.
        orphans = [d for d in w.client("iam").list_virtual_mfa_devices()["VirtualMFADevices"]
                   if d["SerialNumber"].endswith("/" + f["device"]) and d["SerialNumber"] != serial]
        assert orphans == []


def seed_of(s):
    import base64
    m = re.search(rb"<Base32StringSeed>([^<]+)</Base32StringSeed>", s.response)
    return base64.b64decode(m.group(1)).decode()


class PasskeyRegister:
    """cognito passkey register on a saved session, on the daemon's virtual key."""

    on_daemon = True
    name = "passkey-register"
    calls = ["StartWebAuthnRegistration", "CompleteWebAuthnRegistration"]
    targets = range(len(calls))
    retry_targets = [1]

    def setup(self, w):
        idp = w.client("cognito-idp")
        pool = idp.create_user_pool(
            PoolName=uniq("pk"), UserPoolTier="ESSENTIALS",
            Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}},
        )["UserPool"]["Id"]
        idp.set_user_pool_mfa_config(
            UserPoolId=pool, MfaConfiguration="OFF",
            WebAuthnConfiguration={"RelyingPartyId": RP_ID, "UserVerification": "preferred"})
        client = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="authsim",
            ExplicitAuthFlows=["ALLOW_USER_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                               "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
        user = uniq("pu")
        idp.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD,
                                    Permanent=True)
        return {"pool": pool, "client": client, "user": user, "session": uniq("s")}

    def prepare(self, w, cli, f):
        # The password sign-in is not under test here (the Cognito flows above fault it).
        cli.run("cognito", "sign-in", "--endpoint-url", w.emu.url, "--flow", "password",
                "--pool-id", f["pool"], "--client-id", f["client"], "--username", f["user"],
                "--password-stdin", "--save", f["session"], input=PASSWORD + "\n")

    def commands(self, w, f):
        return [(["cognito", "passkey", "register", "--endpoint-url", w.proxy.url, "--session",
                  f["session"], "--json"], None)]

    def key_credentials(self, w):
        status, body, _ = w.daemon.api("GET", "/webauthn/authenticator/default/credentials")
        assert status == 200, body
        return {c["credentialId"] for c in body}

    def kept(self, w, cli, f):
        on_key = self.key_credentials(w)
        for s in w.proxy.ops("CompleteWebAuthnRegistration"):
            if s.acted:
                assert s.params["Credential"]["id"] in on_key, \
                    "the pool registered a credential the key does not hold"

    def done(self, w, cli, f):
        token = cli.run("cognito", "token", f["session"]).stdout.strip()
        listed = w.client("cognito-idp").list_web_authn_credentials(
            AccessToken=token)["Credentials"]
        assert len(listed) == 1, listed
        assert listed[0]["CredentialId"] in self.key_credentials(w)
        p = cli.run("cognito", "sign-in", "--endpoint-url", w.emu.url, "--client-id",
                    f["client"], "--username", f["user"], "--passkey")
        assert "WEB_AUTHN" in p.stderr, p.stderr


FLOWS = [CognitoEnroll(), CognitoMfaSetup(), IamEnable(), PasskeyRegister()]


# (mode, retries) of each faulted call. A dropped request retried by the SDK is, to the
# stand-in, a clean one: `retried` is run for cut answers only. Every call of every flow runs
# with retries off; with the SDK's retries (whose back-off costs seconds) every call runs when
# AUTHSIM_FAULTS=full, else the calls after which the stand-in holds something authsim must
# keep (`flow.retry_targets`).
OFF = [("drop", "off"), ("cut", "off")]
RETRYING = [("drop", "exhausted"), ("cut", "exhausted"), ("cut", "retried")]
FULL = os.environ.get("AUTHSIM_FAULTS") == "full"


def cases():
    for flow in FLOWS:
        seen = {}
        for i, op in enumerate(flow.calls):
            nth = seen.get(op, 0)
            seen[op] = nth + 1
            if i not in flow.targets:
                continue
            variants = OFF + (RETRYING if FULL or i in flow.retry_targets else [])
            for mode, retries in variants:
                yield pytest.param(flow, i, op, nth, mode, retries,
                                   id=f"{flow.name}-{i}-{op}-{mode}-{retries}")


def run_flow(w, cli, flow, f, rerun_advice=True):
    """Runs the flow's commands; a command that fails is rerun (after two TOTP steps, faults
    off) and must complete, or say what to do (IAM's --cleanup), which must then complete.
    Returns the first failure's stderr, if any."""
    first_failure = None
    for i, (args, stdin) in enumerate(flow.commands(w, f)):
        if i:
            # The command before may have spent this step's code.
            w.clock.next_step()
        p = cli.run(*args, input=stdin, check=False)
        if p.returncode == 0:
            continue
        first_failure = first_failure or p.stderr
        w.proxy.disarm()
        flow.kept(w, cli, f)
        w.clock.next_step(2)
        p = cli.run(*args, input=stdin, check=False)
        if p.returncode != 0 and "--cleanup" in p.stderr:
            cli.run(*args, "--cleanup")
            p = cli.run(*args, input=stdin, check=False)
        assert p.returncode == 0, f"the rerun of `{' '.join(args[:3])}` failed: {p.stderr}"
    return first_failure


def test_clean_runs_make_exactly_the_calls_the_faults_target(world, tmp_path):
    """The call lists the faults are parametrised over are what the flows really do."""
    for flow in FLOWS:
        cli = Cli(world, tmp_path / flow.name, "off", flow.on_daemon)
        world.proxy.reset()
        f = flow.setup(world)
        if hasattr(flow, "prepare"):
            flow.prepare(world, cli, f)
        world.clock.next_step()
        assert run_flow(world, cli, flow, f) is None
        assert [s.op for s in world.proxy.ops()] == flow.calls, flow.name
        flow.done(world, cli, f)


@pytest.mark.parametrize("flow,index,op,nth,mode,retries", list(cases()))
def test_a_lost_call_keeps_the_secret_and_a_rerun_completes(world, tmp_path, flow, index, op,
                                                             nth, mode, retries):
    w = world
    cli = Cli(w, tmp_path, retries, flow.on_daemon)
    w.proxy.reset()
    f = flow.setup(w)
    if hasattr(flow, "prepare"):
        flow.prepare(w, cli, f)
    w.clock.next_step()
    # retries off: one lost call is the command's failure; exhausted: every attempt of the
    # SDK's default three is lost; retried: one attempt is lost and the SDK tries again.
    count = {"off": 1, "exhausted": 10, "retried": 1}[retries]
    w.proxy.arm(op, nth, mode, count)
    failure = run_flow(w, cli, flow, f)
    faulted = [s for s in w.proxy.ops(op) if s.fault]
    assert faulted, f"the fault on {op} #{nth} never fired"
    if retries != "retried" and not (mode == "cut" and op == "CompleteWebAuthnRegistration"):
        # The lost call reached authsim (a lost CompleteWebAuthnRegistration is looked up in
        # the pool's list instead, so the command may succeed).
        assert failure is not None, "the fault did not reach authsim"
    if failure:
        assert f"{op.split(':')[0]} failed" in failure or "failed" in failure, failure
    flow.kept(w, cli, f)
    flow.done(w, cli, f)
