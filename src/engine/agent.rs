//! One agent, built from its config and run: the topology (which source
//! feeds which channels, which sink drains which channel), start in order,
//! and an orderly stop.
//!
//! Start: sinks first, then sources (so nothing is accepted that could not
//! flow). Any `start` error fails the whole agent. Stop: sources stop
//! accepting; sinks keep draining the channels for up to [`DRAIN`]; then
//! sinks stop, and whatever a memory channel still holds is reported lost.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::channel::Channel;
use super::config::{AgentConfig, Diags};
use super::log::AgentLog;
use super::processor::ChannelProcessor;
use super::registry;
use super::selector::Selector;
use super::sink::{self, Sink, SinkContext};
use super::source::{Source, SourceContext};

/// How long sinks may keep draining after the sources stopped.
pub const DRAIN: Duration = Duration::from_secs(3);

/// A sink, the channel it drains, and its context.
type BuiltSink = (Box<dyn Sink>, Arc<dyn Channel>, SinkContext);

pub struct Agent {
    name: String,
    sources: Vec<(Box<dyn Source>, SourceContext)>,
    sinks: Vec<BuiltSink>,
    channels: Vec<Arc<dyn Channel>>,
    log: AgentLog,
    sources_cancel: CancellationToken,
}

/// Build every component of `config`. On success, the agent and the
/// warnings; otherwise every problem found.
pub fn build(config: AgentConfig, log: AgentLog) -> Result<(Agent, Diags), Diags> {
    let mut diags = Diags::default();
    let agent = config.agent.clone();

    let mut channels: Vec<(String, Arc<dyn Channel>)> = Vec::new();
    for c in &config.channels {
        if let Some(ch) = registry::channel(&c.type_name, &c.name, &c.props, &mut diags) {
            channels.push((c.name.clone(), ch));
        }
        c.props.warn_unknown(&mut diags);
    }
    // The first channel of each name (a name listed twice is an error).
    let mut by_name: std::collections::HashMap<&str, &Arc<dyn Channel>> =
        std::collections::HashMap::new();
    for (n, c) in &channels {
        by_name.entry(n.as_str()).or_insert(c);
    }
    let channel = |name: &str| by_name.get(name).map(|c| Arc::clone(c));

    let sources_cancel = CancellationToken::new();
    let mut sources = Vec::new();
    for s in &config.sources {
        let props = &s.component.props;
        let label = props.label().to_string();
        let selector = Selector::from_props(props, &s.channels, &mut diags);
        let mut interceptors = Vec::new();
        for name in props.list("interceptors") {
            let sub = props.sub(&format!("interceptors.{name}"));
            match sub.string("type") {
                Some(t) => {
                    if let Some(i) = registry::interceptor(&t, &sub, &mut diags) {
                        interceptors.push(i);
                    }
                }
                None => sub.error(&mut diags, Some("type"), "is required"),
            }
            sub.warn_unknown(&mut diags);
        }
        let built = registry::source(&s.component.type_name, props, &mut diags);
        let chans: Option<Vec<Arc<dyn Channel>>> = s.channels.iter().map(|c| channel(c)).collect();
        props.warn_unknown(&mut diags);
        if let (Some(source), Some(chans)) = (built, chans) {
            let processor =
                ChannelProcessor::new(label.clone(), interceptors, selector, chans, log.clone());
            sources.push((
                source,
                SourceContext {
                    label,
                    processor: Arc::new(processor),
                    cancel: sources_cancel.clone(),
                    log: log.clone(),
                },
            ));
        }
    }

    let mut sinks = Vec::new();
    for k in &config.sinks {
        let props = &k.component.props;
        let built = registry::sink(&k.component.type_name, props, &mut diags);
        props.warn_unknown(&mut diags);
        if let (Some(sink), Some(ch)) = (built, channel(&k.channel)) {
            sinks.push((
                sink,
                ch,
                SinkContext {
                    label: props.label().to_string(),
                    log: log.clone(),
                },
            ));
        }
    }
    for g in &config.sinkgroups {
        // Sink processors (failover, load_balance) arrive in a later issue;
        // the default one runs each sink on its own, which is what we do.
        let kind = g.props.sub("processor").string("type");
        if let Some(kind) = kind.filter(|k| k != "default") {
            g.props.error(
                &mut diags,
                Some("processor.type"),
                format!("sink processor '{kind}' is not supported yet (known: default)"),
            );
        }
        g.props.get("sinks");
        g.props.warn_unknown(&mut diags);
    }

    if diags.has_errors() {
        return Err(diags);
    }
    Ok((
        Agent {
            name: agent,
            sources,
            sinks,
            channels: channels.into_iter().map(|(_, c)| c).collect(),
            log,
            sources_cancel,
        },
        diags,
    ))
}

