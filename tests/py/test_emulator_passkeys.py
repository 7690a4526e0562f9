"""Judge: Cognito passkeys in the stand-in, driven by boto3, with real authenticator responses.

The responses come from the daemon's virtual key through python-fido2's Fido2Client (the
browser's part, with an origin); the stand-in verifies them with its own relying party. Covered:
WebAuthnConfiguration and the sign-in policy (tier, WEB_AUTHN never alone), registration options
and excludeCredentials, CompleteWebAuthnRegistration, List/DeleteWebAuthnCredential,
GetUserAuthFactors, USER_AUTH by PREFERRED_CHALLENGE and by SELECT_CHALLENGE (WEB_AUTHN,
PASSWORD, PASSWORD_SRP), the Admin variants, passkey MFA, and every refusal with Cognito's error
and nothing changed (origin and RP id mismatch, replayed challenge, tampered signature, deleted
credential, user verification required but absent).
"""

import base64
import datetime
import json

import pytest
from botocore.exceptions import ClientError
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap2 import Ctap2
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)
from pycognito.aws_srp import AWSSRP

from emulator.cognito import PASSWORD, make_client, make_user, unique
from emulator.harness import Emulator
from fido import daemons, open_device  # noqa: F401  (daemons is a pytest fixture)

pytestmark = pytest.mark.timeout(180)

RP_ID = "example.com"
ORIGIN = "https://example.com"
FLOWS = ["ALLOW_USER_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH",
         "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"]


class User(UserInteraction):
    """The person at the key: touches, and lets built-in verification verify them when asked."""

    def __init__(self, verify=False):
        self.verify = verify

    def request_pin(self, permissions, rp_id):
        return None

    def request_uv(self, permissions, rp_id):
        return self.verify


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def idp(emu):
    return emu.client("cognito-idp")


@pytest.fixture
def key(daemons):  # noqa: F811
    return daemons(attestation="none")


@pytest.fixture(params=["none", "self", "x5c"])
def any_key(request, daemons):  # noqa: F811
    """Keys whose registrations carry attestation "none", "packed" self, "packed" x5c."""
    return daemons(attestation=request.param)


def browser(key, origin=ORIGIN):
    return Fido2Client(key.device(), DefaultClientDataCollector(origin), User())


class VerifyingBrowser:
    """The browser's part over raw CTAP2, for a key with built-in user verification (python-fido2's
    client insists on a PIN/UV protocol for UV, which the virtual key does not offer yet)."""

    def __init__(self, key, verify=True):
        self.ctap = Ctap2(key.device())
        self.verify = verify

    def make_credential(self, options):
        cd = CollectedClientData.create(
            type="webauthn.create", challenge=options.challenge, origin=ORIGIN)
        att = self.ctap.make_credential(
            cd.hash, {"id": options.rp.id, "name": options.rp.name},
            {"id": options.user.id, "name": options.user.name},
            [{"type": "public-key", "alg": p.alg} for p in options.pub_key_cred_params],
            options={"rk": True, "uv": self.verify})
        obj = AttestationObject.create(att.fmt, att.auth_data, att.att_stmt)
        cred_id = att.auth_data.credential_data.credential_id
        return {"id": websafe_encode(cred_id), "rawId": websafe_encode(cred_id),
                "type": "public-key", "clientExtensionResults": {},
                "response": {"clientDataJSON": websafe_encode(bytes(cd)),
                             "attestationObject": websafe_encode(bytes(obj)),
                             "transports": ["usb"]}}

    def get_assertion(self, options):
        cd = CollectedClientData.create(
            type="webauthn.get", challenge=options.challenge, origin=ORIGIN)
        allow = [{"type": "public-key", "id": c.id} for c in options.allow_credentials or []]
        a = self.ctap.get_assertion(options.rp_id, cd.hash, allow or None,
                                    options={"uv": True} if self.verify else None)
        cred_id = a.credential["id"]
        return _Selection({"id": websafe_encode(cred_id), "rawId": websafe_encode(cred_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "response": {"clientDataJSON": websafe_encode(bytes(cd)),
                                        "authenticatorData": websafe_encode(bytes(a.auth_data)),
                                        "signature": websafe_encode(a.signature)}})


class _Selection:
    def __init__(self, response):
        self.response = response

    def get_response(self, _index):
        return self.response


def verifying_browser(key):
    """A second key of the daemon with built-in user verification, and browsers that ask it to
    verify the user or not."""
    sock = key.path + ".uv"
    status, body, *_ = key.api("POST", "/webauthn/authenticator", {
        "name": "uvkey", "protocol": "ctap2", "hasUserVerification": True, "attestation": "none",
        "hidSocket": sock})
    assert status == 201, body

    class UvKey:
        def device(self):
            return open_device(sock)

    return VerifyingBrowser(UvKey()), VerifyingBrowser(UvKey(), verify=False)


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def passkey_pool(idp, uv="preferred", mfa="OFF", factor="SINGLE_FACTOR", factors=None):
    pool_id = idp.create_user_pool(
        PoolName=unique("pk-pool"),
        UserPoolTier="ESSENTIALS",
        Policies={"SignInPolicy": {"AllowedFirstAuthFactors": factors or ["PASSWORD", "WEB_AUTHN"]}},
    )["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        MfaConfiguration=mfa,
        SoftwareTokenMfaConfiguration={"Enabled": True},
        WebAuthnConfiguration={
            "RelyingPartyId": RP_ID,
            "UserVerification": uv,
            "FactorConfiguration": factor,
        },
    )
    client_id, _ = make_client(idp, pool_id, flows=FLOWS)
    username = make_user(idp, pool_id)
    token = sign_in_with_password(idp, client_id, username)["AccessToken"]
    return pool_id, client_id, username, token


def sign_in_with_password(idp, client_id, username):
    return idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]


