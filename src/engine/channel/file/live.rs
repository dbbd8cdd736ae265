//! The pointers of every event in the channel as the log says so far
//! (committed puts not yet taken by a committed take): what a checkpoint
//! records. Kept by the writer thread, next to the log it describes.
//!
//! Puts append pointers in increasing order (the log only grows) and
//! takes remove them nearly always from the front, in order: a sorted
//! deque, removals at the front popped, others marked dead in place
//! (binary search) until the front reaches them.

use std::collections::VecDeque;

use super::log::Ptr;

/// Marks a dead entry in its offset (offsets stay far below 2^63).
const DEAD: u64 = 1 << 63;

#[derive(Default)]
pub struct LiveSet {
    ptrs: VecDeque<Ptr>,
    len: usize,
}

fn is_dead(p: &Ptr) -> bool {
    p.offset & DEAD != 0
}

fn alive(p: &Ptr) -> Ptr {
    Ptr {
        file: p.file,
        offset: p.offset & !DEAD,
    }
}

impl LiveSet {
    pub fn from_sorted(ptrs: impl IntoIterator<Item = Ptr>) -> LiveSet {
        let mut s = LiveSet::default();
        for p in ptrs {
            s.insert(p);
        }
        s
    }

    /// Add one put's pointers (increasing, after every pointer in the
    /// set: one bulk copy).
    pub fn append_sorted(&mut self, ptrs: &[Ptr]) {
        let in_order = ptrs.windows(2).all(|w| w[0] < w[1]);
        match (self.ptrs.back(), ptrs.first()) {
            (Some(last), Some(first)) if alive(last) >= *first => {}
            _ if in_order => {
                self.ptrs.extend(ptrs);
                self.len += ptrs.len();
                return;
            }
            _ => {}
        }
        // Never, as the log only grows; kept correct anyway.
        for p in ptrs {
            self.insert(*p);
        }
    }

    fn insert(&mut self, p: Ptr) {
        match self.ptrs.back() {
            Some(last) if alive(last) >= p => {
                if let Err(i) = self.ptrs.binary_search_by(|q| alive(q).cmp(&p)) {
                    self.ptrs.insert(i, p);
                    self.len += 1;
                }
            }
            _ => {
                self.ptrs.push_back(p);
                self.len += 1;
            }
        }
    }

    /// Remove a committed take's pointers (unknown ones are ignored).
    pub fn remove_all(&mut self, ptrs: &[Ptr]) {
        // The usual take: exactly the oldest events, none dead among them.
        let k = ptrs.len();
        if k <= self.ptrs.len() && self.ptrs.range(..k).eq(ptrs) {
            self.ptrs.drain(..k);
            self.len -= k;
            while self.ptrs.front().is_some_and(is_dead) {
                self.ptrs.pop_front();
            }
            return;
        }
        for p in ptrs {
            if self.ptrs.front() == Some(p) {
                self.ptrs.pop_front();
                self.len -= 1;
            } else if let Ok(i) = self.ptrs.binary_search_by(|q| alive(q).cmp(p))
                && !is_dead(&self.ptrs[i])
            {
                self.ptrs[i].offset |= DEAD;
                self.len -= 1;
            }
            while self.ptrs.front().is_some_and(is_dead) {
                self.ptrs.pop_front();
            }
        }
    }

    /// Whether `ptrs` are exactly the oldest events in the set, in order
    /// (then every live pointer from the first to the last is one of them).
    pub fn is_front(&self, ptrs: &[Ptr]) -> bool {
        let k = ptrs.len();
        k > 0 && k <= self.ptrs.len() && self.ptrs.range(..k).eq(ptrs)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn first(&self) -> Option<Ptr> {
        // The front is never dead (removals pop dead ones).
        self.ptrs.front().copied()
    }

    /// The newest pointer in the set.
    pub fn last(&self) -> Option<Ptr> {
        self.ptrs.iter().rev().find(|p| !is_dead(p)).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = Ptr> + '_ {
        self.ptrs.iter().filter(|p| !is_dead(p)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(file: u32, offset: u64) -> Ptr {
        Ptr { file, offset }
    }

    #[test]
    fn keeps_log_order_through_out_of_order_removals() {
        let mut s = LiveSet::from_sorted([p(1, 16), p(1, 40), p(1, 80)]);
        s.append_sorted(&[p(2, 16), p(2, 30)]);
        s.remove_all(&[p(1, 40), p(9, 9)]); // the second is unknown: nothing
        assert_eq!(s.len(), 4);
        assert_eq!(s.first(), Some(p(1, 16)));
        s.remove_all(&[p(1, 16)]);
        assert_eq!(s.first(), Some(p(1, 80)));
        s.remove_all(&[p(1, 80), p(1, 80)]); // twice: counted once
        assert_eq!(s.iter().collect::<Vec<_>>(), [p(2, 16), p(2, 30)]);
        assert_eq!(s.len(), 2);
        s.append_sorted(&[p(1, 99)]); // out of order (never happens): still sorted
        assert_eq!(s.iter().collect::<Vec<_>>(), [p(1, 99), p(2, 16), p(2, 30)]);
        s.remove_all(&[p(2, 16)]);
        s.remove_all(&[p(2, 16)]); // dead already: counted once
        assert_eq!(s.len(), 2);
        s.remove_all(&[p(1, 99), p(2, 30)]);
        assert!(s.is_empty());
        assert_eq!(s.first(), None);
    }

    #[test]
    fn only_the_exact_oldest_events_are_the_front() {
        let mut s = LiveSet::from_sorted([p(1, 16), p(1, 40), p(1, 80), p(2, 16)]);
        assert!(s.is_front(&[p(1, 16), p(1, 40)]));
        assert!(!s.is_front(&[p(1, 40), p(1, 80)]));
        assert!(!s.is_front(&[p(1, 16), p(1, 80)]));
        assert!(!s.is_front(&[]));
        // A removed event in between: what is left is not a run.
        s.remove_all(&[p(1, 40)]);
        assert!(!s.is_front(&[p(1, 16), p(1, 80)]));
        s.remove_all(&[p(1, 16)]);
        assert!(s.is_front(&[p(1, 80), p(2, 16)]));
        assert!(!s.is_front(&[p(1, 80), p(2, 16), p(3, 16)]));
    }
}
