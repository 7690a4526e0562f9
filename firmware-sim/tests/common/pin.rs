//! The platform's side of the PIN/UV auth protocols, written here with the crates directly (not
//! through the token's own code): key agreement, encrypt/decrypt, authenticate, and the
//! authenticatorClientPIN requests a platform sends.
#![allow(dead_code)]

use aes::Aes256;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use ciborium::value::Value;
use firmware_sim::Token;
use firmware_sim::testing::{HidHost, TestEnv};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{as_bytes, as_int, bytes, get, imap, int, text};

pub const CLIENT_PIN: u8 = 0x06;
pub const CONFIG: u8 = 0x0D;

pub const PERM_MC: i64 = 0x01;
pub const PERM_GA: i64 = 0x02;
pub const PERM_CM: i64 = 0x04;
pub const PERM_BE: i64 = 0x08;
pub const PERM_LBW: i64 = 0x10;
pub const PERM_ACFG: i64 = 0x20;

pub const PIN_INVALID: u8 = 0x31;
pub const PIN_BLOCKED: u8 = 0x32;
pub const PIN_AUTH_INVALID: u8 = 0x33;
pub const PIN_AUTH_BLOCKED: u8 = 0x34;
pub const PIN_NOT_SET: u8 = 0x35;
pub const PUAT_REQUIRED: u8 = 0x36;
pub const PIN_POLICY_VIOLATION: u8 = 0x37;
pub const UV_BLOCKED: u8 = 0x3C;
pub const UV_INVALID: u8 = 0x3F;
pub const UNAUTHORIZED_PERMISSION: u8 = 0x40;
pub const INVALID_PARAMETER: u8 = 0x02;
pub const MISSING_PARAMETER: u8 = 0x14;
pub const OPERATION_DENIED: u8 = 0x27;

/// A counter for the platform's ephemeral keys (deterministic tests).
static NEXT_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn platform_key() -> p256::SecretKey {
    loop {
        let n = NEXT_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = Sha256::digest(format!("platform key {n}").as_bytes());
        if let Ok(k) = p256::SecretKey::from_slice(&seed) {
            return k;
        }
    }
}

fn cbc_encrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    let n = buf.len();
    cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
        .unwrap()
        .encrypt_padded::<NoPadding>(&mut buf, n)
        .unwrap();
    buf
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
        .unwrap()
        .decrypt_padded::<NoPadding>(&mut buf)
        .unwrap();
    buf
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// authenticate(pinUvAuthToken or shared secret, message) for `protocol`.
pub fn authenticate(protocol: u8, key: &[u8], msg: &[u8]) -> Vec<u8> {
    match protocol {
        1 => hmac(key, msg)[..16].to_vec(),
        _ => hmac(&key[..32.min(key.len())], msg),
    }
}

/// One key agreement with the token: the platform's COSE key and the shared secret.
pub struct Session {
    pub protocol: u8,
    pub platform_key: Value,
    pub secret: Vec<u8>,
    iv_counter: u8,
}

impl Session {
    /// getKeyAgreement, then ECDH and the protocol's KDF.
    pub fn new(token: &mut Token, env: &mut TestEnv, host: &HidHost, protocol: u8) -> Self {
        let (status, body) = client_pin(
            token,
            env,
            host,
            vec![(1, int(protocol.into())), (2, int(2))],
        );
        assert_eq!(status, 0, "getKeyAgreement");
        let cose = get(body.as_ref().unwrap(), 1).unwrap().clone();
        Self::with_key(&cose, protocol)
    }

