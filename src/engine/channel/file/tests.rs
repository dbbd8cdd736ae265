use std::path::Path;

use super::*;

use crate::engine::channel::testing::{bodies, ev, evs};
use crate::engine::log::testing::Captured;

fn settings(dir: &Path) -> Settings {
    Settings {
        minimum_required_space: 0,
        keep_alive: Duration::from_millis(50),
        checkpoint_interval: Duration::from_secs(3600),
        ..Settings::in_dir(dir)
    }
}

/// Data files of 4 KiB (the least maxFileSize): a few events fill one.
fn small_files(dir: &Path) -> Settings {
    Settings {
        max_file_size: 4096,
        ..settings(dir)
    }
}

/// Data file `path` says in its header it was written over a spare.
fn is_recycled(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    log::parse_file_header(&bytes).unwrap().recycled
}

async fn open_with(s: Settings) -> (FileChannel, Captured) {
    let c = FileChannel::new("c1", s);
    let out = Captured::default();
    c.start(&out.log()).await.expect("start");
    (c, out)
}

async fn open(dir: &Path) -> (FileChannel, Captured) {
    open_with(settings(dir)).await
}

/// Take and commit everything in the channel, in order: the bodies.
async fn drain(c: &FileChannel) -> Vec<String> {
    drain_events(c, 1000)
        .await
        .iter()
        .map(|e| String::from_utf8_lossy(&e.body).into_owned())
        .collect()
}

/// Take (up to `max` at a time) and commit everything in the channel.
async fn drain_events(c: &FileChannel, max: usize) -> Vec<Event> {
    let mut all = Vec::new();
    while !c.is_empty() {
        let t = c.take(max).await.unwrap();
        all.extend_from_slice(t.events());
        t.commit().await.unwrap();
    }
    all
}

/// The ids of the files in `dir` whose names `parse` reads, in order.
fn names_in(dir: &Path, parse: fn(&str) -> Option<u32>) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(parse))
        .collect();
    v.sort_unstable();
    v
}

fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let data = dir.join("data");
    names_in(&data, log::parse_file_name)
        .into_iter()
        .map(|id| data.join(log::file_name(id)))
        .collect()
}

#[tokio::test]
async fn put_take_commit_round_trip_with_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path()).await;
    assert!(c.durable());
    let mut batch = vec![ev("a").with_header("k", "v"), ev("b"), ev("c")];
    c.put(&mut batch).await.unwrap();
    assert!(batch.is_empty());
    assert_eq!(c.len(), 3);
    let t = c.take(2).await.unwrap();
    assert_eq!(bodies(&t), ["a", "b"]);
    assert_eq!(
        t.events()[0].headers.get("k").map(String::as_str),
        Some("v")
    );
    t.commit().await.unwrap();
    assert_eq!(drain(&c).await, ["c"]);
    assert_eq!(c.len(), 0);
    c.wait_empty().await;
    assert!(c.fsyncs() >= 1);
}

#[tokio::test]
async fn rollback_puts_events_back_at_the_head_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path()).await;
    c.put(&mut evs(&["a", "b", "c"])).await.unwrap();
    let t = c.take(2).await.unwrap();
    t.rollback();
    c.put(&mut evs(&["d"])).await.unwrap();
    drop(c.take(1).await.unwrap()); // a dropped take rolls back too
    assert_eq!(drain(&c).await, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn replay_after_a_crash_restores_committed_untaken_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        c.put(&mut evs(&["1", "2", "3", "4", "5"])).await.unwrap();
        c.put(&mut evs(&["6", "7", "8"])).await.unwrap();
        let t = c.take(3).await.unwrap();
        t.commit().await.unwrap();
        // An uncommitted take: the crash comes before its commit.
        let pending = c.take(2).await.unwrap();
        assert_eq!(bodies(&pending), ["4", "5"]);
        drop(c); // no stop: no checkpoint, like kill -9
        drop(pending); // gives back in memory only; nothing on disk
    }
    let (c, out) = open(dir.path()).await;
    assert!(out.text().contains("replayed: 5 events"), "{}", out.text());
    assert_eq!(drain(&c).await, ["4", "5", "6", "7", "8"]);
}

#[tokio::test]
async fn replay_from_a_checkpoint_plus_the_log_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        c.put(&mut evs(&["1", "2", "3"])).await.unwrap();
        c.take(1).await.unwrap().commit().await.unwrap();
        c.checkpoint().await.unwrap();
        c.put(&mut evs(&["4"])).await.unwrap();
        c.take(1).await.unwrap().commit().await.unwrap();
    }
    let (c, _) = open(dir.path()).await;
    assert_eq!(drain(&c).await, ["3", "4"]);
    c.stop().await;
    drop(c);
    // A clean stop checkpoints; nothing is left.
    let (c, _) = open(dir.path()).await;
    assert_eq!(c.len(), 0);
}

#[tokio::test]
async fn events_in_older_files_come_back_through_restarts_clean_and_crashed() {
    let dir = tempfile::tempdir().unwrap();
    // Small files: the events spread over several, older than each
    // restart's checkpoint position.
    let s = small_files(dir.path());
    let name = |i: usize| format!("event {i:04} with some padding to fill the files");
    {
        let (c, _) = open_with(s.clone()).await;
        for i in 0..200 {
            c.put(&mut vec![ev(&name(i))]).await.unwrap();
        }
        let t = c.take(50).await.unwrap();
        t.commit().await.unwrap();
        c.stop().await;
    }
    assert!(data_files(dir.path()).len() > 3);
    let mut next = 50;
    for round in 0..4 {
        let (c, out) = open_with(s.clone()).await;
        assert_eq!(c.len(), 200 - next, "round {round}: {}", out.text());
        assert!(!out.text().contains("cannot be read"), "{}", out.text());
        let t = c.take(10).await.unwrap();
        let want: Vec<String> = (next..next + 10).map(name).collect();
        assert_eq!(bodies(&t), want);
        t.commit().await.unwrap();
        next += 10;
        if round % 2 == 0 {
            c.stop().await; // a checkpoint, files deleted behind the oldest event
        } else {
            drop(c); // a crash: the take is in the log only
        }
    }
    let (c, _) = open_with(s).await;
    let rest: Vec<String> = (next..200).map(name).collect();
    assert_eq!(drain(&c).await, rest);
}

