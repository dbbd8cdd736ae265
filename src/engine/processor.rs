//! What a source hands its events to: the interceptor chain, the selector,
//! then one put transaction per channel (Flume's ChannelProcessor).
//!
//! [`ChannelProcessor::deliver`] never drops what can be delivered: a
//! required channel that is full (or failing) is retried with a growing
//! pause until it takes the events or the agent stops; channels that
//! already took their share are not put to again, so a retry does not
//! duplicate.
//!
//! An event a channel can never hold, however empty (larger than its
//! byteCapacity or a data file: `Channel::refuse`), is not retried: if a
//! required channel of it refuses it, it is dropped from the batch at
//! once with a log line and reported to the source as a [`Refusal`] (netcat
//! answers `FAILED: ...` for it); an optional channel that refuses it just
//! does not get it. A transaction that can never fit whole
//! (`ChannelError::NeverFits`) is put as two halves.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::channel::{Channel, ChannelError, PendingPut};
use super::event::Event;
use super::interceptor::Interceptor;
use super::log::AgentLog;
use super::selector::{Route, Selector};

/// The agent is stopping and the events were not all delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// An event a required channel can never hold: dropped, not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its place in the batch the source handed over (interceptors keep
    /// every event, in order).
    pub index: usize,
    /// Which channel refused it and why.
    pub reason: String,
}

pub struct ChannelProcessor {
    /// `a1.sources.r1`, for log lines.
    pub label: String,
    interceptors: Vec<Box<dyn Interceptor>>,
    selector: Selector,
    channels: Vec<Arc<dyn Channel>>,
    log: AgentLog,
}

