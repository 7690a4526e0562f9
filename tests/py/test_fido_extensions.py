"""python-fido2 (Yubico's client library) as a judge of the virtual key's CTAP extensions over
the daemon's socket transport: WebAuthn prf through Fido2Client (hmac-secret, and hmac-secret-mc
at registration), hmac-secret through its CTAP-level extension class and by hand under both
PIN/UV auth protocols (python-fido2's own protocol code encrypts the salts and decrypts the
outputs), credProtect levels with enforceCredentialProtectionPolicy, credBlob and minPinLength.
credProps is the client's own business and is not judged here."""
import os

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Config, Ctap2
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2

from fido import daemons, open_device  # noqa: F401  (pytest fixture)

RP = {"id": "example.com", "name": "Example"}
ORIGIN = "https://example.com"
ES256 = [{"type": "public-key", "alg": -7}]
PIN = "1234"
EXTENSIONS = ["credProtect", "hmac-secret", "hmac-secret-mc", "credBlob", "minPinLength"]
ERR = CtapError.ERR


class PinUser(UserInteraction):
    def __init__(self, pin):
        self.pin = pin
        self.asked = 0

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin


def pin_key(d, name="extkey", pin=PIN):
    """A key created through the control API (with a PIN set when `pin`); its socket."""
    sock = os.path.join(d.sock_dir, f"{name}.sock")
    body = {"name": name, "hidSocket": sock}
    if pin is not None:
        body["pin"] = pin
    status, view, _ = d.api("POST", "/webauthn/authenticator", body)
    assert status == 201, view
    return sock


def client(sock, user=None, extensions=None):
    kwargs = {"user_interaction": user or PinUser(PIN)}
    if extensions is not None:
        kwargs["extensions"] = extensions
    return Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN), **kwargs)


def creation(uv="discouraged", rk="discouraged", **extensions):
    return {
        "rp": RP,
        "user": {"id": os.urandom(8), "name": "alice", "displayName": "Alice"},
        "challenge": os.urandom(32),
        "pubKeyCredParams": ES256,
        "authenticatorSelection": {"residentKey": rk, "userVerification": uv},
        "extensions": extensions,
    }


def request(uv="discouraged", allow=None, **extensions):
    options = {"challenge": os.urandom(32), "rpId": RP["id"], "userVerification": uv,
               "extensions": extensions}
    if allow is not None:
        options["allowCredentials"] = [{"type": "public-key", "id": i} for i in allow]
    return options


def auth_data_extensions(reg):
    return reg.response.attestation_object.auth_data.extensions or {}


def test_get_info_and_the_api_name_the_extensions(daemons):
    d = daemons()
    info = Ctap2(d.device()).get_info()
    assert set(EXTENSIONS) <= set(info.extensions)
    assert info.max_cred_blob_length == 32
    assert info.max_rpids_for_min_pin == 8
    status, view, _ = d.api("GET", "/webauthn/authenticator/default")
    assert status == 200 and view["extensions"] == info.extensions
    # WebDriver's extensions list: names the key supports are accepted, others refused.
    sock = os.path.join(d.sock_dir, "listed.sock")
    status, view, _ = d.api("POST", "/webauthn/authenticator",
                            {"name": "listed", "hidSocket": sock,
                             "extensions": ["credBlob", "hmac-secret"]})
    assert status == 201, view
    assert view["extensions"] == info.extensions
    for body in ({"name": "x", "extensions": ["noSuchExtension"]},
                 {"name": "y", "protocol": "ctap2", "extensions": ["credBlob"]}):
        status, reply, _ = d.api("POST", "/webauthn/authenticator", body)
        assert status == 400, reply
    # A CTAP 2.0 key claims none.
    sock = os.path.join(d.sock_dir, "v20.sock")
    status, view, _ = d.api("POST", "/webauthn/authenticator",
                            {"name": "v20", "protocol": "ctap2", "hidSocket": sock})
    assert status == 201 and view["extensions"] == []
    assert not Ctap2(open_device(sock)).get_info().extensions


