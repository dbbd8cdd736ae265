//! The control server on TCP (`[inet_http_server]`), Basic auth on both
//! transports, the unix socket's chmod/chown, and a server that survives
//! hostile requests. The stock Python `supervisorctl` 4.3 is the peer
//! ($SLUICE_SUPERVISORCTL, else `<repo>/.venv/bin/supervisorctl`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::{Daemon, wait_for};

const USER: &str = "admin";
const PASS: &str = "s3cret:pw";
/// `{SHA}` + the hex SHA-1 of "hashed-pw".
const SHA_PASS: &str = "{SHA}c0b0239a99b06bf5e666e7662a61640194dada75";

/// The stock supervisorctl; a missing one is a failure, not a skip.
fn supervisorctl() -> PathBuf {
    let path = match std::env::var_os("SLUICE_SUPERVISORCTL") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/supervisorctl"),
    };
    assert!(
        path.exists(),
        "the stock supervisorctl is not at {}: run scripts/test.sh",
        path.display()
    );
    path
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// How a test daemon's control plane is set up.
struct Setup<'a> {
    /// `[inet_http_server] username/password`.
    inet_auth: Option<(&'a str, &'a str)>,
    /// `[unix_http_server] username/password`.
    unix_auth: Option<(&'a str, &'a str)>,
    /// Extra `[unix_http_server]` lines (chmod, chown).
    unix_extra: &'a str,
    /// `[supervisorctl]` serverurl: TCP when true, else the unix socket.
    ctl_tcp: bool,
    /// `[supervisorctl]` username/password.
    ctl_auth: Option<(&'a str, &'a str)>,
}

/// A config with both transports and one program, `hello`, that prints a
/// line and sleeps.
fn config(dir: &Path, port: u16, s: &Setup) -> String {
    let d = dir.display();
    let auth = |a: Option<(&str, &str)>| match a {
        Some((u, p)) => format!("username = {u}\npassword = {p}\n"),
        None => String::new(),
    };
    let url = if s.ctl_tcp {
        format!("http://127.0.0.1:{port}")
    } else {
        format!("unix://{d}/sluice.sock")
    };
    format!(
        "[supervisord]\nlogfile = {d}/sluice.log\npidfile = {d}/sluice.pid\nchildlogdir = {d}\n\
         loglevel = debug\n\n\
         [unix_http_server]\nfile = {d}/sluice.sock\n{}{}\n\
         [inet_http_server]\nport = 127.0.0.1:{port}\n{}\n\
         [supervisorctl]\nserverurl = {url}\n{}\n\
         [program:hello]\ncommand = sh -c 'echo hello-out; exec sleep 1000'\n\
         startsecs = 0\nstdout_logfile = {d}/hello.out\n",
        s.unix_extra,
        auth(s.unix_auth),
        auth(s.inet_auth),
        auth(s.ctl_auth),
    )
}

/// A daemon on `config`, answering its own `[supervisorctl]` settings.
fn start(s: &Setup) -> (Daemon, u16) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    std::fs::write(dir.path().join("sluice.conf"), config(dir.path(), port, s))
        .expect("write config");
    let mut d = Daemon { dir, child: None };
    d.spawn();
    (d, port)
}

/// Writes another config for clients next to the daemon's: same server,
/// other `[supervisorctl]` settings.
fn client_conf(d: &Daemon, port: u16, name: &str, s: &Setup) -> PathBuf {
    let path = d.path(name);
    std::fs::write(&path, config(d.dir.path(), port, s)).expect("write client config");
    path
}

/// What one client printed and how it exited.
#[derive(Debug, PartialEq)]
struct Said {
    code: Option<i32>,
    stdout: String,
}

