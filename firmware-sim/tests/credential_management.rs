//! authenticatorCredentialManagement (0x0A) and its prototype (0x41) over real CTAPHID framing,
//! with the platform's side of the PIN/UV auth protocols written by the test
//! (tests/common/pin.rs): every subcommand, positive and negative, each refusal checked to change
//! nothing (the store is compared byte for byte).

mod common;

use ciborium::value::Value;
use common::pin::*;
use common::*;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{ImportedCredential, Token, TokenConfig, UserEntity};

const PIN: &str = "1234";
const CM: u8 = 0x0A;
const CM_PREVIEW: u8 = 0x41;
const PROTOCOLS: [u8; 2] = [1, 2];

const NOT_ALLOWED: u8 = 0x30;
const NO_CREDENTIALS: u8 = 0x2E;
const INVALID_SUBCOMMAND: u8 = 0x3E;
const INVALID_COMMAND: u8 = 0x01;

const GET_CREDS_METADATA: u8 = 0x01;
const RPS_BEGIN: u8 = 0x02;
const RPS_NEXT: u8 = 0x03;
const CREDS_BEGIN: u8 = 0x04;
const CREDS_NEXT: u8 = 0x05;
const DELETE: u8 = 0x06;
const UPDATE_USER: u8 = 0x07;

fn with_pin(protocol: u8) -> (Token, TestEnv, HidHost) {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut token, &mut env, &host, protocol, PIN), OK);
    (token, env, host)
}

/// CBOR as the platform encodes it (ciborium directly; maps are built in canonical order).
fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// One credential-management request; `auth` authenticates subCommand || subCommandParams with
/// a token of a protocol.
fn cm(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    sub: u8,
    params: Option<Value>,
    auth: Option<(u8, &[u8])>,
) -> (u8, Option<Value>) {
    cm_with(t, env, host, CM, sub, params, auth)
}

fn cm_with(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    command: u8,
    sub: u8,
    params: Option<Value>,
    auth: Option<(u8, &[u8])>,
) -> (u8, Option<Value>) {
    let mut members = vec![(1, int(sub.into()))];
    if let Some(p) = &params {
        members.push((2, p.clone()));
    }
    if let Some((protocol, token)) = auth {
        let mut msg = vec![sub];
        if let Some(p) = &params {
            msg.extend(encode(p));
        }
        members.push((3, int(protocol.into())));
        members.push((4, bytes(&authenticate(protocol, token, &msg))));
    }
    host.ctap2(t, env, command, Some(&imap(members))).unwrap()
}

fn cm_token(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    rp: Option<&str>,
) -> Vec<u8> {
    pin_token(t, env, host, protocol, PIN, Some(PERM_CM), rp).unwrap()
}

/// A discoverable credential registered with a token (the key has a PIN).
fn register(
    t: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    rp: &str,
    user: &[u8],
) -> Registered {
    let tok = pin_token(t, env, host, protocol, PIN, Some(PERM_MC), Some(rp)).unwrap();
    let mut mc = Mc::new(rp, user).with_token(protocol, &tok);
    mc.rk = Some(true);
    mc.user_name = Some(format!("{}", String::from_utf8_lossy(user)));
    make_credential(t, env, host, &mc)
}

fn rp_hash_params(rp: &str) -> Value {
    imap(vec![(1, bytes(&rp_hash(rp)))])
}

fn cred_params(id: &[u8]) -> Value {
    imap(vec![(2, descriptor(id))])
}

fn uint(body: &Value, key: i64) -> i128 {
    as_int(get(body, key).unwrap())
}

