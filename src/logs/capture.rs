//! Output capture: drain a child's stdout/stderr pipes into its log files.
//!
//! The copying is done by the daemon's one capture pump thread
//! ([`super::pump`]): plain `read(2)` into one reusable 128 KiB buffer and
//! `write(2)` of that buffer straight to the destination (no per-line work,
//! no flush, no per-read allocation). The async entry point [`capture`] only
//! waits for the pump to report EOF on both pipes, so file writes never block
//! the daemon's runtime.
//!
//! Measured on the development machine (2 shared cores, 300 MB from `head -c`
//! through a pipe into a file, median of 7 runs, test `throughput` below):
//! see docs/benchmarks.md for the figures against `cat > file`.
//!
//! Dropping the [`capture`] future does not stop the pump: it drains the
//! pipes to EOF regardless, so the child never blocks on output.
//!
//! A destination can be [`Destination::Discard`] (supervisord's
//! `stdout_logfile=NONE`): the pipe is still drained so the child never blocks
//! on a full pipe. A destination's write error (disk full, ...) is reported
//! through `tracing` once per run of failures and counted; draining goes on.

use std::io;
use std::os::fd::OwnedFd;

use super::pump::{Done, Token, pump};
use super::rotate::SharedRotatingFile;

/// Where one captured stream goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A log file; the same file may be shared by both streams.
    File(SharedRotatingFile),
    /// Read and drop (`*_logfile=NONE`).
    Discard,
}

impl Destination {
    pub(super) fn write(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Destination::File(f) => {
                let mut guard = f
                    .lock()
                    .map_err(|_| io::Error::other("log file lock poisoned"))?;
                guard.write(buf)
            }
            Destination::Discard => Ok(()),
        }
    }
}

/// What one stream's pump saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes read from the pipe.
    pub bytes: u64,
    /// Writes to the destination that failed (their bytes are lost).
    pub write_errors: u64,
}

/// What [`capture`] saw on both streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub stdout: StreamStats,
    pub stderr: StreamStats,
}

async fn join_pump(rx: Option<Done>, name: &str) -> StreamStats {
    let Some(rx) = rx else {
        return StreamStats::default();
    };
    match rx.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!("reading output of {name} failed: {e}");
            StreamStats::default()
        }
        Err(_) => {
            tracing::warn!("the capture pump dropped the output of {name}");
            StreamStats::default()
        }
    }
}

/// A child's two pipes, being drained by the pump.
pub struct Capture {
    name: String,
    tokens: Vec<Token>,
    stdout: Option<Done>,
    stderr: Option<Done>,
}

impl Capture {
    /// Start draining. `name` labels warnings (use the process name). Pass
    /// `None` for a stream that is not piped (e.g. stderr with
    /// `redirect_stderr=true`, which the child writes into the stdout pipe).
    /// Pipes may be `ChildStdout`/`ChildStderr` (std or tokio: convert with
    /// `into_owned_fd()`), or any `OwnedFd`.
    pub fn start(
        name: &str,
        stdout: Option<OwnedFd>,
        stdout_dest: Destination,
        stderr: Option<OwnedFd>,
        stderr_dest: Destination,
    ) -> io::Result<Capture> {
        Capture::start_with(name, stdout, stdout_dest, stderr, stderr_dest, false)
    }

    /// [`Capture::start`], removing terminal escape codes from both streams
    /// when `strip_ansi` (supervisord's `strip_ansi=true`).
    pub fn start_with(
        name: &str,
        stdout: Option<OwnedFd>,
        stdout_dest: Destination,
        stderr: Option<OwnedFd>,
        stderr_dest: Destination,
        strip_ansi: bool,
    ) -> io::Result<Capture> {
        let pump = pump()?;
        let mut tokens = Vec::new();
        let mut add = |fd: Option<OwnedFd>, dest, stream| -> io::Result<Option<Done>> {
            let Some(fd) = fd else { return Ok(None) };
            let (token, done) = pump.add(fd, dest, format!("{name} ({stream})"), strip_ansi)?;
            tokens.push(token);
            Ok(Some(done))
        };
        let stdout = add(stdout, stdout_dest, "stdout")?;
        let stderr = add(stderr, stderr_dest, "stderr")?;
        Ok(Capture {
            name: name.to_owned(),
            tokens,
            stdout,
            stderr,
        })
    }

    /// What flushes these pipes, kept by whoever waits for the writer's exit.
    pub fn flusher(&self) -> Flusher {
        Flusher(self.tokens.clone())
    }

    /// Wait until both pipes reach EOF (the child and all its descendants
    /// closed them). Dropping this future does not stop the pump: it drains
    /// the pipes to EOF regardless, so the child never blocks on output.
    pub async fn finished(self) -> CaptureStats {
        let stdout = join_pump(self.stdout, &self.name).await;
        let stderr = join_pump(self.stderr, &self.name).await;
        CaptureStats { stdout, stderr }
    }
}

/// Flushes one [`Capture`]'s pipes.
#[derive(Clone, Debug, Default)]
pub struct Flusher(Vec<Token>);

