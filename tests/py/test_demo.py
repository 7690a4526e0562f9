"""`authsim demo`, the README's main-job command: every step runs and passes, it leaves nothing
behind, and its output never shows a secret (the user's password, TOTP seeds, the temporary
AWS secret key or session token, Cognito tokens)."""

import glob
import os
import re
import subprocess
import tempfile

from conftest import authsim_bin

STEPS = [
    "RFC 6238 Appendix B",
    "start the strict stand-in",
    "as the administrator (AWS SDK)",
    "Cognito: sign in with SRP (no MFA yet)",
    "Cognito: enroll TOTP",
    "Cognito: sign in again",
    "Cognito: sign in with the remembered device",
    "Cognito: new tokens from the refresh token",
    "Cognito passkeys: a virtual key",
    "Cognito: sign in with the passkey",
    "IAM: enable a virtual MFA device",
    "STS: GetSessionToken",
    "check as the administrator",
]


def test_demo_runs_every_flow_and_shows_no_secret():
    tmp = tempfile.mkdtemp(prefix="authsim-demo-test-")
    env = dict(os.environ, TMPDIR=tmp, RUST_LOG="info")
    # The user's own AWS settings must not leak into the demo.
    env["AWS_PROFILE"] = "no-such-profile-from-the-test"
    p = subprocess.run([authsim_bin(), "demo"], env=env, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert p.stdout.rstrip().endswith("demo: all steps passed"), out
    at = 0
    for s in STEPS:
        i = out.find("==> " + s, at)
        assert i >= 0, f"step {s!r} missing or out of order:\n{out}"
        at = i
    # Every flow ran as the real command, against the stand-in.
    for cmd in ["cognito sign-in", "cognito enroll-totp", "cognito refresh",
                "cognito passkey register", "cognito passkey list", "iam enable-mfa",
                "sts session"]:
        assert f"$ authsim {cmd} --endpoint-url http://127.0.0.1:" in out, cmd
    assert "SOFTWARE_TOKEN_MFA" in out
    # The remembered device signs in without a code.
    remembered = out[out.find("==> Cognito: sign in with the remembered device"):]
    remembered = remembered[:remembered.find("==> ", 4)]
    assert "DEVICE_SRP_AUTH → DEVICE_PASSWORD_VERIFIER" in remembered, remembered
    assert "SOFTWARE_TOKEN_MFA" not in remembered, remembered
    # A virtual key registered a passkey the pool lists, and signed in with it: WEB_AUTHN first,
    # no password on the command line or standard input.
    passkey = out[out.find("==> Cognito passkeys: a virtual key"):out.find("==> IAM:")]
    assert re.search(r"passkey [A-Za-z0-9_-]{20,} registered for relying party localhost "
                     r"\(as https://localhost\); ListWebAuthnCredentials shows it", passkey), passkey
    sign_in = passkey[passkey.find("==> Cognito: sign in with the passkey"):]
    assert "--passkey" in sign_in and "--password-stdin" not in sign_in, sign_in
    assert "signed in as 'demo-user' (WEB_AUTHN" in sign_in, sign_in
    assert 'GetUserAuthFactors: ["PASSWORD","WEB_AUTHN"]' in sign_in, sign_in
    assert re.search(r"temporary credentials ASIA[A-Z0-9]{16}", out)
    # No secret: the generated password, JWTs, session tokens, base32 seeds of 32+ chars.
    assert not re.search(r"Demo-[0-9a-f]{18}-Pw1!", out)
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", out), "a JWT was printed"
    assert '"SessionToken"' not in out and '"SecretAccessKey"' not in out
    assert not re.search(r"\b[A-Z2-7]{32,}\b", out), "something like a base32 seed was printed"
    # The throw-away state is gone.
    assert glob.glob(os.path.join(tmp, "authsim-demo-*")) == []
