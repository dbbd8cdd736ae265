//! `sluice ctl` against a STOCK supervisord 4.3 (it only speaks the public
//! API), side by side with the stock supervisorctl against the same daemon:
//! same output, same exit code (pids and times aside). Also the commands
//! this file adds (signal, maintail, clear, fg, the shell) against our own
//! daemon.
//!
//! supervisord and supervisorctl come from the venv scripts/test.sh makes
//! ($SLUICE_SUPERVISORD / $SLUICE_SUPERVISORCTL, else `<repo>/.venv/bin/`).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::compare::{Said, py, rs, said, same, stock, timeless};
use common::stock::Stock as Supervisord;
use common::{Daemon, wait_for};

fn same_timeless(conf: &Path, args: &[&str]) -> Said {
    let theirs = timeless(py(conf, args));
    let ours = timeless(rs(conf, args));
    assert_eq!(ours, theirs, "sluice ctl vs supervisorctl for {args:?}");
    ours
}

/// Usage errors: the help texts are our own words, the first line (the
/// error) and the exit code are supervisorctl's.
fn same_usage_error(conf: &Path, args: &[&str]) {
    let theirs = py(conf, args);
    let ours = rs(conf, args);
    assert_eq!(ours.code, theirs.code, "{args:?}");
    assert_eq!(
        ours.stdout.lines().next(),
        theirs.stdout.lines().next(),
        "{args:?}: {ours:?} vs {theirs:?}"
    );
    assert!(
        ours.stdout.lines().count() >= 2,
        "{args:?}: no help: {ours:?}"
    );
}

/// Every program ignores SIGHUP (trapped before exec), so `signal HUP`
/// leaves them running and both clients see the same states.
const PROGRAMS: &str = "\
[program:alone]
command = sh -c 'trap \"\" HUP; echo out-line; echo err-line >&2; exec sleep 1000'
startsecs = 0

[program:cat]
command = sh -c 'trap \"\" HUP; exec cat'
startsecs = 0

[program:web]
command = sh -c 'trap \"\" HUP; exec sleep 1000'
startsecs = 0

[program:worker]
command = sleep 1000
startsecs = 0
autostart = false

[group:svc]
programs = web,worker
";

/// The stock supervisord running [`PROGRAMS`], once they run.
struct Stock(Supervisord);

impl Stock {
    fn start() -> Stock {
        let s = Stock(Supervisord::start(PROGRAMS));
        let conf = s.conf();
        for name in ["alone", "cat", "svc:web"] {
            wait_for(&format!("{name} to run under supervisord"), || {
                py(&conf, &["status", name]).stdout.contains("RUNNING")
            });
        }
        s
    }

    fn conf(&self) -> PathBuf {
        self.0.conf()
    }

    fn pid(&self) -> u32 {
        self.0.pid()
    }

    fn state(&self, name: &str) -> String {
        let out = py(&self.conf(), &["status", name]).stdout;
        out.split_whitespace().nth(1).unwrap_or("").to_string()
    }

    fn wait_state(&self, name: &str, state: &str) {
        wait_for(&format!("{name} to be {state}"), || {
            self.state(name) == state
        });
    }