#[tokio::test]
async fn a_second_channel_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_c, _) = open(dir.path()).await;
    let other = FileChannel::new("c2", settings(dir.path()));
    let err = other.start(&AgentLog::discard()).await.unwrap_err();
    assert!(err.contains("locked"), "{err}");
}

#[tokio::test]
async fn a_truncated_tail_is_cut_at_the_last_whole_record_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        c.put(&mut evs(&["a", "b"])).await.unwrap();
        c.put(&mut evs(&["c"])).await.unwrap();
        c.put(&mut evs(&["d", "e"])).await.unwrap();
    }
    let files = data_files(dir.path());
    let last = files.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    // Cut into the last transaction's commit record.
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (c, out) = open(dir.path()).await;
    assert!(out.text().contains("WARN"), "{}", out.text());
    assert!(out.text().contains("cut there"), "{}", out.text());
    assert_eq!(drain(&c).await, ["a", "b", "c"]);
    drop(c);
    // The cut file is whole now: the next start has nothing to warn about.
    let (c, out) = open(dir.path()).await;
    assert!(!out.text().contains("WARN"), "{}", out.text());
    assert_eq!(c.len(), 0);
}

/// A damaged event of a whole record (its own crc fails, its record's
/// holds) costs that event alone, not its record or those after it.
#[tokio::test]
async fn a_damaged_event_in_the_last_file_costs_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        c.put(&mut evs(&["first1", "first2"])).await.unwrap();
        c.put(&mut evs(&["middle", "corrupt"])).await.unwrap();
        c.put(&mut evs(&["after"])).await.unwrap();
    }
    let last = data_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"corrupt")
        .expect("the body is in the file");
    bytes[at] ^= 0xff;
    std::fs::write(&last, bytes).unwrap();
    let (c, out) = open(dir.path()).await;
    assert!(out.text().contains("bad entry crc"), "{}", out.text());
    assert_eq!(drain(&c).await, ["first1", "first2", "middle", "after"]);
    assert_eq!(c.damaged(), 1);
}

#[tokio::test]
async fn garbage_files_and_checkpoints_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        c.put(&mut evs(&["a"])).await.unwrap();
        c.checkpoint().await.unwrap();
    }
    std::fs::write(dir.path().join("checkpoint/checkpoint"), b"garbage").unwrap();
    std::fs::write(dir.path().join("data/log-99"), b"not a log at all").unwrap();
    // Spares that are no files a start could write over, or short ones.
    std::fs::create_dir(dir.path().join("data/spare-7")).unwrap();
    std::fs::write(dir.path().join("data/spare-8"), b"abc").unwrap();
    {
        let (c, out) = open(dir.path()).await;
        assert!(out.text().contains("unusable"), "{}", out.text());
        assert!(out.text().contains("log-99"), "{}", out.text());
        c.put(&mut evs(&["b"])).await.unwrap();
    }
    let (c, _) = open(dir.path()).await;
    assert_eq!(drain(&c).await, ["a", "b"]);
}

/// Paths that are no regular file where the channel reads or writes its
/// own never hang or stop a start (a FIFO's open or reads would block for
/// ever): a checkpoint that is a FIFO is unusable (a full replay follows),
/// a data file that is a directory is skipped, named, with its events; a
/// FIFO left as checkpoint.tmp is replaced. A freed data file that cannot
/// be removed is forgotten with a warning, the others freed still. A
/// directory as the checkpoint is a checkpoint error naming it.
#[tokio::test]
async fn no_regular_file_where_one_is_wanted_never_hangs_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = small_files(dir.path());
    {
        let (c, _) = open_with(s.clone()).await;
        for i in 0..90 {
            c.put(&mut vec![numbered(i)]).await.unwrap();
        }
        c.stop().await;
    }
    let files = data_files(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    let in_first: Vec<usize> = (0..90)
        .filter(|i| {
            let needle = format!("event {i:04} ");
            std::fs::read(&files[0])
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .collect();
    assert!(!in_first.is_empty());
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::create_dir(&files[0]).unwrap();
    let cp = dir.path().join("checkpoint/checkpoint");
    let fifo = nix::sys::stat::Mode::from_bits_truncate(0o600);
    std::fs::remove_file(&cp).unwrap();
    nix::unistd::mkfifo(&cp, fifo).unwrap();
    nix::unistd::mkfifo(&dir.path().join("checkpoint/checkpoint.tmp"), fifo).unwrap();
    let (c, out) = tokio::time::timeout(Duration::from_secs(30), open_with(s.clone()))
        .await
        .expect("the start hung");
    let text = out.text();
    assert!(text.contains("unusable (not a regular file)"), "{text}");
    let skipped = format!("{} skipped: not a regular file", files[0].display());
    assert!(text.contains(&skipped), "{text}");
    let got = numbers(&drain_events(&c, 7).await);
    let want: Vec<usize> = (0..90).filter(|i| !in_first.contains(i)).collect();
    assert_eq!(got, want, "{text}");
    let freed = c.checkpoint().await.expect("a checkpoint over the FIFO");
    assert_eq!(freed.failed.len(), 1, "{:?}", freed.failed);
    assert!(freed.failed[0].contains(&files[0].display().to_string()));
    assert!(!freed.files.is_empty());
    assert!(out.text().contains("cannot be removed"), "{}", out.text());
    // A directory where the checkpoint goes: the error names it.
    c.stop().await;
    std::fs::remove_file(&cp).unwrap();
    std::fs::create_dir(&cp).unwrap();
    let (c, _) = open_with(s).await;
    let e = c.checkpoint().await.unwrap_err();
    assert!(e.contains(&cp.display().to_string()), "{e}");
}

#[tokio::test]
async fn dual_checkpoints_fall_back_to_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        backup_checkpoint_dir: Some(dir.path().join("backup")),
        ..settings(dir.path())
    };
    {
        let (c, _) = open_with(s.clone()).await;
        c.put(&mut evs(&["a", "b"])).await.unwrap();
        c.stop().await;
    }
    assert!(dir.path().join("backup/checkpoint").exists());
    let cp = dir.path().join("checkpoint/checkpoint");
    let mut b = std::fs::read(&cp).unwrap();
    b[20] ^= 1;
    std::fs::write(&cp, b).unwrap();
    let (c, out) = open_with(s).await;
    assert!(out.text().contains("trying the backup"), "{}", out.text());
    assert!(out.text().contains("from the checkpoint"), "{}", out.text());
    assert_eq!(drain(&c).await, ["a", "b"]);
}

