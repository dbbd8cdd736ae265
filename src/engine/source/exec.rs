//! `exec`: Flume's ExecSource. Runs `command` and makes every line of its
//! standard output an event (without the `\n`, and without a `\r` before
//! it, as Java's `readLine`; a last line without newline counts too).
//!
//! - `shell` (none): e.g. `/bin/sh -c`; split at whitespace, and the whole
//!   command is given to it as one more argument. Without a shell the
//!   command itself is split at whitespace (no quoting, as in Flume).
//! - `restart` (false), `restartThrottle` (10000 ms): start the command
//!   again that long after it exited.
//! - `logStdErr` (false): log the command's standard error lines in the
//!   agent's log; otherwise they are read and dropped. Never events.
//! - `batchSize` (20): lines per delivery; `batchTimeout` (3000 ms): a
//!   partial batch is delivered once its first line is that old.
//! - `charset` (UTF-8): bodies are the bytes as the command wrote them;
//!   another charset is refused.
//!
//! The command runs in its own process group. When the agent stops, the
//! group gets SIGTERM, then SIGKILL if the command is still there after
//! [`STOP_GRACE`]; what it wrote until its output closes is still read and
//! delivered, as Flume does. The command also gets PR_SET_PDEATHSIG (SIGKILL), so it
//! dies with the agent process. Linux sends that signal when the *thread*
//! that forked exits, not the process; so commands are started from a
//! thread of the source's own ([`Spawner`]) that lives until its last
//! command has exited, never from a runtime thread that may come and go.
//! (Only the command itself gets that signal: its own children survive a
//! killed `sluice agent`, unless they die of the closed pipe. In the daemon
//! the whole group is ended: see `crate::descendants`.)
//!
//! In the daemon, an in-process agent shares the process with the daemon,
//! whose `waitpid(-1)` may collect a command before the spawner thread does;
//! it then hands the status over ([`reaped_elsewhere`]), so exit codes are
//! right either way.
//!
//! The first start happens in `start`: a command that cannot be started
//! fails the agent's start. Later starts (restart) that fail are logged and
//! tried again after `restartThrottle`.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Source, SourceContext};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::panics;
use crate::engine::processor::Cancelled;
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "exec",
    aliases: &["org.apache.flume.source.ExecSource"],
    build,
};

/// How long the command has to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
struct Settings {
    command: String,
    argv: Vec<String>,
    restart: bool,
    throttle: Duration,
    log_stderr: bool,
    batch_size: usize,
    batch_timeout: Duration,
}

pub struct Exec {
    settings: Settings,
    spawner: Option<Spawner>,
    /// The command started by `start`, until `run` takes it over.
    first: Option<Running>,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    let command = props.required(diags, "command");
    let shell = props.string("shell");
    let restart = props.bool(diags, "restart", false);
    let throttle = props.millis(diags, "restartThrottle", 10_000, 0);
    let log_stderr = props.bool(diags, "logStdErr", false);
    let batch_size = props.count(diags, "batchSize", 20, 1);
    let batch_timeout = props.millis(diags, "batchTimeout", 3000, 0);
    if let Some(cs) = props.string("charset") {
        let cs_lower = cs.to_ascii_lowercase();
        if cs_lower != "utf-8" && cs_lower != "utf8" {
            props.error(
                diags,
                Some("charset"),
                format!(
                    "'{cs}' is not supported (the exec source passes bytes through: UTF-8 only)"
                ),
            );
        }
    }
    let command = command?;
    let argv = argv(shell.as_deref(), &command);
    for (key, v) in [
        ("command", Some(command.as_str())),
        ("shell", shell.as_deref()),
    ] {
        if v.is_some_and(|v| v.contains('\0')) {
            // It could never be executed: every restart would fail alike.
            props.error(diags, Some(key), "contains a NUL byte");
            return None;
        }
    }
    if argv.is_empty() {
        props.error(diags, Some("command"), "is empty");
        return None;
    }
    Some(Box::new(Exec::new(Settings {
        command,
        argv,
        restart,
        throttle,
        log_stderr,
        batch_size,
        batch_timeout,
    })))
}

/// What is executed: the shell's words plus the command as one argument,
/// or the command's words.
fn argv(shell: Option<&str>, command: &str) -> Vec<String> {
    match shell {
        Some(sh) => sh
            .split_whitespace()
            .map(str::to_string)
            .chain([command.to_string()])
            .collect(),
        None => command.split_whitespace().map(str::to_string).collect(),
    }
}

