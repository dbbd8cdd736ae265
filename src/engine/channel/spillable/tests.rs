use std::path::Path;

use super::*;

use crate::engine::channel::testing::{bodies, ev, evs};
use crate::engine::log::testing::Captured;

/// Memory of `memory` events, overflow of `overflow`, spilling at once.
fn settings(dir: &Path, memory: usize, overflow: usize) -> Settings {
    let mut s = Settings::in_dir(dir);
    s.memory_capacity = memory;
    s.overflow_capacity = overflow;
    s.overflow_timeout = Duration::ZERO;
    s.transaction_capacity = 10;
    s.overflow.capacity = overflow.max(1);
    s.overflow.transaction_capacity = 10;
    s.overflow.minimum_required_space = 0;
    s.overflow.checkpoint_interval = Duration::from_secs(3600);
    s
}

async fn open_with(s: Settings) -> (SpillableChannel, Captured) {
    let c = SpillableChannel::new("c1", s);
    let out = Captured::default();
    c.start(&out.log()).await.expect("start");
    (c, out)
}

/// Take and commit until the channel is empty.
async fn drain(c: &SpillableChannel) -> Vec<String> {
    let mut out = Vec::new();
    while c.len() > 0 {
        let t = c.take(100).await.unwrap();
        out.extend(bodies(&t));
        t.commit().await.unwrap();
    }
    out
}

#[tokio::test]
async fn order_is_kept_across_memory_overflow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 3, 100)).await;
    c.put(&mut evs(&["a", "b", "c"])).await.unwrap();
    assert_eq!(c.split(), (3, 0));
    // Memory is full: the put spills.
    c.put(&mut evs(&["d", "e"])).await.unwrap();
    assert_eq!(c.split(), (3, 2));
    let t = c.take(2).await.unwrap();
    assert_eq!(bodies(&t), ["a", "b"]);
    t.commit().await.unwrap();
    // Memory has room, but the overflow is active: f must not overtake d, e.
    c.put(&mut evs(&["f"])).await.unwrap();
    assert_eq!(c.split(), (1, 3));
    let t = c.take(10).await.unwrap();
    assert_eq!(bodies(&t), ["c"]);
    t.commit().await.unwrap();
    let t = c.take(1).await.unwrap();
    assert_eq!(bodies(&t), ["d"]);
    t.commit().await.unwrap();
    let t = c.take(10).await.unwrap();
    assert_eq!(bodies(&t), ["e", "f"]);
    t.commit().await.unwrap();
    // The overflow drained: memory again.
    c.put(&mut evs(&["g", "h"])).await.unwrap();
    assert_eq!(c.split(), (2, 0));
    c.put(&mut evs(&["i", "j"])).await.unwrap();
    assert_eq!(c.split(), (2, 2));
    assert_eq!(drain(&c).await, ["g", "h", "i", "j"]);
    assert_eq!(c.len(), 0);
    c.wait_empty().await;
}

#[tokio::test]
async fn memory_capacity_zero_is_a_file_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 0, 100)).await;
    assert!(c.durable());
    c.put(&mut evs(&["a", "b"])).await.unwrap();
    c.put(&mut evs(&["c"])).await.unwrap();
    assert_eq!(c.split(), (0, 3));
    assert_eq!(drain(&c).await, ["a", "b", "c"]);
}

#[tokio::test]
async fn overflow_capacity_zero_is_a_memory_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 2, 0)).await;
    assert!(!c.durable());
    c.put(&mut evs(&["a", "b"])).await.unwrap();
    let mut more = evs(&["c"]);
    assert!(matches!(c.put(&mut more).await, Err(ChannelError::Full(_))));
    assert_eq!(more.len(), 1, "a failed put leaves the batch to the caller");
    assert_eq!(c.split(), (2, 0));
    assert_eq!(drain(&c).await, ["a", "b"]);
    c.put(&mut more).await.unwrap();
    assert_eq!(drain(&c).await, ["c"]);
    // Nothing was written for an overflow.
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn rollbacks_put_events_back_at_the_head_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 2, 100)).await;
    c.put(&mut evs(&["a", "b"])).await.unwrap();
    c.put(&mut evs(&["c", "d"])).await.unwrap();
    assert_eq!(c.split(), (2, 2));
    let t1 = c.take(10).await.unwrap();
    assert_eq!(bodies(&t1), ["a", "b"]);
    let t2 = c.take(10).await.unwrap();
    assert_eq!(bodies(&t2), ["c", "d"]);
    t2.rollback();
    t1.rollback();
    assert_eq!(c.split(), (2, 2));
    // A dropped take gives its events back too.
    drop(c.take(1).await.unwrap());
    let t = c.take(10).await.unwrap();
    assert_eq!(bodies(&t), ["a", "b"]);
    t.commit().await.unwrap();
    drop(c.take(1).await.unwrap());
    c.put(&mut evs(&["e"])).await.unwrap();
    assert_eq!(drain(&c).await, ["c", "d", "e"]);
}

