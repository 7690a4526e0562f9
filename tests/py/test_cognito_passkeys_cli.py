"""Judge: `authsim cognito passkey register|list|delete` and `cognito sign-in --passkey`, checked
with boto3 against the strict stand-in (`authsim emulator`, whose relying party is webauthn-rs,
not authsim's client). The key is a daemon's virtual key; the CLI plays the browser on it.

What the CLI did is read back through boto3: ListWebAuthnCredentials lists the passkey,
GetUserAuthFactors names WEB_AUTHN, the tokens of a passkey sign-in are accepted by GetUser; a
second registration of the same key is refused as a browser refuses it (InvalidStateError, the
key being in excludeCredentials) and changes nothing; a wrong origin is Cognito's
WebAuthnOriginNotAllowedException, surfaced with what to do; after delete, a passkey sign-in is
NotAuthorizedException and nothing changes."""

import json
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

import test_aws_harness as h
from emulator.cognito import PASSWORD, make_client, make_user, unique
from emulator.harness import Emulator
from fido import authsim_bin, daemons  # noqa: F401  (daemons is a pytest fixture)

pytestmark = pytest.mark.timeout(180)

RP_ID = "example.com"
FLOWS = ["ALLOW_USER_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def idp(emu):
    return emu.client("cognito-idp")


class Cli:
    """The binary on the daemon's state directory (so `--key` finds its keys), with fake AWS
    credentials and the stand-in as the endpoint."""

    def __init__(self, daemon, emu, tmp_path):
        self.env = h.aws_env(daemon.env, str(tmp_path))
        self.url = emu.url

    def run(self, *args, input=None, check=True):
        p = subprocess.run([authsim_bin(), *args], input=input, capture_output=True, text=True,
                           env=self.env, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"authsim {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def cognito(self, *args, **kw):
        return self.run("cognito", *args, "--endpoint-url", self.url, **kw)


@pytest.fixture
def cli(daemons, emu, tmp_path):  # noqa: F811
    d = daemons(attestation="none")
    c = Cli(d, emu, tmp_path)
    c.daemon = d
    return c


def passkey_pool(idp, uv="preferred"):
    pool_id = idp.create_user_pool(
        PoolName=unique("pk-cli"), UserPoolTier="ESSENTIALS",
        Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}},
    )["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="OFF",
        WebAuthnConfiguration={"RelyingPartyId": RP_ID, "UserVerification": uv})
    client_id, _ = make_client(idp, pool_id, flows=FLOWS)
    return pool_id, client_id, make_user(idp, pool_id)


def password_session(cli, pool_id, client_id, username, name="pw"):
    cli.cognito("sign-in", "--flow", "password", "--pool-id", pool_id, "--client-id", client_id,
                "--username", username, "--password-stdin", "--save", name,
                input=PASSWORD + "\n")
    return name


def token_of(cli, session):
    return cli.run("cognito", "token", session).stdout.strip()


def listed(idp, token):
    return idp.list_web_authn_credentials(AccessToken=token)["Credentials"]


def test_register_list_and_delete(cli, idp):
    pool_id, client_id, username = passkey_pool(idp)
    s = password_session(cli, pool_id, client_id, username)
    token = token_of(cli, s)
    assert idp.get_user_auth_factors(AccessToken=token)["ConfiguredUserAuthFactors"] == ["PASSWORD"]

    p = cli.cognito("passkey", "register", "--session", s, "--json")
    done = json.loads(p.stdout)
    assert done["rp_id"] == RP_ID and done["origin"] == "https://example.com", done
    creds = listed(idp, token)
    assert [c["CredentialId"] for c in creds] == [done["credential_id"]]
    assert creds[0]["RelyingPartyId"] == RP_ID
    factors = idp.get_user_auth_factors(AccessToken=token)["ConfiguredUserAuthFactors"]
    assert "WEB_AUTHN" in factors, factors

    # list: the same credential, as JSON and as the human table.
    mine = json.loads(cli.cognito("passkey", "list", "--session", s, "--json").stdout)
    assert [m["credential_id"] for m in mine] == [done["credential_id"]]
    assert mine[0]["rp_id"] == RP_ID and mine[0]["created"] == int(creds[0]["CreatedAt"].timestamp())
    table = cli.cognito("passkey", "list", "--session", s).stdout
    assert "CREDENTIAL ID" in table and done["credential_id"] in table, table

    # The same key again: the pool lists it in excludeCredentials, so the client refuses as a
    # browser does, and nothing is registered.
    p = cli.cognito("passkey", "register", "--session", s, check=False)
    assert p.returncode != 0
    assert "InvalidStateError" in p.stderr and "passkey list" in p.stderr, p.stderr
    assert len(listed(idp, token)) == 1

    cli.cognito("passkey", "delete", "--session", s, done["credential_id"])
    assert listed(idp, token) == []
    assert idp.get_user_auth_factors(AccessToken=token)["ConfiguredUserAuthFactors"] == ["PASSWORD"]
    # Deleting it again: the pool knows it no more.
    p = cli.cognito("passkey", "delete", "--session", s, done["credential_id"], check=False)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr, p.stderr
    # Deleted from the pool only: the key still holds it, so registering again is refused by
    # nothing and works.
    cli.cognito("passkey", "register", "--session", s)
    assert len(listed(idp, token)) == 1


