//! `sluice check` on agents: every agent file a config runs is checked even
//! when the INI has errors, each agent's problems after a note naming the
//! sections that run it; `check -f FILE -n NAME` (or flume-ng's own option
//! names) checks one agent file alone; an unknown component type is one
//! error.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{base_config, sluice};

fn check(args: &[&str], cwd: &Path) -> (Option<i32>, String) {
    let out: Output = Command::new(sluice())
        .arg("check")
        .args(args)
        .current_dir(cwd)
        .env_remove("SLUICE_CONFIG")
        .output()
        .expect("run sluice check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An agent with a bad port (line 6) and a misspelt channel type (line 8)
/// whose properties (lines 9, 10) are not also reported as unknown.
const BAD_AGENT: &str = "\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = many
a1.sources.r1.channels = c1
a1.channels.c1.type = memroy
a1.channels.c1.capacity = 10
a1.channels.c1.transactionCapacity = 10
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
";

#[test]
fn agent_files_are_checked_even_when_the_ini_has_errors_and_name_who_runs_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = dir.path().join("agent.conf");
    std::fs::write(&agent, BAD_AGENT).expect("write agent");
    let conf = dir.path().join("sluice.conf");
    let head = base_config(dir.path());
    let at = head.lines().count();
    std::fs::write(
        &conf,
        format!(
            "{head}[program:bad]\n\
             command = sleep 10\n\
             startsecs = soon\n\
             [agent:x]\n\
             conf_file = {a}\n\
             agent_name = a1\n\
             [program:y]\n\
             command = flume-ng agent --conf conf --conf-file {a} --name a1\n",
            a = agent.display()
        ),
    )
    .expect("write config");
    let (code, out) = check(&["-c", &conf.display().to_string()], dir.path());
    assert_eq!(code, Some(1), "{out}");
    let (c, a) = (conf.display(), agent.display());
    let expected = [
        format!(
            "{c}:{}: error: [program:bad] startsecs: 'soon' is not an integer",
            at + 3
        ),
        format!(
            "{c}:{}: note: [agent:x] runs agent 'a1' of {a}; its problems follow",
            at + 4
        ),
        format!(
            "{c}:{}: note: [program:y] runs agent 'a1' of {a}; its problems follow",
            at + 7
        ),
        format!("{a}:6: error: [a1.sources.r1] port: 'many' is not a port number (0-65535)"),
        format!(
            "{a}:8: error: [a1.channels.c1] type: unknown channel type 'memroy' \
             (known: memory, file, spillablememory)"
        ),
        format!("{c}: 3 errors, 0 warnings"),
    ];
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got, expected, "{out}");
}

#[test]
fn one_agent_file_is_checked_alone_with_sluices_or_flume_ngs_options() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, BAD_AGENT).expect("write agent");
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        BAD_AGENT
            .replace("= many", "= 0")
            .replace("memroy", "memory")
            + "a1.sinks.k1.typo = 1\n",
    )
    .expect("write agent");
    let (b, g) = (bad.display().to_string(), good.display().to_string());
    for args in [
        vec!["-f", &b, "-n", "a1"],
        vec![
            "--conf",
            "conf",
            "--conf-file",
            &b,
            "--name",
            "a1",
            "-Dflume.root.logger=INFO,console",
        ],
        vec!["-c", "conf", "-f", &b, "-n", "a1"],
    ] {
        let (code, out) = check(&args, dir.path());
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(
            out.contains(&format!("{b}:6: error: [a1.sources.r1] port:")),
            "{out}"
        );
        assert!(
            out.ends_with(&format!("{b}: agent 'a1': 2 errors, 0 warnings\n")),
            "{out}"
        );
    }
    let (code, out) = check(&["-f", &g, "-n", "a1"], dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        format!(
            "{g}:13: warning: [a1.sinks.k1] typo: unknown property (ignored)\n\
             {g}: agent 'a1': OK, 1 warning\n"
        )
    );
    // flume-ng's -D properties are warned about as `sluice agent` does.
    let (code, out) = check(
        &["-f", &g, "-n", "a1", "-Dflume.monitoring.type=http"],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("warning: -Dflume.monitoring.type=http: monitoring is not implemented yet"),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("{g}: agent 'a1': OK, 2 warnings\n")),
        "{out}"
    );
    let (code, out) = check(&["-f", &g, "-n", "a2"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no agent named 'a2'"), "{out}");
    // -f without -n is a usage error.
    assert_eq!(check(&["-f", &g], dir.path()).0, Some(2));
}

/// `sluice check`, the daemon and `sluice agent` each within the deadline.
fn bounded(args: &[&str], cwd: &Path) -> (Option<i32>, String) {
    let mut cmd = Command::new(sluice());
    cmd.args(args).current_dir(cwd).env_remove("SLUICE_CONFIG");
    let out = common::output_within(cmd, common::DEADLINE);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An agent file that is a FIFO (reading it blocks until a writer comes)
/// or a device (/dev/zero never ends) is an error, found at once: in
/// `sluice check`, `check -f`, `sluice agent`, and the daemon starts.
#[test]
fn an_agent_file_that_is_not_a_regular_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("agent.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    for file in [fifo.as_path(), Path::new("/dev/zero")] {
        let f = file.display().to_string();
        let conf = dir.path().join("sluice.conf");
        std::fs::write(
            &conf,
            format!(
                "{}[agent:x]\nconf_file = {f}\nagent_name = a1\n",
                base_config(dir.path())
            ),
        )
        .expect("write config");
        let (code, out) = bounded(&["check", "-c", "sluice.conf"], dir.path());
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains(&format!(
                "{f}: error: cannot read the agent file: not a regular file"
            )),
            "{out}"
        );
        let (code, out) = bounded(&["check", "-f", &f, "-n", "a1"], dir.path());
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("not a regular file"), "{out}");
        let (code, out) = bounded(&["agent", "-f", &f, "-n", "a1"], dir.path());
        assert_ne!(code, Some(0), "{out}");
        assert!(out.contains("not a regular file"), "{out}");
    }
    // The daemon reads the agent file at its config load (to see edits).
    let d = common::Daemon::start(&format!(
        "[agent:x]\nconf_file = {}\nagent_name = a1\nstartretries = 0\n",
        fifo.display()
    ));
    d.wait_state("x", "FATAL");
}

/// 10^4 processes of one agent file of 8 MB: the daemon's config load
/// reads the file once (to see edits on reread), not once per process
/// (80 GB read: minutes).
#[test]
fn an_agent_file_run_by_many_processes_is_read_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = dir.path().join("agent.conf");
    let mut text = String::from(
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n",
    );
    let comment = format!("# {}\n", "x".repeat(1021));
    while text.len() < 8 << 20 {
        text.push_str(&comment);
    }
    std::fs::write(&agent, text).expect("write agent");
    std::fs::write(
        dir.path().join("sluice.conf"),
        format!(
            "{}[agent:x]\nconf_file = {}\nagent_name = a1\nautostart = false\n\
             numprocs = 10000\nprocess_name = x%(process_num)d\n",
            base_config(dir.path()),
            agent.display()
        ),
    )
    .expect("write config");
    let (code, out) = bounded(&["check", "-c", "sluice.conf"], dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.ends_with("OK: 10000 processes in 1 group, 1 file read, 0 warnings\n"),
        "{out}"
    );
}
