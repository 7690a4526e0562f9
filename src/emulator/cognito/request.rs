//! Typed access to a request's JSON members, with Cognito's validation errors.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::CognitoError;

/// Typed access to a request's JSON members, with Cognito's validation errors.
pub struct Req<'a> {
    body: &'a Map<String, Value>,
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn type_error(name: &str, expected: &str) -> CognitoError {
    CognitoError::new(
        "SerializationException",
        format!("Member '{name}' must be {expected}."),
    )
}

impl<'a> Req<'a> {
    /// Wrap a request body.
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Req { body }
    }

    /// Any member that is present and not null.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.body.get(name).filter(|v| !v.is_null())
    }

    /// An optional string member (JSON null counts as absent).
    pub fn str(&self, name: &str) -> Result<Option<&'a str>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(type_error(name, "a string")),
        }
    }

    /// A required string member.
    pub fn req(&self, name: &str) -> Result<&'a str, CognitoError> {
        self.str(name)?
            .ok_or_else(|| CognitoError::null_member(&lower_first(name)))
    }

    /// An optional boolean member.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name, "a boolean")),
        }
    }

    /// An optional non-negative integer member.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| type_error(name, "a non-negative integer")),
        }
    }

    /// An optional object member.
    pub fn obj(&self, name: &str) -> Result<Option<Req<'a>>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Req::new(m))),
            Some(_) => Err(type_error(name, "an object")),
        }
    }

    /// A string-to-string map member (`AuthParameters`, `ChallengeResponses`).
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            // A null value is an absent entry (amazon-cognito-identity-js nulls DEVICE_KEY
            // when it retries without its device).
            Some(Value::Object(m)) => m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(type_error(name, "a map of strings")),
                })
                .collect(),
            Some(_) => Err(type_error(name, "a map of strings")),
        }
    }

    /// A list of strings.
    pub fn str_list(&self, name: &str) -> Result<Option<Vec<String>>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error(name, "a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(type_error(name, "a list of strings")),
        }
    }

    /// A list of `{"Name": .., "Value": ..}` attributes.
    pub fn attributes(&self, name: &str) -> Result<Vec<(String, String)>, CognitoError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    let n = v.get("Name").and_then(Value::as_str);
                    let val = v.get("Value").and_then(Value::as_str).unwrap_or("");
                    n.map(|n| (n.to_owned(), val.to_owned()))
                        .ok_or_else(|| type_error(name, "a list of {Name, Value}"))
                })
                .collect(),
            Some(_) => Err(type_error(name, "a list of {Name, Value}")),
        }
    }
}

/// Where a page starts: 0, or the position a token of ours (`member`, issued for `kind`)
/// names; anything else is refused as AWS refuses a token it did not issue.
pub fn page_start(req: &Req, member: &str, kind: &str) -> Result<usize, CognitoError> {
    let Some(token) = req.str(member)? else {
        return Ok(0);
    };
    crate::emulator::crypto::b64_decode(token)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix("authsim:")
                .and_then(|r| r.strip_prefix(kind))
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| {
            CognitoError::invalid(format!(
                "Invalid {member}: it was not issued by this service."
            ))
        })
}

/// The token of the next page (for [`page_start`]), when items remain after this one.
pub fn page_token(kind: &str, start: usize, max: usize, total: usize) -> Option<String> {
    let end = start.saturating_add(max);
    (end < total).then(|| crate::emulator::crypto::b64(format!("authsim:{kind}:{end}").as_bytes()))
}

/// A required entry of a string map (`AuthParameters`, `ChallengeResponses`).
pub fn param<'a>(m: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, CognitoError> {
    m.get(name)
        .map(String::as_str)
        .ok_or_else(|| CognitoError::missing_param(name))
}
