"""Judge: remembered devices in the Cognito stand-in, driven by boto3 and pycognito.

pycognito computes the device verifier (generate_hash_device) and runs the device SRP
(DEVICE_SRP_AUTH -> DEVICE_PASSWORD_VERIFIER, without a Session) on its own, so these tests
cross-check the stand-in's device SRP against an independent client. Covered: DeviceConfiguration
on CreateUserPool/UpdateUserPool, NewDeviceMetadata, ConfirmDevice, remembered status and the
user-facing vs Admin views, pagination, a remembered device standing in for MFA, refresh bound
to the device, and each refusal with Cognito's error and nothing changed.
"""

import pytest
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP, generate_hash_device

from emulator.cognito import PASSWORD, make_client, make_pool, make_user, unique
from emulator.harness import Emulator

pytestmark = pytest.mark.timeout(120)

PROMPT = {"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": True}
ALWAYS = {"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": False}


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def idp(emu):
    return emu.client("cognito-idp")


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def tracked_pool(idp, devices, mfa="OFF"):
    pool_id = idp.create_user_pool(PoolName=unique("dev-pool"), DeviceConfiguration=devices)[
        "UserPool"
    ]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        MfaConfiguration=mfa,
        SoftwareTokenMfaConfiguration={"Enabled": True},
    )
    client_id, _ = make_client(idp, pool_id)
    return pool_id, client_id


def srp(idp, pool_id, client_id, username, device=None):
    kwargs = {}
    if device:
        kwargs = {
            "device_key": device["key"],
            "device_group_key": device["group"],
            "device_password": device["password"],
        }
    return AWSSRP(
        username=username,
        password=PASSWORD,
        pool_id=pool_id,
        client_id=client_id,
        client=idp,
        **kwargs,
    )


def confirm(idp, result, name="judge device"):
    """ConfirmDevice with pycognito's verifier; returns the device's secrets."""
    meta = result["NewDeviceMetadata"]
    password, config = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    answer = idp.confirm_device(
        AccessToken=result["AccessToken"],
        DeviceKey=meta["DeviceKey"],
        DeviceSecretVerifierConfig=config,
        DeviceName=name,
    )
    device = {"key": meta["DeviceKey"], "group": meta["DeviceGroupKey"], "password": password}
    return device, answer["UserConfirmationNecessary"]


def new_device(idp, pool_id, client_id, username):
    result = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
    device, _ = confirm(idp, result)
    return device, result


def attrs(device):
    return {a["Name"]: a["Value"] for a in device["DeviceAttributes"]}


def admin_devices(idp, pool_id, username):
    return idp.admin_list_devices(UserPoolId=pool_id, Username=username)["Devices"]


def test_new_device_confirm_and_device_sign_in(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    described = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["DeviceConfiguration"] == ALWAYS
    username = make_user(idp, pool_id)

    result = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
    meta = result["NewDeviceMetadata"]
    assert meta["DeviceKey"].startswith("us-east-1_")
    assert meta["DeviceGroupKey"]
    # Issued but unconfirmed: nobody sees it yet.
    assert admin_devices(idp, pool_id, username) == []
    device, necessary = confirm(idp, result)
    assert necessary is False
    [listed] = admin_devices(idp, pool_id, username)
    assert listed["DeviceKey"] == device["key"]
    assert attrs(listed)["dev:device_remembered_status"] == "remembered"
    assert attrs(listed)["device_name"] == "judge device"
    assert listed["DeviceCreateDate"] <= listed["DeviceLastAuthenticatedDate"]
    mine = idp.list_devices(AccessToken=result["AccessToken"])["Devices"]
    assert [d["DeviceKey"] for d in mine] == [device["key"]]
    got = idp.get_device(AccessToken=result["AccessToken"], DeviceKey=device["key"])
    assert got["Device"]["DeviceKey"] == device["key"]

    # pycognito's own device SRP (it sends no Session): tokens bound to the device, no new one.
    emu.advance(5)
    tokens = srp(idp, pool_id, client_id, username, device).authenticate_user()
    auth = tokens["AuthenticationResult"]
    assert "NewDeviceMetadata" not in auth
    claims = idp.get_user(AccessToken=auth["AccessToken"])
    assert claims["Username"] == username
    [after] = admin_devices(idp, pool_id, username)
    assert after["DeviceLastAuthenticatedDate"] > listed["DeviceLastAuthenticatedDate"]


def test_wrong_device_password_and_unknown_device(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    username = make_user(idp, pool_id)
    device, _ = new_device(idp, pool_id, client_id, username)
    before = admin_devices(idp, pool_id, username)

    wrong = dict(device, password=device["password"][:-4] + "AAA=")
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, client_id, username, wrong).authenticate_user()
    assert error_of(exc) == ("NotAuthorizedException", "Incorrect username or password.")
    assert admin_devices(idp, pool_id, username) == before

    # DEVICE_SRP_AUTH naming a device this user does not have.
    other = dict(device, key="us-east-1_00000000-0000-4000-8000-000000000000")
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="DEVICE_SRP_AUTH",
            ChallengeResponses={"USERNAME": username, "DEVICE_KEY": other["key"], "SRP_A": "abc"},
        )
    code, message = error_of(exc)
    assert code == "ResourceNotFoundException" and "device" in message.lower()
    # A well-shaped but wrong key in the claim is refused too, and nothing changed.
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, client_id, username, other).authenticate_user()
    code, message = error_of(exc)
    assert code == "ResourceNotFoundException" and "device" in message.lower()
    assert admin_devices(idp, pool_id, username) == before


