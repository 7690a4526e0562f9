//! CTAP2 commands end to end over CTAPHID, with signatures checked by the test itself.

mod common;

use ciborium::value::Value;
use common::*;
use firmware_sim::env::{PresencePurpose, PresenceStatus};
use firmware_sim::testing::{HidHost, ScriptedPresence};
use firmware_sim::{AttestationMode, CounterMode, DEFAULT_AAGUID, TokenConfig};
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
fn discoverable_credentials_newest_first_with_get_next_assertion() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut regs = Vec::new();
    for user in [b"alice".as_slice(), b"bob", b"carol"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        mc.user_name = Some(String::from_utf8(user.to_vec()).unwrap());
        regs.push(make_credential(&mut token, &mut env, &host, &mc));
    }
    make_credential(&mut token, &mut env, &host, &{
        let mut mc = Mc::new("other.example", b"alice");
        mc.rk = Some(true);
        mc
    });
    let ga = Ga::new(RP);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(as_int(get(&body, 5).unwrap()), 3);
    assert_eq!(credential_id_of(&body), regs[2].id);
    assert_signed(&body, &regs[2].key, &ga.client_data_hash);
    // Without user verification only the user handle is returned.
    assert_eq!(get(&body, 4), Some(&tmap(vec![("id", bytes(b"carol"))])));

    for (i, user) in [(1usize, b"bob".as_slice()), (0, b"alice")] {
        env.clock.advance(29_000);
        let (status, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
        assert_eq!(status, OK);
        let body = body.unwrap();
        assert_eq!(credential_id_of(&body), regs[i].id);
        let ad = assert_signed(&body, &regs[i].key, &ga.client_data_hash);
        assert_eq!(ad.flags & 0x01, 0x01);
        assert_eq!(get(&body, 4), Some(&tmap(vec![("id", bytes(user))])));
        assert_eq!(
            get(&body, 5),
            None,
            "numberOfCredentials only in the first response"
        );
    }
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "CTAP2_ERR_NOT_ALLOWED after the last one");
    // Only one presence request for the whole set.
    let gets = env
        .presence
        .requests()
        .iter()
        .filter(|r| r.purpose == PresencePurpose::GetAssertion)
        .count();
    assert_eq!(gets, 1);
}

#[test]
fn get_next_assertion_state_expires_and_belongs_to_its_channel() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for user in [b"a".as_slice(), b"b", b"c"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        make_credential(&mut token, &mut env, &host, &mc);
    }
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "no state yet");

    host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    env.clock.advance(30_001);
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "timer expired");

    host.ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    let other = HidHost::connect(&mut token, &mut env).unwrap();
    let (status, _) = other.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30, "another channel cannot continue");
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, OK, "the owner still can");
    // Any other command on the owner's channel ends the sequence.
    host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    let (status, _) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(status, 0x30);
}

