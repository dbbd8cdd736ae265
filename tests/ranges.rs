//! No value `sluice check` accepts may crash, abort or hang anything later:
//! numbers at the extremes through the real binary (`check`, the daemon),
//! and the values supervisord 4.3 tolerates run as they run under it (side
//! by side with the stock supervisord).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::compare::{py, timeless};
use common::stock::Stock;
use common::{DEADLINE, Daemon, base_config, sluice, wait_for};

/// `sluice ARGS... -c CONF`, within the deadline.
fn run_bounded(args: &[&str], conf: &Path) -> Output {
    let mut cmd = Command::new(sluice());
    cmd.args(args)
        .arg("-c")
        .arg(conf)
        .env_remove("SLUICE_CONFIG");
    common::output_within(cmd, DEADLINE)
}

fn text_of(out: &Output) -> String {
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
    let report = text_of(&out);
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
        let report = text_of(&out);
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
/// empty command, numprocs=0, an empty stdout_logfile, a program named
/// twice in a group), sluice runs the same way: the same status.
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

[program:nolog]
command = sleep 1000
startsecs = 0
stdout_logfile =

[program:dup]
command = sleep 1000
startsecs = 0

[group:grp]
programs = dup,dup
";
    let stock = Stock::start(programs);
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
                && s.matches("RUNNING").count() == 5
        });
    }
    assert_eq!(status(false), status(true));
    // An empty stdout_logfile is no log file.
    let tails: Vec<_> = [stock.conf(), ours.conf()]
        .iter()
        .map(|conf| py(conf, &["tail", "nolog"]))
        .collect();
    assert_eq!(tails[0].stdout, "nolog: ERROR (no log file)\n", "{tails:?}");
    assert_eq!(tails[1], tails[0]);
    // Stopping with stopwaitsecs=-5 (no wait before SIGKILL) works too.
    for conf in [stock.conf(), ours.conf()] {
        let out = py(&conf, &["stop", "neg"]);
        assert_eq!(out.stdout, "neg: stopped\n", "{out:?}");
    }
}

/// Every numeric property of every component, and the agent's wiring
/// (netcat -> spillable -> file_roll, exec -> file -> logger, seq ->
/// memory -> null).
const NUMERIC: &[(&str, &[&str])] = &[
    ("sources.nc", &["max-line-length"]),
    (
        "sources.ex",
        &["restartThrottle", "batchSize", "batchTimeout"],
    ),
    ("sources.sq", &["totalEvents", "batchSize"]),
    (
        "channels.mem",
        &[
            "capacity",
            "transactionCapacity",
            "byteCapacity",
            "byteCapacityBufferPercentage",
            "keep-alive",
        ],
    ),
    (
        "channels.file",
        &[
            "capacity",
            "transactionCapacity",
            "checkpointInterval",
            "maxFileSize",
            "minimumRequiredSpace",
            "keep-alive",
            "fsyncInterval",
            "memoryBytes",
        ],
    ),
    (
        "channels.spill",
        &[
            "memoryCapacity",
            "overflowCapacity",
            "overflowTimeout",
            "transactionCapacity",
            "byteCapacity",
            "byteCapacityBufferPercentage",
            "avgEventSize",
            "checkpointInterval",
            "maxFileSize",
            "fsyncInterval",
        ],
    ),
    ("sinks.nul", &["batchSize"]),
    ("sinks.log", &["maxBytesToLog", "batchSize"]),
    ("sinks.roll", &["sink.rollInterval", "sink.batchSize"]),
];