fn said(out: Output) -> Said {
    Said {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn py(conf: &Path, args: &[&str]) -> Said {
    said(
        Command::new(supervisorctl())
            .arg("-c")
            .arg(conf)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run supervisorctl"),
    )
}

fn rs(conf: &Path, args: &[&str]) -> Said {
    said(
        Command::new(common::sluice())
            .args(["ctl", "-c"])
            .arg(conf)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run sluice ctl"),
    )
}

/// Every run of digits as `#` (pids and uptimes differ between two runs).
fn digits(s: &str) -> String {
    let mut out = String::new();
    let mut prev = false;
    for c in s.chars() {
        let d = c.is_ascii_digit();
        if !d {
            out.push(c);
        } else if !prev {
            out.push('#');
        }
        prev = d;
    }
    out
}

fn basic(user: &str, pass: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Authorization: Basic {token}\r\n")
}

/// Where a raw request goes.
#[derive(Clone)]
enum To {
    Tcp(u16),
    Unix(PathBuf),
}

/// A stream to the server with a generous read timeout.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn open(to: &To) -> Stream {
        let timeout = Some(common::DEADLINE);
        match to {
            To::Tcp(port) => {
                let s = TcpStream::connect(("127.0.0.1", *port)).expect("connect tcp");
                s.set_read_timeout(timeout).expect("timeout");
                Stream::Tcp(s)
            }
            To::Unix(path) => {
                let s = UnixStream::connect(path).expect("connect unix");
                s.set_read_timeout(timeout).expect("timeout");
                Stream::Unix(s)
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes),
            Stream::Unix(s) => s.write_all(bytes),
        }
    }

    fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }

    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    /// Everything until the server closes (or the read times out, which
    /// fails the test).
    fn read_all(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match self.read_some(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // A server that closes while we still send: what came is the answer.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Sends `bytes` (the server may stop reading early), closes our side and
/// returns the whole answer.
fn raw(to: &To, bytes: &[u8]) -> String {
    let mut s = Stream::open(to);
    let _ = s.send(bytes);
    s.shutdown_write();
    s.read_all()
}

fn post(auth: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n{auth}\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn call_xml(method: &str, params: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName>\
         <params>{params}</params></methodCall>"
    )
    .into_bytes()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// The daemon is still running and answers.
fn still_serving(d: &mut Daemon) {
    let child = d.child.as_mut().expect("daemon started");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the daemon exited"
    );
    let out = d.ctl(&["status"]);
    // 0, or 3 while hello is not RUNNING yet: either way an answer.
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
}

#[test]
fn stock_supervisorctl_over_tcp_with_auth() {
    let setup = Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, PASS)),
    };
    let (mut d, port) = start(&setup);
    let conf = d.conf();
    d.wait_state("hello", "RUNNING");
    // With credentials the log has no warning about them.
    assert!(
        !d.log()
            .contains("Server 'inet_http_server' running without")
    );

    let st = py(&conf, &["status"]);
    assert_eq!(st.code, Some(0), "{st:?}");
    assert_eq!(
        digits(&st.stdout),
        "hello                            RUNNING   pid #, uptime #:#:#\n"
    );
    assert_eq!(digits(&rs(&conf, &["status"]).stdout), digits(&st.stdout));

    // pid: the daemon's, and the child's, as sluice sees them.
    let daemon_pid = py(&conf, &["pid"]);
    assert_eq!(daemon_pid.stdout.trim(), d.pid().to_string());
    let child = py(&conf, &["pid", "hello"]);
    assert_eq!(child.stdout.trim(), d.child_pid("hello").to_string());
    assert_eq!(rs(&conf, &["pid", "hello"]), child);

    let tail = py(&conf, &["tail", "hello"]);
    assert_eq!(tail.code, Some(0), "{tail:?}");
    // supervisorctl adds a newline after the tail.
    assert_eq!(tail.stdout, "hello-out\n\n");
    assert_eq!(rs(&conf, &["tail", "hello"]), tail);

    let stop = py(&conf, &["stop", "hello"]);
    assert_eq!(
        stop,
        Said {
            code: Some(0),
            stdout: "hello: stopped\n".into()
        }
    );
    let st = py(&conf, &["status", "hello"]);
    assert_eq!(st.code, Some(3));
    assert!(st.stdout.contains("STOPPED"), "{st:?}");
    assert_eq!(
        digits(&rs(&conf, &["status", "hello"]).stdout),
        digits(&st.stdout)
    );

    let startp = py(&conf, &["start", "hello"]);
    assert_eq!(
        startp,
        Said {
            code: Some(0),
            stdout: "hello: started\n".into()
        }
    );
    assert_eq!(d.state("hello"), "RUNNING");
    assert_eq!(
        rs(&conf, &["start", "hello"]),
        py(&conf, &["start", "hello"])
    );

    // Both transports at once: the unix socket (no auth configured there)
    // answers the same daemon.
    let unix = client_conf(
        &d,
        port,
        "unix.conf",
        &Setup {
            ctl_tcp: false,
            ctl_auth: None,
            ..setup
        },
    );
    let over_unix = py(&unix, &["pid"]);
    assert_eq!(over_unix.stdout.trim(), d.pid().to_string());
    assert_eq!(rs(&unix, &["pid"]), over_unix);

    let before = d.child_pid("hello");
    let restart = py(&conf, &["restart", "hello"]);
    assert_eq!(restart.stdout, "hello: stopped\nhello: started\n");
    assert_ne!(d.child_pid("hello"), before);
    assert_eq!(rs(&conf, &["restart", "hello"]), restart);
    let version = py(&conf, &["version"]);
    assert_eq!(version.code, Some(0));
    assert_eq!(rs(&conf, &["version"]), version);

    // reload over TCP: the daemon binds the same port again.
    let reload = py(&conf, &["reload"]);
    assert_eq!(reload.stdout, "Restarted supervisord\n", "{reload:?}");
    wait_for("the daemon to answer on TCP after reload", || {
        let p = py(&conf, &["pid"]);
        p.code == Some(0) && p.stdout.trim() == d.pid().to_string()
    });

    // shutdown over TCP with auth ends the daemon.
    let down = py(&conf, &["shutdown"]);
    assert_eq!(down.stdout, "Shut down\n", "{down:?}");
    assert!(d.wait_exit().success());
}

