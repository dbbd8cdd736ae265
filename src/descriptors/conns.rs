//! The connections of one listener, and how many it keeps.
//!
//! A control listener keeps at most a fixed number ([`Conns::new`], from
//! [`super::Budget::control_cap`]); a source's listener keeps as many as
//! the budget lends it descriptors ([`Conns::lent`]). When a new connection
//! finds no room, the longest idle one gives way (idle: no request being
//! answered, no event being delivered; idle the longest: since its last
//! one ended, or since it connected), and if every connection is busy the
//! new one is closed. A flood of connections that never send therefore only
//! ever displaces itself, while a client that sends at once is served.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::accept::AcceptBackoff;
use super::{Budget, Share};

/// The most often a listener's log hears that it is full.
const COMPLAIN_EVERY: Duration = Duration::from_secs(60);

/// One listener's open connections.
pub struct Conns {
    room: Room,
    /// Names the listener in log lines.
    label: String,
    state: Mutex<State>,
}

enum Room {
    /// At most this many.
    Fixed(usize),
    /// One descriptor lent by the budget each.
    Lent(&'static Budget),
}

struct State {
    next: u64,
    open: BTreeMap<u64, Slot>,
    last_complaint: Option<Instant>,
    /// The listener's failed accepts.
    backoff: AcceptBackoff,
}

struct Slot {
    /// Requests being answered or deliveries in flight.
    busy: usize,
    /// When the connection last became idle (or connected).
    idle_since: Instant,
    /// Fired to close the connection.
    close: Option<oneshot::Sender<()>>,
    /// The descriptor lent to it, for a lent listener.
    share: Option<Share>,
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

/// What a new connection got: a place (or none: close it at once), and a
/// line for the listener's log, now and then, when it is full.
pub struct Admission {
    pub admitted: Option<Admitted>,
    pub complaint: Option<String>,
}

/// A connection's place among its listener's: dropped when it ends.
pub struct Ticket {
    conns: Arc<Conns>,
    id: u64,
}

/// Held while the connection is busy (a request answered, a delivery in
/// flight): it is not closed for a new one meanwhile.
pub struct Busy {
    conns: Arc<Conns>,
    id: u64,
}

impl Conns {
    /// A listener that keeps at most `cap` connections.
    pub fn new(cap: usize, label: String) -> Arc<Conns> {
        Conns::with_room(Room::Fixed(cap.max(1)), label)
    }

    /// A listener that keeps as many connections as `budget` lends it
    /// descriptors.
    pub fn lent(budget: &'static Budget, label: String) -> Arc<Conns> {
        Conns::with_room(Room::Lent(budget), label)
    }

