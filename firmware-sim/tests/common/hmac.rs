//! The platform's side of hmac-secret (CTAP 2.1 §12.5) for the black-box tests: a key with a PIN,
//! credentials made with hmac-secret, and assertions whose outputs the test decrypts itself
//! (tests/common/pin.rs holds the key agreement and the cipher).
#![allow(dead_code)]

use ciborium::Value;
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};

use super::pin::*;
use super::*;

pub const RP: &str = "example.com";
pub const PIN: &str = "1234";
pub const SALT1: [u8; 32] = [0x11; 32];
pub const SALT2: [u8; 32] = [0x22; 32];
pub const UNSUPPORTED_OPTION: u8 = 0x2B;
pub const CBOR_UNEXPECTED_TYPE: u8 = 0x11;

pub fn with_pin() -> (Token, TestEnv, HidHost) {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    assert_eq!(set_pin(&mut token, &mut env, &host, 2, PIN), OK);
    (token, env, host)
}

pub fn salts(two: bool) -> Vec<u8> {
    let mut s = SALT1.to_vec();
    if two {
        s.extend_from_slice(&SALT2);
    }
    s
}

/// A non-discoverable credential made with `"hmac-secret": true`, which answers true.
pub fn register(token: &mut Token, env: &mut TestEnv, host: &HidHost, rk: bool) -> Registered {
    let mut mc = Mc::new(RP, b"user");
    mc.extensions = Some(tmap(vec![("hmac-secret", Value::Bool(true))]));
    if rk {
        let t = pin_token(token, env, host, 2, PIN, Some(PERM_MC), Some(RP)).unwrap();
        mc = mc.with_token(2, &t);
        mc.rk = Some(true);
    }
    let reg = make_credential(token, env, host, &mc);
    assert_eq!(
        reg.auth_data.extension("hmac-secret"),
        Some(&Value::Bool(true))
    );
    assert_eq!(reg.auth_data.flags & 0x80, 0x80, "ED");
    reg
}

/// One getAssertion with hmac-secret for `salt_bytes` under `protocol`, verified with the
/// token's UV when `uv`; the decrypted output, or the status.
pub fn hmac_assertion(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    allow: Option<&Registered>,
    salt_bytes: &[u8],
    uv: bool,
) -> Result<Vec<u8>, u8> {
    let mut session = Session::new(token, env, host, protocol);
    let mut ga = Ga::new(RP);
    if let Some(reg) = allow {
        ga = ga.allow(&reg.id);
    }
    ga.extensions = Some(tmap(vec![(
        "hmac-secret",
        session.hmac_secret_input(salt_bytes),
    )]));
    if uv {
        let t = pin_token(token, env, host, protocol, PIN, Some(PERM_GA), Some(RP)).unwrap();
        ga = ga.with_token(protocol, &t);
    }
    let (status, body) = host.ctap2(token, env, GA, Some(&ga.value())).unwrap();
    if status != OK {
        return Err(status);
    }
    let body = body.unwrap();
    let ad = match allow {
        Some(reg) => assert_signed(&body, &reg.key, &ga.client_data_hash),
        None => parse_auth_data(&as_bytes(get(&body, 2).unwrap())),
    };
    assert_eq!(ad.flags & 0x04 != 0, uv, "the uv bit");
    let sealed = as_bytes(ad.extension("hmac-secret").expect("hmac-secret output"));
    // Protocol one: the outputs as they are; protocol two: a 16-byte IV first.
    let iv = if protocol == 1 { 0 } else { 16 };
    assert_eq!(sealed.len(), salt_bytes.len() + iv);
    Ok(session.decrypt(&sealed))
}
