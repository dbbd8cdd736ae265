//! No value `sluice check` accepts may crash, abort or hang anything later:
//! numbers at the extremes through the real binary (`check`, the daemon),
//! and the values supervisord 4.3 tolerates run as they run under it (side
//! by side with the stock supervisord).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::compare::{StockDaemon, py, timeless};
use common::{DEADLINE, Daemon, base_config, sluice, wait_for};

/// Run `sluice ARGS... -c CONF`, killed (and a failure) past the deadline:
/// a value that makes the config reader allocate or loop without end shows
/// up as this timeout.
fn run_bounded(args: &[&str], conf: &Path) -> Output {
    let mut child = Command::new(sluice())
        .args(args)
        .arg("-c")
        .arg(conf)
        .env_remove("SLUICE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Extremes supervisord accepts: every one a warning naming its line and
/// key; the daemon runs them without a panic and stops them.
const EXTREMES: &str = "\
[program:long]
command = sleep 1000
startsecs = 9223372036854775807
stopwaitsecs = 99999999999999999999999999
startretries = 9223372036854775807
priority = -99999999999999999999
stdout_logfile_maxbytes = 99999999999GB
stdout_logfile_backups = 9223372036854775807

[program:short]
command = sleep 1000
startsecs = -9223372036854775808
stopwaitsecs = -1
startretries = -1
stdout_logfile_maxbytes = -1
stdout_logfile_backups = -1
";

#[test]
fn extreme_numbers_are_warnings_and_the_daemon_runs_and_stops_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("sluice.conf");
    let body = base_config(dir.path()) + EXTREMES;
    std::fs::write(&conf, &body).expect("write config");
    let out = run_bounded(&["check"], &conf);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    for key in [
        "startsecs",
        "stopwaitsecs",
        "startretries",
        "priority",
        "stdout_logfile_maxbytes",
        "stdout_logfile_backups",
    ] {
        for section in ["long", "short"] {
            // Beyond 64 bits is the largest size: within range, no warning.
            if (section, key) == ("short", "priority")
                || (section, key) == ("long", "stdout_logfile_maxbytes")
            {
                continue;
            }
            let header = body
                .lines()
                .position(|l| l == format!("[program:{section}]"))
                .expect("section");
            let line = body
                .lines()
                .enumerate()
                .skip(header)
                .find(|(_, l)| l.starts_with(&format!("{key} =")))
                .map(|(i, _)| i + 1)
                .expect("key");
            let want = format!(
                "{}:{line}: warning: [program:{section}] {key}: ",
                conf.display()
            );
            assert!(
                report
                    .lines()
                    .any(|l| l.starts_with(&want) && l.contains("taken as")),
                "no {want:?} in:\n{report}"
            );
        }
    }

    let d = Daemon::start(EXTREMES);
    // startsecs far beyond any uptime: STARTING for good; -1: RUNNING at once.
    d.wait_state("short", "RUNNING");
    assert_eq!(d.state("long"), "STARTING");
    let out = d.ctl(&["stop", "all"]);
    assert!(out.status.success(), "{out:?}");
    d.wait_state("long", "STOPPED");
    d.wait_state("short", "STOPPED");
    // (`start long` would wait for RUNNING for good, as supervisorctl's.)
    let out = d.ctl(&["start", "short"]);
    assert!(out.status.success(), "{out:?}");
    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");
    let stderr = std::fs::read_to_string(d.path("daemon.stderr")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn values_that_cannot_run_are_errors_found_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("sluice.conf");
    let body = base_config(dir.path())
        + "[program:many]\n\
           command = sleep 1000\n\
           process_name = %(program_name)s_%(process_num)d\n\
           numprocs = 1000000000\n\
           [program:wide]\n\
           command = sleep %(process_num)999999999d\n\
           [program:quote]\n\
           command = sleep '1000\n";
    std::fs::write(&conf, &body).expect("write config");
    for args in [&["check"][..], &["daemon"][..]] {
        let out = run_bounded(args, &conf);
        let report = text(&out);
        assert!(
            matches!(out.status.code(), Some(c) if c != 0),
            "{args:?}: {report}"
        );
        for (key, what) in [
            ("numprocs", "is above the range 0 to 10000"),
            ("command", "too large (at most 4096)"),
            ("command", "cannot be split into words"),
        ] {
            assert!(
                report
                    .lines()
                    .any(|l| l.starts_with(&format!("{}:", conf.display()))
                        && l.contains(&format!("] {key}: "))
                        && l.contains(what)),
                "{args:?}: no {key}: {what} in:\n{report}"
            );
        }
    }
}

/// What supervisord tolerates (a negative startsecs or startretries, an
/// empty command, numprocs=0), sluice runs the same way: the same status.
#[test]
fn tolerated_values_run_as_under_supervisord() {
    let programs = "\
[program:neg]
command = sleep 1000
startsecs = -1
stopwaitsecs = -5

[program:empty]
command =
startretries = -1

[program:none]
command = sleep 1000
numprocs = 0

[program:below]
command = sleep 1000
process_name = %(program_name)s_%(process_num)d
numprocs = 2
numprocs_start = -2
startsecs = 0
";
    let stock = StockDaemon::start(programs);
    let ours = Daemon::start(programs);
    let status = |theirs: bool| {
        let said = if theirs {
            py(&stock.conf(), &["status"])
        } else {
            common::compare::rs(&ours.conf(), &["status"])
        };
        timeless(said)
    };
    for theirs in [true, false] {
        wait_for("every program to settle", || {
            let s = status(theirs).stdout;
            s.contains("empty                            FATAL")
                && s.matches("RUNNING").count() == 3
        });
    }
    assert_eq!(status(false), status(true));
    // Stopping with stopwaitsecs=-5 (no wait before SIGKILL) works too.
    for conf in [stock.conf(), ours.conf()] {
        let out = py(&conf, &["stop", "neg"]);
        assert_eq!(out.stdout, "neg: stopped\n", "{out:?}");
    }
}
