//! Shared helpers for the black-box tests: requests built as CBOR values, responses parsed and
//! signatures verified with the p256 / p384 / ed25519-dalek crates directly (not through the
//! token's own code).
#![allow(dead_code)]

pub mod hmac;
pub mod import;
pub mod pin;
pub mod pin_key;
pub mod power;

use ciborium::value::{Integer, Value};
use firmware_sim::testing::{HidHost, TestEnv};
use firmware_sim::{Token, TokenConfig};
use sha2::{Digest, Sha256};

pub const MC: u8 = 0x01;
pub const GA: u8 = 0x02;
pub const INFO: u8 = 0x04;
pub const RESET: u8 = 0x07;
pub const GNA: u8 = 0x08;
pub const SELECTION: u8 = 0x0B;

pub const OK: u8 = 0x00;

pub fn setup(config: TokenConfig) -> (Token, TestEnv, HidHost) {
    let mut env = TestEnv::new(42);
    let mut token = Token::new(config, &mut env);
    let host = HidHost::connect(&mut token, &mut env).expect("INIT");
    (token, env, host)
}

pub fn int(n: i64) -> Value {
    Value::Integer(Integer::from(n))
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

pub fn imap(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
}

pub fn tmap(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

pub fn cdh(tag: &str) -> Vec<u8> {
    Sha256::digest(tag.as_bytes()).to_vec()
}

pub fn rp_hash(rp_id: &str) -> Vec<u8> {
    Sha256::digest(rp_id.as_bytes()).to_vec()
}

pub fn descriptor(id: &[u8]) -> Value {
    tmap(vec![("id", bytes(id)), ("type", text("public-key"))])
}

/// A makeCredential request.
pub struct Mc {
    pub rp_id: String,
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub algs: Vec<i64>,
    pub rk: Option<bool>,
    pub uv: Option<bool>,
    pub up: Option<bool>,
    pub exclude: Vec<Vec<u8>>,
    pub client_data_hash: Vec<u8>,
    /// pinUvAuthParam and pinUvAuthProtocol.
    pub pin_auth: Option<(i64, Vec<u8>)>,
    /// enterpriseAttestation.
    pub ep: Option<i64>,
    /// The extensions map.
    pub extensions: Option<Value>,
}

impl Mc {
    pub fn new(rp_id: &str, user_id: &[u8]) -> Self {
        Self {
            rp_id: rp_id.to_owned(),
            user_id: user_id.to_vec(),
            user_name: Some("alice".into()),
            algs: vec![-7],
            rk: None,
            uv: None,
            up: None,
            exclude: vec![],
            client_data_hash: cdh("mc"),
            pin_auth: None,
            ep: None,
            extensions: None,
        }
    }

    /// Authorises the request with a pinUvAuthToken.
    pub fn with_token(mut self, protocol: u8, token: &[u8]) -> Self {
        let param = pin::authenticate(protocol, token, &self.client_data_hash);
        self.pin_auth = Some((protocol.into(), param));
        self
    }

    pub fn value(&self) -> Value {
        let mut user = vec![("id", bytes(&self.user_id))];
        if let Some(n) = &self.user_name {
            user.push(("name", text(n)));
            user.push(("displayName", text(&format!("{n} display"))));
        }
        let mut entries = vec![
            (1, bytes(&self.client_data_hash)),
            (
                2,
                tmap(vec![("id", text(&self.rp_id)), ("name", text("Example"))]),
            ),
            (3, tmap(user)),
            (
                4,
                Value::Array(
                    self.algs
                        .iter()
                        .map(|a| tmap(vec![("alg", int(*a)), ("type", text("public-key"))]))
                        .collect(),
                ),
            ),
        ];
        if !self.exclude.is_empty() {
            entries.push((
                5,
                Value::Array(self.exclude.iter().map(|i| descriptor(i)).collect()),
            ));
        }
        let mut options = vec![];
        if let Some(rk) = self.rk {
            options.push(("rk", Value::Bool(rk)));
        }
        if let Some(up) = self.up {
            options.push(("up", Value::Bool(up)));
        }
        if let Some(uv) = self.uv {
            options.push(("uv", Value::Bool(uv)));
        }
        if let Some(e) = &self.extensions {
            entries.push((6, e.clone()));
        }
        if !options.is_empty() {
            entries.push((7, tmap(options)));
        }
        if let Some((protocol, param)) = &self.pin_auth {
            entries.push((8, bytes(param)));
            entries.push((9, int(*protocol)));
        }
        if let Some(ep) = self.ep {
            entries.push((10, int(ep)));
        }
        imap(entries)
    }
}

/// A getAssertion request.
pub struct Ga {
    pub rp_id: String,
    pub allow: Vec<Vec<u8>>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
    pub client_data_hash: Vec<u8>,
    /// pinUvAuthParam and pinUvAuthProtocol.
    pub pin_auth: Option<(i64, Vec<u8>)>,
    /// The extensions map.
    pub extensions: Option<Value>,
}

impl Ga {
    pub fn new(rp_id: &str) -> Self {
        Self {
            rp_id: rp_id.to_owned(),
            allow: vec![],
            up: None,
            uv: None,
            client_data_hash: cdh("ga"),
            pin_auth: None,
            extensions: None,
        }
    }

    /// Authorises the request with a pinUvAuthToken.
    pub fn with_token(mut self, protocol: u8, token: &[u8]) -> Self {
        let param = pin::authenticate(protocol, token, &self.client_data_hash);
        self.pin_auth = Some((protocol.into(), param));
        self
    }

    pub fn allow(mut self, id: &[u8]) -> Self {
        self.allow.push(id.to_vec());
        self
    }

    pub fn value(&self) -> Value {
        let mut entries = vec![(1, text(&self.rp_id)), (2, bytes(&self.client_data_hash))];
        if !self.allow.is_empty() {
            entries.push((
                3,
                Value::Array(self.allow.iter().map(|i| descriptor(i)).collect()),
            ));
        }
        if let Some(e) = &self.extensions {
            entries.push((4, e.clone()));
        }
        let mut options = vec![];
        if let Some(up) = self.up {
            options.push(("up", Value::Bool(up)));
        }
        if let Some(uv) = self.uv {
            options.push(("uv", Value::Bool(uv)));
        }
        if !options.is_empty() {
            entries.push((5, tmap(options)));
        }
        if let Some((protocol, param)) = &self.pin_auth {
            entries.push((6, bytes(param)));
            entries.push((7, int(*protocol)));
        }
        imap(entries)
    }
}

pub fn get(map: &Value, key: i64) -> Option<&Value> {
    match map {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match k {
            Value::Integer(i) if i128::from(*i) == i128::from(key) => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

pub fn tget<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match k {
            Value::Text(t) if t == key => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

pub fn as_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    }
}

pub fn as_int(v: &Value) -> i128 {
    match v {
        Value::Integer(i) => i128::from(*i),
        other => panic!("expected integer, got {other:?}"),
    }
}

pub fn as_text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// A credential public key, as decoded from a COSE_Key by the test itself.
#[derive(Clone, Debug)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    pub fn from_cose(cose: &Value) -> Self {
        let kty = as_int(get(cose, 1).unwrap());
        let alg = as_int(get(cose, 3).unwrap());
        let crv = as_int(get(cose, -1).unwrap());
        let x = as_bytes(get(cose, -2).unwrap());
        match (kty, alg, crv) {
            (2, -7, 1) => {
                let y = as_bytes(get(cose, -3).unwrap());
                let mut sec1 = vec![4];
                sec1.extend(x);
                sec1.extend(y);
                PublicKey::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap())
            }
            (2, -35, 2) => {
                let y = as_bytes(get(cose, -3).unwrap());
                let mut sec1 = vec![4];
                sec1.extend(x);
                sec1.extend(y);
                PublicKey::Es384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap())
            }
            (1, -8, 6) => {
                let arr: [u8; 32] = x.try_into().unwrap();
                PublicKey::EdDsa(ed25519_dalek::VerifyingKey::from_bytes(&arr).unwrap())
            }
            other => panic!("unexpected COSE key {other:?}"),
        }
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            PublicKey::Es256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            PublicKey::Es384(k) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            PublicKey::EdDsa(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
        }
    }
}

