"""Judge: the AWS CLI against `authsim emulator`, state persistence across restarts, and the
binary's own command-line contract (loopback only, address on stdout)."""

import json
import os
import subprocess
import sys
import uuid

import pyotp
import pytest

from emulator.cognito import PASSWORD, make_client, make_pool, make_user
from emulator.harness import DUMMY_KEY, DUMMY_SECRET, REGION, Emulator, authsim_bin

pytestmark = pytest.mark.timeout(180)


def aws(emu, *args, check=True):
    """Run `aws --endpoint-url URL ...` (awscli from PyPI) with dummy credentials."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", emu.url, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    e.stop()


def create_virtual_mfa_device(emu, name, outfile, method):
    """`aws iam create-virtual-mfa-device`, its seed (Base32StringSeed) or QR code (QRCodePNG)
    written to `outfile`; returns the device's serial number."""
    out = aws(emu, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
              "--outfile", str(outfile), "--bootstrap-method", method)
    return json.loads(out.stdout)["VirtualMFADevice"]["SerialNumber"]


def test_aws_cli_virtual_mfa_flow(emu, tmp_path):
    user = f"cli-{uuid.uuid4().hex[:8]}"
    device = f"cli-dev-{uuid.uuid4().hex[:8]}"
    aws(emu, "iam", "create-user", "--user-name", user)
    seed_file = tmp_path / "seed.txt"
    serial = create_virtual_mfa_device(emu, device, seed_file, "Base32StringSeed")
    assert serial == f"arn:aws:iam::123456789012:mfa/{device}"
    seed = seed_file.read_text().strip()
    assert len(seed) == 64
    png_file = tmp_path / "qr.png"
    create_virtual_mfa_device(emu, device + "-qr", png_file, "QRCodePNG")
    assert png_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bad = aws(
        emu, "iam", "enable-mfa-device", "--user-name", user, "--serial-number", serial,
        "--authentication-code1", "123456", "--authentication-code2", "654321", check=False,
    )
    assert bad.returncode != 0
    assert "An error occurred (InvalidAuthenticationCode)" in bad.stderr
    assert "Authentication code for device is not valid." in bad.stderr

    code1, code2 = emu.codes(seed, -1, 0)
    aws(
        emu, "iam", "enable-mfa-device", "--user-name", user, "--serial-number", serial,
        "--authentication-code1", code1, "--authentication-code2", code2,
    )
    listed = json.loads(aws(emu, "iam", "list-mfa-devices", "--user-name", user).stdout)
    assert [d["SerialNumber"] for d in listed["MFADevices"]] == [serial]
    virtual = json.loads(
        aws(emu, "iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned").stdout
    )
    assert serial in [d["SerialNumber"] for d in virtual["VirtualMFADevices"]]

    emu.next_step()
    creds = json.loads(
        aws(
            emu, "sts", "get-session-token", "--serial-number", serial,
            "--token-code", emu.code(seed), "--duration-seconds", "900",
        ).stdout
    )["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    replay = aws(
        emu, "sts", "get-session-token", "--serial-number", serial,
        "--token-code", emu.code(seed), check=False,
    )
    assert replay.returncode != 0 and "An error occurred (AccessDenied)" in replay.stderr

    aws(emu, "iam", "deactivate-mfa-device", "--user-name", user, "--serial-number", serial)
    aws(emu, "iam", "delete-virtual-mfa-device", "--serial-number", serial)
    missing = aws(emu, "iam", "delete-virtual-mfa-device", "--serial-number", serial, check=False)
    assert missing.returncode != 0 and "(NoSuchEntity)" in missing.stderr


def test_iams_qr_png_read_by_authsim_enables_the_device(emu, tmp_path, authsim):
    """The PNG the AWS CLI writes for `--bootstrap-method QRCodePNG` is what a user scans:
    `authsim totp import --qr-png` reads it, and the two codes authsim then computes enable
    the device on the stand-in (which checks them against the seed it never showed)."""
    user = f"qr-{uuid.uuid4().hex[:8]}"
    device = f"qr-dev-{uuid.uuid4().hex[:8]}"
    aws(emu, "iam", "create-user", "--user-name", user)
    png_file = tmp_path / "qr.png"
    serial = create_virtual_mfa_device(emu, device, png_file, "QRCodePNG")
    authsim.run("totp", "import", "iam", "--qr-png", str(png_file))
    listed = json.loads(authsim.run("totp", "list", "--json").stdout)
    assert [e["name"] for e in listed] == ["iam"]
    assert device in json.dumps(listed[0])

    now = int(emu.now())
    if now % 30 > 25:
        now = int(emu.next_step())
    codes = json.loads(
        authsim.run("totp", "codes", "iam", "--count", "2", "--at", str(now - 30), "--json").stdout
    )
    aws(
        emu, "iam", "enable-mfa-device", "--user-name", user, "--serial-number", serial,
        "--authentication-code1", codes[0]["code"], "--authentication-code2", codes[1]["code"],
    )
    listed = json.loads(aws(emu, "iam", "list-mfa-devices", "--user-name", user).stdout)
    assert [d["SerialNumber"] for d in listed["MFADevices"]] == [serial]

