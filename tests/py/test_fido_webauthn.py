"""Whole WebAuthn ceremonies: python-fido2's Fido2Client plays the browser against the daemon's
socket, and py_webauthn (an independent relying-party library) verifies every registration and
assertion: attestation "none", "packed" self and "packed" x5c chained to the installation CA
exported with `authsim key attestation-ca`, ES256 and EdDSA, discoverable and not, and the
signature counter over repeated assertions and across a daemon restart."""
import json
import os

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.webauthn import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCertificateChain,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import AttestationFormat

from fido import daemons  # noqa: F401  (pytest fixture)

RP_ID = "example.com"
ORIGIN = "https://example.com"
ALGS = {"ES256": -7, "EdDSA": -8}  # py_webauthn 3 has no ES384 (-35); webauthn-rs judges it


class Touch(UserInteraction):
    """The user: touches when asked (the daemon approves by itself), never has a PIN."""

    def __init__(self):
        self.prompts = 0

    def prompt_up(self):
        self.prompts += 1

    def request_pin(self, permissions, rp_id):
        return None

    def request_uv(self, permissions, rp_id):
        return False


def client(daemon):
    return Fido2Client(daemon.device(), DefaultClientDataCollector(ORIGIN), Touch())


def client_at(socket_path):
    """A WebAuthn client for a key on another socket of the same daemon."""
    from fido import open_device
    return Fido2Client(open_device(socket_path), DefaultClientDataCollector(ORIGIN), Touch())


def register(cl, alg, resident, attestation="direct", user=b"user-1", exclude=None):
    challenge = os.urandom(32)
    options = PublicKeyCredentialCreationOptions(
        rp=PublicKeyCredentialRpEntity(id=RP_ID, name="Example"),
        user=PublicKeyCredentialUserEntity(id=user, name="alice", display_name="Alice"),
        challenge=challenge,
        pub_key_cred_params=[PublicKeyCredentialParameters(
            type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)],
        exclude_credentials=exclude,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED if resident
            else ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.DISCOURAGED),
        attestation=AttestationConveyancePreference(attestation),
    )
    return challenge, cl.make_credential(options)


def authenticate(cl, allow=None):
    challenge = os.urandom(32)
    options = PublicKeyCredentialRequestOptions(
        challenge=challenge, rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(
            type=PublicKeyCredentialType.PUBLIC_KEY, id=i) for i in (allow or [])] or None,
        user_verification=UserVerificationRequirement.DISCOURAGED)
    selection = cl.get_assertion(options)
    return challenge, selection.get_response(0), selection


def as_json(response):
    return json.dumps(dict(response))


def rp_register(challenge, response, roots=None):
    return verify_registration_response(
        credential=as_json(response), expected_challenge=challenge, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, require_user_verification=False,
        pem_root_certs_bytes_by_fmt=roots)


def rp_authenticate(challenge, response, verified, count):
    return verify_authentication_response(
        credential=as_json(response), expected_challenge=challenge, expected_rp_id=RP_ID,
        expected_origin=ORIGIN, credential_public_key=verified.credential_public_key,
        credential_current_sign_count=count, require_user_verification=False)


@pytest.mark.parametrize("resident", [False, True], ids=["non-resident", "resident"])
@pytest.mark.parametrize("alg", list(ALGS), ids=list(ALGS))
@pytest.mark.parametrize("mode", ["none", "self", "x5c"])
def test_ceremonies_verified_by_py_webauthn(daemons, mode, alg, resident):
    d = daemons(attestation=mode)
    roots = {AttestationFormat.PACKED: [d.ca_pem()]}
    cl = client(d)
    challenge, reg = register(cl, ALGS[alg], resident)
    verified = rp_register(challenge, reg, roots)
    expected_fmt = {"none": AttestationFormat.NONE, "self": AttestationFormat.PACKED,
                    "x5c": AttestationFormat.PACKED}[mode]
    assert verified.fmt == expected_fmt
    att_stmt = reg.response.attestation_object.att_stmt
    assert ("x5c" in att_stmt) == (mode == "x5c")
    assert verified.credential_id == reg.raw_id
    assert verified.user_verified is False
    assert verified.aaguid == "61757468-7369-6d2d-6677-2d73696d0001"

    count = verified.sign_count
    previous = None
    for _ in range(3):
        ch, resp, selection = authenticate(cl, None if resident else [reg.raw_id])
        assert resp.raw_id == reg.raw_id
        if resident:
            assert resp.response.user_handle == b"user-1"
        result = rp_authenticate(ch, resp, verified, count)
        assert result.new_sign_count > count
        count = result.new_sign_count
        previous = (ch, resp)
    # Replaying an older assertion is caught by the counter (and a fresh challenge).
    with pytest.raises(InvalidAuthenticationResponse):
        rp_authenticate(previous[0], previous[1], verified, count)
    # A different challenge fails: the verification above can fail.
    with pytest.raises(InvalidAuthenticationResponse):
        rp_authenticate(os.urandom(32), previous[1], verified, count - 1)


