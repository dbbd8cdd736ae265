//! No descendant of a program outlives a `kill -9` of the daemon: not a
//! child that ignores its stop signal, not the grandchild of a shell
//! wrapper, not an in-process agent's exec command; and a daemon started
//! after one that was killed (its watchdog too) runs no second copy.

mod common;

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Daemon, alive, kill, wait_for, wait_pid_file};

/// (pid, ppid, pgrp) of every process that is not a zombie.
fn processes() -> Vec<(i32, i32, i32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let rest: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if rest.len() < 3 || rest[0] == "Z" || rest[0] == "X" {
            continue;
        }
        found.push((
            pid,
            rest[1].parse().unwrap_or(0),
            rest[2].parse().unwrap_or(0),
        ));
    }
    found
}

/// The live members of these process groups.
fn members(groups: &HashSet<i32>) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|(_, _, pgrp)| groups.contains(pgrp))
        .map(|(pid, _, _)| pid)
        .collect()
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// The daemon's watchdog: its child running `sluice watchdog`.
fn watchdog_of(daemon: i32) -> i32 {
    let mut found = 0;
    wait_for("the daemon's watchdog", || {
        found = processes()
            .into_iter()
            .find(|&(pid, ppid, _)| ppid == daemon && cmdline(pid).ends_with("watchdog "))
            .map(|(pid, _, _)| pid)
            .unwrap_or(0);
        found > 0
    });
    found
}

const PROGRAMS: &str = "\
[program:stubborn]
command = sh -c 'trap \"\" TERM; echo $$ > {dir}/stubborn.pid; while :; do sleep 1; done'
stopwaitsecs = 2
startsecs = 0

[program:wrapper]
command = sh -c 'sleep 1000 & echo $! > {dir}/grandchild.pid; wait'
startsecs = 0

[agent:flume]
conf_file = {dir}/exec.conf
agent_name = a1
startsecs = 0
";

const EXEC_AGENT: &str = "\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.shell = /bin/sh -c
a1.sources.r1.command = echo $$ > {dir}/exec.pid; trap '' TERM; sleep 1001 & wait
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
";

#[test]
fn kill_9_of_the_daemon_leaves_no_descendant_running() {
    let dir = tempfile::tempdir().unwrap();
    let d_str = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("exec.conf"),
        EXEC_AGENT.replace("{dir}", &d_str),
    )
    .unwrap();
    let mut d = Daemon::start(&PROGRAMS.replace("{dir}", &d_str));
    for name in ["stubborn", "wrapper", "flume"] {
        d.wait_state(name, "RUNNING");
    }
    let stubborn = wait_pid_file(&dir.path().join("stubborn.pid"));
    let grandchild = wait_pid_file(&dir.path().join("grandchild.pid"));
    let exec = wait_pid_file(&dir.path().join("exec.pid"));
    let wrapper = d.child_pid("wrapper");
    let groups: HashSet<i32> = [stubborn, wrapper, exec].into();
    // Each its own group, with something in it beside the leader.
    let before = members(&groups);
    assert!(before.len() >= 5, "{before:?}");
    let watchdog = watchdog_of(d.pid());

    d.signal(libc::SIGKILL);
    d.wait_exit();
    wait_for("every descendant to be gone", || {
        members(&groups).is_empty()
    });
    assert!(!alive(grandchild));
    wait_for("the watchdog to finish", || !alive(watchdog));
    let stderr = std::fs::read_to_string(d.path("daemon.stderr")).unwrap();
    assert!(
        stderr.contains("stubborn (process group") && stderr.contains("sending SIGKILL"),
        "{stderr}"
    );
}

/// A program that notes, through a lock, whether another copy of it runs.
const LOCKED: &str = "\
[program:one]
command = sh -c 'exec 9>>{dir}/one.lock; flock -n 9 || { echo dup >> {dir}/dup; exit 1; }; trap \"\" TERM; echo $$ >> {dir}/starts; sleep 1000 & while :; do sleep 1; done'
stopwaitsecs = 3
startsecs = 0
startretries = 100
";

fn restart_runs_one_copy(kill_watchdog_too: bool) {
    let mut d = Daemon::start(LOCKED);
    d.wait_state("one", "RUNNING");
    let first = d.child_pid("one");
    let group: HashSet<i32> = [first].into();
    // Its start noted and its TERM trap set (`starts` is written after the
    // trap), and its sleep started (not only the short-lived flock).
    let starts =
        |n: usize| std::fs::read_to_string(d.path("starts")).is_ok_and(|s| s.lines().count() == n);
    wait_for("the program's start noted", || starts(1));
    wait_for("the program's sleep", || members(&group).len() >= 2);
    let watchdog = watchdog_of(d.pid());
    if kill_watchdog_too {
        // Stopped first, so that it cannot start another watchdog.
        d.signal(libc::SIGSTOP);
        kill(watchdog, libc::SIGKILL);
    }
    d.signal(libc::SIGKILL);
    d.wait_exit();
    if kill_watchdog_too {
        // Nothing is left to stop it: the record is all the next daemon has.
        assert!(!members(&group).is_empty(), "the old copy still runs");
    }
    d.spawn();
    d.wait_state("one", "RUNNING");
    let second = d.child_pid("one");
    assert_ne!(first, second);
    assert!(members(&group).is_empty(), "the old copy is gone");
    assert!(
        !d.path("dup").exists(),
        "a second copy ran beside the first"
    );
    wait_for("the second copy's start noted", || {
        std::fs::read_to_string(d.path("starts")).is_ok_and(|s| s.lines().count() >= 2)
    });
    let starts = std::fs::read_to_string(d.path("starts")).unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    let log = d.log();
    assert!(
        log.contains(&format!("left one (pid {first}) running")),
        "{log}"
    );
}

