//! The data files ("logs"): the record format, and reading records back.
//!
//! A data file is `log-<id>` in `dataDirs[id % dataDirs.len()]`, ids
//! increasing, so the files are written in turn across the directories.
//! It starts with a 24-byte file header (`SLUICEFC`, format version u32,
//! file id u32, salt u32, recycled-from id u32), then records, each:
//!
//! ```text
//! salt u32 | kind u8 | payload length u32 | crc32 u32 | payload
//! ```
//!
//! The crc32 is of the kind and the payload, but for a version 5 `PUT`:
//! of the kind, the transaction id and count, and the entries' crc32s
//! (below), so each byte is checksummed once and every event can be
//! checked alone when it is read back by its pointer.
//!
//! The salt is random per file and per life of a file: data files no
//! longer needed are kept as spares and written over by a later file
//! (`store`), because on ext4 an fdatasync of overwritten blocks is about
//! 1.5 times as fast as one of appended blocks (no block allocation). The
//! bytes after the last record of a recycled file (recycled-from id not 0)
//! are the earlier life's: a record that does not start with this life's
//! salt is the end of the file, not corruption.
//!
//! Fixed-width integers are little-endian; `var` is a LEB128 varint
//! (zigzag for signed). Kinds and payloads:
//! - `PUT`: one whole put transaction: transaction id u64, event count
//!   u32, then per event its entry: crc32 u32 of the rest of the entry
//!   (version 5), header count var, per header key and value (each a
//!   length var and UTF-8 bytes), body (length var, bytes). The record is the commit:
//!   replay keeps a put only when its record is whole and its crcs right,
//!   so a transaction is all there or not at all. One record (one header)
//!   per transaction keeps a 100-byte event at 106 bytes on disk.
//! - `TAKE`: transaction id u64, count u32, then per taken event its
//!   pointer, as signed var deltas (file id, offset) from the previous one
//!   (the first from 0, 0): takes run in log order, so about 3 bytes each.
//! - `TAKE_RANGE` (version 3): transaction id u64, first pointer (file u32,
//!   offset u64), last pointer (the same), count u32: the take was exactly
//!   the oldest `count` events in the channel, so every event from `first`
//!   to `last` is taken. 36 bytes for a whole take instead of about 3 an
//!   event; the usual take (one sink, in order) is one.
//!
//! Version 5 adds the entries' crc32s; version 4 files (no entry crc),
//! version 3 files (a 16-byte header without the salt and recycled-from
//! id, `RECORD_MAGIC` in place of the salt) and version 2 files (without
//! `TAKE_RANGE` as well) are read too.
//!
//! An event is referenced by the pointer to its entry inside its `PUT`
//! record. An event read back by its pointer (`read_entries`: the
//! channel's backlog stays on disk, checkpointed events are never read
//! at start) is checked against its entry's crc (version 5) or its whole
//! record's (older files, whose records are found by walking the file),
//! and must lie inside the file and its record: a damaged one is an
//! error, never an event.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use integer_encoding::VarInt;

use crate::engine::event::{Event, Headers};

pub const FILE_MAGIC: &[u8; 8] = b"SLUICEFC";
pub const FORMAT_VERSION: u32 = 5;
/// The first version whose put entries carry their own crc32.
pub const ENTRY_CRC_VERSION: u32 = 5;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 2;
/// The file header this build writes (version 4).
pub const FILE_HEADER_LEN: u64 = 24;
/// The file header of versions 2 and 3 (no salt, no recycled-from id).
const OLD_FILE_HEADER_LEN: u64 = 16;
/// The record magic of versions 2 and 3 (version 4 uses the file's salt).
pub const RECORD_MAGIC: u32 = 0x5245_4331; // "1CER" on disk
pub const RECORD_HEADER_LEN: usize = 13;

pub const KIND_PUT: u8 = 1;
pub const KIND_TAKE: u8 = 2;
pub const KIND_TAKE_RANGE: u8 = 3;

/// Where an event's `PUT` record is, or a position in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ptr {
    pub file: u32,
    pub offset: u64,
}

/// Open `path` with `opts`, refusing anything but a regular file (a FIFO
/// put in place of a data file or checkpoint would block the open or the
/// reads for ever; a directory reads as an error later): the open does
/// not wait (`O_NONBLOCK`, which means nothing for a regular file), and
/// the opened file is checked. The refusal is an `InvalidInput` error
/// ([`is_not_regular`]); the caller names the path.
pub fn open_regular(opts: &std::fs::OpenOptions, path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = opts.clone().custom_flags(libc::O_NONBLOCK).open(path)?;
    if f.metadata()?.is_file() {
        Ok(f)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, NOT_REGULAR))
    }
}

const NOT_REGULAR: &str = "not a regular file";

/// Whether `e` is [`open_regular`]'s refusal.
pub fn is_not_regular(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidInput && e.to_string().ends_with(NOT_REGULAR)
}

/// [`open_regular`] for reading.
pub fn open_read(path: &Path) -> io::Result<File> {
    open_regular(std::fs::OpenOptions::new().read(true), path)
}

pub fn file_name(id: u32) -> String {
    format!("log-{id}")
}

/// The id of a data file from its name, `None` for anything else.
pub fn parse_file_name(name: &str) -> Option<u32> {
    name.strip_prefix("log-")?.parse().ok()
}

pub fn file_path(dirs: &[PathBuf], id: u32) -> PathBuf {
    let dir = &dirs[id as usize % dirs.len().max(1)];
    dir.join(file_name(id))
}

/// The name a data file kept for reuse has (see `store`): `spare-<id it had>`.
pub fn spare_name(id: u32) -> String {
    format!("spare-{id}")
}

pub fn parse_spare_name(name: &str) -> Option<u32> {
    name.strip_prefix("spare-")?.parse().ok()
}

/// A version 4 file header: file `id` in the life whose records start
/// with `salt`; `recycled_from` is the id the file had before (0: none).
pub fn file_header(id: u32, salt: u32, recycled_from: u32) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..8].copy_from_slice(FILE_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&id.to_le_bytes());
    h[16..20].copy_from_slice(&salt.to_le_bytes());
    h[20..24].copy_from_slice(&recycled_from.to_le_bytes());
    h
}