#[tokio::test]
async fn capacity_and_transaction_capacity_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(Settings {
        capacity: 3,
        transaction_capacity: 2,
        ..settings(dir.path())
    })
    .await;
    let mut big = evs(&["a", "b", "c"]);
    assert!(matches!(
        c.put(&mut big).await,
        Err(ChannelError::TooBig(_))
    ));
    assert_eq!(big.len(), 3, "a refused put keeps its events");
    c.put(&mut evs(&["a", "b"])).await.unwrap();
    let t = c.take(2).await.unwrap();
    c.put(&mut evs(&["c"])).await.unwrap();
    // Taken but uncommitted events still count.
    let mut d = evs(&["d"]);
    assert!(matches!(c.put(&mut d).await, Err(ChannelError::Full(_))));
    assert_eq!(d.len(), 1);
    t.commit().await.unwrap();
    c.put(&mut d).await.unwrap();
    assert_eq!(drain(&c).await, ["c", "d"]);
}

#[tokio::test]
async fn puts_are_refused_when_the_disk_is_nearly_full() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(Settings {
        minimum_required_space: u64::MAX,
        ..settings(dir.path())
    })
    .await;
    let mut e = evs(&["a"]);
    match c.put(&mut e).await {
        Err(ChannelError::Full(m)) => {
            assert!(m.contains("bytes free in"), "{m}");
            assert!(
                m.contains(&dir.path().join("data").display().to_string()),
                "{m}"
            );
            assert!(m.contains("minimumRequiredSpace"), "{m}");
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(e.len(), 1);
    assert_eq!(c.len(), 0);
}

#[tokio::test]
async fn data_files_are_freed_once_taken_and_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        max_file_size: 4096,
        data_dirs: vec![dir.path().join("data"), dir.path().join("data2")],
        ..settings(dir.path())
    };
    let (c, _) = open_with(s.clone()).await;
    let body = "x".repeat(500);
    for _ in 0..20 {
        c.put(&mut vec![ev(&body), ev(&body)]).await.unwrap();
    }
    let files = |d: &str| std::fs::read_dir(dir.path().join(d)).unwrap().count();
    let before = files("data") + files("data2");
    assert!(before > 4, "several files, written in turn: {before}");
    assert!(files("data2") > 1);
    // Nothing taken yet: a checkpoint deletes nothing.
    assert!(c.checkpoint().await.unwrap().files.is_empty());
    assert_eq!(drain(&c).await.len(), 40);
    let deleted = c.checkpoint().await.unwrap().files;
    assert!(!deleted.is_empty());
    for p in &deleted {
        assert!(!p.exists());
    }
    let logs = |d: &str| names_in(&dir.path().join(d), log::parse_file_name).len();
    assert!(logs("data") + logs("data2") <= 2);
    // The rest are spares, gone after a few checkpoints of an idle channel.
    for _ in 0..8 {
        c.checkpoint().await.unwrap();
    }
    let after = files("data") + files("data2");
    assert!(after <= 2, "{after} files left");
    drop(c);
    let (c, out) = open_with(s).await;
    assert!(!out.text().contains("WARN"), "{}", out.text());
    assert_eq!(c.len(), 0);
}

#[tokio::test]
async fn freed_data_files_are_written_over_and_their_old_records_read_as_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = small_files(dir.path());
    let body = |i: usize| format!("{i:04} {}", "x".repeat(495));
    let batch = |from: usize| (from..from + 2).map(|i| ev(&body(i))).collect::<Vec<_>>();
    let (c, _) = open_with(s.clone()).await;
    // Twenty 1 KB puts: several full files, each started since the last
    // checkpoint; taken, so a checkpoint frees them: kept as spares.
    for i in 0..20 {
        c.put(&mut batch(2 * i)).await.unwrap();
    }
    assert_eq!(drain(&c).await.len(), 40);
    let before = names_in(&data, log::parse_file_name);
    let freed = c.checkpoint().await.unwrap().files;
    assert!(freed.len() >= 4, "{freed:?}");
    assert!(freed.iter().all(|p| !p.exists()));
    let spares = names_in(&data, log::parse_spare_name);
    assert_eq!(spares.len(), freed.len(), "{spares:?}");
    // New files are the spares written over: no new inode, the old
    // records still there past the new ones.
    for i in 0..5 {
        c.put(&mut batch(100 + 2 * i)).await.unwrap();
    }
    let spares_left = names_in(&data, log::parse_spare_name);
    assert!(spares_left.len() < spares.len(), "{spares_left:?}");
    let newest = *names_in(&data, log::parse_file_name).last().unwrap();
    assert!(newest > *before.last().unwrap());
    assert!(is_recycled(&data.join(log::file_name(newest))));
    // A crash: replay reads the new records of each recycled file and
    // stops, without a warning, where the earlier life's start.
    drop(c);
    let (c, out) = open_with(s.clone()).await;
    assert!(!out.text().contains("WARN"), "{}", out.text());
    let want: Vec<String> = (100..110).map(body).collect();
    assert_eq!(drain(&c).await, want);
    // Checkpoints of intervals without a new file keep half as many
    // spares each: an idle channel gives its disk back.
    let mut kept = Vec::new();
    for _ in 0..8 {
        c.checkpoint().await.unwrap();
        kept.push(names_in(&data, log::parse_spare_name).len());
    }
    assert!(kept.windows(2).all(|w| w[1] <= w[0]), "{kept:?}");
    assert_eq!(kept.last(), Some(&0), "{kept:?}");
    assert_eq!(names_in(&data, log::parse_file_name).len(), 1);
}