#[test]
fn get_info_claims_credential_management_only_where_it_is_served() {
    let (mut t, mut env, host) = setup(TokenConfig::default());
    let opts = info_options(&mut t, &mut env, &host);
    assert_eq!(tget(&opts, "credMgmt"), Some(&Value::Bool(true)));
    assert_eq!(
        tget(&opts, "credentialMgmtPreview"),
        Some(&Value::Bool(true))
    );
    // A CTAP 2.0 key: neither claimed nor served.
    for config in [
        TokenConfig {
            protocol: firmware_sim::Protocol::Ctap2_0,
            ..TokenConfig::default()
        },
        TokenConfig {
            resident_keys: false,
            ..TokenConfig::default()
        },
    ] {
        let (mut t, mut env, host) = setup(config);
        let opts = info_options(&mut t, &mut env, &host);
        assert_eq!(tget(&opts, "credMgmt"), None);
        assert_eq!(tget(&opts, "credentialMgmtPreview"), None);
        for command in [CM, CM_PREVIEW] {
            let (status, _) = cm_with(
                &mut t,
                &mut env,
                &host,
                command,
                GET_CREDS_METADATA,
                None,
                None,
            );
            assert_eq!(status, INVALID_COMMAND);
        }
    }
}

#[test]
fn metadata_counts_discoverable_credentials_only_with_either_command_and_protocol() {
    for protocol in PROTOCOLS {
        let (mut t, mut env, host) = with_pin(protocol);
        register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
        register(&mut t, &mut env, &host, protocol, "b.example", b"u2");
        // A non-resident credential and an imported non-discoverable one are not counted.
        let tok = pin_token(
            &mut t,
            &mut env,
            &host,
            protocol,
            PIN,
            Some(PERM_MC),
            Some("a.example"),
        )
        .unwrap();
        make_credential(
            &mut t,
            &mut env,
            &host,
            &Mc::new("a.example", b"nr").with_token(protocol, &tok),
        );
        t.import_credential(
            &mut env,
            ImportedCredential {
                id: vec![7; 20],
                rp_id: "a.example".into(),
                user: None,
                key: firmware_sim::PrivateKey::from_bytes(
                    firmware_sim::credential::Algorithm::Es256,
                    &[3; 32],
                )
                .unwrap(),
                sign_count: 0,
                discoverable: false,
            },
        )
        .unwrap();
        for command in [CM, CM_PREVIEW] {
            let tok = cm_token(&mut t, &mut env, &host, protocol, None);
            let (status, body) = cm_with(
                &mut t,
                &mut env,
                &host,
                command,
                GET_CREDS_METADATA,
                None,
                Some((protocol, &tok)),
            );
            assert_eq!(status, OK);
            let body = body.unwrap();
            assert_eq!(uint(&body, 1), 2, "existingResidentCredentialsCount");
            assert_eq!(
                uint(&body, 2),
                98,
                "maxPossibleRemainingResidentCredentialsCount"
            );
        }
    }
}

