//! authsim's WebAuthn client judged by webauthn-rs-core (the kanidm project's relying-party
//! library) as a second verifier beside py_webauthn and SimpleWebAuthn: its options (in the
//! `{"publicKey": …}` form it serializes) go through `authsim::webauthn` on the daemon's socket,
//! and it verifies the registration (a packed x5c chain to the installation's CA with direct
//! attestation, fmt "none" with attestation none) and the sign-ins (counters moving up).
//!
//! webauthn-rs-core 0.6 refuses Ed25519 keys, so EdDSA is judged by the Python and Node judges.

mod fido_support;

use std::collections::BTreeMap;
use std::path::Path;

use authsim::fido::ctap2::Authenticator;
use authsim::fido::device::UnixSocket;
use authsim::fido::hid::CtapHid;
use fido_support::*;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationCaListBuilder, AttestationConveyancePreference, COSEAlgorithm,
    PublicKeyCredential, RegisterPublicKeyCredential,
};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const AAGUID: [u8; 16] = *b"authsim-fw-sim\x00\x01";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_authsim"))
}

fn rp() -> WebauthnCore {
    WebauthnCore::new_unsafe_experts_only(
        "Example",
        RP_ID,
        vec![url::Url::parse(ORIGIN).expect("origin")],
        std::time::Duration::from_secs(60),
        None,
        None,
    )
}

fn ca_list(d: &DaemonProc) -> AttestationCaList {
    let path = temp_path("ca");
    let out = d.cli(
        bin(),
        &[
            "key",
            "attestation-ca",
            "--der",
            path.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success());
    let der = std::fs::read(&path).expect("DER file");
    let _ = std::fs::remove_file(path);
    let mut b = AttestationCaListBuilder::new();
    b.insert_device_der(
        &der,
        uuid::Uuid::from_bytes(AAGUID),
        "authsim virtual key".into(),
        BTreeMap::new(),
    )
    .expect("CA certificate");
    b.build()
}

fn key(d: &DaemonProc) -> Authenticator {
    let io = UnixSocket::connect(&d.socket).expect("connect");
    Authenticator::new(CtapHid::open(Box::new(io)).expect("INIT"))
}

#[test]
fn webauthn_rs_accepts_what_the_client_registers_and_asserts() {
    let d = DaemonProc::start(bin(), None, &["--attestation", "x5c"]);
    let rp = rp();
    let cas = ca_list(&d);
    let mut key = key(&d);
    for (conveyance, fmt) in [
        (AttestationConveyancePreference::Direct, "packed"),
        (AttestationConveyancePreference::None, "none"),
    ] {
        for alg in [COSEAlgorithm::ES256, COSEAlgorithm::ES384] {
            for resident in [false, true] {
                let builder = rp
                    .new_challenge_register_builder(b"user-1", "alice", "Alice")
                    .expect("builder")
                    .attestation(conveyance.clone())
                    .credential_algorithms(vec![alg])
                    .require_resident_key(resident);
                let (options, state) = rp.generate_challenge_register(builder).expect("options");
                let json = serde_json::to_value(&options).expect("options JSON");
                assert!(
                    json.get("publicKey").is_some(),
                    "webauthn-rs wraps its options"
                );
                let resp = authsim::webauthn::register(&mut key, ORIGIN, &json, None)
                    .unwrap_or_else(|e| panic!("register {alg:?} rk={resident}: {e}"));
                let att = resp["response"]["attestationObject"].as_str().expect("att");
                let att = data_encoding::BASE64URL_NOPAD
                    .decode(att.as_bytes())
                    .expect("base64url");
                let att: ciborium::value::Value =
                    ciborium::de::from_reader(&att[..]).expect("CBOR");
                assert_eq!(get_text(&att, "fmt"), Some(&text(fmt)));
                let reg: RegisterPublicKeyCredential =
                    serde_json::from_value(resp).expect("RegisterPublicKeyCredential");
                let cas = (fmt == "packed").then_some(&cas);
                let mut cred = rp
                    .register_credential(&reg, &state, cas)
                    .unwrap_or_else(|e| panic!("webauthn-rs refused {alg:?} {fmt}: {e:?}"));
                for _ in 0..2 {
                    let builder = rp
                        .new_challenge_authenticate_builder(vec![cred.clone()], None)
                        .expect("builder");
                    let (options, state) = rp
                        .generate_challenge_authenticate(builder)
                        .expect("challenge");
                    let json = serde_json::to_value(&options).expect("options JSON");
                    let resp = authsim::webauthn::authenticate(&mut key, ORIGIN, &json, None)
                        .unwrap_or_else(|e| panic!("authenticate: {e}"));
                    let rsp: PublicKeyCredential =
                        serde_json::from_value(resp).expect("PublicKeyCredential");
                    let result = rp
                        .authenticate_credential(&rsp, &state)
                        .expect("webauthn-rs accepts the assertion");
                    assert!(result.counter() > cred.counter, "the counter moves up");
                    cred.counter = result.counter();
                }
            }
        }
    }
}

#[test]
fn an_origin_the_rp_does_not_expect_is_caught_by_the_client_first() {
    let d = DaemonProc::start(bin(), None, &[]);
    let rp = rp();
    let mut key = key(&d);
    let builder = rp
        .new_challenge_register_builder(b"user-1", "alice", "Alice")
        .expect("builder");
    let (options, _) = rp.generate_challenge_register(builder).expect("options");
    let json = serde_json::to_value(&options).expect("options JSON");
    let e = authsim::webauthn::register(&mut key, "https://example.net", &json, None)
        .expect_err("example.com is not a suffix of example.net");
    assert_eq!(e.name(), "SecurityError");
}
