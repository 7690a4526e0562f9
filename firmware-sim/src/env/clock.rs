//! The clock the token reads: monotonic milliseconds for timeouts, wall time for certificates.

/// Time as the token sees it.
///
/// `now_ms` must never go backwards; it drives every CTAPHID and CTAP2 timeout (message
/// reassembly, keepalives, user-presence waits, the reset window, the get-next-assertion timer).
/// `unix_seconds` is only used to date the attestation certificates at first boot.
pub trait Clock {
    /// Monotonic milliseconds since an arbitrary origin.
    fn now_ms(&self) -> u64;
    /// Wall-clock time in seconds since the Unix epoch.
    fn unix_seconds(&self) -> u64;
}
