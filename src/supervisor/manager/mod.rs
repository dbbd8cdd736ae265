//! The manager: owns every process, runs the state machine's actions, and
//! answers requests from the control server.
//!
//! One task, no polling: requests arrive on a channel, child exits arrive as
//! SIGCHLD (then `waitpid(-1)` until nothing is left, which also reaps the
//! orphans the daemon adopts as a subreaper, and hands the statuses of
//! in-process agents' exec commands to their sources), and the only timers are the
//! state machine's own (startsecs, backoff, stopwaitsecs). After each change
//! it publishes a snapshot of every process on a `watch` channel, which is
//! what status queries read and what `wait=true` calls wait on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot, watch};

use super::changes::{self, Changes};
use super::info::{ProcessInfo, unix_time};
use super::inprocess::{ExitSender, InProcess};
use super::output::{self, Output};
use super::signals::Signals;
use super::spawn;
use super::state::{Action, Event, ExitStatus, Level, Proc, Rules, State};
use super::stdin::StdinPipe;
use crate::config::{AgentSpec, Config, GroupSpec, Isolation, ProcessKind, ProcessSpec};
use crate::logs::DaemonLogHandle;
use crate::rpc::{Fault, faults};

/// The manager's side of signals, stdin and clearing logs.
mod process_ops;

/// The daemon's mood, as `getState` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Running,
    Restarting,
    ShuttingDown,
}

impl Mood {
    pub fn code(self) -> i64 {
        match self {
            Mood::Running => 1,
            Mood::Restarting => 0,
            Mood::ShuttingDown => -1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Mood::Running => "RUNNING",
            Mood::Restarting => "RESTARTING",
            Mood::ShuttingDown => "SHUTDOWN",
        }
    }
}

/// Every process and the daemon's mood, after the latest change.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub mood: Mood,
    /// In start order (group priority, then process priority).
    pub processes: Vec<ProcessInfo>,
}

impl Snapshot {
    pub fn find(&self, group: &str, name: &str) -> Option<&ProcessInfo> {
        self.processes
            .iter()
            .find(|p| p.group == group && p.name == name)
    }
}

/// How the manager's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Shutdown,
    /// Re-read the config and start again (SIGHUP, `supervisor.restart`).
    Restart,
}

type Reply = oneshot::Sender<Result<(), Fault>>;

/// What the control server asks of the manager.
#[derive(Debug)]
pub enum Request {
    Start {
        group: String,
        name: String,
        reply: Reply,
    },
    Stop {
        group: String,
        name: String,
        reply: Reply,
    },
    Shutdown,
    Restart,
    ReopenLogs,
    /// `signalProcess` (see `process_ops.rs`, as the next two).
    Signal {
        group: String,
        name: String,
        signal: i32,
        reply: Reply,
    },
    /// `sendProcessStdin`.
    SendStdin {
        group: String,
        name: String,
        data: Vec<u8>,
        reply: Reply,
    },
    /// `clearProcessLogs`.
    ClearLogs {
        group: String,
        name: String,
        reply: Reply,
    },
    /// A freshly read config's groups: keep them as the ones `AddGroup` and
    /// `SyncProcess` use (supervisord's `process_group_configs`) and answer
    /// how they differ from what runs.
    Reread {
        groups: Vec<GroupSpec>,
        reply: oneshot::Sender<Result<Changes, Fault>>,
    },
    /// supervisord's `addProcessGroup`: from the last read config.
    AddGroup {
        name: String,
        reply: Reply,
    },
    /// supervisord's `removeProcessGroup`: every process must be stopped.
    RemoveGroup {
        name: String,
        reply: Reply,
    },
    /// Make one process match the last read config: add it (autostart
    /// applies), drop it, or replace its settings and start it again if
    /// autostart; it must be stopped unless its settings are unchanged.
    SyncProcess {
        group: String,
        name: String,
        reply: Reply,
    },
}

/// A cheap handle on the manager for the control server.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Request>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    configured: watch::Receiver<Arc<Vec<GroupSpec>>>,
}

impl Handle {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// A receiver that wakes on every published change.
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// The groups of the last read config (what `avail`/`getAllConfigInfo`
    /// lists; `inuse` when the snapshot has the group).
    pub fn configured(&self) -> Arc<Vec<GroupSpec>> {
        self.configured.borrow().clone()
    }