#[tokio::test]
async fn a_torn_record_in_a_recycled_file_is_cut_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = small_files(dir.path());
    let body = |i: usize| format!("{i:04} {}", "y".repeat(495));
    let (c, _) = open_with(s.clone()).await;
    for i in 0..12 {
        c.put(&mut vec![ev(&body(i))]).await.unwrap();
    }
    assert_eq!(drain(&c).await.len(), 12);
    assert!(!c.checkpoint().await.unwrap().files.is_empty());
    // Into a recycled file (the current one fills first).
    let mut i = 100;
    let recycled = loop {
        c.put(&mut vec![ev(&body(i))]).await.unwrap();
        i += 1;
        let newest = *names_in(&data, log::parse_file_name).last().unwrap();
        let path = data.join(log::file_name(newest));
        if is_recycled(&path) {
            break path;
        }
        assert!(i < 200, "no file was recycled");
    };
    c.put(&mut vec![ev("last, torn")]).await.unwrap();
    drop(c);
    // Tear the last record: its salt is right, its payload (the entry's
    // crc, 6 bytes before the body, on) is not.
    let bytes = std::fs::read(&recycled).unwrap();
    let last = bytes.windows(10).rposition(|w| w == b"last, torn").unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&recycled)
        .unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"LASTLAST", last as u64 - 6).unwrap();
    drop(f);
    let (c, out) = open_with(s).await;
    assert!(out.text().contains("cut there"), "{}", out.text());
    let got = drain(&c).await;
    assert_eq!(got.last().map(String::as_str), Some(body(i - 1).as_str()));
    // Cut at the record's start: its header (13 bytes), transaction id
    // (8), count (4), the entry's crc (4), header count and body length
    // (1 each).
    assert_eq!(
        std::fs::metadata(&recycled).unwrap().len(),
        last as u64 - 31
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path()).await;
    let c = Arc::new(c);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                c.put(&mut vec![ev(&format!("{i}-{j}"))]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut got = drain(&c).await;
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 160);
    // Group commit: never more fdatasyncs than puts.
    assert!(c.fsyncs() <= 160, "{}", c.fsyncs());
}

fn props(pairs: &[(&str, &str)]) -> Props {
    use crate::engine::config::properties::Entry;
    let entries = pairs
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
    Props::new(
        Arc::new("a.conf".into()),
        "a1.channels.c1".into(),
        1,
        entries,
    )
}

#[test]
fn properties_defaults_and_errors() {
    let mut d = Diags::default();
    let s = Settings::from_props("c1", &props(&[]), &mut d);
    assert!(d.items.is_empty(), "{:?}", d.items);
    assert_eq!(s.checkpoint_dir, Path::new("file-channel/a1/c1/checkpoint"));
    assert_eq!(s.data_dirs, [Path::new("file-channel/a1/c1/data")]);
    assert_eq!(s.capacity, 1_000_000);
    assert_eq!(s.transaction_capacity, 10_000);
    assert_eq!(s.checkpoint_interval, Duration::from_secs(30));
    assert_eq!(s.max_file_size, 2_146_435_071);
    assert_eq!(s.minimum_required_space, 524_288_000);
    assert_eq!(s.keep_alive, Duration::from_secs(3));
    assert_eq!(s.backup_checkpoint_dir, None);
    assert_eq!(s.memory_bytes, 64 << 20);
    assert!(s.fsync_per_transaction);
    assert_eq!(s.fsync_interval, Duration::from_secs(5));

    let s = Settings::from_props(
        "c1",
        &props(&[
            ("dataDirs", "/d1, /d2,/d3"),
            ("checkpointDir", "/cp"),
            ("memoryBytes", "0"),
            ("fsyncPerTransaction", "false"),
            ("fsyncInterval", "2"),
        ]),
        &mut d,
    );
    assert!(d.items.is_empty(), "{:?}", d.items);
    assert_eq!(s.memory_bytes, 0);
    assert!(!s.fsync_per_transaction);
    assert_eq!(s.fsync_interval, Duration::from_secs(2));
    assert_eq!(
        s.data_dirs,
        [Path::new("/d1"), Path::new("/d2"), Path::new("/d3")]
    );
    assert_eq!(s.checkpoint_dir, Path::new("/cp"));

    let mut d = Diags::default();
    Settings::from_props(
        "c1",
        &props(&[
            ("useDualCheckpoints", "true"),
            ("capacity", "10"),
            ("transactionCapacity", "20"),
            ("fsyncInterval", "0"),
        ]),
        &mut d,
    );
    let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text[0].contains("backupCheckpointDir"), "{text:?}");
    assert!(text[1].contains("transactionCapacity"), "{text:?}");
    assert!(text[2].contains("fsyncInterval"), "{text:?}");

    // Flume's replay switches are accepted; encryption is refused.
    let mut d = Diags::default();
    let s = Settings::from_props(
        "c1",
        &props(&[
            ("use-fast-replay", "true"),
            ("use-log-replay-v1", "false"),
            ("compressBackupCheckpoint", "true"),
            ("checkpointOnClose", "false"),
            ("encryption.activeKey", "key-0"),
            ("encryption.cipherProvider", "AESCTRNOPADDING"),
        ]),
        &mut d,
    );
    assert!(!s.checkpoint_on_close);
    let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].contains("encryption.activeKey") && text[0].contains("not supported"),
        "{text:?}"
    );
}

#[tokio::test]
async fn without_checkpoint_on_close_a_stop_leaves_the_log_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        checkpoint_on_close: false,
        ..settings(dir.path())
    };
    {
        let (c, _) = open_with(s.clone()).await;
        c.put(&mut evs(&["a", "b", "c"])).await.unwrap();
        c.take(1).await.unwrap().commit().await.unwrap();
        c.stop().await;
    }
    assert!(
        !dir.path()
            .join("checkpoint")
            .join(checkpoint::FILE)
            .exists()
    );
    let (c, out) = open_with(s).await;
    assert!(out.text().contains("none found"), "{}", out.text());
    assert_eq!(drain(&c).await, ["b", "c"]);
}

#[tokio::test]
async fn begun_puts_join_the_channel_when_waited_in_order_and_give_back_room_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(Settings {
        capacity: 4,
        ..settings(dir.path())
    })
    .await;
    let mut first = evs(&["a", "b"]);
    let mut second = evs(&["c", "d"]);
    let p1 = c.begin_put(&mut first).await.unwrap();
    let p2 = c.begin_put(&mut second).await.unwrap();
    assert!(first.is_empty() && second.is_empty());
    // Written, not yet in the channel; the room is taken.
    assert_eq!(c.len(), 0);
    let mut more = evs(&["x"]);
    assert!(matches!(c.put(&mut more).await, Err(ChannelError::Full(_))));
    p1.wait().await.unwrap();
    assert_eq!(c.len(), 2);
    // Aborted: not in the channel, the events come back, the room too.
    assert_eq!(p2.abort().len(), 2);
    let mut third = evs(&["e", "f"]);
    let p3 = c.begin_put(&mut third).await.unwrap();
    drop(p3);
    c.put(&mut more).await.unwrap();
    assert_eq!(drain(&c).await, ["a", "b", "x"]);
}