impl Exec {
    fn new(settings: Settings) -> Exec {
        Exec {
            settings,
            spawner: None,
            first: None,
        }
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        // Started but never run (another component failed the agent's
        // start): the command must not outlive the source.
        if let Some(r) = &self.first {
            signal_group(r.pid, libc::SIGKILL);
        }
    }
}

#[async_trait]
impl Source for Exec {
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), String> {
        let spawner = Spawner::new(&ctx.label)?;
        let running = spawner.spawn(self.settings.argv.clone()).await?;
        ctx.log.info(
            &ctx.label,
            &format!(
                "started command [{}] (pid {})",
                self.settings.command, running.pid
            ),
        );
        self.spawner = Some(spawner);
        self.first = Some(running);
        Ok(())
    }

    async fn run(mut self: Box<Self>, ctx: SourceContext) -> Result<(), String> {
        let (Some(spawner), Some(first)) = (self.spawner.take(), self.first.take()) else {
            return Err("the source was not started".into());
        };
        let s = self.settings.clone();
        let mut running = Some(first);
        loop {
            if let Some(r) = running.take() {
                match supervise(r, &s, &ctx).await {
                    Ended::Cancelled => return Ok(()),
                    Ended::Exited(status) => {
                        let how = describe(&status);
                        if s.restart {
                            ctx.log.info(
                                &ctx.label,
                                &format!(
                                    "command [{}] {how}; restarting in {} ms",
                                    s.command,
                                    s.throttle.as_millis()
                                ),
                            );
                        } else {
                            ctx.log
                                .info(&ctx.label, &format!("command [{}] {how}", s.command));
                            return Ok(());
                        }
                    }
                }
            }
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(s.throttle) => {}
            }
            match spawner.spawn(s.argv.clone()).await {
                Ok(r) => {
                    ctx.log.info(
                        &ctx.label,
                        &format!("started command [{}] (pid {})", s.command, r.pid),
                    );
                    running = Some(r);
                }
                Err(e) => ctx.log.error(
                    &ctx.label,
                    &format!("{e}; trying again in {} ms", s.throttle.as_millis()),
                ),
            }
        }
    }
}

fn describe(status: &Result<ExitStatus, String>) -> String {
    match status {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => format!("ended ({st})"),
        },
        Err(e) => format!("ended, its exit status unknown ({e})"),
    }
}

enum Ended {
    Exited(Result<ExitStatus, String>),
    Cancelled,
}

/// Read one command's output into events until it exits, or stop it when
/// the agent stops.
async fn supervise(mut r: Running, s: &Settings, ctx: &SourceContext) -> Ended {
    let pid = r.pid;
    let stderr_task = r.stderr.take().map(|fd| {
        let ctx = ctx.clone();
        let log = s.log_stderr;
        tokio::spawn(async move { read_stderr(fd, log, ctx).await })
    });
    let ended = match read_stdout(&mut r, s, ctx).await {
        Err(Stopped) => {
            // The group had its SIGTERM (and SIGKILL if it lingered) while
            // the rest of its output was read.
            let status = wait_stopped(pid, &mut r.exited).await;
            ctx.log.info(
                &ctx.label,
                &format!("stopped command [{}]: {}", s.command, describe(&status)),
            );
            Ended::Cancelled
        }
        Ok(()) => {
            // Output is over; the command may still be running.
            tokio::select! {
                _ = ctx.cancel.cancelled() => {
                    signal_group(pid, libc::SIGTERM);
                    let status = wait_stopped(pid, &mut r.exited).await;
                    ctx.log.info(
                        &ctx.label,
                        &format!("stopped command [{}]: {}", s.command, describe(&status)),
                    );
                    Ended::Cancelled
                }
                status = &mut r.exited => {
                    Ended::Exited(status.unwrap_or_else(|_| Err("the spawner thread is gone".into())))
                }
            }
        }
    };
    if let Some(t) = stderr_task
        && matches!(ended, Ended::Cancelled)
    {
        // What is left of the group is being killed; stop reading. (After
        // a plain exit the reader ends by itself at end of file, which a
        // leftover child of the command may hold off: it is not waited for.)
        t.abort();
        let _ = t.await;
    }
    ended
}

/// The agent stopped while the command ran: its group was signalled and
/// what it had written was read and delivered first.
struct Stopped;

