//! The manager's side of `signalProcess`, `sendProcessStdin` and
//! `clearProcessLogs`: supervisord's checks and faults, with the process
//! named `group:name` in the fault (the API puts the caller's name back).

use super::{Manager, State};
use crate::rpc::{Fault, faults};
use crate::supervisor::output;
use crate::supervisor::state::signal_name;
use crate::supervisor::stdin::StdinError;

impl Manager {
    fn index_of(&self, group: &str, name: &str) -> Result<usize, Fault> {
        self.find(group, name)
            .ok_or_else(|| Fault::new(faults::BAD_NAME, format!("{group}:{name}")))
    }

    /// supervisord's `signalProcess` after the name and the signal are
    /// known good: only RUNNING, STARTING and STOPPING processes take a
    /// signal, sent to the process itself (not its group). A process that
    /// exited a moment ago (ESRCH) counts as signalled, as in supervisord.
    pub(super) fn signal(&mut self, group: &str, name: &str, signal: i32) -> Result<(), Fault> {
        let idx = self.index_of(group, name)?;
        let namespec = format!("{group}:{name}");
        let rec = &self.records[idx];
        if !matches!(
            rec.proc.state,
            State::Running | State::Starting | State::Stopping
        ) {
            return Err(Fault::new(faults::NOT_RUNNING, &namespec));
        }
        if rec.inproc.is_some() {
            // Its "pid" is the daemon's own: never signal that.
            return Err(Fault::new(
                faults::FAILED,
                format!("{name} is an agent running inside the daemon; it takes no signals"),
            ));
        }
        let pid = rec.proc.pid;
        if pid <= 0 {
            return Err(Fault::new(
                faults::FAILED,
                format!(
                    "attempted to send {name} sig {} but it wasn't running",
                    signal_name(signal)
                ),
            ));
        }
        tracing::debug!("sending {name} (pid {pid}) sig {}", signal_name(signal));
        // SAFETY: kill(2) on the pid of our own child; `signal` was checked
        // against the platform's signal numbers by the caller.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                tracing::debug!(
                    "unable to signal {name} (pid {pid}), it probably just now exited on its own: {err}"
                );
                return Ok(());
            }
            return Err(Fault::new(
                faults::FAILED,
                format!("unknown problem sending sig {name} ({pid}):{err}"),
            ));
        }
        Ok(())
    }

    /// supervisord's `sendProcessStdin`: NOT_RUNNING without a pid or while
    /// stopping; NO_FILE when the child has no stdin or closed it.
    pub(super) fn send_stdin(&mut self, group: &str, name: &str, data: &[u8]) -> Result<(), Fault> {
        let idx = self.index_of(group, name)?;
        let namespec = format!("{group}:{name}");
        let rec = &self.records[idx];
        if rec.proc.pid == 0 || rec.proc.killing || rec.proc.state == State::Stopping {
            return Err(Fault::new(faults::NOT_RUNNING, &namespec));
        }
        let Some(stdin) = &rec.stdin else {
            return Err(Fault::new(faults::NO_FILE, &namespec));
        };
        match stdin.write(data) {
            Ok(()) => Ok(()),
            Err(StdinError::Closed) => Err(Fault::new(faults::NO_FILE, &namespec)),
            Err(StdinError::Full) => Err(Fault::new(
                faults::FAILED,
                format!(
                    "{name} is not reading its stdin; the data waiting for it reached the limit"
                ),
            )),
        }
    }

    /// supervisord's `clearProcessLogs`: each log file of the process is
    /// removed and opened again empty; the writer of a running process goes
    /// on at offset 0. Backups stay, as in supervisord. A process that has
    /// not run in this life has no writer: its files are removed (AUTO ones
    /// made again, empty), where supervisord would leave them as they are.
    pub(super) fn clear_logs(&mut self, group: &str, name: &str) -> Result<(), Fault> {
        let idx = self.index_of(group, name)?;
        let rec = &self.records[idx];
        let result = match &rec.output {
            Some(out) => out.clear(),
            None => [&rec.spec.stdout.path, &rec.spec.stderr.path]
                .into_iter()
                .flatten()
                .try_for_each(|p| match std::fs::metadata(p) {
                    Ok(m) if m.file_type().is_file() => std::fs::remove_file(p),
                    _ => Ok(()),
                })
                .map(|()| output::create_auto_logs(&rec.spec)),
        };
        result.map_err(|e| {
            tracing::warn!("could not clear the logs of {name}: {e}");
            Fault::new(faults::FAILED, format!("{group}:{name}"))
        })
    }
}
