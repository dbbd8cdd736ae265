//! The stock Python `supervisorctl` 4.3 against our daemon, side by side
//! with `sluice ctl`: for each command, in the same state, both must print
//! the same thing and exit with the same code (pids and uptimes aside).
//!
//! supervisorctl comes from the venv scripts/test.sh makes
//! ($SLUICE_SUPERVISORCTL, else `<repo>/.venv/bin/supervisorctl`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::compare::{Said, py, rs, same, stock, timeless};
use common::{Daemon, wait_for};

/// The stock supervisorctl; a missing one is a failure, not a skip.
fn supervisorctl() -> PathBuf {
    stock("SLUICE_SUPERVISORCTL", "supervisorctl")
}

/// As [`same`], pids and times aside.
fn same_timeless(conf: &Path, args: &[&str], reset: impl FnOnce()) -> Said {
    let theirs = timeless(py(conf, args));
    reset();
    let ours = timeless(rs(conf, args));
    assert_eq!(ours, theirs, "sluice ctl vs supervisorctl for {args:?}");
    ours
}

/// A process outside a group, and a group with one running and one
/// stopped program.
const PROGRAMS: &str = "\
[program:alone]
command = sh -c 'echo out-line; echo err-line >&2; exec sleep 1000'
startsecs = 0

[program:web]
command = sleep 1000
startsecs = 0

[program:worker]
command = sleep 1000
startsecs = 0
autostart = false

[group:svc]
programs = web,worker
";

fn daemon() -> Daemon {
    supervisorctl();
    let d = Daemon::start(PROGRAMS);
    d.wait_state("alone", "RUNNING");
    d.wait_state("svc:web", "RUNNING");
    d
}

#[test]
fn status_lines_are_identical() {
    let d = daemon();
    let conf = d.conf();
    let all = same_timeless(&conf, &["status"], || {});
    assert_eq!(all.code, Some(3), "{all:?}");
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{all:?}");
    assert!(lines[0].starts_with("alone    "), "{all:?}");
    assert!(lines[2].contains("STOPPED"), "{all:?}");

    let one = same_timeless(&conf, &["status", "alone"], || {});
    assert_eq!(one.code, Some(0));
    assert!(
        one.stdout.contains("RUNNING   pid #, uptime #:#:#"),
        "{one:?}"
    );
    same_timeless(&conf, &["status", "svc:web"], || {});
    same_timeless(&conf, &["status", "svc:*"], || {});
    same_timeless(&conf, &["status", "alone", "svc:worker"], || {});
    let missing = same(&conf, &["status", "nosuch"], || {});
    assert_ne!(missing.code, Some(0));
}

#[test]
fn start_stop_restart_agree() {
    let d = daemon();
    let conf = d.conf();
    let stop_worker = || {
        d.ctl(&["stop", "svc:worker"]);
        d.wait_state("svc:worker", "STOPPED");
    };
    let start_worker = || {
        d.ctl(&["start", "svc:worker"]);
        d.wait_state("svc:worker", "RUNNING");
    };

    let started = same(&conf, &["start", "svc:worker"], stop_worker);
    assert_eq!(started.stdout, "svc:worker: started\n");
    let stopped = same(&conf, &["stop", "svc:worker"], start_worker);
    assert_eq!(stopped.stdout, "svc:worker: stopped\n");

    // The group: only the stopped member is started.
    let group = same(&conf, &["start", "svc:*"], stop_worker);
    assert_eq!(group.stdout, "svc:worker: started\n");

    let again = same(&conf, &["start", "alone"], || {});
    assert!(again.stdout.contains("already started"), "{again:?}");
    let restarted = same(&conf, &["restart", "alone"], || {});
    assert_eq!(restarted.stdout, "alone: stopped\nalone: started\n");

    same(&conf, &["start", "nosuch"], || {});
    same(&conf, &["stop", "nosuch"], || {});
    same(&conf, &["start"], || {});

    let all = same(&conf, &["stop", "all"], || {
        d.ctl(&["start", "all"]);
        for name in ["alone", "svc:web", "svc:worker"] {
            d.wait_state(name, "RUNNING");
        }
    });
    assert_eq!(all.stdout.lines().count(), 3, "{all:?}");
    let after = same_timeless(&conf, &["status"], || {});
    assert_eq!(after.code, Some(3));
    assert_eq!(after.stdout.matches("STOPPED").count(), 3, "{after:?}");
    same(&conf, &["stop", "svc:web"], || {});
}

#[test]
fn pid_agrees() {
    let d = daemon();
    let conf = d.conf();
    let daemon_pid = same(&conf, &["pid"], || {});
    assert_eq!(daemon_pid.stdout.trim(), d.pid().to_string());
    let alone = same(&conf, &["pid", "alone"], || {});
    assert_eq!(alone.stdout.trim(), d.child_pid("alone").to_string());
    let stopped = same(&conf, &["pid", "svc:worker"], || {});
    assert_eq!(stopped.stdout.trim(), "0");
    same(&conf, &["pid", "all"], || {});
    same(&conf, &["pid", "nosuch"], || {});
}

