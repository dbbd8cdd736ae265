//! `RotatingFile`: an append-only log file that rolls over by size the way
//! supervisord's `RotatingFileHandler` does.
//!
//! Behaviour reproduced from supervisord 4.x (`supervisor/loggers.py`):
//! - the file is opened in append mode; its directory must already exist
//!   (supervisord does not create it either);
//! - the size check happens *after* a write: once the file position is
//!   `>= maxbytes`, the file is rotated (so a file can exceed `maxbytes` by
//!   at most one write, and no write is ever split across two files);
//! - rotation renames `f.(B-1) -> f.B`, ..., `f.1 -> f.2`, `f -> f.1` and opens
//!   a fresh, empty `f`; with `backups == 0` the file is simply truncated;
//! - `maxbytes == 0` never rotates, and the file is then never stat'ed or
//!   seeked, so `/dev/stdout`, ttys and fifos work as destinations.
//!
//! The size is tracked in memory (size at open + bytes written) rather than
//! asked of the kernel after each write: one `write(2)` per call, nothing else.
//!
//! A rotation costs as many renames as there are backups, not as `backups`
//! says: the writer remembers how many backups `f.1 ..= f.N` it made or
//! found, and each rotation only checks whether `f.(N+1)` and beyond exist
//! too (another writer of the same path, files put there by hand). Unlike
//! supervisord, which tries every `f.i` up to `backups`, a backup past a
//! gap is left alone.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A `RotatingFile` shared by several writers (e.g. stdout and stderr of a
/// process with `redirect_stderr=true`, or the daemon log's tracing writer).
pub type SharedRotatingFile = Arc<Mutex<RotatingFile>>;

/// An append-mode log file rotated by size, supervisord style.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    maxbytes: u64,
    backups: u32,
    /// Permissions of a file this writer creates (before the umask).
    mode: u32,
    /// Whether rotation applies: `maxbytes > 0` and the path is a regular file.
    rotating: bool,
    /// Current size of `file` as far as our writes know.
    pos: u64,
    /// How many backups `f.1 ..= f.N` are known to exist (a lower bound:
    /// a rotation looks for more past it).
    present: u32,
}

/// Open `path` for appending, creating the file (not its directory) with
/// `mode`.
fn open_append(path: &Path, truncate: bool, mode: u32) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true).mode(mode);
    if truncate {
        // `OpenOptions::truncate` refuses to combine with append; O_TRUNC
        // with O_APPEND is fine for the kernel.
        opts.custom_flags(libc::O_TRUNC);
    }
    opts.open(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                    format!(" (directory {} does not exist)", dir.display())
                }
                _ => String::new(),
            }
        } else {
            String::new()
        };
        io::Error::new(
            e.kind(),
            format!("cannot open log file {}: {e}{hint}", path.display()),
        )
    })
}

