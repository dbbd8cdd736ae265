//! End-to-end tests of the control transport: a real server on a temp-dir
//! unix socket and on 127.0.0.1:0, a fake dispatcher, and our client (plus
//! Python's stock `xmlrpc.client` when python3 is installed).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::*;
use crate::config::Credentials;

struct Fake {
    log: PathBuf,
}

impl Dispatch for Fake {
    fn call(&self, method: String, params: Vec<Value>) -> CallFuture {
        Box::pin(async move {
            match method.as_str() {
                "echo" => Ok(Value::Array(params)),
                "supervisor.getState" => Ok(Value::Struct(vec![
                    ("statecode".into(), Value::Int(1)),
                    ("statename".into(), Value::String("RUNNING".into())),
                ])),
                "big" => Ok(Value::Int(1 << 40)),
                "cr" => Ok(Value::String("a\r\nb\u{e9}".into())),
                "fail" => Err(Fault::new(faults::BAD_NAME, "nope")),
                _ => Err(Fault::new(faults::UNKNOWN_METHOD, "")),
            }
        })
    }

    fn log_path(&self, name: Option<&str>, channel: &str) -> Result<PathBuf, Fault> {
        match (name, channel) {
            (None, _) | (Some("prog"), "stdout") => Ok(self.log.clone()),
            (Some("prog"), _) => Err(Fault::new(faults::NO_FILE, "no stderr log")),
            (Some(n), _) => Err(Fault::new(faults::BAD_NAME, n)),
        }
    }
}

struct Running {
    dir: tempfile::TempDir,
    unix_url: String,
    tcp_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server did not stop")
            .unwrap()
            .unwrap();
    }
}

async fn start(auth: Option<Credentials>, max_body: usize) -> Running {
    start_with(auth, max_body, Duration::from_secs(30)).await
}

async fn start_with(auth: Option<Credentials>, max_body: usize, body_timeout: Duration) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("prog.log");
    std::fs::write(&log, b"").unwrap();
    let cfg = ServerConfig {
        unix: Some(UnixListenSpec {
            path: dir.path().join("sluice.sock"),
            mode: 0o700,
            chown: None,
        }),
        tcp: Some("127.0.0.1:0".into()),
        auth_unix: auth.clone(),
        auth_tcp: auth,
        max_body,
        body_timeout,
        ..ServerConfig::default()
    };
    let server = bind(cfg).await.unwrap();
    let urls = server.urls();
    assert_eq!(urls.len(), 2);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(Arc::new(Fake { log }), async {
        let _ = rx.await;
    }));
    Running {
        dir,
        unix_url: urls[0].clone(),
        tcp_url: urls[1].clone(),
        stop: Some(tx),
        task,
    }
}

