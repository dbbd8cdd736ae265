//! The control client: supervisorctl commands and their exact output.
//!
//! `sluice ctl CMD ARGS` runs one command through [`run`]. Each command is
//! an async function in a table (`COMMANDS`); it talks to the daemon
//! through the small [`Rpc`] trait (implemented by the XML-RPC client in
//! `rpc::client`, and by a fake in the tests), writes what supervisorctl 4.x
//! would write, and leaves the exit code supervisorctl would leave.
//!
//! supervisorctl's conventions, reproduced here:
//! - everything a command prints goes to stdout, errors included (only
//!   `status --json`, an extension, sends its error lines to stderr so
//!   stdout stays valid JSON);
//! - the exit status starts at 0 and each failure overwrites it, so the
//!   last failure wins (`restart` = `stop` then `start`);
//! - most commands first check the daemon is reachable ("upcheck", a
//!   `supervisor.getVersion` call) and print `URL refused connection`
//!   (exit 4) or `URL no such file` (exit 7) when it is not; `status`
//!   turns any such failure into 4;
//! - an unexpected failure (a fault a command has no message for, a reply
//!   of the wrong shape) prints one `error: ...` line and exits 1.
//!
//! Adding a command: write `async fn name(ctl: &mut Ctl<'_>, args: &[String])
//! -> CmdResult` and a `Command` const (name, `help <name>` text, body) in a
//! module here, and list the const in `COMMANDS`; `help` picks it up.

mod connect;
mod fg;
mod format;
mod logs;
mod misc;
mod pid;
mod shell;
mod signal;
mod startstop;
mod status;
mod stdin;
mod tail;
mod update;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cmds;

pub use connect::{MainOptions, main};
pub use format::{ProcessInfo, make_namespec, split_namespec, states, status_lines};

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

use crate::rpc::{Fault, Value, faults};

/// supervisorctl's exit codes (`LSBInitErrorCodes` / `LSBStatusErrorCodes`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const GENERIC: i32 = 1;
    /// `start` with no name, `start group:*` of an unknown group.
    pub const INVALID_ARGS: i32 = 2;
    /// The daemon does not know the `supervisor.*` namespace.
    pub const UNIMPLEMENTED_FEATURE: i32 = 3;
    /// `ECONNREFUSED` on the upcheck; also every `status` upcheck failure.
    pub const INSUFFICIENT_PRIVILEGES: i32 = 4;
    /// The daemon speaks another API version.
    pub const NOT_INSTALLED: i32 = 5;
    /// Spawn error / abnormal termination / not running; also `ENOENT` on
    /// the upcheck (no socket file).
    pub const NOT_RUNNING: i32 = 7;
    /// `status`: some listed process is not running.
    pub const STATUS_NOT_RUNNING: i32 = 3;
    /// `status`: cannot tell (daemon unreachable, no such process/group).
    pub const STATUS_UNKNOWN: i32 = 4;
}

/// Why the daemon could not be reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Unreachable {
    /// `ECONNREFUSED`: nothing listens (supervisorctl: `URL refused connection`).
    Refused,
    /// `ENOENT`: the unix socket file does not exist (`URL no such file`).
    NoSuchFile,
    /// Anything else (permission denied, DNS failure, ...), as text.
    Other(String),
}

/// How one XML-RPC call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The server answered with a fault.
    Fault(Fault),
    /// The connection could not be made.
    Unreachable(Unreachable),
    /// HTTP 401: the server wants (other) credentials.
    Auth,
    /// Anything else: a bad HTTP status, unparsable XML, a dropped connection.
    Protocol(String),
}

impl From<Fault> for CallError {
    fn from(f: Fault) -> Self {
        CallError::Fault(f)
    }
}

