"""The daemon's control API, judged from outside: every real response is validated against
src/api/openapi.yaml; WebDriver-style credential import is checked by signing with python-fido2
and verifying with `cryptography`; manual presence, user verification, power cycles, the TCP
token, other users, malformed input, persistence and kill -9 recovery."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pyotp
import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from jsonschema import Draft202012Validator

from fido import RawHid, authsim_bin, daemons, open_device  # noqa: F401  (pytest fixture)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SPEC = yaml.safe_load(open(os.path.join(ROOT, "src", "api", "openapi.yaml")))
RP = "example.com"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _operation(method, path):
    bare = path.split("?", 1)[0]
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, bare) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {bare} is not in openapi.yaml")


def check(d, method, path, body=None, raw=None, expect=None):
    """Sends a request and validates the real response against the OpenAPI document."""
    status, value, headers = d.api(method, path, body, raw)
    template, op = _operation(method, path)
    responses = op["responses"]
    assert str(status) in responses, f"{method} {template}: status {status} undocumented: {value}"
    resp = responses[str(status)]
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    content = resp.get("content")
    if content is None:
        assert value in (b"", None), f"{method} {template} {status}: unexpected body {value!r}"
    else:
        ctype = headers.get("content-type", "").split(";")[0]
        assert ctype in content, f"{method} {template} {status}: content type {ctype}"
        schema = content[ctype]["schema"]
        if ctype == "application/json":
            root = dict(SPEC)
            root.update(schema)
            Draft202012Validator(root).validate(value)
    if expect is not None:
        assert status == expect, f"{method} {path}: {status} {value}"
    return status, value


def p256_pkcs8():
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return key, der


def assert_with(dev, allow=None):
    """getAssertion for RP; returns the assertion and the client data hash it signed."""
    cdh = os.urandom(32)
    a = Ctap2(dev).get_assertion(RP, cdh,
                                 allow_list=[{"type": "public-key", "id": i} for i in allow]
                                 if allow else None)
    return a, cdh


def test_every_resource_matches_openapi(daemons, tmp_path):
    d = daemons()
    check(d, "GET", "/status", expect=200)
    _, text = check(d, "GET", "/openapi.yaml", expect=200)
    assert yaml.safe_load(text) == SPEC
    _, pem = check(d, "GET", "/attestation-ca", expect=200)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----") and pem == d.ca_pem()
    check(d, "GET", "/attestation-ca?format=der", expect=200)
    check(d, "GET", "/attestation-ca?format=jpeg", expect=400)
    _, keys = check(d, "GET", "/webauthn/authenticator", expect=200)
    assert [k["authenticatorId"] for k in keys] == ["default"]
    sock = str(tmp_path / "k2.sock")
    _, k2 = check(d, "POST", "/webauthn/authenticator",
                  {"name": "k2", "protocol": "ctap2_1", "transport": "usb", "hasResidentKey": True,
                   "hasUserVerification": True, "isUserConsenting": True, "isUserVerified": True,
                   "extensions": [], "hidSocket": sock, "attestation": "self",
                   "counterMode": "global"}, expect=201)
    assert k2["listening"] == {"hidSocket": sock} and k2["hasUserVerification"] is True
    check(d, "POST", "/webauthn/authenticator", {"name": "k2", "hidSocket": sock}, expect=409)
    check(d, "GET", "/webauthn/authenticator/k2", expect=200)
    key, der = p256_pkcs8()
    cred = {"credentialId": b64u(b"imported-cred-01"), "isResidentCredential": True, "rpId": RP,
            "privateKey": b64u(der), "userHandle": b64u(b"user-1"), "signCount": 5}
    _, c = check(d, "POST", "/webauthn/authenticator/k2/credential", cred, expect=201)
    assert (c["credentialId"], c["isResidentCredential"], c["userHandle"]) == \
        (cred["credentialId"], True, cred["userHandle"])
    _, creds = check(d, "GET", "/webauthn/authenticator/k2/credentials", expect=200)
    assert [x["credentialId"] for x in creds] == [cred["credentialId"]]
    check(d, "POST", "/webauthn/authenticator/k2/uv", {"isUserVerified": False}, expect=200)
    _, p = check(d, "GET", "/webauthn/authenticator/k2/presence", expect=200)
    assert p == {"policy": "auto", "pending": []}
    check(d, "PUT", "/webauthn/authenticator/k2/presence", {"policy": "manual"}, expect=200)
    check(d, "GET", "/webauthn/authenticator/k2/presence/requests", expect=200)
    check(d, "POST", "/webauthn/authenticator/k2/presence/requests/99", {"action": "approve"},
          expect=404)
    check(d, "POST", "/webauthn/authenticator/k2/power-cycle", expect=200)
    check(d, "DELETE", f"/webauthn/authenticator/k2/credentials/{cred['credentialId']}", expect=204)
    check(d, "DELETE", f"/webauthn/authenticator/k2/credentials/{cred['credentialId']}", expect=404)
    _, n = check(d, "DELETE", "/webauthn/authenticator/k2/credentials", expect=200)
    assert n == {"removed": 0}
    check(d, "DELETE", "/webauthn/authenticator/k2", expect=204)
    check(d, "GET", "/webauthn/authenticator/k2", expect=404)
    assert not os.path.exists(sock), "a removed key's socket goes away"

    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name="me@example.com", issuer_name="Ex")
    _, e = check(d, "POST", "/totp", {"name": "ex", "uri": uri}, expect=201)
    assert (e["issuer"], e["account"], e["digits"]) == ("Ex", "me@example.com", 6)
    check(d, "POST", "/totp", {"name": "ex", "secret": secret}, expect=409)
    check(d, "GET", "/totp", expect=200)
    check(d, "GET", "/totp/ex", expect=200)
    _, c = check(d, "GET", "/totp/ex/code?at=1700000000", expect=200)
    assert c["code"] == pyotp.TOTP(secret).at(1700000000)
    _, cs = check(d, "GET", "/totp/ex/codes?at=1700000000&count=2", expect=200)
    assert [x["code"] for x in cs["codes"]] == [pyotp.TOTP(secret).at(1700000000 + 30 * i)
                                               for i in range(2)]
    _, f1 = check(d, "POST", "/totp/ex/fresh", {}, expect=200)
    status, f2 = check(d, "POST", "/totp/ex/fresh", {})
    if status == 409:  # the step is used: the answer says when, and never blocks
        assert f2["retryAt"] > f1["codes"][0]["step"] * 30
    _, f3 = check(d, "POST", "/totp/ex/fresh", {"allowNext": True})
    steps = [f1["codes"][0]["step"]] + ([f2["codes"][0]["step"]] if status == 200 else [])
    if "codes" in f3:
        steps.append(f3["codes"][0]["step"])
    assert len(steps) == len(set(steps)), "a fresh code is never handed out twice"
    check(d, "DELETE", "/totp/ex", expect=204)
    check(d, "DELETE", "/totp/ex", expect=404)
    for secret_text in (secret, secret.lower()):
        assert secret_text not in d.errors(), "the seed never reaches the daemon's log"


def oversized_post(sock_path, path):
    """POSTs a 2 MiB body, over the API's 1 MiB limit: (status, content type, body). The server may
    answer before reading it all, so the body is written from a thread that tolerates the
    connection closing under it (http.client would stop at the broken pipe)."""
    body = b"[" + b" " * (2 << 20) + b"]"
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)

    def send():
        try:
            s.sendall(head + body)
        except OSError:
            pass
    writer = threading.Thread(target=send, daemon=True)
    writer.start()
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    finally:
        s.close()
    writer.join(5)
    header, _, payload = data.partition(b"\r\n\r\n")
    lines = header.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    fields = {k.lower(): v for k, v in fields.items()}
    return int(lines[0].split()[1]), fields.get("content-type"), payload


def test_unknown_names_and_bad_input_change_nothing(daemons):
    d = daemons()
    before = d.api("GET", "/webauthn/authenticator")[1]
    for method, path in [("GET", "/webauthn/authenticator/ghost"),
                         ("DELETE", "/webauthn/authenticator/ghost"),
                         ("GET", "/webauthn/authenticator/ghost/credentials"),
                         ("POST", "/webauthn/authenticator/ghost/power-cycle"),
                         ("GET", "/totp/ghost"), ("GET", "/totp/ghost/code"),
                         ("DELETE", "/webauthn/authenticator/default/credentials/AAAA")]:
        status, body = check(d, method, path, expect=404)
        assert body["error"] == "not-found" and body["message"]
    status, body, _ = d.api("GET", "/no/such/thing")
    assert status == 404 and body["error"] == "not-found"
    status, body, _ = d.api("PATCH", "/webauthn/authenticator")
    assert status == 405 and body["error"] == "method-not-allowed"
    key, der = p256_pkcs8()
    good = {"credentialId": b64u(b"x" * 16), "isResidentCredential": False, "rpId": RP,
            "privateKey": b64u(der)}
    bad_bodies = [
        ("/webauthn/authenticator", None, b"{not json"),
        ("/webauthn/authenticator", {"name": "a/b"}, None),
        ("/webauthn/authenticator", {"name": "x", "transport": "nfc"}, None),
        ("/webauthn/authenticator", {"name": "x", "extensions": ["largeBlob"]}, None),
        ("/webauthn/authenticator", {"name": "x", "protocol": "ctap3"}, None),
        ("/webauthn/authenticator", {"name": "x", "surprise": 1}, None),
        ("/webauthn/authenticator", {"name": "x", "hidUdp": "10.0.0.1:5"}, None),
        ("/webauthn/authenticator", {"name": "x", "presence": "deny", "isUserConsenting": True},
         None),
        ("/webauthn/authenticator", {"name": "x", "aaguid": "11111111-2222-3333-4444-555555555555",
                                     "attestation": "x5c"}, None),
        ("/webauthn/authenticator/default/credential", dict(good, privateKey="!!"), None),
        ("/webauthn/authenticator/default/credential", dict(good, privateKey=b64u(b"junk")), None),
        ("/webauthn/authenticator/default/credential", dict(good, credentialId=""), None),
        ("/webauthn/authenticator/default/credential", dict(good, isResidentCredential=True), None),
        ("/webauthn/authenticator/default/credential", dict(good, largeBlob="AA"), None),
        ("/webauthn/authenticator/default/credential", dict(good, signCount=-1), None),
        ("/webauthn/authenticator/default/uv", {"isUserVerified": "yes"}, None),
        ("/totp", {"name": "t", "secret": "not base32 !"}, None),
        ("/totp", {"name": "t", "uri": "https://example.com"}, None),
    ]
    for path, body, raw in bad_bodies:
        status, reply = check(d, "POST", path, body, raw)
        assert status == 400 and reply["error"] == "invalid-argument", (path, body, reply)
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    rsa = rsa_keys.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    status, reply = check(d, "POST", "/webauthn/authenticator/default/credential",
                          dict(good, privateKey=b64u(rsa)))
    assert status == 400 and "RSA" in reply["message"].upper(), reply
    assert der.hex() not in json.dumps(reply)
    status, reply = check(d, "PUT", "/webauthn/authenticator/default/presence", {"policy": "maybe"})
    assert status == 400
    # The HTTP layer's own rejections keep the API's error shape too.
    for path in ("/totp/ghost/code?at=soon", "/totp/ghost/codes?count=-1"):
        status, reply = check(d, "GET", path)
        assert status == 400 and reply["error"] == "invalid-argument" and reply["message"], reply
    status, ctype, reply = oversized_post(d.api_socket, "/webauthn/authenticator/default/credential")
    assert status == 413 and ctype == "application/json", (status, ctype, reply)
    reply = json.loads(reply)
    Draft202012Validator(SPEC["components"]["schemas"]["Error"]).validate(reply)
    assert reply["error"] == "too-large" and "1048576 bytes" in reply["message"]
    assert d.api("GET", "/webauthn/authenticator")[1] == before
    assert d.api("GET", "/webauthn/authenticator/default/credentials")[1] == []
    assert d.api("GET", "/totp")[1] == []


def test_imported_credential_signs_and_counts(daemons):
    d = daemons()
    key, der = p256_pkcs8()
    cred_id = os.urandom(16)
    status, c, _ = d.api("POST", "/webauthn/authenticator/default/credential",
                         {"credentialId": b64u(cred_id), "isResidentCredential": False,
                          "rpId": RP, "privateKey": b64u(der), "signCount": 41})
    assert status == 201, c
    pub = key.public_key()
    dev = open_device(d.path)
    a, cdh = assert_with(dev, [cred_id])
    assert a.credential["id"] == cred_id
    assert a.auth_data.counter == 42
    pub.verify(a.signature, bytes(a.auth_data) + cdh, ec.ECDSA(hashes.SHA256()))
    # Not discoverable: without an allow list there is nothing for this RP.
    with pytest.raises(CtapError) as e:
        assert_with(dev)
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    _, creds, _ = d.api("GET", "/webauthn/authenticator/default/credentials")
    assert [(x["credentialId"], x["signCount"]) for x in creds] == [(b64u(cred_id), 42)]
    assert d.api("DELETE", f"/webauthn/authenticator/default/credentials/{b64u(cred_id)}")[0] == 204
    with pytest.raises(CtapError) as e:
        assert_with(dev, [cred_id])
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS


def test_manual_presence_and_user_verification(daemons):
    d = daemons(presence="manual")
    dev = open_device(d.path)
    ctap = Ctap2(dev)
    results, keepalives = {}, []

    def register():
        try:
            results["ok"] = ctap.make_credential(
                os.urandom(32), {"id": RP, "name": "Ex"}, {"id": b"u1", "name": "alice"},
                [{"type": "public-key", "alg": -7}], options={"rk": True},
                on_keepalive=keepalives.append)
        except CtapError as e:
            results["err"] = e.code

    t = threading.Thread(target=register)
    t.start()
    deadline = time.monotonic() + 10
    pending = []
    while time.monotonic() < deadline and not pending:
        pending = check(d, "GET", "/webauthn/authenticator/default/presence/requests")[1]
        time.sleep(0.05)
    assert len(pending) == 1 and pending[0]["purpose"] == "makeCredential"
    assert pending[0]["rpId"] == RP
    time.sleep(0.3)
    assert "ok" not in results, "nothing happens before the approval"
    check(d, "POST", f"/webauthn/authenticator/default/presence/requests/{pending[0]['id']}",
          {"action": "approve"}, expect=200)
    t.join(10)
    assert "ok" in results, results
    assert 2 in keepalives, "the token sent UPNEEDED keepalives while it waited"
    assert check(d, "GET", "/webauthn/authenticator/default/presence")[1]["pending"] == []

    # Denied: the client hears OPERATION_DENIED and nothing is stored.
    results.clear()
    t = threading.Thread(target=register)
    t.start()
    pending = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pending:
        pending = d.api("GET", "/webauthn/authenticator/default/presence/requests")[1]
        time.sleep(0.05)
    d.api("POST", f"/webauthn/authenticator/default/presence/requests/{pending[0]['id']}",
          {"action": "deny"})
    t.join(10)
    assert results.get("err") == CtapError.ERR.OPERATION_DENIED, results
    assert len(d.api("GET", "/webauthn/authenticator/default/credentials")[1]) == 1

    # Switching to auto answers at once; built-in UV follows isUserVerified.
    sock = d.path + ".uv"
    assert d.api("POST", "/webauthn/authenticator",
                 {"name": "uvkey", "hasUserVerification": True, "hidSocket": sock})[0] == 201
    d.api("PUT", "/webauthn/authenticator/default/presence", {"policy": "auto"})
    uvdev = open_device(sock)
    uvctap = Ctap2(uvdev)
    made = uvctap.make_credential(os.urandom(32), {"id": RP, "name": "Ex"},
                                  {"id": b"u2", "name": "bob"}, [{"type": "public-key", "alg": -7}],
                                  options={"rk": True, "uv": True})
    assert made.auth_data.flags & 0x04, "UV flag set when verification succeeds"
    d.api("POST", "/webauthn/authenticator/uvkey/uv", {"isUserVerified": False})
    with pytest.raises(CtapError) as e:
        uvctap.get_assertion(RP, os.urandom(32), options={"uv": True})
    assert e.value.code == CtapError.ERR.OPERATION_DENIED
    d.api("POST", "/webauthn/authenticator/uvkey/uv", {"isUserVerified": True})
    a = uvctap.get_assertion(RP, os.urandom(32), options={"uv": True})
    assert a.auth_data.flags & 0x04


def test_power_cycle_drops_channels(daemons):
    d = daemons()
    raw = RawHid(d.path)
    raw.init()
    old = raw.cid
    status, _ = raw.cbor(bytes([0x04]))
    assert status == 0
    assert d.api("POST", "/webauthn/authenticator/default/power-cycle")[0] == 200
    cmd, data = raw.request(0x10, bytes([0x04]), cid=old)
    assert (cmd, data[:1]) == (0x3F, bytes([0x0B])), "old channel is gone: ERR_INVALID_CHANNEL"
    raw.init()
    assert raw.cbor(bytes([0x04]))[0] == 0


def test_other_users_are_refused(daemons, tmp_path):
    d = daemons()
    os.chmod(d.state_dir, 0o755)
    os.chmod(d.api_socket, 0o777)
    # The daemon answers before it reads anything, so the send may meet a closed socket.
    probe = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
             "try: s.sendall(b'DELETE /webauthn/authenticator/default HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
             "except OSError: pass\n"
             "print(s.recv(4096).decode())")
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "python3", "-c", probe, d.api_socket], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("HTTP/1.1 403"), p.stdout
    assert json.loads(p.stdout.replace("\r\n", "\n").split("\n\n", 1)[1])["error"] == "forbidden"
    assert d.api("GET", "/webauthn/authenticator/default")[0] == 200, "nothing changed"


def test_tcp_api_needs_the_token(daemons, tmp_path):
    token_file = str(tmp_path / "tok")
    d = daemons(extra_args=("--api-tcp", "127.0.0.1:0", "--api-token-file", token_file))
    line = next(x for x in d.ready_lines if x.startswith("ready: api-tcp "))
    host, port = line.split()[2].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    token = open(token_file).read().strip()
    assert len(token) == 64
    import http.client

    def get(headers):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/webauthn/authenticator", headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    assert get({})[0] == 401
    assert get({"Authorization": "Bearer " + "0" * 64})[0] == 401
    assert get({"Authorization": token})[0] == 401
    status, body = get({"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)[0]["authenticatorId"] == "default"
    assert token not in d.errors()
    p = d.cli("daemon", "--no-uhid", "--api-tcp", "10.1.2.3:80", check=False)
    assert p.returncode != 0


def test_keys_persist_and_removal_erases(daemons, tmp_path):
    state = str(tmp_path / "state")
    d = daemons(state_dir=state)
    sock = str(tmp_path / "k2.sock")
    assert d.api("POST", "/webauthn/authenticator",
                 {"name": "k2", "hidSocket": sock, "counterMode": "global"})[0] == 201
    made = Ctap2(open_device(sock)).make_credential(
        os.urandom(32), {"id": RP, "name": "Ex"}, {"id": b"u1", "name": "alice"},
        [{"type": "public-key", "alg": -7}], options={"rk": True})
    cred_id = made.auth_data.credential_data.credential_id
    d.stop()
    d2 = daemons(state_dir=state)
    _, k2, _ = d2.api("GET", "/webauthn/authenticator/k2")
    assert k2["counterMode"] == "global" and k2["listening"]["hidSocket"] == sock
    creds = d2.api("GET", "/webauthn/authenticator/k2/credentials")[1]
    assert [unb64u(c["credentialId"]) for c in creds] == [cred_id]
    assert d2.api("DELETE", "/webauthn/authenticator/k2")[0] == 204
    d2.stop()
    d3 = daemons(state_dir=state)
    assert d3.api("GET", "/webauthn/authenticator/k2")[0] == 404
    assert d3.api("POST", "/webauthn/authenticator", {"name": "k2", "hidSocket": sock})[0] == 201
    assert d3.api("GET", "/webauthn/authenticator/k2/credentials")[1] == [], \
        "a removed key's credentials are erased"


def test_cli_is_an_api_client(daemons, tmp_path):
    d = daemons()
    sock = str(tmp_path / "c.sock")
    p = d.cli("key", "add", "clikey", "--hid-socket", sock, "--presence", "manual", "--json")
    assert json.loads(p.stdout)["presence"] == "manual"
    names = [k["authenticatorId"] for k in json.loads(d.cli("key", "list", "--json").stdout)]
    assert names == ["clikey", "default"]
    # Without --json: a table, one row per key.
    table = d.cli("key", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "PROTOCOL", "UV", "PRESENCE", "LISTENING"]
    assert [row.split()[0] for row in table[1:]] == ["clikey", "default"]
    assert "manual" in table[1] and sock in table[1]
    # Values the CLI knows are checked before anything is sent.
    bad = d.cli("key", "presence", "clikey", "maybe", check=False)
    assert bad.returncode == 2 and "possible values" in bad.stderr
    key, der = p256_pkcs8()
    pem = tmp_path / "k.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    out = json.loads(d.cli("key", "add-credential", "clikey", "--rp-id", RP, "--private-key",
                           str(pem), "--resident", "--user-handle", b64u(b"uh"),
                           "--json").stdout)
    assert out["isResidentCredential"] is True
    assert json.loads(d.cli("key", "credentials", "clikey", "--json").stdout)[0]["credentialId"] == \
        out["credentialId"]
    rows = d.cli("key", "credentials", "clikey").stdout.splitlines()
    assert rows[0].split()[:2] == ["CREDENTIAL", "ID"] and rows[1].split()[:2] == [out["credentialId"], RP]
    p = d.cli("key", "show", "ghost", check=False)
    assert p.returncode != 0 and "no authenticator" in p.stderr
    d.cli("key", "power-cycle", "clikey")
    d.cli("key", "remove", "clikey")
    assert [k["authenticatorId"] for k in json.loads(d.cli("key", "list", "--json").stdout)] == ["default"]


def test_kill9_while_registering_keeps_every_acknowledged_credential(daemons, tmp_path):
    state = str(tmp_path / "state")
    d = daemons(state_dir=state)
    ctap = Ctap2(open_device(d.path))
    acked, stop = [], threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            try:
                r = ctap.make_credential(os.urandom(32), {"id": RP, "name": "Ex"},
                                         {"id": b"user-%d" % i, "name": "u%d" % i},
                                         [{"type": "public-key", "alg": -7}], options={"rk": True})
            except Exception:
                return
            acked.append(r.auth_data.credential_data.credential_id)
            i += 1

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(1.0)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    stop.set()
    t.join(15)
    d.kill()
    assert len(acked) >= 3, f"only {len(acked)} registrations before the kill"
    d2 = daemons(state_dir=state)
    stored = {unb64u(c["credentialId"])
              for c in d2.api("GET", "/webauthn/authenticator/default/credentials")[1]}
    missing = [c for c in acked if c not in stored]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged credentials lost"
    assert len(stored) <= len(acked) + 1, "at most the one in flight may be extra"


def test_kill9_while_asserting_never_repeats_a_counter(daemons, tmp_path):
    # Counters are reserved ahead and only their high-water mark is committed: a kill -9 in the
    # middle of a run may skip values, but the next counter exceeds every one a host saw.
    state = str(tmp_path / "state")
    d = daemons(state_dir=state)
    ctap = Ctap2(open_device(d.path))
    cred = ctap.make_credential(os.urandom(32), {"id": RP, "name": "Ex"}, {"id": b"u", "name": "u"},
                                [{"type": "public-key", "alg": -7}],
                                options={"rk": True}).auth_data.credential_data
    allow = [{"type": "public-key", "id": cred.credential_id}]
    seen = []
    for round_ in range(2):
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    a = ctap.get_assertion(RP, os.urandom(32), allow)
                except Exception:
                    return
                seen.append(a.auth_data.counter)

        before = len(seen)
        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.5)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        stop.set()
        t.join(15)
        d.kill()
        assert len(seen) - before >= 10, f"round {round_}: only {len(seen) - before} assertions"
        assert seen == sorted(set(seen)), "counters rose strictly while the daemon ran"
        d = daemons(state_dir=state)
        listed = d.api("GET", "/webauthn/authenticator/default/credentials")[1]
        assert listed[0]["signCount"] >= max(seen), "the API shows no counter below one sent"
        ctap = Ctap2(open_device(d.path))
        after = ctap.get_assertion(RP, os.urandom(32), allow).auth_data.counter
        assert after > max(seen), f"round {round_}: {after} after the kill, {max(seen)} before"
        seen.append(after)
        listed = d.api("GET", "/webauthn/authenticator/default/credentials")[1]
        assert listed[0]["signCount"] == after, "the API shows the last counter sent"


def test_totp_cli_goes_through_a_running_daemon(daemons):
    d = daemons()
    secret = pyotp.random_base32()
    env = dict(d.env, RUST_LOG="authsim=debug")
    run = lambda *a, **kw: subprocess.run([authsim_bin(), *a], env=env, capture_output=True,  # noqa: E731
                                         text=True, timeout=60, **kw)
    p = run("totp", "add", "site", "--secret", "-", "--issuer", "Site", input=secret + "\n")
    assert p.returncode == 0 and "using the daemon's control API" in p.stderr, p.stderr
    _, entries, _ = d.api("GET", "/totp")
    assert [e["name"] for e in entries] == ["site"], "the daemon stored it"
    p = run("totp", "code", "site", "--at", "1700000000", "--json")
    assert json.loads(p.stdout)["code"] == pyotp.TOTP(secret).at(1700000000)
    first = json.loads(run("totp", "code", "site", "--fresh", "--json").stdout)
    second = json.loads(run("totp", "code", "site", "--fresh", "--allow-next", "--json").stdout)
    assert second["step"] > first["step"], "a fresh code is never handed out twice"
    assert second["code"] == pyotp.TOTP(secret).at(second["step"] * 30)
    p = run("totp", "codes", "site", "--count", "2", "--at", "1700000000")
    assert p.stdout.split() == [pyotp.TOTP(secret).at(1700000000 + 30 * i) for i in range(2)]
    assert run("totp", "remove", "site").returncode == 0
    assert d.api("GET", "/totp")[1] == []
    for text in (secret, secret.lower()):
        assert text not in d.errors() and text not in p.stderr


def test_bulk_import_is_all_or_nothing(daemons):
    d = daemons()
    creds = []
    for i in range(50):
        _, der = p256_pkcs8()
        creds.append({"credentialId": b64u(b"bulk-%02d" % i), "isResidentCredential": True,
                      "rpId": f"rp{i % 5}.example", "privateKey": b64u(der),
                      "userHandle": b64u(b"u%d" % i), "signCount": i})
    bad = [dict(c) for c in creds]
    bad[17]["privateKey"] = b64u(b"not a key")
    status, body = check(d, "POST", "/webauthn/authenticator/default/credentials", bad)
    assert status == 400 and body["message"].startswith("credential #17:"), body
    assert d.api("GET", "/webauthn/authenticator/default/credentials")[1] == []
    _, body = check(d, "POST", "/webauthn/authenticator/default/credentials", creds, expect=201)
    assert body == {"stored": 50}
    listed = d.api("GET", "/webauthn/authenticator/default/credentials")[1]
    assert sorted(c["credentialId"] for c in listed) == sorted(c["credentialId"] for c in creds)
    # Each one signs for its RP, found without an allow list.
    a = Ctap2(open_device(d.path)).get_assertion("rp3.example", os.urandom(32))
    assert a.number_of_credentials == 10
    status, body = check(d, "POST", "/webauthn/authenticator/default/credentials", [])
    assert status == 400
    # 100 discoverable slots: a batch that would overflow is refused whole.
    more = []
    for i in range(60):
        _, der = p256_pkcs8()
        more.append({"credentialId": b64u(b"more-%02d" % i), "isResidentCredential": True,
                     "rpId": RP, "privateKey": b64u(der), "userHandle": b64u(b"m%d" % i)})
    status, body = check(d, "POST", "/webauthn/authenticator/default/credentials", more)
    assert status == 409, body
    assert len(d.api("GET", "/webauthn/authenticator/default/credentials")[1]) == 50
