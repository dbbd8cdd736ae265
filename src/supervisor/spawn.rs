//! Starting one child process the way supervisord does.
//!
//! The command is split shell-style and looked up on PATH; what would make
//! the exec fail (no such file, a directory, not executable) is found here,
//! before forking, and reported as supervisord's spawn error text. The child
//! gets its own process group, the user/umask/directory/environment of its
//! spec, supervisord's SUPERVISOR_* variables, and a parent-death signal (its
//! stopsignal, at once when the daemon dies). The manager then hands the
//! group to `crate::descendants`, whose watchdog ends all of it, whatever
//! ignores that signal or was forked since.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::identity::SwitchUser;

use crate::config::ProcessSpec;

/// A running child and the daemon's ends of its pipes.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// Write end of the child's stdin.
    pub stdin: Option<OwnedFd>,
    /// Read end of the child's stdout (and stderr, when redirected).
    pub stdout: OwnedFd,
    /// Read end of the child's stderr; `None` when redirect_stderr.
    pub stderr: Option<OwnedFd>,
}

/// The PATH used when no environment names one (supervisord's default).
const DEFAULT_PATH: &str = "/bin:/usr/bin:/usr/local/bin";

/// Where `spec`'s command is looked up, as supervisord's `get_path`: the
/// PATH the process will get (its own `environment`, else `base`: the
/// daemon's environment with `[supervisord] environment` applied), so a
/// virtualenv's `environment=PATH=...` finds its programs.
pub fn search_path<'a>(spec: &'a ProcessSpec, base: &'a [(String, String)]) -> &'a str {
    let own = spec.environment.iter().rev().find(|(k, _)| k == "PATH");
    match own.or_else(|| base.iter().rev().find(|(k, _)| k == "PATH")) {
        Some((_, path)) if !path.is_empty() || own.is_some() => path,
        _ => DEFAULT_PATH,
    }
}

/// Why a spawn failed: supervisord's spawnerr text, and whether
/// supervisord meets it in the forked child (which then writes it to its
/// stderr, so it lands in the stderr log: `output::write_spawn_error`).
#[derive(Debug)]
pub struct SpawnError {
    pub message: String,
    pub in_child: bool,
}

impl SpawnError {
    fn before_fork(message: String) -> SpawnError {
        SpawnError {
            message,
            in_child: false,
        }
    }

    fn in_child(message: String) -> SpawnError {
        SpawnError {
            message,
            in_child: true,
        }
    }
}

/// `ENOENT` for an error with an errno, as supervisord names them.
fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{:?}", nix::errno::Errno::from_raw(code)),
        None => e.to_string(),
    }
}

/// Split `command`, find the program on `search` (a PATH), and check it
/// can be run. Errors are supervisord's spawnerr texts.
pub fn resolve_command(
    command: &str,
    directory: Option<&Path>,
    search: &str,
) -> Result<Vec<String>, String> {
    let args = shlex::split(command).ok_or_else(|| format!("can't parse command {command:?}"))?;
    let Some(program) = args.first() else {
        return Err("command is empty".to_string());
    };
    let path = if program.contains('/') {
        let p = PathBuf::from(program);
        match directory {
            // Nicer than supervisord, which checks a relative path against the
            // daemon's own directory: the child will run in `directory`.
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p,
        }
    } else {
        search
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(program))
            .find(|p| p.exists())
            .ok_or_else(|| format!("can't find command '{program}'"))?
    };
    let meta = std::fs::metadata(&path).map_err(|_| format!("can't find command '{program}'"))?;
    if meta.is_dir() {
        return Err(format!("command at '{}' is a directory", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("command at '{}' is not executable", path.display()));
    }
    if nix::unistd::access(&path, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(format!("no permission to run command '{}'", path.display()));
    }
    let mut args = args;
    args[0] = path.to_string_lossy().into_owned();
    Ok(args)
}

