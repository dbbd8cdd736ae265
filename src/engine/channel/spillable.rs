//! Flume's `spillablememory` channel: an in-memory queue that spills to a
//! file channel (the overflow) when memory is full.
//!
//! - A put goes to memory while memory has room and nothing is waiting in
//!   the overflow. When memory stays full for `overflowTimeout`, the put
//!   goes to the overflow, and so do later puts until the overflow is empty
//!   again (Flume's rule: the overflow stays active until it drains).
//! - Order is kept across the two stores: the channel keeps a queue of
//!   segments (a run of events in memory, a run in the overflow), and a take
//!   drains the oldest segment first (one segment per take). A rollback puts
//!   the events back at the head, as a segment of their own.
//! - `memoryCapacity = 0`: every event goes to the overflow (a file
//!   channel). `overflowCapacity = 0`: no overflow (a memory channel; a put
//!   fails with Full once memory stays full for `overflowTimeout`).
//! - On a restart the overflow (durable) is replayed and comes first; what
//!   was in memory is lost, and `stop` reports how many events that was.
//!   After a kill -9 or a crash no `stop` ran, and how many were in memory
//!   then is not known: counting them would cost a write per put, which is
//!   what the memory part is there to avoid. The next start says so: a
//!   marker file in the overflow's checkpointDir exists while the channel
//!   runs, and a start that finds it warns that the last run's memory
//!   events (at most memoryCapacity) are lost, uncounted.
//!
//! The overflow is an inner `file` channel built from the same properties
//! (checkpointDir, dataDirs, useDualCheckpoints, ...); its capacity is
//! overflowCapacity, and Flume's `capacity` and `keep-alive` do not apply.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::file::{self, FileChannel};
use super::{Channel, ChannelError, Take, TakeTransaction, lock};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::log::AgentLog;
use crate::engine::registry::ChannelType;

pub const TYPE: ChannelType = ChannelType {
    name: "spillablememory",
    aliases: &["org.apache.flume.channel.SpillableMemoryChannel"],
    build,
};

/// In the overflow's checkpointDir while the channel runs (see the module
/// comment).
pub const RUNNING_MARKER: &str = "spillable-running";

fn build(name: &str, props: &Props, diags: &mut Diags) -> Option<Arc<dyn Channel>> {
    let settings = Settings::from_props(name, props, diags);
    Some(Arc::new(SpillableChannel::new(name, settings)))
}

pub const DEFAULT_MEMORY_CAPACITY: usize = 10_000;
pub const DEFAULT_OVERFLOW_CAPACITY: usize = 100_000_000;
pub const DEFAULT_OVERFLOW_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_TRANSACTION_CAPACITY: usize = 100;
pub const DEFAULT_AVG_EVENT_SIZE: u64 = 500;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Events held in memory; 0: everything goes to the overflow.
    pub memory_capacity: usize,
    /// Events held in the overflow; 0: no overflow.
    pub overflow_capacity: usize,
    pub overflow_timeout: Duration,
    pub transaction_capacity: usize,
    /// Body bytes allowed in memory, in slots of `avgEventSize` bytes, as
    /// Flume counts them; unset: no byte limit (Flume's default is a share
    /// of the JVM heap).
    pub byte_capacity: Option<ByteCapacity>,
    /// Flume's estimate of an event's size: the byte limit's slot.
    pub avg_event_size: u64,
    /// The overflow's settings (its capacity is overflow_capacity).
    pub overflow: file::Settings,
}

impl Settings {
    /// Defaults with the overflow's directories under `dir` (tests).
    pub fn in_dir(dir: &std::path::Path) -> Settings {
        let mut overflow = file::Settings::in_dir(dir);
        overflow.capacity = DEFAULT_OVERFLOW_CAPACITY;
        overflow.transaction_capacity = DEFAULT_TRANSACTION_CAPACITY;
        overflow.keep_alive = Duration::ZERO;
        overflow.memory_bytes = 0;
        Settings {
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            overflow_capacity: DEFAULT_OVERFLOW_CAPACITY,
            overflow_timeout: DEFAULT_OVERFLOW_TIMEOUT,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY,
            byte_capacity: None,
            avg_event_size: DEFAULT_AVG_EVENT_SIZE,
            overflow,
        }
    }

