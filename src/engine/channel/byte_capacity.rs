//! `byteCapacity` of the memory and spillablememory channels, counted the
//! way Flume counts it, so that a file tuned for Flume limits the same
//! events: in slots (100 bytes for `memory`, `avgEventSize` for
//! `spillablememory`). The channel has `byteCapacity` less its
//! `byteCapacityBufferPercentage`, divided into whole slots; an event
//! costs its body's length divided by the slot size, rounded up (an empty
//! body counts as one byte), as Flume 1.11's channels count (read from
//! its classes; tests/flume_diff.rs compares). Under one slot in all means
//! no byte limit, as in Flume.

use super::ChannelError;
use crate::engine::config::props::Range;
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;

/// The memory channel's slot (Flume's `byteCapacitySlotSize`).
pub const MEMORY_SLOT: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteCapacity {
    slots: u64,
    slot: u64,
}

impl ByteCapacity {
    /// `slots` slots of `slot` bytes (at least 1 each).
    pub fn new(slots: u64, slot: u64) -> ByteCapacity {
        ByteCapacity {
            slots: slots.max(1),
            slot: slot.max(1),
        }
    }

    /// From `byteCapacity` and `byteCapacityBufferPercentage` (20); `None`
    /// without a byteCapacity, or with less than one slot.
    pub fn from_props(props: &Props, diags: &mut Diags, slot: u64) -> Option<ByteCapacity> {
        let percent = props.number(
            diags,
            "byteCapacityBufferPercentage",
            20,
            Range::new(0, 100),
        );
        let bytes = props
            .get("byteCapacity")
            .filter(|v| !v.is_empty())
            .map(|_| props.bytes(diags, "byteCapacity", 0, 0))?;
        // Flume's arithmetic: doubles, then a cast to int (which saturates).
        let slots = (bytes as f64 * (1.0 - percent as f64 * 0.01)) / slot.max(1) as f64;
        let slots = slots.min(i32::MAX as f64) as u64;
        (slots >= 1).then(|| ByteCapacity::new(slots, slot))
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// What one event costs.
    pub fn weight(&self, e: &Event) -> u64 {
        (e.size().max(1) as u64).div_ceil(self.slot)
    }

    /// What these events cost.
    pub fn weigh(&self, events: &[Event]) -> u64 {
        events.iter().map(|e| self.weight(e)).sum()
    }

    fn describe(&self) -> String {
        let s = if self.slots == 1 { "" } else { "s" };
        format!(
            "its byteCapacity ({} slot{s} of {} bytes after byteCapacityBufferPercentage)",
            self.slots, self.slot
        )
    }
}

/// What `events` cost against `cap` (nothing without one).
pub fn weigh(cap: Option<ByteCapacity>, events: &[Event]) -> u64 {
    cap.map_or(0, |c| c.weigh(events))
}

/// Whether `more` slots fit beside `used` ones.
pub fn fits(cap: Option<ByteCapacity>, used: u64, more: u64) -> bool {
    cap.is_none_or(|c| used + more <= c.slots)
}

/// The events of `events` larger than the whole of `cap` (see
/// `Channel::refuse`): no put can ever take them.
pub fn refuse_larger(
    name: &str,
    cap: Option<ByteCapacity>,
    events: &[Event],
    out: &mut Vec<(usize, String)>,
) {
    let Some(cap) = cap else { return };
    for (i, e) in events.iter().enumerate() {
        let w = cap.weight(e);
        if w > cap.slots {
            out.push((
                i,
                format!(
                    "channel {name} can never hold this event: {} bytes take {w} slots, more than {}",
                    e.size(),
                    cap.describe()
                ),
            ));
        }
    }
}

/// A transaction costing `slots` that can never fit in `cap`.
pub fn never_fits(
    name: &str,
    cap: Option<ByteCapacity>,
    n: usize,
    slots: u64,
) -> Option<ChannelError> {
    let cap = cap?;
    (slots > cap.slots).then(|| {
        ChannelError::NeverFits(format!(
            "channel {name}: a put of {n} events takes {slots} slots, more than {}",
            cap.describe()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_as_flume_does() {
        let cap = ByteCapacity::new(8, MEMORY_SLOT);
        assert_eq!(cap.weight(&Event::new(&b""[..])), 1);
        assert_eq!(cap.weight(&Event::new(vec![b'x'; 100])), 1);
        assert_eq!(cap.weight(&Event::new(vec![b'x'; 101])), 2);
        assert_eq!(cap.weight(&Event::new(vec![b'x'; 899])), 9);
        assert!(fits(Some(cap), 6, 2));
        assert!(!fits(Some(cap), 7, 2));
        assert!(fits(None, u64::MAX / 2, 5));
    }
}