/// Where the writer's time goes (not a test; `cargo test --release
/// --lib writer_cost -- --ignored --nocapture`).
#[test]
#[ignore]
fn writer_cost() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let opened = replay::open(settings(dir.path())).unwrap();
    let store = opened.store;
    let body = bytes::Bytes::from(vec![b'x'; 99 * 1000]);
    let batch: Vec<Event> = (0..1000)
        .map(|i| Event::new(body.slice(i * 99..(i + 1) * 99)))
        .collect();
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut entries = Vec::new();
    for tx in 0..1000 {
        buf.clear();
        entries.clear();
        log::encode_put(&mut buf, tx, &batch, &mut entries);
    }
    println!("encode only: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let mut all = Vec::new();
    for _ in 0..1000 {
        all.extend(store.append_puts(&[&batch], 0).unwrap().0);
    }
    println!("append_puts (encode, write, live set): {:?}", t.elapsed());
    let t = std::time::Instant::now();
    for ptrs in &all {
        store.take_commits(std::slice::from_ref(ptrs)).unwrap();
    }
    println!("take_commit (encode, write, live set): {:?}", t.elapsed());
    let f = std::fs::File::create(dir.path().join("raw")).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        std::io::Write::write_all(&mut &f, &buf).unwrap();
    }
    println!("write(2) only: {:?}", t.elapsed());
    let runs: Vec<Vec<log::Ptr>> = (0..1000u64)
        .map(|b| {
            entries
                .iter()
                .map(|o| log::Ptr {
                    file: 1,
                    offset: b * 200_000 + o,
                })
                .collect()
        })
        .collect();
    let t = std::time::Instant::now();
    let mut live = live::LiveSet::default();
    // As in a pipeline: about 16 puts ahead of the takes.
    for (i, r) in runs.iter().enumerate() {
        live.append_sorted(r);
        if i >= 16 {
            live.remove_all(&runs[i - 16]);
        }
    }
    for r in &runs[runs.len() - 16..] {
        live.remove_all(r);
    }
    assert!(live.is_empty());
    println!("live set, 1M in and out: {:?}", t.elapsed());
}

#[tokio::test]
async fn puts_written_together_keep_their_own_records_and_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        // Begun back to back: the writer takes them as one group.
        let mut pending = Vec::new();
        for i in 0..50 {
            let mut batch = evs(&[&format!("{i}a"), &format!("{i}b")]);
            pending.push(c.begin_put(&mut batch).await.unwrap());
        }
        // One given up in the middle: not in the channel now.
        let dropped = pending.remove(25);
        assert_eq!(dropped.abort().len(), 2);
        for p in pending {
            p.wait().await.unwrap();
        }
        assert_eq!(c.len(), 98);
        let t = c.take(4).await.unwrap();
        assert_eq!(bodies(&t), ["0a", "0b", "1a", "1b"]);
        t.commit().await.unwrap();
        drop(c); // a crash
    }
    let (c, _) = open(dir.path()).await;
    let got = drain(&c).await;
    // The aborted put may come back after a crash (at least once), the
    // others exactly, in order.
    let want: Vec<String> = (2..50)
        .flat_map(|i| [format!("{i}a"), format!("{i}b")])
        .collect();
    let without_25: Vec<String> = got
        .iter()
        .filter(|b| !b.starts_with("25"))
        .cloned()
        .collect();
    let want_without_25: Vec<String> = want
        .iter()
        .filter(|b| !b.starts_with("25"))
        .cloned()
        .collect();
    assert_eq!(without_25, want_without_25);
    assert!(got.len() == 94 || got.len() == 96, "{got:?}");
}

#[tokio::test]
async fn takes_committed_back_to_back_are_all_recorded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, _) = open(dir.path()).await;
        for i in 0..20 {
            c.put(&mut evs(&[&format!("{i}a"), &format!("{i}b")]))
                .await
                .unwrap();
        }
        // Taken first, committed one after the other: the writer finds
        // them queued and writes their records together.
        let mut takes = Vec::new();
        for _ in 0..15 {
            takes.push(c.take(2).await.unwrap());
        }
        for t in takes {
            t.commit().await.unwrap();
        }
        drop(c); // a crash
    }
    let (c, _) = open(dir.path()).await;
    let want: Vec<String> = (15..20)
        .flat_map(|i| [format!("{i}a"), format!("{i}b")])
        .collect();
    assert_eq!(drain(&c).await, want);
}

/// Holds about four 100-byte events in memory; the rest stay on disk.
fn small_memory(dir: &Path) -> Settings {
    Settings {
        memory_bytes: 4 * queue::weight(&ev(&"x".repeat(100))),
        max_file_size: 4096,
        ..settings(dir)
    }
}

fn numbered(i: usize) -> Event {
    ev(&format!("event {i:04} {}", "x".repeat(90))).with_header("n", i.to_string())
}

fn numbers(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .map(|e| e.headers["n"].parse::<usize>().unwrap())
        .collect()
}

#[tokio::test]
async fn past_the_memory_budget_takes_read_the_events_back_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (c, out) = open_with(small_memory(dir.path())).await;
    for i in (0..300).step_by(3) {
        let mut batch: Vec<Event> = (i..i + 3).map(numbered).collect();
        c.put(&mut batch).await.unwrap();
    }
    let budget = small_memory(dir.path()).memory_bytes;
    assert!(lock(&c.inner.state).queue.held() <= budget);
    assert!(
        data_files(dir.path()).len() > 3,
        "spread over several files"
    );
    // From memory, then from disk: whole events (headers too), in order;
    // a rollback of events read back gives them back first.
    let t = c.take(7).await.unwrap();
    let first = numbers(t.events());
    assert_eq!(first[0], 0);
    t.rollback();
    let got = drain_events(&c, 10).await;
    assert!(got.iter().all(|e| e.body.len() == 101));
    assert_eq!(numbers(&got), (0..300).collect::<Vec<_>>());
    assert!(!out.text().contains("cannot be read"), "{}", out.text());
    assert_eq!(lock(&c.inner.state).queue.held(), 0);
}

