//! The file_roll sink through the real binary: `sluice agent` in the
//! foreground (seq and netcat sources) and an `[agent:x]` in the daemon,
//! every event in the files once and in order, also when the directory
//! goes away for a while.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// The files of `dir` in the order the sink made them (by their number:
/// `<prefix><ms>-<n>[.ext]`).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter_map(|p| {
                    let name = p.file_name()?.to_str()?.to_string();
                    let n = name.rsplit('-').next()?.split('.').next()?.parse().ok()?;
                    Some((n, p))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Everything the sink wrote into `dir`, file after file.
fn all_text(dir: &Path) -> String {
    files(dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

fn lines(range: std::ops::Range<u32>) -> String {
    range.map(|i| format!("{i}\n")).collect()
}

fn seq_to_file_roll(total: u32, out: &Path) -> String {
    format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = seq\n\
         a1.sources.r1.totalEvents = {total}\n\
         a1.sources.r1.batchSize = 100\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 1000\n\
         a1.channels.c1.transactionCapacity = 100\n\
         a1.sinks.k1.type = file_roll\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.sink.directory = {}\n\
         a1.sinks.k1.sink.rollInterval = 1\n\
         a1.sinks.k1.sink.pathManager.prefix = seq-\n\
         a1.sinks.k1.sink.pathManager.extension = log\n",
        out.display()
    )
}

#[test]
fn every_seq_event_lands_in_the_files_once_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let total = 50_000;
    let mut agent = ForegroundAgent::start(dir.path(), &seq_to_file_roll(total, &out));
    agent.wait_output("generated all 50000 events");
    wait_for("every line in the files", || {
        all_text(&out).len() >= lines(0..total).len()
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    assert_eq!(all_text(&out), lines(0..total));
    let names = files(&out);
    let first = names[0].file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        first.starts_with("seq-") && first.ends_with("-1.log"),
        "{names:?}"
    );
    let output = agent.output();
    assert!(output.contains("agent stopped"), "{output}");
    assert!(!output.contains("lost"), "{output}");
}

/// Bytes in the files of `dir`.
fn size(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// `text` is exactly "0\n1\n...(k-1)\n" for some k > 0: every event of a
/// stream once, in order, no gap. Says where it first differs otherwise.
fn assert_contiguous(text: &str) {
    let mut count = 0u64;
    for (i, line) in text.lines().enumerate() {
        assert_eq!(line, i.to_string(), "line {i} of the files");
        count += 1;
    }
    assert!(count > 0 && text.ends_with('\n'), "{count} lines");
}

#[test]
fn a_directory_replaced_by_a_file_while_events_flow_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let aside = dir.path().join("aside");
    std::fs::create_dir(&out).expect("mkdir");
    // An endless seq: events are flowing whenever the directory breaks.
    let conf = seq_to_file_roll(0, &out)
        .replace("totalEvents = 0", "totalEvents =")
        .replace("batchSize = 100", "batchSize = 1")
        .replace("rollInterval = 1", "rollInterval = 0");
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    wait_for("the first lines", || size(&out) > 0);

    // The directory goes away and a plain file takes its place.
    std::fs::rename(&out, &aside).expect("mv");
    std::fs::write(&out, b"not a directory").expect("file");
    // (The first failure may see no path at all, between the two steps.)
    agent.wait_output("cannot deliver");
    let before = size(&aside);

    // Back, with what it held: the sink goes on in a new file.
    std::fs::remove_file(&out).expect("rm");
    std::fs::rename(&aside, &out).expect("mv back");
    agent.wait_output("delivering again");
    wait_for("lines after the restore", || {
        files(&out).len() >= 2 && size(&out) > before
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let output = agent.output();
    assert!(!output.contains("lost"), "{output}");
    assert!(output.contains("removed or moved away"), "{output}");
    // Sources stop first and the sink drains the channel: what was
    // generated is in the files, each event once and in order.
    assert_contiguous(&all_text(&out));
}

#[test]
fn a_missing_directory_at_start_is_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("later");
    let mut agent = ForegroundAgent::start(dir.path(), &seq_to_file_roll(2000, &out));
    agent.wait_output("cannot deliver");
    std::fs::create_dir(&out).expect("mkdir");
    wait_for("every line", || {
        all_text(&out).len() >= lines(0..2000).len()
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    assert_eq!(all_text(&out), lines(0..2000));
}

#[test]
fn an_agent_section_in_the_daemon_writes_its_files() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let out = conf_dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let conf = conf_dir.path().join("seq.conf");
    std::fs::write(&conf, seq_to_file_roll(3000, &out)).expect("write");
    let d = Daemon::start(&format!(
        "[agent:flow]\n\
         conf_file = {}\n\
         agent_name = a1\n\
         startsecs = 1\n\
         stopwaitsecs = 10\n\
         stdout_logfile = {{dir}}/flow.log\n",
        conf.display()
    ));
    d.wait_state("flow", "RUNNING");
    wait_for("every line", || {
        all_text(&out).len() >= lines(0..3000).len()
    });
    assert_eq!(all_text(&out), lines(0..3000));
    assert_eq!(d.ctl_out(&["stop", "flow"]).trim(), "flow: stopped");
    let log = std::fs::read_to_string(d.path("flow.log")).unwrap_or_default();
    assert!(log.contains("agent stopped"), "{log}");
    assert_eq!(all_text(&out), lines(0..3000));
}

/// Send numbered lines `range` over netcat with ack-every-event and wait for
/// each OK: once acknowledged, a line is the agent's to keep.
fn send_acked_lines(port: u16, range: std::ops::Range<u32>) {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = None;
    wait_for(&format!("port {port} to accept"), || {
        stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    let mut s = stream.expect("connected");
    let mut replies = BufReader::new(s.try_clone().expect("clone"));
    for i in range {
        s.write_all(format!("{i}\n").as_bytes()).expect("send");
        let mut reply = String::new();
        replies.read_line(&mut reply).expect("reply");
        assert_eq!(reply, "OK\n", "reply to line {i}");
    }
}

#[test]
fn a_read_only_directory_for_a_while_loses_no_acknowledged_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    // rollInterval 1: the sink needs a new file every second, which the
    // read-only directory refuses.
    let conf = format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = netcat\n\
         a1.sources.r1.bind = 127.0.0.1\n\
         a1.sources.r1.port = {port}\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 10000\n\
         a1.sinks.k1.type = file_roll\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.sink.directory = {}\n\
         a1.sinks.k1.sink.rollInterval = 1\n",
        out.display()
    );
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    send_acked_lines(port, 0..500);
    wait_for("the first lines in the files", || {
        all_text(&out).len() >= lines(0..500).len()
    });

    let Some(read_only) = ReadOnly::make(&out) else {
        eprintln!("note: cannot make a directory read-only here; test skipped");
        return;
    };
    // Lines keep coming until the sink's next roll fails; the channel takes
    // what the sink cannot write, so they are still acknowledged. (The
    // pause only paces the sender, well below the channel's capacity.)
    let mut next = 500;
    wait_for("the sink to fail", || {
        send_acked_lines(port, next..next + 10);
        next += 10;
        std::thread::sleep(std::time::Duration::from_millis(20));
        agent.output().contains("cannot deliver")
    });
    assert!(next < 9000, "the channel would have filled up");
    assert!(
        read_only.writable(),
        "cannot make the directory writable again"
    );
    agent.wait_output("delivering again");
    send_acked_lines(port, next..next + 500);
    let total = next + 500;
    wait_for("every acknowledged line in the files", || {
        all_text(&out).len() >= lines(0..total).len()
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let output = agent.output();
    assert!(!output.contains("lost"), "{output}");
    assert_eq!(all_text(&out), lines(0..total));
}
