//! No descendant of a program outlives the daemon, however the daemon ends:
//! a `kill -9` included, when no code of the daemon runs at its death.
//!
//! Every program runs in a process group of its own (as supervisord's
//! `setpgrp`), and so does every command of an in-process agent's exec
//! source; whatever they start stays in that group unless it leaves it.
//! Those groups are kept in three places:
//!
//! - this registry, in the daemon: a group is added when its leader is
//!   spawned and forgotten once the leader was reaped and no member is left
//!   (checked at every reap: the daemon is a child subreaper, so the
//!   orphans a group leaves behind are its children and their ends wake it);
//! - the watchdog ([`watchdog`]), a small process the daemon starts first, in
//!   a session of its own, reading a pipe whose write end only the daemon
//!   holds. It is told of every group as it comes and goes; at EOF (the
//!   daemon is gone, whatever the cause) it ends every group it knows of:
//!   the program's stop signal, then SIGKILL after its stopwaitsecs;
//! - a record file next to the pidfile ([`record`]), so that a daemon started
//!   after both were killed ends what is left before it spawns anything. A
//!   pid reused since is recognised by the leader's start time.
//!
//! What leaves its group (`setsid`, `setpgid`: a program that daemonizes
//! itself) is not covered, as it escapes supervisord too.

pub mod ending;
pub mod proc;
pub mod record;
pub mod watchdog;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use record::Record;
use watchdog::Watchdog;

/// One process group that must not outlive the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group id: the pid of its leader, the process the daemon spawned.
    pub pgid: i32,
    /// The leader's start time (clock ticks since boot; 0 if unknown), to
    /// tell it from a later process that got the same pid.
    pub start: u64,
    /// What asks the group to stop (the program's stopsignal).
    pub signal: i32,
    /// How long the group has after that signal before SIGKILL.
    pub grace: Duration,
    /// For log lines: the program's name.
    pub name: String,
}

/// A change to the set of groups, as the watchdog and the record file get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Watch(Group),
    Forget(i32),
}

/// Long names are cut so that a message stays one atomic pipe write.
const MAX_NAME: usize = 256;

impl Message {
    /// One line: `+ PGID START SIGNAL GRACE_MS NAME` or `- PGID`.
    pub fn encode(&self) -> String {
        match self {
            Message::Watch(g) => {
                let mut name: String = g
                    .name
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                if name.len() > MAX_NAME {
                    let mut cut = MAX_NAME;
                    while !name.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    name.truncate(cut);
                }
                format!(
                    "+ {} {} {} {} {name}\n",
                    g.pgid,
                    g.start,
                    g.signal,
                    g.grace.as_millis().min(u128::from(u64::MAX))
                )
            }
            Message::Forget(pgid) => format!("- {pgid}\n"),
        }
    }

    /// The message of one line (without its `\n`); `None` if malformed
    /// (a line cut short by a kill, say).
    pub fn parse(line: &str) -> Option<Message> {
        let mut parts = line.splitn(6, ' ');
        match parts.next()? {
            "+" => {
                let pgid = parts.next()?.parse().ok().filter(|&p: &i32| p > 1)?;
                let start = parts.next()?.parse().ok()?;
                let signal = parts.next()?.parse().ok().filter(|&s: &i32| s > 0)?;
                let grace = Duration::from_millis(parts.next()?.parse().ok()?);
                let name = parts.next()?.to_string();
                Some(Message::Watch(Group {
                    pgid,
                    start,
                    signal,
                    grace,
                    name,
                }))
            }
            "-" => {
                let pgid = parts.next()?.parse().ok()?;
                parts.next().is_none().then_some(Message::Forget(pgid))
            }
            _ => None,
        }
    }
}

/// A group and whether its leader was reaped already.
struct Entry {
    group: Group,
    leader_reaped: bool,
}

/// What the daemon keeps: the groups, the watchdog, the record.
struct Registry {
    groups: HashMap<i32, Entry>,
    watchdog: Option<Watchdog>,
    record: Option<Record>,
    /// Watchdogs started after the first one died, to give up on a loop.
    restarts: u32,
}

/// The watchdog is started again this many times at most.
const MAX_RESTARTS: u32 = 10;

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    fn tell(&mut self, msg: &Message) {
        if let Some(w) = &mut self.watchdog {
            w.tell(msg);
        }
        if let Some(r) = &mut self.record {
            r.append(msg);
            if r.wants_rewrite(self.groups.len()) {
                r.rewrite(self.groups.values().map(|e| &e.group));
            }
        }
    }
}

/// The record file that goes with a pidfile: `PIDFILE.groups`.
pub fn record_path(pidfile: &Path) -> PathBuf {
    let mut s = pidfile.as_os_str().to_owned();
    s.push(".groups");
    PathBuf::from(s)
}

