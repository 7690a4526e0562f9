//! CTAP2 commands end to end over CTAPHID, with signatures checked by the test itself:
//! getInfo, registration and attestation (assertions are in ctap2_assertions.rs, request
//! checking, reset, selection and a full store in ctap2_requests.rs).

mod common;

use ciborium::value::Value;
use common::*;
use firmware_sim::env::PresencePurpose;
use firmware_sim::testing::HidHost;
use firmware_sim::{AttestationMode, DEFAULT_AAGUID, TokenConfig};
use x509_parser::prelude::*;

const RP: &str = "example.com";

#[test]
fn get_info_describes_the_token() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let (status, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(status, OK);
    let info = info.unwrap();
    let versions: Vec<String> = match get(&info, 1).unwrap() {
        Value::Array(a) => a.iter().map(as_text).collect(),
        _ => panic!(),
    };
    // As shipping keys list them (some hosts compare the array in order).
    assert_eq!(versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
    assert_eq!(as_bytes(get(&info, 3).unwrap()), DEFAULT_AAGUID);
    let options = get(&info, 4).unwrap();
    assert_eq!(tget(options, "rk"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "up"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "plat"), Some(&Value::Bool(false)));
    assert_eq!(tget(options, "uv"), None);
    // CTAP 2.1: clientPin without a PIN yet, tokens, config, both PIN/UV auth protocols.
    assert_eq!(tget(options, "clientPin"), Some(&Value::Bool(false)));
    assert_eq!(tget(options, "pinUvAuthToken"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "makeCredUvNotRqd"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "authnrCfg"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "alwaysUv"), Some(&Value::Bool(false)));
    assert_eq!(
        tget(options, "ep"),
        None,
        "not an enterprise-attestation key"
    );
    // Credential management (and its prototype), large blobs.
    assert_eq!(tget(options, "credMgmt"), Some(&Value::Bool(true)));
    assert_eq!(
        tget(options, "credentialMgmtPreview"),
        Some(&Value::Bool(true))
    );
    assert_eq!(tget(options, "largeBlobs"), Some(&Value::Bool(true)));
    assert!(as_int(get(&info, 0x0B).unwrap()) >= 1024);
    assert_eq!(
        get(&info, 2),
        Some(&Value::Array(
            [
                "credProtect",
                "hmac-secret",
                "hmac-secret-mc",
                "credBlob",
                "minPinLength",
                "largeBlobKey"
            ]
            .into_iter()
            .map(text)
            .collect()
        ))
    );
    assert_eq!(get(&info, 6), Some(&Value::Array(vec![int(2), int(1)])));
    assert_eq!(get(&info, 12), Some(&Value::Bool(false)));
    assert_eq!(as_int(get(&info, 13).unwrap()), 4);
    assert_eq!(as_int(get(&info, 5).unwrap()), 7609);
    assert!(as_int(get(&info, 7).unwrap()) >= 1);
    assert!(as_int(get(&info, 8).unwrap()) >= 79);
    assert_eq!(get(&info, 9), Some(&Value::Array(vec![text("usb")])));
    let algs: Vec<i128> = match get(&info, 10).unwrap() {
        Value::Array(a) => a
            .iter()
            .map(|m| {
                assert_eq!(tget(m, "type"), Some(&text("public-key")));
                as_int(tget(m, "alg").unwrap())
            })
            .collect(),
        _ => panic!(),
    };
    assert_eq!(algs, [-7, -8, -35]);
    assert_eq!(as_int(get(&info, 14).unwrap()), 1);
    assert_eq!(as_int(get(&info, 20).unwrap()), 100);

    let config = TokenConfig {
        user_verification: true,
        resident_keys: false,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    let options = get(info.as_ref().unwrap(), 4).unwrap();
    assert_eq!(tget(options, "uv"), Some(&Value::Bool(true)));
    assert_eq!(tget(options, "rk"), Some(&Value::Bool(false)));
    assert_eq!(get(info.as_ref().unwrap(), 20), None);
}

fn batch_certificate_key(der: &[u8]) -> p256::ecdsa::VerifyingKey {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&cert.public_key().subject_public_key.data).unwrap()
}

#[test]
fn es256_registration_with_batch_attestation_and_sign_in() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mc = Mc::new(RP, b"user-1");
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    let body = &reg.response;
    assert_eq!(get(body, 1), Some(&text("packed")));
    let ad = &reg.auth_data;
    assert_eq!(ad.rp_id_hash, rp_hash(RP));
    assert_eq!(ad.flags, 0x41, "UP | AT");
    assert_eq!(ad.sign_count, 0);
    assert_eq!(ad.aaguid.as_deref(), Some(&DEFAULT_AAGUID[..]));
    assert!(matches!(reg.key, PublicKey::Es256(_)));

    // The packed statement verifies with the batch certificate's key.
    let stmt = get(body, 3).unwrap();
    assert_eq!(as_int(tget(stmt, "alg").unwrap()), -7);
    let x5c = match tget(stmt, "x5c").unwrap() {
        Value::Array(a) => a.iter().map(as_bytes).collect::<Vec<_>>(),
        _ => panic!(),
    };
    assert_eq!(x5c.len(), 1);
    let mut signed = ad.raw.clone();
    signed.extend_from_slice(&mc.client_data_hash);
    let batch = PublicKey::Es256(batch_certificate_key(&x5c[0]));
    assert!(batch.verify(&signed, &as_bytes(tget(stmt, "sig").unwrap())));
    // ...and the batch certificate chains to the exported CA.
    let ca_der = token.attestation_ca_der(&mut env).unwrap();
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    let (_, leaf) = X509Certificate::from_der(&x5c[0]).unwrap();
    assert_eq!(leaf.issuer(), ca.subject());
    {
        use p256::ecdsa::signature::Verifier;
        let vk =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&ca.public_key().subject_public_key.data)
                .unwrap();
        let sig = p256::ecdsa::Signature::from_der(&leaf.signature_value.data).unwrap();
        assert!(vk.verify(leaf.tbs_certificate.as_ref(), &sig).is_ok());
    }
    assert!(
        token
            .attestation_ca_pem(&mut env)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );

    // Sign in with the allow list; the counter moves; a wrong key would not verify.
    for expected in 1..=3u32 {
        let ga = Ga::new(RP).allow(&reg.id);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        let body = body.unwrap();
        assert_eq!(credential_id_of(&body), reg.id);
        assert_eq!(
            tget(get(&body, 1).unwrap(), "type"),
            Some(&text("public-key"))
        );
        let ad = assert_signed(&body, &reg.key, &ga.client_data_hash);
        assert_eq!(ad.flags, 0x01);
        assert_eq!(ad.sign_count, expected);
        assert_eq!(get(&body, 4), None, "no user for a non-resident credential");
        assert_eq!(get(&body, 5), None);
        assert!(!batch.verify(
            &{
                let mut m = ad.raw.clone();
                m.extend_from_slice(&ga.client_data_hash);
                m
            },
            &as_bytes(get(&body, 3).unwrap())
        ));
    }
    let purposes: Vec<_> = env.presence.requests().iter().map(|r| r.purpose).collect();
    assert_eq!(
        purposes,
        [
            PresencePurpose::MakeCredential,
            PresencePurpose::GetAssertion,
            PresencePurpose::GetAssertion,
            PresencePurpose::GetAssertion
        ]
    );
    assert_eq!(env.presence.requests()[0].rp_id.as_deref(), Some(RP));
}

