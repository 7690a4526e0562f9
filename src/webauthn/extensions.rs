//! Client extension processing (WebAuthn L3 §9–10, CTAP 2.1 §12): each WebAuthn extension
//! mapped to its CTAP extension and back.
//!
//! - credProps: no CTAP input; `{"rk": …}` out.
//! - credentialProtectionPolicy / enforceCredentialProtectionPolicy → credProtect 1–3.
//! - credBlob → credBlob (create; `credBlob: false` out when the key cannot store it),
//!   getCredBlob → credBlob (get).
//! - minPinLength → minPinLength (the output is the authenticator's, in the authenticator data).
//! - prf → hmac-secret, the salts SHA-256("WebAuthn PRF" ‖ 0x00 ‖ input); at registration
//!   through hmac-secret-mc when the key has it, else `prf.enabled` only.
//! - largeBlob: `support` at registration (largeBlobKey); `read` / `write` at authentication
//!   (largeBlobKey, then authenticatorLargeBlobs: see large_blob.rs).

use ciborium::value::Value as Cbor;
use firmware_sim::ctap2::messages::Extensions;
use firmware_sim::pin_platform::PlatformSession;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::WebAuthnError;
use super::options::b64;
use super::response::encode;
use crate::daemon::env::OsRng;
use crate::fido::ctap2::Authenticator;
use crate::fido::pin;

/// The PRF salt for an input: SHA-256("WebAuthn PRF" ‖ 0x00 ‖ input).
pub fn prf_salt(input: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"WebAuthn PRF");
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// What the key lists in getInfo's extensions.
fn key_has(key: &mut Authenticator, ext: &str) -> Result<bool, WebAuthnError> {
    let info = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?;
    Ok(info
        .extensions
        .as_deref()
        .is_some_and(|l| l.iter().any(|e| e == ext)))
}

/// Whether the key has large-blob storage and gives credentials a largeBlobKey.
fn large_blobs_supported(key: &mut Authenticator) -> Result<bool, WebAuthnError> {
    let storage = key
        .get_info()
        .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?
        .option("largeBlobs")
        == Some(true);
    Ok(storage && key_has(key, "largeBlobKey")?)
}

/// One PRF evaluation: the salts' inputs.
struct PrfEval {
    first: Vec<u8>,
    second: Option<Vec<u8>>,
}

fn prf_eval(v: &Value, member: &str) -> Result<PrfEval, WebAuthnError> {
    let first = v
        .get("first")
        .and_then(Value::as_str)
        .ok_or_else(|| WebAuthnError::type_error(format!("{member}.first is missing")))?;
    Ok(PrfEval {
        first: b64(&format!("{member}.first"), first)?,
        second: v
            .get("second")
            .and_then(Value::as_str)
            .map(|s| b64(&format!("{member}.second"), s))
            .transpose()?,
    })
}

/// hmac-secret's input {1: keyAgreement, 2: saltEnc, 3: saltAuth, 4: pinUvAuthProtocol}.
fn hmac_secret_input(session: &PlatformSession, eval: &PrfEval) -> Result<Cbor, WebAuthnError> {
    let mut salts = prf_salt(&eval.first).to_vec();
    if let Some(second) = &eval.second {
        salts.extend_from_slice(&prf_salt(second));
    }
    let salt_enc = session
        .encrypt(&mut OsRng, &salts)
        .map_err(|s| WebAuthnError::unknown(format!("hmac-secret salts: {}", s.name())))?;
    let salt_auth = session.authenticate(&salt_enc);
    let int = |n: i64| Cbor::Integer(n.into());
    Ok(Cbor::Map(vec![
        (int(1), session.platform_key().to_value()),
        (int(2), Cbor::Bytes(salt_enc)),
        (int(3), Cbor::Bytes(salt_auth)),
        (int(4), int(session.protocol() as i64)),
    ]))
}

/// `{"first": …, "second": …}` from an hmac-secret output.
fn prf_results(session: &PlatformSession, output: &Cbor) -> Option<Value> {
    let Cbor::Bytes(enc) = output else {
        return None;
    };
    let plain = session.decrypt(enc).ok()?;
    let mut results = Map::new();
    results.insert("first".into(), json!(encode(plain.get(..32)?)));
    if plain.len() >= 64 {
        results.insert("second".into(), json!(encode(&plain[32..64])));
    }
    Some(Value::Object(results))
}

/// The extensions of one registration: what goes to the key, and how its answer reads.
#[derive(Debug, Default)]
pub struct Create {
    ctap: Vec<(String, Cbor)>,
    cred_props: bool,
    prf: Option<Option<PlatformSession>>,
    cred_blob: bool,
    large_blob: bool,
}

