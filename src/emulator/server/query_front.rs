//! The query-protocol front (IAM and STS): `Action` and `Version` from the form or URL,
//! the service from the SigV4 credential scope, the XML answer or error.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::world::{Raw, Shared, request_id, with_request_id};
use crate::emulator::query::{Params, QueryError};
use crate::emulator::sigv4::{self, Credential, SigError};
use crate::emulator::{iam, sts};

fn xml_response(status: StatusCode, body: String, rid: &str) -> Response {
    with_request_id(
        (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response(),
        rid,
    )
}

/// The query protocol's `<ErrorResponse>`.
pub(super) fn query_error(e: &QueryError, ns: Option<&str>, rid: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, e.to_xml(ns, rid), rid)
}

/// The two services behind the query protocol.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    Iam,
    Sts,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }

    fn ns(self) -> &'static str {
        match self {
            Service::Iam => iam::NS,
            Service::Sts => sts::NS,
        }
    }

    fn version(self) -> &'static str {
        match self {
            Service::Iam => iam::VERSION,
            Service::Sts => sts::VERSION,
        }
    }
}

/// Check the request's signature shape and scope: which service it is for, and who signed.
fn signed_for(
    headers: &HeaderMap,
    raw: &Raw,
) -> Result<(Service, Credential), (QueryError, Option<&'static str>)> {
    let url_pairs = Params::parse(raw.query.as_bytes());
    let credential = match sigv4::check(headers, url_pairs.pairs()) {
        Ok(c) => c,
        Err(SigError::Missing) => {
            return Err((
                QueryError::new(
                    "MissingAuthenticationToken",
                    403,
                    "Request is missing Authentication Token",
                ),
                None,
            ));
        }
        Err(SigError::Incomplete(m)) => {
            return Err((QueryError::new("IncompleteSignature", 400, m), None));
        }
    };
    let service = match credential.service.as_str() {
        "iam" => Service::Iam,
        "sts" => Service::Sts,
        other => {
            return Err((
                QueryError::new(
                    "IncompleteSignature",
                    400,
                    format!(
                        "Credential should be scoped to correct service: 'iam' or 'sts', not '{other}'."
                    ),
                ),
                None,
            ));
        }
    };
    Ok((service, credential))
}

/// Serve one IAM or STS request.
pub(super) fn query_request(
    shared: &Shared,
    raw: &Raw,
    headers: &HeaderMap,
    body: &Bytes,
    params: &Params,
) -> Response {
    let rid = request_id();
    let Some(action) = params.get("Action") else {
        return query_error(
            &QueryError::new(
                "MissingAction",
                400,
                "The request is missing an action: POST form-encoded Action=...&Version=... (IAM, STS) or JSON with an X-Amz-Target header (Cognito).",
            ),
            None,
            &rid,
        );
    };
    let (service, credential) = match signed_for(headers, raw) {
        Ok(s) => s,
        Err((e, ns)) => return query_error(&e, ns, &rid),
    };
    let ns = service.ns();
    if let Some(v) = params.get("Version")
        && v != service.version()
    {
        return query_error(
            &QueryError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {action} for version {v}"),
            ),
            Some(ns),
            &rid,
        );
    }
    let c = shared.ctx(headers, Some(credential), &rid);
    let mut world = shared.lock();
    if let Some(m) = world.signature_problem(c.credential.as_ref(), raw, headers, body) {
        return query_error(
            &QueryError::new("SignatureDoesNotMatch", 403, m),
            Some(ns),
            &rid,
        );
    }
    let result = match service {
        Service::Iam => iam::handle(&mut world.state.iam, action, params, &c),
        Service::Sts => sts::handle(&mut world.state.iam, action, params, &c),
    };
    let saved = world.persist();
    drop(world);
    let service = service.name();
    match result {
        Ok(_) if !saved => query_error(
            &QueryError::new(
                "ServiceFailure",
                500,
                "The emulator could not write its state file.",
            ),
            Some(ns),
            &rid,
        ),
        Ok(body) => {
            tracing::info!(service, action, status = 200, "query");
            xml_response(StatusCode::OK, body, &rid)
        }
        Err(e) => {
            tracing::info!(service, action, error = %e.code, "query");
            query_error(&e, Some(ns), &rid)
        }
    }
}
