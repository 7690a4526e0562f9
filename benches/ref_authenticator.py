#!/usr/bin/env python3
"""The benchmark's reference software authenticator: a minimal CTAP2 authenticator behind the
same transport as `authsim daemon --hid-socket` (raw 64-byte CTAPHID reports over a Unix stream
socket), so that one native client (benches/native/ctap_bench.c) drives both the same way.

  python3 benches/ref_authenticator.py SOCKET_PATH

Prints `ready: SOCKET_PATH` once it listens. ES256 only (keys from `cryptography`), attestation
"none", non-resident credentials kept in a dict (credential id -> key), a global signature
counter in memory: nothing on disk. It answers CTAPHID INIT, PING, CANCEL and CBOR with
authenticatorGetInfo, authenticatorMakeCredential and authenticatorGetAssertion (allow list
only); anything else gets the protocol's error. One thread per connection; a lock keeps the
token's state consistent. Not a conforming authenticator, only a yardstick: no PIN, no
extensions, no user presence prompt, no discoverable credentials.
"""
import hashlib
import os
import socket
import socketserver
import struct
import sys
import threading

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor

REPORT = 64
BROADCAST = 0xFFFFFFFF
INIT, PING, CANCEL, CBOR, ERROR = 0x86, 0x81, 0x91, 0x90, 0xBF
ERR_INVALID_CMD, ERR_INVALID_PAR, ERR_INVALID_LEN, ERR_INVALID_SEQ = 0x01, 0x02, 0x03, 0x04
ERR_INVALID_CHANNEL = 0x0B
CTAP2_ERR_CBOR_UNEXPECTED_TYPE = 0x11
CTAP2_ERR_INVALID_CBOR = 0x12
CTAP2_ERR_MISSING_PARAMETER = 0x14
CTAP2_ERR_UNSUPPORTED_ALGORITHM = 0x26
CTAP2_ERR_NO_CREDENTIALS = 0x2E
CTAP1_ERR_INVALID_COMMAND = 0x01
AAGUID = bytes(16)
ES256 = -7


class Token:
    """The authenticator's state: credentials by id, the counter, the next channel id."""

    def __init__(self):
        self.creds = {}
        self.counter = 0
        self.next_cid = 1
        self.lock = threading.Lock()

    def new_cid(self):
        with self.lock:
            cid = self.next_cid
            self.next_cid += 1
            return cid

    def cbor(self, payload):
        """One authenticator command; returns status byte + CBOR body."""
        if not payload:
            return bytes([CTAP1_ERR_INVALID_COMMAND])
        cmd, body = payload[0], payload[1:]
        try:
            req = cbor.decode(body) if body else {}
        except Exception:  # noqa: BLE001 - any malformed CBOR
            return bytes([CTAP2_ERR_INVALID_CBOR])
        if not isinstance(req, dict):
            return bytes([CTAP2_ERR_CBOR_UNEXPECTED_TYPE])
        if cmd == 0x04:
            return b"\0" + cbor.encode({
                1: ["FIDO_2_0"], 3: AAGUID, 4: {"rk": False, "up": True, "plat": False},
                5: 1200, 10: [{"type": "public-key", "alg": ES256}]})
        if cmd == 0x01:
            return self.make_credential(req)
        if cmd == 0x02:
            return self.get_assertion(req)
        return bytes([CTAP1_ERR_INVALID_COMMAND])

    def make_credential(self, req):
        cdh, rp, params = req.get(1), req.get(2), req.get(4)
        if not isinstance(cdh, bytes) or not isinstance(rp, dict) or not isinstance(params, list):
            return bytes([CTAP2_ERR_MISSING_PARAMETER])
        if not any(isinstance(p, dict) and p.get("alg") == ES256 for p in params):
            return bytes([CTAP2_ERR_UNSUPPORTED_ALGORITHM])
        rp_hash = hashlib.sha256(str(rp.get("id", "")).encode()).digest()
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = os.urandom(32)
        nums = key.public_key().public_numbers()
        cose = cbor.encode({1: 2, 3: ES256, -1: 1, -2: nums.x.to_bytes(32, "big"),
                            -3: nums.y.to_bytes(32, "big")})
        with self.lock:
            self.creds[cred_id] = (rp_hash, key)
            self.counter += 1
            counter = self.counter
        auth_data = (rp_hash + bytes([0x41]) + struct.pack(">I", counter) + AAGUID
                     + struct.pack(">H", len(cred_id)) + cred_id + cose)
        return b"\0" + cbor.encode({1: "none", 2: auth_data, 3: {}})

    def get_assertion(self, req):
        rp_id, cdh, allow = req.get(1), req.get(2), req.get(3)
        if not isinstance(rp_id, str) or not isinstance(cdh, bytes):
            return bytes([CTAP2_ERR_MISSING_PARAMETER])
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        found = None
        for d in allow or []:
            entry = self.creds.get(d.get("id") if isinstance(d, dict) else None)
            if entry and entry[0] == rp_hash:
                found = (d["id"], entry[1])
                break
        if found is None:
            return bytes([CTAP2_ERR_NO_CREDENTIALS])
        with self.lock:
            self.counter += 1
            counter = self.counter
        auth_data = rp_hash + bytes([0x01]) + struct.pack(">I", counter)
        sig = found[1].sign(auth_data + cdh, ec.ECDSA(hashes.SHA256()))
        return b"\0" + cbor.encode({1: {"type": "public-key", "id": found[0]}, 2: auth_data,
                                    3: sig})


