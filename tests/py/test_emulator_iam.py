"""Judge: IAM virtual MFA devices and STS GetSessionToken of `authsim emulator`, with boto3.

Covers create → enable (two consecutive codes) → list → STS with MFA → resync →
deactivate → delete, the exact error codes and messages of wrong, replayed and
off-window codes, tags, quotas, unsigned and malformed requests, unknown actions.
"""

import base64
import uuid

import pyotp
import pytest
from botocore.exceptions import ClientError

from emulator.harness import Emulator

pytestmark = pytest.mark.timeout(120)

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def iam(emu):
    return emu.client("iam")


@pytest.fixture(scope="module")
def sts(emu):
    return emu.client("sts")


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_device(iam, **kwargs):
    out = iam.create_virtual_mfa_device(VirtualMFADeviceName=name("dev"), **kwargs)
    dev = out["VirtualMFADevice"]
    return dev["SerialNumber"], dev["Base32StringSeed"].decode(), dev


def enable(emu, iam, user, serial, seed):
    """Enable with the codes of the previous and the current step."""
    code1, code2 = emu.codes(seed, -1, 0)
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=code1,
        AuthenticationCode2=code2,
    )


INVALID = ("InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)


def test_full_lifecycle(emu, iam, sts):
    user = name("user")
    created = iam.create_user(UserName=user)["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert created["UserId"].startswith("AIDA")

    serial, seed, dev = new_device(iam, Path="/", Tags=[{"Key": "team", "Value": "judges"}])
    device_name = serial.rsplit("/", 1)[1]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/{device_name}"
    assert len(seed) == 64 and len(base64.b32decode(seed)) == 40
    assert dev["QRCodePNG"][:8] == b"\x89PNG\r\n\x1a\n"
    assert dev["Tags"] == [{"Key": "team", "Value": "judges"}]
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert serial in [d["SerialNumber"] for d in unassigned]

    enable(emu, iam, user, serial, seed)
    listed = iam.list_mfa_devices(UserName=user)["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in listed] == [(user, serial)]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    mine = [d for d in assigned if d["SerialNumber"] == serial]
    assert mine and mine[0]["User"]["UserName"] == user and "EnableDate" in mine[0]
    assert serial not in [
        d["SerialNumber"]
        for d in iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    ]
    got = iam.get_mfa_device(SerialNumber=serial)
    assert got["UserName"] == user and got["SerialNumber"] == serial

    # STS: the enable codes are spent; the next step's code works once.
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=emu.code(seed))
    assert error_of(exc) == (
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
        403,
    )
    emu.next_step()
    code = emu.code(seed)
    creds = sts.get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)[
        "Credentials"
    ]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=code)
    assert error_of(exc)[0] == "AccessDenied", "replayed code"
    # Two steps ahead is outside the window.
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=emu.code(seed, 2))
    assert error_of(exc)[0] == "AccessDenied"
    # Without MFA, GetSessionToken still answers.
    assert sts.get_session_token()["Credentials"]["AccessKeyId"].startswith("ASIA")

    # Resync: the device's clock runs five minutes ahead.
    ahead = 10
    r1, r2 = emu.codes(seed, ahead - 1, ahead)
    iam.resync_mfa_device(
        UserName=user, SerialNumber=serial, AuthenticationCode1=r1, AuthenticationCode2=r2
    )
    emu.next_step()
    sts.get_session_token(SerialNumber=serial, TokenCode=emu.code(seed, ahead))
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=emu.code(seed))
    assert error_of(exc)[0] == "AccessDenied", "after resync the server follows the device"

    # Deleting an assigned device or its user conflicts.
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error_of(exc) == ("DeleteConflict", "MFA Device is still in use.", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert error_of(exc) == (
        "DeleteConflict",
        "Cannot delete entity, must delete MFA device first.",
        409,
    )

    iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=emu.code(seed, ahead + 1))
    assert error_of(exc) == (
        "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
        403,
    )
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as exc:
        iam.get_mfa_device(SerialNumber=serial)
    assert error_of(exc)[0] == "NoSuchEntity"
    iam.delete_user(UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=user)
    assert error_of(exc) == ("NoSuchEntity", f"The user with name {user} cannot be found.", 404)