#[test]
fn sha_hashed_password() {
    let setup = Setup {
        inet_auth: Some((USER, SHA_PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, "hashed-pw")),
    };
    let (d, port) = start(&setup);
    let conf = d.conf();
    let py_pid = py(&conf, &["pid"]);
    assert_eq!(py_pid.code, Some(0));
    assert_eq!(py_pid.stdout.trim(), d.pid().to_string());
    assert_eq!(rs(&conf, &["pid"]), py_pid);

    // The stored digest is not itself a password.
    let digest_as_pw = client_conf(
        &d,
        port,
        "digest.conf",
        &Setup {
            ctl_auth: Some((USER, &SHA_PASS[5..])),
            ..setup
        },
    );
    let py_bad = py(&digest_as_pw, &["pid"]);
    assert_eq!(py_bad.code, Some(1));
    assert!(
        py_bad
            .stdout
            .starts_with("Server requires authentication\n")
    );
    let to = To::Tcp(port);
    let answer = raw(
        &to,
        &post(
            &basic(USER, &SHA_PASS[5..]),
            &call_xml("supervisor.getPID", ""),
        ),
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 401 Unauthorized");
    let answer = raw(
        &to,
        &post(
            &basic(USER, "hashed-pw"),
            &call_xml("supervisor.getPID", ""),
        ),
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    assert!(
        answer.contains(&format!("<int>{}</int>", d.pid())),
        "{answer}"
    );
}

/// supervisorctl prints "Server requires authentication" and exits 1; it
/// then retries the command once, and prints that second failure as a
/// Python traceback line, a quirk `sluice ctl` does not copy. The first
/// line and the exit code must match.
#[test]
fn wrong_credentials_fail_like_supervisorctl() {
    let setup = Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, "wrong")),
    };
    let (d, port) = start(&Setup {
        ctl_auth: Some((USER, PASS)),
        ..setup
    });
    let wrong = client_conf(&d, port, "wrong.conf", &setup);
    let none = client_conf(
        &d,
        port,
        "none.conf",
        &Setup {
            ctl_auth: None,
            ..setup
        },
    );
    let other_user = client_conf(
        &d,
        port,
        "other.conf",
        &Setup {
            ctl_auth: Some(("root", PASS)),
            ..setup
        },
    );
    d.wait_state("hello", "RUNNING");
    let before = d.child_pid("hello");
    assert!(before > 0);
    for conf in [&wrong, &none, &other_user] {
        for args in [
            &["status"][..],
            &["pid"],
            &["stop", "hello"],
            &["tail", "hello"],
        ] {
            let p = py(conf, args);
            let r = rs(conf, args);
            assert_eq!(p.code, Some(1), "supervisorctl {args:?}: {p:?}");
            assert_eq!(r.code, p.code, "sluice ctl {args:?}: {r:?}");
            let first = p.stdout.lines().next().unwrap_or("");
            assert_eq!(first, "Server requires authentication");
            assert_eq!(r.stdout, "Server requires authentication\n");
        }
    }
    // Nothing ran: the process was never stopped.
    assert_eq!(d.child_pid("hello"), before);

    // The command-line flags override the config file's settings.
    let url = format!("http://127.0.0.1:{port}");
    let flags = |user: &str, pass: &str| {
        let out = Command::new(common::sluice())
            .args(["ctl", "-c"])
            .arg(&wrong)
            .args(["-s", &url, "-u", user, "-p", pass, "pid"])
            .output()
            .expect("run sluice ctl");
        said(out)
    };
    let good = flags(USER, PASS);
    assert_eq!(good.code, Some(0), "{good:?}");
    assert_eq!(good.stdout.trim(), d.pid().to_string());
    let pyflags = said(
        Command::new(supervisorctl())
            .arg("-c")
            .arg(&wrong)
            .args(["-s", &url, "-u", USER, "-p", PASS, "pid"])
            .output()
            .expect("run supervisorctl"),
    );
    assert_eq!(good, pyflags);
    // Key by key: `-u` alone takes the password from the config file.
    let user_only = |conf: &Path| {
        let args = ["-u", USER, "pid"];
        let (r, p) = (rs(conf, &args), py(conf, &args));
        assert_eq!(r.code, p.code, "{}", conf.display());
        assert_eq!(r.stdout.lines().next(), p.stdout.lines().next());
        r
    };
    let r = user_only(&other_user);
    assert_eq!(r.stdout.trim(), d.pid().to_string());
    assert_eq!(user_only(&wrong).code, Some(1));
    let bad = flags(USER, "nope");
    assert_eq!(
        bad,
        Said {
            code: Some(1),
            stdout: "Server requires authentication\n".into()
        }
    );
}

