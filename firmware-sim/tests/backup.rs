//! Synced passkeys (WebDriver Level 3's backup eligibility and state): the BE and BS flags of
//! the credentials a key makes follow its configuration, imported credentials carry their own,
//! and both are in makeCredential's and every getAssertion's authenticator data, for discoverable
//! credentials (in the record) and non-discoverable ones (sealed in the id), across power cycles.

mod common;

use common::*;
use firmware_sim::credential::Algorithm;
use firmware_sim::testing::SeededRng;
use firmware_sim::{
    CounterMode, ImportError, ImportOptions, ImportedCredential, PrivateKey, TokenConfig,
    UserEntity,
};

const RP: &str = "example.com";
const BE: u8 = 0x08;
const BS: u8 = 0x10;

fn config(eligible: bool, state: bool) -> TokenConfig {
    TokenConfig {
        backup_eligible: eligible,
        backup_state: state,
        ..TokenConfig::default()
    }
}

fn rk_mc() -> Mc {
    Mc {
        rk: Some(true),
        ..Mc::new(RP, b"u")
    }
}

fn backup_bits(flags: u8) -> u8 {
    flags & (BE | BS)
}

#[test]
fn made_credentials_carry_the_keys_backup_flags_in_every_auth_data() {
    for (eligible, state, expected) in [
        (false, false, 0),
        (true, false, BE),
        (true, true, BE | BS),
        // BS without BE is never produced (WebAuthn §6.1.3).
        (false, true, 0),
    ] {
        let (mut token, mut env, host) = setup(config(eligible, state));
        for rk in [true, false] {
            let mc = Mc {
                rk: Some(rk),
                ..Mc::new(RP, if rk { b"u-rk" } else { b"u-nrk" })
            };
            let reg = make_credential(&mut token, &mut env, &host, &mc);
            assert_eq!(
                backup_bits(reg.auth_data.flags),
                expected,
                "makeCredential rk={rk} BE={eligible} BS={state}"
            );
            // After a power cycle the flags come from the record or the sealed id.
            token.power_cycle(&mut env);
            let host = firmware_sim::testing::HidHost::connect(&mut token, &mut env).unwrap();
            let ga = Ga::new(RP).allow(&reg.id);
            let (status, body) = host
                .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
                .unwrap();
            assert_eq!(status, OK);
            let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
            assert_eq!(
                backup_bits(ad.flags),
                expected,
                "getAssertion rk={rk} BE={eligible} BS={state}"
            );
        }
    }
}

#[test]
fn a_credential_keeps_the_flags_it_was_made_with() {
    // The same store under a key whose defaults changed: the credential's own flags stay.
    let (mut token, mut env, host) = setup(config(true, true));
    let reg = make_credential(&mut token, &mut env, &host, &rk_mc());
    assert_eq!(backup_bits(reg.auth_data.flags), BE | BS);
    let mut token = firmware_sim::Token::new(config(false, false), &mut env);
    let host = firmware_sim::testing::HidHost::connect(&mut token, &mut env).unwrap();
    let ga = Ga::new(RP);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
    assert_eq!(backup_bits(ad.flags), BE | BS);
    let listed = token.credentials(&mut env).unwrap();
    assert!(listed[0].backup_eligible && listed[0].backup_state);
}