#[tokio::test]
async fn replay_past_the_memory_budget_leaves_the_events_on_disk_until_taken() {
    let dir = tempfile::tempdir().unwrap();
    let s = small_memory(dir.path());
    // Takes stop where memory and disk meet: count what they got.
    let mut taken = 0;
    {
        let (c, _) = open_with(s.clone()).await;
        for i in 0..200 {
            c.put(&mut vec![numbered(i)]).await.unwrap();
        }
        for _ in 0..3 {
            let t = c.take(20).await.unwrap();
            assert_eq!(numbers(t.events())[0], taken);
            taken += t.len();
            t.commit().await.unwrap();
        }
        c.stop().await; // checkpointed
        let (c, _) = open_with(s.clone()).await;
        for i in 200..250 {
            c.put(&mut vec![numbered(i)]).await.unwrap();
        }
        let t = c.take(5).await.unwrap();
        assert_eq!(numbers(t.events())[0], taken);
        taken += t.len();
        t.commit().await.unwrap();
        drop(c); // a crash: the log after the checkpoint replays
    }
    assert!(taken > 20);
    let (c, out) = open_with(s.clone()).await;
    assert_eq!(c.len(), 250 - taken, "{}", out.text());
    assert!(lock(&c.inner.state).queue.held() <= s.memory_bytes);
    let got = numbers(&drain_events(&c, 30).await);
    assert_eq!(got, (taken..250).collect::<Vec<_>>());
}

#[tokio::test]
async fn events_whose_file_is_gone_are_dropped_with_an_error_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (c, out) = open_with(Settings {
        memory_bytes: 0,
        ..small_memory(dir.path())
    })
    .await;
    for i in 0..100 {
        c.put(&mut vec![numbered(i)]).await.unwrap();
    }
    let files = data_files(dir.path());
    assert!(files.len() > 3);
    // The oldest file removed behind the channel's back.
    std::fs::remove_file(&files[0]).unwrap();
    let got = numbers(&drain_events(&c, 10).await);
    assert!(!got.is_empty() && got.len() < 100, "{got:?}");
    // The rest, in order, up to the last.
    assert_eq!(got, (100 - got.len()..100).collect::<Vec<_>>());
    let text = out.text();
    assert!(
        text.contains("cannot be read back") && text.contains("is gone"),
        "{text}"
    );
    // Dropped for good: not back after a restart.
    c.stop().await;
    let (c, _) = open_with(small_memory(dir.path())).await;
    assert_eq!(c.len(), 0);
}

/// Where `needle` is in the data files: the file and the offset.
fn find_in_data_files(dir: &Path, needle: &[u8]) -> (std::path::PathBuf, usize) {
    data_files(dir)
        .into_iter()
        .find_map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let at = bytes.windows(needle.len()).position(|w| w == needle)?;
            Some((f, at))
        })
        .expect("in a data file")
}

/// Flip the bits of `mask` in byte `at` of `path`.
fn flip(path: &Path, at: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn damaged_events_of_a_checkpointed_backlog_are_never_delivered() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing held in memory: every take reads its events from disk.
    let s = Settings {
        memory_bytes: 0,
        ..small_memory(dir.path())
    };
    {
        let (c, _) = open_with(s.clone()).await;
        for i in (0..100).step_by(4) {
            let mut batch: Vec<Event> = (i..i + 4).map(numbered).collect();
            c.put(&mut batch).await.unwrap();
        }
        c.stop().await; // every event in the checkpoint, none read at start
    }
    // An entry is its crc, header count, "n", its value, the body's length
    // and the body: 11 bytes before the body for these.
    let (file_a, body_a) = find_in_data_files(dir.path(), b"event 0042 ");
    flip(&file_a, body_a + 3, 0x01); // one bit of the body
    let (file_b, body_b) = find_in_data_files(dir.path(), b"event 0057 ");
    flip(&file_b, body_b - 11, 0x80); // its crc
    let (file_c, body_c) = find_in_data_files(dir.path(), b"event 0071 ");
    flip(&file_c, body_c - 1, 0x7f); // the body's length
    let (c, out) = open_with(s).await;
    assert_eq!(c.len(), 100, "{}", out.text());
    let got = drain_events(&c, 7).await;
    let want: Vec<usize> = (0..100).filter(|i| ![42, 57, 71].contains(i)).collect();
    assert_eq!(numbers(&got), want);
    assert!(
        got.iter()
            .all(|e| e.body.len() == 101 && e.body.starts_with(b"event "))
    );
    let text = out.text();
    for (file, body) in [(&file_a, body_a), (&file_b, body_b), (&file_c, body_c)] {
        let named = format!("{} offset {}", file.display(), body - 11);
        assert!(text.contains(&named), "{named} not in:\n{text}");
    }
    assert!(text.contains("ERROR"), "{text}");
    assert_eq!(c.damaged(), 3);
    // Dropped for good, and counted at stop.
    c.stop().await;
    assert!(
        out.text().contains("3 damaged events were dropped"),
        "{}",
        out.text()
    );
    let (c, _) = open_with(small_memory(dir.path())).await;
    assert_eq!(c.len(), 0);
}

/// Damage in the log after the checkpoint (replayed at start) costs the
/// damaged events, or the one record whose framing is damaged, never the
/// whole records after it; nothing damaged is delivered. With events held
/// in memory at replay and without.
#[tokio::test]
async fn damage_in_the_replayed_log_costs_only_the_damaged_records() {
    for memory_bytes in [Settings::in_dir(Path::new(".")).memory_bytes, 0] {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            memory_bytes,
            ..settings(dir.path())
        };
        {
            let (c, _) = open_with(s.clone()).await;
            for i in (0..100).step_by(4) {
                let mut batch: Vec<Event> = (i..i + 4).map(numbered).collect();
                c.put(&mut batch).await.unwrap();
            }
            drop(c); // a crash: no checkpoint, the whole log replays
        }
        // An entry starts 11 bytes before its body (see above); a batch's
        // record 25 bytes before its first entry (record header, tx id,
        // count), its length 5 bytes into it.
        let (file, body_42) = find_in_data_files(dir.path(), b"event 0042 ");
        flip(&file, body_42 + 3, 0x01); // one event's body: that event
        let (_, body_57) = find_in_data_files(dir.path(), b"event 0057 ");
        flip(&file, body_57 - 11, 0x80); // its crc: the record fails its own
        let (_, body_80) = find_in_data_files(dir.path(), b"event 0080 ");
        flip(&file, body_80 - 11 - 25 + 8, 0x40); // a record's length
        let (c, out) = open_with(s).await;
        let got = drain_events(&c, 7).await;
        let lost = [42, 56, 57, 58, 59, 80, 81, 82, 83];
        let want: Vec<usize> = (0..100).filter(|i| !lost.contains(i)).collect();
        assert_eq!(numbers(&got), want, "{}", out.text());
        assert!(
            got.iter()
                .all(|e| e.body.len() == 101 && e.body.starts_with(b"event "))
        );
        let text = out.text();
        let named = format!("{} offset {}", file.display(), body_42 - 11);
        assert!(text.contains(&named), "{named} not in:\n{text}");
        assert_eq!(
            text.matches("skipped to the next whole record").count(),
            2,
            "{text}"
        );
        assert_eq!(c.damaged(), 1);
        c.stop().await;
    }
}

