//! The supervisor config through the real binary: `sluice check` and
//! `sluice daemon` refuse a bad file with file:line and the key, report
//! every problem at once, warn (only) on unknown keys, and read includes,
//! `%(here)s` and `%%` the way supervisord 4.x does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Daemon, base_config, sluice, wait_for};

fn run(args: &[&str], conf: &Path, cwd: &Path) -> Output {
    Command::new(sluice())
        .args(args)
        .arg("-c")
        .arg(conf)
        .current_dir(cwd)
        .env_remove("SLUICE_CONFIG")
        .output()
        .expect("run sluice")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The 1-based number of the first line of `file_text` containing `needle`.
fn line_of(file_text: &str, needle: &str) -> usize {
    file_text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the file"))
        + 1
}

/// A temp dir holding `sluice.conf` = the test header + `body`.
fn write_conf(body: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("sluice.conf");
    let text = base_config(dir.path()) + body;
    std::fs::write(&conf, &text).expect("write config");
    (dir, conf, text)
}

/// A daemon started by hand: TERM (then KILL) and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let start = std::time::Instant::now();
        while start.elapsed() < common::DEADLINE {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn daemon_refuses_a_bad_value_with_file_line_and_key() {
    let (dir, conf, body) = write_conf(
        "[program:web]\n\
         command = sleep 1000\n\
         startsecs = soon\n",
    );
    let out = run(&["daemon"], &conf, dir.path());
    assert_ne!(out.status.code(), Some(0), "the daemon started: {out:?}");
    let err = text(&out.stderr);
    let want = format!("{}:{}:", conf.display(), line_of(&body, "startsecs"));
    let line = err
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no line starting {want:?} in:\n{err}"));
    assert!(line.contains("startsecs"), "{line}");
    assert!(line.contains("soon"), "{line}");
    // Nothing was started: no socket, no pidfile.
    assert!(!dir.path().join("sluice.sock").exists());
    assert!(!dir.path().join("sluice.pid").exists());
}

#[test]
fn check_reports_every_error_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    let main = base_config(dir.path())
        + "[include]\n\
           files = conf.d/*.ini\n\
           \n\
           [program:a]\n\
           command = sleep 1000\n\
           startsecs = soon\n\
           \n\
           [program:nocmd]\n\
           autostart = false\n\
           \n\
           [program:dup]\n\
           command = sleep 1000\n\
           \n\
           [program:multi]\n\
           command = sleep 1000\n\
           numprocs = 2\n";
    let conf = dir.path().join("sluice.conf");
    std::fs::write(&conf, &main).unwrap();
    let extra = "; more programs\n\n[program:dup]\ncommand = sleep 2000\n";
    let extra_path = dir.path().join("conf.d/extra.ini");
    std::fs::write(&extra_path, extra).unwrap();

    let out = run(&["check"], &conf, dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = text(&out.stdout);
    let has = |file: &Path, line: usize, words: &[&str]| {
        let start = format!("{}:{line}:", file.display());
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&start) && words.iter().all(|w| l.contains(w))),
            "no line {start} with {words:?} in:\n{report}"
        );
    };
    has(
        &conf,
        line_of(&main, "startsecs"),
        &["error", "startsecs", "soon"],
    );
    has(
        &conf,
        line_of(&main, "[program:nocmd]"),
        &["error", "command"],
    );
    has(
        &conf,
        // process_name is not set: the section's header is the place.
        line_of(&main, "[program:multi]"),
        &["error", "process_num", "numprocs"],
    );
    // The repeat is merged (as supervisord does) and warned about where it
    // is, in the included file, naming the first place.
    has(
        &extra_path,
        line_of(extra, "[program:dup]"),
        &["warning", "dup", "repeated", &conf.display().to_string()],
    );
    assert!(
        report.lines().last().unwrap_or("").contains("3 errors"),
        "{report}"
    );
}

#[test]
fn unknown_key_is_a_warning_and_the_daemon_starts() {
    let d = Daemon::start(
        "[program:web]\n\
         command = sleep 1000\n\
         startsecs = 0\n\
         colour = blue\n",
    );
    d.wait_state("web", "RUNNING");
    let body = std::fs::read_to_string(d.conf()).unwrap();
    let want = format!("{}:{}:", d.conf().display(), line_of(&body, "colour"));
    wait_for("the warning on the daemon's stderr", || {
        let err = std::fs::read_to_string(d.path("daemon.stderr")).unwrap_or_default();
        err.lines()
            .any(|l| l.starts_with(&want) && l.contains("warning") && l.contains("colour"))
    });

    // `check` says the same and still passes.
    let out = run(&["check"], &d.conf(), d.dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = text(&out.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&want) && l.contains("warning") && l.contains("colour")),
        "{report}"
    );
}

