//! The one wall clock of the `authsim` binary: TOTP steps, record timestamps, session expiry
//! and the fresh-code rule all read it here.
//!
//! Tests shift it with `AUTHSIM_CLOCK_OFFSET` (signed seconds added to the system clock, e.g.
//! `30` for the next TOTP window), so no test sleeps for a window: they move the client's clock
//! and the stand-in's (`POST /_authsim/clock`) together. The offset is read once per process;
//! a value that is not an integer is refused at start-up by [`init`]. (The stand-in keeps its
//! own clock: it shares no code with the client it judges.)

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that shifts the clock (signed seconds; for tests).
pub const OFFSET_ENV: &str = "AUTHSIM_CLOCK_OFFSET";

/// The largest offset accepted either way (about 100 years): beyond it times stop meaning
/// anything, and the arithmetic below could overflow.
const MAX_OFFSET_SECS: i64 = 100 * 366 * 86_400;

static OFFSET_MS: OnceLock<i64> = OnceLock::new();

/// Why `AUTHSIM_CLOCK_OFFSET` was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{OFFSET_ENV}={0:?} is not a whole number of seconds within ±{MAX_OFFSET_SECS} (unset it, or give e.g. 30 or -30)"
)]
pub struct OffsetError(String);

fn parse_offset(raw: Option<&str>) -> Result<i64, OffsetError> {
    let Some(raw) = raw else { return Ok(0) };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(0);
    }
    match trimmed.parse::<i64>() {
        Ok(s) if s.abs() <= MAX_OFFSET_SECS => Ok(s * 1000),
        _ => Err(OffsetError(raw.to_owned())),
    }
}

/// Reads `AUTHSIM_CLOCK_OFFSET` once; call at start-up so a bad value is an error, not a
/// silent zero.
pub fn init() -> Result<(), OffsetError> {
    let raw = std::env::var(OFFSET_ENV).ok();
    let ms = parse_offset(raw.as_deref())?;
    if ms != 0 {
        tracing::debug!(offset_seconds = ms / 1000, "clock shifted by {OFFSET_ENV}");
    }
    let _ = OFFSET_MS.set(ms);
    Ok(())
}

fn offset_ms() -> i64 {
    *OFFSET_MS.get_or_init(|| parse_offset(std::env::var(OFFSET_ENV).ok().as_deref()).unwrap_or(0))
}

/// Milliseconds since the Unix epoch, shifted by the test offset (never negative).
pub fn now_unix_ms() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    u64::try_from(real.saturating_add(offset_ms())).unwrap_or(0)
}

/// Whole seconds since the Unix epoch, shifted by the test offset.
pub fn now_unix() -> u64 {
    now_unix_ms() / 1000
}

/// Seconds since the Unix epoch with millisecond precision, shifted by the test offset.
pub fn now_unix_f64() -> f64 {
    now_unix_ms() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_strictly() {
        assert_eq!(parse_offset(None).unwrap(), 0);
        assert_eq!(parse_offset(Some("")).unwrap(), 0);
        assert_eq!(parse_offset(Some("30")).unwrap(), 30_000);
        assert_eq!(parse_offset(Some(" -90 ")).unwrap(), -90_000);
        for bad in [
            "1.5",
            "abc",
            "30s",
            "99999999999999999999",
            "9223372036854775807",
        ] {
            assert!(parse_offset(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn now_is_close_to_the_system_clock() {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expected = sys.saturating_add_signed(offset_ms() / 1000);
        let ours = now_unix();
        assert!(ours.abs_diff(expected) <= 1, "{ours} vs {expected}");
    }
}