/// Guard this daemon's descendants, keeping the record at `record_path`.
/// The first call (before anything is spawned, once this daemon knows it
/// is the only one: its socket is bound) ends the groups a killed daemon
/// left in that record, waiting until they are gone, then starts the
/// watchdog. Later calls (a restart) only move the record if its path
/// changed.
pub fn guard(record_path: &Path) {
    if let Some(reg) = registry().as_mut() {
        let moved = reg.record.as_ref().is_none_or(|r| r.path() != record_path);
        if moved {
            let old = reg.record.take();
            reg.record = Record::create(record_path, reg.groups.values().map(|e| &e.group));
            if let Some(old) = old {
                old.remove();
            }
        }
        return;
    }
    // Not under the lock: this may wait for the old programs' grace.
    record::end_previous(record_path);
    let watchdog = match Watchdog::start() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(
                "could not start the watchdog: {e}; a kill -9 of the daemon would leave \
                 the descendants of its programs running"
            );
            None
        }
    };
    *registry() = Some(Registry {
        groups: HashMap::new(),
        watchdog,
        record: Record::create(record_path, std::iter::empty()),
        restarts: 0,
    });
}

/// A process group was created (its leader `group.pgid` just spawned).
/// Nothing happens outside a guarded daemon (`sluice agent`, tests).
pub fn watch(group: Group) {
    let mut reg = registry();
    let Some(reg) = reg.as_mut() else {
        return;
    };
    let msg = Message::Watch(group.clone());
    reg.groups.insert(
        group.pgid,
        Entry {
            group,
            leader_reaped: false,
        },
    );
    reg.tell(&msg);
}

/// `pid` was reaped: if it led a group, that group is forgotten once no
/// member is left; the groups whose leaders went before are checked again.
/// If it was the watchdog, another one starts and is told every group.
pub fn reaped(pid: i32) {
    let mut reg = registry();
    let Some(reg) = reg.as_mut() else {
        return;
    };
    if let Some(entry) = reg.groups.get_mut(&pid) {
        entry.leader_reaped = true;
    }
    let empty: Vec<i32> = reg
        .groups
        .values()
        .filter(|e| e.leader_reaped && !proc::group_exists(e.group.pgid))
        .map(|e| e.group.pgid)
        .collect();
    for pgid in empty {
        reg.groups.remove(&pgid);
        reg.tell(&Message::Forget(pgid));
    }
    if reg.watchdog.as_ref().is_some_and(|w| w.pid() == pid) {
        reg.watchdog = None;
        if reg.restarts >= MAX_RESTARTS {
            tracing::error!("the watchdog (pid {pid}) exited again; not starting another");
            return;
        }
        reg.restarts += 1;
        tracing::warn!("the watchdog (pid {pid}) exited; starting another");
        match Watchdog::start() {
            Ok(mut w) => {
                for e in reg.groups.values() {
                    w.tell(&Message::Watch(e.group.clone()));
                }
                reg.watchdog = Some(w);
            }
            Err(e) => tracing::error!("could not start the watchdog again: {e}"),
        }
    }
}

/// The daemon ends normally: with no group left, its record goes too. (The
/// watchdog ends the groups left, the daemon's pipe being closed.)
pub fn finish() {
    let mut reg = registry();
    if let Some(reg) = reg.as_mut()
        && reg.groups.is_empty()
        && let Some(r) = reg.record.take()
    {
        r.remove();
    }
}

/// The watchdog's pid, if one runs (for tests and diagnostics).
pub fn watchdog_pid() -> Option<i32> {
    registry()
        .as_ref()
        .and_then(|r| r.watchdog.as_ref().map(Watchdog::pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_junk_is_refused() {
        let g = Group {
            pgid: 1234,
            start: 987_654,
            signal: 15,
            grace: Duration::from_millis(10_500),
            name: "web server:01".into(),
        };
        for m in [Message::Watch(g.clone()), Message::Forget(77)] {
            let line = m.encode();
            assert!(line.ends_with('\n'));
            assert_eq!(Message::parse(line.trim_end_matches('\n')), Some(m));
        }
        let long = Group {
            name: "é".repeat(1000),
            ..g
        };
        let line = Message::Watch(long).encode();
        assert!(line.len() < 512, "{}", line.len());
        for junk in [
            "",
            "+",
            "+ 12 3 15",
            "+ 1 0 15 0 init",
            "+ x 1 2 3 n",
            "- ",
            "- 5 6",
            "* 1",
        ] {
            assert_eq!(Message::parse(junk), None, "{junk:?}");
        }
    }
}