#[tokio::test]
async fn capacity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 2, 2)).await;
    let mut big: Vec<Event> = (0..11).map(|i| ev(&i.to_string())).collect();
    assert!(matches!(
        c.put(&mut big).await,
        Err(ChannelError::TooBig(_))
    ));
    assert_eq!(big.len(), 11);
    c.put(&mut evs(&["a", "b"])).await.unwrap();
    c.put(&mut evs(&["c", "d"])).await.unwrap();
    let mut more = evs(&["e"]);
    assert!(matches!(c.put(&mut more).await, Err(ChannelError::Full(_))));
    assert_eq!(more.len(), 1);
    assert_eq!(c.split(), (2, 2));
    // Taken but uncommitted overflow events still hold their room.
    let t = c.take(10).await.unwrap();
    let t2 = c.take(10).await.unwrap();
    assert_eq!(bodies(&t2), ["c", "d"]);
    t.commit().await.unwrap();
    // Memory has room, but the overflow is active and full.
    assert!(matches!(c.put(&mut more).await, Err(ChannelError::Full(_))));
    t2.commit().await.unwrap();
    c.put(&mut more).await.unwrap();
    assert_eq!(c.split(), (1, 0));
    assert_eq!(drain(&c).await, ["e"]);
}

#[tokio::test]
async fn byte_capacity_limits_memory_and_spills() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 100, 100);
    s.byte_capacity = Some(ByteCapacity::new(4, 1));
    let (c, _) = open_with(s).await;
    c.put(&mut evs(&["abc"])).await.unwrap();
    c.put(&mut evs(&["de"])).await.unwrap();
    assert_eq!(c.split(), (1, 1));
    assert_eq!(drain(&c).await, ["abc", "de"]);
}

#[tokio::test]
async fn a_waiting_put_goes_to_memory_when_a_take_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 1, 100);
    s.overflow_timeout = Duration::from_secs(600);
    let (c, _) = open_with(s).await;
    let c = Arc::new(c);
    c.put(&mut evs(&["a"])).await.unwrap();
    let c2 = c.clone();
    let waiting = tokio::spawn(async move { c2.put(&mut evs(&["b"])).await });
    let t = c.take(1).await.unwrap();
    t.commit().await.unwrap();
    waiting.await.unwrap().unwrap();
    assert_eq!(c.split(), (1, 0));
    assert_eq!(drain(&c).await, ["b"]);
}

#[tokio::test]
async fn a_restart_replays_the_overflow_and_reports_memory_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (c, out) = open_with(settings(dir.path(), 1, 100)).await;
        c.put(&mut evs(&["a"])).await.unwrap();
        c.put(&mut evs(&["b", "c"])).await.unwrap();
        c.put(&mut evs(&["d"])).await.unwrap();
        let t = c.take(10).await.unwrap();
        assert_eq!(bodies(&t), ["a"]);
        t.commit().await.unwrap();
        let t = c.take(1).await.unwrap();
        assert_eq!(bodies(&t), ["b"]);
        t.commit().await.unwrap();
        // Memory has room, but c and d still wait in the overflow: e
        // follows them there.
        c.put(&mut evs(&["e"])).await.unwrap();
        assert_eq!(c.split(), (0, 3));
        let t = c.take(10).await.unwrap();
        assert_eq!(bodies(&t), ["c", "d", "e"]);
        t.commit().await.unwrap();
        c.put(&mut evs(&["f"])).await.unwrap();
        c.put(&mut evs(&["g"])).await.unwrap();
        assert_eq!(c.split(), (1, 1));
        c.stop().await;
        assert!(
            out.text()
                .contains("1 events were still in this channel's memory"),
            "{}",
            out.text()
        );
    }
    let (c, _) = open_with(settings(dir.path(), 1, 100)).await;
    assert_eq!(c.split(), (0, 1));
    // New puts come after the replayed overflow.
    c.put(&mut evs(&["h"])).await.unwrap();
    assert_eq!(drain(&c).await, ["g", "h"]);
    c.stop().await;
}

