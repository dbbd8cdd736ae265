//! One request cannot make the daemon hold much more memory than it sends:
//! many whole reads of a large log in one multicall are streamed from the
//! file, not built in memory (measured as the daemon's peak RSS, VmHWM).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use common::{Daemon, compare, wait_for};
use sluice::rpc::{Value, xml};

/// 20 MB of log: a program writes it, then waits.
const BIG: &str = "\
[program:big]
command = sh -c 'head -c 15000000 /dev/urandom | base64; exec sleep 1000'
startsecs = 0
stdout_logfile = {dir}/big.log
stdout_logfile_maxbytes = 0
";

/// The daemon's peak resident memory, in KiB.
fn peak_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// POST one call; the answer's body is read as it comes and only counted,
/// but its first and last bytes are kept.
fn post_counting(sock: &std::path::Path, body: &str) -> (u16, u64, Vec<u8>, Vec<u8>) {
    let mut s = UnixStream::connect(sock).unwrap();
    write!(
        s,
        "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
        {
            chunked = true;
        }
        if h == "\r\n" {
            break;
        }
    }
    let mut total = 0u64;
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut keep = |data: &[u8], total: &mut u64| {
        *total += data.len() as u64;
        if head.len() < 4096 {
            head.extend_from_slice(&data[..data.len().min(4096 - head.len())]);
        }
        tail.extend_from_slice(data);
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 4096);
        }
    };
    let mut buf = vec![0u8; 1 << 16];
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            let mut left = n;
            while left > 0 {
                let got = r.read(&mut buf[..left.min(1 << 16)]).unwrap();
                assert!(got > 0, "the answer ends early");
                keep(&buf[..got], &mut total);
                left -= got;
            }
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).unwrap();
        }
    } else {
        loop {
            let got = r.read(&mut buf).unwrap();
            if got == 0 {
                break;
            }
            keep(&buf[..got], &mut total);
        }
    }
    (status, total, head, tail)
}

fn multicall(calls: Vec<(&str, Vec<Value>)>) -> String {
    let calls = calls
        .into_iter()
        .map(|(m, p)| {
            Value::Struct(vec![
                ("methodName".into(), Value::from(m)),
                ("params".into(), Value::Array(p)),
            ])
        })
        .collect();
    xml::write_call("system.multicall", &[Value::Array(calls)])
}

#[test]
fn twenty_whole_reads_of_a_20_mb_log_are_streamed() {
    let d = Daemon::start(BIG);
    let log = d.path("big.log");
    wait_for("the 20 MB log", || {
        std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) >= 20_000_000
    });
    let size = std::fs::metadata(&log).unwrap().len();
    let before = peak_kib(d.pid());
    let reads = (0..20)
        .map(|_| {
            (
                "supervisor.readProcessStdoutLog",
                vec![Value::from("big"), Value::Int(0), Value::Int(0)],
            )
        })
        .collect();
    let (status, total, head, tail) = post_counting(&d.path("sluice.sock"), &multicall(reads));
    assert_eq!(status, 200);
    assert!(total >= 20 * size, "{total} bytes for 20 reads of {size}");
    assert!(
        head.starts_with(b"<?xml"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(tail.ends_with(b"</methodResponse>\n"));
    let tails = (0..20)
        .map(|_| {
            (
                "supervisor.tailProcessStdoutLog",
                vec![Value::from("big"), Value::Int(0), Value::Int(size as i64)],
            )
        })
        .collect();
    let (status, total, _, tail) = post_counting(&d.path("sluice.sock"), &multicall(tails));
    assert_eq!(status, 200);
    assert!(total >= 20 * size, "{total} bytes for 20 tails of {size}");
    assert!(tail.ends_with(b"</methodResponse>\n"));
    let after = peak_kib(d.pid());
    eprintln!("daemon peak RSS: {before} KiB before, {after} KiB after 1.6 GB of answers");
    // 800 MB went out; the daemon's peak grew by far less than one log.
    assert!(
        after < before + 16 * 1024,
        "peak RSS {before} KiB before, {after} KiB after"
    );
}

#[test]
fn an_answer_sent_in_pieces_reads_the_same_in_the_stock_supervisorctl() {
    // 2 MB of log: well past one piece of an answer.
    let d = Daemon::start(
        "[program:big]\n\
         command = sh -c 'seq 1 400000; exec sleep 1000'\n\
         startsecs = 0\n\
         stdout_logfile = {dir}/big.log\n",
    );
    let log = d.path("big.log");
    wait_for("the whole log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.ends_with("400000\n"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let theirs = compare::py(&d.conf(), &["tail", "-2000000", "big"]);
    assert_eq!(theirs.code, Some(0), "{}", theirs.stderr);
    // supervisorctl's print() adds a newline.
    same(
        &theirs.stdout,
        &format!("{}\n", &text[text.len() - 2_000_000..]),
    );
    let ours = d.ctl(&["tail", "-2000000", "big"]);
    same(&String::from_utf8_lossy(&ours.stdout), &theirs.stdout);
}

/// Two long texts are equal; else where they part, briefly.
fn same(got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let around = |s: &str| {
        s.get(at.saturating_sub(20)..(at + 20).min(s.len()))
            .unwrap_or("")
            .to_string()
    };
    panic!(
        "{} bytes, {} wanted; they part at byte {at}: {:?} / {:?}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}
