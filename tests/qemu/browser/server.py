"""The relying party of the browser guest (tests/qemu/browser-init.sh): a localhost HTTP
server whose page makes Chromium call navigator.credentials.create() and then get() twice,
and which judges every answer with py_webauthn (an independent WebAuthn verifier): the
attestation and each assertion's signature, the challenge, the origin http://localhost:PORT,
the rpId localhost, user presence and a signature counter that rises.

    python3 server.py PORT RESULT_FILE

Prints `BROWSER <step> ...` lines; writes RESULT_FILE (one line, `PASS ...` or `FAIL ...`)
when the ceremony ends, then exits (status 0 on PASS).
"""

import base64
import json
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

RP_ID = "localhost"
# Assertions after the registration; each must raise the counter.
ASSERTIONS = 2

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>authsim browser judge</title>
<pre id="log"></pre>
<script>
const log = (m) => { document.getElementById("log").textContent += m + "\\n"; };
async function call(path, body) {
  const r = await fetch(path, body === undefined ? {} :
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status + " " + await r.text());
  return r.json();
}
async function run() {
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(await call("/register/options")),
  });
  log("created " + created.id);
  await call("/register", created.toJSON());
  for (let i = 0; i < %(assertions)d; i++) {
    const got = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(await call("/authenticate/options")),
    });
    log("got " + got.id);
    await call("/authenticate", got.toJSON());
  }
  log("done");
}
run().catch((e) => { log("error " + e); call("/error", { error: String(e && e.name) + ": " + String(e && e.message) }).catch(() => {}); });
</script>
""" % {"assertions": ASSERTIONS}


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON encodes bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class State:
    """What the relying party remembers between requests."""

    def __init__(self, port: int, result_file: str):
        self.origin = f"http://localhost:{port}"
        self.result_file = result_file
        self.challenge = None
        self.credential_id = None
        self.public_key = None
        self.sign_count = 0
        self.counters = []
        self.assertions = 0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def finish(self, line: str):
        """Records the verdict once and lets the server stop."""
        if self.done.is_set():
            return
        print(f"BROWSER {line}", flush=True)
        with open(self.result_file, "w") as f:
            f.write(line + "\n")
        self.done.set()


def take_challenge(state: State) -> bytes:
    """The pending challenge, which is single-use."""
    challenge, state.challenge = state.challenge, None
    if challenge is None:
        raise ValueError("no pending challenge (replayed or out of order)")
    return challenge


def register_options(state: State) -> str:
    state.challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="authsim browser judge",
        user_name="alice",
        user_display_name="Alice",
        user_id=secrets.token_bytes(16),
        challenge=state.challenge,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            # Not required: Chromium asks a key that has clientPin but no PIN to set one
            # before it makes a discoverable credential (UI step kClientPinSetup), a dialog
            # nobody answers in a headless guest.
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.DISCOURAGED,
        ),
        timeout=120000,
    )
    return options_to_json(options)


def register(state: State, body: dict) -> dict:
    verified = verify_registration_response(
        credential=body,
        expected_challenge=take_challenge(state),
        expected_origin=state.origin,
        expected_rp_id=RP_ID,
        require_user_verification=False,
    )
    state.credential_id = verified.credential_id
    state.public_key = verified.credential_public_key
    state.sign_count = verified.sign_count
    transports = ",".join(body.get("response", {}).get("transports", [])) or "-"
    print(
        f"BROWSER register id={b64url(verified.credential_id)} fmt={verified.fmt} "
        f"type={verified.credential_type.value} counter={verified.sign_count} "
        f"transports={transports} attachment={body.get('authenticatorAttachment')}",
        flush=True,
    )
    return {"verified": True}


def authenticate_options(state: State) -> str:
    state.challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=RP_ID,
        challenge=state.challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=state.credential_id)],
        user_verification=UserVerificationRequirement.DISCOURAGED,
        timeout=120000,
    )
    return options_to_json(options)


def authenticate(state: State, body: dict) -> dict:
    if state.public_key is None:
        raise ValueError("no registered credential")
    verified = verify_authentication_response(
        credential=body,
        expected_challenge=take_challenge(state),
        expected_origin=state.origin,
        expected_rp_id=RP_ID,
        credential_public_key=state.public_key,
        credential_current_sign_count=state.sign_count,
        require_user_verification=False,
    )
    # py_webauthn refuses a counter that does not rise once either is non-zero; a key that
    # keeps it at 0 would pass that check, which this judge does not allow.
    if verified.new_sign_count <= state.sign_count:
        raise ValueError(f"counter did not rise: {state.sign_count} -> {verified.new_sign_count}")
    state.sign_count = verified.new_sign_count
    state.counters.append(verified.new_sign_count)
    state.assertions += 1
    print(f"BROWSER authenticate counter={verified.new_sign_count}", flush=True)
    if state.assertions == ASSERTIONS:
        state.finish(
            f"PASS id={b64url(state.credential_id)} origin={state.origin} rp={RP_ID} "
            f"counters={','.join(map(str, state.counters))}"
        )
    return {"verified": True}


def handler_for(state: State):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # noqa: N802 (the base class's name)
            sys.stderr.write("server: " + (fmt % args) + "\n")

        def send(self, status: int, body: str, kind: str = "application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            with state.lock:
                try:
                    if self.path == "/":
                        self.send(200, PAGE, "text/html; charset=utf-8")
                    elif self.path == "/register/options":
                        self.send(200, register_options(state))
                    elif self.path == "/authenticate/options":
                        self.send(200, authenticate_options(state))
                    else:
                        self.send(404, "{}")
                except Exception as e:  # the verdict names it; the page stops
                    state.finish(f"FAIL {self.path}: {type(e).__name__}: {e}")
                    self.send(500, json.dumps({"error": str(e)}))

        def do_POST(self):  # noqa: N802
            with state.lock:
                try:
                    length = int(self.headers.get("content-length", "0"))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if self.path == "/register":
                        self.send(200, json.dumps(register(state, body)))
                    elif self.path == "/authenticate":
                        self.send(200, json.dumps(authenticate(state, body)))
                    elif self.path == "/error":
                        state.finish(f"FAIL page: {body.get('error')}")
                        self.send(200, "{}")
                    else:
                        self.send(404, "{}")
                except Exception as e:
                    state.finish(f"FAIL {self.path}: {type(e).__name__}: {e}")
                    self.send(400, json.dumps({"error": str(e)}))

    return Handler


def main():
    port = int(sys.argv[1])
    state = State(port, sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"BROWSER ready {state.origin}", flush=True)
    state.done.wait()
    server.shutdown()
    with open(state.result_file) as f:
        sys.exit(0 if f.read().startswith("PASS") else 1)


if __name__ == "__main__":
    main()
