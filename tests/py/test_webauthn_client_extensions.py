"""authsim's WebAuthn client with the key's CTAP 2.1 extensions, judged from two sides: py_webauthn
as the relying party verifies every response, and python-fido2's Fido2Client (Yubico's client,
over the same daemon socket) evaluates the same credential with the same PRF inputs. The prf
results must be identical byte for byte: both clients hash the inputs into hmac-secret salts as
WebAuthn L3 says (SHA-256("WebAuthn PRF" || 0x00 || input)) and the key's CredRandom is one per
credential and UV state, so equal outputs prove the salts, the encryption under the PIN/UV
protocol and the decryption of the outputs. Also credProtect (the level in the authenticator
data, enforced at sign-in, enforceCredentialProtectionPolicy on a key without it), credBlob
(stored, read back by both clients; `false` when the key cannot store it), minPinLength (only
for relying parties the key's configuration lists) and largeBlob (what one client writes the
other reads, over several fragments, other credentials' entries kept; L3's NotSupportedErrors)."""
import os
from hashlib import sha256

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import ClientPin, Config, Ctap2
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.ctap2.pin import PinProtocolV2
from fido2.webauthn import AttestationObject, AuthenticatorData
from webauthn import verify_authentication_response, verify_registration_response

from fido import daemons, open_device  # noqa: F401  (pytest fixture)
from test_daemon_api import check
from test_fido_extensions import PinUser
from test_webauthn_client import (ORIGIN, PIN, RP, add_key, auth_options, b64u, reg_options,
                                  unb64u, via_api, via_cli)


def registered(resp, opts, uv=False):
    """py_webauthn's verification of a registration, and the authenticator data's extensions."""
    v = verify_registration_response(credential=resp, expected_challenge=opts.challenge,
                                     expected_origin=ORIGIN, expected_rp_id=RP,
                                     require_user_verification=uv)
    att = AttestationObject(unb64u(resp["response"]["attestationObject"]))
    return v, att.auth_data.extensions or {}


def signed_in(resp, opts, v, uv=False):
    """py_webauthn's verification of an assertion, and the authenticator data's extensions."""
    verify_authentication_response(credential=resp, expected_challenge=opts.challenge,
                                   expected_rp_id=RP, expected_origin=ORIGIN,
                                   credential_public_key=v.credential_public_key,
                                   credential_current_sign_count=0,
                                   require_user_verification=uv)
    return AuthenticatorData(unb64u(resp["response"]["authenticatorData"])).extensions or {}


def fido2_client(sock, pin=PIN):
    return Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN),
                       user_interaction=PinUser(pin))


def fido2_prf(sock, cred_id, uv, first, second=None):
    """python-fido2's prf results for one credential (base64url, as authsim answers them)."""
    values = {"first": first} if second is None else {"first": first, "second": second}
    got = fido2_client(sock).get_assertion({
        "challenge": os.urandom(32), "rpId": RP, "userVerification": uv,
        "allowCredentials": [{"type": "public-key", "id": cred_id}],
        "extensions": {"prf": {"eval": values}}}).get_response(0)
    assert got.response.authenticator_data.is_user_verified() == (uv == "required")
    r = got.client_extension_results.prf.results
    return [b64u(r.first)] + ([b64u(r.second)] if second is not None else [])


def authsim_prf(d, key, cred_id, uv, prf, pin=None, cli=False):
    opts, j = auth_options([cred_id], uv)
    j["extensions"] = {"prf": prf}
    a = (via_cli(d, key, "authenticate", j, pin) if cli
         else via_api(d, key, "authenticate", j, pin))
    return a, opts


