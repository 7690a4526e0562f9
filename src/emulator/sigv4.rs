//! The SigV4 presence check: IAM, STS and Cognito's administrative calls must carry a
//! well-formed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
//! Signature=...` header (or the presigned query form). Any key is accepted, since the
//! stand-in holds no secret keys, but the credential scope names the region and service,
//! which is how IAM and STS are told apart at one endpoint URL.

use axum::http::HeaderMap;

use super::crypto;

/// What a well-formed SigV4 authorization says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The scope's date, `YYYYMMDD`.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service (`iam`, `sts`, `cognito-idp`, ...).
    pub service: String,
    /// The signed header names, lower-case, as listed (header form only).
    pub signed_headers: Vec<String>,
    /// The hex signature (header form only).
    pub signature: String,
}

/// Why a request's authorization is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// No `Authorization` header and no presigned query: AWS's MissingAuthenticationToken.
    Missing,
    /// Present but not a complete SigV4 authorization: AWS's IncompleteSignature.
    Incomplete(String),
}

/// Inspect the request's headers (and query parameters, for presigned requests).
pub fn check(headers: &HeaderMap, query: &[(String, String)]) -> Result<Credential, SigError> {
    if let Some(value) = headers.get("authorization") {
        let value = value
            .to_str()
            .map_err(|_| SigError::Incomplete("Authorization header is not ASCII.".into()))?;
        return parse_header(value, headers);
    }
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(alg) = q("X-Amz-Algorithm") {
        if alg != "AWS4-HMAC-SHA256" {
            return Err(SigError::Incomplete(format!(
                "Unsupported AWS 'algorithm': '{alg}'"
            )));
        }
        let mut missing = Vec::new();
        for p in [
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-SignedHeaders",
            "X-Amz-Date",
        ] {
            if q(p).is_none_or(str::is_empty) {
                missing.push(format!("AWS query-string parameters must include '{p}'."));
            }
        }
        if !missing.is_empty() {
            return Err(SigError::Incomplete(missing.join(" ")));
        }
        return parse_scope(q("X-Amz-Credential").unwrap_or_default());
    }
    Err(SigError::Missing)
}