#[test]
fn every_authorised_subcommand_needs_a_cm_token_and_a_refusal_changes_nothing() {
    for protocol in PROTOCOLS {
        let (mut t, mut env, host) = with_pin(protocol);
        let reg = register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
        let user = UserEntity {
            id: b"u1".to_vec(),
            name: Some("new".into()),
            display_name: None,
        };
        let cases: Vec<(u8, Option<Value>)> = vec![
            (GET_CREDS_METADATA, None),
            (RPS_BEGIN, None),
            (CREDS_BEGIN, Some(rp_hash_params("a.example"))),
            (DELETE, Some(cred_params(&reg.id))),
            (
                UPDATE_USER,
                Some(imap(vec![(2, descriptor(&reg.id)), (3, user_value(&user))])),
            ),
        ];
        for (sub, params) in cases {
            let mc_ga = pin_token(
                &mut t,
                &mut env,
                &host,
                protocol,
                PIN,
                Some(PERM_MC | PERM_GA),
                None,
            )
            .unwrap();
            let before = env.store.snapshot();
            // No pinUvAuthParam.
            let (status, _) = cm(&mut t, &mut env, &host, sub, params.clone(), None);
            assert_eq!(status, PUAT_REQUIRED, "sub {sub}");
            // A pinUvAuthParam without its protocol, or with one the key does not have.
            let mut members = vec![(1, int(sub.into()))];
            if let Some(p) = &params {
                members.push((2, p.clone()));
            }
            members.push((4, bytes(&[0; 32])));
            let (status, _) = host
                .ctap2(&mut t, &mut env, CM, Some(&imap(members.clone())))
                .unwrap();
            assert_eq!(status, MISSING_PARAMETER, "sub {sub}");
            members.insert(members.len() - 1, (3, int(3)));
            let (status, _) = host
                .ctap2(&mut t, &mut env, CM, Some(&imap(members)))
                .unwrap();
            assert_eq!(status, INVALID_PARAMETER, "sub {sub}");
            // A token without cm, a wrong parameter, a token of the other protocol.
            let (status, _) = cm(
                &mut t,
                &mut env,
                &host,
                sub,
                params.clone(),
                Some((protocol, &mc_ga)),
            );
            assert_eq!(status, PIN_AUTH_INVALID, "sub {sub}: no cm permission");
            let tok = cm_token(&mut t, &mut env, &host, protocol, None);
            let (status, _) = cm(
                &mut t,
                &mut env,
                &host,
                sub,
                params.clone(),
                Some((protocol, &[9; 32])),
            );
            assert_eq!(status, PIN_AUTH_INVALID, "sub {sub}: wrong key");
            let (status, _) = cm(
                &mut t,
                &mut env,
                &host,
                sub,
                params.clone(),
                Some((3 - protocol, &tok)),
            );
            assert_eq!(status, PIN_AUTH_INVALID, "sub {sub}: other protocol");
            // An expired token.
            env.clock.advance(31_000);
            let (status, _) = cm(
                &mut t,
                &mut env,
                &host,
                sub,
                params.clone(),
                Some((protocol, &tok)),
            );
            assert_eq!(status, PIN_AUTH_INVALID, "sub {sub}: expired");
            assert_eq!(env.store.snapshot(), before, "sub {sub}: nothing changed");
        }
        // Missing subCommandParams members.
        let tok = cm_token(&mut t, &mut env, &host, protocol, None);
        for (sub, params) in [
            (CREDS_BEGIN, None),
            (CREDS_BEGIN, Some(imap(vec![]))),
            (DELETE, None),
            (UPDATE_USER, Some(cred_params(&reg.id))),
        ] {
            let (status, _) = cm(&mut t, &mut env, &host, sub, params, Some((protocol, &tok)));
            assert_eq!(status, MISSING_PARAMETER, "sub {sub}");
        }
        let (status, _) = cm(&mut t, &mut env, &host, 0x08, None, Some((protocol, &tok)));
        assert_eq!(status, INVALID_SUBCOMMAND);
        let (status, _) = cm(
            &mut t,
            &mut env,
            &host,
            GET_CREDS_METADATA,
            None,
            Some((protocol, &tok)),
        );
        assert_eq!(status, OK, "the token still works after the refusals");
    }
}

fn user_value(u: &UserEntity) -> Value {
    let mut entries = vec![("id", bytes(&u.id))];
    if let Some(n) = &u.name {
        entries.push(("name", text(n)));
    }
    if let Some(d) = &u.display_name {
        entries.push(("displayName", text(d)));
    }
    // Canonical order: shorter keys first ("id", "name", "displayName").
    tmap(entries)
}