#[test]
fn algorithm_follows_the_callers_order() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for (algs, expect) in [
        (vec![-8, -7], "EdDsa"),
        (vec![-35, -7], "Es384"),
        (vec![-257, -7, -8], "Es256"),
        (vec![-257, -8], "EdDsa"),
    ] {
        let mut mc = Mc::new(RP, b"u");
        mc.algs = algs.clone();
        let reg = make_credential(&mut token, &mut env, &host, &mc);
        assert!(format!("{:?}", reg.key).starts_with(expect), "{algs:?}");
        let ga = Ga::new(RP).allow(&reg.id);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
        // Self-check of the independent verifier: a tampered message fails.
        let stmt = get(&reg.response, 3).unwrap();
        assert!(
            !reg.key
                .verify(b"tampered", &as_bytes(tget(stmt, "sig").unwrap()))
        );
    }
}

#[test]
fn unsupported_algorithms_and_types_are_refused() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let before = env.store.snapshot();
    let mut mc = Mc::new(RP, b"u");
    mc.algs = vec![-257, -37];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x26, "CTAP2_ERR_UNSUPPORTED_ALGORITHM");
    // The right algorithm with an unknown type does not count.
    let mut v = Mc::new(RP, b"u").value();
    if let Value::Map(entries) = &mut v {
        entries[3].1 = Value::Array(vec![tmap(vec![
            ("alg", int(-7)),
            ("type", text("secret-key")),
        ])]);
    }
    let (status, _) = host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap();
    assert_eq!(status, 0x26);
    assert_eq!(env.store.snapshot(), before);
    assert!(env.presence.requests().is_empty());
}