#[tokio::test]
async fn checkpointed_events_whose_file_is_gone_at_start_are_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let s = small_memory(dir.path());
    {
        let (c, _) = open_with(s.clone()).await;
        for i in 0..100 {
            c.put(&mut vec![numbered(i)]).await.unwrap();
        }
        c.stop().await; // every event in the checkpoint
    }
    let files = data_files(dir.path());
    assert!(files.len() > 3);
    std::fs::remove_file(&files[0]).unwrap();
    let (c, out) = open_with(s).await;
    let text = out.text();
    assert!(
        text.contains(
            "cannot be read back (its file is missing, shorter or not a regular file); dropped"
        ),
        "{text}"
    );
    let left = c.len();
    assert!(left > 0 && left < 100, "{left}");
    let got = numbers(&drain_events(&c, 30).await);
    assert_eq!(got, (100 - left..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn large_events_read_back_from_disk_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(Settings {
        memory_bytes: 0,
        ..settings(dir.path())
    })
    .await;
    // Larger than the first read past a run's last pointer (16 KiB), and
    // some far apart in the file (more than 1 MiB): every size of read.
    let sizes = [10, 40_000, 3, 1_500_000, 70_000, 1];
    let bodies_in: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}{}", "y".repeat(*n)))
        .collect();
    for b in &bodies_in {
        c.put(&mut vec![ev(b).with_header("k", "v")]).await.unwrap();
    }
    let t = c.take(100).await.unwrap();
    assert!(t.events().iter().all(|e| e.headers["k"] == "v"));
    assert_eq!(bodies(&t), bodies_in);
    t.commit().await.unwrap();
}

#[tokio::test]
async fn takes_committed_out_of_order_replay_right_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let name = |i: usize| format!("e{i:02}");
    {
        let (c, _) = open(dir.path()).await;
        let all: Vec<String> = (0..30).map(name).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        c.put(&mut evs(&refs)).await.unwrap();
        let t1 = c.take(10).await.unwrap();
        let t2 = c.take(10).await.unwrap();
        // The later take commits first: not the oldest events, recorded as
        // pointers; then the older one, and one more, as ranges.
        t2.commit().await.unwrap();
        t1.commit().await.unwrap();
        let t3 = c.take(5).await.unwrap();
        assert_eq!(bodies(&t3)[0], name(20));
        t3.commit().await.unwrap();
        drop(c); // a crash
    }
    let (c, _) = open(dir.path()).await;
    assert_eq!(drain(&c).await, (25..30).map(name).collect::<Vec<_>>());
}

/// Data file 1 as sluice before format 4 wrote it (a 16-byte header,
/// records starting with `RECORD_MAGIC`): a put of `bodies`, then a take
/// of the first.
fn old_format_file(dir: &Path, version: u32, bodies: &[&str]) {
    let mut bytes = log::FILE_MAGIC.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    let mut records = Vec::new();
    let mut entries = Vec::new();
    log::encode_put_v4(&mut records, 1, &evs(bodies), &mut entries);
    let first = log::Ptr {
        file: 1,
        offset: bytes.len() as u64 + entries[0],
    };
    log::encode_take(&mut records, 2, &[first]);
    log::stamp(&mut records, log::RECORD_MAGIC);
    bytes.extend_from_slice(&records);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join(log::file_name(1)), bytes).unwrap();
}

#[tokio::test]
async fn files_of_formats_2_and_3_are_read_and_others_skipped_with_a_warning() {
    for (version, readable) in [(2u32, true), (3, true), (1, false), (6, false)] {
        let dir = tempfile::tempdir().unwrap();
        old_format_file(dir.path(), version, &["a", "b", "c"]);
        let (c, out) = open(dir.path()).await;
        let text = out.text();
        if readable {
            assert_eq!(drain(&c).await, ["b", "c"], "{text}");
            assert!(!text.contains("skipped"), "{text}");
        } else {
            assert_eq!(c.len(), 0);
            assert!(
                text.contains(&format!("format version {version}"))
                    && text.contains("versions 2 to 5"),
                "{text}"
            );
        }
    }
}

/// Buffered writes against O_DIRECT for the channel's write pattern (not a
/// test; `cargo test --release --lib direct_io_probe -- --ignored
/// --nocapture`): 100 MiB appended in 4 MiB writes while another thread
/// loops on fdatasync, on the file system of the temp dir. Prints the wall
/// time and the process's CPU time (user, system) for each.
#[test]
#[ignore]
fn direct_io_probe() {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::sync::atomic::{AtomicBool, Ordering};
    fn cpu() -> (f64, f64) {
        let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
        let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        (s(r.user_time()), s(r.system_time()))
    }
    const CHUNK: usize = 4 << 20;
    const TOTAL: usize = 100 << 20;
    let layout = std::alloc::Layout::from_size_align(CHUNK, 4096).unwrap();
    // SAFETY: a non-zero size; freed below with the same layout.
    let ptr = unsafe { std::alloc::alloc(layout) };
    assert!(!ptr.is_null());
    // SAFETY: `ptr` holds CHUNK bytes, written before they are read.
    let buf = unsafe {
        std::ptr::write_bytes(ptr, b'x', CHUNK);
        std::slice::from_raw_parts(ptr, CHUNK)
    };
    for direct in [false, true, false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).write(true);
        if direct {
            opts.custom_flags(libc::O_DIRECT);
        }
        let f = Arc::new(opts.open(&path).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let syncer = {
            let (f, done) = (f.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    f.sync_data().unwrap();
                    n += 1;
                }
                n
            })
        };
        let (u0, s0) = cpu();
        let t = std::time::Instant::now();
        let mut off = 0;
        while off < TOTAL {
            f.write_all_at(buf, off as u64).unwrap();
            off += CHUNK;
        }
        f.sync_data().unwrap();
        let wall = t.elapsed();
        done.store(true, Ordering::Relaxed);
        let syncs = syncer.join().unwrap();
        let (u1, s1) = cpu();
        println!(
            "{}: {wall:?}, cpu user {:.0} ms system {:.0} ms, {syncs} fdatasyncs meanwhile",
            if direct { "O_DIRECT" } else { "buffered" },
            (u1 - u0) * 1e3,
            (s1 - s0) * 1e3
        );
    }
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(ptr, layout) };
}

