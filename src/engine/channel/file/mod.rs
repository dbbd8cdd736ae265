//! Flume's `file` channel: events survive `kill -9` and power loss.
//!
//! - **Put**: a transaction's records go to the current data file with one
//!   write(2) and are fdatasync'd before `put` returns, so a source that
//!   acknowledges after `put` (netcat's `OK`) acknowledges what is on disk.
//!   Concurrent puts share fdatasyncs (group commit). The writing and the
//!   fdatasyncs run on two threads of the channel (see `pipeline`), so a
//!   source hands a batch over and reads on.
//! - **Take**: the events come from memory, or are read back from the data
//!   files when past the memory budget (below). A take's commit appends a
//!   take record (on the writer thread, after every put handed over
//!   before it) but does not wait for an fdatasync: a crash right after
//!   may deliver those events again after the restart (duplicates, never
//!   loss: Flume's at-least-once promise). The next put's or checkpoint's
//!   fdatasync covers it. Rollback (or a dropped take) writes nothing.
//! - **fsyncPerTransaction = false** (Flume's trade of durability for
//!   speed): a put commits once written, and what is written is
//!   fdatasync'd every fsyncInterval seconds, at a new data file, at a
//!   checkpoint and at stop. It survives `kill -9`, not a power loss.
//! - **Memory**: the channel keeps every event's pointer (file id,
//!   offset), and the events themselves while they weigh less than
//!   [`DEFAULT_MEMORY_BYTES`]; past that (a sink stalled, a backlog) a put's
//!   events stay on disk only and a take reads them back (see `queue`).
//!   The events a start finds in the checkpoint stay on disk; those the
//!   log after it adds are held up to the same budget.
//! - **Checkpoint** every checkpointInterval and on a clean stop: the
//!   pointers of the events in the channel and the log position they
//!   cover (see `checkpoint`). After it, data files before both the
//!   oldest event and that position are freed: kept as spares that the
//!   next data files write over, or deleted (see `store`).
//! - **Start** (replay, see `replay`): checkpoint, then the data files
//!   after it; a torn or corrupt tail is cut at the last whole record with
//!   a warning in the agent log.
//!
//! Unset directories default to `./file-channel/<agent>/<channel>/checkpoint`
//! and `.../data` under the agent's working directory.

pub mod checkpoint;
pub mod live;
pub mod log;
pub mod pipeline;
pub mod queue;
pub mod replay;
pub mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::log::Ptr;
use self::pipeline::{Pipeline, PutJob, PutState};
use self::store::{Freed, Store};
use super::{Channel, ChannelError, PendingPut, Take, TakeTransaction, lock};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::log::AgentLog;
use crate::engine::registry::ChannelType;

pub const TYPE: ChannelType = ChannelType {
    name: "file",
    aliases: &["org.apache.flume.channel.file.FileChannel"],
    build,
};

fn build(name: &str, props: &Props, diags: &mut Diags) -> Option<Arc<dyn Channel>> {
    let settings = Settings::from_props(name, props, diags);
    Some(Arc::new(FileChannel::new(name, settings)))
}

pub const DEFAULT_CAPACITY: usize = 1_000_000;
pub const DEFAULT_TRANSACTION_CAPACITY: usize = 10_000;
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 30_000;
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2_146_435_071;
pub const DEFAULT_MINIMUM_REQUIRED_SPACE: u64 = 524_288_000;
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(3);
/// fsyncInterval: with fsyncPerTransaction = false, how often what was
/// written is fdatasync'd (Flume's default).
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_secs(5);
/// Events held in memory, at most (see `queue::weight`); the property
/// `memoryBytes` is sluice's own (Flume holds none and reads every take
/// back from disk).
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct Settings {
    pub checkpoint_dir: PathBuf,
    /// Set with useDualCheckpoints.
    pub backup_checkpoint_dir: Option<PathBuf>,
    pub data_dirs: Vec<PathBuf>,
    pub capacity: usize,
    pub transaction_capacity: usize,
    pub checkpoint_interval: Duration,
    pub max_file_size: u64,
    pub minimum_required_space: u64,
    pub keep_alive: Duration,
    /// checkpointOnClose: write a checkpoint at stop (else the next start
    /// replays the log).
    pub checkpoint_on_close: bool,
    /// The most the events held in memory may weigh; the rest are read
    /// back from the data files when taken.
    pub memory_bytes: usize,
    /// fsyncPerTransaction: a put commits once fdatasync'd (true, the
    /// default), or once written (false: it survives the process, not
    /// the machine, until the next fdatasync, every `fsync_interval`).
    pub fsync_per_transaction: bool,
    pub fsync_interval: Duration,
}

