//! The on-disk side of the channel: appends with group commit, take
//! records, checkpoints, and data files no longer needed. All blocking;
//! the channel calls it from its writer and syncer threads (`pipeline`)
//! and from `spawn_blocking` (checkpoints).
//!
//! A checkpoint frees the data files before the oldest event. It keeps
//! as many of them as the writer started since the last checkpoint (or
//! half as many as the last checkpoint kept, when more) as spares
//! (`spare-<id>`, what a busy channel is about to need again) and deletes
//! the rest, so an idle channel gives its disk back within a few
//! checkpoints. A new data file is a spare written over when there is one:
//! on ext4 overwriting allocated blocks makes each fdatasync about 1.5
//! times as fast as appending (no block allocation; `docs/benchmarks.md`).
//! The file's header gets a new salt first, so replay reads the earlier
//! life's records past the new ones as the end of the file (`log`).
//!
//! A full disk (ENOSPC; minimumRequiredSpace 0, or another writer on the
//! same disk) is not the end: a put that finds no room deletes the spares
//! and tries once more, else fails as "full" and its source retries; the
//! writer may have no current file (none could be created, at start or
//! at a rotation) and starts one at the next put. A checkpoint that cannot
//! be written for want of room frees first what it would free after it
//! (and retires the current file when no event in the channel is in it),
//! then writes: a crash between the two finds, at the next start, the old
//! checkpoint naming events in freed files, which were all taken (every
//! event still in the channel is in a later file), and drops them with a
//! warning. So once the sink has drained the channel, its disk is given
//! back and puts go on by themselves.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::Settings;
use super::checkpoint::{self, Checkpoint};
use super::live::LiveSet;
use super::log::{self, FILE_HEADER_LEN, Ptr};
use crate::engine::channel::lock;
use crate::engine::event::Event;

pub struct Writer {
    /// The current data file; `None` when none could be made for want of
    /// room (the next append starts it, as `id`).
    pub file: Option<Arc<File>>,
    pub id: u32,
    /// The current file's record magic.
    pub magic: u32,
    /// Where the next record goes.
    pub offset: u64,
    /// A write failed part-way: start a new file before the next record.
    pub broken: bool,
    /// Reused to build each transaction's records.
    pub buf: Vec<u8>,
    pub next_tx: u64,
    /// Every committed event not yet taken by a committed take, as the log
    /// written so far says: what a checkpoint records.
    pub live: LiveSet,
    /// Data files on disk, by id.
    pub files: BTreeMap<u32, PathBuf>,
    /// Freed data files kept for reuse.
    pub spares: Vec<PathBuf>,
    /// Data files started since the last checkpoint.
    pub started: usize,
    /// How many spares the last checkpoint kept room for.
    pub spares_wanted: usize,
}

#[derive(Default)]
struct SyncState {
    /// The log is on disk up to here.
    synced: Ptr,
    /// A committer is in fdatasync.
    syncing: bool,
}

/// What a checkpoint freed.
#[derive(Debug)]
pub struct Freed {
    /// The data files freed (their `log-<id>` paths, gone either way).
    pub files: Vec<PathBuf>,
    /// Spare files kept for reuse now.
    pub spares: usize,
    /// Freed files (and spares) that could not be removed, with why:
    /// forgotten, left on disk (their events were all taken), so that
    /// one such file does not keep every later one from being freed.
    pub failed: Vec<String>,
}

pub struct Store {
    pub settings: Settings,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    /// fdatasync calls on data files (figures).
    pub fsyncs: AtomicU64,
    /// Where the records are in the files before format 5 read back from.
    old_records: log::OldRecords,
    /// Held while the store is open: one channel per directory.
    _lock: nix::fcntl::Flock<File>,
}

