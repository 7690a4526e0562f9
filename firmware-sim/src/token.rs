//! The token: a CTAP authenticator behind its CTAPHID channels, with an administrative front
//! for a control API (`admin`).

use crate::admin::import::{BatchFailure, ImportError, ImportedCredential};
use crate::admin::pin::{PinError, PinStatus};
use crate::admin::{self, ResidentCredentialInfo, StoreSummary, TokenError, store_error};
use crate::capabilities::Capabilities;
use crate::config::TokenConfig;
use crate::ctap2::Authenticator;
use crate::ctaphid::Report;
use crate::ctaphid::channels::Channels;
use crate::env::Environment;

/// The virtual security key: 64-byte HID output reports in, 64-byte HID input reports out.
///
/// Drive it with [`Token::handle_report`] for every report the host writes and with
/// [`Token::tick`] regularly (at least every 50 ms while [`Token::next_deadline`] is `Some`),
/// and send every returned report to the host in order.
pub struct Token {
    app: Authenticator,
    channels: Channels,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("config", &self.app.config)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Powers up a token with `config`; its persistent state lives in `env`'s store.
    pub fn new(config: TokenConfig, env: &mut impl Environment) -> Self {
        let env = env.env();
        Self {
            app: Authenticator::new(config, env.clock.now_ms()),
            channels: Channels::new(),
        }
    }

    /// The configuration the token was built with.
    pub fn config(&self) -> &TokenConfig {
        &self.app.config
    }

    /// What the token can do (what getInfo reports and dispatch serves).
    pub fn capabilities(&self) -> &Capabilities {
        &self.app.caps
    }

    /// Simulates unplugging and replugging: drops channels, any message being received, any
    /// pending transaction (without a response), the lock, the getNextAssertion state and the
    /// loaded secrets, and restarts the reset window. Persistent state is untouched.
    pub fn power_cycle(&mut self, env: &mut impl Environment) {
        let mut env = env.env();
        self.channels.power_cycle(&mut env);
        self.app.power_cycle(env.clock.now_ms());
    }

    /// A clean power-down (the daemon stopping the key): the signature counters' reserved
    /// values are given back, so that the next power-up continues each counter without a gap.
    /// A power cut skips this and loses at most the reserved values, never repeating one.
    pub fn power_down(&mut self, env: &mut impl Environment) -> Result<(), TokenError> {
        let mut env = env.env();
        self.app
            .counters
            .settle(&mut env)
            .map_err(|_| store_error(&mut env))
    }

    /// Forgets what channel `cid` was doing because its host went away (the program closed the
    /// device, or was killed): a message being received, a transaction waiting for the user
    /// (ended without a response, as CTAPHID_INIT resynchronisation ends it) and the lock it
    /// holds. Other channels are untouched; the channel id stays allocated.
    pub fn abort_channel(&mut self, env: &mut impl Environment, cid: u32) {
        self.channels.abort_channel(&mut env.env(), cid);
    }

    /// Whether a transaction is waiting for the user (touch or verification).
    pub fn is_waiting_for_user(&self) -> bool {
        self.channels.is_waiting_for_user()
    }

    /// The CTAPHID_CBOR and CTAPHID_MSG transactions finished since the last call, oldest
    /// first (at most [`ctaphid::MAX_KEPT_TRANSACTIONS`](crate::ctaphid::MAX_KEPT_TRANSACTIONS)
    /// are kept): what was asked, the status, and the times, for a debug log.
    pub fn take_transactions(&mut self) -> Vec<crate::ctaphid::Transaction> {
        self.channels.take_transactions()
    }

    /// How many CTAPHID_WINK requests were answered since construction.
    pub fn wink_count(&self) -> u64 {
        self.channels.wink_count()
    }

    /// When [`Token::tick`] next has work (monotonic ms), or `None` while idle.
    pub fn next_deadline(&self) -> Option<u64> {
        self.channels.next_deadline(&self.app)
    }

    /// Handles one HID output report from the host; returns the input reports to send back.
    pub fn handle_report(&mut self, env: &mut impl Environment, report: &Report) -> Vec<Report> {
        self.channels
            .handle_report(&mut self.app, &mut env.env(), report)
    }

    /// Advances time-driven work: message timeouts, lock expiry, user-presence polling,
    /// keepalives and user-action timeouts. Returns the reports to send.
    pub fn tick(&mut self, env: &mut impl Environment) -> Vec<Report> {
        self.channels.tick(&mut self.app, &mut env.env())
    }

    /// The attestation CA certificate (DER), created at first boot if needed.
    pub fn attestation_ca_der(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<u8>, TokenError> {
        let mut env = env.env();
        let persistent = self.app.load(&mut env).map_err(|_| store_error(&mut env))?;
        Ok(persistent.pki.ca_certificate_der().to_vec())
    }

    /// The attestation CA certificate as PEM.
    pub fn attestation_ca_pem(&mut self, env: &mut impl Environment) -> Result<String, TokenError> {
        let mut env = env.env();
        let persistent = self.app.load(&mut env).map_err(|_| store_error(&mut env))?;
        Ok(persistent.pki.ca_certificate_pem())
    }

    /// Reads the whole persistent state and checks that it is complete and consistent.
    pub fn check_store(&mut self, env: &mut impl Environment) -> Result<StoreSummary, TokenError> {
        admin::fsck::check(&mut env.env(), &self.app.config)
    }

    /// Lists the discoverable (resident) credentials, oldest first (for a control API; no
    /// private keys). [`Token::credentials`] also lists imported non-discoverable ones.
    pub fn resident_credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
        admin::fsck::credentials(&mut env.env(), &self.app.config, &self.app.counters, true)
    }