#[test]
fn user_names_are_returned_only_with_user_verification_and_several_accounts() {
    let config = TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let mut mc = Mc::new(RP, b"alice");
    mc.rk = Some(true);
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(
        status, 0x27,
        "CTAP2_ERR_OPERATION_DENIED: discoverable needs UV here"
    );
    assert!(
        env.presence.requests().is_empty(),
        "refused before asking the user"
    );
    mc.uv = Some(true);
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(reg.auth_data.flags, 0x45, "UP | UV | AT");
    assert!(env.presence.requests().last().unwrap().user_verification);

    let mut ga = Ga::new(RP);
    ga.uv = Some(true);
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    let body = body.unwrap();
    assert_eq!(
        get(&body, 4),
        Some(&tmap(vec![("id", bytes(b"alice"))])),
        "single account: id only"
    );
    assert_eq!(
        assert_signed(&body, &reg.key, &ga.client_data_hash).flags,
        0x05
    );

    let mut mc2 = Mc::new(RP, b"bob");
    mc2.rk = Some(true);
    mc2.uv = Some(true);
    make_credential(&mut token, &mut env, &host, &mc2);
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    let user = get(body.as_ref().unwrap(), 4).unwrap().clone();
    assert_eq!(tget(&user, "name"), Some(&text("alice")));
    assert_eq!(tget(&user, "displayName"), Some(&text("alice display")));
    let (_, body) = host.ctap2(&mut token, &mut env, GNA, None).unwrap();
    assert_eq!(
        tget(get(body.as_ref().unwrap(), 4).unwrap(), "name"),
        Some(&text("alice"))
    );
    // A verification that never comes is a user action timeout.
    env.presence = ScriptedPresence::waiting();
    assert_eq!(
        host.ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap()
            .0,
        0x2F
    );
    env.presence = ScriptedPresence::approving();
    // Without UV, several accounts still give ids only.
    let (_, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    assert_eq!(tget(get(body.as_ref().unwrap(), 4).unwrap(), "name"), None);
}

#[test]
fn a_new_resident_credential_replaces_the_old_one_for_the_same_user() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"user");
    mc.rk = Some(true);
    let first = make_credential(&mut token, &mut env, &host, &mc);
    let mut other = Mc::new(RP, b"other-user");
    other.rk = Some(true);
    make_credential(&mut token, &mut env, &host, &other);
    // Use the first one so it has a counter record.
    host.ctap2(
        &mut token,
        &mut env,
        GA,
        Some(&Ga::new(RP).allow(&first.id).value()),
    )
    .unwrap();
    assert_eq!(env.store.count("rk"), 2);
    let second = make_credential(&mut token, &mut env, &host, &mc);
    assert_ne!(first.id, second.id);
    assert_eq!(env.store.count("rk"), 2);
    let listed = token.resident_credentials(&mut env).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.credential_id != first.id));
    let (status, _) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new(RP).allow(&first.id).value()),
        )
        .unwrap();
    assert_eq!(status, 0x2E, "the replaced credential is gone");
    let (status, body) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new(RP).allow(&second.id).value()),
        )
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(
        assert_signed(&body.unwrap(), &second.key, &cdh("ga")).sign_count,
        1
    );
    let summary = token.check_store(&mut env).unwrap();
    assert_eq!(summary.resident_credentials, 2);
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(info.as_ref().unwrap(), 20).unwrap()), 98);
}

#[test]
fn an_excluded_credential_is_refused_after_a_touch() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let nonrk = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let mut mc = Mc::new(RP, b"u2");
    mc.rk = Some(true);
    let rk = make_credential(&mut token, &mut env, &host, &mc);
    for excluded in [&nonrk.id, &rk.id] {
        let before = env.store.snapshot();
        let requests_before = env.presence.requests().len();
        let mut mc = Mc::new(RP, b"u3");
        mc.rk = Some(true);
        mc.exclude = vec![vec![1, 2, 3], excluded.clone()];
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        assert_eq!(status, 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED");
        assert_eq!(env.store.snapshot(), before);
        let last = env.presence.requests().last().unwrap();
        assert_eq!(env.presence.requests().len(), requests_before + 1);
        assert_eq!(last.purpose, PresencePurpose::ExcludedCredential);
    }
    // Even a refused touch gives CREDENTIAL_EXCLUDED.
    env.presence = ScriptedPresence::denying();
    let mut mc = Mc::new(RP, b"u3");
    mc.exclude = vec![nonrk.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, 0x19);
    // An exclude list for another RP does not match.
    env.presence = ScriptedPresence::approving();
    let mut mc = Mc::new("other.example", b"u3");
    mc.exclude = vec![nonrk.id.clone(), rk.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap();
    assert_eq!(status, OK);
}

#[test]
fn silent_preflight_signs_without_presence() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let polls = env.presence.polls();
    env.presence = ScriptedPresence::denying();
    let mut ga = Ga::new(RP).allow(b"not-mine").allow(&reg.id);
    ga.up = Some(false);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(body.as_ref().unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(ad.flags & 0x01, 0, "UP clear");
    assert_eq!(env.presence.polls(), 0);
    assert!(polls > 0);
    // The pre-flight for an unknown credential answers NO_CREDENTIALS, also without a touch.
    let mut ga = Ga::new(RP).allow(b"not-mine");
    ga.up = Some(false);
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, 0x2E);
    assert_eq!(env.presence.polls(), 0);
}

