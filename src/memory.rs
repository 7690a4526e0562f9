//! The allocator's knobs: fewer glibc malloc arenas, and freed heap handed back to the system
//! (after start-up, and after a storm of connections).

/// Caps glibc's malloc arenas at two. Every key has its own thread, and glibc gives threads
/// their own arenas, each keeping the peak of its thread's transient allocations (a scan of
/// 10,000 resident credentials): with 10 keys that took the daemon from 43 MB to 82 MB
/// (benches/daemon_bench.py). Two arenas keep two cores' worth of concurrency.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before the daemon starts any
    // thread of its own, and M_ARENA_MAX with a positive value is a documented setting.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the memory freed after start-up (every key's state was read and checked) back to the
/// operating system, so the daemon's resident size is what it keeps, not what it once read.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
