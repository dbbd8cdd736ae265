//! Log capture, rotation, `ctl tail` and the daemon's own log, through the
//! real binary. Every rule asserted here is supervisord 4.x's:
//!
//! - `RotatingFileHandler` (supervisor/loggers.py) writes a whole chunk, then
//!   rotates once the file position is `>= maxbytes`: a rotated file is at
//!   least `maxbytes` long and exceeds it by less than one write; with
//!   `backups=0` the file is reopened with mode `w` (truncated);
//!   `maxbytes=0` never rotates.
//! - The output dispatcher (supervisor/dispatchers.py) hands each read of the
//!   pipe to the log as one write.
//! - `supervisorctl tail` prints `readProcess*Log(name, -N, 0)` followed by a
//!   newline (N defaults to 1600); `tail -f` prints `==> Press Ctrl-C to exit
//!   <==` and then streams.
//! - The daemon log line is `%(asctime)s %(levelname)s %(message)s` with
//!   `YYYY-MM-DD HH:MM:SS,mmm` and the four-letter level names; the process
//!   messages are those of supervisor/process.py.

mod common;
use common::*;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A daemon whose `[supervisord]` section holds `supervisord` (plus the
/// paths every test uses), with `scripts` written as executables into its
/// temp dir first. The daemon's stdout goes to `daemon.stdout` so that
/// `/dev/stdout` destinations can be checked. `{dir}` names the temp dir.
fn daemon_with(scripts: &[(&str, &str)], supervisord: &str, programs: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display().to_string();
    for (name, text) in scripts {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("script dir");
        }
        std::fs::write(&path, text.replace("{dir}", &d)).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // A test may name its own daemon log.
    let logfile = if supervisord.lines().any(|l| l.starts_with("logfile =")) {
        String::new()
    } else {
        format!("logfile = {d}/sluice.log\n")
    };
    let text = format!(
        "[supervisord]\n\
         {logfile}\
         pidfile = {d}/sluice.pid\n\
         childlogdir = {d}\n\
         {supervisord}\n\
         \n\
         [unix_http_server]\n\
         file = {d}/sluice.sock\n\
         \n\
         [supervisorctl]\n\
         serverurl = unix://{d}/sluice.sock\n\n\
         {}",
        programs.replace("{dir}", &d)
    );
    std::fs::write(dir.path().join("sluice.conf"), text).expect("write config");
    let mut daemon = Daemon { dir, child: None };
    let child = Command::new(sluice())
        .args(["daemon", "-c"])
        .arg(daemon.conf())
        .current_dir(daemon.dir.path())
        .stdin(Stdio::null())
        // Append mode: a program logging to /dev/stdout reopens this file,
        // and both must add to its end rather than overwrite each other.
        .stdout(Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(daemon.path("daemon.stdout"))
                .expect("stdout file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(daemon.path("daemon.stderr")).expect("stderr file"),
        ))
        .spawn()
        .expect("start sluice daemon");
    daemon.child = Some(child);
    wait_for("the daemon to answer", || {
        matches!(daemon.ctl(&["status"]).status.code(), Some(0) | Some(3))
    });
    daemon
}

/// [`daemon_with`] at loglevel info and no scripts.
fn daemon(programs: &str) -> Daemon {
    daemon_with(&[], "loglevel = info", programs)
}

fn read(d: &Daemon, rel: &str) -> Vec<u8> {
    std::fs::read(d.path(rel)).unwrap_or_default()
}

fn read_text(d: &Daemon, rel: &str) -> String {
    String::from_utf8_lossy(&read(d, rel)).into_owned()
}

fn size(d: &Daemon, rel: &str) -> u64 {
    std::fs::metadata(d.path(rel)).map(|m| m.len()).unwrap_or(0)
}

/// The names in the daemon's dir starting with `prefix`, sorted.
fn names(d: &Daemon, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.dir.path())
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// `base`, `base.1` .. `base.n` read oldest first and concatenated.
fn concat_rotated(d: &Daemon, base: &str, backups: u32) -> Vec<u8> {
    let mut all = Vec::new();
    for i in (1..=backups).rev() {
        all.extend(read(d, &format!("{base}.{i}")));
    }
    all.extend(read(d, base));
    all
}

/// The 100-byte line number `i` the rotation writers print.
fn hundred_byte_line(i: u32) -> String {
    let line = format!("line {i:05} {}\n", "x".repeat(88));
    assert_eq!(line.len(), 100);
    line
}

/// Prints lines 1..=$2 of [`hundred_byte_line`], each only once the previous
/// one is in `$1` or `$1.1`: every line reaches the log as its own write, so
/// where rotation happens does not depend on how the pipe is read.
const SYNC_WRITER: &str = "#!/bin/sh\n\
log=$1\n\
n=$2\n\
pad=$(printf '%88s' '' | tr ' ' x)\n\
i=1\n\
while [ $i -le $n ]; do\n\
  line=$(printf 'line %05d %s' $i $pad)\n\
  echo \"$line\"\n\
  while ! grep -qsxF \"$line\" \"$log\" \"$log.1\"; do sleep 0.01; done\n\
  i=$((i+1))\n\
done\n";

/// Prints lines 1..=$1 of [`hundred_byte_line`] as fast as it can.
const FAST_WRITER: &str = "#!/bin/sh\n\
n=$1\n\
pad=$(printf '%88s' '' | tr ' ' x)\n\
i=1\n\
while [ $i -le $n ]; do\n\
  printf 'line %05d %s\\n' $i $pad\n\
  i=$((i+1))\n\
done\n";

fn program(name: &str, command: &str, extra: &str) -> String {
    format!(
        "[program:{name}]\ncommand = {command}\nautorestart = false\nstartsecs = 0\n{extra}\n\n"
    )
}

// ---------------------------------------------------------------- rotation

#[test]
fn rotation_keeps_exactly_the_backups_and_rotates_after_the_write_reaching_maxbytes() {
    let d = daemon_with(
        &[("writer.sh", SYNC_WRITER)],
        "loglevel = info",
        &program(
            "rot",
            "{dir}/writer.sh {dir}/out.log 100",
            "stdout_logfile = {dir}/out.log\n\
             stdout_logfile_maxbytes = 1KB\n\
             stdout_logfile_backups = 3",
        ),
    );
    d.wait_state("rot", "EXITED");
    wait_for("the exit logged", || {
        d.log().contains("exited: rot (exit status 0; expected)")
    });
    // 10,000 bytes written in 100-byte writes; 1KB = 1024. The write taking
    // the file to 1100 >= 1024 is followed by a rotation, so every rotated
    // file holds exactly 11 lines: 9 rotations, lines 100 alone in out.log.
    assert_eq!(
        names(&d, "out.log"),
        ["out.log", "out.log.1", "out.log.2", "out.log.3"]
    );
    assert!(!d.path("out.log.4").exists());
    let lines = |from: u32, to: u32| -> String { (from..=to).map(hundred_byte_line).collect() };
    assert_eq!(read_text(&d, "out.log"), lines(100, 100));
    assert_eq!(read_text(&d, "out.log.1"), lines(89, 99));
    assert_eq!(read_text(&d, "out.log.2"), lines(78, 88));
    assert_eq!(read_text(&d, "out.log.3"), lines(67, 77));
    // tail reads the current file only, as supervisord's readProcessStdoutLog.
    assert_eq!(
        d.ctl_out(&["tail", "rot"]),
        format!("{}\n", hundred_byte_line(100))
    );
    for i in 1..=3 {
        let len = size(&d, &format!("out.log.{i}"));
        assert!(
            (1024..1024 + 100).contains(&len),
            "out.log.{i}: {len} bytes"
        );
    }
}

#[test]
fn stderr_rotates_with_its_own_maxbytes_and_backups() {
    let d = daemon_with(
        &[("writer.sh", SYNC_WRITER)],
        "loglevel = info",
        &program(
            "errs",
            "sh -c '{dir}/writer.sh {dir}/err.log 30 >&2'",
            "stderr_logfile = {dir}/err.log\n\
             stderr_logfile_maxbytes = 1KB\n\
             stderr_logfile_backups = 1\n\
             stdout_logfile = {dir}/out.log\n\
             stdout_logfile_maxbytes = 100KB",
        ),
    );
    d.wait_state("errs", "EXITED");
    let lines = |from: u32, to: u32| -> String { (from..=to).map(hundred_byte_line).collect() };
    // Rotations after lines 11 and 22; one backup kept.
    assert_eq!(names(&d, "err.log"), ["err.log", "err.log.1"]);
    assert_eq!(read_text(&d, "err.log.1"), lines(12, 22));
    assert_eq!(read_text(&d, "err.log"), lines(23, 30));
    assert_eq!(read_text(&d, "out.log"), "");
}

#[test]
fn a_log_already_there_counts_toward_maxbytes() {
    // supervisord opens logs in append mode: what a previous run left is
    // part of the size, so the first write here rotates.
    let old = "o".repeat(1999) + "\n";
    let d = daemon_with(
        &[("out.log", &old)],
        "loglevel = info",
        &program(
            "again",
            "sh -c 'echo new'",
            "stdout_logfile = {dir}/out.log\n\
             stdout_logfile_maxbytes = 1KB\n\
             stdout_logfile_backups = 1",
        ),
    );
    d.wait_state("again", "EXITED");
    wait_for("the rotation", || d.path("out.log.1").exists());
    assert_eq!(read_text(&d, "out.log.1"), old + "new\n");
    assert_eq!(read_text(&d, "out.log"), "");
}

#[test]
fn logs_are_appended_across_spawns_and_daemon_restarts() {
    let mut d = daemon(&program(
        "once",
        "sh -c 'echo run'",
        "stdout_logfile = {dir}/once.log",
    ));
    d.wait_state("once", "EXITED");
    wait_for("the first run logged", || {
        read_text(&d, "once.log") == "run\n"
    });
    assert!(d.ctl(&["start", "once"]).status.success());
    wait_for("the second run appended", || {
        read_text(&d, "once.log") == "run\nrun\n"
    });
    let first_life = d.log();
    assert!(first_life.contains("spawned: 'once'"), "{first_life}");
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    d.spawn();
    wait_for("the run after the restart appended", || {
        read_text(&d, "once.log") == "run\nrun\nrun\n"
    });
    // The daemon's own log is appended to as well.
    wait_for("the second life logged after the first", || {
        let log = d.log();
        log.starts_with(&first_life) && log[first_life.len()..].contains("spawned: 'once'")
    });
}

#[test]
fn stdout_and_stderr_naming_one_file_share_one_rotating_writer() {
    let both = "#!/bin/sh\n\
        pad=$(printf '%88s' '' | tr ' ' x)\n\
        i=1\n\
        while [ $i -le 30 ]; do\n\
          printf 'line %05d %s\\n' $i $pad\n\
          printf 'errl %05d %s\\n' $i $pad >&2\n\
          i=$((i+1))\n\
        done\n";
    let d = daemon_with(
        &[("both.sh", both)],
        "loglevel = info",
        &program(
            "shared",
            "{dir}/both.sh",
            "stdout_logfile = {dir}/same.log\n\
             stderr_logfile = {dir}/same.log\n\
             stdout_logfile_maxbytes = 1KB\n\
             stderr_logfile_maxbytes = 1KB\n\
             stdout_logfile_backups = 10\n\
             stderr_logfile_backups = 10",
        ),
    );
    d.wait_state("shared", "EXITED");
    wait_for("all 6000 bytes captured", || {
        concat_rotated(&d, "same.log", 10).len() >= 6000
    });
    let all = String::from_utf8(concat_rotated(&d, "same.log", 10)).expect("utf-8");
    assert_eq!(all.len(), 6000);
    // Each stream's lines all there, in their order.
    let out: Vec<&str> = all.lines().filter(|l| l.starts_with("line ")).collect();
    let err: Vec<&str> = all.lines().filter(|l| l.starts_with("errl ")).collect();
    let want_out: Vec<String> = (1..=30)
        .map(|i| hundred_byte_line(i).trim_end().to_string())
        .collect();
    let want_err: Vec<String> = want_out
        .iter()
        .map(|l| l.replacen("line", "errl", 1))
        .collect();
    assert_eq!(out, want_out);
    assert_eq!(err, want_err);
    // One writer rotated them: every rotated file reached maxbytes.
    assert!(d.path("same.log.1").exists());
    assert!(!d.path("same.log.10").exists());
    for i in 1..=10 {
        let name = format!("same.log.{i}");
        if d.path(&name).exists() {
            assert!(size(&d, &name) >= 1024, "{name}: {}", size(&d, &name));
        }
    }
}

/// A log that cannot be opened at spawn time is a spawn error (supervisord
/// makes the dispatchers, and their files, before forking).
#[test]
fn a_log_that_cannot_be_opened_is_a_spawn_error() {
    let d = daemon_with(
        &[("sub/keep", "")],
        "loglevel = info",
        "[program:nolog]\n\
         command = sleep 1000\n\
         autostart = false\n\
         startretries = 0\n\
         stdout_logfile = {dir}/sub/out.log\n\n",
    );
    // The directory existed when the config was read; it is gone now.
    std::fs::remove_dir_all(d.path("sub")).expect("remove sub");
    let out = d.ctl(&["start", "nolog"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nolog: ERROR (spawn error)\n"
    );
    assert_eq!(out.status.code(), Some(7));
    d.wait_state("nolog", "FATAL");
    let log = d.log();
    assert_eq!(
        level_of(&log, "spawnerr: unknown error making dispatchers for ").as_deref(),
        Some("INFO"),
        "{log}"
    );
    assert!(log.contains("gave up: nolog entered FATAL state"), "{log}");
    assert!(!log.contains("spawned: 'nolog'"), "{log}");
}

#[test]
fn backups_zero_truncates_the_one_file() {
    let d = daemon_with(
        &[("writer.sh", FAST_WRITER)],
        "loglevel = info",
        &program(
            "trunc",
            "{dir}/writer.sh 100",
            "stdout_logfile = {dir}/out.log\n\
             stdout_logfile_maxbytes = 1KB\n\
             stdout_logfile_backups = 0",
        ),
    );
    d.wait_state("trunc", "EXITED");
    let expected: String = (1..=100).map(hundred_byte_line).collect();
    // The capture may still be draining the pipe when the exit is reaped:
    // wait for the last line to have been handled (it is either in the file
    // or was truncated away together with everything before it).
    wait_for("the capture to finish", || {
        let now = read_text(&d, "out.log");
        now.is_empty() || now.ends_with(&hundred_byte_line(100))
    });
    let now = read_text(&d, "out.log");
    assert_eq!(names(&d, "out.log"), ["out.log"]);
    // Every write that takes the file to >= maxbytes truncates it afterwards,
    // so what is left is under maxbytes: the tail of the output.
    assert!(now.len() < 1024, "{} bytes left", now.len());
    assert!(expected.ends_with(&now));
    assert_eq!(now.len() % 100, 0);
}

#[test]
fn maxbytes_zero_never_rotates() {
    let d = daemon_with(
        &[("writer.sh", FAST_WRITER)],
        "loglevel = info",
        &program(
            "all",
            "{dir}/writer.sh 100",
            "stdout_logfile = {dir}/out.log\n\
             stdout_logfile_maxbytes = 0\n\
             stdout_logfile_backups = 3",
        ),
    );
    d.wait_state("all", "EXITED");
    wait_for("all 10,000 bytes in out.log", || {
        size(&d, "out.log") >= 10_000
    });
    let expected: String = (1..=100).map(hundred_byte_line).collect();
    assert_eq!(read_text(&d, "out.log"), expected);
    assert_eq!(names(&d, "out.log"), ["out.log"]);
}

#[test]
fn dev_stdout_with_maxbytes_zero_runs_and_reaches_the_daemons_stdout() {
    let d = daemon(
        "[program:tostdout]\n\
         command = sh -c 'echo hello from tostdout; exec sleep 1000'\n\
         startsecs = 1\n\
         stdout_logfile = /dev/stdout\n\
         stdout_logfile_maxbytes = 0\n\
         stderr_logfile = NONE\n\n",
    );
    d.wait_state("tostdout", "RUNNING");
    wait_for("the line on the daemon's stdout", || {
        read_text(&d, "daemon.stdout").contains("hello from tostdout\n")
    });
}

// ------------------------------------------------------- stderr redirection

#[test]
fn redirect_stderr_puts_stderr_in_the_stdout_log_in_order() {
    let d = daemon(&program(
        "both",
        "sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'",
        "redirect_stderr = true\n\
         stdout_logfile = {dir}/both.log\n\
         stderr_logfile = {dir}/err.log",
    ));
    d.wait_state("both", "EXITED");
    wait_for("all four lines in both.log", || {
        read_text(&d, "both.log").lines().count() == 4
    });
    // One pipe for both streams: the order is the order of the writes.
    assert_eq!(read_text(&d, "both.log"), "out1\nerr1\nout2\nerr2\n");
    // No stderr pipe, so nothing opens the stderr log.
    assert!(!d.path("err.log").exists());
}

#[test]
fn without_redirect_stderr_goes_to_stderr_logfile() {
    let d = daemon(&program(
        "split",
        "sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'",
        "stdout_logfile = {dir}/out.log\nstderr_logfile = {dir}/err.log",
    ));
    d.wait_state("split", "EXITED");
    wait_for("both logs complete", || {
        read_text(&d, "out.log") == "out1\nout2\n" && read_text(&d, "err.log") == "err1\nerr2\n"
    });
}

// ------------------------------------------------------------- AUTO / NONE

/// supervisord names an AUTO log `NAME-CHANNEL---IDENTIFIER-XXXXXXXX.log`
/// (`tempfile.mkstemp` with that prefix and suffix) in childlogdir. sluice
/// keeps the name stable, without the random part; both start with
/// `NAME-CHANNEL---IDENTIFIER` and end with `.log`.
fn auto_log(d: &Daemon, name: &str, channel: &str) -> Option<String> {
    let prefix = format!("{name}-{channel}---supervisor");
    let found: Vec<String> = names(d, &prefix)
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(found.len() <= 1, "{found:?}");
    found.into_iter().next()
}

#[test]
fn auto_logs_go_to_childlogdir_named_after_the_program() {
    let d = daemon(
        "[program:web]\n\
         command = sh -c 'echo auto-out; echo auto-err >&2; exec sleep 1000'\n\
         startsecs = 0\n\n",
    );
    d.wait_state("web", "RUNNING");
    wait_for("both AUTO logs with their line", || {
        let out = auto_log(&d, "web", "stdout");
        let err = auto_log(&d, "web", "stderr");
        match (out, err) {
            (Some(o), Some(e)) => {
                read_text(&d, &o) == "auto-out\n" && read_text(&d, &e) == "auto-err\n"
            }
            _ => false,
        }
    });
    // `tail` reads the same files.
    assert_eq!(d.ctl_out(&["tail", "web"]), "auto-out\n\n");
    assert_eq!(d.ctl_out(&["tail", "web", "stderr"]), "auto-err\n\n");
}

#[test]
#[ignore = "sluice names AUTO logs NAME-CHANNEL---IDENTIFIER.log, without the \
            -XXXXXXXX mkstemp part supervisord adds (and it does not clear old \
            AUTO logs at startup as supervisord's clear_autochildlogdir does)"]
fn auto_log_names_are_supervisords_exactly() {
    let d = daemon(
        "[program:web]\n\
         command = sh -c 'echo x; exec sleep 1000'\n\
         startsecs = 0\n\n",
    );
    d.wait_state("web", "RUNNING");
    let name = auto_log(&d, "web", "stdout").expect("an AUTO stdout log");
    let random = name
        .strip_prefix("web-stdout---supervisor-")
        .and_then(|r| r.strip_suffix(".log"))
        .unwrap_or_else(|| panic!("not supervisord's AUTO name: {name}"));
    assert!(!random.is_empty());
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    );
}

#[test]
fn none_makes_no_file_and_a_10mb_writer_does_not_block() {
    let d = daemon(&program(
        "big",
        "head -c 10000000 /dev/zero",
        "stdout_logfile = NONE",
    ));
    d.wait_state("big", "EXITED");
    wait_for("the exit logged", || {
        d.log().contains("exited: big (exit status 0; expected)")
    });
    assert_eq!(names(&d, "big-stdout"), Vec::<String>::new());
    // No file, so nothing to tail: supervisorctl's message and exit status.
    let out = d.ctl(&["tail", "big"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "big: ERROR (no log file)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

// -------------------------------------------------------------------- tail

#[test]
fn tail_prints_the_end_of_the_log_with_a_newline() {
    let d = daemon(
        "[program:t]\n\
         command = sh -c 'printf \"hello\\nworld\\n\"; echo oops >&2; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/t.out\n\
         stderr_logfile = {dir}/t.err\n\n",
    );
    d.wait_state("t", "RUNNING");
    wait_for("both logs written", || {
        read_text(&d, "t.out") == "hello\nworld\n" && read_text(&d, "t.err") == "oops\n"
    });
    let out = d.ctl(&["tail", "t"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nworld\n\n");
    assert_eq!(out.status.code(), Some(0));
    // -N: the last N bytes.
    assert_eq!(d.ctl_out(&["tail", "-5", "t"]), "orld\n\n");
    assert_eq!(d.ctl_out(&["tail", "-5", "t", "stdout"]), "orld\n\n");
    assert_eq!(d.ctl_out(&["tail", "t", "stderr"]), "oops\n\n");
    assert_eq!(d.ctl_out(&["tail", "-3", "t", "stderr"]), "ps\n\n");
    // -0 asks readProcessStdoutLog(name, 0, 0): the whole file.
    assert_eq!(d.ctl_out(&["tail", "-0", "t"]), "hello\nworld\n\n");
    // Unknown process.
    let out = d.ctl(&["tail", "nosuch"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nosuch: ERROR (no such process name)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn tail_without_n_shows_the_last_1600_bytes() {
    let d = daemon_with(
        &[("writer.sh", FAST_WRITER)],
        "loglevel = info",
        &program(
            "long",
            "{dir}/writer.sh 30",
            "stdout_logfile = {dir}/long.log",
        ),
    );
    d.wait_state("long", "EXITED");
    wait_for("3000 bytes written", || size(&d, "long.log") == 3000);
    let all: String = (1..=30).map(hundred_byte_line).collect();
    let out = d.ctl_out(&["tail", "long"]);
    assert_eq!(out, format!("{}\n", &all[all.len() - 1600..]));
}

/// supervisord's /logtail starts with the last 1024 bytes of the file.
#[test]
fn tail_f_starts_with_the_last_1024_bytes() {
    let d = daemon_with(
        &[("writer.sh", FAST_WRITER)],
        "loglevel = info",
        &program(
            "long",
            "{dir}/writer.sh 30",
            "stdout_logfile = {dir}/long.log",
        ),
    );
    d.wait_state("long", "EXITED");
    wait_for("3000 bytes written", || size(&d, "long.log") == 3000);
    let all: String = (1..=30).map(hundred_byte_line).collect();
    let mut tail = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "long"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl tail -f");
    let out = collect(tail.stdout.take().expect("stdout"));
    let header = "==> Press Ctrl-C to exit <==\n";
    let want = format!("{header}{}", &all[all.len() - 1024..]);
    wait_for("the first 1024 bytes", || {
        out.lock().unwrap().len() >= want.len()
    });
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(tail.id() as i32, libc::SIGINT);
    }
    let _ = tail.wait();
    let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    assert_eq!(&text[..want.len()], want);
}

/// Collects a child's stdout on a thread.
fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    buf
}

#[test]
fn tail_f_follows_new_output_until_interrupted() {
    let d = daemon(
        "[program:chatty]\n\
         command = sh -c 'echo before-follow; while [ ! -e {dir}/go ]; do sleep 0.05; done; \
         echo after-follow; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/chatty.log\n\n",
    );
    d.wait_state("chatty", "RUNNING");
    wait_for("the first line", || {
        read_text(&d, "chatty.log") == "before-follow\n"
    });
    let mut tail = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "chatty"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl tail -f");
    let out = collect(tail.stdout.take().expect("stdout"));
    let text = || String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    wait_for("the header and what was already there", || {
        text().starts_with("==> Press Ctrl-C to exit <==\nbefore-follow\n")
    });
    assert!(!text().contains("after-follow"));
    std::fs::write(d.path("go"), b"").expect("touch go");
    wait_for("the line written after tail -f started", || {
        text().contains("before-follow\nafter-follow\n")
    });
    // Ctrl-C ends it.
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(tail.id() as i32, libc::SIGINT);
    }
    let mut status = None;
    wait_for("tail -f to end on SIGINT", || {
        status = tail.try_wait().expect("try_wait");
        status.is_some()
    });
    assert_eq!(text().matches("after-follow").count(), 1);
}

/// `sluice ctl ARGS` for a command expected to end by itself: stdout,
/// stderr and exit code, failing (not hanging) if it does not end.
fn ctl_ending(d: &Daemon, args: &[&str]) -> (String, String, Option<i32>) {
    let mut child = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ctl");
    let reader = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = from.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let mut status = None;
    wait_for(&format!("ctl {args:?} to end"), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    (
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
        status.and_then(|s| s.code()),
    )
}

#[test]
fn tail_f_refused_is_reported_like_supervisorctls_http_client() {
    let d = daemon(
        "[program:quiet]\n\
         command = sleep 1000\n\
         startsecs = 0\n\
         stdout_logfile = NONE\n\n",
    );
    d.wait_state("quiet", "RUNNING");
    let sock = format!("unix://{}", d.path("sluice.sock").display());
    // No log file: 410.
    let (out, err, code) = ctl_ending(&d, &["tail", "-f", "quiet"]);
    assert_eq!(out, "==> Press Ctrl-C to exit <==\n");
    assert_eq!(
        err,
        format!("{sock}/logtail/quiet/stdout Cannot read, status code 410\n")
    );
    assert_eq!(code, Some(0));
    // No such process: 404.
    let (out, err, _) = ctl_ending(&d, &["tail", "-f", "nosuch", "stderr"]);
    assert_eq!(out, "==> Press Ctrl-C to exit <==\n");
    assert_eq!(
        err,
        format!("{sock}/logtail/nosuch/stderr Cannot read, status code 404\n")
    );
}

/// `/logtail` answers with its headers at once, before the log has a byte
/// to send: for a running program that has written nothing and for one
/// that never started (its AUTO log exists from the start, empty).
#[test]
fn logtail_sends_its_headers_at_once_for_an_empty_log() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let d = daemon(
        "[program:quiet]\n\
         command = sleep 1000\n\
         startsecs = 0\n\n\
         [program:idle]\n\
         command = sleep 1000\n\
         autostart = false\n\n",
    );
    d.wait_state("quiet", "RUNNING");
    for name in ["quiet", "idle"] {
        let mut st = UnixStream::connect(d.path("sluice.sock")).expect("connect");
        st.set_read_timeout(Some(DEADLINE)).expect("timeout");
        write!(
            st,
            "GET /logtail/{name} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .expect("send");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match st.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                other => panic!("{name}: no headers ({other:?}): {head:?}"),
            }
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {head}");
        assert!(
            head.contains("transfer-encoding: chunked"),
            "{name}: {head}"
        );
    }
}

#[test]
fn tail_f_ends_when_the_daemon_shuts_down() {
    let mut d = daemon(
        "[program:p]\n\
         command = sh -c 'echo up; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/p.log\n\n",
    );
    d.wait_state("p", "RUNNING");
    let mut tail = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "p"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl tail -f");
    let out = collect(tail.stdout.take().expect("stdout"));
    wait_for("the line followed", || {
        String::from_utf8_lossy(&out.lock().unwrap()).contains("up\n")
    });
    assert_eq!(d.ctl_out(&["shutdown"]).trim(), "Shut down");
    assert!(d.wait_exit().success());
    wait_for("tail -f to end with the daemon", || {
        tail.try_wait().expect("try_wait").is_some()
    });
}

#[test]
fn tail_and_tail_f_of_a_grouped_process_and_its_stderr() {
    let d = daemon(
        "[program:p]\n\
         command = sh -c 'echo g-out; echo g-err >&2; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/p.out\n\
         stderr_logfile = {dir}/p.err\n\n\
         [group:g]\n\
         programs = p\n\n",
    );
    d.wait_state("g:p", "RUNNING");
    wait_for("both lines logged", || {
        read_text(&d, "p.out") == "g-out\n" && read_text(&d, "p.err") == "g-err\n"
    });
    assert_eq!(d.ctl_out(&["tail", "g:p"]), "g-out\n\n");
    assert_eq!(d.ctl_out(&["tail", "g:p", "stderr"]), "g-err\n\n");
    let mut tail = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "g:p", "stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl tail -f");
    let out = collect(tail.stdout.take().expect("stdout"));
    wait_for("the stderr line followed", || {
        String::from_utf8_lossy(&out.lock().unwrap())
            .starts_with("==> Press Ctrl-C to exit <==\ng-err\n")
    });
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(tail.id() as i32, libc::SIGINT);
    }
    let _ = tail.wait();
    assert!(!String::from_utf8_lossy(&out.lock().unwrap()).contains("g-out"));
}

// ------------------------------------------------------------------ SIGUSR2

/// The numbers of the complete `tick N` lines.
fn ticks(text: &str) -> Vec<u64> {
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            l.strip_prefix("tick ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
        })
        .collect()
}

#[test]
fn sigusr2_reopens_the_process_logs() {
    let d = daemon(
        "[program:ticker]\n\
         command = sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/out.log\n\
         stdout_logfile_maxbytes = 0\n\n",
    );
    d.wait_state("ticker", "RUNNING");
    wait_for("a few ticks", || {
        ticks(&read_text(&d, "out.log")).len() >= 3
    });
    std::fs::rename(d.path("out.log"), d.path("moved.log")).expect("rename");
    // Until told, the daemon keeps writing into the renamed file.
    let n = ticks(&read_text(&d, "moved.log")).len();
    wait_for("more ticks in the moved file", || {
        ticks(&read_text(&d, "moved.log")).len() > n + 2
    });
    assert!(!d.path("out.log").exists());
    d.signal(libc::SIGUSR2);
    wait_for("ticks in a new out.log", || {
        !ticks(&read_text(&d, "out.log")).is_empty()
    });
    // Nothing lost, nothing doubled: the moved file then the new one.
    let old = ticks(&read_text(&d, "moved.log"));
    let new = ticks(&read_text(&d, "out.log"));
    let all: Vec<u64> = old.iter().chain(new.iter()).copied().collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected);
}

#[test]
fn sigusr2_reopens_the_daemon_log() {
    let d = daemon(
        "[program:later]\n\
         command = sleep 1000\n\
         autostart = false\n\
         startsecs = 0\n\n",
    );
    wait_for("the daemon log", || !d.log().is_empty());
    std::fs::rename(d.path("sluice.log"), d.path("old.log")).expect("rename");
    d.signal(libc::SIGUSR2);
    wait_for("a new sluice.log", || d.path("sluice.log").exists());
    wait_for("the reopen request logged", || {
        read_text(&d, "old.log").contains("received SIGUSR2 indicating log reopen request")
    });
    assert!(d.ctl(&["start", "later"]).status.success());
    wait_for("the spawn logged in the new file", || {
        d.log().contains("spawned: 'later' with pid")
    });
    assert!(!read_text(&d, "old.log").contains("spawned: 'later'"));
}

// ------------------------------------------------------------ the daemon log

/// `2026-11-26 04:55:01,123 INFO rest`: the level and the rest, if the line
/// has supervisord's shape.
fn parse_line(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    if b.len() < 29 {
        return None;
    }
    let stamp_ok = b[..23].iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b' ',
        13 | 16 => c == b':',
        19 => c == b',',
        _ => c.is_ascii_digit(),
    });
    let level = &line[24..28];
    let known = ["CRIT", "ERRO", "WARN", "INFO", "DEBG", "TRAC", "BLAT"].contains(&level);
    (stamp_ok && b[23] == b' ' && known && b[28] == b' ').then(|| (level, &line[29..]))
}

/// The level of the first log line whose message starts with `msg`.
fn level_of(log: &str, msg: &str) -> Option<String> {
    log.lines()
        .filter_map(parse_line)
        .find(|(_, m)| m.starts_with(msg))
        .map(|(l, _)| l.to_string())
}

#[test]
fn daemon_log_has_supervisords_format_and_messages() {
    let mut d = daemon(
        "[program:steady]\n\
         command = sleep 1000\n\
         startsecs = 1\n\n\
         [program:good]\n\
         command = sh -c 'exit 0'\n\
         startsecs = 0\n\
         autorestart = false\n\n\
         [program:bad]\n\
         command = sh -c 'exit 3'\n\
         startsecs = 0\n\
         autorestart = false\n\n\
         [program:flaky]\n\
         command = sh -c 'exit 1'\n\
         startsecs = 10\n\
         startretries = 1\n\n",
    );
    d.wait_state("steady", "RUNNING");
    d.wait_state("good", "EXITED");
    d.wait_state("bad", "EXITED");
    d.wait_state("flaky", "FATAL");
    let pid = d.child_pid("steady");
    assert!(d.ctl(&["stop", "steady"]).status.success());
    wait_for("the stop logged", || d.log().contains("stopped: steady"));
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    let log = d.log();

    for line in log.lines() {
        assert!(
            parse_line(line).is_some(),
            "not supervisord's shape: {line:?}"
        );
    }
    let expect = |level: &str, msg: &str| {
        assert_eq!(
            level_of(&log, msg).as_deref(),
            Some(level),
            "no {level} {msg:?} in\n{log}"
        );
    };
    expect("INFO", &format!("spawned: 'steady' with pid {pid}"));
    expect(
        "INFO",
        "success: steady entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)",
    );
    expect("INFO", "exited: good (exit status 0; expected)");
    expect("WARN", "exited: bad (exit status 3; not expected)");
    expect("WARN", "exited: flaky (exit status 1; not expected)");
    expect(
        "INFO",
        "gave up: flaky entered FATAL state, too many start retries too quickly",
    );
    // -1 (killed by a signal) is never in exitcodes: a WARN, as supervisord.
    expect("WARN", "stopped: steady (terminated by SIGTERM)");
    expect("WARN", "received SIGTERM indicating exit request");
}

#[test]
fn loglevel_debug_shows_debg_lines() {
    let d = daemon_with(
        &[],
        "loglevel = debug",
        "[program:steady]\n\
         command = sleep 1000\n\
         startsecs = 0\n\n",
    );
    d.wait_state("steady", "RUNNING");
    let pid = d.child_pid("steady");
    assert!(d.ctl(&["stop", "steady"]).status.success());
    wait_for("the stop logged", || d.log().contains("stopped: steady"));
    let log = d.log();
    assert_eq!(
        level_of(
            &log,
            &format!("killing steady (pid {pid}) with signal SIGTERM")
        )
        .as_deref(),
        Some("DEBG"),
        "{log}"
    );
    assert_eq!(level_of(&log, "spawned: 'steady'").as_deref(), Some("INFO"));
}

#[test]
fn loglevel_warn_hides_info_lines() {
    let d = daemon_with(
        &[],
        "loglevel = warn",
        "[program:steady]\n\
         command = sleep 1000\n\
         startsecs = 0\n\n\
         [program:bad]\n\
         command = sh -c 'exit 3'\n\
         startsecs = 0\n\
         autorestart = false\n\n",
    );
    d.wait_state("steady", "RUNNING");
    d.wait_state("bad", "EXITED");
    assert!(d.ctl(&["stop", "steady"]).status.success());
    wait_for("the stop logged", || d.log().contains("stopped: steady"));
    let log = d.log();
    assert_eq!(
        level_of(&log, "exited: bad (exit status 3; not expected)").as_deref(),
        Some("WARN"),
        "{log}"
    );
    assert_eq!(
        level_of(&log, "stopped: steady (terminated by SIGTERM)").as_deref(),
        Some("WARN"),
        "{log}"
    );
    for line in log.lines() {
        let (level, _) = parse_line(line).unwrap_or_else(|| panic!("bad line {line:?}"));
        assert!(
            ["WARN", "ERRO", "CRIT"].contains(&level),
            "shown at loglevel=warn: {line}"
        );
    }
    assert!(!log.contains("spawned:"), "{log}");
}

#[test]
fn daemon_log_rotates_with_logfile_maxbytes_and_backups() {
    let d = daemon_with(
        &[],
        "loglevel = debug\nlogfile_maxbytes = 2KB\nlogfile_backups = 2",
        "[program:flap]\n\
         command = sh -c 'exit 0'\n\
         startsecs = 0\n\
         autorestart = true\n\n",
    );
    wait_for("two rotations of the daemon log", || {
        d.path("sluice.log.2").exists()
    });
    wait_for("flap to be stopped", || {
        d.ctl(&["stop", "flap"]);
        d.state("flap") == "STOPPED"
    });
    assert_eq!(
        names(&d, "sluice.log"),
        ["sluice.log", "sluice.log.1", "sluice.log.2"]
    );
    for rotated in ["sluice.log.1", "sluice.log.2"] {
        let text = read_text(&d, rotated);
        // Rotated after the line that took it to 2048 bytes or more: whole
        // lines, each one write.
        assert!(text.len() >= 2048, "{rotated}: {} bytes", text.len());
        let longest = text.lines().map(str::len).max().unwrap_or(0) + 1;
        assert!(
            text.len() < 2048 + longest,
            "{rotated}: {} bytes",
            text.len()
        );
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            assert!(parse_line(line).is_some(), "{rotated}: {line:?}");
        }
    }
    assert!(read_text(&d, "sluice.log.1").contains("spawned: 'flap'"));
}

