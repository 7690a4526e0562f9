"""libfido2's unmodified command-line tools (Debian fido2-tools) as judges: a small LD_PRELOAD
shim (tests/libfido2/shim.c, compiled here against libfido2-dev) routes the device path
`sock:/path` to the daemon's Unix socket through fido_dev_set_io_functions. fido2-token reads
the key's info, fido2-cred makes and verifies credentials (packed self and x5c), fido2-assert
gets and verifies assertions, and a tampered signature or authenticator data is rejected."""
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