#[test]
fn tail_agrees() {
    let d = daemon();
    let conf = d.conf();
    wait_for("alone's output in both logs", || {
        d.ctl_out(&["tail", "alone"]).contains("out-line")
            && d.ctl_out(&["tail", "alone", "stderr"]).contains("err-line")
    });
    let out = same(&conf, &["tail", "alone"], || {});
    assert!(out.stdout.contains("out-line"), "{out:?}");
    let err = same(&conf, &["tail", "-100", "alone", "stderr"], || {});
    assert!(err.stdout.contains("err-line"), "{err:?}");
    assert!(!err.stdout.contains("out-line"), "{err:?}");
    same(&conf, &["tail", "-3", "alone"], || {});
    same(&conf, &["tail", "nosuch"], || {});
    same(&conf, &["tail", "svc:worker"], || {});
}

#[test]
fn version_agrees() {
    let d = daemon();
    let v = same(&d.conf(), &["version"], || {});
    assert_eq!(v.code, Some(0));
    assert!(!v.stdout.trim().is_empty());
}

#[test]
fn shutdown_agrees() {
    let mut d = daemon();
    let conf = d.conf();
    let theirs = py(&conf, &["shutdown"]);
    assert!(d.wait_exit().success());
    d.spawn();
    let ours = rs(&conf, &["shutdown"]);
    assert_eq!(ours, theirs);
    assert_eq!(ours.stdout, "Shut down\n");
    assert_eq!(ours.code, Some(0));
    assert!(d.wait_exit().success());
    // Nothing is listening any more: both say so the same way.
    let gone = same(&conf, &["shutdown"], || {});
    assert_eq!(gone.code, Some(1), "{gone:?}");
}

/// A config whose [supervisorctl] points at `sock`.
fn client_conf(dir: &Path, sock: &Path) -> PathBuf {
    let conf = dir.join("client.conf");
    std::fs::write(
        &conf,
        format!(
            "[supervisord]\nlogfile = {d}/x.log\n\n[unix_http_server]\nfile = {s}\n\n\
             [supervisorctl]\nserverurl = unix://{s}\n",
            d = dir.display(),
            s = sock.display()
        ),
    )
    .unwrap();
    conf
}

const NO_DAEMON_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["status", "web"],
    &["start", "web"],
    &["stop", "all"],
    &["restart", "web"],
    &["pid"],
    &["pid", "web"],
    &["tail", "web"],
    &["version"],
    &["shutdown"],
];

#[test]
fn no_socket_file() {
    supervisorctl();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("missing.sock");
    let conf = client_conf(dir.path(), &sock);
    for args in NO_DAEMON_COMMANDS {
        same(&conf, args, || {});
    }
    // What supervisorctl 4.3 says (recorded here; tests/daemon.rs checks
    // sluice's text on its own).
    let status = rs(&conf, &["status"]);
    assert_eq!(
        status.stdout,
        format!("unix://{} no such file\n", sock.display())
    );
    assert_eq!(status.code, Some(4));
    assert_eq!(rs(&conf, &["start", "web"]).code, Some(7));
    let shutdown = rs(&conf, &["shutdown"]);
    assert_eq!(
        shutdown.stdout,
        format!(
            "ERROR: unix://{} no such file (already shut down?)\n",
            sock.display()
        )
    );
    assert_eq!(shutdown.code, Some(1));
}

#[test]
fn socket_file_with_nobody_listening() {
    supervisorctl();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dead.sock");
    // Bound, then closed: the file stays, nothing listens.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let conf = client_conf(dir.path(), &sock);
    for args in NO_DAEMON_COMMANDS {
        same(&conf, args, || {});
    }
    let status = rs(&conf, &["status"]);
    assert_eq!(
        status.stdout,
        format!("unix://{} refused connection\n", sock.display())
    );
    assert_eq!(status.code, Some(4));
}