/// Authenticator data, parsed by the test.
#[derive(Clone, Debug)]
pub struct AuthData {
    pub rp_id_hash: Vec<u8>,
    pub flags: u8,
    pub sign_count: u32,
    pub aaguid: Option<Vec<u8>>,
    pub credential_id: Option<Vec<u8>>,
    pub public_key: Option<Value>,
    /// The extension outputs (ED set).
    pub extensions: Option<Value>,
    pub raw: Vec<u8>,
}

impl AuthData {
    /// The output of extension `id`, if any.
    pub fn extension(&self, id: &str) -> Option<&Value> {
        self.extensions.as_ref().and_then(|e| tget(e, id))
    }
}

pub fn parse_auth_data(raw: &[u8]) -> AuthData {
    assert!(raw.len() >= 37, "authData too short");
    let flags = raw[32];
    let sign_count = u32::from_be_bytes(raw[33..37].try_into().unwrap());
    let mut ad = AuthData {
        rp_id_hash: raw[..32].to_vec(),
        flags,
        sign_count,
        aaguid: None,
        credential_id: None,
        public_key: None,
        extensions: None,
        raw: raw.to_vec(),
    };
    let mut rest = &raw[37..];
    if flags & 0x40 != 0 {
        ad.aaguid = Some(raw[37..53].to_vec());
        let len = usize::from(u16::from_be_bytes([raw[53], raw[54]]));
        ad.credential_id = Some(raw[55..55 + len].to_vec());
        rest = &raw[55 + len..];
        let key: Value = ciborium::de::from_reader(&mut rest).unwrap();
        ad.public_key = Some(key);
    }
    if flags & 0x80 != 0 {
        let ext: Value = ciborium::de::from_reader(&mut rest).unwrap();
        assert!(
            matches!(&ext, Value::Map(m) if !m.is_empty()),
            "ED means a non-empty extensions map"
        );
        ad.extensions = Some(ext);
    }
    assert!(rest.is_empty(), "trailing bytes in authData");
    ad
}

