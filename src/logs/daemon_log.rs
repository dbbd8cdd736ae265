//! The daemon's own log (supervisord's `logfile=`): a `tracing` subscriber
//! writing supervisord's line format into a [`RotatingFile`], optionally
//! echoed to stdout (supervisord does so when running in the foreground and
//! not `silent`).
//!
//! Line format, as supervisord's default (`%(asctime)s %(levelname)s
//! %(message)s`): local time with milliseconds after a comma, then the
//! four-letter level name:
//!
//! ```text
//! 2026-11-24 06:25:16,123 INFO spawned: 'x' with pid 12
//! ```
//!
//! supervisord has seven levels, tracing five. `tracing::error!` prints
//! `ERRO`, `warn!` `WARN`, `info!` `INFO`, `debug!` `DEBG`, `trace!` `TRAC`;
//! the two extra ones are spelled with a target: `error!(target: "critical",
//! ..)` prints `CRIT` and `trace!(target: "blather", ..)` prints `BLAT`.
//! [`LogLevel`] filters exactly as supervisord's `loglevel=` does.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use super::rotate::{RotatingFile, SharedRotatingFile};

/// Target that turns an `error!` into supervisord's `CRIT`.
pub const CRITICAL_TARGET: &str = "critical";
/// Target that turns a `trace!` into supervisord's `BLAT`.
pub const BLATHER_TARGET: &str = "blather";

/// supervisord's `loglevel=` values, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Critical,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Blather,
}

impl LogLevel {
    /// Parse a supervisord level name (case-insensitive, as supervisord).
    pub fn parse(name: &str) -> Option<LogLevel> {
        Some(match name.to_ascii_lowercase().as_str() {
            "critical" => LogLevel::Critical,
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            "blather" => LogLevel::Blather,
            _ => return None,
        })
    }

    /// The inverse of `level as u8` (out of range: the most verbose).
    fn from_u8(n: u8) -> LogLevel {
        [
            LogLevel::Critical,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ]
        .get(usize::from(n))
        .copied()
        .unwrap_or(LogLevel::Blather)
    }

    /// The supervisord name (`info`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Critical => "critical",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
            LogLevel::Blather => "blather",
        }
    }

    /// The tracing level this maps to (critical -> ERROR, blather -> TRACE).
    pub fn tracing_level(self) -> Level {
        match self {
            LogLevel::Critical | LogLevel::Error => Level::ERROR,
            LogLevel::Warn => Level::WARN,
            LogLevel::Info => Level::INFO,
            LogLevel::Debug => Level::DEBUG,
            LogLevel::Trace | LogLevel::Blather => Level::TRACE,
        }
    }

    /// The supervisord level of one tracing event.
    pub fn of(meta: &Metadata<'_>) -> LogLevel {
        match *meta.level() {
            Level::ERROR if meta.target() == CRITICAL_TARGET => LogLevel::Critical,
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE if meta.target() == BLATHER_TARGET => LogLevel::Blather,
            Level::TRACE => LogLevel::Trace,
        }
    }

    /// supervisord's four-letter name as printed in the log (`INFO`, `DEBG`).
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Critical => "CRIT",
            LogLevel::Error => "ERRO",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBG",
            LogLevel::Trace => "TRAC",
            LogLevel::Blather => "BLAT",
        }
    }

    /// Whether a log configured at `self` shows this event.
    pub fn allows(self, meta: &Metadata<'_>) -> bool {
        LogLevel::of(meta) <= self
    }
}

/// `YYYY-MM-DD HH:MM:SS,mmm` in local time, as supervisord's `asctime`.
pub fn asctime(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed `tm` we own; `secs` outlives
    // the call. It is thread-safe (unlike localtime).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{secs},{:03}", d.subsec_millis());
    }
    let mut s = String::with_capacity(23);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_millis()
    );
    s
}

/// Formats events as supervisord's log lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct SupervisorFormat;

impl<S, N> FormatEvent<S, N> for SupervisorFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = LogLevel::of(event.metadata());
        write!(writer, "{} {} ", asctime(SystemTime::now()), level.label())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[derive(Clone, Debug)]