#[test]
fn raw_http_without_valid_credentials_gets_401_and_nothing_runs() {
    let (d, port) = start(&Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, PASS)),
    });
    d.wait_state("hello", "RUNNING");
    let before = d.child_pid("hello");
    let to = To::Tcp(port);
    let stop = call_xml(
        "supervisor.stopProcess",
        "<param><value><string>hello</string></value></param>",
    );
    for auth in [
        String::new(),
        basic(USER, "wrong"),
        basic("nobody", PASS),
        "Authorization: Basic !!!not-base64\r\n".to_string(),
        "Authorization: Bearer abc\r\n".to_string(),
        format!("Authorization: Basic {}\r\n", "YWRtaW4="), // "admin", no colon
    ] {
        let answer = raw(&to, &post(&auth, &stop));
        let (head, body) = answer.split_once("\r\n\r\n").expect("a full answer");
        assert_eq!(status_line(head), "HTTP/1.1 401 Unauthorized", "{auth}");
        assert!(
            head.to_ascii_lowercase()
                .contains("\r\nwww-authenticate: basic realm=\"default\""),
            "{head}"
        );
        assert_eq!(body, "", "{auth}");
    }
    // Log tails too.
    let answer = raw(
        &to,
        b"GET /logtail/hello HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 401 Unauthorized");
    // None of it stopped the process.
    assert_eq!(d.state("hello"), "RUNNING");
    assert_eq!(d.child_pid("hello"), before);

    // With the right credentials the same request runs.
    let answer = raw(&to, &post(&basic(USER, PASS), &stop));
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK", "{answer}");
    assert!(answer.contains("<boolean>1</boolean>"), "{answer}");
    assert_eq!(d.state("hello"), "STOPPED");
}

