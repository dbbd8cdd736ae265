//! An agent run inside the daemon: the second kind of "something that
//! runs", next to a child process. It has the same life as a child for the
//! manager: it is started (and gets its output captured through a pipe into
//! its log files, like a child's stdout), it ends with an exit code that
//! arrives as an event, and it is asked to stop. Its "pid" is the daemon's.
//!
//! A stop signal cancels the agent (orderly: sources, drain, sinks). SIGKILL
//! cannot end a thread: the agent is told to stop and abandoned; it finishes
//! on its own.

use std::os::fd::OwnedFd;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::AgentSpec;
use crate::engine::host;
use crate::engine::log::AgentLog;

/// How an in-process agent's end reaches the manager: (its key, exit code).
pub type ExitSender = mpsc::UnboundedSender<(u64, i32)>;

/// A running in-process agent.
pub struct InProcess {
    cancel: CancellationToken,
}

impl InProcess {
    /// Start `agent` on its own thread. `key` identifies this run in the exit
    /// event. Returns the read end of the pipe its log lines come out of.
    pub fn start(
        agent: &AgentSpec,
        key: u64,
        exits: ExitSender,
    ) -> Result<(InProcess, OwnedFd), String> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let log = AgentLog::new(Box::new(std::fs::File::from(write))).with_level(agent.log_level);
        let hosted = host::spawn(agent.conf_file.clone(), agent.agent_name.clone(), log)
            .map_err(|e| format!("cannot start a thread for the agent: {e}"))?;
        let cancel = hosted.cancel.clone();
        tokio::spawn(async move {
            // A thread that died without answering counts as a failure.
            let code = hosted.done.await.unwrap_or(host::EXIT_FAILED);
            let _ = exits.send((key, code));
        });
        Ok((InProcess { cancel }, read))
    }

    /// Ask the agent to stop (any stop signal means an orderly stop).
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}
