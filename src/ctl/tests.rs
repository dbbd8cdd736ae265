//! Every command against the scripted daemon: exact output, exit codes and
//! the calls made.

use std::time::Duration;

use super::fake::{FakeRpc, info, outcome};
use super::format::{columnize, split_namespec};
use super::{CallError, LocalFuture, Options, Unreachable, run, run_with};
use crate::rpc::{Value, faults};

async fn ctl(rpc: &FakeRpc, args: &[&str]) -> (String, String, i32) {
    ctl_with(rpc, args, &Options::default()).await
}

async fn ctl_with(rpc: &FakeRpc, args: &[&str], opts: &Options) -> (String, String, i32) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(rpc, &args, &mut out, &mut err, opts).await;
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        code,
    )
}

fn params(rpc: &FakeRpc, method: &str) -> Vec<Vec<Value>> {
    rpc.calls()
        .into_iter()
        .filter(|(m, _)| m == method)
        .map(|(_, p)| p)
        .collect()
}

const RUNNING: i64 = 20;
const STOPPED: i64 = 0;

/// Three processes: `web` alone in its group, `workers:w0` and `workers:w1`.
fn daemon() -> FakeRpc {
    FakeRpc::new().on(
        "supervisor.getAllProcessInfo",
        Ok(Value::Array(vec![
            info(
                "web",
                "web",
                RUNNING,
                "RUNNING",
                "pid 123, uptime 0:00:05",
                123,
            ),
            info(
                "workers",
                "w0",
                RUNNING,
                "RUNNING",
                "pid 124, uptime 1:02:03",
                124,
            ),
            info("workers", "w1", STOPPED, "STOPPED", "Not started", 0),
        ])),
    )
}

const WEB: &str = "web                              RUNNING   pid 123, uptime 0:00:05\n";
const W0: &str = "workers:w0                       RUNNING   pid 124, uptime 1:02:03\n";
const W1: &str = "workers:w1                       STOPPED   Not started\n";

// ---- status ----

#[tokio::test]
async fn status_all_lists_every_process_and_exits_3_when_one_is_stopped() {
    let rpc = daemon();
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(out, format!("{WEB}{W0}{W1}"));
    assert_eq!(code, 3);
    assert_eq!(
        rpc.methods(),
        ["supervisor.getVersion", "supervisor.getAllProcessInfo"]
    );
    let (out2, _, code2) = ctl(&rpc, &["status", "all"]).await;
    assert_eq!((out2, code2), (out, 3));
}

#[tokio::test]
async fn status_of_running_processes_exits_0() {
    let rpc = daemon();
    let (out, _, code) = ctl(&rpc, &["status", "web", "workers:w0"]).await;
    assert_eq!(out, format!("{WEB}{W0}"));
    assert_eq!(code, 0);
}

#[tokio::test]
async fn status_group_star_selects_the_group() {
    let rpc = daemon();
    let (out, _, code) = ctl(&rpc, &["status", "workers:*"]).await;
    assert_eq!(out, format!("{W0}{W1}"));
    assert_eq!(code, 3);
}

#[tokio::test]
async fn status_unknown_names_print_errors_first_and_exit_4() {
    let rpc = daemon();
    let (out, _, code) = ctl(&rpc, &["status", "nosuch", "web", "nog:*", "workers:zz"]).await;
    assert_eq!(
        out,
        format!(
            "nosuch: ERROR (no such process)\nnog: ERROR (no such group)\n\
             workers:zz: ERROR (no such process)\n{WEB}"
        )
    );
    assert_eq!(code, 4);
    // A stopped process shown alongside wins: 3.
    let (_, _, code) = ctl(&rpc, &["status", "nosuch", "workers:w1"]).await;
    assert_eq!(code, 3);
}