#[test]
fn logtail_streams_over_tcp_with_auth() {
    let (d, port) = start(&Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, PASS)),
    });
    wait_for("hello's first line", || {
        std::fs::read_to_string(d.path("hello.out")).is_ok_and(|s| s.contains("hello-out"))
    });
    let mut s = Stream::open(&To::Tcp(port));
    let req = format!(
        "GET /logtail/hello/stdout HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        basic(USER, PASS)
    );
    s.send(req.as_bytes()).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("hello-out") {
        let n = s.read_some(&mut buf).expect("read the tail");
        assert!(
            n > 0,
            "the tail ended early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 OK\r\n"));

    // The stock supervisorctl's `tail -f` streams the same over TCP, with
    // its credentials.
    let mut child = Command::new(supervisorctl())
        .arg("-c")
        .arg(d.conf())
        .args(["tail", "-f", "hello"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run supervisorctl tail -f");
    let mut out = child.stdout.take().expect("stdout");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut v) = sink.lock() {
                v.extend_from_slice(&buf[..n]);
            }
        }
    });
    wait_for("supervisorctl tail -f to show hello-out", || {
        let v = seen.lock().expect("lock");
        String::from_utf8_lossy(&v).contains("hello-out")
    });
    let text = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    assert!(!text.contains("Server requires authentication"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
}

#[test]
fn unix_socket_requires_auth_when_username_set() {
    let setup = Setup {
        inet_auth: None,
        unix_auth: Some((USER, SHA_PASS)),
        unix_extra: "",
        ctl_tcp: false,
        ctl_auth: Some((USER, "hashed-pw")),
    };
    let (d, port) = start(&setup);
    let conf = d.conf();
    let sock = d.path("sluice.sock");
    // Default mode: 0700.
    let meta = std::fs::metadata(&sock).expect("socket metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    let p = py(&conf, &["pid"]);
    assert_eq!(p.stdout.trim(), d.pid().to_string());
    assert_eq!(rs(&conf, &["pid"]), p);

    let anon = client_conf(
        &d,
        port,
        "anon.conf",
        &Setup {
            ctl_auth: None,
            ..setup
        },
    );
    // Several commands, each its own request: a 401 must reach the client
    // every time (never a broken pipe).
    for args in [
        &["status"][..],
        &["pid"],
        &["stop", "hello"],
        &["tail", "hello"],
    ] {
        let p = py(&anon, args);
        assert_eq!(p.code, Some(1), "{args:?}: {p:?}");
        assert!(
            p.stdout.starts_with("Server requires authentication\n"),
            "{args:?}: {p:?}"
        );
        let r = rs(&anon, args);
        assert_eq!(r.code, Some(1), "{args:?}: {r:?}");
        assert_eq!(r.stdout, "Server requires authentication\n");
    }

    let to = To::Unix(sock);
    let answer = raw(&to, &post("", &call_xml("supervisor.getPID", "")));
    assert_eq!(status_line(&answer), "HTTP/1.1 401 Unauthorized");
    let answer = raw(
        &to,
        &post(
            &basic(USER, "hashed-pw"),
            &call_xml("supervisor.getPID", ""),
        ),
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");

    // TCP has no credentials configured: open there.
    let answer = raw(
        &To::Tcp(port),
        &post("", &call_xml("supervisor.getPID", "")),
    );
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK", "{answer}");
    // ... which the daemon's log says, at CRIT.
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains(" CRIT ")
            && l.contains(
                "Server 'inet_http_server' running without any HTTP authentication checking"
            )),
        "{log}"
    );
}

/// uid and gid of a name in /etc/passwd or /etc/group.
fn id_of(file: &str, name: &str) -> u32 {
    let text = std::fs::read_to_string(file).expect("read the user database");
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2).and_then(|n| n.parse().ok()))?
        })
        .unwrap_or_else(|| panic!("{name} not in {file}"))
}