impl Flusher {
    /// A future that resolves once everything in the pipes now is in the
    /// destinations (or the streams ended). Once the writer has exited, that
    /// is all it wrote, even if a descendant still holds a pipe open.
    pub fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        let answer = pump().map(|p| p.flush(self.0.clone()));
        async move {
            if let Ok(answer) = answer {
                let _ = answer.await;
            }
        }
    }
}

/// Capture a child's output until both pipes reach EOF ([`Capture::start`],
/// then [`Capture::finished`]).
pub async fn capture(
    name: &str,
    stdout: Option<OwnedFd>,
    stdout_dest: Destination,
    stderr: Option<OwnedFd>,
    stderr_dest: Destination,
) -> io::Result<CaptureStats> {
    Ok(
        Capture::start(name, stdout, stdout_dest, stderr, stderr_dest)?
            .finished()
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::rotate::{RotatingFile, backup_path};
    use std::fs;
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    fn spawn_sh(script: &str) -> (std::process::Child, OwnedFd, OwnedFd) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = OwnedFd::from(child.stdout.take().unwrap());
        let err = OwnedFd::from(child.stderr.take().unwrap());
        (child, out, err)
    }

    #[tokio::test]
    async fn captures_both_streams_to_separate_files() {
        let dir = tempfile::tempdir().unwrap();
        let o = RotatingFile::open(dir.path().join("o.log"), 0, 0)
            .unwrap()
            .shared();
        let e = RotatingFile::open(dir.path().join("e.log"), 0, 0)
            .unwrap()
            .shared();
        let (mut child, out, err) = spawn_sh("echo out; echo err >&2; printf 'no newline'");
        let stats = capture(
            "t",
            Some(out),
            Destination::File(o),
            Some(err),
            Destination::File(e),
        )
        .await
        .unwrap();
        child.wait().unwrap();
        assert_eq!(
            fs::read(dir.path().join("o.log")).unwrap(),
            b"out\nno newline"
        );
        assert_eq!(fs::read(dir.path().join("e.log")).unwrap(), b"err\n");
        assert_eq!(stats.stdout.bytes, 14);
        assert_eq!(stats.stderr.bytes, 4);
    }

    #[tokio::test]
    async fn two_streams_share_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = RotatingFile::open(dir.path().join("both.log"), 0, 0)
            .unwrap()
            .shared();
        let (mut child, out, err) = spawn_sh("for i in 1 2 3 4 5; do echo o$i; echo e$i >&2; done");
        capture(
            "t",
            Some(out),
            Destination::File(f.clone()),
            Some(err),
            Destination::File(f),
        )
        .await
        .unwrap();
        child.wait().unwrap();
        let s = fs::read_to_string(dir.path().join("both.log")).unwrap();
        let mut lines: Vec<&str> = s.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            ["e1", "e2", "e3", "e4", "e5", "o1", "o2", "o3", "o4", "o5"]
        );
    }

    /// A pipe captured into the log file `path`, and its write end.
    fn capture_pipe_into(path: &std::path::Path) -> (Capture, fs::File) {
        let f = RotatingFile::open(path, 0, 0).unwrap().shared();
        let (read, write) = nix::unistd::pipe().unwrap();
        let capture = Capture::start(
            "t",
            Some(read),
            Destination::File(f),
            None,
            Destination::Discard,
        )
        .unwrap();
        (capture, fs::File::from(write))
    }

    #[tokio::test]
    async fn a_flush_writes_what_is_in_the_pipe_while_a_writer_still_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        let (capture, mut write) = capture_pipe_into(&p);
        std::io::Write::write_all(&mut write, &vec![b'x'; 300_000]).unwrap();
        // The writer end stays open: no EOF, yet the flush comes back with
        // every byte written so far in the file.
        capture.flusher().flush().await;
        assert_eq!(fs::metadata(&p).unwrap().len(), 300_000);
        std::io::Write::write_all(&mut write, b"more").unwrap();
        drop(write);
        let stats = capture.finished().await;
        assert_eq!(stats.stdout.bytes, 300_004);
        // A flush of finished streams answers at once.
        Flusher::default().flush().await;
    }

    /// A grandchild that keeps writing into the dead child's pipe faster
    /// than the log takes it (a slow disk, here a FIFO read slowly) does not
    /// hold a flush (and with it the pump, every other program's output)
    /// for as long as it writes: a flush reads what the pipe held when it
    /// was asked for.
    #[tokio::test]
    async fn a_flush_ends_while_a_writer_keeps_the_pipe_full() {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("slow.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let (capture, mut write) = capture_pipe_into(&fifo);
        let (writing, reading) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(true)),
        );
        let chunk = vec![b'x'; 64 * 1024];
        // Full before the flush is asked for, and kept full.
        std::io::Write::write_all(&mut write, &chunk).unwrap();
        let writer = {
            let writing = writing.clone();
            std::thread::spawn(move || {
                while writing.load(Ordering::SeqCst) {
                    if std::io::Write::write_all(&mut write, &chunk).is_err() {
                        break;
                    }
                }
            })
        };
        let slow = {
            let reading = reading.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while reading.load(Ordering::SeqCst) {
                    let _ = std::io::Read::read(&mut reader, &mut buf);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        let flushed = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            capture.flusher().flush(),
        )
        .await;
        writing.store(false, Ordering::SeqCst);
        writer.join().unwrap();
        reading.store(false, Ordering::SeqCst);
        slow.join().unwrap();
        assert!(flushed.is_ok(), "the flush waited for the writer to stop");
    }

    #[tokio::test]
    async fn discard_still_drains_the_pipe() {
        // 4 MB is far more than a pipe holds: the child would block forever
        // if nobody read.
        let (mut child, out, err) = spawn_sh("head -c 4000000 /dev/zero; echo x >&2");
        let stats = capture(
            "t",
            Some(out),
            Destination::Discard,
            Some(err),
            Destination::Discard,
        )
        .await
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(stats.stdout.bytes, 4_000_000);
        assert_eq!(stats.stderr.bytes, 2);
    }

    #[tokio::test]
    async fn rotation_during_capture_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.log");
        let f = RotatingFile::open(&p, 1_000_000, 20).unwrap().shared();
        let (mut child, out, _err) = spawn_sh("seq 1 500000");
        capture(
            "t",
            Some(out),
            Destination::File(f),
            None,
            Destination::Discard,
        )
        .await
        .unwrap();
        child.wait().unwrap();
        let mut all = Vec::new();
        for i in (1..=20).rev() {
            if let Ok(b) = fs::read(backup_path(&p, i)) {
                all.extend(b);
            }
        }
        all.extend(fs::read(&p).unwrap());
        let expected: String = (1..=500000).map(|i| format!("{i}\n")).collect();
        assert_eq!(all.len(), expected.len());
        assert!(all == expected.as_bytes());
        assert!(backup_path(&p, 3).exists());
    }

    #[tokio::test]
    async fn write_errors_are_counted_and_draining_continues() {
        // /dev/full fails every write with ENOSPC.
        let f = RotatingFile::open("/dev/full", 0, 0).unwrap().shared();
        let (mut child, out, _err) = spawn_sh("head -c 1000000 /dev/zero");
        let stats = capture(
            "t",
            Some(out),
            Destination::File(f),
            None,
            Destination::Discard,
        )
        .await
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(stats.stdout.bytes, 1_000_000);
        assert!(stats.stdout.write_errors > 0);
    }

    /// Throughput against `cat > file`. Run with:
    /// `cargo test --release --lib logs::capture::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        const BYTES: u64 = 300_000_000;
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let producer = format!("head -c {BYTES} /dev/zero");

        let mut results = Vec::new();
        for round in 0..7 {
            // baseline: the same producer piped into cat
            let cat_path = dir.path().join("cat.out");
            let t = Instant::now();
            let st = Command::new("sh")
                .arg("-c")
                .arg(format!("{producer} | cat > {}", cat_path.display()))
                .status()
                .unwrap();
            assert!(st.success());
            let cat = t.elapsed().as_secs_f64();
            fs::remove_file(&cat_path).unwrap();

            let p = dir.path().join("cap.out");
            let f = RotatingFile::open(&p, 0, 0).unwrap().shared();
            let t = Instant::now();
            let (mut child, out, err) = spawn_sh(&producer);
            let stats = rt
                .block_on(capture(
                    "b",
                    Some(out),
                    Destination::File(f),
                    Some(err),
                    Destination::Discard,
                ))
                .unwrap();
            child.wait().unwrap();
            let pump = t.elapsed().as_secs_f64();
            assert_eq!(stats.stdout.bytes, BYTES);
            assert_eq!(fs::metadata(&p).unwrap().len(), BYTES);
            fs::remove_file(&p).unwrap();
            println!(
                "round {round}: cat {cat:.3}s  pump {pump:.3}s ({:.2}x)",
                pump / cat
            );
            results.push((cat, pump));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let cat = median(results.iter().map(|r| r.0).collect());
        let pump = median(results.iter().map(|r| r.1).collect());
        println!(
            "median: cat {cat:.3}s  pump {pump:.3}s ({:.2}x)",
            pump / cat
        );
    }

    #[tokio::test]
    async fn many_streams_at_once_each_get_all_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut runs = Vec::new();
        for i in 0..20 {
            let f = RotatingFile::open(dir.path().join(format!("{i}.log")), 0, 0)
                .unwrap()
                .shared();
            let (child, out, err) = spawn_sh(&format!("seq 1 {}", 20000 + i));
            runs.push((
                child,
                tokio::spawn(capture(
                    "m",
                    Some(out),
                    Destination::File(f),
                    Some(err),
                    Destination::Discard,
                )),
            ));
        }
        for (i, (mut child, task)) in runs.into_iter().enumerate() {
            task.await.unwrap().unwrap();
            child.wait().unwrap();
            let expected: String = (1..=20000 + i).map(|n| format!("{n}\n")).collect();
            assert_eq!(
                fs::read_to_string(dir.path().join(format!("{i}.log"))).unwrap(),
                expected
            );
        }
    }
}