/// `f.N` for a base path `f`.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// Open (append, create) `path`. `maxbytes == 0` disables rotation;
    /// `backups == 0` makes rotation a truncation. Fails, naming the path, if
    /// the directory is missing or the file cannot be opened.
    pub fn open(path: impl AsRef<Path>, maxbytes: u64, backups: u32) -> io::Result<RotatingFile> {
        RotatingFile::open_with_mode(path, maxbytes, backups, 0o666)
    }

    /// [`open`](RotatingFile::open), and every file it creates (now, at a
    /// rotation, a clear or a reopen) gets `mode` (0600 for AUTO logs).
    pub fn open_with_mode(
        path: impl AsRef<Path>,
        maxbytes: u64,
        backups: u32,
        mode: u32,
    ) -> io::Result<RotatingFile> {
        let path = path.as_ref().to_path_buf();
        let file = open_append(&path, false, mode)?;
        let mut rf = RotatingFile {
            path,
            file,
            maxbytes,
            backups,
            mode,
            rotating: false,
            pos: 0,
            present: 0,
        };
        rf.init_size()?;
        Ok(rf)
    }

    /// Decide whether rotation applies and learn the current size. Only done
    /// when `maxbytes > 0`, so special files are never stat'ed for size.
    fn init_size(&mut self) -> io::Result<()> {
        self.rotating = false;
        self.pos = 0;
        if self.maxbytes > 0 {
            let meta = self.file.metadata()?;
            if meta.file_type().is_file() {
                self.rotating = true;
                self.pos = meta.len();
            }
        }
        Ok(())
    }

    /// The base path (`f`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured size limit (0: never rotate).
    pub fn maxbytes(&self) -> u64 {
        self.maxbytes
    }

    /// The configured number of backups.
    pub fn backups(&self) -> u32 {
        self.backups
    }

    /// Bytes in the current file as far as this writer knows (0 when rotation
    /// is off).
    pub fn len(&self) -> u64 {
        self.pos
    }

    /// Whether the current file is empty as far as this writer knows.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Wrap into the shared form used by capture tasks and loggers.
    pub fn shared(self) -> SharedRotatingFile {
        Arc::new(Mutex::new(self))
    }

    /// Append all of `buf`, then rotate if the file reached `maxbytes`.
    ///
    /// The bytes of one call always land in one file. If rotation fails the
    /// error is returned but the writer stays usable (it keeps appending to
    /// the file it has), so nothing written later is lost.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(buf)?;
        if self.rotating {
            self.pos += buf.len() as u64;
            if self.pos >= self.maxbytes {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Roll over now (whatever the size), as `write` does past `maxbytes`.
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.backups == 0 {
            // supervisord reopens the path with mode 'w'.
            self.file = open_append(&self.path, true, self.mode)?;
            self.pos = 0;
            return Ok(());
        }
        let present = count_backups(&self.path, self.present, self.backups);
        // f.(B-1) -> f.B (replacing it), ..., f.1 -> f.2, for those there are.
        for i in (1..=present.min(self.backups - 1)).rev() {
            let src = backup_path(&self.path, i);
            let dst = backup_path(&self.path, i + 1);
            rename_if_exists(&src, &dst)?;
        }
        let moved = rename_if_exists(&self.path, &backup_path(&self.path, 1))?;
        // Without `f` to move, `f.1` is missing: count again next time.
        self.present = if moved {
            present.saturating_add(1).min(self.backups)
        } else {
            0
        };
        // Only replace the handle once the new file is open: if opening
        // fails we keep writing to the old inode (now `f.1`) losing nothing.
        let file = open_append(&self.path, true, self.mode)?;
        self.file = file;
        self.pos = 0;
        Ok(())
    }

    /// Reopen the file by path (SIGUSR2: an external tool moved the log away).
    pub fn reopen(&mut self) -> io::Result<()> {
        let file = open_append(&self.path, false, self.mode)?;
        self.file = file;
        self.init_size()
    }

    /// Empty the log the way supervisord's clearProcessLogs does: remove the
    /// current file and start a new empty one. Backups are left alone (as
    /// supervisord does); see [`RotatingFile::clear_all`].
    pub fn clear(&mut self) -> io::Result<()> {
        if let Ok(m) = std::fs::metadata(&self.path)
            && !m.file_type().is_file()
        {
            return Ok(()); // e.g. /dev/stdout: nothing to clear
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.reopen()
    }

    /// [`clear`](RotatingFile::clear) and also delete the backups `f.1`,
    /// `f.2`, ... (up to the first one missing, at most `backups`).
    pub fn clear_all(&mut self) -> io::Result<()> {
        self.clear()?;
        for i in 1..=self.backups {
            match std::fs::remove_file(backup_path(&self.path, i)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// How many of `f.1`, `f.2`, ... exist in a row, at most `limit`, given
/// that the first `known` do: one `stat` for each past `known`, plus one.
fn count_backups(path: &Path, known: u32, limit: u32) -> u32 {
    let mut n = known.min(limit);
    while n < limit && std::fs::symlink_metadata(backup_path(path, n + 1)).is_ok() {
        n += 1;
    }
    n
}

/// `rename(src, dst)`, ignoring a missing `src` (an external cleanup removed
/// it): whether it was there. `rename(2)` replaces `dst` atomically.
fn rename_if_exists(src: &Path, dst: &Path) -> io::Result<bool> {
    match std::fs::rename(src, dst) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot rotate {} to {}: {e}", src.display(), dst.display()),
        )),
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        RotatingFile::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("x.log");
        let e = RotatingFile::open(&p, 10, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(!p.parent().unwrap().exists());
    }

    #[test]
    fn appends_to_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        fs::write(&p, b"old\n").unwrap();
        let mut f = RotatingFile::open(&p, 100, 2).unwrap();
        assert_eq!(f.len(), 4);
        f.write(b"new\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old\nnew\n");
    }

    #[test]
    fn rotates_when_size_reaches_maxbytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = RotatingFile::open(&p, 10, 3).unwrap();
        f.write(b"123456789").unwrap(); // 9 < 10: no rotation
        assert_eq!(names(dir.path()), ["a.log"]);
        f.write(b"0").unwrap(); // 10 >= 10: rotate after the write
        assert_eq!(names(dir.path()), ["a.log", "a.log.1"]);
        assert_eq!(fs::read(backup_path(&p, 1)).unwrap(), b"1234567890");
        assert_eq!(fs::read(&p).unwrap(), b"");
        // a big write lands whole in one file, then rotates
        f.write(b"abcdefghijklmnop").unwrap();
        assert_eq!(fs::read(backup_path(&p, 1)).unwrap(), b"abcdefghijklmnop");
        assert_eq!(fs::read(backup_path(&p, 2)).unwrap(), b"1234567890");
        assert_eq!(fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn exactly_f_and_backups_remain_and_no_byte_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let backups = 3;
        let mut f = RotatingFile::open(&p, 100, backups).unwrap();
        let mut all = Vec::new();
        for i in 0..1000u32 {
            let line = format!("line {i:05}\n"); // 11 bytes
            all.extend_from_slice(line.as_bytes());
            f.write(line.as_bytes()).unwrap();
        }
        assert_eq!(
            names(dir.path()),
            ["a.log", "a.log.1", "a.log.2", "a.log.3"]
        );
        // the kept files are the tail of everything written, in order
        let mut kept = Vec::new();
        for i in (1..=backups).rev() {
            let b = fs::read(backup_path(&p, i)).unwrap();
            assert!(b.len() >= 100 && b.len() < 111, "{}", b.len());
            kept.extend(b);
        }
        kept.extend(fs::read(&p).unwrap());
        assert!(all.ends_with(&kept));
        assert!(kept.len() > 300);
    }

    #[test]
    fn backups_zero_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = RotatingFile::open(&p, 10, 0).unwrap();
        f.write(b"12345").unwrap();
        f.write(b"67890").unwrap();
        assert_eq!(names(dir.path()), ["a.log"]);
        assert_eq!(fs::read(&p).unwrap(), b"");
        f.write(b"abc").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"abc");
        assert_eq!(names(dir.path()), ["a.log"]);
    }

    #[test]
    fn maxbytes_zero_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = RotatingFile::open(&p, 0, 5).unwrap();
        for _ in 0..100 {
            f.write(&[b'x'; 100]).unwrap();
        }
        assert_eq!(names(dir.path()), ["a.log"]);
        assert_eq!(fs::metadata(&p).unwrap().len(), 10_000);
    }

    #[test]
    fn every_file_created_gets_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auto.log");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let mut f = RotatingFile::open_with_mode(&p, 10, 1, 0o600).unwrap();
        assert_eq!(mode(&p), 0o600);
        f.write(b"0123456789").unwrap(); // rotates: a new file
        assert_eq!(mode(&backup_path(&p, 1)), 0o600);
        assert_eq!(mode(&p), 0o600);
        f.clear().unwrap();
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn special_files_work_as_destinations() {
        // /dev/null with maxbytes > 0: not a regular file, so never rotated.
        let mut f = RotatingFile::open("/dev/null", 10, 2).unwrap();
        for _ in 0..10 {
            f.write(b"hello world").unwrap();
        }
        assert!(!Path::new("/dev/null.1").exists());
        // a fifo with maxbytes 0
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        let mut f = RotatingFile::open(&fifo, 0, 0).unwrap();
        f.write(b"through a fifo").unwrap();
        drop(f);
        assert_eq!(reader.join().unwrap(), b"through a fifo");
    }

    #[test]
    fn stale_higher_backups_are_not_touched_and_oldest_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        fs::write(backup_path(&p, 1), b"one").unwrap();
        fs::write(backup_path(&p, 2), b"two").unwrap();
        let mut f = RotatingFile::open(&p, 3, 2).unwrap();
        f.write(b"new").unwrap();
        assert_eq!(fs::read(backup_path(&p, 1)).unwrap(), b"new");
        assert_eq!(fs::read(backup_path(&p, 2)).unwrap(), b"one");
        assert_eq!(names(dir.path()), ["a.log", "a.log.1", "a.log.2"]);
    }

    #[test]
    fn rotation_costs_the_backups_that_exist_not_the_configured_count() {
        // Trying every f.i up to u32::MAX would take hours; a rotation
        // must only touch the files there are.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let path = p.clone();
        std::thread::spawn(move || {
            let mut f = RotatingFile::open(&path, 1, u32::MAX).unwrap();
            for i in 0..50u8 {
                f.write(&[b'a' + i % 26]).unwrap();
            }
            let mut g = RotatingFile::open(&path, 1, u32::MAX).unwrap();
            g.clear_all().unwrap();
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("50 rotations and a clear with backups = u32::MAX finish");
        assert_eq!(names(dir.path()), ["a.log"]);
    }

    #[test]
    fn rotation_shifts_backups_it_did_not_make() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        fs::write(backup_path(&p, 1), b"one").unwrap();
        fs::write(backup_path(&p, 2), b"two").unwrap();
        let mut f = RotatingFile::open(&p, 3, 10).unwrap();
        f.write(b"new").unwrap();
        assert_eq!(fs::read(backup_path(&p, 1)).unwrap(), b"new");
        assert_eq!(fs::read(backup_path(&p, 2)).unwrap(), b"one");
        assert_eq!(fs::read(backup_path(&p, 3)).unwrap(), b"two");
        // One more appears past those it knows of (by hand, or another
        // writer of the same path).
        fs::write(backup_path(&p, 4), b"four").unwrap();
        f.write(b"aga").unwrap();
        let kept: Vec<Vec<u8>> = (1..=5)
            .map(|i| fs::read(backup_path(&p, i)).unwrap())
            .collect();
        assert_eq!(kept, [&b"aga"[..], b"new", b"one", b"two", b"four"]);
        assert!(!backup_path(&p, 6).exists());
    }

    #[test]
    fn reopen_follows_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let moved = dir.path().join("moved.log");
        let mut f = RotatingFile::open(&p, 0, 0).unwrap();
        f.write(b"before ").unwrap();
        fs::rename(&p, &moved).unwrap();
        f.write(b"still old").unwrap();
        f.reopen().unwrap();
        f.write(b"after").unwrap();
        assert_eq!(fs::read(&moved).unwrap(), b"before still old");
        assert_eq!(fs::read(&p).unwrap(), b"after");
    }

    #[test]
    fn reopen_learns_the_size_of_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = RotatingFile::open(&p, 10, 1).unwrap();
        f.write(b"12345").unwrap();
        fs::write(&p, b"123456789").unwrap();
        f.reopen().unwrap();
        assert_eq!(f.len(), 9);
        f.write(b"x").unwrap();
        assert_eq!(fs::read(backup_path(&p, 1)).unwrap(), b"123456789x");
    }

    #[test]
    fn clear_removes_current_file_and_clear_all_backups_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = RotatingFile::open(&p, 5, 2).unwrap();
        f.write(b"aaaaa").unwrap();
        f.write(b"bbbbb").unwrap();
        f.write(b"cc").unwrap();
        f.clear().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        assert_eq!(names(dir.path()), ["a.log", "a.log.1", "a.log.2"]);
        f.write(b"dd").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"dd");
        assert_eq!(f.len(), 2);
        f.clear_all().unwrap();
        assert_eq!(names(dir.path()), ["a.log"]);
        assert_eq!(fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn shared_between_two_writers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let shared = RotatingFile::open(&p, 0, 0).unwrap().shared();
        let hs: Vec<_> = (0..2u8)
            .map(|t| {
                let s = shared.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.lock().unwrap().write(&[b'a' + t; 10]).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let data = fs::read(&p).unwrap();
        assert_eq!(data.len(), 20_000);
        for chunk in data.chunks(10) {
            assert!(chunk.iter().all(|&b| b == chunk[0]));
        }
    }
}
