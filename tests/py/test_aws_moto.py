"""The AWS flows end to end against a stand-in reached by endpoint URL (moto by default; set
AUTHSIM_AWS_BACKENDS=moto,emulator to add the strict `authsim emulator`). Every request goes
through a recording proxy, so pyotp cross-checks each code authsim sent and the tests see the
seeds and secrets the service handed out.

moto 5 implements no ResyncMFADevice, GetMFADevice or MFA-device tags, checks no IAM/STS codes
and no SRP proof, and its Cognito TOTP secret is a fixed 60-bit value checked without a skew
window; the tests use what a backend implements (Backend.caps) and judge the rest themselves."""
import base64
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid

import boto3
import pytest

import test_aws_harness as h
from conftest import Authsim, authsim_bin

PASSWORD = "Correct-Horse-7!"
BACKENDS = [b.strip() for b in os.environ.get("AUTHSIM_AWS_BACKENDS", "moto,emulator").split(",") if b.strip()]
CAPS = {
    # What each backend implements beyond the common operations.
    "moto": {"cognito-totp-check"},
    "emulator": {"cognito-totp-check", "iam-resync", "iam-get", "iam-tags", "iam-code-check",
                 "sts-code-check"},
}


class Backend:
    def __init__(self, name):
        self.name = name
        if name == "moto":
            self.server = h.MotoServer()
        elif name == "emulator":
            self.server = h.EmulatorServer(authsim_bin())
        else:
            pytest.fail(f"unknown backend {name!r} in AUTHSIM_AWS_BACKENDS")
        self.url = self.server.url
        self.caps = CAPS[name]
        # The stand-in's clock moves with the tests' (one clock for the module: it only grows).
        self.clock = h.TestClock(self.url) if name == "emulator" else None

    def test_clock(self):
        """The clock of one test: the stand-in's shared one, or (moto, whose clock cannot move)
        a clock of the test's own that starts at real time."""
        return self.clock or h.TestClock()

    def cognito_next_step(self, clock):
        """Moves to the next TOTP step for a Cognito code: moto checks those against its own
        clock with no window, so there the test really waits for the next step (once)."""
        if self.name == "moto":
            h.TestClock(real=True).next_step()
        else:
            clock.next_step()

    def client(self, service):
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def needs(self, cap):
        if cap not in self.caps:
            pytest.skip(f"{self.name} does not implement {cap}")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    b = Backend(request.param)
    yield b
    b.server.close()


@pytest.fixture
def proxy(backend):
    p = h.RecordingProxy(backend.url)
    yield p
    p.close()


@pytest.fixture
def clock(backend):
    return backend.test_clock()


@pytest.fixture
def cli(tmp_path, clock):
    a = Authsim(str(tmp_path / "state"))
    a.env = h.aws_env(a.env, str(tmp_path))
    a.clock = clock
    return a


def run(cli, *args, input=None, check=True, timeout=200):
    """Run authsim (with the test clock's offset)."""
    p = subprocess.run([cli.bin, *args], input=input, capture_output=True, text=True,
                       env=cli.run_env(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"authsim {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def uniq(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def vault_secret(cli, name):
    uri = run(cli, "totp", "show", name, "--uri").stdout.strip()
    return re.search(r"[?&]secret=([A-Z2-7]+)", uri).group(1)


def same_secret(a, b):
    return h.b32_bytes(a) == h.b32_bytes(b)


# ----------------------------------------------------------------------------------------------
# Cognito


def make_pool(backend, mfa="OFF", secret=False):
    idp = backend.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=uniq("pool"))["UserPool"]["Id"]
    if mfa != "OFF":
        idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration=mfa,
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    c = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="authsim", GenerateSecret=secret,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return idp, pool, c["ClientId"], c.get("ClientSecret")


def make_user(idp, pool, name, permanent=True):
    idp.admin_create_user(UserPoolId=pool, Username=name, TemporaryPassword="Temp-Pass-1!",
                          MessageAction="SUPPRESS")
    if permanent:
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)


