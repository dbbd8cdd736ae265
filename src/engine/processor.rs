//! What a source hands its events to: the interceptor chain, the selector,
//! then one put transaction per channel (Flume's ChannelProcessor).
//!
//! [`ChannelProcessor::deliver`] never drops: a required channel that is
//! full (or failing) is retried with a growing pause until it takes the
//! events or the agent stops; channels that already took their share are
//! not put to again, so a retry does not duplicate.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::channel::{Channel, ChannelError, PendingPut};
use super::event::Event;
use super::interceptor::Interceptor;
use super::log::AgentLog;
use super::selector::Selector;

/// The agent is stopping and the events were not all delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

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

    fn prepare(&self, mut events: Vec<Event>) -> Vec<super::selector::Route> {
        for i in &self.interceptors {
            i.intercept(&mut events);
        }
        self.selector.route(events, self.channels.len())
    }

    /// One try: every required channel must take its events now (each put
    /// may wait up to the channel's keep-alive). For sources that answer
    /// their client per event.
    pub async fn try_deliver(&self, events: Vec<Event>) -> Result<(), ChannelError> {
        for mut route in self.prepare(events) {
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
        for mut route in self.prepare(events) {
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
        for mut route in self.prepare(events) {
            let channel = &self.channels[route.channel];
            for mut chunk in chunks(&mut route.events, channel.transaction_capacity()) {
                let pending = if route.required {
                    self.begin_until_accepted(channel.as_ref(), &mut chunk, cancel)
                        .await?
                } else {
                    match channel.begin_put(&mut chunk).await {
                        Ok(p) => p,
                        Err(e) => {
                            self.log.warn(&self.label, &format!("optional {e}"));
                            continue;
                        }
                    }
                };
                parts.push(Part {
                    channel: route.channel,
                    required: route.required,
                    state: PartState::Pending(pending),
                });
            }
        }
        Ok(Delivery { parts })
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

    async fn begin_until_accepted(
        &self,
        channel: &dyn Channel,
        events: &mut Vec<Event>,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn PendingPut>, Cancelled> {
        let mut pause = FIRST_PAUSE;
        let mut warned = false;
        loop {
            match channel.begin_put(events).await {
                Ok(p) => return Ok(p),
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
            match channel.put(events).await {
                Ok(()) => return Ok(()),
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

/// A delivery begun by [`ChannelProcessor::begin_deliver`].
pub struct Delivery {
    parts: Vec<Part>,
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
    use crate::engine::event::Event;

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
