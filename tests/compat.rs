//! Where sluice must do what the stock supervisord 4.3 does, because users
//! move configs from one to the other: each case runs the same programs in
//! both daemons (common/stock.rs) and compares what they answer, or, where
//! supervisord cannot run side by side, checks supervisord's own texts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::stock::{Stock, call_on, info_field};
use common::{Daemon, wait_for};
use sluice::rpc::Value;

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn sock(d: &Daemon) -> PathBuf {
    d.path("sluice.sock")
}

/// The state name of `name` once it left STARTING/BACKOFF.
fn settled(sock: &Path, name: &str) -> String {
    let mut state = String::new();
    wait_for(&format!("{name} to settle"), || {
        state = info_field(sock, name, "statename")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        matches!(state.as_str(), "RUNNING" | "FATAL" | "EXITED" | "STOPPED")
    });
    state
}

/// An executable shell script at `path`.
fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn the_environment_path_finds_the_command() {
    // The virtualenv pattern: the program is only on the PATH its own
    // environment sets (or [supervisord]'s).
    let venv = tempfile::tempdir().unwrap();
    script(&venv.path().join("bin/venvtool"), "exec sleep 1000");
    script(&venv.path().join("sbin/globaltool"), "exec sleep 1000");
    let v = venv.path().display();
    let programs = format!(
        "[program:venv]\ncommand = venvtool --flag\nenvironment = PATH=\"{v}/bin:/usr/bin:/bin\"\n\
         startsecs = 0\n\
         [program:later]\ncommand = venvtool\nenvironment = PATH=\"{v}/bin\"\n\
         autostart = false\nstartsecs = 0\n\
         [program:global]\ncommand = globaltool\nstartsecs = 0\n"
    );
    let global = format!("environment = PATH=\"{v}/sbin:/usr/bin:/bin\"\n");
    let stock = Stock::start_with(&programs, &global);
    let d = Daemon::start_with(&programs, &global);
    for name in ["venv", "global"] {
        assert_eq!(settled(&stock.sock(), name), "RUNNING", "stock {name}");
        assert_eq!(settled(&sock(&d), name), "RUNNING", "sluice {name}");
    }
    // startProcess checks the command the same way before it spawns.
    for sock in [stock.sock(), sock(&d)] {
        assert_eq!(
            call_on(&sock, "supervisor.startProcess", vec![s("later")]),
            Ok(Value::Bool(true)),
            "{}",
            sock.display()
        );
    }
}

#[test]
fn a_respawned_process_has_exit_status_zero() {
    // The first life exits 3 (unexpected: restarted), the second runs on.
    let programs = "[program:phoenix]\n\
        command = sh -c 'if [ -e {dir}/ran ]; then touch {dir}/second; exec sleep 1000; fi; \
        touch {dir}/ran; exit 3'\n\
        startsecs = 0\nautorestart = unexpected\n";
    let stock = Stock::start(programs);
    let d = Daemon::start(programs);
    for (sock, dir) in [(stock.sock(), stock.path("")), (sock(&d), d.path(""))] {
        wait_for("the second life", || dir.join("second").exists());
        assert_eq!(settled(&sock, "phoenix"), "RUNNING");
        assert_eq!(
            info_field(&sock, "phoenix", "exitstatus"),
            Some(Value::Int(0)),
            "{}",
            sock.display()
        );
    }
}