def test_aws_cli_cognito(emu):
    out = json.loads(aws(emu, "cognito-idp", "create-user-pool", "--pool-name", "cli-pool").stdout)
    pool_id = out["UserPool"]["Id"]
    aws(
        emu, "cognito-idp", "set-user-pool-mfa-config", "--user-pool-id", pool_id,
        "--software-token-mfa-configuration", "Enabled=true", "--mfa-configuration", "OPTIONAL",
    )
    cfg = json.loads(
        aws(emu, "cognito-idp", "get-user-pool-mfa-config", "--user-pool-id", pool_id).stdout
    )
    assert cfg["MfaConfiguration"] == "OPTIONAL"
    bad = aws(
        emu, "cognito-idp", "admin-get-user", "--user-pool-id", pool_id, "--username", "ghost",
        check=False,
    )
    assert bad.returncode != 0 and "(UserNotFoundException)" in bad.stderr


def test_state_survives_restart(tmp_path):
    state = tmp_path / "state.json"
    first = Emulator(state_file=state)
    try:
        iam = first.client("iam")
        idp = first.client("cognito-idp")
        user = "persisted-user"
        iam.create_user(UserName=user)
        dev = iam.create_virtual_mfa_device(VirtualMFADeviceName="persisted-dev")
        serial = dev["VirtualMFADevice"]["SerialNumber"]
        seed = dev["VirtualMFADevice"]["Base32StringSeed"].decode()
        code1, code2 = first.codes(seed, -1, 0)
        iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                              AuthenticationCode1=code1, AuthenticationCode2=code2)
        pool_id = make_pool(idp, mfa="OPTIONAL")
        client_id, _ = make_client(idp, pool_id)
        cog_user = make_user(idp, pool_id)
        tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": cog_user, "PASSWORD": PASSWORD})
        access = tokens["AuthenticationResult"]["AccessToken"]
        refresh = tokens["AuthenticationResult"]["RefreshToken"]
        totp_secret = idp.associate_software_token(AccessToken=access)["SecretCode"]
        idp.verify_software_token(AccessToken=access, UserCode=first.code(totp_secret))
        idp.set_user_mfa_preference(AccessToken=access,
                                    SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
        spent_step_code = code2
    finally:
        first.stop()
    assert state.exists()
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "state.json"]
    assert leftovers == [], "no temporary files left behind"

    second = Emulator(state_file=state)
    try:
        iam = second.client("iam")
        sts = second.client("sts")
        idp = second.client("cognito-idp")
        assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]] == [serial]
        # Replay protection survived too.
        with pytest.raises(Exception):
            sts.get_session_token(SerialNumber=serial, TokenCode=spent_step_code)
        # The first server's clock may have been nudged a step ahead (test offsets are not
        # state), so move two steps past anything it could have spent.
        second.advance(60)
        sts.get_session_token(SerialNumber=serial, TokenCode=second.code(seed))
        # The Cognito user, its TOTP and the pool's signing key survived.
        assert idp.get_user(AccessToken=access)["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
        resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": cog_user, "PASSWORD": PASSWORD})
        assert resp["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
        done = idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=resp["Session"],
            ChallengeResponses={"USERNAME": cog_user,
                                "SOFTWARE_TOKEN_MFA_CODE": second.code(totp_secret)},
        )
        assert "AccessToken" in done["AuthenticationResult"]
        again = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": refresh})
        assert "AccessToken" in again["AuthenticationResult"]
    finally:
        second.stop()

    # A corrupt state file is refused with a clear message, not overwritten.
    state.write_text("{ not json")
    proc = subprocess.run(
        [authsim_bin(), "emulator", "--listen", "127.0.0.1:0", "--state", str(state)],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode != 0
    assert "is not valid emulator state" in proc.stderr
    assert state.read_text() == "{ not json"


@pytest.mark.parametrize("addr", ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"])
def test_refuses_non_loopback(addr):
    proc = subprocess.run(
        [authsim_bin(), "emulator", "--listen", addr], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0
    assert "refusing to listen" in proc.stderr
    assert proc.stdout == ""


def test_ipv6_loopback_and_stdout_line():
    proc = subprocess.Popen(
        [authsim_bin(), "emulator", "--listen", "[::1]:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.skip(f"no IPv6 loopback here: {proc.stderr.read()}")
        assert line.startswith("listening on [::1]:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_pyotp_agrees_with_the_server_window(emu):
    """A sanity check of the judge itself: pyotp and the server share the clock control."""
    seed = pyotp.random_base32(64)
    before = emu.now()
    after = emu.advance(60)
    assert 59 <= after - before <= 61
    assert emu.code(seed) == pyotp.TOTP(seed).at(int(emu.now()))