#[test]
fn socket_chmod_and_chown() {
    // The tests run as root, so the socket can be given away; otherwise it
    // can only be chowned to ourselves.
    let root = nix::unistd::geteuid().is_root();
    let (owner, uid, gid) = if root {
        (
            "nobody:nogroup".to_string(),
            id_of("/etc/passwd", "nobody"),
            id_of("/etc/group", "nogroup"),
        )
    } else {
        let (u, g) = (nix::unistd::getuid(), nix::unistd::getgid());
        (format!("{u}:{g}"), u.as_raw(), g.as_raw())
    };
    let extra = format!("chmod = 0666\nchown = {owner}\n");
    let (d, _port) = start(&Setup {
        inet_auth: None,
        unix_auth: None,
        unix_extra: &extra,
        ctl_tcp: false,
        ctl_auth: None,
    });
    let meta = std::fs::metadata(d.path("sluice.sock")).expect("socket metadata");
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // Still usable by its creator.
    assert_eq!(d.ctl_out(&["pid"]).trim(), d.pid().to_string());
    drop(d);

    // A lone user leaves the group as it was (supervisord's gid -1).
    if root {
        let (d, _port) = start(&Setup {
            inet_auth: None,
            unix_auth: None,
            unix_extra: "chown = nobody\n",
            ctl_tcp: false,
            ctl_auth: None,
        });
        let meta = std::fs::metadata(d.path("sluice.sock")).expect("socket metadata");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let my_gid = nix::unistd::getegid().as_raw();
        assert_eq!((meta.uid(), meta.gid()), (uid, my_gid));
    }
}

