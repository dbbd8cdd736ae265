//! The signals the daemon acts on, registered once, before its log exists.
//!
//! A signal that comes before its handler is installed takes its default
//! action: SIGTERM, SIGHUP and SIGUSR2 would end the daemon outright (no
//! programs stopped, the pidfile left). The daemon's log is the sign, to
//! `logrotate` and to scripts, that the daemon runs, and ending what a
//! killed daemon left may take the old programs' stopwaitsecs before the
//! manager runs. So the handlers go in first, and what arrives meanwhile
//! waits in these streams until the manager takes it. Kept across the
//! daemon's lives (SIGHUP), so that nothing sent during a reload is lost.

use tokio::signal::unix::{Signal, SignalKind, signal};

pub struct Signals {
    pub child: Signal,
    pub terminate: Signal,
    pub interrupt: Signal,
    pub quit: Signal,
    pub hangup: Signal,
    pub reopen: Signal,
}

impl Signals {
    /// Install the handlers; within a tokio runtime's context.
    pub fn register() -> std::io::Result<Signals> {
        Ok(Signals {
            child: signal(SignalKind::child())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hangup: signal(SignalKind::hangup())?,
            reopen: signal(SignalKind::user_defined2())?,
        })
    }
}
