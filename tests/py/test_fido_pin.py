"""python-fido2 (Yubico's client library) as a judge of the virtual key's CTAP 2.1 PIN/UV auth
over the daemon's socket transport: ClientPin with both PIN/UV auth protocols (set, change,
tokens with every permission), the PIN rules a key must not get wrong (each refusal checked
to change nothing it must not), Fido2Client with userVerification "required" on a PIN key and
on a built-in-UV key, authenticatorConfig, and reset."""
import hashlib
import os

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import CoseKey
from fido2.ctap import CtapError
from fido2.ctap2 import Config, Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

from fido import daemons, open_device  # noqa: F401  (pytest fixture)

RP = {"id": "example.com", "name": "Example"}
ORIGIN = "https://example.com"
ES256 = [{"type": "public-key", "alg": -7}]
PIN = "1234"
PROTOCOLS = [PinProtocolV1, PinProtocolV2]
P = ClientPin.PERMISSION
ERR = CtapError.ERR


def cdh():
    return os.urandom(32)


def pin_key(d, name="pinkey", pin=PIN, **extra):
    """A key created through the control API with a PIN already set; its Ctap2."""
    sock = os.path.join(d.sock_dir, f"{name}.sock")
    body = {"name": name, "hidSocket": sock, **extra}
    if pin is not None:
        body["pin"] = pin
    status, view, _ = d.api("POST", "/webauthn/authenticator", body)
    assert status == 201, view
    assert "pin" not in view, "the PIN is never shown"
    return Ctap2(open_device(sock)), sock


def retries(ctap, protocol=PinProtocolV2):
    return ClientPin(ctap, protocol()).get_pin_retries()


def code(excinfo):
    return excinfo.value.code


def credentials(d, key):
    return d.api("GET", f"/webauthn/authenticator/{key}/credentials")[1]


def power_cycle(d, key, sock):
    assert d.api("POST", f"/webauthn/authenticator/{key}/power-cycle")[0] == 200
    return Ctap2(open_device(sock))


def test_get_info_claims_ctap_2_1_pin_uv(daemons):
    d = daemons()
    info = Ctap2(d.device()).get_info()
    # As shipping keys list them: some hosts compare the array in order.
    assert info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]
    assert info.options["clientPin"] is False
    assert info.options["pinUvAuthToken"] is True
    assert info.options["authnrCfg"] is True
    assert info.options["alwaysUv"] is False
    assert info.options["makeCredUvNotRqd"] is True
    assert info.options["setMinPINLength"] is True
    assert "ep" not in info.options
    assert info.options["credMgmt"] is True and info.options["largeBlobs"] is True
    assert info.pin_uv_protocols == [2, 1]
    assert info.min_pin_length == 4 and info.force_pin_change is False
    ctap, _ = pin_key(d)
    assert ctap.get_info().options["clientPin"] is True


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_set_change_and_tokens_with_every_permission(daemons, protocol):
    d = daemons()
    ctap = Ctap2(d.device())
    client_pin = ClientPin(ctap, protocol())
    with pytest.raises(CtapError) as e:
        client_pin.get_pin_token(PIN)
    assert code(e) == ERR.PIN_NOT_SET
    with pytest.raises(CtapError) as e:
        client_pin.change_pin(PIN, "5678")
    assert code(e) == ERR.PIN_NOT_SET
    assert client_pin.get_pin_retries() == (8, False)

    client_pin.set_pin(PIN)
    ctap = Ctap2(d.device())
    client_pin = ClientPin(ctap, protocol())
    assert ctap.info.options["clientPin"] is True
    with pytest.raises(CtapError) as e:
        client_pin.set_pin("5678")
    assert code(e) == ERR.PIN_AUTH_INVALID, "CTAP 2.1: a PIN exists (2.0 said NOT_ALLOWED)"

    # Every permission the key claims; the ones it does not are unauthorized, at no cost.
    for perm in (P.MAKE_CREDENTIAL, P.GET_ASSERTION, P.AUTHENTICATOR_CFG, P.CREDENTIAL_MGMT,
                 P.LARGE_BLOB_WRITE,
                 P.MAKE_CREDENTIAL | P.GET_ASSERTION | P.AUTHENTICATOR_CFG | P.CREDENTIAL_MGMT
                 | P.LARGE_BLOB_WRITE):
        token = client_pin.get_pin_token(PIN, perm, RP["id"])
        assert len(token) == 32
    assert len(client_pin.get_pin_token(PIN)) == 32, "getPinToken (legacy)"
    for perm in (P.BIO_ENROLL, P.MAKE_CREDENTIAL | P.BIO_ENROLL):
        with pytest.raises(CtapError) as e:
            client_pin.get_pin_token(PIN, perm, RP["id"])
        assert code(e) == ERR.UNAUTHORIZED_PERMISSION, perm
    assert client_pin.get_pin_retries()[0] == 8

    client_pin.change_pin(PIN, "56789")
    with pytest.raises(CtapError) as e:
        client_pin.get_pin_token(PIN)
    assert code(e) == ERR.PIN_INVALID
    assert client_pin.get_pin_retries()[0] == 7
    assert len(client_pin.get_pin_token("56789", P.GET_ASSERTION, RP["id"])) == 32
    assert client_pin.get_pin_retries()[0] == 8


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_third_wrong_pin_blocks_until_power_cycle(daemons, protocol):
    d = daemons()
    ctap, sock = pin_key(d)
    client_pin = ClientPin(ctap, protocol())
    for expected in (ERR.PIN_INVALID, ERR.PIN_INVALID, ERR.PIN_AUTH_BLOCKED):
        with pytest.raises(CtapError) as e:
            client_pin.get_pin_token("0000")
        assert code(e) == expected
    assert client_pin.get_pin_retries() == (5, True)
    # Even the right PIN now, and it costs nothing.
    with pytest.raises(CtapError) as e:
        client_pin.get_pin_token(PIN, P.MAKE_CREDENTIAL, RP["id"])
    assert code(e) == ERR.PIN_AUTH_BLOCKED
    assert client_pin.get_pin_retries() == (5, True)
    ctap = power_cycle(d, "pinkey", sock)
    client_pin = ClientPin(ctap, protocol())
    assert client_pin.get_pin_retries() == (5, False), "retries persist across power cycles"
    client_pin.get_pin_token(PIN)
    assert client_pin.get_pin_retries() == (8, False)


