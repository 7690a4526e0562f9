"""python-fido2 (Yubico's client library) as a judge of the virtual key's CTAP 2.1 credential
management and large blobs over the daemon's socket transport: CredentialManagement end to end
(metadata, RP and credential enumeration, delete, update user information) under both PIN/UV
auth protocols, the prototype command 0x41, LargeBlobs (read and write the serialized array,
per-credential blobs through largeBlobKey), and Fido2Client's largeBlob extension (support at
registration, write and read at sign-in)."""
import hashlib
import os

import pytest
from fido2 import cbor
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.blob import LargeBlobs
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

from fido import daemons, open_device  # noqa: F401  (pytest fixture)

ORIGIN = "https://example.com"
ES256 = [{"type": "public-key", "alg": -7}]
PIN = "1234"
PROTOCOLS = [PinProtocolV1, PinProtocolV2]
P = ClientPin.PERMISSION
R = CredentialManagement.RESULT
ERR = CtapError.ERR


def pin_key(d, name="cmkey"):
    """A key created through the control API with a PIN set; its socket path."""
    sock = os.path.join(d.sock_dir, f"{name}.sock")
    status, view, _ = d.api("POST", "/webauthn/authenticator",
                            {"name": name, "hidSocket": sock, "pin": PIN})
    assert status == 201, view
    assert "largeBlobKey" in view["extensions"]
    return sock


def register(ctap, protocol, rp_id, user_id, name, large_blob_key=False):
    """A discoverable credential made with a PIN token (python-fido2's Ctap2 directly)."""
    proto = protocol()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.MAKE_CREDENTIAL, rp_id)
    h = os.urandom(32)
    return ctap.make_credential(
        h, {"id": rp_id, "name": rp_id}, {"id": user_id, "name": name, "displayName": name.title()},
        ES256, options={"rk": True},
        extensions={"largeBlobKey": True} if large_blob_key else None,
        pin_uv_param=proto.authenticate(token, h), pin_uv_protocol=proto.VERSION)


