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

/// The state name of an autostarted `name` once it left STOPPED (not yet
/// started), STARTING and BACKOFF.
fn settled(sock: &Path, name: &str) -> String {
    let mut state = String::new();
    wait_for(&format!("{name} to settle"), || {
        state = info_field(sock, name, "statename")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        // Not STOPPED: an autostarted program is STOPPED until the daemon
        // (either one) gets to start it, and on a loaded machine a client
        // can ask before that.
        matches!(state.as_str(), "RUNNING" | "FATAL" | "EXITED")
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
    script(&venv.path().join("bin/venvtool"), "exec /bin/sleep 1000");
    script(&venv.path().join("sbin/globaltool"), "exec /bin/sleep 1000");
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

/// The permission bits of a file.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn auto_logs_exist_from_the_start_and_are_private() {
    let programs = "[program:never]\ncommand = sleep 1000\nautostart = false\n\
        [program:chatty]\ncommand = sh -c 'echo out; echo err >&2; exec sleep 1000'\n\
        startsecs = 0\n";
    let stock = Stock::start(programs);
    let big = "[program:big]\ncommand = sh -c 'head -c 3000 /dev/zero; exec sleep 1000'\n\
        startsecs = 0\nstdout_logfile_maxbytes = 1KB\n";
    let d = Daemon::start(&format!("{programs}{big}"));
    let (theirs, ours) = (stock.sock(), sock(&d));
    for m in [
        "supervisor.readProcessStdoutLog",
        "supervisor.readProcessStderrLog",
        "supervisor.tailProcessStdoutLog",
        "supervisor.tailProcessStderrLog",
    ] {
        let p = vec![s("never"), Value::Int(0), Value::Int(100)];
        let answer = call_on(&theirs, m, p.clone());
        assert!(answer.is_ok(), "stock {m}: {answer:?}");
        assert_eq!(call_on(&ours, m, p), answer, "{m}");
    }
    for sock in [&theirs, &ours] {
        wait_for("chatty's output", || {
            call_on(
                sock,
                "supervisor.readProcessStderrLog",
                vec![s("chatty"), Value::Int(0), Value::Int(100)],
            ) == Ok(s("err\n"))
        });
        for name in ["never", "chatty"] {
            for field in ["stdout_logfile", "stderr_logfile"] {
                let path = info_field(sock, name, field).expect("a log path");
                let path = PathBuf::from(path.as_str().expect("a string"));
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
    }
    // Files made later, by a rotation or a clear, are private too (where
    // supervisord's are not).
    let log = |name: &str| d.path(&format!("{name}-stdout---supervisor.log"));
    let rotated = d.path("big-stdout---supervisor.log.1");
    wait_for("big's log to rotate", || rotated.exists());
    assert_eq!(mode(&rotated), 0o600);
    assert_eq!(mode(&log("big")), 0o600);
    for name in ["never", "chatty"] {
        let cleared = call_on(&ours, "supervisor.clearProcessLogs", vec![s(name)]);
        assert_eq!(cleared, Ok(Value::Bool(true)), "{name}");
        assert_eq!(mode(&log(name)), 0o600, "{name}");
    }
}

#[test]
fn a_missing_directory_is_written_to_the_stderr_log() {
    let programs = "[program:nodir]\ncommand = sh -c 'echo ran'\n\
        directory = /nonexistent-sluice-compat-dir\nstartretries = 0\n\
        [program:nodir_redirected]\ncommand = sh -c 'echo ran'\n\
        directory = /nonexistent-sluice-compat-dir\nstartretries = 0\nredirect_stderr = true\n";
    let stock = Stock::start(programs);
    let d = Daemon::start(programs);
    let read = |sock: &Path, method: &str, name: &str| {
        call_on(sock, method, vec![s(name), Value::Int(0), Value::Int(1000)])
    };
    for (name, method) in [
        ("nodir", "supervisor.readProcessStderrLog"),
        ("nodir_redirected", "supervisor.readProcessStdoutLog"),
    ] {
        assert_eq!(settled(&stock.sock(), name), "FATAL");
        assert_eq!(settled(&sock(&d), name), "FATAL");
        let theirs = read(&stock.sock(), method, name);
        assert_eq!(
            theirs,
            Ok(s(
                "supervisor: couldn't chdir to /nonexistent-sluice-compat-dir: ENOENT\n\
                  supervisor: child process was not spawned\n"
            )),
            "stock {name}"
        );
        assert_eq!(read(&sock(&d), method, name), theirs, "{name}");
    }
}

#[test]
fn repeated_sections_and_keys_merge_as_supervisord_merges_them() {
    let inc = tempfile::tempdir().unwrap();
    std::fs::write(
        inc.path().join("extra.ini"),
        "[program:dup]\nstartsecs = 3\npriority = 5\n\
         [program:other]\ncommand = sleep 1001\nstartretries = 1\nstartretries = 2\n\
         stdout_logfile = NONE\nstderr_logfile = NONE\n",
    )
    .unwrap();
    let programs = format!(
        "[program:dup]\ncommand = sleep 1000\nstartsecs = 0\nstdout_logfile = NONE\n\
         stderr_logfile = NONE\n\
         [program:dup]\nautostart = false\npriority = 4\n\
         [include]\nfiles = {}/*.ini\n",
        inc.path().display()
    );
    let stock = Stock::start(&programs);
    let d = Daemon::start(&programs);
    let config = |sock: &Path| call_on(sock, "supervisor.getAllConfigInfo", vec![]);
    let theirs = config(&stock.sock());
    let dup = theirs
        .as_ref()
        .ok()
        .and_then(|v| v.as_array())
        .and_then(|a| a.iter().find(|p| p.get("name") == Some(&s("dup"))))
        .cloned()
        .expect("dup in the stock config");
    assert_eq!(dup.get("autostart"), Some(&Value::Bool(false)));
    assert_eq!(dup.get("startsecs"), Some(&Value::Int(3)));
    assert_eq!(config(&sock(&d)), theirs);
    // Each repeat is a warning naming both places.
    let check = std::process::Command::new(common::sluice())
        .args(["check", "-c"])
        .arg(d.conf())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    let conf = d.conf().display().to_string();
    let extra = inc.path().join("extra.ini").display().to_string();
    assert!(check.status.success(), "{said}");
    for (at, first) in [
        (format!("{conf}:"), format!("(first at {conf}:")),
        (format!("{extra}:1:"), format!("(first at {conf}:")),
        (format!("{extra}:7:"), format!("(first at {extra}:6)")),
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(&at) && l.contains("warning") && l.contains(&first)),
            "{at} ... {first} in:\n{said}"
        );
    }
}

#[test]
fn strip_ansi_removes_escape_codes_from_logs() {
    let programs = "[program:colours]\n\
        command = printf '\\033[1;31mred\\033[0m plain \\033bare\\n'\n\
        startsecs = 0\nautorestart = false\n\
        [program:split]\n\
        command = sh -c 'printf \"a\\033[3\"; sleep 1; printf \"1mb\\n\"'\n\
        startsecs = 0\nautorestart = false\n";
    let stock = Stock::start_with(programs, "strip_ansi = true\n");
    let d = Daemon::start_with(programs, "strip_ansi = true\n");
    let read = |sock: &Path, name: &str| {
        call_on(
            sock,
            "supervisor.readProcessStdoutLog",
            vec![s(name), Value::Int(0), Value::Int(1000)],
        )
    };
    for sock in [stock.sock(), sock(&d)] {
        for name in ["colours", "split"] {
            wait_for(&format!("{name} to exit"), || {
                info_field(&sock, name, "statename") == Some(s("EXITED"))
            });
        }
    }
    let theirs = read(&stock.sock(), "colours");
    assert_eq!(theirs, Ok(s("red plain \u{1b}bare\n")));
    assert_eq!(read(&sock(&d), "colours"), theirs);
    // A sequence split between two reads is removed too (supervisord
    // strips each read on its own and leaves "31m" here).
    assert_eq!(read(&sock(&d), "split"), Ok(s("ab\n")));
}

/// Whether `log` has a line ending in ` LEVEL text`.
fn logged(log: &str, level: &str, text: &str) -> bool {
    let end = format!(" {level} {text}");
    log.lines().any(|l| l.ends_with(&end))
}

#[test]
fn the_daemon_log_has_supervisords_lines() {
    let inc = tempfile::tempdir().unwrap();
    let extra = inc.path().join("extra.ini");
    std::fs::write(
        &extra,
        "[program:other]\ncommand = sleep 1000\nstartsecs = 0\n",
    )
    .unwrap();
    let programs = format!(
        "[program:slow]\ncommand = sh -c 'trap \"sleep 2; exit 0\" TERM; echo ready; \
         while :; do sleep 0.1; done'\n\
         startsecs = 0\nstopwaitsecs = 30\n\
         [include]\nfiles = {}/*.ini\n",
        inc.path().display()
    );
    let mut stock = Stock::start(&programs);
    let not_yet = "[eventlistener:ev]\ncommand = cat\nevents = PROCESS_STATE\n\
                   [fcgi-program:fc]\ncommand = cat\nsocket = unix:///tmp/nowhere.sock\n";
    let mut d = Daemon::start(&format!("{programs}{not_yet}"));
    // Once slow has said "ready" `times` times, its TERM trap is set.
    let ready = |sock: &Path, times: usize| {
        wait_for("slow to set its trap", || {
            let log = call_on(
                sock,
                "supervisor.readProcessStdoutLog",
                vec![s("slow"), Value::Int(0), Value::Int(1000)],
            );
            log.ok()
                .and_then(|v| v.as_str().map(|t| t.matches("ready").count()))
                == Some(times)
        })
    };
    for sock in [stock.sock(), sock(&d)] {
        for name in ["slow", "other"] {
            assert_eq!(settled(&sock, name), "RUNNING", "{name}");
        }
        ready(&sock, 1);
        let stopped = call_on(&sock, "supervisor.stopProcess", vec![s("slow")]);
        assert_eq!(stopped, Ok(Value::Bool(true)));
        let started = call_on(&sock, "supervisor.startProcess", vec![s("slow")]);
        assert_eq!(started, Ok(Value::Bool(true)));
        ready(&sock, 2);
    }
    stock.terminate();
    d.signal(libc::SIGTERM);
    d.wait_exit();
    let (theirs, ours) = (stock.log(), d.log());
    let mut lines = vec![
        (
            "INFO",
            format!("Included extra file \"{}\" during parsing", extra.display()),
        ),
        (
            "CRIT",
            "Server 'unix_http_server' running without any HTTP authentication checking".into(),
        ),
        ("INFO", "waiting for slow to stop".into()),
        ("INFO", "waiting for other, slow to die".into()),
    ];
    if nix::unistd::getuid().is_root() {
        lines.push((
            "CRIT",
            "Supervisor is running as root.  Privileges were not dropped because no user is \
             specified in the config file.  If you intend to run as root, you can set user=root \
             in the config file to avoid this message."
                .into(),
        ));
    }
    for (level, text) in &lines {
        assert!(
            logged(&theirs, level, text),
            "stock: {level} {text} in\n{theirs}"
        );
        assert!(
            logged(&ours, level, text),
            "sluice: {level} {text} in\n{ours}"
        );
    }
    // Sections sluice does not run yet are warned about in its own log.
    for section in ["[eventlistener:ev]", "[fcgi-program:fc]"] {
        assert!(
            ours.lines()
                .any(|l| l.contains(" WARN ") && l.contains(section)),
            "{section} in\n{ours}"
        );
    }
}
