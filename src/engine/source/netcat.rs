//! `netcat`: Flume's NetcatSource. Listens on `bind`:`port` (TCP), and every
//! line a client sends (up to `\n`, which is not part of the body; a `\r`
//! before it is kept, as Flume keeps it) becomes one event.
//!
//! - `max-line-length` (512): the most characters (UTF-8) a line may have,
//!   its newline included. A longer line gets Flume's answer, `FAILED: Event exceeds the
//!   maximum length (N chars, including newline)`, and the connection is
//!   closed (the lines before it are delivered and acknowledged).
//! - `ack-every-event` (true): answer `OK` for every event once the
//!   channels took it.
//! - An event a channel can never hold (larger than its byteCapacity, or
//!   than a data file) is answered at once with `FAILED: <why>` in its
//!   place among the `OK`s (also without ack-every-event, as Flume
//!   answers a failed event) and dropped with a log line; the connection
//!   goes on. A channel that is only full makes the source wait instead.
//!
//! Bytes after the last newline when the client closes are not an event
//! (Flume drops them too); we log how many there were.
//!
//! An in-process agent's connections use the daemon's descriptors: each
//! borrows one from [`crate::descriptors`], and with none left the longest
//! idle connection (no delivery in flight) is closed for the new one, so
//! that a flood of clients that never send cannot take what spawning
//! programs and the control server need (Flume has no such limit: its
//! descriptors are its own). Failed accepts back off and are logged once a
//! minute.
//!
//! Fast path: each connection reads big chunks into one buffer, cuts the
//! lines out of it without copying (an event body is a slice of the read
//! buffer), and delivers all complete lines of one read as one batch; the
//! OKs for that batch go out in one write. Up to [`DEPTH`] batches are in
//! flight: read and written to the channel while the oldest waits for its
//! commit (a file channel's fdatasync, then shared by the ones behind it),
//! acknowledged in order once committed.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Source, SourceContext};
use crate::descriptors::conns::{Busy, Conns, Ticket};
use crate::descriptors::{self, Budget};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::processor::{Cancelled, Delivery, Refusal};
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "netcat",
    aliases: &["org.apache.flume.source.NetcatSource"],
    build,
};

pub const DEFAULT_MAX_LINE_LENGTH: usize = 512;

/// How much a busy connection asks the kernel for at once. A connection
/// starts with [`FIRST_CHUNK`] (many idle clients must not cost 256 KiB
/// each) and doubles its chunk while its reads fill the room they get.
const READ_CHUNK: usize = 256 * 1024;
const FIRST_CHUNK: usize = 8 * 1024;
/// How long input is still read (and dropped) after a FAILED reply.
const DRAIN_AFTER_FAILED: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Settings {
    max_line: usize,
    ack: bool,
}

