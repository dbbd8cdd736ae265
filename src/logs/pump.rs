//! The capture pump: one OS thread that drains every captured pipe of the
//! daemon into its destination.
//!
//! Why one thread and not one per pipe: a thread per pipe cost about 70 KiB
//! of resident memory per program (two stacks, two read buffers, malloc
//! arenas), which made the daemon with 50 programs weigh a third of
//! supervisord instead of under a quarter. One thread waiting in
//! `epoll_wait` on all pipes costs one stack and one read buffer in all.
//! It is not on the tokio runtime because file writes block, and the daemon's
//! runtime must stay free for the control socket and child exits.
//!
//! Pipes are registered level-triggered; each wake-up reads at most
//! [`READS_PER_WAKE`] buffers from one pipe, so one chatty program cannot
//! starve the others, and a pipe with more data left is simply reported again
//! by the next `epoll_wait`.
//!
//! Registration happens on the caller's thread: the stream's state goes over
//! a channel and the fd is added to the epoll set directly (`epoll_ctl` is
//! safe to call while another thread waits). The pump learns of a stream when
//! its first event arrives. A [`Pump::flush`] also goes over that channel,
//! with a write to an eventfd in the epoll set to wake the pump for it.
//!
//! Why flushes: the manager reports a child's exit only once what the child
//! wrote before it exited is in its log file. At EOF that is obvious; but a
//! grandchild may hold the pipe open for ever, so the manager asks for a
//! flush instead: the pump reads from each named pipe as many bytes as it
//! holds when the flush arrives (FIONREAD; fewer at EOF) and answers. The
//! child is dead by then, so everything it wrote was in the pipe and is now
//! in the file; what a grandchild writes later is not waited for (reading
//! "until empty" would never end while a grandchild writes faster than the
//! log takes it, and would starve every other pipe meanwhile).

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::oneshot;

use super::ansi::AnsiStripper;
use super::capture::{Destination, StreamStats};

/// Size of the pump's one read buffer.
pub const READ_BUF_SIZE: usize = 128 * 1024;

/// Reads from one pipe per readiness report, before turning to the others.
const READS_PER_WAKE: usize = 8;

/// Pipe capacity requested for captured pipes (best effort; the kernel caps it
/// at `/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: libc::c_int = 1024 * 1024;

/// What a finished stream reports.
pub type Done = oneshot::Receiver<io::Result<StreamStats>>;

/// Names one registered stream, for [`Pump::flush`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(u64);

/// The epoll token of the pump's wake-up eventfd (stream tokens count up from 0).
const WAKE: u64 = u64::MAX;

/// What goes over the channel to the pump thread.
enum Msg {
    Add(Stream),
    /// Read what these streams hold now (or to EOF), then answer.
    Flush(Vec<Token>, oneshot::Sender<()>),
}

/// One registered pipe.
struct Stream {
    token: u64,
    pipe: std::fs::File,
    dest: Destination,
    /// With `strip_ansi`: each read loses its escape codes before it is
    /// written (in the read buffer, so the plain path does no extra work).
    ansi: Option<AnsiStripper>,
    /// Labels warnings: "name (stdout)".
    name: String,
    stats: StreamStats,
    /// Whether the last write failed (to warn once per run of failures).
    failing: bool,
    done: oneshot::Sender<io::Result<StreamStats>>,
}

/// Handle to the pump thread.
pub struct Pump {
    epoll: std::sync::Arc<Epoll>,
    /// Behind a mutex only to share the sender between caller threads; the
    /// lock is held for the length of a `send`.
    messages: Mutex<mpsc::Sender<Msg>>,
    /// Wakes the pump for a flush (a new stream wakes it by its first event).
    wake: EventFd,
    next_token: AtomicU64,
}

/// The daemon-wide pump, started on first use.
pub fn pump() -> io::Result<&'static Pump> {
    static PUMP: OnceLock<Result<Pump, String>> = OnceLock::new();
    PUMP.get_or_init(|| Pump::start().map_err(|e| format!("cannot start the capture pump: {e}")))
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