def test_a_wrong_origin_is_refused_clearly_and_changes_nothing(daemons, emu, idp, tmp_path):  # noqa: F811
    d = daemons(attestation="none", presence="manual")
    cli = Cli(d, emu, tmp_path)
    pool_id, client_id, username = passkey_pool(idp)
    s = password_session(cli, pool_id, client_id, username)
    token = token_of(cli, s)
    # An origin the RP id does not belong to: the client refuses before the key is asked.
    p = cli.cognito("passkey", "register", "--session", s, "--origin", "https://other.org",
                    check=False)
    assert p.returncode != 0 and "SecurityError" in p.stderr, p.stderr
    assert d.api("GET", "/webauthn/authenticator/default/presence/requests")[1] == []

    # The pool's relying party moves to example.org while the key waits for its touch: the
    # response made at https://example.com is then from an origin the pool does not allow.
    proc = subprocess.Popen(
        [authsim_bin(), "cognito", "passkey", "register", "--session", s, "--endpoint-url", emu.url],
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pending, deadline = [], time.monotonic() + 20
        while not pending and time.monotonic() < deadline:
            pending = d.api("GET", "/webauthn/authenticator/default/presence/requests")[1]
            time.sleep(0.05)
        assert len(pending) == 1, pending
        idp.set_user_pool_mfa_config(
            UserPoolId=pool_id, MfaConfiguration="OFF",
            WebAuthnConfiguration={"RelyingPartyId": "example.org", "UserVerification": "preferred"})
        status = d.api("POST", f"/webauthn/authenticator/default/presence/requests/{pending[0]['id']}",
                       {"action": "approve"})[0]
        assert status == 200
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "CompleteWebAuthnRegistration failed: WebAuthnOriginNotAllowedException" in err, err
    assert "--origin" in err, err
    assert listed(idp, token) == []


def chain(p):
    """The challenges the CLI reports it answered."""
    line = next(l for l in p.stderr.splitlines() if l.startswith("signed in as"))
    inner = line.split("(", 1)[1].rsplit(")", 1)[0]
    return [] if inner == "no challenges" else inner.split(" → ")


def passkey_sign_in(cli, client_id, username, *extra, **kw):
    return cli.cognito("sign-in", "--client-id", client_id, "--username", username, "--passkey",
                       *extra, **kw)


def test_passkey_sign_in_gives_tokens_the_pool_accepts(cli, idp):
    pool_id, client_id, username = passkey_pool(idp)
    s = password_session(cli, pool_id, client_id, username)
    cli.cognito("passkey", "register", "--session", s)

    # No password anywhere: USER_AUTH with PREFERRED_CHALLENGE=WEB_AUTHN, answered by the key.
    p = passkey_sign_in(cli, client_id, username, "--save", "pk")
    assert chain(p) == ["WEB_AUTHN"], p.stderr
    token = token_of(cli, "pk")
    assert idp.get_user(AccessToken=token)["Username"] == username
    # The saved session serves the other commands (and lists the passkey it signed in with).
    assert len(json.loads(cli.cognito("passkey", "list", "--session", "pk", "--json").stdout)) == 1
    factors = json.loads(cli.cognito("auth-factors", "--session", "pk", "--json").stdout)
    assert "WEB_AUTHN" in factors["configured"], factors

    # The same through --flow user-auth --prefer web-authn, tokens printed; the key's counter
    # rose, so the pool took a second assertion of the same credential.
    p = cli.cognito("sign-in", "--client-id", client_id, "--username", username,
                    "--flow", "user-auth", "--prefer", "web-authn", "--key", "default")
    assert chain(p) == ["WEB_AUTHN"], p.stderr
    assert idp.get_user(AccessToken=json.loads(p.stdout)["AccessToken"])["Username"] == username

    # A password sign-in through USER_AUTH still chooses the password (its SRP: the pool id is
    # known from the first sign-in), though WEB_AUTHN is offered too.
    p = cli.cognito("sign-in", "--flow", "user-auth", "--client-id", client_id,
                    "--username", username, "--password-stdin", input=PASSWORD + "\n")
    assert chain(p) == ["SELECT_CHALLENGE", "PASSWORD_VERIFIER"], p.stderr


def test_passkey_sign_in_refusals_change_nothing(daemons, emu, idp, tmp_path):  # noqa: F811
    d = daemons(attestation="none")
    cli = Cli(d, emu, tmp_path)
    pool_id, client_id, username = passkey_pool(idp)
    s = password_session(cli, pool_id, client_id, username)
    token = token_of(cli, s)

    # No passkey yet: Cognito offers only the password, and the CLI says what to give.
    p = passkey_sign_in(cli, client_id, username, check=False)
    assert p.returncode != 0
    assert "PASSWORD" in p.stderr and "--password-stdin" in p.stderr, p.stderr

    # A second key of the daemon registers the user's passkey; the default key then holds
    # none of the user's credentials: the browser's NotAllowedError, no tokens.
    sock = d.path + ".k2"
    status, body, *_ = d.api("POST", "/webauthn/authenticator", {
        "name": "k2", "protocol": "ctap2", "attestation": "none", "hidSocket": sock})
    assert status == 201, body
    cli.cognito("passkey", "register", "--session", s, "--key", "k2")
    p = passkey_sign_in(cli, client_id, username, "--save", "nope", check=False)
    assert p.returncode != 0 and "NotAllowedError" in p.stderr, p.stderr
    assert "nope" not in cli.run("cognito", "sessions").stdout

    # The origin the RP id does not belong to: refused by the client before the key is asked.
    p = passkey_sign_in(cli, client_id, username, "--key", "k2", "--origin", "https://other.org",
                        check=False)
    assert p.returncode != 0 and "SecurityError" in p.stderr, p.stderr

    # A credential the pool deleted: the key still signs with it (a discoverable credential,
    # found with empty allowCredentials as a browser's account picker does), and the pool
    # refuses the assertion with NotAuthorizedException.
    cred_id = listed(idp, token)[0]["CredentialId"]
    cli.cognito("passkey", "delete", "--session", s, cred_id)
    cli.cognito("passkey", "register", "--session", s)   # the default key: the one left
    start = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters={
        "USERNAME": username, "PREFERRED_CHALLENGE": "WEB_AUTHN"})
    options = json.loads(start["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    options["allowCredentials"] = []
    signed = cli.run("webauthn", "authenticate", "--key", "k2", "--origin", "https://example.com",
                     input=json.dumps(options))
    assert json.loads(signed.stdout)["id"] == cred_id
    with pytest.raises(ClientError) as exc:
        idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="WEB_AUTHN", Session=start["Session"],
            ChallengeResponses={"USERNAME": username, "CREDENTIAL": signed.stdout})
    assert exc.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert [c["CredentialId"] for c in listed(idp, token)] != [cred_id]
    assert len(listed(idp, token)) == 1
    # The key whose passkey the pool keeps still signs in.
    p = passkey_sign_in(cli, client_id, username)
    assert chain(p) == ["WEB_AUTHN"], p.stderr


def test_user_verification_required_takes_the_keys_pin(cli, idp):
    pool_id, client_id, username = passkey_pool(idp, uv="required")
    s = password_session(cli, pool_id, client_id, username)
    token = token_of(cli, s)
    sock = cli.daemon.path + ".pin"
    status, body, *_ = cli.daemon.api("POST", "/webauthn/authenticator", {
        "name": "pinned", "protocol": "ctap2_1", "attestation": "none", "pin": "4321",
        "hidSocket": sock})
    assert status == 201, body
    # The pool requires user verification: without the PIN the client cannot verify the user.
    p = cli.cognito("passkey", "register", "--session", s, "--key", "pinned", check=False)
    assert p.returncode != 0 and "PIN" in p.stderr, p.stderr
    assert listed(idp, token) == []
    # With it (standard input), the pool's verifier sees UV and keeps the passkey.
    cli.cognito("passkey", "register", "--session", s, "--key", "pinned", "--pin-stdin",
                input="4321\n")
    assert len(listed(idp, token)) == 1
    p = passkey_sign_in(cli, client_id, username, "--key", "pinned", "--pin-stdin",
                        input="4321\n")
    assert chain(p) == ["WEB_AUTHN"], p.stderr
    assert idp.get_user(AccessToken=json.loads(p.stdout)["AccessToken"])["Username"] == username
    # A wrong PIN: the key refuses, no tokens.
    p = passkey_sign_in(cli, client_id, username, "--key", "pinned", "--pin-stdin",
                        input="0000\n", check=False)
    assert p.returncode != 0 and "AccessToken" not in p.stdout, p.stderr
