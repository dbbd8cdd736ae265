//! Config changes applied to a running daemon: `reread`, `update`, `add`,
//! `remove`, `reload` and SIGHUP, through the real daemon, with `sluice ctl`
//! (which restarts only the processes whose own settings changed) and with
//! the stock supervisorctl 4.3 (which restarts whole changed groups).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Daemon, base_config, wait_for};

/// Rewrite the daemon's config: the base header and `programs`.
fn rewrite(d: &Daemon, programs: &str) -> String {
    let text =
        base_config(d.dir.path()) + &programs.replace("{dir}", &d.dir.path().display().to_string());
    std::fs::write(d.conf(), &text).expect("write config");
    text
}

/// stdout lines and exit code of `sluice ctl args`.
fn ctl(d: &Daemon, args: &[&str]) -> (Vec<String>, Option<i32>) {
    let out = d.ctl(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        text.lines().map(str::to_string).collect(),
        out.status.code(),
    )
}

/// The stock supervisorctl (see tests/supervisorctl.rs); missing is a failure.
fn supervisorctl() -> PathBuf {
    let path = match std::env::var_os("SLUICE_SUPERVISORCTL") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/supervisorctl"),
    };
    assert!(
        path.exists(),
        "the stock supervisorctl is not at {}: run scripts/test.sh",
        path.display()
    );
    path
}

/// stdout lines and exit code of the stock `supervisorctl -c CONF args`.
fn py(d: &Daemon, args: &[&str]) -> (Vec<String>, Option<i32>) {
    let out = Command::new(supervisorctl())
        .arg("-c")
        .arg(d.conf())
        .args(args)
        .output()
        .expect("run supervisorctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        text.lines().map(str::to_string).collect(),
        out.status.code(),
    )
}

