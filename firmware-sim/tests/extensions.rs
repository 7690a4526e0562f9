//! credProtect, credBlob and minPinLength (CTAP 2.1 §12.1, §12.2, §12.4), the getInfo members
//! that announce extensions, and old (version-1) sealed credential ids, over real CTAPHID
//! framing. hmac-secret has tests/hmac_secret.rs.

mod common;

use ciborium::Value;
use common::pin::*;
use common::*;
use firmware_sim::env::RecordStore;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Protocol, Token, TokenConfig};

const RP: &str = "example.com";
const PIN: &str = "1234";
const NO_CREDENTIALS: u8 = 0x2E;
const CREDENTIAL_EXCLUDED: u8 = 0x19;
const CBOR_UNEXPECTED_TYPE: u8 = 0x11;

fn with_pin() -> (Token, TestEnv, HidHost) {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    (token, env, host)
}

fn token_for(token: &mut Token, env: &mut TestEnv, host: &HidHost, perm: i64) -> Vec<u8> {
    pin_token(token, env, host, 2, PIN, Some(perm), Some(RP)).unwrap()
}

/// A credential with credProtect `level` (discoverable ones are made with a PIN token, as a
/// PIN key requires).
fn protected(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    user: &[u8],
    level: i64,
    rk: bool,
) -> Registered {
    let mut mc = Mc::new(RP, user);
    mc.extensions = Some(tmap(vec![("credProtect", int(level))]));
    if rk {
        let t = token_for(token, env, host, PERM_MC);
        mc = mc.with_token(2, &t);
        mc.rk = Some(true);
    }
    let reg = make_credential(token, env, host, &mc);
    assert_eq!(
        reg.auth_data.extension("credProtect"),
        Some(&int(level)),
        "the level is echoed"
    );
    reg
}

/// getAssertion's status and, on success, the credential ids it returns (getNextAssertion
/// included).
fn assert_ids(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    allow: Option<&[u8]>,
    uv: bool,
) -> Result<Vec<Vec<u8>>, u8> {
    let mut ga = Ga::new(RP);
    if let Some(id) = allow {
        ga = ga.allow(id);
    }
    if uv {
        let t = token_for(token, env, host, PERM_GA);
        ga = ga.with_token(2, &t);
    }
    let (status, body) = host.ctap2(token, env, GA, Some(&ga.value())).unwrap();
    if status != OK {
        return Err(status);
    }
    let body = body.unwrap();
    let mut ids = vec![credential_id_of(&body)];
    let total = get(&body, 5).map_or(1, |n| as_int(n) as usize);
    for _ in 1..total {
        let (status, next) = host.ctap2(token, env, GNA, None).unwrap();
        assert_eq!(status, OK);
        ids.push(credential_id_of(&next.unwrap()));
    }
    assert_eq!(
        host.ctap2(token, env, GNA, None).unwrap().0,
        0x30,
        "no more"
    );
    Ok(ids)
}

