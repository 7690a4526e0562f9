"""Synced passkeys as WebDriver Level 3 describes them, judged by py_webauthn (an independent
relying party) over the daemon's socket transport: a key's defaultBackupEligibility and
defaultBackupState set the BE and BS flags of the credentials it makes, in registrations and
assertions (py_webauthn's credential_device_type and credential_backed_up), with the counter
mode `zero` synced passkeys show; imported credentials carry their own backupEligibility,
backupState, credBlob (read back with python-fido2's credBlob extension) and largeBlob (read
back with Fido2Client's largeBlob extension); BS without BE is
refused with 400 and changes nothing. Every API answer is validated against openapi.yaml."""
import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import Ctap2
from webauthn.helpers.structs import CredentialDeviceType

from fido import daemons, open_device  # noqa: F401  (pytest fixture)
from test_daemon_api import check
from test_fido_webauthn import (ALGS, ORIGIN, RP_ID, Touch, authenticate, register,
                                rp_authenticate, rp_register)

BE, BS = 0x08, 0x10


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def synced_key(d, name, eligible, state, counter=None):
    sock = os.path.join(d.sock_dir, f"{name}.sock")
    body = {"name": name, "hidSocket": sock, "defaultBackupEligibility": eligible,
            "defaultBackupState": state}
    if counter:
        body["counterMode"] = counter
    _, view = check(d, "POST", "/webauthn/authenticator", body, expect=201)
    assert (view["defaultBackupEligibility"], view["defaultBackupState"]) == (eligible, state)
    return sock


@pytest.mark.parametrize("resident", [False, True], ids=["non-resident", "resident"])
@pytest.mark.parametrize("eligible,state", [(False, False), (True, False), (True, True)],
                         ids=["device-bound", "eligible", "backed-up"])
def test_backup_flags_verified_by_py_webauthn(daemons, eligible, state, resident):
    d = daemons()
    sock = synced_key(d, "synced", eligible, state)
    cl = Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN), Touch())
    challenge, reg = register(cl, ALGS["ES256"], resident)
    verified = rp_register(challenge, reg)
    expected_type = (CredentialDeviceType.MULTI_DEVICE if eligible
                     else CredentialDeviceType.SINGLE_DEVICE)
    assert verified.credential_device_type == expected_type
    assert verified.credential_backed_up is state
    count = verified.sign_count
    for _ in range(2):
        ch, resp, _ = authenticate(cl, None if resident else [reg.raw_id])
        result = rp_authenticate(ch, resp, verified, count)
        assert result.credential_device_type == expected_type
        assert result.credential_backed_up is state
        count = result.new_sign_count
    if resident:
        _, creds = check(d, "GET", "/webauthn/authenticator/synced/credentials", expect=200)
        assert [(c["backupEligibility"], c["backupState"]) for c in creds] == [(eligible, state)]


def test_synced_passkeys_with_counter_zero(daemons):
    d = daemons()
    sock = synced_key(d, "zero", True, True, counter="zero")
    _, view = check(d, "GET", "/webauthn/authenticator/zero", expect=200)
    assert view["counterMode"] == "always-zero"
    cl = Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN), Touch())
    challenge, reg = register(cl, ALGS["ES256"], True)
    verified = rp_register(challenge, reg)
    assert verified.sign_count == 0 and verified.credential_backed_up is True
    for _ in range(2):
        ch, resp, _ = authenticate(cl)
        result = rp_authenticate(ch, resp, verified, 0)
        assert result.new_sign_count == 0


def test_backed_up_without_eligibility_is_refused(daemons):
    d = daemons()
    sock = os.path.join(d.sock_dir, "bad.sock")
    _, err = check(d, "POST", "/webauthn/authenticator",
                   {"name": "bad", "hidSocket": sock, "defaultBackupState": True}, expect=400)
    assert "defaultBackupEligibility" in err["message"]
    assert [k["name"] for k in d.api("GET", "/webauthn/authenticator")[1]] == ["default"]
    cred = imported(1, backupEligibility=False, backupState=True)[0]
    _, err = check(d, "POST", "/webauthn/authenticator/default/credential", cred, expect=400)
    assert "backupEligibility" in err["message"]
    assert d.api("GET", "/webauthn/authenticator/default/credentials")[1] == []


