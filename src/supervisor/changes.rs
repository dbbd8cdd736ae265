//! What a re-read config changes in the running daemon.
//!
//! supervisord compares whole groups (`diff_to_active`): a group is added,
//! removed, or changed when anything in it differs. Beneath the group
//! verdict this also says which processes of a changed group differ, so
//! `sluice.update` restarts only those. A process's settings are its whole
//! `ProcessSpec` except where it was written (file and line: moving a
//! section is not a change); an agent's spec carries a digest of its
//! properties file, so an edit of that file is a change too.

use crate::config::{GroupSpec, ProcessSpec};

/// How one process of a changed group differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcChange {
    Added,
    Changed,
    Removed,
}

/// A group present in both configs whose settings differ.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupChange {
    pub name: String,
    /// Only the group's priority differs (no process needs a restart).
    pub priority_changed: bool,
    /// The processes that differ, in the new config's order, removed ones last.
    pub processes: Vec<(String, ProcChange)>,
}

/// The group-level diff, in supervisord's orders: added and changed as the
/// new config lists them, removed as the running daemon does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<GroupChange>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    pub fn changed_names(&self) -> Vec<String> {
        self.changed.iter().map(|c| c.name.clone()).collect()
    }
}

/// Whether two specs would run the same process the same way.
pub fn same_settings(a: &ProcessSpec, b: &ProcessSpec) -> bool {
    let mut a = a.clone();
    a.file = b.file.clone();
    a.line = b.line;
    a == *b
}

/// Compare the running groups with a freshly read config's.
pub fn diff(running: &[GroupSpec], new: &[GroupSpec]) -> Changes {
    let mut changes = Changes::default();
    for group in new {
        let Some(cur) = running.iter().find(|g| g.name == group.name) else {
            changes.added.push(group.name.clone());
            continue;
        };
        let mut processes = Vec::new();
        for p in &group.processes {
            match cur.processes.iter().find(|c| c.name == p.name) {
                None => processes.push((p.name.clone(), ProcChange::Added)),
                Some(c) if !same_settings(c, p) => {
                    processes.push((p.name.clone(), ProcChange::Changed))
                }
                Some(_) => {}
            }
        }
        for c in &cur.processes {
            if !group.processes.iter().any(|p| p.name == c.name) {
                processes.push((c.name.clone(), ProcChange::Removed));
            }
        }
        let priority_changed = cur.priority != group.priority;
        if priority_changed || !processes.is_empty() {
            changes.changed.push(GroupChange {
                name: group.name.clone(),
                priority_changed,
                processes,
            });
        }
    }
    for group in running {
        if !new.iter().any(|g| g.name == group.name) {
            changes.removed.push(group.name.clone());
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, load};

    fn groups(text: &str) -> Vec<GroupSpec> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.conf");
        let head = format!(
            "[supervisord]\nlogfile={d}/l\npidfile={d}/p\nchildlogdir={d}\n",
            d = dir.path().display()
        );
        std::fs::write(&path, head + text).expect("write");
        let loaded = load(&ConfigSource::File(path)).expect("config loads");
        let mut groups = loaded.config.groups;
        // The same logs whatever the temp dir, so two loads compare.
        for g in &mut groups {
            for p in &mut g.processes {
                p.stdout.path = None;
                p.stderr.path = None;
            }
        }
        groups
    }

    #[test]
    fn nothing_changed_even_when_sections_move() {
        let a = groups("[program:a]\ncommand=sleep 1\n[program:b]\ncommand=sleep 2\n");
        let b = groups("\n\n[program:b]\ncommand=sleep 2\n[program:a]\ncommand=sleep 1\n");
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn added_removed_changed_groups() {
        let a = groups("[program:a]\ncommand=sleep 1\n[program:b]\ncommand=sleep 2\n");
        let b = groups("[program:a]\ncommand=sleep 9\n[program:c]\ncommand=sleep 3\n");
        let d = diff(&a, &b);
        assert_eq!(d.added, vec!["c"]);
        assert_eq!(d.removed, vec!["b"]);
        assert_eq!(d.changed_names(), vec!["a"]);
        assert_eq!(
            d.changed[0].processes,
            vec![("a".into(), ProcChange::Changed)]
        );
    }

    #[test]
    fn only_the_changed_member_of_a_group() {
        let base = "[group:g]\nprograms=x,y\n[program:x]\ncommand=sleep 1\n";
        let a = groups(&format!("{base}[program:y]\ncommand=sleep 2\n"));
        let b = groups(&format!(
            "{base}[program:y]\ncommand=sleep 2\nstartsecs=5\n"
        ));
        let d = diff(&a, &b);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].name, "g");
        assert!(!d.changed[0].priority_changed);
        assert_eq!(
            d.changed[0].processes,
            vec![("y".into(), ProcChange::Changed)]
        );
    }

    #[test]
    fn group_priority_alone() {
        let a = groups("[group:g]\nprograms=x\n[program:x]\ncommand=sleep 1\n");
        let b = groups("[group:g]\nprograms=x\npriority=5\n[program:x]\ncommand=sleep 1\n");
        let d = diff(&a, &b);
        assert!(d.changed[0].priority_changed);
        assert!(d.changed[0].processes.is_empty());
    }
}
