//! `null`: takes events and drops them (`batchSize`, default 100).

use async_trait::async_trait;

use super::Sink;
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::SinkType;

pub const TYPE: SinkType = SinkType {
    name: "null",
    aliases: &["org.apache.flume.sink.NullSink"],
    build,
};

struct Null {
    batch: usize,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Sink>> {
    Some(Box::new(Null {
        batch: props.count(diags, "batchSize", 100, 1),
    }))
}

#[async_trait]
impl Sink for Null {
    fn batch_size(&self) -> usize {
        self.batch
    }

    async fn deliver(&mut self, _events: &[Event]) -> Result<(), String> {
        Ok(())
    }
}
