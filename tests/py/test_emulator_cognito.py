"""Judge: Cognito user pools of `authsim emulator`, driven by boto3 and pycognito's SRP.

Covers SRP sign-in, MFA_SETUP enrollment with a session, SOFTWARE_TOKEN_MFA sign-in,
replayed and off-window codes, expired sessions (via the clock control), secret hash
enforcement, explicit auth flows, new-password, sign-up confirmation, refresh tokens,
access-token enrollment, SELECT_MFA_TYPE, and JWT verification against the JWKS.
"""

import base64
import hashlib
import hmac

import pytest
from botocore.exceptions import ClientError
from pycognito import Cognito
from pycognito.aws_srp import AWSSRP
from pycognito.exceptions import SoftwareTokenMFAChallengeException

from emulator.cognito import PASSWORD, make_client, make_pool, make_user, unique
from emulator.harness import Emulator

pytestmark = pytest.mark.timeout(120)


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


def srp(idp, pool_id, client_id, username, password=PASSWORD, secret=None):
    return AWSSRP(
        username=username,
        password=password,
        pool_id=pool_id,
        client_id=client_id,
        client=idp,
        client_secret=secret,
    )


def secret_hash(secret, username, client_id):
    mac = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def verify_tokens(emu, pool_id, client_id, result, username):
    """Verify both JWTs with pycognito against the emulator's JWKS and issuer."""
    c = Cognito(
        pool_id,
        client_id,
        username=username,
        boto3_client_kwargs={
            "endpoint_url": emu.url,
            "aws_access_key_id": "x",
            "aws_secret_access_key": "y",
        },
    )
    c.access_token = result["AccessToken"]
    access = c.verify_token(result["AccessToken"], "access_token", "access")
    ident = c.verify_token(result["IdToken"], "id_token", "id")
    assert access["username"] == username
    assert access["client_id"] == client_id
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert ident["cognito:username"] == username
    assert ident["aud"] == client_id
    assert access["sub"] == ident["sub"]
    assert access["origin_jti"] == ident["origin_jti"]
    return access, ident


def enroll_with_mfa_setup(emu, idp, pool_id, client_id, username):
    """SRP sign-in into MFA_SETUP, enroll a TOTP with the session, finish sign-in."""
    resp = srp(idp, pool_id, client_id, username).authenticate_user()
    assert resp["ChallengeName"] == "MFA_SETUP"
    assert "SOFTWARE_TOKEN_MFA" in resp["ChallengeParameters"]["MFAS_CAN_SETUP"]
    assoc = idp.associate_software_token(Session=resp["Session"])
    secret = assoc["SecretCode"]
    assert len(secret) == 32 and len(base64.b32decode(secret)) == 20
    assert assoc["Session"] != resp["Session"]
    ver = idp.verify_software_token(
        Session=assoc["Session"], UserCode=emu.code(secret), FriendlyDeviceName="judge phone"
    )
    assert ver["Status"] == "SUCCESS"
    assert ver["Session"]
    done = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="MFA_SETUP",
        Session=ver["Session"],
        ChallengeResponses={"USERNAME": username},
    )
    return secret, done["AuthenticationResult"]


