//! Sources: where events enter an agent.
//!
//! A source is built from its properties (`TYPE.build`), then started
//! (`start`: bind, open, spawn; an error here fails the agent's start, so
//! a taken port sends the program to BACKOFF), then run until the agent's
//! cancel token fires. It hands batches to its [`ChannelProcessor`].
//!
//! Adding a source: one file here with a `TYPE` (`registry::SourceType`),
//! listed in `engine::registry::SOURCES`.

pub mod exec;
pub mod netcat;
pub mod netcatudp;
pub mod seq;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::log::AgentLog;
use super::processor::ChannelProcessor;

/// What a running source has at hand.
#[derive(Clone)]
pub struct SourceContext {
    /// `a1.sources.r1`.
    pub label: String,
    pub processor: Arc<ChannelProcessor>,
    /// Fires when the agent stops.
    pub cancel: CancellationToken,
    pub log: AgentLog,
}

#[async_trait]
pub trait Source: Send {
    /// Acquire what the source needs (a listening socket, a child process).
    async fn start(&mut self, _ctx: &SourceContext) -> Result<(), String> {
        Ok(())
    }

    /// Produce events until `ctx.cancel` fires (or the source is done, as
    /// `seq` after totalEvents). An error is logged; the agent goes on.
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), String>;
}

/// What the sources' unit tests share: a context whose processor feeds one
/// memory channel, a log the test can read, and waits on conditions.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::SourceContext;
    use crate::engine::channel::Channel;
    use crate::engine::channel::memory::{MemoryChannel, Settings};
    use crate::engine::event::Event;
    use crate::engine::processor::ChannelProcessor;
    use crate::engine::selector::Selector;

    pub use crate::engine::log::testing::{Captured, DEADLINE};

    pub struct Harness {
        pub ctx: SourceContext,
        pub channel: Arc<MemoryChannel>,
        pub log: Captured,
    }

    /// A context for source `label` feeding a channel of `capacity` events.
    pub fn harness(capacity: usize) -> Harness {
        harness_with(Settings {
            capacity,
            transaction_capacity: capacity,
            byte_capacity: None,
            keep_alive: Duration::from_millis(50),
        })
    }

    /// A context for source `label` feeding a memory channel of `settings`.
    pub fn harness_with(settings: Settings) -> Harness {
        let channel = Arc::new(MemoryChannel::new("c1", settings));
        let log = Captured::default();
        let agent_log = log.log();
        let channels: Vec<Arc<dyn Channel>> = vec![channel.clone()];
        let processor = ChannelProcessor::new(
            "a1.sources.r1".into(),
            Vec::new(),
            Selector::Replicating {
                optional: vec![false],
            },
            channels,
            agent_log.clone(),
        );
        Harness {
            ctx: SourceContext {
                label: "a1.sources.r1".into(),
                processor: Arc::new(processor),
                cancel: CancellationToken::new(),
                log: agent_log,
            },
            channel,
            log,
        }
    }

    impl Harness {
        /// Take exactly `n` events from the channel (waiting for them).
        pub async fn take(&self, n: usize) -> Vec<Event> {
            let mut out = Vec::new();
            let got = tokio::time::timeout(DEADLINE, async {
                while out.len() < n {
                    let t = match self.channel.take(n - out.len()).await {
                        Ok(t) => t,
                        Err(e) => panic!("take: {e}"),
                    };
                    out.extend(t.events().iter().cloned());
                    let _ = t.commit().await;
                }
            })
            .await;
            assert!(got.is_ok(), "only {} of {n} events arrived", out.len());
            out
        }

        /// The bodies of `n` events, as text.
        pub async fn take_bodies(&self, n: usize) -> Vec<String> {
            self.take(n)
                .await
                .iter()
                .map(|e| String::from_utf8_lossy(&e.body).into_owned())
                .collect()
        }
    }
}