/// What a data file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub id: u32,
    pub version: u32,
    /// What its records start with: the salt, or `RECORD_MAGIC` before
    /// version 4.
    pub magic: u32,
    /// Written over an earlier life's records (version 4).
    pub recycled: bool,
    /// Where its records start.
    pub len: u64,
}

/// Parse the header at the start of `b` (a file's first
/// `FILE_HEADER_LEN` bytes, or all of it when shorter).
pub fn parse_file_header(b: &[u8]) -> Result<FileHeader, String> {
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    if b.len() < OLD_FILE_HEADER_LEN as usize {
        return Err("shorter than its file header".into());
    }
    if b[..8] != FILE_MAGIC[..] {
        return Err("bad file header (not a sluice file channel log)".into());
    }
    let (Some(version), Some(id)) = (u32_at(8), u32_at(12)) else {
        return Err("shorter than its file header".into());
    };
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "written in format version {version}; this sluice reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}"
        ));
    }
    if version < 4 {
        return Ok(FileHeader {
            id,
            version,
            magic: RECORD_MAGIC,
            recycled: false,
            len: OLD_FILE_HEADER_LEN,
        });
    }
    match (u32_at(16), u32_at(20)) {
        (Some(magic), Some(from)) => Ok(FileHeader {
            id,
            version,
            magic,
            recycled: from != 0,
            len: FILE_HEADER_LEN,
        }),
        _ => Err("shorter than its file header".into()),
    }
}

/// Set the magic of every record in `buf` (whole records, back to back,
/// as the encoders below write them): the store knows which file, so
/// which salt, only once it has decided where they go.
pub fn stamp(buf: &mut [u8], magic: u32) {
    let mut at = 0;
    while at + RECORD_HEADER_LEN <= buf.len() {
        buf[at..at + 4].copy_from_slice(&magic.to_le_bytes());
        let len = u32::from_le_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]]);
        at += RECORD_HEADER_LEN + len as usize;
    }
}

/// Append one record: header (its magic 0 until `stamp`), then the
/// payload `fill` writes.
fn record(buf: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 4]);
    buf.push(kind);
    buf.extend_from_slice(&[0u8; 8]); // length and crc, filled below
    let payload = buf.len();
    fill(buf);
    let len = (buf.len() - payload) as u32;
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(&buf[payload..]);
    let crc = h.finalize();
    buf[start + 5..start + 9].copy_from_slice(&len.to_le_bytes());
    buf[start + 9..start + 13].copy_from_slice(&crc.to_le_bytes());
}

fn put_var(buf: &mut Vec<u8>, v: impl VarInt) {
    let mut a = [0u8; 10];
    let n = v.encode_var(&mut a);
    buf.extend_from_slice(&a[..n]);
}