#[test]
fn synced_passkeys_with_counter_zero_show_zero() {
    let (mut token, mut env, host) = setup(TokenConfig {
        counter_mode: CounterMode::AlwaysZero,
        ..config(true, true)
    });
    let reg = make_credential(&mut token, &mut env, &host, &rk_mc());
    assert_eq!(reg.auth_data.sign_count, 0);
    for _ in 0..2 {
        let ga = Ga::new(RP);
        let (_, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        let ad = assert_signed(&body.unwrap(), &reg.key, &ga.client_data_hash);
        assert_eq!((ad.sign_count, backup_bits(ad.flags)), (0, BE | BS));
    }
}

fn imported(id: u8, options: ImportOptions) -> (ImportedCredential, PublicKey) {
    let key = PrivateKey::generate(Algorithm::Es256, &mut SeededRng::new(id.into())).unwrap();
    let public = PublicKey::from_cose(&key.cose_public_key().unwrap());
    let cred = ImportedCredential {
        id: vec![id; 16],
        rp_id: RP.into(),
        user: Some(UserEntity {
            id: vec![id],
            name: None,
            display_name: None,
        }),
        key,
        sign_count: 0,
        discoverable: id.is_multiple_of(2),
        options,
    };
    (cred, public)
}

#[test]
fn imported_credentials_take_their_own_flags_or_the_keys_defaults() {
    let (mut token, mut env, host) = setup(config(true, false));
    let cases = [
        // (id, BE, BS, expected flags)
        (2, None, None, BE),
        (3, Some(true), Some(true), BE | BS),
        (4, Some(false), None, 0),
        (5, None, Some(true), BE | BS),
    ];
    for (id, be, bs, expected) in cases {
        let options = ImportOptions {
            backup_eligible: be,
            backup_state: bs,
            ..ImportOptions::default()
        };
        let (cred, public) = imported(id, options);
        token.import_credential(&mut env, cred).unwrap();
        let ga = Ga::new(RP).allow(&[id; 16]);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        let ad = assert_signed(&body.unwrap(), &public, &ga.client_data_hash);
        assert_eq!(backup_bits(ad.flags), expected, "credential {id}");
    }
    let listed = token.credentials(&mut env).unwrap();
    let flags: Vec<(bool, bool)> = listed
        .iter()
        .map(|c| (c.backup_eligible, c.backup_state))
        .collect();
    assert_eq!(
        flags,
        [(true, false), (true, true), (false, false), (true, true)]
    );
}

#[test]
fn backed_up_without_eligibility_is_refused_and_stores_nothing() {
    for cfg in [config(false, false), config(true, true)] {
        let (mut token, mut env, _host) = setup(cfg);
        let (cred, _) = imported(
            2,
            ImportOptions {
                backup_eligible: Some(false),
                backup_state: Some(true),
                ..ImportOptions::default()
            },
        );
        assert_eq!(
            token.import_credential(&mut env, cred),
            Err(ImportError::BackupStateWithoutEligibility)
        );
        assert!(token.credentials(&mut env).unwrap().is_empty());
    }
}

#[test]
fn an_imported_cred_blob_is_returned_by_get_assertion_within_the_limit() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let max = token.capabilities().max_cred_blob_length.unwrap();
    let (cred, public) = imported(
        2,
        ImportOptions {
            cred_blob: Some(vec![0xAB; max]),
            ..ImportOptions::default()
        },
    );
    token.import_credential(&mut env, cred).unwrap();
    let ga = Ga {
        extensions: Some(tmap(vec![("credBlob", ciborium::value::Value::Bool(true))])),
        ..Ga::new(RP)
    };
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let ad = assert_signed(&body.unwrap(), &public, &ga.client_data_hash);
    assert_eq!(as_bytes(ad.extension("credBlob").unwrap()), vec![0xAB; max]);
    assert!(token.credentials(&mut env).unwrap()[0].has_cred_blob);

    let (long, _) = imported(
        4,
        ImportOptions {
            cred_blob: Some(vec![0; max + 1]),
            ..ImportOptions::default()
        },
    );
    assert_eq!(
        token.import_credential(&mut env, long),
        Err(ImportError::CredBlobTooLong { len: max + 1, max })
    );
    assert_eq!(token.credentials(&mut env).unwrap().len(), 1);
}

#[test]
fn a_key_without_cred_blob_refuses_an_imported_one() {
    let (mut token, mut env, _host) = setup(TokenConfig {
        protocol: firmware_sim::Protocol::Ctap2_0,
        ..TokenConfig::default()
    });
    let (cred, _) = imported(
        2,
        ImportOptions {
            cred_blob: Some(vec![1]),
            ..ImportOptions::default()
        },
    );
    assert_eq!(
        token.import_credential(&mut env, cred),
        Err(ImportError::CredBlobUnsupported)
    );
}
