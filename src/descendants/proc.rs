//! What `/proc` and kill(2) say about processes and their groups.

use std::collections::{HashMap, HashSet};

/// The fields of `/proc/PID/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    pub pgrp: i32,
    /// Clock ticks since boot when the process started.
    pub start: u64,
}

/// `/proc/PID/stat` read; `None` when the process is gone.
pub fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// The fields after the command name, which is in parentheses and may hold
/// anything (spaces, parentheses), so the text is cut at the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5): state; pgrp is 5, starttime 22.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The start time of `pid`, 0 when it cannot be read (already gone).
pub fn start_time(pid: i32) -> u64 {
    stat(pid).map(|s| s.start).unwrap_or(0)
}

/// Whether any process (a zombie included) is in group `pgid`.
pub fn group_exists(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks; a negative pid names the group.
    let r = unsafe { libc::kill(-pgid, 0) };
    // EPERM: there is a member, of another user.
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The live (not zombie) members of each of `groups`, from one pass over
/// `/proc`.
pub fn members(groups: &HashSet<i32>) -> HashMap<i32, Vec<i32>> {
    let mut found: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(s) = stat(pid)
            && s.state != 'Z'
            && s.state != 'X'
            && groups.contains(&s.pgrp)
        {
            found.entry(s.pgrp).or_default().push(pid);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_past_an_odd_command_name() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 100 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                state: 'S',
                pgrp: 4242,
                start: 987654
            }
        );
        assert_eq!(parse_stat("12 (x) S 1"), None);
        let me = stat(std::process::id() as i32).unwrap();
        assert!(me.start > 0);
        assert_eq!(me.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(group_exists(me.pgrp));
        let found = members(&HashSet::from([me.pgrp]));
        assert!(found[&me.pgrp].contains(&(std::process::id() as i32)));
    }
}