    /// Key agreement with a known authenticator key.
    pub fn with_key(authenticator: &Value, protocol: u8) -> Self {
        assert_eq!(as_int(get(authenticator, 1).unwrap()), 2, "EC2");
        assert_eq!(
            as_int(get(authenticator, 3).unwrap()),
            -25,
            "ECDH-ES+HKDF-256"
        );
        assert_eq!(as_int(get(authenticator, -1).unwrap()), 1, "P-256");
        let mut sec1 = vec![4];
        sec1.extend(as_bytes(get(authenticator, -2).unwrap()));
        sec1.extend(as_bytes(get(authenticator, -3).unwrap()));
        let peer = p256::PublicKey::from_sec1_bytes(&sec1).unwrap();
        let mine = platform_key();
        let z = p256::ecdh::diffie_hellman(mine.to_nonzero_scalar(), peer.as_affine());
        let z = z.raw_secret_bytes().to_vec();
        let secret = match protocol {
            1 => Sha256::digest(&z).to_vec(),
            _ => {
                let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), &z);
                let mut out = vec![0u8; 64];
                hk.expand(b"CTAP2 HMAC key", &mut out[..32]).unwrap();
                hk.expand(b"CTAP2 AES key", &mut out[32..]).unwrap();
                out
            }
        };
        let point = p256::ecdsa::VerifyingKey::from(mine.public_key()).to_sec1_point(false);
        let b = point.as_bytes();
        let platform_key = imap(vec![
            (1, int(2)),
            (3, int(-25)),
            (-1, int(1)),
            (-2, bytes(&b[1..33])),
            (-3, bytes(&b[33..65])),
        ]);
        Self {
            protocol,
            platform_key,
            secret,
            iv_counter: 0,
        }
    }

    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        match self.protocol {
            1 => cbc_encrypt(&self.secret, &[0; 16], plaintext),
            _ => {
                self.iv_counter += 1;
                let iv = [self.iv_counter; 16];
                let mut out = iv.to_vec();
                out.extend(cbc_encrypt(&self.secret[32..], &iv, plaintext));
                out
            }
        }
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Vec<u8> {
        match self.protocol {
            1 => cbc_decrypt(&self.secret, &[0; 16], ciphertext),
            _ => cbc_decrypt(&self.secret[32..], &ciphertext[..16], &ciphertext[16..]),
        }
    }

    pub fn authenticate(&self, msg: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.secret, msg)
    }

    /// The hmac-secret (and hmac-secret-mc) input for `salts` (32 or 64 bytes): saltEnc, and
    /// saltAuth over it.
    pub fn hmac_secret_input(&mut self, salts: &[u8]) -> Value {
        let salt_enc = self.encrypt(salts);
        let salt_auth = self.authenticate(&salt_enc);
        imap(vec![
            (1, self.platform_key.clone()),
            (2, bytes(&salt_enc)),
            (3, bytes(&salt_auth)),
            (4, int(self.protocol.into())),
        ])
    }
}

/// A PIN padded to 64 bytes.
pub fn padded(pin: &[u8]) -> Vec<u8> {
    let mut p = pin.to_vec();
    p.resize(64, 0);
    p
}

/// LEFT(SHA-256(pin), 16).
pub fn pin_hash(pin: &[u8]) -> Vec<u8> {
    Sha256::digest(pin)[..16].to_vec()
}

/// One authenticatorClientPIN request from its members.
pub fn client_pin(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    members: Vec<(i64, Value)>,
) -> (u8, Option<Value>) {
    host.ctap2(token, env, CLIENT_PIN, Some(&imap(members)))
        .unwrap()
}

/// setPIN with a padded PIN of any length (the PIN as bytes).
pub fn set_pin_bytes(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    padded_pin: &[u8],
) -> u8 {
    let mut s = Session::new(token, env, host, protocol);
    let enc = s.encrypt(padded_pin);
    let param = s.authenticate(&enc);
    client_pin(
        token,
        env,
        host,
        vec![
            (1, int(protocol.into())),
            (2, int(3)),
            (3, s.platform_key.clone()),
            (4, bytes(&param)),
            (5, bytes(&enc)),
        ],
    )
    .0
}

/// setPIN.
pub fn set_pin(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    pin: &str,
) -> u8 {
    set_pin_bytes(token, env, host, protocol, &padded(pin.as_bytes()))
}

/// changePIN.
pub fn change_pin(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    old: &str,
    new: &str,
) -> u8 {
    let mut s = Session::new(token, env, host, protocol);
    let new_enc = s.encrypt(&padded(new.as_bytes()));
    let hash_enc = s.encrypt(&pin_hash(old.as_bytes()));
    let mut msg = new_enc.clone();
    msg.extend(&hash_enc);
    let param = s.authenticate(&msg);
    client_pin(
        token,
        env,
        host,
        vec![
            (1, int(protocol.into())),
            (2, int(4)),
            (3, s.platform_key.clone()),
            (4, bytes(&param)),
            (5, bytes(&new_enc)),
            (6, bytes(&hash_enc)),
        ],
    )
    .0
}

