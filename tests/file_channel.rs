//! The file channel through the real binary: netcat (ack-every-event) ->
//! file -> file_roll, the agent killed with SIGKILL several times while
//! lines arrive, restarted on the same directories. Every acknowledged
//! line ends up in the sink's files at least once; duplicates (allowed:
//! at-least-once) are counted and printed. The channel holds at most
//! 64 KiB of events in memory, so takes also read events back from its
//! data files (always after a restart: a start leaves the checkpointed
//! events on disk).

mod common;
use common::*;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Agent a1's names and its netcat source r1 on `port`, into channel c1.
fn netcat_agent(port: u16, ack_every_event: bool) -> String {
    format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = netcat\n\
         a1.sources.r1.bind = 127.0.0.1\n\
         a1.sources.r1.port = {port}\n\
         a1.sources.r1.ack-every-event = {ack_every_event}\n\
         a1.sources.r1.channels = c1\n"
    )
}

fn conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    netcat_agent(port, true)
        + &format!(
            "a1.channels.c1.type = file\n\
             a1.channels.c1.checkpointDir = {d}/fc/checkpoint\n\
             a1.channels.c1.useDualCheckpoints = true\n\
             a1.channels.c1.backupCheckpointDir = {d}/fc/backup\n\
             a1.channels.c1.dataDirs = {d}/fc/data1,{d}/fc/data2\n\
             a1.channels.c1.checkpointInterval = 100\n\
             a1.channels.c1.maxFileSize = 4096\n\
             a1.channels.c1.minimumRequiredSpace = 1048576\n\
             a1.channels.c1.memoryBytes = 65536\n\
             a1.sinks.k1.type = file_roll\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.sink.directory = {d}/out\n\
             a1.sinks.k1.sink.rollInterval = 1\n"
        )
}

/// netcat (ack-every-event `ack`) -> a file channel under `dir/fc` ->
/// file_roll into `dir/out` (one file), with `extra` properties.
fn file_to_roll(dir: &Path, port: u16, ack: bool, extra: &str) -> String {
    let d = dir.display();
    netcat_agent(port, ack)
        + &format!(
            "a1.channels.c1.type = file\n\
             a1.channels.c1.checkpointDir = {d}/fc/checkpoint\n\
             a1.channels.c1.dataDirs = {d}/fc/data\n\
             a1.channels.c1.minimumRequiredSpace = 1048576\n\
             a1.sinks.k1.type = file_roll\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.sink.directory = {d}/out\n\
             a1.sinks.k1.sink.rollInterval = 0\n"
        )
        + extra
}

/// A connection to the agent's source on `port`, once it accepts.
fn connect(port: u16) -> std::net::TcpStream {
    let mut stream = None;
    wait_for(&format!("port {port} to accept"), || {
        stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    stream.expect("connected")
}

/// Send numbered lines from `first` on until the connection breaks;
/// `acked` is the highest number the agent answered `OK` to.
fn sender(port: u16, first: i64, acked: Arc<AtomicI64>) -> std::thread::JoinHandle<()> {
    let mut s = connect(port);
    std::thread::spawn(move || {
        let Ok(r) = s.try_clone() else { return };
        let mut replies = BufReader::new(r);
        for i in first.. {
            if s.write_all(format!("{i}\n").as_bytes()).is_err() {
                return;
            }
            let mut reply = String::new();
            match replies.read_line(&mut reply) {
                Ok(_) if reply == "OK\n" => acked.store(i, Ordering::SeqCst),
                _ => return,
            }
        }
    })
}

/// The sink's files in `out`, in name order (the order it rolled them).
fn sink_files(out: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// How often each number is in the sink's files.
fn counts(out: &Path) -> BTreeMap<i64, usize> {
    let mut c = BTreeMap::new();
    for f in sink_files(out) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines() {
            if let Ok(n) = line.parse::<i64>() {
                *c.entry(n).or_insert(0) += 1;
            }
        }
    }
    c
}

/// A random number in `lo..hi` (from /dev/urandom): where to kill.
fn random_between(lo: i64, hi: i64) -> i64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    lo + (u64::from_le_bytes(b) % (hi - lo) as u64) as i64
}

/// What the crash test needs from whatever runs the agent.
trait Runner {
    /// Start (again) on the same directories.
    fn start(&mut self);
    fn kill_9(&mut self);
}

/// `sluice agent` in the foreground, with `extra` properties after `conf`.
struct Standalone<'a> {
    dir: &'a Path,
    port: u16,
    extra: &'a str,
    agent: Option<ForegroundAgent>,
}

