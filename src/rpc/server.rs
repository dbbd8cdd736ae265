//! The control server: HTTP/1.1 on the unix socket and, optionally, TCP.
//!
//! Routes, as supervisord serves them:
//! - `POST /RPC2`: an XML-RPC call handed to the [`Dispatch`]; the answer
//!   (result or fault) is always HTTP 200. A body that is not a valid call
//!   gets 400, a body over the size limit 413.
//! - `GET /logtail/<name>[/<channel>]` and `GET /mainlogtail`: the log file
//!   followed like `tail -f` (see [`super::tail`]); 404 for an unknown name,
//!   410 when there is no file.
//!
//! With credentials configured for a transport, every request on it needs
//! HTTP Basic auth; without it the answer is 401 and nothing else.
//!
//! Each listener keeps a bounded number of connections
//! ([`crate::descriptors::conns`]), its share of the daemon's descriptors:
//! at the cap the longest idle one gives way to a new one, so connections
//! that never send cannot lock clients out nor take the descriptors that
//! programs need. A client has [`HEADER_TIMEOUT`] to send a request's
//! headers (the first, and each next one on a kept-alive connection).
//! Failed accepts (out of descriptors) back off and are logged once a
//! minute.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};

use super::answer::{AnswerWriter, Start};
use super::body::Body;
use super::listen::{self, UnixListenSpec};
use super::{Dispatch, auth, faults, tail, xml};
use crate::config::{Config, Credentials};
use crate::descriptors::conns::{Conns, Ticket};
use crate::descriptors::{self, MAX_CONTROL_CAP};

/// The largest XML-RPC request body accepted.
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;
/// How long shutdown waits for open connections (answers in flight, tails).
const DRAIN: Duration = Duration::from_secs(5);
/// How long a client may take to send its request headers (also how long a
/// kept-alive connection may stay idle).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send an XML-RPC request body; a slower
/// one gets 408 and the connection is closed.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What to listen on and who may talk.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub unix: Option<UnixListenSpec>,
    /// An `[inet_http_server] port` value: `host:port`, `*:port`, `:port`, `port`.
    pub tcp: Option<String>,
    pub auth_unix: Option<Credentials>,
    pub auth_tcp: Option<Credentials>,
    /// Request bodies past this many bytes get 413.
    pub max_body: usize,
    /// A request body not complete after this long gets 408.
    pub body_timeout: Duration,
    /// The most connections each listener keeps.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            unix: None,
            tcp: None,
            auth_unix: None,
            auth_tcp: None,
            max_body: DEFAULT_MAX_BODY,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: MAX_CONTROL_CAP,
        }
    }
}

impl ServerConfig {
    /// The listeners a loaded configuration asks for.
    pub fn from_config(cfg: &Config) -> ServerConfig {
        let mut out = ServerConfig::default();
        if let Some(u) = &cfg.unix_http_server {
            out.unix = Some(UnixListenSpec {
                path: u.file.clone(),
                mode: u.chmod,
                chown: u.chown.clone(),
            });
            out.auth_unix = u.auth.clone();
        }
        if let Some(i) = &cfg.inet_http_server {
            out.tcp = Some(i.port.clone());
            out.auth_tcp = i.auth.clone();
        }
        let processes = cfg.groups.iter().map(|g| g.processes.len()).sum();
        let listeners = usize::from(out.unix.is_some()) + usize::from(out.tcp.is_some());
        let budget = descriptors::global();
        budget.set_processes(processes);
        out.max_connections = budget.control_cap(listeners);
        out
    }
}

/// Bound listeners, not yet serving.
pub struct Server {
    unix: Option<(UnixListener, PathBuf, u64)>,
    tcp: Option<(TcpListener, SocketAddr)>,
    auth_unix: Option<Credentials>,
    auth_tcp: Option<Credentials>,
    max_body: usize,
    body_timeout: Duration,
    max_connections: usize,
}

/// Binds every configured listener. Fails if one cannot be bound (the
/// others are closed again, and a unix socket just created is removed).
pub async fn bind(cfg: ServerConfig) -> io::Result<Server> {
    let unix = match &cfg.unix {
        Some(spec) => {
            let (l, ino) = listen::bind_unix(spec)?;
            Some((l, spec.path.clone(), ino))
        }
        None => None,
    };
    let tcp = match &cfg.tcp {
        Some(spec) => match listen::bind_tcp(spec).await {
            Ok(l) => {
                let addr = l.local_addr()?;
                Some((l, addr))
            }
            Err(e) => {
                if let Some((_, path, ino)) = &unix {
                    remove_socket(path, *ino);
                }
                return Err(e);
            }
        },
        None => None,
    };
    // supervisord's CRIT line for every server without a username (inet
    // first, as supervisord makes them), before the daemon says it started.
    for (section, open) in [
        ("inet_http_server", tcp.is_some() && cfg.auth_tcp.is_none()),
        (
            "unix_http_server",
            unix.is_some() && cfg.auth_unix.is_none(),
        ),
    ] {
        if open {
            tracing::error!(
                target: crate::logs::daemon_log::CRITICAL_TARGET,
                "Server '{section}' running without any HTTP authentication checking"
            );
        }
    }
    Ok(Server {
        unix,
        tcp,
        auth_unix: cfg.auth_unix,
        auth_tcp: cfg.auth_tcp,
        max_body: cfg.max_body,
        body_timeout: cfg.body_timeout,
        max_connections: cfg.max_connections,
    })
}