#[test]
fn a_daemon_started_after_a_kill_9_waits_for_the_old_copies_to_go() {
    restart_runs_one_copy(false);
}

#[test]
fn a_daemon_started_after_its_predecessor_and_watchdog_were_killed_ends_what_they_left() {
    restart_runs_one_copy(true);
}

#[test]
fn a_recorded_pid_that_another_process_got_since_is_left_alone() {
    // Two process groups of the test's own, recorded as a killed daemon's:
    // one with its real start time (ended at the next start), one with
    // another (a later process that got the pid: left alone).
    let spawn = || {
        Command::new("sleep")
            .arg("1000")
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let mut ours = spawn();
    let mut stranger = spawn();
    let start = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        rest[19].parse().unwrap()
    };
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = format!(
        "daemon 999999999 1 {}\n+ {} {} 15 1000 ours\n+ {} {} 15 1000 stranger\n",
        boot.trim(),
        ours.id(),
        start(ours.id()),
        stranger.id(),
        start(stranger.id()) + 1,
    );
    std::fs::write(dir.path().join("sluice.pid.groups"), record).unwrap();
    let text = common::base_config(dir.path()) + "[program:x]\ncommand = sleep 1003\n";
    std::fs::write(dir.path().join("sluice.conf"), text).unwrap();
    let mut d = Daemon { dir, child: None };
    d.spawn();
    d.wait_state("x", "RUNNING");
    let status = ours.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM)
    );
    assert!(
        alive(stranger.id() as i32),
        "a stranger's process was killed"
    );
    assert!(d.log().contains("left ours (pid"), "{}", d.log());
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn what_a_program_left_in_its_group_goes_when_the_daemon_exits() {
    // The background job outlives its program (only the program gets the
    // stop signal, as stopasgroup=false says), but not the daemon.
    let mut d = Daemon::start(
        "[program:leaver]\n\
         command = sh -c 'sleep 1004 & echo $! > {dir}/bg.pid; exec sleep 1005'\n\
         startsecs = 0\n",
    );
    d.wait_state("leaver", "RUNNING");
    let bg = wait_pid_file(&d.path("bg.pid"));
    d.ctl(&["stop", "leaver"]);
    d.wait_state("leaver", "STOPPED");
    assert!(
        alive(bg),
        "left running by its program, as supervisord leaves it"
    );
    d.signal(libc::SIGTERM);
    d.wait_exit();
    wait_for("the background job to go with the daemon", || !alive(bg));
}

#[test]
fn a_signal_while_a_start_ends_what_a_killed_daemon_left_is_not_fatal() {
    // The next daemon ends the old copy before it spawns anything, which
    // takes the old copy's stopwaitsecs (it ignores SIGTERM). Its log says
    // so at once: a SIGUSR2 (logrotate) or SIGTERM sent then must be taken
    // as at any time, not end the daemon by the signal's default action.
    let mut d = Daemon::start(&LOCKED.replace("stopwaitsecs = 3", "stopwaitsecs = 6"));
    d.wait_state("one", "RUNNING");
    let first = d.child_pid("one");
    let group: HashSet<i32> = [first].into();
    wait_for("the program's start noted", || {
        std::fs::read_to_string(d.path("starts")).is_ok_and(|s| s.lines().count() == 1)
    });
    let watchdog = watchdog_of(d.pid());
    d.signal(libc::SIGSTOP);
    kill(watchdog, libc::SIGKILL);
    d.signal(libc::SIGKILL);
    d.wait_exit();
    std::fs::remove_file(d.path("sluice.log")).unwrap();

    d.spawn();
    wait_for("the new daemon to say it ends the old copy", || {
        d.log().contains(&format!("left one (pid {first}) running"))
    });
    assert!(!members(&group).is_empty(), "the old copy is still there");
    d.signal(libc::SIGUSR2);
    d.signal(libc::SIGTERM);
    let status = d.wait_exit();
    assert!(
        status.success(),
        "the daemon ended with {status:?}:\n{}",
        d.log()
    );
    assert!(members(&group).is_empty(), "the old copy is gone");
    let log = d.log();
    assert!(log.contains("received SIGTERM"), "{log}");
    assert!(!d.path("dup").exists(), "no second copy ran");
    assert!(!d.path("sluice.pid").exists(), "the pidfile is removed");
}