impl Pump {
    fn start() -> io::Result<Pump> {
        let epoll = std::sync::Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        let thread_wake = wake.as_fd().try_clone_to_owned()?;
        let (tx, rx) = mpsc::channel();
        let thread_epoll = epoll.clone();
        std::thread::Builder::new()
            .name("capture".into())
            .stack_size(256 * 1024)
            .spawn(move || run(&thread_epoll, &thread_wake, &rx))?;
        Ok(Pump {
            epoll,
            messages: Mutex::new(tx),
            wake,
            next_token: AtomicU64::new(0),
        })
    }

    fn send(&self, msg: Msg) -> Result<(), Msg> {
        match self.messages.lock() {
            Ok(tx) => tx.send(msg).map_err(|e| e.0),
            Err(_) => Err(msg),
        }
    }

    /// Read what `streams` hold now (or to EOF); the receiver fires
    /// then (at once for streams already finished). Used once the writer
    /// has exited, so whatever it wrote is in its destination by then.
    pub fn flush(&self, streams: Vec<Token>) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if streams.is_empty() {
            let _ = tx.send(());
            return rx;
        }
        // A failed send drops the answer: the receiver sees the pump gone.
        if self.send(Msg::Flush(streams, tx)).is_ok() {
            let _ = self.wake.write(1);
        }
        rx
    }

    /// Drain `fd` to EOF into `dest` (without terminal escape codes when
    /// `strip_ansi`); the stats arrive on the returned receiver at EOF.
    /// `name` labels warnings.
    pub fn add(
        &self,
        fd: OwnedFd,
        dest: Destination,
        name: String,
        strip_ansi: bool,
    ) -> io::Result<(Token, Done)> {
        prepare(&fd)?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (done, rx) = oneshot::channel();
        // Add to the epoll set first, while we still own the fd; the pump
        // waits for the stream on the channel if its event comes first.
        self.epoll
            .add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, token))?;
        let stream = Stream {
            token,
            pipe: std::fs::File::from(fd),
            dest,
            ansi: strip_ansi.then(AnsiStripper::default),
            name,
            stats: StreamStats::default(),
            failing: false,
            done,
        };
        if let Err(Msg::Add(stream)) = self.send(Msg::Add(stream)) {
            let _ = self.epoll.delete(stream.pipe.as_fd());
            return Err(io::Error::other("the capture pump has stopped"));
        }
        Ok((Token(token), rx))
    }
}