def sign_in(cli, proxy, pool, client_id, user, *extra, secret=None, flow="srp", password=PASSWORD,
            new_password=None, check=True):
    args = ["cognito", "sign-in", "--endpoint-url", proxy.url, "--client-id", client_id,
            "--username", user, "--password-stdin", "--flow", flow, "--pool-id", pool, *extra]
    lines = [password]
    if new_password:
        args.append("--new-password-stdin")
        lines.append(new_password)
    if secret:
        args.append("--client-secret-stdin")
        lines.append(secret)
    return run(cli, *args, input="\n".join(lines) + "\n", check=check)


@pytest.mark.parametrize("flow", ["srp", "password"])
def test_cognito_sign_in_without_mfa(backend, proxy, cli, flow):
    idp, pool, client_id, _ = make_pool(backend)
    make_user(idp, pool, "alice")
    p = sign_in(cli, proxy, pool, client_id, "alice", flow=flow)
    tokens = json.loads(p.stdout)
    # The token works at the service.
    assert backend.client("cognito-idp").get_user(AccessToken=tokens["AccessToken"])["Username"] == "alice"
    first = proxy.ops("InitiateAuth")[0].params
    assert first["AuthFlow"] == {"srp": "USER_SRP_AUTH", "password": "USER_PASSWORD_AUTH"}[flow]
    if flow == "srp":
        assert "PASSWORD" not in first["AuthParameters"]
        assert re.fullmatch(r"[0-9a-f]{700,}", first["AuthParameters"]["SRP_A"])
        claim = proxy.ops("RespondToAuthChallenge")[0].params["ChallengeResponses"]
        assert h.TIMESTAMP_RE.match(claim["TIMESTAMP"])
        assert len(base64.b64decode(claim["PASSWORD_CLAIM_SIGNATURE"])) == 32
    assert PASSWORD not in p.stderr


def test_cognito_enroll_totp_then_sign_in_with_it(backend, proxy, cli, clock):
    idp, pool, client_id, _ = make_pool(backend, mfa="OPTIONAL")
    make_user(idp, pool, "bob")
    tokens = json.loads(sign_in(cli, proxy, pool, client_id, "bob").stdout)
    proxy.clear()
    p = run(cli, "cognito", "enroll-totp", "--endpoint-url", proxy.url, "--region", "us-east-1",
            "--access-token-stdin", "--name", "bob", "--preferred", "--device-name", "laptop", "--json",
            input=tokens["AccessToken"] + "\n")
    report = json.loads(p.stdout)
    assert "SOFTWARE_TOKEN_MFA" in report["UserMFASettingList"]
    assert [r.op for r in proxy.ops()] == ["GetUser", "AssociateSoftwareToken", "VerifySoftwareToken",
                                           "SetUserMFAPreference", "GetUser"]
    secret = proxy.ops("AssociateSoftwareToken")[0].json()["SecretCode"]
    assert same_secret(vault_secret(cli, "bob"), secret)
    verify = proxy.ops("VerifySoftwareToken")[0]
    assert verify.params["FriendlyDeviceName"] == "laptop"
    sent_at = clock.now()
    assert h.code_step(secret, verify.params["UserCode"], sent_at, window=1) is not None
    pref = proxy.ops("SetUserMFAPreference")[0].params["SoftwareTokenMfaSettings"]
    assert pref == {"Enabled": True, "PreferredMfa": True}
    user = backend.client("cognito-idp").admin_get_user(UserPoolId=pool, Username="bob")
    assert "SOFTWARE_TOKEN_MFA" in user["UserMFASettingList"]
    assert tokens["AccessToken"] not in p.stderr and secret not in p.stderr

    # Sign in again, a step later: the vault answers SOFTWARE_TOKEN_MFA with a code of a later
    # step (the one-time rule), which the service checks too.
    backend.cognito_next_step(clock)
    proxy.clear()
    p = sign_in(cli, proxy, pool, client_id, "bob", "--totp", "bob")
    assert json.loads(p.stdout)["AccessToken"]
    answer = [r for r in proxy.ops("RespondToAuthChallenge")
              if r.params["ChallengeName"] == "SOFTWARE_TOKEN_MFA"][0]
    code = answer.params["ChallengeResponses"]["SOFTWARE_TOKEN_MFA_CODE"]
    assert h.code_step(secret, code, clock.now(), window=1) > h.code_step(secret, verify.params["UserCode"], sent_at, 1)
    assert code not in p.stderr


