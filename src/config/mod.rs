//! The supervisord INI configuration: finding it, reading its dialect,
//! expanding `%(name)s`, building validated process specs.

pub mod spec;

pub use spec::*;

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a config problem is: warnings are printed and ignored, errors stop the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a config file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub message: String,
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

/// Where the configuration comes from (DESIGN.md §1, "Finding the config").
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    File(PathBuf),
    /// The embedded default, rooted at this directory.
    Embedded(PathBuf),
}

/// A loaded configuration and the warnings met on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// `-c FILE`, else `$SLUICE_CONFIG`, else `./sluice.conf`, else the embedded default.
pub fn discover(cli: Option<&Path>) -> ConfigSource {
    todo_discover(cli)
}

fn todo_discover(cli: Option<&Path>) -> ConfigSource {
    if let Some(p) = cli {
        return ConfigSource::File(p.to_path_buf());
    }
    ConfigSource::Embedded(std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// Read and validate everything; on failure, every error found (and the warnings).
pub fn load(_source: &ConfigSource) -> Result<Loaded, Vec<Diagnostic>> {
    Err(vec![])
}