const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Once the agent stops, how much longer a put may wait for room (a
/// channel's keep-alive may be far longer: it must not hold the stop).
const PUT_AFTER_STOP: Duration = Duration::from_secs(3);

/// `put`, waiting for room no longer than [`PUT_AFTER_STOP`] once `cancel`
/// fires (`None` then). A put dropped while it waits for room leaves the
/// channel and the events as they were.
async fn until_stopped<T>(
    put: impl std::future::Future<Output = T>,
    cancel: &CancellationToken,
) -> Option<T> {
    tokio::pin!(put);
    tokio::select! {
        biased;
        r = &mut put => Some(r),
        () = cancel.cancelled() => tokio::time::timeout(PUT_AFTER_STOP, put).await.ok(),
    }
}

impl ChannelProcessor {
    pub fn new(
        label: String,
        interceptors: Vec<Box<dyn Interceptor>>,
        selector: Selector,
        channels: Vec<Arc<dyn Channel>>,
        log: AgentLog,
    ) -> ChannelProcessor {
        ChannelProcessor {
            label,
            interceptors,
            selector,
            channels,
            log,
        }
    }

    /// Interceptors, then the routes; the events a required channel of
    /// theirs can never hold are left out (logged, and returned).
    fn prepare(&self, mut events: Vec<Event>) -> (Vec<Route>, Vec<Refusal>) {
        for i in &self.interceptors {
            i.intercept(&mut events);
        }
        let mut unfit = Vec::new();
        for (c, channel) in self.channels.iter().enumerate() {
            let mut found = Vec::new();
            channel.refuse(&events, &mut found);
            unfit.extend(found.into_iter().map(|(i, why)| (c, i, why)));
        }
        if unfit.is_empty() {
            return (self.selector.route(events, self.channels.len()), Vec::new());
        }
        self.route_fitting(events, unfit)
    }

    /// `prepare` when some channel can never hold some events (`unfit`:
    /// channel, index, why).
    fn route_fitting(
        &self,
        mut events: Vec<Event>,
        unfit: Vec<(usize, usize, String)>,
    ) -> (Vec<Route>, Vec<Refusal>) {
        let mut refused: Vec<Refusal> = Vec::new();
        let mut optional: Vec<usize> = Vec::new();
        for (c, index, reason) in unfit {
            match self.selector.goes_to(&events[index], c) {
                Some(true) => refused.push(Refusal { index, reason }),
                Some(false) => optional.push(c),
                None => {}
            }
        }
        refused.sort_by_key(|r| r.index);
        refused.dedup_by_key(|r| r.index);
        for r in &refused {
            self.log.warn(
                &self.label,
                &format!(
                    "an event of {} bytes is dropped, not delivered: {}",
                    events[r.index].size(),
                    r.reason
                ),
            );
        }
        let (mut next, mut i) = (0, 0);
        events.retain(|_| {
            let drop = refused.get(next).is_some_and(|r| r.index == i);
            next += usize::from(drop);
            i += 1;
            !drop
        });
        let mut routes = self.selector.route(events, self.channels.len());
        for route in routes.iter_mut().filter(|r| optional.contains(&r.channel)) {
            let channel = &self.channels[route.channel];
            let mut found = Vec::new();
            channel.refuse(&route.events, &mut found);
            for (_, why) in &found {
                self.log
                    .warn(&self.label, &format!("optional {why}; not put there"));
            }
            let (mut next, mut i) = (0, 0);
            route.events.retain(|_| {
                let drop = found.get(next).is_some_and(|(at, _)| *at == i);
                next += usize::from(drop);
                i += 1;
                !drop
            });
        }
        (routes, refused)
    }

    /// One try: every required channel must take its events now (each put
    /// may wait up to the channel's keep-alive). For sources that answer
    /// their client per event.
    pub async fn try_deliver(&self, events: Vec<Event>) -> Result<(), ChannelError> {
        for mut route in self.prepare(events).0 {
            let channel = &self.channels[route.channel];
            for mut chunk in chunks(&mut route.events, channel.transaction_capacity()) {
                match channel.put(&mut chunk).await {
                    Ok(()) => {}
                    Err(e) if route.required => return Err(e),
                    Err(e) => self.log.warn(&self.label, &format!("optional {e}")),
                }
            }
        }
        Ok(())
    }

    /// Deliver, retrying required channels until they accept or `cancel`
    /// fires (see the module comment).
    pub async fn deliver(
        &self,
        events: Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        // The refused events are logged; these sources have no one to tell.
        for mut route in self.prepare(events).0 {
            let channel = &self.channels[route.channel];
            for mut chunk in chunks(&mut route.events, channel.transaction_capacity()) {
                if route.required {
                    self.put_until_accepted(channel.as_ref(), &mut chunk, cancel)
                        .await?;
                } else if let Err(e) = channel.put(&mut chunk).await {
                    self.log.warn(&self.label, &format!("optional {e}"));
                }
            }
        }
        Ok(())
    }

    /// The first half of [`ChannelProcessor::deliver`], for a source that
    /// keeps several deliveries in flight: every put is begun (written, in
    /// order; required channels retried until they admit the events, as
    /// `deliver` does) but not waited for. Finish with
    /// [`ChannelProcessor::wait`] (and [`ChannelProcessor::finish`] when it
    /// fails), in the order the deliveries began.
    pub async fn begin_deliver(
        &self,
        events: Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<Delivery, Cancelled> {
        let mut parts = Vec::new();
        let (routes, refused) = self.prepare(events);
        for mut route in routes {
            let channel = &self.channels[route.channel];
            for mut chunk in chunks(&mut route.events, channel.transaction_capacity()) {
                let pending = if route.required {
                    self.begin_until_accepted(channel.as_ref(), &mut chunk, cancel)
                        .await?
                } else {
                    match channel.begin_put(&mut chunk).await {
                        Ok(p) => vec![p],
                        Err(e) => {
                            self.log.warn(&self.label, &format!("optional {e}"));
                            continue;
                        }
                    }
                };
                parts.extend(pending.into_iter().map(|p| Part {
                    channel: route.channel,
                    required: route.required,
                    state: PartState::Pending(p),
                }));
            }
        }
        Ok(Delivery { parts, refused })
    }

    /// Wait for a begun delivery's puts, in order. False when one failed:
    /// it and every put after it in this delivery are then not in their
    /// channels (the later ones aborted), for [`ChannelProcessor::finish`]
    /// to put again in order; abort later deliveries first.
    pub async fn wait(&self, delivery: &mut Delivery) -> bool {
        let mut i = 0;
        while i < delivery.parts.len() {
            let part = &mut delivery.parts[i];
            if let PartState::Retry(_) = part.state {
                delivery.abort();
                return false;
            }
            if let PartState::Pending(p) = std::mem::replace(&mut part.state, PartState::Done)
                && let Err((e, events)) = p.wait().await
            {
                if part.required {
                    self.log
                        .warn(&self.label, &format!("{e}; putting the events again"));
                    part.state = PartState::Retry(events);
                    delivery.abort();
                    return false;
                }
                self.log.warn(&self.label, &format!("optional {e}"));
            }
            i += 1;
        }
        true
    }

    /// Complete a delivery whose wait failed or that was aborted: put
    /// again, in order, what is not in its channels (required channels
    /// retried until they accept or `cancel` fires).
    pub async fn finish(
        &self,
        delivery: &mut Delivery,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        if self.wait(delivery).await {
            return Ok(());
        }
        for part in &mut delivery.parts {
            let channel = &self.channels[part.channel];
            match std::mem::replace(&mut part.state, PartState::Done) {
                PartState::Done => {}
                PartState::Pending(p) => {
                    // Only after an abort; none is left pending here.
                    let mut events = p.abort();
                    self.finish_part(channel.as_ref(), part.required, &mut events, cancel)
                        .await
                        .inspect_err(|_| part.state = PartState::Retry(events))?;
                }
                PartState::Retry(mut events) => {
                    self.finish_part(channel.as_ref(), part.required, &mut events, cancel)
                        .await
                        .inspect_err(|_| part.state = PartState::Retry(events))?;
                }
            }
        }
        Ok(())
    }

    async fn finish_part(
        &self,
        channel: &dyn Channel,
        required: bool,
        events: &mut Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        if events.is_empty() {
            return Ok(());
        }
        if required {
            self.put_until_accepted(channel, events, cancel).await
        } else {
            if let Err(e) = channel.put(events).await {
                self.log.warn(&self.label, &format!("optional {e}"));
            }
            Ok(())
        }
    }

    /// Begin a put, retried until admitted; a transaction that can never
    /// fit whole is begun as two halves (so: the pending puts, in order).
    async fn begin_until_accepted(
        &self,
        channel: &dyn Channel,
        events: &mut Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Box<dyn PendingPut>>, Cancelled> {
        let mut pause = FIRST_PAUSE;
        let mut warned = false;
        loop {
            let Some(begun) = until_stopped(channel.begin_put(events), cancel).await else {
                return Err(Cancelled);
            };
            match begun {
                Ok(p) => return Ok(vec![p]),
                Err(ChannelError::NeverFits(why)) => {
                    let Some(mut second) = self.halve(events, &why) else {
                        return Ok(Vec::new());
                    };
                    let mut parts =
                        Box::pin(self.begin_until_accepted(channel, events, cancel)).await?;
                    parts.extend(
                        Box::pin(self.begin_until_accepted(channel, &mut second, cancel)).await?,
                    );
                    return Ok(parts);
                }
                Err(e) => {
                    if !warned {
                        self.log
                            .warn(&self.label, &format!("{e}; retrying until it has room"));
                        warned = true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(Cancelled),
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    async fn put_until_accepted(
        &self,
        channel: &dyn Channel,
        events: &mut Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let mut pause = FIRST_PAUSE;
        let mut warned = false;
        loop {
            let Some(put) = until_stopped(channel.put(events), cancel).await else {
                return Err(Cancelled);
            };
            match put {
                Ok(()) => return Ok(()),
                Err(ChannelError::NeverFits(why)) => {
                    let Some(mut second) = self.halve(events, &why) else {
                        return Ok(());
                    };
                    if let Err(c) = Box::pin(self.put_until_accepted(channel, events, cancel)).await
                    {
                        events.append(&mut second);
                        return Err(c);
                    }
                    let r = Box::pin(self.put_until_accepted(channel, &mut second, cancel)).await;
                    *events = second;
                    return r;
                }
                Err(e) => {
                    if !warned {
                        self.log
                            .warn(&self.label, &format!("{e}; retrying until it has room"));
                        warned = true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(Cancelled),
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }
}

impl ChannelProcessor {
    /// A transaction that can never fit whole (`why`): cut in two, the
    /// second half returned; a single event cannot be cut, and is dropped
    /// with a log line (`Channel::refuse` should have named it).
    fn halve(&self, events: &mut Vec<Event>, why: &str) -> Option<Vec<Event>> {
        if events.len() > 1 {
            return Some(events.split_off(events.len() / 2));
        }
        self.log.warn(
            &self.label,
            &format!("{why}; the event is dropped, not delivered"),
        );
        events.clear();
        None
    }
}

/// A delivery begun by [`ChannelProcessor::begin_deliver`].
pub struct Delivery {
    parts: Vec<Part>,
    /// The events of its batch that were refused (dropped), in order.
    refused: Vec<Refusal>,
}

struct Part {
    channel: usize,
    required: bool,
    state: PartState,
}

enum PartState {
    Pending(Box<dyn PendingPut>),
    /// Not in the channel: to be put again.
    Retry(Vec<Event>),
    Done,
}

impl Delivery {
    /// The events of the batch that were refused, in batch order.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// Give up the puts still pending (a delivery before this one failed):
    /// their events are to be put again by [`ChannelProcessor::finish`].
    pub fn abort(&mut self) {
        for part in &mut self.parts {
            part.state = match std::mem::replace(&mut part.state, PartState::Done) {
                PartState::Pending(p) => PartState::Retry(p.abort()),
                other => other,
            };
        }
    }
}

/// Cut `events` into transactions of at most `max` (no copy when it fits).
/// Cut from the back: each event after the first transaction is moved
/// once (cutting from the front moved the rest again at every cut).
fn chunks(events: &mut Vec<Event>, max: usize) -> Vec<Vec<Event>> {
    let max = max.max(1);
    let mut rest = std::mem::take(events);
    let mut out = Vec::with_capacity(rest.len().div_ceil(max).max(1));
    let mut cut = rest.len().saturating_sub(1) / max * max;
    while cut > 0 {
        out.push(rest.split_off(cut));
        cut -= max;
    }
    out.push(rest);
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::chunks;
    use crate::engine::channel::Channel;
    use crate::engine::channel::memory::Settings;
    use crate::engine::event::Event;
    use crate::engine::source::testing::{DEADLINE, harness_with};

    /// A memory channel of byteCapacity `bytes` behind a processor.
    fn byte_capped(bytes: u64) -> crate::engine::source::testing::Harness {
        harness_with(Settings {
            capacity: 100,
            transaction_capacity: 100,
            byte_capacity: Some(crate::engine::channel::byte_capacity::ByteCapacity::new(
                bytes, 1,
            )),
            keep_alive: std::time::Duration::from_millis(20),
        })
    }

    #[tokio::test]
    async fn a_batch_that_can_never_fit_whole_is_put_in_parts_in_order() {
        let h = byte_capped(10);
        // Four events of 4 bytes: 16 bytes can never be in the channel at
        // once, 8 can.
        let batch: Vec<Event> = ["aaa1", "bbb2", "ccc3", "ddd4"].map(Event::new).to_vec();
        let ctx = h.ctx.clone();
        let put = tokio::spawn(async move {
            let mut d = ctx
                .processor
                .begin_deliver(batch, &ctx.cancel)
                .await
                .unwrap();
            assert!(d.refused().is_empty());
            ctx.processor.finish(&mut d, &ctx.cancel).await.unwrap();
        });
        let got = tokio::time::timeout(DEADLINE, h.take_bodies(4))
            .await
            .expect("in time");
        assert_eq!(got, ["aaa1", "bbb2", "ccc3", "ddd4"]);
        put.await.unwrap();
        assert!(!h.log.text().contains("dropped"), "{}", h.log.text());
    }

    #[tokio::test]
    async fn an_event_a_required_channel_can_never_hold_is_refused_and_the_rest_delivered() {
        let h = byte_capped(10);
        let batch: Vec<Event> = ["a", "far too long", "b"].map(Event::new).to_vec();
        let ctx = &h.ctx;
        let mut d = ctx
            .processor
            .begin_deliver(batch, &ctx.cancel)
            .await
            .unwrap();
        let refused: Vec<usize> = d.refused().iter().map(|r| r.index).collect();
        assert_eq!(refused, [1]);
        assert!(d.refused()[0].reason.contains("byteCapacity"));
        assert!(ctx.processor.wait(&mut d).await);
        assert_eq!(h.channel.len(), 2);
        assert_eq!(h.take_bodies(2).await, ["a", "b"]);
        // deliver (no one to tell): dropped with the log line, the rest in.
        let batch: Vec<Event> = ["c", "also far too long"].map(Event::new).to_vec();
        ctx.processor.deliver(batch, &ctx.cancel).await.unwrap();
        assert_eq!(h.take_bodies(1).await, ["c"]);
        let log = h.log.text();
        assert!(
            log.contains("an event of 17 bytes is dropped, not delivered"),
            "{log}"
        );
    }

    #[test]
    fn chunks_keep_order_and_size() {
        for len in [0usize, 1, 3, 4, 5, 8, 9, 10] {
            let mut events: Vec<Event> = (0..len).map(|i| Event::new(i.to_string())).collect();
            let parts = chunks(&mut events, 4);
            assert!(events.is_empty());
            assert_eq!(parts.len(), len.div_ceil(4).max(1), "len {len}");
            assert!(parts.iter().all(|p| p.len() <= 4));
            assert!(parts[..parts.len() - 1].iter().all(|p| p.len() == 4));
            let bodies: Vec<String> = parts
                .iter()
                .flatten()
                .map(|e| String::from_utf8_lossy(&e.body).into_owned())
                .collect();
            let want: Vec<String> = (0..len).map(|i| i.to_string()).collect();
            assert_eq!(bodies, want, "len {len}");
        }
    }
}
