//! The supervisord INI configuration: finding it, reading its dialect,
//! expanding `%(name)s`, building validated process specs.
//!
//! Map: `dialect` (the INI text, with line numbers) -> `sources` (main file
//! or `embedded` default, plus `[include]`s) -> `section` (typed access with
//! `expand` and `values`/`environment` parsers) -> `supervisord` (daemon,
//! server and ctl sections) and `program` (programs and groups) -> `load`
//! (assembles `spec::Config`). `check` renders a report for `sluice check`.
//! `budget` bounds the bytes one load may expand and copy.

mod budget;
pub(crate) mod check;
mod diagnostic;
mod dialect;
mod embedded;
mod environment;
mod expand;
mod load;
mod paths;
mod program;
mod section;
mod sources;
pub mod spec;
mod supervisord;
pub(crate) mod values;

pub use check::{check, check_agent};
pub use diagnostic::{Diagnostic, Severity};
pub use embedded::{EMBEDDED_CONFIG, EMBEDDED_NAME};
pub use spec::*;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    discover_in(cli, std::env::var_os("SLUICE_CONFIG"), &cwd)
}

fn discover_in(cli: Option<&Path>, env: Option<OsString>, cwd: &Path) -> ConfigSource {
    if let Some(p) = cli {
        return ConfigSource::File(p.to_path_buf());
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return ConfigSource::File(PathBuf::from(p));
    }
    let local = cwd.join("sluice.conf");
    if local.is_file() {
        return ConfigSource::File(local);
    }
    ConfigSource::Embedded(cwd.to_path_buf())
}

/// Read and validate everything; on failure, every error found (and the warnings).
pub fn load(source: &ConfigSource) -> Result<Loaded, Vec<Diagnostic>> {
    load::load_with(source, &load::Host::current())
}

/// The `[supervisorctl]` settings for `sluice ctl`, ignoring problems in
/// the rest of the file as supervisorctl does (see `load::load_ctl_with`).
pub fn load_ctl(source: &ConfigSource) -> Result<CtlSection, Vec<Diagnostic>> {
    load::load_ctl_with(source, &load::Host::current())
}

#[cfg(test)]
mod tests;
