//! The pipeline engine through the real binary: `sluice agent` in the
//! foreground and agents inside the daemon (in-process and as a child),
//! over real sockets.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Connect, retrying until the agent listens.
fn connect(port: u16) -> TcpStream {
    let mut stream = None;
    wait_for(&format!("port {port} to accept"), || {
        stream = TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    stream.expect("connected")
}

/// Send `lines` one at a time and collect the replies (ack-every-event).
fn send_acked(port: u16, lines: &[&str]) -> Vec<String> {
    let mut s = connect(port);
    // A reply that never comes fails the test instead of hanging it.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut replies = Vec::new();
    for l in lines {
        s.write_all(format!("{l}\n").as_bytes()).expect("send");
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("reply");
        replies.push(reply.trim_end().to_string());
    }
    replies
}

fn netcat_logger(port: u16) -> String {
    format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = netcat\n\
         a1.sources.r1.bind = 127.0.0.1\n\
         a1.sources.r1.port = {port}\n\
         a1.sources.r1.max-line-length = 20\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = logger\n\
         a1.sinks.k1.channel = c1\n"
    )
}

#[test]
fn netcat_lines_reach_the_logger_with_ok_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let agent = ForegroundAgent::start(dir.path(), &netcat_logger(port));
    let replies = send_acked(port, &["Hello", "world"]);
    assert_eq!(replies, ["OK", "OK"]);
    agent.wait_output("body: 48 65 6C 6C 6F ");
    agent.wait_output("Hello }");
    agent.wait_output("world }");
}

#[test]
fn an_over_long_line_gets_flumes_failed_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _agent = ForegroundAgent::start(dir.path(), &netcat_logger(port));
    let replies = send_acked(port, &["this line is longer than twenty bytes"]);
    assert!(replies[0].starts_with("FAILED: "), "{replies:?}");
}

/// An event larger than a memory channel's byteCapacity can never be put:
/// `FAILED: ...` at once with the reason, a log line, and the connection
/// goes on; the lines around it reach the sink.
#[test]
fn an_event_larger_than_byte_capacity_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = netcat_logger(port).replace("max-line-length = 20", "max-line-length = 4096")
        + "a1.channels.c1.byteCapacity = 100
           a1.channels.c1.byteCapacityBufferPercentage = 0
";
    let agent = ForegroundAgent::start(dir.path(), &conf);
    let big = "x".repeat(500);
    let replies = send_acked(port, &["small one", &big, "small two"]);
    assert_eq!(replies[0], "OK", "{replies:?}");
    assert!(
        replies[1].starts_with("FAILED: channel c1 can never hold this event: 500 bytes")
            && replies[1].contains("byteCapacity (1 slot of 100 bytes"),
        "{replies:?}"
    );
    assert_eq!(replies[2], "OK", "{replies:?}");
    agent.wait_output("small two");
    let output = agent.output();
    assert!(
        output.contains("an event of 500 bytes is dropped, not delivered"),
        "{output}"
    );
    assert!(!output.contains("not keeping up"), "{output}");
}

