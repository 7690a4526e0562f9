//! CTAP1/U2F over CTAPHID_MSG, with signatures checked by the test itself.

mod common;

use common::*;
use firmware_sim::ctaphid::cmd;
use firmware_sim::env::{PresencePurpose, PresenceStatus};
use firmware_sim::testing::{HidHost, ScriptedPresence, TestEnv};
use firmware_sim::{Token, TokenConfig};
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

const APPID: &str = "https://u2f.example.com";

fn app_param() -> [u8; 32] {
    Sha256::digest(APPID.as_bytes()).into()
}

fn extended(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, ins, p1, 0x00, 0x00];
    apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
    apdu.extend_from_slice(data);
    apdu.extend_from_slice(&[0x00, 0x00]);
    apdu
}

fn short(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, ins, p1, 0x00, data.len() as u8];
    apdu.extend_from_slice(data);
    apdu.push(0x00);
    apdu
}

fn msg(token: &mut Token, env: &mut TestEnv, host: &HidHost, apdu: &[u8]) -> (Vec<u8>, u16) {
    let reply = host.request(token, env, cmd::MSG, apdu).unwrap();
    assert_eq!(reply.command, cmd::MSG);
    let n = reply.payload.len();
    assert!(n >= 2);
    let sw = u16::from_be_bytes([reply.payload[n - 2], reply.payload[n - 1]]);
    (reply.payload[..n - 2].to_vec(), sw)
}

struct U2fRegistration {
    key_handle: Vec<u8>,
    public_key: p256::ecdsa::VerifyingKey,
    certificate: Vec<u8>,
}

fn register(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    challenge: [u8; 32],
) -> U2fRegistration {
    let mut data = challenge.to_vec();
    data.extend_from_slice(&app_param());
    let (resp, sw) = msg(token, env, host, &extended(0x01, 0x00, &data));
    assert_eq!(sw, 0x9000);
    assert_eq!(resp[0], 0x05, "reserved byte");
    let point = &resp[1..66];
    assert_eq!(point[0], 0x04);
    let public_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let kh_len = usize::from(resp[66]);
    let key_handle = resp[67..67 + kh_len].to_vec();
    let rest = &resp[67 + kh_len..];
    let (sig_bytes, cert) = X509Certificate::from_der(rest).unwrap();
    let certificate = rest[..rest.len() - sig_bytes.len()].to_vec();
    // The attestation signature verifies with the certificate's key.
    let attestation_key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&cert.public_key().subject_public_key.data)
            .unwrap();
    let mut signed = vec![0x00];
    signed.extend_from_slice(&app_param());
    signed.extend_from_slice(&challenge);
    signed.extend_from_slice(&key_handle);
    signed.extend_from_slice(point);
    let sig = p256::ecdsa::Signature::from_der(sig_bytes).unwrap();
    assert!(attestation_key.verify(&signed, &sig).is_ok());
    U2fRegistration {
        key_handle,
        public_key,
        certificate,
    }
}

fn auth_data(challenge: [u8; 32], key_handle: &[u8]) -> Vec<u8> {
    let mut data = challenge.to_vec();
    data.extend_from_slice(&app_param());
    data.push(key_handle.len() as u8);
    data.extend_from_slice(key_handle);
    data
}

fn check_authentication(reg: &U2fRegistration, challenge: [u8; 32], resp: &[u8]) -> (u8, u32) {
    let up = resp[0];
    let counter = u32::from_be_bytes(resp[1..5].try_into().unwrap());
    let mut signed = app_param().to_vec();
    signed.push(up);
    signed.extend_from_slice(&counter.to_be_bytes());
    signed.extend_from_slice(&challenge);
    let sig = p256::ecdsa::Signature::from_der(&resp[5..]).unwrap();
    assert!(
        reg.public_key.verify(&signed, &sig).is_ok(),
        "authentication signature"
    );
    (up, counter)
}

