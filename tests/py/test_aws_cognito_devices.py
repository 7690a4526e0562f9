"""authsim's remembered devices and USER_AUTH sign-in, judged with boto3 against the strict
stand-in (`authsim emulator`): what `cognito sign-in --remember-device` did (AdminListDevices,
the remembered status, the device's name), MFA skipped on the next sign-in through the device's
SRP, refresh with the device, `cognito device list|status|forget`, MFA asked again after a
forget, the retry without a device the pool forgot, and `--flow user-auth` answering
SELECT_CHALLENGE. One test clock moves authsim and the stand-in together (no TOTP waits)."""
import base64
import json
import uuid

import boto3
import pytest

import test_aws_harness as h
from conftest import Authsim, authsim_bin

pytestmark = pytest.mark.timeout(180)

PASSWORD = "Correct-Horse-7!"


@pytest.fixture(scope="module")
def server():
    s = h.EmulatorServer(authsim_bin())
    yield s
    s.close()


@pytest.fixture(scope="module")
def clock(server):
    return h.TestClock(server.url)


@pytest.fixture(scope="module")
def idp(server):
    return boto3.client("cognito-idp", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def cli(tmp_path, clock):
    a = Authsim(str(tmp_path / "state"))
    a.env = h.aws_env(a.env, str(tmp_path))
    a.clock = clock
    return a


def pool(idp, devices, mfa="ON", flows=None):
    pool_id = idp.create_user_pool(PoolName=f"dev-{uuid.uuid4().hex[:8]}",
                                   DeviceConfiguration=devices)["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration=mfa,
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli",
        ExplicitAuthFlows=flows or ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    username = f"user-{uuid.uuid4().hex[:8]}"
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=PASSWORD,
                                Permanent=True)
    return pool_id, client_id, username


def sign_in(cli, server, pool_id, client_id, username, *extra, check=True):
    return cli.run("cognito", "sign-in", "--endpoint-url", server.url, "--pool-id", pool_id,
                   "--client-id", client_id, "--username", username, "--password-stdin", *extra,
                   input=PASSWORD + "\n", check=check)


def chain(p):
    """The challenges the CLI reports it answered."""
    line = next(l for l in p.stderr.splitlines() if l.startswith("signed in as"))
    inner = line.split("(", 1)[1].rsplit(")", 1)[0]
    return [] if inner == "no challenges" else inner.split(" → ")


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def admin_devices(idp, pool_id, username):
    return {d["DeviceKey"]: {a["Name"]: a["Value"] for a in d["DeviceAttributes"]}
            for d in idp.admin_list_devices(UserPoolId=pool_id, Username=username)["Devices"]}


PROMPT = {"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": True}


def test_remember_device_skips_mfa_until_forgotten(cli, server, clock, idp):
    pool_id, client_id, username = pool(idp, PROMPT)
    first = sign_in(cli, server, pool_id, client_id, username, "--totp", "ci", "--save", "s1",
                    "--remember-device", "--device-name", "ci-runner")
    assert chain(first) == ["PASSWORD_VERIFIER", "MFA_SETUP"]
    [(key, attrs)] = admin_devices(idp, pool_id, username).items()
    assert attrs["dev:device_remembered_status"] == "remembered"
    assert attrs["device_name"] == "ci-runner"
    assert key in first.stderr
    secrets = cli.run("cognito", "token", "s1").stdout.strip()
    assert claims(secrets)["device_key"] == key

    # The next sign-in proves the device instead of a TOTP code (no --totp given at all).
    second = sign_in(cli, server, pool_id, client_id, username, "--save", "s2")
    assert chain(second) == ["PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"]
    assert "signed in with the remembered device" in second.stderr
    assert list(admin_devices(idp, pool_id, username)) == [key]
    # Refresh sends the DEVICE_KEY (Cognito refuses tokens bound to a device without it).
    clock.advance(3700)
    cli.run("cognito", "refresh", "--session", "s2")
    assert claims(cli.run("cognito", "token", "s2").stdout.strip())["device_key"] == key

    listed = json.loads(cli.run("cognito", "device", "list", "--session", "s2", "--json").stdout)
    assert [(d["key"], d["this_device"], d["status"]) for d in listed] == [
        (key, True, "remembered")]
    factors = json.loads(cli.run("cognito", "auth-factors", "--session", "s2", "--json").stdout)
    assert factors["configured"] == ["PASSWORD"] and factors["mfa"] == ["SOFTWARE_TOKEN_MFA"]

    # Not remembered: TOTP first, then the device still proves itself.
    cli.run("cognito", "device", "status", "--session", "s2", key, "not-remembered")
    assert admin_devices(idp, pool_id, username)[key]["dev:device_remembered_status"] == \
        "not_remembered"
    clock.next_step()
    third = sign_in(cli, server, pool_id, client_id, username, "--totp", "ci")
    assert chain(third) == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA", "DEVICE_SRP_AUTH",
                            "DEVICE_PASSWORD_VERIFIER"]

    # Forgotten (on Cognito and here): MFA again, and a new device.
    cli.run("cognito", "device", "forget", "--session", "s2")
    assert admin_devices(idp, pool_id, username) == {}
    clock.next_step()
    fourth = sign_in(cli, server, pool_id, client_id, username, "--totp", "ci")
    assert chain(fourth) == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA"]
    [(new_key, attrs)] = admin_devices(idp, pool_id, username).items()
    assert new_key != key and attrs["dev:device_remembered_status"] == "not_remembered"
    # Without --totp, the not-remembered device cannot stand in: the CLI says what to give.
    clock.next_step()
    refused = sign_in(cli, server, pool_id, client_id, username, check=False)
    assert refused.returncode != 0 and "--totp" in refused.stderr


