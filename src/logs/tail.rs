//! Reading log files back: supervisord's `readLog`/`readProcessStdoutLog`
//! (`read_log`), `tailProcessStdoutLog` (`tail_log`), and a [`Follower`]
//! for `tail -f` that survives rotation.
//!
//! The semantics reproduce supervisord 4.x (`supervisor/options.py`
//! readFile/tailFile and their callers in `supervisor/rpcinterface.py`):
//! - `read_log`: a missing file is `NO_FILE`; a negative offset reads the last
//!   `-offset` bytes and then requires `length == 0`; a non-negative offset
//!   requires `length >= 0`, and `length == 0` means "to the end"; other
//!   combinations are `BAD_ARGUMENTS`; an I/O error is `FAILED`.
//! - `tail_log`: never fails; it returns `(bytes, new_offset, overflow)`,
//!   where `new_offset` is the file size. When the file has grown past
//!   `offset + length`, only the last `length` bytes are returned and
//!   `overflow` is set. A missing file gives `("", 0, false)`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::rpc::value::faults;

/// Why `read_log` failed, as supervisord's faults.
#[derive(Debug)]
pub enum ReadError {
    /// Offset/length combination supervisord rejects.
    BadArguments,
    /// The log file does not exist (or the process has none).
    NoFile,
    /// The file exists but reading it failed.
    Failed(io::Error),
}