    /// Read Flume's properties: memoryCapacity, overflowCapacity,
    /// overflowTimeout, transactionCapacity, byteCapacity,
    /// byteCapacityBufferPercentage, avgEventSize, and the file channel's
    /// for the overflow.
    pub fn from_props(name: &str, props: &Props, diags: &mut Diags) -> Settings {
        let memory_capacity = props.count(diags, "memoryCapacity", DEFAULT_MEMORY_CAPACITY, 0);
        let overflow_capacity =
            props.count(diags, "overflowCapacity", DEFAULT_OVERFLOW_CAPACITY, 0);
        if memory_capacity == 0 && overflow_capacity == 0 {
            props.error(
                diags,
                Some("memoryCapacity"),
                "memoryCapacity and overflowCapacity cannot both be 0",
            );
        }
        let overflow_timeout = props.secs(
            diags,
            "overflowTimeout",
            DEFAULT_OVERFLOW_TIMEOUT.as_secs(),
            0,
        );
        let transaction_capacity = props.count(
            diags,
            "transactionCapacity",
            DEFAULT_TRANSACTION_CAPACITY,
            1,
        );
        let total = memory_capacity.saturating_add(overflow_capacity);
        if total > 0 && transaction_capacity > total {
            props.error(
                diags,
                Some("transactionCapacity"),
                format!(
                    "{transaction_capacity} is higher than memoryCapacity + overflowCapacity ({total})"
                ),
            );
        }
        let avg_event_size = props.bytes(diags, "avgEventSize", DEFAULT_AVG_EVENT_SIZE, 1);
        let byte_capacity = ByteCapacity::from_props(props, diags, avg_event_size);
        // The overflow reads the file channel's own properties (directories,
        // file sizes, checkpoints); its capacity and keep-alive are ours.
        let mut overflow = file::Settings::from_props(name, props, diags);
        overflow.capacity = overflow_capacity.max(1);
        overflow.transaction_capacity = transaction_capacity;
        overflow.keep_alive = Duration::ZERO;
        // Spilling is to spare memory: the overflow holds no events in
        // memory, its takes read them back from disk.
        overflow.memory_bytes = 0;
        Settings {
            memory_capacity,
            overflow_capacity,
            overflow_timeout,
            transaction_capacity,
            byte_capacity,
            avg_event_size,
            overflow,
        }
    }
}

use super::byte_capacity::{self, ByteCapacity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Memory,
    Overflow,
}

#[derive(Default)]
struct State {
    /// Runs of events, oldest first: where each run is, and how many.
    order: VecDeque<(Place, usize)>,
    memory: VecDeque<Event>,
    memory_slots: u64,
    /// Taken from memory, not yet committed (still occupy memory).
    memory_inflight: usize,
    memory_inflight_slots: u64,
    /// Events in the overflow not yet taken (counted in `order`).
    overflow_queued: usize,
    /// Taken from the overflow, not yet committed.
    overflow_inflight: usize,
    /// Puts to the overflow being written.
    overflow_putting: usize,
}

impl State {
    fn push_back(&mut self, place: Place, n: usize) {
        match self.order.back_mut() {
            Some((p, k)) if *p == place => *k += n,
            _ => self.order.push_back((place, n)),
        }
    }

    fn push_front(&mut self, place: Place, n: usize) {
        match self.order.front_mut() {
            Some((p, k)) if *p == place => *k += n,
            _ => self.order.push_front((place, n)),
        }
    }

    fn overflow_active(&self) -> bool {
        self.overflow_queued + self.overflow_inflight + self.overflow_putting > 0
    }
}

struct Inner {
    name: String,
    settings: Settings,
    state: Mutex<State>,
    /// None when overflowCapacity is 0.
    overflow: Option<FileChannel>,
    log: Mutex<Option<AgentLog>>,
    /// Woken when events arrive (put, rollback).
    data: Notify,
    /// Woken when room frees up or events leave (commit).
    space: Notify,
}

pub struct SpillableChannel {
    inner: Arc<Inner>,
}