#[test]
fn foreign_tampered_and_other_rp_credential_ids_are_not_found() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let mut tampered = reg.id.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    // A credential made by another token (another master secret) for the same RP.
    let foreign = {
        let mut e = firmware_sim::testing::TestEnv::new(1234);
        let mut t = firmware_sim::Token::new(TokenConfig::default(), &mut e);
        let h = HidHost::connect(&mut t, &mut e).unwrap();
        make_credential(&mut t, &mut e, &h, &Mc::new(RP, b"u")).id
    };
    for (rp, id) in [
        ("other.example", &reg.id),
        (RP, &tampered),
        (RP, &foreign),
        (RP, &vec![0u8; 32]),
    ] {
        let ga = Ga::new(rp).allow(id);
        let (status, _) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, 0x2E, "CTAP2_ERR_NO_CREDENTIALS for {rp}");
    }
    assert_eq!(env.store.snapshot(), before);
    assert_eq!(
        env.presence.requests().len(),
        1,
        "no touch asked for unknown credentials"
    );
    // Discoverable lookup finds nothing for an RP with no resident credential.
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&Ga::new(RP).value()))
        .unwrap();
    assert_eq!(status, 0x2E);
}

#[test]
fn sign_counter_modes() {
    for (mode, reserve) in [
        (CounterMode::PerCredential, 1),
        (CounterMode::Global, 1),
        (CounterMode::AlwaysZero, 1),
        (CounterMode::PerCredential, 4),
        (CounterMode::Global, 4),
        (CounterMode::AlwaysZero, 4),
    ] {
        let config = TokenConfig {
            counter_mode: mode,
            counter_reserve: reserve,
            ..TokenConfig::default()
        };
        let (mut token, mut env, host) = setup(config);
        let a = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"a"));
        let b = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"b"));
        let mut seen = vec![a.auth_data.sign_count, b.auth_data.sign_count];
        for reg in [&a, &a, &b] {
            let ga = Ga::new(RP).allow(&reg.id);
            let (_, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
                .unwrap();
            seen.push(assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash).sign_count);
        }
        // The counter survives a power cycle because its high-water mark was committed before
        // the response; values reserved and not sent are skipped after it.
        token.power_cycle(&mut env);
        let host = HidHost::connect(&mut token, &mut env).unwrap();
        let ga = Ga::new(RP).allow(&a.id);
        let (_, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        seen.push(assert_signed(&body.unwrap(), &a.key, &ga.client_data_hash).sign_count);
        let expected = match (mode, reserve) {
            (CounterMode::PerCredential, 1) => vec![0, 0, 1, 2, 1, 3],
            (CounterMode::Global, 1) => vec![1, 2, 3, 4, 5, 6],
            // a reserved 1..=4 (b its own 1..=4); after the power cycle a starts above 4.
            (CounterMode::PerCredential, _) => vec![0, 0, 1, 2, 1, 5],
            // The registrations commit 1 and 2; the first assertion reserves 3..=6.
            (CounterMode::Global, _) => vec![1, 2, 3, 4, 5, 7],
            (CounterMode::AlwaysZero, _) => vec![0, 0, 0, 0, 0, 0],
        };
        assert_eq!(seen, expected, "{mode:?} reserve {reserve}");
    }
}

#[test]
fn options_are_checked() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let requests = env.presence.requests().len();
    let mut mc = Mc::new(RP, b"u");
    mc.up = Some(false);
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0,
        0x2C
    );
    let mut mc = Mc::new(RP, b"u");
    mc.uv = Some(true);
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0,
        0x2C
    );
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.uv = Some(true);
    assert_eq!(
        host.ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap()
            .0,
        0x2C
    );
    let mut v = Ga::new(RP).allow(&reg.id).value();
    if let Value::Map(e) = &mut v {
        e.push((int(5), tmap(vec![("rk", Value::Bool(true))])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, GA, Some(&v)).unwrap().0,
        0x2B
    );
    // Unknown options are ignored.
    let mut v = Mc::new(RP, b"u").value();
    if let Value::Map(e) = &mut v {
        e.push((int(7), tmap(vec![("xyz", Value::Bool(true))])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        OK
    );
    assert_eq!(env.presence.requests().len(), requests + 1);
    assert_eq!(
        env.store.count("rk"),
        before.keys().filter(|(ns, _)| ns == "rk").count()
    );

    let config = TokenConfig {
        resident_keys: false,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    let mut mc = Mc::new(RP, b"u");
    mc.rk = Some(true);
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0,
        0x2B
    );
}

#[test]
fn pin_uv_auth_params_are_refused_without_a_protocol() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut v = Mc::new(RP, b"u").value();
    if let Value::Map(e) = &mut v {
        e.push((int(8), bytes(&[0; 16])));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x14
    );
    if let Value::Map(e) = &mut v {
        e.push((int(9), int(3)));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x02,
        "an unsupported protocol"
    );
    assert!(env.presence.requests().is_empty());
    assert_eq!(env.store.count("rk"), 0);
    // A CTAP 2.0 key has no PIN/UV auth protocol at all.
    let config = TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    if let Value::Map(e) = &mut v {
        e.retain(|(k, _)| *k != int(9));
        e.push((int(9), int(1)));
    }
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&v)).unwrap().0,
        0x02
    );
    assert!(env.presence.requests().is_empty());
}