fn put_len(buf: &mut Vec<u8>, n: usize) {
    // Most lengths and counts are below 128: one byte, no encoder.
    match u8::try_from(n) {
        Ok(b) if b < 0x80 => buf.push(b),
        _ => put_var(buf, n as u64),
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_len(buf, b.len());
    buf.extend_from_slice(b);
}

/// A put record's bytes besides its entries: record header, transaction
/// id, count.
pub const PUT_RECORD_OVERHEAD: u64 = RECORD_HEADER_LEN as u64 + 12;

/// The bytes `encode_put` writes for one event's entry (crc included).
pub fn entry_len(e: &Event) -> u64 {
    fn with_len(n: usize) -> u64 {
        n as u64 + (n as u64).required_space() as u64
    }
    let headers: u64 = e
        .headers
        .iter()
        .map(|(k, v)| with_len(k.len()) + with_len(v.len()))
        .sum();
    4 + (e.headers.len() as u64).required_space() as u64 + headers + with_len(e.body.len())
}

/// One event's entry, without its crc: header count, headers, body.
fn put_entry(b: &mut Vec<u8>, e: &Event) {
    put_len(b, e.headers.len());
    for (k, v) in &e.headers {
        put_bytes(b, k.as_bytes());
        put_bytes(b, v.as_bytes());
    }
    put_bytes(b, &e.body);
}

/// Append a put transaction's record to `buf` (version 5: each entry
/// with its crc32, the record's crc32 over those); `entries` gets the
/// offset of each event's entry from the start of the record. The caller
/// gives `buf` room first (no pass over the events here just to size it).
pub fn encode_put(buf: &mut Vec<u8>, tx: u64, events: &[Event], entries: &mut Vec<u64>) {
    let start = buf.len();
    entries.reserve(events.len());
    buf.extend_from_slice(&[0u8; 4]);
    buf.push(KIND_PUT);
    buf.extend_from_slice(&[0u8; 8]); // length and crc, filled below
    let payload = buf.len();
    buf.extend_from_slice(&tx.to_le_bytes());
    buf.extend_from_slice(&(events.len() as u32).to_le_bytes());
    let mut record_crc = crc32fast::Hasher::new();
    record_crc.update(&[KIND_PUT]);
    record_crc.update(&buf[payload..]);
    for e in events {
        let at = buf.len();
        entries.push((at - start) as u64);
        buf.extend_from_slice(&[0u8; 4]);
        put_entry(buf, e);
        let crc = crc32fast::hash(&buf[at + 4..]).to_le_bytes();
        buf[at..at + 4].copy_from_slice(&crc);
        record_crc.update(&crc);
    }
    let len = (buf.len() - payload) as u32;
    buf[start + 5..start + 9].copy_from_slice(&len.to_le_bytes());
    buf[start + 9..start + 13].copy_from_slice(&record_crc.finalize().to_le_bytes());
}

/// A put record as versions 2 to 4 wrote it (entries without a crc, the
/// record's crc over the whole payload): the old files of the tests.
#[cfg(test)]
pub fn encode_put_v4(buf: &mut Vec<u8>, tx: u64, events: &[Event], entries: &mut Vec<u64>) {
    let start = buf.len();
    record(buf, KIND_PUT, |b| {
        b.extend_from_slice(&tx.to_le_bytes());
        b.extend_from_slice(&(events.len() as u32).to_le_bytes());
        for e in events {
            entries.push((b.len() - start) as u64);
            put_entry(b, e);
        }
    });
}

pub fn encode_take(buf: &mut Vec<u8>, tx: u64, ptrs: &[Ptr]) {
    record(buf, KIND_TAKE, |b| {
        b.extend_from_slice(&tx.to_le_bytes());
        b.extend_from_slice(&(ptrs.len() as u32).to_le_bytes());
        put_ptr_deltas(b, ptrs);
    });
}

/// Pointers as signed var deltas (file id, offset) from the previous one,
/// the first from (0, 0): in log order about 3 bytes each (take records,
/// checkpoints).
pub fn put_ptr_deltas(buf: &mut Vec<u8>, ptrs: &[Ptr]) {
    let mut prev = Ptr::default();
    for p in ptrs {
        put_var(buf, i64::from(p.file) - i64::from(prev.file));
        put_var(buf, p.offset as i64 - prev.offset as i64);
        prev = *p;
    }
}

/// `n` pointers that `put_ptr_deltas` wrote at the start of `b`, and how
/// many bytes they took.
pub fn read_ptr_deltas(b: &[u8], n: usize) -> Result<(Vec<Ptr>, usize), String> {
    // Every pointer takes at least 2 bytes.
    if n > b.len() / 2 {
        return Err("more pointers than bytes for them".into());
    }
    let mut ptrs = Vec::with_capacity(n);
    let mut prev = Ptr::default();
    let mut at = 0;
    let var = |at: &mut usize| -> Result<i64, String> {
        let (v, len) = i64::decode_var(&b[*at..]).ok_or("a bad varint")?;
        *at += len;
        Ok(v)
    };
    for _ in 0..n {
        let (df, doff) = (var(&mut at)?, var(&mut at)?);
        let file = i64::from(prev.file)
            .checked_add(df)
            .and_then(|f| u32::try_from(f).ok())
            .ok_or("a pointer out of range")?;
        let offset = (prev.offset as i64)
            .checked_add(doff)
            .and_then(|o| u64::try_from(o).ok())
            .ok_or("a pointer out of range")?;
        prev = Ptr { file, offset };
        ptrs.push(prev);
    }
    Ok((ptrs, at))
}

/// A take that was exactly the oldest `count` events: every event from
/// `first` to `last` (see the module documentation).
pub fn encode_take_range(buf: &mut Vec<u8>, tx: u64, first: Ptr, last: Ptr, count: u32) {
    record(buf, KIND_TAKE_RANGE, |b| {
        b.extend_from_slice(&tx.to_le_bytes());
        for p in [first, last] {
            b.extend_from_slice(&p.file.to_le_bytes());
            b.extend_from_slice(&p.offset.to_le_bytes());
        }
        b.extend_from_slice(&count.to_le_bytes());
    });
}

/// A decoded record.
#[derive(Debug)]
pub enum Record {
    /// Each event with the offset of its entry in the payload; and the
    /// offsets of the entries that failed their own crc (version 5: the
    /// record's crc, over the entries' crcs, shows the record's framing
    /// is whole, so only those events are damaged).
    Put {
        tx: u64,
        events: Vec<(u64, Event)>,
        damaged: Vec<u64>,
    },
    Take {
        tx: u64,
        ptrs: Vec<Ptr>,
    },
    /// Every event from `first` to `last` (`count` of them when written).
    TakeRange {
        tx: u64,
        first: Ptr,
        last: Ptr,
        count: u32,
    },
}

/// A cursor over a payload; every read checks the length.
struct Cur<'a> {
    all: &'a Bytes,
    at: usize,
    /// After a read past the end: how far it wanted the bytes to go.
    need: usize,
}

impl<'a> Cur<'a> {
    fn new(all: &'a Bytes, at: usize) -> Cur<'a> {
        Cur { all, at, need: 0 }
    }
    fn left(&self) -> usize {
        self.all.len() - self.at
    }
    fn short(&mut self, n: usize) -> String {
        self.need = self.at.saturating_add(n);
        "payload shorter than its contents".into()
    }
    fn take(&mut self, n: usize) -> Result<std::ops::Range<usize>, String> {
        if self.left() < n {
            return Err(self.short(n));
        }
        self.at += n;
        Ok(self.at - n..self.at)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let r = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.all[r]);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let r = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.all[r]);
        Ok(u64::from_le_bytes(a))
    }
    fn var<T: VarInt>(&mut self) -> Result<T, String> {
        match T::decode_var(&self.all[self.at..]) {
            Some((v, n)) => {
                self.at += n;
                Ok(v)
            }
            // Perhaps cut by the end of what was read.
            None if self.left() < 10 => Err(self.short(10)),
            None => Err("a bad varint".into()),
        }
    }
    fn len(&mut self) -> Result<usize, String> {
        let n: u64 = self.var()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() => Ok(n),
            Ok(n) => Err(self.short(n)),
            Err(_) => Err("a length past the end of the payload".into()),
        }
    }
    /// A slice of the payload, sharing its memory.
    fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.len()?;
        let r = self.take(n)?;
        Ok(self.all.slice(r))
    }
    /// One event's entry of a `PUT` record (without its crc).
    fn entry(&mut self) -> Result<Event, String> {
        let count: u64 = self.var()?;
        let mut headers = Headers::new();
        for _ in 0..count {
            let k = self.string()?;
            let v = self.string()?;
            headers.insert(k, v);
        }
        let body = self.bytes()?;
        Ok(Event { headers, body })
    }
    /// One event's entry of a version 5 `PUT` record, checked against
    /// its crc; the event and that crc.
    fn checked_entry(&mut self) -> Result<(Event, u32), String> {
        match self.entry_and_crc()? {
            (Ok(e), crc) => Ok((e, crc)),
            (Err(why), _) => Err(why),
        }
    }
    /// One event's entry of a version 5 `PUT` record and its stored crc;
    /// the event, or why it is damaged when its bytes fail that crc (an
    /// outer `Err`: the entry cannot even be parsed).
    fn entry_and_crc(&mut self) -> Result<(Result<Event, String>, u32), String> {
        let crc = self.u32()?;
        let from = self.at;
        let e = self.entry()?;
        if crc32fast::hash(&self.all[from..self.at]) != crc {
            return Ok((Err("bad entry crc (the event is damaged)".into()), crc));
        }
        Ok((Ok(e), crc))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.len()?;
        let r = self.take(n)?;
        String::from_utf8(self.all[r].to_vec()).map_err(|_| "a header is not UTF-8".to_string())
    }
}