/// Where a stop stands: SIGTERM sent, then SIGKILL at the deadline, then
/// the rest of the output given up at the next one (a descendant that left
/// the group may hold the pipe open for ever).
struct Stopping {
    deadline: Instant,
    killed: bool,
}

/// Events from standard output until it closes. When the agent stops, the
/// command's group gets SIGTERM and its output is still read to the end
/// and delivered (as Flume's ExecSource does: it kills the process, then
/// flushes what it read), each batch with one try, since the agent is
/// going: a full channel then loses that batch, said in the agent log.
async fn read_stdout(r: &mut Running, s: &Settings, ctx: &SourceContext) -> Result<(), Stopped> {
    let Some(fd) = r.stdout.take() else {
        return Ok(());
    };
    let mut out = match pipe::Receiver::from_owned_fd(fd) {
        Ok(p) => p,
        Err(e) => {
            ctx.log.error(
                &ctx.label,
                &format!("cannot read the command's output: {e}"),
            );
            return Ok(());
        }
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    // Room for the lines a batch usually gets, not for a huge batchSize.
    let mut batch: Vec<Event> = Vec::with_capacity(s.batch_size.min(1024));
    // When the oldest line of a partial batch is due.
    let mut due: Option<Instant> = None;
    let mut stopping: Option<Stopping> = None;
    let stop = |stopping: &mut Option<Stopping>| {
        if stopping.is_none() {
            signal_group(r.pid, libc::SIGTERM);
            *stopping = Some(Stopping {
                deadline: Instant::now() + STOP_GRACE,
                killed: false,
            });
        }
    };
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let read = tokio::select! {
            _ = ctx.cancel.cancelled(), if stopping.is_none() => {
                stop(&mut stopping);
                continue;
            }
            _ = sleep_until(stopping.as_ref().map(|s| s.deadline)) => {
                match stopping.as_mut() {
                    Some(st) if !st.killed => {
                        signal_group(r.pid, libc::SIGKILL);
                        st.killed = true;
                        st.deadline = Instant::now() + STOP_GRACE;
                        continue;
                    }
                    _ => {
                        ctx.log.warn(&ctx.label, "the command's output did not end after SIGKILL \
                            (a descendant outside its process group holds it); not read further");
                        Ok(0)
                    }
                }
            }
            _ = sleep_until(due) => {
                due = None;
                if deliver(&mut batch, ctx).await.is_err() {
                    stop(&mut stopping);
                }
                continue;
            }
            r = out.read_buf(&mut buf) => r,
        };
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                ctx.log
                    .warn(&ctx.label, &format!("reading the command's output: {e}"));
                0
            }
        };
        while let Some(i) = memchr::memchr(b'\n', &buf) {
            let line = buf.split_to(i + 1).freeze();
            batch.push(Event::new(trim_line(line)));
            if batch.len() >= s.batch_size {
                due = None;
                if deliver(&mut batch, ctx).await.is_err() {
                    stop(&mut stopping);
                }
            }
        }
        if n == 0 {
            if !buf.is_empty() {
                let rest = buf.split().freeze();
                batch.push(Event::new(trim_line(rest)));
            }
            let delivered = deliver(&mut batch, ctx).await;
            return match (delivered, stopping) {
                (Ok(()), None) => Ok(()),
                _ => Err(Stopped),
            };
        }
        if !batch.is_empty() && due.is_none() {
            due = Some(Instant::now() + s.batch_timeout);
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A line without its `\n` and a `\r` before it.
fn trim_line(mut line: Bytes) -> Bytes {
    if line.last() == Some(&b'\n') {
        line.truncate(line.len() - 1);
    }
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line
}

/// Hand the batch on; `Err` when the agent stopped before the channel took
/// it (the lines are lost, and the agent log says how many).
async fn deliver(batch: &mut Vec<Event>, ctx: &SourceContext) -> Result<(), Cancelled> {
    if batch.is_empty() {
        return Ok(());
    }
    let events = std::mem::replace(batch, Vec::with_capacity(batch.len()));
    let lines = events.len();
    let delivered = ctx.processor.deliver(events, &ctx.cancel).await;
    if delivered.is_err() {
        ctx.log.warn(
            &ctx.label,
            &format!("{lines} lines of the command's output were not delivered: the agent stopped while the channel had no room"),
        );
    }
    delivered
}

/// Standard error: logged line by line, or read and dropped.
async fn read_stderr(fd: OwnedFd, log: bool, ctx: SourceContext) {
    let Ok(mut err) = pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(8 * 1024);
        }
        let n = err.read_buf(&mut buf).await.unwrap_or(0);
        if !log {
            buf.clear();
        }
        while let Some(i) = memchr::memchr(b'\n', &buf) {
            let line = trim_line(buf.split_to(i + 1).freeze());
            ctx.log.info(
                &ctx.label,
                &format!("stderr: {}", String::from_utf8_lossy(&line)),
            );
        }
        if n == 0 {
            if !buf.is_empty() {
                ctx.log.info(
                    &ctx.label,
                    &format!("stderr: {}", String::from_utf8_lossy(&buf)),
                );
            }
            return;
        }
    }
}

