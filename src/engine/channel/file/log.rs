//! The data files ("logs"): the record format, appending with group
//! commit, and reading records back.
//!
//! A data file is `log-<id>` in `dataDirs[id % dataDirs.len()]`, ids
//! increasing, so the files are written in turn across the directories.
//! It starts with a 16-byte file header (`SLUICEFC`, format version u32,
//! file id u32), then records, each:
//!
//! ```text
//! magic u32 | kind u8 | payload length u32 | crc32(kind, payload) u32 | payload
//! ```
//!
//! All integers little-endian. Kinds and payloads:
//! - `PUT`: transaction id u64, header count u32, per header key and
//!   value (u32 length + UTF-8 bytes), body (u32 length + bytes).
//! - `PUT_COMMIT`: transaction id u64. A put transaction is its `PUT`
//!   records then this record, written with one write(2); replay keeps
//!   the events of a transaction only when its commit record is whole.
//! - `TAKE_COMMIT`: transaction id u64, count u32, then per taken event
//!   its pointer (file id u32, offset u64).
//!
//! An event is referenced by the pointer to its `PUT` record.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::engine::event::{Event, Headers};

pub const FILE_MAGIC: &[u8; 8] = b"SLUICEFC";
pub const FORMAT_VERSION: u32 = 1;
pub const FILE_HEADER_LEN: u64 = 16;
pub const RECORD_MAGIC: u32 = 0x5245_4331; // "1CER" on disk
pub const RECORD_HEADER_LEN: usize = 13;

pub const KIND_PUT: u8 = 1;
pub const KIND_PUT_COMMIT: u8 = 2;
pub const KIND_TAKE_COMMIT: u8 = 3;

/// Where an event's `PUT` record is, or a position in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ptr {
    pub file: u32,
    pub offset: u64,
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

pub fn file_header(id: u32) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..8].copy_from_slice(FILE_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&id.to_le_bytes());
    h
}

/// Append one record: header, then the payload `fill` writes.
fn record(buf: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
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

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
    buf.extend_from_slice(b);
}

pub fn encode_put(buf: &mut Vec<u8>, tx: u64, e: &Event) {
    record(buf, KIND_PUT, |b| {
        b.extend_from_slice(&tx.to_le_bytes());
        b.extend_from_slice(&(e.headers.len() as u32).to_le_bytes());
        for (k, v) in &e.headers {
            put_bytes(b, k.as_bytes());
            put_bytes(b, v.as_bytes());
        }
        put_bytes(b, &e.body);
    });
}

pub fn encode_put_commit(buf: &mut Vec<u8>, tx: u64) {
    record(buf, KIND_PUT_COMMIT, |b| {
        b.extend_from_slice(&tx.to_le_bytes())
    });
}

pub fn encode_take_commit(buf: &mut Vec<u8>, tx: u64, ptrs: &[Ptr]) {
    record(buf, KIND_TAKE_COMMIT, |b| {
        b.extend_from_slice(&tx.to_le_bytes());
        b.extend_from_slice(&(ptrs.len() as u32).to_le_bytes());
        for p in ptrs {
            b.extend_from_slice(&p.file.to_le_bytes());
            b.extend_from_slice(&p.offset.to_le_bytes());
        }
    });
}

/// A decoded record.
#[derive(Debug)]
pub enum Record {
    Put { tx: u64, event: Event },
    PutCommit { tx: u64 },
    TakeCommit { tx: u64, ptrs: Vec<Ptr> },
}

/// A cursor over a payload; every read checks the length.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("payload shorter than its contents".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a header is not UTF-8".to_string())
    }
}

