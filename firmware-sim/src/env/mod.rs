//! The outside world as the token sees it: one small trait per service, one file each.
//!
//! A host hands the token an [`Env`] (four borrowed services) on every call, usually through
//! something implementing [`Environment`] such as [`crate::testing::TestEnv`].

mod clock;
mod presence;
mod rng;
mod store;

pub use clock::Clock;
pub use presence::{PresencePurpose, PresenceRequest, PresenceStatus, UserPresence};
pub use rng::Rng;
pub use store::{RecordStore, Records, StoreError, WriteBatch, WriteOp, fresh_version};

/// The services lent to the token for the duration of one call.
pub struct Env<'a> {
    /// Time.
    pub clock: &'a dyn Clock,
    /// Randomness.
    pub rng: &'a mut dyn Rng,
    /// The user-presence button.
    pub presence: &'a mut dyn UserPresence,
    /// Persistent memory.
    pub store: &'a mut dyn RecordStore,
}

impl<'a> Env<'a> {
    /// Bundles four services into an environment.
    pub fn new(
        clock: &'a dyn Clock,
        rng: &'a mut dyn Rng,
        presence: &'a mut dyn UserPresence,
        store: &'a mut dyn RecordStore,
    ) -> Self {
        Self {
            clock,
            rng,
            presence,
            store,
        }
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

/// Anything that can lend the token an [`Env`].
pub trait Environment {
    /// Borrows the four services.
    fn env(&mut self) -> Env<'_>;
}

impl Environment for Env<'_> {
    fn env(&mut self) -> Env<'_> {
        Env {
            clock: self.clock,
            rng: &mut *self.rng,
            presence: &mut *self.presence,
            store: &mut *self.store,
        }
    }
}