#[test]
fn enumerate_relying_parties_and_their_credentials() {
    let protocol = 2;
    let (mut t, mut env, host) = with_pin(protocol);
    let a1 = register(&mut t, &mut env, &host, protocol, "a.example", b"alice");
    let a2 = register(&mut t, &mut env, &host, protocol, "a.example", b"bob");
    register(&mut t, &mut env, &host, protocol, "c.example", b"carol");
    register(&mut t, &mut env, &host, protocol, "b.example", b"dave");
    let tok = cm_token(&mut t, &mut env, &host, protocol, None);
    let auth = Some((protocol, tok.as_slice()));

    let (status, first) = cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth);
    assert_eq!(status, OK);
    let first = first.unwrap();
    assert_eq!(uint(&first, 5), 3, "totalRPs");
    let mut rps = vec![as_text(tget(get(&first, 3).unwrap(), "id").unwrap())];
    assert_eq!(as_bytes(get(&first, 4).unwrap()), rp_hash(&rps[0]));
    for _ in 1..3 {
        let (status, next) = cm(&mut t, &mut env, &host, RPS_NEXT, None, None);
        assert_eq!(status, OK);
        let next = next.unwrap();
        assert!(get(&next, 5).is_none(), "totalRPs only on Begin");
        let rp = as_text(tget(get(&next, 3).unwrap(), "id").unwrap());
        assert_eq!(as_bytes(get(&next, 4).unwrap()), rp_hash(&rp));
        rps.push(rp);
    }
    assert_eq!(rps, ["a.example", "b.example", "c.example"]);
    let (status, _) = cm(&mut t, &mut env, &host, RPS_NEXT, None, None);
    assert_eq!(status, NOT_ALLOWED, "past the end");

    let (status, first) = cm(
        &mut t,
        &mut env,
        &host,
        CREDS_BEGIN,
        Some(rp_hash_params("a.example")),
        auth,
    );
    assert_eq!(status, OK);
    let first = first.unwrap();
    assert_eq!(uint(&first, 9), 2, "totalCredentials");
    let (status, second) = cm(&mut t, &mut env, &host, CREDS_NEXT, None, None);
    assert_eq!(status, OK);
    let second = second.unwrap();
    assert!(get(&second, 9).is_none());
    for (body, reg, user) in [(&first, &a1, "alice"), (&second, &a2, "bob")] {
        assert_eq!(as_bytes(tget(get(body, 7).unwrap(), "id").unwrap()), reg.id);
        assert_eq!(
            as_text(tget(get(body, 7).unwrap(), "type").unwrap()),
            "public-key"
        );
        let u = get(body, 6).unwrap();
        assert_eq!(as_bytes(tget(u, "id").unwrap()), user.as_bytes());
        assert_eq!(as_text(tget(u, "name").unwrap()), user);
        assert_eq!(
            as_text(tget(u, "displayName").unwrap()),
            format!("{user} display")
        );
        assert_eq!(get(body, 8), reg.auth_data.public_key.as_ref(), "publicKey");
        assert_eq!(uint(body, 10), 1, "credProtect: userVerificationOptional");
        assert!(get(body, 11).is_none(), "no largeBlobKey was asked for");
    }
    let (status, _) = cm(&mut t, &mut env, &host, CREDS_NEXT, None, None);
    assert_eq!(status, NOT_ALLOWED, "past the end");
    let (status, _) = cm(
        &mut t,
        &mut env,
        &host,
        CREDS_BEGIN,
        Some(rp_hash_params("none.example")),
        auth,
    );
    assert_eq!(status, NO_CREDENTIALS);
}