#[tokio::test]
async fn status_backoff_and_starting_are_not_stopped() {
    let rpc = FakeRpc::new().on(
        "supervisor.getAllProcessInfo",
        Ok(Value::Array(vec![
            info(
                "a",
                "a",
                30,
                "BACKOFF",
                "Exited too quickly (process log may have details)",
                0,
            ),
            info("b", "b", 10, "STARTING", "", 0),
            info("c", "c", 40, "STOPPING", "", 9),
        ])),
    );
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(
        out,
        "a                                BACKOFF   Exited too quickly (process log may have details)\n\
         b                                STARTING  \n\
         c                                STOPPING  \n"
    );
    assert_eq!(code, 0);
    for (state, name) in [(100, "EXITED"), (200, "FATAL"), (1000, "UNKNOWN")] {
        let rpc = FakeRpc::new().on(
            "supervisor.getAllProcessInfo",
            Ok(Value::Array(vec![info("a", "a", state, name, "", 0)])),
        );
        assert_eq!(ctl(&rpc, &["status"]).await.2, 3, "{name}");
    }
}

#[tokio::test]
async fn status_name_column_grows_with_long_names() {
    let long = "a-really-long-program-name-here-x"; // 33 chars
    let rpc = FakeRpc::new().on(
        "supervisor.getAllProcessInfo",
        Ok(Value::Array(vec![
            info(long, long, RUNNING, "RUNNING", "pid 1, uptime 0:00:01", 1),
            info("b", "b", RUNNING, "RUNNING", "pid 2, uptime 0:00:01", 2),
        ])),
    );
    let (out, _, _) = ctl(&rpc, &["status"]).await;
    assert_eq!(
        out,
        format!(
            "{long}   RUNNING   pid 1, uptime 0:00:01\n\
             b{}RUNNING   pid 2, uptime 0:00:01\n",
            " ".repeat(35)
        )
    );
}

#[tokio::test]
async fn status_with_no_processes_prints_nothing() {
    let rpc = FakeRpc::new().on("supervisor.getAllProcessInfo", Ok(Value::Array(vec![])));
    assert_eq!(
        ctl(&rpc, &["status"]).await,
        (String::new(), String::new(), 0)
    );
}

#[tokio::test]
async fn status_json_prints_the_process_info_structs() {
    let rpc = daemon();
    let (out, err, code) = ctl(&rpc, &["status", "--json", "workers:*", "nosuch"]).await;
    assert_eq!(err, "nosuch: ERROR (no such process)\n");
    assert_eq!(code, 3, "workers:w1 is stopped");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "w0");
    assert_eq!(list[0]["group"], "workers");
    assert_eq!(list[0]["pid"], 124);
    assert_eq!(list[0]["statename"], "RUNNING");
    assert_eq!(list[0]["description"], "pid 124, uptime 1:02:03");
    assert_eq!(list[1]["state"], 0);
    for key in [
        "start",
        "stop",
        "now",
        "spawnerr",
        "exitstatus",
        "stdout_logfile",
    ] {
        assert!(list[1].get(key).is_some(), "{key}");
    }
    let (out, _, code) = ctl(&rpc, &["status", "--json", "web"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with('['), "{out}");
}

#[tokio::test]
async fn status_unreachable_exits_4_either_way() {
    let rpc = FakeRpc::unreachable(Unreachable::Refused);
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(out, "unix:///tmp/sluice.sock refused connection\n");
    assert_eq!(code, 4);
    let rpc = FakeRpc::unreachable(Unreachable::NoSuchFile);
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(out, "unix:///tmp/sluice.sock no such file\n");
    assert_eq!(code, 4);
    assert_eq!(rpc.methods(), ["supervisor.getVersion"]);
}

#[tokio::test]
async fn status_other_connection_errors_are_generic() {
    let rpc = FakeRpc::unreachable(Unreachable::Other("Permission denied".into()));
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(out, "error: unix:///tmp/sluice.sock: Permission denied\n");
    assert_eq!(code, 1);
}

#[tokio::test]
async fn auth_failure_is_reported_with_exit_1() {
    let rpc = FakeRpc::new().on("supervisor.getVersion", Err(CallError::Auth));
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(out, "Server requires authentication\n");
    assert_eq!(code, 1);
}

