//! An agent's own log: where its components report (and where the logger
//! sink writes events). Standalone it is stdout, like flume-ng with
//! `-Dflume.root.logger=INFO,console`; in the daemon it is a pipe into the
//! program's rotating stdout log. Not `tracing`: in the daemon the global
//! subscriber is the daemon's log, and an agent's lines belong to the agent.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::logs::daemon_log::asctime;

/// log4j's levels, least severe first: a log at level L keeps L and above
/// (`-Dflume.root.logger=WARN,console` drops INFO lines, the logger sink's
/// events among them, as in Flume).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    All,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
    Off,
}

impl Level {
    /// A log4j level name, any case.
    pub fn parse(name: &str) -> Option<Level> {
        const NAMES: [(&str, Level); 8] = [
            ("ALL", Level::All),
            ("TRACE", Level::Trace),
            ("DEBUG", Level::Debug),
            ("INFO", Level::Info),
            ("WARN", Level::Warn),
            ("ERROR", Level::Error),
            ("FATAL", Level::Fatal),
            ("OFF", Level::Off),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, l)| *l)
    }
}

#[derive(Clone)]
pub struct AgentLog {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    level: Level,
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
            level: Level::Info,
        }
    }

    /// The same log keeping only lines at `level` and above (INFO by default).
    pub fn with_level(mut self, level: Level) -> AgentLog {
        self.level = level;
        self
    }

    /// Whether lines at `level` are kept (so a caller can skip formatting them).
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.level
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

    fn at(&self, level: Level, name: &str, component: &str, message: &str) {
        if self.enabled(level) {
            self.write_raw(Self::line(name, component, message).as_bytes());
        }
    }

    pub fn info(&self, component: &str, message: &str) {
        self.at(Level::Info, "INFO", component, message);
    }

    pub fn warn(&self, component: &str, message: &str) {
        self.at(Level::Warn, "WARN", component, message);
    }

    pub fn error(&self, component: &str, message: &str) {
        self.at(Level::Error, "ERROR", component, message);
    }
}

/// A log the unit tests can read back.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Write;
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use super::AgentLog;

    /// How long a logged line may take to appear on a loaded machine.
    pub const DEADLINE: Duration = Duration::from_secs(30);

    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn bytes(&self) -> MutexGuard<'_, Vec<u8>> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// An agent log writing here.
        pub fn log(&self) -> AgentLog {
            AgentLog::new(Box::new(self.clone()))
        }

        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.bytes()).into_owned()
        }

        /// Wait until the log contains `what`.
        pub async fn wait_for(&self, what: &str) {
            let found = tokio::time::timeout(DEADLINE, async {
                while !self.text().contains(what) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            assert!(found.is_ok(), "log never had {what:?}:\n{}", self.text());
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
