//! `tail -f` of a log file for `/logtail` and `/mainlogtail`, as supervisord
//! serves them: first the last `head` bytes, then whatever is appended, for
//! as long as the client stays. A file that shrinks is announced with
//! `==> File truncated <==` and read again from its start; a file replaced
//! by rotation (new inode at the path) is drained, then the new one is read
//! from its start. The file is checked every [`POLL`]; there is no
//! portable change notification for plain files.

use std::io::{self, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

/// How often a followed file is checked for new data.
pub const POLL: Duration = Duration::from_millis(100);
/// How much of the existing file is sent first (supervisord's 1024).
pub const HEAD: u64 = 1024;
/// The most read into one chunk.
const CHUNK: u64 = 64 * 1024;
/// What a shrunk file is announced with.
pub const TRUNCATED: &[u8] = b"==> File truncated <==\n";

struct Follower {
    path: PathBuf,
    file: File,
    ino: u64,
    pos: u64,
    tx: mpsc::Sender<Bytes>,
}

impl Follower {
    /// Sends everything from `pos` to the current end. `Err` when the
    /// client has gone or the file cannot be read.
    async fn drain(&mut self) -> io::Result<()> {
        let size = self.file.metadata().await?.len();
        if size < self.pos {
            self.send(Bytes::from_static(TRUNCATED)).await?;
            self.pos = 0;
        }
        while self.pos < size {
            let want = (size - self.pos).min(CHUNK);
            self.file.seek(SeekFrom::Start(self.pos)).await?;
            let mut buf = vec![0u8; want as usize];
            let n = self.file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            self.pos += n as u64;
            self.send(Bytes::from(buf)).await?;
        }
        Ok(())
    }

    async fn send(&self, b: Bytes) -> io::Result<()> {
        self.tx
            .send(b)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Switches to a new file at the path after rotation.
    async fn follow_rotation(&mut self) -> io::Result<()> {
        let Ok(meta) = tokio::fs::metadata(&self.path).await else {
            return Ok(()); // unlinked: keep reading what we have open
        };
        if meta.ino() == self.ino {
            return Ok(());
        }
        let Ok(file) = File::open(&self.path).await else {
            return Ok(());
        };
        self.drain().await?;
        self.file = file;
        self.ino = meta.ino();
        self.pos = 0;
        Ok(())
    }
}

/// Opens `path` and starts following it. The receiver yields the chunks;
/// the task ends when the receiver is dropped or `stop` turns true.
pub fn spawn(
    path: PathBuf,
    head: u64,
    mut stop: watch::Receiver<bool>,
) -> io::Result<mpsc::Receiver<Bytes>> {
    let std_file = std::fs::File::open(&path)?;
    let meta = std_file.metadata()?;
    let (tx, rx) = mpsc::channel(8);
    let mut f = Follower {
        path,
        file: File::from_std(std_file),
        ino: meta.ino(),
        pos: meta.len().saturating_sub(head),
        tx,
    };
    tokio::spawn(async move {
        loop {
            if f.follow_rotation().await.is_err() || f.drain().await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
                _ = f.tx.closed() => return,
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    async fn next(rx: &mut mpsc::Receiver<Bytes>) -> Bytes {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("timed out")
            .expect("stream ended")
    }

    #[tokio::test]
    async fn head_growth_truncation_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"0123456789").unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let mut rx = spawn(path.clone(), 4, stop).unwrap();
        assert_eq!(&next(&mut rx).await[..], b"6789");

        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"more").unwrap();
        assert_eq!(&next(&mut rx).await[..], b"more");

        // Truncate in place.
        f.set_len(0).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(&next(&mut rx).await[..], TRUNCATED);
        assert_eq!(&next(&mut rx).await[..], b"x");

        // Rotate: the old file gets a last line, then is renamed away.
        f.write_all(b"last").unwrap();
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&path, b"new").unwrap();
        let mut got = Vec::new();
        while got.len() < b"lastnew".len() {
            got.extend_from_slice(&next(&mut rx).await);
        }
        assert_eq!(got, b"lastnew");
    }

    #[tokio::test]
    async fn stops_on_signal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.log");
        std::fs::write(&path, b"").unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let mut rx = spawn(path, HEAD, stop).unwrap();
        stop_tx.send(true).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert!(end.is_none());
    }
}
