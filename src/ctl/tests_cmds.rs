//! signal, maintail, clear, fg, exit/quit against the scripted daemon.

use super::fake::{FakeRpc, info, outcome};
use super::{Input, LocalFuture, Options, run_args};
use crate::rpc::{Value, faults};

async fn ctl_with(rpc: &FakeRpc, args: &[&str], opts: &Options) -> (String, String, i32, bool) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (code, quit) = run_args(rpc, &args, &mut out, &mut err, opts).await;
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        code,
        quit,
    )
}

async fn ctl(rpc: &FakeRpc, args: &[&str]) -> (String, i32) {
    let (out, _, code, _) = ctl_with(rpc, args, &Options::default()).await;
    (out, code)
}

fn params(rpc: &FakeRpc, method: &str) -> Vec<Vec<Value>> {
    rpc.calls()
        .into_iter()
        .filter(|(m, _)| m == method)
        .map(|(_, p)| p)
        .collect()
}

// ---- signal ----

#[tokio::test]
async fn signal_one_process_and_its_errors() {
    let rpc = FakeRpc::new().on("supervisor.signalProcess", Ok(Value::Bool(true)));
    assert_eq!(
        ctl(&rpc, &["signal", "HUP", "web", "g:w0"]).await,
        ("web: signalled\ng:w0: signalled\n".into(), 0)
    );
    assert_eq!(
        params(&rpc, "supervisor.signalProcess"),
        [
            vec![Value::from("web"), Value::from("HUP")],
            vec![Value::from("g:w0"), Value::from("HUP")]
        ]
    );
    for (code, line, exit) in [
        (faults::BAD_SIGNAL, "web: ERROR (bad signal name)", 1),
        (faults::NOT_RUNNING, "web: ERROR (not running)", 7),
        (faults::BAD_NAME, "web: ERROR (no such process)", 1),
    ] {
        let rpc = FakeRpc::new().fault("supervisor.signalProcess", code, "x");
        assert_eq!(
            ctl(&rpc, &["signal", "FOO", "web"]).await,
            (format!("{line}\n"), exit)
        );
    }
    // FAILED prints the server's description verbatim.
    let rpc = FakeRpc::new().fault("supervisor.signalProcess", faults::FAILED, "web: boom");
    assert_eq!(
        ctl(&rpc, &["signal", "HUP", "web"]).await,
        ("FAILED: web: boom\n".into(), 1)
    );
}

#[tokio::test]
async fn signal_groups_and_all() {
    let rpc = FakeRpc::new()
        .on(
            "supervisor.signalProcessGroup",
            Ok(Value::Array(vec![
                outcome("g", "a", faults::SUCCESS, "OK"),
                outcome("g", "b", faults::NOT_RUNNING, "x"),
            ])),
        )
        .fault("supervisor.signalProcessGroup", faults::BAD_NAME, "nog");
    let (out, code) = ctl(&rpc, &["signal", "USR1", "g:*", "nog:*"]).await;
    assert_eq!(
        out,
        "g:a: signalled\ng:b: ERROR (not running)\nnog: ERROR (no such group)\n"
    );
    assert_eq!(code, 1, "the last failure wins");
    assert_eq!(
        params(&rpc, "supervisor.signalProcessGroup")[0],
        [Value::from("g"), Value::from("USR1")]
    );

    let rpc = FakeRpc::new().on(
        "supervisor.signalAllProcesses",
        Ok(Value::Array(vec![outcome(
            "web",
            "web",
            faults::SUCCESS,
            "OK",
        )])),
    );
    assert_eq!(
        ctl(&rpc, &["signal", "9", "web", "all"]).await,
        ("web: signalled\n".into(), 0)
    );
    assert_eq!(
        params(&rpc, "supervisor.signalAllProcesses"),
        [vec![Value::from("9")]]
    );
    assert!(params(&rpc, "supervisor.signalProcess").is_empty());
}

#[tokio::test]
async fn signal_needs_a_signal_and_a_name() {
    for args in [&["signal"][..], &["signal", "HUP"]] {
        let rpc = FakeRpc::new();
        let (out, code) = ctl(&rpc, args).await;
        assert!(
            out.starts_with("Error: signal requires a signal name and a process name\nsignal "),
            "{out}"
        );
        assert_eq!(code, 1);
        assert_eq!(rpc.methods(), ["supervisor.getVersion"]);
    }
}

// ---- maintail ----