def creation(idp, token, **changes):
    options = idp.start_web_authn_registration(AccessToken=token)["CredentialCreationOptions"]
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = options
        for p in parents:
            node = node[p]
        node[last] = value
    return options


def as_browsers_do(cl, uv):
    """Browsers go on without user verification when it is only "preferred" and the key has none
    set up (a ctap2_1 key whose PIN is not set); python-fido2's client refuses instead
    (CONFIGURATION_UNSUPPORTED). Play the browser: ask for none then."""
    if uv in (None, "preferred") and isinstance(cl, Fido2Client):
        if not any(cl.info.options.get(k) for k in ("uv", "clientPin", "bioEnroll")):
            return "discouraged"
    return uv


def make_credential(cl, options):
    selection = dict(options.get("authenticatorSelection") or {})
    selection["userVerification"] = as_browsers_do(cl, selection.get("userVerification"))
    options = dict(options, authenticatorSelection=selection)
    return dict(cl.make_credential(PublicKeyCredentialCreationOptions.from_dict(options)))


def register(idp, token, cl, **changes):
    credential = make_credential(cl, creation(idp, token, **changes))
    idp.complete_web_authn_registration(AccessToken=token, Credential=credential)
    return credential


def passkeys(idp, token):
    return idp.list_web_authn_credentials(AccessToken=token)["Credentials"]


def start_web_authn(idp, client_id, username, admin_pool=None):
    params = {"USERNAME": username, "PREFERRED_CHALLENGE": "WEB_AUTHN"}
    if admin_pool:
        resp = idp.admin_initiate_auth(UserPoolId=admin_pool, ClientId=client_id,
                                       AuthFlow="USER_AUTH", AuthParameters=params)
    else:
        resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters=params)
    assert resp["ChallengeName"] == "WEB_AUTHN", resp
    # A JSON string, not an object.
    assert isinstance(resp["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"], str)
    return resp


