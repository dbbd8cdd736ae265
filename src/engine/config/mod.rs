//! A Flume agent file, read and checked: which components an agent has, how
//! they are wired (source -> channels, sink -> channel), and each one's
//! properties with their lines. Component types and their own properties
//! are checked when the agent is built (see `engine::registry`).

pub mod properties;
pub mod props;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use props::{Diags, Props};

use crate::config::{Diagnostic, Severity};
use properties::{Entries, Entry};

/// One named component and its properties (`type` already read).
#[derive(Debug)]
pub struct Component {
    pub name: String,
    pub type_name: String,
    pub props: Props,
}

#[derive(Debug)]
pub struct SourceConfig {
    pub component: Component,
    pub channels: Vec<String>,
}

#[derive(Debug)]
pub struct SinkConfig {
    pub component: Component,
    pub channel: String,
}

#[derive(Debug)]
pub struct SinkGroupConfig {
    pub name: String,
    pub sinks: Vec<String>,
    pub props: Props,
}

/// One agent of a properties file, wired and checked.
#[derive(Debug)]
pub struct AgentConfig {
    pub file: PathBuf,
    pub agent: String,
    pub sources: Vec<SourceConfig>,
    pub channels: Vec<Component>,
    pub sinks: Vec<SinkConfig>,
    pub sinkgroups: Vec<SinkGroupConfig>,
}

const KINDS: [&str; 4] = ["sources", "channels", "sinks", "sinkgroups"];

fn file_error(file: &Path, line: Option<usize>, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: file.to_path_buf(),
        line,
        section: None,
        key: None,
        message,
    }
}