def test_x5c_chain_rejected_under_another_installations_ca(daemons):
    d = daemons(attestation="x5c")
    other = daemons(attestation="x5c")
    assert other.ca_pem() != d.ca_pem(), "each installation has its own CA"
    challenge, reg = register(client(d), -7, False)
    with pytest.raises((InvalidRegistrationResponse, InvalidCertificateChain)):
        rp_register(challenge, reg, {AttestationFormat.PACKED: [other.ca_pem()]})
    rp_register(challenge, reg, {AttestationFormat.PACKED: [d.ca_pem()]})


def test_attestation_ca_is_installation_wide_and_stable(daemons, tmp_path):
    d = daemons(state_dir=str(tmp_path), key="first")
    pem = d.ca_pem()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    der = tmp_path / "ca.der"
    assert d.cli("key", "attestation-ca", "--der", str(der)).stdout.encode() == pem
    from cryptography import x509
    cert = x509.load_der_x509_certificate(der.read_bytes())
    assert cert.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.PEM) == pem
    # A second key of the same installation (added over the API) is attested by the same CA.
    sock = str(tmp_path / "second.sock")
    status, key, _ = d.api("POST", "/webauthn/authenticator", {"name": "second", "hidSocket": sock})
    assert status == 201, key
    challenge, reg = register(client_at(sock), -7, False)
    rp_register(challenge, reg, {AttestationFormat.PACKED: [pem]})


def test_excluded_credential_is_refused(daemons):
    d = daemons()
    cl = client(d)
    challenge, reg = register(cl, -7, True)
    verified = rp_register(challenge, reg)
    with pytest.raises(ClientError) as e:
        register(cl, -7, True, user=b"user-2", exclude=[PublicKeyCredentialDescriptor(
            type=PublicKeyCredentialType.PUBLIC_KEY, id=reg.raw_id)])
    assert e.value.code == ClientError.ERR.DEVICE_INELIGIBLE
    # Nothing changed: the one credential still signs, and is the only one.
    ch, resp, selection = authenticate(cl)
    assert len(selection.get_assertions()) == 1
    rp_authenticate(ch, resp, verified, verified.sign_count)


def test_persistence_across_restart(daemons, tmp_path):
    state = str(tmp_path)
    d = daemons(state_dir=state)
    cl = client(d)
    roots = {AttestationFormat.PACKED: [d.ca_pem()]}
    ch, reg_rk = register(cl, -7, True, user=b"resident-user")
    v_rk = rp_register(ch, reg_rk, roots)
    ch, reg_nr = register(cl, -8, False, user=b"plain-user")
    v_nr = rp_register(ch, reg_nr, roots)
    counts = {}
    for reg, v, allow in ((reg_rk, v_rk, None), (reg_nr, v_nr, [reg_nr.raw_id])):
        ch, resp, _ = authenticate(cl, allow)
        counts[reg.raw_id] = rp_authenticate(ch, resp, v, v.sign_count).new_sign_count
    d.stop()

    d2 = daemons(state_dir=state)
    assert d2.ca_pem() == roots[AttestationFormat.PACKED][0], "the CA survives a restart"
    cl2 = client(d2)
    ch, resp, _ = authenticate(cl2)  # discoverable: found without an allow list
    assert resp.raw_id == reg_rk.raw_id
    r = rp_authenticate(ch, resp, v_rk, counts[reg_rk.raw_id])
    assert r.new_sign_count == counts[reg_rk.raw_id] + 1, "the counter continues"
    ch, resp, _ = authenticate(cl2, [reg_nr.raw_id])
    r = rp_authenticate(ch, resp, v_nr, counts[reg_nr.raw_id])
    # (python-fido2 first probes the allow list with a silent up=false assertion, which
    # counts too, so the step is 2; a counter that restarted would fail this.)
    assert r.new_sign_count > counts[reg_nr.raw_id]


def test_key_names_are_separate_keys(daemons, tmp_path):
    a = daemons(state_dir=str(tmp_path), key="a")
    sock = str(tmp_path / "b.sock")
    status, _, _ = a.api("POST", "/webauthn/authenticator", {"name": "b", "hidSocket": sock})
    assert status == 201
    register(client(a), -7, True)
    with pytest.raises(ClientError):
        authenticate(client_at(sock))
    # One daemon per state directory: a second one is refused and says why.
    p = a.cli("daemon", "--no-uhid", "--hid-socket", str(tmp_path / "x.sock"), "--key", "c",
              check=False)
    assert p.returncode != 0 and "already running" in p.stderr, p.stderr