def test_enable_needs_two_consecutive_valid_codes(emu, iam):
    user = name("user")
    iam.create_user(UserName=user)
    serial, seed, _ = new_device(iam)
    c = dict(zip(range(-3, 4), emu.codes(seed, *range(-3, 4))))
    attempts = [
        ("000000", "000000"),
        (c[0], c[-1]),  # reversed
        (c[-1], c[1]),  # a gap
        (c[-3], c[-2]),  # too old
        (c[2], c[3]),  # too new
        (c[0], c[0]),  # same code twice
    ]
    for c1, c2 in attempts:
        with pytest.raises(ClientError) as exc:
            iam.enable_mfa_device(
                UserName=user, SerialNumber=serial, AuthenticationCode1=c1, AuthenticationCode2=c2
            )
        assert error_of(exc) == INVALID, (c1, c2)
    # Another device's codes are not this device's.
    _, other_seed, _ = new_device(iam)
    with pytest.raises(ClientError) as exc:
        enable(emu, iam, user, serial, other_seed)
    assert error_of(exc) == INVALID
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(
            UserName=user, SerialNumber=serial, AuthenticationCode1="12a456", AuthenticationCode2="123456"
        )
    assert error_of(exc)[0] == "ValidationError"
    # The current and the next step's codes work.
    c0, c1 = emu.codes(seed, 0, 1)
    iam.enable_mfa_device(
        UserName=user, SerialNumber=serial, AuthenticationCode1=c0, AuthenticationCode2=c1
    )
    with pytest.raises(ClientError) as exc:
        enable(emu, iam, user, serial, seed)
    assert error_of(exc) == ("EntityAlreadyExists", "MFA Device is already in use.", 409)
    # Resync with spent codes is a replay; with wrong codes, invalid.
    with pytest.raises(ClientError) as exc:
        iam.resync_mfa_device(
            UserName=user, SerialNumber=serial, AuthenticationCode1=c0, AuthenticationCode2=c1
        )
    assert error_of(exc) == INVALID
    with pytest.raises(ClientError) as exc:
        iam.resync_mfa_device(
            UserName=user, SerialNumber=serial, AuthenticationCode1="111111", AuthenticationCode2="222222"
        )
    assert error_of(exc) == INVALID