def test_pin_policy_and_malformed_pins(daemons):
    d = daemons()
    ctap = Ctap2(d.device())
    client_pin = ClientPin(ctap, PinProtocolV2())
    # 64 bytes leave no room for the terminating zero; 63 are fine; length is code points.
    with pytest.raises(CtapError) as e:
        client_pin.set_pin("1" * 64)
    assert code(e) == ERR.PIN_POLICY_VIOLATION
    # Three code points in six bytes is too short (python-fido2 refuses to send it, so the
    # request is made by hand).
    key_agreement, shared = client_pin._get_shared_secret()
    enc = client_pin.protocol.encrypt(shared, "ééé".encode().ljust(64, b"\0"))
    with pytest.raises(CtapError) as e:
        ctap.client_pin(2, ClientPin.CMD.SET_PIN, key_agreement=key_agreement,
                        pin_uv_param=client_pin.protocol.authenticate(shared, enc),
                        new_pin_enc=enc)
    assert code(e) == ERR.PIN_POLICY_VIOLATION
    assert ctap.get_info().options["clientPin"] is False, "nothing was set"
    client_pin.set_pin("é" * 4)
    client_pin.change_pin("é" * 4, "7" * 63)
    assert len(client_pin.get_pin_token("7" * 63)) == 32
    # A padded PIN of another size than 64 bytes is an invalid parameter.
    key_agreement, shared = client_pin._get_shared_secret()
    enc = client_pin.protocol.encrypt(shared, b"abcd".ljust(48, b"\0"))
    hash_enc = client_pin.protocol.encrypt(shared, hashlib.sha256(b"7" * 63).digest()[:16])
    param = client_pin.protocol.authenticate(shared, enc + hash_enc)
    with pytest.raises(CtapError) as e:
        ctap.client_pin(2, ClientPin.CMD.CHANGE_PIN, key_agreement=key_agreement,
                        pin_uv_param=param, new_pin_enc=enc, pin_hash_enc=hash_enc)
    assert code(e) == ERR.INVALID_PARAMETER
    assert client_pin.get_pin_retries()[0] == 8, "the current PIN was right"
    assert len(client_pin.get_pin_token("7" * 63)) == 32


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_a_token_is_used_up_and_bound_to_its_rp(daemons, protocol):
    d = daemons()
    ctap, _ = pin_key(d)
    proto = protocol()
    client_pin = ClientPin(ctap, proto)
    token = client_pin.get_pin_token(PIN)  # default permissions, no RP ID yet
    h = cdh()
    att = ctap.make_credential(h, RP, {"id": b"u1", "name": "u"}, ES256,
                               pin_uv_param=proto.authenticate(token, h),
                               pin_uv_protocol=proto.VERSION)
    assert att.auth_data.is_user_verified() and att.auth_data.is_user_present()
    cred = att.auth_data.credential_data
    # A second use: PIN_AUTH_INVALID (mc and ga permissions are gone).
    h = cdh()
    with pytest.raises(CtapError) as e:
        ctap.get_assertion(RP["id"], h, [{"type": "public-key", "id": cred.credential_id}],
                           pin_uv_param=proto.authenticate(token, h),
                           pin_uv_protocol=proto.VERSION)
    assert code(e) == ERR.PIN_AUTH_INVALID
    # up=false does not use a token up; the token binds to its first RP.
    token = client_pin.get_pin_token(PIN, P.GET_ASSERTION)
    for _ in range(2):
        h = cdh()
        a = ctap.get_assertion(RP["id"], h, [{"type": "public-key", "id": cred.credential_id}],
                               options={"up": False},
                               pin_uv_param=proto.authenticate(token, h),
                               pin_uv_protocol=proto.VERSION)
        assert a.auth_data.is_user_verified() and not a.auth_data.is_user_present()
        CoseKey.for_alg(cred.public_key[3])(cred.public_key).verify(
            bytes(a.auth_data) + h, a.signature)
    h = cdh()
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("other.example", h, options={"up": False},
                           pin_uv_param=proto.authenticate(token, h),
                           pin_uv_protocol=proto.VERSION)
    assert code(e) == ERR.PIN_AUTH_INVALID


