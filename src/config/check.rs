//! `sluice check`'s report on the supervisor config: every problem on its
//! own line, then a one-line summary; exit code 1 if there is any error.

use super::{ConfigSource, Diagnostic, EMBEDDED_NAME, Loaded, load};

/// The report text and the exit code (0 clean or warnings only, 1 errors).
pub fn check(source: &ConfigSource) -> (String, i32) {
    render(source, load(source))
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