/// Sends raw CTAP2 bytes and returns the status.
fn raw_status(
    token: &mut firmware_sim::Token,
    env: &mut firmware_sim::testing::TestEnv,
    host: &HidHost,
    payload: &[u8],
) -> u8 {
    let reply = host
        .request(token, env, firmware_sim::ctaphid::cmd::CBOR, payload)
        .unwrap();
    assert_eq!(reply.payload.len(), 1, "errors have no body");
    reply.payload[0]
}

#[test]
fn malformed_cbor_gets_the_right_error_and_changes_nothing() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    // Give the store some state first.
    make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"u"));
    let before = env.store.snapshot();
    let requests = env.presence.requests().len();
    let good = firmware_sim::cbor::encode(&Mc::new(RP, b"u").value());
    let cases: Vec<(&str, Vec<u8>, u8)> = vec![
        ("truncated", good[..good.len() - 3].to_vec(), 0x12),
        ("trailing byte", [&good[..], &[0x00]].concat(), 0x12),
        ("not CBOR at all", vec![0xFF, 0xFF], 0x12),
        ("no parameters", vec![], 0x12),
        ("not a map", vec![0x83, 0x01, 0x02, 0x03], 0x11),
        ("integer", vec![0x01], 0x11),
        // {2: {}, 1: h'00'}: keys out of order.
        (
            "unsorted keys",
            vec![0xA2, 0x02, 0xA0, 0x01, 0x41, 0x00],
            0x12,
        ),
        // {1: h'00', 1: h'00'}: duplicate key.
        (
            "duplicate keys",
            vec![0xA2, 0x01, 0x41, 0x00, 0x01, 0x41, 0x00],
            0x12,
        ),
        // {1: ...} with the key 1 encoded on two bytes.
        (
            "non-minimal integer",
            vec![0xA1, 0x18, 0x01, 0x41, 0x00],
            0x12,
        ),
        // Indefinite-length map.
        ("indefinite map", vec![0xBF, 0x01, 0x41, 0x00, 0xFF], 0x12),
    ];
    for (what, body, expected) in cases {
        let status = raw_status(&mut token, &mut env, &host, &[&[MC][..], &body].concat());
        assert_eq!(status, expected, "makeCredential: {what}");
        let status = raw_status(&mut token, &mut env, &host, &[&[GA][..], &body].concat());
        assert_eq!(status, expected, "getAssertion: {what}");
    }

    // Missing mandatory parameters and wrong types.
    let mc = Mc::new(RP, b"u").value();
    let without = |key: i64| -> Value {
        match &mc {
            Value::Map(e) => {
                Value::Map(e.iter().filter(|(k, _)| *k != int(key)).cloned().collect())
            }
            _ => unreachable!(),
        }
    };
    let replace = |key: i64, v: Value| -> Value {
        match &mc {
            Value::Map(e) => Value::Map(
                e.iter()
                    .map(|(k, old)| {
                        (
                            k.clone(),
                            if *k == int(key) {
                                v.clone()
                            } else {
                                old.clone()
                            },
                        )
                    })
                    .collect(),
            ),
            _ => unreachable!(),
        }
    };
    let cases: Vec<(&str, Value, u8)> = vec![
        ("no clientDataHash", without(1), 0x14),
        ("no rp", without(2), 0x14),
        ("no user", without(3), 0x14),
        ("no pubKeyCredParams", without(4), 0x14),
        (
            "rp without id",
            replace(2, tmap(vec![("name", text("x"))])),
            0x14,
        ),
        (
            "user without id",
            replace(3, tmap(vec![("name", text("x"))])),
            0x14,
        ),
        (
            "param without alg",
            replace(
                4,
                Value::Array(vec![tmap(vec![("type", text("public-key"))])]),
            ),
            0x14,
        ),
        ("clientDataHash as text", replace(1, text("abc")), 0x11),
        ("rp as text", replace(2, text(RP)), 0x11),
        (
            "rp id as bytes",
            replace(2, tmap(vec![("id", bytes(b"x"))])),
            0x11,
        ),
        (
            "user id as text",
            replace(3, tmap(vec![("id", text("x"))])),
            0x11,
        ),
        (
            "user name as int",
            replace(3, tmap(vec![("id", bytes(b"x")), ("name", int(3))])),
            0x11,
        ),
        ("pubKeyCredParams as map", replace(4, tmap(vec![])), 0x11),
        (
            "alg as text",
            replace(
                4,
                Value::Array(vec![tmap(vec![
                    ("alg", text("-7")),
                    ("type", text("public-key")),
                ])]),
            ),
            0x11,
        ),
        (
            "option as int",
            imap(vec![
                (1, bytes(&cdh("x"))),
                (2, tmap(vec![("id", text(RP))])),
                (3, tmap(vec![("id", bytes(b"u"))])),
                (
                    4,
                    Value::Array(vec![tmap(vec![
                        ("alg", int(-7)),
                        ("type", text("public-key")),
                    ])]),
                ),
                (7, tmap(vec![("rk", int(1))])),
            ]),
            0x11,
        ),
        (
            "clientDataHash of 31 bytes",
            replace(1, bytes(&[0; 31])),
            0x03,
        ),
        (
            "user id of 65 bytes",
            replace(3, tmap(vec![("id", bytes(&[1; 65]))])),
            0x03,
        ),
        (
            "excludeList entry without id",
            imap(vec![
                (1, bytes(&cdh("x"))),
                (2, tmap(vec![("id", text(RP))])),
                (3, tmap(vec![("id", bytes(b"u"))])),
                (
                    4,
                    Value::Array(vec![tmap(vec![
                        ("alg", int(-7)),
                        ("type", text("public-key")),
                    ])]),
                ),
                (
                    5,
                    Value::Array(vec![tmap(vec![("type", text("public-key"))])]),
                ),
            ]),
            0x14,
        ),
    ];
    for (what, value, expected) in cases {
        let (status, _) = host.ctap2(&mut token, &mut env, MC, Some(&value)).unwrap();
        assert_eq!(status, expected, "makeCredential: {what}");
    }
    let ga_cases: Vec<(&str, Value, u8)> = vec![
        ("no rpId", imap(vec![(2, bytes(&cdh("x")))]), 0x14),
        ("no clientDataHash", imap(vec![(1, text(RP))]), 0x14),
        (
            "rpId as bytes",
            imap(vec![(1, bytes(b"x")), (2, bytes(&cdh("x")))]),
            0x11,
        ),
        (
            "allowList as map",
            imap(vec![
                (1, text(RP)),
                (2, bytes(&cdh("x"))),
                (3, tmap(vec![])),
            ]),
            0x11,
        ),
        (
            "descriptor without type",
            imap(vec![
                (1, text(RP)),
                (2, bytes(&cdh("x"))),
                (3, Value::Array(vec![tmap(vec![("id", bytes(b"x"))])])),
            ]),
            0x14,
        ),
    ];
    for (what, value, expected) in ga_cases {
        let (status, _) = host.ctap2(&mut token, &mut env, GA, Some(&value)).unwrap();
        assert_eq!(status, expected, "getAssertion: {what}");
    }
    assert_eq!(env.store.snapshot(), before, "no state change");
    assert_eq!(
        env.presence.requests().len(),
        requests,
        "no touch requested"
    );
    assert!(token.check_store(&mut env).is_ok());
}