impl Settings {
    /// Defaults with every directory under `dir` (tests).
    pub fn in_dir(dir: &std::path::Path) -> Settings {
        Settings {
            checkpoint_dir: dir.join("checkpoint"),
            backup_checkpoint_dir: None,
            data_dirs: vec![dir.join("data")],
            capacity: DEFAULT_CAPACITY,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY,
            checkpoint_interval: Duration::from_millis(DEFAULT_CHECKPOINT_INTERVAL_MS),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            minimum_required_space: DEFAULT_MINIMUM_REQUIRED_SPACE,
            keep_alive: DEFAULT_KEEP_ALIVE,
            checkpoint_on_close: true,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            fsync_per_transaction: true,
            fsync_interval: DEFAULT_FSYNC_INTERVAL,
        }
    }

    /// Read Flume's properties (see the module comment for the defaults).
    pub fn from_props(name: &str, props: &Props, diags: &mut Diags) -> Settings {
        // `a1.channels.c1`: the agent is the first part.
        let agent = props.label().split('.').next().unwrap_or("agent");
        let base = PathBuf::from("file-channel").join(agent).join(name);
        let mut s = Settings::in_dir(&base);
        if let Some(d) = props.string("checkpointDir").filter(|d| !d.is_empty()) {
            s.checkpoint_dir = PathBuf::from(d);
        }
        // Comma-separated, as Flume's (spaces around the commas allowed).
        let dirs: Vec<String> = props
            .get("dataDirs")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        if !dirs.is_empty() {
            s.data_dirs = dirs.into_iter().map(PathBuf::from).collect();
        }
        let dual = props.bool(diags, "useDualCheckpoints", false);
        let backup = props
            .string("backupCheckpointDir")
            .filter(|d| !d.is_empty());
        if dual {
            match backup {
                Some(b) => {
                    let b = PathBuf::from(b);
                    if b == s.checkpoint_dir || s.data_dirs.contains(&b) {
                        props.error(
                            diags,
                            Some("backupCheckpointDir"),
                            "must differ from checkpointDir and every dataDirs entry",
                        );
                    }
                    s.backup_checkpoint_dir = Some(b);
                }
                None => props.error(
                    diags,
                    Some("backupCheckpointDir"),
                    "is required with useDualCheckpoints = true",
                ),
            }
        }
        s.capacity = props.count(diags, "capacity", DEFAULT_CAPACITY, 1);
        s.transaction_capacity = props.count(
            diags,
            "transactionCapacity",
            DEFAULT_TRANSACTION_CAPACITY,
            1,
        );
        if s.transaction_capacity > s.capacity {
            props.error(
                diags,
                Some("transactionCapacity"),
                format!(
                    "{} is higher than the capacity ({})",
                    s.transaction_capacity, s.capacity
                ),
            );
        }
        s.checkpoint_interval = props.millis(
            diags,
            "checkpointInterval",
            DEFAULT_CHECKPOINT_INTERVAL_MS,
            1,
        );
        s.max_file_size = props.bytes(diags, "maxFileSize", DEFAULT_MAX_FILE_SIZE, 4096);
        s.minimum_required_space = props.bytes(
            diags,
            "minimumRequiredSpace",
            DEFAULT_MINIMUM_REQUIRED_SPACE,
            0,
        );
        s.keep_alive = props.secs(diags, "keep-alive", DEFAULT_KEEP_ALIVE.as_secs(), 0);
        s.checkpoint_on_close = props.bool(diags, "checkpointOnClose", true);
        s.fsync_per_transaction = props.bool(diags, "fsyncPerTransaction", true);
        s.fsync_interval = props.secs(diags, "fsyncInterval", DEFAULT_FSYNC_INTERVAL.as_secs(), 1);
        // sluice's own (Flume ignores unknown keys): how much of the
        // channel's events may be held in memory; 0 reads every take back
        // from disk, as Flume does.
        s.memory_bytes =
            usize::try_from(props.bytes(diags, "memoryBytes", DEFAULT_MEMORY_BYTES as u64, 0))
                .unwrap_or(usize::MAX);
        // Flume compresses the backup checkpoint with it; ours, main and
        // backup, are compact already (about 3 bytes an event).
        props.bool(diags, "compressBackupCheckpoint", false);
        // Flume's choice of replay code; ours is one sequential pass either way.
        props.bool(diags, "use-log-replay-v1", false);
        props.bool(diags, "use-fast-replay", false);
        // Storing in clear what the user asked to encrypt would be worse
        // than refusing to start.
        if let Some(key) = props.sub("encryption").keys().first() {
            props.error(
                diags,
                Some(&format!("encryption.{key}")),
                "encryption is not supported by sluice's file channel (the events would be stored in clear); remove the encryption.* properties, or put the directories on an encrypted file system",
            );
        }
        s
    }
}