fn parse_header(value: &str, headers: &HeaderMap) -> Result<Credential, SigError> {
    let value = value.trim();
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        let alg = value.split_whitespace().next().unwrap_or("");
        return Err(SigError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{alg}'. Authorization header requires 'AWS4-HMAC-SHA256'."
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "Credential" => credential = Some(v.trim().to_owned()),
                "SignedHeaders" => signed_headers = Some(v.trim().to_owned()),
                "Signature" => signature = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut problems = Vec::new();
    if credential.as_deref().is_none_or(str::is_empty) {
        problems.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.as_deref().is_none_or(str::is_empty) {
        problems.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.as_deref().is_none_or(str::is_empty) {
        problems.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if !headers.contains_key("x-amz-date") && !headers.contains_key("date") {
        problems.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    if let Some(sig) = &signature
        && !sig.is_empty()
        && !sig.bytes().all(|b| b.is_ascii_hexdigit())
    {
        problems.push("Signature must be hex.");
    }
    if !problems.is_empty() {
        return Err(SigError::Incomplete(problems.join(" ")));
    }
    let mut cred = parse_scope(credential.as_deref().unwrap_or_default())?;
    cred.signed_headers = signed_headers
        .unwrap_or_default()
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    cred.signature = signature.unwrap_or_default();
    Ok(cred)
}

fn parse_scope(credential: &str) -> Result<Credential, SigError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigError::Incomplete(format!(
            "Credential should be scoped to a valid region, service and 'aws4_request': '{credential}'."
        )));
    };
    if *terminator != "aws4_request" {
        return Err(SigError::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if key.is_empty() {
        return Err(SigError::Incomplete(
            "Credential must name an access key id.".into(),
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigError::Incomplete(format!(
            "Credential should be scoped to a valid date (YYYYMMDD), not '{date}'."
        )));
    }
    if region.is_empty() || service.is_empty() {
        return Err(SigError::Incomplete(
            "Credential should be scoped to a valid region and service.".into(),
        ));
    }
    Ok(Credential {
        access_key_id: (*key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: Vec::new(),
        signature: String::new(),
    })
}

/// AWS's URI encoding: unreserved characters kept, everything else `%XX` upper-case
/// (`/` kept when `keep_slash`).
fn aws_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical request of SigV4 for a non-S3 service.
fn canonical_request(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed: &[String],
    body: &[u8],
) -> String {
    let uri = if path.is_empty() {
        "/".to_owned()
    } else {
        aws_encode(path, true)
    };
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (aws_encode(&k, false), aws_encode(&v, false)))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canon_headers = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canon_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| crypto::hex(&crypto::sha256(body)));
    format!(
        "{method}\n{uri}\n{query}\n{canon_headers}\n{}\n{payload}",
        signed.join(";")
    )
}

/// Check the request's signature with the secret of an access key the stand-in issued.
/// `Err` carries AWS's SignatureDoesNotMatch message.
pub fn verify(
    cred: &Credential,
    secret: &str,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let mismatch = || {
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned()
    };
    if cred.signature.is_empty() || cred.signed_headers.is_empty() {
        return Err(mismatch());
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(mismatch)?;
    let canonical = canonical_request(method, path, raw_query, headers, &cred.signed_headers, body);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        cred.date, cred.region, cred.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        crypto::hex(&crypto::sha256(canonical.as_bytes()))
    );
    let k_date = crypto::hmac_sha256(format!("AWS4{secret}").as_bytes(), cred.date.as_bytes());
    let k_region = crypto::hmac_sha256(&k_date, cred.region.as_bytes());
    let k_service = crypto::hmac_sha256(&k_region, cred.service.as_bytes());
    let k_signing = crypto::hmac_sha256(&k_service, b"aws4_request");
    let expected = crypto::hex(&crypto::hmac_sha256(&k_signing, to_sign.as_bytes()));
    if crypto::ct_eq(
        expected.as_bytes(),
        cred.signature.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: Option<&str>, date: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert("authorization", HeaderValue::from_str(a).expect("ascii"));
        }
        if date {
            h.insert("x-amz-date", HeaderValue::from_static("20261103T120000Z"));
        }
        h
    }

    #[test]
    fn well_formed_header() {
        let h = headers(
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261103/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef0123",
            ),
            true,
        );
        let c = check(&h, &[]).expect("valid");
        assert_eq!(c.service, "iam");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
    }

    #[test]
    fn verifies_aws_test_suite_get_vanilla_query() {
        // "get-vanilla-query" of AWS's SigV4 test suite: GET / with no query, example key.
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        );
        let c = check(&h, &[]).expect("well formed");
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert!(verify(&c, secret, "GET", "/", "", &h, b"").is_ok());
        assert!(verify(&c, "another-secret", "GET", "/", "", &h, b"").is_err());
        assert!(verify(&c, secret, "POST", "/", "", &h, b"").is_err());
        assert!(verify(&c, secret, "GET", "/", "a=b", &h, b"").is_err());
    }

    #[test]
    fn missing_header() {
        assert_eq!(check(&headers(None, true), &[]), Err(SigError::Missing));
    }

    #[test]
    fn incomplete_header() {
        let h = headers(
            Some("AWS4-HMAC-SHA256 Credential=AKID/20261103/us-east-1/iam/aws4_request"),
            true,
        );
        match check(&h, &[]) {
            Err(SigError::Incomplete(m)) => {
                assert!(m.contains("'Signature'"));
                assert!(m.contains("'SignedHeaders'"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let h = headers(
            Some("AWS4-HMAC-SHA256 Credential=AKID/x/iam, SignedHeaders=host, Signature=00"),
            true,
        );
        assert!(matches!(check(&h, &[]), Err(SigError::Incomplete(_))));
        let h = headers(Some("Bearer abc"), true);
        assert!(matches!(check(&h, &[]), Err(SigError::Incomplete(_))));
    }

    #[test]
    fn missing_date() {
        let h = headers(
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20261103/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            ),
            false,
        );
        assert!(matches!(check(&h, &[]), Err(SigError::Incomplete(m)) if m.contains("X-Amz-Date")));
    }
}
