//! The XML-RPC client behind `sluice ctl`: one HTTP/1.1 connection per call
//! to `unix:///path/to.sock` or `http://host[:port]` (supervisorctl's
//! `serverurl` forms), Basic auth when a username and password are given, and streaming
//! GETs for `tail -f` over `/logtail/...`. It talks to sluice and to a stock
//! supervisord alike.

use std::fmt;
use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;

use super::value::{Fault, Value};
use super::{auth, xml};

/// The most a response body may hold (a `readLog` answer can be large).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// Why a call did not produce a value.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered with an XML-RPC fault.
    Fault(Fault),
    /// The server could not be reached (no socket file, refused, ...).
    /// `ctl` reports these and exits 4.
    Connect { url: String, error: io::Error },
    /// HTTP 401: credentials missing or wrong.
    Unauthorized,
    /// Any other non-200 HTTP status.
    Http { status: u16, reason: String },
    /// A broken connection or an answer that is not XML-RPC.
    Protocol(String),
    /// The server URL is not `unix://...` or `http://...`.
    BadUrl(String),
}

impl ClientError {
    /// Whether the daemon could not be reached at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

impl fmt::Display for ClientError {
    /// Connection errors read the way supervisorctl prints them:
    /// `unix:///x.sock no such file`, `http://h:1 refused connection`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Fault(fault) => write!(f, "{}", fault.string),
            ClientError::Connect { url, error } => match error.kind() {
                io::ErrorKind::NotFound => write!(f, "{url} no such file"),
                io::ErrorKind::ConnectionRefused => write!(f, "{url} refused connection"),
                io::ErrorKind::PermissionDenied => write!(f, "{url} permission denied"),
                _ => write!(f, "{url} {error}"),
            },
            ClientError::Unauthorized => write!(f, "Server requires authentication"),
            ClientError::Http { status, reason } => write!(f, "HTTP error {status} {reason}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
            ClientError::BadUrl(u) => write!(
                f,
                "bad server URL {u:?}: use unix:///path/to.sock or http://host:port"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

#[derive(Debug, Clone)]
enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, also the Host header.
    Tcp(String),
}

/// A client for one server URL.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    endpoint: Endpoint,
    auth: Option<HeaderValue>,
}

impl Client {
    /// `serverurl` is `unix:///path` or `http://host[:port][/...]` (port
    /// 80 when absent; a path is ignored, as supervisorctl does). Basic auth
    /// is sent when both `username` and `password` are given.
    pub fn new(
        serverurl: &str,
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Client, ClientError> {
        let bad = || ClientError::BadUrl(serverurl.to_string());
        let endpoint = if let Some(path) = serverurl.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad());
            }
            Endpoint::Unix(PathBuf::from(path))
        } else if let Some(rest) = serverurl.strip_prefix("http://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            if authority.is_empty() {
                return Err(bad());
            }
            let has_port = match authority.rsplit_once(':') {
                Some((_, p)) if !authority.ends_with(']') => {
                    p.parse::<u16>().map_err(|_| bad())?;
                    true
                }
                _ => false,
            };
            if has_port {
                Endpoint::Tcp(authority.to_string())
            } else {
                Endpoint::Tcp(format!("{authority}:80"))
            }
        } else {
            return Err(bad());
        };
        // Like supervisorctl, credentials go out only when both are set.
        let auth = match (username, password) {
            (Some(u), Some(p)) => {
                let v = auth::basic_header(&u, &p);
                Some(HeaderValue::from_str(&v).map_err(|_| bad())?)
            }
            _ => None,
        };
        Ok(Client {
            url: serverurl.to_string(),
            endpoint,
            auth,
        })
    }

    /// The server URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method`; a fault comes back as [`ClientError::Fault`].
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        let body = xml::write_call(method, &params);
        let mut req = self.request(Method::POST, "/RPC2", Full::new(Bytes::from(body)))?;
        req.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        let (resp, conn) = self.send(req).await?;
        check_status(&resp)?;
        let collected = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(format!("reading the response: {e}")));
        conn.abort();
        let bytes = collected?.to_bytes();
        match xml::parse_response(&bytes) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(f)) => Err(ClientError::Fault(f)),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// Starts a streaming GET (e.g. `/logtail/name/stderr`, `/mainlogtail`)
    /// and returns the body as it arrives. Non-200 answers are errors
    /// (supervisord: 404 no such process, 410 no log file).
    pub async fn stream_get(&self, path: &str) -> Result<LogStream, ClientError> {
        let req = self.request(Method::GET, path, Full::new(Bytes::new()))?;
        let (resp, conn) = self.send(req).await?;
        if let Err(e) = check_status(&resp) {
            conn.abort();
            return Err(e);
        }
        Ok(LogStream {
            body: resp.into_body(),
            conn,
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Full<Bytes>,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = path
            .parse()
            .map_err(|e| ClientError::Protocol(format!("bad request path {path:?}: {e}")))?;
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "localhost",
            Endpoint::Tcp(a) => a.as_str(),
        };
        let headers = req.headers_mut();
        if let Ok(h) = HeaderValue::from_str(host) {
            headers.insert(header::HOST, h);
        }
        headers.insert(header::USER_AGENT, HeaderValue::from_static("sluice"));
        if let Some(a) = &self.auth {
            headers.insert(header::AUTHORIZATION, a.clone());
        }
        Ok(req)
    }

    async fn send(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, JoinHandle<()>), ClientError> {
        let connect_err = |error| ClientError::Connect {
            url: self.url.clone(),
            error,
        };
        match &self.endpoint {
            Endpoint::Unix(p) => {
                let s = UnixStream::connect(p).await.map_err(connect_err)?;
                exchange(s, req).await
            }
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a.as_str()).await.map_err(connect_err)?;
                let _ = s.set_nodelay(true);
                exchange(s, req).await
            }
        }
    }
}

