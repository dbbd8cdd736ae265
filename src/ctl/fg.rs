//! `fg name`: attach the terminal to a running process.
//!
//! Streams `GET /logtail/NAME/stdout` and `/stderr` to stdout as they grow
//! and sends each line typed (with its newline) through
//! `sendProcessStdin`. After each line the process's state is checked; if
//! it is gone, `Process got killed`. Ctrl-C or the end of input leave with
//! `Exiting foreground`. The messages and exit codes are supervisorctl's:
//! no name, several names, an unknown name or a process that is not running
//! print `ERROR: ...` and exit 1.

use crate::rpc::faults;

use super::format::{int_field, py_repr, states};
use super::{Abort, CallError, Chunks, CmdResult, Command, Ctl, exit};

pub(crate) const COMMAND: Command = Command {
    name: "fg",
    help: "fg <process>\tShow the process's output live and send it what you type\n\
           \t\tCtrl-C to leave",
    listed: true,
    run: |c, a| Box::pin(fg(c, a)),
};

/// supervisorctl's `str()` of a fault: `<Fault 10: 'BAD_NAME: x'>`.
fn fault_text(code: i32, string: &str) -> String {
    format!("<Fault {code}: {}>", py_repr(string))
}

/// Open one log stream; a refused one (no such log) is reported on stderr
/// the way `tail -f` reports it, and left out.
async fn open(
    ctl: &mut Ctl<'_>,
    name: &str,
    channel: &str,
) -> Result<Option<Box<dyn Chunks>>, Abort> {
    let path = format!("/logtail/{name}/{channel}");
    match ctl.stream(&path).await {
        Some(Ok(body)) => Ok(Some(body)),
        Some(Err(CallError::Protocol(why))) => {
            writeln!(ctl.err, "{}{path} {why}", ctl.rpc.url())?;
            Ok(None)
        }
        Some(Err(e)) => Err(e.into()),
        None => Ok(None),
    }
}

/// The next chunk of an open stream; never resolves for a closed one.
async fn next(stream: &mut Option<Box<dyn Chunks>>) -> Option<Result<Vec<u8>, CallError>> {
    match stream {
        Some(s) => s.next_chunk().await,
        None => std::future::pending().await,
    }
}

/// What ended the session, or `None` to go on.
enum Step {
    Output(Option<Result<Vec<u8>, CallError>>, bool),
    Line(Option<String>),
    Interrupted,
}

async fn fg(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    let name = match args {
        [] => {
            ctl.line("ERROR: no process name supplied")?;
            ctl.exit = exit::GENERIC;
            ctl.line(COMMAND.help)?;
            return Ok(());
        }
        [name] => name.as_str(),
        _ => {
            ctl.line("ERROR: too many process names supplied")?;
            ctl.exit = exit::GENERIC;
            return Ok(());
        }
    };
    let info = match ctl
        .call("supervisor.getProcessInfo", vec![name.into()])
        .await
    {
        Ok(info) => info,
        Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
            ctl.line("ERROR: bad process name supplied")?;
            ctl.exit = exit::GENERIC;
            return Ok(());
        }
        Err(CallError::Fault(f)) => {
            ctl.line(&format!("ERROR: {}", fault_text(f.code, &f.string)))?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if int_field(&info, "state")? != states::RUNNING {
        ctl.line("ERROR: process not running")?;
        ctl.exit = exit::GENERIC;
        return Ok(());
    }
    let mut stop = (ctl.opts.interrupt)();
    ctl.line("==> Press Ctrl-C to exit <==")?;
    ctl.out.flush()?;

    let mut input = (ctl.opts.input)();
    let mut stdout = open(ctl, name, "stdout").await?;
    let mut stderr = open(ctl, name, "stderr").await?;
    loop {
        let step = tokio::select! {
            () = &mut stop => Step::Interrupted,
            chunk = next(&mut stdout) => Step::Output(chunk, true),
            chunk = next(&mut stderr) => Step::Output(chunk, false),
            line = input.next_line() => Step::Line(line),
        };
        match step {
            Step::Interrupted | Step::Line(None) => break,
            Step::Output(Some(Ok(bytes)), _) => {
                ctl.out.write_all(&bytes)?;
                ctl.out.flush()?;
            }
            // A stream the server ended (or that broke): the other goes on.
            Step::Output(_, is_stdout) => {
                if is_stdout {
                    stdout = None;
                } else {
                    stderr = None;
                }
            }
            Step::Line(Some(mut line)) => {
                line.push('\n');
                let sent = ctl
                    .call(
                        "supervisor.sendProcessStdin",
                        vec![name.into(), line.as_str().into()],
                    )
                    .await;
                match sent {
                    Ok(_) => {}
                    Err(CallError::Fault(f)) => {
                        if f.code == faults::NOT_RUNNING {
                            ctl.line("Process got killed")?;
                        } else {
                            ctl.line(&format!("ERROR: {}", fault_text(f.code, &f.string)))?;
                        }
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
                let info = ctl
                    .call("supervisor.getProcessInfo", vec![name.into()])
                    .await?;
                if int_field(&info, "state")? != states::RUNNING {
                    ctl.line("Process got killed")?;
                    break;
                }
            }
        }
    }
    ctl.line("Exiting foreground")?;
    Ok(())
}
