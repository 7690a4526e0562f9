//! PIN/UV auth protocols (CTAP 2.1 §6.5): the two protocols behind one trait ([`protocol`]),
//! the pinUvAuthToken state ([`token`]), the persisted PIN/UV and configuration state
//! ([`state`]), and the volatile state of a powered-up key ([`PinRuntime`]).

pub mod platform;
pub(crate) mod protocol;
pub(crate) mod state;
pub(crate) mod token;

use zeroize::Zeroizing;

use crate::config::TokenConfig;
use crate::env::{Env, Rng};
use crate::status::{CtapResult, StatusCode};
use protocol::{KeyAgreementKey, PinUvAuthProtocol};
use state::PinState;
use token::TokenState;

/// The length of a pinUvAuthToken.
pub(crate) const TOKEN_LEN: usize = 32;

/// Per protocol (one, two): a key-agreement key and a pinUvAuthToken.
struct ProtocolKeys {
    key_agreement: KeyAgreementKey,
    token: Zeroizing<[u8; TOKEN_LEN]>,
}

/// What a powered-up key holds for PIN/UV auth: made at power-up (lazily, on first use), never
/// stored, gone at the next power cycle.
#[derive(Default)]
pub(crate) struct PinRuntime {
    /// Indexed by protocol number - 1.
    keys: Option<[ProtocolKeys; 2]>,
    /// The pinUvAuthToken state (shared by both protocols' tokens).
    pub token: TokenState,
    /// Wrong PINs in a row since power-up.
    pub consecutive_mismatches: u8,
    /// The persisted state, as last read or written.
    state: Option<PinState>,
}

impl std::fmt::Debug for PinRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinRuntime")
            .field("initialized", &self.keys.is_some())
            .field("token", &self.token)
            .field("consecutive_mismatches", &self.consecutive_mismatches)
            .field("state", &self.state)
            .finish()
    }
}

fn random_token(rng: &mut dyn Rng) -> Zeroizing<[u8; TOKEN_LEN]> {
    let mut token = Zeroizing::new([0u8; TOKEN_LEN]);
    rng.fill_bytes(token.as_mut());
    token
}

fn index(protocol: &dyn PinUvAuthProtocol) -> CtapResult<usize> {
    match protocol.number() {
        1 => Ok(0),
        2 => Ok(1),
        _ => Err(StatusCode::InvalidParameter),
    }
}

impl PinRuntime {
    /// initialize() for both protocols, once per power-up.
    fn keys(&mut self, rng: &mut dyn Rng) -> CtapResult<&mut [ProtocolKeys; 2]> {
        if self.keys.is_none() {
            let mut make = || -> CtapResult<ProtocolKeys> {
                Ok(ProtocolKeys {
                    key_agreement: KeyAgreementKey::generate(rng)?,
                    token: random_token(rng),
                })
            };
            self.keys = Some([make()?, make()?]);
        }
        self.keys.as_mut().ok_or(StatusCode::Other)
    }

    /// The key-agreement key of `protocol`.
    pub(crate) fn key_agreement(
        &mut self,
        rng: &mut dyn Rng,
        protocol: &dyn PinUvAuthProtocol,
    ) -> CtapResult<&KeyAgreementKey> {
        let i = index(protocol)?;
        Ok(&self.keys(rng)?[i].key_agreement)
    }

    /// regenerate(): a new key-agreement key for `protocol`.
    pub(crate) fn regenerate(
        &mut self,
        rng: &mut dyn Rng,
        protocol: &dyn PinUvAuthProtocol,
    ) -> CtapResult<()> {
        let i = index(protocol)?;
        let fresh = KeyAgreementKey::generate(rng)?;
        self.keys(rng)?[i].key_agreement = fresh;
        Ok(())
    }

    /// resetPinUvAuthToken() for every protocol; the token state stops (a new one begins).
    pub(crate) fn reset_tokens(&mut self, rng: &mut dyn Rng) -> CtapResult<()> {
        for keys in self.keys(rng)?.iter_mut() {
            keys.token = random_token(rng);
        }
        self.token.stop();
        Ok(())
    }

    /// The pinUvAuthToken of `protocol`.
    pub(crate) fn token_bytes(
        &mut self,
        rng: &mut dyn Rng,
        protocol: &dyn PinUvAuthProtocol,
    ) -> CtapResult<Zeroizing<[u8; TOKEN_LEN]>> {
        let i = index(protocol)?;
        Ok(self.keys(rng)?[i].token.clone())
    }

    /// The persisted state (read once per power-up).
    pub(crate) fn state(
        &mut self,
        env: &mut Env<'_>,
        config: &TokenConfig,
    ) -> CtapResult<&mut PinState> {
        if self.state.is_none() {
            self.state = Some(PinState::load(env, config)?);
        }
        self.state.as_mut().ok_or(StatusCode::Other)
    }

    /// Commits `new` as the persisted state and remembers it once durable.
    pub(crate) fn commit_state(&mut self, env: &mut Env<'_>, new: PinState) -> CtapResult<()> {
        new.commit(env)?;
        self.state = Some(new);
        Ok(())
    }

    /// Forgets the remembered persisted state (after a commit made elsewhere, or a failure).
    pub(crate) fn forget_state(&mut self) {
        self.state = None;
    }

    /// Everything back to power-up: keys, tokens and mismatch count (authenticatorReset).
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}