/// The text of an agent file. Only a regular file: a FIFO would block
/// whoever reads it (the daemon's config load, `sluice check`) until some
/// writer came, and a device such as /dev/zero never ends (the file
/// channel's `open_read`: opened without blocking, then checked).
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    crate::engine::channel::file::log::open_read(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Read agent `agent` from the file at `path`. On success, the warnings;
/// on failure, every problem found.
pub fn read(path: &Path, agent: &str) -> Result<(AgentConfig, Diags), Diags> {
    let text = read_text(path).map_err(|e| Diags {
        items: vec![file_error(
            path,
            None,
            format!("cannot read the agent file: {e}"),
        )],
    })?;
    parse(path, &text, agent)
}

/// [`read`] on text already in memory.
pub fn parse(path: &Path, text: &str, agent: &str) -> Result<(AgentConfig, Diags), Diags> {
    let (entries, warnings) = properties::parse(path, text).map_err(|items| Diags { items })?;
    let mut diags = Diags { items: warnings };
    let config = wire(path, &entries, agent, &mut diags);
    match config {
        Some(c) if !diags.has_errors() => Ok((c, diags)),
        _ => Err(diags),
    }
}

/// The agents a file defines (the first segment of every key), for messages.
fn agent_names(entries: &Entries) -> Vec<String> {
    let names: BTreeSet<&str> = entries
        .keys()
        .filter_map(|k| k.split_once('.').map(|(a, _)| a))
        .collect();
    names.into_iter().map(str::to_string).collect()
}

/// The components of one kind listed in `a1.<kind>`, with the properties
/// found under `a1.<kind>.<name>.`.
struct Listed {
    names: Vec<(String, usize)>,
    /// The same names, to look one up at once.
    known: BTreeSet<String>,
    props: BTreeMap<String, BTreeMap<String, Entry>>,
}

fn wire(path: &Path, entries: &Entries, agent: &str, diags: &mut Diags) -> Option<AgentConfig> {
    let file = Arc::new(path.to_path_buf());
    let prefix = format!("{agent}.");
    let mine: BTreeMap<&str, &Entry> = entries
        .iter()
        .filter_map(|(k, e)| k.strip_prefix(&prefix).map(|rest| (rest, e)))
        .collect();
    if mine.is_empty() {
        let found = agent_names(entries);
        let hint = if found.is_empty() {
            "the file defines no agent".to_string()
        } else {
            format!("agents in this file: {}", found.join(", "))
        };
        diags.items.push(file_error(
            path,
            None,
            format!("no agent named '{agent}' in this file ({hint}); check the agent name (flume-ng --name)"),
        ));
        return None;
    }

    let mut listed: BTreeMap<&str, Listed> = BTreeMap::new();
    for kind in KINDS {
        let mut names = Vec::new();
        if let Some(e) = mine.get(kind) {
            let mut seen = BTreeSet::new();
            for n in e.value.split_whitespace() {
                if !seen.insert(n) {
                    diags.items.push(Diagnostic {
                        severity: Severity::Error,
                        file: path.to_path_buf(),
                        line: Some(e.line),
                        section: None,
                        key: Some(format!("{agent}.{kind}")),
                        message: format!("'{n}' is listed twice"),
                    });
                }
                names.push((n.to_string(), e.line));
            }
        }
        listed.insert(
            kind,
            Listed {
                known: names.iter().map(|(n, _)| n.clone()).collect(),
                names,
                props: BTreeMap::new(),
            },
        );
    }
    // Sort every other key under its component, or report it.
    for (rest, e) in &mine {
        if KINDS.contains(rest) {
            continue;
        }
        let mut parts = rest.splitn(3, '.');
        let (kind, name, prop) = (parts.next(), parts.next(), parts.next());
        match (kind, name, prop) {
            (Some(kind), Some(name), Some(prop)) if KINDS.contains(&kind) => {
                let l = listed.get_mut(kind)?;
                if l.known.contains(name) {
                    l.props
                        .entry(name.to_string())
                        .or_default()
                        .insert(prop.to_string(), (*e).clone());
                } else {
                    diags.items.push(Diagnostic {
                        severity: Severity::Warning,
                        file: path.to_path_buf(),
                        line: Some(e.line),
                        section: None,
                        key: Some(format!("{agent}.{rest}")),
                        message: format!(
                            "'{name}' is not listed in {agent}.{kind}; its properties are ignored"
                        ),
                    });
                }
            }
            _ => diags.items.push(Diagnostic {
                severity: Severity::Warning,
                file: path.to_path_buf(),
                line: Some(e.line),
                section: None,
                key: Some(format!("{agent}.{rest}")),
                message: "unknown property (ignored)".to_string(),
            }),
        }
    }

    let mut components = |kind: &str| -> Vec<Props> {
        let Some(l) = listed.get_mut(kind) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, list_line) in &l.names {
            let props = l.props.remove(name).unwrap_or_default();
            let line = props.values().map(|e| e.line).min().unwrap_or(*list_line);
            out.push(Props::new(
                file.clone(),
                format!("{agent}.{kind}.{name}"),
                line,
                props,
            ));
        }
        out
    };
    let source_props = components("sources");
    let channel_props = components("channels");
    let sink_props = components("sinks");
    let group_props = components("sinkgroups");

    if source_props.is_empty() && sink_props.is_empty() && channel_props.is_empty() {
        diags.items.push(file_error(
            path,
            mine.values().map(|e| e.line).min(),
            format!("agent '{agent}' has no sources, channels or sinks (set {agent}.sources, {agent}.channels, {agent}.sinks)"),
        ));
        return None;
    }
    if channel_props.is_empty() {
        diags.items.push(file_error(
            path,
            None,
            format!("agent '{agent}' has no channels (set {agent}.channels)"),
        ));
    }
    let channel_names: BTreeSet<String> = channel_props
        .iter()
        .map(|p| name_of(p.label()).to_string())
        .collect();

    let component = |props: Props, diags: &mut Diags| -> Component {
        let type_name = props.required(diags, "type").unwrap_or_default();
        Component {
            name: name_of(props.label()).to_string(),
            type_name,
            props,
        }
    };
    let check_channel = |props: &Props, key: &str, c: &str, diags: &mut Diags| {
        if !channel_names.contains(c) {
            props.error(
                diags,
                Some(key),
                format!("channel '{c}' is not defined (listed in {agent}.channels)"),
            );
        }
    };

    let mut sources = Vec::new();
    for props in source_props {
        let channels = props.list("channels");
        if channels.is_empty() {
            props.error(
                diags,
                Some("channels"),
                "a source needs at least one channel (property 'channels')",
            );
        }
        for c in &channels {
            check_channel(&props, "channels", c, diags);
        }
        sources.push(SourceConfig {
            component: component(props, diags),
            channels,
        });
    }
    let channels: Vec<Component> = channel_props
        .into_iter()
        .map(|p| component(p, diags))
        .collect();
    let mut sinks = Vec::new();
    for props in sink_props {
        let list = props.list("channel");
        let channel = match list.as_slice() {
            [one] => {
                check_channel(&props, "channel", one, diags);
                one.clone()
            }
            [] => {
                let hint = if props.get("channels").is_some() {
                    " ('channels' is for sources; a sink has 'channel')"
                } else {
                    ""
                };
                props.error(
                    diags,
                    Some("channel"),
                    format!("a sink needs exactly one channel{hint}"),
                );
                String::new()
            }
            _ => {
                props.error(
                    diags,
                    Some("channel"),
                    format!("a sink takes exactly one channel, not {}", list.len()),
                );
                String::new()
            }
        };
        sinks.push(SinkConfig {
            component: component(props, diags),
            channel,
        });
    }
    let sink_names: BTreeSet<String> = sinks.iter().map(|s| s.component.name.clone()).collect();
    let mut sinkgroups = Vec::new();
    for props in group_props {
        let members = props.list("sinks");
        if members.is_empty() {
            props.error(
                diags,
                Some("sinks"),
                "a sink group needs its sinks (property 'sinks')",
            );
        }
        for m in &members {
            if !sink_names.contains(m) {
                props.error(
                    diags,
                    Some("sinks"),
                    format!("sink '{m}' is not defined (listed in {agent}.sinks)"),
                );
            }
        }
        sinkgroups.push(SinkGroupConfig {
            name: name_of(props.label()).to_string(),
            sinks: members,
            props,
        });
    }
    Some(AgentConfig {
        file: path.to_path_buf(),
        agent: agent.to_string(),
        sources,
        channels,
        sinks,
        sinkgroups,
    })
}

/// The last segment of `a1.sources.r1`.
fn name_of(label: &str) -> &str {
    label.rsplit('.').next().unwrap_or(label)
}

#[cfg(test)]
mod tests;