#[tokio::test]
async fn maintail_reads_the_end_of_the_main_log() {
    let rpc = FakeRpc::new().on("supervisor.readLog", Ok(Value::from("a\nb\n")));
    assert_eq!(ctl(&rpc, &["maintail"]).await, ("a\nb\n\n".into(), 0));
    assert_eq!(ctl(&rpc, &["maintail", "-200"]).await.1, 0);
    assert_eq!(ctl(&rpc, &["maintail", "-0"]).await.1, 0);
    assert_eq!(
        params(&rpc, "supervisor.readLog"),
        [
            vec![Value::Int(-1600), Value::Int(0)],
            vec![Value::Int(-200), Value::Int(0)],
            vec![Value::Int(0), Value::Int(0)],
        ]
    );
}

#[tokio::test]
async fn maintail_argument_errors_and_faults() {
    let rpc = FakeRpc::new();
    assert_eq!(
        ctl(&rpc, &["maintail", "x"]).await,
        ("Error: bad argument x\n".into(), 1)
    );
    assert_eq!(
        ctl(&rpc, &["maintail", "-x"]).await,
        ("Error: bad argument -x\n".into(), 1)
    );
    let (out, code) = ctl(&rpc, &["maintail", "-1", "-2"]).await;
    assert!(
        out.starts_with("Error: too many arguments\nmaintail -f"),
        "{out}"
    );
    assert_eq!(code, 1);
    assert!(params(&rpc, "supervisor.readLog").is_empty());

    let rpc = FakeRpc::new().fault("supervisor.readLog", faults::NO_FILE, "x");
    assert_eq!(
        ctl(&rpc, &["maintail"]).await,
        ("supervisord: ERROR (no log file)\n".into(), 1)
    );
    let rpc = FakeRpc::new().fault("supervisor.readLog", faults::FAILED, "x");
    assert_eq!(
        ctl(&rpc, &["maintail"]).await,
        ("supervisord: ERROR (unknown error reading log)\n".into(), 1)
    );
}

// ---- clear ----

#[tokio::test]
async fn clear_names_all_and_errors() {
    let rpc = FakeRpc::new()
        .on("supervisor.clearProcessLogs", Ok(Value::Bool(true)))
        .fault("supervisor.clearProcessLogs", faults::BAD_NAME, "nosuch");
    assert_eq!(
        ctl(&rpc, &["clear", "web", "nosuch"]).await,
        ("web: cleared\nnosuch: ERROR (no such process)\n".into(), 1)
    );
    let rpc = FakeRpc::new().on(
        "supervisor.clearAllProcessLogs",
        Ok(Value::Array(vec![
            outcome("web", "web", faults::SUCCESS, "OK"),
            outcome("g", "a", faults::FAILED, "x"),
        ])),
    );
    assert_eq!(
        ctl(&rpc, &["clear", "all"]).await,
        ("web: cleared\ng:a: ERROR (failed)\n".into(), 1)
    );
    let rpc = FakeRpc::new();
    let (out, code) = ctl(&rpc, &["clear"]).await;
    assert!(out.starts_with("Error: clear requires a process name\nclear "));
    assert_eq!(code, 1);
}

#[tokio::test]
async fn clear_group_clears_each_member() {
    let rpc = FakeRpc::new()
        .on(
            "supervisor.getAllProcessInfo",
            Ok(Value::Array(vec![
                info("web", "web", 20, "RUNNING", "", 1),
                info("g", "a", 20, "RUNNING", "", 2),
                info("g", "b", 0, "STOPPED", "", 0),
            ])),
        )
        .on("supervisor.clearProcessLogs", Ok(Value::Bool(true)));
    assert_eq!(
        ctl(&rpc, &["clear", "g:*", "nog:*"]).await,
        (
            "g:a: cleared\ng:b: cleared\nnog: ERROR (no such group)\n".into(),
            1
        )
    );
    assert_eq!(
        params(&rpc, "supervisor.clearProcessLogs"),
        [vec![Value::from("g:a")], vec![Value::from("g:b")]]
    );
}

// ---- fg ----

/// Types `hello`, then `bye`, then ends the input.
struct Typed(Vec<&'static str>);

impl Input for Typed {
    fn next_line(&mut self) -> LocalFuture<'_, Option<String>> {
        let next = if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0).to_string())
        };
        Box::pin(async move { next })
    }
}

fn two_lines() -> Box<dyn Input> {
    Box::new(Typed(vec!["hello", "bye"]))
}

fn never_interrupt() -> LocalFuture<'static, ()> {
    Box::pin(std::future::pending())
}

fn opts() -> Options {
    Options {
        interrupt: never_interrupt,
        input: two_lines,
        ..Options::default()
    }
}

