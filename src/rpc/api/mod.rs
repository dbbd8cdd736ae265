//! supervisord's XML-RPC API (`supervisor.*`, `system.*`) over the manager.
//!
//! Each method is one arm of `Api::dispatch`; `METHODS` lists them with
//! their signatures for `system.listMethods`/`methodSignature`/`methodHelp`.
//! Name resolution, `wait` semantics, fault codes and fault strings follow
//! supervisord's `rpcinterface.py`.

use std::path::PathBuf;
use std::sync::Arc;

use super::{AnswerFuture, AnswerWriter, CallFuture, Dispatch, Fault, Reply, Value, faults};
use crate::config::{self, ConfigSource, GroupSpec};
use crate::logs::{self, DaemonLogHandle, ReadError};
use crate::supervisor::changes::{Changes, ProcChange};
use crate::supervisor::info::{ProcessInfo, unix_now};
use crate::supervisor::state::State;
use crate::supervisor::{Handle, Request};

/// How often a stop that waits says "waiting for x to stop" (supervisord's).
const STOP_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Signals, stdin, clearing logs, the config listing, remote events.
mod process_methods;

/// supervisord's API version; the stock supervisorctl refuses any other.
pub const API_VERSION: &str = "3.0";

/// (name, signature as return type then argument types, help)
pub const METHODS: &[(&str, &[&str], &str)] = &[
    (
        "supervisor.getAPIVersion",
        &["string"],
        "Return the version of the RPC API used by supervisord",
    ),
    (
        "supervisor.getVersion",
        &["string"],
        "Return the version of the RPC API used by supervisord (deprecated)",
    ),
    (
        "supervisor.getSupervisorVersion",
        &["string"],
        "Return the version of the supervisor package in use by supervisord",
    ),
    (
        "supervisor.getIdentification",
        &["string"],
        "Return identifying string of supervisord",
    ),
    (
        "supervisor.getState",
        &["struct"],
        "Return current state of supervisord as a struct",
    ),
    (
        "supervisor.getPID",
        &["int"],
        "Return the PID of supervisord",
    ),
    (
        "supervisor.readLog",
        &["string", "int", "int"],
        "Read length bytes from the main log starting at offset",
    ),
    (
        "supervisor.readMainLog",
        &["string", "int", "int"],
        "Read length bytes from the main log starting at offset",
    ),
    (
        "supervisor.shutdown",
        &["boolean"],
        "Shut down the supervisor process",
    ),
    (
        "supervisor.restart",
        &["boolean"],
        "Restart the supervisor process",
    ),
    (
        "supervisor.getProcessInfo",
        &["struct", "string"],
        "Get info about a process named name",
    ),
    (
        "supervisor.getAllProcessInfo",
        &["array"],
        "Get info about all processes",
    ),
    (
        "supervisor.startProcess",
        &["boolean", "string", "boolean"],
        "Start a process",
    ),
    (
        "supervisor.startProcessGroup",
        &["array", "string", "boolean"],
        "Start all processes in the group named 'name'",
    ),
    (
        "supervisor.startAllProcesses",
        &["array", "boolean"],
        "Start all processes listed in the configuration file",
    ),
    (
        "supervisor.stopProcess",
        &["boolean", "string", "boolean"],
        "Stop a process named by name",
    ),
    (
        "supervisor.stopProcessGroup",
        &["array", "string", "boolean"],
        "Stop all processes in the process group named 'name'",
    ),
    (
        "supervisor.stopAllProcesses",
        &["array", "boolean"],
        "Stop all processes in the process list",
    ),
    (
        "supervisor.readProcessStdoutLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stdout log starting at offset",
    ),
    (
        "supervisor.readProcessLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stdout log starting at offset",
    ),
    (
        "supervisor.readProcessStderrLog",
        &["string", "string", "int", "int"],
        "Read length bytes from name's stderr log starting at offset",
    ),
    (
        "supervisor.tailProcessStdoutLog",
        &["array", "string", "int", "int"],
        "Provides a more efficient way to tail the (stdout) log than readProcessStdoutLog",
    ),
    (
        "supervisor.tailProcessLog",
        &["array", "string", "int", "int"],
        "Provides a more efficient way to tail the (stdout) log than readProcessStdoutLog",
    ),
    (
        "supervisor.tailProcessStderrLog",
        &["array", "string", "int", "int"],
        "Provides a more efficient way to tail the (stderr) log than readProcessStderrLog",
    ),
    (
        "supervisor.getAllConfigInfo",
        &["array"],
        "Get info about all available process configurations, one struct per process",
    ),
    (
        "supervisor.signalProcess",
        &["boolean", "string", "string"],
        "Send a signal (a name like HUP or a number) to one process",
    ),
    (
        "supervisor.signalProcessGroup",
        &["array", "string", "string"],
        "Send a signal to every process of a group",
    ),
    (
        "supervisor.signalAllProcesses",
        &["array", "string"],
        "Send a signal to every process",
    ),
    (
        "supervisor.sendProcessStdin",
        &["boolean", "string", "string"],
        "Write characters to the stdin of a process",
    ),
    (
        "supervisor.sendRemoteCommEvent",
        &["boolean", "string", "string"],
        "Emit a remote communication event (type, data) for event listeners",
    ),
    ("supervisor.clearLog", &["boolean"], "Clear the main log"),
    (
        "supervisor.clearProcessLogs",
        &["boolean", "string"],
        "Clear the stdout and stderr logs of a process and reopen them",
    ),
    (
        "supervisor.clearProcessLog",
        &["boolean", "string"],
        "Clear the stdout and stderr logs of a process and reopen them",
    ),
    (
        "supervisor.clearAllProcessLogs",
        &["array"],
        "Clear the log files of every process",
    ),
    (
        "supervisor.reloadConfig",
        &["array"],
        "Reload the configuration: [[added, changed, removed]] group names",
    ),
    (
        "supervisor.addProcessGroup",
        &["boolean", "string"],
        "Update the config for a running process from config file",
    ),
    (
        "supervisor.removeProcessGroup",
        &["boolean", "string"],
        "Remove a stopped process from the active configuration",
    ),
    (
        "sluice.update",
        &["array", "array"],
        "Reload the configuration and apply it to the named groups (all when empty), \
         restarting only the processes whose own settings changed; \
         returns what was done as [{name, message, ok}]",
    ),
    (
        "system.listMethods",
        &["array"],
        "Return an array listing the available method names",
    ),
    (
        "system.methodHelp",
        &["string", "string"],
        "Return a string showing the method's documentation",
    ),
    (
        "system.methodSignature",
        &["array", "string"],
        "Return an array describing the method signature",
    ),
    (
        "system.multicall",
        &["array", "array"],
        "Process an array of calls, and return an array of results",
    ),
];