#[test]
fn check_passes_a_good_config() {
    let (dir, conf, _) = write_conf(
        "[program:web]\n\
         command = sleep 1000\n\
         \n\
         [program:worker]\n\
         command = sleep 1000\n\
         process_name = %(program_name)s_%(process_num)02d\n\
         numprocs = 2\n\
         \n\
         [group:svc]\n\
         programs = web,worker\n",
    );
    let out = run(&["check"], &conf, dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = text(&out.stdout);
    assert!(report.contains("OK"), "{report}");
    assert!(!report.contains("error"), "{report}");
}

#[test]
fn the_tutorials_wrapped_comment_is_refused_at_its_line() {
    let block =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/testdata/flume-tutorial.ini");
    let block_text = std::fs::read_to_string(&block).expect("the tutorial block");
    // The line the long stdout_logfile comment wrapped onto: not indented,
    // not a comment, no '=' -- supervisord's parser rejects it.
    let wrapped = block_text
        .lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty()
                && !l.starts_with([' ', '\t'])
                && !t.starts_with([';', '#', '['])
                && !t.contains('=')
                && !t.contains(':')
        })
        .expect("a wrapped line in the block")
        + 1;
    assert!(
        block_text
            .lines()
            .nth(wrapped - 2)
            .unwrap()
            .starts_with("stdout_logfile="),
        "the wrapped line follows stdout_logfile"
    );
    let (dir, conf, _) = write_conf(&format!("[include]\nfiles = {}\n", block.display()));
    let out = run(&["check"], &conf, dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = text(&out.stdout);
    let want = format!("{}:{wrapped}:", block.display());
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&want) && l.contains("error") && l.contains("创建日志文件")),
        "no error at {want} in:\n{report}"
    );
}

#[test]
fn include_globs_are_relative_to_the_including_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("conf.d")).unwrap();
    std::fs::create_dir_all(etc.join("other")).unwrap();
    let main = base_config(dir.path()) + "[include]\nfiles = conf.d/*.ini\n";
    let conf = etc.join("sluice.conf");
    std::fs::write(&conf, main).unwrap();
    std::fs::write(
        etc.join("conf.d/b.ini"),
        "[program:from_b]\ncommand = sleep 1000\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("conf.d/a.ini"),
        "[program:from_a]\ncommand = sleep 1000\n",
    )
    .unwrap();
    // Not matched by the glob.
    std::fs::write(
        etc.join("other/c.ini"),
        "[program:from_c]\ncommand = sleep 1000\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("conf.d/readme.txt"),
        "[program:from_txt]\ncommand = sleep 1000\n",
    )
    .unwrap();
    // Run from elsewhere: the glob must not depend on the current directory.
    let out = run(&["check"], &conf, dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = text(&out.stdout);
    assert!(report.contains("2 processes"), "{report}");
    assert!(report.contains("3 files read"), "{report}");

    // And the daemon, started from another directory, runs exactly those
    // two, in name order.
    let daemon = KillOnDrop(
        Command::new(sluice())
            .args(["daemon", "-c"])
            .arg(&conf)
            .current_dir("/")
            .env_remove("SLUICE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the daemon"),
    );
    let mut status = String::new();
    wait_for("status to list both included programs", || {
        let out = Command::new(sluice())
            .args(["ctl", "-c"])
            .arg(&conf)
            .arg("status")
            .output()
            .expect("run ctl");
        status = text(&out.stdout);
        status.contains("from_b")
    });
    drop(daemon);
    let names: Vec<&str> = status
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, vec!["from_a", "from_b"], "{status}");
}

#[test]
fn here_and_percent_percent_expand() {
    let d = Daemon::start(
        "[program:echo]\n\
         command = sh -c 'echo \"here=%(here)s pct=100%% done\"; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = %(here)s/echo-%(program_name)s.log\n",
    );
    d.wait_state("echo", "RUNNING");
    let log = d.path("echo-echo.log");
    let want = format!("here={} pct=100% done", d.dir.path().display());
    wait_for("the echo line in the %(here)s log file", || {
        std::fs::read_to_string(&log)
            .map(|t| t.contains(&want))
            .unwrap_or(false)
    });
}

#[test]
fn the_shipped_default_config_checks_clean() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        !Path::new(root).join("sluice.conf").exists(),
        "a ./sluice.conf in the repository root would shadow the embedded default"
    );
    let out = Command::new(sluice())
        .arg("check")
        .current_dir(root)
        .env_remove("SLUICE_CONFIG")
        .output()
        .expect("run sluice check");
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("<embedded default>"), "{report}");
    assert!(report.contains("OK"), "{report}");
}