/// Fork and exec the process of `spec`.
///
/// `env` is the base environment (the daemon's, with `[supervisord]
/// environment` applied); `server_url` goes into SUPERVISOR_SERVER_URL.
pub fn spawn(
    spec: &ProcessSpec,
    env: &[(String, String)],
    server_url: Option<&str>,
) -> Result<Spawned, SpawnError> {
    let args = resolve_command(
        spec.command_to_run(),
        spec.directory.as_deref(),
        search_path(spec, env),
    )
    .map_err(SpawnError::before_fork)?;
    let switch = match &spec.user {
        Some(name) => Some(SwitchUser::resolve(name).map_err(|e| {
            // supervisord names the uid.
            let uid = nix::unistd::User::from_name(name).ok().flatten();
            let uid = uid.map_or(name.clone(), |u| u.uid.to_string());
            SpawnError::in_child(format!("couldn't setuid to {uid}: {e}"))
        })?),
        None => None,
    };
    let directory = match &spec.directory {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(SpawnError::in_child(format!(
                    "couldn't chdir to {}: ENOENT",
                    dir.display()
                )));
            }
            Some(
                CString::new(dir.as_os_str().as_encoded_bytes())
                    .map_err(|_| SpawnError::before_fork("bad directory".to_string()))?,
            )
        }
        None => None,
    };

    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    cmd.env_clear();
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.env("SUPERVISOR_ENABLED", "1");
    let url = spec.serverurl.as_deref().or(server_url);
    if let Some(url) = url {
        cmd.env("SUPERVISOR_SERVER_URL", url);
    }
    cmd.env("SUPERVISOR_PROCESS_NAME", &spec.name);
    cmd.env("SUPERVISOR_GROUP_NAME", &spec.group);
    cmd.envs(
        spec.environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );

    let pipe_error = |e: &dyn std::fmt::Display| SpawnError::before_fork(format!("pipe: {e}"));
    let (out_r, out_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| pipe_error(&e))?;
    let (err_r, err_w) = if spec.redirect_stderr {
        let dup = out_w.try_clone().map_err(|e| pipe_error(&e))?;
        (None, dup)
    } else {
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| pipe_error(&e))?;
        (Some(r), w)
    };
    cmd.stdin(Stdio::piped());
    cmd.stdout(Stdio::from(out_w));
    cmd.stderr(Stdio::from(err_w));
    // Its own process group, so stopasgroup/killasgroup reach its children.
    cmd.process_group(0);

    let umask = spec.umask;
    let stopsignal = spec.stopsignal.number;
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions on data prepared above.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(mask) = umask {
                libc::umask(mask as libc::mode_t);
            }
            if let Some(u) = &switch {
                u.apply()?;
            }
            if let Some(dir) = &directory
                && libc::chdir(dir.as_ptr()) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // Set after the uid change, which would clear it.
            libc::prctl(libc::PR_SET_PDEATHSIG, stopsignal as libc::c_ulong);
            if libc::getppid() != parent {
                // The daemon died between fork and prctl.
                libc::_exit(1);
            }
            Ok(())
        });
    }

    let mut child = cmd.spawn().map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            SpawnError::before_fork(format!("can't find command '{}'", args[0]))
        } else {
            SpawnError::in_child(format!("couldn't exec {}: {}", args[0], errno_name(&e)))
        }
    })?;
    // `cmd` holds the write ends; drop them so EOF comes when the child exits.
    drop(cmd);
    let pid = child.id() as i32;
    let stdin = child.stdin.take().map(OwnedFd::from);
    Ok(Spawned {
        pid,
        stdin,
        stdout: out_r,
        stderr: err_r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_and_reports_supervisord_errors() {
        let args =
            resolve_command("sh -c 'echo hi there'", None, DEFAULT_PATH).expect("sh resolves");
        assert!(args[0].ends_with("/sh"));
        assert_eq!(args[2], "echo hi there");
        assert_eq!(
            resolve_command("no-such-program-xyz", None, DEFAULT_PATH).unwrap_err(),
            "can't find command 'no-such-program-xyz'"
        );
        assert_eq!(
            resolve_command("/tmp", None, DEFAULT_PATH).unwrap_err(),
            "command at '/tmp' is a directory"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("plain");
        std::fs::write(&f, "x").expect("write");
        let err = resolve_command(&f.display().to_string(), None, DEFAULT_PATH).unwrap_err();
        assert_eq!(
            err,
            format!("command at '{}' is not executable", f.display())
        );
    }
}
