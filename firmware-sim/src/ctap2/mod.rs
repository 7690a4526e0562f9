//! CTAP2 (CTAP 2.1 §6): command dispatch and the state the commands share; the typed messages
//! ([`messages`]) and authenticator data ([`auth_data`]) a host uses too.
//!
//! A command either answers at once (`Step::Reply`) or needs the user first
//! (`Step::Wait`). The CTAPHID layer then keeps the transaction pending, polls user presence
//! from `Token::tick`, and calls `resume` with the outcome, which produces the response.

pub mod auth_data;
pub(crate) mod client_pin;
pub mod command;
pub(crate) mod config_cmd;
pub(crate) mod credential_management;
pub(crate) mod get_assertion;
pub(crate) mod get_info;
pub(crate) mod large_blobs;
pub(crate) mod lookup;
pub(crate) mod make_credential;
pub mod messages;
pub(crate) mod pin_uv;
pub(crate) mod reset;
pub(crate) mod selection;

pub use auth_data::{AttestedCredentialData, AuthDataError, AuthenticatorData, flags};

use ciborium::value::Value;
use sha2::{Digest, Sha256};

use crate::capabilities::Capabilities;
use crate::cbor;
use crate::config::TokenConfig;
use crate::credential::id;
use crate::env::{Env, PresencePurpose};
use crate::extensions::{self, Extension, Operation, Requested};
use crate::persist::record::RESIDENT_ID_LEN;
use crate::persist::{self, Persistent};
use crate::pin::PinRuntime;
use crate::pin::state::{PinState, check_new_pin};
use crate::status::{CtapResult, StatusCode};
use messages::{Extensions, Message};

pub use crate::capabilities::MAX_CREDENTIAL_ID_LEN;
const _: () = assert!(id::MAX_WRAPPED_LEN <= MAX_CREDENTIAL_ID_LEN);
const _: () = assert!(RESIDENT_ID_LEN <= MAX_CREDENTIAL_ID_LEN);

/// The firmware's application state: configuration, loaded secrets and volatile command state.
pub(crate) struct Authenticator {
    pub config: TokenConfig,
    /// What this key does, decided from `config` once.
    pub caps: Capabilities,
    /// The extensions `caps` supports.
    pub extensions: Vec<&'static dyn Extension>,
    pub persistent: Option<Persistent>,
    pub boot_ms: u64,
    pub next_assertion: Option<get_assertion::NextState>,
    /// PIN/UV auth state of this power-up (and the persisted PIN state, cached).
    pub pin: PinRuntime,
    /// A credential-management enumeration in progress.
    pub cred_mgmt: Option<credential_management::Enumeration>,
    /// A large-blob array write in progress.
    pub large_blob: Option<large_blobs::PendingWrite>,
    /// Signature counter values reserved in the store and not yet sent.
    pub counters: crate::credential::counter::Reservations,
    /// The number of discoverable credentials and the store version it was counted at
    /// (counting opens every record: getInfo asked it each time, 5 ms with 10,000 of them).
    discoverable: Option<(u64, usize)>,
    next_presence_id: u64,
}

impl Authenticator {
    pub(crate) fn new(config: TokenConfig, now_ms: u64) -> Self {
        let caps = Capabilities::from_config(&config);
        Self {
            extensions: extensions::supported(&caps),
            caps,
            config,
            persistent: None,
            boot_ms: now_ms,
            next_assertion: None,
            pin: PinRuntime::default(),
            cred_mgmt: None,
            large_blob: None,
            counters: Default::default(),
            discoverable: None,
            next_presence_id: 1,
        }
    }

    /// Forgets everything volatile, as a power cycle does.
    pub(crate) fn power_cycle(&mut self, now_ms: u64) {
        self.persistent = None;
        self.next_assertion = None;
        self.cred_mgmt = None;
        self.large_blob = None;
        self.counters.clear();
        self.discoverable = None;
        // Key-agreement keys and pinUvAuthTokens are made again at power-up; the mismatch
        // count starts over (retries are persisted).
        self.pin.reset();
        crate::credential::forget_signing_keys();
        self.boot_ms = now_ms;
    }

    /// How many discoverable credentials the store holds: counted again only when the store's
    /// version moved since the last count (always, for a store that keeps no version).
    pub(crate) fn discoverable_count(&mut self, env: &mut Env<'_>) -> CtapResult<usize> {
        let version = env.store.version();
        if let (Some(now), Some((then, count))) = (version, self.discoverable)
            && now == then
        {
            return Ok(count);
        }
        let count = lookup::discoverable_count(env)?;
        self.discoverable = version.map(|v| (v, count));
        Ok(count)
    }