fn credprotect_level(policy: &str) -> Option<i64> {
    match policy {
        "userVerificationOptional" => Some(1),
        "userVerificationOptionalWithCredentialIDList" => Some(2),
        "userVerificationRequired" => Some(3),
        _ => None,
    }
}

impl Create {
    /// Reads the client extension inputs of a registration of a credential that will be
    /// discoverable when `rk`.
    pub fn prepare(
        key: &mut Authenticator,
        input: Option<&Value>,
        rk: bool,
    ) -> Result<Self, WebAuthnError> {
        let mut plan = Create::default();
        let Some(Value::Object(ext)) = input else {
            return Ok(plan);
        };
        plan.cred_props = ext.get("credProps").and_then(Value::as_bool) == Some(true);
        if let Some(policy) = ext
            .get("credentialProtectionPolicy")
            .and_then(Value::as_str)
        {
            let enforce = ext
                .get("enforceCredentialProtectionPolicy")
                .and_then(Value::as_bool)
                == Some(true);
            match (credprotect_level(policy), key_has(key, "credProtect")?) {
                (Some(level), true) => plan
                    .ctap
                    .push(("credProtect".into(), Cbor::Integer(level.into()))),
                (Some(level), false) if enforce && level > 1 => {
                    return Err(WebAuthnError::not_allowed(format!(
                        "enforceCredentialProtectionPolicy: this key cannot protect credentials \
                         ({policy}); it has no credProtect"
                    )));
                }
                _ => {}
            }
        }
        if let Some(blob) = ext.get("credBlob").and_then(Value::as_str) {
            let blob = b64("extensions.credBlob", blob)?;
            let max = key
                .get_info()
                .map_err(|e| WebAuthnError::unknown(format!("getInfo: {e}")))?
                .max_cred_blob_length
                .unwrap_or(0);
            // Asked for, the output is always there: `false` when the key has no credBlob or
            // the blob is over its maxCredBlobLength (not sent then), as Chromium answers.
            plan.cred_blob = true;
            if key_has(key, "credBlob")? && blob.len() as u64 <= max {
                plan.ctap.push(("credBlob".into(), Cbor::Bytes(blob)));
            }
        }
        if ext.get("minPinLength").and_then(Value::as_bool) == Some(true)
            && key_has(key, "minPinLength")?
        {
            plan.ctap.push(("minPinLength".into(), Cbor::Bool(true)));
        }
        if let Some(lb) = ext.get("largeBlob") {
            plan.large_blob_input(key, lb, rk)?;
        }
        if let Some(prf) = ext.get("prf") {
            plan.prf_input(key, prf)?;
        }
        Ok(plan)
    }

    /// A largeBlobKey belongs to a discoverable credential (CTAP 2.1 §12.3: a key refuses it
    /// for another), so a non-discoverable one is not asked for it and is not `supported`.
    fn large_blob_input(
        &mut self,
        key: &mut Authenticator,
        lb: &Value,
        rk: bool,
    ) -> Result<(), WebAuthnError> {
        if lb.get("read").is_some() || lb.get("write").is_some() {
            return Err(WebAuthnError::not_supported(
                "largeBlob read/write belong to authentication, not registration",
            ));
        }
        let supported = rk && large_blobs_supported(key)?;
        match (lb.get("support").and_then(Value::as_str), supported) {
            (Some("required"), false) if !rk => Err(WebAuthnError::not_supported(
                "largeBlob support is required, and only a discoverable credential can have                  a large blob (ask residentKey required)",
            )),
            (Some("required"), false) => Err(WebAuthnError::not_supported(
                "largeBlob support is required, and this key has no large-blob storage",
            )),
            (_, true) => {
                self.ctap.push(("largeBlobKey".into(), Cbor::Bool(true)));
                self.large_blob = true;
                Ok(())
            }
            _ => {
                self.large_blob = true;
                Ok(())
            }
        }
    }

    fn prf_input(&mut self, key: &mut Authenticator, prf: &Value) -> Result<(), WebAuthnError> {
        if prf.get("evalByCredential").is_some() {
            return Err(WebAuthnError::not_supported(
                "prf.evalByCredential cannot be used when creating a credential",
            ));
        }
        if !key_has(key, "hmac-secret")? {
            self.prf = Some(None);
            return Ok(());
        }
        self.ctap.push(("hmac-secret".into(), Cbor::Bool(true)));
        let mut session = None;
        if let Some(eval) = prf.get("eval") {
            let eval = prf_eval(eval, "prf.eval")?;
            if key_has(key, "hmac-secret-mc")? {
                let s = pin::key_agreement(key)
                    .map_err(|e| WebAuthnError::unknown(format!("prf key agreement: {e}")))?;
                self.ctap
                    .push(("hmac-secret-mc".into(), hmac_secret_input(&s, &eval)?));
                session = Some(s);
            }
        }
        self.prf = Some(session);
        Ok(())
    }

