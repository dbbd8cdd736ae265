//! `file_roll`: Flume's RollingFileSink, events into files in a local
//! directory, a new file every `sink.rollInterval` seconds.
//!
//! Properties (Flume's names and defaults): `sink.directory` (required),
//! `sink.rollInterval` (30; 0 = one file, never rolled), `sink.pathManager`
//! (`DEFAULT`: `<prefix><start time in ms>-<n>[.<extension>]`; `ROLLTIME`:
//! `<prefix><yyyyMMddHHmmss>-<n>[.<extension>]`, n restarting each second),
//! `sink.pathManager.prefix`, `sink.pathManager.extension`,
//! `sink.serializer` (`TEXT`: the body; `HEADER_AND_TEXT`: `{k=v, ...} `
//! then the body), `sink.serializer.appendNewline` (true),
//! `sink.batchSize` (100; `batchSize`, which Flume does not read, is honoured
//! with a warning).
//!
//! Like Flume, the first file is opened at start and every roll opens the
//! next one at once, so an idle sink leaves one (maybe empty) file per
//! interval. The directory is not created: a missing or unusable directory
//! is a delivery error, retried by the runner until it is back.
//!
//! One batch is one `write` of a buffer the sink keeps (no allocation or
//! syscall per event), handed to the OS before the batch is committed (as
//! Flume flushes its stream; no fsync per batch, one at each roll and at
//! stop). Before each batch the sink checks, with one `stat`, that its file
//! is still the one at its path: a file removed or moved away (its
//! directory replaced, say) is left, and the batch goes to a new file. A
//! failed write is cut back out (`ftruncate` to the length before the
//! batch) so the retry does not leave part of it twice.
//!
//! Blocking I/O: `own_thread` is true, so the agent runs this sink's loop
//! on a thread of its own (see `agent::spawn_sink`); plain `std::fs` calls
//! there hold up nothing else, and cost no hand-off per batch the way a
//! `spawn_blocking` per write would.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Sink, SinkContext};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::SinkType;

pub const TYPE: SinkType = SinkType {
    name: "file_roll",
    aliases: &["org.apache.flume.sink.RollingFileSink"],
    build,
};

/// How an event becomes bytes (Flume's EventSerializer types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// BodyTextEventSerializer: the body.
    Text,
    /// HeaderAndBodyTextEventSerializer: `{k=v, k2=v2} ` then the body.
    HeaderAndText,
}

const FORMATS: &[(&str, &str, Format)] = &[
    (
        "TEXT",
        "org.apache.flume.serialization.BodyTextEventSerializer$Builder",
        Format::Text,
    ),
    (
        "HEADER_AND_TEXT",
        "org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder",
        Format::HeaderAndText,
    ),
];

/// How files are named (Flume's PathManager types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    Default,
    RollTime,
}

const NAMINGS: &[(&str, &str, Naming)] = &[
    (
        "DEFAULT",
        "org.apache.flume.formatter.output.DefaultPathManager$Builder",
        Naming::Default,
    ),
    (
        "ROLLTIME",
        "org.apache.flume.formatter.output.RollTimePathManager$Builder",
        Naming::RollTime,
    ),
];

/// Flume's PathManager: the directory and the names of the files in turn.
#[derive(Debug)]
struct PathManager {
    dir: PathBuf,
    naming: Naming,
    prefix: String,
    extension: String,
    /// DEFAULT: when the series started, in ms since the epoch.
    series: u128,
    /// The number of the last name given (the first file is 1).
    index: u64,
    /// ROLLTIME: the second the last name was given in.
    last_stamp: String,
}

