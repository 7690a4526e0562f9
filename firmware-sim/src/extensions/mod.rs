//! Authenticator extensions (CTAP 2.1 §12): one file per extension, all behind one seam.
//!
//! An extension is a value implementing [`Extension`] listed in [`ALL`]. makeCredential and
//! getAssertion call every extension the key supports whose identifier is in the request's
//! extensions map: first `check_*` before the user is asked (an error ends the request, nothing
//! changed), then `make_credential` / `get_assertion` once the credential is known, which may
//! fill the new credential's stored [`CredentialExtras`] and return the extension's output for
//! the authenticator data. `usable` lets an extension hide a credential from a lookup
//! (credProtect), and `info` adds its limits to getInfo. Identifiers not listed, or listed but
//! unsupported by this key, are ignored, as the specification asks.
//!
//! Phase A lands the seam with no extension yet; credProtect, credBlob, hmac-secret,
//! largeBlobKey and minPinLength each come as one file here.

use ciborium::value::Value;

use crate::config::TokenConfig;
use crate::ctap2::messages::{Extensions, GetInfoResponse};
use crate::env::Rng;
use crate::persist::record::CredentialExtras;
use crate::status::CtapResult;

/// What an extension sees of a makeCredential request.
// Read by the extensions that fill `ALL` (none in this phase yet).
#[allow(dead_code)]
pub(crate) struct McContext<'a> {
    /// The relying party.
    pub rp_id: &'a str,
    /// Whether the credential is discoverable.
    pub resident: bool,
    /// Whether the user was verified (the "uv" bit of the response).
    pub uv: bool,
    /// The new credential's stored extension data, to fill.
    pub extras: &'a mut CredentialExtras,
    /// Randomness (for per-credential secrets).
    pub rng: &'a mut dyn Rng,
}

/// What an extension sees of a getAssertion request, for the credential chosen.
// Read by the extensions that fill `ALL` (none in this phase yet).
#[allow(dead_code)]
pub(crate) struct GaContext<'a> {
    /// The relying party.
    pub rp_id: &'a str,
    /// Whether the user was verified (the "uv" bit of the response).
    pub uv: bool,
    /// The credential's stored extension data.
    pub extras: &'a CredentialExtras,
    /// Randomness.
    pub rng: &'a mut dyn Rng,
}

/// One authenticator extension.
pub(crate) trait Extension: Sync {
    /// The extension identifier (its key in extension maps and its getInfo entry).
    fn id(&self) -> &'static str;

    /// Whether a key with this configuration supports it (read once, into its capabilities).
    fn supported(&self, config: &TokenConfig) -> bool;

    /// Checks the makeCredential input before the user is asked.
    fn check_make_credential(&self, input: &Value) -> CtapResult<()> {
        let _ = input;
        Ok(())
    }

    /// Acts in makeCredential; returns the authenticator extension output, if any.
    fn make_credential(&self, input: &Value, ctx: &mut McContext<'_>) -> CtapResult<Option<Value>> {
        let _ = (input, ctx);
        Ok(None)
    }

    /// Checks the getAssertion input before the user is asked.
    fn check_get_assertion(&self, input: &Value) -> CtapResult<()> {
        let _ = input;
        Ok(())
    }

    /// Acts in getAssertion; returns the authenticator extension output, if any.
    fn get_assertion(&self, input: &Value, ctx: &mut GaContext<'_>) -> CtapResult<Option<Value>> {
        let _ = (input, ctx);
        Ok(None)
    }

    /// Whether a stored credential may be used by a request (after user verification `uv`,
    /// with or without an allow list); every credential by default.
    fn usable(&self, extras: &CredentialExtras, uv: bool, listed: bool) -> bool {
        let _ = (extras, uv, listed);
        true
    }

    /// Adds the extension's limits to getInfo.
    fn info(&self, info: &mut GetInfoResponse) {
        let _ = info;
    }
}

/// Every extension the firmware implements.
pub(crate) static ALL: &[&dyn Extension] = &[];

/// The extensions a key with `config` supports.
pub(crate) fn supported(config: &TokenConfig) -> impl Iterator<Item = &'static dyn Extension> + '_ {
    ALL.iter().copied().filter(move |e| e.supported(config))
}

/// The supported extensions present in a request's map, with their inputs.
pub(crate) fn requested<'a>(
    config: &'a TokenConfig,
    inputs: Option<&'a Extensions>,
) -> impl Iterator<Item = (&'static dyn Extension, &'a Value)> + 'a {
    supported(config).filter_map(move |e| inputs.and_then(|i| i.get(e.id())).map(|v| (e, v)))
}

/// Whether every supported extension lets a request use a credential.
pub(crate) fn usable(
    config: &TokenConfig,
    extras: &CredentialExtras,
    uv: bool,
    listed: bool,
) -> bool {
    supported(config).all(|e| e.usable(extras, uv, listed))
}