impl ReadError {
    /// supervisord's fault code (`Faults.BAD_ARGUMENTS` etc.).
    pub fn fault_code(&self) -> i32 {
        match self {
            ReadError::BadArguments => faults::BAD_ARGUMENTS,
            ReadError::NoFile => faults::NO_FILE,
            ReadError::Failed(_) => faults::FAILED,
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::BadArguments => f.write_str("BAD_ARGUMENTS"),
            ReadError::NoFile => f.write_str("NO_FILE"),
            ReadError::Failed(e) => write!(f, "FAILED: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// A part of an open log file that a read answers with, read when the
/// answer is written: so a large read can be sent in pieces instead of
/// being held in memory whole.
#[derive(Debug)]
pub struct Span {
    file: File,
    /// Where it starts in the file.
    pub start: u64,
    /// How many bytes it has at most (fewer if the file ends before).
    pub len: u64,
}

impl Span {
    fn empty(file: File) -> Span {
        Span {
            file,
            start: 0,
            len: 0,
        }
    }

    /// Up to `max` bytes from `at` bytes into the span; empty at its end
    /// (or the file's).
    pub fn read_at(&self, at: u64, max: usize) -> io::Result<Vec<u8>> {
        let left = self.len.saturating_sub(at);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(max);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match self
                .file
                .read_at(&mut buf[got..], self.start.saturating_add(at) + got as u64)
            {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// All of it.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.start))?;
        let mut data = Vec::new();
        f.take(self.len).read_to_end(&mut data)?;
        Ok(data)
    }
}

/// supervisord's `readLog` / `readProcessStdoutLog` / `readProcessStderrLog`
/// on the file `path` (pass `None` for a process without a log file: that is
/// `NO_FILE`, as in supervisord): the part of the file to answer with. A
/// read "to the end" ends where the file ends now.
pub fn read_span(path: Option<&Path>, offset: i64, length: i64) -> Result<Span, ReadError> {
    let path = path.ok_or(ReadError::NoFile)?;
    if !path.exists() {
        return Err(ReadError::NoFile);
    }
    let f = File::open(path).map_err(ReadError::Failed)?;
    let size = f.metadata().map_err(ReadError::Failed)?.len();
    if offset < 0 {
        if length != 0 {
            return Err(ReadError::BadArguments);
        }
        let want = offset.unsigned_abs();
        let start = size.saturating_sub(want);
        Ok(Span {
            file: f,
            start,
            len: want,
        })
    } else {
        if length < 0 {
            return Err(ReadError::BadArguments);
        }
        let start = offset as u64;
        let len = if length == 0 {
            size.saturating_sub(start)
        } else {
            length as u64
        };
        Ok(Span {
            file: f,
            start,
            len,
        })
    }
}

/// [`read_span`], read.
pub fn read_log(path: Option<&Path>, offset: i64, length: i64) -> Result<Vec<u8>, ReadError> {
    read_span(path, offset, length)?
        .read_all()
        .map_err(ReadError::Failed)
}

/// supervisord's `tailProcessStdoutLog`: `(part of the file, new_offset,
/// overflow)`. `path == None` or a missing file gives `(None, 0, false)`;
/// an I/O error gives `(None, offset, false)`.
pub fn tail_span(path: Option<&Path>, offset: i64, length: i64) -> (Option<Span>, i64, bool) {
    let Some(path) = path else {
        return (None, 0, false);
    };
    if !path.exists() {
        return (None, 0, false);
    }
    match tail_file(path, offset, length) {
        Ok((span, size, overflow)) => (Some(span), size, overflow),
        Err(_) => (None, offset, false),
    }
}

/// [`tail_span`], read: `(bytes, new_offset, overflow)`.
pub fn tail_log(path: Option<&Path>, offset: i64, length: i64) -> (Vec<u8>, i64, bool) {
    match tail_span(path, offset, length) {
        (Some(span), size, overflow) => match span.read_all() {
            Ok(data) => (data, size, overflow),
            Err(_) => (Vec::new(), offset, false),
        },
        (None, size, overflow) => (Vec::new(), size, overflow),
    }
}

fn tail_file(path: &Path, mut offset: i64, mut length: i64) -> io::Result<(Span, i64, bool)> {
    let f = File::open(path)?;
    let size = i64::try_from(f.metadata()?.len()).unwrap_or(i64::MAX);
    let mut overflow = false;
    if size > offset.saturating_add(length) {
        overflow = true;
        offset = size - 1;
    }
    if offset.saturating_add(length) > size {
        if offset > size - 1 {
            length = 0;
        }
        offset = size.saturating_sub(length);
    }
    offset = offset.max(0);
    length = length.max(0);
    if length == 0 {
        return Ok((Span::empty(f), size, overflow));
    }
    let span = Span {
        file: f,
        start: offset as u64,
        len: length as u64,
    };
    Ok((span, size, overflow))
}

/// Where a [`Follower`] starts in the file it first opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// From byte 0.
    Beginning,
    /// From the current end (only new output).
    End,
    /// From this byte offset.
    Offset(u64),
    /// The last N bytes, then new output (`tail -c N -f`).
    Last(u64),
}

/// Follows a log file like `tail -F`, across rotations and truncations.
///
/// When the path is renamed away (rotation: `f -> f.1`) the follower keeps
/// reading the old file through its open descriptor; once a *new* file
/// appears at the path, it reads what is left of the old one, then switches
/// to the new one from byte 0, so no byte is missed or repeated. A file
/// truncated in place (rotation with `backups=0`, or `clear`) is read again
/// from 0. Limitation: if the file rotates twice between two polls, the
/// middle file (by then `f.1`) is not read.
///
/// Waiting for new output is done by polling with a short sleep
/// ([`Follower::next_chunk`]); no inotify.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// (dev, ino) of `file`.
    id: (u64, u64),
    pos: u64,
    /// Applies to the first file opened only; later files start at 0.
    start: Option<Start>,
    poll_interval: Duration,
}

/// How much one `read_available` call returns at most, so a huge backlog
/// comes in bounded pieces.
const MAX_CHUNK: u64 = 4 * 1024 * 1024;

impl Follower {
    /// Follow `path` (which may not exist yet).
    pub fn new(path: impl Into<PathBuf>, start: Start) -> Follower {
        Follower {
            path: path.into(),
            file: None,
            id: (0, 0),
            pos: 0,
            start: Some(start),
            poll_interval: Duration::from_millis(100),
        }
    }

    /// Change the sleep between polls in [`Follower::next_chunk`] (default 100 ms).
    pub fn with_poll_interval(mut self, d: Duration) -> Follower {
        self.poll_interval = d;
        self
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the next byte in the file currently followed.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn try_open(&mut self) -> io::Result<bool> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = f.metadata()?;
        self.id = (meta.dev(), meta.ino());
        let len = meta.len();
        self.pos = match self.start.take() {
            None | Some(Start::Beginning) => 0,
            Some(Start::End) => len,
            Some(Start::Offset(o)) => o.min(len),
            Some(Start::Last(n)) => len.saturating_sub(n),
        };
        self.file = Some(f);
        Ok(true)
    }

    /// Append to `out` what the open file holds past our position, up to
    /// `limit` bytes. Returns the count.
    fn drain(&mut self, out: &mut Vec<u8>, limit: u64) -> io::Result<u64> {
        let Some(f) = self.file.as_ref() else {
            return Ok(0);
        };
        let len = f.metadata()?.len();
        if len < self.pos {
            // truncated in place: start over
            self.pos = 0;
        }
        let mut got = 0u64;
        let mut buf = [0u8; 64 * 1024];
        while got < limit {
            let want = (limit - got).min(buf.len() as u64) as usize;
            let n = match f.read_at(&mut buf[..want], self.pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.extend_from_slice(&buf[..n]);
            self.pos += n as u64;
            got += n as u64;
        }
        Ok(got)
    }

    /// Whether a different file than ours now sits at the path.
    fn replaced(&self) -> io::Result<bool> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok((m.dev(), m.ino()) != self.id),
            // moved away and not yet recreated: keep reading the old one
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Append whatever is available now to `out` without waiting; returns
    /// the number of bytes appended (0: nothing new).
    pub fn read_available(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0u64;
        // A few rounds: old file's rest, then the new file.
        for _ in 0..4 {
            if self.file.is_none() && !self.try_open()? {
                break;
            }
            let got = self.drain(out, MAX_CHUNK - total)?;
            total += got;
            if total >= MAX_CHUNK {
                break;
            }
            if !self.replaced()? {
                break;
            }
            // Rotated: the writer moved on, so whatever it wrote to the old
            // file is there now. Take the rest, then switch.
            total += self.drain(out, u64::MAX)?;
            self.file = None;
            self.pos = 0;
            self.start = None;
        }
        Ok(total as usize)
    }

    /// Wait until new bytes are available and return them (polling with the
    /// follower's sleep interval).
    pub async fn next_chunk(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            if self.read_available(&mut out)? > 0 {
                return Ok(out);
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::rotate::RotatingFile;
    use std::fs;

    fn file_with(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        fs::write(&p, content).unwrap();
        (dir, p)
    }

    #[test]
    fn read_log_offsets_and_lengths() {
        let (_d, p) = file_with(b"0123456789");
        let p = Some(p.as_path());
        assert_eq!(read_log(p, 0, 0).unwrap(), b"0123456789");
        assert_eq!(read_log(p, 3, 0).unwrap(), b"3456789");
        assert_eq!(read_log(p, 3, 4).unwrap(), b"3456");
        assert_eq!(read_log(p, 8, 100).unwrap(), b"89");
        assert_eq!(read_log(p, 100, 0).unwrap(), b"");
        assert_eq!(read_log(p, -4, 0).unwrap(), b"6789");
        assert_eq!(read_log(p, -100, 0).unwrap(), b"0123456789");
    }

    #[test]
    fn read_log_errors() {
        let (d, p) = file_with(b"abc");
        let p = Some(p.as_path());
        assert!(matches!(read_log(p, -1, 1), Err(ReadError::BadArguments)));
        assert!(matches!(read_log(p, 0, -1), Err(ReadError::BadArguments)));
        assert!(matches!(read_log(p, -1, -1), Err(ReadError::BadArguments)));
        let missing = d.path().join("missing");
        let e = read_log(Some(&missing), 0, 0).unwrap_err();
        assert!(matches!(e, ReadError::NoFile));
        assert_eq!(e.fault_code(), faults::NO_FILE);
        assert!(matches!(read_log(None, 0, 0), Err(ReadError::NoFile)));
        // NO_FILE wins over bad arguments, as in supervisord
        assert!(matches!(
            read_log(Some(&missing), -1, 1),
            Err(ReadError::NoFile)
        ));
        assert_eq!(ReadError::BadArguments.fault_code(), faults::BAD_ARGUMENTS);
    }

    #[test]
    fn tail_log_follows_supervisord() {
        let (d, p) = file_with(b"0123456789");
        let p = Some(p.as_path());
        // from 0 with a big window: everything, no overflow
        assert_eq!(tail_log(p, 0, 100), (b"0123456789".to_vec(), 10, false));
        // window smaller than what is there: last `length` bytes, overflow
        assert_eq!(tail_log(p, 0, 4), (b"6789".to_vec(), 10, true));
        // caught up: nothing new
        assert_eq!(tail_log(p, 10, 4), (Vec::new(), 10, false));
        // offset beyond the end (file shrank): nothing, offset = size
        assert_eq!(tail_log(p, 50, 4), (Vec::new(), 10, false));
        // partial catch-up within the window: supervisord returns the last
        // `length` bytes (ending at EOF), not the bytes from `offset`
        assert_eq!(tail_log(p, 8, 4), (b"6789".to_vec(), 10, false));
        // length 0
        assert_eq!(tail_log(p, 0, 0), (Vec::new(), 10, true));
        // missing file
        let missing = d.path().join("missing");
        assert_eq!(tail_log(Some(&missing), 5, 10), (Vec::new(), 0, false));
        assert_eq!(tail_log(None, 5, 10), (Vec::new(), 0, false));
        // negative length never reads
        assert_eq!(tail_log(p, 0, -5), (Vec::new(), 10, true));
    }

    #[test]
    fn tail_log_empty_file() {
        let (_d, p) = file_with(b"");
        assert_eq!(tail_log(Some(&p), 0, 1600), (Vec::new(), 0, false));
    }

    #[test]
    fn follower_start_positions_and_late_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut out = Vec::new();
        let mut f = Follower::new(&p, Start::Last(3));
        assert_eq!(f.read_available(&mut out).unwrap(), 0);
        fs::write(&p, b"hello").unwrap();
        f.read_available(&mut out).unwrap();
        assert_eq!(out, b"llo");

        let mut out = Vec::new();
        let mut f = Follower::new(&p, Start::End);
        f.read_available(&mut out).unwrap();
        assert!(out.is_empty());
        let mut w = RotatingFile::open(&p, 0, 0).unwrap();
        w.write(b" world").unwrap();
        f.read_available(&mut out).unwrap();
        assert_eq!(out, b" world");

        let mut out = Vec::new();
        let mut f = Follower::new(&p, Start::Offset(6));
        f.read_available(&mut out).unwrap();
        assert_eq!(out, b"world");
    }

    #[test]
    fn follower_crosses_rotation_without_loss_or_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut w = RotatingFile::open(&p, 50, 3).unwrap();
        let mut f = Follower::new(&p, Start::Beginning);
        let mut written = Vec::new();
        let mut seen = Vec::new();
        for i in 0..2000u32 {
            let line = format!("{i}\n");
            w.write(line.as_bytes()).unwrap();
            written.extend_from_slice(line.as_bytes());
            // poll at irregular moments, at most once per rotation
            if i % 7 == 0 || i % 11 == 0 {
                f.read_available(&mut seen).unwrap();
            }
        }
        f.read_available(&mut seen).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seen),
            String::from_utf8_lossy(&written)
        );
    }

    #[test]
    fn follower_keeps_reading_moved_file_until_a_new_one_appears() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let moved = dir.path().join("x.log.old");
        let mut w = RotatingFile::open(&p, 0, 0).unwrap();
        let mut f = Follower::new(&p, Start::Beginning);
        let mut seen = Vec::new();
        w.write(b"a").unwrap();
        f.read_available(&mut seen).unwrap();
        fs::rename(&p, &moved).unwrap();
        w.write(b"b").unwrap(); // writer not reopened yet
        f.read_available(&mut seen).unwrap();
        w.write(b"c").unwrap();
        w.reopen().unwrap(); // SIGUSR2
        w.write(b"d").unwrap();
        f.read_available(&mut seen).unwrap();
        assert_eq!(seen, b"abcd");
    }

    #[test]
    fn follower_restarts_after_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut w = RotatingFile::open(&p, 10, 0).unwrap();
        let mut f = Follower::new(&p, Start::Beginning);
        let mut seen = Vec::new();
        w.write(b"12345").unwrap();
        f.read_available(&mut seen).unwrap();
        w.write(b"67890").unwrap(); // reaches 10: truncated
        w.write(b"ab").unwrap();
        f.read_available(&mut seen).unwrap();
        // "67890" was truncated away before the follower saw it
        assert_eq!(seen, b"12345ab");
    }

