//! The daemon's end of a child's stdin, for `sendProcessStdin`.
//!
//! supervisord queues what a client sends and writes it when the pipe can
//! take it; so does this: a write goes straight into the pipe as far as it
//! fits (O_NONBLOCK), the rest waits in a buffer that a small task flushes
//! when the pipe becomes writable. Nothing ever blocks the daemon, even for
//! a child that never reads. A pipe whose reader is gone (EPIPE) is marked
//! closed, and later writes say so (supervisord's NO_FILE).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

/// Past this many bytes waiting for a child that does not read, further
/// sends are refused.
pub const MAX_PENDING: usize = 1024 * 1024;

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinError {
    /// The child closed its stdin (or exited): supervisord's EPIPE.
    Closed,
    /// More than [`MAX_PENDING`] bytes already wait for the child.
    Full,
}

struct Shared {
    fd: AsyncFd<OwnedFd>,
    buf: Mutex<Buf>,
}

#[derive(Default)]
struct Buf {
    pending: Vec<u8>,
    closed: bool,
    /// A flush task is running.
    flushing: bool,
}

/// The write end of a child's stdin. Dropping it closes the pipe (once a
/// running flush gives up) and stops any flush.
pub struct StdinPipe {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

impl Drop for StdinPipe {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What one non-blocking write(2) did.
enum Wrote {
    /// This many bytes went in.
    Some(usize),
    /// The pipe is full.
    WouldBlock,
    /// The reader is gone, or another error that ends the pipe.
    Closed,
}

fn write_once(fd: &OwnedFd, data: &[u8]) -> Wrote {
    loop {
        // SAFETY: writing from a live slice to a descriptor we own.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n >= 0 {
            return Wrote::Some(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Wrote::WouldBlock,
            _ => return Wrote::Closed,
        }
    }
}

/// Write as much of `buf.pending` as the pipe takes now.
fn flush_pending(fd: &OwnedFd, buf: &mut Buf) -> Wrote {
    let mut total = 0;
    while !buf.pending.is_empty() {
        match write_once(fd, &buf.pending) {
            Wrote::Some(n) => {
                buf.pending.drain(..n);
                total += n;
            }
            Wrote::WouldBlock => return Wrote::WouldBlock,
            Wrote::Closed => {
                buf.closed = true;
                buf.pending.clear();
                return Wrote::Closed;
            }
        }
    }
    Wrote::Some(total)
}

impl StdinPipe {
    /// Takes the write end of a child's stdin pipe; must run inside the
    /// tokio runtime (the descriptor is registered with it).
    pub fn new(fd: OwnedFd) -> io::Result<StdinPipe> {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open
        // (and the same descriptor) for as long as it lives.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(StdinPipe {
            shared: Arc::new(Shared {
                fd,
                buf: Mutex::new(Buf::default()),
            }),
            cancel: CancellationToken::new(),
        })
    }

    /// Queue `data` for the child: written at once as far as the pipe
    /// takes it, the rest by a background flush.
    pub fn write(&self, data: &[u8]) -> Result<(), StdinError> {
        let mut buf = self.shared.buf.lock().map_err(|_| StdinError::Closed)?;
        if buf.closed {
            return Err(StdinError::Closed);
        }
        // One send of any size (the request body limit bounds it) is
        // taken when nothing waits; after that the queue is bounded.
        if !buf.pending.is_empty() && buf.pending.len() + data.len() > MAX_PENDING {
            return Err(StdinError::Full);
        }
        buf.pending.extend_from_slice(data);
        if buf.flushing {
            return Ok(());
        }
        match flush_pending(self.shared.fd.get_ref(), &mut buf) {
            Wrote::Closed => Err(StdinError::Closed),
            Wrote::Some(_) => Ok(()),
            Wrote::WouldBlock => {
                buf.flushing = true;
                drop(buf);
                self.spawn_flush();
                Ok(())
            }
        }
    }

    /// Whether the child's end is known to be gone.
    pub fn is_closed(&self) -> bool {
        self.shared.buf.lock().map(|b| b.closed).unwrap_or(true)
    }

    fn spawn_flush(&self) {
        let shared = self.shared.clone();
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            loop {
                let ready = tokio::select! {
                    r = shared.fd.writable() => r,
                    _ = cancel.cancelled() => return,
                };
                let Ok(mut guard) = ready else {
                    if let Ok(mut b) = shared.buf.lock() {
                        b.closed = true;
                        b.pending.clear();
                        b.flushing = false;
                    }
                    return;
                };
                let Ok(mut buf) = shared.buf.lock() else {
                    return;
                };
                match flush_pending(shared.fd.get_ref(), &mut buf) {
                    Wrote::WouldBlock => guard.clear_ready(),
                    Wrote::Some(_) | Wrote::Closed => {
                        buf.flushing = false;
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    fn pipe() -> (std::fs::File, OwnedFd) {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        (std::fs::File::from(r), w)
    }

    #[tokio::test]
    async fn writes_what_fits_and_flushes_the_rest_later() {
        let (mut r, w) = pipe();
        let stdin = StdinPipe::new(w).unwrap();
        // More than a pipe holds (64 KiB on Linux): never blocks.
        let big = vec![b'x'; 300 * 1024];
        stdin.write(&big).unwrap();
        stdin.write(b"end").unwrap();
        let reader = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let mut chunk = [0u8; 8192];
            while got.len() < 300 * 1024 + 3 {
                let n = r.read(&mut chunk).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let got = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 300 * 1024 + 3);
        assert!(got.ends_with(b"xend"));
    }

    #[tokio::test]
    async fn a_closed_reader_is_reported() {
        let (r, w) = pipe();
        let stdin = StdinPipe::new(w).unwrap();
        drop(r);
        assert_eq!(stdin.write(b"hello"), Err(StdinError::Closed));
        assert!(stdin.is_closed());
        assert_eq!(stdin.write(b"again"), Err(StdinError::Closed));
    }

    #[tokio::test]
    async fn a_reader_that_never_reads_fills_up_without_blocking() {
        let (_r, w) = pipe();
        let stdin = StdinPipe::new(w).unwrap();
        let chunk = vec![b'y'; 256 * 1024];
        let mut refused = None;
        for _ in 0..16 {
            if let Err(e) = stdin.write(&chunk) {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused, Some(StdinError::Full));
    }
}
