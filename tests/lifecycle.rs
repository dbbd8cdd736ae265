//! supervisord 4.x's process state machine, through the real binary.
//!
//! Every test starts its own daemon and drives it with `sluice ctl`; the
//! expected log lines, status descriptions, ctl outputs and exit codes are
//! the ones supervisord's `process.py`, `rpcinterface.py` and
//! `supervisorctl.py` produce. Nothing sleeps a fixed time to assert:
//! every wait is a condition polled by `wait_for`.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The non-empty lines of a file (none when it does not exist yet).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `ctl args...`: stdout and exit code.
fn run(d: &Daemon, args: &[&str]) -> (String, i32) {
    let out = d.ctl(args);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// How many times `needle` occurs in the daemon log.
fn log_count(d: &Daemon, needle: &str) -> usize {
    d.log().matches(needle).count()
}

/// The line of `ctl status` for `name` (without the trailing newline).
fn status_line(d: &Daemon, name: &str) -> String {
    d.ctl_out(&["status", name]).trim_end().to_string()
}

/// The order in which the daemon log says it spawned `names`.
fn spawn_order(d: &Daemon, names: &[&str]) -> Vec<String> {
    d.log()
        .lines()
        .filter_map(|l| {
            names
                .iter()
                .find(|n| l.contains(&format!("spawned: '{n}' with pid")))
                .map(|n| n.to_string())
        })
        .collect()
}

/// supervisord's description of a stopped process: `Nov 26 05:04 AM`.
fn is_stop_time(fields: &[&str]) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let two_digits = |s: &str, lo: u32, hi: u32| {
        s.len() == 2 && s.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n))
    };
    match fields {
        [month, day, hm, ampm] => {
            let (h, m) = hm.split_once(':').unwrap_or(("", ""));
            MONTHS.contains(month)
                && two_digits(day, 1, 31)
                && two_digits(h, 1, 12)
                && two_digits(m, 0, 59)
                && matches!(*ampm, "AM" | "PM")
        }
        _ => false,
    }
}

// 1. A program that exits at once is spawned startretries+1 times, then FATAL.
#[test]
fn crash_loop_gives_up_after_startretries_plus_one_spawns() {
    let d = Daemon::start(
        "[program:crash]\n\
         command = /bin/sh -c 'echo x >> {dir}/spawns; exit 1'\n\
         startsecs = 1\n\
         startretries = 2\n",
    );
    d.wait_state("crash", "FATAL");
    assert_eq!(lines(&d.path("spawns")).len(), 3, "startretries + 1 spawns");

    let log = d.log();
    assert!(
        log.contains("INFO gave up: crash entered FATAL state, too many start retries too quickly"),
        "{log}"
    );
    // Each quick exit is supervisord's STARTING -> BACKOFF line.
    assert_eq!(
        log_count(&d, "WARN exited: crash (exit status 1; not expected)"),
        3,
        "{log}"
    );
    assert_eq!(log_count(&d, "spawned: 'crash' with pid "), 3, "{log}");
    // FATAL is final: the "gave up" line comes after the last exit.
    let gave_up = log.find("gave up: crash").unwrap();
    let last_exit = log.rfind("exited: crash").unwrap();
    assert!(gave_up > last_exit, "{log}");
    assert_eq!(
        status_line(&d, "crash")
            .split_whitespace()
            .collect::<Vec<_>>()[1..],
        [
            "FATAL", "Exited", "too", "quickly", "(process", "log", "may", "have", "details)"
        ]
    );
    // `ctl status` of a FATAL program exits 3 (a stopped state).
    assert_eq!(run(&d, &["status", "crash"]).1, 3);
}