impl PathManager {
    fn next(&mut self) -> PathBuf {
        let stamp = match self.naming {
            Naming::Default => self.series.to_string(),
            Naming::RollTime => {
                let stamp = local_stamp();
                if stamp != self.last_stamp {
                    self.index = 0;
                    self.last_stamp = stamp.clone();
                }
                stamp
            }
        };
        self.index += 1;
        let mut name = format!("{}{stamp}-{}", self.prefix, self.index);
        if !self.extension.is_empty() {
            name.push('.');
            name.push_str(&self.extension);
        }
        self.dir.join(name)
    }
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The local time as `yyyyMMddHHmmss` (ROLLTIME's names).
fn local_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes into the zeroed `tm` we own; `secs` outlives
    // the call. It is thread-safe (unlike localtime).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return secs.to_string();
    }
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// The file being written.
struct Current {
    file: File,
    path: PathBuf,
    /// Bytes in the file: where a failed batch is cut back to.
    len: u64,
    /// (device, inode) when opened, to notice the file leaving its path.
    id: (u64, u64),
}

pub struct FileRoll {
    paths: PathManager,
    /// `None`: never roll.
    roll: Option<Duration>,
    format: Format,
    newline: bool,
    batch: usize,
    current: Option<Current>,
    /// The name the next file gets (kept while opening it fails).
    pending: Option<PathBuf>,
    next_roll: Option<Instant>,
    /// The batch's bytes; reused, so it stops allocating after a while.
    buf: Vec<u8>,
    ctx: Option<SinkContext>,
}

/// Look `value` up by short name (any case) or class name.
fn lookup<T: Copy>(table: &[(&str, &str, T)], value: &str) -> Option<T> {
    table
        .iter()
        .find(|(name, class, _)| name.eq_ignore_ascii_case(value) || *class == value)
        .map(|(_, _, t)| *t)
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Sink>> {
    FileRoll::from_props(props, diags).map(|s| Box::new(s) as Box<dyn Sink>)
}

impl FileRoll {
    fn from_props(props: &Props, diags: &mut Diags) -> Option<FileRoll> {
        let dir = props.required(diags, "sink.directory");
        if let Some(d) = &dir {
            // Only a warning: the sink waits for the directory (not created).
            match std::fs::metadata(d) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => props.warn(
                    diags,
                    Some("sink.directory"),
                    format!("{d} is not a directory; the sink will retry until it is one"),
                ),
                Err(e) => props.warn(
                    diags,
                    Some("sink.directory"),
                    format!("{d}: {e}; the sink will retry until it is usable"),
                ),
            }
        }
        let roll = props.secs(diags, "sink.rollInterval", 30, 0);
        // Flume reads `sink.batchSize` only; sluice's README once said
        // `batchSize`, which is still honoured, with a warning that Flume
        // would not (the same file must mean the same thing under both).
        let batch = if props.get("sink.batchSize").is_some() {
            props.count(diags, "sink.batchSize", 100, 1)
        } else {
            let b = props.count(diags, "batchSize", 100, 1);
            if props.get("batchSize").is_some() {
                props.warn(
                    diags,
                    Some("batchSize"),
                    "Flume's file_roll reads sink.batchSize only (it would use 100); honoured here, write sink.batchSize",
                );
            }
            b
        };

        let naming_name = props
            .string("sink.pathManager")
            .unwrap_or_else(|| "DEFAULT".into());
        let naming = lookup(NAMINGS, &naming_name);
        if naming.is_none() {
            let known: Vec<&str> = NAMINGS.iter().map(|n| n.0).collect();
            props.error(
                diags,
                Some("sink.pathManager"),
                format!(
                    "unknown path manager '{naming_name}' (known: {})",
                    known.join(", ")
                ),
            );
        }
        let pm = props.sub("sink.pathManager");
        let prefix = pm.get("prefix").unwrap_or("").to_string();
        let extension = pm.get("extension").unwrap_or("").to_string();
        if prefix.contains('/') {
            pm.error(diags, Some("prefix"), "must not contain '/'");
        }
        if extension.contains('/') {
            pm.error(diags, Some("extension"), "must not contain '/'");
        }
        pm.warn_unknown(diags);

        let format_name = props
            .string("sink.serializer")
            .unwrap_or_else(|| "TEXT".into());
        let format = lookup(FORMATS, &format_name);
        if format.is_none() {
            let known: Vec<&str> = FORMATS.iter().map(|f| f.0).collect();
            props.error(
                diags,
                Some("sink.serializer"),
                format!(
                    "unknown serializer '{format_name}' (known: {})",
                    known.join(", ")
                ),
            );
        }
        let ser = props.sub("sink.serializer");
        let newline = ser.bool(diags, "appendNewline", true);
        ser.warn_unknown(diags);

        Some(FileRoll {
            paths: PathManager {
                dir: PathBuf::from(dir?),
                naming: naming?,
                prefix,
                extension,
                series: now_millis(),
                index: 0,
                last_stamp: String::new(),
            },
            roll: (!roll.is_zero()).then_some(roll),
            format: format?,
            newline,
            batch,
            current: None,
            pending: None,
            next_roll: None,
            buf: Vec::new(),
            ctx: None,
        })
    }

    fn warn(&self, message: &str) {
        if let Some(ctx) = &self.ctx {
            ctx.log.warn(&ctx.label, message);
        }
    }

    /// The file to write to: the current one if it is still at its path,
    /// else a new one.
    fn file(&mut self) -> Result<&mut Current, String> {
        if let Some(cur) = &self.current {
            let same = std::fs::metadata(&cur.path)
                .map(|m| (m.dev(), m.ino()) == cur.id)
                .unwrap_or(false);
            if !same {
                let msg = format!(
                    "{} was removed or moved away; going on in a new file",
                    cur.path.display()
                );
                self.current = None;
                self.warn(&msg);
            }
        }
        if self.current.is_none() {
            self.open()?;
        }
        self.current
            .as_mut()
            .ok_or_else(|| "no file is open".to_string())
    }

    /// Open the next file (the same name again after a failed open).
    fn open(&mut self) -> Result<(), String> {
        let path = match self.pending.take() {
            Some(p) => p,
            None => self.paths.next(),
        };
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|file| {
                let meta = file.metadata()?;
                if !meta.is_file() {
                    return Err(std::io::Error::other("not a regular file"));
                }
                Ok((file, meta))
            });
        match opened {
            Ok((file, meta)) => {
                self.current = Some(Current {
                    file,
                    len: meta.len(),
                    id: (meta.dev(), meta.ino()),
                    path,
                });
                Ok(())
            }
            Err(e) => {
                let msg = format!("cannot open {}: {e}", path.display());
                self.pending = Some(path);
                Err(msg)
            }
        }
    }

