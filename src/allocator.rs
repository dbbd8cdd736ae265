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
//!
//! One arena: a buffer is allocated on the source's thread and freed on
//! the sink's (or the channel writer's), and glibc gives each thread that
//! contends its own arena, each keeping its freed memory up to the trim
//! threshold. With the file channel, where three threads allocate, that
//! made the peak RSS half again as large (48 to 54 MiB against 32 to 33
//! MiB with one arena, for a million 100-byte lines through netcat);
//! the events/s did not change: the hot paths allocate a buffer per read
//! or per batch, not per event, and glibc's per-thread caches serve small
//! blocks without taking the arena's lock. An operator who sets
//! `MALLOC_ARENA_MAX` (or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`)
//! in the environment, for many cores and many busy agents, keeps it.

/// Apply the settings; call first thing in `main`.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        if !arenas_set_by_environment() {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Whether the environment already sets glibc's arena limit.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arenas_set_by_environment() -> bool {
    arenas_set_by(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
}

/// [`arenas_set_by_environment`] over any lookup of variables.
fn arenas_set_by(var: impl Fn(&str) -> Option<String>) -> bool {
    var("MALLOC_ARENA_MAX").is_some()
        || var("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc.arena_max"))
}

#[cfg(test)]
mod tests {
    use super::arenas_set_by;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_operator_s_arena_limit_is_kept() {
        assert!(!arenas_set_by(env(&[])));
        assert!(arenas_set_by(env(&[("MALLOC_ARENA_MAX", "8")])));
        assert!(arenas_set_by(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=4"
        )])));
        assert!(!arenas_set_by(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.hugetlb=1"
        )])));
    }
}