def frames(cid, cmd, payload):
    """A CTAPHID message as 64-byte reports."""
    out = [struct.pack(">IBH", cid, cmd, len(payload)) + payload[:57]]
    rest, seq = payload[57:], 0
    while rest:
        out.append(struct.pack(">IB", cid, seq) + rest[:59])
        rest, seq = rest[59:], seq + 1
    return b"".join(f.ljust(REPORT, b"\0") for f in out)


class Handler(socketserver.BaseRequestHandler):
    """One host connection: reassembles requests, answers each in turn."""

    def recv_report(self):
        buf = self.request.recv(REPORT, socket.MSG_WAITALL)
        return buf if len(buf) == REPORT else None

    def handle(self):
        token = self.server.token
        sock = self.request
        while True:
            r = self.recv_report()
            if r is None:
                return
            cid, cmd = struct.unpack(">IB", r[:5])
            if not cmd & 0x80:
                sock.sendall(frames(cid, ERROR, bytes([ERR_INVALID_SEQ])))
                continue
            n = struct.unpack(">H", r[5:7])[0]
            payload = bytearray(r[7:7 + min(n, 57)])
            seq = 0
            while len(payload) < n:
                c = self.recv_report()
                if c is None:
                    return
                if struct.unpack(">I", c[:4])[0] != cid or c[4] != seq:
                    payload = None
                    break
                payload += c[5:5 + min(n - len(payload), 59)]
                seq += 1
            if payload is None:
                sock.sendall(frames(cid, ERROR, bytes([ERR_INVALID_SEQ])))
                continue
            payload = bytes(payload)
            if cmd == INIT:
                if len(payload) != 8:
                    sock.sendall(frames(cid, ERROR, bytes([ERR_INVALID_LEN])))
                    continue
                new = token.new_cid() if cid == BROADCAST else cid
                # nonce, channel, protocol 2, version 0.0.0, capabilities CBOR | NMSG
                reply = payload + struct.pack(">IBBBBB", new, 2, 0, 0, 0, 0x0C)
                sock.sendall(frames(cid, INIT, reply))
            elif cid == BROADCAST or cid == 0:
                sock.sendall(frames(cid, ERROR, bytes([ERR_INVALID_CHANNEL])))
            elif cmd == PING:
                sock.sendall(frames(cid, PING, payload))
            elif cmd == CANCEL:
                continue
            elif cmd == CBOR:
                sock.sendall(frames(cid, CBOR, token.cbor(payload)))
            else:
                sock.sendall(frames(cid, ERROR, bytes([ERR_INVALID_CMD])))


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ref_authenticator.py SOCKET_PATH")
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    server = Server(path, Handler)
    server.token = Token()
    print(f"ready: {path}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        os.unlink(path)


if __name__ == "__main__":
    main()
