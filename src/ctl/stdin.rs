//! Lines from the process's stdin, readable in a way that can stop.
//!
//! `fg` forwards what the user types while it streams the logs, and must
//! stop reading when it ends (Ctrl-C, the process died) without swallowing
//! the next line meant for the shell. So stdin is read here with `poll`
//! and a short timeout, by a helper thread that checks a stop flag between
//! waits, into one buffer shared with the shell's own reading of piped
//! input: bytes read but not used as a line stay for the next reader.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Input, LocalFuture};

/// Bytes read from stdin and not yet returned as a line.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// What one attempt to read a line gave.
enum Read {
    Line(String),
    Eof,
    Stopped,
}

fn take_line(pending: &mut Vec<u8>) -> Option<String> {
    let end = memchr::memchr(b'\n', pending)?;
    let line: Vec<u8> = pending.drain(..=end).collect();
    Some(String::from_utf8_lossy(&line[..end]).into_owned())
}

/// Read one line (without its newline), waiting at most 100 ms at a time
/// so that `stop` is seen soon after it is set.
fn read_line(stop: &AtomicBool) -> Read {
    loop {
        if let Ok(mut pending) = PENDING.lock()
            && let Some(line) = take_line(&mut pending)
        {
            return Read::Line(line);
        }
        if stop.load(Ordering::Relaxed) {
            return Read::Stopped;
        }
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return Read::Eof,
        }
        let mut buf = [0u8; 4096];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => {
                // End of input: a last line without a newline still counts.
                let Ok(mut pending) = PENDING.lock() else {
                    return Read::Eof;
                };
                if pending.is_empty() {
                    return Read::Eof;
                }
                let rest: Vec<u8> = std::mem::take(&mut *pending);
                return Read::Line(String::from_utf8_lossy(&rest).into_owned());
            }
            Ok(n) => {
                if let Ok(mut pending) = PENDING.lock() {
                    pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(_) => return Read::Eof,
        }
    }
}

/// One line of stdin, blocking (the shell when stdin is not a terminal);
/// `None` at end of input.
pub(crate) fn read_line_blocking() -> Option<String> {
    match read_line(&AtomicBool::new(false)) {
        Read::Line(l) => Some(l),
        Read::Eof | Read::Stopped => None,
    }
}

/// Print the prompt and read one line (piped stdin, like Python's `input`).
pub(crate) fn prompt_and_read(prompt: &str) -> Option<String> {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    drop(out);
    read_line_blocking()
}

/// Stdin as an [`Input`]: a helper thread reads lines until told to stop
/// (when the `Input` is dropped) or stdin ends.
struct StdinInput {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    stop: Arc<AtomicBool>,
}

impl Drop for StdinInput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Input for StdinInput {
    fn next_line(&mut self) -> LocalFuture<'_, Option<String>> {
        Box::pin(self.lines.recv())
    }
}

/// The default [`super::Options::input`].
pub(crate) fn input() -> Box<dyn Input> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("ctl-stdin".into())
        .spawn(move || {
            while let Read::Line(line) = read_line(&flag) {
                if let Err(unsent) = tx.send(line) {
                    // The reader is gone: give the line back for the next one.
                    if let Ok(mut pending) = PENDING.lock() {
                        let mut back = unsent.0.into_bytes();
                        back.push(b'\n');
                        back.append(&mut pending);
                        *pending = back;
                    }
                    break;
                }
            }
        });
    // Without a thread there is no input: `fg` sees end of input at once.
    drop(spawned);
    Box::new(StdinInput { lines: rx, stop })
}

#[cfg(test)]
mod tests {
    use super::take_line;

    #[test]
    fn lines_come_out_one_at_a_time_and_partial_ones_wait() {
        let mut pending = b"one\ntwo\nthr".to_vec();
        assert_eq!(take_line(&mut pending).as_deref(), Some("one"));
        assert_eq!(take_line(&mut pending).as_deref(), Some("two"));
        assert_eq!(take_line(&mut pending), None);
        assert_eq!(pending, b"thr");
        pending.extend_from_slice(b"ee\n\n");
        assert_eq!(take_line(&mut pending).as_deref(), Some("three"));
        assert_eq!(take_line(&mut pending).as_deref(), Some(""));
        assert!(pending.is_empty());
    }
}
