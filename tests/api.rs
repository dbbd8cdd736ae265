//! supervisord's XML-RPC API on the real daemon: raw calls over the unix
//! socket (the tiny HTTP client of common/stock.rs), the stock supervisorctl 4.3 for the
//! commands that use these methods (`signal`, `clear`, `maintail`, `fg`),
//! and, for the shapes of answers, the stock supervisord side by side.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::stock::{Stock, call_on, raw_post};
use common::{Daemon, wait_for};
use sluice::rpc::{Fault, Value, xml};

fn sock(d: &Daemon) -> PathBuf {
    d.path("sluice.sock")
}

fn call(d: &Daemon, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    call_on(&sock(d), method, params)
}

fn ok(d: &Daemon, method: &str, params: Vec<Value>) -> Value {
    call(d, method, params).unwrap_or_else(|f| panic!("{method}: {f}"))
}

fn fault(d: &Daemon, method: &str, params: Vec<Value>) -> (i32, String) {
    match call(d, method, params) {
        Ok(v) => panic!("{method} answered {v:?}, a fault was expected"),
        Err(f) => (f.code, f.string),
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// The `(group:name, status, description)` of a result array.
fn results(v: &Value) -> Vec<(String, i64, String)> {
    v.as_array()
        .expect("an array of results")
        .iter()
        .map(|r| {
            let g = r.get("group").and_then(Value::as_str).unwrap_or("");
            let n = r.get("name").and_then(Value::as_str).unwrap_or("");
            (
                format!("{g}:{n}"),
                r.get("status").and_then(Value::as_i64).unwrap_or(-1),
                r.get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The stock `supervisorctl` or `supervisord` ($SLUICE_SUPERVISORCTL,
/// $SLUICE_SUPERVISORD, else the repo's .venv); a missing one is a
/// failure, not a skip.
fn venv_bin(name: &str) -> PathBuf {
    let var = if name == "supervisord" {
        "SLUICE_SUPERVISORD"
    } else {
        "SLUICE_SUPERVISORCTL"
    };
    let path = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".venv/bin")
            .join(name),
    };
    assert!(
        path.exists(),
        "the stock {name} is not at {}: run scripts/test.sh (it creates .venv with supervisor==4.3.0)",
        path.display()
    );
    path
}

/// `supervisorctl -c CONF args...`: (exit code, stdout).
fn py(d: &Daemon, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(venv_bin("supervisorctl"))
        .arg("-c")
        .arg(d.conf())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run supervisorctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const PROGRAMS: &str = "\
[program:trap]
command = sh -c 'trap \"echo got-hup\" HUP; trap \"echo got-usr1\" USR1; echo ready; while :; do sleep 1 & wait $!; done'
stdout_logfile = {dir}/trap.log
startsecs = 0

[program:cat]
command = cat
stdout_logfile = {dir}/cat.log
stdout_logfile_backups = 2
startsecs = 0

[program:closer]
command = sh -c 'exec 0<&-; exec sleep 1000'
startsecs = 0

[program:stuck]
command = sleep 1000
startsecs = 0

[program:never]
command = sleep 1000
autostart = false

[group:grp]
programs = ga,gb
priority = 5

[program:ga]
command = sleep 1000
startsecs = 0
priority = 2

[program:gb]
command = sleep 1000
autostart = false
priority = 1
";

fn daemon() -> Daemon {
    let d = Daemon::start(PROGRAMS);
    for name in ["trap", "cat", "closer", "stuck", "grp:ga"] {
        d.wait_state(name, "RUNNING");
    }
    wait_for("trap to set its traps", || {
        read(&d.path("trap.log")).contains("ready")
    });
    d
}

#[test]
fn signals() {
    let d = daemon();
    // One process, by name or number, with or without SIG.
    assert_eq!(
        ok(&d, "supervisor.signalProcess", vec![s("trap"), s("HUP")]),
        Value::Bool(true)
    );
    wait_for("the HUP trap to fire", || {
        read(&d.path("trap.log")).contains("got-hup")
    });
    assert_eq!(
        ok(
            &d,
            "supervisor.signalProcess",
            vec![s("trap:trap"), Value::Int(10)]
        ),
        Value::Bool(true)
    );
    wait_for("the USR1 trap to fire", || {
        read(&d.path("trap.log")).contains("got-usr1")
    });
    assert_eq!(d.state("trap"), "RUNNING");

    assert_eq!(
        fault(&d, "supervisor.signalProcess", vec![s("trap"), s("FOO")]),
        (11, "BAD_SIGNAL: FOO".into())
    );
    assert_eq!(
        fault(
            &d,
            "supervisor.signalProcess",
            vec![s("trap"), Value::Int(99)]
        ),
        (11, "BAD_SIGNAL: 99".into())
    );
    assert_eq!(
        fault(&d, "supervisor.signalProcess", vec![s("never"), s("HUP")]),
        (70, "NOT_RUNNING: never".into())
    );
    assert_eq!(
        fault(&d, "supervisor.signalProcess", vec![s("nope"), s("HUP")]),
        (10, "BAD_NAME: nope".into())
    );
    assert_eq!(
        fault(&d, "supervisor.signalProcess", vec![s("trap")]),
        (2, "INCORRECT_PARAMETERS".into())
    );
    // Signal 0 only probes.
    assert_eq!(
        ok(&d, "supervisor.signalProcess", vec![s("stuck"), s("0")]),
        Value::Bool(true)
    );

    // A group: only the processes that can take a signal are listed.
    let r = ok(
        &d,
        "supervisor.signalProcessGroup",
        vec![s("grp"), s("SIGCONT")],
    );
    assert_eq!(results(&r), vec![("grp:ga".into(), 80, "OK".into())]);
    let r = ok(&d, "supervisor.signalProcess", vec![s("grp:*"), s("CONT")]);
    assert_eq!(results(&r), vec![("grp:ga".into(), 80, "OK".into())]);
    let r = ok(
        &d,
        "supervisor.signalProcessGroup",
        vec![s("grp"), s("BAD")],
    );
    assert_eq!(
        results(&r),
        vec![("grp:ga".into(), 11, "BAD_SIGNAL: BAD".into())]
    );
    assert_eq!(
        fault(&d, "supervisor.signalProcessGroup", vec![s("zz"), s("HUP")]),
        (10, "BAD_NAME: zz".into())
    );

    // Everything that runs, in priority order (ga's group first, priority 5).
    let r = ok(&d, "supervisor.signalAllProcesses", vec![s("WINCH")]);
    let names: Vec<String> = results(&r).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names[0], "grp:ga");
    for n in ["trap:trap", "cat:cat", "closer:closer", "stuck:stuck"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    assert!(!names.contains(&"never:never".to_string()));
    assert!(results(&r).iter().all(|(_, code, _)| *code == 80));
}

#[test]
fn stock_supervisorctl_signal_and_clear() {
    let d = daemon();
    let before = read(&d.path("trap.log")).matches("got-hup").count();
    assert_eq!(
        py(&d, &["signal", "HUP", "trap"]),
        (Some(0), "trap: signalled\n".into())
    );
    wait_for("the HUP trap to fire", || {
        read(&d.path("trap.log")).matches("got-hup").count() > before
    });
    assert_eq!(
        py(&d, &["signal", "HUP", "never"]),
        (Some(7), "never: ERROR (not running)\n".into())
    );
    assert_eq!(
        py(&d, &["signal", "BOGUS", "trap"]),
        (Some(1), "trap: ERROR (bad signal name)\n".into())
    );
    assert_eq!(
        py(&d, &["signal", "HUP", "nope"]),
        (Some(1), "nope: ERROR (no such process)\n".into())
    );
    assert_eq!(
        py(&d, &["signal", "CONT", "grp:*"]),
        (Some(0), "grp:ga: signalled\n".into())
    );

    assert!(read(&d.path("trap.log")).contains("ready"));
    assert_eq!(
        py(&d, &["clear", "trap"]),
        (Some(0), "trap: cleared\n".into())
    );
    assert!(!read(&d.path("trap.log")).contains("ready"));
    assert_eq!(
        py(&d, &["clear", "nope"]),
        (Some(1), "nope: ERROR (no such process)\n".into())
    );
    let (code, out) = py(&d, &["clear", "all"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("trap: cleared\n"), "{out}");
    assert!(out.contains("grp:gb: cleared\n"), "{out}");
}

#[test]
fn stdin() {
    let d = daemon();
    assert_eq!(
        ok(
            &d,
            "supervisor.sendProcessStdin",
            vec![s("cat"), s("hello\n")]
        ),
        Value::Bool(true)
    );
    wait_for("cat to echo what it was sent", || {
        read(&d.path("cat.log")).contains("hello\n")
    });
    // base64 is taken as bytes too.
    assert_eq!(
        ok(
            &d,
            "supervisor.sendProcessStdin",
            vec![s("cat:cat"), Value::Base64(b"bytes\n".to_vec())]
        ),
        Value::Bool(true)
    );
    wait_for("cat to echo the bytes", || {
        read(&d.path("cat.log")).contains("bytes\n")
    });
    assert_eq!(
        fault(&d, "supervisor.sendProcessStdin", vec![s("never"), s("x")]),
        (70, "NOT_RUNNING: never".into())
    );
    assert_eq!(
        fault(&d, "supervisor.sendProcessStdin", vec![s("closer"), s("x")]),
        (20, "NO_FILE: closer".into())
    );
    assert_eq!(
        fault(
            &d,
            "supervisor.sendProcessStdin",
            vec![s("cat"), Value::Int(5)]
        ),
        (2, "INCORRECT_PARAMETERS: 5".into())
    );
    assert_eq!(
        fault(&d, "supervisor.sendProcessStdin", vec![s("grp:*"), s("x")]),
        (10, "BAD_NAME: grp:*".into())
    );
    assert_eq!(
        fault(&d, "supervisor.sendProcessStdin", vec![s("nope"), s("x")]),
        (10, "BAD_NAME: nope".into())
    );

    // A child that never reads: the daemon queues, then refuses; it never
    // blocks, and keeps answering.
    let chunk = "z".repeat(256 * 1024);
    let mut refused = None;
    for _ in 0..8 {
        if let Err(f) = call(
            &d,
            "supervisor.sendProcessStdin",
            vec![s("stuck"), s(&chunk)],
        ) {
            refused = Some(f);
            break;
        }
        assert_eq!(d.state("stuck"), "RUNNING");
    }
    assert_eq!(refused.map(|f| f.code), Some(30));
    assert!(ok(&d, "supervisor.getPID", vec![]).as_i64().is_some());
    // ...and stopping it still works.
    assert_eq!(
        ok(&d, "supervisor.stopProcess", vec![s("stuck")]),
        Value::Bool(true)
    );
}

#[test]
fn stock_supervisorctl_fg_writes_to_stdin() {
    let d = daemon();
    // The stock fg does not always return after its input ends (its reader
    // thread stays in the log stream): it runs under `timeout`.
    let mut child = Command::new("timeout")
        .args(["-s", "KILL", "20"])
        .arg(venv_bin("supervisorctl"))
        .arg("-c")
        .arg(d.conf())
        .args(["fg", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run supervisorctl fg");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"through-fg\n").expect("write to fg");
        // Closing stdin ends fg (EOF), as Ctrl-D would.
    }
    wait_for("cat to get the line fg sent", || {
        read(&d.path("cat.log")).contains("through-fg\n")
    });
    let out = child.wait_with_output().expect("fg ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("==> Press Ctrl-C to exit <=="), "{text}");
}

#[test]
fn clearing_logs() {
    let d = daemon();
    let log = d.path("cat.log");
    ok(
        &d,
        "supervisor.sendProcessStdin",
        vec![s("cat"), s("before\n")],
    );
    wait_for("cat.log to fill", || read(&log).contains("before"));
    // A backup from an earlier rotation stays, as with supervisord.
    std::fs::write(d.path("cat.log.1"), "old\n").unwrap();

    assert_eq!(
        ok(&d, "supervisor.clearProcessLogs", vec![s("cat")]),
        Value::Bool(true)
    );
    assert_eq!(read(&log), "");
    assert_eq!(read(&d.path("cat.log.1")), "old\n");
    // The running writer goes on at offset 0 of the new file.
    ok(
        &d,
        "supervisor.sendProcessStdin",
        vec![s("cat"), s("after\n")],
    );
    wait_for("cat.log to get the new line", || read(&log) == "after\n");
    assert_eq!(
        ok(
            &d,
            "supervisor.readProcessStdoutLog",
            vec![s("cat"), Value::Int(0), Value::Int(0)]
        ),
        s("after\n")
    );

    assert_eq!(
        fault(&d, "supervisor.clearProcessLogs", vec![s("grp:*")]),
        (10, "BAD_NAME: grp:*".into())
    );
    assert_eq!(
        fault(&d, "supervisor.clearProcessLogs", vec![s("nope")]),
        (10, "BAD_NAME: nope".into())
    );
    // The b/c alias.
    assert_eq!(
        ok(&d, "supervisor.clearProcessLog", vec![s("cat")]),
        Value::Bool(true)
    );
    assert_eq!(read(&log), "");

    ok(
        &d,
        "supervisor.sendProcessStdin",
        vec![s("cat"), s("again\n")],
    );
    wait_for("cat.log to fill again", || read(&log).contains("again"));
    let r = ok(&d, "supervisor.clearAllProcessLogs", vec![]);
    let r = results(&r);
    assert_eq!(r.len(), 7);
    assert_eq!(&r[0].0, "grp:gb", "priority order: {r:?}");
    assert!(r.iter().all(|(_, code, desc)| *code == 80 && desc == "OK"));
    assert_eq!(read(&log), "");

    // The main log: emptied, and the daemon goes on logging into it.
    assert!(d.log().contains("spawned"));
    assert_eq!(ok(&d, "supervisor.clearLog", vec![]), Value::Bool(true));
    assert!(!d.log().contains("spawned: 'cat'"));
    ok(&d, "supervisor.startProcess", vec![s("never")]);
    wait_for("the daemon to log into the new main log", || {
        d.log().contains("spawned: 'never'")
    });
    let text = ok(&d, "supervisor.readLog", vec![Value::Int(0), Value::Int(0)]);
    assert!(text.as_str().unwrap_or("").contains("spawned: 'never'"));
}

#[test]
fn no_main_log_file_is_no_file() {
    let d = daemon();
    std::fs::remove_file(d.path("sluice.log")).unwrap();
    assert_eq!(
        fault(&d, "supervisor.clearLog", vec![]),
        (20, "NO_FILE".into())
    );
}

/// The keys of supervisord 4.3's getAllConfigInfo struct.
const CONFIG_KEYS: &[&str] = &[
    "autostart",
    "command",
    "directory",
    "exitcodes",
    "group",
    "group_prio",
    "inuse",
    "killasgroup",
    "name",
    "process_prio",
    "redirect_stderr",
    "serverurl",
    "startretries",
    "startsecs",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_logfile",
    "stderr_logfile_backups",
    "stderr_logfile_maxbytes",
    "stderr_syslog",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_logfile",
    "stdout_logfile_backups",
    "stdout_logfile_maxbytes",
    "stdout_syslog",
    "stopsignal",
    "stopwaitsecs",
    "uid",
];

fn keys(v: &Value) -> Vec<String> {
    let Value::Struct(m) = v else {
        panic!("not a struct: {v:?}")
    };
    let mut k: Vec<String> = m.iter().map(|(k, _)| k.clone()).collect();
    k.sort();
    k
}

#[test]
fn config_info() {
    let d = daemon();
    let all = ok(&d, "supervisor.getAllConfigInfo", vec![]);
    let all = all.as_array().expect("array");
    let names: Vec<&str> = all
        .iter()
        .map(|e| e.get("name").and_then(Value::as_str).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["cat", "closer", "ga", "gb", "never", "stuck", "trap"],
        "sorted by name"
    );
    for e in all {
        assert_eq!(keys(e), CONFIG_KEYS);
    }
    let cat = &all[0];
    assert_eq!(cat.get("group"), Some(&s("cat")));
    assert_eq!(cat.get("command"), Some(&s("cat")));
    assert_eq!(cat.get("autostart"), Some(&Value::Bool(true)));
    assert_eq!(cat.get("inuse"), Some(&Value::Bool(true)));
    assert_eq!(cat.get("group_prio"), Some(&Value::Int(999)));
    assert_eq!(cat.get("process_prio"), Some(&Value::Int(999)));
    assert_eq!(
        cat.get("exitcodes"),
        Some(&Value::Array(vec![Value::Int(0)]))
    );
    assert_eq!(cat.get("stopsignal"), Some(&Value::Int(15)));
    assert_eq!(cat.get("uid"), Some(&s("none")));
    assert_eq!(cat.get("directory"), Some(&s("none")));
    assert_eq!(cat.get("serverurl"), Some(&s("none")));
    assert_eq!(
        cat.get("stdout_logfile"),
        Some(&s(&d.path("cat.log").display().to_string()))
    );
    assert_eq!(cat.get("stdout_logfile_backups"), Some(&Value::Int(2)));
    let ga = &all[2];
    assert_eq!(ga.get("group"), Some(&s("grp")));
    assert_eq!(ga.get("group_prio"), Some(&Value::Int(5)));
    assert_eq!(ga.get("process_prio"), Some(&Value::Int(2)));
}

#[test]
fn main_log_tail() {
    let d = daemon();
    // GET /mainlogtail: the end of the main log, then what is appended.
    let mut st = UnixStream::connect(sock(&d)).unwrap();
    st.write_all(b"GET /mainlogtail HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    st.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut saw = |needle: &str, got: &mut Vec<u8>, st: &mut UnixStream| {
        while !String::from_utf8_lossy(got).contains(needle) {
            let n = st.read(&mut buf).expect("read the stream");
            assert!(n > 0, "stream ended before {needle:?}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    saw("spawned: 'cat'", &mut got, &mut st);
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    ok(&d, "supervisor.startProcess", vec![s("never")]);
    saw("spawned: 'never'", &mut got, &mut st);

    // maintail without -f reads the end with readLog(-1600, 0).
    let (code, out) = py(&d, &["maintail"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("spawned: 'never'"), "{out}");
    let (code, out) = py(&d, &["maintail", "-200"]);
    assert_eq!(code, Some(0));
    assert!(out.len() <= 201, "{out}");

    // maintail -f streams /mainlogtail.
    let mut f = Command::new(venv_bin("supervisorctl"))
        .arg("-c")
        .arg(d.conf())
        .args(["maintail", "-f"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(d.path("maintail.out")).unwrap(),
        ))
        .spawn()
        .unwrap();
    ok(&d, "supervisor.stopProcess", vec![s("never")]);
    wait_for("maintail -f to show the stop", || {
        read(&d.path("maintail.out")).contains("stopped: never")
    });
    // A cleared main log goes on streaming from the new file.
    let spawned = || {
        read(&d.path("maintail.out"))
            .matches("spawned: 'never'")
            .count()
    };
    let before = spawned();
    ok(&d, "supervisor.clearLog", vec![]);
    ok(&d, "supervisor.startProcess", vec![s("never")]);
    wait_for("maintail -f to follow into the cleared log", || {
        spawned() > before
    });
    let _ = f.kill();
    let _ = f.wait();
}

#[test]
fn robustness_and_introspection() {
    let d = daemon();
    assert_eq!(
        fault(&d, "supervisor.noSuchMethod", vec![]),
        (1, "UNKNOWN_METHOD".into())
    );
    assert_eq!(fault(&d, "a.b.c", vec![]), (1, "UNKNOWN_METHOD".into()));
    // No method name: supervisord answers 400, so do we.
    let (status, _) = raw_post(&sock(&d), &xml::write_call("", &[]));
    assert_eq!(status, 400);
    assert_eq!(
        fault(&d, "supervisor.getPID", vec![Value::Int(1)]),
        (2, "INCORRECT_PARAMETERS".into())
    );
    assert_eq!(
        fault(&d, "supervisor.getProcessInfo", vec![Value::Int(5)]).0,
        2
    );
    assert_eq!(
        fault(&d, "supervisor.readLog", vec![s("a"), Value::Int(5)]).0,
        2
    );
    assert_eq!(
        fault(&d, "supervisor.startProcess", vec![Value::Array(vec![])]).0,
        2
    );
    // Python's int() reads digits in text, as supervisord's readLog does.
    assert!(call(&d, "supervisor.readLog", vec![s("0"), Value::Int(5)]).is_ok());
    assert_eq!(
        fault(
            &d,
            "supervisor.readLog",
            vec![Value::Int(0), Value::Int(-5)]
        ),
        (3, "BAD_ARGUMENTS".into())
    );
    assert_eq!(
        ok(&d, "supervisor.sendRemoteCommEvent", vec![s("t"), s("d")]),
        Value::Bool(true)
    );
    // Not XML-RPC at all: an HTTP error, and the daemon goes on.
    let (status, _) = raw_post(&sock(&d), "<methodCall><nope");
    assert_eq!(status, 400);
    let (status, _) = raw_post(&sock(&d), "");
    assert_eq!(status, 400);

    let names = ok(&d, "system.listMethods", vec![]);
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for m in [
        "supervisor.getAllConfigInfo",
        "supervisor.signalProcess",
        "supervisor.signalProcessGroup",
        "supervisor.signalAllProcesses",
        "supervisor.sendProcessStdin",
        "supervisor.sendRemoteCommEvent",
        "supervisor.clearLog",
        "supervisor.clearProcessLogs",
        "supervisor.clearAllProcessLogs",
    ] {
        assert!(names.contains(&m), "{m} listed");
    }
    assert_eq!(
        ok(
            &d,
            "system.methodSignature",
            vec![s("supervisor.signalProcess")]
        ),
        Value::Array(vec![s("boolean"), s("string"), s("string")])
    );
    // multicall: each result as it is, faults as structs (as supervisord).
    let calls = Value::Array(vec![
        Value::Struct(vec![
            ("methodName".into(), s("supervisor.getAPIVersion")),
            ("params".into(), Value::Array(vec![])),
        ]),
        Value::Struct(vec![("methodName".into(), s("nope.x"))]),
    ]);
    let r = ok(&d, "system.multicall", vec![calls]);
    assert_eq!(
        r,
        Value::Array(vec![
            s("3.0"),
            Value::Struct(vec![
                ("faultCode".into(), Value::Int(1)),
                ("faultString".into(), s("UNKNOWN_METHOD")),
            ]),
        ])
    );
    assert_eq!(d.state("cat"), "RUNNING");
}

#[test]
fn shutting_down_refuses_calls() {
    // A program that ignores its stop signal keeps the shutdown going.
    let mut d = Daemon::start(
        "[program:slow]\n\
         command = sh -c 'trap \"\" TERM; while :; do sleep 1; done'\n\
         stopwaitsecs = 60\n\
         startsecs = 0\n",
    );
    d.wait_state("slow", "RUNNING");
    let pid = d.child_pid("slow");
    assert!(pid > 0);
    assert_eq!(ok(&d, "supervisor.shutdown", vec![]), Value::Bool(true));
    // While the daemon waits for `slow`, supervisor.* calls are refused.
    assert_eq!(
        fault(&d, "supervisor.getState", vec![]),
        (6, "SHUTDOWN_STATE".into())
    );
    assert_eq!(
        fault(&d, "supervisor.shutdown", vec![]),
        (6, "SHUTDOWN_STATE".into())
    );
    assert!(ok(&d, "system.listMethods", vec![]).as_array().is_some());
    // Let it go.
    // SAFETY: killing the test's own grandchild.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    d.wait_exit();
}

/// The same programs for both daemons; no log files, so that nothing in
/// the answers depends on the directory.
const SHARED: &str = "\
[program:sleeper]
command = sleep 1000
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[group:g]
programs = idle,other
priority = 7

[program:idle]
command = sleep 1001
autostart = false
priority = 3
exitcodes = 0,2
stopsignal = INT
stopwaitsecs = 3
startretries = 1
stopasgroup = true
directory = /tmp
redirect_stderr = true
stdout_logfile = NONE
stdout_logfile_maxbytes = 1KB
stdout_logfile_backups = 4

[program:other]
command = sleep 1002
autostart = false
stdout_logfile = NONE
stderr_logfile = NONE
";

#[test]
fn same_answers_as_the_stock_supervisord() {
    let d = Daemon::start(SHARED);
    let stock = Stock::start(SHARED);
    d.wait_state("sleeper", "RUNNING");
    wait_for("the stock sleeper to run", || {
        call_on(
            &stock.sock(),
            "supervisor.getProcessInfo",
            vec![s("sleeper")],
        )
        .ok()
        .and_then(|v| v.get("statename").cloned())
            == Some(s("RUNNING"))
    });
    let theirs = |m: &str, p: Vec<Value>| call_on(&stock.sock(), m, p);
    let ours = |m: &str, p: Vec<Value>| call(&d, m, p);

    // Every method we serve, they serve, with the same signature, and all
    // of theirs are ours.
    let list = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let our_list = list(ours("system.listMethods", vec![]).unwrap());
    let their_list = list(theirs("system.listMethods", vec![]).unwrap());
    // `sluice.*` are our own extensions.
    for m in our_list.iter().filter(|m| !m.starts_with("sluice.")) {
        assert!(their_list.contains(m), "{m} is not supervisord's");
        assert_eq!(
            ours("system.methodSignature", vec![s(m)]),
            theirs("system.methodSignature", vec![s(m)]),
            "signature of {m}"
        );
    }
    for m in &their_list {
        assert!(our_list.contains(m), "{m} is missing");
    }

    assert_eq!(
        ours("supervisor.getAllConfigInfo", vec![]),
        theirs("supervisor.getAllConfigInfo", vec![])
    );

    // Faults and result arrays.
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("supervisor.signalProcess", vec![s("sleeper"), s("FOO")]),
        (
            "supervisor.signalProcess",
            vec![s("sleeper"), Value::Int(99)],
        ),
        ("supervisor.signalProcess", vec![s("g:idle"), s("HUP")]),
        ("supervisor.signalProcess", vec![s("nope"), s("HUP")]),
        ("supervisor.signalProcess", vec![s("g:nope"), s("HUP")]),
        ("supervisor.signalProcess", vec![s("sleeper")]),
        ("supervisor.signalProcess", vec![s("sleeper"), s("CONT")]),
        ("supervisor.signalProcessGroup", vec![s("g"), s("HUP")]),
        ("supervisor.signalProcessGroup", vec![s("zz"), s("HUP")]),
        ("supervisor.signalProcess", vec![s("g:*"), s("HUP")]),
        ("supervisor.signalAllProcesses", vec![s("CONT")]),
        ("supervisor.signalAllProcesses", vec![s("NOPE")]),
        (
            "supervisor.sendProcessStdin",
            vec![s("sleeper"), Value::Int(5)],
        ),
        ("supervisor.sendProcessStdin", vec![s("g:idle"), s("x")]),
        ("supervisor.sendProcessStdin", vec![s("g:*"), s("x")]),
        ("supervisor.sendProcessStdin", vec![s("sleeper"), s("x\n")]),
        ("supervisor.sendRemoteCommEvent", vec![s("t"), s("d")]),
        ("supervisor.clearProcessLogs", vec![s("g:*")]),
        ("supervisor.clearProcessLogs", vec![s("zz")]),
        ("supervisor.clearProcessLogs", vec![s("sleeper")]),
        ("supervisor.clearAllProcessLogs", vec![]),
        ("supervisor.getPID", vec![Value::Int(1)]),
        ("supervisor.noSuchThing", vec![]),
        ("nope.getPID", vec![]),
        ("supervisor.readLog", vec![Value::Int(0), Value::Int(-5)]),
        ("supervisor.getProcessInfo", vec![s("g:*")]),
        ("supervisor.startProcess", vec![s("sleeper")]),
        ("supervisor.stopProcess", vec![s("g:idle")]),
        ("supervisor.startProcess", vec![s("zz:*")]),
        ("supervisor.stopProcess", vec![s("zz:*")]),
        ("supervisor.startProcessGroup", vec![s("zz")]),
        ("supervisor.stopProcessGroup", vec![s("g")]),
        ("supervisor.stopProcess", vec![s("g:*")]),
        (
            "supervisor.startProcess",
            vec![s("sleeper"), Value::Bool(false)],
        ),
        (
            "supervisor.readProcessStdoutLog",
            vec![s("sleeper"), Value::Int(0), Value::Int(0)],
        ),
        (
            "supervisor.readProcessStderrLog",
            vec![s("g:idle"), Value::Int(0), Value::Int(0)],
        ),
        (
            "supervisor.tailProcessStdoutLog",
            vec![s("sleeper"), Value::Int(0), Value::Int(100)],
        ),
        (
            "supervisor.tailProcessStderrLog",
            vec![s("g:idle"), Value::Int(0), Value::Int(100)],
        ),
        (
            "supervisor.readProcessStdoutLog",
            vec![s("g:*"), Value::Int(0), Value::Int(0)],
        ),
        (
            "supervisor.tailProcessStdoutLog",
            vec![s("zz"), Value::Int(0), Value::Int(100)],
        ),
        ("system.methodSignature", vec![s("nope")]),
        ("system.methodHelp", vec![s("nope")]),
    ];
    for (m, p) in cases {
        assert_eq!(ours(m, p.clone()), theirs(m, p.clone()), "{m}({p:?})");
    }
    // The process-info struct, the clock aside.
    let timeless = |v: Result<Value, Fault>| -> Value {
        match v {
            Ok(Value::Struct(m)) => Value::Struct(
                m.into_iter()
                    .filter(|(k, _)| !["now", "pid", "start", "description"].contains(&k.as_str()))
                    .collect(),
            ),
            other => panic!("not a struct: {other:?}"),
        }
    };
    for name in ["g:idle", "sleeper", "g:other"] {
        let mut a = timeless(ours("supervisor.getProcessInfo", vec![s(name)]));
        let mut b = timeless(theirs("supervisor.getProcessInfo", vec![s(name)]));
        for v in [&mut a, &mut b] {
            if let Value::Struct(m) = v {
                m.sort_by(|x, y| x.0.cmp(&y.0));
            }
        }
        assert_eq!(a, b, "getProcessInfo({name})");
    }
    let idle = ours("supervisor.getProcessInfo", vec![s("g:idle")]).unwrap();
    assert_eq!(idle.get("description"), Some(&s("Not started")));
    for m in [
        "supervisor.getAPIVersion",
        "supervisor.getVersion",
        "supervisor.getIdentification",
        "supervisor.getState",
    ] {
        assert_eq!(ours(m, vec![]), theirs(m, vec![]), "{m}");
    }
    // `supervisorctl avail` lists getAllConfigInfo the same from both.
    let avail = |conf: &Path| {
        let out = Command::new(venv_bin("supervisorctl"))
            .arg("-c")
            .arg(conf)
            .arg("avail")
            .output()
            .expect("run supervisorctl avail");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let ours_avail = avail(&d.conf());
    assert!(ours_avail.1.contains("g:idle"), "{ours_avail:?}");
    assert_eq!(ours_avail, avail(&stock.dir.path().join("sv.conf")));

    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p.get("group").and_then(Value::as_str).unwrap_or(""),
                    p.get("name").and_then(Value::as_str).unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        names(ours("supervisor.getAllProcessInfo", vec![]).unwrap()),
        names(theirs("supervisor.getAllProcessInfo", vec![]).unwrap()),
        "getAllProcessInfo order"
    );
}

#[test]
fn an_in_process_agent_takes_no_signal_and_has_no_stdin() {
    let conf_dir = tempfile::tempdir().unwrap();
    let props = conf_dir.path().join("a.properties");
    std::fs::write(
        &props,
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.r1.type = seq\na1.sources.r1.totalEvents = 1\na1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n",
    )
    .unwrap();
    let d = Daemon::start(&format!(
        "[agent:flow]\nconf_file = {}\nagent_name = a1\nstartsecs = 0\n",
        props.display()
    ));
    d.wait_state("flow", "RUNNING");
    // Its pid is the daemon's own: a HUP must not reach the daemon.
    let (code, text) = fault(&d, "supervisor.signalProcess", vec![s("flow"), s("HUP")]);
    assert_eq!(code, 30, "{text}");
    let r = ok(&d, "supervisor.signalAllProcesses", vec![s("HUP")]);
    assert_eq!(results(&r)[0].1, 30);
    assert_eq!(
        fault(&d, "supervisor.sendProcessStdin", vec![s("flow"), s("x")]),
        (20, "NO_FILE: flow".into())
    );
    assert_eq!(d.state("flow"), "RUNNING");
    assert!(!d.log().contains("received SIGHUP"));
}

#[test]
fn xml_that_is_not_xml_1_0_is_400_as_the_stock_supervisord() {
    let d = Daemon::start(SHARED);
    let stock = Stock::start(SHARED);
    let echo = |text: &str| {
        format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.getProcessInfo</methodName>\
             <params><param><value><string>{text}</string></value></param></params></methodCall>"
        )
    };
    // Raw control characters and references to them: expat refuses both.
    for bad in ["sleep\u{1}er", "\u{8}", "\u{1b}[0m", "&#1;", "\u{ffff}"] {
        let body = echo(bad);
        let (theirs, _) = raw_post(&stock.sock(), &body);
        let (ours, _) = raw_post(&sock(&d), &body);
        assert_eq!(theirs, 400, "the stock supervisord on {bad:?}");
        assert_eq!(ours, 400, "sluice on {bad:?}");
    }
    // Tab and newline are XML 1.0: a fault (no such process), not a 400.
    let body = echo("a\tb\nc");
    assert_eq!(raw_post(&stock.sock(), &body).0, 200);
    assert_eq!(raw_post(&sock(&d), &body).0, 200);
    assert_eq!(d.state("sleeper"), "RUNNING");
}

#[test]
fn every_method_survives_junk_arguments() {
    let d = daemon();
    let names = ok(&d, "system.listMethods", vec![]);
    let names: Vec<String> = names
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let junk = [
        Value::Struct(vec![]),
        Value::Array(vec![]),
        Value::Double(1.5),
        Value::Nil,
        Value::Base64(vec![0xff, 0]),
    ];
    for m in &names {
        // Too many arguments for any method.
        assert_eq!(
            fault(&d, m, junk.to_vec()),
            (2, "INCORRECT_PARAMETERS".into()),
            "{m}"
        );
        // The right count, the wrong types: a fault or an answer, never a
        // dropped connection.
        let sig = ok(&d, "system.methodSignature", vec![s(m)]);
        let arity = sig.as_array().map(|a| a.len() - 1).unwrap_or(0);
        if arity == 0 {
            continue;
        }
        for j in &junk {
            let params = vec![j.clone(); arity];
            let (status, body) = raw_post(&sock(&d), &xml::write_call(m, &params));
            assert_eq!(status, 200, "{m}({params:?})");
            let _answer = xml::parse_response(&body).expect("a valid response");
        }
    }
    assert!(ok(&d, "supervisor.getPID", vec![]).as_i64().is_some());
    for name in ["trap", "cat", "stuck", "grp:ga"] {
        assert_eq!(d.state(name), "RUNNING", "{name}");
    }
}

#[test]
fn log_reads_and_tails_as_the_stock_supervisord() {
    // One program that writes 16 known bytes and exits, in both daemons.
    let programs = |dir: &str| {
        format!(
            "[program:echo]\ncommand = printf 0123456789abcdef\nstartsecs = 0\n\
             autorestart = false\nstdout_logfile = {dir}/echo.log\n"
        )
    };
    let d = Daemon::start(&programs("{dir}"));
    let stock_dir = tempfile::tempdir().unwrap();
    let stock = Stock::start(&programs(&stock_dir.path().display().to_string()));
    let done = |sock: &Path| {
        call_on(sock, "supervisor.getProcessInfo", vec![s("echo")])
            .ok()
            .and_then(|v| v.get("statename").cloned())
            == Some(s("EXITED"))
    };
    wait_for("echo to exit in both", || {
        done(&sock(&d)) && done(&stock.sock())
    });
    let mut cases = Vec::new();
    for off in [-20, -16, -5, -1, 0, 1, 5, 15, 16, 17, 100] {
        for len in [-1, 0, 1, 5, 16, 100] {
            cases.push(("supervisor.readProcessStdoutLog", off, len));
        }
    }
    for off in [-5, 0, 5, 15, 16, 20] {
        for len in [0, 1, 5, 16, 100] {
            cases.push(("supervisor.tailProcessStdoutLog", off, len));
        }
    }
    for (m, off, len) in cases {
        let p = vec![s("echo"), Value::Int(off), Value::Int(len)];
        assert_eq!(
            call(&d, m, p.clone()),
            call_on(&stock.sock(), m, p),
            "{m}(echo, {off}, {len})"
        );
    }
}

#[test]
fn start_and_stop_waits_as_the_stock_supervisord() {
    let programs = "\
[program:quick]
command = sh -c 'exit 3'
autostart = false
startsecs = 1
startretries = 0
stdout_logfile = NONE
stderr_logfile = NONE

[program:steady]
command = sleep 1000
autostart = false
startsecs = 1
stdout_logfile = NONE
stderr_logfile = NONE

[group:pair]
programs = p1,p2

[program:p1]
command = sleep 1001
autostart = false
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[program:p2]
command = sh -c 'exit 4'
autostart = false
startsecs = 1
startretries = 0
stdout_logfile = NONE
stderr_logfile = NONE
";
    let d = Daemon::start(programs);
    let stock = Stock::start(programs);
    let both = |m: &str, p: Vec<Value>| {
        let ours = call(&d, m, p.clone());
        let theirs = call_on(&stock.sock(), m, p.clone());
        assert_eq!(ours, theirs, "{m}({p:?})");
        ours
    };
    let t = Value::Bool(true);
    let f = Value::Bool(false);
    // A program that exits before startsecs: the wait ends in a fault.
    let quick = both("supervisor.startProcess", vec![s("quick"), t.clone()]);
    assert!(quick.is_err(), "{quick:?}");
    assert_eq!(
        both("supervisor.startProcess", vec![s("steady"), t.clone()]),
        Ok(Value::Bool(true))
    );
    let again = both("supervisor.startProcess", vec![s("steady"), t.clone()]);
    assert_eq!(again.map_err(|f| f.code), Err(60));
    assert_eq!(
        both("supervisor.stopProcess", vec![s("steady"), t.clone()]),
        Ok(Value::Bool(true))
    );
    let again = both("supervisor.stopProcess", vec![s("steady"), t.clone()]);
    assert_eq!(again.map_err(|f| f.code), Err(70));
    // A group: one result per process that was not running.
    let started = both("supervisor.startProcessGroup", vec![s("pair"), t.clone()]);
    assert_eq!(started.map(|v| results(&v).len()), Ok(2));
    // p2 exits at once; supervisord may still hold it in BACKOFF when the
    // group's start returns, until its next tick. Wait until both sides
    // gave up on it, so the group stop meets the same states.
    let fatal = |sock: &Path| {
        call_on(sock, "supervisor.getProcessInfo", vec![s("pair:p2")])
            .ok()
            .and_then(|v| v.get("statename").cloned())
            == Some(s("FATAL"))
    };
    wait_for("pair:p2 to be FATAL in both", || {
        fatal(&sock(&d)) && fatal(&stock.sock())
    });
    let stopped = both("supervisor.stopProcessGroup", vec![s("pair"), t.clone()]);
    assert_eq!(stopped.map(|v| results(&v).len()), Ok(1));
    // No wait: true at once; then the state settles to RUNNING.
    assert_eq!(
        both("supervisor.startProcess", vec![s("steady"), f.clone()]),
        Ok(Value::Bool(true))
    );
    let all = both("supervisor.stopAllProcesses", vec![t.clone()]);
    assert_eq!(
        all.map(|v| results(&v)),
        Ok(vec![("steady:steady".to_string(), 80, "OK".to_string())])
    );
}

#[test]
fn config_info_follows_reread_and_add() {
    let d = Daemon::start("[program:one]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("one", "RUNNING");
    let mut conf = read(&d.conf());
    conf.push_str("\n[program:two]\ncommand = sleep 1001\nautostart = false\n");
    std::fs::write(d.conf(), conf).unwrap();
    let inuse = |name: &str| -> Option<Value> {
        ok(&d, "supervisor.getAllConfigInfo", vec![])
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e.get("name") == Some(&s(name)))
            .and_then(|e| e.get("inuse").cloned())
    };
    assert_eq!(inuse("two"), None);
    ok(&d, "supervisor.reloadConfig", vec![]);
    // Read but not added: listed, not in use (supervisorctl's `avail`).
    assert_eq!(inuse("two"), Some(Value::Bool(false)));
    assert_eq!(inuse("one"), Some(Value::Bool(true)));
    ok(&d, "supervisor.addProcessGroup", vec![s("two")]);
    assert_eq!(inuse("two"), Some(Value::Bool(true)));
}
