"""Malformed input over the daemon's transports: each gets the protocol's own error, and
nothing changes (no credential made, no counter moved, the channel still works)."""
import hashlib
import os
import socket
import struct
import time

import pytest
from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2

from fido import BROADCAST, RawHid, UdpConnection, daemons, open_udp_device  # noqa: F401

RP = {"id": "example.com", "name": "Example"}
ES256 = {"type": "public-key", "alg": -7}

# CTAPHID_ERROR codes (CTAP 2.1 §11.2.9.1.6).
ERR_INVALID_CMD, ERR_INVALID_LEN, ERR_INVALID_SEQ = 0x01, 0x03, 0x04
ERR_MSG_TIMEOUT, ERR_CHANNEL_BUSY, ERR_INVALID_CHANNEL = 0x05, 0x06, 0x0B
# CTAP2 status codes.
CTAP1_ERR_INVALID_COMMAND, CTAP1_ERR_INVALID_LENGTH = 0x01, 0x03
CBOR_UNEXPECTED_TYPE, INVALID_CBOR, MISSING_PARAMETER = 0x11, 0x12, 0x14
CREDENTIAL_EXCLUDED, NO_CREDENTIALS = 0x19, 0x2E


def h(tag):
    return hashlib.sha256(tag.encode()).digest()


class Witness:
    """A resident and a non-resident credential whose counters prove nothing else signed."""

    def __init__(self, daemon):
        self.ctap = Ctap2(daemon.device())
        self.rk = self.ctap.make_credential(h("w1"), RP, {"id": b"witness", "name": "w"}, [ES256],
                                            options={"rk": True}).auth_data.credential_data
        self.nr = self.ctap.make_credential(h("w2"), RP, {"id": b"plain", "name": "p"},
                                            [ES256]).auth_data.credential_data
        self.counts = {i: self._count(i) for i in (self.rk.credential_id, self.nr.credential_id)}
        self.remaining = self.ctap.get_info().remaining_disc_creds

    def _count(self, cred_id):
        return self.ctap.get_assertion(
            "example.com", h("c"), [{"type": "public-key", "id": cred_id}]).auth_data.counter

    def assert_unchanged(self):
        assert self.ctap.get_info().remaining_disc_creds == self.remaining, "credentials changed"
        found = self.ctap.get_assertion("example.com", h("all"))
        assert (found.number_of_credentials or 1) == 1
        assert found.credential["id"] == self.rk.credential_id
        self.counts[self.rk.credential_id] += 1
        for cred_id in self.counts:
            got = self._count(cred_id)
            assert got == self.counts[cred_id] + 1, "a counter moved"
            self.counts[cred_id] = got


def expect_error(raw, cid, code):
    cmd, data = raw.response(cid)
    assert cmd == 0x3F, f"expected CTAPHID_ERROR, got command 0x{cmd:02x} {data.hex()}"
    assert data[:1] == bytes([code]), f"expected error 0x{code:02x}, got {data.hex()}"


def assert_quiet(raw, seconds=0.3):
    raw.conn.sock.settimeout(seconds)
    try:
        extra = raw.recv()
    except socket.timeout:
        return
    finally:
        raw.conn.sock.settimeout(5.0)
    raise AssertionError(f"unexpected report {extra.hex()}")