struct State {
    queue: queue::Queue,
    /// Taken, not yet committed.
    inflight: usize,
    /// Puts admitted, being written.
    reserved: usize,
}

struct Inner {
    name: String,
    settings: Settings,
    state: Mutex<State>,
    store: Mutex<Option<Arc<Store>>>,
    /// The writer and syncer threads, while started.
    pipeline: Mutex<Option<Pipeline>>,
    log: Mutex<Option<AgentLog>>,
    /// Stops the checkpoint task.
    stop: CancellationToken,
    /// Events dropped because their bytes on disk were damaged or gone
    /// (at start, or read back by a take), this run.
    damaged: AtomicU64,
    data: Notify,
    space: Notify,
}

impl Inner {
    fn store(&self) -> Result<Arc<Store>, ChannelError> {
        lock(&self.store)
            .clone()
            .ok_or_else(|| ChannelError::Failed(format!("channel {}: not started", self.name)))
    }

    fn stopped(&self) -> ChannelError {
        ChannelError::Failed(format!("channel {}: stopped", self.name))
    }

    /// Taken events back first in the queue (`None`: still on disk): a
    /// rollback, or a take whose events were not read back.
    fn give_back(&self, ptrs: Vec<Ptr>, events: Option<Vec<Event>>) {
        {
            let mut st = lock(&self.state);
            st.inflight -= ptrs.len();
            st.queue.push_front(ptrs, events);
        }
        self.data.notify_waiters();
    }

    fn warn(&self, msg: &str) {
        if let Some(l) = lock(&self.log).as_ref() {
            l.warn(&self.name, msg);
        }
    }

    fn info(&self, msg: &str) {
        if let Some(l) = lock(&self.log).as_ref() {
            l.info(&self.name, msg);
        }
    }

    fn error(&self, msg: &str) {
        if let Some(l) = lock(&self.log).as_ref() {
            l.error(&self.name, msg);
        }
    }
}

pub struct FileChannel {
    inner: Arc<Inner>,
}

impl FileChannel {
    pub fn new(name: impl Into<String>, settings: Settings) -> FileChannel {
        let budget = settings.memory_bytes;
        FileChannel {
            inner: Arc::new(Inner {
                name: name.into(),
                settings,
                state: Mutex::new(State {
                    queue: queue::Queue::new(budget),
                    inflight: 0,
                    reserved: 0,
                }),
                store: Mutex::new(None),
                pipeline: Mutex::new(None),
                log: Mutex::new(None),
                stop: CancellationToken::new(),
                damaged: AtomicU64::new(0),
                data: Notify::new(),
                space: Notify::new(),
            }),
        }
    }