def test_cognito_mfa_setup_during_sign_in(backend, proxy, cli, clock):
    idp, pool, client_id, _ = make_pool(backend, mfa="ON")
    make_user(idp, pool, "carol")
    p = sign_in(cli, proxy, pool, client_id, "carol", "--totp", "carol-totp")
    tokens = json.loads(p.stdout)
    assert backend.client("cognito-idp").get_user(AccessToken=tokens["AccessToken"])["Username"] == "carol"
    assert "MFA_SETUP" in p.stderr
    secret = proxy.ops("AssociateSoftwareToken")[0].json()["SecretCode"]
    assert proxy.ops("AssociateSoftwareToken")[0].params.get("Session")
    assert same_secret(vault_secret(cli, "carol-totp"), secret)
    code = proxy.ops("VerifySoftwareToken")[0].params["UserCode"]
    assert h.code_step(secret, code, clock.now(), window=1) is not None
    ops = [r.op for r in proxy.ops()]
    assert ops[-3:] == ["RespondToAuthChallenge", "SetUserMFAPreference", "GetUser"]


def test_cognito_new_password_required(backend, proxy, cli):
    idp, pool, client_id, _ = make_pool(backend)
    make_user(idp, pool, "dan", permanent=False)
    p = sign_in(cli, proxy, pool, client_id, "dan", password="Temp-Pass-1!", flow="password", check=False)
    assert p.returncode != 0 and "--new-password-stdin" in p.stderr
    p = sign_in(cli, proxy, pool, client_id, "dan", password="Temp-Pass-1!", flow="password",
                new_password="Brand-New-Pass-9!")
    assert json.loads(p.stdout)["AccessToken"]
    # The new password is the password now.
    p = sign_in(cli, proxy, pool, client_id, "dan", password="Brand-New-Pass-9!", flow="password")
    assert json.loads(p.stdout)["AccessToken"]
    assert "Brand-New-Pass-9!" not in p.stderr