def imported(n, **extra):
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    cred = {"credentialId": b64u(bytes([n]) * 16), "isResidentCredential": True, "rpId": RP_ID,
            "privateKey": b64u(der), "userHandle": b64u(bytes([n])), **extra}
    return cred, key


def flags_of(ctap, cred_id, **kw):
    a = ctap.get_assertion(RP_ID, os.urandom(32),
                           allow_list=[{"type": "public-key", "id": cred_id}], **kw)
    return a, a.auth_data.flags & (BE | BS)


def test_imported_credentials_carry_backup_flags_and_cred_blob(daemons):
    d = daemons()
    sock = synced_key(d, "imp", True, False)
    ctap = Ctap2(open_device(sock))
    cases = [(1, {}, True, False), (2, {"backupState": True}, True, True),
             (3, {"backupEligibility": False}, False, False)]
    for n, extra, eligible, state in cases:
        cred, _ = imported(n, **extra)
        _, view = check(d, "POST", "/webauthn/authenticator/imp/credential", cred, expect=201)
        assert (view["backupEligibility"], view["backupState"]) == (eligible, state), n
        _, flags = flags_of(ctap, bytes([n]) * 16)
        assert flags == (BE if eligible else 0) | (BS if state else 0), n
    _, listed = check(d, "GET", "/webauthn/authenticator/imp/credentials", expect=200)
    assert [(c["backupEligibility"], c["backupState"]) for c in listed] == \
        [(e, s) for _, _, e, s in cases]

    blob = os.urandom(32)
    cred, _ = imported(4, credBlob=b64u(blob))
    _, view = check(d, "POST", "/webauthn/authenticator/imp/credential", cred, expect=201)
    assert view["hasCredBlob"] is True
    a, _ = flags_of(ctap, bytes([4]) * 16, extensions={"credBlob": True})
    assert a.auth_data.extensions["credBlob"] == blob
    for bad in ({"credBlob": b64u(bytes(33))},
                {"largeBlob": b64u(b"x"), "isResidentCredential": False}):
        cred, _ = imported(5, **bad)
        check(d, "POST", "/webauthn/authenticator/imp/credential", cred, expect=400)
    assert len(d.api("GET", "/webauthn/authenticator/imp/credentials")[1]) == 4


def test_an_imported_large_blob_is_read_by_fido2_clients_large_blob_extension(daemons):
    """WebDriver's largeBlob: python-fido2's client reads it with the credential's largeBlobKey
    (and inflates it with zlib), as a browser would; the array's limit is a 409."""
    d = daemons()
    sock = synced_key(d, "lb", False, False)
    blob = b"written by the test harness, " * 20
    cred, _ = imported(7, largeBlob=b64u(blob))
    check(d, "POST", "/webauthn/authenticator/lb/credential", cred, expect=201)
    cl = Fido2Client(open_device(sock), DefaultClientDataCollector(ORIGIN), Touch())
    selection = cl.get_assertion({"challenge": os.urandom(32), "rpId": RP_ID,
                                  "userVerification": "discouraged",
                                  "extensions": {"largeBlob": {"read": True}}})
    response = selection.get_response(0)
    assert response.raw_id == bytes([7]) * 16
    assert response.client_extension_results.large_blob.blob == blob
    cred, _ = imported(8, largeBlob=b64u(os.urandom(5000)))
    check(d, "POST", "/webauthn/authenticator/lb/credential", cred, expect=409)
    assert len(d.api("GET", "/webauthn/authenticator/lb/credentials")[1]) == 1
