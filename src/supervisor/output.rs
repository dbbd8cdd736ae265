//! A child's stdout/stderr, captured into its rotating log files until EOF.
//!
//! The files are opened before the spawn counts as a success (supervisord
//! makes its dispatchers first, and a log it cannot open is a spawn error).
//! The copying itself is `logs::capture`, done by the daemon's one capture
//! pump thread, so a chatty child never waits on the daemon's event loop.

use std::os::fd::OwnedFd;

use crate::config::{LogSpec, ProcessSpec};
use crate::logs::{Destination, RotatingFile, SharedRotatingFile, capture};

/// The open log files of one run of a process.
pub struct Output {
    stdout: Option<SharedRotatingFile>,
    stderr: Option<SharedRotatingFile>,
}

fn open(log: &LogSpec) -> Result<Option<SharedRotatingFile>, String> {
    match &log.path {
        None => Ok(None),
        Some(p) => RotatingFile::open(p, log.maxbytes, log.backups)
            .map(|f| Some(f.shared()))
            .map_err(|e| format!("unknown error making dispatchers for {}: {e}", p.display())),
    }
}

fn destination(file: &Option<SharedRotatingFile>) -> Destination {
    match file {
        Some(f) => Destination::File(f.clone()),
        None => Destination::Discard,
    }
}

impl Output {
    /// Open the log files of `spec` and start draining the pipes into them.
    /// `stderr` is `None` when the child writes its stderr into the stdout
    /// pipe (`redirect_stderr`). Must run inside the tokio runtime.
    pub fn start(
        spec: &ProcessSpec,
        stdout: OwnedFd,
        stderr: Option<OwnedFd>,
    ) -> Result<Output, String> {
        let out_file = open(&spec.stdout)?;
        let err_file = match (&spec.stderr.path, &spec.stdout.path) {
            // Both streams into one file: share one writer, so rotation
            // happens once and the bytes interleave as written.
            (Some(e), Some(o)) if e == o => out_file.clone(),
            _ if stderr.is_none() => None,
            _ => open(&spec.stderr)?,
        };
        let name = spec.name.clone();
        let (out_dest, err_dest) = (destination(&out_file), destination(&err_file));
        tokio::spawn(async move {
            if let Err(e) = capture(&name, Some(stdout), out_dest, stderr, err_dest).await {
                tracing::error!("cannot capture the output of {name}: {e}");
            }
        });
        Ok(Output {
            stdout: out_file,
            stderr: err_file,
        })
    }

    /// Remove the files and go on writing into new empty ones
    /// (`clearProcessLogs`); a file shared by both streams is cleared once.
    pub fn clear(&self) -> std::io::Result<()> {
        let both_same = match (&self.stdout, &self.stderr) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        };
        let files = [&self.stdout, if both_same { &None } else { &self.stderr }];
        for file in files.into_iter().flatten() {
            file.lock()
                .map_err(|_| std::io::Error::other("log file lock poisoned"))?
                .clear()?;
        }
        Ok(())
    }

    /// Reopen the files by path (SIGUSR2, after an external logrotate).
    pub fn reopen(&self) {
        for file in [&self.stdout, &self.stderr].into_iter().flatten() {
            let result = match file.lock() {
                Ok(mut f) => f.reopen(),
                Err(_) => Err(std::io::Error::other("log file lock poisoned")),
            };
            if let Err(e) = result {
                tracing::error!("could not reopen a process log: {e}");
            }
        }
    }
}
