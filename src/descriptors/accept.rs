//! What a listener does when `accept` fails (out of descriptors, mostly):
//! wait, longer each time, and say so at most once a minute, with how many
//! failed since the last line, instead of spinning or logging each one.

use std::io;
use std::time::{Duration, Instant};

/// The first wait after a failed accept; it doubles up to [`MAX_WAIT`].
const MIN_WAIT: Duration = Duration::from_millis(10);
const MAX_WAIT: Duration = Duration::from_secs(1);
/// The most often a failing accept is logged.
const COMPLAIN_EVERY: Duration = Duration::from_secs(60);

/// One listener's failed accepts.
#[derive(Debug)]
pub struct AcceptBackoff {
    wait: Duration,
    failures: u64,
    last_complaint: Option<Instant>,
}

/// What to do about one failed accept.
#[derive(Debug)]
pub struct Failed {
    /// How long to wait before accepting again.
    pub wait: Duration,
    /// A line for the log, now and then.
    pub complaint: Option<String>,
    /// Out of descriptors: closing an idle connection frees one.
    pub out_of_descriptors: bool,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            wait: MIN_WAIT,
            failures: 0,
            last_complaint: None,
        }
    }
}

impl AcceptBackoff {
    pub fn failed(&mut self, e: &io::Error) -> Failed {
        self.failures += 1;
        let now = Instant::now();
        let complaint = if self
            .last_complaint
            .is_none_or(|t| now.duration_since(t) >= COMPLAIN_EVERY)
        {
            self.last_complaint = Some(now);
            let n = std::mem::take(&mut self.failures);
            Some(format!(
                "accept failed ({n} times since the last such line): {e}"
            ))
        } else {
            None
        };
        let wait = self.wait;
        self.wait = (self.wait * 2).min(MAX_WAIT);
        Failed {
            wait,
            complaint,
            out_of_descriptors: matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)),
        }
    }

    /// An accept worked: the next failure waits briefly again.
    pub fn succeeded(&mut self) {
        self.wait = MIN_WAIT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_wait_longer_each_time_and_are_told_once_a_minute() {
        let mut b = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let first = b.failed(&emfile);
        assert_eq!(first.wait, MIN_WAIT);
        assert!(first.out_of_descriptors);
        assert!(
            first
                .complaint
                .as_deref()
                .is_some_and(|c| c.starts_with("accept failed (1 times")),
            "{first:?}"
        );
        let mut waits = Vec::new();
        for _ in 0..20 {
            let f = b.failed(&emfile);
            assert!(f.complaint.is_none(), "{f:?}");
            waits.push(f.wait);
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), MAX_WAIT);
        b.succeeded();
        let other = b.failed(&io::Error::from_raw_os_error(libc::ECONNABORTED));
        assert_eq!(other.wait, MIN_WAIT);
        assert!(!other.out_of_descriptors);
    }
}