#[test]
fn version_in_short_and_extended_encoding() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    for apdu in [
        vec![0, 3, 0, 0],
        vec![0, 3, 0, 0, 0],
        vec![0, 3, 0, 0, 0, 0, 0],
    ] {
        let (data, sw) = msg(&mut token, &mut env, &host, &apdu);
        assert_eq!((data.as_slice(), sw), (b"U2F_V2".as_slice(), 0x9000));
    }
    let (_, sw) = msg(&mut token, &mut env, &host, &short(0x03, 0, &[1]));
    assert_eq!(sw, 0x6700);
}

#[test]
fn register_and_authenticate_with_verified_signatures() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = register(&mut token, &mut env, &host, [7; 32]);
    // The fido-u2f attestation certificate is the token's batch certificate.
    let mc = make_credential(&mut token, &mut env, &host, &Mc::new("example.com", b"u"));
    let x5c = match tget(get(&mc.response, 3).unwrap(), "x5c").unwrap() {
        ciborium::value::Value::Array(a) => as_bytes(&a[0]),
        _ => panic!(),
    };
    assert_eq!(reg.certificate, x5c);

    for (i, encode) in [extended as fn(u8, u8, &[u8]) -> Vec<u8>, short, extended]
        .iter()
        .enumerate()
    {
        let challenge = [i as u8 + 1; 32];
        let (resp, sw) = msg(
            &mut token,
            &mut env,
            &host,
            &encode(0x02, 0x03, &auth_data(challenge, &reg.key_handle)),
        );
        assert_eq!(sw, 0x9000);
        assert_eq!(
            check_authentication(&reg, challenge, &resp),
            (0x01, i as u32 + 1)
        );
    }
    let (resp, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x08, &auth_data([9; 32], &reg.key_handle)),
    );
    assert_eq!(sw, 0x9000);
    assert_eq!(
        check_authentication(&reg, [9; 32], &resp),
        (0x00, 4),
        "dont-enforce: UP clear"
    );
    let purposes: Vec<_> = env.presence.requests().iter().map(|r| r.purpose).collect();
    assert_eq!(
        purposes
            .iter()
            .filter(|p| **p == PresencePurpose::U2fAuthenticate)
            .count(),
        3
    );
    assert_eq!(purposes[0], PresencePurpose::U2fRegister);
}

#[test]
fn check_only_distinguishes_known_from_unknown_handles() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = register(&mut token, &mut env, &host, [1; 32]);
    let before = env.store.snapshot();
    let polls = env.presence.polls();
    let (data, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x07, &auth_data([2; 32], &reg.key_handle)),
    );
    assert_eq!((data.len(), sw), (0, 0x6985));
    let mut bad = reg.key_handle.clone();
    bad[10] ^= 1;
    let (_, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x07, &auth_data([2; 32], &bad)),
    );
    assert_eq!(sw, 0x6A80);
    assert_eq!(
        env.presence.polls(),
        polls,
        "check-only never asks the user"
    );
    assert_eq!(env.store.snapshot(), before);
}

#[test]
fn presence_is_polled_once_per_request_and_the_host_retries() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    env.presence
        .script([PresenceStatus::Pending, PresenceStatus::Denied]);
    let mut data = [3u8; 32].to_vec();
    data.extend_from_slice(&app_param());
    let (_, sw) = msg(&mut token, &mut env, &host, &extended(0x01, 0, &data));
    assert_eq!(sw, 0x6985);
    let (_, sw) = msg(&mut token, &mut env, &host, &extended(0x01, 0, &data));
    assert_eq!(sw, 0x6985);
    assert_eq!(env.store.count("ctr"), 0);
    let reg = register(&mut token, &mut env, &host, [3; 32]);
    env.presence.script([PresenceStatus::Pending]);
    let (_, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x03, &auth_data([4; 32], &reg.key_handle)),
    );
    assert_eq!(sw, 0x6985);
    assert_eq!(
        env.store.count("ctr"),
        0,
        "no counter moved without a signature"
    );
    let (resp, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x03, &auth_data([4; 32], &reg.key_handle)),
    );
    assert_eq!(sw, 0x9000);
    assert_eq!(check_authentication(&reg, [4; 32], &resp).1, 1);
}