    /// Close the current file (synced to disk); the next open takes a new name.
    fn close(&mut self) -> Result<(), String> {
        match self.current.take() {
            Some(cur) => cur
                .file
                .sync_all()
                .map_err(|e| format!("cannot sync {}: {e}", cur.path.display())),
            None => Ok(()),
        }
    }

    /// The batch's bytes into `self.buf`.
    fn encode(&mut self, events: &[Event]) {
        self.buf.clear();
        let extra = usize::from(self.newline);
        let size: usize = events.iter().map(|e| e.body.len() + extra).sum();
        self.buf.reserve(size);
        for e in events {
            if self.format == Format::HeaderAndText {
                encode_headers(&mut self.buf, e);
            }
            self.buf.extend_from_slice(&e.body);
            if self.newline {
                self.buf.push(b'\n');
            }
        }
    }
}

/// Java's `Map.toString()` and a space: `{a=1, b=2} `.
fn encode_headers(out: &mut Vec<u8>, e: &Event) {
    out.push(b'{');
    for (i, (k, v)) in e.headers.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(b"} ");
}

/// Where a batch goes: a file, or in tests one that fails on demand.
trait Output {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()>;
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl Output for File {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Write::write_all(self, buf)
    }
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        File::set_len(self, len)
    }
}

/// Append `buf` (one batch) to `out`, which holds `len` bytes; on a failed
/// write cut it back to `len` so nothing of the batch stays. Ok: the new
/// length. The error says whether the cut worked.
fn append(out: &mut impl Output, len: u64, buf: &[u8], path: &Path) -> Result<u64, String> {
    match out.write_all(buf) {
        Ok(()) => Ok(len + buf.len() as u64),
        Err(e) => match out.set_len(len) {
            Ok(()) => Err(format!(
                "cannot write to {}: {e} (the partial batch was cut back out)",
                path.display()
            )),
            Err(e2) => Err(format!(
                "cannot write to {}: {e}; cutting the partial batch back out failed too \
                 ({e2}), so part of it may be there as well as in the next file",
                path.display()
            )),
        },
    }
}

#[async_trait]
impl Sink for FileRoll {
    async fn start(&mut self, ctx: &SinkContext) -> Result<(), String> {
        self.ctx = Some(ctx.clone());
        self.paths.series = now_millis();
        self.next_roll = self.roll.map(|r| Instant::now() + r);
        if let Err(e) = self.open() {
            // Not fatal: deliveries retry until the directory is usable.
            self.warn(&format!("{e}; retrying when events arrive"));
        }
        Ok(())
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn own_thread(&self) -> bool {
        true
    }

    async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        self.encode(events);
        let buf = std::mem::take(&mut self.buf);
        let result = self.file().and_then(|cur| {
            append(&mut cur.file, cur.len, &buf, &cur.path).map(|len| cur.len = len)
        });
        self.buf = buf;
        if result.is_err() && self.current.is_some() {
            // A file that failed a write is left; the retry opens a new one.
            self.current = None;
        }
        result
    }

    fn deadline(&self) -> Option<Instant> {
        self.next_roll
    }

