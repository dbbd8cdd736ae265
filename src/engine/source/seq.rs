//! `seq`: counts 0, 1, 2, ... as event bodies (Flume's sequence generator),
//! `totalEvents` of them (default: no end), `batchSize` per put (default 1).
//! Handy for tests and benchmarks.

use async_trait::async_trait;
use bytes::Bytes;

use super::{Source, SourceContext};
use crate::engine::config::props::{JAVA_LONG_MAX, Range};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "seq",
    aliases: &["org.apache.flume.source.SequenceGeneratorSource"],
    build,
};

/// The most events made at once.
const MAX_BATCH_IN_MEMORY: u64 = 65_536;

struct Seq {
    total: u64,
    batch: usize,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    Some(Box::new(Seq {
        total: props.number(diags, "totalEvents", u64::MAX, Range::new(0, JAVA_LONG_MAX)),
        batch: props.count(diags, "batchSize", 1, 1),
    }))
}

#[async_trait]
impl Source for Seq {
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), String> {
        let mut next: u64 = 0;
        while next < self.total {
            // A put into a channel with room never looks at the token, so
            // an endless sequence would never stop without this.
            if ctx.cancel.is_cancelled() {
                return Ok(());
            }
            // A huge batchSize is made and delivered a slice at a time, so
            // it costs no more memory than this.
            let n = (self.total - next)
                .min(self.batch as u64)
                .min(MAX_BATCH_IN_MEMORY);
            let batch: Vec<Event> = (next..next + n)
                .map(|i| Event::new(Bytes::from(i.to_string())))
                .collect();
            if ctx.processor.deliver(batch, &ctx.cancel).await.is_err() {
                return Ok(());
            }
            next += n;
            // Let the rest of the agent run between batches.
            tokio::task::yield_now().await;
        }
        ctx.log
            .info(&ctx.label, &format!("generated all {} events", self.total));
        Ok(())
    }
}