#[test]
fn get_info_announces_the_extensions_and_their_limits() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let got = info(&mut token, &mut env, &host);
    let names: Vec<String> = match get(&got, 2).unwrap() {
        Value::Array(a) => a.iter().map(as_text).collect(),
        other => panic!("{other:?}"),
    };
    for name in [
        "credProtect",
        "hmac-secret",
        "hmac-secret-mc",
        "credBlob",
        "minPinLength",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert_eq!(as_int(get(&got, 0x0F).unwrap()), 32, "maxCredBlobLength");
    assert_eq!(
        as_int(get(&got, 0x10).unwrap()),
        8,
        "maxRPIDsForSetMinPINLength"
    );
    // A CTAP 2.0 key stays the 2.0 subset: no extensions, and requests naming them work as
    // before (ignored).
    let (mut token, mut env, host) = setup(TokenConfig {
        protocol: Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    let got = info(&mut token, &mut env, &host);
    assert!(get(&got, 2).is_none() && get(&got, 0x0F).is_none());
    let mut mc = Mc::new(RP, b"u");
    mc.extensions = Some(tmap(vec![
        ("credProtect", int(3)),
        ("credBlob", bytes(b"x")),
    ]));
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    assert_eq!(reg.auth_data.extensions, None);
    assert_eq!(
        assert_ids(&mut token, &mut env, &host, Some(&reg.id), false),
        Ok(vec![reg.id.clone()])
    );
}

#[test]
fn cred_protect_levels_decide_what_get_assertion_finds() {
    let (mut token, mut env, host) = with_pin();
    let l1 = protected(&mut token, &mut env, &host, b"one", 1, true);
    let l2 = protected(&mut token, &mut env, &host, b"two", 2, true);
    let l3 = protected(&mut token, &mut env, &host, b"three", 3, true);
    // Without user verification: discovery finds level 1 only.
    assert_eq!(
        assert_ids(&mut token, &mut env, &host, None, false),
        Ok(vec![l1.id.clone()])
    );
    // The control API's listing shows the levels.
    let listed: Vec<Option<u8>> = token
        .credentials(&mut env)
        .unwrap()
        .iter()
        .map(|c| c.cred_protect)
        .collect();
    assert_eq!(listed, [Some(1), Some(2), Some(3)]);
    // With it, all three, newest first, and numberOfCredentials counts them.
    assert_eq!(
        assert_ids(&mut token, &mut env, &host, None, true),
        Ok(vec![l3.id.clone(), l2.id.clone(), l1.id.clone()])
    );
    // Through an allow list without user verification: levels 1 and 2.
    for (reg, found) in [(&l1, true), (&l2, true), (&l3, false)] {
        let got = assert_ids(&mut token, &mut env, &host, Some(&reg.id), false);
        let expected = if found {
            Ok(vec![reg.id.clone()])
        } else {
            Err(NO_CREDENTIALS)
        };
        assert_eq!(got, expected);
        assert_eq!(
            assert_ids(&mut token, &mut env, &host, Some(&reg.id), true),
            Ok(vec![reg.id.clone()])
        );
    }
    // An allow list skips a level-3 credential it cannot use and takes the next one.
    let mut ga = Ga::new(RP).allow(&l3.id).allow(&l2.id);
    ga.client_data_hash = cdh("two listed");
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    assert_eq!(credential_id_of(&body.unwrap()), l2.id);
}

#[test]
fn cred_protect_travels_in_sealed_ids_and_survives_power_cycles() {
    let (mut token, mut env, mut host) = with_pin();
    let regs: Vec<Registered> = (1..=3)
        .map(|level| protected(&mut token, &mut env, &host, b"u", level, false))
        .collect();
    assert_eq!(env.store.count("rk"), 0, "non-discoverable: nothing stored");
    for reg in &regs {
        assert!(
            reg.id.len() <= 128 && reg.id[0] == 0x02,
            "a version-2 sealed id"
        );
    }
    token.power_cycle(&mut env);
    host = HidHost::connect(&mut token, &mut env).unwrap();
    for (reg, usable_without_uv) in regs.iter().zip([true, true, false]) {
        let got = assert_ids(&mut token, &mut env, &host, Some(&reg.id), false);
        assert_eq!(got.is_ok(), usable_without_uv);
        assert!(assert_ids(&mut token, &mut env, &host, Some(&reg.id), true).is_ok());
    }
    // A level sealed into an id cannot be stripped: any change to the id makes it unknown.
    let mut altered = regs[2].id.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert_eq!(
        assert_ids(&mut token, &mut env, &host, Some(&altered), true),
        Err(NO_CREDENTIALS)
    );
}

#[test]
fn the_exclude_list_skips_a_level_three_credential_without_user_verification() {
    for rk in [false, true] {
        let (mut token, mut env, host) = with_pin();
        let l2 = protected(&mut token, &mut env, &host, b"two", 2, rk);
        let l3 = protected(&mut token, &mut env, &host, b"three", 3, rk);
        let mut mc = Mc::new(RP, b"new");
        mc.exclude = vec![l3.id.clone()];
        // Without user verification: skipped silently, the registration goes ahead.
        let reg = make_credential(&mut token, &mut env, &host, &mc);
        assert_ne!(reg.id, l3.id);
        // With a PIN token it is excluded (after the touch that paces probing).
        let t = token_for(&mut token, &mut env, &host, PERM_MC);
        let polls = env.presence.requests().len();
        let verified = Mc {
            exclude: vec![l3.id.clone()],
            ..Mc::new(RP, b"new")
        }
        .with_token(2, &t);
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&verified.value()))
            .unwrap();
        assert_eq!(status, CREDENTIAL_EXCLUDED, "rk {rk}");
        assert_eq!(env.presence.requests().len(), polls + 1);
        // Level 2 is named by the list: excluded without user verification too.
        mc.exclude = vec![l2.id.clone()];
        let (status, _) = host
            .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
            .unwrap();
        assert_eq!(status, CREDENTIAL_EXCLUDED, "rk {rk}");
    }
}

