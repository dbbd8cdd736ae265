//! The daemon's file descriptors, and who may use how many.
//!
//! Programs, the control server and the in-process agents share one
//! descriptor table (RLIMIT_NOFILE). Spawning a program needs about ten
//! for a moment and each running one keeps a few (pipes, log files), so
//! these come first: [`Budget`] keeps [`RESERVED`] for the daemon itself
//! and [`PER_PROCESS`] for every configured process. The control server
//! takes a fixed share for its connections ([`Budget::control_cap`]);
//! the connections of in-process sources (netcat) borrow what is left, one
//! [`Share`] each, and a listener with no share to give makes its longest
//! idle connection give way ([`conns`]). A flood of connections therefore
//! never takes the descriptors that spawning and the control server need.

pub mod accept;
pub mod conns;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptors kept for the daemon itself beyond those open when the
/// budget is made: spawns in progress (a spawn holds about ten for a
/// moment), log files reopened, log reads, an agent's channel files.
pub const RESERVED: u64 = 64;
/// Descriptors kept for each process (two pipes, stdin, two log files, an
/// in-process agent's few files).
pub const PER_PROCESS: u64 = 6;
/// Descriptors one control connection may use (its socket, a log file it
/// tails).
pub const PER_CONTROL_CONNECTION: u64 = 2;
/// Bounds of a control listener's cap.
pub const MIN_CONTROL_CAP: usize = 4;
pub const MAX_CONTROL_CAP: usize = 256;

/// Who holds which part of the descriptor limit.
pub struct Budget {
    /// The limit as set by the test that made the budget; `None`: the soft
    /// RLIMIT_NOFILE, read when asked (`minfds` raises it after start).
    fixed_limit: Option<u64>,
    /// Descriptors open when the budget was made (stdio, the daemon log,
    /// the runtime's own).
    base: u64,
    /// Configured processes.
    processes: AtomicU64,
    /// Kept for the control server's connections.
    control: AtomicU64,
    /// Lent to sources' connections now.
    lent: AtomicU64,
}

static GLOBAL: OnceLock<Budget> = OnceLock::new();

/// The process's budget, made the first time it is asked for (the daemon
/// asks early, before listeners and agents open anything).
pub fn global() -> &'static Budget {
    GLOBAL.get_or_init(|| Budget::new(open_now(), None))
}

/// Descriptors open now (64 if that cannot be known).
fn open_now() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(64)
}

impl Budget {
    pub(crate) fn new(base: u64, fixed_limit: Option<u64>) -> Budget {
        Budget {
            fixed_limit,
            base,
            processes: AtomicU64::new(0),
            control: AtomicU64::new(0),
            lent: AtomicU64::new(0),
        }
    }

    /// The soft limit of descriptors.
    pub fn limit(&self) -> u64 {
        self.fixed_limit.unwrap_or_else(|| {
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        })
    }

    /// The number of configured processes (each keeps [`PER_PROCESS`]).
    pub fn set_processes(&self, n: usize) {
        self.processes.store(n as u64, Ordering::Relaxed);
    }

    /// What neither the daemon, the processes nor the control server keep.
    fn beyond_kept(&self) -> u64 {
        self.limit()
            .saturating_sub(self.base)
            .saturating_sub(RESERVED)
            .saturating_sub(PER_PROCESS.saturating_mul(self.processes.load(Ordering::Relaxed)))
    }

    /// How many connections each of `listeners` control listeners may keep:
    /// a quarter of what the processes leave, within
    /// [`MIN_CONTROL_CAP`]..=[`MAX_CONTROL_CAP`]. What they may use is kept
    /// from the sources' connections.
    pub fn control_cap(&self, listeners: usize) -> usize {
        let listeners = listeners.max(1) as u64;
        let per_listener = self.beyond_kept() / 4 / PER_CONTROL_CONNECTION / listeners;
        let cap = usize::try_from(per_listener)
            .unwrap_or(MAX_CONTROL_CAP)
            .clamp(MIN_CONTROL_CAP, MAX_CONTROL_CAP);
        self.control.store(
            cap as u64 * PER_CONTROL_CONNECTION * listeners,
            Ordering::Relaxed,
        );
        cap
    }

    /// How many descriptors sources' connections may hold in all.
    pub fn shares_allowed(&self) -> u64 {
        self.beyond_kept()
            .saturating_sub(self.control.load(Ordering::Relaxed))
    }

    /// One descriptor for a source's connection, if the budget has one.
    pub fn share(&'static self) -> Option<Share> {
        let allowed = self.shares_allowed();
        self.lent
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |lent| {
                (lent < allowed).then_some(lent + 1)
            })
            .ok()
            .map(|_| Share { budget: self })
    }

    /// Descriptors lent now.
    pub fn lent(&self) -> u64 {
        self.lent.load(Ordering::Acquire)
    }
}

/// One descriptor lent to a connection: given back when dropped.
pub struct Share {
    budget: &'static Budget,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.lent.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Share")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked(base: u64, limit: u64) -> &'static Budget {
        Box::leak(Box::new(Budget::new(base, Some(limit))))
    }

    #[test]
    fn processes_come_before_connections() {
        let b = leaked(10, 1024);
        let all = b.shares_allowed();
        assert_eq!(all, 1024 - 10 - RESERVED);
        b.set_processes(100);
        assert_eq!(b.shares_allowed(), all - 100 * PER_PROCESS);
        b.set_processes(1_000_000);
        assert_eq!(b.shares_allowed(), 0);
        assert!(b.share().is_none(), "nothing to lend");
    }

    #[test]
    fn the_control_cap_is_bounded_and_kept_from_the_shares() {
        let b = leaked(10, 1024);
        let before = b.shares_allowed();
        let cap = b.control_cap(2);
        assert!((MIN_CONTROL_CAP..=MAX_CONTROL_CAP).contains(&cap));
        assert_eq!(
            b.shares_allowed(),
            before - cap as u64 * 2 * PER_CONTROL_CONNECTION
        );
        let tiny = leaked(100, 128);
        assert_eq!(tiny.control_cap(1), MIN_CONTROL_CAP);
        let huge = leaked(10, 1 << 20);
        assert_eq!(huge.control_cap(1), MAX_CONTROL_CAP);
    }

    #[test]
    fn shares_are_lent_up_to_the_budget_and_given_back() {
        let b = leaked(0, RESERVED + 3);
        let shares: Vec<Share> = (0..3).map(|_| b.share().expect("room")).collect();
        assert!(b.share().is_none());
        assert_eq!(b.lent(), 3);
        drop(shares);
        assert_eq!(b.lent(), 0);
        assert!(b.share().is_some());
    }
}