pub fn decode(kind: u8, payload: &[u8]) -> Result<Record, String> {
    let mut c = Cur(payload);
    let r = match kind {
        KIND_PUT => {
            let tx = c.u64()?;
            let n = c.u32()?;
            let mut headers = Headers::new();
            for _ in 0..n {
                let k = c.string()?;
                let v = c.string()?;
                headers.insert(k, v);
            }
            let body = Bytes::copy_from_slice(c.bytes()?);
            Record::Put {
                tx,
                event: Event { headers, body },
            }
        }
        KIND_PUT_COMMIT => Record::PutCommit { tx: c.u64()? },
        KIND_TAKE_COMMIT => {
            let tx = c.u64()?;
            let n = c.u32()? as usize;
            if n > c.0.len() / 12 {
                return Err("take record count larger than the record".into());
            }
            let mut ptrs = Vec::with_capacity(n);
            for _ in 0..n {
                let file = c.u32()?;
                let offset = c.u64()?;
                ptrs.push(Ptr { file, offset });
            }
            Record::TakeCommit { tx, ptrs }
        }
        k => return Err(format!("unknown record kind {k}")),
    };
    if !c.0.is_empty() {
        return Err("payload longer than its contents".into());
    }
    Ok(r)
}

/// Check a record header; the payload length and the crc on success.
fn parse_header(h: &[u8; RECORD_HEADER_LEN], max_len: u64) -> Result<(u8, usize, u32), String> {
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    if magic != RECORD_MAGIC {
        return Err("bad record magic".into());
    }
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
    payload: Vec<u8>,
}

impl Reader {
    /// Open `path`, check its file header, and seek to `from` (at least
    /// past the header).
    pub fn open(path: &Path, id: u32, from: u64) -> io::Result<Result<Reader, String>> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let mut h = [0u8; FILE_HEADER_LEN as usize];
        if len < FILE_HEADER_LEN {
            return Ok(Err("shorter than its file header".into()));
        }
        f.read_exact(&mut h)?;
        if h != file_header(id) {
            return Ok(Err(
                "bad file header (not a sluice file channel log of this id)".into(),
            ));
        }
        let from = from.max(FILE_HEADER_LEN);
        use std::io::Seek;
        f.seek(io::SeekFrom::Start(from))?;
        Ok(Ok(Reader {
            inner: io::BufReader::with_capacity(1 << 20, f),
            offset: from,
            len,
            payload: Vec::new(),
        }))
    }

    /// The next record and its offset, or why there is none.
    pub fn next_record(&mut self) -> io::Result<Result<(u64, Record), Stop>> {
        let at = self.offset;
        if at >= self.len {
            return Ok(Err(Stop::End));
        }
        if self.len - at < RECORD_HEADER_LEN as u64 {
            return Ok(Err(Stop::Bad(at, "torn record header".into())));
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        self.inner.read_exact(&mut h)?;
        let (kind, n, crc) = match parse_header(&h, self.len) {
            Ok(x) => x,
            Err(e) => return Ok(Err(Stop::Bad(at, e))),
        };
        if self.len - at - (RECORD_HEADER_LEN as u64) < n as u64 {
            return Ok(Err(Stop::Bad(at, "torn record".into())));
        }
        self.payload.resize(n, 0);
        self.inner.read_exact(&mut self.payload)?;
        if let Err(e) = check_crc(kind, &self.payload, crc) {
            return Ok(Err(Stop::Bad(at, e)));
        }
        let r = match decode(kind, &self.payload) {
            Ok(r) => r,
            Err(e) => return Ok(Err(Stop::Bad(at, e))),
        };
        self.offset = at + (RECORD_HEADER_LEN + n) as u64;
        Ok(Ok((at, r)))
    }
}

/// Read the event of the `PUT` record at `offset` of `f` (`len` bytes).
pub fn read_event(f: &File, len: u64, offset: u64) -> Result<Event, String> {
    let mut h = [0u8; RECORD_HEADER_LEN];
    f.read_exact_at(&mut h, offset)
        .map_err(|_| "torn record header".to_string())?;
    let (kind, n, crc) = parse_header(&h, len)?;
    let mut payload = vec![0u8; n];
    f.read_exact_at(&mut payload, offset + RECORD_HEADER_LEN as u64)
        .map_err(|_| "torn record".to_string())?;
    check_crc(kind, &payload, crc)?;
    match decode(kind, &payload)? {
        Record::Put { event, .. } => Ok(event),
        _ => Err("not an event record".into()),
    }
}