impl SpillableChannel {
    pub fn new(name: impl Into<String>, settings: Settings) -> SpillableChannel {
        let name = name.into();
        let overflow = (settings.overflow_capacity > 0)
            .then(|| FileChannel::new(name.clone(), settings.overflow.clone()));
        SpillableChannel {
            inner: Arc::new(Inner {
                name,
                settings,
                state: Mutex::new(State::default()),
                overflow,
                log: Mutex::new(None),
                data: Notify::new(),
                space: Notify::new(),
            }),
        }
    }

    /// Events in memory and in the overflow (taken ones included).
    pub fn split(&self) -> (usize, usize) {
        let st = lock(&self.inner.state);
        (
            st.memory.len() + st.memory_inflight,
            st.overflow_queued + st.overflow_inflight,
        )
    }

    fn too_big(&self, n: usize) -> Option<ChannelError> {
        let inner = &self.inner;
        (n > inner.settings.transaction_capacity).then(|| {
            ChannelError::TooBig(format!(
                "channel {}: a put of {n} events is more than transactionCapacity {}",
                inner.name, inner.settings.transaction_capacity
            ))
        })
    }

    /// Put into memory if there is room and no overflow is active.
    /// Ok(true): done; Ok(false): spill; Err: memory-only channel full.
    async fn put_memory(&self, events: &mut Vec<Event>) -> Result<bool, ChannelError> {
        let inner = &self.inner;
        let s = &inner.settings;
        if s.memory_capacity == 0 {
            return Ok(false);
        }
        let slots = byte_capacity::weigh(s.byte_capacity, events);
        let deadline = tokio::time::Instant::now() + s.overflow_timeout;
        loop {
            let notified = inner.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&inner.state);
                if inner.overflow.is_some() && st.overflow_active() {
                    return Ok(false);
                }
                let room = st.memory.len() + st.memory_inflight + events.len() <= s.memory_capacity;
                let byte_room = byte_capacity::fits(
                    s.byte_capacity,
                    st.memory_slots + st.memory_inflight_slots,
                    slots,
                );
                if room && byte_room {
                    st.push_back(Place::Memory, events.len());
                    st.memory.extend(events.drain(..));
                    st.memory_slots += slots;
                    drop(st);
                    inner.data.notify_waiters();
                    return Ok(true);
                }
                if tokio::time::Instant::now() >= deadline {
                    if inner.overflow.is_some() {
                        return Ok(false);
                    }
                    let why = if room { "byteCapacity reached" } else { "full" };
                    return Err(ChannelError::Full(format!(
                        "channel {}: memory {why} ({} events) and no overflow; the sinks are not keeping up with the sources",
                        inner.name, s.memory_capacity
                    )));
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    async fn put_overflow(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let inner = &self.inner;
        let Some(overflow) = &inner.overflow else {
            return Err(ChannelError::Full(format!(
                "channel {}: memory full and no overflow",
                inner.name
            )));
        };
        let n = events.len();
        lock(&inner.state).overflow_putting += n;
        let mut undo = Undo::new(inner, Step::Putting, n);
        let r = overflow.put(events).await;
        {
            let mut st = lock(&inner.state);
            st.overflow_putting -= n;
            undo.disarm();
            if r.is_ok() {
                st.overflow_queued += n;
                st.push_back(Place::Overflow, n);
            }
        }
        match r {
            Ok(()) => {
                inner.data.notify_waiters();
                Ok(())
            }
            Err(e) => {
                inner.space.notify_waiters();
                Err(match e {
                    ChannelError::Full(m) => ChannelError::Full(format!(
                        "channel {}: memory and overflow full ({m})",
                        inner.name
                    )),
                    other => other,
                })
            }
        }
    }
}

#[async_trait]
impl Channel for SpillableChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn start(&self, log: &AgentLog) -> Result<(), String> {
        let inner = &self.inner;
        *lock(&inner.log) = Some(log.clone());
        if let Some(overflow) = &inner.overflow {
            overflow.start(log).await?;
            let marker = inner.settings.overflow.checkpoint_dir.join(RUNNING_MARKER);
            if marker.exists() {
                log.warn(
                    &inner.name,
                    &format!(
                        "the last run of this channel did not stop (killed or crashed): the events it held in memory, up to memoryCapacity ({}), are lost and cannot be counted; the overflow's events are replayed",
                        inner.settings.memory_capacity
                    ),
                );
            } else if let Err(e) = std::fs::write(&marker, b"") {
                log.warn(
                    &inner.name,
                    &format!(
                        "cannot write {} ({e}): a kill -9 of this run will not be reported at the next start",
                        marker.display()
                    ),
                );
            }
            // Replayed overflow events are older than anything put now.
            let n = overflow.len();
            if n > 0 {
                let mut st = lock(&inner.state);
                st.overflow_queued += n;
                st.push_front(Place::Overflow, n);
            }
            inner.data.notify_waiters();
        }
        Ok(())
    }

    async fn stop(&self) {
        let inner = &self.inner;
        if let Some(overflow) = &inner.overflow {
            let (in_memory, _) = self.split();
            let log = lock(&inner.log).clone();
            if let (true, Some(l)) = (in_memory > 0, log) {
                l.warn(
                    &inner.name,
                    &format!(
                        "{in_memory} events were still in this channel's memory and are lost (the overflow keeps its events)"
                    ),
                );
            }
            overflow.stop().await;
            let marker = inner.settings.overflow.checkpoint_dir.join(RUNNING_MARKER);
            let _ = std::fs::remove_file(marker);
        }
    }

    async fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        if let Some(e) = self.too_big(events.len()) {
            return Err(e);
        }
        if events.is_empty() {
            return Ok(());
        }
        // Without an overflow, byteCapacity is the most it can ever hold.
        if self.inner.overflow.is_none() {
            let cap = self.inner.settings.byte_capacity;
            let slots = byte_capacity::weigh(cap, events);
            if let Some(e) = byte_capacity::never_fits(&self.inner.name, cap, events.len(), slots) {
                return Err(e);
            }
        }
        if self.put_memory(events).await? {
            return Ok(());
        }
        self.put_overflow(events).await
    }

