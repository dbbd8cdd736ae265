//! Rotating log writers, output capture and tail readers.
//!
//! - [`rotate`]: `RotatingFile`, supervisord's size-based rotation.
//! - [`ansi`]: `strip_ansi`, escape codes removed from captured output.
//! - [`capture`]: draining a child's stdout/stderr pipes into log files.
//! - [`pump`]: the one thread that does the draining for every pipe (epoll).
//! - [`tail`]: `readLog`/`tailProcessStdoutLog` semantics and a rotation-aware follower.
//! - [`daemon_log`]: the daemon's own log as a `tracing` subscriber.

pub mod ansi;
pub mod capture;
pub mod daemon_log;
pub mod pump;
pub mod rotate;
pub mod tail;

pub use capture::{Capture, CaptureStats, Destination, Flusher, StreamStats, capture};
pub use daemon_log::{DaemonLogHandle, LogLevel};
pub use rotate::{RotatingFile, SharedRotatingFile, backup_path};
pub use tail::{Follower, ReadError, Span, Start, read_log, read_span, tail_log, tail_span};
