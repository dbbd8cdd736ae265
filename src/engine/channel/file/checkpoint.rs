//! The checkpoint: the channel's events (pointers into the data files)
//! as of a log position, so replay reads only the log after it.
//!
//! File `checkpoint` in checkpointDir (and, with useDualCheckpoints, the
//! same in backupCheckpointDir):
//!
//! ```text
//! "SLUICECP" | version u32 | position: file u32, offset u64 | next transaction id u64
//!   | count u64 | the count pointers | crc32 of all before u32
//! ```
//!
//! Version 2 writes the pointers as var deltas (`log::put_ptr_deltas`):
//! in log order 3 bytes each for events up to about 4 KiB, so a
//! checkpoint of a large backlog is a quarter of version 1's 12 bytes a
//! pointer (file u32, offset u64), which is still read.
//!
//! Written to `checkpoint.tmp`, fsync'd, renamed over `checkpoint`, then
//! the directory fsync'd: a crash leaves the old checkpoint or the new
//! one, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::log::{self, Ptr};

const MAGIC: &[u8; 8] = b"SLUICECP";
const VERSION: u32 = 2;
/// Fixed-width pointers.
const VERSION_1: u32 = 1;
pub const FILE: &str = "checkpoint";
const TMP: &str = "checkpoint.tmp";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Everything in the log before this position is in `live`.
    pub pos: Ptr,
    pub next_tx: u64,
    /// The channel's events, in order.
    pub live: Vec<Ptr>,
}

/// Everything before the pointers: magic, version, position, next
/// transaction id, count.
fn put_head(b: &mut Vec<u8>, version: u32, c: &Checkpoint) {
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&c.pos.file.to_le_bytes());
    b.extend_from_slice(&c.pos.offset.to_le_bytes());
    b.extend_from_slice(&c.next_tx.to_le_bytes());
    b.extend_from_slice(&(c.live.len() as u64).to_le_bytes());
}

pub fn encode(c: &Checkpoint) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + c.live.len() * 3);
    put_head(&mut b, VERSION, c);
    log::put_ptr_deltas(&mut b, &c.live);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

pub fn decode(b: &[u8]) -> Result<Checkpoint, String> {
    if b.len() < 44 {
        return Err("too short".into());
    }
    let (body, crc) = b.split_at(b.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != crc {
        return Err("bad crc".into());
    }
    if &body[..8] != MAGIC {
        return Err("bad magic".into());
    }
    let u32_at = |i: usize| u32::from_le_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&body[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let version = u32_at(8);
    if version != VERSION && version != VERSION_1 {
        return Err(format!("unknown version {version}"));
    }
    let pos = Ptr {
        file: u32_at(12),
        offset: u64_at(16),
    };
    let next_tx = u64_at(24);
    let count = u64_at(32);
    let live = if version == VERSION_1 {
        if (body.len() as u64 - 40) != count.saturating_mul(12) {
            return Err("length does not match the event count".into());
        }
        (0..count as usize)
            .map(|i| {
                let at = 40 + i * 12;
                Ptr {
                    file: u32_at(at),
                    offset: u64_at(at + 4),
                }
            })
            .collect()
    } else {
        let count = usize::try_from(count).map_err(|_| "an event count out of range")?;
        let (live, used) = log::read_ptr_deltas(&body[40..], count)?;
        if 40 + used != body.len() {
            return Err("length does not match the event count".into());
        }
        live
    };
    Ok(Checkpoint { pos, next_tx, live })
}

/// `e` with the path it is about (its kind kept).
fn named(p: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// Write `bytes` as `dir/checkpoint`, atomically and durably. An error
/// names the file (its kind kept: a full disk is told apart).
pub fn write(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let (tmp, file) = (dir.join(TMP), dir.join(FILE));
    // Ours alone: whatever is there (a FIFO, say) goes first.
    let _ = fs::remove_file(&tmp);
    let create = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .clone();
    let written = log::open_regular(&create, &tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Half a checkpoint is no use, and on a full disk it holds room.
        let _ = fs::remove_file(&tmp);
        return Err(named(&tmp)(e));
    }
    fs::rename(&tmp, &file).map_err(named(&file))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(named(dir))
}

/// The checkpoint in `dir`: `Ok(None)` when there is none, `Err` with
/// the reason when it is unreadable or corrupt.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, String> {
    let read = log::open_read(&dir.join(FILE)).and_then(|mut f| {
        let mut b = Vec::new();
        io::Read::read_to_end(&mut f, &mut b).map(|_| b)
    });
    match read {
        Ok(b) => decode(&b).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let c = Checkpoint {
            pos: Ptr {
                file: 3,
                offset: 99,
            },
            next_tx: 7,
            live: vec![
                Ptr {
                    file: 1,
                    offset: 16,
                },
                Ptr {
                    file: 2,
                    offset: 40,
                },
            ],
        };
        let mut b = encode(&c);
        assert_eq!(decode(&b).unwrap(), c);
        b[20] ^= 1;
        assert!(decode(&b).is_err());
        assert!(decode(&b[..10]).is_err());
    }

    /// Version 1's fixed-width pointers, as that build wrote them.
    fn encode_v1(c: &Checkpoint) -> Vec<u8> {
        let mut b = Vec::new();
        put_head(&mut b, VERSION_1, c);
        for p in &c.live {
            b.extend_from_slice(&p.file.to_le_bytes());
            b.extend_from_slice(&p.offset.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn pointers_take_three_bytes_each_and_version_1_is_still_read() {
        // A backlog of 100-byte events across three files.
        let live: Vec<Ptr> = (0..30_000u64)
            .map(|i| Ptr {
                file: 1 + (i / 10_000) as u32,
                offset: 16 + (i % 10_000) * 102,
            })
            .collect();
        let c = Checkpoint {
            pos: Ptr {
                file: 4,
                offset: 16,
            },
            next_tx: 99,
            live,
        };
        let b = encode(&c);
        assert!(b.len() <= 44 + 3 * c.live.len() + 8, "{} bytes", b.len());
        assert_eq!(decode(&b).unwrap(), c);
        let old = encode_v1(&c);
        assert_eq!(old.len(), 44 + 12 * c.live.len());
        assert_eq!(decode(&old).unwrap(), c);
        // A count that does not match the pointers is refused, crc right.
        let mut short = b[..b.len() - 4].to_vec();
        short[32..40].copy_from_slice(&(c.live.len() as u64 + 1).to_le_bytes());
        let crc = crc32fast::hash(&short);
        short.extend_from_slice(&crc.to_le_bytes());
        assert!(decode(&short).is_err());
        let mut long = b[..b.len() - 4].to_vec();
        long[32..40].copy_from_slice(&(c.live.len() as u64 - 1).to_le_bytes());
        let crc = crc32fast::hash(&long);
        long.extend_from_slice(&crc.to_le_bytes());
        assert!(decode(&long).is_err());
    }
}