#[test]
fn self_and_none_attestation() {
    let config = TokenConfig {
        attestation: AttestationMode::SelfAttestation,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    for alg in [-7, -8, -35] {
        let mut mc = Mc::new(RP, b"u");
        mc.algs = vec![alg];
        let reg = make_credential(&mut token, &mut env, &host, &mc);
        let stmt = get(&reg.response, 3).unwrap();
        assert_eq!(get(&reg.response, 1), Some(&text("packed")));
        assert_eq!(as_int(tget(stmt, "alg").unwrap()), i128::from(alg));
        assert_eq!(tget(stmt, "x5c"), None);
        let mut signed = reg.auth_data.raw.clone();
        signed.extend_from_slice(&mc.client_data_hash);
        assert!(
            reg.key
                .verify(&signed, &as_bytes(tget(stmt, "sig").unwrap()))
        );
    }
    let config = TokenConfig {
        attestation: AttestationMode::None,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    assert_eq!(get(&reg.response, 1), Some(&text("none")));
    assert_eq!(get(&reg.response, 3), Some(&Value::Map(vec![])));
}

#[test]
fn an_installation_wide_attestation_pki_is_shared_by_tokens() {
    let mut rng = firmware_sim::testing::SeededRng::new(77);
    let pki = firmware_sim::AttestationPki::generate(
        &mut rng,
        &firmware_sim::PkiParams::new(DEFAULT_AAGUID, 1_767_225_600),
    )
    .unwrap();
    let config = TokenConfig {
        attestation_pki: Some(pki.clone()),
        ..TokenConfig::default()
    };
    let mut certs = Vec::new();
    for seed in [1, 2] {
        let mut env = firmware_sim::testing::TestEnv::new(seed);
        let mut token = firmware_sim::Token::new(config.clone(), &mut env);
        let host = HidHost::connect(&mut token, &mut env).unwrap();
        let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
        let stmt = get(&reg.response, 3).unwrap();
        let x5c = match tget(stmt, "x5c").unwrap() {
            Value::Array(a) => as_bytes(&a[0]),
            _ => panic!(),
        };
        assert_eq!(x5c, pki.batch_certificate_der());
        assert_eq!(
            token.attestation_ca_der(&mut env).unwrap(),
            pki.ca_certificate_der()
        );
        assert_eq!(
            env.store.count("attestation"),
            0,
            "not copied into the token's store"
        );
        assert!(token.check_store(&mut env).is_ok());
        certs.push(x5c);
    }
    assert_eq!(certs[0], certs[1]);
    // Debug output never shows the keys.
    let stored = firmware_sim::cbor::decode(&pki.to_bytes()).unwrap();
    let ca_key = as_bytes(get(&stored, 1).unwrap());
    let shown = format!("{config:?}");
    assert!(shown.contains("redacted"));
    assert!(
        !shown.contains(
            &format!("{:?}", &ca_key[..6])
                .trim_end_matches(']')
                .to_string()
        )
    );
}
