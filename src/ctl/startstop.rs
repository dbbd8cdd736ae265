//! `start`, `stop` and `restart` of `name`, `group:name`, `group:*`, `all`.
//!
//! Each name is one call: `all` is `start/stopAllProcesses`, `group:*` is
//! `start/stopProcessGroup` (an unknown group prints `g: ERROR (no such
//! group)`), anything else `start/stopProcess`. All wait for the
//! transition (`wait=true`). The per-process results print `name: started`,
//! `name: stopped` or `name: ERROR (why)`; spawn errors, abnormal
//! terminations and not-running give exit 7, other errors 1, and "already
//! started" (for start) / "not running" (for stop) are not errors.

use crate::rpc::{Value, faults};

use super::format::{self, int_field, make_namespec, split_namespec, str_field};
use super::{Abort, CallError, CmdResult, Command, Ctl, exit};

pub(crate) const START: Command = Command {
    name: "start",
    help: "start <name>\t\tStart a process\n\
           start <gname>:*\t\tStart all processes in a group\n\
           start <name> <name>\tStart multiple processes or groups\n\
           start all\t\tStart all processes",
    listed: true,
    run: |c, a| Box::pin(start(c, a)),
};

pub(crate) const STOP: Command = Command {
    name: "stop",
    help: "stop <name>\t\tStop a process\n\
           stop <gname>:*\t\tStop all processes in a group\n\
           stop <name> <name>\tStop multiple processes or groups\n\
           stop all\t\tStop all processes",
    listed: true,
    run: |c, a| Box::pin(stop(c, a)),
};

pub(crate) const RESTART: Command = Command {
    name: "restart",
    help: "restart <name>\t\tRestart a process\n\
           restart <gname>:*\tRestart all processes in a group\n\
           restart <name> <name>\tRestart multiple processes or groups\n\
           restart all\t\tRestart all processes\n\
           Note: restart does not reread config files. For that, see reread and update.",
    listed: true,
    run: |c, a| Box::pin(restart(c, a)),
};

/// One entry of a `start/stop*Group` or `*AllProcesses` reply.
pub(crate) struct Outcome {
    pub name: String,
    pub group: String,
    pub status: i64,
    pub description: String,
}