def test_discoverable_credentials_on_a_pin_key_need_a_token(daemons):
    d = daemons()
    ctap, _ = pin_key(d)
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, ES256, options={"rk": True})
    assert code(e) == ERR.PUAT_REQUIRED
    assert credentials(d, "pinkey") == []
    # The zero-length pinUvAuthParam probe: a touch, then "a PIN is set".
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, ES256,
                             pin_uv_param=b"", pin_uv_protocol=2)
    assert code(e) == ERR.PIN_INVALID
    assert retries(ctap)[0] == 8


class PinUser(UserInteraction):
    def __init__(self, pin):
        self.pin = pin
        self.asked = 0

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin


def client(dev, user):
    return Fido2Client(dev, DefaultClientDataCollector(ORIGIN), user_interaction=user)


def creation(uv, rk="required"):
    return {
        "rp": RP,
        "user": {"id": os.urandom(8), "name": "alice", "displayName": "Alice"},
        "challenge": os.urandom(32),
        "pubKeyCredParams": ES256,
        "authenticatorSelection": {"residentKey": rk, "userVerification": uv},
    }


def test_fido2_client_user_verification_required_with_a_pin(daemons):
    d = daemons()
    _, sock = pin_key(d)
    user = PinUser(PIN)
    c = client(open_device(sock), user)
    reg = c.make_credential(creation("required"))
    assert reg.response.attestation_object.auth_data.is_user_verified()
    got = c.get_assertion({"challenge": os.urandom(32), "rpId": RP["id"],
                           "userVerification": "required"}).get_response(0)
    assert got.response.authenticator_data.is_user_verified()
    assert user.asked == 2
    # A wrong PIN surfaces as an error, and costs one retry.
    bad = client(open_device(sock), PinUser("0000"))
    with pytest.raises(Exception):
        bad.get_assertion({"challenge": os.urandom(32), "rpId": RP["id"],
                           "userVerification": "required"})
    assert retries(Ctap2(open_device(sock)))[0] == 7