fn creds(password: &str) -> Credentials {
    Credentials {
        username: "admin".into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn calls_and_faults_on_both_transports() {
    let srv = start(None, server::DEFAULT_MAX_BODY).await;
    assert!(srv.unix_url.starts_with("unix:///"));
    assert!(srv.tcp_url.starts_with("http://127.0.0.1:"));
    for url in [&srv.unix_url, &srv.tcp_url] {
        let c = Client::new(url, None, None).unwrap();
        let params = vec![
            Value::String("a<&>\u{1F600}".into()),
            Value::Int(-3),
            Value::Nil,
        ];
        let v = c.call("echo", params.clone()).await.unwrap();
        assert_eq!(v, Value::Array(params));
        let st = c.call("supervisor.getState", vec![]).await.unwrap();
        assert_eq!(st.get("statename").and_then(Value::as_str), Some("RUNNING"));
        match c.call("fail", vec![]).await {
            Err(ClientError::Fault(f)) => {
                assert_eq!(f.code, faults::BAD_NAME);
                assert_eq!(f.string, "BAD_NAME: nope");
            }
            other => panic!("expected fault, got {other:?}"),
        }
    }
    let sock = srv.dir.path().join("sluice.sock");
    assert!(sock.exists());
    srv.stop().await;
    // The socket file is removed on shutdown.
    assert!(!sock.exists());
}

#[tokio::test]
async fn auth_plain_and_sha() {
    // sha1("secret")
    let sha = "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4";
    for stored in ["secret", sha] {
        let srv = start(Some(creds(stored)), server::DEFAULT_MAX_BODY).await;
        for url in [&srv.unix_url, &srv.tcp_url] {
            let ok = Client::new(url, Some("admin".into()), Some("secret".into())).unwrap();
            assert!(ok.call("echo", vec![]).await.is_ok());
            let none = Client::new(url, None, None).unwrap();
            assert!(matches!(
                none.call("echo", vec![]).await,
                Err(ClientError::Unauthorized)
            ));
            let wrong = Client::new(url, Some("admin".into()), Some("x".into())).unwrap();
            assert!(matches!(
                wrong.call("echo", vec![]).await,
                Err(ClientError::Unauthorized)
            ));
            assert!(matches!(
                none.stream_get("/mainlogtail").await,
                Err(ClientError::Unauthorized)
            ));
        }
        // The raw 401 carries the realm header.
        let raw = raw_request(&srv.tcp_url, "GET /RPC2 HTTP/1.0\r\n\r\n").await;
        assert!(
            raw.starts_with("HTTP/1.0 401") || raw.starts_with("HTTP/1.1 401"),
            "{raw}"
        );
        assert!(
            raw.contains("www-authenticate: Basic realm=\"default\""),
            "{raw}"
        );
        srv.stop().await;
    }
}

/// Sends raw bytes over TCP and returns the whole answer (lowercase headers
/// as hyper writes them).
async fn raw_request(tcp_url: &str, req: &str) -> String {
    let addr = tcp_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn post(body: &str) -> String {
    format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn malformed_and_oversized_requests() {
    let srv = start(None, 4096).await;
    let raw = raw_request(&srv.tcp_url, &post("<methodCall><oops")).await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    let raw = raw_request(&srv.tcp_url, &post("<methodCall></methodCall>")).await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    // Declared too large.
    let big = "x".repeat(5000);
    let raw = raw_request(&srv.tcp_url, &post(&big)).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    // Chunked, no length declared, too large.
    let chunk = "y".repeat(3000);
    let req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len(),
        chunk.len()
    );
    let raw = raw_request(&srv.tcp_url, &req).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    // Wrong method and unknown path.
    let raw = raw_request(
        &srv.tcp_url,
        "GET /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    let raw = raw_request(
        &srv.tcp_url,
        "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    // Unknown method is the dispatcher's fault, HTTP 200.
    let body = xml::write_call("no.such", &[]);
    let raw = raw_request(&srv.tcp_url, &post(&body)).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("<int>1</int>"), "{raw}");
    // Still serving afterwards.
    let c = Client::new(&srv.tcp_url, None, None).unwrap();
    assert!(c.call("echo", vec![]).await.is_ok());
    srv.stop().await;
}

#[tokio::test]
async fn stalled_body_gets_408_and_others_are_served_meanwhile() {
    let srv = start_with(None, 4096, Duration::from_millis(300)).await;
    let addr = srv.tcp_url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<method")
        .await
        .unwrap();
    // While it stalls, another client is answered.
    let c = Client::new(&srv.tcp_url, None, None).unwrap();
    assert!(c.call("echo", vec![]).await.is_ok());
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server gives up on the stalled body")
        .unwrap();
    let raw = String::from_utf8_lossy(&out);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("connection: close"),
        "{raw}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn unauthorized_request_body_is_read_before_the_401() {
    let srv = start(Some(creds("pw")), 4 << 20).await;
    // The unix socket: its buffers are small, so a body the server does
    // not read cannot all be sent.
    let path = srv.unix_url.trim_start_matches("unix://").to_string();
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    let body = vec![b'x'; 3 << 20];
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The whole body is taken: no reset while the client still sends.
    s.write_all(&body).await.expect("the server reads the body");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8_lossy(&out);
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(raw.contains("Basic realm=\"default\""), "{raw}");
    srv.stop().await;
}

#[tokio::test]
async fn logtail_streams_growing_file() {
    let srv = start(None, server::DEFAULT_MAX_BODY).await;
    let log = srv.dir.path().join("prog.log");
    std::fs::write(&log, "old line\n".repeat(200)).unwrap();
    let c = Client::new(&srv.unix_url, None, None).unwrap();
    let mut s = c.stream_get("/logtail/prog").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 1024 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), s.next_chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.extend_from_slice(&chunk);
    }
    assert_eq!(
        got.len(),
        1024,
        "the first chunk is the file's last 1024 bytes"
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"fresh\n").unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), s.next_chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&chunk[..], b"fresh\n");

    // Errors: unknown name 404, no file 410, main log works.
    match c.stream_get("/logtail/ghost/stdout").await {
        Err(ClientError::Http { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    match c.stream_get("/logtail/prog/stderr").await {
        Err(ClientError::Http { status: 410, .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut main = c.stream_get("/mainlogtail").await.unwrap();
    assert!(main.next_chunk().await.unwrap().is_ok());

    // Shutdown ends open tails instead of hanging.
    srv.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = s.next_chunk().await {}
    })
    .await;
    assert!(end.is_ok());
}

#[tokio::test]
async fn connect_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("unix://{}/missing.sock", dir.path().display());
    let c = Client::new(&url, None, None).unwrap();
    let e = c.call("echo", vec![]).await.unwrap_err();
    assert!(e.is_connect());
    assert_eq!(e.to_string(), format!("{url} no such file"));

    // A stale socket file: nobody listening.
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let url = format!("unix://{}", path.display());
    let e = Client::new(&url, None, None)
        .unwrap()
        .call("echo", vec![])
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), format!("{url} refused connection"));
}

