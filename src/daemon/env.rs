//! The token's outside world in the daemon: the system clock, the operating system's random
//! source, the key's shared presence state, and the SQLite record store.

use std::time::Instant;

use firmware_sim::env::{Clock, Env, Environment, Rng};

use super::presence::SharedPresence;
use super::token_store::SqliteRecordStore;

/// Monotonic milliseconds since the daemon started, and wall-clock time.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose `now_ms` starts at 0 now.
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }

    /// The monotonic instant that `now_ms` value `ms` stands for.
    pub fn instant_at(&self, ms: u64) -> Instant {
        self.origin + std::time::Duration::from_millis(ms)
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn unix_seconds(&self) -> u64 {
        crate::clock::now_unix()
    }
}

/// The operating system's random source (getrandom).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        // The token cannot run without randomness and must never use weak keys: if the kernel's
        // source fails (it does not, once booted) the daemon stops rather than continue.
        if let Err(e) = getrandom::fill(out) {
            tracing::error!(error = %e, "the operating system's random source failed");
            std::process::abort();
        }
    }
}

/// Everything one virtual key's token needs from the daemon.
#[derive(Debug)]
pub struct DeviceEnv {
    /// Time.
    pub clock: SystemClock,
    /// Randomness.
    pub rng: OsRng,
    /// The key's button: its presence policy and pending requests.
    pub presence: SharedPresence,
    /// The key's persistent records.
    pub store: SqliteRecordStore,
}

impl Environment for DeviceEnv {
    fn env(&mut self) -> Env<'_> {
        Env::new(
            &self.clock,
            &mut self.rng,
            &mut self.presence,
            &mut self.store,
        )
    }
}