impl Outcome {
    pub(crate) fn from_value(v: &Value) -> Result<Outcome, Abort> {
        Ok(Outcome {
            name: str_field(v, "name")?.to_string(),
            group: str_field(v, "group")?.to_string(),
            status: int_field(v, "status")?,
            // Optional in practice: supervisorctl reads it only for FAILED.
            description: v
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// A fault from a single-process call, shaped like a group result.
    pub(crate) fn from_fault(group: &str, process: &str, code: i32, string: &str) -> Outcome {
        Outcome {
            name: process.to_string(),
            group: group.to_string(),
            status: i64::from(code),
            description: string.to_string(),
        }
    }

    pub(crate) fn namespec(&self) -> String {
        make_namespec(&self.group, &self.name)
    }
}

/// The line for one start result, or `None` for a code supervisorctl has no
/// message for (it then aborts the command).
fn start_line(o: &Outcome) -> Option<String> {
    let name = o.namespec();
    let why = match i32::try_from(o.status).ok()? {
        faults::SUCCESS => return Some(format!("{name}: started")),
        faults::BAD_NAME => "no such process",
        faults::NO_FILE => "no such file",
        faults::NOT_EXECUTABLE => "file is not executable",
        faults::ALREADY_STARTED => "already started",
        faults::SPAWN_ERROR => "spawn error",
        faults::ABNORMAL_TERMINATION => "abnormal termination",
        _ => return None,
    };
    Some(format!("{name}: ERROR ({why})"))
}

/// The line for one stop (or signal) result; `FAILED` prints the server's
/// own description.
pub(crate) fn stop_line(o: &Outcome, success: &str) -> Option<String> {
    let name = o.namespec();
    let why = match i32::try_from(o.status).ok()? {
        faults::SUCCESS => return Some(format!("{name}: {success}")),
        faults::FAILED => return Some(o.description.clone()),
        faults::BAD_NAME => "no such process",
        faults::BAD_SIGNAL => "bad signal name",
        faults::NOT_RUNNING => "not running",
        _ => return None,
    };
    Some(format!("{name}: ERROR ({why})"))
}

pub(crate) fn unknown_code(o: &Outcome) -> Abort {
    Abort::Message(format!(
        "unknown result code {} for {}",
        o.status,
        o.namespec()
    ))
}

#[derive(Clone, Copy)]
enum Action {
    Start,
    Stop,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }
    /// The per-process fault that is not an error for this action.
    fn ignored(self) -> i32 {
        match self {
            Action::Start => faults::ALREADY_STARTED,
            Action::Stop => faults::NOT_RUNNING,
        }
    }
    fn line(self, o: &Outcome) -> Result<String, Abort> {
        match self {
            Action::Start => start_line(o),
            Action::Stop => stop_line(o, "stopped"),
        }
        .ok_or_else(|| unknown_code(o))
    }
    /// Exit code for `g:*` naming an unknown group.
    fn no_group_exit(self) -> i32 {
        match self {
            Action::Start => exit::INVALID_ARGS,
            Action::Stop => exit::GENERIC,
        }
    }
    /// Exit code for no names at all.
    fn no_name_exit(self) -> i32 {
        match self {
            Action::Start => exit::INVALID_ARGS,
            Action::Stop => exit::GENERIC,
        }
    }
}

async fn start(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    act(ctl, args, Action::Start, START.help).await
}

async fn stop(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    act(ctl, args, Action::Stop, STOP.help).await
}

async fn restart(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    if args.is_empty() {
        ctl.line("Error: restart requires a process name")?;
        ctl.exit = exit::GENERIC;
        ctl.line(RESTART.help)?;
        return Ok(());
    }
    act(ctl, args, Action::Stop, STOP.help).await?;
    act(ctl, args, Action::Start, START.help).await
}

/// Print each result of a group or all-processes call.
fn report_all(ctl: &mut Ctl<'_>, reply: &Value, method: &str, action: Action) -> CmdResult {
    for v in format::array(reply, method)? {
        let o = Outcome::from_value(v)?;
        let line = action.line(&o)?;
        ctl.line(&line)?;
        ctl.exit_from_fault(o.status, Some(action.ignored()));
    }
    Ok(())
}

async fn act(ctl: &mut Ctl<'_>, args: &[String], action: Action, help: &str) -> CmdResult {
    let verb = action.verb();
    if args.is_empty() {
        ctl.line(&format!("Error: {verb} requires a process name"))?;
        ctl.exit = action.no_name_exit();
        ctl.line(help)?;
        return Ok(());
    }
    let wait = Value::Bool(true);

    if args.iter().any(|a| a == "all") {
        let method = format!("supervisor.{verb}AllProcesses");
        let reply = ctl.call(&method, vec![wait]).await?;
        return report_all(ctl, &reply, &method, action);
    }

    for spec in args {
        let (group, process) = split_namespec(spec);
        match process {
            None => {
                let method = format!("supervisor.{verb}ProcessGroup");
                match ctl.call(&method, vec![group.into(), wait.clone()]).await {
                    Ok(reply) => report_all(ctl, &reply, &method, action)?,
                    Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
                        ctl.line(&format!("{group}: ERROR (no such group)"))?;
                        ctl.exit = action.no_group_exit();
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(process) => {
                let method = format!("supervisor.{verb}Process");
                match ctl
                    .call(&method, vec![spec.as_str().into(), wait.clone()])
                    .await
                {
                    Ok(_) => {
                        let past = match action {
                            Action::Start => "started",
                            Action::Stop => "stopped",
                        };
                        ctl.line(&format!("{}: {past}", make_namespec(group, process)))?;
                    }
                    Err(CallError::Fault(f)) => {
                        let o = Outcome::from_fault(group, process, f.code, &f.string);
                        let line = action.line(&o)?;
                        ctl.line(&line)?;
                        ctl.exit_from_fault(o.status, Some(action.ignored()));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}
