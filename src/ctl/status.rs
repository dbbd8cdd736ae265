//! `status [name|group:*|all ...] [--json]`: the process table.
//!
//! Exit codes: 3 when a shown process is in a stopped state (STOPPED,
//! EXITED, FATAL, UNKNOWN), 4 for an unknown name or group or an unreachable
//! daemon. `--json` (a sluice extension) prints the matching process-info
//! structs as a JSON array instead of the table, with the same exit codes;
//! its error lines go to stderr.

use super::format::{self, ProcessInfo, split_namespec, states};
use super::{Abort, CmdResult, Command, Ctl, exit};

pub(crate) const COMMAND: Command = Command {
    name: "status",
    help: "status <name>\t\tGet status for a single process\n\
           status <gname>:*\tGet status for all processes in a group\n\
           status <name> <name>\tGet status for multiple named processes\n\
           status\t\t\tGet all process status info\n\
           status --json [...]\tThe same as a JSON array of process info",
    listed: true,
    run: |c, a| Box::pin(status(c, a)),
};

async fn status(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    const METHOD: &str = "supervisor.getAllProcessInfo";
    // The table is asked for while the upcheck is in flight (two requests
    // at once instead of one after the other); it is only used if the
    // upcheck passes.
    let rpc = ctl.rpc;
    let (up, reply) = tokio::join!(ctl.upcheck(), rpc.call_dyn(METHOD, vec![]));
    if !up? {
        if ctl.exit != exit::OK {
            ctl.exit = exit::STATUS_UNKNOWN;
        }
        return Ok(());
    }
    let json = args.iter().any(|a| a == "--json");
    let names: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--json")
        .collect();

    let reply = reply?;
    let raw = format::array(&reply, METHOD)?;
    let mut all = Vec::with_capacity(raw.len());
    for v in raw {
        all.push((ProcessInfo::from_value(v)?, v));
    }

    let mut shown: Vec<&(ProcessInfo, &crate::rpc::Value)> = Vec::new();
    if names.is_empty() || names.contains(&"all") {
        shown.extend(all.iter());
    } else {
        for name in &names {
            let (group, process) = split_namespec(name);
            let before = shown.len();
            shown.extend(
                all.iter().filter(|(info, _)| {
                    info.group == group && process.is_none_or(|p| info.name == p)
                }),
            );
            if shown.len() == before {
                let msg = match process {
                    None => format!("{group}: ERROR (no such group)"),
                    Some(_) => format!("{name}: ERROR (no such process)"),
                };
                if json {
                    writeln!(ctl.err, "{msg}")?;
                } else {
                    ctl.line(&msg)?;
                }
                ctl.exit = exit::STATUS_UNKNOWN;
            }
        }
    }

    if json {
        let array: Vec<serde_json::Value> = shown.iter().map(|(_, v)| format::to_json(v)).collect();
        let text = serde_json::to_string_pretty(&serde_json::Value::Array(array))
            .map_err(|e| Abort::Malformed(e.to_string()))?;
        ctl.line(&text)?;
    } else {
        let infos: Vec<ProcessInfo> = shown.iter().map(|(i, _)| i.clone()).collect();
        for line in format::status_lines(&infos) {
            ctl.line(&line)?;
        }
    }

    if shown.iter().any(|(info, _)| states::is_stopped(info.state)) {
        ctl.exit = exit::STATUS_NOT_RUNNING;
    }
    Ok(())
}
