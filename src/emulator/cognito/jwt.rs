//! RS256 JSON Web Tokens as Cognito issues them: one RSA key per pool, a `kid` in the
//! header, the key published at `/{poolId}/.well-known/jwks.json`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _, RSA_PKCS1_SHA256};
use serde_json::{Value, json};

use crate::emulator::crypto::{self, SecretString};

/// Why a key or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The pool's stored key could not be used.
    #[error("the pool's signing key is unusable")]
    Key,
    /// The token is malformed, not signed by the pool, or has bad claims.
    #[error("invalid token")]
    Invalid,
}

/// A new RSA-2048 key: (PKCS#8 DER as base64, kid).
pub fn generate_key() -> Result<(SecretString, String), JwtError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| JwtError::Key)?;
    let der = pair.as_der().map_err(|_| JwtError::Key)?;
    let kid = crypto::b64(&crypto::sha256(pair.public_key().as_ref()));
    Ok((SecretString::new(crypto::b64(der.as_ref())), kid))
}

fn load(key: &SecretString) -> Result<KeyPair, JwtError> {
    let der = crypto::b64_decode(key.expose()).ok_or(JwtError::Key)?;
    KeyPair::from_pkcs8(&der).map_err(|_| JwtError::Key)
}

/// The JWK of a pool's public key.
pub fn jwk(key: &SecretString, kid: &str) -> Result<Value, JwtError> {
    let pair = load(key)?;
    let c: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
    Ok(json!({
        "alg": "RS256",
        "e": crypto::b64url(&c.e),
        "kid": kid,
        "kty": "RSA",
        "n": crypto::b64url(&c.n),
        "use": "sig",
    }))
}

/// Sign `claims` as a compact JWS.
pub fn sign(key: &SecretString, kid: &str, claims: &Value) -> Result<String, JwtError> {
    let pair = load(key)?;
    let header = json!({"kid": kid, "alg": "RS256"});
    let signing_input = format!(
        "{}.{}",
        crypto::b64url(header.to_string().as_bytes()),
        crypto::b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; pair.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    pair.sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut sig)
        .map_err(|_| JwtError::Key)?;
    Ok(format!("{signing_input}.{}", crypto::b64url(&sig)))
}

/// The `kid` in a token's header, without verifying anything.
pub fn kid_of(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let v: Value = serde_json::from_slice(&crypto::b64url_decode(header)?).ok()?;
    v.get("kid")?.as_str().map(str::to_owned)
}

/// Verify a token's RS256 signature under the pool key and return its claims.
pub fn verify(key: &SecretString, token: &str) -> Result<Value, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(JwtError::Invalid);
    };
    let header: Value = serde_json::from_slice(&crypto::b64url_decode(h).ok_or(JwtError::Invalid)?)
        .map_err(|_| JwtError::Invalid)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(JwtError::Invalid);
    }
    let sig = crypto::b64url_decode(s).ok_or(JwtError::Invalid)?;
    let pair = load(key)?;
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref(),
    );
    public
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| JwtError::Invalid)?;
    serde_json::from_slice(&crypto::b64url_decode(p).ok_or(JwtError::Invalid)?)
        .map_err(|_| JwtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let (key, kid) = generate_key().expect("key");
        let token = sign(&key, &kid, &json!({"sub": "x", "token_use": "access"})).expect("sign");
        assert_eq!(kid_of(&token).as_deref(), Some(kid.as_str()));
        let claims = verify(&key, &token).expect("verify");
        assert_eq!(claims["sub"], "x");
        // Flip a payload byte.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = crypto::b64url(br#"{"sub":"y","token_use":"access"}"#);
        assert!(verify(&key, &parts.join(".")).is_err());
        // Another pool's key does not verify it.
        let (other, _) = generate_key().expect("key");
        assert!(verify(&other, &token).is_err());
        let jwk = jwk(&key, &kid).expect("jwk");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["kty"], "RSA");
    }
}
