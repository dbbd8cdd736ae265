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
