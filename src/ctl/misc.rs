//! `shutdown`, `version`, `help`, and `exit`/`quit` (leave the shell).

use crate::rpc::faults;

use super::format::{columnize, value_text};
use super::{Abort, CallError, CmdResult, Command, Ctl, Unreachable, exit};

pub(crate) const SHUTDOWN: Command = Command {
    name: "shutdown",
    help: "shutdown \tShut the remote supervisord down.",
    listed: true,
    run: |c, a| Box::pin(shutdown(c, a)),
};

pub(crate) const VERSION: Command = Command {
    name: "version",
    help: "version\t\t\tShow the version of the remote supervisord process",
    listed: true,
    run: |c, a| Box::pin(version(c, a)),
};

pub(crate) const HELP: Command = Command {
    name: "help",
    help: "help\t\tPrint a list of available actions\n\
           help <action>\tPrint help for <action>",
    // supervisorctl leaves `help` out of its own list.
    listed: false,
    run: |c, a| Box::pin(help(c, a)),
};

pub(crate) const EXIT: Command = Command {
    name: "exit",
    help: "exit\tLeave the sluice ctl shell.",
    listed: true,
    run: |c, a| Box::pin(quit(c, a)),
};

pub(crate) const QUIT: Command = Command {
    name: "quit",
    help: "quit\tLeave the sluice ctl shell.",
    listed: true,
    run: |c, a| Box::pin(quit(c, a)),
};

/// `exit`, `quit` (and end of input in the shell): an empty line, then the
/// shell ends; as a one-shot command it only prints the empty line.
async fn quit(ctl: &mut Ctl<'_>, _args: &[String]) -> CmdResult {
    ctl.line("")?;
    ctl.quit = true;
    Ok(())
}

/// `shutdown`: no upcheck; an unreachable daemon is reported as "already
/// shut down?" with exit 1, a daemon already stopping is not an error.
async fn shutdown(ctl: &mut Ctl<'_>, _args: &[String]) -> CmdResult {
    if !ctl.really("Really shut the remote supervisord process down y/N? ") {
        return Ok(());
    }
    match ctl.call("supervisor.shutdown", vec![]).await {
        Ok(_) => ctl.line("Shut down")?,
        Err(CallError::Fault(f)) if f.code == faults::SHUTDOWN_STATE => {
            ctl.line("ERROR: already shutting down")?;
        }
        Err(CallError::Unreachable(why @ (Unreachable::Refused | Unreachable::NoSuchFile))) => {
            let what = if why == Unreachable::Refused {
                "refused connection"
            } else {
                "no such file"
            };
            let msg = format!("ERROR: {} {what} (already shut down?)", ctl.rpc.url());
            ctl.line(&msg)?;
            ctl.exit = exit::GENERIC;
        }
        Err(e) => return Err(Abort::Call(e)),
    }
    Ok(())
}

async fn version(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        ctl.line("Error: version accepts no arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(VERSION.help)?;
        return Ok(());
    }
    if !ctl.upcheck().await? {
        return Ok(());
    }
    let v = ctl.call("supervisor.getSupervisorVersion", vec![]).await?;
    ctl.line(&value_text(&v))?;
    Ok(())
}

/// The header of the command list (supervisorctl names its built-in plugin
/// "default").
const TOPICS_HEADER: &str = "default commands (type help <topic>):";

async fn help(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    let topic = args.join(" ");
    if topic.is_empty() {
        let mut names: Vec<&str> = super::COMMANDS
            .iter()
            .filter(|c| c.listed)
            .map(|c| c.name)
            .collect();
        names.sort_unstable();
        ctl.line("")?;
        ctl.line(TOPICS_HEADER)?;
        ctl.line(&"=".repeat(TOPICS_HEADER.len()))?;
        for row in columnize(&names, 79) {
            ctl.line(&row)?;
        }
        ctl.line("")?;
        return Ok(());
    }
    match super::find_command(&topic) {
        Some(cmd) => ctl.line(cmd.help)?,
        None => ctl.line(&format!("*** No help on {topic}"))?,
    }
    Ok(())
}