fn running() -> Result<Value, super::CallError> {
    Ok(info("cat", "cat", 20, "RUNNING", "", 5))
}

#[tokio::test]
async fn fg_sends_each_line_until_the_input_ends() {
    let rpc = FakeRpc::new()
        .on("supervisor.getProcessInfo", running())
        .on("supervisor.sendProcessStdin", Ok(Value::Bool(true)));
    let (out, _, code, _) = ctl_with(&rpc, &["fg", "cat"], &opts()).await;
    assert_eq!(out, "==> Press Ctrl-C to exit <==\nExiting foreground\n");
    assert_eq!(code, 0);
    assert_eq!(
        params(&rpc, "supervisor.sendProcessStdin"),
        [
            vec![Value::from("cat"), Value::from("hello\n")],
            vec![Value::from("cat"), Value::from("bye\n")]
        ]
    );
}

#[tokio::test]
async fn fg_leaves_when_the_process_dies() {
    let rpc = FakeRpc::new()
        .on("supervisor.getProcessInfo", running())
        .on(
            "supervisor.getProcessInfo",
            Ok(info("cat", "cat", 100, "EXITED", "", 0)),
        )
        .on("supervisor.sendProcessStdin", Ok(Value::Bool(true)));
    let (out, _, code, _) = ctl_with(&rpc, &["fg", "cat"], &opts()).await;
    assert_eq!(
        out,
        "==> Press Ctrl-C to exit <==\nProcess got killed\nExiting foreground\n"
    );
    assert_eq!(code, 0);
    assert_eq!(params(&rpc, "supervisor.sendProcessStdin").len(), 1);

    let rpc = FakeRpc::new()
        .on("supervisor.getProcessInfo", running())
        .fault("supervisor.sendProcessStdin", faults::NOT_RUNNING, "cat");
    let (out, _, _, _) = ctl_with(&rpc, &["fg", "cat"], &opts()).await;
    assert_eq!(
        out,
        "==> Press Ctrl-C to exit <==\nProcess got killed\nExiting foreground\n"
    );
    let rpc = FakeRpc::new()
        .on("supervisor.getProcessInfo", running())
        .fault(
            "supervisor.sendProcessStdin",
            faults::NO_FILE,
            "it's closed",
        );
    let (out, _, _, _) = ctl_with(&rpc, &["fg", "cat"], &opts()).await;
    assert_eq!(
        out,
        "==> Press Ctrl-C to exit <==\nERROR: <Fault 20: \"NO_FILE: it's closed\">\nExiting foreground\n"
    );
}

#[tokio::test]
async fn fg_refuses_bad_names_and_stopped_processes() {
    let rpc = FakeRpc::new();
    let (out, _, code, _) = ctl_with(&rpc, &["fg"], &opts()).await;
    assert!(out.starts_with("ERROR: no process name supplied\nfg <process>\t"));
    assert_eq!(code, 1);
    let (out, _, code, _) = ctl_with(&rpc, &["fg", "a", "b"], &opts()).await;
    assert_eq!(
        (out.as_str(), code),
        ("ERROR: too many process names supplied\n", 1)
    );

    let rpc = FakeRpc::new().fault("supervisor.getProcessInfo", faults::BAD_NAME, "x");
    let (out, _, code, _) = ctl_with(&rpc, &["fg", "x"], &opts()).await;
    assert_eq!(
        (out.as_str(), code),
        ("ERROR: bad process name supplied\n", 1)
    );

    let rpc = FakeRpc::new().on(
        "supervisor.getProcessInfo",
        Ok(info("g", "off", 0, "STOPPED", "", 0)),
    );
    let (out, _, code, _) = ctl_with(&rpc, &["fg", "g:off"], &opts()).await;
    assert_eq!((out.as_str(), code), ("ERROR: process not running\n", 1));
    assert!(params(&rpc, "supervisor.sendProcessStdin").is_empty());
}

// ---- exit / quit ----

#[tokio::test]
async fn exit_and_quit_print_an_empty_line_and_end_the_shell() {
    for cmd in ["exit", "quit"] {
        let rpc = FakeRpc::new();
        let (out, _, code, quit) = ctl_with(&rpc, &[cmd], &Options::default()).await;
        assert_eq!((out.as_str(), code, quit), ("\n", 0, true));
        assert!(rpc.calls().is_empty());
    }
    let rpc = FakeRpc::new().on("supervisor.getPID", Ok(Value::Int(42)));
    let (_, _, _, quit) = ctl_with(&rpc, &["pid"], &Options::default()).await;
    assert!(!quit);
}