/// Removes the socket file if it is still the one we created.
fn remove_socket(path: &PathBuf, ino: u64) {
    if std::fs::metadata(path)
        .map(|m| m.ino() == ino)
        .unwrap_or(false)
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Per-listener request context.
struct Ctx {
    dispatch: Arc<dyn Dispatch>,
    creds: Option<Credentials>,
    stop: watch::Receiver<bool>,
    max_body: usize,
    body_timeout: Duration,
}

impl Server {
    /// The unix socket's path, if one is bound.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.unix.as_ref().map(|(_, p, _)| p.as_path())
    }

    /// The TCP address actually bound (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(|(_, a)| *a)
    }

    /// The URLs clients can use, unix first: `unix:///path`, `http://host:port`.
    pub fn urls(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.unix_path() {
            out.push(format!("unix://{}", p.display()));
        }
        if let Some(a) = self.tcp_addr() {
            let host = if a.ip().is_unspecified() {
                "localhost".to_string()
            } else if a.is_ipv6() {
                format!("[{}]", a.ip())
            } else {
                a.ip().to_string()
            };
            out.push(format!("http://{host}:{}", a.port()));
        }
        out
    }

    /// Serves until `shutdown` completes, then stops accepting, lets open
    /// connections finish (log tails are ended) for a few seconds, and
    /// removes the unix socket file.
    pub async fn serve<F>(self, dispatch: Arc<dyn Dispatch>, shutdown: F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection task holds a sender; when all are dropped the
        // receiver sees the end.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let mut loops = tokio::task::JoinSet::new();
        let mut socket_file = None;
        if let Some((listener, path, ino)) = self.unix {
            let conns = Conns::new(self.max_connections, path.display().to_string());
            socket_file = Some((path, ino));
            let ctx = Arc::new(Ctx {
                dispatch: dispatch.clone(),
                creds: self.auth_unix,
                stop: stop_rx.clone(),
                max_body: self.max_body,
                body_timeout: self.body_timeout,
            });
            loops.spawn(accept_loop(
                Listener::Unix(listener),
                conns,
                ctx,
                stop_rx.clone(),
                alive_tx.clone(),
            ));
        }
        if let Some((listener, addr)) = self.tcp {
            let ctx = Arc::new(Ctx {
                dispatch,
                creds: self.auth_tcp,
                stop: stop_rx.clone(),
                max_body: self.max_body,
                body_timeout: self.body_timeout,
            });
            loops.spawn(accept_loop(
                Listener::Tcp(listener),
                Conns::new(self.max_connections, addr.to_string()),
                ctx,
                stop_rx.clone(),
                alive_tx.clone(),
            ));
        }
        drop(alive_tx);
        shutdown.await;
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        let _ = tokio::time::timeout(DRAIN, alive_rx.recv()).await;
        if let Some((path, ino)) = socket_file {
            remove_socket(&path, ino);
        }
        Ok(())
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

async fn accept_loop(
    listener: Listener,
    conns: Arc<Conns>,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = accept(&listener) => r,
        };
        let conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: free one if a connection
                // is idle, wait (longer each time), and say so now and then.
                let (wait, complaint) = conns.accept_failed(&e);
                if let Some(line) = complaint {
                    tracing::warn!("control server: {line}");
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
        };
        // No room: the longest idle connection gives way, or (all busy)
        // this one is closed at once.
        let admission = conns.admit();
        if let Some(line) = admission.complaint {
            tracing::warn!("control server: {line}");
        }
        let Some(admitted) = admission.admitted else {
            continue;
        };
        if admitted.gave_way {
            // Let the connection that gave way close its socket first, so
            // that a flood never holds more descriptors than the cap.
            tokio::task::yield_now().await;
        }
        let (ticket, closed) = (admitted.ticket, admitted.closed);
        match conn {
            Conn::Unix(s) => {
                tokio::spawn(serve_conn(s, ctx.clone(), alive.clone(), ticket, closed));
            }
            Conn::Tcp(s) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(serve_conn(s, ctx.clone(), alive.clone(), ticket, closed));
            }
        }
    }
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(l: &Listener) -> io::Result<Conn> {
    match l {
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
    }
}

