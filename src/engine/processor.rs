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

use super::channel::{Channel, ChannelError};
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

/// Cut `events` into transactions of at most `max` (no copy when it fits).
fn chunks(events: &mut Vec<Event>, max: usize) -> Vec<Vec<Event>> {
    let max = max.max(1);
    if events.len() <= max {
        return vec![std::mem::take(events)];
    }
    let mut out = Vec::with_capacity(events.len().div_ceil(max));
    let mut rest = std::mem::take(events);
    while rest.len() > max {
        let tail = rest.split_off(max);
        out.push(rest);
        rest = tail;
    }
    out.push(rest);
    out
}
