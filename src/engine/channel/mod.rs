//! Channels: where events wait between sources and sinks, moved in
//! transactions (Flume's contract).
//!
//! - A put is one transaction: the whole batch is committed or none of it.
//!   A channel may wait for room (memory: up to keep-alive) and then fails
//!   with [`ChannelError::Full`]; the caller keeps the batch and retries.
//! - An event the channel can never hold, however empty (larger than its
//!   byteCapacity, or than a data file), is not "full": [`Channel::refuse`]
//!   names such events before a put, and a put of a transaction that can
//!   never fit as one fails with [`ChannelError::NeverFits`] (the caller
//!   splits it); retrying either cannot help.
//! - A take begins a transaction holding up to `max` events ([`Take`]);
//!   `commit` removes them for good, `rollback` (or dropping the `Take`)
//!   puts them back at the head of the channel, in order.
//!
//! Adding a channel type: one file here implementing [`Channel`], plus its
//! entry in `engine::registry`.

pub mod byte_capacity;
pub mod file;
pub mod memory;
pub mod spillable;

use async_trait::async_trait;

use super::event::Event;
use super::log::AgentLog;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// No room within the wait (the message says which limit).
    Full(String),
    /// More events in one transaction than transactionCapacity.
    TooBig(String),
    /// The transaction can never fit, even in an empty channel (more
    /// bytes than byteCapacity, or than a data file holds): retrying it
    /// whole cannot help; smaller ones may.
    NeverFits(String),
    /// The channel is closed (agent shutting down) or broken.
    Failed(String),
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Full(m)
            | ChannelError::TooBig(m)
            | ChannelError::NeverFits(m)
            | ChannelError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ChannelError {}

#[async_trait]
pub trait Channel: Send + Sync {
    fn name(&self) -> &str;
    /// Called once before any source or sink runs (a file channel opens
    /// and replays its files here, reporting to the agent log). An error
    /// means the agent cannot start.
    async fn start(&self, _log: &AgentLog) -> Result<(), String> {
        Ok(())
    }
    /// Called once after every sink stopped (a file channel writes its
    /// last checkpoint).
    async fn stop(&self) {}
    /// One put transaction (see the module comment). On success `events`
    /// is left empty; on failure it is untouched, for the caller to retry.
    async fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError>;
    /// The first half of a put, for callers that keep several puts in
    /// flight: the events are admitted and written (in call order), and
    /// the returned [`PendingPut`] resolves once they are committed (for
    /// a file channel: durable). Only then are they in the channel, and a
    /// caller that waits its pending puts in the order it began them gets
    /// them into the channel in that order. On success `events` is left
    /// empty (the pending put holds them); on failure it is untouched.
    /// Default: a whole `put` (committed at once, as in memory).
    async fn begin_put(
        &self,
        events: &mut Vec<Event>,
    ) -> Result<Box<dyn PendingPut>, ChannelError> {
        self.put(events).await?;
        Ok(Box::new(Committed))
    }
    /// The most events one transaction may hold.
    fn transaction_capacity(&self) -> usize;
    /// The events of `events` this channel can never hold, however empty
    /// (see the module comment): their index and why, pushed to `out`.
    /// Called on every batch before it is put, so cheap: a channel
    /// without such limits does nothing (the default).
    fn refuse(&self, _events: &[Event], _out: &mut Vec<(usize, String)>) {}
    /// Begin a take of up to `max` events; waits until at least one is
    /// there. Cancel-safe: dropping the future takes nothing.
    async fn take(&self, max: usize) -> Result<Take, ChannelError>;
    /// Events in the channel, taken-but-uncommitted ones included.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Resolves once the channel holds nothing (every take committed).
    async fn wait_empty(&self);
    /// Whether what the channel holds survives the process (file channel).
    fn durable(&self) -> bool {
        false
    }
}

/// Lock a channel's mutex. Every update under the channels' locks leaves
/// the state usable, so a panic elsewhere does not poison it for good.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wait until `ready` holds, checking again each time `notify` fires. The
/// waiter is registered before each check, so no wake-up falls between.
pub(crate) async fn wait_until(notify: &tokio::sync::Notify, mut ready: impl FnMut() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ready() {
            return;
        }
        notified.await;
    }
}

/// A put written by [`Channel::begin_put`], not yet committed.
#[async_trait]
pub trait PendingPut: Send {
    /// Wait until committed: the events are then in the channel. On
    /// failure they are not, and come back for the caller to retry.
    async fn wait(self: Box<Self>) -> Result<(), (ChannelError, Vec<Event>)>;
    /// Give up before waiting (a put begun after one that failed, to be
    /// put again in order): the events are not in the channel and come
    /// back. What was written may still be found by a replay after a
    /// crash (at least once, as for a failed put).
    fn abort(self: Box<Self>) -> Vec<Event>;
}

/// A put already committed.
pub struct Committed;

#[async_trait]
impl PendingPut for Committed {
    async fn wait(self: Box<Self>) -> Result<(), (ChannelError, Vec<Event>)> {
        Ok(())
    }
    fn abort(self: Box<Self>) -> Vec<Event> {
        Vec::new()
    }
}

/// The channel side of an open take transaction.
#[async_trait]
pub trait TakeTransaction: Send {
    /// The events are delivered: forget them (durably, for a file channel).
    async fn commit(self: Box<Self>) -> Result<(), ChannelError>;
    /// Not delivered: put `events` back at the head, in order.
    fn rollback(self: Box<Self>, events: Vec<Event>);
}

/// Events taken from a channel, pending commit or rollback.
pub struct Take {
    events: Vec<Event>,
    tx: Option<Box<dyn TakeTransaction>>,
}

impl Take {
    pub fn new(events: Vec<Event>, tx: Box<dyn TakeTransaction>) -> Take {
        Take {
            events,
            tx: Some(tx),
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub async fn commit(mut self) -> Result<(), ChannelError> {
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    pub fn rollback(mut self) {
        self.give_back();
    }

    fn give_back(&mut self) {
        if let Some(tx) = self.tx.take() {
            tx.rollback(std::mem::take(&mut self.events));
        }
    }
}

impl Drop for Take {
    /// A take neither committed nor rolled back (a sink task cancelled
    /// mid-delivery) gives its events back: nothing is lost.
    fn drop(&mut self) {
        self.give_back();
    }
}

/// Events and takes as the channels' unit tests write them.
#[cfg(test)]
pub(crate) mod testing {
    use super::Take;
    use crate::engine::event::Event;

    pub fn ev(s: &str) -> Event {
        Event::new(s.as_bytes().to_vec())
    }

    pub fn evs(names: &[&str]) -> Vec<Event> {
        names.iter().map(|s| ev(s)).collect()
    }

    /// The bodies of a take's events, as text.
    pub fn bodies(t: &Take) -> Vec<String> {
        t.events()
            .iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect()
    }
}