// --------------------------------------------------------- every byte kept

#[test]
fn five_megabytes_are_captured_whole_and_in_order_across_rotations() {
    const N: u32 = 750_000;
    let d = daemon(&program(
        "seq",
        &format!("seq 1 {N}"),
        "stdout_logfile = {dir}/seq.log\n\
         stdout_logfile_maxbytes = 1MB\n\
         stdout_logfile_backups = 10",
    ));
    let expected: String = (1..=N).map(|i| format!("{i}\n")).collect();
    assert!(expected.len() > 5_000_000);
    d.wait_state("seq", "EXITED");
    wait_for("every byte captured", || {
        concat_rotated(&d, "seq.log", 10).len() >= expected.len()
    });
    let all = concat_rotated(&d, "seq.log", 10);
    assert_eq!(all.len(), expected.len());
    assert!(all == expected.as_bytes(), "captured bytes differ");
    assert!(d.path("seq.log.4").exists());
    assert!(!d.path("seq.log.11").exists());
    for i in 1..=10 {
        let name = format!("seq.log.{i}");
        if d.path(&name).exists() {
            assert!(size(&d, &name) >= 1024 * 1024, "{name}");
        }
    }
}

/// Line `i` of [`BATCH_WRITER`]: its length varies with `i`, so a line cut
/// anywhere but at its start shows.
fn ticker_line(i: u32) -> String {
    format!("tick {i:05} {}", "x".repeat((i * 7 % 50) as usize + 30))
}

