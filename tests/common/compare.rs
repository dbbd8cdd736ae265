//! Side by side with the stock tools: run a command with the stock
//! supervisorctl and with `sluice ctl`, and compare what they printed and
//! how they exited (pids and times masked where they must differ).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A stock tool from the venv; a missing one is a failure, not a skip.
pub fn stock(var: &str, name: &str) -> PathBuf {
    let path = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".venv/bin")
            .join(name),
    };
    assert!(
        path.exists(),
        "the stock {name} is not at {}: run scripts/test.sh (it creates .venv with \
         supervisor==4.3.0)",
        path.display()
    );
    path
}

/// What one client printed and how it exited.
#[derive(Debug, PartialEq)]
pub struct Said {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn said(out: std::process::Output) -> Said {
    Said {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `supervisorctl -c CONF args...`
pub fn py(conf: &Path, args: &[&str]) -> Said {
    said(
        Command::new(stock("SLUICE_SUPERVISORCTL", "supervisorctl"))
            .arg("-c")
            .arg(conf)
            .args(args)
            .output()
            .expect("run supervisorctl"),
    )
}

/// `sluice ctl -c CONF args...`
pub fn rs(conf: &Path, args: &[&str]) -> Said {
    said(
        Command::new(super::sluice())
            .args(["ctl", "-c"])
            .arg(conf)
            .args(args)
            .output()
            .expect("run sluice ctl"),
    )
}

/// Every run of digits as `#`: pids and uptimes differ between two runs.
pub fn digits_out(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

pub fn timeless(s: Said) -> Said {
    Said {
        code: s.code,
        stdout: digits_out(&s.stdout),
        stderr: digits_out(&s.stderr),
    }
}

/// supervisorctl, then `reset`, then sluice ctl: both must agree.
pub fn same(conf: &Path, args: &[&str], reset: impl FnOnce()) -> Said {
    let theirs = py(conf, args);
    reset();
    let ours = rs(conf, args);
    assert_eq!(ours, theirs, "sluice ctl vs supervisorctl for {args:?}");
    ours
}

/// A stock `supervisord -n` in its own temp dir running `programs` (after
/// the sections every test needs); stopped (TERM, then KILL) on drop.
pub struct StockDaemon {
    pub dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl StockDaemon {
    /// Start it and wait until supervisorctl gets an answer.
    pub fn start(programs: &str) -> StockDaemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let text = format!(
            "[supervisord]\n\
             logfile = {d}/supervisord.log\n\
             pidfile = {d}/supervisord.pid\n\
             childlogdir = {d}\n\
             loglevel = info\n\
             \n\
             [unix_http_server]\n\
             file = {d}/supervisor.sock\n\
             \n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             \n\
             [supervisorctl]\n\
             serverurl = unix://{d}/supervisor.sock\n\n{programs}"
        );
        std::fs::write(dir.path().join("supervisord.conf"), text).expect("write config");
        let child = Command::new(stock("SLUICE_SUPERVISORD", "supervisord"))
            .arg("-n")
            .arg("-c")
            .arg(dir.path().join("supervisord.conf"))
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the stock supervisord");
        let s = StockDaemon {
            dir,
            child: Some(child),
        };
        super::wait_for("the stock supervisord to answer", || {
            matches!(py(&s.conf(), &["status"]).code, Some(0) | Some(3))
        });
        s
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("supervisord.conf")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for StockDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let start = std::time::Instant::now();
            while start.elapsed() < super::DEADLINE {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