    fn transaction_capacity(&self) -> usize {
        self.inner.settings.transaction_capacity
    }

    /// What the overflow can never hold (what memory cannot hold spills
    /// there); without an overflow, what byteCapacity cannot.
    fn refuse(&self, events: &[Event], out: &mut Vec<(usize, String)>) {
        let inner = &self.inner;
        match &inner.overflow {
            Some(overflow) => overflow.refuse(events, out),
            None => {
                byte_capacity::refuse_larger(&inner.name, inner.settings.byte_capacity, events, out)
            }
        }
    }

    async fn take(&self, max: usize) -> Result<Take, ChannelError> {
        let inner = &self.inner;
        let max = max.clamp(1, inner.settings.transaction_capacity);
        loop {
            let notified = inner.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let from_overflow = {
                let mut st = lock(&inner.state);
                match st.order.front().copied() {
                    Some((Place::Memory, k)) => {
                        let n = max.min(k).min(st.memory.len());
                        let events: Vec<Event> = st.memory.drain(..n).collect();
                        let slots = byte_capacity::weigh(inner.settings.byte_capacity, &events);
                        st.memory_slots -= slots;
                        st.memory_inflight += n;
                        st.memory_inflight_slots += slots;
                        if n >= k {
                            st.order.pop_front();
                        } else if let Some(front) = st.order.front_mut() {
                            front.1 -= n;
                        }
                        let tx = MemoryTake {
                            inner: inner.clone(),
                            count: n,
                            slots,
                        };
                        return Ok(Take::new(events, Box::new(tx)));
                    }
                    Some((Place::Overflow, k)) => {
                        let n = max.min(k);
                        if n >= k {
                            st.order.pop_front();
                        } else if let Some(front) = st.order.front_mut() {
                            front.1 -= n;
                        }
                        st.overflow_queued -= n;
                        st.overflow_inflight += n;
                        Some(n)
                    }
                    None => None,
                }
            };
            if let (Some(n), Some(overflow)) = (from_overflow, &inner.overflow) {
                // The reserved events are in the overflow's queue: its take
                // returns at once with them, or the first of them (a take
                // stops where events held in memory, after a rollback, meet
                // those read back from disk), less any it could not read
                // back (dropped: gone from the overflow, so from the books
                // too, or a later take would wait for them). Dropped
                // meanwhile (the overflow's take is cancel-safe), the
                // reservation is undone.
                let mut undo = Undo::new(inner, Step::Reserved, n);
                let r = overflow.take_once(n).await;
                undo.disarm();
                match r {
                    Ok((t, dropped)) => {
                        let got = t.as_ref().map_or(0, Take::len);
                        {
                            let mut st = lock(&inner.state);
                            st.overflow_inflight -= dropped;
                            let rest = n - got - dropped;
                            if rest > 0 {
                                // The rest stay first in the overflow.
                                st.overflow_inflight -= rest;
                                st.overflow_queued += rest;
                                st.push_front(Place::Overflow, rest);
                            }
                        }
                        if dropped > 0 {
                            inner.space.notify_waiters();
                        }
                        let Some(t) = t else {
                            // Every one it reached was dropped: take again.
                            continue;
                        };
                        let events = t.events().to_vec();
                        let tx = OverflowTake {
                            inner: inner.clone(),
                            take: Some(t),
                            count: got,
                        };
                        return Ok(Take::new(events, Box::new(tx)));
                    }
                    Err(e) => {
                        let mut st = lock(&inner.state);
                        st.overflow_inflight -= n;
                        st.overflow_queued += n;
                        st.push_front(Place::Overflow, n);
                        return Err(e);
                    }
                }
            }
            notified.await;
        }
    }

