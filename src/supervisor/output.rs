//! A child's stdout/stderr, captured into its rotating log files until EOF.
//!
//! The files are opened before the spawn counts as a success (supervisord
//! makes its dispatchers first, and a log it cannot open is a spawn error).
//! The copying itself is `logs::capture`, done by the daemon's one capture
//! pump thread, so a chatty child never waits on the daemon's event loop.

use std::os::fd::OwnedFd;

use crate::config::{LogSpec, ProcessSpec};
use crate::logs::{Capture, Destination, Flusher, RotatingFile, SharedRotatingFile};

/// The open log files of one run of a process.
pub struct Output {
    stdout: Option<SharedRotatingFile>,
    stderr: Option<SharedRotatingFile>,
    flusher: Flusher,
}

/// AUTO logs are private to the daemon's user, as supervisord's mkstemp
/// makes them; a named file gets the umask's say.
fn create_mode(log: &LogSpec) -> u32 {
    if log.auto { 0o600 } else { 0o666 }
}

fn open(log: &LogSpec) -> Result<Option<SharedRotatingFile>, String> {
    match &log.path {
        None => Ok(None),
        Some(p) => RotatingFile::open_with_mode(p, log.maxbytes, log.backups, create_mode(log))
            .map(|f| Some(f.shared()))
            .map_err(|e| format!("unknown error making dispatchers for {}: {e}", p.display())),
    }
}

/// Make the AUTO log files of `spec` exist (empty if new, mode 0600 even
/// if an earlier version made them readable to others), as supervisord
/// creates them when it adds the process: a log of a process that never
/// ran reads as empty, not as "no file". Problems are warned about; the
/// spawn reports them again if they last.
pub fn create_auto_logs(spec: &ProcessSpec) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    for log in [&spec.stdout, &spec.stderr] {
        let Some(path) = log.path.as_ref().filter(|_| log.auto) else {
            continue;
        };
        let made = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .and_then(|f| {
                let meta = f.metadata()?;
                if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(())
            });
        if let Err(e) = made {
            tracing::warn!("could not create the log file {}: {e}", path.display());
        }
    }
}

/// The two files of `spec`: one writer when both streams share a file.
/// `stderr_piped` is false when stderr goes into the stdout pipe.
fn open_both(
    spec: &ProcessSpec,
    stderr_piped: bool,
) -> Result<(Option<SharedRotatingFile>, Option<SharedRotatingFile>), String> {
    let out_file = open(&spec.stdout)?;
    let err_file = match (&spec.stderr.path, &spec.stdout.path) {
        // Both streams into one file: share one writer, so rotation
        // happens once and the bytes interleave as written.
        (Some(e), Some(o)) if e == o => out_file.clone(),
        _ if !stderr_piped => None,
        _ => open(&spec.stderr)?,
    };
    Ok((out_file, err_file))
}

/// A spawn error that supervisord meets in the forked child (no such
/// `directory`, setuid, exec) is written by that child to its stderr: the
/// same lines go into the stderr log (the stdout log with
/// `redirect_stderr`), and the logs are opened as a spawn opens them.
pub fn write_spawn_error(spec: &ProcessSpec, error: &str) -> Result<(), String> {
    let (out_file, err_file) = open_both(spec, !spec.redirect_stderr)?;
    let target = if spec.redirect_stderr {
        out_file
    } else {
        err_file
    };
    if let Some(file) = target {
        let text = format!("supervisor: {error}\nsupervisor: child process was not spawned\n");
        file.lock()
            .map_err(|_| "log file lock poisoned".to_string())?
            .write(text.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn destination(file: &Option<SharedRotatingFile>) -> Destination {
    match file {
        Some(f) => Destination::File(f.clone()),
        None => Destination::Discard,
    }
}

impl Output {
    /// Open the log files of `spec` and start draining the pipes into them
    /// (without terminal escape codes when `strip_ansi`). `stderr` is `None`
    /// when the child writes its stderr into the stdout pipe
    /// (`redirect_stderr`). Must run inside the tokio runtime.
    pub fn start(
        spec: &ProcessSpec,
        stdout: OwnedFd,
        stderr: Option<OwnedFd>,
        strip_ansi: bool,
    ) -> Result<Output, String> {
        let (out_file, err_file) = open_both(spec, stderr.is_some())?;
        let (out_dest, err_dest) = (destination(&out_file), destination(&err_file));
        let name = &spec.name;
        let capture =
            Capture::start_with(name, Some(stdout), out_dest, stderr, err_dest, strip_ansi)
                .map_err(|e| format!("cannot capture the output of {name}: {e}"))?;
        let flusher = capture.flusher();
        tokio::spawn(capture.finished());
        Ok(Output {
            stdout: out_file,
            stderr: err_file,
            flusher,
        })
    }

    /// Resolves once what is in the pipes now is in the log files: after
    /// the child's exit, everything it wrote (see `logs::pump`).
    pub fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        self.flusher.flush()
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