#[test]
fn properties_are_read_and_the_type_is_registered() {
    let text = "\
a1.sources = r1
a1.sinks = k1
a1.channels = c1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.channels.c1.type = SPILLABLEMEMORY
a1.channels.c1.memoryCapacity = 0
a1.channels.c1.overflowCapacity = 500
a1.channels.c1.overflowTimeout = 7
a1.channels.c1.transactionCapacity = 50
a1.channels.c1.byteCapacity = 1000
a1.channels.c1.checkpointDir = /tmp/x/cp
a1.channels.c1.dataDirs = /tmp/x/d1, /tmp/x/d2
";
    let (c, _) = crate::engine::config::parse(Path::new("a.conf"), text, "a1").expect("valid");
    let ch = &c.channels[0];
    let mut diags = Diags::default();
    let s = Settings::from_props(&ch.name, &ch.props, &mut diags);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    assert_eq!(s.memory_capacity, 0);
    assert_eq!(s.overflow_capacity, 500);
    assert_eq!(s.overflow_timeout, Duration::from_secs(7));
    assert_eq!(s.transaction_capacity, 50);
    // 1000 bytes less 20%, in slots of avgEventSize (500), as Flume counts.
    assert_eq!(s.byte_capacity, Some(ByteCapacity::new(1, 500)));
    assert_eq!(s.overflow.capacity, 500);
    assert_eq!(s.overflow.transaction_capacity, 50);
    assert_eq!(s.overflow.checkpoint_dir, Path::new("/tmp/x/cp"));
    assert_eq!(s.overflow.data_dirs.len(), 2);
    let built = crate::engine::registry::channel(&ch.type_name, &ch.name, &ch.props, &mut diags)
        .expect("built");
    assert!(built.durable());
    let built = crate::engine::registry::channel(
        "org.apache.flume.channel.SpillableMemoryChannel",
        &ch.name,
        &ch.props,
        &mut diags,
    );
    assert!(built.is_some());
    assert!(!diags.has_errors(), "{:?}", diags.items);

    // Defaults, and both capacities 0 is an error.
    let text = text
        .replace("memoryCapacity = 0", "overflowCapacity = 0")
        .replace("overflowCapacity = 500\n", "");
    let (c, _) = crate::engine::config::parse(Path::new("a.conf"), &text, "a1").expect("valid");
    let ch = &c.channels[0];
    let mut diags = Diags::default();
    let s = Settings::from_props(&ch.name, &ch.props, &mut diags);
    assert_eq!(s.memory_capacity, DEFAULT_MEMORY_CAPACITY);
    assert_eq!(s.overflow_capacity, 0);
    assert!(!diags.has_errors(), "{:?}", diags.items);
    let text = text.replace(
        "overflowCapacity = 0",
        "overflowCapacity = 0\na1.channels.c1.memoryCapacity = 0",
    );
    let (c, _) = crate::engine::config::parse(Path::new("a.conf"), &text, "a1").expect("valid");
    let ch = &c.channels[0];
    let mut diags = Diags::default();
    Settings::from_props(&ch.name, &ch.props, &mut diags);
    assert!(diags.has_errors());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_producer_and_consumer_see_put_order() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 5, 10_000)).await;
    let c = Arc::new(c);
    let producer = {
        let c = c.clone();
        tokio::spawn(async move {
            for b in 0..200 {
                let mut batch: Vec<Event> = (0..3).map(|i| ev(&(b * 3 + i).to_string())).collect();
                while !batch.is_empty() {
                    let _ = c.put(&mut batch).await;
                }
            }
        })
    };
    let mut seen = Vec::new();
    let mut takes = 0;
    while seen.len() < 600 {
        let t = c.take(4).await.unwrap();
        takes += 1;
        if takes % 7 == 0 {
            t.rollback();
            continue;
        }
        seen.extend(bodies(&t));
        t.commit().await.unwrap();
    }
    producer.await.unwrap();
    let want: Vec<String> = (0..600).map(|i: usize| i.to_string()).collect();
    assert_eq!(seen, want);
    assert_eq!(c.len(), 0);
}

#[tokio::test]
async fn a_put_dropped_while_spilling_leaves_the_books_right() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 1, 100)).await;
    c.put(&mut evs(&["a"])).await.unwrap();
    let mut batch = evs(&["b"]);
    let done = {
        let fut = c.put(&mut batch);
        tokio::pin!(fut);
        // Poll once (the spill waits for its fdatasync), then drop it.
        std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
    };
    if done {
        assert_eq!(c.split(), (1, 1));
        assert_eq!(drain(&c).await, ["a", "b"]);
    } else {
        // Dropped mid-put: nothing counted in the overflow, and it is not
        // left active (the next put goes to memory).
        assert_eq!(c.split(), (1, 0));
        assert_eq!(drain(&c).await, ["a"]);
        c.put(&mut evs(&["c"])).await.unwrap();
        assert_eq!(c.split(), (1, 0));
        assert_eq!(drain(&c).await, ["c"]);
    }
}

