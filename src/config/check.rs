//! `sluice check`'s report: every problem on its own line, then a one-line
//! summary; exit code 1 if there is any error.
//!
//! The supervisor config is read as far as it goes, and every agent file it
//! runs is checked even when the INI has errors; each agent's problems
//! follow a note naming the `[agent:x]`/`[program:x]` sections that run it.
//! `sluice check -f FILE -n NAME` checks one agent file alone.

use std::path::{Path, PathBuf};

use super::load::{self, Host};
use super::{Config, ConfigSource, Diagnostic, EMBEDDED_NAME, ProcessKind};
use crate::engine::flume_ng::AgentArgs;

/// The report text and the exit code (0 clean or warnings only, 1 errors).
pub fn check(source: &ConfigSource) -> (String, i32) {
    let (config, diags) = load::load_all(source, &Host::current());
    let agents = config.as_ref().map(agent_problems).unwrap_or_default();
    render(source, config.as_ref(), &diags, &agents)
}

/// One agent file alone, as `sluice agent` with the same options would
/// build it (its `-D` properties warned about as `sluice agent` does).
pub fn check_agent(args: &AgentArgs) -> (String, i32) {
    let (conf_file, name) = (&args.conf_file, &args.name);
    let options = args.options();
    let mut out: String = options
        .warnings
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect();
    let diags = validate(conf_file, name);
    out.push_str(&lines(&diags));
    let (errors, warnings) = count(&diags);
    let warnings = warnings + options.warnings.len();
    let head = format!("{}: agent '{name}'", conf_file.display());
    if errors > 0 {
        out.push_str(&format!(
            "{head}: {}, {}\n",
            plural(errors, "error"),
            plural(warnings, "warning")
        ));
        (out, 1)
    } else {
        out.push_str(&format!("{head}: OK, {}\n", plural(warnings, "warning")));
        (out, 0)
    }
}

/// One agent the config runs, who runs it, and its problems.
pub(super) struct AgentProblems {
    conf_file: PathBuf,
    agent_name: String,
    /// `([agent:x], file, line)` of each section running it.
    users: Vec<(String, PathBuf, usize)>,
    diags: Vec<Diagnostic>,
}

/// Every agent file the config runs (each file and agent once), checked.
fn agent_problems(config: &Config) -> Vec<AgentProblems> {
    let mut found: Vec<AgentProblems> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut users = std::collections::HashSet::new();
    for p in config.groups.iter().flat_map(|g| &g.processes) {
        let ProcessKind::Agent(a) = &p.kind else {
            continue;
        };
        if a.conf_file.as_os_str().is_empty() || a.agent_name.is_empty() {
            continue; // reported in the INI already
        }
        let key = (a.conf_file.clone(), a.agent_name.clone());
        let i = *index.entry(key).or_insert_with(|| {
            found.push(AgentProblems {
                conf_file: a.conf_file.clone(),
                agent_name: a.agent_name.clone(),
                users: Vec::new(),
                diags: Vec::new(),
            });
            found.len() - 1
        });
        // A numprocs program runs it once per process: its section once.
        if users.insert((i, p.file.clone(), p.line)) {
            found[i].users.push((p.section(), p.file.clone(), p.line));
        }
    }
    for a in &mut found {
        a.diags = validate(&a.conf_file, &a.agent_name);
    }
    found
}

/// An agent's problems in file order.
fn validate(conf_file: &Path, name: &str) -> Vec<Diagnostic> {
    let mut diags = crate::engine::host::validate(conf_file, name);
    diags.sort_by_key(|d| d.line);
    diags
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.ends_with('s')) {
        (1, _) => format!("{n} {word}"),
        (_, true) => format!("{n} {word}es"),
        (_, false) => format!("{n} {word}s"),
    }
}

fn lines(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}

/// (errors, warnings)
fn count(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

pub(super) fn render(
    source: &ConfigSource,
    config: Option<&Config>,
    diags: &[Diagnostic],
    agents: &[AgentProblems],
) -> (String, i32) {
    let name = match source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Embedded(dir) => format!("{EMBEDDED_NAME} in {}", dir.display()),
    };
    let mut out = lines(diags);
    let (mut errors, mut warnings) = count(diags);
    for a in agents.iter().filter(|a| !a.diags.is_empty()) {
        for (section, file, line) in &a.users {
            out.push_str(&format!(
                "{}:{line}: note: [{section}] runs agent '{}' of {}; its problems follow\n",
                file.display(),
                a.agent_name,
                a.conf_file.display()
            ));
        }
        out.push_str(&lines(&a.diags));
        let (e, w) = count(&a.diags);
        errors += e;
        warnings += w;
    }
    match config {
        Some(config) if errors == 0 => {
            let processes: usize = config.groups.iter().map(|g| g.processes.len()).sum();
            out.push_str(&format!(
                "{name}: OK: {} in {}, {} read, {}\n",
                plural(processes, "process"),
                plural(config.groups.len(), "group"),
                plural(config.files.len(), "file"),
                plural(warnings, "warning"),
            ));
            (out, 0)
        }
        _ => {
            out.push_str(&format!(
                "{name}: {}, {}\n",
                plural(errors, "error"),
                plural(warnings, "warning"),
            ));
            (out, 1)
        }
    }
}