fn agent_file(dir: &Path, port: u16, value: &str, left_out: &[String]) -> String {
    let d = dir.display();
    let mut text = format!(
        "a1.sources = nc ex sq\n\
         a1.channels = mem file spill\n\
         a1.sinks = nul log roll\n\
         a1.sources.nc.type = netcat\n\
         a1.sources.nc.bind = 127.0.0.1\n\
         a1.sources.nc.port = {port}\n\
         a1.sources.nc.channels = spill\n\
         a1.sources.ex.type = exec\n\
         a1.sources.ex.command = echo hi\n\
         a1.sources.ex.restart = true\n\
         a1.sources.ex.channels = file\n\
         a1.sources.sq.type = seq\n\
         a1.sources.sq.channels = mem\n\
         a1.channels.mem.type = memory\n\
         a1.channels.file.type = file\n\
         a1.channels.file.checkpointDir = {d}/file/cp\n\
         a1.channels.file.dataDirs = {d}/file/data\n\
         a1.channels.spill.type = spillablememory\n\
         a1.channels.spill.checkpointDir = {d}/spill/cp\n\
         a1.channels.spill.dataDirs = {d}/spill/data\n\
         a1.sinks.nul.type = null\n\
         a1.sinks.nul.channel = mem\n\
         a1.sinks.log.type = logger\n\
         a1.sinks.log.channel = file\n\
         a1.sinks.roll.type = file_roll\n\
         a1.sinks.roll.sink.directory = {d}\n\
         a1.sinks.roll.channel = spill\n"
    );
    for (component, keys) in NUMERIC {
        for key in *keys {
            let name = format!("a1.{component}.{key}");
            if !left_out.contains(&name) {
                text.push_str(&format!("{name} = {value}\n"));
            }
        }
    }
    text
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The extremes every numeric key or property is tried at.
const EXTREME_VALUES: [&str; 8] = [
    "-1",
    "0",
    "1",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "18446744073709551616",
    "99999999999999999999999999999999999999999999",
];

/// Write `make(left_out)` to `file` and run `sluice check -c conf` until it
/// passes, leaving out each `SECTION.KEY` it refuses; every refusal must
/// name `file` and a line of it that sets that key. The text it accepted.
fn leave_out_refused(
    conf: &Path,
    file: &Path,
    value: &str,
    make: impl Fn(&[String]) -> String,
) -> String {
    let mut left_out: Vec<String> = Vec::new();
    loop {
        let text = make(&left_out);
        std::fs::write(file, &text).expect("write");
        let out = run_bounded(&["check"], conf);
        let report = text_of(&out);
        if out.status.code() == Some(0) {
            return text;
        }
        let before = left_out.len();
        for line in report.lines().filter(|l| l.contains(": error: ")) {
            // FILE:LINE: error: [SECTION] KEY: ...
            let (at, rest) = line
                .split_once(": error: [")
                .expect("an error with a place");
            let (section, rest) = rest.split_once("] ").expect("a section");
            let key = rest.split(": ").next().expect("a key");
            let number: usize = at
                .rsplit(':')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a line");
            assert!(
                at.starts_with(&file.display().to_string())
                    && text
                        .lines()
                        .nth(number - 1)
                        .is_some_and(|l| l.contains(&format!("{key} ="))),
                "{value}: not at its file:line: {line}"
            );
            left_out.push(format!("{section}.{key}"));
        }
        assert!(
            left_out.len() > before,
            "{value}: no error named:\n{report}"
        );
    }
}

/// Every numeric property at each extreme: `sluice check` refuses it with
/// file, line and property, or accepts it, and then the agent runs with
/// every accepted one (traffic through netcat, exec and seq) and stops
/// cleanly, without a panic.
#[test]
fn agent_numbers_at_the_extremes_are_refused_or_run() {
    for value in EXTREME_VALUES {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("agent.conf");
        let conf = dir.path().join("sluice.conf");
        std::fs::write(
            &conf,
            base_config(dir.path())
                + &format!(
                    "[agent:x]\nconf_file = {}\nagent_name = a1\n",
                    file.display()
                ),
        )
        .expect("write config");
        let port = free_port();
        let text = leave_out_refused(&conf, &file, value, |left_out| {
            agent_file(dir.path(), port, value, left_out)
        });
        let mut agent = common::ForegroundAgent::start_file(&file);
        agent.wait_output("agent started");
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = s.write_all(b"a line\n");
        }
        let code = agent.stop();
        let out = agent.output();
        assert!(!out.contains("panicked"), "{value}:\n{text}\n{out}");
        assert_eq!(code, Some(0), "{value}:\n{text}\n{out}");
    }
}