def srp_to_totp_challenge(idp, pool_id, client_id, username, secret=None):
    with pytest.raises(SoftwareTokenMFAChallengeException) as exc:
        srp(idp, pool_id, client_id, username, secret=secret).authenticate_user()
    tokens = exc.value.get_tokens()
    assert tokens["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    return tokens["Session"]


def answer_totp(idp, client_id, username, session, code, secret=None):
    responses = {"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code}
    if secret:
        responses["SECRET_HASH"] = secret_hash(secret, username, client_id)
    return idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="SOFTWARE_TOKEN_MFA",
        Session=session,
        ChallengeResponses=responses,
    )


def test_srp_mfa_setup_then_totp_sign_in(emu, idp):
    pool_id = make_pool(idp, mfa="ON")
    cfg = idp.get_user_pool_mfa_config(UserPoolId=pool_id)
    assert cfg["MfaConfiguration"] == "ON"
    assert cfg["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)

    secret, result = enroll_with_mfa_setup(emu, idp, pool_id, client_id, username)
    verify_tokens(emu, pool_id, client_id, result, username)
    user = idp.get_user(AccessToken=result["AccessToken"])
    assert user["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert user["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    admin = idp.admin_get_user(UserPoolId=pool_id, Username=username)
    assert admin["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert admin["UserStatus"] == "CONFIRMED"

    # The enrollment code's step is spent: sign in at the next step.
    emu.next_step()
    session = srp_to_totp_challenge(idp, pool_id, client_id, username)
    code = emu.code(secret)
    ok = answer_totp(idp, client_id, username, session, code)
    verify_tokens(emu, pool_id, client_id, ok["AuthenticationResult"], username)

    # The same code again, on a fresh session: a replay.
    session = srp_to_totp_challenge(idp, pool_id, client_id, username)
    with pytest.raises(ClientError) as exc:
        answer_totp(idp, client_id, username, session, code)
    assert error_of(exc) == (
        "ExpiredCodeException",
        "Your software token has already been used once.",
    )

    # Two steps off either way is outside the window; the session survives a wrong code.
    for steps in (2, -2):
        with pytest.raises(ClientError) as exc:
            answer_totp(idp, client_id, username, session, emu.code(secret, steps))
        assert error_of(exc) == ("CodeMismatchException", "Invalid code received for user")

    # One step ahead is inside the window.
    ok = answer_totp(idp, client_id, username, session, emu.code(secret, 1))
    assert "AccessToken" in ok["AuthenticationResult"]

    # An answered session cannot be used again.
    with pytest.raises(ClientError) as exc:
        answer_totp(idp, client_id, username, session, emu.code(secret, 1))
    assert error_of(exc)[0] == "NotAuthorizedException"


def test_expired_session_is_refused(emu, idp):
    pool_id = make_pool(idp, mfa="ON")
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    secret, _ = enroll_with_mfa_setup(emu, idp, pool_id, client_id, username)
    emu.next_step()
    session = srp_to_totp_challenge(idp, pool_id, client_id, username)
    emu.advance(181)
    with pytest.raises(ClientError) as exc:
        answer_totp(idp, client_id, username, session, emu.code(secret))
    assert error_of(exc) == (
        "NotAuthorizedException",
        "Invalid session for the user, session is expired.",
    )


def test_session_is_bound_to_its_user(emu, idp):
    pool_id = make_pool(idp, mfa="ON")
    client_id, _ = make_client(idp, pool_id)
    alice = make_user(idp, pool_id)
    bob = make_user(idp, pool_id)
    secret, _ = enroll_with_mfa_setup(emu, idp, pool_id, client_id, alice)
    emu.next_step()
    session = srp_to_totp_challenge(idp, pool_id, client_id, alice)
    with pytest.raises(ClientError) as exc:
        answer_totp(idp, client_id, bob, session, emu.code(secret))
    assert error_of(exc)[0] == "NotAuthorizedException"
    # Bob's own MFA_SETUP session cannot enroll Alice, and is not an MFA session.
    resp = srp(idp, pool_id, client_id, bob).authenticate_user()
    assert resp["ChallengeName"] == "MFA_SETUP"
    with pytest.raises(ClientError) as exc:
        answer_totp(idp, client_id, bob, resp["Session"], emu.code(secret))
    assert error_of(exc)[0] == "InvalidParameterException"


def test_mfa_setup_requires_verification(emu, idp):
    pool_id = make_pool(idp, mfa="ON")
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    resp = srp(idp, pool_id, client_id, username).authenticate_user()
    first = idp.associate_software_token(Session=resp["Session"])
    again = idp.associate_software_token(Session=first["Session"])
    assert again["SecretCode"] != first["SecretCode"], "a fresh secret per call"
    # The first secret was replaced, so its code no longer verifies.
    with pytest.raises(ClientError) as exc:
        idp.verify_software_token(Session=again["Session"], UserCode=emu.code(first["SecretCode"]))
    assert error_of(exc) == (
        "EnableSoftwareTokenMFAException",
        "Code mismatch and fail enable Software Token MFA",
    )
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="MFA_SETUP",
            Session=again["Session"],
            ChallengeResponses={"USERNAME": username},
        )
    assert error_of(exc)[0] == "InvalidParameterException"
    # A spent session is refused.
    with pytest.raises(ClientError) as exc:
        idp.associate_software_token(Session=resp["Session"])
    assert error_of(exc) == (
        "NotAuthorizedException",
        "Invalid session for the user, session can only be used once.",
    )


def test_wrong_password_and_timestamp_format(emu, idp):
    pool_id = make_pool(idp)
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, client_id, username, password="Wr0ng-Password!").authenticate_user()
    assert error_of(exc) == ("NotAuthorizedException", "Incorrect username or password.")

    # Cognito's timestamp has an unpadded day; a padded one parses but cannot match.
    class Fixed(AWSSRP):
        stamp = None

        @staticmethod
        def get_cognito_formatted_timestamp(_):
            return Fixed.stamp

    Fixed.stamp = "Tue Nov 03 12:00:00 UTC 2026"
    with pytest.raises(ClientError) as exc:
        Fixed(username=username, password=PASSWORD, pool_id=pool_id, client_id=client_id,
              client=idp).authenticate_user()
    assert error_of(exc) == ("NotAuthorizedException", "Incorrect username or password.")
    Fixed.stamp = "2026-11-03T12:00:00Z"
    with pytest.raises(ClientError) as exc:
        Fixed(username=username, password=PASSWORD, pool_id=pool_id, client_id=client_id,
              client=idp).authenticate_user()
    assert error_of(exc) == (
        "InvalidParameterException",
        "TIMESTAMP format should be EEE MMM d HH:mm:ss z yyyy in english.",
    )
    Fixed.stamp = "Tue Nov 3 12:00:00 UTC 2026"
    tokens = Fixed(username=username, password=PASSWORD, pool_id=pool_id, client_id=client_id,
                   client=idp).authenticate_user()
    assert "AccessToken" in tokens["AuthenticationResult"]


def test_unknown_user_errors(emu, idp):
    pool_id = make_pool(idp)
    legacy, _ = make_client(idp, pool_id)
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, legacy, "nobody").authenticate_user()
    assert error_of(exc) == ("UserNotFoundException", "User does not exist.")
    hidden, _ = make_client(idp, pool_id, PreventUserExistenceErrors="ENABLED")
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, hidden, "nobody").authenticate_user()
    assert error_of(exc) == ("NotAuthorizedException", "Incorrect username or password.")