fn strs(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

/// The names `status` lists.
fn listed(d: &Daemon) -> Vec<String> {
    d.ctl_out(&["status"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Wait until `name` runs with a pid other than `old`; that pid.
fn wait_new_pid(d: &Daemon, name: &str, old: i32) -> i32 {
    let mut pid = 0;
    wait_for(&format!("{name} to run again with a new pid"), || {
        pid = d.child_pid(name);
        pid > 0 && pid != old && d.state(name) == "RUNNING"
    });
    pid
}

const TWO_IN_A_GROUP: &str = "[group:g]\nprograms=b,c\n\
     [program:b]\ncommand=sleep 1001\nstartsecs=0\n\
     [program:c]\ncommand=sleep 1002\nstartsecs=0\n";
const SOLO: &str = "[program:a]\ncommand=sleep 1000\nstartsecs=0\n";

#[test]
fn added_program_is_available_then_started_by_update() {
    let d = Daemon::start(SOLO);
    d.wait_state("a", "RUNNING");
    let a = d.child_pid("a");
    assert_eq!(
        ctl(&d, &["reread"]),
        (strs(&["No config updates to processes"]), Some(0))
    );
    rewrite(
        &d,
        &format!("{SOLO}[program:n]\ncommand=sleep 1003\nstartsecs=0\n"),
    );
    assert_eq!(ctl(&d, &["reread"]), (strs(&["n: available"]), Some(0)));
    // reread alone changes nothing that runs.
    assert_eq!(listed(&d), strs(&["a"]));
    assert_eq!(
        ctl(&d, &["update"]),
        (strs(&["n: added process group"]), Some(0))
    );
    d.wait_state("n", "RUNNING");
    assert_eq!(d.child_pid("a"), a);
    assert_eq!(
        ctl(&d, &["update"]),
        (Vec::<String>::new(), Some(0)),
        "a second update has nothing to do"
    );
}

#[test]
fn a_changed_program_restarts_alone_its_group_mate_keeps_its_pid() {
    let d = Daemon::start(&format!("{SOLO}{TWO_IN_A_GROUP}"));
    for n in ["a", "g:b", "g:c"] {
        d.wait_state(n, "RUNNING");
    }
    let (a, b, c) = (d.child_pid("a"), d.child_pid("g:b"), d.child_pid("g:c"));
    rewrite(
        &d,
        &format!(
            "{SOLO}{}",
            TWO_IN_A_GROUP.replace("sleep 1002", "sleep 1012")
        ),
    );
    assert_eq!(ctl(&d, &["reread"]), (strs(&["g: changed"]), Some(0)));
    assert_eq!(
        ctl(&d, &["update"]),
        (strs(&["g:c: stopped", "g: updated process group"]), Some(0))
    );
    let c2 = wait_new_pid(&d, "g:c", c);
    assert!(!common::alive(c), "the old g:c is gone");
    let cmdline = std::fs::read_to_string(format!("/proc/{c2}/cmdline")).unwrap_or_default();
    assert!(
        cmdline.contains("1012"),
        "the new command runs: {cmdline:?}"
    );
    assert_eq!(d.child_pid("g:b"), b, "g:b kept running");
    assert_eq!(d.child_pid("a"), a, "a kept running");
    assert!(common::alive(b));
}

#[test]
fn a_removed_program_disappears_is_stopped_and_removed() {
    let d = Daemon::start(&format!("{SOLO}{TWO_IN_A_GROUP}"));
    d.wait_state("a", "RUNNING");
    d.wait_state("g:b", "RUNNING");
    let a = d.child_pid("a");
    let b = d.child_pid("g:b");
    // a goes, and c leaves g.
    rewrite(
        &d,
        "[group:g]\nprograms=b\n[program:b]\ncommand=sleep 1001\nstartsecs=0\n",
    );
    assert_eq!(
        ctl(&d, &["reread"]),
        (strs(&["a: disappeared", "g: changed"]), Some(0))
    );
    assert_eq!(
        ctl(&d, &["update"]),
        (
            strs(&[
                "a: stopped",
                "a: removed process group",
                "g:c: stopped",
                "g: updated process group"
            ]),
            Some(0)
        )
    );
    wait_for("a to end", || !common::alive(a));
    assert_eq!(listed(&d), strs(&["g:b"]));
    assert_eq!(d.child_pid("g:b"), b);
    // The daemon still knows which record b's pid belongs to: its crash is
    // seen and it is restarted (autorestart=unexpected).
    // SAFETY: kill(2) on a child of the daemon under test.
    unsafe {
        libc::kill(b, libc::SIGKILL);
    }
    wait_new_pid(&d, "g:b", b);
}

#[test]
fn update_of_named_groups_only() {
    let d = Daemon::start(SOLO);
    d.wait_state("a", "RUNNING");
    rewrite(
        &d,
        "[program:a]\ncommand=sleep 1010\nstartsecs=0\n\
         [program:n]\ncommand=sleep 1003\nstartsecs=0\n",
    );
    let a = d.child_pid("a");
    assert_eq!(
        ctl(&d, &["update", "n", "zz"]),
        (
            strs(&["ERROR: no such group: zz", "n: added process group"]),
            Some(1)
        )
    );
    assert_eq!(d.child_pid("a"), a, "a was not named");
    assert_eq!(
        ctl(&d, &["update", "all"]),
        (strs(&["a: stopped", "a: updated process group"]), Some(0))
    );
    wait_new_pid(&d, "a", a);
}

#[test]
fn a_broken_config_changes_nothing_and_names_file_and_line() {
    let d = Daemon::start(&format!("{SOLO}{TWO_IN_A_GROUP}"));
    for n in ["a", "g:b", "g:c"] {
        d.wait_state(n, "RUNNING");
    }
    let pids: Vec<i32> = ["a", "g:b", "g:c"].iter().map(|n| d.child_pid(n)).collect();
    let text = rewrite(
        &d,
        &format!("[program:n]\ncommand=sleep 5\nstartsecs=abc\n{TWO_IN_A_GROUP}"),
    );
    let line = text
        .lines()
        .position(|l| l == "startsecs=abc")
        .expect("the bad line")
        + 1;
    let place = format!("{}:{line}:", d.conf().display());
    for cmd in ["reread", "update"] {
        let (out, code) = ctl(&d, &[cmd]);
        assert_eq!(code, Some(1), "{cmd}: {out:?}");
        assert_eq!(out.len(), 1, "{cmd}: {out:?}");
        assert!(
            out[0].starts_with("ERROR: CANT_REREAD: ") && out[0].contains(&place),
            "{cmd}: {out:?} names {place}"
        );
    }
    // The stock client prints the same ERROR line for reread.
    let (out, code) = py(&d, &["reread"]);
    assert_eq!(code, Some(1));
    assert!(out[0].contains(&place), "{out:?}");
    let now: Vec<i32> = ["a", "g:b", "g:c"].iter().map(|n| d.child_pid(n)).collect();
    assert_eq!(now, pids);
    assert_eq!(listed(&d), strs(&["a", "g:b", "g:c"]));
    // And `add` still only knows the last config that loaded.
    assert_eq!(
        ctl(&d, &["add", "n"]),
        (strs(&["ERROR: no such process/group: n"]), Some(1))
    );
}

const AGENT_PROPS: &str = "a1.sources = r1\n\
     a1.channels = c1\n\
     a1.sinks = k1\n\
     a1.sources.r1.type = seq\n\
     a1.sources.r1.totalEvents = 1\n\
     a1.sources.r1.channels = c1\n\
     a1.channels.c1.type = memory\n\
     a1.sinks.k1.type = null\n\
     a1.sinks.k1.channel = c1\n";

#[test]
fn an_edited_agent_properties_file_restarts_that_agent() {
    let programs = "[agent:flow]\n\
         conf_file = {dir}/flow.properties\n\
         agent_name = a1\n\
         isolation = process\n\
         startsecs = 0\n\
         [program:a]\ncommand=sleep 1000\nstartsecs=0\n";
    let d = {
        // The properties file lives in the daemon's temp dir: start empty,
        // then add the agent.
        let d = Daemon::start("");
        std::fs::write(d.path("flow.properties"), AGENT_PROPS).expect("write props");
        rewrite(&d, programs);
        assert_eq!(
            ctl(&d, &["update"]),
            (
                strs(&["a: added process group", "flow: added process group"]),
                Some(0)
            )
        );
        d
    };
    d.wait_state("flow", "RUNNING");
    d.wait_state("a", "RUNNING");
    let (flow, a) = (d.child_pid("flow"), d.child_pid("a"));
    assert_eq!(
        ctl(&d, &["reread"]),
        (strs(&["No config updates to processes"]), Some(0))
    );
    std::fs::write(
        d.path("flow.properties"),
        AGENT_PROPS.replace("totalEvents = 1", "totalEvents = 2"),
    )
    .expect("edit props");
    assert_eq!(ctl(&d, &["reread"]), (strs(&["flow: changed"]), Some(0)));
    assert_eq!(
        ctl(&d, &["update"]),
        (
            strs(&["flow: stopped", "flow: updated process group"]),
            Some(0)
        )
    );
    wait_new_pid(&d, "flow", flow);
    assert_eq!(d.child_pid("a"), a);
}

#[test]
fn sighup_and_reload_reread_everything() {
    let mut d = Daemon::start(SOLO);
    d.wait_state("a", "RUNNING");
    let daemon = d.pid();
    let a = d.child_pid("a");
    rewrite(
        &d,
        &format!("{SOLO}[program:n]\ncommand=sleep 1003\nstartsecs=0\n"),
    );
    d.signal(libc::SIGHUP);
    wait_for("n to run after SIGHUP", || d.state("n") == "RUNNING");
    // supervisord's restart: every process is stopped and started again.
    let a2 = wait_new_pid(&d, "a", a);
    assert_eq!(d.pid(), daemon);

    // A broken config on HUP: the error with file:line in the log, the
    // previous config runs on.
    let text = rewrite(
        &d,
        &format!("{SOLO}[program:bad]\ncommand=sleep 1\nstartsecs=x\n"),
    );
    let line = text.lines().position(|l| l == "startsecs=x").expect("line") + 1;
    let place = format!("{}:{line}:", d.conf().display());
    d.signal(libc::SIGHUP);
    wait_for("the error in the daemon log", || {
        d.log().contains(&place) && d.log().contains("keeping the previous one")
    });
    let a3 = wait_new_pid(&d, "a", a2);
    d.wait_state("n", "RUNNING");

    // `ctl reload` (no question asked in one-shot mode).
    rewrite(&d, SOLO);
    assert_eq!(
        ctl(&d, &["reload"]),
        (strs(&["Restarted supervisord"]), Some(0))
    );
    wait_for("n gone after reload", || listed(&d) == strs(&["a"]));
    wait_new_pid(&d, "a", a3);
    assert_eq!(d.pid(), daemon);
    assert_eq!(
        ctl(&d, &["reload", "now"]),
        (
            strs(&[
                "Error: reload accepts no arguments",
                "reload \t\tRestart the remote supervisord."
            ]),
            Some(1)
        )
    );
    d.ctl(&["shutdown"]);
    assert!(d.wait_exit().success());
}

#[test]
fn stock_supervisorctl_reread_update_add_remove() {
    let d = Daemon::start(&format!("{SOLO}{TWO_IN_A_GROUP}"));
    for n in ["a", "g:b", "g:c"] {
        d.wait_state(n, "RUNNING");
    }
    let (a, b, c) = (d.child_pid("a"), d.child_pid("g:b"), d.child_pid("g:c"));
    assert_eq!(
        py(&d, &["reread"]),
        (strs(&["No config updates to processes"]), Some(0))
    );
    // Add n, change g:c, drop a.
    rewrite(
        &d,
        &format!(
            "{}[program:n]\ncommand=sleep 1003\nstartsecs=0\n",
            TWO_IN_A_GROUP.replace("sleep 1002", "sleep 1012")
        ),
    );
    assert_eq!(
        py(&d, &["reread"]),
        (
            strs(&["a: disappeared", "g: changed", "n: available"]),
            Some(0)
        )
    );
    assert_eq!(
        py(&d, &["update"]),
        (
            strs(&[
                "a: stopped",
                "a: removed process group",
                "g: stopped",
                "g: updated process group",
                "n: added process group"
            ]),
            Some(0)
        )
    );
    wait_for("a to end", || !common::alive(a));
    // The stock client's flow restarts the whole changed group.
    wait_new_pid(&d, "g:b", b);
    wait_new_pid(&d, "g:c", c);
    d.wait_state("n", "RUNNING");
    assert_eq!(listed(&d), strs(&["g:b", "g:c", "n"]));

    // remove / add one by one.
    assert_eq!(
        py(&d, &["remove", "n"]),
        (strs(&["ERROR: process/group still running: n"]), Some(1))
    );
    assert_eq!(py(&d, &["stop", "n"]).1, Some(0));
    assert_eq!(
        py(&d, &["remove", "n"]),
        (strs(&["n: removed process group"]), Some(0))
    );
    assert_eq!(listed(&d), strs(&["g:b", "g:c"]));
    assert_eq!(
        py(&d, &["remove", "n"]),
        (strs(&["ERROR: no such process/group: n"]), Some(1))
    );
    assert_eq!(
        py(&d, &["add", "n"]),
        (strs(&["n: added process group"]), Some(0))
    );
    d.wait_state("n", "RUNNING");
    assert_eq!(
        py(&d, &["add", "n"]),
        (strs(&["ERROR: process group already active"]), Some(0))
    );
    assert_eq!(
        py(&d, &["add", "zz"]),
        (strs(&["ERROR: no such process/group: zz"]), Some(1))
    );
    // sluice ctl says the same for these.
    assert_eq!(
        ctl(&d, &["add", "n"]),
        (strs(&["ERROR: process group already active"]), Some(0))
    );
    assert_eq!(
        ctl(&d, &["remove", "zz"]),
        (strs(&["ERROR: no such process/group: zz"]), Some(1))
    );
}

/// The stock supervisord from the same venv, in the foreground in a temp dir.
struct StockSupervisord {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl StockSupervisord {
    fn start(programs: &str) -> StockSupervisord {
        let dir = tempfile::tempdir().expect("tempdir");
        StockSupervisord::rewrite_in(dir.path(), programs);
        let exe = supervisorctl().with_file_name("supervisord");
        let child = Command::new(exe)
            .arg("-n")
            .arg("-c")
            .arg(dir.path().join("s.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the stock supervisord");
        let me = StockSupervisord { dir, child };
        wait_for("the stock supervisord to answer", || {
            me.run(supervisorctl(), &["pid"]).1 == Some(0)
        });
        me
    }

    fn rewrite_in(dir: &Path, programs: &str) -> String {
        let d = dir.display();
        let text = format!(
            "[supervisord]\nlogfile={d}/d.log\npidfile={d}/d.pid\nchildlogdir={d}\n\
             [unix_http_server]\nfile={d}/s.sock\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\nserverurl=unix://{d}/s.sock\n{programs}"
        );
        std::fs::write(dir.join("s.conf"), &text).expect("write config");
        text
    }

    fn rewrite(&self, programs: &str) {
        StockSupervisord::rewrite_in(self.dir.path(), programs);
    }

    fn run(&self, exe: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (Vec<String>, Option<i32>) {
        let mut cmd = Command::new(exe);
        if cmd.get_program() == common::sluice() {
            cmd.arg("ctl");
        }
        let out = cmd
            .arg("-c")
            .arg(self.dir.path().join("s.conf"))
            .args(args)
            .output()
            .expect("run a client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            text.lines().map(str::to_string).collect(),
            out.status.code(),
        )
    }

    /// `sluice ctl` and the stock supervisorctl on the same command.
    fn both(&self, args: &[&str]) -> [(Vec<String>, Option<i32>); 2] {
        [
            self.run(common::sluice(), args),
            self.run(supervisorctl(), args),
        ]
    }
}

impl Drop for StockSupervisord {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn sluice_ctl_update_against_a_stock_supervisord_prints_what_supervisorctl_prints() {
    let s = StockSupervisord::start(&format!("{SOLO}{TWO_IN_A_GROUP}"));
    let stock_change = format!(
        "{}[program:n]\ncommand=sleep 1003\nstartsecs=0\nautostart=false\n",
        TWO_IN_A_GROUP.replace("sleep 1002", "sleep 1012")
    );
    s.rewrite(&stock_change);
    // reread is idempotent on supervisord: both clients see the same diff.
    let [ours, theirs] = s.both(&["reread"]);
    assert_eq!(
        ours,
        (
            strs(&["a: disappeared", "g: changed", "n: available"]),
            Some(0)
        )
    );
    assert_eq!(ours, theirs);
    let [ours, theirs] = s.both(&["avail"]);
    assert_eq!(ours, theirs);
    assert_eq!(ours.0.len(), 3, "a is gone from the config: {ours:?}");
    assert!(
        ours.0
            .contains(&"n                                avail     manual    999:999".to_string()),
        "{ours:?}"
    );
    // `sluice ctl update` falls back to supervisorctl's steps (no sluice.update).
    assert_eq!(
        s.run(common::sluice(), &["update"]),
        (
            strs(&[
                "a: stopped",
                "a: removed process group",
                "g: stopped",
                "g: updated process group",
                "n: added process group"
            ]),
            Some(0)
        )
    );
    let [ours, theirs] = s.both(&["update"]);
    assert_eq!(ours, (Vec::new(), Some(0)));
    assert_eq!(ours, theirs);
    let [ours, theirs] = s.both(&["add", "zz"]);
    assert_eq!(ours, theirs);
    let [ours, theirs] = s.both(&["remove", "n"]);
    assert_eq!(ours, (strs(&["n: removed process group"]), Some(0)));
    assert_eq!(
        theirs,
        (strs(&["ERROR: no such process/group: n"]), Some(1))
    );
    let [ours, theirs] = s.both(&["add", "n"]);
    assert_eq!(ours, (strs(&["n: added process group"]), Some(0)));
    assert_eq!(
        theirs,
        (strs(&["ERROR: process group already active"]), Some(0))
    );
}

#[test]
fn an_in_process_agent_is_restarted_when_its_properties_change() {
    let d = Daemon::start("");
    std::fs::write(d.path("flow.properties"), AGENT_PROPS).expect("write props");
    rewrite(
        &d,
        "[agent:flow]\n\
         conf_file = {dir}/flow.properties\n\
         agent_name = a1\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/flow.log\n",
    );
    assert_eq!(
        ctl(&d, &["update"]),
        (strs(&["flow: added process group"]), Some(0))
    );
    d.wait_state("flow", "RUNNING");
    let starts = || {
        std::fs::read_to_string(d.path("flow.log"))
            .unwrap_or_default()
            .matches("agent started")
            .count()
    };
    wait_for("the agent's first start in its log", || starts() == 1);
    std::fs::write(
        d.path("flow.properties"),
        AGENT_PROPS.replace("totalEvents = 1", "totalEvents = 3"),
    )
    .expect("edit props");
    assert_eq!(
        ctl(&d, &["update"]),
        (
            strs(&["flow: stopped", "flow: updated process group"]),
            Some(0)
        )
    );
    wait_for("the agent's second start", || starts() == 2);
    d.wait_state("flow", "RUNNING");
    let log = std::fs::read_to_string(d.path("flow.log")).unwrap_or_default();
    assert!(log.contains("generated all 3 events"), "{log}");

    // A broken properties file is a config error: named with its line,
    // and the running agent is left alone.
    let props = d.path("flow.properties");
    std::fs::write(
        &props,
        AGENT_PROPS.replace("type = null", "type = nosuchsink"),
    )
    .expect("break props");
    let line = AGENT_PROPS
        .lines()
        .position(|l| l.contains("type = null"))
        .expect("line")
        + 1;
    let (out, code) = ctl(&d, &["update"]);
    assert_eq!(code, Some(1), "{out:?}");
    let place = format!("{}:{line}", props.display());
    assert!(
        out.len() == 1 && out[0].starts_with("ERROR: CANT_REREAD: ") && out[0].contains(&place),
        "{out:?} names {place}"
    );
    assert_eq!(d.state("flow"), "RUNNING");
    assert_eq!(starts(), 2);
}