enum Echo {
    None,
    Stdout,
    #[cfg(test)]
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// The `MakeWriter` of the daemon log: each formatted line goes to the
/// shared rotating file (one `write(2)`) and, when echoing, to stdout.
#[derive(Clone, Debug)]
pub struct DaemonLogWriter {
    file: Option<SharedRotatingFile>,
    echo: Echo,
}

impl Write for DaemonLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.echo {
            Echo::None => {}
            Echo::Stdout => {
                let mut out = io::stdout().lock();
                let _ = out.write_all(buf).and_then(|()| out.flush());
            }
            #[cfg(test)]
            Echo::Buffer(b) => {
                if let Ok(mut b) = b.lock() {
                    b.extend_from_slice(buf);
                }
            }
        }
        if let Some(f) = &self.file {
            let mut f = f
                .lock()
                .map_err(|_| io::Error::other("daemon log lock poisoned"))?;
            f.write(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for DaemonLogWriter {
    type Writer = DaemonLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Handle kept by the daemon to reopen (SIGUSR2) or reach the log file, and
/// to apply a reloaded config's `logfile`/`loglevel`.
#[derive(Clone, Debug)]
pub struct DaemonLogHandle {
    file: Option<SharedRotatingFile>,
    level: Arc<AtomicU8>,
}

impl DaemonLogHandle {
    /// What a new life of the daemon (SIGHUP, `supervisor.restart`) asks of
    /// its log: supervisord makes a new logger each time, so the file is
    /// opened again by path (possibly another one, with other limits) and
    /// the level changes. On error the old file is kept.
    pub fn reconfigure(
        &self,
        path: Option<&Path>,
        maxbytes: u64,
        backups: u32,
        level: LogLevel,
    ) -> io::Result<()> {
        self.level.store(level as u8, Ordering::Relaxed);
        tracing::callsite::rebuild_interest_cache();
        if let (Some(f), Some(path)) = (&self.file, path) {
            let new = RotatingFile::open(path, maxbytes, backups)?;
            *f.lock()
                .map_err(|_| io::Error::other("daemon log lock poisoned"))? = new;
        }
        Ok(())
    }

    /// Reopen the log file by path (after an external rotation).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(f) = &self.file {
            f.lock()
                .map_err(|_| io::Error::other("daemon log lock poisoned"))?
                .reopen()?;
        }
        Ok(())
    }

    /// The shared file, if logging to one (for `clearLog`, `readLog`'s path).
    pub fn file(&self) -> Option<&SharedRotatingFile> {
        self.file.as_ref()
    }
}

type LevelFilterFn = FilterFn<Box<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>>;

/// Filters by the level in `level` (a `LogLevel as u8`), which a reload may
/// change: no static max-level hint, so every level stays reachable.
fn level_filter(level: Arc<AtomicU8>) -> LevelFilterFn {
    let f: Box<dyn Fn(&Metadata<'_>) -> bool + Send + Sync> =
        Box::new(move |meta| LogLevel::from_u8(level.load(Ordering::Relaxed)).allows(meta));
    filter_fn(f)
}

fn build_with(
    file: Option<SharedRotatingFile>,
    level: LogLevel,
    echo: Echo,
) -> (impl Subscriber + Send + Sync + 'static, DaemonLogHandle) {
    let level = Arc::new(AtomicU8::new(level as u8));
    let writer = DaemonLogWriter {
        file: file.clone(),
        echo,
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(SupervisorFormat)
        .with_writer(writer)
        .with_filter(level_filter(level.clone()));
    let subscriber = Registry::default().with(layer);
    (subscriber, DaemonLogHandle { file, level })
}

/// Build (without installing) the daemon log subscriber: lines go to `path`
/// (rotated at `maxbytes` with `backups`; `None`: no file) and to stdout when
/// `echo_to_stdout`. Fails if the log file cannot be opened.
pub fn build(
    path: Option<&Path>,
    maxbytes: u64,
    backups: u32,
    level: LogLevel,
    echo_to_stdout: bool,
) -> io::Result<(impl Subscriber + Send + Sync + 'static, DaemonLogHandle)> {
    let file = match path {
        Some(p) => Some(Arc::new(Mutex::new(RotatingFile::open(
            p, maxbytes, backups,
        )?))),
        None => None,
    };
    let echo = if echo_to_stdout {
        Echo::Stdout
    } else {
        Echo::None
    };
    Ok(build_with(file, level, echo))
}

/// [`build`] and install as the global default subscriber. Fails if the file
/// cannot be opened or a global subscriber is already set.
pub fn install(
    path: Option<&Path>,
    maxbytes: u64,
    backups: u32,
    level: LogLevel,
    echo_to_stdout: bool,
) -> io::Result<DaemonLogHandle> {
    let (subscriber, handle) = build(path, maxbytes, backups, level, echo_to_stdout)?;
    subscriber
        .try_init()
        .map_err(|e| io::Error::other(format!("cannot install the daemon log: {e}")))?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn looks_like_asctime(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 23
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b' ',
                13 | 16 => c == b':',
                19 => c == b',',
                _ => c.is_ascii_digit(),
            })
    }

    #[test]
    fn asctime_format() {
        let s = asctime(SystemTime::now());
        assert!(looks_like_asctime(&s), "{s}");
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_000_007);
        assert!(asctime(t).ends_with(",007"), "{}", asctime(t));
    }

    #[test]
    fn level_names_parse_and_filter() {
        assert_eq!(LogLevel::parse("INFO"), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse("blather"), Some(LogLevel::Blather));
        assert_eq!(LogLevel::parse("warning"), None);
        assert_eq!(LogLevel::Blather.tracing_level(), Level::TRACE);
        assert_eq!(LogLevel::Critical.tracing_level(), Level::ERROR);
        for l in [
            "critical", "error", "warn", "info", "debug", "trace", "blather",
        ] {
            assert_eq!(LogLevel::parse(l).unwrap().name(), l);
        }
    }

    #[test]
    fn writes_supervisord_lines_filtered_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sluice.log");
        let file = RotatingFile::open(&p, 0, 0).unwrap().shared();
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let (sub, _h) = build_with(Some(file), LogLevel::Trace, Echo::Buffer(echoed.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!("spawned: 'x' with pid 12");
            tracing::warn!(pid = 3, "odd");
            tracing::error!(target: "critical", "disk on fire");
            tracing::error!("plain error");
            tracing::debug!("dbg");
            tracing::trace!("trc");
            tracing::trace!(target: "blather", "too chatty for trace");
        });
        let text = fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        for l in &lines {
            assert!(looks_like_asctime(&l[..23]), "{l}");
        }
        let rest: Vec<&str> = lines.iter().map(|l| &l[24..]).collect();
        assert_eq!(
            rest,
            [
                "INFO spawned: 'x' with pid 12",
                "WARN odd pid=3",
                "CRIT disk on fire",
                "ERRO plain error",
                "DEBG dbg",
                "TRAC trc",
            ]
        );
        assert_eq!(&*echoed.lock().unwrap(), text.as_bytes());
    }