def test_ctaphid_framing_errors(daemons):
    d = daemons()
    w = Witness(d)
    raw = RawHid(d.path)
    cid = raw.init()
    ping = 0x01
    # Channel 0 is reserved; unallocated channels are refused.
    raw.send(struct.pack(">IBH", 0, 0x80 | ping, 1) + b"x")
    expect_error(raw, 0, ERR_INVALID_CHANNEL)
    raw.send(struct.pack(">IBH", 0x12345678, 0x80 | ping, 1) + b"x")
    expect_error(raw, 0x12345678, ERR_INVALID_CHANNEL)
    # INIT must carry an 8-byte nonce.
    raw.send(struct.pack(">IBH", BROADCAST, 0x86, 7) + b"1234567")
    expect_error(raw, BROADCAST, ERR_INVALID_LEN)
    # Only INIT may use the broadcast channel.
    raw.send(struct.pack(">IBH", BROADCAST, 0x80 | ping, 1) + b"x")
    expect_error(raw, BROADCAST, ERR_INVALID_CHANNEL)
    # Unknown command.
    raw.send(struct.pack(">IBH", cid, 0x80 | 0x33, 0))
    expect_error(raw, cid, ERR_INVALID_CMD)
    # BCNT beyond the largest message (57 + 128 * 59 = 7609).
    for bcnt in (7610, 0xFFFF):
        raw.send(struct.pack(">IBH", cid, 0x80 | ping, bcnt) + b"a" * 57)
        expect_error(raw, cid, ERR_INVALID_LEN)
    # The largest message itself is fine.
    assert raw.request(ping, b"m" * 7609) == (ping, b"m" * 7609)
    # Wrong sequence number.
    raw.send(struct.pack(">IBH", cid, 0x80 | ping, 100) + b"a" * 57)
    raw.send(struct.pack(">IB", cid, 1) + b"b" * 43)
    expect_error(raw, cid, ERR_INVALID_SEQ)
    # A continuation packet out of the blue is ignored.
    raw.send(struct.pack(">IB", cid, 0) + b"c" * 59)
    assert_quiet(raw)
    # Another channel may not cut into a message being received.
    other = raw.init()
    raw.send(struct.pack(">IBH", cid, 0x80 | ping, 100) + b"a" * 57)
    raw.send(struct.pack(">IBH", other, 0x80 | ping, 1) + b"x")
    expect_error(raw, other, ERR_CHANNEL_BUSY)
    raw.send(struct.pack(">IB", cid, 0) + b"b" * 43)
    assert raw.response(cid) == (ping, b"a" * 57 + b"b" * 43)
    # A message that stops half-way times out (500 ms) and nothing else is said.
    started = time.monotonic()
    raw.send(struct.pack(">IBH", cid, 0x80 | ping, 100) + b"a" * 57)
    expect_error(raw, cid, ERR_MSG_TIMEOUT)
    assert 0.4 < time.monotonic() - started < 3.0
    assert_quiet(raw)
    # The channel still works.
    assert raw.request(ping, b"still here") == (ping, b"still here")
    raw.close()
    w.assert_unchanged()


def test_truncated_reports_at_the_transport(daemons):
    d = daemons()
    w = Witness(d)
    # A host that writes half a report and leaves: the half is dropped.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.path)
    s.sendall(struct.pack(">IBH", BROADCAST, 0x86, 8) + b"12345678"[:3])
    s.close()
    # A whole report followed by a partial one: the whole one is answered.
    raw = RawHid(d.path)
    nonce = os.urandom(8)
    raw.conn.sock.sendall((struct.pack(">IBH", BROADCAST, 0x86, 8) + nonce).ljust(64, b"\0")
                          + b"\xff" * 30)
    r = raw.recv()
    assert r[:7] == struct.pack(">IBH", BROADCAST, 0x86, 17) and r[7:15] == nonce
    assert_quiet(raw)
    raw.close()
    w.assert_unchanged()


def enc_map(pairs):
    """A CBOR map with the pairs in the order given (possibly not canonical)."""
    assert len(pairs) < 24
    return bytes([0xA0 | len(pairs)]) + b"".join(cbor.encode(k) + cbor.encode(v) for k, v in pairs)


MC_PAIRS = [
    (1, h("cdh")),
    (2, {"id": "example.com"}),
    (3, {"id": b"mallory", "name": "m"}),
    (4, [ES256]),
]


