//! Saved sign-in sessions: what is needed to use and refresh them, their secrets sealed in the
//! store.

use super::tokens::Tokens;
use crate::aws::{AwsError, Target};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Record namespace of saved sign-in sessions (key: the name given to `--save`).
pub const NS_SESSIONS: &str = "aws.cognito.session";

/// A saved session: what is needed to use and refresh it, with its secrets sealed.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SavedSession {
    /// Format version.
    pub v: u32,
    /// Random id, the sealed value's associated data.
    pub id: String,
    /// The app client id.
    pub client_id: String,
    /// The user pool id, if known.
    pub pool_id: Option<String>,
    /// The user's username.
    pub username: String,
    /// The endpoint URL it was made against, if not the default.
    pub endpoint_url: Option<String>,
    /// The region it was made in.
    pub region: Option<String>,
    /// The profile used.
    pub profile: Option<String>,
    /// When the tokens were saved (Unix seconds).
    pub saved_at: u64,
    /// When the access token expires (Unix seconds).
    pub expires_at: u64,
    /// Sealed JSON of [`SessionSecrets`] (hex).
    sealed: String,
}

/// The secrets of a saved session. `Debug` shows none.
#[derive(Serialize, Deserialize, Clone)]
pub struct SessionSecrets {
    /// Access token.
    pub access_token: String,
    /// ID token.
    pub id_token: Option<String>,
    /// Refresh token.
    pub refresh_token: Option<String>,
    /// The app client's secret, if it has one (needed to refresh).
    pub client_secret: Option<String>,
    /// The device the tokens are bound to (refresh sends its DEVICE_KEY).
    #[serde(default)]
    pub device_key: Option<String>,
}

impl std::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecrets(<redacted>)")
    }
}

impl Drop for SessionSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        self.id_token.zeroize();
        self.refresh_token.zeroize();
        self.client_secret.zeroize();
        self.device_key.zeroize();
    }
}

fn session_ad(id: &str) -> Vec<u8> {
    format!("{NS_SESSIONS}:{id}").into_bytes()
}

impl SavedSession {
    /// A new saved session for `tokens` (the secrets are sealed by [`save_session`]).
    pub fn new(
        client_id: &str,
        pool_id: Option<&str>,
        username: &str,
        target: &Target,
        region: Option<String>,
        tokens: &Tokens,
    ) -> SavedSession {
        let now = crate::clock::now_unix();
        SavedSession {
            v: 1,
            id: String::new(),
            client_id: client_id.to_string(),
            pool_id: pool_id.map(str::to_string),
            username: username.to_string(),
            endpoint_url: target.endpoint_url.clone(),
            region,
            profile: target.profile.clone(),
            saved_at: now,
            expires_at: now.saturating_add(tokens.expires_in.max(0) as u64),
            sealed: String::new(),
        }
    }

    /// The target it was made against, overridden by what is given now.
    pub fn target(&self, given: &Target) -> Target {
        Target {
            endpoint_url: given.endpoint_url.clone().or(self.endpoint_url.clone()),
            region: given.region.clone().or(self.region.clone()),
            profile: given.profile.clone().or(self.profile.clone()),
        }
    }
}

/// Save (or replace) a session under `name`, its secrets sealed under the data key.
pub fn save_session(
    store: &mut Store,
    name: &str,
    mut meta: SavedSession,
    secrets: &SessionSecrets,
) -> Result<(), AwsError> {
    crate::vault::check_name(name)?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| AwsError::Flow(format!("random source failed: {e}")))?;
    meta.id = hex::encode(id);
    let plain =
        Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| AwsError::Flow(e.to_string()))?);
    meta.sealed = hex::encode(store.seal(&session_ad(&meta.id), &plain)?);
    let value = serde_json::to_vec(&meta).map_err(|e| AwsError::Flow(e.to_string()))?;
    store.transaction(|tx| tx.put(NS_SESSIONS, name.as_bytes(), &value))?;
    Ok(())
}

/// Load a saved session and open its secrets.
pub fn load_session(store: &Store, name: &str) -> Result<(SavedSession, SessionSecrets), AwsError> {
    let v = store.get(NS_SESSIONS, name.as_bytes())?.ok_or_else(|| {
        AwsError::Flow(format!(
            "no saved Cognito session named '{name}' (sign in with `authsim cognito sign-in ... --save {name}`)"
        ))
    })?;
    let damaged = || {
        AwsError::Flow(format!(
            "the saved session '{name}' is damaged; sign in again"
        ))
    };
    let meta: SavedSession = serde_json::from_slice(&v).map_err(|_| damaged())?;
    let sealed = hex::decode(&meta.sealed).map_err(|_| damaged())?;
    let plain = store.open_sealed(&session_ad(&meta.id), &sealed)?;
    let secrets: SessionSecrets = serde_json::from_slice(&plain).map_err(|_| damaged())?;
    Ok((meta, secrets))
}

/// All saved sessions (no secrets), by name.
pub fn list_sessions(store: &Store) -> Result<Vec<(String, SavedSession)>, AwsError> {
    let mut out = Vec::new();
    for (k, v) in store.list(NS_SESSIONS)? {
        let name = String::from_utf8_lossy(&k).into_owned();
        if let Ok(meta) = serde_json::from_slice::<SavedSession>(&v) {
            out.push((name, meta));
        }
    }
    Ok(out)
}

/// Remove a saved session; returns whether it existed.
pub fn remove_session(store: &mut Store, name: &str) -> Result<bool, AwsError> {
    Ok(store.transaction(|tx| tx.delete(NS_SESSIONS, name.as_bytes()))?)
}