impl Runner for Standalone<'_> {
    fn start(&mut self) {
        let conf = conf(self.dir, self.port) + self.extra;
        self.agent = Some(ForegroundAgent::start(self.dir, &conf));
    }
    fn kill_9(&mut self) {
        if let Some(agent) = self.agent.as_mut() {
            agent.child.kill().expect("SIGKILL");
            let _ = agent.child.wait();
        }
    }
}

/// Several rounds of: start, send numbered lines, SIGKILL after a random
/// number of acknowledgements (and once `ready` holds); then a last round,
/// left running. Returns the highest acknowledged number.
fn crash_rounds(port: u16, runner: &mut impl Runner, ready: impl Fn() -> bool) -> i64 {
    let acked = Arc::new(AtomicI64::new(-1));
    for round in 0..3 {
        runner.start();
        let first = acked.load(Ordering::SeqCst) + 1;
        let target = first + random_between(20, 1500);
        let t = sender(port, first, acked.clone());
        wait_for(
            &format!("round {round}: line {target} acknowledged"),
            || acked.load(Ordering::SeqCst) >= target,
        );
        wait_for(&format!("round {round}: ready for the kill"), &ready);
        runner.kill_9();
        let _ = t.join();
        eprintln!(
            "round {round}: killed after line {} was acknowledged",
            acked.load(Ordering::SeqCst)
        );
    }
    runner.start();
    let first = acked.load(Ordering::SeqCst) + 1;
    let target = first + 500;
    let _t = sender(port, first, acked.clone());
    wait_for("the last lines acknowledged", || {
        acked.load(Ordering::SeqCst) >= target
    });
    acked.load(Ordering::SeqCst)
}