/// Signal the process group `pgid` (ESRCH, nothing left, is fine).
fn signal_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals the group we created
        // for our own child.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// After the SIGTERM to the command's group: its exit, with SIGKILL if it
/// is still there after [`STOP_GRACE`]; then SIGKILL to whatever of the
/// group is left.
async fn wait_stopped(
    pid: i32,
    exited: &mut oneshot::Receiver<Result<ExitStatus, String>>,
) -> Result<ExitStatus, String> {
    let status = match tokio::time::timeout(STOP_GRACE, &mut *exited).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(pid, libc::SIGKILL);
            exited.await
        }
    };
    // Members of the group that outlived their leader. Once they are gone
    // the id may be reused, but only by a new group leader, and this comes
    // right after the exit.
    signal_group(pid, libc::SIGKILL);
    status.unwrap_or_else(|_| Err("the spawner thread is gone".into()))
}

/// A started command.
struct Running {
    pid: i32,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// Its exit status, once the spawner thread reaped it.
    exited: oneshot::Receiver<Result<ExitStatus, String>>,
}

struct SpawnRequest {
    argv: Vec<String>,
    reply: oneshot::Sender<Result<Running, String>>,
}

/// The thread that forks the commands and waits for them (see the module
/// comment on PR_SET_PDEATHSIG). It ends when its source is dropped and its
/// last command has exited.
struct Spawner {
    requests: std::sync::mpsc::Sender<SpawnRequest>,
}

impl Spawner {
    fn new(label: &str) -> Result<Spawner, String> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        let thread = std::thread::Builder::new().name(format!("exec-{label}"));
        panics::spawn(thread, move || {
            while let Ok(req) = rx.recv() {
                spawn_and_wait(req);
            }
        })
        .map_err(|e| format!("cannot start a thread for the command: {e}"))?;
        Ok(Spawner { requests: tx })
    }

    async fn spawn(&self, argv: Vec<String>) -> Result<Running, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(SpawnRequest { argv, reply })
            .map_err(|_| "the spawner thread is gone".to_string())?;
        answer
            .await
            .map_err(|_| "the spawner thread is gone".to_string())?
    }
}