#[test]
fn next_without_begin_or_after_another_command_is_not_allowed() {
    let protocol = 1;
    let (mut t, mut env, host) = with_pin(protocol);
    for rp in ["a.example", "b.example", "c.example"] {
        register(&mut t, &mut env, &host, protocol, rp, b"u");
    }
    let tok = cm_token(&mut t, &mut env, &host, protocol, None);
    let auth = Some((protocol, tok.as_slice()));
    for sub in [RPS_NEXT, CREDS_NEXT] {
        assert_eq!(cm(&mut t, &mut env, &host, sub, None, None).0, NOT_ALLOWED);
    }
    // Another command on the channel ends the enumeration.
    assert_eq!(cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth).0, OK);
    info(&mut t, &mut env, &host);
    assert_eq!(
        cm(&mut t, &mut env, &host, RPS_NEXT, None, None).0,
        NOT_ALLOWED
    );
    // So does another subcommand, and the wrong kind of GetNext.
    assert_eq!(cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth).0, OK);
    assert_eq!(
        cm(&mut t, &mut env, &host, CREDS_NEXT, None, None).0,
        NOT_ALLOWED
    );
    assert_eq!(
        cm(&mut t, &mut env, &host, RPS_NEXT, None, None).0,
        NOT_ALLOWED
    );
    // Another channel can neither continue nor end it.
    assert_eq!(cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth).0, OK);
    let other = HidHost::connect(&mut t, &mut env).unwrap();
    assert_eq!(
        cm(&mut t, &mut env, &other, RPS_NEXT, None, None).0,
        NOT_ALLOWED
    );
    assert_eq!(cm(&mut t, &mut env, &host, RPS_NEXT, None, None).0, OK);
    // A power cycle ends it.
    t.power_cycle(&mut env);
    let host = HidHost::connect(&mut t, &mut env).unwrap();
    assert_eq!(
        cm(&mut t, &mut env, &host, RPS_NEXT, None, None).0,
        NOT_ALLOWED
    );
}

#[test]
fn a_token_bound_to_an_rp_manages_only_that_rp() {
    for protocol in PROTOCOLS {
        let (mut t, mut env, host) = with_pin(protocol);
        let a = register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
        let b = register(&mut t, &mut env, &host, protocol, "b.example", b"u2");
        let tok = cm_token(&mut t, &mut env, &host, protocol, Some("a.example"));
        let auth = Some((protocol, tok.as_slice()));
        let before = env.store.snapshot();
        // Metadata and the RP list need a token without a permissions RP ID.
        assert_eq!(
            cm(&mut t, &mut env, &host, GET_CREDS_METADATA, None, auth).0,
            PIN_AUTH_INVALID
        );
        assert_eq!(
            cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth).0,
            PIN_AUTH_INVALID
        );
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                CREDS_BEGIN,
                Some(rp_hash_params("b.example")),
                auth
            )
            .0,
            PIN_AUTH_INVALID
        );
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                DELETE,
                Some(cred_params(&b.id)),
                auth
            )
            .0,
            PIN_AUTH_INVALID
        );
        let user = UserEntity {
            id: b"u2".to_vec(),
            name: Some("x".into()),
            display_name: None,
        };
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                UPDATE_USER,
                Some(imap(vec![(2, descriptor(&b.id)), (3, user_value(&user))])),
                auth
            )
            .0,
            PIN_AUTH_INVALID
        );
        assert_eq!(env.store.snapshot(), before, "nothing changed");
        // Its own RP: fine.
        let (status, body) = cm(
            &mut t,
            &mut env,
            &host,
            CREDS_BEGIN,
            Some(rp_hash_params("a.example")),
            auth,
        );
        assert_eq!(status, OK);
        assert_eq!(
            as_bytes(tget(get(&body.unwrap(), 7).unwrap(), "id").unwrap()),
            a.id
        );
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                DELETE,
                Some(cred_params(&a.id)),
                auth
            )
            .0,
            OK
        );
        assert_eq!(t.resident_credentials(&mut env).unwrap().len(), 1);
    }
}