#[tokio::test]
async fn malformed_replies_are_errors_not_panics() {
    let rpc = FakeRpc::new().on("supervisor.getAllProcessInfo", Ok(Value::Int(3)));
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(
        out,
        "error: malformed reply from the server: supervisor.getAllProcessInfo returned an int, not an array\n"
    );
    assert_eq!(code, 1);
    let rpc = FakeRpc::new().on(
        "supervisor.getAllProcessInfo",
        Ok(Value::Array(vec![Value::Struct(vec![(
            "name".into(),
            "x".into(),
        )])])),
    );
    let (out, _, code) = ctl(&rpc, &["status"]).await;
    assert_eq!(
        out,
        "error: malformed reply from the server: struct has no member 'group'\n"
    );
    assert_eq!(code, 1);
    let rpc = FakeRpc::new().on("supervisor.startAllProcesses", Ok(Value::Bool(true)));
    assert_eq!(ctl(&rpc, &["start", "all"]).await.2, 1);
    let rpc = FakeRpc::new().on("supervisor.tailProcessStdoutLog", Ok(Value::Int(1)));
    assert_eq!(ctl(&rpc, &["tail", "-f", "x"]).await.2, 1);
}

#[tokio::test]
async fn upcheck_reports_wrong_api_version_and_missing_namespace() {
    let rpc = FakeRpc::new().on("supervisor.getVersion", Ok(Value::from("2.0")));
    let (out, _, code) = ctl(&rpc, &["start", "x"]).await;
    assert_eq!(
        out,
        "Sorry, this version of supervisorctl expects to talk to a server with API \
         version 3.0, but the remote version is 2.0.\n"
    );
    assert_eq!(code, 5);
    assert_eq!(ctl(&rpc, &["status"]).await.2, 4);

    let rpc = FakeRpc::new().fault("supervisor.getVersion", faults::UNKNOWN_METHOD, "");
    let (out, _, code) = ctl(&rpc, &["pid"]).await;
    assert!(out.starts_with("Sorry, supervisord responded but did not recognize"));
    assert!(out.ends_with("(see sample.conf).\n"));
    assert_eq!(code, 3);
}

// ---- start / stop / restart ----

#[tokio::test]
async fn start_without_names_is_a_usage_error_exit_2() {
    let rpc = FakeRpc::new();
    let (out, _, code) = ctl(&rpc, &["start"]).await;
    assert_eq!(
        out,
        "Error: start requires a process name\n\
         start <name>\t\tStart a process\n\
         start <gname>:*\t\tStart all processes in a group\n\
         start <name> <name>\tStart multiple processes or groups\n\
         start all\t\tStart all processes\n"
    );
    assert_eq!(code, 2);
}

#[tokio::test]
async fn start_one_process_waits_and_reports() {
    let rpc = FakeRpc::new().on("supervisor.startProcess", Ok(Value::Bool(true)));
    let (out, _, code) = ctl(&rpc, &["start", "web", "workers:w0"]).await;
    assert_eq!(out, "web: started\nworkers:w0: started\n");
    assert_eq!(code, 0);
    assert_eq!(
        params(&rpc, "supervisor.startProcess"),
        [
            vec![Value::from("web"), Value::Bool(true)],
            vec![Value::from("workers:w0"), Value::Bool(true)]
        ]
    );
}

#[tokio::test]
async fn start_faults_map_to_supervisorctl_messages_and_codes() {
    let cases = [
        (faults::ALREADY_STARTED, "web: ERROR (already started)", 0),
        (faults::SPAWN_ERROR, "web: ERROR (spawn error)", 7),
        (
            faults::ABNORMAL_TERMINATION,
            "web: ERROR (abnormal termination)",
            7,
        ),
        (faults::BAD_NAME, "web: ERROR (no such process)", 1),
        (faults::NO_FILE, "web: ERROR (no such file)", 1),
        (
            faults::NOT_EXECUTABLE,
            "web: ERROR (file is not executable)",
            1,
        ),
        (faults::FAILED, "error: unknown result code 30 for web", 1),
    ];
    for (fault, line, want) in cases {
        let rpc = FakeRpc::new().fault("supervisor.startProcess", fault, "web");
        let (out, _, code) = ctl(&rpc, &["start", "web"]).await;
        assert_eq!(out, format!("{line}\n"));
        assert_eq!(code, want, "{line}");
    }
    let rpc = FakeRpc::new().fault("supervisor.startProcess", faults::SPAWN_ERROR, "g:p");
    assert_eq!(
        ctl(&rpc, &["start", "g:p"]).await.0,
        "g:p: ERROR (spawn error)\n"
    );
}