    pub fn send(&self, req: Request) -> Result<(), Fault> {
        self.tx
            .send(req)
            .map_err(|_| Fault::new(faults::SHUTDOWN_STATE, ""))
    }

    /// Ask for a start or stop and wait for the manager's answer.
    pub async fn ask(&self, make: impl FnOnce(Reply) -> Request) -> Result<(), Fault> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await
            .unwrap_or_else(|_| Err(Fault::new(faults::SHUTDOWN_STATE, "")))
    }
}

struct Record {
    spec: ProcessSpec,
    rules: Rules,
    proc: Proc,
    timer: Option<Instant>,
    group_priority: i32,
    started_at: Option<SystemTime>,
    stopped_at: Option<SystemTime>,
    /// Write end of the child's stdin (for sendProcessStdin).
    stdin: Option<StdinPipe>,
    output: Option<Output>,
    /// Set while an in-process agent runs (instead of a child).
    inproc: Option<InProcess>,
    /// Set once the child (or agent) has ended and its output is being
    /// flushed into its logs, before the exit is fed to the state machine:
    /// nothing is signalled meanwhile (the pid is gone).
    exiting: bool,
}

/// Owns the processes; see the module comment.
pub struct Manager {
    records: Vec<Record>,
    by_pid: HashMap<i32, usize>,
    rx: mpsc::UnboundedReceiver<Request>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    /// The base environment of children.
    env: Vec<(String, String)>,
    /// `[supervisord] strip_ansi`: escape codes are kept out of child logs.
    strip_ansi: bool,
    server_url: Option<String>,
    mood: Mood,
    /// Set once a shutdown or restart began: what to return when all stopped.
    exit: Option<Exit>,
    /// Groups still to stop, highest priority last.
    stop_queue: Vec<Vec<usize>>,
    /// The daemon's own log, reopened with the children's on SIGUSR2.
    daemon_log: Option<DaemonLogHandle>,
    /// In-process agents by run key, and where their ends arrive.
    by_key: HashMap<u64, usize>,
    next_key: u64,
    exits_tx: ExitSender,
    exits_rx: mpsc::UnboundedReceiver<(u64, i32)>,
    /// Ends whose output is being flushed, by run key, and where the
    /// flushed ones arrive.
    by_flush: HashMap<u64, usize>,
    flushed_tx: mpsc::UnboundedSender<(u64, ExitStatus)>,
    flushed_rx: mpsc::UnboundedReceiver<(u64, ExitStatus)>,
    /// The last read config's groups (the startup config until a reread).
    pending: watch::Sender<Arc<Vec<GroupSpec>>>,
    /// During a shutdown: when to say again which processes are not down.
    shutdown_report: Option<Instant>,
}

/// How often a shutdown says "waiting for x, y to die" (supervisord's).
const SHUTDOWN_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

fn rules_of(spec: &ProcessSpec) -> Rules {
    Rules {
        startsecs: spec.startsecs,
        startretries: spec.startretries,
        autorestart: spec.autorestart,
        exitcodes: spec.exitcodes.clone(),
        stopsignal: spec.stopsignal,
        stopwaitsecs: spec.stopwaitsecs,
        stopasgroup: spec.stopasgroup,
        killasgroup: spec.killasgroup,
    }
}

impl Record {
    /// A process added to the daemon; its AUTO logs exist from now on.
    fn new(spec: &ProcessSpec, group_priority: i32) -> Record {
        output::create_auto_logs(spec);
        Record {
            rules: rules_of(spec),
            proc: Proc::new(spec.name.clone()),
            spec: spec.clone(),
            timer: None,
            group_priority,
            started_at: None,
            stopped_at: None,
            stdin: None,
            output: None,
            inproc: None,
            exiting: false,
        }
    }
}

