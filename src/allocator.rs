//! glibc malloc settings for a process that moves events.
//!
//! Sources read into 256 KiB buffers that events share; a buffer is freed
//! once its last event is delivered, and the next read allocates another.
//! By default glibc serves blocks that large with mmap (its threshold
//! adapts only up to the largest block freed so far) and gives freed heap
//! back to the kernel early, so every new buffer page-faults in again:
//! with the file channel that was a fifth of the agent's CPU time
//! (docs/benchmarks.md). A fixed 4 MiB mmap threshold and a 64 MiB trim
//! threshold keep that memory for reuse; an idle process is unchanged.

/// Apply the settings; call first thing in `main`.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