    #[tokio::test]
    async fn follower_next_chunk_waits_for_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut f =
            Follower::new(&p, Start::Beginning).with_poll_interval(Duration::from_millis(5));
        let p2 = p.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut w = RotatingFile::open(&p2, 0, 0).unwrap();
            w.write(b"late").unwrap();
        });
        let got = tokio::time::timeout(Duration::from_secs(5), f.next_chunk())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"late");
        writer.await.unwrap();
    }

    #[test]
    fn follower_concurrent_writer_with_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        // large enough files that the follower never falls two rotations behind
        let mut w = RotatingFile::open(&p, 200_000, 2).unwrap();
        let mut f = Follower::new(&p, Start::Beginning);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            loop {
                let finished = d2.load(std::sync::atomic::Ordering::SeqCst);
                f.read_available(&mut seen).unwrap();
                if finished {
                    // one more pass after the writer is done
                    while f.read_available(&mut seen).unwrap() > 0 {}
                    return seen;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let mut written = Vec::new();
        for i in 0..100_000u32 {
            let line = format!("line {i}\n");
            w.write(line.as_bytes()).unwrap();
            written.extend_from_slice(line.as_bytes());
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen = reader.join().unwrap();
        assert_eq!(seen.len(), written.len());
        assert!(seen == written);
    }
}