#[test]
fn a_level_three_exclusion_with_built_in_uv_asks_for_verification() {
    let (mut token, mut env, host) = setup(TokenConfig {
        user_verification: true,
        ..TokenConfig::default()
    });
    let mut mc = Mc::new(RP, b"u");
    mc.uv = Some(true);
    mc.extensions = Some(tmap(vec![("credProtect", int(3))]));
    let l3 = make_credential(&mut token, &mut env, &host, &mc);
    let mut again = Mc::new(RP, b"v");
    again.uv = Some(true);
    again.exclude = vec![l3.id.clone()];
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&again.value()))
        .unwrap();
    assert_eq!(status, CREDENTIAL_EXCLUDED);
    assert!(env.presence.requests().last().unwrap().user_verification);
    // Failed built-in UV: a failed attempt (OPERATION_DENIED without a PIN), not EXCLUDED.
    env.presence = firmware_sim::testing::ScriptedPresence::not_verifying();
    let (status, _) = host
        .ctap2(&mut token, &mut env, MC, Some(&again.value()))
        .unwrap();
    assert_eq!(status, OPERATION_DENIED);
    assert_eq!(uv_retries(&mut token, &mut env, &host), 7);
}

#[test]
fn bad_cred_protect_values_are_refused_and_register_nothing() {
    let (mut token, mut env, host) = with_pin();
    let store = env.store.snapshot();
    for (value, status) in [
        (int(0), INVALID_PARAMETER),
        (int(4), INVALID_PARAMETER),
        (int(-1), CBOR_UNEXPECTED_TYPE),
        (text("userVerificationRequired"), CBOR_UNEXPECTED_TYPE),
    ] {
        let mut mc = Mc::new(RP, b"u");
        mc.extensions = Some(tmap(vec![("credProtect", value)]));
        assert_eq!(
            host.ctap2(&mut token, &mut env, MC, Some(&mc.value()))
                .unwrap()
                .0,
            status
        );
    }
    assert_eq!(env.store.snapshot(), store);
}

