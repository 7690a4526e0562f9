//! Authenticator extensions (CTAP 2.1 §12, CTAP 2.2 §12.8): one file per extension, all behind
//! one seam.
//!
//! An extension is a value implementing [`Extension`] listed in [`ALL`]; a key supports those
//! its capabilities allow ([`Extension::supported`], decided once). makeCredential and
//! getAssertion call every supported extension whose identifier is in the request's extensions
//! map:
//! 1. `check_*` before the user is asked: the input is validated (and, for hmac-secret, the salts
//!    are authenticated and decrypted, kept as [`Prepared`]); an error ends the request with
//!    nothing changed and no touch asked for;
//! 2. `new_credential` for every supported extension on every new credential, requested or not
//!    (hmac-secret makes its CredRandom values then, as the specification recommends);
//! 3. `make_credential` / `get_assertion` once the credential is known, which may fill the new
//!    credential's stored [`CredentialExtras`] and return the extension's output for the
//!    authenticator data.
//!
//! `usable` lets an extension hide a stored credential from a lookup (credProtect), in
//! getAssertion and in makeCredential's exclude list; `limits` adds an extension's limits to the
//! key's capabilities (getInfo reports them), `info` anything else getInfo should say.
//! Identifiers not listed, or listed but unsupported by this key, are ignored, as the
//! specification asks.

mod cred_blob;
mod cred_protect;
mod hmac_secret;
mod hmac_secret_mc;
mod large_blob_key;
mod min_pin_length;

use ciborium::value::Value;
use zeroize::Zeroizing;

use crate::capabilities::model::Capabilities;
use crate::credential::PrivateKey;
use crate::credential::cred_random::CredRandomKey;
use crate::ctap2::messages::{Extensions, GetInfoResponse};
use crate::env::Rng;
use crate::persist::record::{CRED_SECRET_LEN, CredentialExtras};
use crate::pin::PinRuntime;
use crate::pin::state::PinState;
use crate::status::CtapResult;

pub(crate) use hmac_secret::SaltRequest;

/// What an extension kept from checking its input, for acting on it later.
pub(crate) enum Prepared {
    /// hmac-secret salts, authenticated and decrypted, with the shared secret for the output.
    Salts(SaltRequest),
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prepared::Salts(s) => f.debug_tuple("Salts").field(s).finish(),
        }
    }
}

/// One supported extension present in a request, with its input and what checking it kept.
pub(crate) struct Requested {
    /// The extension.
    pub extension: &'static dyn Extension,
    /// Its input in the request.
    pub input: Value,
    /// What `check_*` kept.
    pub prepared: Option<Prepared>,
}

impl std::fmt::Debug for Requested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Inputs carry no secrets in the clear (hmac-secret's salts are encrypted), but the
        // prepared state does and shows itself redacted.
        f.debug_struct("Requested")
            .field("extension", &self.extension.id())
            .field("prepared", &self.prepared)
            .finish_non_exhaustive()
    }
}

/// What an extension sees when it checks its input, before the user is asked.
pub(crate) struct CheckContext<'a> {
    /// The request's whole extensions map (hmac-secret-mc needs hmac-secret beside it).
    pub inputs: &'a Extensions,
    /// Whether the request collects user presence.
    pub up: bool,
    /// Whether makeCredential makes a discoverable credential (false in getAssertion).
    pub resident: bool,
    /// The key's capabilities (its PIN/UV auth protocols).
    pub caps: &'a Capabilities,
    /// The key-agreement keys of this power-up.
    pub pin: &'a mut PinRuntime,
    /// Randomness (key-agreement keys are made on first use).
    pub rng: &'a mut dyn Rng,
}

/// What extensions add to a makeCredential or getAssertion response outside the signed
/// authenticator data.
#[derive(Default)]
pub(crate) struct ResponseMembers {
    /// largeBlobKey (makeCredential 0x05, getAssertion 0x07): a secret.
    pub large_blob_key: Option<Zeroizing<[u8; CRED_SECRET_LEN]>>,
}

impl ResponseMembers {
    /// The largeBlobKey member, as the response carries it.
    pub(crate) fn large_blob_key(&self) -> Option<Vec<u8>> {
        self.large_blob_key.as_ref().map(|k| k.to_vec())
    }
}

/// What an extension sees of a makeCredential request, for the new credential.
pub(crate) struct McContext<'a> {
    /// The relying party.
    pub rp_id: &'a str,
    /// Whether the credential is discoverable.
    pub resident: bool,
    /// Whether the user was verified (the "uv" bit of the response).
    pub uv: bool,
    /// The new credential's key.
    pub key: &'a PrivateKey,
    /// Derives CredRandom values for credentials that store none.
    pub cred_random: &'a CredRandomKey,
    /// The persisted PIN/UV and configuration state (CTAP 2.1 keys with a pinUvAuthToken).
    pub pin_state: Option<&'a PinState>,
    /// The new credential's stored extension data, to fill.
    pub extras: &'a mut CredentialExtras,
    /// Response members outside the authenticator data, to fill.
    pub members: &'a mut ResponseMembers,
    /// Randomness (for per-credential secrets and protocol two's IVs).
    pub rng: &'a mut dyn Rng,
}

