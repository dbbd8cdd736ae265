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