def test_fido2_client_user_verification_required_with_built_in_uv(daemons):
    d = daemons()
    sock = os.path.join(d.sock_dir, "uv.sock")
    assert d.api("POST", "/webauthn/authenticator",
                 {"name": "uvkey", "hasUserVerification": True, "hidSocket": sock})[0] == 201
    ctap = Ctap2(open_device(sock))
    assert ctap.info.options["uv"] is True and ctap.info.options["pinUvAuthToken"] is True
    c = client(open_device(sock), PinUser(None))
    reg = c.make_credential(creation("required"))
    assert reg.response.attestation_object.auth_data.is_user_verified()
    got = c.get_assertion({"challenge": os.urandom(32), "rpId": RP["id"],
                           "userVerification": "required"}).get_response(0)
    assert got.response.authenticator_data.is_user_verified()
    # Failed built-in UV counts down the UV retries (persisted).
    client_pin = ClientPin(ctap, PinProtocolV2())
    assert client_pin.get_uv_retries() == 8
    d.api("POST", "/webauthn/authenticator/uvkey/uv", {"isUserVerified": False})
    with pytest.raises(CtapError) as e:
        client_pin.get_uv_token(P.GET_ASSERTION, RP["id"])
    assert code(e) == ERR.UV_INVALID
    assert client_pin.get_uv_retries() == 7
    d.api("POST", "/webauthn/authenticator/uvkey/uv", {"isUserVerified": True})
    assert len(client_pin.get_uv_token(P.GET_ASSERTION, RP["id"])) == 32
    assert client_pin.get_uv_retries() == 8


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_config_commands(daemons, protocol):
    d = daemons()
    ctap, sock = pin_key(d)
    proto = protocol()
    client_pin = ClientPin(ctap, proto)
    # Without a token: PUAT_REQUIRED; with a token lacking acfg: PIN_AUTH_INVALID.
    with pytest.raises(CtapError) as e:
        Config(ctap).toggle_always_uv()
    assert code(e) == ERR.PUAT_REQUIRED
    token = client_pin.get_pin_token(PIN, P.MAKE_CREDENTIAL, RP["id"])
    with pytest.raises(CtapError) as e:
        Config(ctap, proto, token).toggle_always_uv()
    assert code(e) == ERR.PIN_AUTH_INVALID
    token = client_pin.get_pin_token(PIN, P.AUTHENTICATOR_CFG)
    config = Config(ctap, proto, token)
    config.toggle_always_uv()
    info = ctap.get_info()
    assert info.options["alwaysUv"] is True and info.options["makeCredUvNotRqd"] is False
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, ES256)
    assert code(e) == ERR.PUAT_REQUIRED
    config.toggle_always_uv()
    # No enterprise attestation on this key.
    with pytest.raises(CtapError) as e:
        config.enable_enterprise_attestation()
    assert code(e) == ERR.INVALID_PARAMETER
    # Raising the minimum above the PIN's length forces a change.
    config.set_min_pin_length(min_pin_length=6, rp_ids=[RP["id"]])
    info = ctap.get_info()
    assert info.min_pin_length == 6 and info.force_pin_change is True
    with pytest.raises(CtapError) as e:
        client_pin.get_pin_token(PIN)
    assert code(e) == ERR.PIN_INVALID
    with pytest.raises(CtapError) as e:
        client_pin.get_pin_token(PIN, P.GET_ASSERTION, RP["id"])
    assert code(e) == ERR.PIN_POLICY_VIOLATION
    with pytest.raises(CtapError) as e:
        client_pin.change_pin(PIN, "12345")
    assert code(e) == ERR.PIN_POLICY_VIOLATION
    client_pin.change_pin(PIN, "123456")
    assert ctap.get_info().force_pin_change is False
    token = client_pin.get_pin_token("123456", P.AUTHENTICATOR_CFG)
    with pytest.raises(CtapError) as e:
        Config(ctap, proto, token).set_min_pin_length(min_pin_length=4)
    assert code(e) == ERR.PIN_POLICY_VIOLATION, "the minimum never goes down"


def test_reset_clears_the_pin_and_the_configuration(daemons):
    d = daemons()
    ctap, sock = pin_key(d)
    client_pin = ClientPin(ctap, PinProtocolV2())
    token = client_pin.get_pin_token(PIN, P.AUTHENTICATOR_CFG)
    config = Config(ctap, PinProtocolV2(), token)
    config.toggle_always_uv()
    config.set_min_pin_length(min_pin_length=5)
    with pytest.raises(CtapError):
        client_pin.get_pin_token("0000")
    assert retries(ctap)[0] == 7
    ctap = power_cycle(d, "pinkey", sock)
    ctap.reset()
    info = ctap.get_info()
    assert info.options["clientPin"] is False
    assert info.options["alwaysUv"] is False
    assert info.min_pin_length == 4 and info.force_pin_change is False
    assert retries(ctap) == (8, False)
    ClientPin(ctap, PinProtocolV1()).set_pin("4321")


def test_create_body_pin_is_checked(daemons):
    d = daemons()
    for body, words in (
        ({"name": "k1", "pin": "12", "hidSocket": d.path + ".1"}, "at least"),
        ({"name": "k2", "pin": "1234", "protocol": "ctap2", "hidSocket": d.path + ".2"},
         "ctap2_1"),
    ):
        status, err, _ = d.api("POST", "/webauthn/authenticator", body)
        assert status == 400 and words in err["message"], err
        assert "1234" not in err["message"]
    assert [k["name"] for k in d.api("GET", "/webauthn/authenticator")[1]] == ["default"]