/// Lines per batch of [`BATCH_WRITER`].
const BATCH: u32 = 6;

/// Writes [`ticker_line`]s in batches of [`BATCH`]: batch `b` once the file
/// `go.b` exists; each line only once the previous one is in `$1` or
/// `$1.1`, so every line reaches the log as its own write.
const BATCH_WRITER: &str = "#!/bin/sh\n\
log=$1\n\
i=0\n\
b=1\n\
while :; do\n\
  while [ ! -e {dir}/go.$b ]; do sleep 0.02; done\n\
  j=0\n\
  while [ $j -lt 6 ]; do\n\
    i=$((i+1))\n\
    j=$((j+1))\n\
    pad=$(printf \"%$(( i * 7 % 50 + 30 ))s\" '' | tr ' ' x)\n\
    line=\"tick $(printf '%05d' $i) $pad\"\n\
    echo \"$line\"\n\
    while ! grep -qsxF \"$line\" \"$log\" \"$log.1\"; do sleep 0.01; done\n\
  done\n\
  b=$((b+1))\n\
done\n";

/// supervisorctl's `tail -f` streams `/logtail`, which reopens the file when
/// it is rotated and shows the new one from its start: what is written into
/// the new file after a rotation is shown, whole lines only, in order.
#[test]
fn tail_f_keeps_following_across_rotations() {
    let d = daemon_with(
        &[("writer.sh", BATCH_WRITER)],
        "loglevel = info",
        "[program:roller]\n\
         command = {dir}/writer.sh {dir}/roll.log\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/roll.log\n\
         stdout_logfile_maxbytes = 1KB\n\
         stdout_logfile_backups = 2\n\n",
    );
    d.wait_state("roller", "RUNNING");
    let mut tail = Command::new(sluice())
        .arg("ctl")
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "roller"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ctl tail -f");
    let out = collect(tail.stdout.take().expect("stdout"));
    let text = || String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    wait_for("the header", || {
        text().starts_with("==> Press Ctrl-C to exit <==\n")
    });
    let holds = |file: &str, i: u32| read_text(&d, file).lines().any(|l| l == ticker_line(i));
    let mut crossed = 0;
    for b in 1..=8 {
        let (first, last) = (BATCH * (b - 1) + 1, BATCH * b);
        std::fs::write(d.path(&format!("go.{b}")), b"").expect("trigger a batch");
        wait_for("the batch written", || {
            holds("roll.log", last) || holds("roll.log.1", last)
        });
        if !holds("roll.log", last) {
            // Its last line rotated the file: the new one is empty.
            continue;
        }
        if !holds("roll.log", first) {
            crossed += 1; // rotated in the middle of the batch
        }
        let want = format!("{}\n", ticker_line(last));
        wait_for(&format!("line {last} shown by tail -f"), || {
            text().contains(&want)
        });
    }
    assert!(crossed >= 2, "only {crossed} batches crossed a rotation");
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(tail.id() as i32, libc::SIGINT);
    }
    let _ = tail.wait();
    let text = text();
    let mut last = 0;
    for l in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let n: u32 = l
            .get(5..10)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a whole line: {l:?} in\n{text}"));
        assert_eq!(l, ticker_line(n), "a cut line in\n{text}");
        assert!(n > last, "{n} after {last} in\n{text}");
        last = n;
    }
}

