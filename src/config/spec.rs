//! The parsed, validated, fully expanded supervisor configuration.
//!
//! Everything here is plain data: the loader (`config::load`) builds it, the
//! supervisor and the control server read it. Defaults are supervisord 4.x's.

use std::path::PathBuf;

/// The whole configuration of one daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main config file, or `None` for the embedded default.
    pub source: Option<PathBuf>,
    /// `%(here)s` of the main file (the current directory for the embedded default).
    pub here: PathBuf,
    pub supervisord: SupervisordSection,
    pub unix_http_server: Option<UnixHttpServer>,
    pub inet_http_server: Option<InetHttpServer>,
    pub supervisorctl: CtlSection,
    /// Process groups in priority order (lower first), ties by name.
    pub groups: Vec<GroupSpec>,
    /// Every file read (main file and includes), for `reread` change detection.
    pub files: Vec<PathBuf>,
}

/// `[supervisord]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisordSection {
    /// The daemon's own log; `None` when set to `NONE`.
    pub logfile: Option<PathBuf>,
    pub logfile_maxbytes: u64,
    pub logfile_backups: u32,
    pub loglevel: LogLevel,
    pub pidfile: PathBuf,
    pub umask: u32,
    /// `None` when unset: sluice stays in the foreground unless told otherwise.
    pub nodaemon: Option<bool>,
    pub silent: bool,
    pub minfds: u64,
    pub minprocs: u64,
    pub nocleanup: bool,
    pub childlogdir: PathBuf,
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
    pub strip_ansi: bool,
    pub environment: Vec<(String, String)>,
    pub identifier: String,
}

/// One level type for config and the daemon log.
pub use crate::logs::LogLevel;

/// `[unix_http_server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnixHttpServer {
    pub file: PathBuf,
    /// Socket file mode, e.g. `0o700`.
    pub chmod: u32,
    /// `user` or `user:group`.
    pub chown: Option<String>,
    pub auth: Option<Credentials>,
}

/// `[inet_http_server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InetHttpServer {
    /// `host:port`, `*:port` or `:port` as written; see `bind_addr`.
    pub port: String,
    pub auth: Option<Credentials>,
}

/// A username and its password: plain text, or `{SHA}` + hex SHA-1 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `[supervisorctl]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CtlSection {
    /// `unix:///path` or `http://host:port`.
    pub serverurl: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub prompt: String,
    pub history_file: Option<PathBuf>,
}

/// A process group: from `[program:x]` (a group named x holding its own
/// processes) or from `[group:g]` (`programs=a,b`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    pub priority: i32,
    pub processes: Vec<ProcessSpec>,
}

/// What a process runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessKind {
    /// `command=`: an executable with arguments, split shell-style at spawn.
    Command,
    /// A Flume agent: `[agent:x]`, or a `[program:x]` running `flume-ng agent`.
    Agent(AgentSpec),
}

/// Which agent of which file, and where it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The properties file (relative paths are relative to `directory`, or
    /// to the daemon's working directory, as for a command).
    pub conf_file: PathBuf,
    /// The agent's name inside that file.
    pub agent_name: String,
    pub isolation: Isolation,
    /// `sluice agent --conf-file F --name N`: what runs as the child
    /// process when isolation=process.
    pub child_command: String,
    /// A hash of the properties file's content when the config was read
    /// (`None`: unreadable then), so that `reread`/`update` see an edit of
    /// that file as a change of this process.
    pub conf_digest: Option<u64>,
    /// The agent log's level (`-Dflume.root.logger=LEVEL,...`; INFO).
    pub log_level: crate::engine::log::Level,
}

/// `isolation = inprocess | process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// On a thread of the daemon (the default).
    InProcess,
    /// As a child process running `sluice agent` (then `command` is that).
    Process,
}

/// One process (a `[program:x]` with numprocs=N gives N of these).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// `process_name` after expansion; unique within the group.
    pub name: String,
    pub group: String,
    /// The `x` of `[program:x]`.
    pub program_name: String,
    /// Where it was defined, for messages.
    pub file: PathBuf,
    pub line: usize,
    pub kind: ProcessKind,
    /// The command line after `%(...)` expansion (not yet split).
    pub command: String,
    pub priority: i32,
    pub autostart: bool,
    pub startsecs: u64,
    pub startretries: u32,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    pub stopsignal: StopSignal,
    pub stopwaitsecs: u64,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    pub user: Option<String>,
    pub redirect_stderr: bool,
    pub stdout: LogSpec,
    pub stderr: LogSpec,
    pub environment: Vec<(String, String)>,
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    /// `None` means AUTO: the daemon's own URL.
    pub serverurl: Option<String>,
}

impl ProcessSpec {
    /// `group:name`, or just `name` when the group has the process's name
    /// (supervisorctl's display name).
    /// The command line to spawn: `command`, or for an agent run as a
    /// child process, `sluice agent ...`.
    pub fn command_to_run(&self) -> &str {
        match &self.kind {
            ProcessKind::Agent(a) if a.isolation == Isolation::Process => &a.child_command,
            _ => &self.command,
        }
    }

    /// The section it comes from: `agent:x`, or `program:x` (also for a
    /// `flume-ng agent` command, which keeps the user's command line).
    pub fn section(&self) -> String {
        match &self.kind {
            ProcessKind::Agent(a) if self.command == a.child_command => {
                format!("agent:{}", self.program_name)
            }
            _ => format!("program:{}", self.program_name),
        }
    }

    pub fn display_name(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRestart {
    Never,
    Unexpected,
    Always,
}

/// A signal by name (`TERM`, `HUP`, ...) and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal {
    pub name: &'static str,
    pub number: i32,
}

/// One output stream's log settings (`stdout_*` or `stderr_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogSpec {
    /// Resolved path (AUTO already placed in childlogdir); `None` for NONE
    /// (or for stderr with redirect_stderr).
    pub path: Option<PathBuf>,
    /// The path is AUTO's: the daemon creates the file when the process is
    /// added (so it can be read before the first start) with mode 0600, as
    /// supervisord's mkstemp does.
    pub auto: bool,
    pub maxbytes: u64,
    pub backups: u32,
    pub capture_maxbytes: u64,
    pub events_enabled: bool,
    pub syslog: bool,
}
