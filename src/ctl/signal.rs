//! `signal SIG name|group:*|all ...`: send a signal to running processes.
//!
//! `all` is one `signalAllProcesses(SIG)`, `group:*` one
//! `signalProcessGroup(group, SIG)` (an unknown group prints `g: ERROR (no
//! such group)`), anything else `signalProcess(name, SIG)`. The server
//! decides what a valid signal is (`HUP`, `SIGHUP`, `1`); results print
//! `name: signalled` or `name: ERROR (bad signal name|not running|no such
//! process)`, with supervisorctl's exit codes (7 for not running, 1 for the
//! rest). Processes that are not running are left out of group and `all`
//! replies by the server.

use crate::rpc::{Value, faults};

use super::format::{self, make_namespec, split_namespec};
use super::startstop::{Outcome, stop_line, unknown_code};
use super::{CallError, CmdResult, Command, Ctl, exit};

pub(crate) const COMMAND: Command = Command {
    name: "signal",
    help: "signal <signal name> <name>\t\tSend the signal to one process\n\
           signal <signal name> <gname>:*\t\tSend it to each process of a group\n\
           signal <signal name> <name> <name>\tSend it to several processes or groups\n\
           signal <signal name> all\t\tSend it to every process",
    listed: true,
    run: |c, a| Box::pin(signal(c, a)),
};

fn report(ctl: &mut Ctl<'_>, o: &Outcome) -> CmdResult {
    let line = stop_line(o, "signalled").ok_or_else(|| unknown_code(o))?;
    ctl.line(&line)?;
    ctl.exit_from_fault(o.status, None);
    Ok(())
}

fn report_all(ctl: &mut Ctl<'_>, reply: &Value, method: &str) -> CmdResult {
    for v in format::array(reply, method)? {
        report(ctl, &Outcome::from_value(v)?)?;
    }
    Ok(())
}

async fn signal(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    let [sig, names @ ..] = args else {
        return usage(ctl);
    };
    if names.is_empty() {
        return usage(ctl);
    }
    let sig = Value::from(sig.as_str());

    if names.iter().any(|n| n == "all") {
        const METHOD: &str = "supervisor.signalAllProcesses";
        let reply = ctl.call(METHOD, vec![sig]).await?;
        return report_all(ctl, &reply, METHOD);
    }
    for spec in names {
        let (group, process) = split_namespec(spec);
        match process {
            None => {
                const METHOD: &str = "supervisor.signalProcessGroup";
                match ctl.call(METHOD, vec![group.into(), sig.clone()]).await {
                    Ok(reply) => report_all(ctl, &reply, METHOD)?,
                    Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
                        ctl.line(&format!("{group}: ERROR (no such group)"))?;
                        ctl.exit = exit::GENERIC;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(process) => {
                match ctl
                    .call(
                        "supervisor.signalProcess",
                        vec![spec.as_str().into(), sig.clone()],
                    )
                    .await
                {
                    Ok(_) => {
                        ctl.line(&format!("{}: signalled", make_namespec(group, process)))?;
                    }
                    Err(CallError::Fault(f)) => {
                        report(ctl, &Outcome::from_fault(group, process, f.code, &f.string))?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

fn usage(ctl: &mut Ctl<'_>) -> CmdResult {
    ctl.line("Error: signal requires a signal name and a process name")?;
    ctl.line(COMMAND.help)?;
    ctl.exit = exit::GENERIC;
    Ok(())
}