#[test]
fn cred_blob_is_stored_returned_and_refused_when_too_long() {
    let (mut token, mut env, host) = with_pin();
    for rk in [true, false] {
        let register = |token: &mut Token, env: &mut TestEnv, blob: &[u8], user: &[u8]| {
            let mut mc = Mc::new(RP, user);
            mc.extensions = Some(tmap(vec![("credBlob", bytes(blob))]));
            if rk {
                let t = token_for(token, env, &host, PERM_MC);
                mc = mc.with_token(2, &t);
                mc.rk = Some(true);
            }
            make_credential(token, env, &host, &mc)
        };
        let read = |token: &mut Token, env: &mut TestEnv, reg: &Registered, ask: Value| {
            let mut ga = Ga::new(RP).allow(&reg.id);
            ga.extensions = Some(tmap(vec![("credBlob", ask)]));
            let (status, body) = host.ctap2(token, env, GA, Some(&ga.value())).unwrap();
            assert_eq!(status, OK);
            assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash)
        };
        let full = register(&mut token, &mut env, &[0xB1; 32], b"full");
        assert_eq!(
            full.auth_data.extension("credBlob"),
            Some(&Value::Bool(true))
        );
        if rk {
            let listed = token.credentials(&mut env).unwrap();
            assert!(
                listed
                    .iter()
                    .any(|c| c.credential_id == full.id && c.has_cred_blob)
            );
        }
        let ad = read(&mut token, &mut env, &full, Value::Bool(true));
        assert_eq!(
            ad.extension("credBlob"),
            Some(&bytes(&[0xB1; 32])),
            "rk {rk}"
        );
        // Asked with false: no output at all.
        let ad = read(&mut token, &mut env, &full, Value::Bool(false));
        assert_eq!(ad.extensions, None);

        let long = register(&mut token, &mut env, &[0xB2; 33], b"long");
        assert_eq!(
            long.auth_data.extension("credBlob"),
            Some(&Value::Bool(false))
        );
        let ad = read(&mut token, &mut env, &long, Value::Bool(true));
        assert_eq!(ad.extension("credBlob"), Some(&bytes(b"")), "none stored");

        let plain = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"plain"));
        let ad = read(&mut token, &mut env, &plain, Value::Bool(true));
        assert_eq!(ad.extension("credBlob"), Some(&bytes(b"")));
    }
    // Mistyped inputs.
    let mut mc = Mc::new(RP, b"u");
    mc.extensions = Some(tmap(vec![("credBlob", text("blob"))]));
    let status = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap()
        .0;
    assert_eq!(status, CBOR_UNEXPECTED_TYPE);
    let reg = make_credential(&mut token, &mut env, &host, &Mc::new(RP, b"w"));
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.extensions = Some(tmap(vec![("credBlob", bytes(b"x"))]));
    let status = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap()
        .0;
    assert_eq!(status, CBOR_UNEXPECTED_TYPE);
}

#[test]
fn min_pin_length_is_told_only_to_listed_relying_parties() {
    let (mut token, mut env, host) = with_pin();
    let ask = |token: &mut Token, env: &mut TestEnv, rp: &str| {
        let mut mc = Mc::new(rp, b"u");
        mc.extensions = Some(tmap(vec![("minPinLength", Value::Bool(true))]));
        make_credential(token, env, &host, &mc).auth_data
    };
    // No list yet: no output.
    assert_eq!(ask(&mut token, &mut env, RP).extensions, None);
    let t = pin_token(&mut token, &mut env, &host, 2, PIN, Some(PERM_ACFG), None).unwrap();
    let params = imap(vec![
        (1, int(6)),
        (2, Value::Array(vec![text(RP), text("other.example")])),
    ]);
    assert_eq!(
        config(
            &mut token,
            &mut env,
            &host,
            0x03,
            Some(params),
            Some((2, &t))
        ),
        OK
    );
    for rp in [RP, "other.example"] {
        assert_eq!(
            ask(&mut token, &mut env, rp).extension("minPinLength"),
            Some(&int(6))
        );
    }
    assert_eq!(
        ask(&mut token, &mut env, "unlisted.example").extensions,
        None
    );
    // false asks for nothing; a non-boolean is refused.
    let mut mc = Mc::new(RP, b"u");
    mc.extensions = Some(tmap(vec![("minPinLength", Value::Bool(false))]));
    assert_eq!(
        make_credential(&mut token, &mut env, &host, &mc)
            .auth_data
            .extensions,
        None
    );
    mc.extensions = Some(tmap(vec![("minPinLength", int(1))]));
    let status = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap()
        .0;
    assert_eq!(status, CBOR_UNEXPECTED_TYPE);
}

