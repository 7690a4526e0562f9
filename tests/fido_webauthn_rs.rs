//! webauthn-rs-core (the kanidm project's relying-party library, the strictest about the x5c
//! chain) judges registrations and assertions made by the daemon over its Unix socket. The
//! browser's part (clientDataJSON, the attestation object) is played here by hand, so
//! nothing of authsim's client side is involved.
//!
//! webauthn-rs-core 0.6 verifies ES256 and ES384 but not EdDSA (it refuses Ed25519 keys with
//! `SshPublicKeyEDUnsupported`), so EdDSA is judged by py_webauthn, python-fido2 and libfido2.

mod fido_support;

use std::collections::BTreeMap;
use std::path::Path;

use ciborium::value::Value;
use data_encoding::BASE64URL_NOPAD;
use fido_support::*;
use sha2::{Digest, Sha256};
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationCaListBuilder, AttestationConveyancePreference, COSEAlgorithm,
    Credential, PublicKeyCredential, RegisterPublicKeyCredential,
};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const MC: u8 = 0x01;
const GA: u8 = 0x02;
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

fn client_data(kind: &str, challenge: &[u8]) -> Vec<u8> {
    serde_json::json!({
        "type": kind,
        "challenge": BASE64URL_NOPAD.encode(challenge),
        "origin": ORIGIN,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
}

fn ca_list(der: &[u8]) -> AttestationCaList {
    let mut b = AttestationCaListBuilder::new();
    b.insert_device_der(
        der,
        uuid::Uuid::from_bytes(AAGUID),
        "authsim virtual key".into(),
        BTreeMap::new(),
    )
    .expect("CA certificate");
    b.build()
}

fn export_ca(d: &DaemonProc, tag: &str) -> Vec<u8> {
    let path = temp_path(tag);
    let out = d.cli(
        bin(),
        &[
            "key",
            "attestation-ca",
            "--der",
            path.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = std::fs::read(&path).expect("DER file");
    let _ = std::fs::remove_file(path);
    der
}

/// Registers through the daemon and hands the result to webauthn-rs.
fn register(
    host: &mut HidSocket,
    rp: &WebauthnCore,
    alg: COSEAlgorithm,
    resident: bool,
    cas: Option<&AttestationCaList>,
) -> Result<Credential, WebauthnError> {
    let builder = rp
        .new_challenge_register_builder(b"user-1", "alice", "Alice")?
        .attestation(AttestationConveyancePreference::Direct)
        .credential_algorithms(vec![alg])
        .require_resident_key(resident);
    let (options, state) = rp.generate_challenge_register(builder)?;
    let challenge = options.public_key.challenge.to_vec();
    let cdj = client_data("webauthn.create", &challenge);
    let cdh = Sha256::digest(&cdj);
    let request = make_credential_request(&cdh, RP_ID, b"user-1", alg as i64, resident, &[]);
    let (status, body) = host.ctap2(MC, Some(&request)).expect("makeCredential");
    assert_eq!(status, 0, "makeCredential status");
    let body = body.expect("makeCredential body");
    let (Some(Value::Text(fmt)), Some(Value::Bytes(auth_data)), Some(att_stmt)) =
        (get(&body, 1), get(&body, 2), get(&body, 3))
    else {
        panic!("makeCredential response lacks fmt/authData/attStmt");
    };
    let att_obj = tmap(vec![
        ("fmt", text(fmt)),
        ("attStmt", att_stmt.clone()),
        ("authData", bytes(auth_data)),
    ]);
    let mut att_obj_bytes = Vec::new();
    ciborium::ser::into_writer(&att_obj, &mut att_obj_bytes).expect("CBOR");
    let id = credential_id(auth_data).expect("credential id");
    let reg: RegisterPublicKeyCredential = serde_json::from_value(serde_json::json!({
        "id": BASE64URL_NOPAD.encode(&id),
        "rawId": BASE64URL_NOPAD.encode(&id),
        "type": "public-key",
        "response": {
            "attestationObject": BASE64URL_NOPAD.encode(&att_obj_bytes),
            "clientDataJSON": BASE64URL_NOPAD.encode(&cdj),
        },
        "clientExtensionResults": {},
    }))
    .expect("RegisterPublicKeyCredential");
    rp.register_credential(&reg, &state, cas)
}

/// One sign-in: returns the assertion as the RP receives it, and the RP's state.
fn assertion(
    host: &mut HidSocket,
    rp: &WebauthnCore,
    cred: &Credential,
    discoverable: bool,
) -> (
    PublicKeyCredential,
    webauthn_rs_core::proto::AuthenticationState,
) {
    let builder = rp
        .new_challenge_authenticate_builder(vec![cred.clone()], None)
        .expect("builder");
    let (options, state) = rp
        .generate_challenge_authenticate(builder)
        .expect("challenge");
    let cdj = client_data("webauthn.get", &options.public_key.challenge);
    let cdh = Sha256::digest(&cdj);
    let allow = if discoverable {
        vec![]
    } else {
        vec![cred.cred_id.to_vec()]
    };
    let (status, body) = host
        .ctap2(GA, Some(&get_assertion_request(RP_ID, &cdh, &allow)))
        .expect("getAssertion");
    assert_eq!(status, 0, "getAssertion status");
    let body = body.expect("getAssertion body");
    let id = match get(&body, 1).and_then(|d| get_text(d, "id")) {
        Some(Value::Bytes(id)) => id.clone(),
        _ => panic!("no credential in the assertion"),
    };
    let user_handle = match get(&body, 4).and_then(|u| get_text(u, "id")) {
        Some(Value::Bytes(u)) => Some(BASE64URL_NOPAD.encode(u)),
        _ => None,
    };
    if discoverable {
        assert_eq!(
            user_handle.as_deref(),
            Some(BASE64URL_NOPAD.encode(b"user-1").as_str())
        );
    }
    let rsp: PublicKeyCredential = serde_json::from_value(serde_json::json!({
        "id": BASE64URL_NOPAD.encode(&id),
        "rawId": BASE64URL_NOPAD.encode(&id),
        "type": "public-key",
        "response": {
            "authenticatorData": BASE64URL_NOPAD.encode(get_bytes(&body, 2).expect("authData")),
            "clientDataJSON": BASE64URL_NOPAD.encode(&cdj),
            "signature": BASE64URL_NOPAD.encode(get_bytes(&body, 3).expect("signature")),
            "userHandle": user_handle,
        },
        "clientExtensionResults": {},
    }))
    .expect("PublicKeyCredential");
    (rsp, state)
}

/// Three sign-ins verified with counters moving up, then a replay refused.
fn sign_ins(host: &mut HidSocket, rp: &WebauthnCore, mut cred: Credential, discoverable: bool) {
    let mut last = None;
    for _ in 0..3 {
        let (rsp, state) = assertion(host, rp, &cred, discoverable);
        let result = rp
            .authenticate_credential(&rsp, &state)
            .expect("webauthn-rs accepts the assertion");
        assert!(result.counter() > cred.counter, "the counter moves up");
        cred.counter = result.counter();
        last = Some((rsp, state));
    }
    let (mut rsp, mut state) = last.expect("an assertion");
    // The same assertion again, against the stored (updated) counter: refused.
    state.set_allowed_credentials(vec![cred.clone()]);
    assert!(
        matches!(
            rp.authenticate_credential(&rsp, &state),
            Err(WebauthnError::CredentialPossibleCompromise)
        ),
        "replay accepted"
    );
    // A flipped signature bit is refused (the checks above can fail).
    let n = rsp.response.signature.len();
    rsp.response.signature[n - 1] ^= 1;
    let mut fresh = cred.clone();
    fresh.counter = 0;
    let mut state_any = state;
    state_any.set_allowed_credentials(vec![fresh]);
    assert!(
        rp.authenticate_credential(&rsp, &state_any).is_err(),
        "bad signature accepted"
    );
}

#[test]
fn packed_x5c_chains_to_the_exported_ca() {
    let d = DaemonProc::start(bin(), None, &["--attestation", "x5c"]);
    let rp = rp();
    let cas = ca_list(&export_ca(&d, "ca"));
    let mut host = d.host();
    for alg in [COSEAlgorithm::ES256, COSEAlgorithm::ES384] {
        for resident in [false, true] {
            let cred = register(&mut host, &rp, alg, resident, Some(&cas))
                .unwrap_or_else(|e| panic!("webauthn-rs refused {alg:?} rk={resident}: {e:?}"));
            assert!(cred.cred_id.len() > 16);
            sign_ins(&mut host, &rp, cred, resident);
        }
    }
}

#[test]
fn packed_x5c_refused_under_another_installations_ca() {
    let d = DaemonProc::start(bin(), None, &["--attestation", "x5c"]);
    let other = DaemonProc::start(bin(), None, &["--attestation", "x5c"]);
    let other_ca = export_ca(&other, "other-ca");
    assert_ne!(other_ca, export_ca(&d, "own-ca"));
    let err = register(
        &mut d.host(),
        &rp(),
        COSEAlgorithm::ES256,
        false,
        Some(&ca_list(&other_ca)),
    )
    .expect_err("a chain to a foreign CA must be refused");
    assert!(
        matches!(
            err,
            WebauthnError::AttestationChainNotTrusted(_) | WebauthnError::AttestationNotVerifiable
        ),
        "{err:?}"
    );
}

#[test]
fn packed_self_and_none_attestation() {
    for mode in ["self", "none"] {
        let d = DaemonProc::start(bin(), None, &["--attestation", mode]);
        let rp = rp();
        let mut host = d.host();
        for alg in [COSEAlgorithm::ES256, COSEAlgorithm::ES384] {
            let cred = register(&mut host, &rp, alg, true, None)
                .unwrap_or_else(|e| panic!("webauthn-rs refused {mode} {alg:?}: {e:?}"));
            sign_ins(&mut host, &rp, cred, true);
        }
        // Without an x5c chain, an RP that demands one refuses the registration.
        let cas = ca_list(&export_ca(&d, "ca"));
        assert!(register(&mut host, &rp, COSEAlgorithm::ES256, false, Some(&cas)).is_err());
    }
}

#[test]
fn resident_credential_survives_a_restart() {
    let state = temp_path("fido-persist");
    let rp = rp();
    let mut d = DaemonProc::start(bin(), Some(state.clone()), &[]);
    let cas = ca_list(&export_ca(&d, "ca"));
    let mut cred =
        register(&mut d.host(), &rp, COSEAlgorithm::ES256, true, Some(&cas)).expect("register");
    let (rsp, st) = assertion(&mut d.host(), &rp, &cred, true);
    let result = rp
        .authenticate_credential(&rsp, &st)
        .expect("first sign-in");
    cred.counter = result.counter();
    assert!(d.stop(), "clean exit on SIGTERM, socket removed");

    let d2 = DaemonProc::start(bin(), Some(state.clone()), &[]);
    let mut host = d2.host();
    let (rsp, st) = assertion(&mut host, &rp, &cred, true);
    let result = rp
        .authenticate_credential(&rsp, &st)
        .expect("sign-in after restart");
    assert_eq!(result.counter(), cred.counter + 1, "the counter continues");
    drop(d2);
    drop(d);
    let _ = std::fs::remove_dir_all(state);
}