#[test]
fn unknown_ctap2_commands_are_invalid() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for c in [0x00u8, 0x03, 0x05, 0x09, 0x40, 0xFF] {
        let (status, body) = host.ctap2(&mut token, &mut env, c, None).unwrap();
        assert_eq!((status, body), (0x01, None), "command 0x{c:02x}");
    }
    // Served: credential management (and its prototype) and large blobs, which need
    // parameters.
    for c in [0x0Au8, 0x0C, 0x41] {
        let (status, _) = host.ctap2(&mut token, &mut env, c, None).unwrap();
        assert_eq!(status, 0x12, "command 0x{c:02x}: CTAP2_ERR_INVALID_CBOR");
    }
}

#[test]
fn reset_needs_a_touch_within_ten_seconds_of_power_up() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let mut mc = Mc::new(RP, b"u");
    mc.rk = Some(true);
    let rk = make_credential(&mut token, &mut env, &host, &mc);
    let nonrk = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"v"));
    host.ctap2(
        &mut token,
        &mut env,
        GA,
        Some(&Ga::new(RP).allow(&nonrk.id).value()),
    )
    .unwrap();
    let ca_before = token.attestation_ca_der(&mut env).unwrap();

    env.clock.advance(10_001);
    let before = env.store.snapshot();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x30
    );
    assert_eq!(env.store.snapshot(), before);

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x27
    );
    env.presence = ScriptedPresence::waiting();
    assert_eq!(
        host.ctap2(&mut token, &mut env, RESET, None).unwrap().0,
        0x2F
    );
    assert_eq!(
        env.store.snapshot(),
        before,
        "nothing erased without the touch"
    );

    token.power_cycle(&mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    env.presence = ScriptedPresence::approving();
    env.presence
        .script([PresenceStatus::Pending, PresenceStatus::Pending]);
    env.clock.advance(9_000);
    let (status, body) = host.ctap2(&mut token, &mut env, RESET, None).unwrap();
    assert_eq!((status, body), (OK, None));
    assert_eq!(
        env.presence.requests().last().unwrap().purpose,
        PresencePurpose::Reset
    );
    assert_eq!(env.store.count("rk"), 0);
    assert_eq!(env.store.count("ctr"), 0);
    for id in [&rk.id, &nonrk.id] {
        let (status, _) = host
            .ctap2(
                &mut token,
                &mut env,
                GA,
                Some(&Ga::new(RP).allow(id).value()),
            )
            .unwrap();
        assert_eq!(status, 0x2E, "credentials are invalid after reset");
    }
    assert_eq!(
        token.attestation_ca_der(&mut env).unwrap(),
        ca_before,
        "the attestation CA stays"
    );
    assert!(token.check_store(&mut env).is_ok());
    // New credentials work after the reset.
    let fresh = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"w"));
    let ga = Ga::new(RP).allow(&fresh.id);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_signed(&body.unwrap(), &fresh.key, &ga.client_data_hash);
}

