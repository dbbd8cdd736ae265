//! The file channel through the real binary: netcat (ack-every-event) ->
//! file -> file_roll, the agent killed with SIGKILL several times while
//! lines arrive, restarted on the same directories. Every acknowledged
//! line ends up in the sink's files at least once; duplicates (allowed:
//! at-least-once) are counted and printed.

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

fn conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = netcat\n\
         a1.sources.r1.bind = 127.0.0.1\n\
         a1.sources.r1.port = {port}\n\
         a1.sources.r1.ack-every-event = true\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = file\n\
         a1.channels.c1.checkpointDir = {d}/fc/checkpoint\n\
         a1.channels.c1.useDualCheckpoints = true\n\
         a1.channels.c1.backupCheckpointDir = {d}/fc/backup\n\
         a1.channels.c1.dataDirs = {d}/fc/data1,{d}/fc/data2\n\
         a1.channels.c1.checkpointInterval = 300\n\
         a1.channels.c1.maxFileSize = 65536\n\
         a1.channels.c1.minimumRequiredSpace = 1048576\n\
         a1.sinks.k1.type = file_roll\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.sink.directory = {d}/out\n\
         a1.sinks.k1.sink.rollInterval = 1\n"
    )
}

/// Send numbered lines from `first` on until the connection breaks;
/// `acked` is the highest number the agent answered `OK` to.
fn sender(port: u16, first: i64, acked: Arc<AtomicI64>) -> std::thread::JoinHandle<()> {
    let mut stream = None;
    wait_for(&format!("port {port} to accept"), || {
        stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    let mut s = stream.expect("connected");
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

/// How often each number is in the sink's files.
fn counts(out: &Path) -> BTreeMap<i64, usize> {
    let mut c = BTreeMap::new();
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(n) = line.parse::<i64>() {
                *c.entry(n).or_insert(0) += 1;
            }
        }
    }
    c
}

#[test]
fn kill_9_loses_no_acknowledged_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    let port = free_port();
    let acked = Arc::new(AtomicI64::new(-1));
    // Killed after these many more acknowledged lines each time.
    for (round, more) in [150i64, 1200, 40].into_iter().enumerate() {
        let mut agent = ForegroundAgent::start(dir.path(), &conf(dir.path(), port));
        let first = acked.load(Ordering::SeqCst) + 1;
        let target = first + more;
        let t = sender(port, first, acked.clone());
        wait_for(
            &format!("round {round}: line {target} acknowledged"),
            || acked.load(Ordering::SeqCst) >= target,
        );
        agent.child.kill().expect("SIGKILL");
        let _ = agent.child.wait();
        let _ = t.join();
        eprintln!(
            "round {round}: killed after line {} was acknowledged",
            acked.load(Ordering::SeqCst)
        );
    }
    // A last run: more lines, then a clean stop that drains the channel.
    let mut agent = ForegroundAgent::start(dir.path(), &conf(dir.path(), port));
    let first = acked.load(Ordering::SeqCst) + 1;
    let target = first + 500;
    let t = sender(port, first, acked.clone());
    wait_for("the last lines acknowledged", || {
        acked.load(Ordering::SeqCst) >= target
    });
    let last = acked.load(Ordering::SeqCst);
    wait_for("every acknowledged line in the sink's files", || {
        let c = counts(&dir.path().join("out"));
        (0..=last).all(|n| c.contains_key(&n))
    });
    assert_eq!(agent.stop(), Some(0), "{}", agent.output());
    let _ = t.join();
    let output = agent.output();
    assert!(output.contains("replayed"), "{output}");
    assert!(!output.contains("panicked"), "{output}");

    for line in output.lines().filter(|l| l.contains("[c1]")) {
        eprintln!("{line}");
    }
    // Checkpoints every 300 ms delete the data files everything was taken
    // from: the first one (id 1, in the second directory) is long gone.
    assert!(dir.path().join("fc/data1").read_dir().is_ok());
    assert!(
        !dir.path().join("fc/data2/log-1").exists(),
        "the first data file was never deleted"
    );

    let c = counts(&dir.path().join("out"));
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