def assertion(cl, challenge_resp, **changes):
    options = json.loads(challenge_resp["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    options.update(changes)
    options["userVerification"] = as_browsers_do(cl, options.get("userVerification"))
    selection = cl.get_assertion(PublicKeyCredentialRequestOptions.from_dict(options))
    return json.dumps(dict(selection.get_response(0)))


def answer_web_authn(idp, client_id, username, challenge_resp, credential, admin_pool=None):
    kwargs = dict(ClientId=client_id, ChallengeName="WEB_AUTHN", Session=challenge_resp["Session"],
                  ChallengeResponses={"USERNAME": username, "CREDENTIAL": credential})
    if admin_pool:
        return idp.admin_respond_to_auth_challenge(UserPoolId=admin_pool, **kwargs)
    return idp.respond_to_auth_challenge(**kwargs)


def counter_of(credential_json):
    data = json.loads(credential_json)["response"]["authenticatorData"]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return int.from_bytes(raw[33:37], "big")


def test_register_list_and_sign_in(emu, idp, any_key):
    key = any_key
    pool_id, client_id, username, token = passkey_pool(idp)
    cfg = idp.get_user_pool_mfa_config(UserPoolId=pool_id)["WebAuthnConfiguration"]
    assert cfg == {"RelyingPartyId": RP_ID, "UserVerification": "preferred",
                   "FactorConfiguration": "SINGLE_FACTOR"}
    pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["UserPoolTier"] == "ESSENTIALS"
    assert pool["Policies"]["SignInPolicy"]["AllowedFirstAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]

    options = creation(idp, token)
    for member in ("challenge", "rp", "user", "pubKeyCredParams"):
        assert member in options
    assert options["rp"]["id"] == RP_ID and options["rp"]["name"]
    assert options["user"]["name"] == username and options["user"]["displayName"]
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -257]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []
    assert isinstance(options["timeout"], int)

    cl = browser(key)
    credential = make_credential(cl, options)
    assert idp.complete_web_authn_registration(AccessToken=token, Credential=credential)
    [listed] = passkeys(idp, token)
    assert listed["CredentialId"] == credential["rawId"]
    assert listed["RelyingPartyId"] == RP_ID
    assert listed["FriendlyCredentialName"]
    assert isinstance(listed["AuthenticatorTransports"], list)
    assert isinstance(listed["CreatedAt"], datetime.datetime)
    factors = idp.get_user_auth_factors(AccessToken=token)
    assert factors["Username"] == username
    assert factors["ConfiguredUserAuthFactors"] == ["PASSWORD", "WEB_AUTHN"]
    # A second registration excludes the first passkey.
    again = creation(idp, token)
    assert [c["id"] for c in again["excludeCredentials"]] == [credential["rawId"]]

    first = start_web_authn(idp, client_id, username)
    options = json.loads(first["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    assert options["rpId"] == RP_ID
    assert [c["id"] for c in options["allowCredentials"]] == [credential["rawId"]]
    answer = assertion(cl, first)
    tokens = answer_web_authn(idp, client_id, username, first, answer)["AuthenticationResult"]
    assert idp.get_user(AccessToken=tokens["AccessToken"])["Username"] == username

    # Counters rise; a second sign-in works with the stored counter.
    second = start_web_authn(idp, client_id, username)
    answer2 = assertion(cl, second)
    assert counter_of(answer2) > counter_of(answer)
    assert answer_web_authn(idp, client_id, username, second, answer2)["AuthenticationResult"]


def test_registration_refusals(emu, idp, key):
    _, _, _, token = passkey_pool(idp)
    # Origin not allowed for the RP id (the key signs for other.com, at https://other.com).
    options = creation(idp, token, rp__id="other.com")
    bad = make_credential(browser(key, "https://other.com"), options)
    with pytest.raises(ClientError) as exc:
        idp.complete_web_authn_registration(AccessToken=token, Credential=bad)
    assert error_of(exc)[0] == "WebAuthnOriginNotAllowedException"
    # An allowed origin (a subdomain), but the key signed for another RP id.
    options = creation(idp, token, rp__id="login.example.com")
    bad = make_credential(browser(key, "https://login.example.com"), options)
    with pytest.raises(ClientError) as exc:
        idp.complete_web_authn_registration(AccessToken=token, Credential=bad)
    assert error_of(exc)[0] == "WebAuthnRelyingPartyMismatchException"
    assert passkeys(idp, token) == []

    # A replayed registration: its challenge was single-use.
    good = register(idp, token, browser(key))
    with pytest.raises(ClientError) as exc:
        idp.complete_web_authn_registration(AccessToken=token, Credential=good)
    assert error_of(exc)[0] == "WebAuthnChallengeNotFoundException"
    assert len(passkeys(idp, token)) == 1
    # Credential is a JSON object, not a string of one.
    with pytest.raises(ClientError) as exc:
        idp.complete_web_authn_registration(AccessToken=token, Credential=json.dumps(good))
    assert error_of(exc)[0] == "InvalidParameterException"

    with pytest.raises(ClientError) as exc:
        idp.delete_web_authn_credential(AccessToken=token, CredentialId="AAAA")
    assert error_of(exc)[0] == "ResourceNotFoundException"
    assert len(passkeys(idp, token)) == 1


def test_sign_in_refusals(emu, idp, key):
    _, client_id, username, token = passkey_pool(idp)
    cl = browser(key)
    register(idp, token, cl)
    [stored] = passkeys(idp, token)

    # A tampered signature: refused, and the session is spent.
    first = start_web_authn(idp, client_id, username)
    answer = json.loads(assertion(cl, first))
    sig = bytearray(base64.urlsafe_b64decode(answer["response"]["signature"] + "=="))
    sig[-1] ^= 1
    answer["response"]["signature"] = base64.urlsafe_b64encode(bytes(sig)).decode().rstrip("=")
    with pytest.raises(ClientError) as exc:
        answer_web_authn(idp, client_id, username, first, json.dumps(answer))
    assert error_of(exc)[0] == "NotAuthorizedException"

    # A good assertion replayed against a new challenge.
    second = start_web_authn(idp, client_id, username)
    good = assertion(cl, second)
    assert answer_web_authn(idp, client_id, username, second, good)["AuthenticationResult"]
    third = start_web_authn(idp, client_id, username)
    with pytest.raises(ClientError) as exc:
        answer_web_authn(idp, client_id, username, third, good)
    assert error_of(exc)[0] == "NotAuthorizedException"
    # The same session twice.
    with pytest.raises(ClientError) as exc:
        answer_web_authn(idp, client_id, username, second, good)
    assert error_of(exc)[0] == "NotAuthorizedException"

    # Deleted between the challenge and the answer.
    fourth = start_web_authn(idp, client_id, username)
    late = assertion(cl, fourth)
    idp.delete_web_authn_credential(AccessToken=token, CredentialId=stored["CredentialId"])
    with pytest.raises(ClientError) as exc:
        answer_web_authn(idp, client_id, username, fourth, late)
    assert error_of(exc)[0] == "NotAuthorizedException"
    # Without passkeys, WEB_AUTHN is no longer offered: USER_AUTH falls back to the choice.
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                             AuthParameters={"USERNAME": username, "PREFERRED_CHALLENGE": "WEB_AUTHN"})
    assert resp["ChallengeName"] == "SELECT_CHALLENGE"
    assert resp["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP"]
    assert idp.get_user_auth_factors(AccessToken=token)["ConfiguredUserAuthFactors"] == ["PASSWORD"]


def test_user_verification_required(emu, idp, key):
    _, client_id, username, token = passkey_pool(idp, uv="required")
    options = creation(idp, token)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    # A client asked not to verify: the stand-in refuses the registration.
    weak = make_credential(browser(key), dict(options, authenticatorSelection=dict(
        options["authenticatorSelection"], userVerification="discouraged")))
    with pytest.raises(ClientError) as exc:
        idp.complete_web_authn_registration(AccessToken=token, Credential=weak)
    assert error_of(exc)[0] == "WebAuthnCredentialNotSupportedException"
    assert passkeys(idp, token) == []

    cl, unverifying = verifying_browser(key)
    register(idp, token, cl)
    challenge = start_web_authn(idp, client_id, username)
    unverified = assertion(unverifying, challenge, userVerification="discouraged")
    with pytest.raises(ClientError) as exc:
        answer_web_authn(idp, client_id, username, challenge, unverified)
    assert error_of(exc)[0] == "NotAuthorizedException"
    challenge = start_web_authn(idp, client_id, username)
    assert answer_web_authn(idp, client_id, username, challenge, assertion(cl, challenge))


def test_select_challenge_and_password_factors(emu, idp, key):
    pool_id, client_id, username, token = passkey_pool(idp)
    cl = browser(key)
    register(idp, token, cl)
    select = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                               AuthParameters={"USERNAME": username})
    assert select["ChallengeName"] == "SELECT_CHALLENGE"
    assert select["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP", "WEB_AUTHN"]
    chosen = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=select["Session"],
        ChallengeResponses={"USERNAME": username, "ANSWER": "WEB_AUTHN"})
    assert chosen["ChallengeName"] == "WEB_AUTHN"
    assert answer_web_authn(idp, client_id, username, chosen, assertion(cl, chosen))

    # ANSWER PASSWORD with the password finishes at once.
    select = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                               AuthParameters={"USERNAME": username})
    done = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=select["Session"],
        ChallengeResponses={"USERNAME": username, "ANSWER": "PASSWORD", "PASSWORD": PASSWORD})
    assert "AccessToken" in done["AuthenticationResult"]
    # PASSWORD_SRP: SRP_A in the answer, then PASSWORD_VERIFIER as in USER_SRP_AUTH.
    aws = AWSSRP(username=username, password=PASSWORD, pool_id=pool_id, client_id=client_id,
                 client=idp)
    srp_a = aws.get_auth_params()["SRP_A"]
    select = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                               AuthParameters={"USERNAME": username})
    verifier = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=select["Session"],
        ChallengeResponses={"USERNAME": username, "ANSWER": "PASSWORD_SRP", "SRP_A": srp_a})
    assert verifier["ChallengeName"] == "PASSWORD_VERIFIER"
    done = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
        ChallengeResponses=aws.process_challenge(verifier["ChallengeParameters"],
                                                 aws.get_auth_params()))
    assert "AccessToken" in done["AuthenticationResult"]
    # PREFERRED_CHALLENGE PASSWORD with the password; a wrong one is refused.
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters={
            "USERNAME": username, "PREFERRED_CHALLENGE": "PASSWORD", "PASSWORD": "Wr0ng-pass!"})
    assert error_of(exc) == ("NotAuthorizedException", "Incorrect username or password.")
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=select["Session"],
            ChallengeResponses={"USERNAME": username, "ANSWER": "PASSWORD", "PASSWORD": PASSWORD})
    assert error_of(exc)[0] == "NotAuthorizedException"