#[test]
fn selection_waits_for_the_touch() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    env.presence.script([PresenceStatus::Pending; 3]);
    let reply = host
        .request(
            &mut token,
            &mut env,
            firmware_sim::ctaphid::cmd::CBOR,
            &[SELECTION],
        )
        .unwrap();
    assert_eq!(reply.payload, vec![OK]);
    assert!(!reply.keepalives.is_empty());
    env.presence = ScriptedPresence::denying();
    assert_eq!(
        host.ctap2(&mut token, &mut env, SELECTION, None).unwrap().0,
        0x27
    );
}

#[test]
fn the_key_store_fills_up() {
    let config = TokenConfig {
        max_resident_credentials: 2,
        ..TokenConfig::default()
    };
    let (mut token, mut env, host) = setup(config);
    for user in [b"a", b"b"] {
        let mut mc = Mc::new(RP, user);
        mc.rk = Some(true);
        make_credential(&mut token, &mut env, &host, &mc);
    }
    let mut mc = Mc::new(RP, b"c");
    mc.rk = Some(true);
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0,
        0x28
    );
    // Replacing an existing user's credential still works when full.
    let mut mc = Mc::new(RP, b"a");
    mc.rk = Some(true);
    assert_eq!(
        host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap()
            .0,
        OK
    );
    let (_, info) = host.ctap2(&mut token, &mut env, INFO, None).unwrap();
    assert_eq!(as_int(get(info.as_ref().unwrap(), 20).unwrap()), 0);
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
