//! `sluice agent -f FILE -n NAME`: one Flume agent in the foreground, as
//! `flume-ng agent` runs it. Problems with the file go to stderr with file
//! and line; the agent's own log goes to stdout. SIGTERM or Ctrl-C stops it
//! in order (sources, drain, sinks).

use tokio_util::sync::CancellationToken;

use crate::engine::flume_ng::AgentArgs;
use crate::engine::host;
use crate::engine::log::AgentLog;
use crate::engine::panics::PanicGuard;

/// Run the agent; the process exit code.
pub fn main(args: AgentArgs) -> i32 {
    let options = args.options();
    for w in &options.warnings {
        eprintln!("warning: {w}");
    }
    let log = AgentLog::stdout().with_level(options.log_level);
    let (agent, warnings) = match host::load(&args.conf_file, &args.name, log.clone()) {
        Ok(a) => a,
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            eprintln!("Error: the agent file has errors; the agent did not start");
            return host::EXIT_FAILED;
        }
    };
    for w in warnings {
        eprintln!("{w}");
    }
    let guard = PanicGuard::new();
    guard.enter();
    let runtime = match host::runtime(&args.name, &guard) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return host::EXIT_FAILED;
        }
    };
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            on_signal.cancel();
        });
        host::run(agent, &log, cancel, &guard).await
    })
}