    fn len(&self) -> usize {
        let (m, o) = self.split();
        m + o
    }

    async fn wait_empty(&self) {
        super::wait_until(&self.inner.space, || self.len() == 0).await
    }

    /// With an overflow, the agent leaves the reporting of lost memory
    /// events to `stop` (the overflow's events are not lost).
    fn durable(&self) -> bool {
        self.inner.overflow.is_some()
    }
}

/// Undoes a step of a put or take whose future is dropped at an await.
struct Undo<'a> {
    inner: &'a Inner,
    what: Step,
    n: usize,
    armed: bool,
}

#[derive(Clone, Copy)]
enum Step {
    /// Events counted as being put into the overflow.
    Putting,
    /// Overflow events reserved for a take.
    Reserved,
}

impl<'a> Undo<'a> {
    fn new(inner: &'a Inner, what: Step, n: usize) -> Undo<'a> {
        Undo {
            inner,
            what,
            n,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (inner, n) = (self.inner, self.n);
        match self.what {
            Step::Putting => {
                lock(&inner.state).overflow_putting -= n;
                inner.space.notify_waiters();
            }
            Step::Reserved => {
                {
                    let mut st = lock(&inner.state);
                    st.overflow_inflight -= n;
                    st.overflow_queued += n;
                    st.push_front(Place::Overflow, n);
                }
                inner.data.notify_waiters();
            }
        }
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
            let mut st = lock(&self.inner.state);
            st.memory_inflight -= self.count;
            st.memory_inflight_slots -= self.slots;
        }
        self.inner.space.notify_waiters();
        Ok(())
    }

    fn rollback(self: Box<Self>, events: Vec<Event>) {
        {
            let mut st = lock(&self.inner.state);
            st.memory_inflight -= self.count;
            st.memory_inflight_slots -= self.slots;
            st.memory_slots += self.slots;
            let n = events.len();
            for e in events.into_iter().rev() {
                st.memory.push_front(e);
            }
            st.push_front(Place::Memory, n);
        }
        self.inner.data.notify_waiters();
    }
}

struct OverflowTake {
    inner: Arc<Inner>,
    take: Option<Take>,
    count: usize,
}

#[async_trait]
impl TakeTransaction for OverflowTake {
    async fn commit(mut self: Box<Self>) -> Result<(), ChannelError> {
        let r = match self.take.take() {
            Some(t) => t.commit().await,
            None => Ok(()),
        };
        // On an error the overflow forgets the take (its events come back
        // after a restart): either way they leave this run's books.
        lock(&self.inner.state).overflow_inflight -= self.count;
        self.inner.space.notify_waiters();
        r
    }

    /// The inner take holds its own copy of the events and gives those back.
    fn rollback(mut self: Box<Self>, _events: Vec<Event>) {
        if let Some(t) = self.take.take() {
            t.rollback();
        }
        {
            let mut st = lock(&self.inner.state);
            st.overflow_inflight -= self.count;
            st.overflow_queued += self.count;
            st.push_front(Place::Overflow, self.count);
        }
        self.inner.data.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
