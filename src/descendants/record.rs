//! The record file (`PIDFILE.groups`): the process groups of this daemon's
//! programs, so that the next daemon can end them if this one and its
//! watchdog were both killed.
//!
//! Its first line names the daemon that writes it (`daemon PID START BOOT`:
//! pid, start time, the kernel's boot id); then one line per change, as the
//! watchdog gets them ([`Message::encode`]). It is appended to, and written
//! anew (to a temporary file, renamed over it) once most of its lines are
//! about groups that are gone. A line cut short by a kill is ignored.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Group, Message, ending, proc};

/// Appended lines beyond twice the live groups (and this many) start a rewrite.
const SLACK: usize = 64;

/// This daemon's record file, open for appending.
pub struct Record {
    path: PathBuf,
    file: File,
    /// Lines of changes in the file.
    lines: usize,
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn header() -> String {
    let pid = std::process::id() as i32;
    format!("daemon {pid} {} {}\n", proc::start_time(pid), boot_id())
}

impl Record {
    /// A new record at `path` holding `groups`; `None` (and an error in the
    /// daemon log) if it cannot be written.
    pub fn create<'a>(path: &Path, groups: impl Iterator<Item = &'a Group>) -> Option<Record> {
        match write_whole(path, groups) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(
                    "could not write {}: {e}; a daemon started after this one is killed \
                     with its watchdog would not end the programs left running",
                    path.display()
                );
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Add one change.
    pub fn append(&mut self, msg: &Message) {
        if let Err(e) = self.file.write_all(msg.encode().as_bytes()) {
            tracing::error!("could not write {}: {e}", self.path.display());
        }
        self.lines += 1;
    }

    /// Whether the file is mostly about groups that are gone.
    pub fn wants_rewrite(&self, live: usize) -> bool {
        self.lines > live.saturating_mul(2).saturating_add(SLACK)
    }

    /// Write the file anew with only `groups`.
    pub fn rewrite<'a>(&mut self, groups: impl Iterator<Item = &'a Group>) {
        match write_whole(&self.path, groups) {
            Ok(r) => *self = r,
            Err(e) => tracing::error!("could not write {}: {e}", self.path.display()),
        }
    }

    /// Delete the file (the daemon ends with no group left).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_whole<'a>(
    path: &Path,
    groups: impl Iterator<Item = &'a Group>,
) -> std::io::Result<Record> {
    let mut text = header();
    let mut lines = 0;
    for g in groups {
        text.push_str(&Message::Watch(g.clone()).encode());
        lines += 1;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    let file = std::fs::OpenOptions::new().append(true).open(path)?;
    Ok(Record {
        path: path.to_path_buf(),
        file,
        lines,
    })
}

/// What a record file says: the daemon that wrote it (pid, start time,
/// boot id) and the groups it had at the end.
#[derive(Debug, PartialEq)]
pub struct Contents {
    pub daemon: Option<(i32, u64, String)>,
    pub groups: Vec<Group>,
}

pub fn parse(text: &str) -> Contents {
    let mut lines = text.lines();
    let daemon = lines.next().and_then(|l| {
        let mut f = l.split(' ');
        (f.next()? == "daemon").then_some(())?;
        let pid = f.next()?.parse().ok()?;
        let start = f.next()?.parse().ok()?;
        Some((pid, start, f.next().unwrap_or("").to_string()))
    });
    let mut groups: HashMap<i32, Group> = HashMap::new();
    let mut order = Vec::new();
    for line in lines {
        match Message::parse(line) {
            Some(Message::Watch(g)) => {
                order.push(g.pgid);
                groups.insert(g.pgid, g);
            }
            Some(Message::Forget(pgid)) => {
                groups.remove(&pgid);
            }
            None => {}
        }
    }
    order.dedup();
    let groups = order
        .into_iter()
        .filter_map(|pgid| groups.remove(&pgid))
        .collect();
    Contents { daemon, groups }
}

/// Whether `g` is still the group a daemon recorded, not a later process
/// that got the same number.
fn still_ours(g: &Group) -> bool {
    match proc::stat(g.pgid) {
        // The leader itself, if it started when it did.
        Some(s) => g.start != 0 && s.start == g.start,
        // The leader is gone; a member left keeps the number from reuse.
        None => proc::group_exists(g.pgid),
    }
}

/// At the start of a daemon: end the groups that the record at `path` says
/// a killed daemon left, and wait until they are gone.
pub fn end_previous(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let contents = parse(&text);
    let Some((pid, start, boot)) = contents.daemon else {
        return;
    };
    if boot != boot_id() {
        return; // from before a reboot: nothing of it runs
    }
    let me = std::process::id() as i32;
    if pid != me && start != 0 && proc::start_time(pid) == start {
        tracing::warn!(
            "{} belongs to another daemon that is running (pid {pid}); its programs are left alone",
            path.display()
        );
        return;
    }
    let left: Vec<Group> = contents.groups.into_iter().filter(still_ours).collect();
    if left.is_empty() {
        return;
    }
    let names: Vec<String> = left
        .iter()
        .map(|g| format!("{} (pid {})", g.name, g.pgid))
        .collect();
    tracing::warn!(
        "the daemon before (pid {pid}) was killed and left {} running: stopping them before \
         anything starts",
        names.join(", ")
    );
    ending::end_groups(left, &mut |line| tracing::warn!("{line}"));
    tracing::info!("what the daemon before left running is gone");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn group(pgid: i32) -> Group {
        Group {
            pgid,
            start: 5,
            signal: 15,
            grace: Duration::from_secs(1),
            name: format!("p{pgid}"),
        }
    }

    #[test]
    fn appended_changes_read_back_and_rewrites_keep_the_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid.groups");
        let mut r = Record::create(&path, [group(10)].iter()).unwrap();
        r.append(&Message::Watch(group(11)));
        r.append(&Message::Watch(group(12)));
        r.append(&Message::Forget(10));
        // A line cut short by a kill.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"+ 13 5")
            .unwrap();
        let c = parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(c.daemon.unwrap().0, std::process::id() as i32);
        assert_eq!(c.groups, [group(11), group(12)]);
        assert!(!r.wants_rewrite(2));
        for _ in 0..100 {
            r.append(&Message::Watch(group(20)));
            r.append(&Message::Forget(20));
        }
        assert!(r.wants_rewrite(2));
        r.rewrite([group(11), group(12)].iter());
        assert!(!r.wants_rewrite(2));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(parse(&text).groups, [group(11), group(12)]);
    }

    #[test]
    fn a_reused_pid_is_not_ours() {
        let me = std::process::id() as i32;
        let real = proc::start_time(me);
        let mut g = group(me);
        g.start = real;
        assert!(still_ours(&g));
        g.start = real + 1;
        assert!(!still_ours(&g), "another start time: another process");
        g.start = 0;
        assert!(
            !still_ours(&g),
            "no start time known, and a process has the pid"
        );
    }
}