    fn with_room(room: Room, label: String) -> Arc<Conns> {
        Arc::new(Conns {
            room,
            label,
            state: Mutex::new(State {
                next: 0,
                open: BTreeMap::new(),
                last_complaint: None,
                backoff: AcceptBackoff::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// An accept failed: how long to wait before the next, and a line for
    /// the listener's log now and then. Out of descriptors, the longest
    /// idle connection is closed to free one.
    pub fn accept_failed(&self, e: &std::io::Error) -> (Duration, Option<String>) {
        let mut st = self.lock();
        let failed = st.backoff.failed(e);
        if failed.out_of_descriptors {
            close_longest_idle(&mut st);
        }
        (failed.wait, failed.complaint)
    }

    /// A place for a newly accepted connection, if one is free or an idle
    /// connection gives way.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut st = self.lock();
        st.backoff.succeeded();
        let mut gave_way = false;
        let mut share = None;
        let full = match self.room {
            Room::Fixed(cap) => st.open.len() >= cap,
            Room::Lent(budget) => {
                share = budget.share();
                share.is_none()
            }
        };
        let mut complaint = None;
        if full {
            let open = st.open.len();
            if let Some(its_share) = close_longest_idle(&mut st) {
                gave_way = true;
                share = its_share;
            }
            let now = Instant::now();
            if st
                .last_complaint
                .is_none_or(|t| now.duration_since(t) >= COMPLAIN_EVERY)
            {
                st.last_complaint = Some(now);
                let most = match self.room {
                    Room::Fixed(_) => "the most it keeps".to_string(),
                    Room::Lent(budget) => format!(
                        "all the descriptors its connections may have now ({} lent of {})",
                        budget.lent(),
                        budget.shares_allowed()
                    ),
                };
                complaint = Some(format!(
                    "{open} connections open on {}, {most}; {}",
                    self.label,
                    if gave_way {
                        "the longest idle ones give way to new ones"
                    } else {
                        "all are busy: new ones are closed"
                    }
                ));
            }
            if !gave_way {
                return Admission {
                    admitted: None,
                    complaint,
                };
            }
        }
        let id = st.next;
        st.next += 1;
        let (tx, rx) = oneshot::channel();
        st.open.insert(
            id,
            Slot {
                busy: 0,
                idle_since: Instant::now(),
                close: Some(tx),
                share,
            },
        );
        Admission {
            admitted: Some(Admitted {
                ticket: Ticket {
                    conns: self.clone(),
                    id,
                },
                closed: rx,
                gave_way,
            }),
            complaint,
        }
    }

    /// Close the longest idle connection; false if none is idle.
    #[cfg(test)]
    fn close_one_idle(&self) -> bool {
        close_longest_idle(&mut self.lock()).is_some()
    }
}

/// Tell the longest idle connection to close, and take its place: `None`
/// if every one is busy, else the descriptor lent to it (if any).
fn close_longest_idle(st: &mut State) -> Option<Option<Share>> {
    let id = st
        .open
        .iter()
        .filter(|(_, s)| s.busy == 0)
        .min_by_key(|(id, s)| (s.idle_since, **id))
        .map(|(id, _)| *id)?;
    let mut slot = st.open.remove(&id)?;
    if let Some(close) = slot.close.take() {
        let _ = close.send(());
    }
    Some(slot.share.take())
}

impl Ticket {
    /// The connection is busy until the guard goes.
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
            if slot.busy == 0 {
                slot.idle_since = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(conns: &Arc<Conns>) -> (Ticket, oneshot::Receiver<()>, bool) {
        let a = conns.admit().admitted.expect("a place");
        (a.ticket, a.closed, a.gave_way)
    }

    #[test]
    fn the_longest_idle_connection_gives_way_and_busy_ones_stay() {
        let conns = Conns::new(2, "test".into());
        let (a, mut a_closed, _) = admit(&conns);
        let (b, mut b_closed, gave_way) = admit(&conns);
        assert!(!gave_way);
        let busy_a = a.busy();
        // Full: b (idle) gives way to c; a is busy.
        let admission = conns.admit();
        assert!(
            admission
                .complaint
                .as_deref()
                .is_some_and(|c| c.starts_with("2 connections open on test, the most it keeps")),
        );
        let c = admission.admitted.expect("b gave way");
        assert!(c.gave_way);
        let (c, mut c_closed) = (c.ticket, c.closed);
        assert!(b_closed.try_recv().is_ok());
        assert!(a_closed.try_recv().is_err());
        drop(b);
        assert_eq!(conns.len(), 2);
        let busy_c = c.busy();
        // Every one busy: the new one is refused (and no second complaint
        // within the minute).
        let refused = conns.admit();
        assert!(refused.admitted.is_none() && refused.complaint.is_none());
        drop(busy_a);
        // a idle again: it goes.
        assert!(conns.admit().admitted.is_some());
        assert!(a_closed.try_recv().is_ok());
        assert!(c_closed.try_recv().is_err());
        drop(busy_c);
        assert!(conns.close_one_idle());
    }

    #[test]
    fn idle_the_longest_is_counted_from_the_last_busy_moment() {
        let conns = Conns::new(2, "test".into());
        let (old, mut old_closed, _) = admit(&conns);
        let (new, mut new_closed, _) = admit(&conns);
        // The older connection was just busy: the newer one has been idle
        // longer since.
        drop(old.busy());
        let (_third, _, gave_way) = admit(&conns);
        assert!(gave_way);
        assert!(new_closed.try_recv().is_ok());
        assert!(old_closed.try_recv().is_err());
        drop((old, new));
    }

    #[test]
    fn a_lent_listener_keeps_as_many_as_the_budget_lends_and_passes_shares_on() {
        let budget: &'static Budget =
            Box::leak(Box::new(Budget::new(0, Some(super::super::RESERVED + 2))));
        let conns = Conns::lent(budget, "127.0.0.1:1".into());
        let (a, mut a_closed, _) = admit(&conns);
        let (b, _b_closed, _) = admit(&conns);
        assert_eq!(budget.lent(), 2);
        let busy_b = b.busy();
        // No share left: a (idle) gives way and its share goes to c.
        let admission = conns.admit();
        let complaint = admission.complaint.expect("told");
        assert!(
            complaint.starts_with("2 connections open on 127.0.0.1:1, all the descriptors"),
            "{complaint}"
        );
        let c = admission.admitted.expect("a gave way");
        assert!(a_closed.try_recv().is_ok());
        drop(a);
        assert_eq!(budget.lent(), 2);
        let busy_c = c.ticket.busy();
        assert!(conns.admit().admitted.is_none(), "every one is busy");
        drop((busy_b, busy_c, b, c));
        assert_eq!(budget.lent(), 0, "every share given back");
    }
}
