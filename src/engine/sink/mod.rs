//! Sinks: where events leave an agent.
//!
//! The [`run`] loop (Flume's SinkRunner) takes a batch from the sink's
//! channel, hands it to [`Sink::deliver`], and commits the take when the
//! sink says it is delivered. On an error it rolls the take back, so the
//! events stay first in the channel, and pauses (growing up to 5 s) before
//! trying again: nothing is lost while the channel holds it.
//!
//! Adding a sink: one file here with a `TYPE` (`registry::SinkType`),
//! listed in `engine::registry::SINKS`.

pub mod file_roll;
pub mod logger;
pub mod null;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::Channel;
use super::event::Event;
use super::log::AgentLog;

/// What a sink has at hand when it starts.
#[derive(Clone)]
pub struct SinkContext {
    /// `a1.sinks.k1`.
    pub label: String,
    pub log: AgentLog,
}

#[async_trait]
pub trait Sink: Send {
    /// Open what the sink needs; an error fails the agent's start.
    async fn start(&mut self, _ctx: &SinkContext) -> Result<(), String> {
        Ok(())
    }

    /// The most events to take per transaction.
    fn batch_size(&self) -> usize;

    /// True when `deliver` does blocking I/O (files): the agent then runs
    /// this sink's loop on a thread of its own instead of a runtime worker.
    fn own_thread(&self) -> bool {
        false
    }

    /// Deliver the batch; `Ok` means it is where it belongs (written,
    /// flushed as the sink promises) and may leave the channel.
    async fn deliver(&mut self, events: &[Event]) -> Result<(), String>;

    /// When the sink next wants [`Sink::on_deadline`] (a file roll).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    async fn on_deadline(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Flush and close at shutdown.
    async fn stop(&mut self) {}
}

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Run `sink` on `channel` until `cancel` fires (see the module comment).
pub async fn run(
    mut sink: Box<dyn Sink>,
    channel: Arc<dyn Channel>,
    ctx: SinkContext,
    cancel: CancellationToken,
) {
    let batch = sink.batch_size().min(channel.transaction_capacity()).max(1);
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    loop {
        let deadline = sink.deadline();
        let take = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = sleep_until(deadline) => {
                if let Err(e) = sink.on_deadline().await {
                    ctx.log.warn(&ctx.label, &e);
                }
                continue;
            }
            take = channel.take(batch) => take,
        };
        let take = match take {
            Ok(t) => t,
            Err(e) => {
                ctx.log.error(
                    &ctx.label,
                    &format!("cannot take from {}: {e}", channel.name()),
                );
                if pause_or_cancel(&cancel, &mut pause).await {
                    break;
                }
                continue;
            }
        };
        match sink.deliver(take.events()).await {
            Ok(()) => {
                if let Err(e) = take.commit().await {
                    ctx.log.error(&ctx.label, &format!("commit failed: {e}"));
                }
                if failing {
                    ctx.log.info(&ctx.label, "delivering again");
                    failing = false;
                }
                pause = FIRST_PAUSE;
            }
            Err(e) => {
                take.rollback();
                if !failing {
                    ctx.log.error(
                        &ctx.label,
                        &format!("cannot deliver: {e}; the events stay in the channel and will be retried"),
                    );
                    failing = true;
                }
                if pause_or_cancel(&cancel, &mut pause).await {
                    break;
                }
            }
        }
    }
    sink.stop().await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Pause before a retry; true when cancelled meanwhile.
async fn pause_or_cancel(cancel: &CancellationToken, pause: &mut Duration) -> bool {
    let cancelled = tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(*pause) => false,
    };
    *pause = (*pause * 2).min(MAX_PAUSE);
    cancelled
}