/// Decode a record of a data file of format `version`, and check it
/// against its `crc` (see the module documentation).
pub fn decode(kind: u8, payload: &Bytes, crc: u32, version: u32) -> Result<Record, String> {
    let entry_crcs = kind == KIND_PUT && version >= ENTRY_CRC_VERSION;
    if !entry_crcs {
        check_crc(kind, payload, crc)?;
    }
    let mut c = Cur::new(payload, 0);
    let r = match kind {
        KIND_PUT => {
            let tx = c.u64()?;
            let n = c.u32()? as usize;
            // Every entry takes at least 2 bytes (6 with its crc).
            let least = if entry_crcs { 6 } else { 2 };
            if n > c.left() / least {
                return Err("put record count larger than the record".into());
            }
            let mut record_crc = crc32fast::Hasher::new();
            record_crc.update(&[kind]);
            record_crc.update(&payload[..c.at]);
            let mut events = Vec::with_capacity(n);
            let mut damaged = Vec::new();
            for _ in 0..n {
                let at = c.at as u64;
                if entry_crcs {
                    let (e, crc) = c.entry_and_crc()?;
                    record_crc.update(&crc.to_le_bytes());
                    match e {
                        Ok(e) => events.push((at, e)),
                        Err(_) => damaged.push(at),
                    }
                } else {
                    events.push((at, c.entry()?));
                }
            }
            if entry_crcs && record_crc.finalize() != crc {
                return Err("bad crc".into());
            }
            Record::Put {
                tx,
                events,
                damaged,
            }
        }
        KIND_TAKE => {
            let tx = c.u64()?;
            let n = c.u32()? as usize;
            let (ptrs, used) =
                read_ptr_deltas(&c.all[c.at..], n).map_err(|e| format!("take record: {e}"))?;
            c.at += used;
            Record::Take { tx, ptrs }
        }
        KIND_TAKE_RANGE => {
            let tx = c.u64()?;
            let mut ptr = || -> Result<Ptr, String> {
                Ok(Ptr {
                    file: c.u32()?,
                    offset: c.u64()?,
                })
            };
            let (first, last) = (ptr()?, ptr()?);
            if first > last {
                return Err("a take range that ends before it starts".into());
            }
            let count = c.u32()?;
            Record::TakeRange {
                tx,
                first,
                last,
                count,
            }
        }
        k => return Err(format!("unknown record kind {k}")),
    };
    if c.left() != 0 {
        return Err("payload longer than its contents".into());
    }
    Ok(r)
}

/// Pointers further apart than this in one file are read separately.
const RUN_GAP: u64 = 1 << 20;
/// Read past a run's last pointer, for its entry (more when it needs it).
const RUN_TAIL: u64 = 16 << 10;

/// Where a record of a data file is (older formats, whose entries have no
/// crc of their own: an event read back is checked with its record's).
#[derive(Debug, Clone, Copy)]
pub struct RecordAt {
    pub offset: u64,
    pub kind: u8,
    pub len: u32,
}

impl RecordAt {
    fn payload(&self) -> std::ops::Range<u64> {
        let from = self.offset + RECORD_HEADER_LEN as u64;
        from..from + u64::from(self.len)
    }
}

/// The records of the data files before format 5 that events were read
/// back from, by file id, found once by walking each file's record
/// headers (those files are never written again).
#[derive(Default)]
pub struct OldRecords(
    std::sync::Mutex<std::collections::HashMap<u32, std::sync::Arc<Vec<RecordAt>>>>,
);

impl OldRecords {
    fn of(
        &self,
        f: &File,
        id: u32,
        header: &FileHeader,
    ) -> io::Result<std::sync::Arc<Vec<RecordAt>>> {
        let mut map = crate::engine::channel::lock(&self.0);
        if let Some(r) = map.get(&id) {
            return Ok(r.clone());
        }
        let r = std::sync::Arc::new(walk_records(f, header)?);
        map.insert(id, r.clone());
        Ok(r)
    }

    /// A data file freed: its records are not needed any more.
    pub fn forget(&self, id: u32) {
        crate::engine::channel::lock(&self.0).remove(&id);
    }
}

/// The whole records of a data file, in order, from their headers: up to
/// the first that is cut short, does not start with the file's magic, or
/// says it is longer than the file.
fn walk_records(f: &File, header: &FileHeader) -> io::Result<Vec<RecordAt>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let mut out = Vec::new();
    let mut at = header.len;
    let mut h = [0u8; RECORD_HEADER_LEN];
    while at + RECORD_HEADER_LEN as u64 <= len {
        f.read_exact_at(&mut h, at)?;
        if h[..4] != header.magic.to_le_bytes() {
            break;
        }
        let Ok((kind, n, _)) = parse_header(&h, len) else {
            break;
        };
        let end = at + (RECORD_HEADER_LEN + n) as u64;
        if end > len {
            break;
        }
        out.push(RecordAt {
            offset: at,
            kind,
            len: n as u32,
        });
        at = end;
    }
    Ok(out)
}