pub struct Netcat {
    bind: String,
    port: u16,
    settings: Settings,
    listener: Option<TcpListener>,
    /// Lends each connection its descriptor.
    budget: &'static Budget,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    let bind = props.required(diags, "bind");
    let port = props.port(diags, "port");
    let max_line = props.count(diags, "max-line-length", DEFAULT_MAX_LINE_LENGTH, 1);
    let ack = props.bool(diags, "ack-every-event", true);
    Some(Box::new(Netcat::new(bind?, port?, max_line, ack)))
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Netcat {
    pub fn new(bind: String, port: u16, max_line: usize, ack: bool) -> Netcat {
        Netcat {
            bind,
            port,
            settings: Settings {
                max_line: max_line.max(1),
                ack,
            },
            listener: None,
            budget: descriptors::global(),
        }
    }

    /// The source with its own budget (tests: a small one).
    #[cfg(test)]
    fn with_budget(mut self, budget: &'static Budget) -> Netcat {
        self.budget = budget;
        self
    }

    /// Where the source listens, once started (tests bind port 0).
    #[cfg(test)]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }
}

#[async_trait]
impl Source for Netcat {
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), String> {
        let listener = TcpListener::bind((self.bind.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot bind {}: {e}", address(&self.bind, self.port)))?;
        let shown = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| address(&self.bind, self.port));
        ctx.log.info(&ctx.label, &format!("listening on {shown}"));
        self.listener = Some(listener);
        Ok(())
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), String> {
        let Some(listener) = self.listener else {
            return Err("the source was not started".into());
        };
        let settings = self.settings;
        let label = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| address(&self.bind, self.port));
        let conns = Conns::lent(self.budget, label);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let admission = conns.admit();
                        if let Some(line) = admission.complaint {
                            ctx.log.warn(&ctx.label, &line);
                        }
                        // None: every connection is busy; this one is closed.
                        let Some(admitted) = admission.admitted else {
                            continue;
                        };
                        if admitted.gave_way {
                            // Let the one that gave way close its socket
                            // before more are accepted.
                            tokio::task::yield_now().await;
                        }
                        let conn = Conn {
                            stream,
                            peer,
                            ticket: admitted.ticket,
                            closed: admitted.closed,
                        };
                        connections.spawn(serve(conn, settings, ctx.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors and the like: free one if a
                        // connection is idle, wait (longer each time), and
                        // say so now and then.
                        let (wait, complaint) = conns.accept_failed(&e);
                        if let Some(line) = complaint {
                            ctx.log.warn(&ctx.label, &line);
                        }
                        tokio::select! {
                            _ = ctx.cancel.cancelled() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                },
            }
        }
        // Stop listening first, then let every connection see the cancel.
        drop(listener);
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

/// The characters of UTF-8 text, as Flume counts `max-line-length` (it
/// decodes the line first); a byte that is not UTF-8 counts as one. Only
/// a line longer in bytes than the limit is counted.
fn chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

/// Deliveries one connection keeps in flight: while one waits for its
/// commit (a file channel's fdatasync), the next reads are written, and
/// share the next fdatasync (group commit). An fdatasync of a busy disk
/// takes milliseconds: 64 reads (up to 16 MiB) keep the source reading
/// meanwhile (16 left it waiting: docs/benchmarks.md).
const DEPTH: usize = 64;

type Waiting = Pin<Box<dyn Future<Output = (usize, Delivery, bool)> + Send>>;
type Beginning = Pin<Box<dyn Future<Output = (usize, Result<Delivery, Cancelled>)> + Send>>;

/// A client connection and its place among the listener's.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    /// Fires when the connection, idle, gives way to a new one.
    closed: tokio::sync::oneshot::Receiver<()>,
}

/// One client connection, until it closes, sends an over-long line, gives
/// way to a new one, or the agent stops.
///
/// Up to [`DEPTH`] batches are in flight: begun (written to the channels)
/// in read order, waited for in that order, and acknowledged only once
/// committed. When one fails, the ones after it are aborted and every one
/// is put again in order before anything more is read or acknowledged.
async fn serve(conn: Conn, settings: Settings, ctx: SourceContext) {
    let Conn {
        mut stream,
        peer,
        ticket,
        mut closed,
    } = conn;
    // Held while deliveries are in flight: a busy connection never gives way.
    let mut busy_guard: Option<Busy> = None;
    // Told to give way while (just) busy: no more reading, and it ends once
    // what is in flight is acknowledged.
    let mut giving_way = false;
    let mut chunk = FIRST_CHUNK;
    let mut buf = BytesMut::with_capacity(chunk);
    let mut delivered: u64 = 0;
    // Begun, in read order, after `head`.
    let mut begun: VecDeque<(usize, Delivery)> = VecDeque::new();
    let mut head: Option<Waiting> = None;
    let mut beginning: Option<Beginning> = None;
    let mut too_long = false;
    let mut eof = false;
    let mut last_batch = 16;
    loop {
        if head.is_none()
            && let Some((count, mut d)) = begun.pop_front()
        {
            let p = ctx.processor.clone();
            head = Some(Box::pin(async move {
                let ok = p.wait(&mut d).await;
                (count, d, ok)
            }));
        }
        let busy = begun.len() + usize::from(head.is_some()) + usize::from(beginning.is_some());
        if busy == 0 {
            busy_guard = None;
        } else if busy_guard.is_none() {
            busy_guard = Some(ticket.busy());
        }
        let ended = too_long || eof || giving_way;
        if ended && busy == 0 {
            break;
        }
        let can_read = !ended && beginning.is_none() && busy < DEPTH;
        // Below a quarter chunk of free room, the buffer is renewed (the
        // old one lives on in the events cut from it).
        if can_read && buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        let room = buf.capacity() - buf.len();
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return,
            _ = &mut closed, if !giving_way => {
                // Idle, it gave way: nothing to acknowledge, nothing to say
                // (a flood of these is logged once by the listener).
                if busy == 0 {
                    return;
                }
                giving_way = true;
            }
            (count, mut d, ok) = async { match head.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if head.is_some() => {
                head = None;
                let mut done = vec![(count, d.refused().to_vec())];
                if !ok {
                    // Keep the order: every later batch is put again after
                    // this one.
                    // Aborted first: their room is given back, for the
                    // one still beginning.
                    for (_, later) in begun.iter_mut() {
                        later.abort();
                    }
                    if let Some(b) = beginning.take() {
                        match b.await {
                            (c, Ok(mut later)) => {
                                later.abort();
                                begun.push_back((c, later));
                            }
                            (_, Err(_)) => return,
                        }
                    }
                    if ctx.processor.finish(&mut d, &ctx.cancel).await.is_err() {
                        return;
                    }
                    while let Some((c, mut later)) = begun.pop_front() {
                        if ctx.processor.finish(&mut later, &ctx.cancel).await.is_err() {
                            return;
                        }
                        done.push((c, later.refused().to_vec()));
                    }
                }
                let (reply, count) = replies(&done, settings.ack);
                delivered += count as u64;
                if !reply.is_empty() && !write(&mut stream, &reply, &ctx).await {
                    return;
                }
            }
            (count, r) = async { match beginning.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if beginning.is_some() => {
                beginning = None;
                match r {
                    Ok(d) => begun.push_back((count, d)),
                    Err(_) => return,
                }
            }
            read = stream.read_buf(&mut buf), if can_read => {
                let n = match read {
                    Ok(n) => n,
                    // Reset by the peer and the like: the connection is over.
                    Err(_) => return,
                };
                if n * 2 >= room {
                    chunk = (chunk * 2).min(READ_CHUNK);
                }
                // Sized like the last read's: no regrowth while cutting.
                let mut batch: Vec<Event> = Vec::with_capacity(last_batch);
                while let Some(i) = memchr::memchr(b'\n', &buf) {
                    if i + 1 > settings.max_line && chars(&buf[..=i]) > settings.max_line {
                        too_long = true;
                        break;
                    }
                    let mut line = buf.split_to(i + 1);
                    line.truncate(i);
                    batch.push(Event::new(line.freeze()));
                }
                // No newline yet and already too long to end in time.
                if buf.len() >= settings.max_line && chars(&buf) >= settings.max_line {
                    too_long = true;
                }
                eof = n == 0;
                last_batch = batch.len().max(16);
                if !batch.is_empty() {
                    let p = ctx.processor.clone();
                    let cancel = ctx.cancel.clone();
                    let count = batch.len();
                    beginning = Some(Box::pin(async move {
                        (count, p.begin_deliver(batch, &cancel).await)
                    }));
                }
            }
        }
    }

    if too_long {
        ctx.log.warn(
            &ctx.label,
            &format!(
                "client {peer} sent a line longer than max-line-length ({}); closing the connection",
                settings.max_line
            ),
        );
        let reply = format!(
            "FAILED: Event exceeds the maximum length ({} chars, including newline)\n",
            settings.max_line
        );
        if !write(&mut stream, reply.as_bytes(), &ctx).await {
            return;
        }
        let _ = stream.shutdown().await;
        // Closing with unread input would reset the connection, and the
        // client might lose the reply: read what is still coming, for
        // a little while.
        let mut sink = vec![0u8; 64 * 1024];
        let drain = async {
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::select! {
            _ = ctx.cancel.cancelled() => {}
            _ = tokio::time::timeout(DRAIN_AFTER_FAILED, drain) => {}
        }
        return;
    }
    if giving_way {
        ctx.log.info(
            &ctx.label,
            &format!(
                "client {peer}: connection closed for a newer one (no descriptor left) after {delivered} events"
            ),
        );
        return;
    }
    if !buf.is_empty() {
        ctx.log.warn(
            &ctx.label,
            &format!(
                "client {peer} closed the connection with {} bytes after its last newline; they are not an event",
                buf.len()
            ),
        );
    }
    // Every line of the connection is in the channel by now (the
    // benchmark waits for this line).
    ctx.log.info(
        &ctx.label,
        &format!("client {peer} closed the connection after {delivered} events"),
    );
}

/// The replies to batches of `count` lines each, in order: `OK` per line
/// delivered (with `ack`), `FAILED: why` per line refused; and how many
/// were delivered.
fn replies(done: &[(usize, Vec<Refusal>)], ack: bool) -> (Vec<u8>, usize) {
    let mut reply = Vec::new();
    let mut delivered = 0;
    for (count, refused) in done {
        if refused.is_empty() {
            delivered += count;
            if ack {
                reply.extend_from_slice(&b"OK\n".repeat(*count));
            }
            continue;
        }
        let mut refused = refused.iter().peekable();
        for i in 0..*count {
            match refused.next_if(|r| r.index == i) {
                Some(r) => {
                    reply.extend_from_slice(b"FAILED: ");
                    reply.extend_from_slice(r.reason.replace('\n', " ").as_bytes());
                    reply.push(b'\n');
                }
                None => {
                    delivered += 1;
                    if ack {
                        reply.extend_from_slice(b"OK\n");
                    }
                }
            }
        }
    }
    (reply, delivered)
}

/// Write all of `bytes`, unless the connection fails or the agent stops
/// (a client that does not read its replies must not hold up the stop).
async fn write(stream: &mut TcpStream, bytes: &[u8], ctx: &SourceContext) -> bool {
    tokio::select! {
        _ = ctx.cancel.cancelled() => false,
        r = stream.write_all(bytes) => r.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Harness, harness};
    use super::*;
    use crate::engine::channel::memory::MemoryChannel;
    use crate::engine::channel::{Channel, ChannelError, PendingPut, Take};
    use crate::engine::processor::ChannelProcessor;
    use crate::engine::selector::Selector;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Start a netcat source on a free port; its address and the run task.
    async fn started(
        h: &Harness,
        max_line: usize,
        ack: bool,
    ) -> (SocketAddr, tokio::task::JoinHandle<Result<(), String>>) {
        let mut source = Netcat::new("127.0.0.1".into(), 0, max_line, ack);
        source.start(&h.ctx).await.expect("start");
        let addr = source.local_addr().expect("bound");
        let task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        (addr, task)
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn each_line_is_an_event_acknowledged_with_ok() {
        let h = harness(100);
        let (addr, _task) = started(&h, 512, true).await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"Hello\nwindows\r\n\nlast\n")
            .await
            .expect("send");
        let mut replies = BufReader::new(&mut c);
        for _ in 0..4 {
            let mut line = String::new();
            replies.read_line(&mut line).await.expect("reply");
            assert_eq!(line, "OK\n");
        }
        assert_eq!(h.take_bodies(4).await, ["Hello", "windows\r", "", "last"]);
    }

    #[tokio::test]
    async fn an_event_the_channel_can_never_hold_gets_failed_at_once_and_the_rest_ok() {
        // byteCapacity 20: an event of 21 bytes or more can never fit.
        let h = super::super::testing::harness_with(crate::engine::channel::memory::Settings {
            capacity: 100,
            transaction_capacity: 100,
            byte_capacity: Some(crate::engine::channel::byte_capacity::ByteCapacity::new(
                20, 1,
            )),
            keep_alive: std::time::Duration::from_secs(3),
        });
        for ack in [true, false] {
            let (addr, task) = started(&h, 512, ack).await;
            let mut c = TcpStream::connect(addr).await.expect("connect");
            c.write_all(b"one\nthis line is longer than twenty bytes\ntwo\n")
                .await
                .expect("send");
            let mut replies = BufReader::new(&mut c);
            let mut lines = Vec::new();
            for _ in 0..if ack { 3 } else { 1 } {
                let mut line = String::new();
                let read = replies.read_line(&mut line);
                tokio::time::timeout(super::super::testing::DEADLINE, read)
                    .await
                    .expect("a reply in time, not a retry forever")
                    .expect("reply");
                lines.push(line);
            }
            let failed = if ack { &lines[1] } else { &lines[0] };
            assert!(
                failed.starts_with("FAILED: channel c1 can never hold this event: 37 bytes")
                    && failed.contains("byteCapacity (20 slots"),
                "{lines:?}"
            );
            if ack {
                assert_eq!((lines[0].as_str(), lines[2].as_str()), ("OK\n", "OK\n"));
            }
            assert_eq!(h.take_bodies(2).await, ["one", "two"]);
            // The connection goes on.
            c.write_all(b"three\n").await.expect("send");
            assert_eq!(h.take_bodies(1).await, ["three"]);
            drop(c);
            task.abort();
        }
        let log = h.log.text();
        assert!(
            log.contains("an event of 37 bytes is dropped, not delivered: channel c1"),
            "{log}"
        );
        assert!(!log.contains("retrying"), "{log}");
    }

    #[tokio::test]
    async fn an_over_long_line_gets_flumes_failed_reply_and_the_connection_closes() {
        let h = harness(100);
        let (addr, _task) = started(&h, 10, true).await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        // "123456789\n" is exactly 10 with its newline: accepted.
        c.write_all(b"123456789\n1234567890\nnever\n")
            .await
            .expect("send");
        let replies = read_all(&mut c).await;
        assert_eq!(
            replies,
            "OK\nFAILED: Event exceeds the maximum length (10 chars, including newline)\n"
        );
        assert_eq!(h.take_bodies(1).await, ["123456789"]);
        h.log.wait_for("longer than max-line-length (10)").await;
        assert_eq!(h.channel.len(), 0, "nothing after the long line");
    }

    #[tokio::test]
    async fn a_line_without_its_newline_yet_fails_once_it_is_too_long() {
        let h = harness(100);
        let (addr, _task) = started(&h, 8, true).await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"abcdefgh").await.expect("send");
        assert_eq!(
            read_all(&mut c).await,
            "FAILED: Event exceeds the maximum length (8 chars, including newline)\n"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_lines_on_many_connections_keep_their_order() {
        const CLIENTS: usize = 4;
        const LINES: usize = 20_000;
        let h = harness(1000);
        let (addr, _task) = started(&h, 64, false).await;
        let mut writers = Vec::new();
        for c in 0..CLIENTS {
            writers.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.expect("connect");
                let mut text = String::new();
                for i in 0..LINES {
                    text.push_str(&format!("{c} {i:08} padding to make the line longer\n"));
                }
                // Written in odd-sized pieces so lines straddle reads.
                for piece in text.as_bytes().chunks(7919) {
                    s.write_all(piece).await.expect("send");
                }
                s.shutdown().await.expect("close");
            }));
        }
        let events = h.take(CLIENTS * LINES).await;
        let mut next = [0usize; CLIENTS];
        for e in &events {
            let body = std::str::from_utf8(&e.body).expect("utf-8");
            let mut words = body.split(' ');
            let c: usize = words.next().and_then(|w| w.parse().ok()).expect("client");
            let i: usize = words.next().and_then(|w| w.parse().ok()).expect("number");
            assert_eq!(i, next[c], "client {c} out of order: {body}");
            next[c] += 1;
        }
        assert_eq!(next, [LINES; CLIENTS]);
        for w in writers {
            w.await.expect("writer");
        }
    }

    #[tokio::test]
    async fn out_of_descriptors_the_longest_idle_client_gives_way() {
        // Two descriptors to lend: two clients that never send hold them.
        let budget: &'static Budget =
            Box::leak(Box::new(Budget::new(0, Some(descriptors::RESERVED + 2))));
        let h = harness(100);
        let mut source = Netcat::new("127.0.0.1".into(), 0, 512, true).with_budget(budget);
        source.start(&h.ctx).await.expect("start");
        let addr = source.local_addr().expect("bound");
        let _task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        let mut first = TcpStream::connect(addr).await.expect("connect");
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let wait_lent = |n: u64| async move {
            tokio::time::timeout(super::super::testing::DEADLINE, async {
                while budget.lent() != n {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("lent in time");
        };
        wait_lent(2).await;
        // A client that sends at once is served: the first (idle longest)
        // is closed for it, the second stays.
        let mut third = TcpStream::connect(addr).await.expect("connect");
        third.write_all(b"hello\n").await.expect("send");
        let mut ok = [0u8; 3];
        third.read_exact(&mut ok).await.expect("ok");
        assert_eq!(&ok, b"OK\n");
        assert_eq!(read_all(&mut first).await, "", "the first is closed");
        assert_eq!(h.take_bodies(1).await, ["hello"]);
        h.log.wait_for("2 connections open on 127.0.0.1:").await;
        second.write_all(b"still here\n").await.expect("send");
        // The second was not closed: it is served too.
        second.read_exact(&mut ok).await.expect("ok");
        assert_eq!(&ok, b"OK\n");
        drop((second, third));
        wait_lent(0).await;
    }

    #[tokio::test]
    async fn a_taken_port_fails_the_start_naming_address_and_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let h = harness(10);
        let mut source = Netcat::new("127.0.0.1".into(), port, 512, true);
        let err = source.start(&h.ctx).await.expect_err("port is taken");
        assert!(
            err.starts_with(&format!("cannot bind 127.0.0.1:{port}: ")),
            "{err}"
        );
        assert!(err.contains("in use"), "{err}");
    }

    #[tokio::test]
    async fn cancel_stops_the_source_closes_connections_and_frees_the_port() {
        let h = harness(10);
        let (addr, task) = started(&h, 512, true).await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"one\n").await.expect("send");
        let mut ok = [0u8; 3];
        c.read_exact(&mut ok).await.expect("ok");
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(super::super::testing::DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
        assert_eq!(read_all(&mut c).await, "", "the connection is closed");
        std::net::TcpListener::bind(addr).expect("the port is free again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_its_oks_does_not_hold_up_the_stop() {
        use std::io::Write;
        let h = harness(100_000);
        let (addr, task) = started(&h, 512, true).await;
        // Take whatever arrives, so only the replies can back up.
        let channel = h.channel.clone();
        tokio::spawn(async move {
            while let Ok(t) = channel.take(100_000).await {
                let _ = t.commit().await;
            }
        });
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let client = socket.connect(addr).await.expect("connect");
        let mut client = client.into_std().expect("std");
        client.set_nonblocking(true).expect("nonblocking");
        // Send until the source stops reading: stuck writing OKs nobody
        // reads (3 bytes of reply for every 2 sent). Past 4 MiB sent, with
        // nothing more going in for a while, it is stuck (and if it were
        // only slow, the test would pass without proving anything, never
        // fail wrongly).
        let chunk = b"x\n".repeat(32 * 1024);
        let mut sent = 0usize;
        let mut still = 0;
        let stuck = tokio::time::timeout(super::super::testing::DEADLINE, async {
            loop {
                match client.write(&chunk) {
                    Ok(n) => {
                        sent += n;
                        still = 0;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        still += 1;
                        if sent >= 4 * 1024 * 1024 && still >= 40 {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
        })
        .await;
        assert!(stuck.is_ok(), "the source kept reading ({sent} bytes)");
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(super::super::testing::DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }

    #[tokio::test]
    async fn a_full_channel_holds_the_ok_until_the_event_is_taken() {
        let h = harness(1);
        let (addr, _task) = started(&h, 512, true).await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"first\n").await.expect("send");
        let mut ok = [0u8; 3];
        c.read_exact(&mut ok).await.expect("ok");
        // The channel is full now: the second line waits, unacknowledged.
        c.write_all(b"second\n").await.expect("send");
        h.log.wait_for("retrying until it has room").await;
        assert_eq!(h.take_bodies(1).await, ["first"]);
        c.read_exact(&mut ok).await.expect("ok");
        assert_eq!(&ok, b"OK\n");
        assert_eq!(h.take_bodies(1).await, ["second"]);
    }

    /// A channel whose puts commit late, in scrambled order (each pending
    /// put is ready after its own number of yields), into a memory channel
    /// only when waited for; the third one fails its first wait once later
    /// puts were begun.
    struct Scrambled {
        inner: Arc<MemoryChannel>,
        begun: Arc<std::sync::atomic::AtomicUsize>,
        aborts: Arc<std::sync::atomic::AtomicUsize>,
        more: Arc<tokio::sync::Notify>,
    }

    struct Late {
        k: usize,
        events: Vec<Event>,
        inner: Arc<MemoryChannel>,
        begun: Arc<std::sync::atomic::AtomicUsize>,
        aborts: Arc<std::sync::atomic::AtomicUsize>,
        more: Arc<tokio::sync::Notify>,
    }

    #[async_trait]
    impl PendingPut for Late {
        async fn wait(mut self: Box<Self>) -> Result<(), (ChannelError, Vec<Event>)> {
            for _ in 0..(self.k * 7919) % 13 {
                tokio::task::yield_now().await;
            }
            if self.k == 2 {
                // Fail once, with later puts in flight.
                loop {
                    let more = self.more.notified();
                    if self.begun.load(Ordering::SeqCst) >= 4 {
                        break;
                    }
                    more.await;
                }
                let back = std::mem::take(&mut self.events);
                return Err((ChannelError::Failed("disk trouble".into()), back));
            }
            let mut events = std::mem::take(&mut self.events);
            self.inner.put(&mut events).await.map_err(|e| (e, events))
        }
        fn abort(mut self: Box<Self>) -> Vec<Event> {
            self.aborts.fetch_add(1, Ordering::SeqCst);
            std::mem::take(&mut self.events)
        }
    }

    #[async_trait]
    impl Channel for Scrambled {
        fn name(&self) -> &str {
            "scrambled"
        }
        async fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
            self.inner.put(events).await
        }
        async fn begin_put(
            &self,
            events: &mut Vec<Event>,
        ) -> Result<Box<dyn PendingPut>, ChannelError> {
            let k = self.begun.fetch_add(1, Ordering::SeqCst);
            self.more.notify_waiters();
            Ok(Box::new(Late {
                k,
                events: std::mem::take(events),
                inner: self.inner.clone(),
                begun: self.begun.clone(),
                aborts: self.aborts.clone(),
                more: self.more.clone(),
            }))
        }
        fn transaction_capacity(&self) -> usize {
            self.inner.transaction_capacity()
        }
        async fn take(&self, max: usize) -> Result<Take, ChannelError> {
            self.inner.take(max).await
        }
        fn len(&self) -> usize {
            self.inner.len()
        }
        async fn wait_empty(&self) {
            self.inner.wait_empty().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn late_out_of_order_and_failing_puts_keep_line_order_and_ack_only_what_is_in() {
        const LINES: usize = 20_000;
        let h = harness(LINES);
        let aborts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let scrambled = Scrambled {
            inner: h.channel.clone(),
            begun: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            aborts: aborts.clone(),
            more: Arc::new(tokio::sync::Notify::new()),
        };
        let channels: Vec<Arc<dyn Channel>> = vec![Arc::new(scrambled)];
        let processor = ChannelProcessor::new(
            "a1.sources.r1".into(),
            Vec::new(),
            Selector::Replicating {
                optional: vec![false],
            },
            channels,
            h.ctx.log.clone(),
        );
        let ctx = SourceContext {
            processor: Arc::new(processor),
            ..h.ctx.clone()
        };
        let mut source = Netcat::new("127.0.0.1".into(), 0, 64, true);
        source.start(&ctx).await.expect("start");
        let addr = source.local_addr().expect("bound");
        tokio::spawn(Box::new(source).run(ctx));
        let c = TcpStream::connect(addr).await.expect("connect");
        let (mut rd, mut wr) = c.into_split();
        let writer = tokio::spawn(async move {
            let mut text = String::new();
            for i in 0..LINES {
                text.push_str(&format!("{i:08} padding to make the line longer\n"));
            }
            for piece in text.as_bytes().chunks(4093) {
                wr.write_all(piece).await.expect("send");
            }
            wr
        });
        // Every OK acknowledges an event already in the channel.
        let channel = h.channel.clone();
        let mut acked = 0;
        let mut reply = [0u8; 3 * 64];
        let all = tokio::time::timeout(super::super::testing::DEADLINE, async {
            let mut partial = 0;
            while acked < LINES {
                let n = rd.read(&mut reply[partial..]).await.expect("reply");
                assert!(n > 0, "closed after {acked} OKs");
                partial += n;
                let whole = partial / 3;
                assert!(reply[..whole * 3].chunks(3).all(|r| r == b"OK\n"));
                reply.copy_within(whole * 3..partial, 0);
                partial -= whole * 3;
                acked += whole;
                assert!(channel.len() >= acked, "{acked} OKs, {} in", channel.len());
            }
        })
        .await;
        assert!(all.is_ok(), "only {acked} OKs");
        let events = h.take(LINES).await;
        for (i, e) in events.iter().enumerate() {
            let body = std::str::from_utf8(&e.body).expect("utf-8");
            assert!(body.starts_with(&format!("{i:08} ")), "line {i}: {body}");
        }
        assert_eq!(h.channel.len(), 0, "nothing twice");
        assert!(
            aborts.load(Ordering::SeqCst) > 0,
            "the failure aborted later puts"
        );
        drop(writer.await.expect("writer"));
    }

    fn props(pairs: &[(&str, &str)]) -> Props {
        use crate::engine::config::properties::Entry;
        let entries = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: i + 2,
                    },
                )
            })
            .collect();
        Props::new(
            std::sync::Arc::new("a.conf".into()),
            "a1.sources.r1".into(),
            1,
            entries,
        )
    }

    #[test]
    fn bind_and_port_are_required_and_numbers_checked() {
        let mut d = Diags::default();
        assert!(build(&props(&[("max-line-length", "0")]), &mut d).is_none());
        let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            text,
            [
                "a.conf:1: error: [a1.sources.r1] bind: is required",
                "a.conf:1: error: [a1.sources.r1] port: is required",
                "a.conf:2: error: [a1.sources.r1] max-line-length: 0 is out of range (1 to 2147483647)",
            ]
        );
        let mut d = Diags::default();
        let p = props(&[
            ("bind", "0.0.0.0"),
            ("port", "44444"),
            ("ack-every-event", "false"),
        ]);
        assert!(build(&p, &mut d).is_some());
        assert!(d.items.is_empty(), "{:?}", d.items);
    }
}
