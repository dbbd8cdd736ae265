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

    /// Whether `e` goes to channel `c`: `Some(true)` as a required
    /// channel, `Some(false)` as an optional one, `None` not at all (as
    /// `route` sends it).
    pub fn goes_to(&self, e: &Event, c: usize) -> Option<bool> {
        match self {
            Selector::Replicating { optional } => optional.get(c).map(|o| !o),
            Selector::Multiplexing { .. } => {
                let (req, opt) = self.multiplexed(e);
                if req.contains(&c) {
                    Some(true)
                } else {
                    opt.contains(&c).then_some(false)
                }
            }
        }
    }

    /// A multiplexing selector's required and optional channels for `e`
    /// (empty for a replicating one).
    fn multiplexed(&self, e: &Event) -> (&[usize], &[usize]) {
        let Selector::Multiplexing {
            header,
            mapping,
            optional,
            default,
        } = self
        else {
            return (&[], &[]);
        };
        let value = e.headers.get(header);
        let req = value
            .and_then(|v| mapping.get(v))
            .filter(|c| !c.is_empty())
            .unwrap_or(default);
        let opt = value
            .and_then(|v| optional.get(v))
            .map_or(&[][..], |o| &o[..]);
        (req, opt)
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
            Selector::Multiplexing { .. } => {
                let mut required: Vec<Vec<Event>> = vec![Vec::new(); channels];
                let mut optional_out: Vec<Vec<Event>> = vec![Vec::new(); channels];
                for e in events {
                    let (req, opt) = self.multiplexed(&e);
                    for &c in req {
                        required[c].push(e.clone());
                    }
                    for &c in opt {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::properties::Entry;
    use std::sync::Arc;

    fn props(pairs: &[(&str, &str)]) -> Props {
        let entries = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: 1,
                    },
                )
            })
            .collect();
        Props::new(
            Arc::new("a.conf".into()),
            "a1.sources.r1".into(),
            1,
            entries,
        )
    }

    fn channels() -> Vec<String> {
        vec!["c1".into(), "c2".into(), "c3".into()]
    }

    fn summary(routes: &[Route]) -> Vec<(usize, usize, bool)> {
        routes
            .iter()
            .map(|r| (r.channel, r.events.len(), r.required))
            .collect()
    }

    #[test]
    fn replicating_sends_everything_everywhere_with_optional_channels() {
        let mut d = Diags::default();
        let s = Selector::from_props(&props(&[("selector.optional", "c3")]), &channels(), &mut d);
        assert!(d.items.is_empty());
        let routes = s.route(vec![Event::new("a"), Event::new("b")], 3);
        assert_eq!(
            summary(&routes),
            [(0, 2, true), (1, 2, true), (2, 2, false)]
        );
    }

    #[test]
    fn multiplexing_routes_by_header_with_a_default() {
        let mut d = Diags::default();
        let p = props(&[
            ("selector.type", "multiplexing"),
            ("selector.header", "state"),
            ("selector.mapping.CZ", "c1"),
            ("selector.mapping.US", "c2 c3"),
            ("selector.optional.CZ", "c3"),
            ("selector.default", "c3"),
        ]);
        let s = Selector::from_props(&p, &channels(), &mut d);
        assert!(d.items.is_empty(), "{:?}", d.items);
        let ev = |st: &str| Event::new("x").with_header("state", st);
        let routes = s.route(vec![ev("CZ"), ev("US"), Event::new("none")], 3);
        // c1 gets CZ; c2 gets US; c3 gets US and the header-less one
        // (required), and CZ as optional.
        assert_eq!(
            summary(&routes),
            [(0, 1, true), (1, 1, true), (2, 2, true), (2, 1, false)]
        );
    }

    #[test]
    fn an_unknown_channel_or_type_is_an_error() {
        let mut d = Diags::default();
        Selector::from_props(&props(&[("selector.optional", "c9")]), &channels(), &mut d);
        Selector::from_props(&props(&[("selector.type", "random")]), &channels(), &mut d);
        let text: Vec<String> = d.items.iter().map(|d| d.message.clone()).collect();
        assert!(
            text[0].contains("'c9' is not one of this source's channels"),
            "{text:?}"
        );
        assert!(
            text[1].contains("unknown selector type 'random'"),
            "{text:?}"
        );
    }
}
