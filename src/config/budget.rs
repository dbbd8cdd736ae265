//! The expansion budget: how many bytes one config load may make out of
//! its values. A value is expanded once per process of a `numprocs`
//! program, and some values (the daemon's `environment`, `exitcodes`,
//! `user`, ...) are copied into every process, so a short config could
//! otherwise ask for gigabytes (10^4 processes of a 100 kB `%(ENV_X)s`).
//!
//! Each expanded value may take [`VALUE_MAX`] bytes, and one load
//! [`LOAD_MAX`] in all, expansions and per-process copies together. The
//! first value past the total is one error naming its file, line and key;
//! from then on nothing more is expanded (each later value fails quietly),
//! so the load ends fast with that one error.

use super::diagnostic::{Diags, Place};

/// The most one value may expand to: far beyond any command, path or
/// environment a process is given (Linux refuses a single argument or
/// environment string over 128 KiB).
pub const VALUE_MAX: usize = 1 << 20;

/// The most one load may expand and copy, in all.
pub const LOAD_MAX: usize = 64 << 20;

/// Bytes left to one load.
#[derive(Debug)]
pub struct Budget {
    left: usize,
    /// The total ran out (and was reported).
    spent: bool,
    /// Values refused so far (too long, or past the total), so that a
    /// `numprocs` loop can stop at the first.
    refusals: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            left: LOAD_MAX,
            spent: false,
            refusals: 0,
        }
    }
}

/// What [`Budget::take`] found.
enum Take {
    Taken,
    /// Not enough left: the total runs out here.
    RanOut,
    /// It had run out before.
    Spent,
}

impl Budget {
    fn take(&mut self, n: usize) -> Take {
        if self.spent {
            return Take::Spent;
        }
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Take::Taken
            }
            None => {
                self.spent = true;
                Take::RanOut
            }
        }
    }
}

impl Diags {
    /// Has the load's budget run out? Then nothing more is expanded.
    pub fn budget_spent(&self) -> bool {
        self.budget().spent
    }

    /// How many values have been refused so far.
    pub fn refusals(&self) -> usize {
        self.budget().refusals
    }

    /// Count `bytes` that `at` makes (an expansion, or a copy of one for a
    /// process: `what` says which). The first time the total runs out, the
    /// error, at `at`; false then and from then on.
    pub fn charge(&mut self, at: Place<'_>, bytes: usize, what: &str) -> bool {
        match self.budget_mut().take(bytes) {
            Take::Taken => return true,
            Take::Spent => return false,
            Take::RanOut => {}
        }
        self.budget_mut().refusals += 1;
        self.error(
            at,
            format!(
                "{what} takes the load past the {} MiB ({LOAD_MAX} bytes) that all the \
                 expansions of a config and their copies for each process may take; nothing \
                 more was read (a value of a program of numprocs=N counts N times: make it \
                 shorter, or run fewer processes)",
                LOAD_MAX >> 20
            ),
        );
        false
    }

    /// Report a value that would expand to more than [`VALUE_MAX`].
    pub fn refuse_value(&mut self, at: Place<'_>, shown: &str) {
        self.budget_mut().refusals += 1;
        self.error(
            at,
            format!(
                "'{shown}' expands to more than {} MiB ({VALUE_MAX} bytes), the most a value \
                 may take",
                VALUE_MAX >> 20
            ),
        );
    }
}
