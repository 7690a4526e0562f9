//! The randomness source the token draws keys, nonces and identifiers from.

/// A source of random bytes.
///
/// In production this must be a cryptographically secure generator (the daemon backs it with
/// the operating system's); tests use [`crate::testing::SeededRng`] for reproducible runs.
pub trait Rng {
    /// Fills `out` with random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]);
}
