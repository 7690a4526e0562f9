//! The allocator's knobs: fewer glibc malloc arenas, and freed heap handed back to the system
//! (after start-up, and after a storm of connections).

/// Caps glibc's malloc arenas at two. Every key has its own thread, and glibc gives threads
/// their own arenas, each keeping the peak of its thread's transient allocations (a scan of
/// 10,000 resident credentials): with 10 keys that took the daemon from 43 MB to 82 MB
/// (benches/daemon_bench.py). Two arenas keep two cores' worth of concurrency.
///
/// It also fixes the size from which a block gets its own mapping at [`MMAP_THRESHOLD`]:
/// glibc otherwise raises that threshold to the largest block freed so far (up to 32 MiB),
/// after which the buffers of a bulk import or of a listing of 100,000 credentials stay in
/// the heap once freed.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before the daemon starts any
    // thread of its own, and M_ARENA_MAX and M_MMAP_THRESHOLD with positive values (the
    // latter below glibc's 32 MiB maximum) are documented settings.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Blocks of this size or more are mapped on their own and unmapped when freed.
pub const MMAP_THRESHOLD: usize = 1024 * 1024;

/// A request or response at least this large is followed by [`release_free_memory`]: what
/// it took to parse or build (a bulk import, a listing of every credential) is small blocks
/// by the hundred thousand, which glibc keeps in the heap once freed.
pub const RELEASE_AFTER_BYTES: usize = 1024 * 1024;

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