/// One XML-RPC call to the daemon (`supervisor.getAllProcessInfo`, ...).
pub trait Rpc {
    /// The server URL as the user gave it or the config implies
    /// (`unix:///path/sluice.sock`, `http://host:9001`); shown in messages.
    fn server_url(&self) -> &str;
    fn call(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Value, CallError>> + Send;

    /// A streaming GET of `path` (`/logtail/NAME/CHANNEL`), the way
    /// supervisorctl's `tail -f` reads a log. `None`: this transport cannot
    /// stream, and the caller falls back to polling.
    fn stream(
        &self,
        _path: &str,
    ) -> impl Future<Output = Option<Result<Box<dyn Chunks>, CallError>>> + Send {
        async { None }
    }
}

/// A response body read as it arrives (see [`Rpc::stream`]).
pub trait Chunks: Send {
    /// The next bytes; `None` when the server ended the body.
    fn next_chunk(&mut self) -> LocalFuture<'_, Option<Result<Vec<u8>, CallError>>>;
}

/// A boxed future that need not be `Send` (commands hold `&mut dyn Write`).
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Object-safe view of an [`Rpc`], so the command table can hold plain
/// function pointers.
trait DynRpc {
    fn url(&self) -> &str;
    fn call_dyn<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Value>,
    ) -> LocalFuture<'a, Result<Value, CallError>>;
    fn stream_dyn<'a>(
        &'a self,
        path: &'a str,
    ) -> LocalFuture<'a, Option<Result<Box<dyn Chunks>, CallError>>>;
}

impl<R: Rpc> DynRpc for R {
    fn url(&self) -> &str {
        self.server_url()
    }
    fn call_dyn<'a>(
        &'a self,
        method: &'a str,
        params: Vec<Value>,
    ) -> LocalFuture<'a, Result<Value, CallError>> {
        Box::pin(self.call(method, params))
    }
    fn stream_dyn<'a>(
        &'a self,
        path: &'a str,
    ) -> LocalFuture<'a, Option<Result<Box<dyn Chunks>, CallError>>> {
        Box::pin(self.stream(path))
    }
}

/// What a command run needs besides the connection.
pub struct Options {
    /// How often `tail -f` polls `tailProcess*Log`.
    pub tail_poll: Duration,
    /// Resolves when the user interrupts a long-running command (`tail -f`);
    /// called once per such command. The default waits for Ctrl-C.
    pub interrupt: fn() -> LocalFuture<'static, ()>,
    /// Where `fg` reads the lines it sends to the process; called once per
    /// `fg`. The default reads the terminal (or piped stdin).
    pub input: fn() -> Box<dyn Input>,
    /// Asks a yes/no question (`shutdown`, `reload`) and says whether the
    /// answer was yes. `None` outside the interactive shell: one-shot
    /// commands do not ask, as with supervisorctl.
    pub confirm: Option<fn(&str) -> bool>,
}

/// Lines the user types, one at a time, for `fg`.
pub trait Input {
    /// The next line without its newline; `None` at end of input.
    fn next_line(&mut self) -> LocalFuture<'_, Option<String>>;
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tail_poll: Duration::from_millis(500),
            interrupt: ctrl_c,
            input: stdin::input,
            confirm: None,
        }
    }
}

fn ctrl_c() -> LocalFuture<'static, ()> {
    // The handler is installed now, not at the first poll, so a Ctrl-C
    // right after the "Press Ctrl-C" line is not lost.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        Ok(mut sigint) => Box::pin(async move {
            if sigint.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }),
        // No signal handling available: never interrupt.
        Err(_) => Box::pin(std::future::pending()),
    }
}

/// Why a command stopped early; reported by [`run`] as one `error:` line
/// and exit 1 (supervisorctl's catch-all), except `Auth`.
#[derive(Debug)]
pub(crate) enum Abort {
    Call(CallError),
    /// The server's reply did not have the shape supervisord's API promises.
    Malformed(String),
    /// Writing our own output failed (closed stdout).
    Io(std::io::Error),
    /// Anything else, already worded: printed as `error: {text}`.
    Message(String),
}

impl From<CallError> for Abort {
    fn from(e: CallError) -> Self {
        Abort::Call(e)
    }
}
impl From<std::io::Error> for Abort {
    fn from(e: std::io::Error) -> Self {
        Abort::Io(e)
    }
}