#[test]
fn the_daemon_log_can_be_dev_stdout() {
    let d = daemon_with(
        &[],
        "logfile = /dev/stdout\nlogfile_maxbytes = 0\nloglevel = info\nsilent = true",
        &program("p", "sleep 1000", ""),
    );
    d.wait_state("p", "RUNNING");
    wait_for("the spawn on the daemon's stdout", || {
        read_text(&d, "daemon.stdout").contains("success: p entered RUNNING state")
    });
    let out = read_text(&d, "daemon.stdout");
    assert_eq!(out.matches("spawned: 'p' with pid").count(), 1, "{out}");
    for line in out.lines() {
        assert!(parse_line(line).is_some(), "{line:?}");
    }
}

/// supervisord in the foreground (`nodaemon`) also writes its log lines to
/// its stdout, unless `silent=true`.
#[test]
fn in_the_foreground_log_lines_are_echoed_to_stdout_unless_silent() {
    let loud = daemon(&program("p", "sleep 1000", ""));
    let quiet = daemon_with(
        &[],
        "loglevel = info\nsilent = true",
        &program("p", "sleep 1000", ""),
    );
    for d in [&loud, &quiet] {
        d.wait_state("p", "RUNNING");
        wait_for("the success logged", || {
            d.log().contains("success: p entered RUNNING state")
        });
    }
    let echoed = read_text(&loud, "daemon.stdout");
    assert!(echoed.contains("spawned: 'p' with pid"), "{echoed}");
    assert!(loud.log().starts_with(&echoed) || echoed.starts_with(&loud.log()));
    assert!(
        !read_text(&loud, "daemon.stderr").contains("spawned:"),
        "log lines on stderr"
    );
    assert_eq!(read_text(&quiet, "daemon.stdout"), "");
    assert!(!read_text(&quiet, "daemon.stderr").contains("spawned:"));
}