// 2. Spawn errors: BACKOFF then FATAL, with supervisord's description.
#[test]
fn spawn_errors_end_fatal_with_supervisord_descriptions() {
    let d = Daemon::start(
        "[program:missing]\n\
         command = /no/such/dir/prog --flag\n\
         startretries = 1\n\
         priority = 100\n\
         \n\
         [program:bare]\n\
         command = no-such-program-sluice-test\n\
         startretries = 1\n\
         priority = 200\n\
         \n\
         [program:noexec]\n\
         command = {dir}/noexec.sh\n\
         startretries = 1\n\
         priority = 300\n\
         autostart = false\n",
    );
    let script = d.path("noexec.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 1000\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();

    d.wait_state("missing", "FATAL");
    d.wait_state("bare", "FATAL");
    assert!(
        status_line(&d, "missing").ends_with("can't find command '/no/such/dir/prog'"),
        "{}",
        status_line(&d, "missing")
    );
    assert!(
        status_line(&d, "bare").ends_with("can't find command 'no-such-program-sluice-test'"),
        "{}",
        status_line(&d, "bare")
    );
    let log = d.log();
    assert!(
        log.contains("spawnerr: can't find command '/no/such/dir/prog'"),
        "{log}"
    );
    // One try plus startretries=1 retry, each recorded as a spawn error.
    assert_eq!(
        log_count(&d, "INFO spawnerr: can't find command '/no/such/dir/prog'"),
        2,
        "{log}"
    );
    assert!(
        log.contains("gave up: missing entered FATAL state, too many start retries too quickly"),
        "{log}"
    );

    // supervisord's startProcess checks the command before spawning:
    // NO_FILE and NOT_EXECUTABLE faults, exit 1 (not a "dead program" fault).
    let (out, code) = run(&d, &["start", "missing"]);
    assert_eq!(out, "missing: ERROR (no such file)\n");
    assert_eq!(code, 1);
    let (out, code) = run(&d, &["start", "noexec"]);
    assert_eq!(out, "noexec: ERROR (file is not executable)\n");
    assert_eq!(code, 1);
    assert_eq!(d.state("noexec"), "STOPPED");
    // The same per process in a start of everything (in priority order).
    assert_eq!(
        run(&d, &["start", "all"]),
        (
            "missing: ERROR (no such file)\n\
             bare: ERROR (no such file)\n\
             noexec: ERROR (file is not executable)\n"
                .into(),
            1
        )
    );
}

// 2b. A not-executable file found at autostart: the BACKOFF state is visible
// while it retries, then FATAL with "command at '...' is not executable".
#[test]
fn not_executable_command_goes_backoff_then_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    // startretries=3: backoff waits of 1 s and 2 s leave BACKOFF observable.
    let d = Daemon::start(&format!(
        "[program:noexec]\ncommand = {}\nstartretries = 3\n",
        plain.display()
    ));
    let want = format!("command at '{}' is not executable", plain.display());
    let mut saw_backoff = false;
    wait_for("noexec to be FATAL", || {
        let line = status_line(&d, "noexec");
        if line.contains("BACKOFF") {
            assert!(line.ends_with(&want), "{line}");
            saw_backoff = true;
        }
        line.contains("FATAL")
    });
    assert!(saw_backoff, "BACKOFF seen before FATAL");
    assert!(status_line(&d, "noexec").ends_with(&want));
    assert_eq!(log_count(&d, &format!("spawnerr: {want}")), 4);
}

// 3. autorestart=true: a killed child is replaced.
#[test]
fn autorestart_true_replaces_a_killed_child() {
    let d = Daemon::start(
        "[program:always]\n\
         command = sleep 1000\n\
         startsecs = 1\n\
         autorestart = true\n",
    );
    d.wait_state("always", "RUNNING");
    let first = d.child_pid("always");
    assert!(first > 0 && alive(first));
    kill(first, libc::SIGKILL);
    wait_for("a new pid, RUNNING", || {
        let pid = d.child_pid("always");
        pid > 0 && pid != first && d.state("always") == "RUNNING"
    });
    assert!(
        d.log()
            .contains("WARN exited: always (terminated by SIGKILL; not expected)"),
        "{}",
        d.log()
    );
    assert!(
        d.log().contains(
            "success: always entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"
        ),
        "{}",
        d.log()
    );
}

