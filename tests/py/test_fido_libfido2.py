"""libfido2's unmodified command-line tools (Debian fido2-tools) as judges: a small LD_PRELOAD
shim (tests/libfido2/shim.c, compiled here against libfido2-dev) routes the device path
`sock:/path` to the daemon's Unix socket through fido_dev_set_io_functions. fido2-token reads
the key's info, fido2-cred makes and verifies credentials (packed self and x5c), fido2-assert
gets and verifies assertions, and a tampered signature or authenticator data is rejected. On a
key with a PIN (given on stdin, as the tools read it without a terminal), fido2-cred -h -c
makes hmac-secret and credProtect credentials that fido2-cred -V checks were signed, and
fido2-assert -h gets their secrets with and without user verification."""
import base64
import hashlib
import os
import shutil
import subprocess

import pytest
from cryptography import x509

from fido import daemons  # noqa: F401  (pytest fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_SRC = os.path.join(HERE, "..", "libfido2", "shim.c")
TOOLS = ("fido2-token", "fido2-cred", "fido2-assert")


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    missing = [t for t in TOOLS + ("cc",) if shutil.which(t) is None]
    if missing or not os.path.exists("/usr/include/fido.h"):
        pytest.fail(f"missing {missing or 'libfido2-dev'}: run scripts/install-deps.sh")
    out = tmp_path_factory.mktemp("shim") / "shim.so"
    subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", str(out),
                    SHIM_SRC, "-lfido2", "-ldl"], check=True, timeout=120)
    return str(out)


def b64(data):
    return base64.b64encode(data).decode()