def credman(ctap, protocol, rp_id=None):
    proto = protocol()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.CREDENTIAL_MGMT, rp_id)
    return CredentialManagement(ctap, proto, token)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_credential_management_end_to_end(daemons, protocol):
    d = daemons()
    ctap = Ctap2(open_device(pin_key(d)))
    assert CredentialManagement.is_supported(ctap.info)
    assert CredentialManagement.is_update_supported(ctap.info)
    assert ctap.info.options["credentialMgmtPreview"] is True
    alice = register(ctap, protocol, "a.example", b"alice", "alice")
    bob = register(ctap, protocol, "a.example", b"bob", "bob", large_blob_key=True)
    carol = register(ctap, protocol, "b.example", b"carol", "carol")
    # A non-discoverable credential is neither counted nor listed.
    proto = protocol()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.MAKE_CREDENTIAL, "a.example")
    h = os.urandom(32)
    ctap.make_credential(h, {"id": "a.example"}, {"id": b"nr", "name": "nr"}, ES256,
                         pin_uv_param=proto.authenticate(token, h), pin_uv_protocol=proto.VERSION)

    cm = credman(ctap, protocol)
    meta = cm.get_metadata()
    assert meta[R.EXISTING_CRED_COUNT] == 3
    assert meta[R.MAX_REMAINING_COUNT] == 97
    rps = cm.enumerate_rps()
    assert [r[R.RP]["id"] for r in rps] == ["a.example", "b.example"]
    assert rps[0][R.TOTAL_RPS] == 2
    for r in rps:
        assert r[R.RP_ID_HASH] == hashlib.sha256(r[R.RP]["id"].encode()).digest()
    creds = cm.enumerate_creds(hashlib.sha256(b"a.example").digest())
    assert creds[0][R.TOTAL_CREDENTIALS] == 2
    by_user = {c[R.USER]["id"]: c for c in creds}
    assert set(by_user) == {b"alice", b"bob"}
    for reg, user in ((alice, b"alice"), (bob, b"bob")):
        c = by_user[user]
        data = reg.auth_data.credential_data
        assert c[R.CREDENTIAL_ID]["id"] == data.credential_id
        assert c[R.PUBLIC_KEY] == data.public_key
        assert c[R.USER]["name"] == user.decode()
        assert c[R.USER]["displayName"] == user.decode().title()
        assert c[R.CRED_PROTECT] == 1
    assert by_user[b"bob"][R.LARGE_BLOB_KEY] == bob.large_blob_key
    assert R.LARGE_BLOB_KEY not in by_user[b"alice"]

    # Update: only the names change; the credential still signs with its key.
    cm.update_user_info({"type": "public-key", "id": alice.auth_data.credential_data.credential_id},
                        {"id": b"alice", "name": "alice.smith", "displayName": "Alice Smith"})
    with pytest.raises(CtapError) as e:
        cm.update_user_info(
            {"type": "public-key", "id": alice.auth_data.credential_data.credential_id},
            {"id": b"mallory", "name": "m"})
    assert e.value.code == ERR.INVALID_PARAMETER
    listed = {c[R.USER]["id"]: c for c in cm.enumerate_creds(hashlib.sha256(b"a.example").digest())}
    assert listed[b"alice"][R.USER] == {"id": b"alice", "name": "alice.smith",
                                        "displayName": "Alice Smith"}
    # The control API lists what credential management changed.
    listed_api = {c["rpId"] + "/" + c["userName"]
                  for c in d.api("GET", "/webauthn/authenticator/cmkey/credentials")[1]}
    assert listed_api == {"a.example/alice.smith", "a.example/bob", "b.example/carol"}

    # Delete: gone for sign-in and from the counts.
    cm.delete_cred({"type": "public-key", "id": carol.auth_data.credential_data.credential_id})
    assert cm.get_metadata()[R.EXISTING_CRED_COUNT] == 2
    assert [r[R.RP]["id"] for r in cm.enumerate_rps()] == ["a.example"]
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("b.example", os.urandom(32))
    assert e.value.code == ERR.NO_CREDENTIALS
    with pytest.raises(CtapError) as e:
        cm.delete_cred({"type": "public-key", "id": carol.auth_data.credential_data.credential_id})
    assert e.value.code == ERR.NO_CREDENTIALS
    assert len(d.api("GET", "/webauthn/authenticator/cmkey/credentials")[1]) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_credential_management_refusals(daemons, protocol):
    d = daemons()
    ctap = Ctap2(open_device(pin_key(d)))
    reg = register(ctap, protocol, "a.example", b"alice", "alice")
    cred_id = {"type": "public-key", "id": reg.auth_data.credential_data.credential_id}
    # Next without Begin.
    for sub in (CredentialManagement.CMD.ENUMERATE_RPS_NEXT,
                CredentialManagement.CMD.ENUMERATE_CREDS_NEXT):
        with pytest.raises(CtapError) as e:
            ctap.credential_mgmt(sub)
        assert e.value.code == ERR.NOT_ALLOWED
    # No token; a token without cm.
    with pytest.raises(CtapError) as e:
        ctap.credential_mgmt(CredentialManagement.CMD.GET_CREDS_METADATA)
    assert e.value.code == ERR.PUAT_REQUIRED
    proto = protocol()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.GET_ASSERTION, "a.example")
    with pytest.raises(CtapError) as e:
        CredentialManagement(ctap, proto, token).get_metadata()
    assert e.value.code == ERR.PIN_AUTH_INVALID
    # A token bound to another RP may not delete, nor list every RP.
    other = credman(ctap, protocol, rp_id="b.example")
    with pytest.raises(CtapError) as e:
        other.delete_cred(cred_id)
    assert e.value.code == ERR.PIN_AUTH_INVALID
    with pytest.raises(CtapError) as e:
        other.enumerate_rps()
    assert e.value.code == ERR.PIN_AUTH_INVALID
    # One bound to the credential's RP may.
    credman(ctap, protocol, rp_id="a.example").delete_cred(cred_id)
    assert credman(ctap, protocol).get_metadata()[R.EXISTING_CRED_COUNT] == 0