    /// The CTAP extension inputs, if any.
    pub fn ctap_inputs(&self) -> Option<Extensions> {
        (!self.ctap.is_empty()).then(|| Extensions(self.ctap.clone()))
    }

    /// The client extension outputs, from the authenticator's and the credential's `rk`.
    pub fn outputs(
        &self,
        authenticator: Option<&Extensions>,
        rk: bool,
        large_blob_key: bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        let got = |id: &str| authenticator.and_then(|e| e.get(id));
        if self.cred_props {
            out.insert("credProps".into(), json!({ "rk": rk }));
        }
        if let Some(session) = &self.prf {
            let enabled = got("hmac-secret") == Some(&Cbor::Bool(true));
            let mut prf = Map::new();
            prf.insert("enabled".into(), json!(enabled));
            if let (Some(s), Some(o)) = (session, got("hmac-secret-mc"))
                && let Some(results) = prf_results(s, o)
            {
                prf.insert("results".into(), results);
            }
            out.insert("prf".into(), Value::Object(prf));
        }
        if self.cred_blob {
            let stored = got("credBlob") == Some(&Cbor::Bool(true));
            out.insert("credBlob".into(), json!(stored));
        }
        if self.large_blob {
            out.insert("largeBlob".into(), json!({ "supported": large_blob_key }));
        }
        out
    }
}

/// What an authentication asks of largeBlob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LargeBlobOp {
    /// `read: true`: the credential's blob.
    Read,
    /// `write`: store these bytes for the credential.
    Write(Vec<u8>),
}

/// The extensions of one authentication.
#[derive(Debug, Default)]
pub struct Get {
    ctap: Vec<(String, Cbor)>,
    prf: Option<PlatformSession>,
    prf_asked: bool,
    get_cred_blob: bool,
    large_blob: Option<LargeBlobOp>,
    large_blob_supported: bool,
}

impl Get {
    /// Reads the client extension inputs of an authentication; `allow` is the credential ids
    /// that will be sent (prf.evalByCredential picks from them).
    pub fn prepare(
        key: &mut Authenticator,
        input: Option<&Value>,
        allow: &[Vec<u8>],
    ) -> Result<Self, WebAuthnError> {
        let mut plan = Get::default();
        let Some(Value::Object(ext)) = input else {
            return Ok(plan);
        };
        if ext.get("getCredBlob").and_then(Value::as_bool) == Some(true)
            && key_has(key, "credBlob")?
        {
            plan.ctap.push(("credBlob".into(), Cbor::Bool(true)));
            plan.get_cred_blob = true;
        }
        if let Some(lb) = ext.get("largeBlob") {
            plan.large_blob_input(key, lb, allow)?;
        }
        if let Some(prf) = ext.get("prf") {
            plan.prf_input(key, prf, allow)?;
        }
        Ok(plan)
    }

    /// WebAuthn L3 §10.1.5's authentication steps: `support` has no place here, `read` and
    /// `write` not together, a write only for one allowed credential.
    fn large_blob_input(
        &mut self,
        key: &mut Authenticator,
        lb: &Value,
        allow: &[Vec<u8>],
    ) -> Result<(), WebAuthnError> {
        if lb.get("support").is_some() {
            return Err(WebAuthnError::not_supported(
                "largeBlob.support belongs to registration, not authentication",
            ));
        }
        let read = lb.get("read").and_then(Value::as_bool) == Some(true);
        let write = lb.get("write").and_then(Value::as_str);
        let op = match (read, write) {
            (true, Some(_)) => {
                return Err(WebAuthnError::not_supported(
                    "largeBlob.read and largeBlob.write cannot be asked together",
                ));
            }
            (true, None) => LargeBlobOp::Read,
            (false, Some(w)) => {
                if allow.len() != 1 {
                    return Err(WebAuthnError::not_supported(
                        "largeBlob.write needs exactly one credential in allowCredentials",
                    ));
                }
                LargeBlobOp::Write(b64("extensions.largeBlob.write", w)?)
            }
            (false, None) => return Ok(()),
        };
        self.large_blob_supported = large_blobs_supported(key)?;
        if self.large_blob_supported {
            self.ctap.push(("largeBlobKey".into(), Cbor::Bool(true)));
        }
        self.large_blob = Some(op);
        Ok(())
    }

