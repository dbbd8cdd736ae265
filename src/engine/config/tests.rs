use std::path::Path;

use super::*;

/// The tutorial's `example.conf`.
const TUTORIAL: &str = "\
# Name the components on this agent
a1.sources = r1
a1.sinks = k1
a1.channels = c1

# Describe/configure the source
a1.sources.r1.type = netcat
a1.sources.r1.bind = 0.0.0.0
a1.sources.r1.port = 44444

# Describe the sink
a1.sinks.k1.type = logger

# Use a channel which buffers events in memory
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100

# Bind the source and sink to the channel
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
";

fn errors(text: &str, agent: &str) -> Vec<String> {
    match parse(Path::new("a.conf"), text, agent) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .items
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

#[test]
fn the_tutorial_agent_is_wired() {
    let (c, warnings) = parse(Path::new("example.conf"), TUTORIAL, "a1").expect("valid");
    assert!(warnings.items.is_empty(), "{:?}", warnings.items);
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.sources[0].component.type_name, "netcat");
    assert_eq!(c.sources[0].channels, vec!["c1"]);
    assert_eq!(c.sinks[0].channel, "c1");
    assert_eq!(c.channels[0].type_name, "memory");
    assert_eq!(c.channels[0].props.get("capacity"), Some("1000"));
    assert_eq!(c.sources[0].component.props.line(), 7);
}

#[test]
fn an_agent_missing_from_the_file_names_the_ones_there() {
    assert_eq!(
        errors(TUTORIAL, "a2"),
        vec![
            "a.conf: error: no agent named 'a2' in this file (agents in this file: a1); check the agent name (flume-ng --name)"
        ]
    );
}

#[test]
fn wiring_errors_name_line_component_and_property() {
    let text = TUTORIAL
        .replace("a1.sources.r1.channels = c1", "a1.sources.r1.channels = c9")
        .replace("a1.sinks.k1.channel = c1", "a1.sinks.k1.channel = c1 c1");
    assert_eq!(
        errors(&text, "a1"),
        vec![
            "a.conf:20: error: [a1.sources.r1] channels: channel 'c9' is not defined (listed in a1.channels)",
            "a.conf:21: error: [a1.sinks.k1] channel: a sink takes exactly one channel, not 2",
        ]
    );
}

#[test]
fn a_sink_with_channels_plural_gets_a_hint() {
    let text = TUTORIAL.replace("a1.sinks.k1.channel = c1", "a1.sinks.k1.channels = c1");
    let e = errors(&text, "a1");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("a sink needs exactly one channel ('channels' is for sources"),
        "{e:?}"
    );
}

#[test]
fn a_source_without_channels_and_a_missing_type_are_errors() {
    let text = TUTORIAL
        .replace("a1.sources.r1.channels = c1\n", "")
        .replace("a1.sinks.k1.type = logger\n", "");
    let e = errors(&text, "a1");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("[a1.sources.r1] channels: a source needs at least one channel"));
    assert!(e[1].contains("[a1.sinks.k1] type: is required"));
}

#[test]
fn properties_of_unlisted_components_are_warned_about() {
    let text = format!("{TUTORIAL}a1.sources.r2.type = seq\n");
    let (_, w) = parse(Path::new("a.conf"), &text, "a1").expect("still valid");
    assert_eq!(w.items.len(), 1);
    assert!(
        w.items[0]
            .message
            .contains("'r2' is not listed in a1.sources")
    );
}