/// On the spawner thread: start the command, hand it over, wait for it.
fn spawn_and_wait(req: SpawnRequest) {
    let Some((program, args)) = req.argv.split_first() else {
        let _ = req.reply.send(Err("the command is empty".into()));
        return;
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the forked child before exec; only async-signal-safe
    // calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::getppid() != parent {
                // The agent died between fork and prctl.
                libc::_exit(1);
            }
            Ok(())
        });
    }
    // Held from the fork until the pid is registered, so that a reaper
    // collecting the command at once still finds where its status goes.
    let mut registry = waiters();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!("cannot run command '{program}': not found")
            } else {
                format!("cannot run command '{program}': {e}")
            };
            drop(registry);
            let _ = req.reply.send(Err(msg));
            return;
        }
    };
    let pid = child.id() as i32;
    let (done, exited) = oneshot::channel();
    registry.insert(pid, done);
    drop(registry);
    // In the daemon, its watchdog ends the group should the daemon die.
    crate::descendants::watch(crate::descendants::Group {
        pgid: pid,
        start: crate::descendants::proc::start_time(pid),
        signal: libc::SIGTERM,
        grace: STOP_GRACE,
        name: format!("exec command {program}"),
    });
    let running = Running {
        pid,
        stdout: child.stdout.take().map(OwnedFd::from),
        stderr: child.stderr.take().map(OwnedFd::from),
        exited,
    };
    if req.reply.send(Ok(running)).is_err() {
        // Nobody is there to read it any more.
        signal_group(pid, libc::SIGKILL);
    }
    let status = child.wait();
    crate::descendants::reaped(pid);
    if let Err(e) = &status
        && e.raw_os_error() == Some(libc::ECHILD)
    {
        // Another reaper (the daemon's) was first: it hands the status
        // over through `reaped_elsewhere`. Give it a moment to do so before
        // calling the status lost.
        for _ in 0..200 {
            if !waiters().contains_key(&pid) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(done) = waiters().remove(&pid) {
        let _ = done.send(status.map_err(|e| match e.raw_os_error() {
            Some(libc::ECHILD) => "reaped elsewhere".to_string(),
            _ => e.to_string(),
        }));
    }
}

type Waiters = HashMap<i32, oneshot::Sender<Result<ExitStatus, String>>>;

/// The exec commands still running in this process, by pid.
fn waiters() -> MutexGuard<'static, Waiters> {
    static WAITERS: OnceLock<Mutex<Waiters>> = OnceLock::new();
    WAITERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// For a process-wide reaper (the daemon's `waitpid(-1)`, which also
/// collects the commands of in-process agents' exec sources): hand the wait
/// status (as `waitpid` gives it) of `pid` to its exec source. False when
/// `pid` is not one of theirs.
pub fn reaped_elsewhere(pid: i32, wait_status: i32) -> bool {
    match waiters().remove(&pid) {
        Some(done) => {
            let _ = done.send(Ok(ExitStatus::from_raw(wait_status)));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{DEADLINE, harness};
    use super::*;
    use crate::engine::channel::Channel;

    fn settings(command: &str) -> Settings {
        Settings {
            command: command.into(),
            argv: argv(Some("/bin/sh -c"), command),
            restart: false,
            throttle: Duration::from_millis(10),
            log_stderr: false,
            batch_size: 20,
            batch_timeout: Duration::from_millis(3000),
        }
    }

    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
            Err(_) => false,
        }
    }

    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let ok = tokio::time::timeout(DEADLINE, async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(ok.is_ok(), "timed out waiting for {what}");
    }

    #[test]
    fn shell_gets_the_command_as_one_argument_and_plain_commands_are_split() {
        assert_eq!(
            argv(Some("/bin/bash  -c"), "tail -F a | grep x"),
            ["/bin/bash", "-c", "tail -F a | grep x"]
        );
        assert_eq!(argv(None, " tail  -F /x "), ["tail", "-F", "/x"]);
    }

    #[tokio::test]
    async fn stdout_lines_are_events_and_the_exit_is_logged() {
        let h = harness(100);
        let mut s = settings("printf 'one\\ntwo\\r\\n\\nlast'; echo oops >&2; exit 3");
        s.log_stderr = true;
        let mut source = Exec::new(s);
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        assert_eq!(h.take_bodies(4).await, ["one", "two", "", "last"]);
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "ends without restart");
        let log = h.log.text();
        assert!(log.contains("exited with code 3"), "{log}");
        assert!(log.contains("stderr: oops"), "{log}");
        assert_eq!(h.channel.len(), 0, "stderr is not an event");
    }

    #[tokio::test]
    async fn stderr_is_dropped_unless_logstderr() {
        let h = harness(100);
        let mut source = Exec::new(settings("echo secret-$((40+2)) >&2; echo out"));
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        assert_eq!(h.take_bodies(1).await, ["out"]);
        let _ = tokio::time::timeout(DEADLINE, task).await;
        h.log.wait_for("exited with code 0").await;
        assert!(!h.log.text().contains("secret-42"), "{}", h.log.text());
    }

    #[tokio::test]
    async fn a_partial_batch_is_delivered_after_the_batch_timeout() {
        let h = harness(100);
        let mut s = settings("echo early; exec sleep 600");
        s.batch_size = 1000;
        s.batch_timeout = Duration::from_millis(50);
        let mut source = Exec::new(s);
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        // The command is still running: only the timeout can send it.
        assert_eq!(h.take_bodies(1).await, ["early"]);
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }

    #[tokio::test]
    async fn lines_read_before_a_stop_are_delivered() {
        let h = harness(100);
        let dir = tempfile::tempdir().expect("tempdir");
        let mark = dir.path().join("mark");
        // A partial batch (batchSize 20, batchTimeout 3 s) when the stop
        // comes; and a last line the command writes as it is stopped.
        let mut source = Exec::new(settings(&format!(
            "trap 'echo bye; exit 0' TERM; echo one; echo two; touch {m}; \
             while :; do sleep 0.05; done",
            m = mark.display()
        )));
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        wait_until("the lines written", || mark.exists()).await;
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
        assert_eq!(h.take_bodies(3).await, ["one", "two", "bye"]);
        assert!(h.log.text().contains("stopped command"), "{}", h.log.text());
    }

    #[tokio::test]
    async fn restart_runs_the_command_again_after_the_throttle() {
        let h = harness(1000);
        let mut s = settings("echo tick");
        s.restart = true;
        let mut source = Exec::new(s);
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        assert_eq!(h.take_bodies(3).await, ["tick", "tick", "tick"]);
        h.log
            .wait_for("exited with code 0; restarting in 10 ms")
            .await;
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }

    #[tokio::test]
    async fn cancel_kills_the_whole_process_group() {
        let h = harness(100);
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        // A shell, a child of it that ignores SIGTERM, and one that does not.
        let cmd = format!(
            "sh -c 'trap \"\" TERM; echo $$ >> {p}; while :; do sleep 1; done' & \
             sleep 600 & echo $! >> {p}; echo $$ >> {p}; echo ready; wait",
            p = pids.display()
        );
        let mut s = settings(&cmd);
        s.batch_timeout = Duration::from_millis(10);
        let mut source = Exec::new(s);
        source.start(&h.ctx).await.expect("start");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        assert_eq!(h.take_bodies(1).await, ["ready"]);
        let mut list: Vec<i32> = Vec::new();
        wait_until("three pids", || {
            list = std::fs::read_to_string(&pids)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            list.len() == 3
        })
        .await;
        assert!(list.iter().all(|p| alive(*p)), "{list:?}");
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
        for p in &list {
            wait_until(&format!("pid {p} to be gone"), || !alive(*p)).await;
        }
        assert!(h.log.text().contains("stopped command"), "{}", h.log.text());
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_fails_the_start() {
        let h = harness(10);
        let mut s = settings("x");
        s.argv = vec!["/no/such/program".into()];
        let mut source = Exec::new(s);
        let err = source.start(&h.ctx).await.expect_err("no such program");
        assert_eq!(err, "cannot run command '/no/such/program': not found");
    }

    #[tokio::test]
    async fn a_started_source_that_never_runs_kills_its_command() {
        let h = harness(10);
        let mut source = Exec::new(settings("exec sleep 600"));
        source.start(&h.ctx).await.expect("start");
        let pid = source.first.as_ref().map(|r| r.pid).expect("running");
        assert!(alive(pid));
        drop(source);
        wait_until("the command to be gone", || !alive(pid)).await;
    }

    /// Props of `a1.sources.r1` from `pairs`, on lines 2, 3, ...
    fn props_of(pairs: &[(&str, &str)]) -> Props {
        use crate::engine::config::properties::Entry;
        let entries = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: i + 2,
                    },
                )
            })
            .collect();
        Props::new(
            std::sync::Arc::new("a.conf".into()),
            "a1.sources.r1".into(),
            1,
            entries,
        )
    }

    #[test]
    fn a_command_with_a_nul_byte_is_refused() {
        for pairs in [
            &[("command", "echo a\0b")][..],
            &[("command", "echo"), ("shell", "/bin/sh\0 -c")][..],
        ] {
            let mut d = Diags::default();
            assert!(build(&props_of(pairs), &mut d).is_none());
            let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
            let key = pairs.last().map(|(k, _)| *k).unwrap_or_default();
            assert_eq!(
                text,
                [format!(
                    "a.conf:{}: error: [a1.sources.r1] {key}: contains a NUL byte",
                    pairs.len() + 1
                )]
            );
        }
    }

    #[test]
    fn command_is_required_and_charset_checked() {
        let props = props_of(&[("charset", "ISO-8859-1"), ("batchSize", "0")]);
        let mut d = Diags::default();
        assert!(build(&props, &mut d).is_none());
        let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            text,
            [
                "a.conf:1: error: [a1.sources.r1] command: is required",
                "a.conf:3: error: [a1.sources.r1] batchSize: 0 is out of range (1 to 2147483647)",
                "a.conf:2: error: [a1.sources.r1] charset: 'ISO-8859-1' is not supported (the exec source passes bytes through: UTF-8 only)",
            ]
        );
    }
}
