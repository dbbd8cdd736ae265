//! The stock supervisord 4.3 in a temp dir, and raw XML-RPC calls over a
//! unix socket (a tiny HTTP client), for tests that compare the answers of
//! both daemons.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sluice::rpc::{Fault, Value, xml};

use super::compare::stock;
use super::wait_for;

/// One XML-RPC call over a unix socket: HTTP/1.1 POST /RPC2, connection
/// closed after the answer. The status code and the body.
pub fn raw_post(sock: &Path, body: &str) -> (u16, Vec<u8>) {
    let mut s = UnixStream::connect(sock).expect("connect to the daemon's socket");
    let req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send request");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read response");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, resp[split + 4..].to_vec())
}

/// `method(params)` on the daemon listening on `sock`.
pub fn call_on(sock: &Path, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    let (status, body) = raw_post(sock, &xml::write_call(method, &params));
    assert_eq!(status, 200, "HTTP status of {method}");
    xml::parse_response(&body).expect("a valid XML-RPC response")
}

/// A field of `getProcessInfo(name)`, `None` while the call fails.
pub fn info_field(sock: &Path, name: &str, field: &str) -> Option<Value> {
    call_on(
        sock,
        "supervisor.getProcessInfo",
        vec![Value::String(name.to_string())],
    )
    .ok()
    .and_then(|v| v.get(field).cloned())
}

/// The stock supervisord 4.3 (`-n`) in a temp dir, killed on drop.
pub struct Stock {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Stock {
    /// supervisord with its log, pidfile, socket and child logs in a temp
    /// dir, running `programs` (where `{dir}` names that dir); answers
    /// `getState` when this returns.
    pub fn start(programs: &str) -> Stock {
        Stock::start_with(programs, "")
    }

    /// As `start`, with `extra` lines in `[supervisord]`.
    pub fn start_with(programs: &str, extra: &str) -> Stock {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let conf = format!(
            "[supervisord]\nlogfile = {d}/sv.log\npidfile = {d}/sv.pid\nchildlogdir = {d}\n\
             nodaemon = true\n{extra}\n[unix_http_server]\nfile = {d}/sv.sock\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl = unix://{d}/sv.sock\n\n{}",
            programs.replace("{dir}", &d)
        );
        std::fs::write(dir.path().join("sv.conf"), conf).expect("write config");
        let child = Command::new(stock("SLUICE_SUPERVISORD", "supervisord"))
            .arg("-c")
            .arg(dir.path().join("sv.conf"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("sv.stderr")).expect("stderr file"),
            ))
            .spawn()
            .expect("start the stock supervisord");
        let stock = Stock { dir, child };
        wait_for("the stock supervisord to answer", || {
            stock.sock().exists()
                && UnixStream::connect(stock.sock()).is_ok()
                && call_on(&stock.sock(), "supervisor.getState", vec![]).is_ok()
        });
        stock
    }

    /// supervisord's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sock(&self) -> PathBuf {
        self.path("sv.sock")
    }

    pub fn conf(&self) -> PathBuf {
        self.path("sv.conf")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// SIGTERM, then wait until supervisord has exited (its shutdown done).
    pub fn terminate(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let child = &mut self.child;
        wait_for("the stock supervisord to exit", || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
    }

    /// supervisord's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sv.log")).unwrap_or_default()
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}