impl Manager {
    /// A manager for `config`'s processes; nothing runs until `run`.
    pub fn new(config: &Config, server_url: Option<String>) -> (Manager, Handle) {
        let mut records = Vec::new();
        for group in &config.groups {
            let mut procs: Vec<&ProcessSpec> = group.processes.iter().collect();
            procs.sort_by_key(|p| p.priority);
            for spec in procs {
                records.push(Record::new(spec, group.priority));
            }
        }
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        for (k, v) in &config.supervisord.environment {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (flushed_tx, flushed_rx) = mpsc::unbounded_channel();
        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot {
            mood: Mood::Running,
            processes: Vec::new(),
        }));
        let (pending, configured) = watch::channel(Arc::new(config.groups.clone()));
        let manager = Manager {
            records,
            by_pid: HashMap::new(),
            rx,
            snap_tx,
            env,
            strip_ansi: config.supervisord.strip_ansi,
            server_url,
            mood: Mood::Running,
            exit: None,
            stop_queue: Vec::new(),
            daemon_log: None,
            by_key: HashMap::new(),
            next_key: 0,
            exits_tx,
            exits_rx,
            by_flush: HashMap::new(),
            flushed_tx,
            flushed_rx,
            pending,
            shutdown_report: None,
        };
        manager.publish();
        (
            manager,
            Handle {
                tx,
                snapshot: snap_rx,
                configured,
            },
        )
    }

    /// Also reopen the daemon's own log when asked to reopen logs.
    pub fn with_daemon_log(mut self, handle: DaemonLogHandle) -> Manager {
        self.daemon_log = Some(handle);
        self
    }

    /// Start the autostart processes, then serve until shut down. `signals`
    /// were registered before the first spawn, so no exit is missed.
    pub async fn run(mut self, signals: &mut Signals) -> Exit {
        for idx in 0..self.records.len() {
            if self.records[idx].spec.autostart {
                self.feed(idx, Event::Start);
            }
        }
        self.publish();

        loop {
            if let Some(exit) = self.exit
                && self.stop_queue.is_empty()
            {
                return exit;
            }
            let deadline = self
                .records
                .iter()
                .filter_map(|r| r.timer)
                .chain(self.shutdown_report)
                .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                req = self.rx.recv() => match req {
                    Some(req) => self.handle(req),
                    None => self.begin_stop_all(Exit::Shutdown),
                },
                _ = signals.child.recv() => self.reap(),
                Some((key, code)) = self.exits_rx.recv() => self.agent_ended(key, code),
                Some((key, status)) = self.flushed_rx.recv() => self.flushed(key, status),
                _ = sleep => self.fire_timers(),
                _ = signals.terminate.recv() => self.on_signal("SIGTERM", Exit::Shutdown),
                _ = signals.interrupt.recv() => self.on_signal("SIGINT", Exit::Shutdown),
                _ = signals.quit.recv() => self.on_signal("SIGQUIT", Exit::Shutdown),
                _ = signals.hangup.recv() => self.on_signal("SIGHUP", Exit::Restart),
                _ = signals.reopen.recv() => {
                    tracing::info!("received SIGUSR2 indicating log reopen request");
                    self.reopen_logs();
                }
            }
            self.advance_stop_queue();
            self.report_shutdown();
            self.publish();
        }
    }

    /// supervisord's `shutdown_report`: while stopping everything, name the
    /// processes not yet down, at once and then every 3 s.
    fn report_shutdown(&mut self) {
        let now = Instant::now();
        if self.exit.is_none() || self.shutdown_report.is_some_and(|at| at > now) {
            return;
        }
        let unstopped: Vec<&str> = self
            .records
            .iter()
            .filter(|r| !r.proc.state.is_stopped())
            .map(|r| r.spec.name.as_str())
            .collect();
        if unstopped.is_empty() {
            self.shutdown_report = None;
            return;
        }
        tracing::info!("waiting for {} to die", unstopped.join(", "));
        self.shutdown_report = Some(now + SHUTDOWN_REPORT_EVERY);
    }

    fn on_signal(&mut self, name: &str, exit: Exit) {
        match exit {
            Exit::Shutdown => tracing::warn!("received {name} indicating exit request"),
            Exit::Restart => tracing::warn!("received {name} indicating restart request"),
        }
        self.begin_stop_all(exit);
    }

    fn handle(&mut self, req: Request) {
        match req {
            // Publish before answering, so a caller that waits on the
            // snapshot sees the state its request produced.
            Request::Start { group, name, reply } => {
                let result = self.start(&group, &name);
                self.publish();
                let _ = reply.send(result);
            }
            Request::Stop { group, name, reply } => {
                let result = self.stop(&group, &name);
                self.publish();
                let _ = reply.send(result);
            }
            Request::Shutdown => self.begin_stop_all(Exit::Shutdown),
            Request::Restart => self.begin_stop_all(Exit::Restart),
            Request::ReopenLogs => self.reopen_logs(),
            Request::Signal {
                group,
                name,
                signal,
                reply,
            } => {
                let _ = reply.send(self.signal(&group, &name, signal));
            }
            Request::SendStdin {
                group,
                name,
                data,
                reply,
            } => {
                let _ = reply.send(self.send_stdin(&group, &name, &data));
            }
            Request::ClearLogs { group, name, reply } => {
                let _ = reply.send(self.clear_logs(&group, &name));
            }
            Request::Reread { groups, reply } => {
                let result = self.reread(groups);
                let _ = reply.send(result);
            }
            Request::AddGroup { name, reply } => {
                let result = self.add_group(&name);
                self.publish();
                let _ = reply.send(result);
            }
            Request::RemoveGroup { name, reply } => {
                let result = self.remove_group(&name);
                self.publish();
                let _ = reply.send(result);
            }
            Request::SyncProcess { group, name, reply } => {
                let result = self.sync_process(&group, &name);
                self.publish();
                let _ = reply.send(result);
            }
        }
    }

    /// The running processes as groups (records are kept group by group).
    fn running_groups(&self) -> Vec<GroupSpec> {
        let mut groups: Vec<GroupSpec> = Vec::new();
        for rec in &self.records {
            match groups.iter_mut().find(|g| g.name == rec.spec.group) {
                Some(g) => g.processes.push(rec.spec.clone()),
                None => groups.push(GroupSpec {
                    name: rec.spec.group.clone(),
                    priority: rec.group_priority,
                    processes: vec![rec.spec.clone()],
                }),
            }
        }
        groups
    }

    fn refuse_if_stopping(&self) -> Result<(), Fault> {
        if self.exit.is_some() {
            Err(Fault::new(faults::SHUTDOWN_STATE, ""))
        } else {
            Ok(())
        }
    }

    fn reread(&mut self, groups: Vec<GroupSpec>) -> Result<Changes, Fault> {
        self.refuse_if_stopping()?;
        let changes = changes::diff(&self.running_groups(), &groups);
        self.pending.send_replace(Arc::new(groups));
        Ok(changes)
    }

    fn add_group(&mut self, name: &str) -> Result<(), Fault> {
        self.refuse_if_stopping()?;
        let pending = self.pending.borrow().clone();
        let group = pending
            .iter()
            .find(|g| g.name == name)
            .ok_or_else(|| Fault::new(faults::BAD_NAME, name))?;
        if self.records.iter().any(|r| r.spec.group == name) {
            return Err(Fault::new(faults::ALREADY_ADDED, name));
        }
        let mut procs: Vec<&ProcessSpec> = group.processes.iter().collect();
        procs.sort_by_key(|p| p.priority);
        for spec in &procs {
            self.records.push(Record::new(spec, group.priority));
        }
        self.reorder();
        crate::descriptors::global().set_processes(self.records.len());
        tracing::info!("added process group {name}");
        for spec in procs {
            if spec.autostart
                && let Some(idx) = self.find(name, &spec.name)
            {
                self.feed(idx, Event::Start);
            }
        }
        Ok(())
    }

    fn remove_group(&mut self, name: &str) -> Result<(), Fault> {
        self.refuse_if_stopping()?;
        let members: Vec<usize> = (0..self.records.len())
            .filter(|&i| self.records[i].spec.group == name)
            .collect();
        if members.is_empty() {
            return Err(Fault::new(faults::BAD_NAME, name));
        }
        if members
            .iter()
            .any(|&i| !self.records[i].proc.state.is_stopped())
        {
            return Err(Fault::new(faults::STILL_RUNNING, name));
        }
        for &idx in members.iter().rev() {
            self.remove_record(idx);
        }
        crate::descriptors::global().set_processes(self.records.len());
        tracing::info!("removed process group {name}");
        Ok(())
    }

    fn sync_process(&mut self, group: &str, name: &str) -> Result<(), Fault> {
        self.refuse_if_stopping()?;
        let namespec = format!("{group}:{name}");
        let pending = self.pending.borrow().clone();
        let new_group = pending.iter().find(|g| g.name == group);
        let new_spec = new_group.and_then(|g| g.processes.iter().find(|p| p.name == name));
        let idx = self.find(group, name);
        let start = match (idx, new_spec) {
            (None, None) => return Err(Fault::new(faults::BAD_NAME, &namespec)),
            (None, Some(spec)) => {
                let priority = new_group.map(|g| g.priority).unwrap_or(spec.priority);
                self.records.push(Record::new(spec, priority));
                tracing::info!("added process {namespec}");
                spec.autostart
            }
            (Some(idx), None) => {
                if !self.records[idx].proc.state.is_stopped() {
                    return Err(Fault::new(faults::STILL_RUNNING, &namespec));
                }
                self.remove_record(idx);
                tracing::info!("removed process {namespec}");
                false
            }
            (Some(idx), Some(spec)) => {
                if changes::same_settings(&self.records[idx].spec, spec) {
                    false
                } else {
                    if !self.records[idx].proc.state.is_stopped() {
                        return Err(Fault::new(faults::STILL_RUNNING, &namespec));
                    }
                    let rec = &mut self.records[idx];
                    *rec = Record::new(spec, rec.group_priority);
                    tracing::info!("updated process {namespec}");
                    spec.autostart
                }
            }
        };
        if let Some(g) = new_group {
            for rec in self.records.iter_mut().filter(|r| r.spec.group == group) {
                rec.group_priority = g.priority;
            }
        }
        self.reorder();
        if start && let Some(idx) = self.find(group, name) {
            self.feed(idx, Event::Start);
        }
        Ok(())
    }

    /// Put the records back in start order (group priority, group name,
    /// process priority; stable otherwise), keeping the pid and agent maps
    /// pointing at the same records.
    fn reorder(&mut self) {
        let n = self.records.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&self.records[a], &self.records[b]);
            (ra.group_priority, &ra.spec.group, ra.spec.priority).cmp(&(
                rb.group_priority,
                &rb.spec.group,
                rb.spec.priority,
            ))
        });
        let mut new_of_old = vec![0; n];
        for (new, &old) in order.iter().enumerate() {
            new_of_old[old] = new;
        }
        let mut slots: Vec<Option<Record>> = std::mem::take(&mut self.records)
            .into_iter()
            .map(Some)
            .collect();
        self.records = order.iter().filter_map(|&old| slots[old].take()).collect();
        for v in self.by_pid.values_mut() {
            *v = new_of_old[*v];
        }
        for v in self.by_key.values_mut() {
            *v = new_of_old[*v];
        }
        for v in self.by_flush.values_mut() {
            *v = new_of_old[*v];
        }
    }

    /// Forget a (stopped) record, keeping the maps pointing right.
    fn remove_record(&mut self, idx: usize) {
        self.records.remove(idx);
        self.by_pid.forget(idx);
        self.by_key.forget(idx);
        self.by_flush.forget(idx);
    }

    fn find(&self, group: &str, name: &str) -> Option<usize> {
        self.records
            .iter()
            .position(|r| r.spec.group == group && r.spec.name == name)
    }

    /// supervisord's `startProcess` checks, without the wait.
    fn start(&mut self, group: &str, name: &str) -> Result<(), Fault> {
        let namespec = format!("{group}:{name}");
        if self.exit.is_some() {
            return Err(Fault::new(faults::SHUTDOWN_STATE, ""));
        }
        let idx = self
            .find(group, name)
            .ok_or_else(|| Fault::new(faults::BAD_NAME, &namespec))?;
        // Like supervisord, test the command before anything else: a start
        // that could only fail to spawn is refused with NO_FILE or
        // NOT_EXECUTABLE, and the process is left as it is.
        check_command(&self.records[idx].spec, &self.env)?;
        let state = self.records[idx].proc.state;
        if state.is_running() {
            return Err(Fault::new(faults::ALREADY_STARTED, &namespec));
        }
        if state == State::Unknown {
            return Err(Fault::new(
                faults::FAILED,
                format!("{namespec} is in an unknown process state"),
            ));
        }
        if state == State::Stopping {
            return Err(Fault::new(
                faults::FAILED,
                format!("{namespec} is stopping"),
            ));
        }
        // A user's start begins a fresh round of retries.
        self.records[idx].proc.backoff = 0;
        self.feed(idx, Event::Start);
        let rec = &self.records[idx];
        if rec.proc.state != State::Starting && !rec.proc.spawnerr.is_empty() {
            return Err(Fault::new(faults::SPAWN_ERROR, &namespec));
        }
        Ok(())
    }

    fn stop(&mut self, group: &str, name: &str) -> Result<(), Fault> {
        let namespec = format!("{group}:{name}");
        let idx = self
            .find(group, name)
            .ok_or_else(|| Fault::new(faults::BAD_NAME, &namespec))?;
        if !self.records[idx].proc.state.is_running() {
            return Err(Fault::new(faults::NOT_RUNNING, &namespec));
        }
        self.feed(idx, Event::Stop);
        Ok(())
    }

    /// Stop every group, highest priority first, one group at a time.
    fn begin_stop_all(&mut self, exit: Exit) {
        if self.exit.is_some() {
            return;
        }
        self.exit = Some(exit);
        self.mood = match exit {
            Exit::Shutdown => Mood::ShuttingDown,
            Exit::Restart => Mood::Restarting,
        };
        for rec in &mut self.records {
            rec.proc.shutting_down = true;
        }
        // Records are in start order; groups are runs of the same group name.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (idx, rec) in self.records.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if self.records[g[0]].spec.group == rec.spec.group => g.push(idx),
                _ => groups.push(vec![idx]),
            }
        }
        groups.sort_by_key(|g| self.records[g[0]].group_priority);
        self.stop_queue = groups;
        self.advance_stop_queue();
    }

    /// Stop the last group of the queue; pop it once all its processes are down.
    fn advance_stop_queue(&mut self) {
        while let Some(group) = self.stop_queue.last().cloned() {
            for &idx in group.iter().rev() {
                let state = self.records[idx].proc.state;
                if matches!(state, State::Running | State::Starting | State::Backoff) {
                    self.feed(idx, Event::Stop);
                }
            }
            let unstopped = group
                .iter()
                .any(|&idx| !self.records[idx].proc.state.is_stopped());
            if unstopped {
                return;
            }
            self.stop_queue.pop();
        }
    }

    /// Feed one event to a process and carry out what follows.
    fn feed(&mut self, idx: usize, event: Event) {
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let now = Instant::now();
            let rec = &mut self.records[idx];
            let actions = rec.proc.step(&rec.rules, event, now);
            for action in actions {
                if let Some(next) = self.act(idx, action) {
                    queue.push(next);
                }
            }
        }
    }

    /// Carry out one action; a spawn answers with an event to feed back.
    fn act(&mut self, idx: usize, action: Action) -> Option<Event> {
        let rec = &mut self.records[idx];
        match action {
            // Dead already: its exit is on the way once its output is flushed.
            Action::Signal { .. } if rec.exiting => None,
            Action::Spawn => {
                rec.output = None;
                rec.stdin = None;
                rec.started_at = Some(SystemTime::now());
                if let ProcessKind::Agent(agent) = &rec.spec.kind
                    && agent.isolation == Isolation::InProcess
                {
                    let agent = agent.clone();
                    return Some(self.start_agent(idx, &agent));
                }
                let rec = &mut self.records[idx];
                let spawned = spawn::spawn(&rec.spec, &self.env, self.server_url.as_deref())
                    .map_err(|e| {
                        if e.in_child
                            && let Err(why) = output::write_spawn_error(&rec.spec, &e.message)
                        {
                            tracing::warn!("{}: {why}", rec.spec.name);
                        }
                        e.message
                    })
                    .and_then(|s| {
                        // Open the logs before counting the spawn a success,
                        // as supervisord makes its dispatchers first.
                        match Output::start(&rec.spec, s.stdout, s.stderr, self.strip_ansi) {
                            Ok(out) => Ok((s.pid, s.stdin, out)),
                            Err(e) => {
                                let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
                                Err(e)
                            }
                        }
                    });
                match spawned {
                    Ok((pid, stdin, output)) => {
                        crate::descendants::watch(crate::descendants::Group {
                            pgid: pid,
                            start: crate::descendants::proc::start_time(pid),
                            signal: rec.spec.stopsignal.number,
                            grace: std::time::Duration::from_secs(rec.spec.stopwaitsecs),
                            name: rec.spec.name.clone(),
                        });
                        rec.stdin = stdin.and_then(|fd| match StdinPipe::new(fd) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                tracing::warn!(
                                    "{}: no stdin for sendProcessStdin: {e}",
                                    rec.spec.name
                                );
                                None
                            }
                        });
                        rec.output = Some(output);
                        self.by_pid.insert(pid, idx);
                        Some(Event::Spawned { pid })
                    }
                    Err(error) => Some(Event::SpawnFailed { error }),
                }
            }
            Action::Signal { signal, .. } if rec.inproc.is_some() => {
                if signal == libc::SIGKILL {
                    // A thread cannot be killed: stop it, stop waiting for it.
                    if let Some(agent) = rec.inproc.take() {
                        agent.stop();
                    }
                    self.by_key.retain(|_, i| *i != idx);
                    tracing::warn!(
                        "{}: the in-process agent did not stop in time; left to finish on its own",
                        rec.spec.name
                    );
                    return Some(Event::Exited {
                        status: ExitStatus::Signal {
                            signal: libc::SIGKILL,
                            core_dumped: false,
                        },
                    });
                }
                if let Some(agent) = &rec.inproc {
                    agent.stop();
                }
                None
            }
            Action::Signal { signal, group } => {
                let pid = rec.proc.pid;
                if pid > 0 {
                    let sig = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
                    let result = if group {
                        killpg(Pid::from_raw(pid), sig)
                    } else {
                        kill(Pid::from_raw(pid), sig)
                    };
                    if let Err(e) = result {
                        tracing::debug!("signal {sig} to {pid}: {e}");
                    }
                }
                None
            }
            Action::ArmTimer(at) => {
                rec.timer = Some(at);
                None
            }
            Action::CancelTimer => {
                rec.timer = None;
                None
            }
            Action::Log(level, msg) => {
                match level {
                    Level::Debug => tracing::debug!("{msg}"),
                    Level::Info => tracing::info!("{msg}"),
                    Level::Warn => tracing::warn!("{msg}"),
                }
                None
            }
        }
    }

    /// Collect every exited child: ours get their state machine event, adopted
    /// orphans are just reaped.
    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (pid, exit) = match status {
                WaitStatus::Exited(pid, code) => (pid, ExitStatus::Code(code)),
                WaitStatus::Signaled(pid, sig, core) => (
                    pid,
                    ExitStatus::Signal {
                        signal: sig as i32,
                        core_dumped: core,
                    },
                ),
                _ => continue,
            };
            crate::descendants::reaped(pid.as_raw());
            match self.by_pid.remove(&pid.as_raw()) {
                Some(idx) => {
                    self.records[idx].stopped_at = Some(SystemTime::now());
                    self.records[idx].stdin = None;
                    self.flush_then_exit(idx, exit);
                }
                None => {
                    // The command of an in-process agent's exec source?
                    let raw = match status {
                        WaitStatus::Signaled(_, sig, core) => {
                            sig as i32 | if core { 0x80 } else { 0 }
                        }
                        WaitStatus::Exited(_, code) => (code & 0xff) << 8,
                        _ => 0,
                    };
                    if !crate::engine::source::exec::reaped_elsewhere(pid.as_raw(), raw) {
                        tracing::debug!("reaped unknown pid {pid} ({})", exit.describe());
                    }
                }
            }
        }
    }

    /// Start an in-process agent for record `idx`; the event to feed back.
    fn start_agent(&mut self, idx: usize, agent: &AgentSpec) -> Event {
        let key = self.next_key;
        self.next_key += 1;
        let started = InProcess::start(agent, key, self.exits_tx.clone()).and_then(|(run, log)| {
            let output = Output::start(&self.records[idx].spec, log, None, self.strip_ansi);
            match output {
                Ok(out) => Ok((run, out)),
                Err(e) => {
                    run.stop();
                    Err(e)
                }
            }
        });
        match started {
            Ok((run, output)) => {
                let rec = &mut self.records[idx];
                rec.inproc = Some(run);
                rec.output = Some(output);
                self.by_key.insert(key, idx);
                Event::Spawned {
                    pid: std::process::id() as i32,
                }
            }
            Err(error) => Event::SpawnFailed { error },
        }
    }

    /// An in-process agent ended with `code`.
    fn agent_ended(&mut self, key: u64, code: i32) {
        let Some(idx) = self.by_key.remove(&key) else {
            return; // abandoned after SIGKILL: already counted as exited
        };
        let rec = &mut self.records[idx];
        rec.inproc = None;
        rec.stopped_at = Some(SystemTime::now());
        self.flush_then_exit(idx, ExitStatus::Code(code));
    }

    /// The end of a run: feed the exit to the state machine once what the
    /// process wrote is in its log files, so whoever sees the EXITED state
    /// (a `wait` for it, `tail`) also sees its last output. A descendant
    /// holding the pipe open does not delay it (`Output::flush`); a log
    /// write that hangs (a stuck disk) delays it by `FLUSH_LIMIT` at most.
    fn flush_then_exit(&mut self, idx: usize, status: ExitStatus) {
        let Some(flush) = self.records[idx].output.as_ref().map(|o| o.flush()) else {
            self.feed(idx, Event::Exited { status });
            return;
        };
        let key = self.next_key;
        self.next_key += 1;
        self.records[idx].exiting = true;
        self.by_flush.insert(key, idx);
        let done = self.flushed_tx.clone();
        let name = self.records[idx].spec.name.clone();
        tokio::spawn(async move {
            if tokio::time::timeout(FLUSH_LIMIT, flush).await.is_err() {
                tracing::warn!(
                    "{name}: its output took over {} s to reach its log; reporting its exit anyway",
                    FLUSH_LIMIT.as_secs()
                );
            }
            let _ = done.send((key, status));
        });
    }

    /// A run's output is flushed: now it has exited.
    fn flushed(&mut self, key: u64, status: ExitStatus) {
        let Some(idx) = self.by_flush.remove(&key) else {
            return;
        };
        self.records[idx].exiting = false;
        self.feed(idx, Event::Exited { status });
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        for idx in 0..self.records.len() {
            if let Some(at) = self.records[idx].timer
                && at <= now
            {
                self.records[idx].timer = None;
                self.feed(idx, Event::Timer);
            }
        }
    }

    fn reopen_logs(&mut self) {
        if let Some(log) = &self.daemon_log
            && let Err(e) = log.reopen()
        {
            tracing::error!("could not reopen the daemon log: {e}");
        }
        for rec in &self.records {
            if let Some(out) = &rec.output {
                out.reopen();
            }
        }
    }

    fn publish(&self) {
        let processes = self
            .records
            .iter()
            .map(|r| ProcessInfo {
                name: r.spec.name.clone(),
                group: r.spec.group.clone(),
                state: r.proc.state,
                start: r.started_at.map(unix_time).unwrap_or(0),
                stop: r.stopped_at.map(unix_time).unwrap_or(0),
                spawnerr: r.proc.spawnerr.clone(),
                exitstatus: r.proc.exitstatus.unwrap_or(0),
                stdout_logfile: path_string(&r.spec.stdout.path),
                stderr_logfile: path_string(&r.spec.stderr.path),
                pid: if in_process(&r.spec) { 0 } else { r.proc.pid },
                in_process: in_process(&r.spec),
                priority: (r.group_priority, r.spec.priority),
                startsecs: r.spec.startsecs,
            })
            .collect();
        self.snap_tx.send_replace(Arc::new(Snapshot {
            mood: self.mood,
            processes,
        }));
    }
}