def test_cognito_client_secret_hash_and_refresh(backend, proxy, cli):
    idp, pool, client_id, client_secret = make_pool(backend, secret=True)
    make_user(idp, pool, "eve")
    p = sign_in(cli, proxy, pool, client_id, "eve", "--save", "eve", secret=client_secret)
    assert p.stdout == ""
    want = h.secret_hash(client_secret, "eve", client_id)
    assert proxy.ops("InitiateAuth")[0].params["AuthParameters"]["SECRET_HASH"] == want
    for r in proxy.ops("RespondToAuthChallenge"):
        assert r.params["ChallengeResponses"]["SECRET_HASH"] == want
    old = run(cli, "cognito", "token", "eve").stdout.strip()
    proxy.clear()
    run(cli, "cognito", "refresh", "--session", "eve")
    refresh = proxy.ops("InitiateAuth")[0].params
    assert refresh["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    assert refresh["AuthParameters"]["SECRET_HASH"] == want
    new = run(cli, "cognito", "token", "eve").stdout.strip()
    assert new != old
    assert backend.client("cognito-idp").get_user(AccessToken=new)["Username"] == "eve"
    # A wrong client secret is refused, and neither secret nor hash is printed.
    p = sign_in(cli, proxy, pool, client_id, "eve", secret="not-the-client-secret", check=False)
    assert p.returncode != 0 and "NotAuthorizedException" in p.stderr
    bad_hash = h.secret_hash("not-the-client-secret", "eve", client_id)
    assert "not-the-client-secret" not in p.stderr and bad_hash not in p.stderr


def test_cognito_wrong_totp_secret_is_a_code_mismatch(backend, proxy, cli):
    backend.needs("cognito-totp-check")
    idp, pool, client_id, _ = make_pool(backend, mfa="OPTIONAL")
    make_user(idp, pool, "fred")
    tokens = json.loads(sign_in(cli, proxy, pool, client_id, "fred").stdout)
    run(cli, "cognito", "enroll-totp", "--endpoint-url", proxy.url, "--access-token-stdin",
        "--name", "fred", "--preferred", input=tokens["AccessToken"] + "\n")
    run(cli, "totp", "add", "fred-wrong", "--secret", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    p = sign_in(cli, proxy, pool, client_id, "fred", "--totp", "fred-wrong", check=False)
    assert p.returncode != 0
    assert "CodeMismatchException" in p.stderr and "next:" in p.stderr
    sent = [r for r in proxy.ops("RespondToAuthChallenge") if r.params["ChallengeName"] == "SOFTWARE_TOKEN_MFA"]
    assert sent and sent[-1].params["ChallengeResponses"]["SOFTWARE_TOKEN_MFA_CODE"] not in p.stderr


def test_cognito_unreachable_endpoint_is_bounded_and_clear(cli):
    port = h.free_port()  # nothing listens there
    start = time.time()
    p = run(cli, "cognito", "sign-in", "--endpoint-url", f"http://127.0.0.1:{port}", "--client-id", "x",
            "--username", "u", "--password-stdin", "--flow", "password", "--region", "us-east-1",
            input=PASSWORD + "\n", check=False)
    assert p.returncode != 0 and time.time() - start < 60
    assert "InitiateAuth failed" in p.stderr and "--endpoint-url" in p.stderr
    assert PASSWORD not in p.stderr


# ----------------------------------------------------------------------------------------------
# IAM


def make_iam_user(backend):
    name = uniq("user")
    backend.client("iam").create_user(UserName=name)
    return name


def seed_of_create(rec):
    m = re.search(rb"<Base32StringSeed>([^<]+)</Base32StringSeed>", rec.response)
    return base64.b64decode(m.group(1)).decode()


def enable(cli, proxy, user, device, *extra, check=True):
    return run(cli, "iam", "enable-mfa", "--endpoint-url", proxy.url, "--user", user,
               "--device-name", device, "--json", *extra, check=check)


def assert_consecutive_codes(seed, rec, sent_at):
    c1, c2 = rec.params["AuthenticationCode1"], rec.params["AuthenticationCode2"]
    s1 = h.code_step(seed, c1, sent_at, window=2)
    s2 = h.code_step(seed, c2, sent_at, window=2)
    assert s1 is not None and s2 == s1 + 1, (c1, c2)
    return s1


def test_iam_enable_mfa_at_the_end_of_a_step_waits_seconds_not_a_step(backend, proxy, cli,
                                                                     clock):
    """Two fresh codes asked with under 3 s left in the step: the wait for the next step comes
    before the vault hands any code out. Taking two and then waiting would leave the second
    spent, and the next try would wait a whole step (30 s)."""
    user = make_iam_user(backend)
    device = uniq("dev")
    to_end = clock.period - (clock.now() % clock.period)
    clock.advance(int(to_end) - 1 if to_end >= 2 else int(to_end) + clock.period - 1)
    assert clock.period - (clock.now() % clock.period) < 3
    start = time.time()
    enable(cli, proxy, user, device)
    assert time.time() - start < 10
    seed = seed_of_create(proxy.ops("CreateVirtualMFADevice")[0])
    assert_consecutive_codes(seed, proxy.ops("EnableMFADevice")[0], clock.now())


def test_iam_enable_mfa_end_to_end(backend, proxy, cli, clock):
    user = make_iam_user(backend)
    device = uniq("dev")
    start = time.time()
    p = enable(cli, proxy, user, device)
    report = json.loads(p.stdout)
    # No 30-second wait: two consecutive codes at once.
    assert time.time() - start < 20
    serial = report["serial"]
    assert serial.endswith(f":mfa/{device}") and report["totp_name"] == device
    seed = seed_of_create(proxy.ops("CreateVirtualMFADevice")[0])
    assert same_secret(vault_secret(cli, device), seed)
    assert_consecutive_codes(seed, proxy.ops("EnableMFADevice")[0], clock.now())
    listed = backend.client("iam").list_mfa_devices(UserName=user)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assert seed not in p.stderr
    for r in proxy.ops("EnableMFADevice"):
        assert r.params["AuthenticationCode1"] not in p.stderr
    # list-mfa shows the device and the vault entry that holds its seed.
    out = json.loads(run(cli, "iam", "list-mfa", "--endpoint-url", proxy.url, "--user", user).stdout)
    assert out == [{"SerialNumber": serial, "UserName": user, "EnableDate": out[0]["EnableDate"],
                    "VaultEntry": device}]
    # Running it again changes nothing and spends no codes.
    proxy.clear()
    p = enable(cli, proxy, user, device)
    assert "nothing to do" in p.stderr
    assert [r.op for r in proxy.ops()] == ["ListMFADevices"]


def test_iam_interrupted_before_enable_finishes_from_the_stored_seed(backend, proxy, cli, clock):
    user = make_iam_user(backend)
    device = uniq("dev")
    proxy.fail("EnableMFADevice", "instead")
    p = enable(cli, proxy, user, device, check=False)
    assert p.returncode != 0 and "InjectedFault" in p.stderr
    seed = seed_of_create(proxy.ops("CreateVirtualMFADevice")[0])
    assert same_secret(vault_secret(cli, device), seed)
    assert backend.client("iam").list_mfa_devices(UserName=user)["MFADevices"] == []
    # The rerun uses the stored seed: no second device, fresh codes (two steps later: the first
    # attempt spent two), enabled.
    clock.next_step(2)
    proxy.clear()
    p = enable(cli, proxy, user, device)
    assert proxy.ops("CreateVirtualMFADevice") == []
    assert_consecutive_codes(seed, proxy.ops("EnableMFADevice")[0], clock.now())
    assert [d["SerialNumber"] for d in backend.client("iam").list_mfa_devices(UserName=user)["MFADevices"]] \
        == [json.loads(p.stdout)["serial"]]


def test_iam_enabled_but_unrecorded_is_noticed_without_new_codes(backend, proxy, cli):
    user = make_iam_user(backend)
    device = uniq("dev")
    proxy.fail("EnableMFADevice", "after")  # the service enables it; the answer is lost
    p = enable(cli, proxy, user, device, check=False)
    assert p.returncode != 0
    proxy.clear()
    p = enable(cli, proxy, user, device)
    assert "enabled already" in p.stderr
    assert proxy.ops("EnableMFADevice") == []


def test_iam_orphan_device_needs_cleanup_then_rerun_works(backend, proxy, cli):
    user = make_iam_user(backend)
    device = uniq("dev")
    iam = backend.client("iam")
    proxy.fail("CreateVirtualMFADevice", "after")  # created, but the seed never arrives
    p = enable(cli, proxy, user, device, check=False)
    assert p.returncode != 0
    p = enable(cli, proxy, user, device, check=False)
    assert p.returncode != 0 and "--cleanup" in p.stderr
    orphans = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]
               if d["SerialNumber"].endswith(f"/{device}")]
    assert len(orphans) == 1
    p = enable(cli, proxy, user, device, "--cleanup")
    assert json.loads(p.stdout)["deleted"] == orphans[0]
    assert not [d for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]
                if d["SerialNumber"].endswith(f"/{device}")]
    p = enable(cli, proxy, user, device)
    assert json.loads(p.stdout)["serial"] == orphans[0]