def test_forgotten_device_refused_then_retry_without_it(emu, idp):
    """The PASSWORD_VERIFIER answer with a forgotten DEVICE_KEY is ResourceNotFoundException and
    leaves the secret block usable, because amazon-cognito-identity-js retries the same answer
    without DEVICE_KEY."""
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    username = make_user(idp, pool_id)
    device, result = new_device(idp, pool_id, client_id, username)
    idp.forget_device(AccessToken=result["AccessToken"], DeviceKey=device["key"])
    assert admin_devices(idp, pool_id, username) == []
    with pytest.raises(ClientError) as exc:
        idp.forget_device(AccessToken=result["AccessToken"], DeviceKey=device["key"])
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")

    aws = srp(idp, pool_id, client_id, username, device)
    params = aws.get_auth_params()
    assert params["DEVICE_KEY"] == device["key"]
    start = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    responses = aws.process_challenge(start["ChallengeParameters"], params)
    assert responses["DEVICE_KEY"] == device["key"]
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=responses
        )
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")
    del responses["DEVICE_KEY"]
    done = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=responses
    )
    assert "NewDeviceMetadata" in done["AuthenticationResult"]


def test_remembered_status_views_and_pagination(emu, idp):
    pool_id, client_id = tracked_pool(idp, PROMPT)
    username = make_user(idp, pool_id)
    result = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
    device, necessary = confirm(idp, result)
    assert necessary is True
    token = result["AccessToken"]
    # Not remembered: hidden from the user, shown to the administrator.
    assert idp.list_devices(AccessToken=token)["Devices"] == []
    with pytest.raises(ClientError) as exc:
        idp.get_device(AccessToken=token, DeviceKey=device["key"])
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")
    admin = idp.admin_get_device(UserPoolId=pool_id, Username=username, DeviceKey=device["key"])
    assert attrs(admin["Device"])["dev:device_remembered_status"] == "not_remembered"

    idp.update_device_status(
        AccessToken=token, DeviceKey=device["key"], DeviceRememberedStatus="remembered"
    )
    assert [d["DeviceKey"] for d in idp.list_devices(AccessToken=token)["Devices"]] == [
        device["key"]
    ]
    idp.admin_update_device_status(
        UserPoolId=pool_id,
        Username=username,
        DeviceKey=device["key"],
        DeviceRememberedStatus="not_remembered",
    )
    assert idp.list_devices(AccessToken=token)["Devices"] == []
    with pytest.raises(ClientError) as exc:
        idp.update_device_status(
            AccessToken=token, DeviceKey=device["key"], DeviceRememberedStatus="forgotten"
        )
    assert error_of(exc)[0] == "InvalidParameterException"

    # Two more devices, then page through all three, two at a time.
    for _ in range(2):
        more = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
        confirm(idp, more)
    first = idp.admin_list_devices(UserPoolId=pool_id, Username=username, Limit=2)
    assert len(first["Devices"]) == 2 and first["PaginationToken"]
    second = idp.admin_list_devices(
        UserPoolId=pool_id, Username=username, Limit=2, PaginationToken=first["PaginationToken"]
    )
    assert len(second["Devices"]) == 1 and "PaginationToken" not in second
    keys = {d["DeviceKey"] for d in first["Devices"] + second["Devices"]}
    assert len(keys) == 3 and device["key"] in keys
    with pytest.raises(ClientError) as exc:
        idp.admin_list_devices(UserPoolId=pool_id, Username=username, Limit=61)
    assert error_of(exc)[0] == "InvalidParameterException"