    /// The largeBlob operation asked for, when the key can do it (it then answers a
    /// largeBlobKey with the assertion).
    pub fn large_blob(&self) -> Option<&LargeBlobOp> {
        self.large_blob
            .as_ref()
            .filter(|_| self.large_blob_supported)
    }

    /// Whether the inputs ask for a largeBlob write from a key that can take it (the
    /// pinUvAuthToken then needs the lbw permission); known before user verification.
    pub fn asks_large_blob_write(
        key: &mut Authenticator,
        input: Option<&Value>,
    ) -> Result<bool, WebAuthnError> {
        let asked = input
            .and_then(|e| e.get("largeBlob"))
            .and_then(|lb| lb.get("write"))
            .is_some();
        Ok(asked && large_blobs_supported(key)?)
    }

    /// The largeBlob output when the key could not take part: `{}` for a read, `written: false`.
    fn large_blob_unsupported_output(&self) -> Option<Value> {
        match (&self.large_blob, self.large_blob_supported) {
            (Some(LargeBlobOp::Read), false) => Some(json!({})),
            (Some(LargeBlobOp::Write(_)), false) => Some(json!({ "written": false })),
            _ => None,
        }
    }

    fn prf_input(
        &mut self,
        key: &mut Authenticator,
        prf: &Value,
        allow: &[Vec<u8>],
    ) -> Result<(), WebAuthnError> {
        let mut chosen = prf
            .get("eval")
            .map(|e| prf_eval(e, "prf.eval"))
            .transpose()?;
        if let Some(Value::Object(by)) = prf.get("evalByCredential")
            && !by.is_empty()
        {
            if allow.is_empty() {
                return Err(WebAuthnError::not_supported(
                    "prf.evalByCredential needs allowCredentials",
                ));
            }
            for (id, eval) in by {
                let raw = b64("prf.evalByCredential key", id)
                    .ok()
                    .filter(|r| !r.is_empty() && allow.contains(r))
                    .ok_or_else(|| {
                        WebAuthnError::syntax(format!(
                            "prf.evalByCredential key {id:?} is not the base64url id of an allowed credential"
                        ))
                    })?;
                if allow.len() == 1 && allow[0] == raw {
                    chosen = Some(prf_eval(eval, "prf.evalByCredential")?);
                }
            }
        }
        self.prf_asked = true;
        let Some(eval) = chosen else { return Ok(()) };
        if !key_has(key, "hmac-secret")? {
            return Ok(());
        }
        let s = pin::key_agreement(key)
            .map_err(|e| WebAuthnError::unknown(format!("prf key agreement: {e}")))?;
        self.ctap
            .push(("hmac-secret".into(), hmac_secret_input(&s, &eval)?));
        self.prf = Some(s);
        Ok(())
    }

    /// The CTAP extension inputs, if any.
    pub fn ctap_inputs(&self) -> Option<Extensions> {
        (!self.ctap.is_empty()).then(|| Extensions(self.ctap.clone()))
    }

    /// The client extension outputs.
    pub fn outputs(&self, authenticator: Option<&Extensions>) -> Map<String, Value> {
        let mut out = Map::new();
        let got = |id: &str| authenticator.and_then(|e| e.get(id));
        if self.prf_asked {
            let mut prf = Map::new();
            if let (Some(s), Some(o)) = (&self.prf, got("hmac-secret"))
                && let Some(results) = prf_results(s, o)
            {
                prf.insert("results".into(), results);
            }
            out.insert("prf".into(), Value::Object(prf));
        }
        if self.get_cred_blob {
            let blob = match got("credBlob") {
                Some(Cbor::Bytes(b)) => b.clone(),
                _ => Vec::new(),
            };
            out.insert("getCredBlob".into(), json!(encode(&blob)));
        }
        if let Some(lb) = self.large_blob_unsupported_output() {
            out.insert("largeBlob".into(), lb);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_salts_are_hashed_with_the_spec_prefix() {
        // SHA-256("WebAuthn PRF" || 0x00 || "") computed independently.
        let mut h = Sha256::new();
        h.update(b"WebAuthn PRF\x00");
        assert_eq!(prf_salt(b"").to_vec(), h.finalize().to_vec());
        assert_ne!(prf_salt(b"a"), prf_salt(b"b"));
        assert_eq!(credprotect_level("userVerificationRequired"), Some(3));
        assert_eq!(credprotect_level("nonsense"), None);
    }
}