def test_iam_cleanup_never_touches_an_enabled_device(backend, proxy, cli):
    user = make_iam_user(backend)
    device = uniq("dev")
    serial = json.loads(enable(cli, proxy, user, device).stdout)["serial"]
    p = enable(cli, proxy, user, device, "--cleanup", check=False)
    assert p.returncode != 0 and "deactivate-mfa" in p.stderr
    assert vault_secret(cli, device)
    assert [d["SerialNumber"] for d in backend.client("iam").list_mfa_devices(UserName=user)["MFADevices"]] == [serial]


def test_iam_deactivate_list_delete(backend, proxy, cli):
    user = make_iam_user(backend)
    device = uniq("dev")
    serial = json.loads(enable(cli, proxy, user, device).stdout)["serial"]
    run(cli, "iam", "deactivate-mfa", "--endpoint-url", proxy.url, "--totp-name", device)
    assert backend.client("iam").list_mfa_devices(UserName=user)["MFADevices"] == []
    un = json.loads(run(cli, "iam", "list-mfa", "--endpoint-url", proxy.url, "--virtual",
                        "--assignment-status", "Unassigned").stdout)
    assert serial in [d["SerialNumber"] for d in un]
    assigned = json.loads(run(cli, "iam", "list-mfa", "--endpoint-url", proxy.url, "--virtual",
                              "--assignment-status", "Assigned").stdout)
    assert serial not in [d["SerialNumber"] for d in assigned]
    p = run(cli, "iam", "delete-mfa", "--endpoint-url", proxy.url, "--serial", serial)
    assert "still in the vault" in p.stderr
    assert serial not in [d["SerialNumber"] for d in
                          backend.client("iam").list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert vault_secret(cli, device)  # the seed is never thrown away by delete-mfa
    p = run(cli, "iam", "list-mfa", "--endpoint-url", proxy.url, "--virtual", "--assignment-status", "Sometimes",
            check=False)
    assert p.returncode != 0 and "Assigned, Unassigned or Any" in p.stderr


IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


def iam_xml(op, result=""):
    inner = f"<{op}Result>{result}</{op}Result>" if result else ""
    return (f'<{op}Response xmlns="{IAM_NS}">{inner}<ResponseMetadata><RequestId>{uuid.uuid4()}'
            f"</RequestId></ResponseMetadata></{op}Response>").encode()


def iam_error(code, message, status=400):
    return status, (f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>").encode()


class IamShim:
    """Answers, in the proxy, the IAM MFA operations a backend lacks, strictly: ResyncMFADevice
    takes only two consecutive codes of the device's seed (pyotp, ±1 step); tags are kept per
    device. The seeds come from the CreateVirtualMFADevice answers the proxy saw."""

    def __init__(self, proxy, backend, clock):
        self.proxy, self.backend, self.clock = proxy, backend, clock
        self.tags = {}
        self.resynced = []
        for op, cap in [("ResyncMFADevice", "iam-resync"), ("GetMFADevice", "iam-get"),
                        ("TagMFADevice", "iam-tags"), ("UntagMFADevice", "iam-tags"),
                        ("ListMFADeviceTags", "iam-tags")]:
            if cap not in backend.caps:
                proxy.answers[op] = getattr(self, op)

    def seed(self, serial):
        for r in self.proxy.ops("CreateVirtualMFADevice"):
            if serial.encode() in r.response:
                return seed_of_create(r)
        return None

    def device(self, serial):
        for d in self.backend.client("iam").list_virtual_mfa_devices()["VirtualMFADevices"]:
            if d["SerialNumber"] == serial:
                return d
        return None

    def ResyncMFADevice(self, p):
        seed = self.seed(p.get("SerialNumber", ""))
        if seed is None:
            return iam_error("NoSuchEntity", "MFA device not found", 404)
        s1 = h.code_step(seed, p.get("AuthenticationCode1", ""), self.clock.now(), window=1)
        s2 = h.code_step(seed, p.get("AuthenticationCode2", ""), self.clock.now(), window=2)
        if s1 is None or s2 != s1 + 1:
            return iam_error("InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)
        self.resynced.append((p["SerialNumber"], s1))
        return 200, iam_xml("ResyncMFADevice")

    def GetMFADevice(self, p):
        d = self.device(p.get("SerialNumber", ""))
        if d is None or "User" not in d:
            return iam_error("NoSuchEntity", "MFA device not found", 404)
        date = d["EnableDate"].strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, iam_xml("GetMFADevice", f"<UserName>{d['User']['UserName']}</UserName>"
                                            f"<SerialNumber>{d['SerialNumber']}</SerialNumber>"
                                            f"<EnableDate>{date}</EnableDate>")

    def TagMFADevice(self, p):
        t = self.tags.setdefault(p["SerialNumber"], {})
        i = 1
        while f"Tags.member.{i}.Key" in p:
            t[p[f"Tags.member.{i}.Key"]] = p.get(f"Tags.member.{i}.Value", "")
            i += 1
        return 200, iam_xml("TagMFADevice")

    def UntagMFADevice(self, p):
        t = self.tags.setdefault(p["SerialNumber"], {})
        i = 1
        while f"TagKeys.member.{i}" in p:
            t.pop(p[f"TagKeys.member.{i}"], None)
            i += 1
        return 200, iam_xml("UntagMFADevice")

    def ListMFADeviceTags(self, p):
        t = self.tags.get(p["SerialNumber"], {})
        members = "".join(f"<member><Key>{k}</Key><Value>{v}</Value></member>" for k, v in t.items())
        return 200, iam_xml("ListMFADeviceTags", f"<Tags>{members}</Tags><IsTruncated>false</IsTruncated>")


def test_iam_resync_get_and_tags(backend, proxy, cli, clock):
    shim = IamShim(proxy, backend, clock)
    user = make_iam_user(backend)
    device = uniq("dev")
    serial = json.loads(enable(cli, proxy, user, device).stdout)["serial"]
    enabled_at = clock.now()
    clock.next_step(2)
    run(cli, "iam", "resync-mfa", "--endpoint-url", proxy.url, "--totp-name", device)
    seed = seed_of_create(proxy.ops("CreateVirtualMFADevice")[0])
    s1 = assert_consecutive_codes(seed, proxy.ops("ResyncMFADevice")[0], clock.now())
    # Fresh codes: later steps than those EnableMFADevice used.
    assert s1 > assert_consecutive_codes(seed, proxy.ops("EnableMFADevice")[0], enabled_at)
    if "iam-resync" not in backend.caps:
        assert shim.resynced == [(serial, s1)]
    got = json.loads(run(cli, "iam", "get-mfa", "--endpoint-url", proxy.url, "--serial", serial,
                         "--user", user).stdout)
    assert got["SerialNumber"] == serial and got["UserName"] == user
    run(cli, "iam", "tag-mfa", "--endpoint-url", proxy.url, "--serial", serial, "--tag", "team=ci", "--tag", "env=test")
    tags = json.loads(run(cli, "iam", "list-mfa-tags", "--endpoint-url", proxy.url, "--serial", serial).stdout)
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "test"), ("team", "ci")]
    run(cli, "iam", "untag-mfa", "--endpoint-url", proxy.url, "--serial", serial, "--key", "env")
    tags = json.loads(run(cli, "iam", "list-mfa-tags", "--endpoint-url", proxy.url, "--serial", serial).stdout)
    assert tags == [{"Key": "team", "Value": "ci"}]


def test_iam_resync_with_a_wrong_seed_is_refused_with_advice(backend, proxy, cli):
    IamShim(proxy, backend, cli.clock)
    user = make_iam_user(backend)
    device = uniq("dev")
    serial = json.loads(enable(cli, proxy, user, device).stdout)["serial"]
    p = run(cli, "iam", "resync-mfa", "--endpoint-url", proxy.url, "--user", user,
            "--serial", "arn:aws:iam::123456789012:mfa/not-from-here", check=False)
    assert p.returncode != 0 and "--totp-name" in p.stderr
    run(cli, "totp", "add", "wrong", "--secret", "JBSWY3DPEHPK3PXP")
    p = run(cli, "iam", "resync-mfa", "--endpoint-url", proxy.url, "--user", user,
            "--serial", serial, "--totp-name", "wrong", check=False)
    assert p.returncode != 0
    assert "InvalidAuthenticationCode" in p.stderr and "next:" in p.stderr
    sent = proxy.ops("ResyncMFADevice")[-1].params
    assert sent["AuthenticationCode1"] not in p.stderr and sent["AuthenticationCode2"] not in p.stderr


# ----------------------------------------------------------------------------------------------
# STS


def device_with_seed(backend, proxy, cli):
    """A virtual device enabled by authsim (so the vault knows which steps were used), its
    seed in the vault as 'sts'; the clock then stands two steps later (enabling spent two)."""
    user = make_iam_user(backend)
    serial = json.loads(run(cli, "iam", "enable-mfa", "--endpoint-url", proxy.url, "--user", user,
                            "--device-name", uniq("sts"), "--totp-name", "sts", "--json").stdout)["serial"]
    seed = seed_of_create(proxy.ops("CreateVirtualMFADevice")[0])
    proxy.clear()
    cli.clock.next_step(2)
    return serial, seed


def test_sts_session_json_and_the_fresh_rule(backend, proxy, cli, clock):
    serial, seed = device_with_seed(backend, proxy, cli)
    # --serial may be left out: enable-mfa recorded which device the vault entry belongs to.
    p = run(cli, "sts", "session", "--endpoint-url", proxy.url, "--totp", "sts", "--duration", "900")
    creds = json.loads(p.stdout)
    assert set(creds) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", creds["Expiration"])
    rec = proxy.ops("GetSessionToken")[0].params
    assert rec["SerialNumber"] == serial and rec["DurationSeconds"] == "900"
    assert h.code_step(seed, rec["TokenCode"], clock.now(), window=1) is not None
    assert creds["SecretAccessKey"] not in p.stderr and rec["TokenCode"] not in p.stderr
    # The next session gets a code of a later step, never the same one: in the same step it
    # would wait; --allow-next takes the next step's code at once.
    p = run(cli, "sts", "session", "--endpoint-url", proxy.url, "--serial", serial, "--totp", "sts",
            "--format", "env", "--allow-next")
    assert re.search(r"^export AWS_SESSION_TOKEN='[^']+'$", p.stdout, re.M)
    second = proxy.ops("GetSessionToken")[1].params["TokenCode"]
    assert h.code_step(seed, second, clock.now(), window=1) > h.code_step(seed, rec["TokenCode"], clock.now(), 2)
    bad = run(cli, "sts", "session", "--endpoint-url", proxy.url, "--serial", serial, "--totp", "sts",
              "--duration", "60", check=False)
    assert bad.returncode != 0 and "900" in bad.stderr


def test_sts_credential_process_plugs_into_an_sdk(backend, proxy, cli, clock, tmp_path):
    serial, seed = device_with_seed(backend, proxy, cli)
    cmd = ["env", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", cli.bin,
           "--state-dir", cli.state_dir, "sts", "session", "--endpoint-url", proxy.url,
           "--serial", serial, "--totp", "sts", "--format", "credential-process", "--cache"]
    config = tmp_path / "aws-config"
    config.write_text(f"[profile mfa]\nregion = us-east-1\ncredential_process = {shlex.join(cmd)}\n")
    env = {k: v for k, v in cli.run_env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["AWS_CONFIG_FILE"] = str(config)
    script = (
        "import boto3, json, sys\n"
        "s = boto3.Session(profile_name='mfa')\n"
        "c = s.get_credentials().get_frozen_credentials()\n"
        f"who = s.client('sts', endpoint_url={backend.url!r}).get_caller_identity()\n"
        "print(json.dumps({'key': c.access_key, 'token': bool(c.token), 'account': who['Account']}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=200)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    # A second SDK process gets the cached credentials at once, without a new code.
    start = time.time()
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=200)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == got and time.time() - start < 15
    rec = proxy.ops("GetSessionToken")
    assert len(rec) == 1
    issued = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", rec[0].response).group(1).decode()
    # The SDK uses exactly the credentials STS issued to authsim.
    assert got["key"] == issued and got["token"] is True
    assert h.code_step(seed, rec[0].params["TokenCode"], clock.now(), window=1) is not None
