//! What the outside world sees of a process: supervisord's process-info
//! struct, published by the manager as a snapshot after every change.

use std::time::{SystemTime, UNIX_EPOCH};

use super::state::State;

/// One process as `getProcessInfo` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    pub state: State,
    /// Unix time of the last start, 0 if never started.
    pub start: i64,
    /// Unix time of the last stop, 0 if never stopped.
    pub stop: i64,
    pub spawnerr: String,
    pub exitstatus: i32,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    /// 0 when not running, and for an in-process agent (no process of its
    /// own: `kill $(sluice ctl pid agent)` must not hit the daemon).
    pub pid: i32,
    /// An agent running on a thread of the daemon.
    pub in_process: bool,
    /// The group's priority and the process's, for ordering group operations.
    pub priority: (i32, i32),
    pub startsecs: u64,
}

impl ProcessInfo {
    /// `group:name`, or `name` when they are the same.
    pub fn namespec(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }

    /// supervisord's `description` field for this state at `now`.
    pub fn description(&self, now: i64) -> String {
        match self.state {
            State::Running if self.in_process => {
                format!("in-process, uptime {}", uptime((now - self.start).max(0)))
            }
            State::Running => {
                format!(
                    "pid {}, uptime {}",
                    self.pid,
                    uptime((now - self.start).max(0))
                )
            }
            State::Fatal | State::Backoff => {
                if self.spawnerr.is_empty() {
                    format!("unknown error (try \"tail {}\")", self.name)
                } else {
                    self.spawnerr.clone()
                }
            }
            State::Stopped | State::Exited => {
                if self.start != 0 {
                    local_time(self.stop)
                } else {
                    "Not started".to_string()
                }
            }
            _ => String::new(),
        }
    }
}

/// Python's `str(timedelta)` for whole seconds: `0:00:05`, `1 day, 2:03:04`.
pub fn uptime(secs: i64) -> String {
    let days = secs / 86400;
    let rest = secs % 86400;
    let hms = format!("{}:{:02}:{:02}", rest / 3600, (rest % 3600) / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// `Nov 24 06:25 AM` in local time, as supervisord shows a stop time.
pub fn local_time(unix: i64) -> String {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own; strftime gets a buffer
    // of the length we pass. Done by hand because the `time` crate refuses
    // to read the local offset in a multi-threaded process.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%b %d %I:%M %p".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn unix_time(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_like_python_timedelta() {
        assert_eq!(uptime(5), "0:00:05");
        assert_eq!(uptime(3725), "1:02:05");
        assert_eq!(uptime(86400 + 61), "1 day, 0:01:01");
        assert_eq!(uptime(2 * 86400), "2 days, 0:00:00");
    }
}