def test_secret_hash_is_enforced(emu, idp):
    pool_id = make_pool(idp)
    client_id, secret = make_client(idp, pool_id, secret=True)
    assert secret and len(secret) >= 40
    username = make_user(idp, pool_id)
    params = {"USERNAME": username, "PASSWORD": PASSWORD}
    for extra in ({}, {"SECRET_HASH": secret_hash("not-the-secret", username, client_id)}):
        with pytest.raises(ClientError) as exc:
            idp.initiate_auth(
                ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={**params, **extra}
            )
        assert error_of(exc) == (
            "NotAuthorizedException",
            f"Unable to verify secret hash for client {client_id}",
        )
    ok = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={**params, "SECRET_HASH": secret_hash(secret, username, client_id)},
    )
    assert "AccessToken" in ok["AuthenticationResult"]
    # SRP with the secret (pycognito adds SECRET_HASH to both legs), and without it.
    tokens = srp(idp, pool_id, client_id, username, secret=secret).authenticate_user()
    refresh = tokens["AuthenticationResult"]["RefreshToken"]
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, client_id, username).authenticate_user()
    assert error_of(exc)[0] == "NotAuthorizedException"
    # Refresh needs the hash too.
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(
            ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh},
        )
    assert error_of(exc)[0] == "NotAuthorizedException"
    again = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={
            "REFRESH_TOKEN": refresh,
            "SECRET_HASH": secret_hash(secret, username, client_id),
        },
    )
    assert "AccessToken" in again["AuthenticationResult"]