#[test]
fn delete_removes_the_credential_and_its_counter_durably() {
    for protocol in PROTOCOLS {
        let (mut t, mut env, host) = with_pin(protocol);
        let keep = register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
        let gone = register(&mut t, &mut env, &host, protocol, "a.example", b"u2");
        // The deleted credential signed once: it has a counter record.
        assert_eq!(
            host.ctap2(
                &mut t,
                &mut env,
                GA,
                Some(&Ga::new("a.example").allow(&gone.id).value())
            )
            .unwrap()
            .0,
            OK
        );
        let counters = env.store.count("ctr");
        let tok = cm_token(&mut t, &mut env, &host, protocol, None);
        let auth = Some((protocol, tok.as_slice()));
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                DELETE,
                Some(cred_params(&gone.id)),
                auth
            )
            .0,
            OK
        );
        assert_eq!(
            env.store.count("ctr"),
            counters - 1,
            "its counter went with it"
        );
        // Gone for getAssertion, for the listing, and counted.
        assert_eq!(
            host.ctap2(
                &mut t,
                &mut env,
                GA,
                Some(&Ga::new("a.example").allow(&gone.id).value())
            )
            .unwrap()
            .0,
            NO_CREDENTIALS
        );
        let ids: Vec<_> = t
            .credentials(&mut env)
            .unwrap()
            .into_iter()
            .map(|c| c.credential_id)
            .collect();
        assert_eq!(ids, std::slice::from_ref(&keep.id));
        let (_, meta) = cm(&mut t, &mut env, &host, GET_CREDS_METADATA, None, auth);
        assert_eq!(uint(meta.as_ref().unwrap(), 1), 1);
        let (_, list) = cm(
            &mut t,
            &mut env,
            &host,
            CREDS_BEGIN,
            Some(rp_hash_params("a.example")),
            auth,
        );
        assert_eq!(uint(list.as_ref().unwrap(), 9), 1);
        // Deleting it again, or a credential that never was, changes nothing.
        let before = env.store.snapshot();
        for id in [gone.id.clone(), vec![1; 32]] {
            assert_eq!(
                cm(
                    &mut t,
                    &mut env,
                    &host,
                    DELETE,
                    Some(cred_params(&id)),
                    auth
                )
                .0,
                NO_CREDENTIALS
            );
        }
        assert_eq!(env.store.snapshot(), before);
        t.check_store(&mut env).unwrap();
    }
}

#[test]
fn a_power_cut_during_delete_leaves_the_credential_or_nothing_of_it() {
    let protocol = 2;
    let (mut t, mut env, host) = with_pin(protocol);
    let reg = register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
    let tok = cm_token(&mut t, &mut env, &host, protocol, None);
    env.store.cut_power_at_write(1);
    let (status, _) = cm(
        &mut t,
        &mut env,
        &host,
        DELETE,
        Some(cred_params(&reg.id)),
        Some((protocol, &tok)),
    );
    assert_ne!(status, OK, "no success without a durable delete");
    env.store.restore_power();
    t.power_cycle(&mut env);
    t.check_store(&mut env).unwrap();
    assert_eq!(
        t.resident_credentials(&mut env).unwrap().len(),
        1,
        "still there"
    );
}

#[test]
fn update_user_information_changes_only_the_names() {
    for protocol in PROTOCOLS {
        let (mut t, mut env, host) = with_pin(protocol);
        let reg = register(&mut t, &mut env, &host, protocol, "a.example", b"u1");
        let tok = cm_token(&mut t, &mut env, &host, protocol, None);
        let auth = Some((protocol, tok.as_slice()));
        let update = |name: Option<&str>, display: Option<&str>, id: &[u8]| {
            imap(vec![
                (2, descriptor(&reg.id)),
                (
                    3,
                    user_value(&UserEntity {
                        id: id.to_vec(),
                        name: name.map(str::to_owned),
                        display_name: display.map(str::to_owned),
                    }),
                ),
            ])
        };
        // Another user handle is an invalid parameter, and changes nothing.
        let before = env.store.snapshot();
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                UPDATE_USER,
                Some(update(Some("x"), None, b"u2")),
                auth
            )
            .0,
            INVALID_PARAMETER
        );
        assert_eq!(env.store.snapshot(), before);
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                UPDATE_USER,
                Some(update(Some("Alice B"), Some("Ali"), b"u1")),
                auth
            )
            .0,
            OK
        );
        let listed = t.credentials(&mut env).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].credential_id, reg.id, "same id");
        assert_eq!(listed[0].user.id, b"u1");
        assert_eq!(listed[0].user.name.as_deref(), Some("Alice B"));
        assert_eq!(listed[0].user.display_name.as_deref(), Some("Ali"));
        // An absent or empty name removes it.
        assert_eq!(
            cm(
                &mut t,
                &mut env,
                &host,
                UPDATE_USER,
                Some(update(Some(""), None, b"u1")),
                auth
            )
            .0,
            OK
        );
        let listed = t.credentials(&mut env).unwrap();
        assert_eq!(
            (
                listed[0].user.name.as_ref(),
                listed[0].user.display_name.as_ref()
            ),
            (None, None)
        );
        // The key and the counter are the credential's own still.
        let ga = Ga::new("a.example").allow(&reg.id);
        let (status, body) = host.ctap2(&mut t, &mut env, GA, Some(&ga.value())).unwrap();
        assert_eq!(status, OK);
        let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
        assert_eq!(ad.sign_count, 1);
        // Unknown credentials (a new token: the assertion's touch used the last one up).
        let tok = cm_token(&mut t, &mut env, &host, protocol, None);
        let auth = Some((protocol, tok.as_slice()));
        let params = imap(vec![
            (2, descriptor(&[5; 32])),
            (
                3,
                user_value(&UserEntity {
                    id: b"u1".to_vec(),
                    name: None,
                    display_name: None,
                }),
            ),
        ]);
        assert_eq!(
            cm(&mut t, &mut env, &host, UPDATE_USER, Some(params), auth).0,
            NO_CREDENTIALS
        );
    }
}