/// An agent that runs on a thread of the daemon, not as a child.
fn in_process(spec: &ProcessSpec) -> bool {
    matches!(&spec.kind, ProcessKind::Agent(a) if a.isolation == Isolation::InProcess)
}

fn path_string(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// supervisord's check of a command before `startProcess` spawns it: the
/// spawn error text as a NO_FILE fault (not found) or NOT_EXECUTABLE (a
/// directory, no execute bit, no permission, unparsable).
fn check_command(spec: &ProcessSpec, env: &[(String, String)]) -> Result<(), Fault> {
    if let ProcessKind::Agent(agent) = &spec.kind
        && agent.isolation == Isolation::InProcess
    {
        return Ok(());
    }
    let search = spawn::search_path(spec, env);
    match spawn::resolve_command(spec.command_to_run(), spec.directory.as_deref(), search) {
        Ok(_) => Ok(()),
        Err(why) if why.starts_with("can't find command") => Err(Fault::new(faults::NO_FILE, why)),
        Err(why) => Err(Fault::new(faults::NOT_EXECUTABLE, why)),
    }
}

/// The longest an exit waits for its output to reach the log files.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The pid and run-key maps, all `-> record index`.
trait IndexMap {
    /// Drop entries for `idx` and shift those after it down by one.
    fn forget(&mut self, idx: usize);
}

impl<K> IndexMap for HashMap<K, usize> {
    fn forget(&mut self, idx: usize) {
        self.retain(|_, v| *v != idx);
        for v in self.values_mut() {
            if *v > idx {
                *v -= 1;
            }
        }
    }
}