def test_explicit_auth_flows_are_enforced(emu, idp):
    pool_id = make_pool(idp)
    client_id, _ = make_client(idp, pool_id, flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    username = make_user(idp, pool_id)
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )
    assert error_of(exc) == (
        "InvalidParameterException",
        "USER_PASSWORD_AUTH flow not enabled for this client",
    )
    pw_only, _ = make_client(idp, pool_id, flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    with pytest.raises(ClientError) as exc:
        srp(idp, pool_id, pw_only, username).authenticate_user()
    assert error_of(exc) == (
        "InvalidParameterException",
        "USER_SRP_AUTH flow not enabled for this client",
    )
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId="nosuchclient", AuthFlow="USER_SRP_AUTH",
                          AuthParameters={"USERNAME": username, "SRP_A": "ab"})
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_new_password_required(emu, idp):
    pool_id = make_pool(idp)
    client_id, _ = make_client(idp, pool_id)
    username = unique("temp")
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": "t@example.com"}],
    )
    assert idp.admin_get_user(UserPoolId=pool_id, Username=username)["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    status, body = emu.control(
        "GET", f"/_authsim/temporary-password?pool={pool_id}&username={username}"
    )
    assert status == 200
    temporary = body["password"]
    resp = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": temporary},
    )
    assert resp["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=resp["Session"],
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": "short"},
        )
    assert error_of(exc)[0] == "InvalidPasswordException"
    done = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": "N3w-Password!"},
    )
    assert "AccessToken" in done["AuthenticationResult"]
    assert idp.admin_get_user(UserPoolId=pool_id, Username=username)["UserStatus"] == "CONFIRMED"
    tokens = srp(idp, pool_id, client_id, username, password="N3w-Password!").authenticate_user()
    assert "IdToken" in tokens["AuthenticationResult"]

    # pycognito's own new-password flow over SRP.
    other = unique("temp")
    idp.admin_create_user(UserPoolId=pool_id, Username=other, TemporaryPassword="Temp-Pass1!",
                          MessageAction="SUPPRESS")
    assert emu.messages(pool_id, other) == []
    c = Cognito(pool_id, client_id, username=other,
                boto3_client_kwargs={"endpoint_url": emu.url, "aws_access_key_id": "x",
                                     "aws_secret_access_key": "y"})
    c.new_password_challenge("Temp-Pass1!", "Final-Pass1!")
    assert c.access_claims["username"] == other


def test_sign_up_and_confirm(emu, idp):
    pool_id = make_pool(idp, AutoVerifiedAttributes=["email"])
    client_id, _ = make_client(idp, pool_id)
    username = unique("signup")
    out = idp.sign_up(
        ClientId=client_id,
        Username=username,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": "signup@example.com"}],
    )
    assert out["UserConfirmed"] is False
    assert out["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert error_of(exc) == ("UserNotConfirmedException", "User is not confirmed.")
    code = emu.confirmation_code(pool_id, username)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ClientError) as exc:
        idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=wrong)
    assert error_of(exc) == (
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
    idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)
    user = idp.admin_get_user(UserPoolId=pool_id, Username=username)
    assert user["UserStatus"] == "CONFIRMED"
    attrs = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attrs["email_verified"] == "true"
    assert attrs["sub"] == out["UserSub"]
    with pytest.raises(ClientError) as exc:
        idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)
    assert error_of(exc)[0] == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:
        idp.sign_up(ClientId=client_id, Username=username, Password=PASSWORD)
    assert error_of(exc)[0] == "UsernameExistsException"
    tokens = srp(idp, pool_id, client_id, username).authenticate_user()
    _, ident = verify_tokens(emu, pool_id, client_id, tokens["AuthenticationResult"], username)
    assert ident["email"] == "signup@example.com"
    assert ident["email_verified"] is True


