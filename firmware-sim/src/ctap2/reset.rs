//! authenticatorReset (0x07): forget every credential, only just after power-up and with a touch.

use super::{Authenticator, Continuation, Wait};
use crate::env::{Env, PresencePurpose, WriteBatch};
use crate::persist::{
    self, KEY_LARGE_BLOB_ARRAY, KEY_PIN_STATE, NS_COUNTERS, NS_META, NS_RESIDENT, Persistent,
};
use crate::status::{CtapResult, StatusCode};

/// How long after power-up a reset is accepted (CTAP 2.1 §6.6).
pub(crate) const RESET_WINDOW_MS: u64 = 10_000;

/// Checks the power-up window, then asks for the touch.
pub(crate) fn begin(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<Wait> {
    if env.clock.now_ms().saturating_sub(auth.boot_ms) > RESET_WINDOW_MS {
        return Err(StatusCode::NotAllowed);
    }
    Ok(Wait {
        purpose: PresencePurpose::Reset,
        rp_id: None,
        uv: false,
        cont: Continuation::Reset,
    })
}

/// Erases resident credentials and counters, the PIN and its retries, what authenticatorConfig
/// set (alwaysUv back to the key's default, minPINLength back to 4, enterprise attestation off)
/// and the large-blob array (back to the initial one), and replaces the master secret (which
/// invalidates every non-resident and U2F credential), all in one atomic batch. The attestation
/// PKI stays. The pinUvAuthTokens and key-agreement keys are made anew; a large-blob write in
/// progress is dropped.
pub(crate) fn finish(auth: &mut Authenticator, env: &mut Env<'_>) -> CtapResult<()> {
    let pki = auth.load(env)?.pki.clone();
    let mut batch = WriteBatch::new();
    for (key, _) in persist::list(env, NS_RESIDENT)? {
        batch.delete(NS_RESIDENT, &key);
    }
    for (key, _) in persist::list(env, NS_COUNTERS)? {
        batch.delete(NS_COUNTERS, &key);
    }
    batch.delete(NS_META, KEY_PIN_STATE);
    // No stored array is the initial one.
    batch.delete(NS_META, KEY_LARGE_BLOB_ARRAY);
    let master = persist::new_master_secret(env);
    persist::put_master_secret(&mut batch, &master);
    persist::commit(env, &batch)?;
    auth.pin.reset();
    auth.persistent = Some(Persistent::from_master(&master, pki)?);
    auth.credentials_changed();
    auth.large_blob = None;
    crate::credential::forget_signing_keys();
    Ok(())
}
