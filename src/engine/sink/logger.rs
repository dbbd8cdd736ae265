//! `logger`: writes each event to the agent's log the way Flume's logger
//! sink does: `Event: { headers:{k=v} body: 48 65 6C 6C 6F  ...  Hello }`,
//! the first `maxBytesToLog` (16) body bytes as a hex dump line.

use std::fmt::Write as _;

use async_trait::async_trait;

use super::{Sink, SinkContext};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::log::{AgentLog, Level};
use crate::engine::registry::SinkType;

pub const TYPE: SinkType = SinkType {
    name: "logger",
    aliases: &["org.apache.flume.sink.LoggerSink"],
    build,
};

struct Logger {
    max_bytes: usize,
    batch: usize,
    ctx: Option<SinkContext>,
    buf: String,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Sink>> {
    Some(Box::new(Logger {
        max_bytes: props.count(diags, "maxBytesToLog", 16, 0),
        batch: props.count(diags, "batchSize", 100, 1),
        ctx: None,
        buf: String::new(),
    }))
}

/// Flume's `{ headers:{...} body: ... }`: Java's map format for the
/// headers, then one hex-dump line (16 slots of `XX `, then the printable
/// ASCII of the bytes, `.` for the rest) without its offset column.
pub fn dump_event(out: &mut String, e: &Event, max_bytes: usize) {
    out.push_str("{ headers:{");
    for (i, (k, v)) in e.headers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{k}={v}");
    }
    out.push_str("} body:");
    let data = &e.body[..e.body.len().min(max_bytes)];
    for (line_no, chunk) in data.chunks(16).enumerate() {
        if line_no > 0 {
            // Later lines keep their offset column, as in Flume's dump.
            let _ = write!(out, "\n{:08X}", line_no * 16);
        }
        out.push(' ');
        for slot in 0..16 {
            match chunk.get(slot) {
                Some(b) => {
                    let _ = write!(out, "{b:02X} ");
                }
                None => out.push_str("   "),
            }
        }
        for &b in chunk {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
    }
    out.push_str(" }");
}

#[async_trait]
impl Sink for Logger {
    async fn start(&mut self, ctx: &SinkContext) -> Result<(), String> {
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let Some(ctx) = &self.ctx else {
            return Err("not started".into());
        };
        // Events are logged at INFO: a quieter log drops them, as log4j does.
        if !ctx.log.enabled(Level::Info) {
            return Ok(());
        }
        // One write for the whole batch.
        self.buf.clear();
        for e in events {
            let mut line = String::from("Event: ");
            dump_event(&mut line, e, self.max_bytes);
            self.buf
                .push_str(&AgentLog::line("INFO", &ctx.label, &line));
        }
        ctx.log.write_raw(self.buf.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_like_flume() {
        let mut s = String::new();
        dump_event(&mut s, &Event::new(&b"Hello"[..]), 16);
        assert_eq!(
            s,
            format!(
                "{{ headers:{{}} body: 48 65 6C 6C 6F {}Hello }}",
                " ".repeat(33)
            )
        );
        let mut s = String::new();
        let e = Event::new(&b"hello world, this is long\r"[..])
            .with_header("a", "1")
            .with_header("b", "2");
        dump_event(&mut s, &e, 16);
        assert_eq!(
            s,
            "{ headers:{a=1, b=2} body: 68 65 6C 6C 6F 20 77 6F 72 6C 64 2C 20 74 68 69 hello world, thi }"
        );
        let mut s = String::new();
        dump_event(&mut s, &Event::new(&b""[..]), 16);
        assert_eq!(s, "{ headers:{} body: }");
    }
}
