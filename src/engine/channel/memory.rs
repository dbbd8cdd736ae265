//! Flume's `memory` channel: a bounded in-memory queue. Fast, and lost
//! with the process (the agent reports what it held at shutdown).
//!
//! Capacity counts events in the queue plus events taken but not yet
//! committed, as Flume's does: a sink that rolls back always finds room.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::byte_capacity::{self, ByteCapacity, MEMORY_SLOT};
use super::{Channel, ChannelError, Take, TakeTransaction};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::ChannelType;

pub const TYPE: ChannelType = ChannelType {
    name: "memory",
    aliases: &["org.apache.flume.channel.MemoryChannel"],
    build,
};

fn build(name: &str, props: &Props, diags: &mut Diags) -> Option<Arc<dyn Channel>> {
    let settings = Settings::from_props(props, diags);
    Some(Arc::new(MemoryChannel::new(name, settings)))
}

pub const DEFAULT_CAPACITY: usize = 100;
pub const DEFAULT_TRANSACTION_CAPACITY: usize = 100;
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(3);

/// The memory channel's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub capacity: usize,
    pub transaction_capacity: usize,
    /// Body bytes allowed in the channel, in Flume's slots. Flume
    /// defaults to 80% of the JVM heap; sluice has no heap, so unset means
    /// no byte limit (capacity still bounds the channel).
    pub byte_capacity: Option<ByteCapacity>,
    pub keep_alive: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            capacity: DEFAULT_CAPACITY,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY,
            byte_capacity: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

