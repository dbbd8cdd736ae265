//! An agent's own log: where its components report (and where the logger
//! sink writes events). Standalone it is stdout, like flume-ng with
//! `-Dflume.root.logger=INFO,console`; in the daemon it is a pipe into the
//! program's rotating stdout log. Not `tracing`: in the daemon the global
//! subscriber is the daemon's log, and an agent's lines belong to the agent.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::logs::daemon_log::asctime;

#[derive(Clone)]
pub struct AgentLog {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for AgentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentLog")
    }
}

impl AgentLog {
    pub fn new(out: Box<dyn Write + Send>) -> AgentLog {
        AgentLog {
            out: Arc::new(Mutex::new(out)),
        }
    }

    pub fn stdout() -> AgentLog {
        AgentLog::new(Box::new(std::io::stdout()))
    }

    /// A log that keeps nothing (tests, benchmarks).
    pub fn discard() -> AgentLog {
        AgentLog::new(Box::new(std::io::sink()))
    }

    /// `2026-11-24 09:20:37,870 INFO [a1.sinks.k1] message`.
    pub fn line(level: &str, component: &str, message: &str) -> String {
        format!(
            "{} {level} [{component}] {message}\n",
            asctime(SystemTime::now())
        )
    }

    /// Write bytes already formatted (a whole batch of lines at once).
    pub fn write_raw(&self, buf: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // Nowhere to report a failing log write; the agent goes on.
        let _ = out.write_all(buf);
        let _ = out.flush();
    }

    pub fn info(&self, component: &str, message: &str) {
        self.write_raw(Self::line("INFO", component, message).as_bytes());
    }

    pub fn warn(&self, component: &str, message: &str) {
        self.write_raw(Self::line("WARN", component, message).as_bytes());
    }

    pub fn error(&self, component: &str, message: &str) {
        self.write_raw(Self::line("ERROR", component, message).as_bytes());
    }
}
