//! The stand-in's clock: the system clock plus a test-only offset (shifted through
//! `POST /_authsim/clock`) so tests can reach session expiry and TOTP steps without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// System time shifted by an adjustable offset in milliseconds.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock with no offset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Seconds since the Unix epoch, with millisecond precision, as the server sees it.
    pub fn now(&self) -> f64 {
        self.now_ms() as f64 / 1000.0
    }

    /// Milliseconds since the Unix epoch, as the server sees it.
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Whole seconds since the Unix epoch, as the server sees it (never negative).
    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.now_ms() / 1000).unwrap_or(0)
    }

    /// The current offset in seconds.
    pub fn offset_secs(&self) -> f64 {
        self.offset_ms.load(Ordering::SeqCst) as f64 / 1000.0
    }

    /// Set the offset to `secs` seconds (may be negative).
    pub fn set_offset_secs(&self, secs: f64) {
        self.offset_ms
            .store((secs * 1000.0).round() as i64, Ordering::SeqCst);
    }

    /// Move the clock forward (or back, if negative) by `secs` seconds.
    pub fn advance_secs(&self, secs: f64) {
        self.offset_ms
            .fetch_add((secs * 1000.0).round() as i64, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moves_now() {
        let c = Clock::new();
        let before = c.now_secs();
        c.advance_secs(3600.0);
        assert!(c.now_secs() >= before + 3600);
        c.set_offset_secs(-60.0);
        assert!((c.offset_secs() + 60.0).abs() < f64::EPSILON);
    }
}
