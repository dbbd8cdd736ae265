//! Opening the channel's directories: read the checkpoint, check the files
//! its events are in (the events stay on disk, read back when taken),
//! replay the log after its position, and start a new data file for this
//! run. So a start reads only what was written since the last checkpoint,
//! however large the backlog.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Settings;
use super::checkpoint::{self, Checkpoint};
use super::live::LiveSet;
use super::log::{self, FILE_HEADER_LEN, Ptr, RECORD_HEADER_LEN, Reader, Record, Stop};
use super::queue;
use super::store::{self, Store, Writer};
use crate::engine::event::Event;

pub struct Opened {
    pub store: Store,
    /// The channel's events from the checkpoint, in order, on disk (read
    /// back when taken); they come first.
    pub on_disk: Vec<Ptr>,
    /// Then those the log after the checkpoint adds, in order: held in
    /// memory up to `memory_bytes`, the others on disk.
    pub logged: Vec<Run>,
    /// For the agent log.
    pub warnings: Vec<String>,
    /// Events dropped: checkpointed ones whose files are gone or short,
    /// and damaged ones of the log.
    pub dropped: usize,
    pub info: String,
}

fn lock_dir(dir: &Path) -> io::Result<nix::fcntl::Flock<File>> {
    let path = dir.join("in_use.lock");
    let f = log::open_regular(
        OpenOptions::new().create(true).truncate(false).write(true),
        &path,
    )
    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        io::Error::other(format!(
            "{} is locked ({e}): another channel is using this checkpointDir",
            path.display()
        ))
    })
}

/// The events the log after the checkpoint adds, in log order (their
/// pointers increase): 17 bytes each however long the log, plus the events
/// held in memory (up to the channel's budget) by index. A take marks its
/// events gone.
struct Logged {
    ptrs: Vec<Ptr>,
    gone: Vec<bool>,
    held: BTreeMap<usize, Event>,
    weight: usize,
    budget: usize,
}

/// Where the pointers from `first` to `last` are in `sorted`.
fn between(sorted: &[Ptr], first: Ptr, last: Ptr) -> std::ops::Range<usize> {
    let from = sorted.partition_point(|p| *p < first);
    // Empty, never reversed, should a range end before it starts.
    from..sorted.partition_point(|p| *p <= last).max(from)
}

/// A run of replayed events in order: held in memory, or on disk only.
pub enum Run {
    Held(Vec<Ptr>, Vec<Event>),
    OnDisk(Vec<Ptr>),
}

impl Logged {
    fn new(budget: usize) -> Logged {
        Logged {
            ptrs: Vec::new(),
            gone: Vec::new(),
            held: BTreeMap::new(),
            weight: 0,
            budget,
        }
    }

    fn put(&mut self, p: Ptr, e: Event) {
        let w = queue::weight(&e);
        if self.weight + w <= self.budget {
            self.weight += w;
            self.held.insert(self.ptrs.len(), e);
        }
        self.ptrs.push(p);
        self.gone.push(false);
    }