#[test]
fn a_bad_agent_file_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.conf");
    let text = netcat_logger(1).replace("a1.sources.r1.port = 1", "a1.sources.r1.port = many")
        + "a1.sinks.k1.type = loggr\n";
    std::fs::write(&file, text).expect("write");
    let out = Command::new(sluice())
        .args(["agent", "-f"])
        .arg(&file)
        .args(["-n", "a1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let f = file.display();
    assert!(
        err.contains(&format!(
            "{f}:6: error: [a1.sources.r1] port: 'many' is not a port number"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:12: error: [a1.sinks.k1] type: unknown sink type 'loggr' (known: logger, null, file_roll)")),
        "{err}"
    );
}

/// netcat -> logger, and a copy of every event into file_roll under `out`
/// (to know the events went through when the logger's lines are not kept).
fn netcat_logger_and_file(port: u16, out: &Path) -> String {
    format!(
        "{}a1.channels = c1 c2\n\
         a1.sinks = k1 k2\n\
         a1.sources.r1.channels = c1 c2\n\
         a1.channels.c2.type = memory\n\
         a1.sinks.k2.type = file_roll\n\
         a1.sinks.k2.sink.directory = {}\n\
         a1.sinks.k2.sink.rollInterval = 0\n\
         a1.sinks.k2.sink.batchSize = 1\n\
         a1.sinks.k2.channel = c2\n",
        netcat_logger(port),
        out.display()
    )
}

fn rolled_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

/// `-Dflume.root.logger=LEVEL,console` sets the agent log's level, as log4j
/// does for Flume (the logger sink's events are INFO lines); properties
/// sluice does not use are named in a warning.
#[test]
fn the_root_logger_property_sets_the_agent_log_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("rolled");
    std::fs::create_dir(&out).expect("mkdir");
    let port = free_port();
    let mut agent = ForegroundAgent::start_with(
        dir.path(),
        &netcat_logger_and_file(port, &out),
        &[
            "-Dflume.root.logger=WARN,console",
            "-Dflume.monitoring.type=http",
            "-Dno.such.property=1",
        ],
    );
    assert_eq!(send_acked(port, &["quiet"]), ["OK"]);
    wait_for("the event in file_roll", || rolled_text(&out) == "quiet\n");
    agent.stop();
    let text = agent.output();
    assert!(!text.contains("quiet }"), "an INFO line was kept: {text}");
    assert!(!text.contains("agent started"), "{text}");
    assert!(
        text.contains("-Dflume.monitoring.type=http: monitoring is not implemented yet"),
        "{text}"
    );
    assert!(
        text.contains("-Dno.such.property=1: unknown property; ignored"),
        "{text}"
    );
}

/// The same in the daemon, in-process and as a child (which gets the
/// property passed on); `sluice check` names the properties it ignores.
#[test]
fn the_root_logger_property_of_a_flume_ng_program_sets_its_log_level() {
    for isolation in ["inprocess", "process"] {
        let conf_dir = tempfile::tempdir().expect("tempdir");
        let out = conf_dir.path().join("rolled");
        std::fs::create_dir(&out).expect("mkdir");
        let port = free_port();
        let conf = conf_dir.path().join("example.conf");
        std::fs::write(&conf, netcat_logger_and_file(port, &out)).expect("write");
        let program = agent_program("flume", &conf, isolation).replace(
            "-Dflume.root.logger=INFO,console",
            "-Dflume.root.logger=WARN,console -Dflume.monitoring.port=34545",
        );
        let d = Daemon::start(&program);
        d.wait_state("flume", "RUNNING");
        assert_eq!(send_acked(port, &["quiet"]), ["OK"]);
        wait_for("the event in file_roll", || rolled_text(&out) == "quiet\n");
        let log = std::fs::read_to_string(d.path("flume.log")).unwrap_or_default();
        assert!(!log.contains("quiet }"), "{isolation}: {log}");
        assert!(!log.contains("agent started"), "{isolation}: {log}");
        let check = Command::new(sluice())
            .args(["check", "-c"])
            .arg(d.conf())
            .output()
            .expect("sluice check");
        let said = String::from_utf8_lossy(&check.stdout).into_owned()
            + &String::from_utf8_lossy(&check.stderr);
        assert!(
            said.contains("-Dflume.monitoring.port=34545: monitoring is not implemented yet"),
            "{said}"
        );
    }
}

/// exec (through `/bin/sh -c`) -> memory -> logger; `extra` adds source
/// properties, one `key = value` per line, without the `a1.sources.r1.` prefix.
fn exec_logger(command: &str, extra: &[&str]) -> String {
    let extra: String = extra
        .iter()
        .map(|p| format!("a1.sources.r1.{p}\n"))
        .collect();
    format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = exec\n\
         a1.sources.r1.shell = /bin/sh -c\n\
         a1.sources.r1.command = {command}\n\
         {extra}\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = logger\n\
         a1.sinks.k1.channel = c1\n"
    )
}

/// The daemon config for one agent program, in-process or as a child.
fn agent_program(name: &str, conf: &Path, isolation: &str) -> String {
    format!(
        "[program:{name}]\n\
         command = flume-ng agent --conf conf --conf-file {} --name a1 -Dflume.root.logger=INFO,console\n\
         isolation = {isolation}\n\
         startsecs = 1\n\
         startretries = 1\n\
         stopwaitsecs = 5\n\
         stdout_logfile = {{dir}}/{name}.log\n\
         redirect_stderr = true\n",
        conf.display()
    )
}

fn daemon_agent_round_trip(isolation: &str) {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = conf_dir.path().join("example.conf");
    std::fs::write(&conf, netcat_logger(port)).expect("write");
    let d = Daemon::start(&agent_program("flume", &conf, isolation));
    d.wait_state("flume", "RUNNING");
    assert_eq!(send_acked(port, &["Hello"]), ["OK"]);
    wait_for("the event in the program's log", || {
        d.ctl_out(&["tail", "flume"]).contains("Hello }")
    });
    let out = d.ctl_out(&["stop", "flume"]);
    assert_eq!(out.trim(), "flume: stopped");
    // The port is free again once the agent stopped.
    wait_for("the port to be released", || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    });
}

#[test]
fn an_in_process_agent_runs_in_the_daemon() {
    daemon_agent_round_trip("inprocess");
}

/// An in-process agent has no pid of its own: `pid` says 0 (as supervisord
/// for a process without one), never the daemon's, so `kill $(sluice ctl
/// pid agent)` cannot kill the daemon; `status` says where it runs.
#[test]
fn an_in_process_agent_reports_pid_0_and_says_it_runs_in_process() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("example.conf");
    std::fs::write(&conf, netcat_logger(free_port())).expect("write");
    let d = Daemon::start(&agent_program("flume", &conf, "inprocess"));
    d.wait_state("flume", "RUNNING");
    assert_eq!(d.ctl_out(&["pid", "flume"]).trim(), "0");
    let status = d.ctl_out(&["status", "flume"]);
    assert!(status.contains("RUNNING   in-process, uptime "), "{status}");
    assert_eq!(compare::py(&d.conf(), &["pid", "flume"]).stdout.trim(), "0");
}