/// Make the read end non-blocking (the pump must never block on one pipe)
/// and try to enlarge the pipe, so a burst waits in the kernel rather than
/// stalling the child.
fn prepare(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on an fd we own; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; failure (not a pipe, over the limit) is harmless.
    unsafe {
        libc::fcntl(raw, libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
    Ok(())
}

/// What one drain of a stream found.
enum Drained {
    /// The pipe is empty for now (or the per-wake budget is used up).
    More,
    /// EOF or a read error: the stream is finished.
    Finished(io::Result<()>),
}

/// How much one drain of a stream may read.
#[derive(Clone, Copy)]
enum Budget {
    /// At most this many reads (a readiness report).
    Reads(usize),
    /// At most this many bytes, however many reads it takes (a flush).
    Bytes(usize),
}

impl Stream {
    /// Read within `budget` (or until the pipe is empty or at EOF).
    fn drain(&mut self, buf: &mut [u8], budget: Budget) -> Drained {
        let (mut reads, mut bytes) = match budget {
            Budget::Reads(n) => (n, usize::MAX),
            Budget::Bytes(n) => (usize::MAX, n),
        };
        while reads > 0 && bytes > 0 {
            reads -= 1;
            let want = buf.len().min(bytes);
            let n = match self.pipe.read(&mut buf[..want]) {
                Ok(0) => {
                    if self.ansi.as_mut().is_some_and(AnsiStripper::finish) {
                        self.write(b"\x1b");
                    }
                    return Drained::Finished(Ok(()));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::More,
                Err(e) => return Drained::Finished(Err(e)),
            };
            bytes -= n;
            self.stats.bytes += n as u64;
            let len = match self.ansi.as_mut() {
                None => n,
                Some(ansi) => {
                    let kept = ansi.strip(&mut buf[..n]);
                    if kept.held_escape {
                        self.write(b"\x1b");
                    }
                    kept.len
                }
            };
            self.write(&buf[..len]);
        }
        Drained::More
    }

    /// Write into the destination; a failure is counted and warned about
    /// once per run of failures.
    fn write(&mut self, data: &[u8]) {
        match self.dest.write(data) {
            Ok(()) => self.failing = false,
            Err(e) => {
                self.stats.write_errors += 1;
                if !self.failing {
                    tracing::warn!("cannot write output of {} to its log: {e}", self.name);
                    self.failing = true;
                }
            }
        }
    }
}

/// The pump thread's loop.
fn run(epoll: &Epoll, wake: &OwnedFd, messages: &mpsc::Receiver<Msg>) {
    let mut buf = vec![0u8; READ_BUF_SIZE];
    let mut streams: HashMap<u64, Stream> = HashMap::new();
    let mut events = [EpollEvent::empty(); 64];
    loop {
        let n = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                // Nothing we did can cause this (EBADF/EFAULT/EINVAL); say
                // so once and stop rather than spin.
                tracing::error!("the capture pump stopped: epoll_wait: {e}");
                return;
            }
        };
        for ev in &events[..n] {
            let token = ev.data();
            if token == WAKE {
                let mut count = [0u8; 8];
                // SAFETY: an 8-byte read into a local buffer from our eventfd.
                unsafe { libc::read(wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
                // Flushes come after their streams on the channel: take all.
                while let Ok(msg) = messages.try_recv() {
                    receive(msg, epoll, &mut streams, &mut buf);
                }
                continue;
            }
            if !streams.contains_key(&token)
                && !receive_until(token, epoll, messages, &mut streams, &mut buf)
            {
                return;
            }
            drain_stream(
                token,
                Budget::Reads(READS_PER_WAKE),
                epoll,
                &mut streams,
                &mut buf,
            );
        }
    }
}

/// Drain one stream; at EOF (or a read error) drop it and report.
fn drain_stream(
    token: u64,
    budget: Budget,
    epoll: &Epoll,
    streams: &mut HashMap<u64, Stream>,
    buf: &mut [u8],
) {
    let Some(stream) = streams.get_mut(&token) else {
        return;
    };
    if let Drained::Finished(result) = stream.drain(buf, budget) {
        let _ = epoll.delete(stream.pipe.as_fd());
        if let Some(stream) = streams.remove(&token) {
            let _ = stream.done.send(result.map(|()| stream.stats));
        }
    }
}

fn receive(msg: Msg, epoll: &Epoll, streams: &mut HashMap<u64, Stream>, buf: &mut [u8]) {
    match msg {
        Msg::Add(stream) => {
            streams.insert(stream.token, stream);
        }
        Msg::Flush(tokens, answer) => {
            for Token(token) in tokens {
                // The writer is gone: what it wrote is what the pipe holds
                // now (at least one byte, to see an EOF).
                let held = streams.get(&token).map_or(0, |s| pending_bytes(&s.pipe));
                drain_stream(token, Budget::Bytes(held.max(1)), epoll, streams, buf);
            }
            let _ = answer.send(());
        }
    }
}

/// The bytes waiting in a pipe (0 if it cannot say).
fn pending_bytes(pipe: &std::fs::File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into a local, on a pipe we own.
    if unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) } < 0 {
        return 0;
    }
    usize::try_from(n).unwrap_or(0)
}

/// Take messages off the channel until the stream with `token` is among
/// them (its sender added it to epoll just before sending, so it is on its
/// way). False when every sender is gone.
fn receive_until(
    token: u64,
    epoll: &Epoll,
    messages: &mpsc::Receiver<Msg>,
    streams: &mut HashMap<u64, Stream>,
    buf: &mut [u8],
) -> bool {
    loop {
        match messages.recv() {
            Ok(msg) => {
                let found = matches!(&msg, Msg::Add(s) if s.token == token);
                receive(msg, epoll, streams, buf);
                if found {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}