// 3b. autorestart=unexpected restarts only on an exit code not in exitcodes;
// autorestart=false never restarts.
#[test]
fn autorestart_unexpected_and_false() {
    let d = Daemon::start(
        "[program:expected]\n\
         command = /bin/sh -c 'echo x >> {dir}/expected.runs; exit 3'\n\
         startsecs = 0\n\
         autorestart = unexpected\n\
         exitcodes = 0,3\n\
         \n\
         [program:unexpected]\n\
         command = /bin/sh -c 'echo x >> {dir}/unexpected.runs; [ $(wc -l < {dir}/unexpected.runs) -ge 3 ] && exec sleep 1000; exit 1'\n\
         startsecs = 0\n\
         autorestart = unexpected\n\
         exitcodes = 0,3\n\
         \n\
         [program:never]\n\
         command = /bin/sh -c 'echo x >> {dir}/never.runs; exit 1'\n\
         startsecs = 0\n\
         autorestart = false\n\
         \n\
         [program:always]\n\
         command = /bin/sh -c 'echo x >> {dir}/always.runs; [ $(wc -l < {dir}/always.runs) -ge 2 ] && exec sleep 1000; exit 0'\n\
         startsecs = 0\n\
         autorestart = true\n",
    );
    // autorestart=true restarts even after an expected exit.
    d.wait_state("always", "RUNNING");
    wait_for("always to run twice", || {
        lines(&d.path("always.runs")).len() == 2
    });
    assert_eq!(
        log_count(&d, "INFO exited: always (exit status 0; expected)"),
        1,
        "{}",
        d.log()
    );
    d.wait_state("expected", "EXITED");
    d.wait_state("never", "EXITED");
    // `unexpected` exits 1 twice, is restarted each time, then stays up.
    wait_for("unexpected to run a third time", || {
        lines(&d.path("unexpected.runs")).len() >= 3
    });
    d.wait_state("unexpected", "RUNNING");
    assert_eq!(lines(&d.path("unexpected.runs")).len(), 3);
    assert_eq!(
        log_count(&d, "WARN exited: unexpected (exit status 1; not expected)"),
        2
    );

    // Meanwhile the other two were not restarted.
    assert_eq!(lines(&d.path("expected.runs")), ["x"]);
    assert_eq!(lines(&d.path("never.runs")), ["x"]);
    assert_eq!(d.state("expected"), "EXITED");
    assert_eq!(d.state("never"), "EXITED");
    let log = d.log();
    assert!(
        log.contains("INFO exited: expected (exit status 3; expected)"),
        "{log}"
    );
    assert!(
        log.contains("WARN exited: never (exit status 1; not expected)"),
        "{log}"
    );
    assert_eq!(log_count(&d, "spawned: 'expected' with pid"), 1);
    // EXITED shows when it stopped, as supervisord's `%b %d %I:%M %p`.
    let line = status_line(&d, "never");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[..2], ["never", "EXITED"], "{line}");
    assert!(is_stop_time(&fields[2..]), "{line}");
    assert_eq!(log_count(&d, "spawned: 'never' with pid"), 1);
}

// 4. stopasgroup=true kills the program's children too; false leaves them.
#[test]
fn stopasgroup_reaches_the_grandchild() {
    let prog = |name: &str, asgroup: bool| {
        format!(
            "[program:{name}]\n\
             command = /bin/sh -c 'sleep 1000 & echo $! > {{dir}}/{name}.pid; wait'\n\
             startsecs = 0\n\
             stopasgroup = {asgroup}\n\n"
        )
    };
    let d = Daemon::start(&(prog("grouped", true) + &prog("single", false)));
    d.wait_state("grouped", "RUNNING");
    d.wait_state("single", "RUNNING");
    let gc_grouped = wait_pid_file(&d.path("grouped.pid"));
    let gc_single = wait_pid_file(&d.path("single.pid"));
    assert!(alive(gc_grouped) && alive(gc_single));

    let (out, code) = run(&d, &["stop", "grouped"]);
    assert_eq!((out.as_str(), code), ("grouped: stopped\n", 0));
    assert_eq!(d.state("grouped"), "STOPPED");
    wait_for("the grouped grandchild to die", || !alive(gc_grouped));

    let (out, code) = run(&d, &["stop", "single"]);
    assert_eq!((out.as_str(), code), ("single: stopped\n", 0));
    assert_eq!(d.state("single"), "STOPPED");
    // Only the shell got SIGTERM: its sleep lives on.
    assert!(
        alive(gc_single),
        "the grandchild survives stopasgroup=false"
    );
    kill(gc_single, libc::SIGKILL);
    wait_for("the leftover grandchild to die", || !alive(gc_single));

    let log = d.log();
    assert!(
        log.contains("WARN stopped: grouped (terminated by SIGTERM)"),
        "{log}"
    );
    assert!(
        log.contains("WARN stopped: single (terminated by SIGTERM)"),
        "{log}"
    );
    assert!(
        log.contains("process group with signal SIGTERM"),
        "the debug line names the process group: {log}"
    );
}