def tool(shim, *args, input=None, check=True):
    env = dict(os.environ, LD_PRELOAD=shim)
    env.pop("FIDO_DEBUG", None)
    p = subprocess.run(list(args), input=input, env=env, capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def make_cred(shim, dev, kind, resident, user=b"user-1"):
    cdh = hashlib.sha256(os.urandom(16)).digest()
    flags = ["-M"] + (["-r"] if resident else [])
    out = tool(shim, "fido2-cred", *flags, "-i", "/dev/stdin", dev, kind,
               input=f"{b64(cdh)}\nexample.com\nalice\n{b64(user)}\n").stdout
    lines = out.splitlines()
    assert lines[0] == b64(cdh) and lines[1] == "example.com" and lines[2] == "packed"
    return out, lines


def verify_cred(shim, made, kind):
    """fido2-cred -V: the attestation signature (x5c leaf, or the credential key itself)."""
    out = tool(shim, "fido2-cred", "-V", "-i", "/dev/stdin", kind, input=made).stdout
    cred_id, pem = out.split("\n", 1)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    return cred_id, pem


def get_assert(shim, dev, cred_id=None):
    cdh = hashlib.sha256(os.urandom(16)).digest()
    inp = f"{b64(cdh)}\nexample.com\n" + (f"{cred_id}\n" if cred_id else "")
    flags = ["-G", "-p"] + ([] if cred_id else ["-r"])
    return tool(shim, "fido2-assert", *flags, "-i", "/dev/stdin", dev, input=inp).stdout


def verify_assert(shim, assertion, pem_path, kind, check=True):
    lines = assertion.splitlines()[:4]  # cdh, rp id, authdata, signature (no user fields)
    return tool(shim, "fido2-assert", "-V", "-p", "-i", "/dev/stdin", pem_path, kind,
                input="\n".join(lines) + "\n", check=check)


def tamper(b64_line, index=-5):
    raw = bytearray(base64.b64decode(b64_line))
    raw[index] ^= 0x01
    return b64(bytes(raw))


def test_fido2_token_info(shim, daemons):
    d = daemons()
    out = tool(shim, "fido2-token", "-I", "sock:" + d.path).stdout
    # Versions as shipping keys list them (some hosts compare the array in order).
    assert "version strings: U2F_V2, FIDO_2_0, FIDO_2_1" in out
    assert "aaguid: 6175746873696d2d66772d73696d0001" in out
    assert "options: rk, up, noplat" in out
    assert "noclientPin" in out and "pinUvAuthToken" in out and "authnrCfg" in out
    assert "pin protocols: 2, 1" in out and "minpinlen: 4" in out
    assert "pin retries: 8" in out
    assert "es256" in out and "eddsa" in out
    assert "remaining rk(s): 100" in out
    # A path the shim does not own still goes to libfido2 (and fails: no such hidraw).
    p = tool(shim, "fido2-token", "-I", "/dev/hidraw-authsim-none", check=False)
    assert p.returncode != 0


@pytest.mark.parametrize("resident", [False, True], ids=["non-resident", "resident"])
@pytest.mark.parametrize("kind", ["es256", "eddsa"])
@pytest.mark.parametrize("mode", ["self", "x5c"])
def test_fido2_cred_and_assert(shim, daemons, tmp_path, mode, kind, resident):
    d = daemons(attestation=mode)
    dev = "sock:" + d.path
    made, lines = make_cred(shim, dev, kind, resident)
    has_x5c = len([line for line in lines if line]) == 7
    assert has_x5c == (mode == "x5c")
    cred_id, pem = verify_cred(shim, made, kind)
    if mode == "x5c":
        # The batch certificate in x5c was issued by the exported installation CA.
        leaf = x509.load_der_x509_certificate(base64.b64decode(lines[6]))
        ca = x509.load_pem_x509_certificate(d.ca_pem())
        leaf.verify_directly_issued_by(ca)
    # A tampered attestation signature or authenticator data is rejected by fido2-cred -V.
    for i in (3, 5):
        bad = lines[:]
        bad[i] = tamper(bad[i])
        p = tool(shim, "fido2-cred", "-V", "-i", "/dev/stdin", kind, input="\n".join(bad) + "\n",
                 check=False)
        assert p.returncode != 0, f"tampered line {i} accepted"

    pem_path = tmp_path / "key.pem"
    pem_path.write_text(pem)
    for _ in range(2):
        assertion = get_assert(shim, dev, None if resident else cred_id)
        verify_assert(shim, assertion, str(pem_path), kind)
        lines_a = assertion.splitlines()
        for i in (2, 3):  # authenticator data, signature
            bad = lines_a[:]
            bad[i] = tamper(bad[i])
            p = verify_assert(shim, "\n".join(bad) + "\n", str(pem_path), kind, check=False)
            assert p.returncode != 0, f"tampered assertion line {i} accepted"


PIN = "1234"


def pin_tool(shim, tmp_path, *args, params="", pin=PIN, check=True):
    """A tool reading its parameters from a file (`@params` in `args`) and the PIN from stdin:
    readpassphrase reads stdin when there is no terminal, so the tool runs in a session of its
    own (no controlling tty even when the tests run from one)."""
    path = tmp_path / f"params-{os.urandom(4).hex()}"
    path.write_text(params)
    env = dict(os.environ, LD_PRELOAD=shim)
    env.pop("FIDO_DEBUG", None)
    argv = [str(path) if a == "@params" else a for a in args]
    p = subprocess.run(argv, input=f"{pin}\n" if pin else "", env=env, capture_output=True,
                       text=True, timeout=30, start_new_session=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr}")
    return p


def test_hmac_secret_and_cred_protect_with_a_pin(shim, daemons, tmp_path):
    d = daemons()
    sock = os.path.join(d.sock_dir, "pin.sock")
    status, view, _ = d.api("POST", "/webauthn/authenticator",
                            {"name": "pinkey", "hidSocket": sock, "pin": PIN})
    assert status == 201, view
    dev = "sock:" + sock
    info = tool(shim, "fido2-token", "-I", dev).stdout
    assert "extension strings: credProtect, hmac-secret, hmac-secret-mc, credBlob, " \
           "minPinLength" in info, info

    def make(*flags, user=b"user-1"):
        cdh = hashlib.sha256(os.urandom(16)).digest()
        out = pin_tool(shim, tmp_path, "fido2-cred", "-M", *flags, "-i", "@params", dev, "es256",
                       params=f"{b64(cdh)}\nexample.com\nalice\n{b64(user)}\n").stdout
        return out

    def verify(made, *flags, check=True):
        p = tool(shim, "fido2-cred", "-V", *flags, "-i", "/dev/stdin", "es256", input=made,
                 check=check)
        return p

    def assertion(cred_id, salt, *flags, pin=PIN, check=True):
        cdh = hashlib.sha256(os.urandom(16)).digest()
        return pin_tool(shim, tmp_path, "fido2-assert", "-G", "-p", "-h", *flags, "-i", "@params",
                        dev, params=f"{b64(cdh)}\nexample.com\n{cred_id}\n{b64(salt)}\n",
                        pin=pin, check=check)

    # Level 3 and hmac-secret, made with the PIN (-v); fido2-cred -V checks both were signed.
    made = make("-h", "-c", "3", "-v")
    cred_id, pem = verify(made, "-h", "-c", "3", "-v").stdout.split("\n", 1)
    assert verify(made, "-h", "-c", "2", check=False).returncode != 0, "the level was 3"
    salt = os.urandom(32)
    first = assertion(cred_id, salt, "-v").stdout.splitlines()
    again = assertion(cred_id, salt, "-v").stdout.splitlines()
    secret = first[4]
    assert len(base64.b64decode(secret)) == 32 and again[4] == secret
    assert assertion(cred_id, os.urandom(32), "-v").stdout.splitlines()[4] != secret
    pem_path = tmp_path / "key.pem"
    pem_path.write_text(pem)
    tool(shim, "fido2-assert", "-V", "-p", "-h", "-v", "-i", "/dev/stdin", str(pem_path),
         "es256", input="\n".join(first[:4]) + "\n")
    # Without the PIN a level-3 credential is not found.
    p = assertion(cred_id, salt, pin=None, check=False)
    assert p.returncode != 0 and "FIDO_ERR_NO_CREDENTIALS" in p.stderr, p.stderr

    # Level 1 and hmac-secret without user verification: another secret than with it.
    made = make("-h")
    cred_id = verify(made, "-h").stdout.split("\n", 1)[0]
    without = assertion(cred_id, salt, pin=None).stdout.splitlines()[4]
    with_uv = assertion(cred_id, salt, "-v").stdout.splitlines()[4]
    assert without != with_uv
    assert assertion(cred_id, salt, pin=None).stdout.splitlines()[4] == without


def test_fido2_token_credential_management_with_a_pin(shim, daemons, tmp_path):
    from fido import open_device
    from fido2.ctap2 import Ctap2
    from fido2.ctap2.pin import ClientPin, PinProtocolV2

    d = daemons()
    sock = os.path.join(d.sock_dir, "pin.sock")
    status, view, _ = d.api("POST", "/webauthn/authenticator",
                            {"name": "pin", "hidSocket": sock, "pin": "1234"})
    assert status == 201, view
    dev = "sock:" + sock
    info = tool(shim, "fido2-token", "-I", dev).stdout
    options = info.split("options: ", 1)[1].splitlines()[0].split(", ")
    for option in ("credMgmt", "credentialMgmtPreview", "largeBlobs", "clientPin"):
        assert option in options, info
    assert "maxlargeblob: 4096" in info and "largeBlobKey" in info.split("extension strings: ", 1)[1].splitlines()[0].split(", ")
    # Three discoverable credentials, made with PIN tokens (python-fido2).
    ctap = Ctap2(open_device(sock))
    ids = {}
    for rp, user in (("example.com", b"alice"), ("example.com", b"bob"), ("other.example", b"carol")):
        proto = PinProtocolV2()
        token = ClientPin(ctap, proto).get_pin_token("1234", ClientPin.PERMISSION.MAKE_CREDENTIAL, rp)
        h = os.urandom(32)
        att = ctap.make_credential(
            h, {"id": rp}, {"id": user, "name": user.decode(), "displayName": user.decode().title()},
            [{"type": "public-key", "alg": -7}], options={"rk": True},
            pin_uv_param=proto.authenticate(token, h), pin_uv_protocol=proto.VERSION)
        ids[user] = b64(att.auth_data.credential_data.credential_id)
    meta = pin_tool(shim, tmp_path, "fido2-token", "-I", "-c", dev).stdout
    assert "existing rk(s): 3" in meta and "remaining rk(s): 97" in meta
    rps = pin_tool(shim, tmp_path, "fido2-token", "-L", "-r", dev).stdout.splitlines()
    assert rps == [f"00: {b64(hashlib.sha256(b'example.com').digest())} example.com",
                   f"01: {b64(hashlib.sha256(b'other.example').digest())} other.example"]
    creds = pin_tool(shim, tmp_path, "fido2-token", "-L", "-k", "example.com", dev).stdout.splitlines()
    assert creds == [f"00: {ids[b'alice']} Alice {b64(b'alice')} es256 uvopt",
                     f"01: {ids[b'bob']} Bob {b64(b'bob')} es256 uvopt"]
    # A wrong PIN lists nothing and costs a retry.
    p = pin_tool(shim, tmp_path, "fido2-token", "-L", "-r", dev, pin="0000", check=False)
    assert p.returncode != 0 and "FIDO_ERR_PIN_INVALID" in p.stderr
    assert "pin retries: 7" in tool(shim, "fido2-token", "-I", dev).stdout
    # Delete: gone from the token's lists and from the control API's.
    pin_tool(shim, tmp_path, "fido2-token", "-D", "-i", ids[b"alice"], dev)
    creds = pin_tool(shim, tmp_path, "fido2-token", "-L", "-k", "example.com", dev).stdout.splitlines()
    assert creds == [f"00: {ids[b'bob']} Bob {b64(b'bob')} es256 uvopt"]
    listed = d.api("GET", "/webauthn/authenticator/pin/credentials")[1]
    assert sorted(c["userName"] for c in listed) == ["bob", "carol"]
    p = pin_tool(shim, tmp_path, "fido2-token", "-D", "-i", ids[b"alice"], dev, check=False)
    assert p.returncode != 0 and "FIDO_ERR_NO_CREDENTIALS" in p.stderr