    /// fdatasync calls so far (figures).
    pub fn fsyncs(&self) -> u64 {
        lock(&self.inner.store)
            .as_ref()
            .map_or(0, |s| s.fsyncs.load(Ordering::Relaxed))
    }

    /// Events dropped this run because their bytes on disk were damaged
    /// or gone (never delivered).
    pub fn damaged(&self) -> u64 {
        self.inner.damaged.load(Ordering::Relaxed)
    }

    /// Write a checkpoint now (and free the data files it can).
    pub async fn checkpoint(&self) -> Result<Freed, String> {
        checkpoint_now(&self.inner).await
    }

    /// One take: the events it got (`None` when every one it reached
    /// was unreadable: dropped), and how many it dropped so. A spillable
    /// channel keeps its count of overflow events by it.
    pub async fn take_once(&self, max: usize) -> Result<(Option<Take>, usize), ChannelError> {
        let inner = &self.inner;
        let max = max.clamp(1, inner.settings.transaction_capacity);
        loop {
            let notified = inner.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            inner.store()?;
            let taken = {
                let mut st = lock(&inner.state);
                if st.queue.is_empty() {
                    None
                } else {
                    let (ptrs, events) = st.queue.take(max);
                    st.inflight += ptrs.len();
                    Some((ptrs, events))
                }
            };
            match taken {
                Some((ptrs, Some(events))) => {
                    let tx = FileTake {
                        inner: inner.clone(),
                        ptrs,
                    };
                    return Ok((Some(Take::new(events, Box::new(tx))), 0));
                }
                Some((ptrs, None)) => return read_back(inner, ptrs).await,
                None => notified.await,
            }
        }
    }
}

/// The most a put's record may take: a data file less its header.
fn largest_record(s: &Settings) -> u64 {
    s.max_file_size.saturating_sub(log::FILE_HEADER_LEN)
}

fn put_error(name: &str, e: std::io::Error) -> ChannelError {
    let msg = format!("channel {name}: put failed: {e}");
    if e.kind() == std::io::ErrorKind::StorageFull {
        ChannelError::Full(msg)
    } else {
        ChannelError::Failed(msg)
    }
}

/// A put handed to the writer thread, waiting until it is written and an
/// fdatasync covers it (see `pipeline`); only then do its events join
/// the channel.
struct FilePending {
    inner: Arc<Inner>,
    store: Arc<Store>,
    /// Shared with the writer until it has encoded them.
    events: Arc<Vec<Event>>,
    /// Their `queue::weight`, summed once while they are in cache.
    weight: usize,
    state: Arc<Mutex<PutState>>,
    done: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
    /// Waited or aborted: the reservation is given back.
    settled: bool,
}

impl FilePending {
    fn take_events(&mut self) -> Vec<Event> {
        let events = std::mem::take(&mut self.events);
        // The writer drops its reference before the put completes; a put
        // given up mid-write is copied instead (a rare, failing path).
        Arc::try_unwrap(events).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Not in the channel: give back the room and the events.
    fn give_up(&mut self) -> Vec<Event> {
        self.settled = true;
        {
            let mut state = lock(&self.state);
            state.cancelled = true;
            if let Some(ptrs) = state.ptrs.take() {
                self.store.forget(&ptrs);
            }
        }
        {
            let mut st = lock(&self.inner.state);
            st.reserved -= self.events.len();
        }
        self.inner.space.notify_waiters();
        self.take_events()
    }
}

#[async_trait]
impl PendingPut for FilePending {
    async fn wait(mut self: Box<Self>) -> Result<(), (ChannelError, Vec<Event>)> {
        let r = match (&mut self.done).await {
            Ok(r) => r.map_err(|e| put_error(&self.inner.name, e)),
            // The pipeline closed without finishing it.
            Err(_) => Err(self.inner.stopped()),
        };
        // Done: the writer left the events' pointers.
        let written = r.and_then(|()| {
            let ptrs = lock(&self.state).ptrs.take();
            ptrs.ok_or_else(|| self.inner.stopped())
        });
        let ptrs = match written {
            Ok(ptrs) => ptrs,
            Err(e) => {
                let back = self.give_up();
                return Err((e, back));
            }
        };
        self.settled = true;
        let n = self.events.len();
        let events = self.take_events();
        {
            let mut st = lock(&self.inner.state);
            st.reserved -= n;
            st.queue.push_back_weighed(ptrs, events, self.weight);
        }
        self.inner.data.notify_waiters();
        Ok(())
    }