@pytest.mark.parametrize("uv", ["discouraged", "required"])
def test_prf_outputs_equal_python_fido2s_for_the_same_credential_and_inputs(daemons, uv):
    d = daemons()
    sock = add_key(d, "pinkey", pin=PIN)
    pin = PIN if uv == "required" else None
    first, second = os.urandom(32), b"a second, shorter input"

    # Registration through authsim: prf.eval at create goes as hmac-secret-mc.
    opts, j = reg_options("ES256", "discouraged", uv, user=f"prf-{uv}".encode())
    j["extensions"] = {"prf": {"eval": {"first": b64u(first)}}}
    resp = via_api(d, "pinkey", "register", j, pin)
    v, ext = registered(resp, opts, uv == "required")
    assert ext["hmac-secret"] is True and "hmac-secret-mc" in ext
    out = resp["clientExtensionResults"]["prf"]
    assert out["enabled"] is True and set(out["results"]) == {"first"}
    at_create = out["results"]["first"]

    # The same inputs through python-fido2 and through authsim (API and CLI): the same outputs.
    theirs = fido2_prf(sock, v.credential_id, uv, first, second)
    assert theirs[0] == at_create, "hmac-secret-mc at registration = hmac-secret at sign-in"
    inputs = {"first": b64u(first), "second": b64u(second)}
    for cli in (False, True):
        a, a_opts = authsim_prf(d, "pinkey", v.credential_id, uv, {"eval": inputs}, pin, cli)
        assert "hmac-secret" in signed_in(a, a_opts, v, uv == "required")
        results = a["clientExtensionResults"]["prf"]["results"]
        assert [results["first"], results["second"]] == theirs
    # evalByCredential picks the allowed credential's inputs over eval.
    a, _ = authsim_prf(d, "pinkey", v.credential_id, uv,
                       {"eval": {"first": b64u(first)},
                        "evalByCredential": {b64u(v.credential_id): {"first": b64u(second)}}}, pin)
    assert a["clientExtensionResults"]["prf"]["results"] == {"first": theirs[1]}

    # The other way round: a credential python-fido2 made, evaluated by authsim.
    made = fido2_client(sock).make_credential({
        "rp": {"id": RP, "name": "Example"}, "challenge": os.urandom(32),
        "user": {"id": os.urandom(8), "name": "bob", "displayName": "Bob"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "authenticatorSelection": {"residentKey": "discouraged", "userVerification": uv},
        "extensions": {"prf": {"eval": {"first": second}}}})
    theirs_at_create = b64u(made.client_extension_results.prf.results.first)
    a, _ = authsim_prf(d, "pinkey", made.raw_id, uv, {"eval": {"first": b64u(second)}}, pin)
    assert a["clientExtensionResults"]["prf"]["results"]["first"] == theirs_at_create


def test_prf_with_and_without_user_verification_are_different_secrets(daemons):
    d = daemons()
    add_key(d, "pinkey", pin=PIN)
    opts, j = reg_options("ES256", "discouraged", "discouraged", user=b"prf-both")
    j["extensions"] = {"prf": {}}
    resp = via_api(d, "pinkey", "register", j)
    v, _ = registered(resp, opts)
    # prf without eval at create: enabled, no results.
    assert resp["clientExtensionResults"]["prf"] == {"enabled": True}
    salt = {"eval": {"first": b64u(b"salt")}}
    plain, _ = authsim_prf(d, "pinkey", v.credential_id, "discouraged", salt)
    verified, _ = authsim_prf(d, "pinkey", v.credential_id, "required", salt, PIN)
    p = plain["clientExtensionResults"]["prf"]["results"]["first"]
    assert p != verified["clientExtensionResults"]["prf"]["results"]["first"]
    # The salt is hashed with the spec's prefix: python-fido2's raw hmac-secret with the hashed
    # salt (its CTAP-level extension, no WebAuthn hashing) gives the same output.
    c = Fido2Client(open_device(os.path.join(d.sock_dir, "pinkey.sock")),
                    DefaultClientDataCollector(ORIGIN), user_interaction=PinUser(PIN),
                    extensions=[HmacSecretExtension(allow_hmac_secret=True)])
    got = c.get_assertion({
        "challenge": os.urandom(32), "rpId": RP, "userVerification": "discouraged",
        "allowCredentials": [{"type": "public-key", "id": v.credential_id}],
        "extensions": {"hmacGetSecret": {"salt1": sha256(b"WebAuthn PRF\x00salt").digest()}},
    }).get_response(0)
    assert b64u(got.client_extension_results.hmac_get_secret.output1) == p


def test_cred_protect_is_set_enforced_and_required(daemons):
    d = daemons()
    add_key(d, "pinkey", pin=PIN)
    # Level 3 on a non-discoverable credential made without user verification.
    opts, j = reg_options("ES256", "discouraged", "discouraged", user=b"cp3")
    j["extensions"] = {"credentialProtectionPolicy": "userVerificationRequired",
                       "enforceCredentialProtectionPolicy": True}
    v3, ext = registered(via_api(d, "pinkey", "register", j), opts)
    assert ext["credProtect"] == 3
    # Level 2 on a discoverable one (a PIN key makes those with the PIN).
    opts, j = reg_options("ES256", "required", "required", user=b"cp2")
    j["extensions"] = {"credentialProtectionPolicy": "userVerificationOptionalWithCredentialIDList"}
    v2, ext = registered(via_api(d, "pinkey", "register", j, PIN), opts, True)
    assert ext["credProtect"] == 2
    _, listed = check(d, "GET", "/webauthn/authenticator/pinkey/credentials", expect=200)
    assert [c.get("credProtect") for c in listed] == [2]

    # Without user verification: level 3 is not found, level 2 only through allowCredentials.
    _, a_j = auth_options([v3.credential_id], "discouraged")
    e = via_api(d, "pinkey", "authenticate", a_j, expect=403)
    assert e["error"] == "NotAllowedError", e
    _, a_j = auth_options((), "discouraged")
    e = via_api(d, "pinkey", "authenticate", a_j, expect=403)
    assert e["error"] == "NotAllowedError", e
    a_opts, a_j = auth_options([v2.credential_id], "discouraged")
    signed_in(via_api(d, "pinkey", "authenticate", a_j), a_opts, v2)
    # With it, both.
    a_opts, a_j = auth_options([v3.credential_id], "required")
    signed_in(via_api(d, "pinkey", "authenticate", a_j, PIN), a_opts, v3, True)
    a_opts, a_j = auth_options((), "required")
    a = via_api(d, "pinkey", "authenticate", a_j, PIN)
    assert unb64u(a["id"]) == v2.credential_id
    signed_in(a, a_opts, v2, True)
    # python-fido2 agrees on level 3: not usable without user verification.
    with pytest.raises(ClientError):
        fido2_client(os.path.join(d.sock_dir, "pinkey.sock")).get_assertion({
            "challenge": os.urandom(32), "rpId": RP, "userVerification": "discouraged",
            "allowCredentials": [{"type": "public-key", "id": v3.credential_id}]})

    # A CTAP 2.0 key has no credProtect: enforced, refused and nothing made; else made without.
    check(d, "POST", "/webauthn/authenticator",
          {"name": "v20", "protocol": "ctap2", "hidSocket": os.path.join(d.sock_dir, "v20.sock")},
          expect=201)
    opts, j = reg_options("ES256", "required", "discouraged", user=b"cp-old")
    j["extensions"] = {"credentialProtectionPolicy": "userVerificationRequired",
                       "enforceCredentialProtectionPolicy": True}
    e = via_api(d, "v20", "register", j, expect=403)
    assert e["error"] == "NotAllowedError" and "credProtect" in e["message"], e
    _, listed = check(d, "GET", "/webauthn/authenticator/v20/credentials", expect=200)
    assert listed == []
    j["extensions"]["enforceCredentialProtectionPolicy"] = False
    _, ext = registered(via_api(d, "v20", "register", j), opts)
    assert "credProtect" not in ext


def test_cred_blob_is_stored_and_read_back_by_both_clients(daemons):
    d = daemons()
    sock = add_key(d, "blobkey")
    blob = b"32 bytes of config, no more....."
    opts, j = reg_options("ES256", "required", "discouraged", user=b"blob")
    j["extensions"] = {"credBlob": b64u(blob)}
    resp = via_api(d, "blobkey", "register", j)
    v, ext = registered(resp, opts)
    assert resp["clientExtensionResults"]["credBlob"] is True and ext["credBlob"] is True

    a_opts, a_j = auth_options([v.credential_id], "discouraged")
    a_j["extensions"] = {"getCredBlob": True}
    a = via_cli(d, "blobkey", "authenticate", a_j)
    assert signed_in(a, a_opts, v)["credBlob"] == blob
    assert unb64u(a["clientExtensionResults"]["getCredBlob"]) == blob
    got = fido2_client(sock).get_assertion({
        "challenge": os.urandom(32), "rpId": RP, "userVerification": "discouraged",
        "allowCredentials": [{"type": "public-key", "id": v.credential_id}],
        "extensions": {"getCredBlob": True}}).get_response(0)
    assert got.response.authenticator_data.extensions["credBlob"] == blob

    # Over maxCredBlobLength (32): not sent, `credBlob: false`, the credential still made.
    opts, j = reg_options("ES256", "required", "discouraged", user=b"long")
    j["extensions"] = {"credBlob": b64u(bytes(33))}
    resp = via_api(d, "blobkey", "register", j)
    _, ext = registered(resp, opts)
    assert resp["clientExtensionResults"]["credBlob"] is False and "credBlob" not in ext
    # A key without credBlob (CTAP 2.0): the same.
    check(d, "POST", "/webauthn/authenticator",
          {"name": "v20", "protocol": "ctap2", "hidSocket": os.path.join(d.sock_dir, "v20.sock")},
          expect=201)
    opts, j = reg_options("ES256", "required", "discouraged", user=b"old")
    j["extensions"] = {"credBlob": b64u(blob)}
    resp = via_api(d, "v20", "register", j)
    registered(resp, opts)
    assert resp["clientExtensionResults"]["credBlob"] is False


def test_min_pin_length_reaches_listed_relying_parties_only(daemons):
    d = daemons()
    sock = add_key(d, "pinkey", pin=PIN)

    def register_asking(user):
        opts, j = reg_options("ES256", "discouraged", "discouraged", user=user)
        j["extensions"] = {"minPinLength": True}
        resp = via_api(d, "pinkey", "register", j)
        # No client output: the authenticator's, in the signed authenticator data.
        assert "minPinLength" not in resp["clientExtensionResults"]
        return registered(resp, opts)[1].get("minPinLength")

    assert register_asking(b"before") is None, "the RP is not listed yet"
    ctap = Ctap2(open_device(sock))
    token = ClientPin(ctap, PinProtocolV2()).get_pin_token(
        PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, PinProtocolV2(), token).set_min_pin_length(min_pin_length=6, rp_ids=[RP])
    assert register_asking(b"after") == 6


def fido2_large_blob(sock, cred_id, large_blob, uv):
    got = fido2_client(sock).get_assertion({
        "challenge": os.urandom(32), "rpId": RP, "userVerification": uv,
        "allowCredentials": [{"type": "public-key", "id": cred_id}],
        "extensions": {"largeBlob": large_blob}}).get_response(0)
    return got.client_extension_results.large_blob


@pytest.mark.parametrize("pin", [PIN, None])
def test_large_blobs_written_by_one_client_are_read_by_the_other(daemons, pin):
    d = daemons()
    sock = add_key(d, "lbkey", **({"pin": pin} if pin else {}))
    uv = "required" if pin else "discouraged"

    def make(user):
        opts, j = reg_options("ES256", "required", uv, user=user)
        j["extensions"] = {"largeBlob": {"support": "required"}}
        resp = via_api(d, "lbkey", "register", j, pin)
        assert resp["clientExtensionResults"]["largeBlob"] == {"supported": True}
        return registered(resp, opts, bool(pin))[0]

    def authsim_large_blob(v, large_blob, cli=False):
        # userVerification discouraged: a write on a PIN key makes it required all the same
        # (the key takes no write without an lbw token).
        a_opts, a_j = auth_options([v.credential_id], "discouraged")
        a_j["extensions"] = {"largeBlob": large_blob}
        a = (via_cli(d, "lbkey", "authenticate", a_j, pin) if cli
             else via_api(d, "lbkey", "authenticate", a_j, pin))
        signed_in(a, a_opts, v)
        return a["clientExtensionResults"]["largeBlob"]

    v1, v2 = make(b"blob-1"), make(b"blob-2")
    assert authsim_large_blob(v1, {"read": True}) == {}, "nothing stored yet"
    # Random bytes do not compress: the array spans several fragments each way.
    blob = os.urandom(2500)
    assert authsim_large_blob(v1, {"write": b64u(blob)}) == {"written": True}
    assert fido2_large_blob(sock, v1.credential_id, {"read": True}, uv).blob == blob
    # python-fido2 writes the other credential's; authsim reads it, and the first is intact.
    assert fido2_large_blob(sock, v2.credential_id, {"write": b"from python-fido2"}, uv).written
    assert authsim_large_blob(v2, {"read": True}, cli=True) == {"blob": b64u(b"from python-fido2")}
    assert authsim_large_blob(v1, {"read": True}) == {"blob": b64u(blob)}
    # A rewrite replaces the credential's entry and keeps the other's.
    assert authsim_large_blob(v1, {"write": b64u(b"shorter")}, cli=True) == {"written": True}
    assert fido2_large_blob(sock, v1.credential_id, {"read": True}, uv).blob == b"shorter"
    assert fido2_large_blob(sock, v2.credential_id, {"read": True}, uv).blob == b"from python-fido2"


def test_large_blob_refusals(daemons):
    d = daemons()
    add_key(d, "lbkey")
    opts, j = reg_options("ES256", "required", "discouraged", user=b"lb")
    j["extensions"] = {"largeBlob": {"support": "preferred"}}
    v, _ = registered(via_api(d, "lbkey", "register", j), opts)
    before = sorted(c["credentialId"] for c in check(
        d, "GET", "/webauthn/authenticator/lbkey/credentials", expect=200)[1])

    # WebAuthn L3 §10.1.5's NotSupportedErrors, each before anything reaches the key.
    for large_blob, allow in (({"support": "required"}, [v.credential_id]),
                              ({"read": True, "write": "AA"}, [v.credential_id]),
                              ({"write": "AA"}, [])):
        _, a_j = auth_options(allow, "discouraged")
        a_j["extensions"] = {"largeBlob": large_blob}
        e = via_api(d, "lbkey", "authenticate", a_j, expect=400)
        assert e["error"] == "NotSupportedError", (large_blob, e)
    for large_blob, rk in (({"read": True}, "required"), ({"write": "AA"}, "required"),
                           ({"support": "required"}, "discouraged")):
        _, j = reg_options("ES256", rk, "discouraged", user=b"refused")
        j["extensions"] = {"largeBlob": large_blob}
        e = via_api(d, "lbkey", "register", j, expect=400)
        assert e["error"] == "NotSupportedError", (large_blob, e)
    assert sorted(c["credentialId"] for c in check(
        d, "GET", "/webauthn/authenticator/lbkey/credentials", expect=200)[1]) == before

    # Preferred on a non-discoverable credential, or on a key without large blobs: not supported,
    # and a read finds nothing.
    opts, j = reg_options("ES256", "discouraged", "discouraged", user=b"nonrk")
    j["extensions"] = {"largeBlob": {"support": "preferred"}}
    resp = via_api(d, "lbkey", "register", j)
    assert resp["clientExtensionResults"]["largeBlob"] == {"supported": False}
    add_key(d, "v20", protocol="ctap2")
    opts, j = reg_options("ES256", "required", "discouraged", user=b"old")
    j["extensions"] = {"largeBlob": {}}
    resp = via_api(d, "v20", "register", j)
    assert resp["clientExtensionResults"]["largeBlob"] == {"supported": False}
    _, a_j = auth_options([unb64u(resp["id"])], "discouraged")
    a_j["extensions"] = {"largeBlob": {"write": b64u(b"x")}}
    assert via_api(d, "v20", "authenticate", a_j)["clientExtensionResults"]["largeBlob"] == \
        {"written": False}
