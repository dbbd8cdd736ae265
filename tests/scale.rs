//! Reading configs is linear: a config of 10^5 sections, or with 10^6
//! keys, and an agent file of 10^6 properties check in seconds (each about
//! 10 s in a debug build). Each test allows two minutes, for a loaded
//! machine, which the quadratic code this replaced could not meet by far
//! (10^4 sections took it 6 s, so 10^5 took about 10 minutes). They run
//! one at a time: each takes half a GiB. A config whose expansions would
//! take gigabytes is refused with one error, under a 1 GiB address space.

mod common;

use std::fmt::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use common::{output_within, sluice};

const ALLOWED: Duration = Duration::from_secs(120);

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(args: &[&str], cwd: &Path) -> (Option<i32>, String) {
    let (status, out) = check_with(args, cwd, |_| {});
    (status.code(), out)
}

/// `sluice check` with `setup` applied to its command first.
fn check_with(args: &[&str], cwd: &Path, setup: impl FnOnce(&mut Command)) -> (ExitStatus, String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut cmd = Command::new(sluice());
    cmd.arg("check")
        .args(args)
        .current_dir(cwd)
        .env_remove("SLUICE_CONFIG");
    setup(&mut cmd);
    let out = output_within(cmd, ALLOWED);
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn last_line(out: &str) -> &str {
    out.lines().last().unwrap_or("")
}

/// 10^5 programs, each with an unknown key (a warning each), in a group
/// naming them all, spread over 100 included files.
#[test]
fn a_hundred_thousand_sections_check_in_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let n = 100_000;
    let mut main = format!(
        "[supervisord]\nchildlogdir = {d}\n[include]\nfiles = conf.d/*.ini\n[group:all]\nprograms = "
    );
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    main.push_str(&names.join(","));
    main.push('\n');
    std::fs::write(dir.path().join("sluice.conf"), main).expect("write");
    std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    for f in 0..100 {
        let mut text = String::new();
        for i in (f * n / 100)..((f + 1) * n / 100) {
            let _ = write!(
                text,
                "[program:p{i}]\ncommand = /bin/true\nautostart = false\nflavour = x\n"
            );
        }
        std::fs::write(dir.path().join(format!("conf.d/{f:03}.ini")), text).expect("write");
    }
    let (code, out) = check(&["-c", "sluice.conf"], dir.path());
    assert_eq!(code, Some(0), "{}", last_line(&out));
    assert_eq!(
        last_line(&out),
        format!("sluice.conf: OK: {n} processes in 1 group, 101 files read, {n} warnings")
    );
}

/// One program with 10^6 keys it does not know.
#[test]
fn a_million_keys_check_in_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 1_000_000;
    let mut text = format!(
        "[supervisord]\nchildlogdir = {}\n[program:a]\ncommand = /bin/true\n",
        dir.path().display()
    );
    for i in 0..n {
        let _ = writeln!(text, "k{i} = v");
    }
    std::fs::write(dir.path().join("sluice.conf"), text).expect("write");
    let (code, out) = check(&["-c", "sluice.conf"], dir.path());
    assert_eq!(code, Some(0), "{}", last_line(&out));
    assert_eq!(
        last_line(&out),
        format!("sluice.conf: OK: 1 process in 1 group, 1 file read, {n} warnings")
    );
}

/// An agent of 10^5 sinks on one channel, with 10^6 properties.
#[test]
fn an_agent_file_of_a_million_properties_checks_in_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 100_000;
    let names: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
    let mut text = format!(
        "a1.sources = r1\na1.channels = c1\na1.sinks = {}\n\
         a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n",
        names.join(" ")
    );
    for k in &names {
        let _ = write!(
            text,
            "a1.sinks.{k}.type = null\na1.sinks.{k}.channel = c1\na1.sinks.{k}.batchSize = 10\n"
        );
        for p in 0..7 {
            let _ = writeln!(text, "a1.sinks.{k}.extra{p} = x");
        }
    }
    std::fs::write(dir.path().join("agent.conf"), text).expect("write");
    let (code, out) = check(&["-f", "agent.conf", "-n", "a1"], dir.path());
    assert_eq!(code, Some(0), "{}", last_line(&out));
    assert_eq!(
        last_line(&out),
        format!("agent.conf: agent 'a1': OK, {} warnings", 7 * n)
    );
}

/// 2 x 10^5 `[agent:x]` sections running the same agent: the file is
/// checked once, and each section named once (a scan of the sections named
/// so far per section took 80 s for half as many).
#[test]
fn two_hundred_thousand_agents_of_one_file_check_in_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("agent.conf"),
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\na1.sinks.k1.typo = 1\n",
    )
    .expect("write");
    let n = 200_000;
    let mut text = format!("[supervisord]\nchildlogdir = {d}\n");
    for i in 0..n {
        let _ = write!(
            text,
            "[agent:x{i}]\nconf_file = {d}/agent.conf\nagent_name = a1\nautostart = false\n"
        );
    }
    std::fs::write(dir.path().join("sluice.conf"), text).expect("write");
    let (code, out) = check(&["-c", "sluice.conf"], dir.path());
    assert_eq!(code, Some(0), "{}", last_line(&out));
    assert_eq!(out.matches(": note: ").count(), n);
    assert_eq!(out.matches("typo: unknown property").count(), 1);
    assert_eq!(
        last_line(&out),
        format!("sluice.conf: OK: {n} processes in {n} groups, 1 file read, 1 warning")
    );
}

/// 10^4 processes, each with a copy of a 100 kB environment variable:
/// about 1 GB of expansions (7 GB of RSS and 50 s once), refused at the
/// 64 MiB a load may expand, with one error, in a 1 GiB address space.
#[test]
fn numprocs_times_a_huge_environment_variable_is_one_error_not_gigabytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[supervisord]\nchildlogdir = {}\n\
         [program:p]\n\
         command=/bin/sleep 100\n\
         process_name=%(program_name)s_%(process_num)05d\n\
         numprocs=10000\n\
         environment=A=\"%(ENV_BIG)s\"\n",
        dir.path().display()
    );
    std::fs::write(dir.path().join("s.ini"), text).expect("write");
    let (status, out) = check_with(&["-c", "s.ini"], dir.path(), |cmd| {
        cmd.env("BIG", "x".repeat(100_000));
        let limit = 1 << 30;
        // SAFETY: setrlimit(2) only, in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, limit, limit)
                    .map_err(std::io::Error::from)
            });
        }
    });
    assert_eq!(status.code(), Some(1), "{status:?}: {}", last_line(&out));
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error:")).collect();
    assert_eq!(errors.len(), 1, "{}", errors.join("\n"));
    assert!(
        errors[0].starts_with("s.ini:7: error: [program:p] environment: "),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("64 MiB"), "{}", errors[0]);
    assert_eq!(last_line(&out), "s.ini: 1 error, 0 warnings");
}