    fn abort(mut self: Box<Self>) -> Vec<Event> {
        self.give_up()
    }
}

impl Drop for FilePending {
    /// Dropped unsettled (its waiter cancelled): not in the channel.
    fn drop(&mut self) {
        if !self.settled {
            self.give_up();
        }
    }
}

async fn checkpoint_now(inner: &Inner) -> Result<Freed, String> {
    let store = inner.store().map_err(|e| e.to_string())?;
    let written = lock(&inner.pipeline).as_ref().map(Pipeline::barrier);
    if let Some(w) = written {
        // Closed meanwhile: `stop` joined the writer, all is written.
        let _ = w.await;
    }
    let freed = tokio::task::spawn_blocking(move || store.checkpoint())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("checkpoint failed: {e}"))?;
    for f in &freed.failed {
        inner.warn(&format!(
            "a freed data file cannot be removed ({f}); left there, forgotten"
        ));
    }
    Ok(freed)
}

/// Checkpoint every interval while the channel lives and is not stopped.
async fn checkpoint_loop(inner: Weak<Inner>, stop: CancellationToken, every: Duration) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        match checkpoint_now(&inner).await {
            Ok(freed) if !freed.files.is_empty() => inner.info(&format!(
                "checkpoint: {} data files freed, {} spare files kept for reuse",
                freed.files.len(),
                freed.spares
            )),
            Ok(_) => {}
            Err(e) => inner.warn(&e),
        }
    }
}

impl Drop for FileChannel {
    /// Without `stop` (a crash, as far as the files are concerned): no
    /// last checkpoint, the next start replays the log.
    fn drop(&mut self) {
        self.inner.stop.cancel();
    }
}