def test_admin_variants(emu, idp, key):
    pool_id, client_id, username, token = passkey_pool(idp)
    cl = browser(key)
    register(idp, token, cl)
    challenge = start_web_authn(idp, client_id, username, admin_pool=pool_id)
    done = answer_web_authn(idp, client_id, username, challenge, assertion(cl, challenge),
                            admin_pool=pool_id)
    assert "AccessToken" in done["AuthenticationResult"]
    admin = idp.admin_initiate_auth(
        UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert "AccessToken" in admin["AuthenticationResult"]
    other_pool, _, _, _ = passkey_pool(idp)
    with pytest.raises(ClientError) as exc:
        idp.admin_initiate_auth(UserPoolId=other_pool, ClientId=client_id, AuthFlow="USER_AUTH",
                                AuthParameters={"USERNAME": username})
    assert error_of(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD})
    assert error_of(exc) == ("InvalidParameterException", "Initiate Auth method not supported.")


def test_passkey_mfa_where_mfa_is_required(emu, idp, key):
    pool_id, client_id, username, _ = passkey_pool(
        idp, factor="MULTI_FACTOR_WITH_USER_VERIFICATION")
    # Enroll a TOTP while MFA is optional, then require MFA.
    token = sign_in_with_password(idp, client_id, username)["AccessToken"]
    secret = idp.associate_software_token(AccessToken=token)["SecretCode"]
    idp.verify_software_token(AccessToken=token, UserCode=emu.code(secret))
    cl, _ = verifying_browser(key)
    register(idp, token, cl)
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON")
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                             AuthParameters={"USERNAME": username})
    assert resp["AvailableChallenges"] == ["PASSWORD", "PASSWORD_SRP"], "no passkey MFA yet"
    idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                      WebAuthnMfaSettings={"Enabled": True})
    challenge = start_web_authn(idp, client_id, username)
    options = json.loads(challenge["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    assert options["userVerification"] == "required"
    done = answer_web_authn(idp, client_id, username, challenge, assertion(cl, challenge))
    assert "AccessToken" in done["AuthenticationResult"], "the passkey with UV is the MFA"
    # The password still asks for the TOTP code.
    resp = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters={
        "USERNAME": username, "PREFERRED_CHALLENGE": "PASSWORD", "PASSWORD": PASSWORD})
    assert resp["ChallengeName"] == "SOFTWARE_TOKEN_MFA"


def test_pool_configuration_refusals(emu, idp):
    with pytest.raises(ClientError) as exc:
        idp.create_user_pool(PoolName=unique("p"), UserPoolTier="LITE", Policies={
            "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}})
    assert error_of(exc)[0] == "FeatureUnavailableInTierException"
    with pytest.raises(ClientError) as exc:
        idp.create_user_pool(PoolName=unique("p"), Policies={
            "SignInPolicy": {"AllowedFirstAuthFactors": ["WEB_AUTHN"]}})
    assert error_of(exc)[0] == "InvalidParameterException"
    # Passkeys not enabled; enabled but no relying party id.
    plain = idp.create_user_pool(PoolName=unique("p"))["UserPool"]["Id"]
    client_id, _ = make_client(idp, plain, flows=FLOWS)
    username = make_user(idp, plain)
    token = sign_in_with_password(idp, client_id, username)["AccessToken"]
    with pytest.raises(ClientError) as exc:
        idp.start_web_authn_registration(AccessToken=token)
    assert error_of(exc)[0] == "WebAuthnNotEnabledException"
    idp.update_user_pool(UserPoolId=plain, Policies={
        "SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}})
    with pytest.raises(ClientError) as exc:
        idp.start_web_authn_registration(AccessToken=token)
    assert error_of(exc)[0] == "WebAuthnConfigurationMissingException"
    with pytest.raises(ClientError) as exc:
        idp.set_user_pool_mfa_config(UserPoolId=plain,
                                     WebAuthnConfiguration={"RelyingPartyId": "https://x.com"})
    assert error_of(exc)[0] == "InvalidParameterException"
    # USER_AUTH needs ALLOW_USER_AUTH on the client.
    srp_only, _ = make_client(idp, plain, flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    with pytest.raises(ClientError) as exc:
        idp.initiate_auth(ClientId=srp_only, AuthFlow="USER_AUTH",
                          AuthParameters={"USERNAME": username})
    assert error_of(exc)[0] == "InvalidParameterException"