#[test]
fn a_non_discoverable_credential_is_not_managed() {
    let protocol = 2;
    let (mut t, mut env, host) = with_pin(protocol);
    t.import_credential(
        &mut env,
        ImportedCredential {
            id: vec![8; 16],
            rp_id: "a.example".into(),
            user: Some(UserEntity {
                id: b"u".to_vec(),
                name: None,
                display_name: None,
            }),
            key: firmware_sim::PrivateKey::from_bytes(
                firmware_sim::credential::Algorithm::Es256,
                &[3; 32],
            )
            .unwrap(),
            sign_count: 0,
            discoverable: false,
        },
    )
    .unwrap();
    let tok = cm_token(&mut t, &mut env, &host, protocol, None);
    let auth = Some((protocol, tok.as_slice()));
    assert_eq!(
        cm(&mut t, &mut env, &host, RPS_BEGIN, None, auth).0,
        NO_CREDENTIALS
    );
    assert_eq!(
        cm(
            &mut t,
            &mut env,
            &host,
            DELETE,
            Some(cred_params(&[8; 16])),
            auth
        )
        .0,
        NO_CREDENTIALS
    );
    assert_eq!(t.credentials(&mut env).unwrap().len(), 1);
}

#[test]
fn a_credential_lists_its_large_blob_key() {
    let protocol = 2;
    let (mut t, mut env, host) = with_pin(protocol);
    let tok = pin_token(
        &mut t,
        &mut env,
        &host,
        protocol,
        PIN,
        Some(PERM_MC),
        Some("a.example"),
    )
    .unwrap();
    let mut mc = Mc::new("a.example", b"u1").with_token(protocol, &tok);
    mc.rk = Some(true);
    let Value::Map(mut request) = mc.value() else {
        panic!()
    };
    request.push((int(6), tmap(vec![("largeBlobKey", Value::Bool(true))])));
    request.sort_by_key(|(k, _)| as_int(k));
    let (status, body) = host
        .ctap2(&mut t, &mut env, MC, Some(&Value::Map(request)))
        .unwrap();
    assert_eq!(status, OK);
    let key = as_bytes(get(&body.unwrap(), 5).unwrap());
    let tok = cm_token(&mut t, &mut env, &host, protocol, None);
    let (status, body) = cm(
        &mut t,
        &mut env,
        &host,
        CREDS_BEGIN,
        Some(rp_hash_params("a.example")),
        Some((protocol, &tok)),
    );
    assert_eq!(status, OK);
    assert_eq!(as_bytes(get(&body.unwrap(), 11).unwrap()), key);
}