#[tokio::test]
async fn without_fsync_per_transaction_puts_commit_written_and_sync_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        fsync_per_transaction: false,
        fsync_interval: Duration::from_secs(1),
        ..settings(dir.path())
    };
    {
        let (c, _) = open_with(s.clone()).await;
        let before = c.fsyncs();
        for i in 0..50 {
            c.put(&mut evs(&[&format!("e{i}")])).await.unwrap();
        }
        // Committed without an fdatasync each (only the interval's).
        let during = c.fsyncs() - before;
        assert!(during < 10, "{during} fdatasyncs for 50 puts");
        // Then the interval's fdatasync comes by itself.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while c.fsyncs() == before {
            assert!(std::time::Instant::now() < deadline, "no fdatasync came");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t = c.take(10).await.unwrap();
        assert_eq!(bodies(&t)[0], "e0");
        t.commit().await.unwrap();
        drop(c); // no checkpoint: the log replays
    }
    // Written is enough to survive the process.
    let (c, _) = open_with(s).await;
    let got = drain(&c).await;
    assert_eq!(got, (10..50).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_event_or_put_larger_than_a_data_file_can_never_be_put() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(small_files(dir.path())).await;
    let mut out = Vec::new();
    let fits = ev(&"f".repeat(4000));
    c.refuse(&[fits.clone(), ev(&"x".repeat(4096)), ev("a")], &mut out);
    assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
    assert!(out[0].1.contains("maxFileSize 4096"), "{}", out[0].1);
    // Each fits, the two together never: refused whole, nothing taken.
    let mut two = vec![fits.clone(), fits.clone()];
    assert!(matches!(
        c.put(&mut two).await,
        Err(ChannelError::NeverFits(_))
    ));
    assert_eq!((two.len(), c.len()), (2, 0));
    c.put(&mut vec![fits]).await.unwrap();
    assert_eq!(c.len(), 1);
}

#[test]
fn entry_len_is_what_encode_put_writes() {
    let mut many = ev(&"b".repeat(300));
    for i in 0..200 {
        many = many.with_header(format!("key{i}"), "v".repeat(i));
    }
    let events = vec![
        ev(""),
        ev("abc").with_header("", ""),
        many,
        ev(&"z".repeat(70_000)),
    ];
    let mut buf = Vec::new();
    let mut entries = Vec::new();
    log::encode_put(&mut buf, 1, &events, &mut entries);
    entries.push(buf.len() as u64);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(log::entry_len(e), entries[i + 1] - entries[i], "event {i}");
    }
    assert_eq!(
        log::PUT_RECORD_OVERHEAD + events.iter().map(log::entry_len).sum::<u64>(),
        buf.len() as u64
    );
}

#[path = "../../../../tests/common/tmpfs.rs"]
mod tmpfs;
use tmpfs::Tmpfs;

/// Put batches of ten 1000-byte events numbered from `from` until the
/// disk is full: how many went in.
async fn put_until_full(c: &FileChannel, from: usize) -> usize {
    let mut n = from;
    loop {
        let mut batch: Vec<Event> = (n..n + 10).map(big_numbered).collect();
        match c.put(&mut batch).await {
            Ok(()) => n += 10,
            Err(ChannelError::Full(why)) => {
                assert!(why.contains("space") || why.contains("quota"), "{why}");
                assert_eq!(batch.len(), 10, "a failed put keeps its events");
                return n - from;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(n < 100_000, "the disk never filled");
    }
}

fn big_numbered(i: usize) -> Event {
    ev(&format!("{i:06} {}", "d".repeat(993))).with_header("n", i.to_string())
}

/// Put 100 events (100 KB, more than a full disk has left) numbered from
/// `from` until they go in (the checkpoint loop frees the disk meanwhile,
/// by itself).
async fn put_when_there_is_room(c: &FileChannel, from: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut batch: Vec<Event> = (from..from + 100).map(big_numbered).collect();
        match c.put(&mut batch).await {
            Ok(()) => return,
            Err(ChannelError::Full(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "puts never had room again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_full_disk_recovers_once_the_sink_drains_and_a_start_on_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    let Some(_mounted) = Tmpfs::mount(&disk, "2m") else {
        eprintln!(
            "note: cannot mount a tmpfs here (needs root and mount(8)); full-disk test skipped"
        );
        return;
    };
    let s = Settings {
        max_file_size: 256 << 10,
        memory_bytes: 0,
        checkpoint_interval: Duration::from_millis(100),
        ..settings(&disk)
    };
    // ENOSPC during puts: refused as full, the events kept.
    let (c, out) = open_with(s.clone()).await;
    let n = put_until_full(&c, 0).await;
    assert!(n > 100, "{n}");
    // The sink drains (reads from a full disk work, take records do not).
    let got = numbers(&drain_events(&c, 100).await);
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    // ENOSPC during checkpoints: they free the files first, so puts go on.
    put_when_there_is_room(&c, n).await;
    assert_eq!(
        numbers(&drain_events(&c, 100).await),
        (n..n + 100).collect::<Vec<_>>()
    );
    // Full again, then a stop (its checkpoint may fail) and the rest of the
    // disk filled by someone else.
    let m = put_until_full(&c, 1000).await;
    assert!(m > 100, "{m}: {}", out.text());
    c.stop().await;
    drop(c);
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    // ENOSPC at start: it starts, on its backlog.
    let c = FileChannel::new("c1", s);
    let out2 = Captured::default();
    c.start(&out2.log()).await.expect("a start on a full disk");
    assert_eq!(c.len(), m, "{}", out2.text());
    let got = numbers(&drain_events(&c, 100).await);
    assert_eq!(got, (1000..1000 + m).collect::<Vec<_>>());
    put_when_there_is_room(&c, 5000).await;
    assert_eq!(
        numbers(&drain_events(&c, 100).await),
        (5000..5100).collect::<Vec<_>>()
    );
    c.stop().await;
    assert!(!out.text().contains("panicked"), "{}", out.text());
}
