//! TOTP verification as the stand-in enforces it: RFC 6238 (SHA-1, 6 digits, 30-second
//! steps) computed with totp-rs, a narrow window around the server's clock, and replay
//! refusal by remembering the last accepted step.

use totp_rs::{Builder, Totp};

/// Length of one TOTP step in seconds.
pub const STEP_SECS: u64 = 30;

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The code matches no step in the window (or is not six digits).
    Mismatch,
    /// The code matches a step that was already used (or an earlier one).
    Replay,
}

fn totp(secret: &[u8]) -> Totp {
    // The unchecked path: real seeds may be shorter than the 128 bits the checked
    // constructor insists on.
    Builder::new()
        .with_secret(secret.to_vec())
        .with_skew(0)
        .build_noncompliant()
}

fn is_six_digits(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The step number containing Unix time `unix_secs`.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The code for `step` (tests and diagnostics only; never logged).
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    totp(secret).generate(step * STEP_SECS).to_string()
}

fn steps_around(center: u64, window: u64) -> impl Iterator<Item = u64> {
    center.saturating_sub(window)..=center.saturating_add(window)
}

fn matches(t: &Totp, code: &str, step: u64) -> bool {
    t.check(code, step * STEP_SECS).is_some()
}

/// Check one code against steps `center ± window`, where `center` is the current step
/// shifted by `drift` steps. Returns the matched step; a match at or before `last_step`
/// is a replay.
pub fn verify(
    secret: &[u8],
    code: &str,
    now_secs: u64,
    drift: i64,
    window: u64,
    last_step: Option<u64>,
) -> Result<u64, Rejection> {
    if !is_six_digits(code) {
        return Err(Rejection::Mismatch);
    }
    let t = totp(secret);
    let center = step_of(now_secs).saturating_add_signed(drift);
    match steps_around(center, window).find(|&s| matches(&t, code, s)) {
        None => Err(Rejection::Mismatch),
        Some(s) if last_step.is_some_and(|last| s <= last) => Err(Rejection::Replay),
        Some(s) => Ok(s),
    }
}

/// Check two codes that must belong to consecutive steps `s` and `s + 1`, both within
/// `center ± window` and both after `last_step`. Returns `s + 1`, the step of the second.
pub fn verify_consecutive(
    secret: &[u8],
    code1: &str,
    code2: &str,
    now_secs: u64,
    window: u64,
    last_step: Option<u64>,
) -> Result<u64, Rejection> {
    if !is_six_digits(code1) || !is_six_digits(code2) {
        return Err(Rejection::Mismatch);
    }
    let t = totp(secret);
    let center = step_of(now_secs);
    let lo = center.saturating_sub(window);
    let hi = center.saturating_add(window);
    let mut replay = false;
    for s in lo..hi {
        if matches(&t, code1, s) && matches(&t, code2, s + 1) {
            if last_step.is_some_and(|last| s <= last) {
                replay = true;
                continue;
            }
            return Ok(s + 1);
        }
    }
    Err(if replay {
        Rejection::Replay
    } else {
        Rejection::Mismatch
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_vectors() {
        assert_eq!(code_at_step(SEED, 59 / 30), "287082");
        assert_eq!(code_at_step(SEED, 1_111_111_109 / 30), "081804");
        assert_eq!(code_at_step(SEED, 1_234_567_890 / 30), "005924");
    }

    #[test]
    fn window_is_one_step() {
        let now = 1_234_567_890;
        let s = step_of(now);
        for (delta, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(SEED, s.saturating_add_signed(delta));
            assert_eq!(
                verify(SEED, &code, now, 0, 1, None).is_ok(),
                ok,
                "delta {delta}"
            );
        }
    }

    #[test]
    fn replay_is_refused() {
        let now = 1_234_567_890;
        let s = step_of(now);
        let code = code_at_step(SEED, s);
        assert_eq!(verify(SEED, &code, now, 0, 1, None), Ok(s));
        assert_eq!(
            verify(SEED, &code, now, 0, 1, Some(s)),
            Err(Rejection::Replay)
        );
        let next = code_at_step(SEED, s + 1);
        assert_eq!(verify(SEED, &next, now, 0, 1, Some(s)), Ok(s + 1));
    }

    #[test]
    fn malformed_codes_mismatch() {
        for c in ["", "12345", "1234567", "12a456", "+12345"] {
            assert_eq!(
                verify(SEED, c, 1_234_567_890, 0, 1, None),
                Err(Rejection::Mismatch)
            );
        }
    }

    #[test]
    fn consecutive_pair() {
        let now = 1_234_567_890;
        let s = step_of(now);
        let a = code_at_step(SEED, s - 1);
        let b = code_at_step(SEED, s);
        assert_eq!(verify_consecutive(SEED, &a, &b, now, 1, None), Ok(s));
        // Reversed order or a gap is refused.
        assert!(verify_consecutive(SEED, &b, &a, now, 1, None).is_err());
        let c = code_at_step(SEED, s + 1);
        assert!(verify_consecutive(SEED, &a, &c, now, 1, None).is_err());
        // The same pair again is a replay.
        assert_eq!(
            verify_consecutive(SEED, &a, &b, now, 1, Some(s)),
            Err(Rejection::Replay)
        );
    }

    #[test]
    fn drift_moves_the_window() {
        let now = 1_234_567_890;
        let s = step_of(now);
        let far = code_at_step(SEED, s + 10);
        assert!(verify(SEED, &far, now, 0, 1, None).is_err());
        assert_eq!(verify(SEED, &far, now, 10, 1, None), Ok(s + 10));
    }
}
