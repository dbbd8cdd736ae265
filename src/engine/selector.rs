//! Channel selectors: which of a source's channels each event goes to
//! (Flume's `selector.type` replicating or multiplexing).
//!
//! A route is a list of (channel index, events, required). A required
//! channel's put must succeed (the source retries it); an optional one is
//! tried once and its failure only logged.

use std::collections::HashMap;

use super::config::{Diags, Props};
use super::event::Event;

#[derive(Debug)]
pub enum Selector {
    /// Every event to every channel; `optional` ones may fail.
    Replicating { optional: Vec<bool> },
    /// By the value of one header.
    Multiplexing {
        header: String,
        mapping: HashMap<String, Vec<usize>>,
        optional: HashMap<String, Vec<usize>>,
        default: Vec<usize>,
    },
}

/// Events for one channel.
pub struct Route {
    pub channel: usize,
    pub events: Vec<Event>,
    pub required: bool,
}

impl Selector {
    /// Read `selector.*` of a source whose channels are `channels`.
    pub fn from_props(props: &Props, channels: &[String], diags: &mut Diags) -> Selector {
        let sel = props.sub("selector");
        let index = |names: Vec<String>, key: &str, diags: &mut Diags| -> Vec<usize> {
            let mut out = Vec::new();
            for n in names {
                match channels.iter().position(|c| *c == n) {
                    Some(i) => out.push(i),
                    None => sel.error(
                        diags,
                        Some(key),
                        format!(
                            "channel '{n}' is not one of this source's channels ({})",
                            channels.join(" ")
                        ),
                    ),
                }
            }
            out
        };
        let kind = sel.string("type").unwrap_or_else(|| "replicating".into());
        let selector = match kind.as_str() {
            "replicating" | "org.apache.flume.channel.ReplicatingChannelSelector" => {
                let mut optional = vec![false; channels.len()];
                for i in index(sel.list("optional"), "optional", diags) {
                    optional[i] = true;
                }
                Selector::Replicating { optional }
            }
            "multiplexing" | "org.apache.flume.channel.MultiplexingChannelSelector" => {
                let header = sel
                    .string("header")
                    .unwrap_or_else(|| "flume.selector.header".into());
                let mut mapping = HashMap::new();
                let maps = sel.sub("mapping");
                for key in maps.keys() {
                    let chans = index(maps.list(&key), &format!("mapping.{key}"), diags);
                    mapping.insert(key, chans);
                }
                let mut optional = HashMap::new();
                let opts = sel.sub("optional");
                for key in opts.keys() {
                    let chans = index(opts.list(&key), &format!("optional.{key}"), diags);
                    optional.insert(key, chans);
                }
                let default = index(sel.list("default"), "default", diags);
                Selector::Multiplexing {
                    header,
                    mapping,
                    optional,
                    default,
                }
            }
            other => {
                sel.error(
                    diags,
                    Some("type"),
                    format!("unknown selector type '{other}' (known: replicating, multiplexing)"),
                );
                Selector::Replicating {
                    optional: vec![false; channels.len()],
                }
            }
        };
        sel.warn_unknown(diags);
        selector
    }

    /// Split a batch by channel, keeping each channel's events in order.
    pub fn route(&self, events: Vec<Event>, channels: usize) -> Vec<Route> {
        match self {
            Selector::Replicating { optional } => {
                let mut routes = Vec::with_capacity(channels);
                for (i, &opt) in optional.iter().enumerate().take(channels) {
                    routes.push(Route {
                        channel: i,
                        events: Vec::new(),
                        required: !opt,
                    });
                }
                // Each channel gets its own Vec; the bodies are shared Bytes.
                if let Some((last, rest)) = routes.split_last_mut() {
                    for r in rest {
                        r.events = events.clone();
                    }
                    last.events = events;
                }
                routes
            }
            Selector::Multiplexing {
                header,
                mapping,
                optional,
                default,
            } => {
                let mut required: Vec<Vec<Event>> = vec![Vec::new(); channels];
                let mut optional_out: Vec<Vec<Event>> = vec![Vec::new(); channels];
                for e in events {
                    let value = e.headers.get(header);
                    let req = value
                        .and_then(|v| mapping.get(v))
                        .filter(|c| !c.is_empty())
                        .unwrap_or(default);
                    let opt = value.and_then(|v| optional.get(v));
                    for &c in req {
                        required[c].push(e.clone());
                    }
                    for &c in opt.into_iter().flatten() {
                        if !req.contains(&c) {
                            optional_out[c].push(e.clone());
                        }
                    }
                }
                let mut routes = Vec::new();
                for (c, events) in required.into_iter().enumerate() {
                    if !events.is_empty() {
                        routes.push(Route {
                            channel: c,
                            events,
                            required: true,
                        });
                    }
                }
                for (c, events) in optional_out.into_iter().enumerate() {
                    if !events.is_empty() {
                        routes.push(Route {
                            channel: c,
                            events,
                            required: false,
                        });
                    }
                }
                routes
            }
        }
    }
}
