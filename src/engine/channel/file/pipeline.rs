//! The put path, off the caller's task: a **writer** thread encodes each
//! put transaction and writes it (one write(2)), and records takes, in
//! the order they were handed over; a **syncer** thread fdatasyncs what
//! is written and completes the puts that fdatasync covers. While one
//! fdatasync runs, the writer writes the next puts, which the next
//! fdatasync covers (group commit), and the source reads on meanwhile.
//!
//! Threads, not tokio tasks: encoding, crc32 and the copy into the page
//! cache are CPU work and fdatasync blocks, and neither belongs on the
//! runtime's workers.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::log::Ptr;
use super::store::Store;
use crate::engine::event::Event;

/// One put transaction handed to the writer.
pub struct PutJob {
    pub events: Arc<Vec<Event>>,
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

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state under these locks is a flag and a vector: usable after a panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Job {
    Put(PutJob),
    /// A committed take: record it (no fdatasync of its own).
    Take(Vec<Ptr>),
    /// Answered once everything handed over before it is written.
    Barrier(oneshot::Sender<()>),
}

/// A put written, waiting for an fdatasync to cover `end`.
struct Written {
    end: Ptr,
    done: oneshot::Sender<io::Result<()>>,
}

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
            let store = store.clone();
            std::thread::Builder::new()
                .name(format!("{name}-writer"))
                .spawn(move || write_loop(&store, job_rx, written, &*warn))?
        };
        let syncer = std::thread::Builder::new()
            .name(format!("{name}-syncer"))
            .spawn(move || sync_loop(&store, written_rx))?;
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
    for job in jobs {
        match job {
            Job::Put(job) => {
                let mut state = lock(&job.state);
                if state.cancelled {
                    continue;
                }
                match store.append_put(&job.events) {
                    Ok((ptrs, end)) => {
                        state.ptrs = Some(ptrs);
                        drop(state);
                        // The waiter takes the events back once done.
                        drop(job.events);
                        let w = Written {
                            end,
                            done: job.done,
                        };
                        if let Err(mpsc::SendError(w)) = written.send(w) {
                            let _ = w.done.send(Err(io::Error::other("the syncer stopped")));
                        }
                    }
                    Err(e) => {
                        drop(state);
                        let _ = job.done.send(Err(e));
                    }
                }
            }
            Job::Take(ptrs) => {
                // The events are delivered either way; a take record that
                // could not be written means they may come again after a
                // restart.
                if let Err(e) = store.take_commit(&ptrs) {
                    warn(&format!(
                        "cannot record a take ({e}); its events may be delivered again after a restart"
                    ));
                }
            }
            Job::Barrier(reached) => {
                let _ = reached.send(());
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
            let r = match &r {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            let _ = w.done.send(r);
        }
    }
}