def test_a_device_the_pool_forgot_is_dropped_and_the_sign_in_retried(cli, server, clock, idp):
    pool_id, client_id, username = pool(idp, PROMPT)
    sign_in(cli, server, pool_id, client_id, username, "--totp", "ci", "--remember-device")
    [key] = admin_devices(idp, pool_id, username)
    idp.admin_forget_device(UserPoolId=pool_id, Username=username, DeviceKey=key)
    clock.next_step()
    p = sign_in(cli, server, pool_id, client_id, username, "--totp", "ci", "--remember-device")
    assert "no longer knows the device" in p.stderr
    assert chain(p) == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA"]
    [new_key] = admin_devices(idp, pool_id, username)
    assert new_key != key
    # The new device is the one kept: the next sign-in skips MFA with it.
    again = sign_in(cli, server, pool_id, client_id, username)
    assert "DEVICE_PASSWORD_VERIFIER" in chain(again)


def test_user_auth_flow_answers_the_choice(cli, server, clock, idp):
    flows = ["ALLOW_USER_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    pool_id, client_id, username = pool(idp, PROMPT, mfa="OFF", flows=flows)
    p = sign_in(cli, server, pool_id, client_id, username, "--flow", "user-auth",
                "--remember-device")
    assert chain(p) == ["SELECT_CHALLENGE", "PASSWORD_VERIFIER"]
    tokens = json.loads(p.stdout)
    assert idp.get_user(AccessToken=tokens["AccessToken"])["Username"] == username
    [key] = admin_devices(idp, pool_id, username)
    # PREFERRED_CHALLENGE PASSWORD: the password itself, then the remembered device.
    p = sign_in(cli, server, pool_id, client_id, username, "--flow", "user-auth",
                "--prefer", "password")
    assert chain(p) == ["DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"]
    assert claims(json.loads(p.stdout)["AccessToken"])["device_key"] == key
    # --prefer needs --flow user-auth.
    bad = sign_in(cli, server, pool_id, client_id, username, "--prefer", "password", check=False)
    assert bad.returncode != 0 and "--flow user-auth" in bad.stderr


def test_device_commands_refuse_an_unknown_device_and_change_nothing(cli, server, clock, idp):
    pool_id, client_id, username = pool(idp, PROMPT)
    sign_in(cli, server, pool_id, client_id, username, "--totp", "ci", "--remember-device",
            "--save", "s")
    before = admin_devices(idp, pool_id, username)
    [key] = before
    unknown = "us-east-1_00000000-0000-4000-8000-000000000000"
    for args in (("status", "--session", "s", unknown, "not-remembered"),
                 ("forget", "--session", "s", unknown)):
        p = cli.run("cognito", "device", *args, check=False)
        assert p.returncode != 0, p
        assert "ResourceNotFoundException" in p.stderr or "does not exist" in p.stderr, p.stderr
        assert admin_devices(idp, pool_id, username) == before
    # Not a status Cognito knows: refused before any call.
    p = cli.run("cognito", "device", "status", "--session", "s", key, "forgotten", check=False)
    assert p.returncode != 0 and admin_devices(idp, pool_id, username) == before
    # This machine's device is still kept here and still stands in for MFA.
    again = sign_in(cli, server, pool_id, client_id, username)
    assert chain(again) == ["PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"]


def test_forgetting_another_device_keeps_this_one(cli, server, clock, idp, tmp_path):
    """Two machines (two state directories) remember their devices; one forgets the other's by
    key: Cognito forgets that one, and this machine's own device still stands in for MFA."""
    pool_id, client_id, username = pool(idp, PROMPT)
    sign_in(cli, server, pool_id, client_id, username, "--totp", "ci", "--remember-device",
            "--save", "s")
    other = Authsim(str(tmp_path / "other"))
    other.env = h.aws_env(other.env, str(tmp_path))
    other.clock = clock
    uri = cli.run("totp", "show", "ci", "--uri").stdout.strip()
    other.run("totp", "add", "--uri", "-", "ci", input=uri + "\n")
    clock.next_step()
    sign_in(other, server, pool_id, client_id, username, "--totp", "ci", "--remember-device")
    assert len(admin_devices(idp, pool_id, username)) == 2
    listed = json.loads(cli.run("cognito", "device", "list", "--session", "s", "--json").stdout)
    [mine] = [d["key"] for d in listed if d["this_device"]]
    [theirs] = [d["key"] for d in listed if not d["this_device"]]
    cli.run("cognito", "device", "forget", "--session", "s", theirs)
    assert list(admin_devices(idp, pool_id, username)) == [mine]
    again = sign_in(cli, server, pool_id, client_id, username)
    assert chain(again) == ["PASSWORD_VERIFIER", "DEVICE_SRP_AUTH", "DEVICE_PASSWORD_VERIFIER"]
    # The other machine's next sign-in finds its device gone: dropped, retried, MFA asked.
    clock.next_step()
    p = sign_in(other, server, pool_id, client_id, username, "--totp", "ci")
    assert "no longer knows the device" in p.stderr
    assert chain(p) == ["PASSWORD_VERIFIER", "SOFTWARE_TOKEN_MFA"]