def test_prf_through_fido2_client_with_and_without_user_verification(daemons):
    d = daemons()
    sock = pin_key(d)
    user = PinUser(PIN)
    c = client(sock, user)
    salt = os.urandom(32)
    prf = {"eval": {"first": salt}}
    # A non-discoverable credential without UV (makeCredUvNotRqd); hmac-secret-mc gives the
    # prf result at registration already.
    reg = c.make_credential(creation(prf=prf))
    assert not reg.response.attestation_object.auth_data.is_user_verified()
    out = reg.client_extension_results.prf
    assert out.enabled is True
    at_create = out.results.first
    assert len(at_create) == 32
    assert auth_data_extensions(reg)["hmac-secret"] is True
    assert "hmac-secret-mc" in auth_data_extensions(reg)
    cred_id = reg.raw_id

    def evaluate(uv, second=None):
        values = {"first": salt} if second is None else {"first": salt, "second": second}
        got = c.get_assertion(request(uv, [cred_id], prf={"eval": values})).get_response(0)
        assert got.response.authenticator_data.is_user_verified() == (uv == "required")
        return got.client_extension_results.prf.results

    assert evaluate("discouraged").first == at_create
    assert evaluate("discouraged").first == at_create, "the same salt, the same secret"
    asked = user.asked
    verified = evaluate("required")
    assert user.asked == asked + 1, "the PIN was asked for"
    assert verified.first != at_create, "CredRandomWithUV is another secret"
    two = evaluate("required", second=b"second salt")
    assert two.first == verified.first and two.second not in (None, two.first)

    # A discoverable credential made with user verification: its prf result at registration is
    # what a verified discoverable sign-in gives.
    reg = c.make_credential(creation("required", "required", prf=prf))
    assert reg.response.attestation_object.auth_data.is_user_verified()
    at_create = reg.client_extension_results.prf.results.first
    got = c.get_assertion(request("required", prf={"eval": {"first": salt}}))
    assert got.get_response(0).client_extension_results.prf.results.first == at_create


def test_hmac_secret_through_its_extension_class(daemons):
    d = daemons()
    sock = pin_key(d, pin=None)
    c = client(sock, extensions=[HmacSecretExtension(allow_hmac_secret=True)])
    reg = c.make_credential(creation(hmacCreateSecret=True))
    assert reg.client_extension_results.hmac_create_secret is True
    salt1, salt2 = os.urandom(32), os.urandom(32)
    get = {"hmacGetSecret": {"salt1": salt1, "salt2": salt2}}
    first = c.get_assertion(request(allow=[reg.raw_id], **get)).get_response(0)
    out = first.client_extension_results.hmac_get_secret
    assert len(out.output1) == 32 and len(out.output2) == 32 and out.output1 != out.output2
    again = c.get_assertion(request(allow=[reg.raw_id], **get)).get_response(0)
    assert again.client_extension_results.hmac_get_secret.output1 == out.output1
    assert again.client_extension_results.hmac_get_secret.output2 == out.output2
    only1 = c.get_assertion(request(allow=[reg.raw_id], hmacGetSecret={"salt1": salt2}))
    assert only1.get_response(0).client_extension_results.hmac_get_secret.output1 == out.output2


def hmac_secret_input(ctap, protocol, salts):
    """The getAssertion input as a platform builds it, with python-fido2's protocol code."""
    key_agreement, shared = ClientPin(ctap, protocol)._get_shared_secret()
    salt_enc = protocol.encrypt(shared, salts)
    return shared, {1: key_agreement, 2: salt_enc, 3: protocol.authenticate(shared, salt_enc),
                    4: protocol.VERSION}


def test_hmac_secret_by_hand_under_both_protocols(daemons):
    d = daemons()
    ctap = Ctap2(d.device())
    att = ctap.make_credential(os.urandom(32), RP, {"id": b"u", "name": "u"}, ES256,
                               extensions={"hmac-secret": True})
    assert att.auth_data.extensions == {"hmac-secret": True}
    allow = [{"type": "public-key", "id": att.auth_data.credential_data.credential_id}]
    salts = os.urandom(64)
    outputs = []
    for protocol in (PinProtocolV1(), PinProtocolV2()):
        shared, hmac_input = hmac_secret_input(ctap, protocol, salts)
        a = ctap.get_assertion(RP["id"], os.urandom(32), allow,
                               extensions={"hmac-secret": hmac_input})
        outputs.append(protocol.decrypt(shared, a.auth_data.extensions["hmac-secret"]))
    assert len(outputs[0]) == 64 and outputs[0] == outputs[1]

    # Refusals, each before the touch and changing nothing.
    protocol = PinProtocolV2()
    shared, good = hmac_secret_input(ctap, protocol, salts)
    odd_enc = protocol.encrypt(shared, os.urandom(48))
    cases = [
        ({**good, 3: bytes(32)}, None, ERR.PIN_AUTH_INVALID),
        ({**good, 2: odd_enc, 3: protocol.authenticate(shared, odd_enc)}, None,
         ERR.INVALID_PARAMETER),
        (good, {"up": False}, ERR.UNSUPPORTED_OPTION),
    ]
    for hmac_input, options, err in cases:
        with pytest.raises(CtapError) as e:
            ctap.get_assertion(RP["id"], os.urandom(32), allow,
                               extensions={"hmac-secret": hmac_input}, options=options)
        assert e.value.code == err
    a = ctap.get_assertion(RP["id"], os.urandom(32), allow, extensions={"hmac-secret": good})
    assert protocol.decrypt(shared, a.auth_data.extensions["hmac-secret"]) == outputs[0]


