//! The put path, off the caller's task: a **writer** thread encodes each
//! put transaction and writes it (one write(2)), and records takes, in
//! the order they were handed over; a **syncer** thread fdatasyncs what
//! is written and completes the puts that fdatasync covers. While one
//! fdatasync runs, the writer writes the next puts, which the next
//! fdatasync covers (group commit), and the source reads on meanwhile.
//!
//! With fsyncPerTransaction = false, the writer completes a put once it
//! is written, and the syncer fdatasyncs every fsyncInterval instead.
//!
//! Threads, not tokio tasks: encoding, crc32 and the copy into the page
//! cache are CPU work and fdatasync blocks, and neither belongs on the
//! runtime's workers.

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::log::Ptr;
use super::store::Store;
use crate::engine::channel::lock;
use crate::engine::event::Event;
use crate::engine::panics;

/// One put transaction handed to the writer.
pub struct PutJob {
    pub events: Arc<Vec<Event>>,
    /// Their `queue::weight`, summed by the caller.
    pub weight: usize,
    pub state: Arc<Mutex<PutState>>,
    /// Resolved once the put is durable, or failed.
    pub done: oneshot::Sender<io::Result<()>>,
}

/// What the writer and the waiter of a put share.
#[derive(Default)]
pub struct PutState {
    /// The waiter gave up: do not write it (or forget it, if written).
    pub cancelled: bool,
    /// Written: where its events are.
    pub ptrs: Option<Vec<Ptr>>,
}

enum Job {
    Put(PutJob),
    /// A committed take: record it (no fdatasync of its own).
    Take(Vec<Ptr>),
    /// Answered once everything handed over before it is written.
    Barrier(oneshot::Sender<()>),
}

/// Puts written together, waiting for an fdatasync to cover `end`.
struct Written {
    end: Ptr,
    done: Vec<oneshot::Sender<io::Result<()>>>,
}

/// The writer writes the puts queued behind the one it takes, up to this
/// weight (about their bytes), with one write(2) and one hand-over to the
/// syncer. Small enough that the encoded group is still in the core's L2
/// cache when the kernel copies it into the page cache: against 4 MiB,
/// that copy took 40% less time (docs/benchmarks.md).
const GROUP_WEIGHT: usize = 256 << 10;

/// And the takes queued behind one, up to this many.
const GROUP_TAKES: usize = 256;

pub struct Pipeline {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// Warnings for the agent log, from the writer thread.
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

impl Pipeline {
    pub fn start(name: &str, store: Arc<Store>, warn: Warn) -> io::Result<Pipeline> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (written, written_rx) = mpsc::channel::<Written>();
        let writer = {
            let (store, warn) = (store.clone(), warn.clone());
            let writer = std::thread::Builder::new().name(format!("{name}-writer"));
            panics::spawn(writer, move || write_loop(&store, job_rx, written, &*warn))?
        };
        let syncer = std::thread::Builder::new().name(format!("{name}-syncer"));
        let syncer = panics::spawn(syncer, move || {
            if store.settings.fsync_per_transaction {
                sync_loop(&store, written_rx)
            } else {
                sync_every(&store, written_rx, store.settings.fsync_interval, &*warn)
            }
        })?;
        Ok(Pipeline {
            jobs: Some(jobs),
            threads: vec![writer, syncer],
        })
    }

    /// Hand a put to the writer; false when the pipeline is closed.
    pub fn put(&self, job: PutJob) -> bool {
        self.send(Job::Put(job))
    }

    /// Hand a committed take to the writer; false when closed.
    pub fn take(&self, ptrs: Vec<Ptr>) -> bool {
        self.send(Job::Take(ptrs))
    }

    /// Resolves once everything handed over until now is written (a
    /// checkpoint then sees every take committed before it).
    pub fn barrier(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Barrier(tx));
        rx
    }

    fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }

    /// Finish what was handed over, then stop both threads (blocking).
    pub fn close(self) {
        drop(self)
    }
}