    /// Every stored credential (discoverable ones and imported non-discoverable ones), oldest first.
    pub fn credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<Vec<ResidentCredentialInfo>, TokenError> {
        admin::fsck::credentials(&mut env.env(), &self.app.config, &self.app.counters, false)
    }

    /// Stores an imported credential in one atomic commit (a discoverable one replaces the
    /// existing discoverable credential of the same (rpId, user handle), as makeCredential does;
    /// an existing credential with the same id is replaced). Its counter starts at sign_count
    /// (per-credential counter mode; ignore for global/always-zero modes but still accept).
    pub fn import_credential(
        &mut self,
        env: &mut impl Environment,
        cred: ImportedCredential,
    ) -> Result<(), ImportError> {
        self.before_import(std::slice::from_ref(&cred));
        admin::import::import_many(&mut env.env(), &self.app.config, vec![cred], &|_| true)
            .map(|_| ())
            .map_err(BatchFailure::bare)
    }

    /// Stores many imported credentials in one atomic commit, with one scan of the stored
    /// ones: all or nothing. Within the batch, later entries win over earlier ones with the same
    /// id or the same discoverable (rpId, user handle), as if imported one by one in order.
    /// Returns how many credentials the batch stored.
    ///
    /// Each entry is checked as by [`Token::import_credential`]; an invalid one fails the whole
    /// batch with [`ImportError::InBatch`] naming it. [`ImportError::Full`] is decided on the
    /// final state (after every replacement). An empty batch writes nothing and returns 0.
    pub fn import_credentials(
        &mut self,
        env: &mut impl Environment,
        creds: Vec<ImportedCredential>,
    ) -> Result<usize, ImportError> {
        self.before_import(&creds);
        admin::import::import_many(&mut env.env(), &self.app.config, creds, &|_| true)
            .map_err(BatchFailure::indexed)
    }

    /// [`Token::import_credentials`] that overwrites nothing it was not asked to: entry `i`
    /// replaces a stored credential (or an earlier entry) with the same id, or a discoverable
    /// one of the same rpId and user handle, only when `replace[i]` is true (missing flags are
    /// false); otherwise the batch is refused with [`ImportError::Exists`] or
    /// [`ImportError::UserExists`] inside [`ImportError::InBatch`], and nothing is written.
    pub fn import_credentials_no_overwrite(
        &mut self,
        env: &mut impl Environment,
        creds: Vec<ImportedCredential>,
        replace: &[bool],
    ) -> Result<usize, ImportError> {
        self.before_import(&creds);
        let may = |i: usize| replace.get(i).copied().unwrap_or(false);
        admin::import::import_many(&mut env.env(), &self.app.config, creds, &may)
            .map_err(BatchFailure::indexed)
    }

    /// [`Token::import_credential`] that replaces a stored credential (same id, or a
    /// discoverable one of the same rpId and user handle) only when `replace` is true.
    pub fn import_credential_no_overwrite(
        &mut self,
        env: &mut impl Environment,
        cred: ImportedCredential,
        replace: bool,
    ) -> Result<(), ImportError> {
        self.before_import(std::slice::from_ref(&cred));
        admin::import::import_many(&mut env.env(), &self.app.config, vec![cred], &|_| replace)
            .map(|_| ())
            .map_err(BatchFailure::bare)
    }

    /// What an import invalidates: a saved getNextAssertion list or enumeration may hold a
    /// credential it replaces, and a large-blob write in progress would overwrite the entries
    /// it adds.
    fn before_import(&mut self, creds: &[ImportedCredential]) {
        self.app.credentials_changed();
        if creds.iter().any(|c| c.options.large_blob.is_some()) {
            self.app.large_blob = None;
        }
    }

    /// Removes one stored credential (and its counter); Ok(false) when there is none with that id.
    pub fn remove_credential(
        &mut self,
        env: &mut impl Environment,
        id: &[u8],
    ) -> Result<bool, TokenError> {
        // A saved getNextAssertion list must not sign with a removed credential.
        self.app.credentials_changed();
        admin::import::remove(&mut env.env(), id)
    }

    /// Sets the PIN of a key that has none (provisioning from a control API, as setPIN would):
    /// at least the minimum PIN length in code points, at most 63 bytes.
    pub fn set_pin(&mut self, env: &mut impl Environment, pin: &str) -> Result<(), PinError> {
        admin::pin::set_pin(&mut self.app, &mut env.env(), pin)
    }

    /// The PIN retries left; `None` when the key has no clientPin or no PIN is set.
    pub fn pin_retries(&mut self, env: &mut impl Environment) -> Result<Option<u8>, TokenError> {
        admin::pin::pin_retries(&mut self.app, &mut env.env())
    }

    /// The PIN and built-in UV state: whether a PIN is set, the PIN and UV retries left.
    pub fn pin_status(&mut self, env: &mut impl Environment) -> Result<PinStatus, TokenError> {
        admin::pin::pin_status(&mut self.app, &mut env.env())
    }

    /// A factory reset from the control API, as authenticatorReset does it (every credential,
    /// the PIN and its retries, authenticatorConfig's settings and the large-blob array gone; a
    /// new master secret), but without its power-up window and touch: the owner of the key asks,
    /// not a host.
    pub fn factory_reset(&mut self, env: &mut impl Environment) -> Result<(), TokenError> {
        let mut env = env.env();
        crate::ctap2::reset::finish(&mut self.app, &mut env).map_err(|_| store_error(&mut env))
    }

    /// Removes every stored credential (and their counters); returns how many.
    pub fn remove_all_credentials(
        &mut self,
        env: &mut impl Environment,
    ) -> Result<usize, TokenError> {
        self.app.credentials_changed();
        admin::import::remove_all(&mut env.env())
    }
}