def test_cred_protect_levels_are_enforced(daemons):
    d = daemons()
    sock = pin_key(d)
    c = client(sock)
    # Level 2, discoverable (a PIN key makes those with user verification).
    reg2 = c.make_credential(creation("required", "required",
                                      credentialProtectionPolicy="userVerificationOptionalWith"
                                                                 "CredentialIDList",
                                      enforceCredentialProtectionPolicy=True))
    assert auth_data_extensions(reg2)["credProtect"] == 2
    # Level 3, non-discoverable, made without user verification.
    reg3 = c.make_credential(creation(credentialProtectionPolicy="userVerificationRequired",
                                      enforceCredentialProtectionPolicy=True))
    assert auth_data_extensions(reg3)["credProtect"] == 3
    # The control API lists the stored (discoverable) one with its level.
    status, listed, _ = d.api("GET", "/webauthn/authenticator/extkey/credentials")
    assert status == 200 and [c.get("credProtect") for c in listed] == [2]

    ctap = Ctap2(open_device(sock))
    # Without user verification: level 2 is not discovered, but found through an allow list;
    # level 3 is not found at all.
    with pytest.raises(CtapError) as e:
        ctap.get_assertion(RP["id"], os.urandom(32))
    assert e.value.code == ERR.NO_CREDENTIALS
    a = ctap.get_assertion(RP["id"], os.urandom(32),
                           [{"type": "public-key", "id": reg2.raw_id}])
    assert a.credential["id"] == reg2.raw_id
    with pytest.raises(CtapError) as e:
        ctap.get_assertion(RP["id"], os.urandom(32),
                           [{"type": "public-key", "id": reg3.raw_id}])
    assert e.value.code == ERR.NO_CREDENTIALS
    with pytest.raises(ClientError):
        c.get_assertion(request(allow=[reg3.raw_id]))
    # With it, both.
    got = c.get_assertion(request("required", [reg3.raw_id])).get_response(0)
    assert got.raw_id == reg3.raw_id
    got = c.get_assertion(request("required")).get_response(0)
    assert got.raw_id == reg2.raw_id

    # The exclude list: the level-3 credential, without user verification, is skipped by the key
    # (CTAP2_ERR_CREDENTIAL_EXCLUDED only with it).
    exclude = [{"type": "public-key", "id": reg3.raw_id}]
    ctap.make_credential(os.urandom(32), RP, {"id": b"x", "name": "x"}, ES256,
                         exclude_list=exclude)
    token = ClientPin(ctap, PinProtocolV2()).get_pin_token(
        PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP["id"])
    h = os.urandom(32)
    with pytest.raises(CtapError) as e:
        ctap.make_credential(h, RP, {"id": b"x", "name": "x"}, ES256, exclude_list=exclude,
                             pin_uv_param=PinProtocolV2().authenticate(token, h),
                             pin_uv_protocol=2)
    assert e.value.code == ERR.CREDENTIAL_EXCLUDED


def test_cred_blob_is_stored_and_returned(daemons):
    d = daemons()
    sock = pin_key(d, pin=None)
    c = client(sock)
    blob = b"a small secret config"
    reg = c.make_credential(creation(rk="required", credBlob=blob))
    assert auth_data_extensions(reg)["credBlob"] is True
    got = c.get_assertion(request(allow=[reg.raw_id], getCredBlob=True)).get_response(0)
    assert got.response.authenticator_data.extensions["credBlob"] == blob
    status, listed, _ = d.api("GET", "/webauthn/authenticator/extkey/credentials")
    assert status == 200 and [c["hasCredBlob"] for c in listed] == [True]
    assert "credProtect" not in listed[0]
    # Over maxCredBlobLength (python-fido2 would not send it, so by hand): not stored.
    ctap = Ctap2(open_device(sock))
    att = ctap.make_credential(os.urandom(32), RP, {"id": b"long", "name": "l"}, ES256,
                               extensions={"credBlob": bytes(33)}, options={"rk": True})
    assert att.auth_data.extensions == {"credBlob": False}
    a = ctap.get_assertion(RP["id"], os.urandom(32),
                           [{"type": "public-key",
                             "id": att.auth_data.credential_data.credential_id}],
                           extensions={"credBlob": True})
    assert a.auth_data.extensions == {"credBlob": b""}


def test_min_pin_length_only_for_listed_relying_parties(daemons):
    d = daemons()
    sock = pin_key(d)
    ctap = Ctap2(open_device(sock))

    def mc_min_pin(rp_id):
        att = ctap.make_credential(os.urandom(32), {"id": rp_id, "name": rp_id},
                                   {"id": b"u", "name": "u"}, ES256,
                                   extensions={"minPinLength": True})
        return (att.auth_data.extensions or {}).get("minPinLength")

    assert mc_min_pin(RP["id"]) is None, "no RP listed yet"
    protocol = PinProtocolV2()
    token = ClientPin(ctap, protocol).get_pin_token(
        PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, protocol, token).set_min_pin_length(rp_ids=[RP["id"]])
    assert mc_min_pin(RP["id"]) == 4
    assert mc_min_pin("other.example") is None
    # Through Fido2Client's minPinLength extension.
    reg = client(sock).make_credential(creation(minPinLength=True))
    assert auth_data_extensions(reg)["minPinLength"] == 4