/// Free bytes for an unprivileged writer on the file system of `dir`.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let s = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
    #[allow(clippy::unnecessary_cast)]
    Ok((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
}

/// A new salt for a file's records: not 0, not the old format's magic,
/// not `old`. Random so that no event body can carry a record of a
/// future life. `RandomState` is seeded from the OS per process and
/// differs per call: enough here, without a random number crate.
fn new_salt(old: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u32(old);
        let salt = h.finish() as u32;
        if salt != 0 && salt != old && salt != log::RECORD_MAGIC {
            return salt;
        }
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The free space `free` reports, the spares deleted first when it is
/// under `min`.
fn free_after_spares(
    free: impl Fn() -> io::Result<u64>,
    min: u64,
    spares: &mut Vec<PathBuf>,
) -> io::Result<u64> {
    let n = free()?;
    if n >= min || spares.is_empty() {
        return Ok(n);
    }
    for spare in spares.drain(..) {
        let _ = std::fs::remove_file(spare);
    }
    free()
}

/// A data file ready for records from `FILE_HEADER_LEN` on.
pub struct NewFile {
    pub path: PathBuf,
    pub file: File,
    pub magic: u32,
}

/// Start data file `id`, durably: a spare from `spares` in its directory
/// written over, or a new file.
pub fn start_file(dirs: &[PathBuf], id: u32, spares: &mut Vec<PathBuf>) -> io::Result<NewFile> {
    let path = log::file_path(dirs, id);
    while let Some(i) = spares.iter().position(|s| s.parent() == path.parent()) {
        let spare = spares.swap_remove(i);
        match recycle(&spare, &path, id) {
            Ok(f) => return Ok(f),
            Err(_) => {
                // A fresh file instead; this spare is not worth keeping.
                let _ = std::fs::remove_file(&spare);
            }
        }
    }
    create_file(path, id)
}

fn create_file(path: PathBuf, id: u32) -> io::Result<NewFile> {
    use std::os::unix::fs::FileExt;
    let f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)?;
    let magic = new_salt(0);
    let ready = f
        .write_all_at(&log::file_header(id, magic, 0), 0)
        .and_then(|()| f.sync_all())
        .and_then(|()| sync_dir(&path));
    if let Err(e) = ready {
        // Not a data file (a full disk, say): gone, so a later try can
        // create it again.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(NewFile {
        path,
        file: f,
        magic,
    })
}

/// An error that says the disk is full.
pub fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded
}

/// Make `spare` data file `id`: the new header (a new salt) on disk
/// first, then the name, so a crash leaves either a spare or a file
/// whose old records read as the end.
fn recycle(spare: &Path, path: &Path, id: u32) -> io::Result<NewFile> {
    use std::os::unix::fs::FileExt;
    let f = OpenOptions::new().read(true).write(true).open(spare)?;
    let mut old = [0u8; FILE_HEADER_LEN as usize];
    let n = f.read_at(&mut old, 0)?;
    let old_magic = log::parse_file_header(&old[..n]).map_or(0, |h| h.magic);
    let was = spare
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(log::parse_spare_name)
        .unwrap_or(u32::MAX)
        .max(1);
    let magic = new_salt(old_magic);
    f.write_all_at(&log::file_header(id, magic, was), 0)?;
    f.sync_data()?;
    std::fs::rename(spare, path)?;
    sync_dir(path)?;
    Ok(NewFile {
        path: path.to_path_buf(),
        file: f,
        magic,
    })
}

impl Store {
    pub fn new(settings: Settings, writer: Writer, lock: nix::fcntl::Flock<File>) -> Store {
        let synced = Ptr {
            file: writer.id,
            offset: writer.offset,
        };
        Store {
            settings,
            writer: Mutex::new(writer),
            sync: Mutex::new(SyncState {
                synced,
                syncing: false,
            }),
            synced: Condvar::new(),
            fsyncs: AtomicU64::new(0),
            old_records: log::OldRecords::default(),
            _lock: lock,
        }
    }

