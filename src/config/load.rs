//! The loader: read the sources, build each part of the `Config`, classify
//! the sections nobody claimed, and return everything found at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diags};
use super::expand::{EnvNames, Vars};
use super::sources::{self, Sources};
use super::spec::{Config, CtlSection};
use super::{ConfigSource, Loaded, program, supervisord};

/// What the loader takes from the machine it runs on; tests make their own.
#[derive(Debug, Clone)]
pub struct Host {
    /// The process environment (`%(ENV_X)s`).
    pub env: BTreeMap<String, String>,
    /// `%(host_node_name)s` (Python's `platform.node()`).
    pub node: String,
    /// For relative paths, as supervisord resolves them.
    pub cwd: PathBuf,
}

impl Host {
    pub fn current() -> Host {
        let env = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let node = nix::unistd::gethostname()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Host { env, node, cwd }
    }
}

/// What every part of the loader needs to know.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub host: &'a Host,
    /// Reading the embedded default (not a file).
    pub embedded: bool,
    /// `%(here)s` of the main file.
    pub here: PathBuf,
    /// `ENV_*` names: the process environment, then `[supervisord]
    /// environment=` (as supervisord extends its expansions); one table
    /// every section's names share.
    pub env: EnvNames,
    /// Each agent file's digest, read once however many processes run it.
    pub digests: RefCell<HashMap<PathBuf, Option<u64>>>,
}

impl Ctx<'_> {
    pub fn home(&self) -> Option<&str> {
        self.host.env.get("HOME").map(String::as_str)
    }

    /// A directory that must exist at config time (as supervisord checks).
    /// The embedded default's `<here>/logs` is exempt: the daemon creates it.
    pub fn dir_ok(&self, dir: &Path) -> bool {
        dir.is_dir()
            || (self.embedded && super::paths::normalize(dir, &self.here) == self.here.join("logs"))
    }

    /// A hash of an agent file's text (`None` if it cannot be read now),
    /// so that `reread` sees an edit of it; each file is read once per load.
    pub fn digest_of(&self, path: &Path) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        *self
            .digests
            .borrow_mut()
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let text = crate::engine::config::read_text(path).ok()?;
                let mut h = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut h);
                Some(h.finish())
            })
    }

    /// The names every section may use: `here` (of that section's file),
    /// `host_node_name` and `ENV_*`.
    pub fn base_vars(&self, here: &Path) -> Vars {
        let mut vars = Vars::new();
        vars.set_str("here", here.to_string_lossy());
        vars.set_str("host_node_name", self.host.node.clone());
        vars.set_env_names(self.env.clone());
        vars
    }
}

/// Sections read by someone other than the parts below.
const HANDLED_PREFIXES: &[&str] = &["program:", "agent:", "group:", "rpcinterface:"];
const HANDLED_NAMES: &[&str] = &[
    "supervisord",
    "unix_http_server",
    "inet_http_server",
    "supervisorctl",
    "include",
];

pub fn load_with(source: &ConfigSource, host: &Host) -> Result<Loaded, Vec<Diagnostic>> {
    match load_all(source, host) {
        (Some(config), diags) if !diags.iter().any(Diagnostic::is_error) => Ok(Loaded {
            config,
            warnings: diags,
        }),
        (_, diags) => Err(diags),
    }
}

/// Everything that could be read, errors or not (`None` when the main file
/// could not be read), and every problem: `sluice check` goes on to the
/// agent files of a config with errors.
pub fn load_all(source: &ConfigSource, host: &Host) -> (Option<Config>, Vec<Diagnostic>) {
    let mut diags = Diags::default();
    let Some(sources) = sources::read(source, host, &mut diags) else {
        return (None, diags.into_sorted(&[]));
    };
    let mut ctx = Ctx {
        host,
        embedded: matches!(source, ConfigSource::Embedded(_)),
        here: sources.here.clone(),
        env: EnvNames::new(&host.env),
        digests: RefCell::default(),
    };

    let daemon = supervisord::read_supervisord(&sources, &ctx, &mut diags);
    ctx.env
        .extend(daemon.environment.iter().map(|(k, v)| (k, v)));
    let unix = supervisord::read_unix_http_server(&sources, &ctx, &mut diags);
    let inet = supervisord::read_inet_http_server(&sources, &ctx, &mut diags);
    let ctl = supervisord::read_supervisorctl(&sources, &ctx, unix.as_ref(), &mut diags);
    let groups = program::read_groups(&sources, &ctx, &daemon, &mut diags);
    other_sections(&sources, &mut diags);

    let order = diag_file_order(&sources);
    let config = Config {
        source: match source {
            ConfigSource::File(p) => Some(p.clone()),
            ConfigSource::Embedded(_) => None,
        },
        here: sources.here.clone(),
        supervisord: daemon,
        unix_http_server: unix,
        inet_http_server: inet,
        supervisorctl: ctl,
        groups,
        files: sources.files.clone(),
    };
    (Some(config), diags.into_sorted(&order))
}

/// Only what the control client needs: `[supervisorctl]`, with
/// `[unix_http_server]`'s socket as the default server. Like supervisorctl,
/// the client does not care about a bad value elsewhere (a program, the
/// daemon's own settings): only a file it cannot read or parse, or a bad
/// value in those two sections, is an error.
pub fn load_ctl_with(source: &ConfigSource, host: &Host) -> Result<CtlSection, Vec<Diagnostic>> {
    let mut diags = Diags::default();
    let Some(sources) = sources::read(source, host, &mut diags) else {
        return Err(diags.into_sorted(&[]));
    };
    let mut ctx = Ctx {
        host,
        embedded: matches!(source, ConfigSource::Embedded(_)),
        here: sources.here.clone(),
        env: EnvNames::new(&host.env),
        digests: RefCell::default(),
    };
    // [supervisord] environment= feeds %(ENV_X)s; its problems are the daemon's.
    let daemon = supervisord::read_supervisord(&sources, &ctx, &mut Diags::default());
    ctx.env
        .extend(daemon.environment.iter().map(|(k, v)| (k, v)));
    let unix = supervisord::read_unix_http_server(&sources, &ctx, &mut diags);
    let ctl = supervisord::read_supervisorctl(&sources, &ctx, unix.as_ref(), &mut diags);
    if diags.has_errors() {
        Err(diags.into_sorted(&diag_file_order(&sources)))
    } else {
        Ok(ctl)
    }
}

/// Main file (or `<embedded default>`) first, then includes.
fn diag_file_order(sources: &Sources) -> Vec<PathBuf> {
    let mut order = vec![sources.main_name.clone()];
    order.extend(sources.files.iter().cloned());
    order
}

fn other_sections(sources: &Sources, diags: &mut Diags) {
    for loc in &sources.sections {
        let name = loc.section.name.as_str();
        if HANDLED_NAMES.contains(&name) || HANDLED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let at = loc.at(None, None);
        if name.starts_with("eventlistener:") {
            diags.warn(
                at,
                "event listeners are not supported yet (section ignored)",
            );
        } else if name.starts_with("fcgi-program:") {
            diags.warn(
                at,
                "FastCGI programs are not supported yet (section ignored)",
            );
        } else if name.starts_with("ctlplugin:") {
            diags.warn(
                at,
                "supervisorctl plugins are not supported (section ignored)",
            );
        } else {
            diags.warn(at, "unknown section (ignored)");
        }
    }
}
