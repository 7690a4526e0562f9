//! Fuzz harnesses: the bodies of the cargo-fuzz targets in fuzz/, also run over every
//! committed corpus file by the stable replay test (tests/fuzz_corpora.rs). Each takes
//! arbitrary bytes and must not panic; an invariant a harness asserts is a finding like a panic.
//! (The firmware's own harnesses are in `firmware_sim::testing::fuzz`.)

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde::de::DeserializeOwned;

use crate::api::types;
use crate::emulator::server::InProcess;
use crate::vault::{qr, uri};

/// Separates the requests of one input to [`emulator_requests`].
pub const SEPARATOR: &[u8] = b"\xDE\xAD";

/// An otpauth URI: what parses must format to a URI that parses again.
pub fn otpauth_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(params) = uri::parse(text) {
        let again = uri::format(&params, "account");
        assert!(
            uri::parse(&again).is_ok(),
            "a parsed otpauth URI formats to one that does not parse"
        );
    }
}

/// A PNG image given to `totp add --qr`.
pub fn qr_png(data: &[u8]) {
    let _ = qr::decode_png(data);
}

fn body<T: DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

/// A control-API JSON body, read as every request body type (and the response types the CLI
/// client reads).
pub fn api_json(data: &[u8]) {
    body::<types::NewKey>(data);
    body::<types::NewCredential>(data);
    body::<Vec<types::NewCredential>>(data);
    body::<types::SetUv>(data);
    body::<types::SetPresence>(data);
    body::<types::DecideBody>(data);
    body::<types::NewTotp>(data);
    body::<types::FreshBody>(data);
    body::<types::CeremonyBody>(data);
    body::<types::ErrorBody>(data);
    body::<types::StatusInfo>(data);
    body::<types::KeyInfo>(data);
    body::<types::CredentialInfo>(data);
    body::<types::PresenceInfo>(data);
    body::<types::Codes>(data);
    body::<types::CodeUsed>(data);
}

/// A credential of `private_key` for [`api_import`] (the other fields plain and valid).
fn credential_with(private_key: String) -> types::NewCredential {
    types::NewCredential {
        credential_id: "Y3JlZA".into(),
        is_resident_credential: true,
        rp_id: "example.com".into(),
        private_key,
        user_handle: Some("dXNlcg".into()),
        sign_count: None,
        large_blob: None,
        cred_blob: None,
        user_name: Some("u".into()),
        user_display_name: None,
        backup_eligibility: None,
        backup_state: None,
        user_name_hint: None,
        replace: None,
    }
}

/// The API's private import conversion (base64url fields and the PKCS#8 private key). The
/// first byte chooses what the rest is: 0, a whole Add Credential JSON body; 1, the private
/// key's DER bytes (base64url-encoded here, so the fuzzer works on the DER itself); 2, the
/// privateKey field's text. What converts has a COSE public key that decodes and an algorithm
/// the key signs with; what is refused never quotes the private key.
pub fn api_import(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let n = match mode % 3 {
        0 => match serde_json::from_slice::<types::NewCredential>(rest) {
            Ok(n) => n,
            Err(_) => return,
        },
        1 => credential_with(data_encoding::BASE64URL_NOPAD.encode(rest)),
        _ => match std::str::from_utf8(rest) {
            Ok(t) => credential_with(t.to_string()),
            Err(_) => return,
        },
    };
    let secret = zeroize::Zeroizing::new(n.private_key.trim().to_string());
    match crate::api::import_conversion(n) {
        Ok(info) => {
            assert!(
                firmware_sim::cbor::decode(&info.public_key_cose).is_ok(),
                "an imported key's COSE public key does not decode"
            );
            assert!(
                firmware_sim::credential::Algorithm::from_cose_id(i128::from(info.algorithm))
                    .is_some(),
                "an imported key of an algorithm the key cannot sign with"
            );
        }
        Err(e) => {
            if secret.len() >= 8 && format!("{e:?}").contains(secret.as_str()) {
                // Text the API writes itself is no echo, and the fuzzer can aim a key at it
                // (`piError { status: 400, code: ...` did): an echo would show a key of as many
                // letters instead.
                let written =
                    crate::api::import_conversion(credential_with("A".repeat(secret.len())))
                        .err()
                        .map(|e| format!("{e:?}"))
                        .unwrap_or_default();
                assert!(
                    written.contains(secret.as_str()),
                    "an import error quotes the private key"
                );
            }
        }
    }
}

/// A control-API query string, read as each query type the way the router reads it.
pub fn api_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/totp/x/codes?{text}").parse::<Uri>() else {
        return;
    };
    let _ = Query::<types::CodeQuery>::try_from_uri(&uri);
    let _ = Query::<types::CaQuery>::try_from_uri(&uri);
}

/// One request as text: `METHOD TARGET`, header lines `name: value`, an empty line, the body.
struct Request<'a> {
    method: Method,
    path: &'a str,
    query: &'a str,
    headers: HeaderMap,
    body: Bytes,
}

fn request(data: &[u8]) -> Option<Request<'_>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        // What hyper would refuse never reaches the router.
        let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        let value = HeaderValue::from_str(value.trim()).ok()?;
        headers.append(name, value);
    }
    Some(Request {
        method,
        path,
        query,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// Requests to the AWS stand-in (JSON 1.1 for Cognito, the query protocol for IAM and STS,
/// SigV4 headers and presigned queries), [`SEPARATOR`]-separated, against one in-memory
/// stand-in: every one is answered, never with a panic.
pub fn emulator_requests(data: &[u8]) {
    let standin = InProcess::new();
    let mut rest = data;
    loop {
        let (part, next) = match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + SEPARATOR.len()..])),
            None => (rest, None),
        };
        if let Some(r) = request(part) {
            let _ = standin.handle(&r.method, r.path, r.query, &r.headers, &r.body);
        }
        match next {
            Some(n) => rest = n,
            None => return,
        }
    }
}