/// The API served by the daemon.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle,
    identifier: String,
    main_log: Option<PathBuf>,
    /// The daemon's log, for `clearLog`.
    daemon_log: std::sync::OnceLock<DaemonLogHandle>,
    /// Where `reloadConfig` re-reads the config from.
    source: std::sync::OnceLock<ConfigSource>,
}

impl Api {
    pub fn new(handle: Handle, identifier: String, main_log: Option<PathBuf>) -> Api {
        Api {
            inner: Arc::new(Inner {
                handle,
                identifier,
                main_log,
                daemon_log: std::sync::OnceLock::new(),
                source: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The daemon's own log, which `clearLog` empties.
    pub fn with_daemon_log(self, log: DaemonLogHandle) -> Api {
        let _ = self.inner.daemon_log.set(log);
        self
    }

    /// Where `reloadConfig` and `sluice.update` re-read the config.
    pub fn with_config_source(self, source: ConfigSource) -> Api {
        let _ = self.inner.source.set(source);
        self
    }
}

impl Dispatch for Api {
    fn call(&self, method: String, params: Vec<Value>) -> CallFuture {
        let api = self.clone();
        Box::pin(async move { api.dispatch(&method, params).await })
    }

    fn answer(&self, method: String, params: Vec<Value>, mut out: AnswerWriter) -> AnswerFuture {
        let api = self.clone();
        Box::pin(async move {
            api.write_answer(&method, params, &mut out).await;
            out.finish().await;
        })
    }

    fn log_path(&self, name: Option<&str>, channel: &str) -> Result<PathBuf, Fault> {
        match name {
            None => self
                .inner
                .main_log
                .clone()
                .ok_or_else(|| Fault::new(faults::NO_FILE, "")),
            Some(name) => {
                let info = self.process(name)?;
                let path = if channel == "stderr" {
                    info.stderr_logfile
                } else {
                    info.stdout_logfile
                };
                if path.is_empty() {
                    // supervisord's RPCError(NO_FILE, None): no detail.
                    Err(Fault::new(faults::NO_FILE, ""))
                } else {
                    Ok(PathBuf::from(path))
                }
            }
        }
    }
}

/// `group:name` -> (group, Some(name)); `group:*` -> (group, None);
/// `name` -> (name, Some(name)).
pub fn split_namespec(spec: &str) -> (String, Option<String>) {
    match spec.split_once(':') {
        Some((g, "*")) => (g.to_string(), None),
        Some((g, n)) => (g.to_string(), Some(n.to_string())),
        None => (spec.to_string(), Some(spec.to_string())),
    }
}

fn bad_params() -> Fault {
    Fault::new(faults::INCORRECT_PARAMETERS, "")
}

fn arg_str(params: &[Value], i: usize) -> Result<String, Fault> {
    params
        .get(i)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(bad_params)
}

/// An integer argument; like supervisord's `int(x)`, a boolean or a
/// text of digits is taken too.
fn arg_int(params: &[Value], i: usize) -> Result<i64, Fault> {
    match params.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Bool(b)) => Ok(i64::from(*b)),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad_params()),
        _ => Err(bad_params()),
    }
}

/// An optional boolean argument (`wait`), true when absent.
fn arg_wait(params: &[Value], i: usize) -> Result<bool, Fault> {
    match params.get(i) {
        None => Ok(true),
        Some(v) => v.as_bool().ok_or_else(bad_params),
    }
}

fn check_arity(params: &[Value], min: usize, max: usize) -> Result<(), Fault> {
    if params.len() < min || params.len() > max {
        Err(bad_params())
    } else {
        Ok(())
    }
}

/// supervisord's process-info struct.
pub fn info_value(p: &ProcessInfo, now: i64) -> Value {
    Value::Struct(vec![
        ("name".into(), p.name.clone().into()),
        ("group".into(), p.group.clone().into()),
        ("description".into(), p.description(now).into()),
        ("start".into(), Value::Int(p.start)),
        ("stop".into(), Value::Int(p.stop)),
        ("now".into(), Value::Int(now)),
        ("state".into(), Value::Int(p.state.code())),
        ("statename".into(), p.state.name().into()),
        ("spawnerr".into(), p.spawnerr.clone().into()),
        ("exitstatus".into(), Value::Int(i64::from(p.exitstatus))),
        ("logfile".into(), p.stdout_logfile.clone().into()),
        ("stdout_logfile".into(), p.stdout_logfile.clone().into()),
        ("stderr_logfile".into(), p.stderr_logfile.clone().into()),
        ("pid".into(), Value::Int(i64::from(p.pid))),
    ])
}

/// One entry of a group operation's result array.
fn result_value(group: &str, name: &str, status: i32, description: &str) -> Value {
    Value::Struct(vec![
        ("name".into(), name.into()),
        ("group".into(), group.into()),
        ("status".into(), Value::Int(i64::from(status))),
        ("description".into(), description.into()),
    ])
}

impl Api {
    fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    fn process(&self, name: &str) -> Result<ProcessInfo, Fault> {
        let (group, proc_name) = split_namespec(name);
        let proc_name = proc_name.ok_or_else(|| Fault::new(faults::BAD_NAME, name))?;
        self.handle()
            .snapshot()
            .find(&group, &proc_name)
            .cloned()
            .ok_or_else(|| Fault::new(faults::BAD_NAME, name))
    }