#[tokio::test]
async fn second_server_on_same_socket_is_refused() {
    let srv = start(None, server::DEFAULT_MAX_BODY).await;
    let cfg = ServerConfig {
        unix: Some(UnixListenSpec {
            path: srv.dir.path().join("sluice.sock"),
            mode: 0o700,
            chown: None,
        }),
        ..ServerConfig::default()
    };
    let e = bind(cfg).await.err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    // And the first one still answers.
    let c = Client::new(&srv.unix_url, None, None).unwrap();
    assert!(c.call("echo", vec![]).await.is_ok());
    srv.stop().await;
}

/// Python's stock client (what supervisorctl uses) must read our answers.
#[tokio::test]
async fn python_xmlrpc_client_accepts_responses() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 not installed; skipping");
        return;
    }
    let srv = start(Some(creds("pw")), server::DEFAULT_MAX_BODY).await;
    let addr = srv.tcp_url.trim_start_matches("http://").to_string();
    let script = r#"
import sys, xmlrpc.client
p = xmlrpc.client.ServerProxy('http://admin:pw@' + sys.argv[1] + '/RPC2', allow_none=True)
args = ['a<&>\u2603\n', -5, 1.5, True, {'k': [1, None]}, xmlrpc.client.Binary(b'\x00\xff'), '']
r = p.echo(*args)
assert r == args, r
assert p.big() == 2**40
assert p.cr() == 'a\r\nb\u00e9', repr(p.cr())
assert p.supervisor.getState() == {'statecode': 1, 'statename': 'RUNNING'}
try:
    p.fail()
    raise SystemExit('no fault')
except xmlrpc.client.Fault as f:
    assert f.faultCode == 10 and f.faultString == 'BAD_NAME: nope', f
bad = xmlrpc.client.ServerProxy('http://' + sys.argv[1] + '/RPC2')
try:
    bad.echo()
    raise SystemExit('no 401')
except xmlrpc.client.ProtocolError as e:
    assert e.errcode == 401, e
print('ok')
"#;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&addr)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "ok");
    srv.stop().await;
}

/// supervisorctl's `tail -f` client: HTTP/1.1, an empty `Host` over the unix
/// socket, an extra CRLF after the headers, and it parses chunked bodies.
#[tokio::test]
async fn supervisorctl_style_tail_request() {
    let srv = start(None, server::DEFAULT_MAX_BODY).await;
    std::fs::write(srv.dir.path().join("prog.log"), b"hello\n").unwrap();
    let mut s = tokio::net::UnixStream::connect(srv.dir.path().join("sluice.sock"))
        .await
        .unwrap();
    s.write_all(
        b"GET /logtail/prog/stdout HTTP/1.1\r\nHost: \r\nAccept-Encoding: chunked\r\n\
          Accept: */*\r\nUser-agent: Supervisor HTTP Client\r\n\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("hello\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(
        text.contains("content-type: text/plain;charset=utf-8"),
        "{text}"
    );
    assert!(text.contains("last-modified: "), "{text}");
    drop(s);
    srv.stop().await;
}