    /// Refuse a put when the disk of the data file is nearly full (once
    /// the spares, space of our own, are deleted).
    fn check_space(&self, w: &mut Writer) -> io::Result<()> {
        let path = log::file_path(&self.settings.data_dirs, w.id);
        let dir = path.parent().unwrap_or(Path::new("."));
        let min = self.settings.minimum_required_space;
        let had_spares = !w.spares.is_empty();
        let free = free_after_spares(|| free_space(dir), min, &mut w.spares)?;
        if had_spares && w.spares.is_empty() {
            // Deleted for room: none wanted until files are started again.
            w.spares_wanted = 0;
        }
        if free < min {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "only {free} bytes free in {} (minimumRequiredSpace is {min}); refusing puts until there is room",
                    dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// Append `buf` (whole records) to the current file, starting a new
    /// one first when it would pass maxFileSize (or there is none); the
    /// position it starts at. Out of room, the spares are deleted and it
    /// tries once more.
    fn append(&self, w: &mut Writer, records: &mut [u8]) -> io::Result<Ptr> {
        match self.append_once(w, records) {
            Err(e) if is_full(&e) && !w.spares.is_empty() => {
                self.delete_spares(w);
                self.append_once(w, records)
            }
            r => r,
        }
    }

    fn append_once(&self, w: &mut Writer, records: &mut [u8]) -> io::Result<Ptr> {
        let full = w.offset > FILE_HEADER_LEN
            && w.offset + records.len() as u64 > self.settings.max_file_size;
        if full || w.broken || w.file.is_none() {
            self.rotate(w)?;
        }
        let Some(file) = w.file.clone() else {
            return Err(io::Error::other("no data file"));
        };
        let at = Ptr {
            file: w.id,
            offset: w.offset,
        };
        log::stamp(records, w.magic);
        // At an offset: a recycled file is written over, not appended to.
        if let Err(e) = std::os::unix::fs::FileExt::write_all_at(&*file, records, w.offset) {
            // Cut the partial write so later records follow whole ones;
            // if even that fails, the next append starts a new file.
            if file.set_len(w.offset).is_err() {
                w.broken = true;
            }
            return Err(e);
        }
        w.offset += records.len() as u64;
        Ok(at)
    }

    /// Close the current file (synced) and start the next one; with no
    /// current file, start the one it would have been (`w.id`).
    fn rotate(&self, w: &mut Writer) -> io::Result<()> {
        let id = match &w.file {
            Some(file) => {
                file.sync_data()?;
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                w.id + 1
            }
            None => w.id,
        };
        let f = start_file(&self.settings.data_dirs, id, &mut w.spares)?;
        w.files.insert(id, f.path);
        w.file = Some(Arc::new(f.file));
        w.id = id;
        w.magic = f.magic;
        w.offset = FILE_HEADER_LEN;
        w.broken = false;
        w.started += 1;
        Ok(())
    }

    /// Delete every spare: the disk is full, and they are our own room.
    fn delete_spares(&self, w: &mut Writer) {
        for spare in w.spares.drain(..) {
            let _ = std::fs::remove_file(spare);
        }
        // None wanted until files are started again.
        w.spares_wanted = 0;
    }

    /// Several put transactions, each its own record, written together
    /// with one write(2): the pointers of each, and the end of the last.
    /// `size` is about their encoded bytes (the buffer's room up front).
    pub fn append_puts(&self, puts: &[&[Event]], size: usize) -> io::Result<(Vec<Vec<Ptr>>, Ptr)> {
        let mut w = lock(&self.writer);
        self.check_space(&mut w)?;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        buf.reserve(size);
        // Entry offsets from the start of `buf`, and each put's share.
        let mut entries = Vec::with_capacity(puts.iter().map(|p| p.len()).sum());
        let mut shares = Vec::with_capacity(puts.len());
        for events in puts {
            let tx = w.next_tx;
            w.next_tx += 1;
            let (record, from) = (buf.len() as u64, entries.len());
            log::encode_put(&mut buf, tx, events, &mut entries);
            for e in &mut entries[from..] {
                *e += record;
            }
            shares.push(from..entries.len());
        }
        let r = self.append(&mut w, &mut buf);
        w.buf = buf;
        let at = r?;
        let ptrs: Vec<Vec<Ptr>> = shares
            .into_iter()
            .map(|share| {
                entries[share]
                    .iter()
                    .map(|o| Ptr {
                        file: at.file,
                        offset: at.offset + o,
                    })
                    .collect()
            })
            .collect();
        for p in &ptrs {
            w.live.append_sorted(p);
        }
        let end = Ptr {
            file: w.id,
            offset: w.offset,
        };
        Ok((ptrs, end))
    }

    /// A put whose sync failed: not in the channel (a restart may still
    /// find it in the log: at least once).
    pub fn forget(&self, ptrs: &[Ptr]) {
        let mut w = lock(&self.writer);
        w.live.remove_all(ptrs);
    }

    /// Make the log durable up to `target`: become the syncer, or wait
    /// for the one in flight when it covers `target` (group commit).
    pub fn sync_to(&self, target: Ptr) -> io::Result<()> {
        loop {
            {
                let mut s = lock(&self.sync);
                loop {
                    if s.synced >= target {
                        return Ok(());
                    }
                    if !s.syncing {
                        s.syncing = true;
                        break;
                    }
                    s = self.synced.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
            // Everything appended until now is covered by this sync: a
            // rotation synced the files before the current one.
            let (file, end) = {
                let w = lock(&self.writer);
                (
                    w.file.clone(),
                    Ptr {
                        file: w.id,
                        offset: w.offset,
                    },
                )
            };
            // No current file: nothing written since the last rotation,
            // which synced the files before.
            let r = file.map_or(Ok(()), |f| f.sync_data());
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            let mut s = lock(&self.sync);
            s.syncing = false;
            if r.is_ok() && end > s.synced {
                s.synced = end;
            }
            self.synced.notify_all();
            drop(s);
            r?;
        }
    }

    /// Take transactions committed: record them, each its own record,
    /// with one write(2) (not synced: see the module documentation), and
    /// forget their events. A take that is exactly the oldest events in
    /// the channel (the usual one) is recorded as a range. Forgotten even
    /// when the write fails: they were delivered; a restart before the
    /// next checkpoint may deliver them again.
    pub fn take_commits(&self, takes: &[Vec<Ptr>]) -> io::Result<()> {
        let mut w = lock(&self.writer);
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        for ptrs in takes {
            let tx = w.next_tx;
            w.next_tx += 1;
            match (ptrs.first(), ptrs.last(), u32::try_from(ptrs.len())) {
                (Some(first), Some(last), Ok(n)) if w.live.is_front(ptrs) => {
                    log::encode_take_range(&mut buf, tx, *first, *last, n)
                }
                _ => log::encode_take(&mut buf, tx, ptrs),
            }
            w.live.remove_all(ptrs);
        }
        let r = self.append(&mut w, &mut buf);
        w.buf = buf;
        r.map(|_| ())
    }

    /// The events at `ptrs`, read back from the data files (see
    /// `log::read_entries`).
    pub fn read_events(&self, ptrs: &[Ptr]) -> io::Result<Vec<Result<Event, String>>> {
        log::read_entries(&self.settings.data_dirs, &self.old_records, ptrs)
    }

    /// Write a checkpoint, then free the data files nothing needs any
    /// more: kept as spares or deleted (see the module documentation).
    /// Out of room to write it, the files are freed first (all deleted)
    /// and the current file retired when no event is in it.
    pub fn checkpoint(&self) -> io::Result<Freed> {
        let c = self.snapshot()?;
        match self.write_checkpoint(&c) {
            Ok(()) => self.free_before(&c, false),
            Err(e) if is_full(&e) => {
                self.retire_unused_file()?;
                let c = self.snapshot()?;
                let freed = self.free_before(&c, true)?;
                self.write_checkpoint(&c)?;
                Ok(freed)
            }
            Err(e) => Err(e),
        }
    }

    /// The live set as of the log written so far, that log on disk.
    fn snapshot(&self) -> io::Result<Checkpoint> {
        let c = {
            let w = lock(&self.writer);
            Checkpoint {
                pos: Ptr {
                    file: w.id,
                    offset: w.offset,
                },
                next_tx: w.next_tx,
                live: w.live.iter().collect(),
            }
        };
        // The checkpoint may name events whose put is still in flight.
        self.sync_to(c.pos)?;
        Ok(c)
    }

    fn write_checkpoint(&self, c: &Checkpoint) -> io::Result<()> {
        let bytes = checkpoint::encode(c);
        checkpoint::write(&self.settings.checkpoint_dir, &bytes)?;
        if let Some(backup) = &self.settings.backup_checkpoint_dir {
            checkpoint::write(backup, &bytes)?;
        }
        Ok(())
    }

    /// No event in the channel is in the current file: close it (synced),
    /// so that a checkpoint can free it; the next put starts a new one.
    fn retire_unused_file(&self) -> io::Result<()> {
        let mut w = lock(&self.writer);
        let Some(file) = w.file.clone() else {
            return Ok(());
        };
        if w.live.last().is_some_and(|p| p.file >= w.id) {
            return Ok(());
        }
        file.sync_data()?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        w.file = None;
        w.id += 1;
        w.offset = FILE_HEADER_LEN;
        w.broken = false;
        Ok(())
    }

    /// Free the data files before both checkpoint `c`'s position and its
    /// oldest event (replay starts there and reads events from their
    /// files); `all` deletes them and every spare, else some are kept as
    /// spares.
    fn free_before(&self, c: &Checkpoint, all: bool) -> io::Result<Freed> {
        let keep_from = c
            .live
            .first()
            .map_or(c.pos.file, |p| p.file.min(c.pos.file));
        let mut w = lock(&self.writer);
        let old: Vec<u32> = w.files.range(..keep_from).map(|(id, _)| *id).collect();
        // About as many files as the writer will start before the next
        // checkpoint: as many as it started since the last one, or half
        // what was wanted last time (a burst's spares last a few
        // intervals, an idle channel's go).
        let wanted = if all {
            0
        } else {
            std::mem::take(&mut w.started).max(w.spares_wanted / 2)
        };
        w.spares_wanted = wanted;
        let (mut freed, mut not_removed) = (Vec::new(), Vec::new());
        for id in old {
            let Some(path) = w.files.remove(&id) else {
                continue;
            };
            self.old_records.forget(id);
            let r = if w.spares.len() < wanted {
                let spare = path.with_file_name(log::spare_name(id));
                std::fs::rename(&path, &spare).map(|()| w.spares.push(spare))
            } else {
                std::fs::remove_file(&path)
            };
            match r {
                Ok(()) => freed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => not_removed.push(format!("{}: {e}", path.display())),
            }
        }
        while w.spares.len() > wanted {
            let Some(spare) = w.spares.pop() else { break };
            match std::fs::remove_file(&spare) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => not_removed.push(format!("{}: {e}", spare.display())),
            }
        }
        Ok(Freed {
            files: freed,
            spares: w.spares.len(),
            failed: not_removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_are_deleted_before_puts_are_refused_for_space() {
        let dir = tempfile::tempdir().unwrap();
        let mut spares: Vec<PathBuf> = (1..=3)
            .map(|i| {
                let p = dir.path().join(log::spare_name(i));
                std::fs::write(&p, [0u8; 100]).unwrap();
                p
            })
            .collect();
        // "Free space": 1000 bytes less 100 per spare still there.
        let free = || {
            let there = (1..=3)
                .filter(|i| dir.path().join(log::spare_name(*i)).exists())
                .count() as u64;
            Ok(1000 - 100 * there)
        };
        assert_eq!(free_after_spares(free, 500, &mut spares).unwrap(), 700);
        assert_eq!(spares.len(), 3, "enough room: the spares stay");
        assert_eq!(free_after_spares(free, 900, &mut spares).unwrap(), 1000);
        assert!(spares.is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