    /// Processes of a group, in start order; BAD_NAME if there is no such group.
    fn group(&self, group: &str) -> Result<Vec<ProcessInfo>, Fault> {
        let procs: Vec<ProcessInfo> = self
            .handle()
            .snapshot()
            .processes
            .iter()
            .filter(|p| p.group == group)
            .cloned()
            .collect();
        if procs.is_empty() {
            Err(Fault::new(faults::BAD_NAME, group))
        } else {
            Ok(procs)
        }
    }

    async fn dispatch(&self, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
        if let Some(reply) = self.log_reply(method, &params).await {
            return reply?.into_value().await;
        }
        let p = &params[..];
        match method {
            "supervisor.getAPIVersion" | "supervisor.getVersion" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                Ok(API_VERSION.into())
            }
            "supervisor.getSupervisorVersion" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                Ok(env!("CARGO_PKG_VERSION").into())
            }
            "supervisor.getIdentification" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                Ok(self.inner.identifier.clone().into())
            }
            "supervisor.getState" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                let mood = self.handle().snapshot().mood;
                Ok(Value::Struct(vec![
                    ("statecode".into(), Value::Int(mood.code())),
                    ("statename".into(), mood.name().into()),
                ]))
            }
            "supervisor.getPID" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                Ok(Value::Int(i64::from(std::process::id())))
            }
            "supervisor.shutdown" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                self.handle().send(Request::Shutdown)?;
                Ok(Value::Bool(true))
            }
            "supervisor.restart" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                self.handle().send(Request::Restart)?;
                Ok(Value::Bool(true))
            }
            "supervisor.getProcessInfo" => {
                check_arity(p, 1, 1)?;
                self.check_mood()?;
                let info = self.process(&arg_str(p, 0)?)?;
                Ok(info_value(&info, unix_now()))
            }
            "supervisor.getAllProcessInfo" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                let now = unix_now();
                // supervisord lists them by group name, then process name.
                let snap = self.handle().snapshot();
                let mut procs: Vec<&ProcessInfo> = snap.processes.iter().collect();
                procs.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
                Ok(Value::Array(
                    procs.into_iter().map(|i| info_value(i, now)).collect(),
                ))
            }
            "supervisor.startProcess" => {
                check_arity(p, 1, 2)?;
                self.check_mood()?;
                self.start_process(&arg_str(p, 0)?, arg_wait(p, 1)?).await
            }
            "supervisor.startProcessGroup" => {
                check_arity(p, 1, 2)?;
                self.check_mood()?;
                let group = arg_str(p, 0)?;
                let procs = self.group(&group)?;
                self.start_many(procs, arg_wait(p, 1)?).await
            }
            "supervisor.startAllProcesses" => {
                check_arity(p, 0, 1)?;
                self.check_mood()?;
                let procs = self.handle().snapshot().processes.clone();
                self.start_many(procs, arg_wait(p, 0)?).await
            }
            "supervisor.stopProcess" => {
                check_arity(p, 1, 2)?;
                self.check_mood()?;
                self.stop_process(&arg_str(p, 0)?, arg_wait(p, 1)?).await
            }
            "supervisor.stopProcessGroup" => {
                check_arity(p, 1, 2)?;
                self.check_mood()?;
                let group = arg_str(p, 0)?;
                let procs = self.group(&group)?;
                self.stop_many(procs, arg_wait(p, 1)?).await
            }
            "supervisor.stopAllProcesses" => {
                check_arity(p, 0, 1)?;
                self.check_mood()?;
                // supervisord stops (and reports) in ascending priority order.
                let procs = self.handle().snapshot().processes.clone();
                self.stop_many(procs, arg_wait(p, 0)?).await
            }
            "supervisor.reloadConfig" => {
                check_arity(p, 0, 0)?;
                let changes = self.reread().await?;
                let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
                Ok(Value::Array(vec![Value::Array(vec![
                    names(changes.added.clone()),
                    names(changes.changed_names()),
                    names(changes.removed),
                ])]))
            }
            "supervisor.addProcessGroup" => {
                check_arity(p, 1, 1)?;
                self.check_mood()?;
                let name = arg_str(p, 0)?;
                self.handle()
                    .ask(|reply| Request::AddGroup { name, reply })
                    .await?;
                Ok(Value::Bool(true))
            }
            "supervisor.removeProcessGroup" => {
                check_arity(p, 1, 1)?;
                self.check_mood()?;
                let name = arg_str(p, 0)?;
                self.handle()
                    .ask(|reply| Request::RemoveGroup { name, reply })
                    .await?;
                Ok(Value::Bool(true))
            }
            "sluice.update" => {
                check_arity(p, 0, 1)?;
                let names = match p.first() {
                    None => Vec::new(),
                    Some(v) => v
                        .as_array()
                        .ok_or_else(bad_params)?
                        .iter()
                        .map(|n| n.as_str().map(str::to_string).ok_or_else(bad_params))
                        .collect::<Result<Vec<String>, Fault>>()?,
                };
                self.update(names).await
            }
            "system.listMethods" => {
                check_arity(p, 0, 0)?;
                let mut names: Vec<&str> = METHODS.iter().map(|(n, _, _)| *n).collect();
                names.sort_unstable();
                Ok(Value::Array(names.into_iter().map(Value::from).collect()))
            }
            "system.methodSignature" => {
                check_arity(p, 1, 1)?;
                let name = arg_str(p, 0)?;
                let (_, sig, _) = METHODS
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .ok_or_else(|| Fault::new(faults::SIGNATURE_UNSUPPORTED, ""))?;
                // supervisord answers [return type, parameter types...].
                Ok(Value::Array(sig.iter().map(|t| Value::from(*t)).collect()))
            }
            "system.methodHelp" => {
                check_arity(p, 1, 1)?;
                let name = arg_str(p, 0)?;
                let (_, _, help) = METHODS
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .ok_or_else(|| Fault::new(faults::SIGNATURE_UNSUPPORTED, ""))?;
                Ok((*help).into())
            }
            "system.multicall" => {
                let calls = multicall_calls(p)?;
                let mut results = Vec::with_capacity(calls.len());
                for call in calls {
                    let result = match self.multicall_one(call).await {
                        Ok(reply) => reply.into_value().await,
                        Err(f) => Err(f),
                    };
                    results.push(result.unwrap_or_else(fault_struct));
                }
                Ok(Value::Array(results))
            }
            "supervisor.getAllConfigInfo" => {
                check_arity(p, 0, 0)?;
                self.check_mood()?;
                Ok(self.all_config_info())
            }
            "supervisor.signalProcess" => {
                check_arity(p, 2, 2)?;
                self.signal_process(&arg_str(p, 0)?, &p[1]).await
            }
            "supervisor.signalProcessGroup" => {
                check_arity(p, 2, 2)?;
                self.signal_group(&arg_str(p, 0)?, &p[1]).await
            }
            "supervisor.signalAllProcesses" => {
                check_arity(p, 1, 1)?;
                self.signal_all(&p[0]).await
            }
            "supervisor.sendProcessStdin" => {
                check_arity(p, 2, 2)?;
                self.send_stdin(&p[0], &p[1]).await
            }
            "supervisor.sendRemoteCommEvent" => {
                // supervisord hands the event to its event listeners; sluice
                // has no event listeners yet, so there is no one to tell:
                // the call is accepted and answered as supervisord does.
                check_arity(p, 2, 2)?;
                Ok(Value::Bool(true))
            }
            "supervisor.clearLog" => {
                check_arity(p, 0, 0)?;
                self.clear_main_log()
            }
            "supervisor.clearProcessLogs" | "supervisor.clearProcessLog" => {
                check_arity(p, 1, 1)?;
                self.clear_process_logs(&arg_str(p, 0)?).await
            }
            "supervisor.clearAllProcessLogs" => {
                check_arity(p, 0, 0)?;
                self.clear_all_process_logs().await
            }
            _ => Err(Fault::new(faults::UNKNOWN_METHOD, "")),
        }
    }

    /// A method's answer, with log reads left in their files
    /// ([`Reply::Text`]) to be read as the answer is written.
    async fn reply(&self, method: &str, params: Vec<Value>) -> Result<Reply, Fault> {
        match self.log_reply(method, &params).await {
            Some(reply) => reply,
            None => self.dispatch(method, params).await.map(Reply::Value),
        }
    }

    /// supervisord's log reads; `None` for any other method.
    async fn log_reply(&self, method: &str, p: &[Value]) -> Option<Result<Reply, Fault>> {
        let channel = || {
            if method.ends_with("StderrLog") {
                "stderr"
            } else {
                "stdout"
            }
        };
        Some(match method {
            "supervisor.readLog"
            | "supervisor.readMainLog"
            | "supervisor.readProcessStdoutLog"
            | "supervisor.readProcessLog"
            | "supervisor.readProcessStderrLog" => {
                // The main log's reads have no name argument.
                let main = matches!(method, "supervisor.readLog" | "supervisor.readMainLog");
                let args = (|| {
                    let n = if main { 2 } else { 3 };
                    check_arity(p, n, n)?;
                    self.check_mood()?;
                    let name = if main { None } else { Some(arg_str(p, 0)?) };
                    let path = self.log_path(name.as_deref(), channel())?;
                    Ok((path, arg_int(p, n - 2)?, arg_int(p, n - 1)?))
                })();
                match args {
                    Ok((path, offset, length)) => read_log(&path, offset, length).await,
                    Err(f) => Err(f),
                }
            }
            "supervisor.tailProcessStdoutLog"
            | "supervisor.tailProcessLog"
            | "supervisor.tailProcessStderrLog" => {
                let args = (|| {
                    check_arity(p, 3, 3)?;
                    self.check_mood()?;
                    Ok((arg_str(p, 0)?, arg_int(p, 1)?, arg_int(p, 2)?))
                })();
                match args {
                    Ok((name, offset, length)) => match self.log_path(Some(&name), channel()) {
                        Ok(path) if path.exists() => tail_log(&path, offset, length).await,
                        // supervisord: no log file (or none yet) tails as empty.
                        Ok(_) => Ok(empty_tail()),
                        Err(f) if f.code == faults::NO_FILE => Ok(empty_tail()),
                        Err(f) => Err(f),
                    },
                    Err(f) => Err(f),
                }
            }
            _ => return None,
        })
    }

    /// One call of a multicall (not another multicall).
    async fn multicall_one(&self, call: &Value) -> Result<Reply, Fault> {
        let name = call.get("methodName").and_then(Value::as_str);
        let args = call.get("params").and_then(Value::as_array);
        match (name, args) {
            (Some("system.multicall"), _) => Err(Fault::new(
                faults::INCORRECT_PARAMETERS,
                "Recursive system.multicall forbidden",
            )),
            (Some(name), Some(args)) => Box::pin(self.reply(name, args.to_vec())).await,
            (Some(name), None) => Box::pin(self.reply(name, Vec::new())).await,
            (None, _) => Err(Fault::new(faults::INCORRECT_PARAMETERS, "No methodName")),
        }
    }

    /// The server's way in: as `dispatch`, but the answer is written as it
    /// is made (a multicall one result at a time, log text a piece at a
    /// time), so no answer is held in memory whole.
    async fn write_answer(&self, method: &str, params: Vec<Value>, out: &mut AnswerWriter) {
        if method != "system.multicall" {
            let reply = self.reply(method, params).await;
            out.result(reply).await;
            return;
        }
        let calls = match multicall_calls(&params) {
            Ok(calls) => calls,
            Err(f) => return out.result(Err(f)).await,
        };
        out.write(crate::rpc::xml::RESPONSE_OPEN).await;
        out.write(crate::rpc::xml::ARRAY_OPEN).await;
        for call in calls {
            // Run even when the client has gone: a call may change things
            // (as supervisord runs every call it was sent).
            let reply = self
                .multicall_one(call)
                .await
                .unwrap_or_else(|f| Reply::Value(fault_struct(f)));
            out.reply(reply).await;
            out.write("\n").await;
        }
        out.write(crate::rpc::xml::ARRAY_CLOSE).await;
        out.write(crate::rpc::xml::RESPONSE_CLOSE).await;
    }

    async fn start_process(&self, name: &str, wait: bool) -> Result<Value, Fault> {
        let (group, proc_name) = split_namespec(name);
        let Some(proc_name) = proc_name else {
            // supervisord names the group as the caller wrote it (`g:*`).
            let procs = self
                .group(&group)
                .map_err(|_| Fault::new(faults::BAD_NAME, name))?;
            return self.start_many(procs, wait).await;
        };
        let info = self.process(name)?;
        self.handle()
            .ask(|reply| Request::Start {
                group: group.clone(),
                name: proc_name.clone(),
                reply,
            })
            .await
            .map_err(|f| rename_fault(f, name))?;
        if wait && info.startsecs > 0 {
            self.wait_running(&group, &proc_name, name).await?;
        }
        Ok(Value::Bool(true))
    }

    /// supervisord's wait after a start: RUNNING is success; leaving
    /// STARTING with a spawn error recorded (a spawn failure, or "Exited too
    /// quickly") is SPAWN_ERROR, any other way out is ABNORMAL_TERMINATION.
    async fn wait_running(&self, group: &str, name: &str, namespec: &str) -> Result<(), Fault> {
        let mut rx = self.handle().watch();
        let outcome = rx
            .wait_for(|snap| match snap.find(group, name) {
                Some(p) => !matches!(p.state, State::Starting),
                None => true,
            })
            .await
            .map_err(|_| Fault::new(faults::SHUTDOWN_STATE, ""))?;
        match outcome.find(group, name) {
            Some(p) if p.state == State::Running => Ok(()),
            Some(p) if !p.spawnerr.is_empty() => Err(Fault::new(faults::SPAWN_ERROR, namespec)),
            _ => Err(Fault::new(faults::ABNORMAL_TERMINATION, namespec)),
        }
    }

    /// supervisord's wait after a stop, with its `stop_report`: "waiting
    /// for x to stop" at once and every 2 s while the process is STOPPING.
    async fn wait_stopped(&self, group: &str, name: &str) -> Result<(), Fault> {
        let mut rx = self.handle().watch();
        loop {
            let stopping = rx
                .borrow()
                .find(group, name)
                .is_some_and(|p| p.state == State::Stopping);
            if stopping {
                tracing::info!("waiting for {name} to stop");
            }
            let stopped = rx.wait_for(|snap| match snap.find(group, name) {
                Some(p) => p.state.is_stopped(),
                None => true,
            });
            match tokio::time::timeout(STOP_REPORT_EVERY, stopped).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(_)) => return Err(Fault::new(faults::SHUTDOWN_STATE, "")),
                Err(_) => continue,
            }
        }
    }

    async fn start_many(&self, procs: Vec<ProcessInfo>, wait: bool) -> Result<Value, Fault> {
        let mut results = Vec::new();
        let mut started = Vec::new();
        for p in procs.iter().filter(|p| !p.state.is_running()) {
            let namespec = p.namespec();
            let asked = self
                .handle()
                .ask(|reply| Request::Start {
                    group: p.group.clone(),
                    name: p.name.clone(),
                    reply,
                })
                .await;
            match asked {
                Ok(()) if wait && p.startsecs > 0 => started.push(p),
                Ok(()) => results.push(result_value(&p.group, &p.name, faults::SUCCESS, "OK")),
                Err(f) => {
                    let f = rename_fault(f, &namespec);
                    results.push(result_value(&p.group, &p.name, f.code, &f.string));
                }
            }
        }
        for p in started {
            let entry = match self.wait_running(&p.group, &p.name, &p.namespec()).await {
                Ok(()) => result_value(&p.group, &p.name, faults::SUCCESS, "OK"),
                Err(f) => result_value(&p.group, &p.name, f.code, &f.string),
            };
            results.push(entry);
        }
        Ok(Value::Array(results))
    }

    async fn stop_process(&self, name: &str, wait: bool) -> Result<Value, Fault> {
        let (group, proc_name) = split_namespec(name);
        let Some(proc_name) = proc_name else {
            let procs = self
                .group(&group)
                .map_err(|_| Fault::new(faults::BAD_NAME, name))?;
            return self.stop_many(procs, wait).await;
        };
        self.process(name)?;
        self.handle()
            .ask(|reply| Request::Stop {
                group: group.clone(),
                name: proc_name.clone(),
                reply,
            })
            .await
            .map_err(|f| rename_fault(f, name))?;
        if wait {
            self.wait_stopped(&group, &proc_name).await?;
        }
        Ok(Value::Bool(true))
    }

    async fn stop_many(&self, procs: Vec<ProcessInfo>, wait: bool) -> Result<Value, Fault> {
        let mut results = Vec::new();
        let mut stopping = Vec::new();
        for p in procs.iter().filter(|p| p.state.is_running()) {
            let asked = self
                .handle()
                .ask(|reply| Request::Stop {
                    group: p.group.clone(),
                    name: p.name.clone(),
                    reply,
                })
                .await;
            match asked {
                Ok(()) => stopping.push(p),
                Err(f) => {
                    let f = rename_fault(f, &p.namespec());
                    results.push(result_value(&p.group, &p.name, f.code, &f.string));
                }
            }
        }
        for p in stopping {
            if wait {
                self.wait_stopped(&p.group, &p.name).await?;
            }
            results.push(result_value(&p.group, &p.name, faults::SUCCESS, "OK"));
        }
        Ok(Value::Array(results))
    }
}