impl Drop for Pipeline {
    /// Joined, so the store (and the lock on its directories) is released
    /// when the channel is: a new channel can open them right away.
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn write_loop(store: &Store, jobs: Receiver<Job>, written: Sender<Written>, warn: &dyn Fn(&str)) {
    // A job taken while gathering, for the next round (order kept).
    let mut held: Option<Job> = None;
    // Take records failed to be written since the last warning (a full
    // disk fails every one: said once, until one is written again).
    let mut takes_failing = false;
    loop {
        let job = match held.take() {
            Some(j) => j,
            None => match jobs.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        match job {
            Job::Put(first) => {
                let mut weight = 0;
                let group = gather(&jobs, &mut held, first, as_put, |j| {
                    weight += j.weight;
                    weight < GROUP_WEIGHT
                });
                write_puts(store, group, &written);
            }
            Job::Take(first) => {
                let mut n = 0;
                let takes = gather(&jobs, &mut held, first, as_take, |_| {
                    n += 1;
                    n < GROUP_TAKES
                });
                // The events are delivered either way; take records that
                // could not be written mean they may come again after a
                // restart.
                match store.take_commits(&takes) {
                    Ok(()) => takes_failing = false,
                    Err(e) if !takes_failing => {
                        takes_failing = true;
                        warn(&format!(
                            "cannot record {} take(s) ({e}); their events may be delivered again after a restart (said once until take records are written again)",
                            takes.len()
                        ));
                    }
                    Err(_) => {}
                }
            }
            Job::Barrier(reached) => {
                let _ = reached.send(());
            }
        }
    }
}

fn as_put(j: Job) -> Result<PutJob, Job> {
    match j {
        Job::Put(p) => Ok(p),
        other => Err(other),
    }
}

fn as_take(j: Job) -> Result<Vec<Ptr>, Job> {
    match j {
        Job::Take(t) => Ok(t),
        other => Err(other),
    }
}

/// `first` and the jobs of its kind queued behind it, while `more` (told
/// each one gathered) says there is room: they go out with one write(2).
/// A job of another kind is left in `held` for the next round.
fn gather<T>(
    jobs: &Receiver<Job>,
    held: &mut Option<Job>,
    first: T,
    kind: fn(Job) -> Result<T, Job>,
    mut more: impl FnMut(&T) -> bool,
) -> Vec<T> {
    let mut room = more(&first);
    let mut group = vec![first];
    while room {
        let Ok(job) = jobs.try_recv() else { break };
        match kind(job) {
            Ok(j) => {
                room = more(&j);
                group.push(j);
            }
            Err(other) => {
                *held = Some(other);
                break;
            }
        }
    }
    group
}

/// Write a group of puts (those not given up) and hand them to the syncer.
fn write_puts(store: &Store, group: Vec<PutJob>, written: &Sender<Written>) {
    // Held through the write: a waiter giving up meanwhile waits, then
    // finds the pointers to forget.
    let mut states: Vec<MutexGuard<'_, PutState>> = group.iter().map(|j| lock(&j.state)).collect();
    let wanted: Vec<bool> = states.iter().map(|s| !s.cancelled).collect();
    let weight = group
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .map(|(j, _)| j.weight)
        .sum();
    let batches: Vec<&[Event]> = group
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .map(|(j, _)| j.events.as_slice())
        .collect();
    if batches.is_empty() {
        return;
    }
    let r = store.append_puts(&batches, weight);
    drop(batches);
    let mut done = Vec::with_capacity(group.len());
    match r {
        Ok((ptrs, end)) => {
            let mut ptrs = ptrs.into_iter();
            for (state, _) in states.iter_mut().zip(&wanted).filter(|(_, w)| **w) {
                state.ptrs = ptrs.next();
            }
            drop(states);
            let at_once = !store.settings.fsync_per_transaction;
            for (job, w) in group.into_iter().zip(wanted) {
                // The waiter takes the events back once done.
                drop(job.events);
                if w && at_once {
                    // Written is committed (fsyncPerTransaction = false).
                    let _ = job.done.send(Ok(()));
                } else if w {
                    done.push(job.done);
                }
            }
            if let Err(mpsc::SendError(w)) = written.send(Written { end, done }) {
                for d in w.done {
                    let _ = d.send(Err(io::Error::other("the syncer stopped")));
                }
            }
        }
        Err(e) => {
            drop(states);
            for (job, w) in group.into_iter().zip(wanted) {
                if w {
                    let _ = job.done.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }
}

fn sync_loop(store: &Store, written: Receiver<Written>) {
    let mut batch = Vec::new();
    while let Ok(first) = written.recv() {
        batch.push(first);
        // Everything written by now shares this fdatasync.
        batch.extend(written.try_iter());
        let target = batch.iter().map(|w| w.end).max().unwrap_or_default();
        let r = store.sync_to(target);
        for w in batch.drain(..) {
            for d in w.done {
                let r = match &r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                let _ = d.send(r);
            }
        }
    }
}

/// fsyncPerTransaction = false: what is written is fdatasync'd at most
/// `every` after it was written, and at close (the puts completed when
/// written).
fn sync_every(store: &Store, written: Receiver<Written>, every: Duration, warn: &dyn Fn(&str)) {
    // Written, not yet synced: up to where, and when it is due.
    let mut due: Option<(Ptr, Instant)> = None;
    let sync = |end: Ptr| {
        if let Err(e) = store.sync_to(end) {
            warn(&format!(
                "fdatasync of the data file failed ({e}); what was put since the last one is lost if the machine fails"
            ));
        }
    };
    loop {
        let next = match due {
            None => written.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((_, at)) => written.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(w) => {
                let at = due.map_or_else(|| Instant::now() + every, |(_, at)| at);
                let end = due.map_or(w.end, |(end, _)| end.max(w.end));
                due = Some((end, at));
                // None in this mode (answered when written); answered
                // all the same should one be, rather than dropped.
                for d in w.done {
                    let _ = d.send(Ok(()));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some((end, _)) = due.take() {
                    sync(end);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if let Some((end, _)) = due.take() {
                    sync(end);
                }
                return;
            }
        }
    }
}
