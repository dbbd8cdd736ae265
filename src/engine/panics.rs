//! A panic anywhere in an agent ends that agent. Tokio catches a task's
//! panic and a thread that panics just ends, so without this a component
//! could die while the agent (and the program running it) looks fine.
//!
//! Each agent has a [`PanicGuard`]. Every thread that works for the agent
//! carries it: the host thread, its runtime's workers and blocking threads
//! (`on_thread_start`), and the threads components start through [`spawn`].
//! One process-wide panic hook (after the default one, which still prints
//! to stderr) hands a panic on such a thread to its guard, which records
//! the message and trips; the host then stops the agent and ends it as
//! failed, the message in the agent's log.

use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex, Once};

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct Inner {
    /// The first panic's message and place.
    message: Mutex<Option<String>>,
    tripped: CancellationToken,
}

thread_local! {
    /// The guard of the agent this thread works for.
    static CURRENT: RefCell<Option<Arc<Inner>>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// One agent's guard: clones share it.
#[derive(Debug, Clone, Default)]
pub struct PanicGuard {
    inner: Arc<Inner>,
}

impl PanicGuard {
    pub fn new() -> PanicGuard {
        HOOK.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                default(info);
                record(info);
            }));
        });
        PanicGuard::default()
    }

    /// Make this thread's panics this agent's.
    pub fn enter(&self) {
        let inner = self.inner.clone();
        let _ = CURRENT.try_with(|c| c.replace(Some(inner)));
    }

    /// The first panic's message, once there was one.
    pub fn message(&self) -> Option<String> {
        lock(&self.inner).clone()
    }

    /// Resolves at the first panic.
    pub async fn tripped(&self) {
        self.inner.tripped.cancelled().await;
    }
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, Option<String>> {
    inner.message.lock().unwrap_or_else(|p| p.into_inner())
}

/// The hook's part: give the panic to this thread's guard, if it has one.
fn record(info: &PanicHookInfo<'_>) {
    let inner = CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|g| g.clone()))
        .ok()
        .flatten();
    let Some(inner) = inner else { return };
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("a thread");
    {
        let mut message = lock(&inner);
        if message.is_none() {
            *message = Some(format!("{payload} (thread {name}{place})"));
        }
    }
    inner.tripped.cancel();
}

/// `builder.spawn(f)`, the new thread carrying the calling thread's guard.
pub fn spawn<F, T>(
    builder: std::thread::Builder,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let inner = CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|g| g.clone()))
        .ok()
        .flatten();
    builder.spawn(move || {
        if let Some(inner) = inner {
            PanicGuard { inner }.enter();
        }
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_on_a_runtime_worker_or_a_spawned_thread_trips_its_agent_only() {
        let guard = PanicGuard::new();
        let other = PanicGuard::new();
        let worker = guard.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(move || worker.enter())
            .build()
            .expect("runtime");
        let task = rt.spawn(async { panic!("a component broke") });
        assert!(task.await.is_err());
        tokio::time::timeout(crate::engine::log::testing::DEADLINE, guard.tripped())
            .await
            .expect("tripped");
        let message = guard.message().expect("a message");
        assert!(
            message.starts_with("a component broke (thread "),
            "{message}"
        );
        assert!(message.contains("src/engine/panics.rs:"), "{message}");
        assert!(other.message().is_none());
        rt.shutdown_background();

        // A thread a component starts carries the guard of its starter.
        other.enter();
        let t = spawn(std::thread::Builder::new().name("writer".into()), || {
            panic!("the writer broke")
        })
        .expect("thread");
        assert!(t.join().is_err());
        let message = other.message().expect("a message");
        assert!(
            message.starts_with("the writer broke (thread writer at "),
            "{message}"
        );
        CURRENT.with(|c| c.replace(None));
    }
}
