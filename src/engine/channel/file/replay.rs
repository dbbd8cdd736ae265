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
    /// The channel's events, in order: read back (held in memory up to
    /// `memory_bytes`), or `None`: whole on disk, to be read when taken.
    pub events: Vec<(Ptr, Option<Event>)>,
    /// For the agent log.
    pub warnings: Vec<String>,
    pub info: String,
}

fn lock_dir(dir: &Path) -> io::Result<nix::fcntl::Flock<File>> {
    let path = dir.join("in_use.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        io::Error::other(format!(
            "{} is locked ({e}): another channel is using this checkpointDir",
            path.display()
        ))
    })
}

/// What replay knows of an event in the channel.
enum Slot {
    /// Named by the checkpoint; its file not checked yet.
    Missing,
    /// On disk, read back when taken.
    OnDisk,
    Held(Event),
}

/// Events read back are held in memory up to the channel's budget.
struct Held {
    weight: usize,
    budget: usize,
}

impl Held {
    fn slot(&mut self, e: Event) -> Slot {
        let w = queue::weight(&e);
        if self.weight + w <= self.budget {
            self.weight += w;
            Slot::Held(e)
        } else {
            Slot::OnDisk
        }
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
    for d in &settings.data_dirs {
        for entry in fs::read_dir(d).map_err(|e| ctx(d, e))? {
            let entry = entry?;
            if let Some(id) = entry.file_name().to_str().and_then(log::parse_file_name) {
                files.insert(id, entry.path());
            }
        }
    }

    let cp = load_checkpoint(&settings, &mut warnings);
    let (start, mut next_tx) = cp
        .as_ref()
        .map_or((Ptr::default(), 1), |c| (c.pos, c.next_tx));
    // Every event in the channel, and whether its record was found.
    let mut live: BTreeMap<Ptr, Slot> = cp
        .iter()
        .flat_map(|c| c.live.iter().map(|p| (*p, Slot::Missing)))
        .collect();
    let mut held = Held {
        weight: 0,
        budget: settings.memory_bytes,
    };

    // The checkpointed events stay on disk (read back when taken): only
    // their files are checked. Then the log after the checkpoint position
    // is replayed.
    let mut lost = 0usize;
    let mut warnings_lost = Vec::new();
    let mut sizes: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    for (p, slot) in live.iter_mut() {
        let size = *sizes.entry(p.file).or_insert_with(|| {
            files
                .get(&p.file)
                .and_then(|f| fs::metadata(f).ok())
                .map(|m| m.len())
        });
        if size.is_some_and(|len| p.offset < len) {
            *slot = Slot::OnDisk;
        } else {
            lost += 1;
            if lost <= 10 {
                warnings_lost.push(format!(
                    "event at data file {} offset {} cannot be read back (its file is missing or shorter); dropped",
                    p.file, p.offset
                ));
            }
        }
    }
    live.retain(|_, slot| !matches!(slot, Slot::Missing));
    warnings.extend(warnings_lost);
    let last = files.keys().next_back().copied();
    let mut records = 0u64;
    for (&id, path) in files.range(start.file..) {
        let from = if id == start.file { start.offset } else { 0 };
        let mut reader = match Reader::open(path, id, from)? {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("data file {} skipped: {e}", path.display()));
                continue;
            }
        };
        loop {
            match reader.next_record()? {
                Ok((at, rec)) => {
                    records += 1;
                    match rec {
                        Record::Put { tx, events } => {
                            next_tx = next_tx.max(tx + 1);
                            let base = at + RECORD_HEADER_LEN as u64;
                            for (entry, event) in events {
                                let p = Ptr {
                                    file: id,
                                    offset: base + entry,
                                };
                                live.insert(p, held.slot(event));
                            }
                        }
                        Record::Take { tx, ptrs } => {
                            next_tx = next_tx.max(tx + 1);
                            for p in ptrs {
                                if let Some(Slot::Held(e)) = live.remove(&p) {
                                    held.weight -= queue::weight(&e);
                                }
                            }
                        }
                    }
                }
                Err(Stop::End) => break,
                Err(Stop::Bad(at, why)) => {
                    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(at);
                    if Some(id) == last {
                        warnings.push(format!(
                            "data file {}: {why} at offset {at}; cut there ({} bytes dropped), recovering every whole record before it",
                            path.display(),
                            len.saturating_sub(at)
                        ));
                        OpenOptions::new().write(true).open(path)?.set_len(at)?;
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

    let mut events = Vec::with_capacity(live.len());
    for (p, slot) in live {
        match slot {
            Slot::Held(e) => events.push((p, Some(e))),
            Slot::OnDisk | Slot::Missing => events.push((p, None)),
        }
    }
    if lost > 10 {
        warnings.push(format!("{lost} events in all could not be read back"));
    }
    let live = LiveSet::from_sorted(events.iter().map(|(p, _)| *p));

    // This run writes a new file.
    let id = last.map_or(1, |l| l + 1).max(start.file + 1);
    let (path, f) = store::create_file(&settings.data_dirs, id)?;
    files.insert(id, path);
    let info = format!(
        "replayed: {} events in the channel ({} from the checkpoint{}, {records} log records after it) in {:?}",
        events.len(),
        cp.as_ref().map_or(0, |c| c.live.len()),
        if cp.is_none() { ", none found" } else { "" },
        started.elapsed()
    );
    let writer = Writer {
        file: Arc::new(f),
        id,
        offset: FILE_HEADER_LEN,
        broken: false,
        buf: Vec::new(),
        next_tx,
        live,
        files,
    };
    Ok(Opened {
        store: Store::new(settings, writer, lock),
        events,
        warnings,
        info,
    })
}
