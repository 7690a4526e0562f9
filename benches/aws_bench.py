"""AWS MFA flows against the strict stand-in (`authsim emulator`), timed against the obvious
competitor: a boto3 + pyotp client that waits for the next 30-second window for its second
IAM code.

  python3 benches/aws_bench.py [--runs N] [--waiting-runs M]

Prints, for IAM EnableMFADevice, the wall time of `authsim iam enable-mfa` (create device, seed
into the vault durably, two consecutive codes at once, enable, confirm) against the waiting
client, as medians and their ratio; and the wall time of a Cognito `enroll-totp` followed by an
MFA sign-in (both with fresh codes, never one code twice: the stand-in refuses a replay).
Goals (issue 5): enable-mfa <= 1 s and >= 30x faster; enroll + MFA sign-in <= 1 s.

Then, in the same run (issue 13), repeated sign-ins of one user of a pool that remembers
devices: with the remembered device (`cognito sign-in` proves the device, DEVICE_SRP_AUTH, and
needs no code) against TOTP MFA sign-ins (each with a fresh code, as a suite signing in many
times needs: at most the current and the next step's code at once, then a wait). Goal: the
remembered device is faster. The last line printed is a JSON summary (medians and p95 in ms
per series) that benches/run.py collects.

And (issue 12), end to end with a virtual key of `authsim daemon` playing the security key:
`cognito passkey register` followed by `cognito sign-in --passkey` for a new user, against
`enroll-totp` followed by an MFA sign-in above; then passkey sign-ins in a row against the TOTP
MFA sign-ins in a row. The pool judges every passkey with its own relying party (webauthn-rs).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import pyotp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
from emulator.harness import Emulator, authsim_bin  # noqa: E402

PASSWORD = "Correct-Horse-9!"


def env_for(state_dir, emu):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    empty = os.path.join(state_dir, "empty")
    open(empty, "a").close()
    env.update(AUTHSIM_STATE_DIR=os.path.join(state_dir, "state"), AUTHSIM_KEYRING="off",
               AWS_ACCESS_KEY_ID="AKIAAUTHSIMTESTKEY01",
               AWS_SECRET_ACCESS_KEY="authsim-dummy-secret-key-not-a-real-one",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE=empty, AWS_SHARED_CREDENTIALS_FILE=empty,
               AWS_EC2_METADATA_DISABLED="true")
    return env


def run(env, *args, stdin=None):
    p = subprocess.run([authsim_bin(), *args], env=env, input=stdin, capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"authsim {' '.join(args)} failed: {p.stderr}")
    return p


def authsim_enable(emu, env, iam):
    user = "u" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    t0 = time.perf_counter()
    run(env, "iam", "enable-mfa", "--endpoint-url", emu.url, "--user", user,
        "--device-name", user + "-mfa")
    elapsed = time.perf_counter() - t0
    devices = iam.list_mfa_devices(UserName=user)["MFADevices"]
    assert len(devices) == 1, devices
    return elapsed


def waiting_enable(emu, iam):
    """What a script without authsim does: one code now, then wait for the next window."""
    user = "w" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    t0 = time.perf_counter()
    dev = iam.create_virtual_mfa_device(VirtualMFADeviceName=user + "-mfa")["VirtualMFADevice"]
    seed = dev["Base32StringSeed"]
    seed = seed.decode() if isinstance(seed, bytes) else seed
    totp = pyotp.TOTP(seed)
    step = int(emu.now()) // 30
    code1 = totp.at(step * 30)
    while int(emu.now()) // 30 == step:
        time.sleep(0.05)
    code2 = totp.at((step + 1) * 30)
    iam.enable_mfa_device(UserName=user, SerialNumber=dev["SerialNumber"],
                          AuthenticationCode1=code1, AuthenticationCode2=code2)
    return time.perf_counter() - t0


def cognito_enroll_and_sign_in(emu, env, idp, pool, client_id):
    user = "c" + uuid.uuid4().hex[:8]
    idp.admin_create_user(UserPoolId=pool, Username=user, TemporaryPassword="Temp-Pass-1!",
                          MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
    common = ["--endpoint-url", emu.url, "--client-id", client_id, "--username", user,
              "--password-stdin", "--pool-id", pool, "--allow-next"]
    run(env, "cognito", "sign-in", *common, "--save", user, stdin=PASSWORD + "\n")
    t0 = time.perf_counter()
    run(env, "cognito", "enroll-totp", "--endpoint-url", emu.url, "--session", user,
        "--name", user, "--preferred", "--allow-next")
    run(env, "cognito", "sign-in", *common, "--totp", user, stdin=PASSWORD + "\n")
    return time.perf_counter() - t0


def remembered_vs_totp(emu, env, idp, runs):
    """Seconds per sign-in: with the remembered device (a pool that remembers devices), and with
    a fresh TOTP code (the same pool settings without device tracking)."""

    def setup(devices):
        kwargs = {"DeviceConfiguration": devices} if devices else {}
        pool = idp.create_user_pool(PoolName="bench-devices", **kwargs)["UserPool"]["Id"]
        idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="ON",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
        client_id = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="bench",
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        name = "d" + uuid.uuid4().hex[:8]
        idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD,
                                    Permanent=True)
        common = ["--endpoint-url", emu.url, "--client-id", client_id, "--password-stdin",
                  "--pool-id", pool, "--username", name]
        return name, common

    def timed(common, *args):
        t0 = time.perf_counter()
        p = run(env, "cognito", "sign-in", *common, *args, stdin=PASSWORD + "\n")
        return time.perf_counter() - t0, p.stderr

    name, common = setup({"ChallengeRequiredOnNewDevice": True,
                          "DeviceOnlyRememberedOnUserPrompt": True})
    # MFA_SETUP enrolls the TOTP, and the device is remembered on the way.
    timed(common, "--totp", name, "--remember-device")
    remembered = []
    for _ in range(runs):
        t, err = timed(common)
        assert "DEVICE_PASSWORD_VERIFIER" in err and "SOFTWARE_TOKEN_MFA" not in err, err
        remembered.append(t)
    name, common = setup(None)
    timed(common, "--totp", name)
    totp = []
    for _ in range(runs):
        t, err = timed(common, "--totp", name, "--allow-next")
        assert "SOFTWARE_TOKEN_MFA" in err, err
        totp.append(t)
    return remembered, totp


class Daemon:
    """`authsim daemon` on the bench's state directory: its key "default" plays the security
    key for `--key default`."""

    def __init__(self, env, sock):
        self.proc = subprocess.Popen(
            [authsim_bin(), "daemon", "--no-uhid", "--hid-socket", sock, "--attestation", "none"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 30
        for line in self.proc.stdout:
            if line.startswith("ready: api-socket"):
                return
            if time.monotonic() > deadline:
                break
        self.stop()
        raise SystemExit("the daemon did not announce its control API")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def passkey_series(emu, env, idp, tmp, runs):
    """Seconds for `passkey register` + `sign-in --passkey` of each new user, then for passkey
    sign-ins in a row of one user; the daemon's key answers every ceremony."""
    pool = idp.create_user_pool(
        PoolName="bench-passkeys", UserPoolTier="ESSENTIALS",
        Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}},
    )["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool, MfaConfiguration="OFF",
        WebAuthnConfiguration={"RelyingPartyId": "example.com", "UserVerification": "preferred"})
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="bench",
        ExplicitAuthFlows=["ALLOW_USER_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    daemon = Daemon(env, os.path.join(tmp, "key.sock"))
    try:
        first, users = [], []
        for _ in range(runs):
            user = "p" + uuid.uuid4().hex[:8]
            idp.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
            idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD,
                                        Permanent=True)
            run(env, "cognito", "sign-in", "--endpoint-url", emu.url, "--pool-id", pool,
                "--client-id", client_id, "--username", user, "--password-stdin", "--save", user,
                stdin=PASSWORD + "\n")
            t0 = time.perf_counter()
            run(env, "cognito", "passkey", "register", "--endpoint-url", emu.url, "--session", user)
            p = run(env, "cognito", "sign-in", "--endpoint-url", emu.url, "--client-id", client_id,
                    "--username", user, "--passkey")
            first.append(time.perf_counter() - t0)
            assert "(WEB_AUTHN)" in p.stderr, p.stderr
            users.append(user)
        again = []
        for _ in range(runs):
            t0 = time.perf_counter()
            p = run(env, "cognito", "sign-in", "--endpoint-url", emu.url, "--client-id", client_id,
                    "--username", users[0], "--passkey")
            again.append(time.perf_counter() - t0)
            assert "(WEB_AUTHN)" in p.stderr, p.stderr
        return first, again
    finally:
        daemon.stop()