// 5. A program that ignores SIGTERM is killed after stopwaitsecs.
#[test]
fn stopwaitsecs_escalates_to_sigkill() {
    let d = Daemon::start(
        "[program:stubborn]\n\
         command = /bin/sh -c \"trap '' TERM; touch {dir}/ready; exec sleep 1000\"\n\
         startsecs = 0\n\
         stopwaitsecs = 1\n",
    );
    d.wait_state("stubborn", "RUNNING");
    wait_for("the TERM trap to be set", || d.path("ready").exists());
    let pid = d.child_pid("stubborn");
    assert!(pid > 0);

    let (out, code) = run(&d, &["stop", "stubborn"]);
    assert_eq!((out.as_str(), code), ("stubborn: stopped\n", 0));
    assert_eq!(d.state("stubborn"), "STOPPED");
    assert!(!alive(pid));
    let log = d.log();
    assert!(
        log.contains(&format!(
            "DEBG killing stubborn (pid {pid}) with signal SIGTERM"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("WARN killing 'stubborn' ({pid}) with SIGKILL")),
        "{log}"
    );
    assert!(
        log.contains("WARN stopped: stubborn (terminated by SIGKILL)"),
        "{log}"
    );
    let term = log.find("with signal SIGTERM").unwrap();
    let kill9 = log.find("with SIGKILL").unwrap();
    assert!(term < kill9, "{log}");
}

/// A program that records its start and, on SIGTERM, its stop.
fn recorder(name: &str, priority: Option<i32>) -> String {
    let prio = priority
        .map(|p| format!("priority = {p}\n"))
        .unwrap_or_default();
    format!(
        "[program:{name}]\n\
         command = /bin/sh -c \"trap 'echo {name} >> {{dir}}/stops; kill $!; exit 0' TERM; echo {name} >> {{dir}}/starts; sleep 1000 & wait\"\n\
         startsecs = 0\n\
         {prio}\n"
    )
}

// 6. Start in ascending priority, stop in descending priority.
#[test]
fn priority_orders_start_and_shutdown() {
    let mut d = Daemon::start(
        &(recorder("p300", Some(300))
            + &recorder("p100", Some(100))
            + &recorder("p200", Some(200))),
    );
    for n in ["p100", "p200", "p300"] {
        d.wait_state(n, "RUNNING");
    }
    wait_for("three starts", || lines(&d.path("starts")).len() == 3);
    // The daemon forks them in priority order without waiting between them
    // (as supervisord does), so the forks are ordered, not the children's
    // first writes: the order is read from the daemon's `spawned:` lines.
    assert_eq!(
        spawn_order(&d, &["p100", "p200", "p300"]),
        ["p100", "p200", "p300"]
    );
    let mut started = lines(&d.path("starts"));
    started.sort();
    assert_eq!(started, ["p100", "p200", "p300"]);

    // Shutdown waits for each to stop before signalling the next.
    let (out, code) = run(&d, &["shutdown"]);
    assert_eq!((out.as_str(), code), ("Shut down\n", 0));
    assert!(d.wait_exit().success());
    assert_eq!(lines(&d.path("stops")), ["p300", "p200", "p100"]);
}

// 6b. A [group:x] starts and stops as one unit at the group's priority.
#[test]
fn group_priority_orders_start_and_shutdown() {
    let mut d = Daemon::start(
        &(recorder("first", Some(10))
            + &recorder("m1", Some(1))
            + &recorder("m2", Some(2))
            + &recorder("last", Some(100))
            + "[group:g]\nprograms = m2,m1\npriority = 50\n\n"),
    );
    for n in ["first", "g:m1", "g:m2", "last"] {
        d.wait_state(n, "RUNNING");
    }
    wait_for("four starts", || lines(&d.path("starts")).len() == 4);
    // The group's members (priorities 1 and 2) start at the group's
    // priority 50: after `first` (10), before `last` (100); inside the
    // group by their own priorities.
    assert_eq!(
        spawn_order(&d, &["first", "m1", "m2", "last"]),
        ["first", "m1", "m2", "last"]
    );
    assert_eq!(
        d.ctl_out(&["status", "g:*"])
            .lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        ["g:m1", "g:m2"]
    );

    // SIGTERM to the daemon: `last`, then the whole group, then `first`.
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    let stops = lines(&d.path("stops"));
    assert_eq!(stops.len(), 4, "{stops:?}");
    assert_eq!(stops[0], "last");
    let mut middle = stops[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["m1", "m2"]);
    assert_eq!(stops[3], "first");
}

// 7. start/stop/restart outputs and exit codes, as supervisorctl 4.x.
#[test]
fn ctl_start_stop_restart_outputs_and_exit_codes() {
    let d = Daemon::start(
        "[program:a]\n\
         command = sleep 1000\n\
         startsecs = 0\n\
         priority = 500\n\
         \n\
         [program:x]\n\
         command = sleep 1000\n\
         startsecs = 0\n\
         priority = 1\n\
         \n\
         [program:y]\n\
         command = sleep 1000\n\
         startsecs = 0\n\
         priority = 2\n\
         \n\
         [group:g]\n\
         programs = x,y\n\
         \n\
         [program:quick]\n\
         command = /bin/sh -c 'exit 1'\n\
         startsecs = 1\n\
         startretries = 0\n\
         autostart = false\n\
         \n\
         [program:slow]\n\
         command = sleep 1000\n\
         startsecs = 2\n\
         autostart = false\n",
    );
    // autostart=false: never started.
    assert_eq!(
        status_line(&d, "quick")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["quick", "STOPPED", "Not", "started"]
    );
    // A start waits until RUNNING (startsecs elapsed), then says started.
    assert_eq!(run(&d, &["start", "slow"]), ("slow: started\n".into(), 0));
    assert_eq!(d.state("slow"), "RUNNING");
    assert_eq!(run(&d, &["stop", "slow"]), ("slow: stopped\n".into(), 0));
    d.wait_state("a", "RUNNING");
    d.wait_state("g:x", "RUNNING");
    d.wait_state("g:y", "RUNNING");

    // Already started is not an error.
    assert_eq!(
        run(&d, &["start", "a"]),
        ("a: ERROR (already started)\n".into(), 0)
    );
    assert_eq!(run(&d, &["stop", "a"]), ("a: stopped\n".into(), 0));
    // Not running is not an error for stop.
    assert_eq!(
        run(&d, &["stop", "a"]),
        ("a: ERROR (not running)\n".into(), 0)
    );
    assert_eq!(run(&d, &["start", "a"]), ("a: started\n".into(), 0));
    let before = d.child_pid("a");
    assert_eq!(
        run(&d, &["restart", "a"]),
        ("a: stopped\na: started\n".into(), 0)
    );
    let after = d.child_pid("a");
    assert!(after > 0 && after != before);

    // Unknown names: BAD_NAME is a generic error.
    assert_eq!(
        run(&d, &["start", "nosuch"]),
        ("nosuch: ERROR (no such process)\n".into(), 1)
    );
    assert_eq!(
        run(&d, &["stop", "nosuch"]),
        ("nosuch: ERROR (no such process)\n".into(), 1)
    );
    assert_eq!(
        run(&d, &["restart", "nosuch"]),
        (
            "nosuch: ERROR (no such process)\nnosuch: ERROR (no such process)\n".into(),
            1
        )
    );
    assert_eq!(
        run(&d, &["start", "g:nosuch"]),
        ("g:nosuch: ERROR (no such process)\n".into(), 1)
    );
    // Unknown group: 2 for start, 1 for stop.
    assert_eq!(
        run(&d, &["start", "nog:*"]),
        ("nog: ERROR (no such group)\n".into(), 2)
    );
    assert_eq!(
        run(&d, &["stop", "nog:*"]),
        ("nog: ERROR (no such group)\n".into(), 1)
    );

    // group:* acts on the group's processes in priority order.
    assert_eq!(
        run(&d, &["stop", "g:*"]),
        ("g:x: stopped\ng:y: stopped\n".into(), 0)
    );
    assert_eq!(d.state("g:x"), "STOPPED");
    assert_eq!(
        run(&d, &["start", "g:*"]),
        ("g:x: started\ng:y: started\n".into(), 0)
    );
    assert_eq!(d.state("g:y"), "RUNNING");
    assert_eq!(
        run(&d, &["restart", "g:*"]),
        (
            "g:x: stopped\ng:y: stopped\ng:x: started\ng:y: started\n".into(),
            0
        )
    );
    assert_eq!(run(&d, &["stop", "g:x"]), ("g:x: stopped\n".into(), 0));
    assert_eq!(
        run(&d, &["stop", "g:x"]),
        ("g:x: ERROR (not running)\n".into(), 0)
    );
    // A group start only starts what is not running.
    assert_eq!(run(&d, &["start", "g:*"]), ("g:x: started\n".into(), 0));

    // A program that exits before startsecs: SPAWN_ERROR, exit 7.
    assert_eq!(
        run(&d, &["start", "quick"]),
        ("quick: ERROR (spawn error)\n".into(), 7)
    );
    d.wait_state("quick", "FATAL");
    // restart = stop (not running: no error) then start.
    assert_eq!(
        run(&d, &["restart", "quick"]),
        (
            "quick: ERROR (not running)\nquick: ERROR (spawn error)\n".into(),
            7
        )
    );
    d.wait_state("quick", "FATAL");

    // all: only the running ones are stopped, the stopped ones started,
    // both in ascending priority order (a: 500, then group g: 999).
    assert_eq!(run(&d, &["stop", "g:y"]), ("g:y: stopped\n".into(), 0));
    assert_eq!(
        run(&d, &["stop", "all"]),
        ("a: stopped\ng:x: stopped\n".into(), 0)
    );
    let (out, code) = run(&d, &["start", "all"]);
    assert_eq!(
        out,
        "a: started\ng:x: started\ng:y: started\nquick: ERROR (spawn error)\nslow: started\n"
    );
    assert_eq!(code, 7);
    for n in ["a", "g:x", "g:y", "slow"] {
        assert_eq!(d.state(n), "RUNNING", "{n}");
    }
    // Everything running but the FATAL one: `status` exits 3.
    assert_eq!(run(&d, &["status"]).1, 3);
    assert_eq!(run(&d, &["status", "a", "g:*"]).1, 0);
}

// 8. The child's environment, directory and umask.
#[test]
fn environment_directory_and_umask() {
    let d = Daemon::start(
        "[program:envp]\n\
         command = /bin/sh -c 'env > {dir}/env.out; pwd > {dir}/pwd.out; touch made; echo done > {dir}/done; exec sleep 1000'\n\
         environment = A=\"x, y\",B=2\n\
         directory = {dir}/sub\n\
         umask = 077\n\
         startsecs = 0\n\
         autostart = false\n",
    );
    std::fs::create_dir(d.path("sub")).unwrap();
    assert_eq!(run(&d, &["start", "envp"]), ("envp: started\n".into(), 0));
    wait_for("the program to write its files", || d.path("done").exists());

    let env: Vec<String> = lines(&d.path("env.out"));
    let var = |k: &str| {
        env.iter()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
    };
    assert_eq!(var("SUPERVISOR_ENABLED").as_deref(), Some("1"));
    assert_eq!(var("SUPERVISOR_PROCESS_NAME").as_deref(), Some("envp"));
    assert_eq!(var("SUPERVISOR_GROUP_NAME").as_deref(), Some("envp"));
    let url = format!("unix://{}", d.path("sluice.sock").display());
    assert_eq!(var("SUPERVISOR_SERVER_URL"), Some(url));
    assert_eq!(var("A").as_deref(), Some("x, y"));
    assert_eq!(var("B").as_deref(), Some("2"));

    let sub = d.path("sub");
    assert_eq!(lines(&d.path("pwd.out")), [sub.display().to_string()]);
    let mode = std::fs::metadata(sub.join("made"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

// 9. numprocs: three processes named from process_name, each its own pid.
#[test]
fn numprocs_makes_named_processes() {
    let d = Daemon::start(
        "[program:w]\n\
         command = /bin/sh -c 'echo $SUPERVISOR_PROCESS_NAME $SUPERVISOR_GROUP_NAME >> {dir}/names; exec sleep 1000'\n\
         numprocs = 3\n\
         process_name = %(program_name)s_%(process_num)02d\n\
         startsecs = 0\n",
    );
    let names = ["w:w_00", "w:w_01", "w:w_02"];
    for n in names {
        d.wait_state(n, "RUNNING");
    }
    let status = d.ctl_out(&["status"]);
    let listed: Vec<&str> = status
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(listed, names, "{status}");
    let mut pids: Vec<i32> = names.iter().map(|n| d.child_pid(n)).collect();
    assert!(pids.iter().all(|&p| p > 0 && alive(p)), "{pids:?}");
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3);
    // Each knows its own process name and the program's group name.
    wait_for("three names", || lines(&d.path("names")).len() == 3);
    let mut seen = lines(&d.path("names"));
    seen.sort();
    assert_eq!(seen, ["w_00 w", "w_01 w", "w_02 w"]);

    assert_eq!(
        run(&d, &["stop", "w:w_01"]),
        ("w:w_01: stopped\n".into(), 0)
    );
    assert_eq!(d.state("w:w_01"), "STOPPED");
    assert_eq!(d.state("w:w_00"), "RUNNING");
    assert_eq!(
        run(&d, &["stop", "w:*"]),
        ("w:w_00: stopped\nw:w_02: stopped\n".into(), 0)
    );
    assert_eq!(
        run(&d, &["start", "w:*"]),
        (
            "w:w_00: started\nw:w_01: started\nw:w_02: started\n".into(),
            0
        )
    );
    // A bare name of a multi-process group is not a process.
    assert_eq!(
        run(&d, &["stop", "w_01"]),
        ("w_01: ERROR (no such process)\n".into(), 1)
    );
    let log = d.log();
    assert!(log.contains("spawned: 'w_02' with pid"), "{log}");
}

// 10. Stopping a program in BACKOFF ends the retries at once (STOPPED);
// a start then begins a new round.
#[test]
fn stop_in_backoff_is_stopped_and_start_begins_anew() {
    let d = Daemon::start(
        "[program:crash]\n\
         command = /bin/sh -c 'echo x >> {dir}/spawns; exit 1'\n\
         startsecs = 1\n\
         startretries = 100\n",
    );
    // From the third failure on, each BACKOFF lasts 3 s or more.
    wait_for("three failed starts", || {
        lines(&d.path("spawns")).len() >= 3 && d.state("crash") == "BACKOFF"
    });
    // BACKOFF counts as running for a start request.
    assert_eq!(
        run(&d, &["start", "crash"]),
        ("crash: ERROR (already started)\n".into(), 0)
    );
    assert_eq!(run(&d, &["stop", "crash"]), ("crash: stopped\n".into(), 0));
    assert_eq!(d.state("crash"), "STOPPED");
    assert!(
        d.log()
            .contains("DEBG Attempted to kill crash, which is in BACKOFF state."),
        "{}",
        d.log()
    );
    assert_eq!(
        run(&d, &["stop", "crash"]),
        ("crash: ERROR (not running)\n".into(), 0)
    );
    let before = lines(&d.path("spawns")).len();
    // The new round's first start exits too quickly: a spawn error, exit 7.
    assert_eq!(
        run(&d, &["start", "crash"]),
        ("crash: ERROR (spawn error)\n".into(), 7)
    );
    assert!(lines(&d.path("spawns")).len() > before);
    assert_eq!(run(&d, &["stop", "crash"]), ("crash: stopped\n".into(), 0));
}

// 11. Shutdown: no retry of a program in BACKOFF, SIGKILL for one that
// ignores SIGTERM, then the daemon exits.
#[test]
fn shutdown_stops_backoff_and_escalates() {
    let mut d = Daemon::start(
        "[program:crash]\n\
         command = /bin/sh -c 'echo x >> {dir}/spawns; exit 1'\n\
         startsecs = 1\n\
         startretries = 100\n\
         \n\
         [program:stubborn]\n\
         command = /bin/sh -c \"trap '' TERM; touch {dir}/ready; exec sleep 1000\"\n\
         startsecs = 0\n\
         stopwaitsecs = 2\n",
    );
    d.wait_state("stubborn", "RUNNING");
    wait_for("the TERM trap to be set", || d.path("ready").exists());
    let pid = d.child_pid("stubborn");
    d.wait_state("crash", "BACKOFF");

    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    assert!(!alive(pid));
    let log = d.log();
    let asked = log
        .find("received SIGTERM indicating exit request")
        .unwrap_or_else(|| panic!("{log}"));
    let after = &log[asked..];
    assert!(
        after.contains(&format!("killing 'stubborn' ({pid}) with SIGKILL")),
        "{log}"
    );
    assert!(
        after.contains("stopped: stubborn (terminated by SIGKILL)"),
        "{log}"
    );
    // The 1 s backoff elapsed while stubborn took 2 s to stop: no retry.
    assert!(!after.contains("spawned: 'crash'"), "{log}");
}

// 12. stopsignal, and the stop line's level: INFO for an exit code in
// exitcodes, WARN otherwise.
#[test]
fn stopsignal_and_stop_exit_status() {
    let prog = |name: &str, code: i32| {
        format!(
            "[program:{name}]\n\
             command = /bin/sh -c \"trap 'kill $!; exit {code}' INT; touch {{dir}}/{name}.ready; sleep 1000 & wait\"\n\
             startsecs = 0\n\
             stopsignal = INT\n\n"
        )
    };
    let d = Daemon::start(&(prog("clean", 0) + &prog("dirty", 5)));
    for n in ["clean", "dirty"] {
        d.wait_state(n, "RUNNING");
        let ready = d.path(&format!("{n}.ready"));
        wait_for("the INT trap to be set", || ready.exists());
    }
    let clean = d.child_pid("clean");
    assert_eq!(run(&d, &["stop", "clean"]), ("clean: stopped\n".into(), 0));
    assert_eq!(run(&d, &["stop", "dirty"]), ("dirty: stopped\n".into(), 0));
    let log = d.log();
    assert!(
        log.contains(&format!(
            "DEBG killing clean (pid {clean}) with signal SIGINT"
        )),
        "{log}"
    );
    assert!(log.contains("INFO stopped: clean (exit status 0)"), "{log}");
    assert!(log.contains("WARN stopped: dirty (exit status 5)"), "{log}");
    // A stop is not an exit: no "exited:" line, and no restart.
    assert!(!log.contains("exited: clean"), "{log}");
    assert_eq!(d.state("clean"), "STOPPED");
}

// 13. killasgroup: the SIGKILL after stopwaitsecs reaches the children
// even though the stop signal went to the program alone.
#[test]
fn killasgroup_kills_the_group_after_stopwaitsecs() {
    let d = Daemon::start(
        "[program:kag]\n\
         command = /bin/sh -c \"trap '' TERM; sleep 1000 & echo $! > {dir}/gc.pid; wait\"\n\
         startsecs = 0\n\
         stopwaitsecs = 1\n\
         killasgroup = true\n",
    );
    d.wait_state("kag", "RUNNING");
    let gc = wait_pid_file(&d.path("gc.pid"));
    let pid = d.child_pid("kag");
    assert_eq!(run(&d, &["stop", "kag"]), ("kag: stopped\n".into(), 0));
    wait_for("the grandchild to die", || !alive(gc));
    let log = d.log();
    assert!(
        log.contains(&format!("killing kag (pid {pid}) with signal SIGTERM")),
        "{log}"
    );
    assert!(
        log.contains(&format!("killing 'kag' ({pid}) with SIGKILL")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "DEBG killing kag (pid {pid}) process group with signal SIGKILL"
        )),
        "{log}"
    );
}

// 14. Dying before startsecs is a failed start, whatever the cause: SIGKILL
// or even an exit code listed in exitcodes.
#[test]
fn an_end_before_startsecs_is_backoff() {
    let d = Daemon::start(
        "[program:slow]\n\
         command = sleep 1000\n\
         startsecs = 20\n\
         \n\
         [program:zero]\n\
         command = /bin/sh -c 'exit 0'\n\
         startsecs = 1\n\
         startretries = 0\n",
    );
    d.wait_state("slow", "STARTING");
    let first = d.child_pid("slow");
    assert!(first > 0);
    kill(first, libc::SIGKILL);
    wait_for("a second try", || {
        let pid = d.child_pid("slow");
        pid > 0 && pid != first
    });
    assert_eq!(d.state("slow"), "STARTING");
    let log = d.log();
    assert!(
        log.contains("WARN exited: slow (terminated by SIGKILL; not expected)"),
        "{log}"
    );
    assert_eq!(run(&d, &["stop", "slow"]), ("slow: stopped\n".into(), 0));

    d.wait_state("zero", "FATAL");
    let log = d.log();
    assert!(
        log.contains("WARN exited: zero (exit status 0; not expected)"),
        "{log}"
    );
    assert!(
        status_line(&d, "zero").ends_with("Exited too quickly (process log may have details)"),
        "{}",
        status_line(&d, "zero")
    );
}

// 15. An exit after startsecs is not a failed start: the retry count starts
// over, so a program that keeps running past startsecs is never FATAL.
#[test]
fn exits_after_startsecs_do_not_count_as_retries() {
    let d = Daemon::start(
        "[program:flap]\n\
         command = /bin/sh -c 'echo x >> {dir}/runs; sleep 1.5; exit 1'\n\
         startsecs = 1\n\
         startretries = 0\n\
         autorestart = true\n",
    );
    wait_for("three runs", || lines(&d.path("runs")).len() >= 3);
    wait_for("two exits logged", || {
        log_count(&d, "exited: flap (exit status 1; not expected)") >= 2
    });
    let log = d.log();
    assert!(!log.contains("gave up: flap"), "{log}");
    assert!(!log.contains("FATAL"), "{log}");
    assert!(
        log.contains(
            "success: flap entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"
        ),
        "{log}"
    );
    assert_ne!(d.state("flap"), "FATAL");
}

// 16. A daemon killed with SIGKILL does not leave its children running:
// each gets its stopsignal from the kernel (parent-death signal).
#[test]
fn children_do_not_outlive_a_killed_daemon() {
    let mut d = Daemon::start(
        "[program:orphan]\n\
         command = sleep 1000\n\
         startsecs = 0\n",
    );
    d.wait_state("orphan", "RUNNING");
    let pid = d.child_pid("orphan");
    assert!(pid > 0 && alive(pid));
    d.signal(libc::SIGKILL);
    assert!(!d.wait_exit().success());
    wait_for("the child to die with the daemon", || !alive(pid));
}