/// Run a following command (`tail -f ...`) with its stdout in a file until
/// `done` holds for what it printed; then stop it. What it printed.
fn follow(mut cmd: Command, out: &Path, done: impl Fn(&str) -> bool) -> String {
    let mut child = cmd
        .stdout(std::fs::File::create(out).expect("output file"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the follower");
    let mut text = String::new();
    wait_for(
        &format!("{} to show what it follows", out.display()),
        || {
            text = std::fs::read_to_string(out).unwrap_or_default();
            done(&text)
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    text
}

fn py_cmd(conf: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(supervisorctl());
    cmd.arg("-c").arg(conf).args(args);
    cmd
}

fn rs_cmd(conf: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::sluice());
    cmd.args(["ctl", "-c"]).arg(conf).args(args);
    cmd
}

/// The tick numbers a ticker's output shows.
fn ticks(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("tick "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

#[test]
fn tail_f_agrees() {
    let d = Daemon::start(&format!(
        "{PROGRAMS}\n\
         [program:ticker]\n\
         command = sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'\n\
         startsecs = 0\n"
    ));
    supervisorctl();
    let conf = d.conf();
    wait_for("alone's output in its log", || {
        d.ctl_out(&["tail", "alone"]).contains("out-line")
    });
    let header = "==> Press Ctrl-C to exit <==\n";
    // What is already there, stdout and stderr.
    for (args, line) in [
        (&["tail", "-f", "alone"][..], "out-line\n"),
        (&["tail", "-f", "alone", "stderr"][..], "err-line\n"),
    ] {
        let theirs = follow(py_cmd(&conf, args), &d.path("py.out"), |t| t.contains(line));
        let ours = follow(rs_cmd(&conf, args), &d.path("rs.out"), |t| t.contains(line));
        assert_eq!(ours, theirs, "{args:?}");
        assert_eq!(ours, format!("{header}{line}"), "{args:?}");
    }
    // What comes while following: both keep printing new lines.
    let grows = |t: &str| {
        let seen = ticks(t);
        seen.len() >= 3 && seen.first() < seen.last()
    };
    for (who, cmd) in [
        ("supervisorctl", py_cmd(&conf, &["tail", "-f", "ticker"])),
        ("sluice ctl", rs_cmd(&conf, &["tail", "-f", "ticker"])),
    ] {
        let text = follow(cmd, &d.path("ticks.out"), grows);
        assert!(text.starts_with(header), "{who}: {text}");
        let seen = ticks(&text);
        assert!(
            seen.windows(2).all(|w| w[1] == w[0] + 1),
            "{who}: ticks in order, none lost: {seen:?}"
        );
    }
}

#[test]
fn tail_f_of_an_unknown_name_agrees() {
    let d = daemon();
    let said = same(&d.conf(), &["tail", "-f", "nosuch"], || {});
    assert_eq!(said.code, Some(0));
    assert!(
        said.stderr.contains("Cannot read, status code 404"),
        "{said:?}"
    );
}

#[test]
fn a_bad_program_value_does_not_stop_the_client() {
    // supervisorctl reads only what it needs from the file: a program the
    // daemon would refuse does not keep it from talking to the daemon.
    let d = daemon();
    let conf = d.conf();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\n[program:broken]\ncommand = sleep 1000\nstartsecs = soon\n");
    std::fs::write(&conf, text).unwrap();
    let status = same_timeless(&conf, &["status"], || {});
    assert_eq!(status.code, Some(3), "{status:?}");
    assert!(status.stdout.contains("alone "), "{status:?}");
    same(&conf, &["pid", "alone"], || {});
}

#[test]
fn usage_errors_and_bad_names_agree() {
    let d = daemon();
    let conf = d.conf();
    for args in [
        &["tail"][..],
        &["tail", "-x", "alone"],
        &["tail", "alone", "bogus"],
        &["tail", "a", "b", "c", "d"],
        &["status", "svc:"],
        &["status", "ALONE"],
        &["stop", "svc:nosuch"],
        &["stop", "nosuch:*"],
        &["start", "nosuch:*"],
        &["restart"],
        &["stop"],
        &["pid", "svc:nosuch"],
        &["version", "extra"],
        &["bogus"],
    ] {
        // `status svc:` shows uptimes, which may tick between the two runs.
        same_timeless(&conf, args, || {});
    }
}

#[test]
fn group_and_all_commands_agree() {
    let d = daemon();
    let conf = d.conf();
    let all_running = || {
        d.ctl(&["start", "all"]);
        for name in ["alone", "svc:web", "svc:worker"] {
            d.wait_state(name, "RUNNING");
        }
    };
    let all_stopped = || {
        d.ctl(&["stop", "all"]);
        for name in ["alone", "svc:web", "svc:worker"] {
            d.wait_state(name, "STOPPED");
        }
    };
    all_running();
    let stopped = same(&conf, &["stop", "svc:*"], || {
        d.ctl(&["start", "svc:*"]);
        d.wait_state("svc:web", "RUNNING");
        d.wait_state("svc:worker", "RUNNING");
    });
    assert_eq!(stopped.stdout.lines().count(), 2, "{stopped:?}");
    d.ctl(&["start", "svc:*"]);
    d.wait_state("svc:worker", "RUNNING");
    let restarted = same(&conf, &["restart", "svc:*"], || {});
    assert_eq!(restarted.stdout.lines().count(), 4, "{restarted:?}");
    all_stopped();
    let started = same(&conf, &["start", "all"], all_stopped);
    assert_eq!(started.stdout.lines().count(), 3, "{started:?}");
    let restarted = same(&conf, &["restart", "all"], || {});
    assert_eq!(restarted.stdout.lines().count(), 6, "{restarted:?}");
    same_timeless(&conf, &["status", "svc:*"], || {});
}
