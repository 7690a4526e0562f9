"""Issue 14, part 1, on the stand-in: AWS-shaped errors for what it cannot read (413, 408),
read timeouts and a connection cap, IAM's ASCII name pattern, tokens it never issued, and
validation messages that name the member and its value, as AWS writes them."""
import json
import socket
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from emulator.harness import Emulator

pytestmark = pytest.mark.timeout(120)


def emulator_with_read_timeout(ms):
    """A stand-in whose read and idle timeouts are `ms` milliseconds."""
    import os
    os.environ["AUTHSIM_HTTP_READ_TIMEOUT_MS"] = str(ms)
    try:
        return Emulator()
    finally:
        del os.environ["AUTHSIM_HTTP_READ_TIMEOUT_MS"]


@pytest.fixture(scope="module")
def emu():
    e = emulator_with_read_timeout(700)
    yield e
    e.stop()


def post(emu, body, headers):
    req = urllib.request.Request(emu.url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_oversized_bodies_get_aws_shaped_errors(emu):
    big = b"Action=ListUsers&Version=2010-05-08&X=" + b"A" * (5 * 1024 * 1024)
    status, headers, body = post(emu, big, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    assert b"<ErrorResponse" in body and b"<Code>RequestEntityTooLarge</Code>" in body, body[:300]
    status, headers, body = post(
        emu, b'{"X":"' + b"A" * (5 * 1024 * 1024) + b'"}',
        {"Content-Type": "application/x-amz-json-1.1",
         "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools"})
    assert status == 413
    assert json.loads(body)["__type"] == "RequestEntityTooLarge"
    # A declared length over the cap: answered at once, never a timeout.
    host, port = emu.addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=3)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 99999999999\r\n\r\nAction=ListUsers")
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 413 ") and b"RequestEntityTooLarge" in reply, reply
    # A request HTTP cannot parse: AWS-shaped too, not hyper's empty answer.
    for raw, status in [(b"GARBAGE\r\n\r\n", 400),
                        (b"POST /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)]:
        s = socket.create_connection((host, int(port)), timeout=3)
        s.sendall(raw)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        s.close()
        assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:200]
        assert b"<ErrorResponse>" in reply and b"<Code>" in reply, reply


def test_half_sent_requests_time_out(emu):
    host, port = emu.addr.rsplit(":", 1)
    half = []
    for _ in range(50):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        half.append(s)
    slow = socket.create_connection((host, int(port)), timeout=5)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\nAction=")
    time.sleep(2.0)
    for s in half:
        s.settimeout(2)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
    slow.settimeout(3)
    reply = slow.recv(4096)
    assert b" 408 " in reply.split(b"\r\n", 1)[0] and b"RequestTimeout" in reply, reply
    # Still serving.
    with urllib.request.urlopen(emu.url + "/_authsim/health", timeout=10) as r:
        assert r.status == 200


def unvalidated(emu, service):
    """A boto3 client that sends what it is given (botocore checks lengths and ranges itself)."""
    import boto3
    from botocore.config import Config
    from emulator.harness import DUMMY_KEY, DUMMY_SECRET, REGION
    return boto3.client(service, endpoint_url=emu.url, region_name=REGION,
                        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET,
                        config=Config(parameter_validation=False,
                                      retries={"max_attempts": 1, "mode": "standard"}))


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def test_iam_names_are_ascii_and_messages_name_member_and_value(emu):
    iam = unvalidated(emu, "iam")
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="bj\u00f6rn")
    code, msg = error_of(e)
    assert code == "ValidationError" and "[\\w+=,.@-]+" in msg, msg
    sts = unvalidated(emu, "sts")
    with pytest.raises(ClientError) as e:
        sts.get_session_token(SerialNumber="arn:aws:iam::123456789012:mfa/x", TokenCode="12a")
    code, msg = error_of(e)
    assert "'12a'" in msg and "'tokenCode'" in msg, msg
    with pytest.raises(ClientError) as e:
        sts.get_session_token(DurationSeconds=-5)
    code, msg = error_of(e)
    assert "greater than or equal to 900" in msg and "integer" not in msg, msg


def test_cognito_refuses_tokens_it_never_issued(emu):
    idp = unvalidated(emu, "cognito-idp")
    with pytest.raises(ClientError) as e:
        idp.list_user_pools(MaxResults=10, NextToken="garbage-token")
    assert error_of(e)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        idp.list_user_pools(MaxResults=61)
    code, msg = error_of(e)
    assert "'61'" in msg and "'maxResults'" in msg, msg
    names = [idp.create_user_pool(PoolName=f"page-{i}")["UserPool"]["Id"] for i in range(3)]
    seen, token = [], None
    for _ in range(10):
        kw = {"MaxResults": 2}
        if token:
            kw["NextToken"] = token
        out = idp.list_user_pools(**kw)
        seen += [p["Id"] for p in out["UserPools"]]
        token = out.get("NextToken")
        if not token:
            break
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    pool = names[0]
    with pytest.raises(ClientError) as e:
        idp.list_users(UserPoolId=pool, PaginationToken="not-ours")
    assert error_of(e)[0] == "InvalidParameterException"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def storm_emu():
    """A stand-in of its own whose idle connections live 3 s: long enough that none is let go
    while the storm is still being opened on a loaded machine (with the module's 0.7 s, places
    freed up mid-storm and only 39 of 600 were refused in one CI run), short enough to wait
    out."""
    e = emulator_with_read_timeout(3000)
    yield e
    e.stop()


def test_a_connection_storm_is_capped_in_aws_shape_and_its_memory_returned(storm_emu):
    emu = storm_emu
    host, port = emu.addr.rsplit(":", 1)
    with urllib.request.urlopen(emu.url + "/_authsim/health", timeout=10) as r:
        assert r.status == 200
    base = rss_kib(emu.proc.pid)
    conns = []
    for _ in range(600):
        try:
            conns.append(socket.create_connection((host, int(port)), timeout=2))
        except OSError:
            pass
    # Each connection is either refused (503, AWS-shaped) or let in and closed once idle (this
    # stand-in's idle timeout is 3 s, so no place frees up before the whole storm is open).
    import selectors
    sel = selectors.DefaultSelector()
    for s in conns:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    refused = closed = 0
    deadline = time.monotonic() + 30
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            sel.unregister(key.fileobj)
            try:
                data = key.fileobj.recv(512)
            except ConnectionResetError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                assert b"<Code>ServiceUnavailable</Code>" in data, data
                refused += 1
            else:
                assert data == b"", data
                closed += 1
    sel.close()
    assert refused + closed == len(conns), f"{refused} refused, {closed} closed of {len(conns)}"
    assert refused >= 50, f"only {refused} of {len(conns)} connections were refused"
    for s in conns:
        s.close()
    time.sleep(1.0)
    with urllib.request.urlopen(emu.url + "/_authsim/health", timeout=10) as r:
        assert r.status == 200
    after = rss_kib(emu.proc.pid)
    assert after - base < 10 * 1024, f"RSS {base} KiB before, {after} KiB after"