    /// Loads (or creates at first boot) the persistent secrets.
    pub(crate) fn load(&mut self, env: &mut Env<'_>) -> CtapResult<&Persistent> {
        if self.persistent.is_none() {
            let config = &self.config;
            let mut first_boot = |batch: &mut crate::env::WriteBatch| {
                // A PIN given in the configuration is set at first boot, in the same commit.
                let initial = config.initial_pin.as_ref().filter(|_| self.caps.client_pin);
                let mut state = PinState::initial(config);
                if let Some(pin) = initial
                    && let Ok(code_points) = check_new_pin(pin.as_bytes(), state.min_pin_length)
                {
                    state.set_pin(pin.as_bytes(), code_points);
                    state.stage(batch);
                }
            };
            self.persistent = Some(persist::load_or_create(env, config, &mut first_boot)?);
            // The first boot may have written the PIN state.
            self.pin.forget_state();
        }
        self.persistent.as_ref().ok_or(StatusCode::Other)
    }

    /// The persisted PIN/UV and configuration state (first boot happens first: it may set an
    /// initial PIN).
    pub(crate) fn pin_state(&mut self, env: &mut Env<'_>) -> CtapResult<&mut PinState> {
        self.load(env)?;
        self.pin.state(env, &self.config)
    }

    /// Checks a request's extension inputs for `op` before the user is asked (hmac-secret's
    /// salts are authenticated and decrypted here); an error ends the request, nothing changed.
    pub(crate) fn check_extensions(
        &mut self,
        env: &mut Env<'_>,
        op: Operation,
        inputs: Option<&Extensions>,
        up: bool,
    ) -> CtapResult<Vec<Requested>> {
        extensions::check(
            op,
            &self.extensions,
            inputs,
            up,
            &self.caps,
            &mut self.pin,
            &mut *env.rng,
        )
    }

    /// The stored credentials changed (or may have): what remembered a list of them ends (the
    /// getNextAssertion state, a credential-management enumeration).
    pub(crate) fn credentials_changed(&mut self) {
        self.next_assertion = None;
        self.cred_mgmt = None;
        // A stored counter may have been removed, reset or imported anew.
        self.counters.clear();
    }

    /// A fresh id for a user-presence request.
    pub(crate) fn new_presence_id(&mut self) -> u64 {
        let id = self.next_presence_id;
        self.next_presence_id = self.next_presence_id.wrapping_add(1);
        id
    }
}

/// What a command needs from the user before it can finish.
pub(crate) struct Wait {
    /// Why.
    pub purpose: PresencePurpose,
    /// For whom.
    pub rp_id: Option<String>,
    /// Whether built-in user verification is requested.
    pub uv: bool,
    /// How to finish once the user has answered.
    pub cont: Continuation,
}

/// The rest of a command after the user-presence wait.
pub(crate) enum Continuation {
    MakeCredential(Box<make_credential::Plan>),
    Excluded,
    GetAssertion(Box<get_assertion::Plan>),
    Reset,
    Selection,
    /// The zero-length pinUvAuthParam probe: the touch only selects this authenticator.
    PinProbe,
    /// getPinUvAuthTokenUsingUvWithPermissions waiting for built-in user verification.
    UvToken(Box<client_pin::UvTokenPlan>),
}

/// How a user-presence wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Approved,
    Denied,
    /// The user touched the key but built-in user verification failed (only for waits with UV).
    UvFailed,
    TimedOut,
    Cancelled,
}

/// The result of starting a command.
pub(crate) enum Step {
    Reply(Vec<u8>),
    Wait(Wait),
}

/// Encodes a CTAP2 response: status byte, then the CBOR body if any.
pub(crate) fn response(result: CtapResult<Option<Value>>) -> Vec<u8> {
    match result {
        Ok(None) => vec![StatusCode::Ok.as_u8()],
        Ok(Some(body)) => {
            let mut out = vec![StatusCode::Ok.as_u8()];
            out.extend_from_slice(&cbor::encode(&body));
            out
        }
        Err(status) => vec![status.as_u8()],
    }
}