#[test]
fn an_agent_runs_as_a_child_process() {
    daemon_agent_round_trip("process");
}

#[test]
fn an_agent_whose_port_is_taken_goes_fatal_with_the_error_in_its_log() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("example.conf");
    std::fs::write(&conf, netcat_logger(port)).expect("write");
    let d = Daemon::start(&agent_program("flume", &conf, "inprocess"));
    d.wait_state("flume", "FATAL");
    let log = std::fs::read_to_string(d.path("flume.log")).unwrap_or_default();
    assert!(log.contains("cannot start"), "{log}");
    assert!(log.contains(&port.to_string()), "{log}");
    let daemon_log = d.log();
    assert!(
        daemon_log.contains("gave up: flume entered FATAL state"),
        "{daemon_log}"
    );
}

#[test]
fn an_exec_source_restarts_its_command_and_the_command_dies_with_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stay = dir.path().join("stay");
    // Prints two lines and exits, until `stay` exists: then it says its pid
    // and stays (as a sleep with the same pid).
    let command = format!(
        "if [ -e {s} ]; then echo stay $$; exec sleep 600; fi; echo run; echo tick",
        s = stay.display()
    );
    let conf = exec_logger(
        &command,
        &[
            "restart = true",
            "restartThrottle = 100",
            "batchTimeout = 50",
        ],
    );
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    wait_for("the command's lines more than once (a restart)", || {
        agent.output().matches("tick }").count() >= 2
    });
    assert!(
        agent
            .output()
            .contains("exited with code 0; restarting in 100 ms")
    );
    std::fs::write(&stay, "").expect("create stay");
    let mut pid = 0;
    wait_for("the staying command's pid", || {
        let out = agent.output();
        // The event's text ends the logger's line: `stay 1234 }`.
        pid = out
            .split("stay ")
            .skip(1)
            .find_map(|rest| rest.split(" }").next()?.parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    assert!(alive(pid), "the command {pid} runs");
    // SAFETY: signalling the agent process this test started.
    unsafe {
        libc::kill(agent.child.id() as i32, libc::SIGTERM);
    }
    wait_for("the agent to exit", || {
        matches!(agent.child.try_wait(), Ok(Some(_)))
    });
    wait_for("the command to be gone", || !alive(pid));
    assert!(
        agent.output().contains("stopped command"),
        "{}",
        agent.output()
    );
}

/// Flume's ExecSource flushes the lines it read when it stops; so does
/// ours: a partial batch (batchSize 20, batchTimeout 3 s) is not lost.
#[test]
fn an_exec_source_delivers_what_it_read_when_the_agent_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mark = dir.path().join("mark");
    let conf = exec_logger(
        &format!("echo one; echo two; touch {}; sleep 100", mark.display()),
        &[],
    );
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    wait_for("the command's lines written", || mark.exists());
    agent.stop();
    let out = agent.output();
    for line in ["one", "two"] {
        assert!(
            out.contains(&format!("{line} }}")),
            "the line {line} was lost at stop: {out}"
        );
    }
}

#[test]
fn an_exec_command_dies_when_its_agent_is_killed_outright() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = &exec_logger("echo pid $$; exec sleep 600", &["batchTimeout = 50"]);
    let mut agent = ForegroundAgent::start(dir.path(), conf);
    let mut pid = 0;
    wait_for("the command's pid", || {
        pid = agent
            .output()
            .split("pid ")
            .skip(1)
            .find_map(|rest| rest.split(" }").next()?.parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    assert!(alive(pid), "the command {pid} runs");
    // SIGKILL: the agent cannot stop anything; PR_SET_PDEATHSIG must.
    agent.child.kill().expect("kill the agent");
    let _ = agent.child.wait();
    wait_for("the command to be gone", || !alive(pid));
}

#[test]
fn an_exec_source_in_an_in_process_agent_gets_its_commands_exit_codes() {
    // The daemon reaps every child of its process (waitpid(-1)); the exit
    // status of an exec source's command must still reach the source.
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("exec.conf");
    std::fs::write(
        &conf,
        exec_logger(
            "echo tick; exit 3",
            &["restart = true", "restartThrottle = 50"],
        ),
    )
    .expect("write");
    let d = Daemon::start(&agent_program("flume", &conf, "inprocess"));
    d.wait_state("flume", "RUNNING");
    let log = || std::fs::read_to_string(d.path("flume.log")).unwrap_or_default();
    wait_for("five exits of the command", || {
        log()
            .matches("exited with code 3; restarting in 50 ms")
            .count()
            >= 5
    });
    let text = log();
    assert!(!text.contains("status unknown"), "{text}");
    assert!(
        !d.log().contains("reaped unknown pid"),
        "the daemon kept an exec command's status: {}",
        d.log()
    );
}
