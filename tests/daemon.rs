//! The daemon process itself: it reaps orphans (child subreaper), takes its
//! children down when killed, survives its own stale socket and pidfile,
//! shuts down cleanly on TERM/INT/QUIT, reloads on HUP, refuses a second
//! copy on the same socket, and detaches only when asked.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Daemon, alive, base_config, sluice, wait_for};

/// (pid, state letter, ppid) of every process in /proc.
fn processes() -> Vec<(i32, char, i32)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": the fields after the last ')'.
        let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        found.push((pid, state, ppid));
    }
    found
}

fn children_of(parent: i32) -> Vec<(i32, char)> {
    processes()
        .into_iter()
        .filter(|&(_, _, ppid)| ppid == parent)
        .map(|(pid, state, _)| (pid, state))
        .collect()
}

fn zombies_of(parent: i32) -> Vec<i32> {
    children_of(parent)
        .into_iter()
        .filter(|&(_, state)| state == 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

fn cmdline_of(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// The daemon's children but its watchdog (`sluice watchdog`).
fn program_children(daemon: i32) -> Vec<i32> {
    children_of(daemon)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !cmdline_of(*p).ends_with("watchdog "))
        .collect()
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Wait for `child` to exit; its status.
fn wait_child(child: &mut Child) -> std::process::ExitStatus {
    let mut status = None;
    wait_for("the command to exit", || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status.expect("exit status")
}

/// A background daemon found through its pidfile: TERM (then KILL) on drop.
struct Detached(PathBuf);

impl Drop for Detached {
    fn drop(&mut self) {
        let Some(pid) = read_pid(&self.0) else {
            return;
        };
        // SAFETY: signalling the daemon this test started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let start = std::time::Instant::now();
        while alive(pid) && start.elapsed() < common::DEADLINE {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if alive(pid) {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    let d = Daemon::start(
        "[program:doublefork]\n\
         command = /bin/sh {dir}/doublefork.sh {dir}\n\
         autostart = false\n\
         startsecs = 0\n\
         \n\
         [program:orphan]\n\
         command = /bin/sh {dir}/orphan.sh {dir}\n\
         autostart = false\n\
         autorestart = false\n\
         startsecs = 0\n",
    );
    // The grandchild's parent (a subshell) exits at once; the grandchild
    // writes its pid and exits too.
    std::fs::write(
        d.path("doublefork.sh"),
        "( sh -c 'echo $$ > \"$1/grandchild.tmp\"; mv \"$1/grandchild.tmp\" \"$1/grandchild.pid\"' x \"$1\" & )\n\
         exec sleep 1000\n",
    )
    .unwrap();
    // The child exits at once, leaving a grandchild that waits until it has
    // been adopted (its parent's pid is passed in: by the time it reads
    // $PPID it may already have been adopted), records its new parent and
    // exits.
    std::fs::write(
        d.path("orphan.sh"),
        "sh -c 'p=$2\n\
         while [ \"$(cut -d\" \" -f4 /proc/$$/stat)\" = \"$p\" ]; do sleep 0.05; done\n\
         cut -d\" \" -f4 /proc/$$/stat > \"$1/orphan.ppid\"\n\
         echo $$ > \"$1/orphan.tmp\"; mv \"$1/orphan.tmp\" \"$1/orphan.pid\"' x \"$1\" $$ &\n\
         exit 0\n",
    )
    .unwrap();

    let daemon = d.pid();
    d.ctl(&["start", "doublefork"]);
    d.wait_state("doublefork", "RUNNING");
    d.ctl(&["start", "orphan"]);
    d.wait_state("orphan", "EXITED");

    let mut grandchildren = Vec::new();
    for file in ["grandchild.pid", "orphan.pid"] {
        let path = d.path(file);
        wait_for(&format!("{file} to be written"), || path.exists());
        grandchildren.push(read_pid(&path).expect("a pid"));
    }
    // The orphan was adopted by the daemon (a child subreaper), not init.
    assert_eq!(
        read_pid(&d.path("orphan.ppid")),
        Some(daemon),
        "the orphan's new parent"
    );
    for pid in grandchildren {
        wait_for(&format!("grandchild {pid} to be reaped"), || {
            !Path::new(&format!("/proc/{pid}")).exists()
        });
    }
    wait_for("no zombie children of the daemon", || {
        zombies_of(daemon).is_empty()
    });
    // The daemon itself is fine.
    assert_eq!(d.state("doublefork"), "RUNNING");
}

const SLEEPERS: &str = "\
[program:a]
command = sleep 1000
startsecs = 0

[program:b]
command = sleep 1001
startsecs = 0

[program:c]
command = sleep 1002
startsecs = 0
";

fn running_pids(d: &Daemon) -> Vec<i32> {
    ["a", "b", "c"]
        .iter()
        .map(|name| {
            d.wait_state(name, "RUNNING");
            let pid = d.child_pid(name);
            assert!(pid > 0 && alive(pid), "{name} has a live pid");
            pid
        })
        .collect()
}

#[test]
fn kill_9_takes_the_children_down_and_a_restart_runs_one_copy() {
    let mut d = Daemon::start(SLEEPERS);
    let first = running_pids(&d);
    d.signal(libc::SIGKILL);
    let status = d.wait_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    for pid in &first {
        wait_for(&format!("child {pid} to die with the daemon"), || {
            !alive(*pid)
        });
    }
    // What a killed daemon leaves behind.
    assert!(d.path("sluice.sock").exists(), "stale socket file");
    assert!(d.path("sluice.pid").exists(), "stale pidfile");
    let stale = d.ctl(&["status"]);
    assert_eq!(
        String::from_utf8_lossy(&stale.stdout),
        format!(
            "unix://{} refused connection\n",
            d.path("sluice.sock").display()
        )
    );
    assert_eq!(stale.status.code(), Some(4));

    d.spawn();
    let second = running_pids(&d);
    assert!(second.iter().all(|p| !first.contains(p)), "fresh children");
    assert_eq!(read_pid(&d.path("sluice.pid")), Some(d.pid()));
    // Exactly one copy of each program: the daemon's only children are
    // those three...
    let mut kids = program_children(d.pid());
    kids.sort();
    let mut want = second.clone();
    want.sort();
    assert_eq!(kids, want);
    // ... one per program, and none of the old ones came back.
    let mut cmdlines: Vec<String> = kids
        .iter()
        .map(|pid| cmdline_of(*pid).trim_start_matches("/usr/bin/").to_string())
        .collect();
    cmdlines.sort();
    assert_eq!(cmdlines, ["sleep 1000 ", "sleep 1001 ", "sleep 1002 "]);
    assert!(first.iter().all(|p| !alive(*p)));
}

fn shuts_down_on(sig: i32) {
    let mut d = Daemon::start(SLEEPERS);
    let pids = running_pids(&d);
    assert!(d.path("sluice.sock").exists());
    assert!(d.path("sluice.pid").exists());
    d.signal(sig);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status after signal {sig}");
    for pid in pids {
        assert!(!alive(pid), "child {pid} stopped before the daemon exited");
    }
    // As supervisord's cleanup: the socket file and the pidfile are removed.
    assert!(!d.path("sluice.sock").exists(), "socket file removed");
    assert!(!d.path("sluice.pid").exists(), "pidfile removed");
    // Nothing of the programs is left, so neither is their record.
    assert!(
        !d.path("sluice.pid.groups").exists(),
        "groups record removed"
    );
    let log = d.log();
    for name in ["a", "b", "c"] {
        assert!(log.contains(&format!("stopped: {name}")), "{log}");
    }
}

#[test]
fn term_shuts_down() {
    shuts_down_on(libc::SIGTERM);
}

#[test]
fn int_shuts_down() {
    shuts_down_on(libc::SIGINT);
}

#[test]
fn quit_shuts_down() {
    shuts_down_on(libc::SIGQUIT);
}

#[test]
fn hup_reloads_the_config() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING");
    let daemon = d.pid();
    let mut conf = std::fs::read_to_string(d.conf()).unwrap();
    conf.push_str("\n[program:added]\ncommand = sleep 1000\nstartsecs = 0\n");
    std::fs::write(d.conf(), conf).unwrap();
    assert!(!d.ctl_out(&["status"]).contains("added"));
    d.signal(libc::SIGHUP);
    wait_for("the new program in status", || {
        d.ctl_out(&["status"]).contains("added ")
    });
    d.wait_state("added", "RUNNING");
    d.wait_state("a", "RUNNING");
    // The same daemon process, with its pidfile.
    assert!(alive(daemon));
    assert_eq!(read_pid(&d.path("sluice.pid")), Some(daemon));
}

#[test]
fn hup_with_a_broken_config_keeps_the_old_one() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING");
    let daemon = d.pid();
    let mut conf = std::fs::read_to_string(d.conf()).unwrap();
    conf.push_str("\n[program:broken]\ncommand = sleep 1000\nstartsecs = soon\n");
    std::fs::write(d.conf(), conf).unwrap();
    d.signal(libc::SIGHUP);
    wait_for("the reload error in the daemon's log", || {
        d.log().contains("keeping the previous one")
    });
    // The error names the file, the line and the key.
    let err = std::fs::read_to_string(d.path("daemon.stderr")).unwrap();
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{}:", d.conf().display())) && l.contains("startsecs")),
        "{err}"
    );
    d.wait_state("a", "RUNNING");
    assert!(!d.ctl_out(&["status"]).contains("broken"));
    assert!(alive(daemon));
    assert_eq!(read_pid(&d.path("sluice.pid")), Some(daemon));
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING");
    let pid_a = d.child_pid("a");
    let mut second = Command::new(sluice())
        .args(["daemon", "-c"])
        .arg(d.conf())
        .current_dir(d.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(d.path("second.stderr")).unwrap(),
        ))
        .spawn()
        .expect("start a second daemon");
    let status = wait_child(&mut second);
    assert_ne!(status.code(), Some(0), "the second daemon must fail");
    let err = std::fs::read_to_string(d.path("second.stderr")).unwrap();
    assert!(err.contains("already listening"), "{err}");
    assert!(
        err.contains(&d.path("sluice.sock").display().to_string()),
        "{err}"
    );

    // The first one is untouched: same process, socket, pidfile, children.
    assert!(alive(d.pid()));
    assert_eq!(read_pid(&d.path("sluice.pid")), Some(d.pid()));
    assert_eq!(d.state("a"), "RUNNING");
    assert_eq!(d.child_pid("a"), pid_a);
    // Only one `a` runs (beside the watchdog).
    assert_eq!(program_children(d.pid()), [pid_a]);
}

/// A temp dir with the test header (plus `supervisord_extra` in the
/// [supervisord] section) and one program.
fn detached_setup(supervisord_extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = base_config(dir.path()).replacen(
        "[supervisord]\n",
        &format!("[supervisord]\n{supervisord_extra}"),
        1,
    ) + "[program:a]\ncommand = sleep 1000\nstartsecs = 0\n";
    let conf = dir.path().join("sluice.conf");
    std::fs::write(&conf, text).unwrap();
    (dir, conf)
}

fn ctl(conf: &Path, args: &[&str]) -> std::process::Output {
    Command::new(sluice())
        .args(["ctl", "-c"])
        .arg(conf)
        .args(args)
        .output()
        .expect("run ctl")
}

/// Run `sluice daemon -c conf extra...`; it must return by itself, leaving
/// the daemon running in the background.
fn check_detaches(dir: &Path, conf: &Path, extra: &[&str]) {
    let pidfile = dir.join("sluice.pid");
    let _guard = Detached(pidfile.clone());
    let mut cmd = Command::new(sluice())
        .args(["daemon", "-c"])
        .arg(conf)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let foreground = cmd.id() as i32;
    let status = wait_child(&mut cmd);
    assert_eq!(status.code(), Some(0), "the command returns 0");
    wait_for("the background daemon's pidfile", || {
        read_pid(&pidfile).is_some_and(alive)
    });
    let daemon = read_pid(&pidfile).unwrap();
    assert_ne!(daemon, foreground);
    wait_for("the background daemon to run a", || {
        String::from_utf8_lossy(&ctl(conf, &["status", "a"]).stdout).contains("RUNNING")
    });
    let out = ctl(conf, &["pid"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        daemon.to_string()
    );
    // Shut it down through the socket; the pidfile goes with it.
    assert_eq!(ctl(conf, &["shutdown"]).status.code(), Some(0));
    wait_for("the background daemon to exit", || !alive(daemon));
    assert!(!pidfile.exists());
}

#[test]
fn daemonize_flag_detaches() {
    let (dir, conf) = detached_setup("");
    check_detaches(dir.path(), &conf, &["--daemonize"]);
}

#[test]
fn nodaemon_false_in_the_file_detaches() {
    let (dir, conf) = detached_setup("nodaemon = false\n");
    check_detaches(dir.path(), &conf, &[]);
}

#[test]
fn dash_n_stays_in_the_foreground() {
    let (dir, conf) = detached_setup("nodaemon = false\n");
    let mut child = Command::new(sluice())
        .args(["daemon", "-n", "-c"])
        .arg(&conf)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let d = Daemon { dir, child: None };
    wait_for("the daemon to answer", || {
        ctl(&conf, &["status", "a"]).status.code() == Some(0)
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "still in the foreground"
    );
    assert_eq!(read_pid(&d.path("sluice.pid")), Some(child.id() as i32));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert_eq!(wait_child(&mut child).code(), Some(0));
}

#[test]
fn ctl_status_without_a_daemon() {
    let (dir, conf) = detached_setup("");
    let sock = dir.path().join("sluice.sock");
    assert!(!sock.exists());
    let out = ctl(&conf, &["status"]);
    // As supervisorctl 4.3 (see tests/supervisorctl.rs).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("unix://{} no such file\n", sock.display())
    );
    assert_eq!(out.status.code(), Some(4));
}
