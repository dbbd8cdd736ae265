//! `seq`: counts 0, 1, 2, ... as event bodies (Flume's sequence generator),
//! `totalEvents` of them (default: no end), `batchSize` per put (default 1).
//! Handy for tests and benchmarks.

use async_trait::async_trait;
use bytes::Bytes;

use super::{Source, SourceContext};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "seq",
    aliases: &["org.apache.flume.source.SequenceGeneratorSource"],
    build,
};

struct Seq {
    total: u64,
    batch: usize,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    Some(Box::new(Seq {
        total: props.u64(diags, "totalEvents", u64::MAX),
        batch: props.positive(diags, "batchSize", 1),
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
            let n = (self.total - next).min(self.batch as u64);
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