@pytest.mark.parametrize("name,payload,status", [
    ("keys out of canonical order", b"\x01" + enc_map([MC_PAIRS[1], MC_PAIRS[0]] + MC_PAIRS[2:]),
     INVALID_CBOR),
    ("integer not in shortest form", b"\x01" + b"\xa4" + b"\x18\x01" + cbor.encode(h("cdh"))
     + b"".join(cbor.encode(k) + cbor.encode(v) for k, v in MC_PAIRS[1:]), INVALID_CBOR),
    ("indefinite-length map", b"\x01\xbf" + b"".join(cbor.encode(k) + cbor.encode(v)
                                                       for k, v in MC_PAIRS) + b"\xff",
     INVALID_CBOR),
    ("trailing bytes", b"\x01" + enc_map(MC_PAIRS) + b"\x00", INVALID_CBOR),
    ("truncated CBOR", b"\x01" + enc_map(MC_PAIRS)[:-3], INVALID_CBOR),
    ("duplicate key", b"\x01" + enc_map(MC_PAIRS[:1] + MC_PAIRS), INVALID_CBOR),
    ("not a map (array)", b"\x01" + cbor.encode([h("cdh"), "example.com"]), CBOR_UNEXPECTED_TYPE),
    ("not a map (text)", b"\x01" + cbor.encode("hello"), CBOR_UNEXPECTED_TYPE),
    ("clientDataHash missing", b"\x01" + enc_map(MC_PAIRS[1:]), MISSING_PARAMETER),
    ("rp missing", b"\x01" + enc_map(MC_PAIRS[:1] + MC_PAIRS[2:]), MISSING_PARAMETER),
    ("user missing", b"\x01" + enc_map(MC_PAIRS[:2] + MC_PAIRS[3:]), MISSING_PARAMETER),
    ("pubKeyCredParams missing", b"\x01" + enc_map(MC_PAIRS[:3]), MISSING_PARAMETER),
    ("clientDataHash of 31 bytes", b"\x01" + enc_map([(1, b"\x11" * 31)] + MC_PAIRS[1:]),
     CTAP1_ERR_INVALID_LENGTH),
    ("rp of the wrong type", b"\x01" + enc_map(MC_PAIRS[:1] + [(2, "example.com")] + MC_PAIRS[2:]),
     CBOR_UNEXPECTED_TYPE),
    ("getAssertion without rpId", b"\x02" + enc_map([(2, h("cdh"))]), MISSING_PARAMETER),
    ("getAssertion without clientDataHash", b"\x02" + enc_map([(1, "example.com")]),
     MISSING_PARAMETER),
    ("unknown CTAP2 command", b"\x55", CTAP1_ERR_INVALID_COMMAND),
])
def test_malformed_cbor_requests(daemons, name, payload, status):
    d = daemons()
    w = Witness(d)
    raw = RawHid(d.path)
    raw.init()
    got, body = raw.cbor(payload)
    assert got == status, f"{name}: expected 0x{status:02x}, got 0x{got:02x}"
    assert body == b""
    raw.close()
    w.assert_unchanged()


def test_empty_cbor_message(daemons):
    d = daemons()
    raw = RawHid(d.path)
    cid = raw.init()
    raw.send(struct.pack(">IBH", cid, 0x90, 0))
    expect_error(raw, cid, ERR_INVALID_LEN)