#[async_trait]
impl Channel for FileChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn start(&self, agent_log: &AgentLog) -> Result<(), String> {
        let inner = &self.inner;
        *lock(&inner.log) = Some(agent_log.clone());
        let settings = inner.settings.clone();
        let opened = tokio::task::spawn_blocking(move || replay::open(settings))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("channel {}: cannot open its files: {e}", inner.name))?;
        for w in &opened.warnings {
            agent_log.warn(&inner.name, w);
        }
        inner
            .damaged
            .fetch_add(opened.dropped as u64, Ordering::Relaxed);
        agent_log.info(&inner.name, &opened.info);
        {
            let mut st = lock(&inner.state);
            st.queue.push_back_on_disk(opened.on_disk);
            for run in opened.logged {
                match run {
                    replay::Run::Held(ptrs, events) => st.queue.push_back(ptrs, events),
                    replay::Run::OnDisk(ptrs) => st.queue.push_back_on_disk(ptrs),
                }
            }
        }
        let store = Arc::new(opened.store);
        let warn: pipeline::Warn = {
            let (log, name) = (agent_log.clone(), inner.name.clone());
            Arc::new(move |m: &str| log.warn(&name, m))
        };
        let p = Pipeline::start(&inner.name, store.clone(), warn)
            .map_err(|e| format!("channel {}: cannot start its threads: {e}", inner.name))?;
        *lock(&inner.store) = Some(store);
        *lock(&inner.pipeline) = Some(p);
        inner.data.notify_waiters();
        tokio::spawn(checkpoint_loop(
            Arc::downgrade(inner),
            inner.stop.clone(),
            inner.settings.checkpoint_interval,
        ));
        Ok(())
    }

    async fn stop(&self) {
        let inner = &self.inner;
        inner.stop.cancel();
        if lock(&inner.store).is_none() {
            return;
        }
        // What was handed over is written first (blocking joins).
        let pipeline = lock(&inner.pipeline).take();
        if let Some(p) = pipeline {
            let _ = tokio::task::spawn_blocking(move || p.close()).await;
        }
        let what = if !inner.settings.checkpoint_on_close {
            Ok("checkpointOnClose is false: no checkpoint, the next start replays the log")
        } else {
            checkpoint_now(inner).await.map(|_| "checkpoint written")
        };
        match what {
            Ok(what) => {
                let damaged = match self.damaged() {
                    0 => String::new(),
                    n => format!("; {n} damaged events were dropped"),
                };
                inner.info(&format!(
                    "{what}; {} events stay in the channel ({} fdatasyncs this run{damaged})",
                    self.len(),
                    self.fsyncs()
                ));
            }
            Err(e) => inner.warn(&e),
        }
        *lock(&inner.store) = None;
    }

    async fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let pending = self.begin_put(events).await?;
        pending.wait().await.map_err(|(e, back)| {
            *events = back;
            e
        })
    }

    async fn begin_put(
        &self,
        events: &mut Vec<Event>,
    ) -> Result<Box<dyn PendingPut>, ChannelError> {
        let inner = &self.inner;
        let s = &inner.settings;
        let n = events.len();
        if n > s.transaction_capacity {
            return Err(ChannelError::TooBig(format!(
                "channel {}: a put of {n} events is more than transactionCapacity {}",
                inner.name, s.transaction_capacity
            )));
        }
        if n == 0 {
            return Ok(Box::new(super::Committed));
        }
        // Summed here, where the source has just made the events: the
        // writer sizes its groups and buffer by it and the queue counts
        // it, without another pass each over cold events.
        let (weight, bytes) = events
            .iter()
            .fold((0, log::PUT_RECORD_OVERHEAD), |(w, b), e| {
                (w + queue::weight(e), b + log::entry_len(e))
            });
        if bytes > largest_record(s) {
            return Err(ChannelError::NeverFits(format!(
                "channel {}: a put of {n} events takes {bytes} bytes on disk, more than a data file holds (maxFileSize {})",
                inner.name, s.max_file_size
            )));
        }
        let store = inner.store()?;
        // Reserve room, waiting up to keep-alive.
        let deadline = tokio::time::Instant::now() + s.keep_alive;
        loop {
            let notified = inner.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&inner.state);
                if st.queue.len() + st.inflight + st.reserved + n <= s.capacity {
                    st.reserved += n;
                    break;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChannelError::Full(format!(
                    "channel {}: full ({} events); the sinks are not keeping up with the sources, or the capacity is too small",
                    inner.name, s.capacity
                )));
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
        // Handed to the writer thread: puts are written in the order they
        // begin.
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let shared = Arc::new(std::mem::take(events));
        let state = Arc::new(Mutex::new(PutState::default()));
        let job = PutJob {
            events: shared.clone(),
            weight,
            state: state.clone(),
            done: done_tx,
        };
        let handed = lock(&inner.pipeline).as_ref().is_some_and(|p| p.put(job));
        let pending = FilePending {
            inner: self.inner.clone(),
            store,
            events: shared,
            weight,
            state,
            done,
            settled: false,
        };
        if !handed {
            let mut pending = pending;
            *events = pending.give_up();
            return Err(inner.stopped());
        }
        Ok(Box::new(pending))
    }

    async fn take(&self, max: usize) -> Result<Take, ChannelError> {
        loop {
            // Every one it reached was unreadable (dropped): take again.
            if let (Some(t), _) = self.take_once(max).await? {
                return Ok(t);
            }
        }
    }

    fn transaction_capacity(&self) -> usize {
        self.inner.settings.transaction_capacity
    }

    fn refuse(&self, events: &[Event], out: &mut Vec<(usize, String)>) {
        let s = &self.inner.settings;
        for (i, e) in events.iter().enumerate() {
            let bytes = log::PUT_RECORD_OVERHEAD + log::entry_len(e);
            if bytes > largest_record(s) {
                out.push((
                    i,
                    format!(
                        "channel {} can never hold this event: {bytes} bytes on disk, more than a data file holds (maxFileSize {})",
                        self.inner.name, s.max_file_size
                    ),
                ));
            }
        }
    }

    fn len(&self) -> usize {
        let st = lock(&self.inner.state);
        st.queue.len() + st.inflight
    }

    async fn wait_empty(&self) {
        super::wait_until(&self.inner.space, || self.len() == 0).await
    }

    fn durable(&self) -> bool {
        true
    }
}