/// supervisord drains a child's pipes when it reaps it, before the exit is
/// reported: once a process shows EXITED, its last output is in the log.
/// (sluice's capture threads have no such handshake with the reaper; they
/// are simply far quicker than a `ctl status` round trip.)
#[test]
fn output_is_in_the_log_by_the_time_the_exit_is_reported() {
    let d = daemon(&program(
        "brief",
        "sh -c 'echo first; echo last'",
        "stdout_logfile = {dir}/brief.log\nautostart = false",
    ));
    for round in 1..=20 {
        let before = read_text(&d, "brief.log");
        assert!(d.ctl(&["start", "brief"]).status.success());
        d.wait_state("brief", "EXITED");
        let now = read_text(&d, "brief.log");
        assert_eq!(
            &now[before.len()..],
            "first\nlast\n",
            "round {round}: the log lagged the EXITED state"
        );
    }
}

/// The same when the log is slow to take writes (a stuck disk, here a FIFO
/// read slowly): the child's last burst is still on its way into the log
/// when the exit is reaped, and the exit waits for it (a flush of the
/// pipes). A grandchild that keeps the pipe open does not hold it back.
#[test]
fn a_last_burst_is_in_a_slow_log_by_the_time_the_exit_is_reported() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const TOTAL: u64 = 300_006;
    let d = daemon(&program(
        "burst",
        "sh -c 'head -c 300000 /dev/zero | tr \\\\0 x; echo; echo last; sleep 20 &'",
        "stdout_logfile = {dir}/burst.fifo\nstdout_logfile_maxbytes = 0\nautostart = false",
    ));
    let fifo = d.path("burst.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a path we own, a plain mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // Opened before the daemon opens it for writing, so that open does not block.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the fifo");
    let reader = Arc::new(Mutex::new(reader));
    let (got, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let slow = {
        let (reader, got, stop) = (reader.clone(), got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                if let Ok(n) = reader.lock().unwrap().read(&mut buf) {
                    got.fetch_add(n as u64, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    assert!(d.ctl(&["start", "burst"]).status.success());
    d.wait_state("burst", "EXITED");
    stop.store(true, Ordering::SeqCst);
    slow.join().unwrap();
    // What the reader took plus what waits in the fifo (not read: that would
    // let a late writer in): all the child wrote.
    let reader = reader.lock().unwrap();
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD into a local int, on a fifo we hold open.
    assert_eq!(
        unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut waiting) },
        0
    );
    assert_eq!(
        got.load(Ordering::SeqCst) + waiting as u64,
        TOTAL,
        "the log lagged the EXITED state"
    );
}

/// supervisord makes its logger anew in each life: a reload (SIGHUP) applies
/// the config's new `logfile` and `loglevel`.
#[test]
fn reload_applies_a_new_logfile_and_loglevel() {
    let d = daemon("[program:steady]\ncommand = sleep 1000\nstartsecs = 0\n\n");
    d.wait_state("steady", "RUNNING");
    let conf = std::fs::read_to_string(d.conf()).expect("config");
    let first = d.path("sluice.log").display().to_string();
    let second = d.path("second.log").display().to_string();
    let changed = conf
        .replace("loglevel = info", "loglevel = debug")
        .replace(&first, &second);
    assert_ne!(conf, changed);
    std::fs::write(d.conf(), changed).expect("rewrite config");
    d.signal(libc::SIGHUP);
    wait_for("the second life logging into second.log", || {
        read_text(&d, "second.log").contains("spawned: 'steady'")
    });
    d.wait_state("steady", "RUNNING");
    let pid = d.child_pid("steady");
    assert!(d.ctl(&["stop", "steady"]).status.success());
    wait_for("the stop logged", || {
        read_text(&d, "second.log").contains("stopped: steady")
    });
    let log = read_text(&d, "second.log");
    assert_eq!(
        level_of(
            &log,
            &format!("killing steady (pid {pid}) with signal SIGTERM")
        )
        .as_deref(),
        Some("DEBG"),
        "{log}"
    );
    // The first file got nothing of the second life.
    assert!(!d.log().contains(&format!("pid {pid}")), "{}", d.log());
}
