//! Shared harness for the integration tests: a real `sluice daemon` in a
//! temp dir, driven over its real unix socket with the real `sluice ctl`.
//! Nothing here sleeps a fixed time to assert something: [`wait_for`]
//! polls a condition until a generous deadline.

#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod compare;
pub mod flume;
pub mod kafka;
pub mod peers;
pub mod stock;
pub mod tmpfs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any condition may take on a loaded, shared machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The binary under test.
pub fn sluice() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// Poll `cond` every 20 ms until it holds; panic with `what` after `DEADLINE`.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `cmd` to its end, killed (and a failure) past `deadline`: what
/// would hang or loop without end shows up as this timeout.
pub fn output_within(mut cmd: Command, deadline: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the command");
    // Read both pipes while waiting, so a long report cannot fill one.
    let mut pipes = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    })
    .into_iter();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut next = || pipes.next().and_then(|t| t.join().ok()).unwrap_or_default();
    Output {
        status,
        stdout: next(),
        stderr: next(),
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the ")" closing the command name.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// The pid a test program wrote into `path`, once it is there.
pub fn wait_pid_file(path: &Path) -> i32 {
    let mut pid = 0;
    wait_for(&format!("a pid in {}", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

/// Send `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid a test started (itself or through the daemon).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The config header every test daemon uses: everything inside `dir`.
pub fn base_config(dir: &Path) -> String {
    base_config_with(dir, "")
}

/// [`base_config`] with `extra` lines in `[supervisord]`.
pub fn base_config_with(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    format!(
        "[supervisord]\n\
         logfile = {d}/sluice.log\n\
         pidfile = {d}/sluice.pid\n\
         childlogdir = {d}\n\
         loglevel = debug\n\
         {extra}\n\
         [unix_http_server]\n\
         file = {d}/sluice.sock\n\
         \n\
         [supervisorctl]\n\
         serverurl = unix://{d}/sluice.sock\n\n"
    )
}

/// A running daemon in its own temp dir; killed (TERM, then KILL) on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Daemon {
    /// Start `sluice daemon` with [`base_config`] followed by `programs`
    /// (`%(here)s` and `{dir}` both name the temp dir) and wait until it
    /// answers `ctl status`.
    pub fn start(programs: &str) -> Daemon {
        Daemon::start_with(programs, "")
    }

    /// As `start`, with `extra` lines in `[supervisord]`.
    pub fn start_with(programs: &str, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = base_config_with(dir.path(), extra)
            + &programs.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(dir.path().join("sluice.conf"), text).expect("write config");
        let mut d = Daemon { dir, child: None };
        d.spawn();
        d
    }

    /// (Re)start the daemon process on the existing config.
    pub fn spawn(&mut self) {
        self.spawn_with(|_| {});
    }

    /// [`Daemon::spawn`], with `setup` applied to the command first (limits,
    /// say).
    pub fn spawn_with(&mut self, setup: impl FnOnce(&mut Command)) {
        let mut cmd = Command::new(sluice());
        cmd.args(["daemon", "-c"])
            .arg(self.conf())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.path("daemon.stderr")).expect("stderr file"),
            ));
        setup(&mut cmd);
        let child = cmd.spawn().expect("start sluice daemon");
        self.child = Some(child);
        wait_for("the daemon to answer", || {
            let code = self.ctl(&["status"]).status.code();
            // 0 or 3 (something not running): the daemon answered.
            matches!(code, Some(0) | Some(3))
        });
    }

    pub fn conf(&self) -> PathBuf {
        self.path("sluice.conf")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Run `sluice ctl -c <conf> args...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(sluice())
            .arg("ctl")
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .output()
            .expect("run sluice ctl")
    }

    /// `ctl` and its stdout as text.
    pub fn ctl_out(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.ctl(args).stdout).into_owned()
    }

    /// The state word `ctl status name` shows (RUNNING, FATAL, ...).
    pub fn state(&self, name: &str) -> String {
        let out = self.ctl_out(&["status", name]);
        out.split_whitespace().nth(1).unwrap_or("").to_string()
    }

    pub fn wait_state(&self, name: &str, state: &str) {
        wait_for(&format!("{name} to be {state}"), || {
            self.state(name) == state
        });
    }

    /// The pid `ctl pid name` reports (0 when not running).
    pub fn child_pid(&self, name: &str) -> i32 {
        self.ctl_out(&["pid", name]).trim().parse().unwrap_or(0)
    }

    /// The daemon's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sluice.log")).unwrap_or_default()
    }

    /// Send a signal to the daemon process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Wait for the daemon process to exit; its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("daemon running");
        let mut status = None;
        wait_for("the daemon to exit", || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        });
        self.child = None;
        status.expect("exit status")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let start = Instant::now();
            while start.elapsed() < DEADLINE {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sluice agent` in the foreground, its stdout and stderr collected;
/// killed on drop.
pub struct ForegroundAgent {
    pub child: Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

/// The options users pass after `--name`.
const USERS_OPTIONS: &[&str] = &["-Dflume.root.logger=INFO,console"];

impl ForegroundAgent {
    /// Write `conf` to `dir/agent.conf` and run it as agent `a1`, with
    /// flume-ng's own options as users pass them.
    pub fn start(dir: &Path, conf: &str) -> ForegroundAgent {
        ForegroundAgent::start_with(dir, conf, USERS_OPTIONS)
    }

    /// The same with `options` (e.g. `-D` properties) after `--name a1`.
    pub fn start_with(dir: &Path, conf: &str, options: &[&str]) -> ForegroundAgent {
        let file = dir.join("agent.conf");
        std::fs::write(&file, conf).expect("write agent file");
        ForegroundAgent::start_file_with(&file, options)
    }

    /// Run agent `a1` of an agent file already written.
    pub fn start_file(file: &Path) -> ForegroundAgent {
        ForegroundAgent::start_file_with(file, USERS_OPTIONS)
    }

    fn start_file_with(file: &Path, options: &[&str]) -> ForegroundAgent {
        let mut child = Command::new(sluice())
            .args(["agent", "--conf", "conf", "--conf-file"])
            .arg(file)
            .args(["--name", "a1"])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice agent");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = out.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut o) = sink.lock() {
                        o.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        ForegroundAgent { child, out }
    }

    pub fn output(&self) -> String {
        self.out.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub fn wait_output(&self, what: &str) {
        wait_for(&format!("agent output to contain {what:?}"), || {
            self.output().contains(what)
        });
    }

    /// SIGTERM, then its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
        let mut status = None;
        wait_for("the agent to exit", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.and_then(|s| s.code())
    }
}

impl Drop for ForegroundAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dir` made read-only (`set_read_only`) until this is dropped or
/// `writable` is called, so the temp dir can go even if an assertion fails.
pub struct ReadOnly(PathBuf);

impl ReadOnly {
    /// `None` when a directory cannot be made read-only here.
    pub fn make(dir: &Path) -> Option<ReadOnly> {
        set_read_only(dir, true).then(|| ReadOnly(dir.to_path_buf()))
    }

    /// Writable again; false if that failed.
    pub fn writable(mut self) -> bool {
        set_read_only(&std::mem::take(&mut self.0), false)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            set_read_only(&self.0, false);
        }
    }
}

/// Make `dir` refuse new files: `chmod a-w` does not stop root, so as root
/// the immutable attribute is used (`chattr +i`). False when neither works
/// here (a file system without attributes).
pub fn set_read_only(dir: &Path, on: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if nix::unistd::geteuid().is_root() {
        Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    } else {
        let mode = if on { 0o555 } else { 0o755 };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).is_ok()
    }
}
