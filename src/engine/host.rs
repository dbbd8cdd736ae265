//! Running one agent from its file: load and build it, run it until asked
//! to stop, and answer with an exit code like a process would (0 stopped
//! cleanly, 1 could not start). `sluice agent` runs it in the foreground;
//! the daemon runs it in-process on a thread of its own ([`spawn`]).

use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::agent::{self, Agent};
use super::config;
use super::log::AgentLog;

/// Exit code: the agent ran and stopped when asked.
pub const EXIT_OK: i32 = 0;
/// Exit code: the file is invalid or a component could not start.
pub const EXIT_FAILED: i32 = 1;

/// Read and build agent `name` of `conf_file`. `Ok` has the warnings as
/// printable lines; `Err` every problem (warnings included).
pub fn load(
    conf_file: &Path,
    name: &str,
    log: AgentLog,
) -> Result<(Agent, Vec<String>), Vec<String>> {
    let lines = |d: &config::Diags| d.items.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    let (config, mut warnings) = config::read(conf_file, name).map_err(|d| lines(&d))?;
    let (agent, more) = agent::build(config, log).map_err(|d| {
        let mut all = lines(&warnings);
        all.extend(lines(&d));
        all
    })?;
    warnings.items.extend(more.items);
    Ok((agent, lines(&warnings)))
}

/// Every problem (errors and warnings) of agent `name` in `conf_file`, as
/// `sluice check` reports them. Building acquires nothing (ports, files
/// and processes are taken at start), so this has no side effects.
pub fn validate(conf_file: &Path, name: &str) -> Vec<crate::config::Diagnostic> {
    match config::read(conf_file, name) {
        Err(d) => d.items,
        Ok((config, mut warnings)) => {
            match agent::build(config, AgentLog::discard()) {
                Ok((_, more)) | Err(more) => warnings.items.extend(more.items),
            }
            warnings.items
        }
    }
}

/// Run a built agent until `cancel`; the exit code.
pub async fn run(agent: Agent, log: &AgentLog, cancel: CancellationToken) -> i32 {
    let name = agent.name().to_string();
    match agent.run(cancel).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            log.error(&name, &format!("the agent could not start: {e}"));
            EXIT_FAILED
        }
    }
}

/// An agent running in-process: cancel it to stop it; `done` answers with
/// its exit code.
pub struct Hosted {
    pub cancel: CancellationToken,
    pub done: oneshot::Receiver<i32>,
}

/// Load and run agent `name` of `conf_file` on a new thread with its own
/// runtime, everything it says going to `log`. Fails only if the thread
/// cannot be made; a bad file ends the agent with [`EXIT_FAILED`].
pub fn spawn(conf_file: PathBuf, name: String, log: AgentLog) -> std::io::Result<Hosted> {
    let cancel = CancellationToken::new();
    let (tx, done) = oneshot::channel();
    let token = cancel.clone();
    std::thread::Builder::new()
        .name(format!("agent-{name}"))
        .spawn(move || {
            let code = run_blocking(&conf_file, &name, log, token);
            let _ = tx.send(code);
        })?;
    Ok(Hosted { cancel, done })
}

fn run_blocking(conf_file: &Path, name: &str, log: AgentLog, cancel: CancellationToken) -> i32 {
    let (agent, warnings) = match load(conf_file, name, log.clone()) {
        Ok(a) => a,
        Err(problems) => {
            for p in problems {
                log.write_raw(format!("{p}\n").as_bytes());
            }
            log.error(name, "the agent file has errors; the agent did not start");
            return EXIT_FAILED;
        }
    };
    for w in warnings {
        log.write_raw(format!("{w}\n").as_bytes());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("agent-{name}"))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log.error(name, &format!("cannot start a runtime: {e}"));
            return EXIT_FAILED;
        }
    };
    let code = runtime.block_on(run(agent, &log, cancel));
    // Tasks that ignore cancellation must not hold the agent's exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