    async fn on_deadline(&mut self) -> Result<(), String> {
        if let Some(roll) = self.roll {
            // At a fixed rate, like Flume's roller; skip any missed rolls.
            let now = Instant::now();
            let mut next = self.next_roll.unwrap_or(now) + roll;
            if next <= now {
                next = now + roll;
            }
            self.next_roll = Some(next);
        }
        let closed = self.close();
        self.pending = None;
        let opened = self.open();
        closed.and(opened)
    }

    async fn stop(&mut self) {
        if let Err(e) = self.close() {
            self.warn(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::channel::Channel;
    use crate::engine::channel::memory::{MemoryChannel, Settings};
    use crate::engine::config::properties::Entry;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    fn props(pairs: &[(&str, &str)]) -> Props {
        let entries: BTreeMap<String, Entry> = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: i + 2,
                    },
                )
            })
            .collect();
        Props::new(Arc::new("a.conf".into()), "a1.sinks.k1".into(), 1, entries)
    }

    fn sink(pairs: &[(&str, &str)]) -> (Option<FileRoll>, Vec<String>) {
        let p = props(pairs);
        let mut d = Diags::default();
        let s = FileRoll::from_props(&p, &mut d);
        p.warn_unknown(&mut d);
        (s, d.items.iter().map(|d| d.to_string()).collect())
    }

    use crate::engine::log::testing::Captured;

    fn ctx(log: &Captured) -> SinkContext {
        SinkContext {
            label: "a1.sinks.k1".into(),
            log: log.log(),
        }
    }

    /// The files of `dir` in the order the sink made them (by their number).
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter_map(|p| {
                        let name = p.file_name()?.to_str()?.to_string();
                        let n = name.rsplit('-').next()?.split('.').next()?.parse().ok()?;
                        Some((n, p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    }

    fn all_text(dir: &Path) -> String {
        files(dir)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn events(range: std::ops::Range<u32>) -> Vec<Event> {
        range.map(|i| Event::new(i.to_string())).collect()
    }

    #[test]
    fn names_follow_flumes_default_path_manager() {
        let (s, warnings) = sink(&[
            ("sink.directory", "/tmp"),
            ("sink.pathManager.prefix", "app-"),
            ("sink.pathManager.extension", "log"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut s = s.expect("built");
        s.paths.series = 1700000000123;
        assert_eq!(s.paths.next(), Path::new("/tmp/app-1700000000123-1.log"));
        assert_eq!(s.paths.next(), Path::new("/tmp/app-1700000000123-2.log"));

        let (s, _) = sink(&[("sink.directory", "/tmp/x")]);
        let mut s = s.expect("built");
        s.paths.series = 5;
        assert_eq!(s.paths.next(), Path::new("/tmp/x/5-1"));
        assert_eq!(s.paths.next(), Path::new("/tmp/x/5-2"));
    }

    #[test]
    fn rolltime_names_carry_the_local_second() {
        let (s, _) = sink(&[
            ("sink.directory", "/d"),
            ("sink.pathManager", "rolltime"),
            ("sink.pathManager.extension", "txt"),
        ]);
        let mut s = s.expect("built");
        let name = s.paths.next();
        let name = name.file_name().and_then(|n| n.to_str()).expect("name");
        let (stamp, rest) = name.split_once('-').expect("dash");
        assert_eq!(stamp.len(), 14, "{name}");
        assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert!(rest.ends_with(".txt"), "{name}");
    }

    #[test]
    fn properties_are_checked() {
        let (s, w) = sink(&[]);
        assert!(s.is_none());
        assert_eq!(
            w,
            vec!["a.conf:1: error: [a1.sinks.k1] sink.directory: is required"]
        );

        let (s, w) = sink(&[
            ("sink.directory", "/"),
            ("sink.serializer", "avro_event"),
            ("sink.pathManager", "fancy"),
            ("sink.rollInterval", "soon"),
        ]);
        assert!(s.is_none());
        assert_eq!(
            w,
            vec![
                "a.conf:5: error: [a1.sinks.k1] sink.rollInterval: 'soon' is not a whole number",
                "a.conf:4: error: [a1.sinks.k1] sink.pathManager: unknown path manager 'fancy' (known: DEFAULT, ROLLTIME)",
                "a.conf:3: error: [a1.sinks.k1] sink.serializer: unknown serializer 'avro_event' (known: TEXT, HEADER_AND_TEXT)",
            ]
        );

        let (s, w) = sink(&[
            ("sink.directory", "/"),
            ("sink.serializer", "text"),
            ("sink.serializer.appendNewline", "false"),
            ("sink.rollInterval", "0"),
            ("sink.batchSize", "7"),
            ("sink.serializer.typo", "1"),
        ]);
        let s = s.expect("built");
        assert_eq!(s.format, Format::Text);
        assert!(!s.newline);
        assert_eq!(s.roll, None);
        assert_eq!(s.batch, 7);
        assert_eq!(
            w,
            vec![
                "a.conf:7: warning: [a1.sinks.k1.sink.serializer] typo: unknown property (ignored)"
            ]
        );

        let (s, w) = sink(&[("sink.directory", "/nonexistent/d"), ("batchSize", "9")]);
        assert_eq!(
            w,
            vec![
                "a.conf:2: warning: [a1.sinks.k1] sink.directory: /nonexistent/d: No such file or directory (os error 2); the sink will retry until it is usable",
                "a.conf:3: warning: [a1.sinks.k1] batchSize: Flume's file_roll reads sink.batchSize only (it would use 100); honoured here, write sink.batchSize"
            ]
        );
        assert_eq!(s.expect("built").batch, 9);
    }

    #[tokio::test]
    async fn append_newline_true_and_false() {
        for (newline, expected) in [("true", "a\nbb\n\nc\n"), ("false", "abbc")] {
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path().to_str().expect("utf-8");
            let (s, _) = sink(&[
                ("sink.directory", d),
                ("sink.serializer.appendNewline", newline),
            ]);
            let mut s = s.expect("built");
            let log = Captured::default();
            s.start(&ctx(&log)).await.expect("started");
            let batch: Vec<Event> = ["a", "bb", "", "c"]
                .iter()
                .map(|b| Event::new(b.to_string()))
                .collect();
            s.deliver(&batch[..2]).await.expect("delivered");
            s.deliver(&batch[2..]).await.expect("delivered");
            s.stop().await;
            let f = files(dir.path());
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(std::fs::read_to_string(&f[0]).expect("read"), expected);
        }
    }

    #[tokio::test]
    async fn header_and_text_writes_the_headers_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8");
        let (s, _) = sink(&[
            ("sink.directory", d),
            ("sink.serializer", "HEADER_AND_TEXT"),
        ]);
        let mut s = s.expect("built");
        s.start(&ctx(&Captured::default())).await.expect("started");
        let e = Event::new("body")
            .with_header("b", "2")
            .with_header("a", "1");
        s.deliver(&[e, Event::new("x")]).await.expect("delivered");
        s.stop().await;
        assert_eq!(all_text(dir.path()), "{a=1, b=2} body\n{} x\n");
    }

    /// An output whose write fails after `ok` bytes, having written them.
    struct Failing {
        data: Vec<u8>,
        ok: usize,
        cut_fails: bool,
    }

    impl Output for Failing {
        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            let n = buf.len().min(self.ok);
            self.data.extend_from_slice(&buf[..n]);
            self.ok -= n;
            if n < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(())
        }
        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            if self.cut_fails {
                return Err(std::io::Error::other("no"));
            }
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_cut_back_out() {
        let mut out = Failing {
            data: b"old\n".to_vec(),
            ok: 6,
            cut_fails: false,
        };
        let p = Path::new("/d/f");
        assert_eq!(append(&mut out, 4, b"1\n2\n", p), Ok(8));
        let err = append(&mut out, 8, b"3\n4\n", p).expect_err("fails");
        assert!(
            err.contains("disk full") && err.contains("cut back out"),
            "{err}"
        );
        assert_eq!(out.data, b"old\n1\n2\n");

        out.ok = 1;
        out.cut_fails = true;
        let err = append(&mut out, 8, b"3\n", p).expect_err("fails");
        assert!(err.contains("as well as"), "{err}");
    }

    #[tokio::test]
    async fn a_file_removed_under_the_sink_is_replaced_by_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8");
        let (s, _) = sink(&[("sink.directory", d), ("sink.rollInterval", "0")]);
        let mut s = s.expect("built");
        let log = Captured::default();
        s.start(&ctx(&log)).await.expect("started");
        s.deliver(&events(0..2)).await.expect("delivered");
        let first = files(dir.path());
        assert_eq!(first.len(), 1);
        std::fs::remove_file(&first[0]).expect("removed");
        s.deliver(&events(2..4)).await.expect("delivered");
        s.stop().await;
        assert_eq!(all_text(dir.path()), "2\n3\n");
        assert!(
            log.text().contains("removed or moved away"),
            "{}",
            log.text()
        );
    }

    /// Put events `range` into `ch` (from a plain thread).
    fn put(ch: &MemoryChannel, range: std::ops::Range<u32>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut all = events(range);
        while !all.is_empty() {
            let rest = all.split_off(all.len().min(100));
            let mut batch = std::mem::replace(&mut all, rest);
            rt.block_on(ch.put(&mut batch)).expect("put");
        }
    }

    /// Run the sink through the real runner on a new memory channel, on a
    /// thread of its own; `cancel` stops it.
    fn run_sink(
        s: FileRoll,
        log: &Captured,
    ) -> (
        CancellationToken,
        Arc<MemoryChannel>,
        std::thread::JoinHandle<()>,
    ) {
        let ch = Arc::new(MemoryChannel::new(
            "c1",
            Settings {
                capacity: 100_000,
                transaction_capacity: 100,
                ..Settings::default()
            },
        ));
        let cancel = CancellationToken::new();
        let (c, token, log) = (ch.clone(), cancel.clone(), log.clone());
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut s: Box<dyn Sink> = Box::new(s);
                let cx = ctx(&log);
                s.start(&cx).await.expect("started");
                super::super::run(s, c, cx, token).await;
            });
        });
        (cancel, ch, handle)
    }

    fn expected_lines(n: u32) -> String {
        (0..n).map(|i| format!("{i}\n")).collect()
    }

    #[test]
    fn rolls_on_the_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8");
        let (s, _) = sink(&[("sink.directory", d), ("sink.rollInterval", "1")]);
        let log = Captured::default();
        let (cancel, ch, handle) = run_sink(s.expect("built"), &log);
        put(&ch, 0..10);
        wait_until("the first events", || {
            all_text(dir.path()) == expected_lines(10)
        });
        wait_until("a second file", || files(dir.path()).len() >= 2);
        // Events after the roll go to the new file.
        put(&ch, 10..20);
        wait_until("the later events", || {
            all_text(dir.path()) == expected_lines(20)
        });
        cancel.cancel();
        handle.join().expect("joined");
        assert_eq!(ch.len(), 0);
        let f = files(dir.path());
        let names: Vec<&str> = f.iter().filter_map(|p| p.file_name()?.to_str()).collect();
        assert!(
            names[0].ends_with("-1") && names[1].ends_with("-2"),
            "{names:?}"
        );
        let first = std::fs::read_to_string(&f[0]).expect("read");
        assert!(expected_lines(10).starts_with(&first), "{first}");
    }

    #[test]
    fn an_unusable_directory_loses_nothing() {
        let top = tempfile::tempdir().expect("tempdir");
        let dir = top.path().join("out");
        let aside = top.path().join("aside");
        // The directory is a plain file from the start: no open can work,
        // root or not.
        std::fs::write(&dir, b"not a directory").expect("file");
        let d = dir.to_str().expect("utf-8");
        let (s, _) = sink(&[("sink.directory", d), ("sink.rollInterval", "0")]);
        let log = Captured::default();
        let (cancel, ch, handle) = run_sink(s.expect("built"), &log);
        put(&ch, 0..1000);
        wait_until("the sink to fail", || log.text().contains("cannot deliver"));
        assert_eq!(ch.len(), 1000);
        // Back as a directory: the sink goes on.
        std::fs::remove_file(&dir).expect("rm");
        std::fs::create_dir(&dir).expect("mkdir");
        wait_until("the first 1000", || ch.is_empty());
        assert_eq!(all_text(&dir), expected_lines(1000));
        // Unusable again while a file is open: the directory moves away
        // and a plain file takes its place.
        std::fs::rename(&dir, &aside).expect("mv");
        std::fs::write(&dir, b"x").expect("file");
        put(&ch, 1000..3000);
        wait_until("the sink to fail again", || {
            log.text().matches("cannot deliver").count() == 2
        });
        assert!(
            log.text().contains("removed or moved away"),
            "{}",
            log.text()
        );
        assert_eq!(ch.len(), 2000);
        // Restored, with what it held.
        std::fs::remove_file(&dir).expect("rm");
        std::fs::rename(&aside, &dir).expect("mv back");
        wait_until("every event", || ch.is_empty());
        cancel.cancel();
        handle.join().expect("joined");
        assert_eq!(all_text(&dir), expected_lines(3000));
        assert!(files(&dir).len() >= 2);
        let text = log.text();
        assert!(text.contains("Not a directory"), "{text}");
        assert!(text.contains("delivering again"), "{text}");
    }
}