#[test]
fn malformed_and_foreign_requests_get_status_words_and_change_nothing() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = register(&mut token, &mut env, &host, [1; 32]);
    let before = env.store.snapshot();
    let polls = env.presence.polls();
    let mut other_app = [1u8; 32].to_vec();
    other_app.extend_from_slice(&Sha256::digest(b"https://evil.example"));
    other_app.push(reg.key_handle.len() as u8);
    other_app.extend_from_slice(&reg.key_handle);
    let mut truncated_kh = auth_data([1; 32], &reg.key_handle);
    truncated_kh.pop();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("wrong CLA", vec![0x80, 0x03, 0, 0], 0x6E00),
        ("unknown INS", vec![0x00, 0x10, 0, 0], 0x6D00),
        ("too short", vec![0x00, 0x01], 0x6700),
        (
            "register with 63 bytes",
            extended(0x01, 0, &[0; 63]),
            0x6700,
        ),
        (
            "authenticate with 64 bytes",
            extended(0x02, 0x03, &[0; 64]),
            0x6700,
        ),
        (
            "key handle length mismatch",
            extended(0x02, 0x03, &truncated_kh),
            0x6700,
        ),
        (
            "Lc larger than data",
            vec![0, 1, 0, 0, 0, 0, 64, 1, 2],
            0x6700,
        ),
        (
            "bad control byte",
            extended(0x02, 0x05, &auth_data([1; 32], &reg.key_handle)),
            0x6A80,
        ),
        (
            "other application",
            extended(0x02, 0x03, &other_app),
            0x6A80,
        ),
        (
            "random key handle",
            extended(0x02, 0x03, &auth_data([1; 32], &[0x55; 64])),
            0x6A80,
        ),
    ];
    for (what, apdu, expected) in cases {
        let (data, sw) = msg(&mut token, &mut env, &host, &apdu);
        assert_eq!((data.len(), sw), (0, expected), "{what}");
    }
    assert_eq!(env.store.snapshot(), before);
    assert_eq!(env.presence.polls(), polls);
}

#[test]
fn u2f_credentials_work_through_ctap2_but_not_the_other_way() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let reg = register(&mut token, &mut env, &host, [1; 32]);
    // A platform asserting with the AppID as rpId (the appid extension) finds the U2F credential.
    let ga = Ga::new(APPID).allow(&reg.key_handle);
    let (status, body) = host
        .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
        .unwrap();
    assert_eq!(status, OK);
    let body = body.unwrap();
    let ad = assert_signed(
        &body,
        &PublicKey::Es256(reg.public_key),
        &ga.client_data_hash,
    );
    assert_eq!(ad.rp_id_hash, app_param());
    assert_eq!(ad.sign_count, 1);
    let (resp, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x03, &auth_data([5; 32], &reg.key_handle)),
    );
    assert_eq!(sw, 0x9000);
    assert_eq!(
        check_authentication(&reg, [5; 32], &resp).1,
        2,
        "one counter for both protocols"
    );
    // The U2F credential is not discoverable.
    let (status, _) = host
        .ctap2(&mut token, &mut env, GA, Some(&Ga::new(APPID).value()))
        .unwrap();
    assert_eq!(status, 0x2E);

    // A CTAP2 credential for the same RP is not usable through U2F.
    let mc = make_credential(&mut token, &mut env, &host, &Mc::new(APPID, b"u"));
    let (_, sw) = msg(
        &mut token,
        &mut env,
        &host,
        &extended(0x02, 0x03, &auth_data([6; 32], &mc.id)),
    );
    assert_eq!(sw, 0x6A80);
}

#[test]
fn u2f_presence_denied_for_a_waiting_scripted_user() {
    let mut env = TestEnv::new(3);
    env.presence = ScriptedPresence::waiting();
    let mut token = Token::new(TokenConfig::default(), &mut env);
    let host = HidHost::connect(&mut token, &mut env).unwrap();
    let mut data = [3u8; 32].to_vec();
    data.extend_from_slice(&app_param());
    let reply = host
        .request(&mut token, &mut env, cmd::MSG, &extended(0x01, 0, &data))
        .unwrap();
    assert_eq!(reply.payload, vec![0x69, 0x85]);
    assert!(
        reply.keepalives.is_empty(),
        "U2F never keeps a transaction pending"
    );
    assert!(!token.is_waiting_for_user());
}