def test_confirm_device_refusals(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    username = make_user(idp, pool_id)
    result = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
    meta = result["NewDeviceMetadata"]
    _, config = generate_hash_device(meta["DeviceGroupKey"], meta["DeviceKey"])
    with pytest.raises(ClientError) as exc:
        idp.confirm_device(
            AccessToken=result["AccessToken"],
            DeviceKey="us-east-1_00000000-0000-4000-8000-000000000000",
            DeviceSecretVerifierConfig=config,
        )
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")
    with pytest.raises(ClientError) as exc:
        idp.confirm_device(
            AccessToken=result["AccessToken"],
            DeviceKey=meta["DeviceKey"],
            DeviceSecretVerifierConfig={"PasswordVerifier": "%%%", "Salt": config["Salt"]},
        )
    assert error_of(exc)[0] == "InvalidParameterException"
    assert admin_devices(idp, pool_id, username) == []
    confirm(idp, result)
    with pytest.raises(ClientError) as exc:
        confirm(idp, result)
    assert error_of(exc)[0] == "DeviceKeyExistsException"
    # Another user's token cannot confirm, see or forget this user's device.
    other = make_user(idp, pool_id)
    theirs = srp(idp, pool_id, client_id, other).authenticate_user()["AuthenticationResult"]
    with pytest.raises(ClientError) as exc:
        idp.forget_device(AccessToken=theirs["AccessToken"], DeviceKey=meta["DeviceKey"])
    assert error_of(exc)[0] == "ResourceNotFoundException"
    assert len(admin_devices(idp, pool_id, username)) == 1


def test_remembered_device_stands_in_for_mfa(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS, mfa="ON")
    username = make_user(idp, pool_id)
    # MFA_SETUP enrolls a TOTP; the sign-in that finishes it brings a new device.
    start = srp(idp, pool_id, client_id, username).authenticate_user()
    assert start["ChallengeName"] == "MFA_SETUP"
    assoc = idp.associate_software_token(Session=start["Session"])
    secret = assoc["SecretCode"]
    ver = idp.verify_software_token(Session=assoc["Session"], UserCode=emu.code(secret))
    done = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="MFA_SETUP",
        Session=ver["Session"],
        ChallengeResponses={"USERNAME": username},
    )
    device, _ = confirm(idp, done["AuthenticationResult"])
    # Remembered: the device answers instead of the TOTP code.
    tokens = srp(idp, pool_id, client_id, username, device).authenticate_user()
    assert "AccessToken" in tokens["AuthenticationResult"]

    # Not remembered: TOTP first, then the device proves itself.
    idp.admin_update_device_status(
        UserPoolId=pool_id,
        Username=username,
        DeviceKey=device["key"],
        DeviceRememberedStatus="not_remembered",
    )
    aws = srp(idp, pool_id, client_id, username, device)
    params = aws.get_auth_params()
    start = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    mfa = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="PASSWORD_VERIFIER",
        ChallengeResponses=aws.process_challenge(start["ChallengeParameters"], params),
    )
    assert mfa["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    emu.next_step()
    after_mfa = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="SOFTWARE_TOKEN_MFA",
        Session=mfa["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": emu.code(secret)},
    )
    assert after_mfa["ChallengeName"] == "DEVICE_SRP_AUTH"
    dev = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="DEVICE_SRP_AUTH",
        Session=after_mfa["Session"],
        ChallengeResponses={
            "USERNAME": username,
            "DEVICE_KEY": device["key"],
            "SRP_A": format(aws.large_a_value, "x"),
        },
    )
    assert dev["ChallengeName"] == "DEVICE_PASSWORD_VERIFIER"
    final = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="DEVICE_PASSWORD_VERIFIER",
        ChallengeResponses=aws.process_device_challenge(dev["ChallengeParameters"]),
    )
    assert "AccessToken" in final["AuthenticationResult"]

    # A pool that does not let devices stand in for MFA asks for the code even when remembered.
    idp.update_user_pool(
        UserPoolId=pool_id,
        MfaConfiguration="ON",
        DeviceConfiguration={"ChallengeRequiredOnNewDevice": False},
    )
    idp.admin_update_device_status(
        UserPoolId=pool_id,
        Username=username,
        DeviceKey=device["key"],
        DeviceRememberedStatus="remembered",
    )
    again = srp(idp, pool_id, client_id, username, device)
    params = again.get_auth_params()
    start = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params)
    asked = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="PASSWORD_VERIFIER",
        ChallengeResponses=again.process_challenge(start["ChallengeParameters"], params),
    )
    assert asked["ChallengeName"] == "SOFTWARE_TOKEN_MFA"