/// What an extension sees of a getAssertion request, for the credential that signs.
pub(crate) struct GaContext<'a> {
    /// Whether the user was verified (the "uv" bit of the response).
    pub uv: bool,
    /// The credential's key.
    pub key: &'a PrivateKey,
    /// The credential's stored extension data.
    pub extras: &'a CredentialExtras,
    /// Derives CredRandom values for credentials that store none.
    pub cred_random: &'a CredRandomKey,
    /// Response members outside the authenticator data, to fill.
    pub members: &'a mut ResponseMembers,
    /// Randomness (protocol two's IVs).
    pub rng: &'a mut dyn Rng,
}

/// One authenticator extension.
pub(crate) trait Extension: Sync {
    /// The extension identifier (its key in extension maps and its getInfo entry).
    fn id(&self) -> &'static str;

    /// Whether a key with these capabilities supports it (decided once, when the capabilities
    /// are; everything but the extensions and their limits is known then).
    fn supported(&self, caps: &Capabilities) -> bool;

    /// Adds the extension's limits to the capabilities of a key that supports it.
    fn limits(&self, caps: &mut Capabilities) {
        let _ = caps;
    }

    /// Checks the makeCredential input before the user is asked.
    fn check_make_credential(
        &self,
        input: &Value,
        ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        let _ = (input, ctx);
        Ok(None)
    }

    /// Acts on every new credential, whether the request names the extension or not.
    fn new_credential(&self, ctx: &mut McContext<'_>) {
        let _ = ctx;
    }

    /// Acts in makeCredential; returns the authenticator extension output, if any.
    fn make_credential(
        &self,
        input: &Value,
        prepared: Option<&Prepared>,
        ctx: &mut McContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let _ = (input, prepared, ctx);
        Ok(None)
    }

    /// Checks the getAssertion input before the user is asked.
    fn check_get_assertion(
        &self,
        input: &Value,
        ctx: &mut CheckContext<'_>,
    ) -> CtapResult<Option<Prepared>> {
        let _ = (input, ctx);
        Ok(None)
    }

    /// Acts in getAssertion; returns the authenticator extension output, if any.
    fn get_assertion(
        &self,
        input: &Value,
        prepared: Option<&Prepared>,
        ctx: &mut GaContext<'_>,
    ) -> CtapResult<Option<Value>> {
        let _ = (input, prepared, ctx);
        Ok(None)
    }

    /// Whether a stored credential may be used by a request (after user verification `uv`,
    /// named in an allow or exclude list or not); every credential by default.
    fn usable(&self, extras: &CredentialExtras, uv: bool, listed: bool) -> bool {
        let _ = (extras, uv, listed);
        true
    }

    /// Adds what else the extension reports to getInfo.
    fn info(&self, info: &mut GetInfoResponse) {
        let _ = info;
    }
}

/// Every extension the firmware implements, in the order getInfo lists them (hmac-secret before
/// hmac-secret-mc: the second uses the CredRandom values the first makes).
pub(crate) static ALL: &[&dyn Extension] = &[
    &cred_protect::CredProtect,
    &hmac_secret::HmacSecret,
    &hmac_secret_mc::HmacSecretMc,
    &cred_blob::CredBlob,
    &min_pin_length::MinPinLength,
    &large_blob_key::LargeBlobKey,
];

/// The extensions a key with `caps` supports (the identifiers in `caps.extensions`).
pub(crate) fn supported(caps: &Capabilities) -> Vec<&'static dyn Extension> {
    ALL.iter()
        .copied()
        .filter(|e| caps.supports_extension(e.id()))
        .collect()
}

/// The command whose extension inputs are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// authenticatorMakeCredential, of a discoverable credential or not.
    MakeCredential {
        /// Whether the new credential is discoverable.
        resident: bool,
    },
    /// authenticatorGetAssertion.
    GetAssertion,
}

/// Checks every supported extension present in a request's map for `op`; returns them with
/// their inputs and what they kept.
pub(crate) fn check(
    op: Operation,
    supported: &[&'static dyn Extension],
    inputs: Option<&Extensions>,
    up: bool,
    caps: &Capabilities,
    pin: &mut PinRuntime,
    rng: &mut dyn Rng,
) -> CtapResult<Vec<Requested>> {
    let Some(inputs) = inputs.filter(|i| !i.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut ctx = CheckContext {
        inputs,
        up,
        resident: matches!(op, Operation::MakeCredential { resident: true }),
        caps,
        pin,
        rng,
    };
    let mut requested = Vec::new();
    for &extension in supported {
        if let Some(input) = inputs.get(extension.id()) {
            let prepared = match op {
                Operation::MakeCredential { .. } => {
                    extension.check_make_credential(input, &mut ctx)?
                }
                Operation::GetAssertion => extension.check_get_assertion(input, &mut ctx)?,
            };
            requested.push(Requested {
                extension,
                input: input.clone(),
                prepared,
            });
        }
    }
    Ok(requested)
}

/// Whether every supported extension lets a request use a credential.
pub(crate) fn usable(
    supported: &[&'static dyn Extension],
    extras: &CredentialExtras,
    uv: bool,
    listed: bool,
) -> bool {
    supported.iter().all(|e| e.usable(extras, uv, listed))
}

/// The extensions `caps` allows and their limits (called once, by `Capabilities::from_config`).
pub(crate) fn add_to(caps: &mut Capabilities) {
    for extension in ALL {
        if extension.supported(caps) {
            caps.extensions.push(extension.id());
            extension.limits(caps);
        }
    }
}