/// A source waiting for room in a full channel whose keep-alive is the
/// longest allowed (68 years) does not hold the agent's stop.
#[test]
fn a_put_waiting_out_the_longest_keep_alive_does_not_hold_the_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let conf = format!(
        "a1.sources = r1 r2\n\
         a1.channels = mem file drained\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = seq\n\
         a1.sources.r1.channels = mem\n\
         a1.sources.r2.type = seq\n\
         a1.sources.r2.channels = file\n\
         a1.channels.mem.type = memory\n\
         a1.channels.mem.capacity = 10\n\
         a1.channels.mem.transactionCapacity = 10\n\
         a1.channels.mem.keep-alive = 2147483647\n\
         a1.channels.file.type = file\n\
         a1.channels.file.checkpointDir = {d}/cp\n\
         a1.channels.file.dataDirs = {d}/data\n\
         a1.channels.file.capacity = 10\n\
         a1.channels.file.transactionCapacity = 10\n\
         a1.channels.file.keep-alive = 2147483647\n\
         a1.channels.drained.type = memory\n\
         a1.sinks.k1.type = null\n\
         a1.sinks.k1.channel = drained\n"
    );
    let mut agent = common::ForegroundAgent::start(dir.path(), &conf);
    agent.wait_output("agent started");
    // Both channels fill at once (no sink drains them); the sources wait.
    let code = agent.stop();
    let out = agent.output();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("agent stopped"), "{out}");
}

/// Every numeric key of the supervisor config, by section (`minfds` and
/// `minprocs` aside: the daemon refuses to start when it cannot raise its
/// limits that far, as supervisord does; and the socket's `chmod`).
const INI_NUMERIC: &[(&str, &[&str])] = &[
    (
        "supervisord",
        &["logfile_maxbytes", "logfile_backups", "umask"],
    ),
    (
        "program:all",
        &[
            "priority",
            "startsecs",
            "startretries",
            "stopwaitsecs",
            "numprocs",
            "numprocs_start",
            "exitcodes",
            "stopsignal",
            "umask",
            "stdout_logfile_maxbytes",
            "stdout_logfile_backups",
            "stdout_capture_maxbytes",
            "stderr_logfile_maxbytes",
            "stderr_logfile_backups",
            "stderr_capture_maxbytes",
        ],
    ),
    ("group:g", &["priority"]),
];

fn ini_sections(value: &str, left_out: &[String]) -> String {
    let mut text = String::new();
    for (section, keys) in INI_NUMERIC {
        text.push_str(&format!("[{section}]\n"));
        match *section {
            "program:all" => text.push_str(
                "command = sleep 1000\nprocess_name = %(program_name)s_%(process_num)d\n",
            ),
            "group:g" => text.push_str("programs = all\n"),
            _ => {}
        }
        for key in *keys {
            if !left_out.contains(&format!("{section}.{key}")) {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
    }
    text
}

/// Every numeric INI key at each extreme: `sluice check` refuses it at its
/// file, line and key, or accepts it; the daemon then runs with every
/// accepted one, stops its programs and exits on SIGTERM, without a panic.
#[test]
fn ini_numbers_at_the_extremes_are_refused_or_run() {
    for value in EXTREME_VALUES {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("sluice.conf");
        let head = base_config(dir.path());
        let text = leave_out_refused(&conf, &conf, value, |left_out| {
            head.clone() + &ini_sections(value, left_out)
        });
        let programs = text.strip_prefix(head.as_str()).expect("the head");
        let mut d = Daemon::start(programs);
        let out = d.ctl(&["stop", "all"]);
        assert!(out.status.success(), "{value}: {out:?}\n{text}");
        d.signal(libc::SIGTERM);
        let status = d.wait_exit();
        let log = d.log();
        let stderr = std::fs::read_to_string(d.path("daemon.stderr")).unwrap_or_default();
        assert!(!log.contains("panicked"), "{value}:\n{text}\n{log}");
        assert!(!stderr.contains("panicked"), "{value}:\n{text}\n{stderr}");
        assert!(status.success(), "{value}: {status:?}\n{text}\n{stderr}");
    }
}