    /// Every event from `first` to `last` is taken.
    fn take_range(&mut self, first: Ptr, last: Ptr) {
        for i in between(&self.ptrs, first, last) {
            if !self.gone[i] {
                self.gone[i] = true;
                if let Some(e) = self.held.remove(&i) {
                    self.weight -= queue::weight(&e);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.gone.iter().filter(|g| !**g).count()
    }

    fn into_runs(self) -> Vec<Run> {
        let Logged {
            ptrs,
            gone,
            mut held,
            ..
        } = self;
        let mut runs = Vec::new();
        let (mut run_ptrs, mut run_events) = (Vec::new(), Vec::new());
        let mut run_held = false;
        for (i, (p, gone)) in ptrs.into_iter().zip(gone).enumerate() {
            if gone {
                continue;
            }
            let e = held.remove(&i);
            if e.is_some() != run_held && !run_ptrs.is_empty() {
                let p = std::mem::take(&mut run_ptrs);
                runs.push(if run_held {
                    Run::Held(p, std::mem::take(&mut run_events))
                } else {
                    Run::OnDisk(p)
                });
            }
            run_held = e.is_some();
            run_ptrs.push(p);
            run_events.extend(e);
        }
        if !run_ptrs.is_empty() {
            runs.push(if run_held {
                Run::Held(run_ptrs, run_events)
            } else {
                Run::OnDisk(run_ptrs)
            });
        }
        runs
    }
}

/// The checkpoint to start from, with a warning when one was corrupt.
fn load_checkpoint(s: &Settings, warnings: &mut Vec<String>) -> Option<Checkpoint> {
    let mut dirs = vec![s.checkpoint_dir.clone()];
    dirs.extend(s.backup_checkpoint_dir.clone());
    for dir in dirs {
        match checkpoint::read(&dir) {
            Ok(Some(c)) => return Some(c),
            Ok(None) => {}
            Err(e) => warnings.push(format!(
                "checkpoint {} is unusable ({e}); trying the backup, else replaying every data file",
                dir.join(checkpoint::FILE).display()
            )),
        }
    }
    None
}

pub fn open(settings: Settings) -> io::Result<Opened> {
    let started = std::time::Instant::now();
    let mut warnings = Vec::new();
    let ctx =
        |what: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", what.display()));
    fs::create_dir_all(&settings.checkpoint_dir).map_err(|e| ctx(&settings.checkpoint_dir, e))?;
    if let Some(b) = &settings.backup_checkpoint_dir {
        fs::create_dir_all(b).map_err(|e| ctx(b, e))?;
    }
    for d in &settings.data_dirs {
        fs::create_dir_all(d).map_err(|e| ctx(d, e))?;
    }
    let lock = lock_dir(&settings.checkpoint_dir)?;

    let mut files: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let mut spares = Vec::new();
    for d in &settings.data_dirs {
        for entry in fs::read_dir(d).map_err(|e| ctx(d, e))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_str().unwrap_or_default();
            if let Some(id) = log::parse_file_name(name) {
                files.insert(id, entry.path());
            } else if log::parse_spare_name(name).is_some() {
                spares.push(entry.path());
            }
        }
    }

    let cp = load_checkpoint(&settings, &mut warnings);
    let cp_found = cp.is_some();
    let (start, mut next_tx) = cp
        .as_ref()
        .map_or((Ptr::default(), 1), |c| (c.pos, c.next_tx));
    let (mut on_disk, cp_events) = match cp {
        Some(c) => {
            let n = c.live.len();
            (c.live, n)
        }
        None => (Vec::new(), 0),
    };
    // Events the log after the checkpoint adds; and the ranges of the
    // checkpoint's events it takes (a pointer taken alone is a range of
    // one). Vectors, not maps: 16 or 17 bytes an event however large the
    // backlog, where a map would be several times that.
    let mut logged = Logged::new(settings.memory_bytes);
    let mut ranges: Vec<(Ptr, Ptr)> = Vec::new();

    // The checkpointed events stay on disk (read back when taken): only
    // their files are checked. Then the log after the checkpoint position
    // is replayed.
    let mut lost = 0usize;
    let mut warnings_lost = Vec::new();
    let mut sizes: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    on_disk.retain(|p| {
        let size = *sizes.entry(p.file).or_insert_with(|| {
            files
                .get(&p.file)
                .and_then(|f| fs::metadata(f).ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
        });
        let there = size.is_some_and(|len| p.offset < len);
        if !there {
            lost += 1;
            if lost <= 10 {
                let file = files.get(&p.file).map_or_else(
                    || format!("data file {}", p.file),
                    |f| f.display().to_string(),
                );
                warnings_lost.push(format!(
                    "event at {file} offset {} cannot be read back (its file is missing, shorter or not a regular file); dropped",
                    p.offset
                ));
            }
        }
        there
    });
    warnings.extend(warnings_lost);
    let last = files.keys().next_back().copied();
    let mut records = 0u64;
    // Events of whole put records whose own bytes fail their crc.
    let mut damaged_events = 0usize;
    for (&id, path) in files.range(start.file..) {
        let from = if id == start.file { start.offset } else { 0 };
        let named = |e: io::Error| ctx(path, e);
        let mut reader = match Reader::open(path, id, from).map_err(named)? {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("data file {} skipped: {e}", path.display()));
                continue;
            }
        };
        loop {
            match reader.next_record().map_err(named)? {
                Ok((at, rec)) => {
                    records += 1;
                    match rec {
                        Record::Put {
                            tx,
                            events,
                            damaged,
                        } => {
                            next_tx = next_tx.max(tx + 1);
                            let base = at + RECORD_HEADER_LEN as u64;
                            for entry in damaged {
                                damaged_events += 1;
                                if damaged_events <= 10 {
                                    warnings.push(format!(
                                        "an event cannot be read back ({} offset {}: bad entry crc (the event is damaged)); dropped, not delivered",
                                        path.display(),
                                        base + entry
                                    ));
                                }
                            }
                            for (entry, event) in events {
                                let p = Ptr {
                                    file: id,
                                    offset: base + entry,
                                };
                                logged.put(p, event);
                            }
                        }
                        Record::TakeRange {
                            tx, first, last, ..
                        } => {
                            next_tx = next_tx.max(tx + 1);
                            if first < start {
                                ranges.push((first, last));
                            }
                            logged.take_range(first, last);
                        }
                        Record::Take { tx, ptrs } => {
                            next_tx = next_tx.max(tx + 1);
                            for p in ptrs {
                                if p < start {
                                    ranges.push((p, p));
                                } else {
                                    logged.take_range(p, p);
                                }
                            }
                        }
                    }
                }
                Err(Stop::End) => break,
                Err(Stop::Bad(at, why)) => {
                    // Damage with whole records after it: skip to them.
                    if let Some(next) = reader.resync(at).map_err(named)? {
                        warnings.push(format!(
                            "data file {}: {why} at offset {at}; skipped to the next whole record at offset {next} ({} bytes: a put's events there are dropped, a take's delivered again)",
                            path.display(),
                            next - at
                        ));
                        continue;
                    }
                    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(at);
                    if Some(id) == last {
                        warnings.push(format!(
                            "data file {}: {why} at offset {at}; cut there ({} bytes dropped), recovering every whole record before it",
                            path.display(),
                            len.saturating_sub(at)
                        ));
                        OpenOptions::new()
                            .write(true)
                            .open(path)
                            .and_then(|f| f.set_len(at))
                            .map_err(named)?;
                    } else {
                        warnings.push(format!(
                            "data file {}: {why} at offset {at}; the rest of this file ({} bytes) is ignored",
                            path.display(),
                            len.saturating_sub(at)
                        ));
                    }
                    break;
                }
            }
        }
    }

    if !ranges.is_empty() {
        let mut gone = vec![false; on_disk.len()];
        for (first, last) in ranges {
            gone[between(&on_disk, first, last)].fill(true);
        }
        let mut i = 0;
        on_disk.retain(|_| {
            let keep = !gone[i];
            i += 1;
            keep
        });
    }
    if lost > 10 {
        warnings.push(format!("{lost} events in all could not be read back"));
    }
    if damaged_events > 10 {
        warnings.push(format!(
            "{damaged_events} damaged events in all were dropped from the log"
        ));
    }
    let in_channel = on_disk.len() + logged.len();
    let logged = logged.into_runs();
    let live = LiveSet::from_sorted(on_disk.iter().copied().chain(logged.iter().flat_map(
        |r| match r {
            Run::Held(p, _) | Run::OnDisk(p) => p.iter().copied(),
        },
    )));

    // This run writes a new file; on a full disk it starts without one
    // (the first put that finds room makes it), so the backlog can drain.
    let id = last.map_or(1, |l| l + 1).max(start.file + 1);
    let (file, magic) = match store::start_file(&settings.data_dirs, id, &mut spares) {
        Ok(f) => {
            files.insert(id, f.path);
            (Some(Arc::new(f.file)), f.magic)
        }
        Err(e) if store::is_full(&e) => {
            warnings.push(format!(
                "no room for a new data file in {} ({e}): puts wait until the sinks have taken enough for a checkpoint to free data files",
                log::file_path(&settings.data_dirs, id)
                    .parent()
                    .unwrap_or(Path::new("."))
                    .display()
            ));
            (None, 0)
        }
        Err(e) => return Err(e),
    };
    let info = format!(
        "replayed: {} events in the channel ({} from the checkpoint{}, {records} log records after it) in {:?}",
        in_channel,
        cp_events,
        if cp_found { "" } else { ", none found" },
        started.elapsed()
    );
    let writer = Writer {
        file,
        id,
        magic,
        offset: FILE_HEADER_LEN,
        broken: false,
        buf: Vec::new(),
        next_tx,
        live,
        files,
        spares,
        started: 0,
        spares_wanted: 0,
    };
    Ok(Opened {
        store: Store::new(settings, writer, lock),
        on_disk,
        logged,
        warnings,
        dropped: lost + damaged_events,
        info,
    })
}
