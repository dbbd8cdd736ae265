//! Every component type the engine knows, by Flume's short name (and
//! Flume's class names, so unchanged files work). Adding a component is
//! one new file plus one line here.

use std::sync::Arc;

use super::channel::{Channel, file, memory, spillable};
use super::config::{Diags, Props};
use super::interceptor::{self, Interceptor};
use super::sink::{self, Sink};
use super::source::{self, Source};

pub struct SourceType {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub build: fn(&Props, &mut Diags) -> Option<Box<dyn Source>>,
}

pub struct SinkType {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub build: fn(&Props, &mut Diags) -> Option<Box<dyn Sink>>,
}

pub struct ChannelType {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Gets the channel's name and properties.
    pub build: fn(&str, &Props, &mut Diags) -> Option<Arc<dyn Channel>>,
}

pub struct InterceptorType {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub build: fn(&Props, &mut Diags) -> Option<Box<dyn Interceptor>>,
}

pub const SOURCES: &[SourceType] = &[
    source::netcat::TYPE,
    source::netcatudp::TYPE,
    source::exec::TYPE,
    source::seq::TYPE,
];

pub const SINKS: &[SinkType] = &[sink::logger::TYPE, sink::null::TYPE, sink::file_roll::TYPE];

pub const CHANNELS: &[ChannelType] = &[memory::TYPE, file::TYPE, spillable::TYPE];

pub const INTERCEPTORS: &[InterceptorType] = &[
    interceptor::timestamp::TYPE,
    interceptor::host::TYPE,
    interceptor::static_header::TYPE,
];

/// Find `type_name` among `types` (short name or class name); an unknown
/// one is an error on the `type` property that lists the known names.
fn find<'a, T>(
    types: &'a [T],
    names: impl Fn(&T) -> (&'static str, &'static [&'static str]),
    kind: &str,
    type_name: &str,
    props: &Props,
    diags: &mut Diags,
) -> Option<&'a T> {
    let found = types.iter().find(|t| {
        let (name, aliases) = names(t);
        name.eq_ignore_ascii_case(type_name) || aliases.contains(&type_name)
    });
    if found.is_none() {
        // Nothing will read its properties: they are not also unknown.
        props.keys();
    }
    if found.is_none() && !type_name.is_empty() {
        let known: Vec<&str> = types.iter().map(|t| names(t).0).collect();
        props.error(
            diags,
            Some("type"),
            format!(
                "unknown {kind} type '{type_name}' (known: {})",
                known.join(", ")
            ),
        );
    }
    found
}

pub fn source(type_name: &str, props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    let t = find(
        SOURCES,
        |t| (t.name, t.aliases),
        "source",
        type_name,
        props,
        diags,
    )?;
    (t.build)(props, diags)
}

pub fn sink(type_name: &str, props: &Props, diags: &mut Diags) -> Option<Box<dyn Sink>> {
    let t = find(
        SINKS,
        |t| (t.name, t.aliases),
        "sink",
        type_name,
        props,
        diags,
    )?;
    (t.build)(props, diags)
}

pub fn channel(
    type_name: &str,
    name: &str,
    props: &Props,
    diags: &mut Diags,
) -> Option<Arc<dyn Channel>> {
    let t = find(
        CHANNELS,
        |t| (t.name, t.aliases),
        "channel",
        type_name,
        props,
        diags,
    )?;
    (t.build)(name, props, diags)
}

pub fn interceptor(
    type_name: &str,
    props: &Props,
    diags: &mut Diags,
) -> Option<Box<dyn Interceptor>> {
    let t = find(
        INTERCEPTORS,
        |t| (t.name, t.aliases),
        "interceptor",
        type_name,
        props,
        diags,
    )?;
    (t.build)(props, diags)
}