def series(samples):
    """Median and 95th percentile of a series of seconds, in milliseconds."""
    ms = sorted(x * 1000 for x in samples)
    if not ms:
        return None
    return {"p50": statistics.median(ms), "p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
            "n": len(ms), "total_s": sum(ms) / 1000}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--waiting-runs", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="authsim-aws-bench-") as tmp:
        emu = Emulator()
        try:
            env = env_for(tmp, emu)
            iam = emu.client("iam")
            idp = emu.client("cognito-idp")
            ours = [authsim_enable(emu, env, iam) for _ in range(args.runs)]
            theirs = [waiting_enable(emu, iam) for _ in range(args.waiting_runs)]
            pool = idp.create_user_pool(PoolName="bench")["UserPool"]["Id"]
            idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL",
                                         SoftwareTokenMfaConfiguration={"Enabled": True})
            client_id = idp.create_user_pool_client(
                UserPoolId=pool, ClientName="bench",
                ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            )["UserPoolClient"]["ClientId"]
            cognito = [cognito_enroll_and_sign_in(emu, env, idp, pool, client_id)
                       for _ in range(args.runs)]
            remembered, totp = remembered_vs_totp(emu, env, idp, args.runs)
            passkey_first, passkey_again = passkey_series(emu, env, idp, tmp, args.runs)
        finally:
            emu.stop()
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"iam enable-mfa (authsim, {len(ours)} runs): median {m_ours * 1000:.0f} ms "
          f"(min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f})")
    print(f"iam enable (boto3+pyotp waiting for the next window, {len(theirs)} runs): median "
          f"{m_theirs * 1000:.0f} ms (min {min(theirs) * 1000:.0f}, max {max(theirs) * 1000:.0f})")
    print(f"ratio: authsim is {m_theirs / m_ours:.1f}x faster (goal >= 30x; enable-mfa goal <= 1 s)")
    print(f"cognito enroll-totp + MFA sign-in ({len(cognito)} runs): median "
          f"{statistics.median(cognito) * 1000:.0f} ms (max {max(cognito) * 1000:.0f}; goal <= 1 s)")
    m_rem, m_totp = statistics.median(remembered), statistics.median(totp)
    print(f"cognito sign-in with the remembered device ({len(remembered)} in a row): median "
          f"{m_rem * 1000:.0f} ms (min {min(remembered) * 1000:.0f}), total {sum(remembered):.1f} s")
    print(f"cognito sign-in with a fresh TOTP code ({len(totp)} in a row): median "
          f"{m_totp * 1000:.0f} ms (min {min(totp) * 1000:.0f}, when no wait), total {sum(totp):.1f} s")
    print(f"ratio: the remembered device is {sum(totp) / sum(remembered):.1f}x faster over the "
          f"whole series (goal: faster)")
    m_cog, m_pk = statistics.median(cognito), statistics.median(passkey_first)
    print(f"cognito passkey register + sign-in --passkey, a virtual key ({len(passkey_first)} runs): "
          f"median {m_pk * 1000:.0f} ms (max {max(passkey_first) * 1000:.0f}); "
          f"{m_cog / m_pk:.1f}x faster than enroll-totp + MFA sign-in above")
    m_again = statistics.median(passkey_again)
    print(f"cognito sign-in --passkey ({len(passkey_again)} in a row): median {m_again * 1000:.0f} ms, "
          f"total {sum(passkey_again):.1f} s; against the fresh-TOTP MFA sign-ins above: "
          f"{sum(totp) / sum(passkey_again):.1f}x faster over the series")
    print(json.dumps({
        "iam_enable_mfa": series(ours), "iam_enable_waiting_client": series(theirs),
        "cognito_enroll_totp_and_sign_in": series(cognito),
        "cognito_sign_in_remembered_device": series(remembered),
        "cognito_sign_in_fresh_totp": series(totp),
        "cognito_passkey_register_and_sign_in": series(passkey_first),
        "cognito_sign_in_passkey": series(passkey_again)}))


if __name__ == "__main__":
    main()