async fn serve_conn<IO>(
    io: IO,
    ctx: Arc<Ctx>,
    _alive: mpsc::Sender<()>,
    ticket: Ticket,
    closed: tokio::sync::oneshot::Receiver<()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut stop = ctx.stop.clone();
    let svc_ctx = ctx.clone();
    let ticket = Arc::new(ticket);
    let svc = hyper::service::service_fn(move |req| {
        let ctx = svc_ctx.clone();
        let ticket = ticket.clone();
        async move { Ok::<_, Infallible>(handle(req, &ctx, &ticket).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // A client that shuts its write side after the request still gets
        // the answer.
        .half_close(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("control server: connection error: {e}");
            }
            return;
        }
        // Given way to a new connection (see `conns`).
        _ = closed => return,
        _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
    }
    let _ = tokio::time::timeout(DRAIN, conn).await;
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::full(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=utf-8"),
    );
    r
}

/// 401 with the challenge, and the connection closed after it, as
/// supervisord answers.
fn unauthorized() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(auth::REALM_HEADER),
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn handle(req: Request<Incoming>, ctx: &Ctx, ticket: &Ticket) -> Response<Body> {
    if let Some(creds) = &ctx.creds {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|h| h.as_bytes());
        if !auth::authorized(creds, given) {
            // Read (and drop) what the client is still sending, so that
            // closing the connection after the 401 cannot cut its send
            // short: it would see a broken pipe instead of the answer.
            let draining = discard(req.into_body(), ctx.max_body);
            let _ = tokio::time::timeout(ctx.body_timeout, draining).await;
            return unauthorized();
        }
    }
    // Authorized: the connection is busy until this answer is sent.
    let busy = ticket.busy();
    route(req, ctx).await.map(|body| body.holding(busy))
}

/// An authorized request, to its route.
async fn route(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path.starts_with("/RPC2") {
        if req.method() != Method::POST {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "XML-RPC needs POST\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        return rpc(req, ctx).await;
    }
    let target = if path == "/mainlogtail" {
        Some(None)
    } else {
        path.strip_prefix("/logtail/").map(Some)
    };
    match target {
        Some(t) if req.method() == Method::GET => logtail(t, ctx),
        Some(_) => plain(StatusCode::BAD_REQUEST, "log tails need GET\n"),
        None => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Reads and drops a request body, up to `limit` bytes.
async fn discard(mut body: Incoming, limit: usize) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(data.len());
            if seen > limit {
                return;
            }
        }
    }
}

async fn rpc(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let too_big = || {
        let mut r = plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > ctx.max_body as u64) {
        return too_big();
    }
    let reading = Limited::new(req.into_body(), ctx.max_body).collect();
    let body = match tokio::time::timeout(ctx.body_timeout, reading).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_big(),
        Ok(Err(e)) => return plain(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}\n")),
        Err(_) => {
            let mut r = plain(StatusCode::REQUEST_TIMEOUT, "request body too slow\n");
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let (method, params) = match xml::parse_call(&body) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("control server: bad XML-RPC request: {e}");
            return plain(StatusCode::BAD_REQUEST, &format!("{e}\n"));
        }
    };
    // The answer is written by a task of its own, as it is made; a large
    // one goes out in pieces as the client takes them (`answer.rs`).
    let (out, start) = AnswerWriter::new();
    tokio::spawn(ctx.dispatch.answer(method, params, out));
    let body = match start.await {
        Ok(Start::Whole(bytes)) => Body::full(bytes),
        Ok(Start::Pieces(rx)) => Body::Stream(rx),
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "no answer\n"),
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

/// `%xx` decoding of a URL path; `None` if the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `target`: `None` for the main log, `Some("name[/channel]")` otherwise.
fn logtail(target: Option<&str>, ctx: &Ctx) -> Response<Body> {
    let found = match target {
        None => ctx.dispatch.log_path(None, "stdout"),
        Some(raw) => {
            let Some(decoded) = percent_decode(raw) else {
                return plain(StatusCode::NOT_FOUND, "not found\n");
            };
            let decoded = decoded.trim_start_matches('/');
            let (name, channel) = decoded.split_once('/').unwrap_or((decoded, "stdout"));
            ctx.dispatch.log_path(Some(name), channel)
        }
    };
    let path = match found {
        Ok(p) => p,
        Err(f) if f.code == faults::BAD_NAME => {
            return plain(StatusCode::NOT_FOUND, &format!("{}\n", f.string));
        }
        Err(f) => return plain(StatusCode::GONE, &format!("{}\n", f.string)),
    };
    let mtime = std::fs::metadata(&path).and_then(|m| m.modified());
    let (mtime, rx) = match (mtime, tail::spawn(path, tail::HEAD, ctx.stop.clone())) {
        (Ok(mtime), Ok(rx)) => (mtime, rx),
        _ => return plain(StatusCode::GONE, "no log file\n"),
    };
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=utf-8"),
    );
    if let Some(v) = http_date(mtime).and_then(|d| HeaderValue::from_str(&d).ok()) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    r
}

/// An RFC 7231 date: `Tue, 24 Nov 2026 06:25:16 GMT`.
fn http_date(t: SystemTime) -> Option<String> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(t).format(&fmt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("a%3Ab/stderr").as_deref(),
            Some("a:b/stderr")
        );
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn dates() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t).unwrap(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
