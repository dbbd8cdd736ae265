//! `netcatudp`: Flume's NetcatUdpSource. Listens on `bind`:`port` (UDP;
//! `bind` defaults to every address), and every datagram is one event: its
//! bytes up to the first `\n` (the rest of the datagram is ignored, as
//! Flume does).
//!
//! `remoteAddressHeader` names a header that gets the sender's address,
//! written as Java writes it (`/127.0.0.1:40000`); Flume's code reads the
//! property as `remoteAddress`, which is accepted too. Unset: no header.
//!
//! Datagrams already queued in the socket are read in one go and delivered
//! as one batch (up to [`MAX_BATCH`]), each body a slice of one big receive
//! buffer.

use std::net::SocketAddr;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::net::UdpSocket;

use super::{Source, SourceContext};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "netcatudp",
    aliases: &["org.apache.flume.source.NetcatUdpSource"],
    build,
};

/// The most datagrams delivered as one batch.
pub const MAX_BATCH: usize = 1000;
/// The largest UDP payload (what a receive must have room for).
const MAX_DATAGRAM: usize = 64 * 1024;
/// Receive buffer allocation: many datagrams share one.
const ARENA: usize = 512 * 1024;

pub struct NetcatUdp {
    bind: String,
    port: u16,
    header: Option<String>,
    socket: Option<UdpSocket>,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    let bind = props.string("bind").unwrap_or_else(|| "0.0.0.0".into());
    let port = props.port(diags, "port");
    let header = props
        .string("remoteAddressHeader")
        .or_else(|| props.string("remoteAddress"));
    Some(Box::new(NetcatUdp::new(bind, port?, header)))
}

impl NetcatUdp {
    pub fn new(bind: String, port: u16, header: Option<String>) -> NetcatUdp {
        NetcatUdp {
            bind,
            port,
            header,
            socket: None,
        }
    }

    /// Where the source listens, once started (tests bind port 0).
    #[cfg(test)]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }
}

/// The sender's address as Java's `InetSocketAddress.toString()` shows it.
fn java_address(peer: SocketAddr) -> String {
    format!("/{}:{}", peer.ip(), peer.port())
}

#[async_trait]
impl Source for NetcatUdp {
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), String> {
        let shown = super::netcat::address(&self.bind, self.port);
        let socket = UdpSocket::bind((self.bind.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot bind {shown} (udp): {e}"))?;
        let shown = socket.local_addr().map(|a| a.to_string()).unwrap_or(shown);
        ctx.log
            .info(&ctx.label, &format!("listening on {shown} (udp)"));
        self.socket = Some(socket);
        Ok(())
    }

    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<(), String> {
        let Some(socket) = self.socket else {
            return Err("the source was not started".into());
        };
        let header = self.header;
        let mut buf = BytesMut::new();
        let mut batch: Vec<Event> = Vec::new();
        let event = |buf: &mut BytesMut, n: usize, peer: SocketAddr| {
            let mut body = buf.split_to(n);
            if let Some(i) = memchr::memchr(b'\n', &body) {
                body.truncate(i);
            }
            let mut e = Event::new(body.freeze());
            if let Some(h) = &header {
                e.headers.insert(h.clone(), java_address(peer));
            }
            e
        };
        loop {
            make_room(&mut buf);
            let first = tokio::select! {
                _ = ctx.cancel.cancelled() => return Ok(()),
                r = socket.recv_buf_from(&mut buf) => r,
            };
            match first {
                Ok((n, peer)) => batch.push(event(&mut buf, n, peer)),
                Err(e) => {
                    ctx.log.warn(&ctx.label, &format!("receive failed: {e}"));
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    }
                    continue;
                }
            }
            // Whatever else is already waiting goes into the same batch.
            while batch.len() < MAX_BATCH {
                make_room(&mut buf);
                match socket.try_recv_buf_from(&mut buf) {
                    Ok((n, peer)) => batch.push(event(&mut buf, n, peer)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        ctx.log.warn(&ctx.label, &format!("receive failed: {e}"));
                        break;
                    }
                }
            }
            let count = batch.len();
            let events = std::mem::replace(&mut batch, Vec::with_capacity(count));
            if ctx.processor.deliver(events, &ctx.cancel).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Room for one more datagram of any size at the end of `buf`.
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MAX_DATAGRAM {
        buf.reserve(ARENA);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{DEADLINE, harness};
    use super::*;

    async fn started(
        h: &super::super::testing::Harness,
        header: Option<&str>,
    ) -> (SocketAddr, tokio::task::JoinHandle<Result<(), String>>) {
        let mut source = NetcatUdp::new("127.0.0.1".into(), 0, header.map(str::to_string));
        source.start(&h.ctx).await.expect("start");
        let addr = source.local_addr().expect("bound");
        (addr, tokio::spawn(Box::new(source).run(h.ctx.clone())))
    }

    #[tokio::test]
    async fn each_datagram_is_one_event_cut_at_its_first_newline() {
        let h = harness(100);
        let (addr, _task) = started(&h, Some("remote")).await;
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
        let me = client.local_addr().expect("addr");
        for d in [&b"hello"[..], b"two\nlines\n", b"", b"crlf\r\n"] {
            client.send_to(d, addr).expect("send");
        }
        let events = h.take(4).await;
        let bodies: Vec<&[u8]> = events.iter().map(|e| &e.body[..]).collect();
        assert_eq!(bodies, [&b"hello"[..], b"two", b"", b"crlf\r"]);
        for e in &events {
            assert_eq!(
                e.headers.get("remote").map(String::as_str),
                Some(format!("/127.0.0.1:{}", me.port()).as_str())
            );
        }
    }

    #[tokio::test]
    async fn queued_datagrams_all_arrive_in_order_without_a_header_by_default() {
        let h = harness(10_000);
        // Bound but not running yet: the datagrams wait in the socket and
        // are read as batches once it runs.
        let mut source = NetcatUdp::new("127.0.0.1".into(), 0, None);
        source.start(&h.ctx).await.expect("start");
        let addr = source.local_addr().expect("bound");
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
        for i in 0..200 {
            client
                .send_to(format!("{i}").as_bytes(), addr)
                .expect("send");
        }
        let _task = tokio::spawn(Box::new(source).run(h.ctx.clone()));
        let events = h.take(200).await;
        let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let bodies: Vec<String> = events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect();
        assert_eq!(bodies, expected);
        assert!(events.iter().all(|e| e.headers.is_empty()));
    }

    #[tokio::test]
    async fn a_taken_port_fails_the_start_and_cancel_ends_the_run() {
        let h = harness(10);
        let (addr, task) = started(&h, None).await;
        let mut second = NetcatUdp::new("127.0.0.1".into(), addr.port(), None);
        let err = second.start(&h.ctx).await.expect_err("taken");
        assert!(
            err.starts_with(&format!("cannot bind 127.0.0.1:{} (udp): ", addr.port())),
            "{err}"
        );
        h.ctx.cancel.cancel();
        let done = tokio::time::timeout(DEADLINE, task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }

    #[test]
    fn port_is_required() {
        let props = Props::new(
            std::sync::Arc::new("a.conf".into()),
            "a1.sources.r1".into(),
            3,
            Default::default(),
        );
        let mut d = Diags::default();
        assert!(build(&props, &mut d).is_none());
        assert_eq!(
            d.items[0].to_string(),
            "a.conf:3: error: [a1.sources.r1] port: is required"
        );
    }
}
