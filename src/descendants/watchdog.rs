//! The watchdog: `sluice watchdog`, a process the daemon starts before any
//! program. It reads the daemon's messages ([`Message`]) on its stdin, a
//! pipe whose write end only the daemon holds (close-on-exec, so no child
//! inherits it), and keeps the set of groups. At EOF the daemon is gone,
//! however it went; the watchdog then ends every group left
//! ([`ending::end_groups`]: the stop signal, SIGKILL after the grace) and
//! exits. It runs in a session of its own and ignores the signals a
//! terminal or a `kill` of the daemon's group would send, so that it
//! outlives what it watches.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use super::{Group, Message, ending};

/// The daemon's side: the watchdog's pid and the pipe to it.
pub struct Watchdog {
    pid: i32,
    pipe: File,
    /// A failed write was logged (once is enough).
    complained: bool,
}

/// Room for many messages, should the watchdog be slow to read.
const PIPE_SIZE: libc::c_int = 1 << 20;

impl Watchdog {
    /// Start `sluice watchdog` (this very binary) with a fresh pipe.
    pub fn start() -> io::Result<Watchdog> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // SAFETY: fcntl on a descriptor we own; failures are harmless.
        unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
            // Never block the daemon: a message that does not fit is lost
            // (and logged); the record file still has it.
            let flags = libc::fcntl(write.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(write.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let child = Command::new("/proc/self/exe")
            .arg("watchdog")
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Watchdog {
            // Reaped by the manager's waitpid(-1), like any child.
            pid: child.id() as i32,
            pipe: File::from(write),
            complained: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Send one message (one write: shorter than PIPE_BUF, so whole or not
    /// at all).
    pub fn tell(&mut self, msg: &Message) {
        if let Err(e) = self.pipe.write_all(msg.encode().as_bytes())
            && !self.complained
        {
            self.complained = true;
            tracing::error!("could not tell the watchdog (pid {}): {e}", self.pid);
        }
    }
}

/// `sluice watchdog`: see the module comment. Returns the exit code.
pub fn main() -> i32 {
    let _ = nix::unistd::setsid();
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
    ] {
        // SAFETY: setting a signal to be ignored.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    let daemon = nix::unistd::getppid().as_raw();
    let mut groups: HashMap<i32, Group> = HashMap::new();
    let mut line = String::new();
    let mut input = io::stdin().lock();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => match Message::parse(line.trim_end_matches('\n')) {
                Some(Message::Watch(g)) => {
                    groups.insert(g.pgid, g);
                }
                Some(Message::Forget(pgid)) => {
                    groups.remove(&pgid);
                }
                None => {}
            },
        }
    }
    if groups.is_empty() {
        return 0;
    }
    let mut names: Vec<String> = groups
        .values()
        .map(|g| format!("{} (pid {})", g.name, g.pgid))
        .collect();
    names.sort();
    eprintln!(
        "sluice watchdog: the daemon (pid {daemon}) is gone; stopping {}",
        names.join(", ")
    );
    ending::end_groups(groups.into_values().collect(), &mut |l| {
        eprintln!("sluice watchdog: {l}")
    });
    0
}