def test_the_prototype_command_answers_like_credential_management(daemons):
    d = daemons()
    ctap = Ctap2(open_device(pin_key(d)))
    register(ctap, PinProtocolV2, "a.example", b"alice", "alice")
    proto = PinProtocolV2()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.CREDENTIAL_MGMT)
    sub = CredentialManagement.CMD.GET_CREDS_METADATA
    reply = ctap.send_cbor(Ctap2.CMD.CREDENTIAL_MGMT_PRE, {
        1: sub, 3: proto.VERSION, 4: proto.authenticate(token, bytes([sub]))})
    assert reply[R.EXISTING_CRED_COUNT] == 1


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_large_blobs_read_write_and_per_credential_blobs(daemons, protocol):
    d = daemons()
    ctap = Ctap2(open_device(pin_key(d)))
    assert LargeBlobs.is_supported(ctap.info)
    assert ctap.info.max_large_blob >= 1024
    # The initial array, readable by anyone.
    assert LargeBlobs(ctap).read_blob_array() == []
    empty = ctap.large_blobs(0, get=100)[1]
    assert empty == b"\x80" + hashlib.sha256(b"\x80").digest()[:16]
    # Writing needs an lbw token.
    with pytest.raises(CtapError) as e:
        LargeBlobs(ctap).write_blob_array([{1: b"x"}])
    assert e.value.code == ERR.PUAT_REQUIRED
    proto = protocol()
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.LARGE_BLOB_WRITE)
    blobs = LargeBlobs(ctap, proto, token)
    big = [{1: os.urandom(1500), 2: os.urandom(12), 3: 1500}]
    blobs.write_blob_array(big)
    assert LargeBlobs(ctap).read_blob_array() == big
    # Past maxSerializedLargeBlobArray: storage full, nothing changed.
    too_big = [{1: os.urandom(ctap.info.max_large_blob), 2: os.urandom(12), 3: 1}]
    with pytest.raises(CtapError) as e:
        blobs.write_blob_array(too_big)
    assert e.value.code == ERR.LARGE_BLOB_STORAGE_FULL
    assert LargeBlobs(ctap).read_blob_array() == big
    # Per-credential blobs, keyed by largeBlobKeys.
    a = register(ctap, protocol, "a.example", b"alice", "alice", large_blob_key=True)
    b = register(ctap, protocol, "a.example", b"bob", "bob", large_blob_key=True)
    assert len(a.large_blob_key) == 32 and a.large_blob_key != b.large_blob_key
    token = ClientPin(ctap, proto).get_pin_token(PIN, P.LARGE_BLOB_WRITE)
    blobs = LargeBlobs(ctap, proto, token)
    blobs.put_blob(a.large_blob_key, b"alice's blob")
    blobs.put_blob(b.large_blob_key, b"bob's blob" * 200)
    reader = LargeBlobs(ctap)
    assert reader.get_blob(a.large_blob_key) == b"alice's blob"
    assert reader.get_blob(b.large_blob_key) == b"bob's blob" * 200
    # getAssertion hands back the key (0x07) when asked.
    got = ctap.get_assertion("a.example", os.urandom(32),
                             [{"type": "public-key", "id": a.auth_data.credential_data.credential_id}],
                             extensions={"largeBlobKey": True})
    assert got.large_blob_key == a.large_blob_key


def test_a_bad_trailer_is_refused(daemons):
    d = daemons()
    ctap = Ctap2(open_device(d.path))  # the default key: no PIN, writes need no token
    data = cbor.encode([{1: b"x"}])
    with pytest.raises(CtapError) as e:
        ctap.large_blobs(0, set=data + bytes(16), length=len(data) + 16)
    assert e.value.code == ERR.INTEGRITY_FAILURE
    assert LargeBlobs(ctap).read_blob_array() == []
    LargeBlobs(ctap).write_blob_array([{1: b"x"}])
    assert LargeBlobs(ctap).read_blob_array() == [{1: b"x"}]


class PinUser(UserInteraction):
    def request_pin(self, permissions, rp_id):
        return PIN


def test_fido2_client_large_blob_extension(daemons):
    d = daemons()
    sock = pin_key(d)
    client = Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN),
                         user_interaction=PinUser())
    reg = client.make_credential({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": b"alice", "name": "alice", "displayName": "Alice"},
        "challenge": os.urandom(32),
        "pubKeyCredParams": ES256,
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        "extensions": {"largeBlob": {"support": "required"}},
    })
    assert reg.client_extension_results.large_blob.supported is True
    request = {"challenge": os.urandom(32), "rpId": "example.com", "userVerification": "required"}
    written = client.get_assertion(
        dict(request, extensions={"largeBlob": {"write": b"remember me"}})).get_response(0)
    assert written.client_extension_results.large_blob.written is True
    read = client.get_assertion(
        dict(request, challenge=os.urandom(32), extensions={"largeBlob": {"read": True}}))
    assert read.get_response(0).client_extension_results.large_blob.blob == b"remember me"
