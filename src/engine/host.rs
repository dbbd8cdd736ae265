//! Running one agent from its file: load and build it, run it until asked
//! to stop, and answer with an exit code like a process would (0 stopped
//! cleanly, 1 could not start). `sluice agent` runs it in the foreground;
//! the daemon runs it in-process on a thread of its own ([`spawn`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::agent::{self, Agent};
use super::config;
use super::log::AgentLog;
use super::panics::PanicGuard;

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

/// How long an agent whose component panicked gets to stop in order.
const STOP_AFTER_PANIC: Duration = Duration::from_secs(10);

/// The runtime an agent runs on: every thread of it carries `guard`.
pub fn runtime(name: &str, guard: &PanicGuard) -> std::io::Result<tokio::runtime::Runtime> {
    let guard = guard.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("agent-{name}"))
        .on_thread_start(move || guard.enter())
        .enable_all()
        .build()
}

/// Run a built agent until `cancel`, or until a component panics (`guard`
/// trips: the agent is stopped in order and fails, the panic in its log);
/// the exit code.
pub async fn run(
    agent: Agent,
    log: &AgentLog,
    cancel: CancellationToken,
    guard: &PanicGuard,
) -> i32 {
    let name = agent.name().to_string();
    let stop = cancel.child_token();
    let running = agent.run(stop.clone());
    tokio::pin!(running);
    let result = tokio::select! {
        r = &mut running => r,
        () = guard.tripped() => {
            let why = guard.message().unwrap_or_default();
            log.error(&name, &format!("a component panicked: {why}; the agent stops"));
            stop.cancel();
            if tokio::time::timeout(STOP_AFTER_PANIC, running).await.is_err() {
                log.error(&name, &format!("the agent did not stop within {STOP_AFTER_PANIC:?}; \
                    its threads are left behind"));
            }
            return EXIT_FAILED;
        }
    };
    match result {
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
            let guard = PanicGuard::new();
            guard.enter();
            let failed = log.clone();
            let run = std::panic::AssertUnwindSafe(|| {
                run_blocking(&conf_file, &name, log, token, &guard)
            });
            let code = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                let why = guard.message().unwrap_or_default();
                failed.error(&name, &format!("the agent panicked: {why}"));
                EXIT_FAILED
            });
            let _ = tx.send(code);
        })?;
    Ok(Hosted { cancel, done })
}

fn run_blocking(
    conf_file: &Path,
    name: &str,
    log: AgentLog,
    cancel: CancellationToken,
    guard: &PanicGuard,
) -> i32 {
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
    let runtime = match runtime(name, guard) {
        Ok(rt) => rt,
        Err(e) => {
            log.error(name, &format!("cannot start a runtime: {e}"));
            return EXIT_FAILED;
        }
    };
    let code = runtime.block_on(run(agent, &log, cancel, guard));
    // Tasks that ignore cancellation must not hold the agent's exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::engine::log::testing::DEADLINE;
    use crate::engine::source::testing::harness;
    use crate::engine::source::{Source, SourceContext};

    /// A source that panics on a runtime worker, or on a thread of its own.
    struct Panicking {
        on_own_thread: bool,
    }

    #[async_trait]
    impl Source for Panicking {
        async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), String> {
            if self.on_own_thread {
                let t = std::thread::Builder::new().name("its-thread".into());
                let _ = crate::engine::panics::spawn(t, || panic!("its thread broke"));
                ctx.cancel.cancelled().await;
                return Ok(());
            }
            panic!("the source broke")
        }
    }

    #[test]
    fn a_panic_in_a_component_ends_the_agent_as_failed_with_the_message_in_its_log() {
        for (on_own_thread, what) in [(false, "the source broke"), (true, "its thread broke")] {
            let guard = PanicGuard::new();
            let rt = runtime("a1", &guard).expect("runtime");
            let h = harness(10);
            let agent = Agent::of_source("a1", Box::new(Panicking { on_own_thread }), &h);
            let log = h.ctx.log.clone();
            let code = rt.block_on(async {
                // Never cancelled: only the panic can end it.
                let run = run(agent, &log, CancellationToken::new(), &guard);
                tokio::time::timeout(DEADLINE, run).await
            });
            assert_eq!(code, Ok(EXIT_FAILED), "{}", h.log.text());
            let text = h.log.text();
            assert!(
                text.contains(&format!("a component panicked: {what} (thread ")),
                "{text}"
            );
            assert!(text.contains("agent stopped"), "stopped in order: {text}");
            rt.shutdown_background();
        }
    }
}