def test_entity_errors(emu, iam):
    user = name("user")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=user)
    assert error_of(exc) == ("EntityAlreadyExists", f"User with name {user} already exists.", 409)
    dev_name = name("dev")
    iam.create_virtual_mfa_device(VirtualMFADeviceName=dev_name)
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName=dev_name)
    assert error_of(exc) == (
        "EntityAlreadyExists",
        "MFADevice entity at the same path and name already exists.",
        409,
    )
    serial = f"arn:aws:iam::{ACCOUNT}:mfa/{dev_name}"
    with pytest.raises(ClientError) as exc:
        enable(emu, iam, "nobody-here", serial, pyotp.random_base32())
    assert error_of(exc) == ("NoSuchEntity", "The user with name nobody-here cannot be found.", 404)
    missing = f"arn:aws:iam::{ACCOUNT}:mfa/missing-device"
    with pytest.raises(ClientError) as exc:
        enable(emu, iam, user, missing, pyotp.random_base32())
    assert error_of(exc)[0:3:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    assert error_of(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=missing)
    assert error_of(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.list_mfa_devices(UserName="nobody-here")
    assert error_of(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="bad name!")
    assert error_of(exc)[0] == "ValidationError"
    with pytest.raises(ClientError) as exc:
        iam.list_virtual_mfa_devices(AssignmentStatus="Sometimes")
    assert error_of(exc)[0] == "ValidationError"
    path_dev = iam.create_virtual_mfa_device(VirtualMFADeviceName=name("dev"), Path="/team/")
    assert ":mfa/team/" in path_dev["VirtualMFADevice"]["SerialNumber"]


def test_device_quota_per_user(emu, iam):
    user = name("user")
    iam.create_user(UserName=user)
    for _ in range(8):
        serial, seed, _ = new_device(iam)
        enable(emu, iam, user, serial, seed)
    serial, seed, _ = new_device(iam)
    with pytest.raises(ClientError) as exc:
        enable(emu, iam, user, serial, seed)
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for MfaDevicesPerUser: 8", 409)
    assert len(iam.list_mfa_devices(UserName=user)["MFADevices"]) == 8
    page = iam.list_mfa_devices(UserName=user, MaxItems=3)
    assert page["IsTruncated"] and len(page["MFADevices"]) == 3
    rest = iam.list_mfa_devices(UserName=user, Marker=page["Marker"])
    assert len(rest["MFADevices"]) == 5 and not rest["IsTruncated"]


def test_tags(emu, iam):
    serial, _, _ = new_device(iam)
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "<2>"}])
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "a", "Value": "3"}])
    tags = iam.list_mfa_device_tags(SerialNumber=serial)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "3"), ("b", "<2>")]
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["a"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "b", "Value": "<2>"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_mfa_device(
            SerialNumber=serial, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        )
    assert error_of(exc)[0:3:2] == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as exc:
        iam.list_mfa_device_tags(SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/none-such")
    assert error_of(exc)[0] == "NoSuchEntity"


def test_access_keys_identify_the_caller(emu, iam, sts):
    alice, bob = name("alice"), name("bob")
    iam.create_user(UserName=alice)
    iam.create_user(UserName=bob)
    key = iam.create_access_key(UserName=alice)["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    as_alice = emu.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    sts_alice = emu.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert as_alice.get_user()["User"]["UserName"] == alice
    assert sts_alice.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{alice}"
    # Signatures made with a key the stand-in issued are verified.
    forged = emu.client("iam", key["AccessKeyId"], "not-the-secret-access-key-at-all-000000")
    with pytest.raises(ClientError) as exc:
        forged.get_user()
    assert error_of(exc)[0:3:2] == ("SignatureDoesNotMatch", 403)
    idp_alice = emu.client("cognito-idp", key["AccessKeyId"], key["SecretAccessKey"])
    assert "UserPools" in idp_alice.list_user_pools(MaxResults=5)
    idp_forged = emu.client("cognito-idp", key["AccessKeyId"], "not-the-secret-access-key-at-all-000000")
    with pytest.raises(ClientError) as exc:
        idp_forged.list_user_pools(MaxResults=5)
    assert error_of(exc)[0] == "InvalidSignatureException"

    mine, my_seed, _ = new_device(iam)
    enable(emu, iam, alice, mine, my_seed)
    theirs, their_seed, _ = new_device(iam)
    enable(emu, iam, bob, theirs, their_seed)
    assert [d["SerialNumber"] for d in as_alice.list_mfa_devices()["MFADevices"]] == [mine]

    emu.next_step()
    # Bob's device is not associated with Alice.
    with pytest.raises(ClientError) as exc:
        sts_alice.get_session_token(SerialNumber=theirs, TokenCode=emu.code(their_seed))
    assert error_of(exc) == (
        "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
        403,
    )
    sts_alice.get_session_token(SerialNumber=mine, TokenCode=emu.code(my_seed))

    # Session credentials act as the caller that asked for them, as on AWS: GetCallerIdentity
    # names Alice, her own calls see her devices, and their signatures are checked with their
    # own secret.
    creds = sts_alice.get_session_token(SerialNumber=mine, TokenCode=emu.code(my_seed, 1))[
        "Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert emu.client("sts", *session).get_caller_identity()["Arn"] == \
        f"arn:aws:iam::{ACCOUNT}:user/{alice}"
    assert [d["SerialNumber"] for d in
            emu.client("iam", *session).list_mfa_devices()["MFADevices"]] == [mine]
    with pytest.raises(ClientError) as exc:
        emu.client("sts", creds["AccessKeyId"], "not-the-secret-access-key-at-all-000000",
                   creds["SessionToken"]).get_caller_identity()
    assert error_of(exc)[0:3:2] == ("SignatureDoesNotMatch", 403)
    # The account's root gets root's sessions.
    root = sts.get_session_token()["Credentials"]
    assert emu.client("sts", root["AccessKeyId"], root["SecretAccessKey"],
                      root["SessionToken"]).get_caller_identity()["Arn"] == \
        f"arn:aws:iam::{ACCOUNT}:root"

    iam.create_access_key(UserName=alice)
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=alice)
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    keys = iam.list_access_keys(UserName=alice)["AccessKeyMetadata"]
    assert len(keys) == 2 and all(k["Status"] == "Active" for k in keys)
    iam.deactivate_mfa_device(UserName=alice, SerialNumber=mine)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=alice)
    assert error_of(exc) == (
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
        409,
    )
    for k in keys:
        iam.delete_access_key(UserName=alice, AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName=alice)


def test_sts_validation(emu, sts):
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(
            SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/not-there", TokenCode="123456"
        )
    assert error_of(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/x1", TokenCode="12345a")
    assert error_of(exc)[0] == "ValidationError"
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(DurationSeconds=100000000)
    assert error_of(exc)[0] == "ValidationError"
    ident = sts.get_caller_identity()
    assert ident["Account"] == ACCOUNT


SIGNED = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{svc}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def test_unsigned_and_malformed_requests(emu):
    body = "Action=ListVirtualMFADevices&Version=2010-05-08"
    status, _, text = emu.raw(body, FORM)
    assert status == 403
    assert "<Code>MissingAuthenticationToken</Code>" in text
    assert "<ErrorResponse" in text and "<Type>Sender</Type>" in text and "<RequestId>" in text
    status, _, text = emu.raw(
        body, {**FORM, "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request",
               "X-Amz-Date": "20260101T000000Z"}
    )
    assert status == 400 and "<Code>IncompleteSignature</Code>" in text
    status, _, text = emu.raw(
        body, {**FORM, "Authorization": SIGNED.format(svc="iam"), "X-Amz-Date": "20260101T000000Z"}
    )
    assert status == 200 and "<ListVirtualMFADevicesResult>" in text
    # GetSessionToken signed for IAM is not an IAM action; unknown actions are clear errors.
    status, _, text = emu.raw(
        "Action=GetSessionToken&Version=2010-05-08",
        {**FORM, "Authorization": SIGNED.format(svc="iam"), "X-Amz-Date": "20260101T000000Z"},
    )
    assert status == 400 and "<Code>InvalidAction</Code>" in text
    status, _, text = emu.raw(
        "Action=CreateRole&Version=2010-05-08",
        {**FORM, "Authorization": SIGNED.format(svc="iam"), "X-Amz-Date": "20260101T000000Z"},
    )
    assert status == 400 and "<Code>InvalidAction</Code>" in text
    assert "Could not find operation CreateRole for version 2010-05-08" in text
    status, _, text = emu.raw(
        "Action=GetSessionToken&Version=2011-06-15",
        {**FORM, "Authorization": SIGNED.format(svc="sts"), "X-Amz-Date": "20260101T000000Z"},
    )
    assert status == 200 and "<GetSessionTokenResult>" in text


def test_unknown_action_with_boto3(emu, iam):
    # botocore can only send actions it knows; send a real one under the wrong version.
    status, _, text = emu.raw(
        "Action=ListUsers&Version=2099-01-01",
        {**FORM, "Authorization": SIGNED.format(svc="iam"), "X-Amz-Date": "20260101T000000Z"},
    )
    assert status == 400 and "<Code>InvalidAction</Code>" in text
    assert iam.list_users()["Users"] is not None