def test_refresh_and_sign_out(emu, idp):
    pool_id = make_pool(idp)
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    first = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    result = first["AuthenticationResult"]
    refreshed = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})
    new = refreshed["AuthenticationResult"]
    assert "RefreshToken" not in new
    a1, _ = verify_tokens(emu, pool_id, client_id, result, username)
    a2, _ = verify_tokens(emu, pool_id, client_id, new, username)
    assert a1["origin_jti"] == a2["origin_jti"] and a1["jti"] != a2["jti"]
    idp.global_sign_out(AccessToken=new["AccessToken"])
    with pytest.raises(ClientError) as exc:
        idp.get_user(AccessToken=new["AccessToken"])
    assert error_of(exc) == ("NotAuthorizedException", "Access Token has been revoked")
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})
    assert error_of(exc) == ("NotAuthorizedException", "Refresh Token has been revoked")
    # Access tokens expire with the server's clock.
    later = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    emu.advance(3601)
    with pytest.raises(ClientError) as exc:
        idp.get_user(AccessToken=later["AuthenticationResult"]["AccessToken"])
    assert error_of(exc) == ("NotAuthorizedException", "Access Token has expired")
    with pytest.raises(ClientError) as exc:
        idp.get_user(AccessToken="not.a.token")
    assert error_of(exc) == ("NotAuthorizedException", "Invalid Access Token")


def test_optional_mfa_with_access_token_enrollment(emu, idp):
    pool_id = make_pool(idp, mfa="OPTIONAL")
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    access = tokens["AuthenticationResult"]["AccessToken"]
    # Enabling before verifying a token is refused.
    with pytest.raises(ClientError) as exc:
        idp.set_user_mfa_preference(AccessToken=access,
                                    SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    assert error_of(exc) == (
        "InvalidParameterException",
        "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA",
    )
    one = idp.associate_software_token(AccessToken=access)
    two = idp.associate_software_token(AccessToken=access)
    assert "Session" not in one
    assert one["SecretCode"] != two["SecretCode"]
    secret = two["SecretCode"]
    with pytest.raises(ClientError) as exc:
        idp.verify_software_token(AccessToken=access, UserCode=emu.code(secret, 2))
    assert error_of(exc)[0] == "EnableSoftwareTokenMFAException"
    with pytest.raises(ClientError) as exc:
        idp.verify_software_token(AccessToken=access, UserCode="12a456")
    assert error_of(exc)[0] == "InvalidParameterException"
    ok = idp.verify_software_token(AccessToken=access, UserCode=emu.code(secret),
                                   FriendlyDeviceName="judge")
    assert ok["Status"] == "SUCCESS" and "Session" not in ok
    # Verified but not enabled: OPTIONAL pools still sign in without MFA.
    assert "UserMFASettingList" not in idp.get_user(AccessToken=access)
    plain = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert "AuthenticationResult" in plain
    idp.set_user_mfa_preference(AccessToken=access,
                                SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    user = idp.get_user(AccessToken=access)
    assert user["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert user["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    emu.next_step()
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert resp["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert resp["ChallengeParameters"]["FRIENDLY_DEVICE_NAME"] == "judge"
    done = answer_totp(idp, client_id, username, resp["Session"], emu.code(secret))
    assert "AccessToken" in done["AuthenticationResult"]
    # Turning it off again (admin) removes the challenge.
    idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                      SoftwareTokenMfaSettings={"Enabled": False})
    plain = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert "AuthenticationResult" in plain


def test_select_mfa_type_and_sms(emu, idp):
    pool_id = make_pool(idp, mfa="OPTIONAL", sms=True)
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id, attributes=[
        {"Name": "email", "Value": "s@example.com"},
        {"Name": "phone_number", "Value": "+15555550123"},
    ])
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    access = tokens["AuthenticationResult"]["AccessToken"]
    secret = idp.associate_software_token(AccessToken=access)["SecretCode"]
    idp.verify_software_token(AccessToken=access, UserCode=emu.code(secret))
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool_id, Username=username,
        SMSMfaSettings={"Enabled": True}, SoftwareTokenMfaSettings={"Enabled": True},
    )
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert resp["ChallengeName"] == "SELECT_MFA_TYPE"
    assert "SOFTWARE_TOKEN_MFA" in resp["ChallengeParameters"]["MFAS_CAN_CHOOSE"]
    sms = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SELECT_MFA_TYPE", Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "ANSWER": "SMS_MFA"},
    )
    assert sms["ChallengeName"] == "SMS_MFA"
    assert sms["ChallengeParameters"]["CODE_DELIVERY_DESTINATION"].endswith("0123")
    code = emu.messages(pool_id, username, kind="sms_mfa_code")[-1]["value"]
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="SMS_MFA", Session=sms["Session"],
            ChallengeResponses={"USERNAME": username, "SMS_MFA_CODE": "x" + code[1:]},
        )
    assert error_of(exc)[0] == "CodeMismatchException"
    done = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SMS_MFA", Session=sms["Session"],
        ChallengeResponses={"USERNAME": username, "SMS_MFA_CODE": code},
    )
    assert "AccessToken" in done["AuthenticationResult"]
    # Choosing TOTP instead.
    emu.next_step()
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    totp = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SELECT_MFA_TYPE", Session=resp["Session"],
        ChallengeResponses={"USERNAME": username, "ANSWER": "SOFTWARE_TOKEN_MFA"},
    )
    assert totp["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    done = answer_totp(idp, client_id, username, totp["Session"], emu.code(secret))
    assert "AccessToken" in done["AuthenticationResult"]


def test_pool_admin_errors(emu, idp):
    with pytest.raises(ClientError) as exc:
        idp.describe_user_pool(UserPoolId="us-east-1_nosuchpool")
    assert error_of(exc) == (
        "ResourceNotFoundException",
        "User pool us-east-1_nosuchpool does not exist.",
    )
    pool_id = make_pool(idp, totp=False)
    assert pool_id.startswith("us-east-1_")
    assert idp.get_user_pool_mfa_config(UserPoolId=pool_id)["MfaConfiguration"] == "OFF"
    with pytest.raises(ClientError) as exc:
        idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON")
    assert error_of(exc)[0] == "InvalidParameterException"
    username = make_user(idp, pool_id)
    with pytest.raises(ClientError) as exc:
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    assert error_of(exc) == ("UsernameExistsException", "User account already exists")
    with pytest.raises(ClientError) as exc:
        idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                          SoftwareTokenMfaSettings={"Enabled": True})
    assert error_of(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password="weak",
                                    Permanent=True)
    assert error_of(exc)[0] == "InvalidPasswordException"
    idp.admin_delete_user(UserPoolId=pool_id, Username=username)
    with pytest.raises(ClientError) as exc:
        idp.admin_get_user(UserPoolId=pool_id, Username=username)
    assert error_of(exc) == ("UserNotFoundException", "User does not exist.")