def test_credential_ids_for_another_rp_or_tampered_are_not_found(daemons):
    d = daemons()
    w = Witness(d)
    ctap = w.ctap
    cred_id = w.nr.credential_id
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("other.example", h("x"), [{"type": "public-key", "id": cred_id}])
    assert e.value.code == NO_CREDENTIALS
    for pos in (0, 1, len(cred_id) // 2, len(cred_id) - 1):
        for bit in (0x01, 0x80):
            bad = bytearray(cred_id)
            bad[pos] ^= bit
            with pytest.raises(CtapError) as e:
                ctap.get_assertion("example.com", h("x"), [{"type": "public-key", "id": bytes(bad)}])
            assert e.value.code == NO_CREDENTIALS, (pos, bit)
    for bad in (cred_id[:-1], cred_id + b"\0", b"", os.urandom(len(cred_id))):
        with pytest.raises(CtapError) as e:
            ctap.get_assertion("example.com", h("x"), [{"type": "public-key", "id": bad}])
        assert e.value.code == NO_CREDENTIALS
    w.assert_unchanged()


def test_excluded_credential_present(daemons):
    d = daemons()
    w = Witness(d)
    for excluded in (w.rk.credential_id, w.nr.credential_id):
        with pytest.raises(CtapError) as e:
            w.ctap.make_credential(h("again"), RP, {"id": b"newbie", "name": "n"}, [ES256],
                                   exclude_list=[{"type": "public-key", "id": os.urandom(32)},
                                                 {"type": "public-key", "id": excluded}],
                                   options={"rk": True})
        assert e.value.code == CREDENTIAL_EXCLUDED
    # An exclude list with only unknown ids does not stop a registration for another RP.
    w.ctap.make_credential(h("ok"), {"id": "other.example"}, {"id": b"x", "name": "x"}, [ES256],
                           exclude_list=[{"type": "public-key", "id": w.nr.credential_id}])
    w.assert_unchanged()


def test_udp_transport(daemons):
    d = daemons(udp=True)
    assert d.udp_addr[0] == "127.0.0.1" and d.udp_addr[1] > 0
    dev = open_udp_device(d.udp_addr)
    assert dev.ping(b"u" * 300) == b"u" * 300
    ctap = Ctap2(dev)
    att = ctap.make_credential(h("udp"), RP, {"id": b"udp", "name": "u"}, [ES256],
                               options={"rk": True})
    # The same key is behind both transports.
    ctap_sock = Ctap2(d.device())
    a = ctap_sock.get_assertion("example.com", h("x"))
    assert a.credential["id"] == att.auth_data.credential_data.credential_id
    # Datagrams that are not exactly one report are dropped without an answer.
    c = UdpConnection(d.udp_addr, timeout=0.3)
    for size in (0, 1, 63, 65, 128):
        c.sock.send(struct.pack(">IBH", BROADCAST, 0x86, 8).ljust(size, b"\0")[:size])
    with pytest.raises(socket.timeout):
        c.sock.recv(4096)
    c.close()


def test_udp_refuses_non_loopback(daemons, tmp_path):
    d = daemons()
    p = d.cli("daemon", "--hid-udp", "0.0.0.0:0", "--key", "other", check=False)
    assert p.returncode != 0 and "loopback" in p.stderr
    # Without a transport flag the daemon still serves (uhid, else a socket it names), so the
    # refusal here is the state directory's lock: one daemon per state directory.
    p = d.cli("daemon", "--key", "other2", check=False)
    assert p.returncode != 0 and "already running" in p.stderr


def test_sealed_state_moved_or_altered_is_refused(daemons, tmp_path):
    import sqlite3
    state = str(tmp_path)
    d = daemons(state_dir=state)
    ctap = Ctap2(d.device())
    ctap.make_credential(h("s"), RP, {"id": b"u", "name": "u"}, [ES256], options={"rk": True})
    d.stop()
    db = sqlite3.connect(os.path.join(state, "authsim.db"))
    rows = db.execute("SELECT ns, key, value FROM records WHERE ns LIKE 'key/default/%'").fetchall()
    assert {r[0] for r in rows} >= {"key/default/meta", "key/default/rk"}
    for ns, key, value in rows:
        assert b"example.com" not in value, f"{ns} stored in the clear"
    ns, key, value = next(r for r in rows if r[0] == "key/default/rk")
    altered = bytearray(value)
    altered[-1] ^= 1
    db.execute("UPDATE records SET value = ? WHERE ns = ? AND key = ?", (bytes(altered), ns, key))
    db.commit()
    db.close()
    p = d.cli("daemon", "--hid-socket", str(tmp_path / "x.sock"), check=False)
    assert p.returncode != 0 and "unusable" in p.stderr, p.stderr
    assert not (tmp_path / "x.sock").exists()
