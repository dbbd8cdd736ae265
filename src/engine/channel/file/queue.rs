//! The channel's events, in log order, with their pointers.
//!
//! Kept as the batches they were put in: a put joins the queue and a take
//! of a whole batch leaves it without touching each event (a put and a
//! take are usually the same size), so large batches cost no per-event
//! moves here.
//!
//! A batch keeps its events in memory while the events held weigh less
//! than the queue's budget; past it, a batch keeps only its pointers and a
//! take gets those to read back from the data files. So the backlog of a
//! stalled sink lives on disk, as in Flume, and memory stays bounded
//! whatever the capacity.

use std::collections::VecDeque;

use super::log::Ptr;
use crate::engine::event::Event;

/// What an event held in memory is counted as: its bytes plus about what
/// its struct and buffer handle cost.
pub fn weight(e: &Event) -> usize {
    const OVERHEAD: usize = 64;
    OVERHEAD
        + e.body.len()
        + e.headers
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// One batch: `ptrs[i]` is where its i-th event is in the log.
struct Segment {
    ptrs: VecDeque<Ptr>,
    /// The events, or `None`: on disk only.
    events: Option<VecDeque<Event>>,
    /// The events' weight (0 on disk).
    weight: usize,
}

pub struct Queue {
    segments: VecDeque<Segment>,
    len: usize,
    /// The weight of the events held in memory, and the most it may be
    /// (a rollback's events are held even past it).
    held: usize,
    budget: usize,
}

impl Queue {
    pub fn new(budget: usize) -> Queue {
        Queue {
            segments: VecDeque::new(),
            len: 0,
            held: 0,
            budget,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The weight of the events held in memory.
    pub fn held(&self) -> usize {
        self.held
    }

    /// A segment of `ptrs` with their `events` (of this `weight`), or on
    /// disk only.
    fn segment(&mut self, ptrs: Vec<Ptr>, events: Option<(Vec<Event>, usize)>) -> Option<Segment> {
        if ptrs.is_empty() {
            return None;
        }
        debug_assert!(events.as_ref().is_none_or(|(e, _)| e.len() == ptrs.len()));
        self.len += ptrs.len();
        let (events, weight) = match events {
            Some((e, w)) => (Some(e), w),
            None => (None, 0),
        };
        self.held += weight;
        Some(Segment {
            ptrs: ptrs.into(),
            events: events.map(VecDeque::from),
            weight,
        })
    }

    /// After everything queued (a committed put): held in memory if the
    /// budget allows, else on disk only.
    pub fn push_back(&mut self, ptrs: Vec<Ptr>, events: Vec<Event>) {
        let w = events.iter().map(weight).sum();
        self.push_back_weighed(ptrs, events, w)
    }

    /// `push_back` of events whose weight the caller has summed.
    pub fn push_back_weighed(&mut self, ptrs: Vec<Ptr>, events: Vec<Event>, w: usize) {
        let events = (self.held + w <= self.budget).then_some((events, w));
        if let Some(s) = self.segment(ptrs, events) {
            self.segments.push_back(s);
        }
    }

    /// After everything queued, on disk only (replayed events).
    pub fn push_back_on_disk(&mut self, ptrs: Vec<Ptr>) {
        if let Some(s) = self.segment(ptrs, None) {
            self.segments.push_back(s);
        }
    }

    /// Before everything queued (a rolled-back take, or one whose events
    /// could not be read back: `None`).
    pub fn push_front(&mut self, ptrs: Vec<Ptr>, events: Option<Vec<Event>>) {
        let events = events.map(|e| {
            let w = e.iter().map(weight).sum();
            (e, w)
        });
        if let Some(s) = self.segment(ptrs, events) {
            self.segments.push_front(s);
        }
    }

    /// Up to `max` events from the front with their pointers; the events
    /// are `None` when they are on disk (to be read back by the caller).
    /// A take stops where memory and disk meet, so it may get fewer.
    pub fn take(&mut self, max: usize) -> (Vec<Ptr>, Option<Vec<Event>>) {
        let Some(on_disk) = self.segments.front().map(|s| s.events.is_none()) else {
            return (Vec::new(), Some(Vec::new()));
        };
        let mut ptrs: Vec<Ptr> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        while ptrs.len() < max {
            let want = max - ptrs.len();
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            if front.events.is_none() != on_disk {
                break;
            }
            if front.ptrs.len() > want {
                ptrs.extend(front.ptrs.drain(..want));
                if let Some(evs) = front.events.as_mut() {
                    let part: Vec<Event> = evs.drain(..want).collect();
                    let w: usize = part.iter().map(weight).sum();
                    front.weight -= w;
                    self.held -= w;
                    events.extend(part);
                }
            } else if let Some(s) = self.segments.pop_front() {
                self.held -= s.weight;
                if ptrs.is_empty() {
                    // The whole batch: its vectors change hands.
                    ptrs = s.ptrs.into();
                    events = s.events.map(Vec::from).unwrap_or_default();
                } else {
                    ptrs.extend(s.ptrs);
                    events.extend(s.events.into_iter().flatten());
                }
            }
        }
        self.len -= ptrs.len();
        (ptrs, (!on_disk).then_some(events))
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
        let mut q = Queue::new(usize::MAX);
        for (from, n) in [(0, 3), (3, 0), (3, 5), (8, 2)] {
            let (p, e) = batch(from, n);
            q.push_back(p, e);
        }
        assert_eq!(q.len(), 10);
        let (p, e) = q.take(4);
        let e = e.unwrap();
        assert_eq!(offsets(&p), [0, 1, 2, 3]);
        assert_eq!(e[3].body, "3");
        let (p, _) = q.take(2);
        assert_eq!(offsets(&p), [4, 5]);
        // Rolled back: first again.
        q.push_front(p, Some(vec![Event::new("4"), Event::new("5")]));
        let (p, e) = q.take(100);
        assert_eq!(offsets(&p), [4, 5, 6, 7, 8, 9]);
        assert_eq!(e.unwrap().len(), 6);
        assert!(q.is_empty());
        assert_eq!(q.held(), 0);
        assert_eq!(q.take(5).0.len(), 0);
    }

    #[test]
    fn past_the_budget_batches_keep_only_their_pointers() {
        let one = weight(&Event::new("0"));
        // Room for four events in memory.
        let mut q = Queue::new(4 * one);
        for from in [0, 3, 6, 9] {
            let (p, e) = batch(from, 3);
            q.push_back(p, e);
        }
        assert_eq!(q.len(), 12);
        // 0-2 held; 3-5 would pass the budget: on disk, and so on.
        assert_eq!(q.held(), 3 * one);
        let (p, e) = q.take(10);
        assert_eq!(offsets(&p), [0, 1, 2]);
        assert_eq!(e.unwrap().len(), 3);
        assert_eq!(q.held(), 0);
        // Disk batches come out together, without events.
        let (p, e) = q.take(4);
        assert_eq!(offsets(&p), [3, 4, 5, 6]);
        assert!(e.is_none());
        // Read back, then rolled back: held again, first again.
        let back: Vec<Event> = offsets(&p)
            .iter()
            .map(|i| Event::new(i.to_string()))
            .collect();
        q.push_front(p, Some(back));
        assert_eq!(q.held(), 4 * one);
        let (p, e) = q.take(100);
        assert_eq!(offsets(&p), [3, 4, 5, 6]);
        assert_eq!(e.unwrap()[0].body, "3");
        // A take that failed to read: back on disk, first.
        let (p, e) = q.take(100);
        assert_eq!(offsets(&p), [7, 8, 9, 10, 11]);
        assert!(e.is_none());
        q.push_front(p, None);
        q.push_back_on_disk(vec![Ptr { file: 2, offset: 0 }]);
        let (p, _) = q.take(100);
        assert_eq!(offsets(&p), [7, 8, 9, 10, 11, 0]);
        assert!(q.is_empty() && q.held() == 0);
    }
}
