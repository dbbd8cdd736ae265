//! Ending process groups for good: each gets its stop signal; a group still
//! there after its grace gets SIGKILL; the call returns once every member
//! is gone (or, for a process that even SIGKILL does not end, such as one
//! stuck in the kernel, after [`AFTER_KILL`]). The waiting is on pidfds of
//! the members, so nothing polls; the members are found again in `/proc`
//! whenever those end, since a member may have forked meanwhile.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::Group;
use super::proc;

/// How long members may take to go after SIGKILL before they are given up.
pub const AFTER_KILL: Duration = Duration::from_secs(10);
/// At most this many members are waited on at once.
const MAX_WAIT_FDS: usize = 256;

struct Pending {
    group: Group,
    deadline: Instant,
    killed: bool,
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that group only.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn later(now: Instant, d: Duration) -> Instant {
    // stopwaitsecs may be huge: saturate instead of overflowing.
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// End every group of `groups` as the module comment says; `log` gets one
/// line per group that needed SIGKILL or could not be ended.
pub fn end_groups(groups: Vec<Group>, log: &mut dyn FnMut(String)) {
    let now = Instant::now();
    let mut pending: Vec<Pending> = groups
        .into_iter()
        .map(|group| {
            signal_group(group.pgid, group.signal);
            Pending {
                deadline: later(now, group.grace),
                group,
                killed: false,
            }
        })
        .collect();
    loop {
        let wanted: HashSet<i32> = pending.iter().map(|p| p.group.pgid).collect();
        let members = proc::members(&wanted);
        pending.retain(|p| members.contains_key(&p.group.pgid));
        let now = Instant::now();
        pending.retain_mut(|p| {
            if p.deadline > now {
                return true;
            }
            if p.killed {
                log(format!(
                    "{} (process group {}) is still there {}s after SIGKILL; giving up",
                    p.group.name,
                    p.group.pgid,
                    AFTER_KILL.as_secs()
                ));
                return false;
            }
            log(format!(
                "{} (process group {}) still running after its stop signal; sending SIGKILL",
                p.group.name, p.group.pgid
            ));
            signal_group(p.group.pgid, libc::SIGKILL);
            p.killed = true;
            p.deadline = later(now, AFTER_KILL);
            true
        });
        let Some(next) = pending.iter().map(|p| p.deadline).min() else {
            return;
        };
        let pids: Vec<i32> = pending
            .iter()
            .filter_map(|p| members.get(&p.group.pgid))
            .flatten()
            .copied()
            .take(MAX_WAIT_FDS)
            .collect();
        wait_any(&pids, next.saturating_duration_since(Instant::now()));
    }
}

/// Wait until one of `pids` ends, or `timeout`.
fn wait_any(pids: &[i32], timeout: Duration) {
    let fds: Vec<OwnedFd> = pids.iter().filter_map(|&pid| pidfd(pid)).collect();
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    if fds.len() < pids.len() || fds.is_empty() {
        // A member already gone, or no pidfds here: look again soon.
        std::thread::sleep(Duration::from_millis(20).min(timeout));
        return;
    }
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polls` is a valid array of pollfd for its length.
    unsafe {
        libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout_ms);
    }
}

/// A pidfd for `pid` (readable once it ends), `None` if it is gone already.
fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn group_of(script: &str) -> (std::process::Child, Group) {
        let child = Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let group = Group {
            pgid,
            start: proc::start_time(pgid),
            signal: libc::SIGTERM,
            grace: Duration::from_millis(300),
            name: "test".into(),
        };
        (child, group)
    }

    #[test]
    fn every_member_goes_even_one_that_ignores_the_stop_signal() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let (mut polite, g1) = group_of("sleep 1000 & sleep 1000 & wait");
        let (mut stubborn, g2) = group_of(&format!(
            "trap '' TERM; sleep 1000 & touch {}; while :; do sleep 1; done",
            ready.display()
        ));
        let since = Instant::now();
        while !ready.exists() {
            assert!(since.elapsed() < Duration::from_secs(30), "the trap is set");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut lines = Vec::new();
        end_groups(vec![g1.clone(), g2.clone()], &mut |l| lines.push(l));
        let left = proc::members(&HashSet::from([g1.pgid, g2.pgid]));
        assert!(left.is_empty(), "{left:?}");
        let _ = polite.wait();
        let _ = stubborn.wait();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("SIGKILL"), "{lines:?}");
    }
}