def test_refresh_is_bound_to_the_device(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    username = make_user(idp, pool_id)
    result = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    refresh = result["RefreshToken"]
    key = result["NewDeviceMetadata"]["DeviceKey"]

    def refresh_with(**extra):
        return idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh, **extra},
        )

    # Unconfirmed device: refresh refused even with its key.
    with pytest.raises(ClientError) as exc:
        refresh_with(DEVICE_KEY=key)
    assert error_of(exc) == ("NotAuthorizedException", "Invalid Refresh Token")
    device, _ = confirm(idp, result)
    assert refresh_with(DEVICE_KEY=key)["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as exc:
        refresh_with()
    assert error_of(exc) == ("NotAuthorizedException", "Invalid Refresh Token")
    idp.admin_forget_device(UserPoolId=pool_id, Username=username, DeviceKey=device["key"])
    with pytest.raises(ClientError) as exc:
        refresh_with(DEVICE_KEY=key)
    assert error_of(exc) == ("NotAuthorizedException", "Invalid Refresh Token")

    # USER_PASSWORD_AUTH with the forgotten device: refused, naming the device.
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD, "DEVICE_KEY": key},
        )
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")


def test_update_user_pool_resets_what_it_is_not_given(emu, idp):
    pool_id, client_id = tracked_pool(idp, ALWAYS)
    idp.update_user_pool(UserPoolId=pool_id)
    described = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert "DeviceConfiguration" not in described
    username = make_user(idp, pool_id)
    result = srp(idp, pool_id, client_id, username).authenticate_user()["AuthenticationResult"]
    assert "NewDeviceMetadata" not in result
    # Device calls on an untracked pool's user find no device.
    with pytest.raises(ClientError) as exc:
        idp.admin_get_device(
            UserPoolId=pool_id,
            Username=username,
            DeviceKey="us-east-1_00000000-0000-4000-8000-000000000000",
        )
    assert error_of(exc) == ("ResourceNotFoundException", "Device does not exist.")
    with pytest.raises(ClientError) as exc:
        idp.admin_get_device(UserPoolId=pool_id, Username=username, DeviceKey="no-underscore")
    assert error_of(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        idp.admin_list_devices(UserPoolId=pool_id, Username="nobody")
    assert error_of(exc)[0] == "UserNotFoundException"


def test_devices_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    first = Emulator(state_file=state)
    try:
        idp = first.client("cognito-idp")
        pool_id, client_id = tracked_pool(idp, ALWAYS)
        username = make_user(idp, pool_id)
        device, _ = new_device(idp, pool_id, client_id, username)
    finally:
        first.stop()
    second = Emulator(state_file=state)
    try:
        idp = second.client("cognito-idp")
        tokens = srp(idp, pool_id, client_id, username, device).authenticate_user()
        assert "AccessToken" in tokens["AuthenticationResult"]
    finally:
        second.stop()