/// Read the events at `ptrs` (entries of `PUT` records) back from the data
/// files, one read per run of nearby pointers in a file. Each is checked
/// against its crc (see the module documentation) and must lie inside
/// its file (and record); one that does not, or whose file is gone, is
/// an `Err` naming the file and offset, never an event.
pub fn read_entries(
    dirs: &[PathBuf],
    old: &OldRecords,
    ptrs: &[Ptr],
) -> io::Result<Vec<Result<Event, String>>> {
    let mut out = Vec::with_capacity(ptrs.len());
    let mut i = 0;
    while i < ptrs.len() {
        let mut j = i + 1;
        while j < ptrs.len()
            && ptrs[j].file == ptrs[i].file
            && ptrs[j].offset > ptrs[j - 1].offset
            && ptrs[j].offset - ptrs[j - 1].offset <= RUN_GAP
        {
            j += 1;
        }
        let run = &ptrs[i..j];
        let path = file_path(dirs, run[0].file);
        let damaged = |why: &str| -> Vec<Result<Event, String>> {
            run.iter()
                .map(|p| Err(format!("{} offset {}: {why}", path.display(), p.offset)))
                .collect()
        };
        match open_read(&path) {
            Ok(f) => match read_file_header(&f, run[0].file)? {
                Ok(h) if h.version >= ENTRY_CRC_VERSION => read_run(&f, &path, &h, run, &mut out)?,
                Ok(h) => {
                    let records = old.of(&f, run[0].file, &h)?;
                    read_run_old(&f, &path, &records, run, &mut out)?
                }
                Err(why) => out.extend(damaged(&why)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.extend(damaged("the data file is gone"));
            }
            Err(e) if is_not_regular(&e) => out.extend(damaged(NOT_REGULAR)),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
        i = j;
    }
    Ok(out)
}

/// The header of data file `id`, open as `f`.
fn read_file_header(f: &File, id: u32) -> io::Result<Result<FileHeader, String>> {
    use std::os::unix::fs::FileExt;
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    let n = f.read_at(&mut h, 0)?;
    Ok(match parse_file_header(&h[..n]) {
        Ok(x) if x.id == id => Ok(x),
        Ok(x) => Err(format!(
            "bad file header (the header of data file {}, not {id})",
            x.id
        )),
        Err(e) => Err(e),
    })
}

/// A run of pointers into a version 5 file: read together, each entry
/// checked against its own crc.
fn read_run(
    f: &File,
    path: &Path,
    header: &FileHeader,
    run: &[Ptr],
    out: &mut Vec<Result<Event, String>>,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let base = run[0].offset;
    let mut want = run[run.len() - 1].offset - base + RUN_TAIL;
    loop {
        let n = want.min(len.saturating_sub(base));
        let mut buf = vec![0u8; usize::try_from(n).map_err(io::Error::other)?];
        f.read_exact_at(&mut buf, base)?;
        let buf = Bytes::from(buf);
        let whole = base + n >= len;
        let mut got = Vec::with_capacity(run.len());
        for p in run {
            let at = (p.offset - base) as usize;
            let mut c = Cur::new(&buf, at.min(buf.len()));
            let r = if p.offset < header.len || at > buf.len() {
                Err("not inside the file's records".to_string())
            } else {
                c.checked_entry().map(|(e, _)| e)
            };
            match r {
                Ok(e) => got.push(Ok(e)),
                // Cut by the read, not by the file: read as far as it needs.
                Err(_) if !whole && c.need > buf.len() => {
                    want = want.saturating_mul(2).max(c.need as u64);
                    break;
                }
                Err(why) => got.push(Err(format!(
                    "{} offset {}: {why}",
                    path.display(),
                    p.offset
                ))),
            }
        }
        if got.len() == run.len() {
            out.extend(got);
            return Ok(());
        }
    }
}

/// A run of pointers into a file before format 5: each entry is read
/// with its whole record, whose crc is checked (once per record and run).
fn read_run_old(
    f: &File,
    path: &Path,
    records: &[RecordAt],
    run: &[Ptr],
    out: &mut Vec<Result<Event, String>>,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    // The record read last, checked or why not.
    let mut last: Option<(usize, Result<Bytes, String>)> = None;
    for p in run {
        let i = records.partition_point(|r| r.payload().end <= p.offset);
        let r = match records.get(i) {
            Some(r) if r.payload().end > len => Err("past the end of the file".into()),
            Some(r) if r.kind == KIND_PUT && r.payload().contains(&p.offset) => {
                if last.as_ref().is_none_or(|(at, _)| *at != i) {
                    let mut buf = vec![0u8; r.len as usize];
                    f.read_exact_at(&mut buf, r.payload().start)?;
                    let mut h = [0u8; RECORD_HEADER_LEN];
                    f.read_exact_at(&mut h, r.offset)?;
                    let checked = parse_header(&h, u64::MAX)
                        .and_then(|(kind, _, crc)| check_crc(kind, &buf, crc))
                        .map(|()| Bytes::from(buf));
                    last = Some((i, checked));
                }
                match last.as_ref().map(|(_, b)| b) {
                    Some(Ok(payload)) => {
                        let at = (p.offset - r.payload().start) as usize;
                        Cur::new(payload, at).entry()
                    }
                    Some(Err(why)) => Err(format!("its record: {why}")),
                    None => Err("its record is unread".into()),
                }
            }
            _ => Err("not inside a whole put record".into()),
        };
        out.push(r.map_err(|why| format!("{} offset {}: {why}", path.display(), p.offset)));
    }
    Ok(())
}

/// Check a record header after its magic; the kind, payload length and
/// crc on success.
fn parse_header(h: &[u8; RECORD_HEADER_LEN], max_len: u64) -> Result<(u8, usize, u32), String> {
    let kind = h[4];
    let len = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
    if u64::from(len) > max_len {
        return Err(format!("record length {len} is impossible"));
    }
    let crc = u32::from_le_bytes([h[9], h[10], h[11], h[12]]);
    Ok((kind, len as usize, crc))
}

fn check_crc(kind: u8, payload: &[u8], crc: u32) -> Result<(), String> {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    if h.finalize() != crc {
        return Err("bad crc".into());
    }
    Ok(())
}

/// What stopped a sequential read.
#[derive(Debug)]
pub enum Stop {
    /// The clean end of the file.
    End,
    /// A short or corrupt record at this offset (the reason).
    Bad(u64, String),
}

/// Reads a data file's records in order.
pub struct Reader {
    inner: io::BufReader<File>,
    pub offset: u64,
    len: u64,
    header: FileHeader,
}

impl Reader {
    /// Open `path`, check its file header, and seek to `from` (at least
    /// past the header).
    pub fn open(path: &Path, id: u32, from: u64) -> io::Result<Result<Reader, String>> {
        let mut f = match open_read(path) {
            Ok(f) => f,
            Err(e) if is_not_regular(&e) => return Ok(Err(NOT_REGULAR.into())),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let mut h = Vec::with_capacity(FILE_HEADER_LEN as usize);
        (&mut f).take(FILE_HEADER_LEN).read_to_end(&mut h)?;
        let header = match parse_file_header(&h) {
            Ok(x) if x.id == id => x,
            Ok(x) => {
                return Ok(Err(format!(
                    "bad file header (the header of data file {}, not {id})",
                    x.id
                )));
            }
            Err(e) => return Ok(Err(e)),
        };
        let from = from.max(header.len);
        use std::io::Seek;
        f.seek(io::SeekFrom::Start(from))?;
        Ok(Ok(Reader {
            inner: io::BufReader::with_capacity(1 << 20, f),
            offset: from,
            len,
            header,
        }))
    }

    /// The next record and its offset, or why there is none.
    pub fn next_record(&mut self) -> io::Result<Result<(u64, Record), Stop>> {
        let at = self.offset;
        if at >= self.len {
            return Ok(Err(Stop::End));
        }
        if self.len - at < RECORD_HEADER_LEN as u64 {
            if self.header.recycled {
                return Ok(Err(Stop::End));
            }
            return Ok(Err(Stop::Bad(at, "torn record header".into())));
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        self.inner.read_exact(&mut h)?;
        if h[..4] != self.header.magic.to_le_bytes() {
            // In a recycled file: the earlier life's bytes, the end of this
            // one's; unless it is this life's salt with a bit or two
            // flipped, a damaged record (random bytes are that close one
            // time in millions).
            let near = (u32::from_le_bytes([h[0], h[1], h[2], h[3]]) ^ self.header.magic)
                .count_ones()
                <= 2;
            if self.header.recycled && !near {
                return Ok(Err(Stop::End));
            }
            return Ok(Err(Stop::Bad(at, "bad record magic".into())));
        }
        let (kind, n, crc) = match parse_header(&h, self.len) {
            Ok(x) => x,
            Err(e) => return Ok(Err(Stop::Bad(at, e))),
        };
        if self.len - at - (RECORD_HEADER_LEN as u64) < n as u64 {
            return Ok(Err(Stop::Bad(at, "torn record".into())));
        }
        // One allocation per record; its events share it.
        let mut payload = vec![0u8; n];
        self.inner.read_exact(&mut payload)?;
        let payload = Bytes::from(payload);
        let r = match decode(kind, &payload, crc, self.header.version) {
            Ok(r) => r,
            Err(e) => return Ok(Err(Stop::Bad(at, e))),
        };
        self.offset = at + (RECORD_HEADER_LEN + n) as u64;
        Ok(Ok((at, r)))
    }

    /// After a bad record at `bad`: the offset of the next whole record
    /// of this file (its magic, a length inside the file, its crc right),
    /// and the reader moved there; `None` when there is none within
    /// [`RESYNC_WINDOW`] (a torn end: nothing was written after it). So
    /// one damaged record costs its own events, not every record after it.
    pub fn resync(&mut self, bad: u64) -> io::Result<Option<u64>> {
        use io::Seek;
        use std::os::unix::fs::FileExt;
        let f = self.inner.get_ref();
        let mut h = [0u8; RECORD_HEADER_LEN];
        // Where the bad record says it ends, should only its payload be damaged.
        let mut after = None;
        if bad + RECORD_HEADER_LEN as u64 <= self.len {
            f.read_exact_at(&mut h, bad)?;
            if let Ok((_, n, _)) = parse_header(&h, self.len) {
                after = Some(bad + (RECORD_HEADER_LEN + n) as u64);
            }
        }
        let magic = self.header.magic.to_le_bytes();
        let finder = memchr::memmem::Finder::new(&magic);
        let end = self.len.min(bad.saturating_add(RESYNC_WINDOW));
        let mut found = match after {
            Some(at) if self.whole_record_at(at)? => Some(at),
            _ => None,
        };
        let mut from = bad + 1;
        let mut chunk = vec![0u8; 1 << 20];
        while found.is_none() && from + RECORD_HEADER_LEN as u64 <= end {
            let n = chunk.len().min((end - from) as usize);
            f.read_exact_at(&mut chunk[..n], from)?;
            for hit in finder.find_iter(&chunk[..n]) {
                let at = from + hit as u64;
                if self.whole_record_at(at)? {
                    found = Some(at);
                    break;
                }
            }
            // The next chunk overlaps by a magic's length, less one byte.
            from += (n.max(4) - 3) as u64;
        }
        if let Some(at) = found {
            self.inner.seek(io::SeekFrom::Start(at))?;
            self.offset = at;
        }
        Ok(found)
    }

    /// Whether a whole, undamaged record of this file starts at `at`.
    fn whole_record_at(&self, at: u64) -> io::Result<bool> {
        use std::os::unix::fs::FileExt;
        let f = self.inner.get_ref();
        let mut h = [0u8; RECORD_HEADER_LEN];
        if at + RECORD_HEADER_LEN as u64 > self.len {
            return Ok(false);
        }
        f.read_exact_at(&mut h, at)?;
        if h[..4] != self.header.magic.to_le_bytes() {
            return Ok(false);
        }
        let Ok((kind, n, crc)) = parse_header(&h, RESYNC_WINDOW) else {
            return Ok(false);
        };
        if at + (RECORD_HEADER_LEN + n) as u64 > self.len {
            return Ok(false);
        }
        let mut payload = vec![0u8; n];
        f.read_exact_at(&mut payload, at + RECORD_HEADER_LEN as u64)?;
        Ok(decode(kind, &Bytes::from(payload), crc, self.header.version).is_ok())
    }
}

/// How far past a bad record [`Reader::resync`] looks for the next whole
/// one (and the largest record it takes for one): damage is a flipped bit
/// or a lost block; a torn end after a crash has nothing after it, and in
/// a recycled file the earlier life's bytes, which are not looked through
/// further than this.
const RESYNC_WINDOW: u64 = 16 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// The first record in `buf`: kind, payload, crc.
    fn payload(buf: &[u8]) -> (u8, Bytes, u32) {
        let h: [u8; RECORD_HEADER_LEN] = buf[..RECORD_HEADER_LEN].try_into().expect("header");
        let (kind, n, crc) = parse_header(&h, buf.len() as u64).expect("parse");
        let p = &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + n];
        (kind, Bytes::copy_from_slice(p), crc)
    }

    fn decode_now(kind: u8, p: &Bytes, crc: u32) -> Result<Record, String> {
        decode(kind, p, crc, FORMAT_VERSION)
    }

    #[test]
    fn a_put_record_round_trips_with_headers_and_entry_offsets() {
        let mut a = Event::new(b"first".to_vec());
        a.headers.insert("host".into(), "h1".into());
        a.headers.insert("é".into(), String::new());
        let events = vec![a, Event::new(Vec::new()), Event::new(vec![7u8; 300])];
        let mut buf = b"junk before".to_vec();
        let start = buf.len();
        let mut entries = Vec::new();
        encode_put(&mut buf, 42, &events, &mut entries);
        // And as versions 2 to 4 wrote it.
        let mut old = Vec::new();
        let mut old_entries = Vec::new();
        encode_put_v4(&mut old, 42, &events, &mut old_entries);
        for (buf, entries, version) in [(&buf[start..], entries, 5), (&old[..], old_entries, 4)] {
            let (kind, p, crc) = payload(buf);
            let Record::Put {
                tx, events: back, ..
            } = decode(kind, &p, crc, version).expect("decode")
            else {
                panic!("not a put")
            };
            assert_eq!(tx, 42);
            let got: Vec<Event> = back.iter().map(|(_, e)| e.clone()).collect();
            assert_eq!(got, events);
            // Same entry offsets from the encoder and the decoder.
            let decoded: Vec<u64> = back
                .iter()
                .map(|(o, _)| o + RECORD_HEADER_LEN as u64)
                .collect();
            assert_eq!(entries, decoded);
        }
    }

    #[test]
    fn every_byte_of_a_put_record_is_checked() {
        let mut a = Event::new(b"first".to_vec());
        a.headers.insert("host".into(), "h1".into());
        let events = vec![a, Event::new(Vec::new()), Event::new(vec![7u8; 300])];
        let mut buf = Vec::new();
        let mut entries = Vec::new();
        encode_put(&mut buf, 42, &events, &mut entries);
        let (kind, p, crc) = payload(&buf);
        let Ok(Record::Put { events: whole, .. }) = decode_now(kind, &p, crc) else {
            panic!("not a put")
        };
        for i in 0..p.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = p.to_vec();
                b[i] ^= flip;
                // Either the record is refused, or the events it still
                // gives are the undamaged ones, each where it was, and the
                // damaged one is named.
                match decode_now(kind, &Bytes::from(b), crc) {
                    Err(_) => {}
                    Ok(Record::Put {
                        events: back,
                        damaged,
                        ..
                    }) => {
                        assert_eq!(damaged.len(), 1, "byte {i} ^ {flip:#x}");
                        assert_eq!(back.len(), whole.len() - 1);
                        for e in &back {
                            assert!(whole.contains(e), "byte {i} ^ {flip:#x} not detected");
                        }
                        assert!(!back.iter().any(|(at, _)| *at == damaged[0]));
                    }
                    Ok(r) => panic!("{r:?}"),
                }
            }
        }
        assert!(decode_now(kind, &p, crc ^ 1).is_err());
    }

    /// A data file `id` with `records` (stamped with its salt).
    fn data_file(dir: &Path, id: u32, mut records: Vec<u8>) -> PathBuf {
        let path = file_path(&[dir.to_path_buf()], id);
        let mut bytes = file_header(id, 77, 0).to_vec();
        stamp(&mut records, 77);
        bytes.extend_from_slice(&records);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A recycled file: this life's records (salt 77), then the earlier
    /// life's (another salt). A damaged record of this life, a bit of its salt
    /// included, is skipped to the next one of this life; the earlier
    /// life's are never read, and a torn last record of this life has
    /// nothing to skip to.
    #[test]
    fn a_reader_skips_a_damaged_record_to_the_next_of_its_files_life() {
        let dir = tempfile::tempdir().unwrap();
        let record = |tx: u64, salt: u32| {
            let mut b = Vec::new();
            encode_put(&mut b, tx, &five_events(), &mut Vec::new());
            stamp(&mut b, salt);
            b
        };
        let mut bytes = file_header(1, 77, 9).to_vec();
        let starts: Vec<usize> = (1..=4)
            .map(|tx| {
                let at = bytes.len();
                bytes.extend(record(tx, 77));
                at
            })
            .collect();
        bytes.extend(record(100, 0xdead_beef));
        bytes.extend(record(101, 0xdead_beef));
        let path = dir.path().join("log-1");
        let txs = |bytes: &[u8]| -> (Vec<u64>, Vec<u64>) {
            std::fs::write(&path, bytes).unwrap();
            let mut r = Reader::open(&path, 1, 0).unwrap().unwrap();
            let (mut got, mut bad) = (Vec::new(), Vec::new());
            loop {
                match r.next_record().unwrap() {
                    Ok((_, Record::Put { tx, .. })) => got.push(tx),
                    Ok(other) => panic!("{other:?}"),
                    Err(Stop::End) => break,
                    Err(Stop::Bad(at, _)) => {
                        bad.push(at);
                        if r.resync(at).unwrap().is_none() {
                            break;
                        }
                    }
                }
            }
            (got, bad)
        };
        assert_eq!(txs(&bytes), (vec![1, 2, 3, 4], vec![]));
        let mut salt = bytes.clone();
        salt[starts[1]] ^= 0x04;
        assert_eq!(txs(&salt), (vec![1, 3, 4], vec![starts[1] as u64]));
        let mut body = bytes.clone();
        body[starts[2] + 40] ^= 0x01;
        body[starts[2] + 6] ^= 0x10; // its length too: found by looking
        assert_eq!(txs(&body), (vec![1, 2, 4], vec![starts[2] as u64]));
        // The last record of this life torn (its tail is the earlier life's).
        let mut torn = bytes.clone();
        torn[starts[3] + 25] ^= 0x01; // an entry's crc: the record's fails
        assert_eq!(txs(&torn), (vec![1, 2, 3], vec![starts[3] as u64]));
    }

    fn five_events() -> Vec<Event> {
        (0..5)
            .map(|i| Event::new(format!("event number {i}")))
            .collect()
    }

    #[test]
    fn an_entry_read_back_with_a_flipped_byte_is_an_error_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let events = five_events();
        let (mut records, mut entries) = (Vec::new(), Vec::new());
        encode_put(&mut records, 1, &events, &mut entries);
        let path = data_file(dir.path(), 1, records);
        let ptrs: Vec<Ptr> = entries
            .iter()
            .map(|o| Ptr {
                file: 1,
                offset: FILE_HEADER_LEN + o,
            })
            .collect();
        let dirs = [dir.path().to_path_buf()];
        let old = OldRecords::default();
        let read = read_entries(&dirs, &old, &ptrs).unwrap();
        assert!(read.iter().all(Result::is_ok));
        // One byte of the third event's body flipped on disk.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = ptrs[2].offset as usize + 8;
        bytes[at] ^= 0x20;
        std::fs::write(&path, bytes).unwrap();
        let read = read_entries(&dirs, &old, &ptrs).unwrap();
        for (i, r) in read.iter().enumerate() {
            if i == 2 {
                let why = r.as_ref().unwrap_err();
                let want = format!("{} offset {}", path.display(), ptrs[2].offset);
                assert!(why.contains(&want) && why.contains("crc"), "{why}");
            } else {
                assert_eq!(r.as_ref().unwrap(), &events[i]);
            }
        }
        // A pointer past the file, or into its header.
        let wild = [
            Ptr {
                file: 1,
                offset: 1 << 20,
            },
            Ptr { file: 1, offset: 3 },
        ];
        assert!(
            read_entries(&dirs, &old, &wild)
                .unwrap()
                .iter()
                .all(Result::is_err)
        );
    }

    #[test]
    fn an_entry_of_an_old_file_is_checked_with_its_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let events = five_events();
        let (mut records, mut entries) = (Vec::new(), Vec::new());
        encode_take(&mut records, 1, &[Ptr::default()]);
        let second = records.len() as u64;
        encode_put_v4(&mut records, 2, &events, &mut entries);
        let path = file_path(&[dir.path().to_path_buf()], 1);
        let mut bytes = FILE_MAGIC.to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        stamp(&mut records, RECORD_MAGIC);
        bytes.extend_from_slice(&records);
        std::fs::write(&path, &bytes).unwrap();
        let ptrs: Vec<Ptr> = entries
            .iter()
            .map(|o| Ptr {
                file: 1,
                offset: 16 + second + o,
            })
            .collect();
        let dirs = [dir.path().to_path_buf()];
        let old = OldRecords::default();
        let read = read_entries(&dirs, &old, &ptrs).unwrap();
        let got: Vec<Event> = read.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, events);
        // A flipped byte anywhere in the record: every event of it is refused.
        let mut bad = bytes.clone();
        bad[ptrs[4].offset as usize + 3] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let read = read_entries(&dirs, &old, &ptrs).unwrap();
        assert!(
            read.iter()
                .all(|r| r.as_ref().is_err_and(|e| e.contains("bad crc"))),
            "{read:?}"
        );
        // A pointer into the take record is not an event.
        std::fs::write(&path, &bytes).unwrap();
        let into_take = [Ptr {
            file: 1,
            offset: 16 + 14,
        }];
        assert!(read_entries(&dirs, &old, &into_take).unwrap()[0].is_err());
    }

    #[test]
    fn a_take_record_round_trips_pointers_in_any_order() {
        let p = |file, offset| Ptr { file, offset };
        let ptrs = vec![
            p(3, 16),
            p(3, 118),
            p(4, 16),
            p(2, 900_000_000_000),
            p(0, 0),
        ];
        let mut buf = Vec::new();
        encode_take(&mut buf, 7, &ptrs);
        let (kind, pl, crc) = payload(&buf);
        let Record::Take { tx, ptrs: back } = decode_now(kind, &pl, crc).expect("decode") else {
            panic!("not a take")
        };
        assert_eq!((tx, back), (7, ptrs));
    }

    #[test]
    fn a_take_range_record_round_trips_and_a_backward_one_is_refused() {
        let p = |file, offset| Ptr { file, offset };
        let mut buf = Vec::new();
        encode_take_range(&mut buf, 9, p(3, 16), p(4, 900_000_000_000), 1000);
        let (kind, pl, crc) = payload(&buf);
        assert_eq!(pl.len(), 36);
        let Record::TakeRange {
            tx,
            first,
            last,
            count,
        } = decode_now(kind, &pl, crc).expect("decode")
        else {
            panic!("not a take range")
        };
        assert_eq!(
            (tx, first, last, count),
            (9, p(3, 16), p(4, 900_000_000_000), 1000)
        );
        let mut buf = Vec::new();
        encode_take_range(&mut buf, 9, p(4, 16), p(3, 16), 2);
        let (kind, pl, crc) = payload(&buf);
        assert!(decode_now(kind, &pl, crc).is_err());
    }

    #[test]
    fn damaged_payloads_are_errors_never_panics() {
        let mut buf = Vec::new();
        let events = vec![Event::new(b"abc".to_vec()); 3];
        encode_put(&mut buf, 1, &events, &mut Vec::new());
        encode_take(
            &mut buf,
            2,
            &[Ptr {
                file: 1,
                offset: 20,
            }; 4],
        );
        let (_, put, crc) = payload(&buf);
        encode_take_range(
            &mut buf,
            3,
            Ptr {
                file: 1,
                offset: 20,
            },
            Ptr {
                file: 2,
                offset: 20,
            },
            9,
        );
        for kind in [KIND_PUT, KIND_TAKE, KIND_TAKE_RANGE, 9] {
            for version in [2, 5] {
                for cut in 0..put.len() {
                    let _ = decode(kind, &put.slice(..cut), crc, version);
                }
                for i in 0..put.len() {
                    let mut b = put.to_vec();
                    b[i] ^= 0xff;
                    let _ = decode(kind, &Bytes::from(b), crc, version);
                }
            }
        }
        assert!(decode_now(KIND_PUT, &put.slice(..put.len() - 1), crc).is_err());
    }
}