struct FileTake {
    inner: Arc<Inner>,
    ptrs: Vec<Ptr>,
}

#[async_trait]
impl TakeTransaction for FileTake {
    async fn commit(self: Box<Self>) -> Result<(), ChannelError> {
        let FileTake { inner, ptrs } = *self;
        let n = ptrs.len();
        // Recorded by the writer thread; when stopped, the take is not
        // recorded and its events come back after a restart (at least once).
        let handed = lock(&inner.pipeline).as_ref().is_some_and(|p| p.take(ptrs));
        lock(&inner.state).inflight -= n;
        inner.space.notify_waiters();
        if handed { Ok(()) } else { Err(inner.stopped()) }
    }

    fn rollback(self: Box<Self>, events: Vec<Event>) {
        let FileTake { inner, ptrs } = *self;
        inner.give_back(ptrs, Some(events));
    }
}

/// Taken events that are still to be read back: put back first in the
/// queue (on disk) unless read, also when the take is dropped meanwhile.
struct Unread {
    inner: Arc<Inner>,
    ptrs: Vec<Ptr>,
}

impl Drop for Unread {
    fn drop(&mut self) {
        if !self.ptrs.is_empty() {
            self.inner.give_back(std::mem::take(&mut self.ptrs), None);
        }
    }
}

/// Read a take's events back from the data files (off the runtime's
/// workers). An event that cannot be read (its file gone, its bytes not
/// what was written: see `log::read_entries`) is never delivered: it is
/// dropped, with an error naming file and offset in the agent log,
/// counted, and recorded as taken so it is not tried again; how many
/// were, and `None` when that left nothing. A failed read puts the
/// events back first in the queue.
async fn read_back(
    inner: &Arc<Inner>,
    ptrs: Vec<Ptr>,
) -> Result<(Option<Take>, usize), ChannelError> {
    let store = inner.store()?;
    let mut unread = Unread {
        inner: inner.clone(),
        ptrs,
    };
    let wanted = unread.ptrs.clone();
    let read = tokio::task::spawn_blocking(move || store.read_events(&wanted))
        .await
        .map_err(|e| ChannelError::Failed(format!("channel {}: {e}", inner.name)))?
        .map_err(|e| {
            ChannelError::Failed(format!(
                "channel {}: cannot read events back from its data files: {e}",
                inner.name
            ))
        })?;
    let ptrs = std::mem::take(&mut unread.ptrs);
    let mut good_ptrs = Vec::with_capacity(ptrs.len());
    let mut events = Vec::with_capacity(ptrs.len());
    let mut bad = Vec::new();
    for (p, r) in ptrs.into_iter().zip(read) {
        match r {
            Ok(e) => {
                good_ptrs.push(p);
                events.push(e);
            }
            Err(why) => {
                if bad.len() < 10 {
                    inner.error(&format!(
                        "an event cannot be read back ({why}); dropped, not delivered"
                    ));
                }
                bad.push(p);
            }
        }
    }
    let dropped = bad.len();
    if !bad.is_empty() {
        let total = inner.damaged.fetch_add(dropped as u64, Ordering::Relaxed) + dropped as u64;
        inner.error(&format!(
            "{dropped} events of this take could not be read back and were dropped ({total} this run)"
        ));
        // Committed as a take of their own: recorded, never tried again.
        let dropped = FileTake {
            inner: inner.clone(),
            ptrs: bad,
        };
        Box::new(dropped).commit().await?;
    }
    if events.is_empty() {
        return Ok((None, dropped));
    }
    let tx = FileTake {
        inner: inner.clone(),
        ptrs: good_ptrs,
    };
    Ok((Some(Take::new(events, Box::new(tx))), dropped))
}

#[cfg(test)]
mod tests;