impl Agent {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start every component, run until `stop` fires, then stop in order.
    /// An error means the agent could not start (the message says why).
    pub async fn run(self, stop: CancellationToken) -> Result<(), String> {
        let Agent {
            name,
            sources,
            sinks,
            channels,
            log,
            sources_cancel,
        } = self;
        let sinks_cancel = CancellationToken::new();
        for (i, c) in channels.iter().enumerate() {
            if let Err(e) = c.start(&log).await {
                log.error(c.name(), &format!("cannot start: {e}"));
                for c in &channels[..i] {
                    c.stop().await;
                }
                return Err(format!("{}: cannot start: {e}", c.name()));
            }
        }
        let mut started_sinks: Vec<BuiltSink> = Vec::new();
        for (mut sink, ch, ctx) in sinks {
            if let Err(e) = sink.start(&ctx).await {
                let msg = format!("{}: cannot start: {e}", ctx.label);
                log.error(&ctx.label, &format!("cannot start: {e}"));
                for (mut s, _, _) in started_sinks {
                    s.stop().await;
                }
                for c in &channels {
                    c.stop().await;
                }
                return Err(msg);
            }
            started_sinks.push((sink, ch, ctx));
        }
        let mut started_sources = Vec::new();
        for (mut source, ctx) in sources {
            if let Err(e) = source.start(&ctx).await {
                let msg = format!("{}: cannot start: {e}", ctx.label);
                log.error(&ctx.label, &format!("cannot start: {e}"));
                for (mut s, _, _) in started_sinks {
                    s.stop().await;
                }
                for c in &channels {
                    c.stop().await;
                }
                return Err(msg);
            }
            started_sources.push((source, ctx));
        }

        let mut sink_tasks = tokio::task::JoinSet::new();
        for (sink, ch, ctx) in started_sinks {
            spawn_sink(&mut sink_tasks, sink, ch, ctx, sinks_cancel.clone());
        }
        let mut source_tasks = tokio::task::JoinSet::new();
        for (source, ctx) in started_sources {
            let label = ctx.label.clone();
            let log = log.clone();
            source_tasks.spawn(async move {
                if let Err(e) = source.run(ctx).await {
                    log.error(&label, &e);
                }
            });
        }
        log.info(&name, "agent started");

        stop.cancelled().await;
        log.info(&name, "stopping: sources first, then draining the channels");
        sources_cancel.cancel();
        while source_tasks.join_next().await.is_some() {}
        let drained = tokio::time::timeout(DRAIN, async {
            for c in &channels {
                c.wait_empty().await;
            }
        })
        .await;
        if drained.is_err() {
            log.warn(
                &name,
                &format!("the sinks did not drain the channels within {DRAIN:?}"),
            );
        }
        sinks_cancel.cancel();
        while sink_tasks.join_next().await.is_some() {}
        for c in &channels {
            let left = c.len();
            if left > 0 && !c.durable() {
                log.warn(
                    &name,
                    &format!(
                        "channel {}: {left} events were still in this memory channel and are lost",
                        c.name()
                    ),
                );
            }
        }
        for c in &channels {
            c.stop().await;
        }
        log.info(&name, "agent stopped");
        Ok(())
    }
}

#[cfg(test)]
impl Agent {
    /// An agent of `source` alone, over the test harness's memory channel.
    pub(crate) fn of_source(
        name: &str,
        source: Box<dyn Source>,
        h: &super::source::testing::Harness,
    ) -> Agent {
        let channel: Arc<dyn Channel> = h.channel.clone();
        Agent {
            name: name.to_string(),
            sources: vec![(source, h.ctx.clone())],
            sinks: Vec::new(),
            channels: vec![channel],
            log: h.ctx.log.clone(),
            sources_cancel: h.ctx.cancel.clone(),
        }
    }
}

/// Start a sink's loop: on the runtime, or, for a sink that blocks in
/// `deliver` (see [`Sink::own_thread`]), on a blocking-pool thread that
/// keeps it for the sink's whole life, with a small runtime of its own, so
/// its file writes never hold up a worker the sources need.
fn spawn_sink(
    tasks: &mut tokio::task::JoinSet<()>,
    sink: Box<dyn Sink>,
    ch: Arc<dyn Channel>,
    ctx: SinkContext,
    cancel: CancellationToken,
) {
    if sink.own_thread() {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                tasks.spawn_blocking(move || rt.block_on(sink::run(sink, ch, ctx, cancel)));
                return;
            }
            Err(e) => ctx.log.warn(
                &ctx.label,
                &format!("cannot make a thread of its own ({e}); running on the agent's runtime"),
            ),
        }
    }
    tasks.spawn(sink::run(sink, ch, ctx, cancel));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config;
    use std::path::Path;

    use crate::engine::log::testing::Captured;

    const SEQ_LOGGER: &str = "\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = 1000
a1.sources.r1.batchSize = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 50
a1.channels.c1.transactionCapacity = 50
a1.sinks.k1.type = logger
a1.sinks.k1.batchSize = 7
a1.sinks.k1.channel = c1
";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_event_arrives_once_in_order_through_a_small_channel() {
        let (c, _) = config::parse(Path::new("a.conf"), SEQ_LOGGER, "a1").expect("valid");
        let out = Captured::default();
        let (agent, warnings) = build(c, out.log()).expect("built");
        assert!(warnings.items.is_empty(), "{:?}", warnings.items);
        let stop = CancellationToken::new();
        let running = tokio::spawn(agent.run(stop.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while out.text().matches("Event:").count() < 1000 {
            assert!(std::time::Instant::now() < deadline, "{}", out.text());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        running.await.expect("joined").expect("ran");
        let text = out.text();
        // Batches of 100 were cut to the channel's transactionCapacity of
        // 50 and waited for room: all 1000, in order, none twice.
        let bodies: Vec<String> = text
            .lines()
            .filter(|l| l.contains("Event:"))
            .map(|l| {
                l.rsplit("  ")
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(" }")
                    .trim()
                    .to_string()
            })
            .collect();
        let expected: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(bodies, expected);
        assert!(text.contains("agent stopped"));
        assert!(!text.contains("lost"));
    }
}