/// The overflow holds no events in memory: its takes read them back from
/// disk, and one rolled back is held again and comes first, then the
/// rest from disk, in order.
#[tokio::test]
async fn overflow_takes_read_back_from_disk_and_rollbacks_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open_with(settings(dir.path(), 1, 100)).await;
    c.put(&mut evs(&["a"])).await.unwrap();
    for b in ["b", "c", "d", "e"] {
        c.put(&mut evs(&[b])).await.unwrap();
    }
    assert_eq!(c.split(), (1, 4));
    let t = c.take(10).await.unwrap();
    assert_eq!(bodies(&t), ["a"]);
    t.commit().await.unwrap();
    let t = c.take(2).await.unwrap();
    assert_eq!(bodies(&t), ["b", "c"]);
    t.rollback();
    // b, c held again; d, e on disk: two takes, the books right between.
    let t = c.take(10).await.unwrap();
    assert_eq!(bodies(&t), ["b", "c"]);
    t.commit().await.unwrap();
    assert_eq!(c.split(), (0, 2));
    assert_eq!(drain(&c).await, ["d", "e"]);
    assert_eq!(c.split(), (0, 0));
}

#[tokio::test]
async fn overflow_events_whose_file_is_gone_leave_the_books_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 1, 100);
    s.overflow.max_file_size = 1024;
    let (c, out) = open_with(s).await;
    c.put(&mut evs(&["m"])).await.unwrap();
    let bodies_in: Vec<String> = (0..30)
        .map(|i| format!("{i:02} {}", "o".repeat(100)))
        .collect();
    for b in &bodies_in {
        c.put(&mut evs(&[b])).await.unwrap();
    }
    assert_eq!(c.split(), (1, 30));
    // The overflow's oldest data file removed behind its back.
    let data = dir.path().join("data");
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("log-"))
        })
        .collect();
    files.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(file::log::parse_file_name)
    });
    assert!(files.len() > 3, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    // Every take returns (none waits for events that are gone), the
    // rest come in order, and the books end at zero.
    let got = tokio::time::timeout(Duration::from_secs(30), drain(&c))
        .await
        .expect("a take waited for overflow events that are gone");
    assert_eq!(got[0], "m");
    let rest = &got[1..];
    assert!(!rest.is_empty() && rest.len() < 30, "{rest:?}");
    assert_eq!(rest, &bodies_in[30 - rest.len()..]);
    assert_eq!(c.split(), (0, 0));
    assert!(out.text().contains("cannot be read back"), "{}", out.text());
    // And the channel goes on: a put past memory and a take.
    c.put(&mut evs(&["n1"])).await.unwrap();
    c.put(&mut evs(&["n2"])).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), drain(&c))
        .await
        .unwrap();
    assert_eq!(got, ["n1", "n2"]);
}

#[tokio::test]
async fn a_start_after_a_kill_says_the_memory_events_are_lost_uncounted() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), 5, 100);
    {
        let (c, _) = open_with(s.clone()).await;
        c.put(&mut evs(&["a", "b"])).await.unwrap();
        assert_eq!(c.split(), (2, 0));
        drop(c); // no stop: a kill -9
    }
    let (c, out) = open_with(s.clone()).await;
    let text = out.text();
    assert!(
        text.contains("did not stop") && text.contains("cannot be counted"),
        "{text}"
    );
    assert_eq!(c.len(), 0);
    c.stop().await;
    drop(c);
    // After a clean stop, no such warning.
    let (_c, out) = open_with(s).await;
    assert!(!out.text().contains("did not stop"), "{}", out.text());
}

#[tokio::test]
async fn events_it_can_never_hold_are_named_before_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let big = ev(&"x".repeat(5000));
    // With an overflow: what a data file cannot hold (memory spills).
    let mut s = settings(dir.path(), 5, 100);
    s.overflow.max_file_size = 4096;
    s.byte_capacity = Some(ByteCapacity::new(100, 1));
    let (c, _) = open_with(s).await;
    let mut out = Vec::new();
    c.refuse(&[ev("a"), big.clone(), ev(&"y".repeat(200))], &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].0 == 1 && out[0].1.contains("maxFileSize 4096"),
        "{out:?}"
    );
    c.stop().await;
    // Memory only: what byteCapacity cannot, also a whole transaction.
    let mut s = settings(dir.path(), 5, 0);
    s.byte_capacity = Some(ByteCapacity::new(10, 1));
    let c = SpillableChannel::new("c1", s);
    let mut out = Vec::new();
    c.refuse(&[ev("a"), big], &mut out);
    assert!(
        out.len() == 1 && out[0].1.contains("byteCapacity"),
        "{out:?}"
    );
    assert!(matches!(
        c.put(&mut evs(&["123456", "789012"])).await,
        Err(ChannelError::NeverFits(_))
    ));
}