/// getPinToken (permissions `None`) or getPinUvAuthTokenUsingPinWithPermissions: the decrypted
/// token, or the status.
pub fn pin_token(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    pin: &str,
    permissions: Option<i64>,
    rp_id: Option<&str>,
) -> Result<Vec<u8>, u8> {
    let mut s = Session::new(token, env, host, protocol);
    let hash_enc = s.encrypt(&pin_hash(pin.as_bytes()));
    let mut members = vec![
        (1, int(protocol.into())),
        (2, int(if permissions.is_some() { 9 } else { 5 })),
        (3, s.platform_key.clone()),
        (6, bytes(&hash_enc)),
    ];
    if let Some(p) = permissions {
        members.push((9, int(p)));
    }
    if let Some(r) = rp_id {
        members.push((10, text(r)));
    }
    match client_pin(token, env, host, members) {
        (0, Some(body)) => {
            let t = s.decrypt(&as_bytes(get(&body, 2).unwrap()));
            assert_eq!(t.len(), 32, "a pinUvAuthToken is 32 bytes");
            Ok(t)
        }
        (status, body) => {
            assert!(body.is_none());
            Err(status)
        }
    }
}

/// getPinUvAuthTokenUsingUvWithPermissions.
pub fn uv_token(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    protocol: u8,
    permissions: i64,
    rp_id: Option<&str>,
) -> Result<Vec<u8>, u8> {
    let s = Session::new(token, env, host, protocol);
    let mut members = vec![
        (1, int(protocol.into())),
        (2, int(6)),
        (3, s.platform_key.clone()),
        (9, int(permissions)),
    ];
    if let Some(r) = rp_id {
        members.push((10, text(r)));
    }
    match client_pin(token, env, host, members) {
        (0, Some(body)) => Ok(s.decrypt(&as_bytes(get(&body, 2).unwrap()))),
        (status, _) => Err(status),
    }
}

/// getPINRetries: (retries, powerCycleState).
pub fn pin_retries(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> (i128, Option<bool>) {
    let (status, body) = client_pin(token, env, host, vec![(1, int(2)), (2, int(1))]);
    assert_eq!(status, 0, "getPINRetries");
    let body = body.unwrap();
    let pcs = get(&body, 4).map(|v| matches!(v, Value::Bool(true)));
    (as_int(get(&body, 3).unwrap()), pcs)
}

/// getUVRetries.
pub fn uv_retries(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> i128 {
    let (status, body) = client_pin(token, env, host, vec![(1, int(2)), (2, int(7))]);
    assert_eq!(status, 0, "getUVRetries");
    as_int(get(&body.unwrap(), 5).unwrap())
}

/// The getInfo options map.
pub fn info_options(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> Value {
    let (status, info) = host.ctap2(token, env, 0x04, None).unwrap();
    assert_eq!(status, 0);
    get(info.as_ref().unwrap(), 4).unwrap().clone()
}

/// The whole getInfo response.
pub fn info(token: &mut Token, env: &mut TestEnv, host: &HidHost) -> Value {
    let (status, info) = host.ctap2(token, env, 0x04, None).unwrap();
    assert_eq!(status, 0);
    info.unwrap()
}

/// authenticatorConfig, authorised with `pin_token` when given.
pub fn config(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    sub_command: u8,
    params: Option<Value>,
    auth: Option<(u8, &[u8])>,
) -> u8 {
    let mut members = vec![(1, int(sub_command.into()))];
    if let Some(p) = &params {
        members.push((2, p.clone()));
    }
    if let Some((protocol, t)) = auth {
        let mut msg = vec![0xFF; 32];
        msg.push(0x0D);
        msg.push(sub_command);
        if let Some(p) = &params {
            msg.extend(firmware_sim::cbor::encode(p));
        }
        members.push((3, int(protocol.into())));
        members.push((4, bytes(&authenticate(protocol, t, &msg))));
    }
    host.ctap2(token, env, CONFIG, Some(&imap(members)))
        .unwrap()
        .0
}
