//! What every service handler is told about the request it serves: the time, the request
//! id, the region, how the client addressed the server, and who signed it.
//!
//! The HTTP front (`server`) builds one per request; the services (`cognito`, `iam`,
//! `sts`) only read it, so they never need the front itself.

use super::crypto::SecretString;
use super::sigv4::Credential;

/// Per-request facts the services need.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Server time, Unix seconds (with the test offset applied).
    pub now: f64,
    /// Server time, whole Unix seconds.
    pub now_secs: u64,
    /// This request's id.
    pub request_id: String,
    /// Region from the SigV4 scope, or the default.
    pub region: String,
    /// `http://host:port` as the client addressed the server (token issuer base).
    pub base_url: String,
    /// The SigV4 credential, when the request carried one.
    pub credential: Option<Credential>,
    /// A signing key (PKCS#8 base64, kid) every new user pool takes instead of generating its
    /// own: set only for the in-process stand-in of the fuzz harness, where RSA-2048
    /// generation took most of each input's time.
    pub pool_key: Option<(SecretString, String)>,
}

impl Ctx {
    /// The access key id the request was signed with.
    pub fn access_key_id(&self) -> Option<&str> {
        self.credential.as_ref().map(|c| c.access_key_id.as_str())
    }
}