fn check_status(resp: &Response<Incoming>) -> Result<(), ClientError> {
    match resp.status() {
        StatusCode::OK => Ok(()),
        StatusCode::UNAUTHORIZED => Err(ClientError::Unauthorized),
        s => Err(ClientError::Http {
            status: s.as_u16(),
            reason: s.canonical_reason().unwrap_or("").to_string(),
        }),
    }
}

/// Sends one request on a fresh connection; the returned task drives the
/// connection until the response body is done.
async fn exchange<IO>(
    io: IO,
    req: Request<Full<Bytes>>,
) -> Result<(Response<Incoming>, JoinHandle<()>), ClientError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let proto = |e: hyper::Error| ClientError::Protocol(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(proto)?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    match sender.send_request(req).await {
        Ok(resp) => Ok((resp, task)),
        Err(e) => {
            task.abort();
            Err(proto(e))
        }
    }
}

/// A response body arriving in chunks (a followed log).
#[derive(Debug)]
pub struct LogStream {
    body: Incoming,
    conn: JoinHandle<()>,
}

impl LogStream {
    /// The next chunk; `None` when the server ends the stream.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Some(Ok(data)),
                    _ => {}
                },
                Err(e) => return Some(Err(ClientError::Protocol(e.to_string()))),
            }
        }
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Client::new("unix:///tmp/x.sock", None, None).unwrap();
        assert!(matches!(c.endpoint, Endpoint::Unix(ref p) if p == &PathBuf::from("/tmp/x.sock")));
        let c = Client::new("http://localhost:9001", Some("u".into()), None).unwrap();
        assert!(matches!(c.endpoint, Endpoint::Tcp(ref a) if a == "localhost:9001"));
        // A username without a password sends nothing, as supervisorctl.
        assert!(c.auth.is_none());
        let c = Client::new(
            "http://localhost:9001",
            Some("u".into()),
            Some(String::new()),
        )
        .unwrap();
        assert!(c.auth.is_some());
        let c = Client::new("http://127.0.0.1/RPC2", None, None).unwrap();
        assert!(matches!(c.endpoint, Endpoint::Tcp(ref a) if a == "127.0.0.1:80"));
        let c = Client::new("http://[::1]:9001", None, None).unwrap();
        assert!(matches!(c.endpoint, Endpoint::Tcp(ref a) if a == "[::1]:9001"));
        for bad in [
            "",
            "unix://",
            "http://",
            "ftp://x",
            "http://h:x",
            "/tmp/x.sock",
        ] {
            assert!(
                matches!(Client::new(bad, None, None), Err(ClientError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn connect_messages() {
        let e = ClientError::Connect {
            url: "unix:///tmp/s.sock".into(),
            error: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(e.to_string(), "unix:///tmp/s.sock no such file");
        let e = ClientError::Connect {
            url: "http://localhost:9001".into(),
            error: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(e.to_string(), "http://localhost:9001 refused connection");
        assert!(e.is_connect());
    }
}