def test_disabled_user_and_unsupported_pool_options(emu, idp):
    pool_id = make_pool(idp)
    client_id, _ = make_client(idp, pool_id)
    username = make_user(idp, pool_id)
    idp.admin_disable_user(UserPoolId=pool_id, Username=username)
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert error_of(exc) == ("NotAuthorizedException", "User is disabled.")
    idp.admin_enable_user(UserPoolId=pool_id, Username=username)
    ok = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                           AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert "AccessToken" in ok["AuthenticationResult"]
    with pytest.raises(ClientError) as exc:
        idp.create_user_pool(PoolName="by-email", UsernameAttributes=["email"])
    assert error_of(exc)[0] == "InvalidParameterException"


def test_jwks_endpoint(emu, idp):
    pool_id = make_pool(idp)
    status, body = emu.control("GET", f"/{pool_id}/.well-known/jwks.json")
    assert status == 200
    (key,) = body["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["e"] == "AQAB" and key["kid"]
    status, _ = emu.control("GET", "/us-east-1_missing/.well-known/jwks.json")
    assert status == 404


def test_wire_level_errors(emu):
    target = "AWSCognitoIdentityProviderService."
    status, headers, body = emu.raw(
        "{}", {"X-Amz-Target": target + "DescribeRiskConfiguration",
               "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400
    assert '"__type":"UnknownOperationException"' in body
    assert headers.get("x-amzn-errortype", "").startswith("UnknownOperationException")
    # Administrative calls must be signed.
    status, _, body = emu.raw(
        '{"PoolName": "x"}', {"X-Amz-Target": target + "CreateUserPool",
                              "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and "MissingAuthenticationTokenException" in body
    # Malformed JSON.
    status, _, body = emu.raw(
        "{not json", {"X-Amz-Target": target + "InitiateAuth",
                      "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and "SerializationException" in body
    # Missing members get Cognito's validation message.
    status, _, body = emu.raw(
        "{}", {"X-Amz-Target": target + "InitiateAuth",
               "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and "Value null at 'authFlow'" in body
