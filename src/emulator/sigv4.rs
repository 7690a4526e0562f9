//! The SigV4 presence check: IAM, STS and Cognito's administrative calls must carry a
//! well-formed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
//! Signature=...` header (or the presigned query form). Any key is accepted, since the
//! stand-in holds no secret keys, but the credential scope names the region and service,
//! which is how IAM and STS are told apart at one endpoint URL.

use axum::http::HeaderMap;

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
    parse_scope(credential.as_deref().unwrap_or_default())
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
    })
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
