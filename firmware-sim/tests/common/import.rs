//! What the import suites (import.rs, import_batches.rs) share: keys, users and imported
//! credentials of the test relying party, and one assertion with a credential listed.
#![allow(dead_code)]

use ciborium::value::Value;
use firmware_sim::credential::Algorithm;
use firmware_sim::testing::{HidHost, SeededRng, TestEnv};
use firmware_sim::{ImportedCredential, PrivateKey, Token, UserEntity};

use super::{GA, Ga, OK, PublicKey, assert_signed};

/// The relying party of the import suites.
pub const RP: &str = "example.com";

/// A key of `alg` from a seeded generator.
pub fn key(alg: Algorithm, seed: u64) -> PrivateKey {
    PrivateKey::generate(alg, &mut SeededRng::new(seed)).unwrap()
}

/// The credential's public key as the test sees it (decoded from its own COSE_Key encoding).
pub fn public(k: &PrivateKey) -> PublicKey {
    let cose = k.cose_public_key().unwrap();
    PublicKey::from_cose(&cose)
}

/// A user entity with `id`.
pub fn user(id: &[u8]) -> UserEntity {
    UserEntity {
        id: id.to_vec(),
        name: Some("imported".into()),
        display_name: Some("Imported User".into()),
    }
}

/// A non-discoverable imported credential.
pub fn non_discoverable(id: &[u8], key: PrivateKey, sign_count: u32) -> ImportedCredential {
    ImportedCredential {
        id: id.to_vec(),
        rp_id: RP.into(),
        user: None,
        key,
        sign_count,
        discoverable: false,
        options: firmware_sim::ImportOptions::default(),
    }
}

/// A discoverable imported credential.
pub fn discoverable(id: &[u8], user_id: &[u8], key: PrivateKey) -> ImportedCredential {
    ImportedCredential {
        id: id.to_vec(),
        rp_id: RP.into(),
        user: Some(user(user_id)),
        key,
        sign_count: 0,
        discoverable: true,
        options: firmware_sim::ImportOptions::default(),
    }
}

/// One getAssertion: its status and body.
pub fn assert_with(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    ga: &Ga,
) -> (u8, Option<Value>) {
    host.ctap2(token, env, GA, Some(&ga.value())).unwrap()
}

/// The counter one assertion with `id` listed carries.
pub fn count_once(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    id: &[u8],
    pk: &PublicKey,
) -> u32 {
    let ga = Ga::new(RP).allow(id);
    let (status, body) = assert_with(token, env, host, &ga);
    assert_eq!(status, OK);
    assert_signed(&body.unwrap(), pk, &ga.client_data_hash).sign_count
}
