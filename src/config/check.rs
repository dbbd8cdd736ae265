//! `sluice check`'s report on the supervisor config: every problem on its
//! own line, then a one-line summary; exit code 1 if there is any error.

use super::{ConfigSource, Diagnostic, EMBEDDED_NAME, Loaded, ProcessKind, load};

/// The report text and the exit code (0 clean or warnings only, 1 errors).
pub fn check(source: &ConfigSource) -> (String, i32) {
    render(source, load(source).and_then(check_agent_files))
}

/// Add the problems of every agent file the config runs (each file and
/// agent once); any error makes the whole check fail.
fn check_agent_files(mut loaded: Loaded) -> Result<Loaded, Vec<Diagnostic>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut found = Vec::new();
    for p in loaded.config.groups.iter().flat_map(|g| &g.processes) {
        if let ProcessKind::Agent(a) = &p.kind
            && seen.insert((a.conf_file.clone(), a.agent_name.clone()))
        {
            found.extend(crate::engine::host::validate(&a.conf_file, &a.agent_name));
        }
    }
    if found.iter().any(Diagnostic::is_error) {
        let mut all = loaded.warnings;
        all.extend(found);
        return Err(all);
    }
    loaded.warnings.extend(found);
    Ok(loaded)
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.ends_with('s')) {
        (1, _) => format!("{n} {word}"),
        (_, true) => format!("{n} {word}es"),
        (_, false) => format!("{n} {word}s"),
    }
}

pub(super) fn render(
    source: &ConfigSource,
    result: Result<Loaded, Vec<Diagnostic>>,
) -> (String, i32) {
    let name = match source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Embedded(dir) => format!("{EMBEDDED_NAME} in {}", dir.display()),
    };
    let mut out = String::new();
    match result {
        Ok(loaded) => {
            for w in &loaded.warnings {
                out.push_str(&format!("{w}\n"));
            }
            let processes: usize = loaded.config.groups.iter().map(|g| g.processes.len()).sum();
            out.push_str(&format!(
                "{name}: OK: {} in {}, {} read, {}\n",
                plural(processes, "process"),
                plural(loaded.config.groups.len(), "group"),
                plural(loaded.config.files.len(), "file"),
                plural(loaded.warnings.len(), "warning"),
            ));
            (out, 0)
        }
        Err(diags) => {
            for d in &diags {
                out.push_str(&format!("{d}\n"));
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            out.push_str(&format!(
                "{name}: {}, {}\n",
                plural(errors, "error"),
                plural(diags.len() - errors, "warning"),
            ));
            (out, 1)
        }
    }
}
