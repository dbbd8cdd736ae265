//! `pid [name ...|all]`: the daemon's pid, or its children's.
//!
//! A process that is not running shows `0` (and the exit code is 7, as
//! supervisorctl's: `pid NAME` only, not `pid all`); an unknown name prints
//! `No such process NAME` and exits 1.

use crate::rpc::faults;

use super::format::{self, value_text};
use super::{CallError, CmdResult, Command, Ctl, exit};

pub(crate) const COMMAND: Command = Command {
    name: "pid",
    help: "pid\t\t\tGet the PID of supervisord.\n\
           pid <name>\t\tGet the PID of a single child process by name.\n\
           pid all\t\t\tGet the PID of every child process, one per line.",
    listed: true,
    run: |c, a| Box::pin(pid(c, a)),
};

async fn pid(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    if args.is_empty() {
        let pid = ctl.call("supervisor.getPID", vec![]).await?;
        ctl.line(&value_text(&pid))?;
    } else if args.iter().any(|a| a == "all") {
        const METHOD: &str = "supervisor.getAllProcessInfo";
        let reply = ctl.call(METHOD, vec![]).await?;
        for v in format::array(&reply, METHOD)? {
            let pid = format::int_field(v, "pid")?;
            ctl.line(&pid.to_string())?;
        }
    } else {
        for name in args {
            match ctl
                .call("supervisor.getProcessInfo", vec![name.as_str().into()])
                .await
            {
                Ok(v) => {
                    let pid = format::int_field(&v, "pid")?;
                    ctl.line(&pid.to_string())?;
                    if pid == 0 {
                        ctl.exit = exit::NOT_RUNNING;
                    }
                }
                Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
                    ctl.line(&format!("No such process {name}"))?;
                    ctl.exit = exit::GENERIC;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
