//! `maintail [-f|-N]` (the daemon's own log) and `clear name|group:*|all`
//! (empty process logs).
//!
//! `maintail` reads the last N (default 1600) bytes with `readLog(-N, 0)`
//! and prints them with a newline after, as supervisorctl does (`-0` is the
//! whole file); `-f` streams `GET /mainlogtail` until Ctrl-C.
//!
//! `clear` calls `clearProcessLogs(name)` per name, or
//! `clearAllProcessLogs()` for `all`: `name: cleared`, `name: ERROR (no
//! such process)`, `name: ERROR (failed)`. For `group:*`, supervisorctl
//! sends the `group:*` text to the server, which knows no such process, and
//! prints `group:None: ERROR (no such process)`; sluice instead clears each
//! process of the group (`group:name: cleared` per process) and reports an
//! unknown group as `group: ERROR (no such group)`.

use crate::rpc::{Value, faults};

use super::format::{self, make_namespec, split_namespec, str_field};
use super::startstop::Outcome;
use super::tail::{follow_path, parse_int};
use super::{Abort, CallError, CmdResult, Command, Ctl, exit};

pub(crate) const MAINTAIL: Command = Command {
    name: "maintail",
    help: "maintail -f \tFollow the daemon's own log as it grows (Ctrl-C to stop)\n\
           maintail -100\tThe last 100 *bytes* of the daemon's log\n\
           maintail\tThe last 1600 *bytes* of the daemon's log\n",
    listed: true,
    run: |c, a| Box::pin(maintail(c, a)),
};

pub(crate) const CLEAR: Command = Command {
    name: "clear",
    help: "clear <name>\t\tEmpty the log files of a process\n\
           clear <gname>:*\t\tEmpty the log files of each process in a group\n\
           clear <name> <name>\tEmpty the log files of several processes\n\
           clear all\t\tEmpty the log files of every process",
    listed: true,
    run: |c, a| Box::pin(clear(c, a)),
};

async fn maintail(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    let mut bytes: i64 = 1600;
    match args {
        [] => {}
        [arg] => {
            let Some(what) = arg.strip_prefix('-') else {
                return bad_argument(ctl, arg);
            };
            if what == "f" {
                return follow_path(ctl, "/mainlogtail", None).await;
            }
            match parse_int(what) {
                Some(n) => bytes = n,
                None => return bad_argument(ctl, arg),
            }
        }
        _ => {
            ctl.line("Error: too many arguments")?;
            ctl.exit = exit::GENERIC;
            ctl.line(MAINTAIL.help)?;
            return Ok(());
        }
    }
    const METHOD: &str = "supervisor.readLog";
    match ctl
        .call(METHOD, vec![Value::Int(-bytes), Value::Int(0)])
        .await
    {
        Ok(Value::String(text)) => ctl.line(&text)?,
        Ok(Value::Base64(raw)) => ctl.line(&String::from_utf8_lossy(&raw))?,
        Ok(other) => {
            return Err(Abort::Malformed(format!(
                "{METHOD} returned {}, not a string",
                format::kind(&other)
            )));
        }
        Err(CallError::Fault(f)) if f.code == faults::NO_FILE || f.code == faults::FAILED => {
            let why = if f.code == faults::NO_FILE {
                "no log file"
            } else {
                "unknown error reading log"
            };
            ctl.line(&format!("supervisord: ERROR ({why})"))?;
            ctl.exit = exit::GENERIC;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn bad_argument(ctl: &mut Ctl<'_>, arg: &str) -> CmdResult {
    ctl.line(&format!("Error: bad argument {arg}"))?;
    ctl.exit = exit::GENERIC;
    Ok(())
}

/// The line for one clear result (supervisorctl's wording).
fn clear_line(o: &Outcome) -> Result<String, Abort> {
    let name = o.namespec();
    match i32::try_from(o.status).unwrap_or(-1) {
        faults::SUCCESS => Ok(format!("{name}: cleared")),
        faults::BAD_NAME => Ok(format!("{name}: ERROR (no such process)")),
        faults::FAILED => Ok(format!("{name}: ERROR (failed)")),
        _ => Err(Abort::Message(format!(
            "unknown result code {} for {name}",
            o.status
        ))),
    }
}

fn report(ctl: &mut Ctl<'_>, o: &Outcome) -> CmdResult {
    let line = clear_line(o)?;
    ctl.line(&line)?;
    ctl.exit_from_fault(o.status, None);
    Ok(())
}

/// `clearProcessLogs(group:process)`, reported.
async fn clear_one(ctl: &mut Ctl<'_>, group: &str, process: &str, spec: &str) -> CmdResult {
    match ctl
        .call("supervisor.clearProcessLogs", vec![spec.into()])
        .await
    {
        Ok(_) => ctl.line(&format!("{}: cleared", make_namespec(group, process)))?,
        Err(CallError::Fault(f)) => {
            report(ctl, &Outcome::from_fault(group, process, f.code, &f.string))?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn clear(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    if args.is_empty() {
        ctl.line("Error: clear requires a process name")?;
        ctl.exit = exit::GENERIC;
        ctl.line(CLEAR.help)?;
        return Ok(());
    }
    if args.iter().any(|a| a == "all") {
        const METHOD: &str = "supervisor.clearAllProcessLogs";
        let reply = ctl.call(METHOD, vec![]).await?;
        for v in format::array(&reply, METHOD)? {
            report(ctl, &Outcome::from_value(v)?)?;
        }
        return Ok(());
    }
    for spec in args {
        match split_namespec(spec) {
            (group, Some(process)) => clear_one(ctl, group, process, spec).await?,
            (group, None) => {
                const METHOD: &str = "supervisor.getAllProcessInfo";
                let reply = ctl.call(METHOD, vec![]).await?;
                let mut members = Vec::new();
                for v in format::array(&reply, METHOD)? {
                    if str_field(v, "group")? == group {
                        members.push(str_field(v, "name")?.to_string());
                    }
                }
                if members.is_empty() {
                    ctl.line(&format!("{group}: ERROR (no such group)"))?;
                    ctl.exit = exit::GENERIC;
                }
                for process in members {
                    let full = format!("{group}:{process}");
                    clear_one(ctl, group, &process, &full).await?;
                }
            }
        }
    }
    Ok(())
}
