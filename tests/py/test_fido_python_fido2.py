"""python-fido2 (Yubico's client library) as a judge of the daemon's Unix socket transport:
CTAPHID INIT/PING/WINK, CTAP2 getInfo/makeCredential/getAssertion/getNextAssertion/reset/
selection, CTAP1 register/authenticate. Signatures are verified with `cryptography` over the
authenticator data exactly as a relying party would."""
import hashlib
import os
import struct
import time

import pytest
from cryptography.exceptions import InvalidSignature
from fido2.attestation import InvalidSignature as AttestationSignatureInvalid
from fido2.ctap import CtapError
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY, CTAPHID
from fido2.cose import CoseKey

from fido import daemons  # noqa: F401  (pytest fixture)

RP = {"id": "example.com", "name": "Example"}
ES256 = {"type": "public-key", "alg": -7}
EDDSA = {"type": "public-key", "alg": -8}


def cdh(tag=None):
    return hashlib.sha256((tag or os.urandom(8).hex()).encode()).digest()


def verify_assertion(public_key, assertion, client_data_hash):
    CoseKey.for_alg(public_key[3])(public_key).verify(
        bytes(assertion.auth_data) + client_data_hash, assertion.signature)


def test_ctaphid_init_ping_wink(daemons):
    d = daemons()
    dev = d.device()
    assert dev.version == 2
    assert dev.capabilities & CAPABILITY.CBOR
    assert dev.capabilities & CAPABILITY.WINK
    assert not dev.capabilities & CAPABILITY.NMSG, "U2F (CTAPHID_MSG) is offered"
    for n in (0, 1, 57, 58, 500, 7609):
        data = os.urandom(n)
        assert dev.ping(data) == data, n
    dev.wink()
    # A second host gets its own channel and both keep working.
    other = d.device()
    assert other._channel_id != dev._channel_id
    assert other.ping(b"two") == b"two" and dev.ping(b"one") == b"one"


def test_get_info(daemons):
    info = Ctap2(daemons().device()).get_info()
    assert "FIDO_2_0" in info.versions and "FIDO_2_1" in info.versions
    assert "U2F_V2" in info.versions
    assert info.options.get("rk") is True and info.options.get("up") is True
    assert info.options.get("plat") is False
    assert info.max_msg_size >= 1200
    assert {-7, -8} <= {a["alg"] for a in info.algorithms}
    assert bytes(info.aaguid) != bytes(16)
    assert info.transports == ["usb"]


@pytest.mark.parametrize("alg", [ES256, EDDSA], ids=["ES256", "EdDSA"])
def test_make_credential_and_get_assertion(daemons, alg):
    ctap = Ctap2(daemons().device())
    h = cdh()
    att = ctap.make_credential(h, RP, {"id": b"user-1", "name": "u"}, [alg])
    ad = att.auth_data
    assert ad.rp_id_hash == hashlib.sha256(b"example.com").digest()
    assert ad.is_user_present() and ad.is_attested() and not ad.is_user_verified()
    cred = ad.credential_data
    assert cred.public_key[3] == alg["alg"]
    assert att.fmt == "packed"
    counters = []
    for i in range(3):
        h2 = cdh(f"a{i}")
        a = ctap.get_assertion("example.com", h2, [{"type": "public-key", "id": cred.credential_id}])
        verify_assertion(cred.public_key, a, h2)
        assert a.credential["id"] == cred.credential_id
        counters.append(a.auth_data.counter)
        # A signature over other data does not verify: the check above can fail.
        with pytest.raises(InvalidSignature):
            verify_assertion(cred.public_key, a, cdh("other"))
    assert counters == sorted(set(counters)) and counters[0] >= 1


def test_resident_credentials_and_get_next_assertion(daemons):
    ctap = Ctap2(daemons().device())
    keys = {}
    for user in (b"alice", b"bob", b"carol"):
        att = ctap.make_credential(cdh(), RP, {"id": user, "name": user.decode()}, [ES256],
                                   options={"rk": True})
        keys[user] = att.auth_data.credential_data
    # Another RP's credential must not show up.
    ctap.make_credential(cdh(), {"id": "other.example"}, {"id": b"zed", "name": "z"}, [ES256],
                         options={"rk": True})
    h = cdh()
    first = ctap.get_assertion("example.com", h)
    assert first.number_of_credentials == 3
    seen = [first]
    for _ in range(2):
        seen.append(ctap.get_next_assertion())
    users = [a.user["id"] for a in seen]
    assert sorted(users) == [b"alice", b"bob", b"carol"]
    assert users[0] == b"carol", "newest first"
    for a in seen:
        cred = keys[a.user["id"]]
        assert a.credential["id"] == cred.credential_id
        verify_assertion(cred.public_key, a, h)
    with pytest.raises(CtapError) as e:
        ctap.get_next_assertion()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED
    info = ctap.get_info()
    assert info.remaining_disc_creds == 100 - 4


def test_reset_within_ten_seconds_of_start(daemons):
    d = daemons()
    ctap = Ctap2(d.device())
    ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, [ES256], options={"rk": True})
    assert time.monotonic() - d.started < 9, "the daemon took too long to start"
    ctap.reset()
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("example.com", cdh())
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    assert ctap.get_info().remaining_disc_creds == 100


def test_reset_refused_after_ten_seconds(daemons):
    d = daemons()
    ctap = Ctap2(d.device())
    ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, [ES256], options={"rk": True})
    time.sleep(max(0.0, 10.5 - (time.monotonic() - d.started)))
    with pytest.raises(CtapError) as e:
        ctap.reset()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED
    assert ctap.get_assertion("example.com", cdh()).number_of_credentials in (None, 1)


def test_selection(daemons):
    Ctap2(daemons().device()).selection()


def test_presence_denied(daemons):
    ctap = Ctap2(daemons(presence="deny").device())
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, {"id": b"u", "name": "u"}, [ES256])
    assert e.value.code == CtapError.ERR.OPERATION_DENIED
    with pytest.raises(CtapError) as e:
        ctap.selection()
    assert e.value.code in (CtapError.ERR.OPERATION_DENIED, CtapError.ERR.USER_ACTION_TIMEOUT)
    assert ctap.get_info().remaining_disc_creds == 100


def test_ctap1_register_and_authenticate(daemons):
    ctap1 = Ctap1(daemons().device())
    assert ctap1.get_version() == "U2F_V2"
    app = hashlib.sha256(b"https://u2f.example.com").digest()
    chal = cdh()
    reg = ctap1.register(chal, app)
    reg.verify(app, chal)  # attestation signature over the registration (fido-u2f)
    with pytest.raises(AttestationSignatureInvalid):
        reg.verify(app, cdh("other"))
    # check-only: the key handle is ours, but no signature without a touch.
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(chal, app, reg.key_handle, check_only=True)
    assert e.value.code == 0x6985
    # A key handle for another AppID is not recognised.
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(chal, hashlib.sha256(b"other").digest(), reg.key_handle, check_only=True)
    assert e.value.code == 0x6A80
    counters = []
    for i in range(2):
        c = cdh(f"u2f{i}")
        sig = ctap1.authenticate(c, app, reg.key_handle)
        sig.verify(app, c, reg.public_key)
        with pytest.raises(InvalidSignature):
            sig.verify(app, cdh("other"), reg.public_key)
        assert sig.user_presence & 1
        counters.append(sig.counter)
    assert counters[1] > counters[0]


def test_sigint_stops_cleanly(daemons):
    import signal
    d = daemons()
    assert d.device().ping(b"hi") == b"hi"
    d.stop(signal.SIGINT)  # checks exit code 0 and that the socket file is gone