    fn child_pid(&self, name: &str) -> i32 {
        py(&self.conf(), &["pid", name])
            .stdout
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

/// A `sluice ctl` run whose stdout is collected as it comes, for the
/// commands that stream (`tail -f`, `maintail -f`, `fg`).
struct Live {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Live {
    fn start(conf: &Path, args: &[&str]) -> Live {
        let mut child = Command::new(common::sluice())
            .args(["ctl", "-c"])
            .arg(conf)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run sluice ctl");
        let mut stdout = child.stdout.take().expect("stdout");
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Live {
            child,
            out,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for_text(&self, what: &str) {
        wait_for(&format!("{what:?} in the output"), || {
            self.text().contains(what)
        });
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.write_all(b"\n").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    fn interrupt(&self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// Wait for the exit; the exit code and the whole output.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.child.stdin.take());
        let mut status = None;
        wait_for("sluice ctl to exit", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status.and_then(|s| s.code()), self.text())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- stock daemon

#[test]
fn stock_status_pid_version_agree() {
    let s = Stock::start();
    let conf = s.conf();
    let all = same_timeless(&conf, &["status"]);
    assert_eq!(all.code, Some(3), "{all:?}");
    assert_eq!(all.stdout.lines().count(), 4, "{all:?}");
    same_timeless(&conf, &["status", "svc:*"]);
    same_timeless(&conf, &["status", "alone", "nosuch"]);

    let pid = same(&conf, &["pid"], || {});
    assert_eq!(pid.stdout.trim(), s.pid().to_string());
    let alone = same(&conf, &["pid", "alone"], || {});
    assert_ne!(alone.stdout.trim(), "0");
    same(&conf, &["pid", "svc:worker"], || {});
    same(&conf, &["pid", "all"], || {});
    same(&conf, &["pid", "nosuch"], || {});

    let version = same(&conf, &["version"], || {});
    assert_eq!(version.stdout, "4.3.0\n");
    same_usage_error(&conf, &["version", "x"]);
}

#[test]
fn stock_start_stop_restart_agree() {
    let s = Stock::start();
    let conf = s.conf();
    let stop_worker = || {
        py(&conf, &["stop", "svc:worker"]);
        s.wait_state("svc:worker", "STOPPED");
    };
    let start_worker = || {
        py(&conf, &["start", "svc:worker"]);
        s.wait_state("svc:worker", "RUNNING");
    };
    let started = same(&conf, &["start", "svc:worker"], stop_worker);
    assert_eq!(started.stdout, "svc:worker: started\n");
    let stopped = same(&conf, &["stop", "svc:worker"], start_worker);
    assert_eq!(stopped.stdout, "svc:worker: stopped\n");
    let group = same(&conf, &["start", "svc:*"], stop_worker);
    assert_eq!(group.stdout, "svc:worker: started\n");
    same(&conf, &["start", "alone"], || {});
    let before = s.child_pid("alone");
    let restarted = same(&conf, &["restart", "alone"], || {});
    assert_eq!(restarted.stdout, "alone: stopped\nalone: started\n");
    assert_ne!(s.child_pid("alone"), before);
    same(&conf, &["start", "nosuch"], || {});
    same(&conf, &["stop", "nog:*"], || {});
    same_usage_error(&conf, &["start"]);
}

#[test]
fn stock_signal_agrees() {
    let s = Stock::start();
    let conf = s.conf();
    let one = same(&conf, &["signal", "HUP", "svc:web"], || {});
    assert_eq!(one.stdout, "svc:web: signalled\n");
    assert_eq!(one.code, Some(0));
    // The stopped member is left out of a group signal.
    let group = same(&conf, &["signal", "HUP", "svc:*"], || {});
    assert_eq!(group.stdout, "svc:web: signalled\n");
    let all = same(&conf, &["signal", "SIGHUP", "all"], || {});
    assert_eq!(all.stdout.lines().count(), 3, "{all:?}");
    let bad = same(&conf, &["signal", "NOPE", "alone"], || {});
    assert_eq!(
        (bad.stdout.as_str(), bad.code),
        ("alone: ERROR (bad signal name)\n", Some(1))
    );
    let stopped = same(&conf, &["signal", "HUP", "svc:worker"], || {});
    assert_eq!(
        (stopped.stdout.as_str(), stopped.code),
        ("svc:worker: ERROR (not running)\n", Some(7))
    );
    same(&conf, &["signal", "HUP", "nosuch", "nog:*"], || {});
    same_usage_error(&conf, &["signal", "HUP"]);
    same_usage_error(&conf, &["signal"]);
    assert_eq!(s.state("svc:web"), "RUNNING", "HUP is ignored");

    // A signal that is not ignored really reaches the process.
    let pid = s.child_pid("svc:web");
    let killed = rs(&conf, &["signal", "KILL", "svc:web"]);
    assert_eq!(killed.stdout, "svc:web: signalled\n");
    wait_for("svc:web to die", || !common::alive(pid));
}

#[test]
fn stock_tail_and_maintail_agree() {
    let s = Stock::start();
    let conf = s.conf();
    let out = same(&conf, &["tail", "alone"], || {});
    assert_eq!(out.stdout, "out-line\n\n");
    let err = same(&conf, &["tail", "alone", "stderr"], || {});
    assert_eq!(err.stdout, "err-line\n\n");
    same(&conf, &["tail", "-4", "alone"], || {});
    same(&conf, &["tail", "nosuch"], || {});

    let main = same(&conf, &["maintail", "-100000"], || {});
    assert!(
        main.stdout
            .contains(&format!("supervisord started with pid {}", s.pid())),
        "{main:?}"
    );
    same(&conf, &["maintail"], || {});
    same(&conf, &["maintail", "-300"], || {});
    same(&conf, &["maintail", "x"], || {});
    same(&conf, &["maintail", "-x"], || {});
    same_usage_error(&conf, &["maintail", "-1", "-2"]);

    // maintail -f streams new lines until Ctrl-C.
    let live = Live::start(&conf, &["maintail", "-f"]);
    live.wait_for_text("==> Press Ctrl-C to exit <==\n");
    live.wait_for_text("supervisord started with pid");
    py(&conf, &["stop", "svc:web"]);
    live.wait_for_text("stopped: web");
    live.interrupt();
    let (code, text) = live.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with('\n'), "{text:?}");

    // tail -f of a process log too.
    let live = Live::start(&conf, &["tail", "-f", "alone", "stderr"]);
    live.wait_for_text("err-line");
    live.interrupt();
    assert_eq!(live.finish().0, Some(0));
}

#[test]
fn stock_clear_agrees_and_empties_the_logs() {
    let s = Stock::start();
    let conf = s.conf();
    wait_for("alone's output in its log", || {
        py(&conf, &["tail", "alone"]).stdout == "out-line\n\n"
    });
    let cleared = rs(&conf, &["clear", "alone"]);
    assert_eq!(
        (cleared.stdout.as_str(), cleared.code),
        ("alone: cleared\n", Some(0))
    );
    assert_eq!(py(&conf, &["tail", "alone"]).stdout, "\n");
    assert_eq!(py(&conf, &["tail", "alone", "stderr"]).stdout, "\n");
    same(&conf, &["clear", "alone"], || {});
    same(&conf, &["clear", "nosuch"], || {});
    let all = same(&conf, &["clear", "all"], || {});
    assert_eq!(all.stdout.lines().count(), 4, "{all:?}");
    same_usage_error(&conf, &["clear"]);
    // Beyond supervisorctl (which sends `svc:*` as a name and prints
    // `svc:None: ERROR (no such process)`): each member is cleared.
    let group = rs(&conf, &["clear", "svc:*", "nog:*"]);
    assert_eq!(
        group.stdout,
        "svc:web: cleared\nsvc:worker: cleared\nnog: ERROR (no such group)\n"
    );
    assert_eq!(group.code, Some(1));
    drop(s);
}

#[test]
fn stock_fg_sends_lines_and_shows_output() {
    let s = Stock::start();
    let conf = s.conf();
    same_usage_error(&conf, &["fg"]);
    same(&conf, &["fg", "a", "b"], || {});
    same(&conf, &["fg", "nosuch"], || {});
    same(&conf, &["fg", "svc:worker"], || {});

    let mut live = Live::start(&conf, &["fg", "cat"]);
    live.wait_for_text("==> Press Ctrl-C to exit <==\n");
    live.type_line("hello from fg");
    // cat echoes it to its stdout log, which fg streams back.
    live.wait_for_text("hello from fg\n");
    live.type_line("second line");
    live.wait_for_text("second line\n");
    let (code, text) = live.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with("Exiting foreground\n"), "{text:?}");
    assert_eq!(s.state("cat"), "RUNNING");

    // Ctrl-C leaves too.
    let live = Live::start(&conf, &["fg", "cat"]);
    live.wait_for_text("==> Press Ctrl-C to exit <==\n");
    live.interrupt();
    let (code, text) = live.finish();
    assert_eq!(code, Some(0));
    assert!(text.ends_with("Exiting foreground\n"), "{text:?}");
}

#[test]
fn stock_shell_on_piped_stdin_agrees() {
    let s = Stock::start();
    let conf = s.conf();
    // shutdown and reload ask first in the shell; "n" keeps the daemon.
    let script = "pid\n\nfoo bar\nstatus svc:*\nshutdown\nn\nreload\nno\nversion\nnosuch\n";
    let run = |program: &Path, pre: &[&str]| {
        let mut child = Command::new(program)
            .args(pre)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the shell");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write script");
        timeless(said(child.wait_with_output().expect("shell output")))
    };
    let theirs = run(&stock("SLUICE_SUPERVISORCTL", "supervisorctl"), &[]);
    let ours = run(Path::new(common::sluice()), &["ctl"]);
    assert_eq!(ours, theirs);
    assert_eq!(ours.code, Some(0));
    assert!(ours.stdout.starts_with("alone "), "status first: {ours:?}");
    assert!(
        ours.stdout
            .contains("supervisor> *** Unknown syntax: foo bar\n"),
        "{ours:?}"
    );
    assert!(ours.stdout.ends_with("supervisor> \n"), "{ours:?}");
    assert!(
        ours.stdout
            .contains("Really shut the remote supervisord process down y/N? supervisor> "),
        "{ours:?}"
    );
}

#[test]
fn stock_help_unknown_topic_and_exit_agree() {
    let s = Stock::start();
    let conf = s.conf();
    same(&conf, &["help", "nosuch"], || {});
    same(&conf, &["help", "EOF"], || {});
    same(&conf, &["exit"], || {});
    same(&conf, &["quit"], || {});
    same(&conf, &["nosuch", "x"], || {});
    let help = rs(&conf, &["help"]);
    assert!(
        help.stdout.starts_with(
            "\ndefault commands (type help <topic>):\n=====================================\n"
        ),
        "{help:?}"
    );
    for cmd in ["clear", "fg", "maintail", "signal", "exit", "quit"] {
        assert!(help.stdout.contains(cmd), "{cmd}: {help:?}");
        let topic = rs(&conf, &["help", cmd]);
        assert!(topic.stdout.starts_with(cmd), "{cmd}: {topic:?}");
    }
}

// ---------------------------------------------------------------- our daemon

fn ours() -> Daemon {
    let d = Daemon::start(PROGRAMS);
    for name in ["alone", "cat", "svc:web"] {
        d.wait_state(name, "RUNNING");
    }
    d
}

#[test]
fn maintail_of_our_daemon() {
    let d = ours();
    let out = d.ctl(&["maintail", "-100000"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.ends_with('\n'));
    assert!(text.contains("alone"), "{text}");
    let short = d.ctl_out(&["maintail", "-10"]);
    assert_eq!(short.len(), 11, "{short:?}");

    let live = Live::start(&d.conf(), &["maintail", "-f"]);
    live.wait_for_text("==> Press Ctrl-C to exit <==\n");
    d.ctl(&["stop", "svc:web"]);
    d.wait_state("svc:web", "STOPPED");
    wait_for("the stop in the streamed main log", || {
        let text = live.text();
        let after = text.split_once("<==\n").map(|x| x.1).unwrap_or("");
        after.contains("web")
    });
    live.interrupt();
    assert_eq!(live.finish().0, Some(0));
}

#[test]
fn shell_on_our_daemon() {
    let d = ours();
    let mut child = Command::new(common::sluice())
        .args(["ctl", "-c"])
        .arg(d.conf())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the shell");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"stop svc:web\n?quit\nstatus svc:web\nquit\npid\n")
        .expect("write");
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0));
    let prompts: Vec<&str> = text.split("supervisor> ").collect();
    assert_eq!(prompts.len(), 5, "{text}");
    assert_eq!(prompts[0].lines().count(), 4, "status first: {text}");
    assert_eq!(prompts[1], "svc:web: stopped\n");
    assert!(prompts[2].starts_with("quit\t"), "{text}");
    assert!(prompts[3].contains("STOPPED"), "{text}");
    assert_eq!(prompts[4], "\n", "quit ends the shell before pid: {text}");
    assert_eq!(d.state("svc:web"), "STOPPED");
}

#[test]
fn signal_on_our_daemon() {
    let d = ours();
    let out = d.ctl(&["signal", "HUP", "svc:web"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "svc:web: signalled\n");
    let pid = d.child_pid("svc:web");
    let out = d.ctl(&["signal", "KILL", "svc:*"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "svc:web: signalled\n");
    wait_for("svc:web to die", || !common::alive(pid));
    let out = d.ctl(&["signal", "HUP", "svc:worker"]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn clear_on_our_daemon() {
    let d = ours();
    wait_for("alone's output", || {
        d.ctl_out(&["tail", "alone"]) == "out-line\n\n"
    });
    assert_eq!(d.ctl_out(&["clear", "alone"]), "alone: cleared\n");
    assert_eq!(d.ctl_out(&["tail", "alone"]), "\n");
    assert_eq!(d.ctl_out(&["clear", "all"]).lines().count(), 4);
}

#[test]
fn fg_on_our_daemon() {
    let d = ours();
    let mut live = Live::start(&d.conf(), &["fg", "cat"]);
    live.wait_for_text("==> Press Ctrl-C to exit <==\n");
    live.type_line("typed into fg");
    live.wait_for_text("typed into fg\n");
    let (code, text) = live.finish();
    assert_eq!(code, Some(0));
    assert!(text.ends_with("Exiting foreground\n"), "{text:?}");
}
