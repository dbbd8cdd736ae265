//! The connections of one listener, and how many it keeps.
//!
//! Each listener keeps at most `cap` connections, a number chosen from the
//! daemon's descriptor limit ([`cap_for`]) so that connections can never
//! take the descriptors that spawning programs and writing logs need. At
//! the cap, a new connection makes the longest idle one give way (idle: not
//! answering an authorized request; a client that connected and never sent
//! a byte, or one that was refused and is still sending, is idle); if every
//! connection is busy, the new one is closed. A flood of connections that
//! never send therefore only ever displaces itself, while a client that
//! sends its request at once is answered.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Descriptors kept for the daemon itself beyond those open when the
/// server starts: spawns in progress (a spawn holds about ten for a moment),
/// log files reopened, reads of log files.
const RESERVED: u64 = 64;
/// Descriptors kept for each process (two pipes, stdin, two log files).
const PER_PROCESS: u64 = 6;
/// Descriptors one connection may use (its socket, a log file it tails).
const PER_CONNECTION: u64 = 2;
/// Bounds of a listener's cap.
const MIN_CAP: usize = 4;
pub const MAX_CAP: usize = 256;
/// The most often the daemon log hears about a full listener.
const COMPLAIN_EVERY: Duration = Duration::from_secs(60);

/// How many connections each of `listeners` may keep so that `processes`
/// programs still have their descriptors: what the soft RLIMIT_NOFILE
/// leaves beyond the descriptors open now and those kept in reserve.
pub fn cap_for(processes: usize, listeners: usize) -> usize {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(64);
    let kept = RESERVED
        .saturating_add(open)
        .saturating_add(PER_PROCESS.saturating_mul(processes as u64));
    let per_listener = limit.saturating_sub(kept) / PER_CONNECTION / listeners.max(1) as u64;
    usize::try_from(per_listener)
        .unwrap_or(MAX_CAP)
        .clamp(MIN_CAP, MAX_CAP)
}

/// One listener's open connections, oldest first.
pub struct Conns {
    cap: usize,
    /// Names the listener in log lines.
    label: String,
    state: Mutex<State>,
}

struct State {
    next: u64,
    open: BTreeMap<u64, Slot>,
    last_complaint: Option<Instant>,
}

struct Slot {
    /// Authorized requests being answered.
    busy: usize,
    /// Fired to close the connection.
    close: Option<oneshot::Sender<()>>,
}

/// A new connection's place.
pub struct Admitted {
    pub ticket: Ticket,
    /// Fires when the connection must close (to give way to a newer one).
    pub closed: oneshot::Receiver<()>,
    /// An idle connection was told to close for this one: the caller lets
    /// it run (and close its socket) before accepting more.
    pub gave_way: bool,
}

/// A connection's place among its listener's: dropped when it ends.
pub struct Ticket {
    conns: Arc<Conns>,
    id: u64,
}

/// Held while an authorized request is answered (until its response body
/// is dropped): the connection is busy and is not closed for a new one.
pub struct Busy {
    conns: Arc<Conns>,
    id: u64,
}

impl Conns {
    pub fn new(cap: usize, label: String) -> Arc<Conns> {
        Arc::new(Conns {
            cap: cap.max(1),
            label,
            state: Mutex::new(State {
                next: 0,
                open: BTreeMap::new(),
                last_complaint: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection; `None`: every place is busy, close
    /// the new one.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut st = self.lock();
        let mut gave_way = false;
        if st.open.len() >= self.cap {
            let full_and_busy = !close_longest_idle(&mut st);
            gave_way = !full_and_busy;
            let now = Instant::now();
            if st
                .last_complaint
                .is_none_or(|t| now.duration_since(t) >= COMPLAIN_EVERY)
            {
                st.last_complaint = Some(now);
                tracing::warn!(
                    "control server: {} connections open on {}, the most it keeps; {}",
                    self.cap,
                    self.label,
                    if full_and_busy {
                        "all are busy: new ones are closed"
                    } else {
                        "the longest idle ones give way to new ones"
                    }
                );
            }
            if full_and_busy {
                return None;
            }
        }
        let id = st.next;
        st.next += 1;
        let (tx, rx) = oneshot::channel();
        st.open.insert(
            id,
            Slot {
                busy: 0,
                close: Some(tx),
            },
        );
        Some(Admitted {
            ticket: Ticket {
                conns: self.clone(),
                id,
            },
            closed: rx,
            gave_way,
        })
    }

    /// Close the longest idle connection (to free a descriptor when accept
    /// fails for want of one); false if none is idle.
    pub fn close_one_idle(&self) -> bool {
        close_longest_idle(&mut self.lock())
    }
}

fn close_longest_idle(st: &mut State) -> bool {
    let Some(id) = st.open.iter().find(|(_, s)| s.busy == 0).map(|(id, _)| *id) else {
        return false;
    };
    if let Some(mut slot) = st.open.remove(&id)
        && let Some(close) = slot.close.take()
    {
        let _ = close.send(());
    }
    true
}

impl Ticket {
    /// The connection answers an authorized request until the guard goes.
    pub fn busy(&self) -> Busy {
        if let Some(slot) = self.conns.lock().open.get_mut(&self.id) {
            slot.busy += 1;
        }
        Busy {
            conns: self.conns.clone(),
            id: self.id,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.conns.lock().open.remove(&self.id);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(slot) = self.conns.lock().open.get_mut(&self.id) {
            slot.busy = slot.busy.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_gives_way_and_busy_ones_stay() {
        let conns = Conns::new(2, "test".into());
        let admit = || {
            let a = conns.admit().unwrap();
            (a.ticket, a.closed, a.gave_way)
        };
        let (a, mut a_closed, _) = admit();
        let (b, mut b_closed, gave_way) = admit();
        assert!(!gave_way);
        let busy_a = a.busy();
        // Full: b (idle) gives way to c; a is busy.
        let (c, mut c_closed, gave_way) = admit();
        assert!(gave_way);
        assert!(b_closed.try_recv().is_ok());
        assert!(a_closed.try_recv().is_err());
        drop(b);
        assert_eq!(conns.lock().open.len(), 2);
        let busy_c = c.busy();
        // Every one busy: the new one is refused.
        assert!(conns.admit().is_none());
        drop(busy_a);
        // a idle again: it goes first (the oldest).
        assert!(conns.admit().is_some());
        assert!(a_closed.try_recv().is_ok());
        assert!(c_closed.try_recv().is_err());
        drop(busy_c);
        assert!(conns.close_one_idle());
    }

    #[test]
    fn the_cap_leaves_room_for_the_programs() {
        let many = cap_for(0, 1);
        assert!((MIN_CAP..=MAX_CAP).contains(&many));
        assert!(cap_for(1_000_000, 1) == MIN_CAP);
        assert!(cap_for(0, 2) <= many);
    }
}