pub(crate) type CmdResult = Result<(), Abort>;

/// The state one command works with.
pub(crate) struct Ctl<'a> {
    rpc: &'a dyn DynRpc,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub opts: &'a Options,
    /// supervisorctl's `exitstatus`: overwritten by each failure.
    pub exit: i32,
    /// Set by `exit`/`quit`: the shell ends after this command.
    pub quit: bool,
}

impl Ctl<'_> {
    /// supervisorctl's confirmation before `shutdown`/`reload` in its shell;
    /// always yes in one-shot mode.
    pub fn really(&self, question: &str) -> bool {
        match self.opts.confirm {
            Some(ask) => ask(question),
            None => true,
        }
    }

    /// A `supervisor.*` / `system.*` call (full method name).
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, CallError> {
        self.rpc.call_dyn(method, params).await
    }

    /// A streaming GET (`tail -f`); `None` if the transport cannot stream.
    pub async fn stream(&self, path: &str) -> Option<Result<Box<dyn Chunks>, CallError>> {
        self.rpc.stream_dyn(path).await
    }

    /// One line on stdout (supervisorctl's `output`).
    pub fn line(&mut self, s: &str) -> std::io::Result<()> {
        self.out.write_all(s.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Set the exit status from a per-process result code, the way
    /// supervisorctl does: success and `ignored` leave it alone, the codes of a
    /// dead program give 7, anything else 1.
    pub fn exit_from_fault(&mut self, code: i64, ignored: Option<i32>) {
        let code = i32::try_from(code).unwrap_or(-1);
        if code == faults::SUCCESS || Some(code) == ignored {
            return;
        }
        self.exit = if [
            faults::SPAWN_ERROR,
            faults::ABNORMAL_TERMINATION,
            faults::NOT_RUNNING,
        ]
        .contains(&code)
        {
            exit::NOT_RUNNING
        } else {
            exit::GENERIC
        };
    }

    /// supervisorctl's upcheck: ask the API version, report an unreachable or
    /// incompatible daemon. `Ok(false)` means "message printed, stop here".
    pub async fn upcheck(&mut self) -> Result<bool, Abort> {
        match self.call("supervisor.getVersion", vec![]).await {
            Ok(v) => {
                let api = v.as_str().unwrap_or_default().to_string();
                if api != API_VERSION {
                    let shown = if let Some(s) = v.as_str() {
                        s.to_string()
                    } else {
                        format::value_text(&v)
                    };
                    self.line(&format!(
                        "Sorry, this version of supervisorctl expects to talk to a server \
                         with API version {API_VERSION}, but the remote version is {shown}."
                    ))?;
                    self.exit = exit::NOT_INSTALLED;
                    return Ok(false);
                }
                Ok(true)
            }
            Err(CallError::Fault(f)) if f.code == faults::UNKNOWN_METHOD => {
                self.line(
                    "Sorry, supervisord responded but did not recognize the supervisor \
                     namespace commands that supervisorctl uses to control it.  Please check \
                     that the [rpcinterface:supervisor] section is enabled in the \
                     configuration file (see sample.conf).",
                )?;
                self.exit = exit::UNIMPLEMENTED_FEATURE;
                Ok(false)
            }
            Err(CallError::Unreachable(Unreachable::Refused)) => {
                let msg = format!("{} refused connection", self.rpc.url());
                self.line(&msg)?;
                self.exit = exit::INSUFFICIENT_PRIVILEGES;
                Ok(false)
            }
            Err(CallError::Unreachable(Unreachable::NoSuchFile)) => {
                let msg = format!("{} no such file", self.rpc.url());
                self.line(&msg)?;
                self.exit = exit::NOT_RUNNING;
                Ok(false)
            }
            Err(e) => Err(Abort::Call(e)),
        }
    }
}

/// The XML-RPC API version supervisorctl 4.x requires.
pub const API_VERSION: &str = "3.0";

/// A command: its name, its `help <name>` text, and its body.
pub(crate) struct Command {
    pub name: &'static str,
    /// Printed by `help <name>` (no trailing newline).
    pub help: &'static str,
    /// Listed by `help` (supervisorctl lists only documented commands).
    pub listed: bool,
    pub run: for<'a, 'b> fn(&'a mut Ctl<'b>, &'a [String]) -> LocalFuture<'a, CmdResult>,
}

/// Every command `sluice ctl` knows, in no particular order (`help` sorts).
pub(crate) const COMMANDS: &[Command] = &[
    status::COMMAND,
    startstop::START,
    startstop::STOP,
    startstop::RESTART,
    pid::COMMAND,
    tail::COMMAND,
    misc::SHUTDOWN,
    misc::VERSION,
    misc::HELP,
    misc::EXIT,
    misc::QUIT,
    signal::COMMAND,
    logs::MAINTAIL,
    logs::CLEAR,
    fg::COMMAND,
    update::REREAD,
    update::UPDATE,
    update::AVAIL,
    update::ADD,
    update::REMOVE,
    update::RELOAD,
];

pub(crate) fn find_command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Run one ctl command (`args[0]`, its arguments after) against the daemon
/// reached through `rpc`. Returns the exit code.
pub async fn run_with<R: Rpc>(
    rpc: &R,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
    opts: &Options,
) -> i32 {
    run_args(rpc, args, out, err, opts).await.0
}

/// One command; returns its exit code and whether it asks the shell to end.
async fn run_args(
    rpc: &dyn DynRpc,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
    opts: &Options,
) -> (i32, bool) {
    let Some(name) = args.first() else {
        return (exit::OK, false);
    };
    let mut ctl = Ctl {
        rpc,
        out,
        err,
        opts,
        exit: exit::OK,
        quit: false,
    };
    let Some(cmd) = find_command(name) else {
        let msg = format!("*** Unknown syntax: {}", args.join(" "));
        if ctl.line(&msg).is_err() {
            let _ = writeln!(ctl.err, "{msg}");
        }
        let _ = ctl.out.flush();
        return (exit::GENERIC, false);
    };
    let result = (cmd.run)(&mut ctl, &args[1..]).await;
    if let Err(abort) = result {
        report_abort(&mut ctl, abort);
    }
    let _ = ctl.out.flush();
    (ctl.exit, ctl.quit)
}

/// [`run_with`] with the default options (`tail -f` polls every 0.5 s,
/// Ctrl-C interrupts it).
pub async fn run<R: Rpc>(
    rpc: &R,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    run_with(rpc, args, out, err, &Options::default()).await
}

fn report_abort(ctl: &mut Ctl<'_>, abort: Abort) {
    let msg = match abort {
        Abort::Call(CallError::Auth) => "Server requires authentication".to_string(),
        Abort::Call(CallError::Fault(f)) => format!(
            "error: <class 'xmlrpc.client.Fault'>, <Fault {}: {}>",
            f.code,
            format::py_repr(&f.string)
        ),
        Abort::Call(CallError::Unreachable(u)) => match u {
            Unreachable::Refused => format!("error: {} refused connection", ctl.rpc.url()),
            Unreachable::NoSuchFile => format!("error: {} no such file", ctl.rpc.url()),
            Unreachable::Other(m) => format!("error: {}: {m}", ctl.rpc.url()),
        },
        Abort::Call(CallError::Protocol(m)) => format!("error: {m}"),
        Abort::Malformed(m) => format!("error: malformed reply from the server: {m}"),
        Abort::Message(m) => format!("error: {m}"),
        Abort::Io(e) => {
            let _ = writeln!(ctl.err, "error: writing output: {e}");
            ctl.exit = exit::GENERIC;
            return;
        }
    };
    if ctl.line(&msg).is_err() {
        let _ = writeln!(ctl.err, "{msg}");
    }
    ctl.exit = exit::GENERIC;
}