/// Each hostile request gets an HTTP error or a fault, and the daemon goes
/// on serving, on both transports.
#[test]
fn hostile_requests_get_errors_and_the_daemon_keeps_serving() {
    let (mut d, port) = start(&Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: Some((USER, PASS)),
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, PASS)),
    });
    let auth = basic(USER, PASS);
    for to in [To::Tcp(port), To::Unix(d.path("sluice.sock"))] {
        // Malformed XML.
        let a = raw(&to, &post(&auth, b"<methodCall><methodName>x</metho"));
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        still_serving(&mut d);
        // Not XML at all, and bytes that are not UTF-8.
        let a = raw(&to, &post(&auth, b"\xff\xfe\x00junk"));
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        // No method name.
        let a = raw(&to, &post(&auth, b"<methodCall><params/></methodCall>"));
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        // Hostile nesting, and an entity bomb.
        let deep = format!(
            "<methodCall><methodName>x</methodName><params><param>{}</param></params></methodCall>",
            "<value><array><data>".repeat(50_000)
        );
        let a = raw(&to, &post(&auth, deep.as_bytes()));
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">\
            <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
            <methodCall><methodName>&b;</methodName></methodCall>";
        let a = raw(&to, &post(&auth, bomb));
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        // An unknown method: a fault, UNKNOWN_METHOD (1).
        let a = raw(&to, &post(&auth, &call_xml("supervisor.noSuchThing", "")));
        assert_eq!(status_line(&a), "HTTP/1.1 200 OK", "{a}");
        assert!(
            a.contains("<int>1</int>") && a.contains("UNKNOWN_METHOD"),
            "{a}"
        );
        // A wrong argument type: a fault, not a crash.
        let a = raw(
            &to,
            &post(
                &auth,
                &call_xml(
                    "supervisor.readLog",
                    "<param><value><string>x</string></value></param>",
                ),
            ),
        );
        assert!(a.contains("<fault>"), "{a}");
        still_serving(&mut d);

        // A huge body, declared: refused before it is read.
        let head =
            format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 100000000\r\n\r\n");
        let a = raw(&to, head.as_bytes());
        assert_eq!(status_line(&a), "HTTP/1.1 413 Payload Too Large", "{a}");
        // A huge body, chunked (no length given): refused past 2 MiB.
        let mut req =
            format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..3 {
            req.extend_from_slice(b"100000\r\n");
            req.extend_from_slice(&chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let a = raw(&to, &req);
        assert_eq!(status_line(&a), "HTTP/1.1 413 Payload Too Large", "{a}");
        still_serving(&mut d);

        // A truncated request: the body ends before its Content-Length.
        let trunc =
            format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 300\r\n\r\n<?xml");
        let a = raw(&to, trunc.as_bytes());
        assert!(
            a.is_empty() || status_line(&a).starts_with("HTTP/1.1 400"),
            "{a}"
        );
        // Headers cut in the middle.
        let a = raw(&to, b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Le");
        assert!(
            a.is_empty() || status_line(&a).starts_with("HTTP/1.1 400"),
            "{a}"
        );
        // A garbage request line, and binary noise.
        let a = raw(&to, b"HELLO THERE\r\n\r\n");
        assert_eq!(status_line(&a), "HTTP/1.1 400 Bad Request", "{a}");
        let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let a = raw(&to, &noise);
        assert!(
            a.is_empty() || status_line(&a).starts_with("HTTP/1.1 4"),
            "{a}"
        );
        still_serving(&mut d);

        // Headers far too large.
        let mut huge_head = format!("GET /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}X-Big: ").into_bytes();
        huge_head.extend(std::iter::repeat_n(b'h', 1 << 20));
        huge_head.extend_from_slice(b"\r\n\r\n");
        let a = raw(&to, &huge_head);
        assert!(
            a.is_empty() || status_line(&a).starts_with("HTTP/1.1 4"),
            "{a}"
        );
        // Many idle connections at once.
        let idle: Vec<Stream> = (0..200).map(|_| Stream::open(&to)).collect();
        still_serving(&mut d);
        drop(idle);

        // An unknown path, and a wrong HTTP method on /RPC2.
        let a = raw(
            &to,
            format!("GET /nope HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes(),
        );
        assert_eq!(status_line(&a), "HTTP/1.1 404 Not Found", "{a}");
        let a = raw(
            &to,
            format!("GET /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes(),
        );
        assert_eq!(status_line(&a), "HTTP/1.1 405 Method Not Allowed", "{a}");
        // A log tail of a name that does not exist.
        let a = raw(
            &to,
            format!("GET /logtail/nope HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes(),
        );
        assert_eq!(status_line(&a), "HTTP/1.1 404 Not Found", "{a}");

        // Slow clients: one stuck in its headers, one in its body, both
        // left open while others are served.
        let mut slow_head = Stream::open(&to);
        slow_head
            .send(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n")
            .expect("send");
        let mut slow_body = Stream::open(&to);
        slow_body
            .send(
                format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 500\r\n\r\n<?x")
                    .as_bytes(),
            )
            .expect("send");
        still_serving(&mut d);
        let p = py(&d.conf(), &["pid"]);
        assert_eq!(p.stdout.trim(), d.pid().to_string());
        // The stuck body, finished late, is still answered.
        let rest = call_xml("supervisor.getPID", "");
        let pad = 500 - rest.len();
        slow_body.send(&rest[3..]).expect("send the rest");
        slow_body.send(&vec![b' '; pad]).expect("send padding");
        slow_body.shutdown_write();
        let a = slow_body.read_all();
        assert_eq!(status_line(&a), "HTTP/1.1 200 OK", "{a}");
        assert!(a.contains(&format!("<int>{}</int>", d.pid())), "{a}");
        drop(slow_head);
    }
    still_serving(&mut d);
}

/// `*:port`, `:port` and a bare `port` listen on every interface, as
/// supervisord's `inet_address` reads them.
#[test]
fn all_interface_port_forms() {
    for form in ["*:", ":", ""] {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let setup = Setup {
            inet_auth: Some((USER, PASS)),
            unix_auth: None,
            unix_extra: "",
            ctl_tcp: true,
            ctl_auth: Some((USER, PASS)),
        };
        let text = config(dir.path(), port, &setup).replace(
            &format!("port = 127.0.0.1:{port}"),
            &format!("port = {form}{port}"),
        );
        assert!(text.contains(&format!("port = {form}{port}\n")));
        std::fs::write(dir.path().join("sluice.conf"), text).expect("write config");
        let mut d = Daemon { dir, child: None };
        d.spawn();
        let p = py(&d.conf(), &["pid"]);
        assert_eq!(p.stdout.trim(), d.pid().to_string(), "{form}{port}");
        // And by name, with the credentials given as flags.
        let url = format!("http://localhost:{port}");
        let r = said(
            Command::new(common::sluice())
                .args(["ctl", "-s", &url, "-u", USER, "-p", PASS, "pid"])
                .output()
                .expect("run sluice ctl"),
        );
        assert_eq!(r.stdout.trim(), d.pid().to_string(), "{form}{port}");
    }
}

/// The commands the first TCP test leaves out, through the stock
/// supervisorctl over TCP with auth, each compared with `sluice ctl`:
/// signal, clear, fg, maintail, avail, reread, update, remove, add.
#[test]
fn the_other_commands_over_tcp_with_auth() {
    let setup = Setup {
        inet_auth: Some((USER, PASS)),
        unix_auth: None,
        unix_extra: "",
        ctl_tcp: true,
        ctl_auth: Some((USER, PASS)),
    };
    let (d, port) = start(&setup);
    let conf = d.conf();
    d.wait_state("hello", "RUNNING");

    let sig = py(&conf, &["signal", "CONT", "hello"]);
    assert_eq!(sig.stdout, "hello: signalled\n", "{sig:?}");
    assert_eq!(rs(&conf, &["signal", "CONT", "hello"]), sig);

    let clear = py(&conf, &["clear", "hello"]);
    assert_eq!(clear.stdout, "hello: cleared\n", "{clear:?}");
    assert_eq!(rs(&conf, &["clear", "hello"]), clear);
    assert_eq!(
        std::fs::metadata(d.path("hello.out"))
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );

    // fg over TCP with auth: it authenticates and streams the process's
    // log. The stock fg does not always return after its input ends (its
    // reader thread stays in the log stream), so it runs under `timeout`.
    let mut fg = Command::new("timeout")
        .args(["-s", "KILL", "20"])
        .arg(supervisorctl())
        .arg("-c")
        .arg(&conf)
        .args(["fg", "hello"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run supervisorctl fg");
    {
        use std::io::Write;
        let mut stdin = fg.stdin.take().expect("stdin");
        stdin.write_all(b"a line for hello\n").expect("write to fg");
    }
    let fg = fg.wait_with_output().expect("fg ends");
    let text = String::from_utf8_lossy(&fg.stdout);
    assert!(text.contains("==> Press Ctrl-C to exit <=="), "{text}");
    assert!(!text.contains("Server requires authentication"), "{text}");

    let main = py(&conf, &["maintail", "-200"]);
    assert_eq!(main.code, Some(0), "{main:?}");
    assert!(!main.stdout.is_empty());

    let avail = py(&conf, &["avail"]);
    assert_eq!(avail.code, Some(0), "{avail:?}");
    assert!(avail.stdout.starts_with("hello "), "{avail:?}");
    assert_eq!(digits(&rs(&conf, &["avail"]).stdout), digits(&avail.stdout));

    // A second program in the config: reread sees it, update adds it.
    let mut text = config(d.dir.path(), port, &setup);
    text.push_str("\n[program:extra]\ncommand = sleep 1000\nstartsecs = 0\n");
    std::fs::write(&conf, text).expect("write config");
    let reread = py(&conf, &["reread"]);
    assert_eq!(reread.stdout, "extra: available\n", "{reread:?}");
    assert_eq!(rs(&conf, &["reread"]), reread);
    let update = py(&conf, &["update"]);
    assert_eq!(update.stdout, "extra: added process group\n", "{update:?}");
    d.wait_state("extra", "RUNNING");

    // remove needs it stopped; add puts it back.
    assert_eq!(py(&conf, &["stop", "extra"]).stdout, "extra: stopped\n");
    let remove = py(&conf, &["remove", "extra"]);
    assert_eq!(
        remove.stdout, "extra: removed process group\n",
        "{remove:?}"
    );
    let add = py(&conf, &["add", "extra"]);
    assert_eq!(add.stdout, "extra: added process group\n", "{add:?}");
    d.wait_state("extra", "RUNNING");
    assert_eq!(rs(&conf, &["stop", "extra"]).stdout, "extra: stopped\n");
    assert_eq!(
        rs(&conf, &["remove", "extra"]).stdout,
        "extra: removed process group\n"
    );
    assert_eq!(
        rs(&conf, &["add", "extra"]).stdout,
        "extra: added process group\n"
    );
}
