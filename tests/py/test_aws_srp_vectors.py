"""Judge: the device SRP vector (tests/vectors/cognito_device_srp.json) recomputed with pycognito.

The client's and the stand-in's Rust unit tests check their own maths against the same file
(src/aws/srp.rs, src/emulator/cognito/srp.rs), so pycognito cross-checks both on fixed inputs:
the DeviceSecretVerifierConfig that ConfirmDevice gets (pycognito's generate_hash_device with its
random password and salt fixed), SRP_A, and the DEVICE_PASSWORD_VERIFIER answer
(process_device_challenge with its small a and its clock fixed). SRP_B is a server's
k·v + g^b for a fixed b, and the server's key (A·v^u)^b is checked to be the client's.
"""
import base64
import datetime
import hashlib
import json
import pathlib

import pytest
from pycognito import aws_srp

VECTOR = json.loads((pathlib.Path(__file__).parents[1] / "vectors" /
                     "cognito_device_srp.json").read_text())
N = aws_srp.hex_to_long(aws_srp.N_HEX)
G = aws_srp.hex_to_long(aws_srp.G_HEX)


def seeded(seed, length):
    """SHA-256(seed) repeated to `length` bytes (the vector's a and b)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return (digest * (length // 32 + 1))[:length]


def b64_of_hex(h):
    return base64.standard_b64encode(bytes.fromhex(h)).decode()


@pytest.fixture
def fixed_random(monkeypatch):
    """os.urandom as pycognito's generate_hash_device calls it: the 40-byte device password,
    then the 16-byte salt, from the vector."""
    password = base64.standard_b64decode(VECTOR["device_password"])
    salt = bytes.fromhex(VECTOR["salt_hex"]).lstrip(b"\0")
    queue = {40: password, 16: salt}
    monkeypatch.setattr(aws_srp.os, "urandom", lambda n: queue.pop(n))
    return queue


@pytest.fixture
def fixed_clock(monkeypatch):
    t = datetime.datetime.fromtimestamp(VECTOR["unix_time"], datetime.timezone.utc)

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return t.replace(tzinfo=None)

    class Module:
        datetime = Fixed

    monkeypatch.setattr(aws_srp, "datetime", Module)


def device_srp():
    srp = aws_srp.AWSSRP("alice", "unused", "us-east-1_AbCdEfGhI", "client", pool_region="us-east-1",
                         device_key=VECTOR["device_key"],
                         device_group_key=VECTOR["device_group_key"],
                         device_password=VECTOR["device_password"])
    srp.small_a_value = int.from_bytes(seeded(VECTOR["a_seed"], 128), "big") % N
    srp.large_a_value = srp.calculate_a()
    return srp


def test_the_device_verifier_is_pycognitos(fixed_random):
    password, config = aws_srp.generate_hash_device(VECTOR["device_group_key"],
                                                    VECTOR["device_key"])
    assert not fixed_random, "generate_hash_device drew other random values than expected"
    assert password == VECTOR["device_password"]
    assert config == {"PasswordVerifier": b64_of_hex(VECTOR["verifier_hex"]),
                      "Salt": b64_of_hex(VECTOR["salt_hex"])}


def test_the_device_password_verifier_answer_is_pycognitos(fixed_clock):
    srp = device_srp()
    assert aws_srp.long_to_hex(srp.large_a_value) == VECTOR["srp_a_hex"]
    answer = srp.process_device_challenge({
        "USERNAME": "alice", "SALT": VECTOR["salt_hex"], "SRP_B": VECTOR["srp_b_hex"],
        "SECRET_BLOCK": VECTOR["secret_block"]})
    assert answer["TIMESTAMP"] == VECTOR["timestamp"]
    assert answer["PASSWORD_CLAIM_SIGNATURE"] == VECTOR["signature"]
    assert answer["DEVICE_KEY"] == VECTOR["device_key"]
    key = srp.get_device_authentication_key(
        VECTOR["device_group_key"], VECTOR["device_key"], VECTOR["device_password"],
        int(VECTOR["srp_b_hex"], 16), VECTOR["salt_hex"])
    assert key.hex() == VECTOR["key_hex"]


def test_the_vector_is_one_exchange():
    """B = k·v + g^b for the vector's b, and the server's key (A·v^u)^b is the client's."""
    k = aws_srp.hex_to_long(aws_srp.hex_hash("00" + aws_srp.N_HEX + "0" + aws_srp.G_HEX))
    v = int(VECTOR["verifier_hex"], 16)
    b = int.from_bytes(seeded(VECTOR["b_seed"], 128), "big")
    big_b = (k * v + pow(G, b, N)) % N
    assert aws_srp.long_to_hex(big_b) == VECTOR["srp_b_hex"]
    big_a = int(VECTOR["srp_a_hex"], 16)
    u = aws_srp.calculate_u(big_a, big_b)
    s = pow(big_a * pow(v, u, N) % N, b, N)
    key = aws_srp.compute_hkdf(bytearray.fromhex(aws_srp.pad_hex(s)),
                               bytearray.fromhex(aws_srp.pad_hex(aws_srp.long_to_hex(u))))
    assert key.hex() == VECTOR["key_hex"]