/// Every number up to `last` is in the files of `out`; duplicates printed.
fn assert_all_delivered(out: &Path, last: i64) {
    wait_for("every acknowledged line in the sink's files", || {
        let c = counts(out);
        (0..=last).all(|n| c.contains_key(&n))
    });
    let c = counts(out);
    let missing: Vec<i64> = (0..=last).filter(|n| !c.contains_key(n)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let dups: Vec<(i64, usize)> = c
        .iter()
        .filter(|(_, k)| **k > 1)
        .map(|(n, k)| (*n, *k))
        .collect();
    eprintln!(
        "{} lines acknowledged, {} delivered more than once: {:?}",
        last + 1,
        dups.len(),
        &dups[..dups.len().min(50)]
    );
}

#[test]
fn kill_9_of_a_standalone_agent_loses_no_acknowledged_line() {
    kill_9_rounds_of_a_standalone_agent("");
}

/// Without an fdatasync per transaction a put is committed once written:
/// that survives the process (not the machine), so kill -9 loses nothing.
#[test]
fn kill_9_without_fsync_per_transaction_loses_no_acknowledged_line() {
    kill_9_rounds_of_a_standalone_agent("a1.channels.c1.fsyncPerTransaction = false\n");
}

fn kill_9_rounds_of_a_standalone_agent(extra: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    let port = free_port();
    let mut runner = Standalone {
        dir: dir.path(),
        port,
        extra,
        agent: None,
    };
    // Data files of 4 KiB fill fast and checkpoints every 100 ms free
    // them: later files are written over them. Every kill comes while one
    // is on disk, so every restart replays over a recycled file.
    let fc = dir.path().join("fc");
    let last = crash_rounds(port, &mut runner, || recycled_data_files(&fc) > 0);
    assert_all_delivered(&dir.path().join("out"), last);
    let mut agent = runner.agent.take().expect("the last agent");
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let output = agent.output();
    assert!(output.contains("replayed"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
    // The first data file (id 1, in the second directory) is long freed.
    assert!(
        !dir.path().join("fc/data2/log-1").exists(),
        "the first data file was never freed"
    );
}

/// How many `log-*` files under `fc/data1` and `fc/data2` say in their
/// header that they were written over a spare.
fn recycled_data_files(fc: &Path) -> usize {
    use sluice::engine::channel::file::log;
    ["data1", "data2"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(fc.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(log::parse_file_name)
                .is_some()
        })
        .filter(|e| {
            std::fs::read(e.path())
                .ok()
                .and_then(|b| log::parse_file_header(&b).ok())
                .is_some_and(|h| h.recycled)
        })
        .count()
}

/// The daemon running the agent in-process: a SIGKILL of the daemon is a
/// crash of the agent. One daemon dir for every round: the restarted
/// daemon finds its stale socket and pidfile, as after a real crash.
struct InDaemon {
    program: String,
    daemon: Option<Daemon>,
}

impl Runner for InDaemon {
    fn start(&mut self) {
        match self.daemon.as_mut() {
            Some(d) => d.spawn(),
            None => self.daemon = Some(Daemon::start(&self.program)),
        }
    }
    fn kill_9(&mut self) {
        if let Some(mut child) = self.daemon.as_mut().and_then(|d| d.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn kill_9_of_the_daemon_running_the_agent_in_process_loses_no_acknowledged_line() {
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let dir = conf_dir.path();
    std::fs::create_dir(dir.join("out")).expect("mkdir");
    let port = free_port();
    let agent_file = dir.join("agent.conf");
    std::fs::write(&agent_file, conf(dir, port)).expect("write agent file");
    let mut runner = InDaemon {
        program: format!(
            "[agent:flow]\n\
             conf_file = {}\n\
             agent_name = a1\n\
             isolation = inprocess\n\
             startsecs = 0\n\
             stdout_logfile = {{dir}}/flow.log\n\
             redirect_stderr = true\n",
            agent_file.display()
        ),
        daemon: None,
    };
    let last = crash_rounds(port, &mut runner, || true);
    assert_all_delivered(&dir.join("out"), last);
    let d = runner.daemon.as_ref().expect("the daemon");
    let log = std::fs::read_to_string(d.path("flow.log")).unwrap_or_default();
    assert!(log.contains("replayed"), "{log}");
}

#[test]
fn a_failing_sink_loses_nothing_through_a_restart_of_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let port = free_port();
    let mut agent = ForegroundAgent::start(dir.path(), &conf(dir.path(), port));
    let acked = Arc::new(AtomicI64::new(-1));
    let t = sender(port, 0, acked.clone());
    wait_for("the first lines in the files", || counts(&out).len() >= 100);
    let Some(read_only) = ReadOnly::make(&out) else {
        eprintln!("note: cannot make a directory read-only here; test skipped");
        return;
    };
    // The sink's next roll (every second) fails; lines are still taken
    // into the durable channel and acknowledged.
    agent.wait_output("cannot deliver");
    let during = acked.load(Ordering::SeqCst);
    wait_for("more lines acknowledged while the sink fails", || {
        acked.load(Ordering::SeqCst) >= during + 200
    });
    // The agent stops while its sink fails: what the channel holds stays
    // on disk.
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let _ = t.join();
    let last = acked.load(Ordering::SeqCst);
    assert!(
        read_only.writable(),
        "cannot make the directory writable again"
    );

    let mut agent = ForegroundAgent::start(dir.path(), &conf(dir.path(), port));
    assert_all_delivered(&out, last);
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
}

/// The spillablememory channel end to end: a sink that cannot write at
/// first makes memory fill and the channel spill into its file overflow;
/// once the sink can write, every event arrives once and in order.
#[test]
fn spillable_memory_keeps_order_across_its_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let out = dir.path().join("out");
    let total = 20_000;
    let conf = format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = seq\n\
         a1.sources.r1.totalEvents = {total}\n\
         a1.sources.r1.batchSize = 100\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = spillablememory\n\
         a1.channels.c1.memoryCapacity = 500\n\
         a1.channels.c1.overflowTimeout = 0\n\
         a1.channels.c1.checkpointDir = {d}/sp/checkpoint\n\
         a1.channels.c1.dataDirs = {d}/sp/data\n\
         a1.channels.c1.minimumRequiredSpace = 1048576\n\
         a1.sinks.k1.type = file_roll\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.sink.directory = {d}/out\n\
         a1.sinks.k1.sink.rollInterval = 0\n"
    );
    // No output directory yet: the sink fails and the channel fills.
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    agent.wait_output(&format!("generated all {total} events"));
    // Memory holds 500 events: the other 19,500 are in the overflow's log.
    let spilled: u64 = std::fs::read_dir(dir.path().join("sp/data"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        spilled > 100_000,
        "only {spilled} bytes spilled into the overflow"
    );
    std::fs::create_dir(&out).expect("mkdir");
    let expected: String = (0..total).map(|i| format!("{i}\n")).collect();
    wait_for("every event in the sink's files", || {
        counts(&out).len() == total as usize
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let mut text = String::new();
    let files = sink_files(&out);
    for f in files {
        text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    assert_eq!(text, expected, "order or count differs");
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A backlog far bigger than the memory the channel may hold its events
/// in (memoryBytes) stays on disk: the agent's memory stays well under the
/// backlog, and once the sink can write, every line arrives once, in order.
#[test]
fn a_backlog_bigger_than_the_memory_budget_lives_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let port = free_port();
    let lines = 200_000usize;
    let width = 1000; // with the newline: 200 MB in all
    let conf = file_to_roll(
        dir.path(),
        port,
        false,
        "a1.sources.r1.max-line-length = 2000\n\
         a1.channels.c1.memoryBytes = 4194304\n\
         a1.sinks.k1.sink.batchSize = 1000\n",
    );
    // No output directory yet: the sink fails and the channel fills.
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    let mut stream = connect(port);
    let pad = "x".repeat(width);
    let mut chunk = String::with_capacity(1000 * width);
    for i in 0..lines {
        let n = format!("{i:09} ");
        chunk.push_str(&n);
        chunk.push_str(&pad[..width - 1 - n.len()]);
        chunk.push('\n');
        if chunk.len() >= 1000 * width {
            stream.write_all(chunk.as_bytes()).expect("send");
            chunk.clear();
        }
    }
    stream.write_all(chunk.as_bytes()).expect("send");
    drop(stream);
    agent.wait_output(&format!("closed the connection after {lines} events"));
    let rss = rss_kib(agent.child.id());
    let on_disk: u64 = std::fs::read_dir(dir.path().join("fc/data"))
        .expect("data dir")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!("backlog: {on_disk} bytes on disk; agent RSS {rss} KiB");
    assert!(on_disk > (lines * width) as u64, "{on_disk}");
    assert!(
        rss > 0 && rss * 1024 < (lines * width) as u64 / 2,
        "the agent holds {rss} KiB for a backlog of {} bytes",
        lines * width
    );
    std::fs::create_dir(&out).expect("mkdir");
    let size = |out: &Path| -> u64 {
        std::fs::read_dir(out)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    wait_for("every line in the sink's files", || {
        size(&out) >= (lines * width) as u64
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let files = sink_files(&out);
    let mut next = 0usize;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read output");
        for line in text.lines() {
            assert_eq!(line.len(), width - 1);
            assert_eq!(
                line[..9].parse::<usize>().ok(),
                Some(next),
                "order or count differs"
            );
            next += 1;
        }
    }
    assert_eq!(next, lines);
}

/// Send `lines` over one connection and wait for an `OK` for each.
fn send_acked(port: u16, lines: &[String]) {
    let mut s = connect(port);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    s.write_all(text.as_bytes()).expect("send");
    let mut replies = BufReader::new(s);
    for l in lines {
        let mut reply = String::new();
        replies.read_line(&mut reply).expect("reply");
        assert_eq!(reply, "OK\n", "the reply to {l:?}");
    }
}

/// Where `needle` is in the data files under `data`: file and offset.
fn find_in(data: &Path, needle: &[u8]) -> (std::path::PathBuf, usize) {
    std::fs::read_dir(data)
        .expect("data dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("log-"))
        .find_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            let at = bytes.windows(needle.len()).position(|w| w == needle)?;
            Some((e.path(), at))
        })
        .expect("in a data file")
}

/// A backlog on disk only (memoryBytes = 0) checkpointed at a stop, then
/// bytes flipped in two of its events: after a restart the sink never
/// gets them (not even changed), the agent log names their file and
/// offset, and every other event is delivered in order.
#[test]
fn damaged_events_on_disk_are_dropped_with_file_and_offset_and_the_rest_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let port = free_port();
    let conf = file_to_roll(
        dir.path(),
        port,
        true,
        "a1.channels.c1.memoryBytes = 0\n\
         a1.channels.c1.maxFileSize = 4096\n",
    );
    let line = |i: usize| format!("event-{i:04}-{}", "z".repeat(40));
    let lines: Vec<String> = (0..300).map(line).collect();
    // No output directory yet: the sink fails, the channel keeps them.
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    send_acked(port, &lines);
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    // An entry: crc (4 bytes), header count, body length, body.
    let data = dir.path().join("fc/data");
    let mut damaged = Vec::new();
    for (i, offset_in_body) in [(123, 20), (250, 0)] {
        let (file, body) = find_in(&data, line(i).as_bytes());
        let mut bytes = std::fs::read(&file).expect("read");
        bytes[body + offset_in_body] ^= 0x04;
        std::fs::write(&file, bytes).expect("write");
        damaged.push((i, file, body - 6));
    }
    std::fs::create_dir(&out).expect("mkdir");
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    let want: Vec<String> = (0..300)
        .filter(|i| damaged.iter().all(|(d, _, _)| d != i))
        .map(line)
        .collect();
    let delivered = || sink_lines(&out);
    wait_for("every undamaged line in the sink's files", || {
        delivered().len() >= want.len()
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    assert_eq!(delivered(), want, "exactly the undamaged lines, in order");
    let output = agent.output();
    for (_, file, offset) in &damaged {
        let named = format!("{} offset {offset}", file.display());
        assert!(output.contains(&named), "{named} not in:\n{output}");
    }
    assert!(output.contains("2 damaged events were dropped"), "{output}");
}

/// An event larger than a data file (maxFileSize) can never be put: netcat
/// answers `FAILED: ...` for it at once, the agent log says why, the lines
/// around it are delivered, and the connection goes on.
#[test]
fn an_event_larger_than_a_data_file_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let port = free_port();
    let conf = file_to_roll(
        dir.path(),
        port,
        true,
        "a1.sources.r1.max-line-length = 100000\n\
         a1.channels.c1.maxFileSize = 4096\n",
    );
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    let mut s = connect(port);
    let big = "b".repeat(5000);
    s.write_all(format!("before\n{big}\nafter\n").as_bytes())
        .expect("send");
    let mut replies = BufReader::new(s.try_clone().expect("clone"));
    let mut got = Vec::new();
    for _ in 0..3 {
        let mut reply = String::new();
        replies.read_line(&mut reply).expect("reply");
        got.push(reply);
    }
    assert_eq!(got[0], "OK\n", "{got:?}");
    assert!(
        got[1].starts_with("FAILED: channel c1 can never hold this event")
            && got[1].contains("maxFileSize 4096"),
        "{got:?}"
    );
    assert_eq!(got[2], "OK\n", "{got:?}");
    s.write_all(b"later\n").expect("send");
    let mut reply = String::new();
    replies.read_line(&mut reply).expect("reply");
    assert_eq!(reply, "OK\n");
    wait_for("the three small lines in the sink's files", || {
        sink_lines(&out) == ["before", "after", "later"]
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let output = agent.output();
    assert!(
        output.contains("an event of 5000 bytes is dropped, not delivered"),
        "{output}"
    );
    assert!(!output.contains("retrying"), "{output}");
}

/// The lines in the sink's files under `out`, in order.
fn sink_lines(out: &Path) -> Vec<String> {
    sink_files(out)
        .into_iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

/// The file channel's disk fills up (minimumRequiredSpace = 0) while its
/// sink cannot deliver: the source waits (no line is acknowledged that is
/// not on disk). The agent is stopped on the full disk, the last bytes of
/// it taken by another file, and started again: it starts, and once the
/// sink can write it drains its backlog, its checkpoints free the disk and
/// lines are acknowledged again, by themselves. Every acknowledged line is
/// delivered.
#[test]
fn a_full_disk_recovers_once_the_sink_drains_and_an_agent_starts_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("disk");
    let Some(_mounted) = common::tmpfs::Tmpfs::mount(&disk, "1m") else {
        eprintln!(
            "note: cannot mount a tmpfs here (needs root and mount(8)); full-disk test skipped"
        );
        return;
    };
    let out = dir.path().join("out");
    let port = free_port();
    let k = disk.display();
    let conf = file_to_roll(
        dir.path(),
        port,
        true,
        &format!(
            "a1.channels.c1.checkpointDir = {k}/checkpoint\n\
             a1.channels.c1.dataDirs = {k}/data\n\
             a1.channels.c1.minimumRequiredSpace = 0\n\
             a1.channels.c1.maxFileSize = 262144\n\
             a1.channels.c1.checkpointInterval = 200\n"
        ),
    );
    // No output directory yet: the sink fails, the disk fills.
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    let acked = Arc::new(AtomicI64::new(-1));
    let t = sender(port, 0, acked.clone());
    agent.wait_output("No space left on device");
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let _ = t.join();
    let at_full = acked.load(Ordering::SeqCst);
    assert!(at_full > 1000, "{at_full} lines before the disk was full");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(disk.join("filler")).expect("filler");
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    let mut agent = ForegroundAgent::start(dir.path(), &conf);
    agent.wait_output("replayed");
    let t = sender(port, at_full + 1, acked.clone());
    std::fs::create_dir(&out).expect("mkdir");
    wait_for("lines acknowledged again after the backlog drained", || {
        acked.load(Ordering::SeqCst) >= at_full + 2000
    });
    let last = acked.load(Ordering::SeqCst);
    assert_all_delivered(&out, last);
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let _ = t.join();
    let output = agent.output();
    assert!(!output.contains("panicked"), "{output}");
}