impl Settings {
    /// Read Flume's properties: capacity, transactionCapacity, byteCapacity,
    /// byteCapacityBufferPercentage, keep-alive.
    pub fn from_props(props: &Props, diags: &mut Diags) -> Settings {
        let capacity = props.count(diags, "capacity", DEFAULT_CAPACITY, 1);
        let transaction_capacity = props.count(
            diags,
            "transactionCapacity",
            DEFAULT_TRANSACTION_CAPACITY,
            1,
        );
        if transaction_capacity > capacity {
            props.error(
                diags,
                Some("transactionCapacity"),
                format!("{transaction_capacity} is higher than the capacity ({capacity})"),
            );
        }
        let byte_capacity = ByteCapacity::from_props(props, diags, MEMORY_SLOT);
        let keep_alive = props.secs(diags, "keep-alive", DEFAULT_KEEP_ALIVE.as_secs(), 0);
        Settings {
            capacity,
            transaction_capacity,
            byte_capacity,
            keep_alive,
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Event>,
    queued_slots: u64,
    /// Taken, not yet committed.
    inflight: usize,
    inflight_slots: u64,
}

struct Inner {
    name: String,
    settings: Settings,
    state: Mutex<State>,
    /// Woken when events arrive (put, rollback).
    data: Notify,
    /// Woken when room frees up (take commit).
    space: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue consistent (every
        // update is a few plain field writes), so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct MemoryChannel {
    inner: Arc<Inner>,
}

impl MemoryChannel {
    pub fn new(name: impl Into<String>, settings: Settings) -> MemoryChannel {
        MemoryChannel {
            inner: Arc::new(Inner {
                name: name.into(),
                settings,
                state: Mutex::new(State::default()),
                data: Notify::new(),
                space: Notify::new(),
            }),
        }
    }
}

#[async_trait]
impl Channel for MemoryChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let inner = &self.inner;
        let s = &inner.settings;
        if events.len() > s.transaction_capacity {
            return Err(ChannelError::TooBig(format!(
                "channel {}: a put of {} events is more than transactionCapacity {}",
                inner.name,
                events.len(),
                s.transaction_capacity
            )));
        }
        if events.is_empty() {
            return Ok(());
        }
        let slots = byte_capacity::weigh(s.byte_capacity, events);
        if let Some(e) =
            byte_capacity::never_fits(&inner.name, s.byte_capacity, events.len(), slots)
        {
            return Err(e);
        }
        let deadline = tokio::time::Instant::now() + s.keep_alive;
        loop {
            let notified = inner.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = inner.lock();
                let count = st.queue.len() + st.inflight;
                let room = count + events.len() <= s.capacity;
                let byte_room = byte_capacity::fits(
                    s.byte_capacity,
                    st.queued_slots + st.inflight_slots,
                    slots,
                );
                if room && byte_room {
                    st.queue.extend(events.drain(..));
                    st.queued_slots += slots;
                    drop(st);
                    inner.data.notify_waiters();
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    let why = if room {
                        format!(
                            "channel {}: byteCapacity reached; the sinks are not keeping up with the sources",
                            inner.name
                        )
                    } else {
                        format!(
                            "channel {}: full ({} events); the sinks are not keeping up with the sources, or the capacity is too small",
                            inner.name, s.capacity
                        )
                    };
                    return Err(ChannelError::Full(why));
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    async fn take(&self, max: usize) -> Result<Take, ChannelError> {
        let inner = &self.inner;
        let max = max.clamp(1, inner.settings.transaction_capacity);
        loop {
            let notified = inner.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = inner.lock();
                if !st.queue.is_empty() {
                    let n = max.min(st.queue.len());
                    let events: Vec<Event> = st.queue.drain(..n).collect();
                    let slots = byte_capacity::weigh(inner.settings.byte_capacity, &events);
                    st.queued_slots -= slots;
                    st.inflight += n;
                    st.inflight_slots += slots;
                    let tx = MemoryTake {
                        inner: inner.clone(),
                        count: n,
                        slots,
                    };
                    return Ok(Take::new(events, Box::new(tx)));
                }
            }
            notified.await;
        }
    }

    fn transaction_capacity(&self) -> usize {
        self.inner.settings.transaction_capacity
    }

    fn refuse(&self, events: &[Event], out: &mut Vec<(usize, String)>) {
        byte_capacity::refuse_larger(
            &self.inner.name,
            self.inner.settings.byte_capacity,
            events,
            out,
        )
    }

    fn len(&self) -> usize {
        let st = self.inner.lock();
        st.queue.len() + st.inflight
    }

    async fn wait_empty(&self) {
        super::wait_until(&self.inner.space, || self.len() == 0).await
    }
}

struct MemoryTake {
    inner: Arc<Inner>,
    count: usize,
    slots: u64,
}

#[async_trait]
impl TakeTransaction for MemoryTake {
    async fn commit(self: Box<Self>) -> Result<(), ChannelError> {
        {
            let mut st = self.inner.lock();
            st.inflight -= self.count;
            st.inflight_slots -= self.slots;
        }
        self.inner.space.notify_waiters();
        Ok(())
    }

    fn rollback(self: Box<Self>, events: Vec<Event>) {
        {
            let mut st = self.inner.lock();
            st.inflight -= self.count;
            st.inflight_slots -= self.slots;
            st.queued_slots += self.slots;
            for e in events.into_iter().rev() {
                st.queue.push_front(e);
            }
        }
        self.inner.data.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::channel::testing::{bodies, ev};

    fn small(capacity: usize, tx: usize) -> MemoryChannel {
        MemoryChannel::new(
            "c1",
            Settings {
                capacity,
                transaction_capacity: tx,
                byte_capacity: None,
                keep_alive: Duration::from_millis(50),
            },
        )
    }

    #[tokio::test]
    async fn rollback_puts_events_back_at_the_head_in_order() {
        let c = small(10, 10);
        c.put(&mut vec![ev("a"), ev("b"), ev("c")]).await.unwrap();
        let t = c.take(2).await.unwrap();
        assert_eq!(bodies(&t), ["a", "b"]);
        t.rollback();
        c.put(&mut vec![ev("d")]).await.unwrap();
        let t = c.take(10).await.unwrap();
        assert_eq!(bodies(&t), ["a", "b", "c", "d"]);
        t.commit().await.unwrap();
        assert_eq!(c.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_take_gives_its_events_back() {
        let c = small(10, 10);
        c.put(&mut vec![ev("a")]).await.unwrap();
        drop(c.take(5).await.unwrap());
        assert_eq!(bodies(&c.take(5).await.unwrap()), ["a"]);
    }

    #[tokio::test]
    async fn a_full_channel_fails_the_put_after_keep_alive_and_keeps_inflight_counted() {
        let c = small(3, 3);
        c.put(&mut vec![ev("a"), ev("b"), ev("c")]).await.unwrap();
        let t = c.take(3).await.unwrap();
        // Taken but uncommitted events still occupy the channel.
        assert!(matches!(
            c.put(&mut vec![ev("d")]).await,
            Err(ChannelError::Full(_))
        ));
        t.commit().await.unwrap();
        c.put(&mut vec![ev("d")]).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_put_goes_in_when_a_take_commits() {
        let c = Arc::new(MemoryChannel::new(
            "c1",
            Settings {
                capacity: 1,
                transaction_capacity: 1,
                byte_capacity: None,
                keep_alive: Duration::from_secs(30),
            },
        ));
        c.put(&mut vec![ev("a")]).await.unwrap();
        let c2 = c.clone();
        let waiting = tokio::spawn(async move { c2.put(&mut vec![ev("b")]).await });
        let t = c.take(1).await.unwrap();
        t.commit().await.unwrap();
        waiting.await.unwrap().unwrap();
        assert_eq!(bodies(&c.take(1).await.unwrap()), ["b"]);
    }

    #[tokio::test]
    async fn transaction_capacity_and_byte_capacity_are_enforced() {
        let c = small(10, 2);
        assert!(matches!(
            c.put(&mut vec![ev("a"), ev("b"), ev("c")]).await,
            Err(ChannelError::TooBig(_))
        ));
        let c = MemoryChannel::new(
            "c1",
            Settings {
                capacity: 100,
                transaction_capacity: 100,
                byte_capacity: Some(ByteCapacity::new(5, 1)),
                keep_alive: Duration::from_millis(10),
            },
        );
        c.put(&mut vec![ev("abc")]).await.unwrap();
        assert!(matches!(
            c.put(&mut vec![ev("def")]).await,
            Err(ChannelError::Full(_))
        ));
        c.put(&mut vec![ev("de")]).await.unwrap();
        // Larger than the whole byteCapacity: refused at once, not "full".
        let mut refused = Vec::new();
        c.refuse(&[ev("ok"), ev("sixsix"), ev("x")], &mut refused);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, 1);
        assert!(refused[0].1.contains("byteCapacity"), "{}", refused[0].1);
        assert!(matches!(
            c.put(&mut vec![ev("abc"), ev("def")]).await,
            Err(ChannelError::NeverFits(_))
        ));
    }

    #[tokio::test]
    async fn take_waits_for_data() {
        let c = Arc::new(small(10, 10));
        let c2 = c.clone();
        let taker = tokio::spawn(async move { bodies(&c2.take(10).await.unwrap()) });
        tokio::task::yield_now().await;
        c.put(&mut vec![ev("x")]).await.unwrap();
        assert_eq!(taker.await.unwrap(), ["x"]);
    }
}
