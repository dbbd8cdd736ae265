//! Config problems with their place (file, line, section, key), and the
//! collector the loader fills while it reads everything it can.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::budget::Budget;

/// How bad a config problem is: warnings are printed and ignored, errors stop the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, ": {level}:")?;
        if let Some(section) = &self.section {
            write!(f, " [{section}]")?;
        }
        if let Some(key) = &self.key {
            write!(f, " {key}:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every diagnostic met so far, without repeats (a value read once per
/// process of a `numprocs` program reports its problem once), and the
/// load's expansion budget: whoever reports a value's problems also counts
/// what it costs.
#[derive(Debug, Default)]
pub struct Diags {
    /// Repeats included: they are dropped once, at the end.
    items: Vec<Diagnostic>,
    errors: bool,
    budget: Budget,
}

/// Where a diagnostic points.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub file: &'a Path,
    pub line: Option<usize>,
    pub section: Option<&'a str>,
    pub key: Option<&'a str>,
}

impl<'a> Place<'a> {
    pub fn file(file: &'a Path) -> Place<'a> {
        Place {
            file,
            line: None,
            section: None,
            key: None,
        }
    }
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.errors |= d.is_error();
        self.items.push(d);
    }

    pub fn error(&mut self, at: Place<'_>, message: impl Into<String>) {
        self.add(Severity::Error, at, message.into());
    }

    pub fn warn(&mut self, at: Place<'_>, message: impl Into<String>) {
        self.add(Severity::Warning, at, message.into());
    }

    fn add(&mut self, severity: Severity, at: Place<'_>, message: String) {
        self.push(Diagnostic {
            severity,
            file: at.file.to_path_buf(),
            line: at.line,
            section: at.section.map(str::to_string),
            key: at.key.map(str::to_string),
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.errors
    }

    pub(super) fn budget(&self) -> &Budget {
        &self.budget
    }

    pub(super) fn budget_mut(&mut self) -> &mut Budget {
        &mut self.budget
    }

    /// All diagnostics, grouped by file in the order given (files not in
    /// the list last), then by line; otherwise in the order found.
    pub fn into_sorted(self, file_order: &[PathBuf]) -> Vec<Diagnostic> {
        let files: HashMap<&Path, usize> = file_order
            .iter()
            .enumerate()
            .rev()
            .map(|(i, p)| (p.as_path(), i))
            .collect();
        let mut seen = HashSet::with_capacity(self.items.len());
        let first: Vec<bool> = self.items.iter().map(|d| seen.insert(d)).collect();
        drop(seen);
        let mut items: Vec<Diagnostic> = self
            .items
            .into_iter()
            .zip(first)
            .filter_map(|(d, first)| first.then_some(d))
            .collect();
        items.sort_by_cached_key(|d| {
            let f = files.get(d.file.as_path()).copied().unwrap_or(usize::MAX);
            (f, d.line.unwrap_or(0))
        });
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_everything() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: PathBuf::from("/etc/sluice.conf"),
            line: Some(12),
            section: Some("program:web".into()),
            key: Some("startsecs".into()),
            message: "'x' is not an integer".into(),
        };
        assert_eq!(
            d.to_string(),
            "/etc/sluice.conf:12: error: [program:web] startsecs: 'x' is not an integer"
        );
    }

    #[test]
    fn repeats_are_dropped_and_sorted() {
        let a = PathBuf::from("a");
        let b = PathBuf::from("b");
        let mut diags = Diags::default();
        let at = |file, line| Place {
            file,
            line: Some(line),
            section: None,
            key: None,
        };
        diags.error(at(&b, 1), "x");
        diags.warn(at(&a, 5), "y");
        diags.error(at(&a, 2), "z");
        diags.error(at(&a, 2), "z");
        let out = diags.into_sorted(&[a.clone(), b.clone()]);
        let got: Vec<(String, usize)> = out
            .iter()
            .map(|d| (d.message.clone(), d.line.unwrap_or(0)))
            .collect();
        assert_eq!(got, vec![("z".into(), 2), ("y".into(), 5), ("x".into(), 1)]);
    }
}