#[tokio::test]
async fn start_exit_is_the_last_failure() {
    let rpc = FakeRpc::new()
        .fault("supervisor.startProcess", faults::SPAWN_ERROR, "a")
        .fault("supervisor.startProcess", faults::BAD_NAME, "b")
        .fault("supervisor.startProcess", faults::ALREADY_STARTED, "c");
    let (out, _, code) = ctl(&rpc, &["start", "a", "b", "c"]).await;
    assert_eq!(
        out,
        "a: ERROR (spawn error)\nb: ERROR (no such process)\nc: ERROR (already started)\n"
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn start_group_and_all() {
    let rpc = FakeRpc::new()
        .on(
            "supervisor.startProcessGroup",
            Ok(Value::Array(vec![
                outcome("workers", "w0", faults::SUCCESS, "OK"),
                outcome(
                    "workers",
                    "w1",
                    faults::SPAWN_ERROR,
                    "SPAWN_ERROR: workers:w1",
                ),
            ])),
        )
        .on(
            "supervisor.startAllProcesses",
            Ok(Value::Array(vec![
                outcome("web", "web", faults::ALREADY_STARTED, "already"),
                outcome("workers", "w0", faults::SUCCESS, "OK"),
            ])),
        );
    let (out, _, code) = ctl(&rpc, &["start", "workers:*"]).await;
    assert_eq!(
        out,
        "workers:w0: started\nworkers:w1: ERROR (spawn error)\n"
    );
    assert_eq!(code, 7);
    assert_eq!(
        params(&rpc, "supervisor.startProcessGroup"),
        [vec![Value::from("workers"), Value::Bool(true)]]
    );
    let (out, _, code) = ctl(&rpc, &["start", "web", "all"]).await;
    assert_eq!(out, "web: ERROR (already started)\nworkers:w0: started\n");
    assert_eq!(code, 0);
    assert_eq!(
        params(&rpc, "supervisor.startAllProcesses"),
        [vec![Value::Bool(true)]]
    );
    assert!(params(&rpc, "supervisor.startProcess").is_empty());
}

#[tokio::test]
async fn start_unknown_group_exits_2_stop_unknown_group_exits_1() {
    let rpc = FakeRpc::new()
        .fault("supervisor.startProcessGroup", faults::BAD_NAME, "nog")
        .fault("supervisor.stopProcessGroup", faults::BAD_NAME, "nog");
    let (out, _, code) = ctl(&rpc, &["start", "nog:*"]).await;
    assert_eq!((out.as_str(), code), ("nog: ERROR (no such group)\n", 2));
    let (out, _, code) = ctl(&rpc, &["stop", "nog:"]).await;
    assert_eq!((out.as_str(), code), ("nog: ERROR (no such group)\n", 1));
}

#[tokio::test]
async fn start_unreachable_uses_supervisorctl_exit_codes() {
    let rpc = FakeRpc::unreachable(Unreachable::Refused);
    let (out, _, code) = ctl(&rpc, &["start", "web"]).await;
    assert_eq!(
        (out.as_str(), code),
        ("unix:///tmp/sluice.sock refused connection\n", 4)
    );
    let rpc = FakeRpc::unreachable(Unreachable::NoSuchFile);
    let (out, _, code) = ctl(&rpc, &["start"]).await;
    assert_eq!(
        (out.as_str(), code),
        ("unix:///tmp/sluice.sock no such file\n", 7)
    );
}

#[tokio::test]
async fn stop_reports_and_not_running_is_not_an_error() {
    let rpc = FakeRpc::new()
        .on("supervisor.stopProcess", Ok(Value::Bool(true)))
        .fault("supervisor.stopProcess", faults::NOT_RUNNING, "");
    let (out, _, code) = ctl(&rpc, &["stop", "web", "workers:w1"]).await;
    assert_eq!(out, "web: stopped\nworkers:w1: ERROR (not running)\n");
    assert_eq!(code, 0);
    assert_eq!(
        params(&rpc, "supervisor.stopProcess")[0],
        [Value::from("web"), Value::Bool(true)]
    );
    let rpc = FakeRpc::new().fault("supervisor.stopProcess", faults::BAD_NAME, "x");
    assert_eq!(
        ctl(&rpc, &["stop", "x"]).await,
        ("x: ERROR (no such process)\n".into(), String::new(), 1)
    );
}

#[tokio::test]
async fn stop_without_names_exits_1() {
    let rpc = FakeRpc::new();
    let (out, _, code) = ctl(&rpc, &["stop"]).await;
    assert!(
        out.starts_with("Error: stop requires a process name\nstop <name>\t\tStop a process\n")
    );
    assert!(out.ends_with("stop all\t\tStop all processes\n"));
    assert_eq!(code, 1);
}

#[tokio::test]
async fn stop_all_prints_failed_descriptions_verbatim() {
    let rpc = FakeRpc::new().on(
        "supervisor.stopAllProcesses",
        Ok(Value::Array(vec![
            outcome("web", "web", faults::SUCCESS, "OK"),
            outcome("workers", "w0", faults::FAILED, "FAILED: could not kill"),
            outcome("workers", "w1", faults::NOT_RUNNING, ""),
        ])),
    );
    let (out, _, code) = ctl(&rpc, &["stop", "all"]).await;
    assert_eq!(
        out,
        "web: stopped\nFAILED: could not kill\nworkers:w1: ERROR (not running)\n"
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn restart_is_stop_then_start() {
    let rpc = FakeRpc::new()
        .on("supervisor.stopProcess", Ok(Value::Bool(true)))
        .on("supervisor.startProcess", Ok(Value::Bool(true)));
    let (out, _, code) = ctl(&rpc, &["restart", "web"]).await;
    assert_eq!(out, "web: stopped\nweb: started\n");
    assert_eq!(code, 0);
    assert_eq!(
        rpc.methods(),
        [
            "supervisor.getVersion",
            "supervisor.stopProcess",
            "supervisor.startProcess"
        ]
    );
    let rpc = FakeRpc::new()
        .fault("supervisor.stopProcess", faults::NOT_RUNNING, "")
        .fault("supervisor.startProcess", faults::SPAWN_ERROR, "web");
    let (out, _, code) = ctl(&rpc, &["restart", "web"]).await;
    assert_eq!(out, "web: ERROR (not running)\nweb: ERROR (spawn error)\n");
    assert_eq!(code, 7);
}

#[tokio::test]
async fn restart_without_names_exits_1_with_help() {
    let rpc = FakeRpc::new();
    let (out, _, code) = ctl(&rpc, &["restart"]).await;
    assert!(out.starts_with(
        "Error: restart requires a process name\nrestart <name>\t\tRestart a process\n"
    ));
    assert!(out.ends_with(
        "Note: restart does not reread config files. For that, see reread and update.\n"
    ));
    assert_eq!(code, 1);
}

// ---- pid ----

#[tokio::test]
async fn pid_of_daemon_all_and_names() {
    let rpc = daemon()
        .on("supervisor.getPID", Ok(Value::Int(4242)))
        .on(
            "supervisor.getProcessInfo",
            Ok(info("web", "web", RUNNING, "RUNNING", "", 123)),
        )
        .on(
            "supervisor.getProcessInfo",
            Ok(info("workers", "w1", STOPPED, "STOPPED", "", 0)),
        );
    assert_eq!(
        ctl(&rpc, &["pid"]).await,
        ("4242\n".into(), String::new(), 0)
    );
    assert_eq!(ctl(&rpc, &["pid", "all"]).await.0, "123\n124\n0\n");
    let (out, _, code) = ctl(&rpc, &["pid", "web", "workers:w1"]).await;
    // A process that is not running: 0, and supervisorctl's NOT_RUNNING.
    assert_eq!((out.as_str(), code), ("123\n0\n", 7));
    assert_eq!(
        params(&rpc, "supervisor.getProcessInfo"),
        [vec![Value::from("web")], vec![Value::from("workers:w1")]]
    );
}

#[tokio::test]
async fn pid_of_unknown_name_exits_1() {
    let rpc = FakeRpc::new().fault("supervisor.getProcessInfo", faults::BAD_NAME, "nosuch");
    let (out, _, code) = ctl(&rpc, &["pid", "nosuch"]).await;
    assert_eq!((out.as_str(), code), ("No such process nosuch\n", 1));
}

// ---- tail ----

#[tokio::test]
async fn tail_reads_the_last_1600_bytes_of_stdout() {
    let rpc = FakeRpc::new()
        .on(
            "supervisor.readProcessStdoutLog",
            Ok(Value::from("line 1\nline 2\n")),
        )
        .on("supervisor.readProcessStderrLog", Ok(Value::from("oops\n")));
    let (out, _, code) = ctl(&rpc, &["tail", "web"]).await;
    assert_eq!((out.as_str(), code), ("line 1\nline 2\n\n", 0));
    assert_eq!(
        params(&rpc, "supervisor.readProcessStdoutLog"),
        [vec![Value::from("web"), Value::Int(-1600), Value::Int(0)]]
    );
    let (out, _, _) = ctl(&rpc, &["tail", "-100", "web", "STDERR"]).await;
    assert_eq!(out, "oops\n\n");
    assert_eq!(
        params(&rpc, "supervisor.readProcessStderrLog"),
        [vec![Value::from("web"), Value::Int(-100), Value::Int(0)]]
    );
    let (_, _, _) = ctl(&rpc, &["tail", "web", "stdout"]).await;
    assert_eq!(params(&rpc, "supervisor.readProcessStdoutLog").len(), 2);
}

#[tokio::test]
async fn tail_argument_errors() {
    let rpc = FakeRpc::new();
    let (out, _, code) = ctl(&rpc, &["tail"]).await;
    assert!(out.starts_with(
        "Error: too few arguments\ntail [-f] <name> [stdout|stderr] (default stdout)\nEx:\n"
    ));
    assert!(out.ends_with("tail <name> stderr\tlast 1600 *bytes* of process stderr\n"));
    assert_eq!(code, 1);
    let (out, _, code) = ctl(&rpc, &["tail", "-f", "a", "b", "c"]).await;
    assert!(out.starts_with("Error: too many arguments\ntail [-f]"));
    assert_eq!(code, 1);
    assert_eq!(
        ctl(&rpc, &["tail", "web", "stdlog"]).await,
        ("Error: bad channel 'stdlog'\n".into(), String::new(), 1)
    );
    assert_eq!(
        ctl(&rpc, &["tail", "-f"]).await,
        (
            "Error: tail requires process name\n".into(),
            String::new(),
            1
        )
    );
    assert_eq!(
        ctl(&rpc, &["tail", "-x", "web"]).await,
        ("Error: bad argument -x\n".into(), String::new(), 1)
    );
}

#[tokio::test]
async fn tail_faults() {
    let cases = [
        (faults::BAD_NAME, "web: ERROR (no such process name)"),
        (faults::NO_FILE, "web: ERROR (no log file)"),
        (faults::FAILED, "web: ERROR (unknown error reading log)"),
    ];
    for (fault, line) in cases {
        let rpc = FakeRpc::new().fault("supervisor.readProcessStdoutLog", fault, "web");
        assert_eq!(
            ctl(&rpc, &["tail", "web"]).await,
            (format!("{line}\n"), String::new(), 1)
        );
    }
    let rpc = FakeRpc::new().fault(
        "supervisor.readProcessStdoutLog",
        faults::SHUTDOWN_STATE,
        "",
    );
    let (out, _, code) = ctl(&rpc, &["tail", "web"]).await;
    assert_eq!(
        out,
        "error: <class 'xmlrpc.client.Fault'>, <Fault 6: 'SHUTDOWN_STATE'>\n"
    );
    assert_eq!(code, 1);
}

fn interrupt_soon() -> LocalFuture<'static, ()> {
    Box::pin(tokio::time::sleep(Duration::from_millis(60)))
}

fn tail_chunk(data: &str, offset: i64) -> Result<Value, CallError> {
    Ok(Value::Array(vec![
        data.into(),
        Value::Int(offset),
        Value::Bool(false),
    ]))
}

#[tokio::test]
async fn tail_follow_polls_for_new_bytes_until_interrupted() {
    let rpc = FakeRpc::new()
        .on("supervisor.tailProcessStderrLog", tail_chunk("hello\n", 6))
        .on("supervisor.tailProcessStderrLog", tail_chunk("wor", 9))
        .on("supervisor.tailProcessStderrLog", tail_chunk("ld\n", 12))
        .on("supervisor.tailProcessStderrLog", tail_chunk("", 12));
    let opts = Options {
        tail_poll: Duration::from_millis(2),
        interrupt: interrupt_soon,
    };
    let (out, _, code) = ctl_with(&rpc, &["tail", "-f", "web", "stderr"], &opts).await;
    assert_eq!(out, "==> Press Ctrl-C to exit <==\nhello\nworld\n\n");
    assert_eq!(code, 0);
    let calls = params(&rpc, "supervisor.tailProcessStderrLog");
    assert!(calls.len() >= 4, "{}", calls.len());
    assert_eq!(
        calls[0],
        [Value::from("web"), Value::Int(0), Value::Int(1600)]
    );
    assert_eq!(
        calls[1],
        [Value::from("web"), Value::Int(6), Value::Int(65536)]
    );
    assert_eq!(
        calls[3],
        [Value::from("web"), Value::Int(12), Value::Int(65536)]
    );
}

#[tokio::test]
async fn tail_follow_unknown_process() {
    let rpc = FakeRpc::new().fault("supervisor.tailProcessStdoutLog", faults::BAD_NAME, "x");
    let (out, _, code) = ctl(&rpc, &["tail", "-f", "x"]).await;
    assert_eq!(
        out,
        "==> Press Ctrl-C to exit <==\nx: ERROR (no such process name)\n"
    );
    assert_eq!(code, 1);
}

// ---- shutdown / version / help / unknown ----

#[tokio::test]
async fn shutdown_reports_and_skips_the_upcheck() {
    let rpc = FakeRpc::new().on("supervisor.shutdown", Ok(Value::Bool(true)));
    assert_eq!(
        ctl(&rpc, &["shutdown"]).await,
        ("Shut down\n".into(), String::new(), 0)
    );
    assert_eq!(rpc.methods(), ["supervisor.shutdown"]);

    let rpc = FakeRpc::new().fault("supervisor.shutdown", faults::SHUTDOWN_STATE, "");
    assert_eq!(
        ctl(&rpc, &["shutdown"]).await,
        ("ERROR: already shutting down\n".into(), String::new(), 0)
    );
    let rpc = FakeRpc::unreachable(Unreachable::Refused);
    assert_eq!(
        ctl(&rpc, &["shutdown"]).await,
        (
            "ERROR: unix:///tmp/sluice.sock refused connection (already shut down?)\n".into(),
            String::new(),
            1
        )
    );
    let rpc = FakeRpc::unreachable(Unreachable::NoSuchFile);
    assert_eq!(
        ctl(&rpc, &["shutdown"]).await.0,
        "ERROR: unix:///tmp/sluice.sock no such file (already shut down?)\n"
    );
}

#[tokio::test]
async fn version_prints_the_daemon_version() {
    let rpc = FakeRpc::new().on("supervisor.getSupervisorVersion", Ok(Value::from("4.2.5")));
    assert_eq!(
        ctl(&rpc, &["version"]).await,
        ("4.2.5\n".into(), String::new(), 0)
    );
    assert_eq!(
        ctl(&rpc, &["version", "x"]).await,
        (
            "Error: version accepts no arguments\n\
             version\t\t\tShow the version of the remote supervisord process\n"
                .into(),
            String::new(),
            1
        )
    );
}

#[tokio::test]
async fn help_lists_commands_in_columns() {
    let rpc = FakeRpc::new();
    let (out, _, code) = ctl(&rpc, &["help"]).await;
    assert_eq!(
        out,
        "\ndefault commands (type help <topic>):\n\
         =====================================\n\
         add    pid     remove  restart   start   stop  update \n\
         avail  reload  reread  shutdown  status  tail  version\n\n"
    );
    assert_eq!(code, 0);
    assert!(rpc.calls().is_empty());
}

#[tokio::test]
async fn help_topics() {
    let rpc = FakeRpc::new();
    assert_eq!(
        ctl(&rpc, &["help", "help"]).await.0,
        "help\t\tPrint a list of available actions\nhelp <action>\tPrint help for <action>\n"
    );
    assert_eq!(
        ctl(&rpc, &["help", "shutdown"]).await.0,
        "shutdown \tShut the remote supervisord down.\n"
    );
    assert_eq!(
        ctl(&rpc, &["help", "pid"]).await.0,
        "pid\t\t\tGet the PID of supervisord.\n\
         pid <name>\t\tGet the PID of a single child process by name.\n\
         pid all\t\t\tGet the PID of every child process, one per line.\n"
    );
    assert_eq!(
        ctl(&rpc, &["help", "frob"]).await,
        ("*** No help on frob\n".into(), String::new(), 0)
    );
}

#[tokio::test]
async fn unknown_command_and_no_command() {
    let rpc = FakeRpc::new();
    assert_eq!(
        ctl(&rpc, &["frob", "a", "b"]).await,
        ("*** Unknown syntax: frob a b\n".into(), String::new(), 1)
    );
    assert_eq!(ctl(&rpc, &[]).await, (String::new(), String::new(), 0));
}

#[tokio::test]
async fn run_uses_default_options() {
    let rpc = FakeRpc::new().on("supervisor.getSupervisorVersion", Ok(Value::from("0.1.0")));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&rpc, &["version".to_string()], &mut out, &mut err).await;
    assert_eq!((out.as_slice(), code), (&b"0.1.0\n"[..], 0));
}

// ---- formatting helpers ----

#[test]
fn columnize_matches_supervisorctl_help_layout() {
    let words = [
        "add", "avail", "clear", "exit", "fg", "maintail", "open", "pid", "quit", "reload",
        "remove", "reread", "restart", "shutdown", "signal", "start", "status", "stop", "tail",
        "update", "version",
    ];
    assert_eq!(
        columnize(&words, 79),
        [
            "add    exit      open  reload  restart   start   tail   ",
            "avail  fg        pid   remove  shutdown  status  update ",
            "clear  maintail  quit  reread  signal    stop    version",
        ]
    );
    assert_eq!(columnize(&["one"], 79), ["one"]);
    assert_eq!(columnize(&[], 79), ["<empty>"]);
}

#[test]
fn namespecs() {
    assert_eq!(split_namespec("foo"), ("foo", Some("foo")));
    assert_eq!(split_namespec("g:p"), ("g", Some("p")));
    assert_eq!(split_namespec("g:*"), ("g", None));
    assert_eq!(split_namespec("g:"), ("g", None));
    assert_eq!(split_namespec("g:a:b"), ("g", Some("a:b")));
    assert_eq!(super::make_namespec("g", "g"), "g");
    assert_eq!(super::make_namespec("g", "p"), "g:p");
}