#[test]
fn several_extensions_answer_together_and_unknown_ones_are_ignored() {
    let (mut token, mut env, host) = with_pin();
    let mut mc = Mc::new(RP, b"u");
    mc.extensions = Some(tmap(vec![
        ("credProtect", int(2)),
        ("credBlob", bytes(b"blob")),
        ("hmac-secret", Value::Bool(true)),
        ("futureExtension", tmap(vec![("x", int(1))])),
    ]));
    let reg = make_credential(&mut token, &mut env, &host, &mc);
    let ext = reg.auth_data.extensions.clone().unwrap();
    let Value::Map(entries) = &ext else {
        panic!("{ext:?}")
    };
    let keys: Vec<String> = entries.iter().map(|(k, _)| as_text(k)).collect();
    assert_eq!(keys, ["credBlob", "credProtect", "hmac-secret"]);
    let mut ga = Ga::new(RP).allow(&reg.id);
    ga.extensions = Some(tmap(vec![
        ("credBlob", Value::Bool(true)),
        ("futureExtension", int(1)),
    ]));
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(ad.extension("credBlob"), Some(&bytes(b"blob")));
    assert_eq!(ad.flags & 0x80, 0x80);
}

/// Seals a version-1 id the way the firmware before sealed-id version 2 did, from the master
/// secret in the store (the format written out here, with the crates directly).
fn seal_v1(env: &TestEnv, rp_id: &str, alg_code: u8, secret: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
    use sha2::{Digest, Sha256};
    let master = env.store.get("meta", b"master-secret").unwrap().unwrap();
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"authsim firmware-sim"), &master);
    let mut key = [0u8; 32];
    hk.expand(b"credential id wrapping v1", &mut key).unwrap();
    let mut aad = vec![0x01];
    aad.extend_from_slice(&Sha256::digest(rp_id.as_bytes()));
    let mut plaintext = vec![alg_code, 0];
    plaintext.extend_from_slice(secret);
    let nonce = [0x5A; 12];
    let sealed = Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    let mut id = vec![0x01];
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    id
}

#[test]
fn version_one_sealed_ids_still_sign_and_take_extensions() {
    use firmware_sim::PrivateKey;
    use firmware_sim::credential::Algorithm;
    let (mut token, mut env, host) = with_pin();
    // The master secret exists from the first boot on.
    let key = PrivateKey::generate(Algorithm::Es256, &mut env.rng).unwrap();
    let id = seal_v1(&env, RP, 1, &key.to_bytes());
    let public = PublicKey::from_cose(&key.cose_public_key().unwrap());
    let mut session = Session::new(&mut token, &mut env, &host, 2);
    let mut ga = Ga::new(RP).allow(&id);
    ga.extensions = Some(tmap(vec![
        ("hmac-secret", session.hmac_secret_input(&[9; 32])),
        ("credBlob", Value::Bool(true)),
    ]));
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    assert_eq!(credential_id_of(&body), id);
    let ad = assert_signed(&body, &public, &ga.client_data_hash);
    assert_eq!(ad.extension("credBlob"), Some(&bytes(b"")));
    let out = session.decrypt(&as_bytes(ad.extension("hmac-secret").unwrap()));
    assert_eq!(out.len(), 32);
    // Without credProtect it is found without user verification, and in an exclude list.
    let mut mc = Mc::new(RP, b"u");
    mc.exclude = vec![id.clone()];
    let status = host
        .ctap2(&mut token, &mut env, MC, Some(&mc.value()))
        .unwrap()
        .0;
    assert_eq!(status, CREDENTIAL_EXCLUDED);
    // For another relying party it is nobody's.
    let (status, _) = host
        .ctap2(
            &mut token,
            &mut env,
            GA,
            Some(&Ga::new("other.example").allow(&id).value()),
        )
        .unwrap();
    assert_eq!(status, NO_CREDENTIALS);
}