/// A registered credential, as the relying party would remember it.
#[derive(Clone, Debug)]
pub struct Registered {
    pub id: Vec<u8>,
    pub key: PublicKey,
    pub auth_data: AuthData,
    pub response: Value,
}

pub fn make_credential(
    token: &mut Token,
    env: &mut TestEnv,
    host: &HidHost,
    mc: &Mc,
) -> Registered {
    let (status, body) = host.ctap2(token, env, MC, Some(&mc.value())).unwrap();
    assert_eq!(status, OK, "makeCredential status");
    let body = body.unwrap();
    let ad = parse_auth_data(&as_bytes(get(&body, 2).unwrap()));
    Registered {
        id: ad.credential_id.clone().unwrap(),
        key: PublicKey::from_cose(ad.public_key.as_ref().unwrap()),
        auth_data: ad,
        response: body,
    }
}

/// Runs getAssertion and checks the signature against `key`; returns the response body.
pub fn assert_signed(body: &Value, key: &PublicKey, client_data_hash: &[u8]) -> AuthData {
    let raw = as_bytes(get(body, 2).unwrap());
    let sig = as_bytes(get(body, 3).unwrap());
    let mut msg = raw.clone();
    msg.extend_from_slice(client_data_hash);
    assert!(key.verify(&msg, &sig), "assertion signature must verify");
    parse_auth_data(&raw)
}

pub fn credential_id_of(body: &Value) -> Vec<u8> {
    as_bytes(tget(get(body, 1).unwrap(), "id").unwrap())
}
