//! The channel's events in memory, in log order, with their pointers.
//! Kept as the batches they were put in: a put joins the queue and a take
//! of a whole batch leaves it without touching each event (a put and a
//! take are usually the same size), so large batches cost no per-event
//! moves here.

use std::collections::VecDeque;

use super::log::Ptr;
use crate::engine::event::Event;

/// One batch: `ptrs[i]` is where `events[i]` is in the log.
struct Segment {
    ptrs: VecDeque<Ptr>,
    events: VecDeque<Event>,
}

#[derive(Default)]
pub struct Queue {
    segments: VecDeque<Segment>,
    len: usize,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn segment(ptrs: Vec<Ptr>, events: Vec<Event>) -> Option<Segment> {
        debug_assert_eq!(ptrs.len(), events.len());
        (!events.is_empty()).then(|| Segment {
            ptrs: ptrs.into(),
            events: events.into(),
        })
    }

    /// After everything queued (a committed put).
    pub fn push_back(&mut self, ptrs: Vec<Ptr>, events: Vec<Event>) {
        self.len += events.len();
        self.segments.extend(Self::segment(ptrs, events));
    }

    /// Before everything queued (a rolled-back take).
    pub fn push_front(&mut self, ptrs: Vec<Ptr>, events: Vec<Event>) {
        self.len += events.len();
        if let Some(s) = Self::segment(ptrs, events) {
            self.segments.push_front(s);
        }
    }

    /// Up to `max` events from the front, with their pointers.
    pub fn take(&mut self, max: usize) -> (Vec<Ptr>, Vec<Event>) {
        let mut ptrs: Vec<Ptr> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        while events.len() < max {
            let want = max - events.len();
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            if front.events.len() > want {
                ptrs.extend(front.ptrs.drain(..want));
                events.extend(front.events.drain(..want));
            } else if let Some(s) = self.segments.pop_front() {
                if events.is_empty() {
                    // The whole batch: its vectors change hands.
                    ptrs = s.ptrs.into();
                    events = s.events.into();
                } else {
                    ptrs.extend(s.ptrs);
                    events.extend(s.events);
                }
            }
        }
        self.len -= events.len();
        (ptrs, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(from: u64, n: u64) -> (Vec<Ptr>, Vec<Event>) {
        (from..from + n)
            .map(|i| (Ptr { file: 1, offset: i }, Event::new(i.to_string())))
            .unzip()
    }

    fn offsets(p: &[Ptr]) -> Vec<u64> {
        p.iter().map(|p| p.offset).collect()
    }

    #[test]
    fn takes_cross_and_split_batches_in_order() {
        let mut q = Queue::default();
        for (from, n) in [(0, 3), (3, 0), (3, 5), (8, 2)] {
            let (p, e) = batch(from, n);
            q.push_back(p, e);
        }
        assert_eq!(q.len(), 10);
        let (p, e) = q.take(4);
        assert_eq!(offsets(&p), [0, 1, 2, 3]);
        assert_eq!(e[3].body, "3");
        let (p, _) = q.take(2);
        assert_eq!(offsets(&p), [4, 5]);
        // Rolled back: first again.
        q.push_front(p, vec![Event::new("4"), Event::new("5")]);
        let (p, e) = q.take(100);
        assert_eq!(offsets(&p), [4, 5, 6, 7, 8, 9]);
        assert_eq!(e.len(), 6);
        assert!(q.is_empty());
        assert_eq!(q.take(5).1.len(), 0);
    }
}