/// Validate the agent files of agents that are new or changed since the
/// last read config (an agent file broken since then does not block every
/// reread): a broken properties file is a config error like any other.
fn check_new_agents(
    before: &[GroupSpec],
    loaded: config::Loaded,
) -> Result<config::Loaded, Vec<config::Diagnostic>> {
    let known = |a: &config::AgentSpec| {
        before
            .iter()
            .flat_map(|g| &g.processes)
            .any(|p| matches!(&p.kind, config::ProcessKind::Agent(b) if b == a))
    };
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for p in loaded.config.groups.iter().flat_map(|g| &g.processes) {
        if let config::ProcessKind::Agent(a) = &p.kind
            && !known(a)
            && !seen.contains(&a)
        {
            seen.push(a);
            errors.extend(
                crate::engine::host::validate(&a.conf_file, &a.agent_name)
                    .into_iter()
                    .filter(config::Diagnostic::is_error),
            );
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

/// One line of `sluice.update`'s report: the client prints `name: message`
/// (just `message` when the name is empty); `ok` false makes it exit 1.
fn report(name: &str, message: &str, ok: bool) -> Value {
    Value::Struct(vec![
        ("name".into(), name.into()),
        ("message".into(), message.into()),
        ("ok".into(), Value::Bool(ok)),
    ])
}

/// supervisorctl's name for a process: `name` alone when it names its group.
fn namespec_of(group: &str, name: &str) -> String {
    if group == name {
        name.to_string()
    } else {
        format!("{group}:{name}")
    }
}

impl Api {
    /// Read the config again (off the event loop) and hand it to the
    /// manager; a config that does not load changes nothing and is
    /// CANT_REREAD with every error (file:line: ...).
    async fn reread(&self) -> Result<Changes, Fault> {
        if self.handle().snapshot().mood != crate::supervisor::Mood::Running {
            return Err(Fault::new(faults::SHUTDOWN_STATE, ""));
        }
        let source = self
            .inner
            .source
            .get()
            .cloned()
            .ok_or_else(|| Fault::new(faults::CANT_REREAD, "no configuration to read"))?;
        let before = self.handle().configured();
        let loaded = tokio::task::spawn_blocking(move || {
            config::load(&source).and_then(|l| check_new_agents(&before, l))
        })
        .await
        .map_err(|e| Fault::new(faults::CANT_REREAD, e.to_string()))?;
        let groups: Vec<GroupSpec> = match loaded {
            Ok(loaded) => loaded.config.groups,
            Err(diags) => {
                let text: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.to_string())
                    .collect();
                tracing::error!("reread: the configuration has errors: {}", text.join("; "));
                return Err(Fault::new(faults::CANT_REREAD, text.join("\n")));
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handle().send(Request::Reread { groups, reply: tx })?;
        rx.await
            .unwrap_or_else(|_| Err(Fault::new(faults::SHUTDOWN_STATE, "")))
    }

    /// `sluice.update`: supervisorctl's update (removed groups, then changed,
    /// then added), except that in a changed group only the processes whose
    /// own settings changed are stopped and replaced.
    async fn update(&self, names: Vec<String>) -> Result<Value, Fault> {
        let changes = self.reread().await?;
        let mut wanted: Vec<String> = names;
        if wanted.iter().any(|n| n == "all") {
            wanted.clear();
        }
        let mut out = Vec::new();
        if !wanted.is_empty() {
            let snap = self.handle().snapshot();
            for name in &wanted {
                let known =
                    snap.processes.iter().any(|p| &p.group == name) || changes.added.contains(name);
                if !known {
                    out.push(report("", &format!("ERROR: no such group: {name}"), false));
                }
            }
        }
        let chosen = |g: &str| wanted.is_empty() || wanted.iter().any(|w| w == g);
        for group in changes.removed.iter().filter(|g| chosen(g)) {
            let procs = self.group(group).unwrap_or_default();
            let results = self.stop_many(procs, true).await?;
            out.push(report(group, "stopped", true));
            let failed = results.as_array().is_some_and(|rs| {
                rs.iter().any(|r| {
                    r.get("status").and_then(Value::as_i64) == Some(i64::from(faults::FAILED))
                })
            });
            if failed {
                out.push(report(group, "has problems; not removing", false));
                continue;
            }
            let name = group.clone();
            match self
                .handle()
                .ask(|reply| Request::RemoveGroup { name, reply })
                .await
            {
                Ok(()) => out.push(report(group, "removed process group", true)),
                Err(f) => out.push(report(group, &format!("ERROR ({})", f.string), false)),
            }
        }
        for change in changes.changed.iter().filter(|c| chosen(&c.name)) {
            let group = &change.name;
            let mut ok = true;
            for (name, what) in &change.processes {
                if *what == ProcChange::Added {
                    continue;
                }
                let namespec = namespec_of(group, name);
                match self.stop_process(&format!("{group}:{name}"), true).await {
                    Ok(_) => {}
                    Err(f) if f.code == faults::NOT_RUNNING || f.code == faults::BAD_NAME => {}
                    Err(f) => {
                        out.push(report(&namespec, &format!("ERROR ({})", f.string), false));
                        ok = false;
                        continue;
                    }
                }
                out.push(report(&namespec, "stopped", true));
            }
            // Every member, so a new group priority reaches the unchanged too.
            let mut members: Vec<String> =
                change.processes.iter().map(|(n, _)| n.clone()).collect();
            for p in self.group(group).unwrap_or_default() {
                if !members.contains(&p.name) {
                    members.push(p.name);
                }
            }
            for name in members {
                let (g, n) = (group.clone(), name.clone());
                let asked = self
                    .handle()
                    .ask(|reply| Request::SyncProcess {
                        group: g,
                        name: n,
                        reply,
                    })
                    .await;
                if let Err(f) = asked {
                    out.push(report(
                        &namespec_of(group, &name),
                        &format!("ERROR ({})", f.string),
                        false,
                    ));
                    ok = false;
                }
            }
            if ok {
                out.push(report(group, "updated process group", true));
            }
        }
        for group in changes.added.iter().filter(|g| chosen(g)) {
            let name = group.clone();
            match self
                .handle()
                .ask(|reply| Request::AddGroup { name, reply })
                .await
            {
                Ok(()) => out.push(report(group, "added process group", true)),
                Err(f) => out.push(report(group, &format!("ERROR ({})", f.string), false)),
            }
        }
        Ok(Value::Array(out))
    }
}

/// The manager names processes `group:name`; the API answers with the name
/// the caller used. Faults that carry a sentence keep it.
fn rename_fault(f: Fault, name: &str) -> Fault {
    match f.code {
        // These carry supervisord's own text (the spawn error, the reason).
        faults::FAILED | faults::SHUTDOWN_STATE | faults::NO_FILE | faults::NOT_EXECUTABLE => f,
        code => Fault::new(code, name),
    }
}

/// supervisord's log reads: the part of the file, read as the answer is
/// written (as text, invalid UTF-8 replaced, as supervisord decodes it).
/// The file is opened off the event loop.
async fn read_log(path: &std::path::Path, offset: i64, length: i64) -> Result<Reply, Fault> {
    let owned = path.to_path_buf();
    let result = tokio::task::spawn_blocking(move || logs::read_span(Some(&owned), offset, length))
        .await
        .map_err(|e| Fault::new(faults::FAILED, e.to_string()))?;
    match result {
        Ok(span) => Ok(Reply::Text(span)),
        Err(ReadError::NoFile) => Err(Fault::new(faults::NO_FILE, path.display().to_string())),
        Err(ReadError::BadArguments) => Err(Fault::new(faults::BAD_ARGUMENTS, "")),
        Err(e @ ReadError::Failed(_)) => Err(Fault::new(e.fault_code(), e.to_string())),
    }
}

/// What supervisord's `tailProcess*Log` answers when there is no file.
fn empty_tail() -> Reply {
    Reply::Value(Value::Array(vec![
        Value::String(String::new()),
        Value::Int(0),
        Value::Bool(false),
    ]))
}

/// supervisord's `tailProcess*Log`: `[text, new offset, overflow]`.
async fn tail_log(path: &std::path::Path, offset: i64, length: i64) -> Result<Reply, Fault> {
    let owned = path.to_path_buf();
    let (span, offset, overflow) =
        tokio::task::spawn_blocking(move || logs::tail_span(Some(&owned), offset, length))
            .await
            .map_err(|e| Fault::new(faults::FAILED, e.to_string()))?;
    let text = match span {
        Some(span) => Reply::Text(span),
        None => Reply::Value(Value::String(String::new())),
    };
    Ok(Reply::Array(vec![
        text,
        Reply::Value(Value::Int(offset)),
        Reply::Value(Value::Bool(overflow)),
    ]))
}

/// A multicall's calls (its one argument, an array).
fn multicall_calls(p: &[Value]) -> Result<&[Value], Fault> {
    check_arity(p, 1, 1)?;
    p[0].as_array().ok_or_else(bad_params)
}

/// A fault inside a multicall's results: supervisord puts each result as
/// it is, a fault as a struct (not in a one-item array as the multicall
/// convention would).
fn fault_struct(f: Fault) -> Value {
    Value::Struct(vec![
        ("faultCode".into(), Value::Int(i64::from(f.code))),
        ("faultString".into(), f.string.into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespecs() {
        assert_eq!(split_namespec("a"), ("a".into(), Some("a".into())));
        assert_eq!(split_namespec("g:a"), ("g".into(), Some("a".into())));
        assert_eq!(split_namespec("g:*"), ("g".into(), None));
    }
}