    #[test]
    fn blather_and_critical_levels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.log");
        let file = RotatingFile::open(&p, 0, 0).unwrap().shared();
        let (sub, _h) = build_with(Some(file.clone()), LogLevel::Blather, Echo::None);
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(target: "blather", "b");
        });
        let (sub, _h) = build_with(Some(file), LogLevel::Critical, Echo::None);
        tracing::subscriber::with_default(sub, || {
            tracing::error!("not critical");
            tracing::error!(target: "critical", "c");
        });
        let text = fs::read_to_string(&p).unwrap();
        let rest: Vec<&str> = text.lines().map(|l| &l[24..]).collect();
        assert_eq!(rest, ["BLAT b", "CRIT c"]);
    }

    #[test]
    fn rotates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.log");
        let (sub, h) = build(Some(&p), 200, 2, LogLevel::Info, false).unwrap();
        tracing::subscriber::with_default(sub, || {
            for i in 0..50 {
                tracing::info!("message number {i}");
            }
            fs::rename(&p, dir.path().join("moved")).unwrap();
            h.reopen().unwrap();
            tracing::info!("after reopen");
        });
        assert!(dir.path().join("d.log.1").exists());
        assert!(dir.path().join("d.log.2").exists());
        assert!(!dir.path().join("d.log.3").exists());
        let now = fs::read_to_string(&p).unwrap();
        assert!(now.ends_with(" INFO after reopen\n"), "{now}");
        assert_eq!(now.lines().count(), 1);
    }

    #[test]
    fn reconfigure_changes_file_and_level() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.log");
        let second = dir.path().join("second.log");
        let (sub, h) = build(Some(&first), 0, 0, LogLevel::Info, false).unwrap();
        tracing::subscriber::with_default(sub, || {
            tracing::debug!("hidden");
            tracing::info!("in the first");
            h.reconfigure(Some(&second), 0, 0, LogLevel::Debug).unwrap();
            tracing::debug!("shown");
            // a bad path keeps the current file
            assert!(
                h.reconfigure(Some(&dir.path().join("no/x.log")), 0, 0, LogLevel::Warn)
                    .is_err()
            );
            tracing::info!("filtered at warn");
            tracing::warn!("still in the second");
        });
        let rest = |p: &Path| -> Vec<String> {
            fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| l[24..].to_string())
                .collect()
        };
        assert_eq!(rest(&first), ["INFO in the first"]);
        assert_eq!(rest(&second), ["DEBG shown", "WARN still in the second"]);
    }

    #[test]
    fn missing_directory_fails_build() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no").join("d.log");
        assert!(build(Some(&p), 0, 0, LogLevel::Info, false).is_err());
    }
}
