//! Behaviour of the emulator through its HTTP interface, in process: wire shapes of errors,
//! the IAM → STS MFA path, a Cognito SRP sign-in computed by an independent client written
//! here (HMAC-SHA1 TOTP and SRP from their published descriptions), the clock control, and
//! state kept across a restart.

use std::time::Duration;

use authsim::emulator::{Emulator, EmulatorConfig, EmulatorError};
use aws_lc_rs::{digest, hmac};
use data_encoding::BASE64 as B64;
use num_bigint::BigUint;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("http reply");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("request timed out")
}

const SIGNED_IAM: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=00ff";
const SIGNED_STS: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00ff";
const SIGNED_IDP: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=00ff";

async fn query(addr: std::net::SocketAddr, auth: &str, body: &str) -> Reply {
    http(
        addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", auth),
            ("X-Amz-Date", "20260101T000000Z"),
        ],
        body,
    )
    .await
}

async fn cognito(addr: std::net::SocketAddr, action: &str, body: Value) -> Reply {
    http(
        addr,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            (
                "X-Amz-Target",
                &format!("AWSCognitoIdentityProviderService.{action}"),
            ),
            ("Authorization", SIGNED_IDP),
            ("X-Amz-Date", "20260101T000000Z"),
        ],
        &body.to_string(),
    )
    .await
}

fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open).expect(tag) + open.len();
    let end = xml[start..].find(&close).expect(tag) + start;
    xml[start..end].to_owned()
}

/// RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s), written here independently of the server.
fn totp(seed_b32: &str, unix: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(seed_b32.as_bytes())
        .expect("base32");
    let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = hmac::sign(&k, &(unix / 30).to_be_bytes());
    let m = mac.as_ref();
    let off = (m[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([m[off] & 0x7f, m[off + 1], m[off + 2], m[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

async fn server_now(addr: std::net::SocketAddr) -> u64 {
    let r = http(addr, "GET", "/_authsim/clock", &[], "").await;
    r.json()["now"].as_f64().expect("now") as u64
}

async fn start(state_file: Option<std::path::PathBuf>) -> Emulator {
    Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        state_file,
    })
    .await
    .expect("start")
}

#[tokio::test]
async fn refuses_non_loopback() {
    let r = Emulator::start(EmulatorConfig {
        listen: "0.0.0.0:0".parse().expect("addr"),
        state_file: None,
    })
    .await;
    assert!(matches!(r, Err(EmulatorError::NotLoopback(_))));
}

#[tokio::test]
async fn error_shapes_on_the_wire() {
    let emu = start(None).await;
    let addr = emu.local_addr();

    let r = query(
        addr,
        SIGNED_IAM,
        "Action=AttachRolePolicy&Version=2010-05-08",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(xml_field(&r.body, "Code"), "InvalidAction");
    assert_eq!(xml_field(&r.body, "Type"), "Sender");
    assert!(r.header("x-amzn-RequestId").is_some());

    let r = http(
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=ListUsers&Version=2010-05-08",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_field(&r.body, "Code"), "MissingAuthenticationToken");

    let r = cognito(addr, "NoSuchThing", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "UnknownOperationException");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("UnknownOperationException:")
    );

    let r = cognito(
        addr,
        "DescribeUserPool",
        json!({"UserPoolId": "us-east-1_none"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "ResourceNotFoundException");
    assert_eq!(
        r.json()["message"],
        "User pool us-east-1_none does not exist."
    );

    let r = http(addr, "GET", "/nowhere", &[], "").await;
    assert_eq!(r.status, 404);
    emu.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn iam_enable_then_sts_with_independent_totp() {
    let emu = start(None).await;
    let addr = emu.local_addr();
    let r = query(
        addr,
        SIGNED_IAM,
        "Action=CreateUser&Version=2010-05-08&UserName=rust",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = query(
        addr,
        SIGNED_IAM,
        "Action=CreateVirtualMFADevice&Version=2010-05-08&VirtualMFADeviceName=rust-dev",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let serial = xml_field(&r.body, "SerialNumber");
    let seed = String::from_utf8(
        B64.decode(xml_field(&r.body, "Base32StringSeed").as_bytes())
            .expect("b64"),
    )
    .expect("ascii");
    assert_eq!(seed.len(), 64);

    let mut now = server_now(addr).await;
    if now % 30 > 25 {
        http(
            addr,
            "POST",
            "/_authsim/clock",
            &[],
            r#"{"advance_seconds": 6}"#,
        )
        .await;
        now = server_now(addr).await;
    }
    let enable = |c1: String, c2: String| {
        format!(
            "Action=EnableMFADevice&Version=2010-05-08&UserName=rust&SerialNumber={}&AuthenticationCode1={c1}&AuthenticationCode2={c2}",
            serial.replace(':', "%3A").replace('/', "%2F")
        )
    };
    let r = query(
        addr,
        SIGNED_IAM,
        &enable(totp(&seed, now), totp(&seed, now - 30)),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_field(&r.body, "Code"), "InvalidAuthenticationCode");
    assert_eq!(
        xml_field(&r.body, "Message"),
        "Authentication code for device is not valid."
    );
    let r = query(
        addr,
        SIGNED_IAM,
        &enable(totp(&seed, now - 30), totp(&seed, now)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let sts = |code: String| {
        format!(
            "Action=GetSessionToken&Version=2011-06-15&SerialNumber={}&TokenCode={code}",
            serial.replace(':', "%3A").replace('/', "%2F")
        )
    };
    // The current step was spent by EnableMFADevice; the next one is accepted once.
    let r = query(addr, SIGNED_STS, &sts(totp(&seed, now))).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_field(&r.body, "Code"), "AccessDenied");
    let r = query(addr, SIGNED_STS, &sts(totp(&seed, now + 30))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(xml_field(&r.body, "AccessKeyId").starts_with("ASIA"));
    let r = query(addr, SIGNED_STS, &sts(totp(&seed, now + 30))).await;
    assert_eq!(r.status, 403, "replay");
    emu.shutdown().await.expect("shutdown");
}

// --- an independent Cognito SRP client -------------------------------------------------

const N_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/// Hex-string padding as amazon-cognito-identity-js's padHex does it.
fn pad_hex(n: &BigUint) -> String {
    let mut h = n.to_str_radix(16);
    if h.len() % 2 == 1 {
        h.insert(0, '0');
    } else if "89abcdef".contains(&h[..1]) {
        h.insert_str(0, "00");
    }
    h
}

fn hex_hash(hex_str: &str) -> String {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex_str.as_bytes())
        .expect("hex");
    data_encoding::HEXLOWER.encode(digest::digest(&digest::SHA256, &bytes).as_ref())
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn srp_claim(
    pool_name: &str,
    user: &str,
    password: &str,
    a: &BigUint,
    params: &Value,
    timestamp: &str,
) -> String {
    let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).expect("N");
    let g = BigUint::from(2u32);
    let k = BigUint::parse_bytes(hex_hash(&format!("00{N_HEX}02")).as_bytes(), 16).expect("k");
    let big_a = g.modpow(a, &n);
    let big_b =
        BigUint::parse_bytes(params["SRP_B"].as_str().expect("B").as_bytes(), 16).expect("B");
    let salt =
        BigUint::parse_bytes(params["SALT"].as_str().expect("salt").as_bytes(), 16).expect("salt");
    let u = BigUint::parse_bytes(
        hex_hash(&(pad_hex(&big_a) + &pad_hex(&big_b))).as_bytes(),
        16,
    )
    .expect("u");
    let up = data_encoding::HEXLOWER.encode(
        digest::digest(
            &digest::SHA256,
            format!("{pool_name}{user}:{password}").as_bytes(),
        )
        .as_ref(),
    );
    let x = BigUint::parse_bytes(hex_hash(&(pad_hex(&salt) + &up)).as_bytes(), 16).expect("x");
    let kgx = (&k * g.modpow(&x, &n)) % &n;
    let base = (&big_b + &n - kgx) % &n;
    let s = base.modpow(&(a + &u * &x), &n);
    let dehex = |h: String| {
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(h.as_bytes())
            .expect("hex")
    };
    let prk = hmac256(&dehex(pad_hex(&u)), &dehex(pad_hex(&s)));
    let key = &hmac256(&prk, b"Caldera Derived Key\x01")[..16];
    let block = B64
        .decode(params["SECRET_BLOCK"].as_str().expect("block").as_bytes())
        .expect("b64");
    let mut msg = Vec::new();
    msg.extend_from_slice(pool_name.as_bytes());
    msg.extend_from_slice(user.as_bytes());
    msg.extend_from_slice(&block);
    msg.extend_from_slice(timestamp.as_bytes());
    B64.encode(&hmac256(key, &msg))
}

#[tokio::test]
async fn cognito_srp_sign_in_over_http() {
    let emu = start(None).await;
    let addr = emu.local_addr();
    let pool = cognito(addr, "CreateUserPool", json!({"PoolName": "rust"}))
        .await
        .json();
    let pool_id = pool["UserPool"]["Id"].as_str().expect("id").to_owned();
    let client = cognito(
        addr,
        "CreateUserPoolClient",
        json!({"UserPoolId": pool_id, "ClientName": "c"}),
    )
    .await
    .json();
    let client_id = client["UserPoolClient"]["ClientId"]
        .as_str()
        .expect("cid")
        .to_owned();
    cognito(
        addr,
        "AdminCreateUser",
        json!({"UserPoolId": pool_id, "Username": "bob", "MessageAction": "SUPPRESS"}),
    )
    .await;
    let r = cognito(
        addr,
        "AdminSetUserPassword",
        json!({"UserPoolId": pool_id, "Username": "bob", "Password": "Sup3r-Secret!", "Permanent": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let pool_name = pool_id.split_once('_').expect("pool id").1.to_owned();
    let g = BigUint::from(2u32);
    let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).expect("N");
    let sign_in = async |password: &str, timestamp: &str| -> Reply {
        let a = BigUint::from_bytes_be(&authsim_random(128));
        let big_a = g.modpow(&a, &n);
        let init = cognito(
            addr,
            "InitiateAuth",
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client_id,
                   "AuthParameters": {"USERNAME": "bob", "SRP_A": big_a.to_str_radix(16)}}),
        )
        .await;
        assert_eq!(init.status, 200, "{}", init.body);
        let params = init.json()["ChallengeParameters"].clone();
        let sig = srp_claim(&pool_name, "bob", password, &a, &params, timestamp);
        cognito(
            addr,
            "RespondToAuthChallenge",
            json!({"ClientId": client_id, "ChallengeName": "PASSWORD_VERIFIER",
                   "ChallengeResponses": {"USERNAME": "bob", "TIMESTAMP": timestamp,
                       "PASSWORD_CLAIM_SECRET_BLOCK": params["SECRET_BLOCK"],
                       "PASSWORD_CLAIM_SIGNATURE": sig}}),
        )
        .await
    };
    let ok = sign_in("Sup3r-Secret!", "Wed Jan 7 09:05:00 UTC 2026").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let result = &ok.json()["AuthenticationResult"];
    assert_eq!(result["TokenType"], "Bearer");
    let access = result["AccessToken"].as_str().expect("token");

    let wrong = sign_in("not-it", "Wed Jan 7 09:05:00 UTC 2026").await;
    assert_eq!(wrong.json()["__type"], "NotAuthorizedException");
    let padded = sign_in("Sup3r-Secret!", "Wed Jan 07 09:05:00 UTC 2026").await;
    assert_eq!(padded.json()["message"], "Incorrect username or password.");

    // The access token verifies against the published JWKS, independently of the server.
    let jwks = http(
        addr,
        "GET",
        &format!("/{pool_id}/.well-known/jwks.json"),
        &[],
        "",
    )
    .await;
    let key = &jwks.json()["keys"][0];
    let b64url = data_encoding::BASE64URL_NOPAD;
    let n_bytes = b64url
        .decode(key["n"].as_str().expect("n").as_bytes())
        .expect("n");
    let e_bytes = b64url
        .decode(key["e"].as_str().expect("e").as_bytes())
        .expect("e");
    let (signed, sig) = access.rsplit_once('.').expect("jws");
    let pk = aws_lc_rs::rsa::PublicKeyComponents {
        n: n_bytes.as_slice(),
        e: e_bytes.as_slice(),
    };
    pk.verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        signed.as_bytes(),
        &b64url.decode(sig.as_bytes()).expect("sig"),
    )
    .expect("RS256 signature verifies with the JWKS key");
    let claims: Value = serde_json::from_slice(
        &b64url
            .decode(signed.split('.').nth(1).expect("payload").as_bytes())
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["iss"], format!("http://{addr}/{pool_id}"));
    assert_eq!(claims["token_use"], "access");
    emu.shutdown().await.expect("shutdown");
}

fn authsim_random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).expect("rng");
    b
}

#[tokio::test]
async fn clock_control_and_state_across_restart() {
    let dir = std::env::temp_dir().join(format!("authsim-emu-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);

    let emu = start(Some(path.clone())).await;
    let addr = emu.local_addr();
    let before = server_now(addr).await;
    let r = http(
        addr,
        "POST",
        "/_authsim/clock",
        &[],
        r#"{"advance_seconds": 3600}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(server_now(addr).await >= before + 3600);
    let r = http(addr, "POST", "/_authsim/clock", &[], r#"{"nonsense": 1}"#).await;
    assert_eq!(r.status, 400);
    let r = query(
        addr,
        SIGNED_IAM,
        "Action=CreateUser&Version=2010-05-08&UserName=kept",
    )
    .await;
    assert_eq!(r.status, 200);
    emu.shutdown().await.expect("shutdown");

    let emu = start(Some(path.clone())).await;
    let addr = emu.local_addr();
    let r = query(
        addr,
        SIGNED_IAM,
        "Action=GetUser&Version=2010-05-08&UserName=kept",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(xml_field(&r.body, "UserName"), "kept");
    // The clock offset is a test control, not state.
    assert!(server_now(addr).await < before + 3600);
    emu.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
