//! The harness itself: a daemon starts, runs a program, shuts down.

mod common;
use common::*;

#[test]
fn daemon_runs_a_program_and_shuts_down() {
    let mut d = Daemon::start("[program:sleeper]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("sleeper", "RUNNING");
    let pid = d.child_pid("sleeper");
    assert!(pid > 0 && alive(pid));
    let out = d.ctl_out(&["shutdown"]);
    assert_eq!(out.trim(), "Shut down");
    assert!(d.wait_exit().success());
    wait_for("the program to be gone", || !alive(pid));
    assert!(!d.path("sluice.sock").exists());
}