/// Starts processing one CTAP2 request (command byte followed by CBOR parameters).
pub(crate) fn process(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    request: &[u8],
) -> Step {
    let Some((&command, params)) = request.split_first() else {
        return Step::Reply(response(Err(StatusCode::InvalidLength)));
    };
    if command != command::GET_NEXT_ASSERTION
        && auth.next_assertion.as_ref().is_some_and(|s| s.cid == cid)
    {
        auth.next_assertion = None;
    }
    let managing = matches!(
        command,
        command::CREDENTIAL_MANAGEMENT | command::CREDENTIAL_MANAGEMENT_PREVIEW
    );
    if !managing && auth.cred_mgmt.as_ref().is_some_and(|e| e.cid == cid) {
        auth.cred_mgmt = None;
    }
    if !auth.caps.serves(command) {
        return Step::Reply(response(Err(StatusCode::InvalidCommand)));
    }
    let started = match command {
        command::GET_INFO => Ok(Step::Reply(response(
            get_info::process(auth, env).map(Some),
        ))),
        command::MAKE_CREDENTIAL => make_credential::begin(auth, env, params),
        command::GET_ASSERTION => get_assertion::begin(auth, env, cid, params),
        command::GET_NEXT_ASSERTION => Ok(Step::Reply(response(
            get_assertion::next(auth, env, cid).map(Some),
        ))),
        command::RESET => reset::begin(auth, env).map(Step::Wait),
        command::SELECTION => Ok(Step::Wait(selection::begin())),
        command::CLIENT_PIN => client_pin::process(auth, env, params),
        command::CONFIG => {
            config_cmd::process(auth, env, params).map(|()| Step::Reply(response(Ok(None))))
        }
        command::CREDENTIAL_MANAGEMENT | command::CREDENTIAL_MANAGEMENT_PREVIEW => Ok(Step::Reply(
            response(credential_management::process(auth, env, cid, params)),
        )),
        command::LARGE_BLOBS => Ok(Step::Reply(response(large_blobs::process(
            auth, env, params,
        )))),
        _ => Err(StatusCode::InvalidCommand),
    };
    match started {
        Ok(step) => step,
        Err(status) => Step::Reply(response(Err(status))),
    }
}

/// Finishes a command once its user-presence wait has ended.
pub(crate) fn resume(
    auth: &mut Authenticator,
    env: &mut Env<'_>,
    cid: u32,
    cont: Continuation,
    outcome: Outcome,
) -> Vec<u8> {
    let result = match (outcome, cont) {
        (Outcome::Cancelled, _) => Err(StatusCode::KeepaliveCancel),
        // An excluded credential that needs user verification (credProtect level 3) asked for
        // built-in UV, which failed: a failed UV attempt, and no word about the list.
        (Outcome::UvFailed, Continuation::Excluded) => Err(pin_uv::uv_failed(auth, env)),
        // The touch on an excluded credential only paces brute-force probing of the list.
        (_, Continuation::Excluded) => Err(StatusCode::CredentialExcluded),
        // The probe: the touch selected this key; now the platform must get a PIN/UV token.
        (Outcome::Approved, Continuation::PinProbe) => Err(pin_uv::probe_answer(auth, env)),
        (Outcome::Denied | Outcome::TimedOut, Continuation::PinProbe) => {
            Err(StatusCode::OperationDenied)
        }
        (Outcome::Denied, _) => Err(StatusCode::OperationDenied),
        // Failed built-in UV for a token: getPinUvAuthTokenUsingUvWithPermissions step 10.
        (Outcome::UvFailed, Continuation::UvToken(_)) => match client_pin::uv_failed(auth, env) {
            Ok(0) => Err(StatusCode::UvBlocked),
            Ok(_) => Err(StatusCode::UvInvalid),
            Err(e) => Err(e),
        },
        // Failed built-in UV in makeCredential (step 11.2.3) or getAssertion (step 6.2.3): one
        // UV attempt is gone.
        (Outcome::UvFailed, _) => Err(pin_uv::uv_failed(auth, env)),
        (Outcome::TimedOut, Continuation::UvToken(_)) => Err(StatusCode::UserActionTimeout),
        (Outcome::Approved, Continuation::UvToken(plan)) => {
            client_pin::finish_uv_token(auth, env, *plan).map(|r| Some(r.to_value()))
        }
        // Built-in user verification that times out is a user action timeout (getAssertion
        // step 6.2.3.1); a presence check that times out is a refusal (makeCredential step 14:
        // "If the user declines permission, or the operation times out, then end the operation
        // by returning CTAP2_ERR_OPERATION_DENIED.").
        (Outcome::TimedOut, Continuation::MakeCredential(plan)) => Err(if plan.uv() {
            StatusCode::UserActionTimeout
        } else {
            StatusCode::OperationDenied
        }),
        (Outcome::TimedOut, Continuation::GetAssertion(plan)) => Err(if plan.uv() {
            StatusCode::UserActionTimeout
        } else {
            StatusCode::OperationDenied
        }),
        // Reset and selection report a user action timeout as such.
        (Outcome::TimedOut, Continuation::Reset | Continuation::Selection) => {
            Err(StatusCode::UserActionTimeout)
        }
        (Outcome::Approved, Continuation::MakeCredential(plan)) => {
            make_credential::finish(auth, env, *plan).map(Some)
        }
        (Outcome::Approved, Continuation::GetAssertion(plan)) => {
            get_assertion::finish(auth, env, cid, *plan).map(Some)
        }
        (Outcome::Approved, Continuation::Reset) => reset::finish(auth, env).map(|()| None),
        (Outcome::Approved, Continuation::Selection) => Ok(None),
    };
    response(result)
}

/// SHA-256 of an RP id.
pub(crate) fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}
