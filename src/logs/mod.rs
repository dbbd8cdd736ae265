//! Rotating log writers, output capture and tail readers.

pub mod capture;
pub mod rotate;
pub mod tail;

pub use capture::{CaptureStats, Destination, StreamStats, capture};
pub use rotate::{RotatingFile, SharedRotatingFile, backup_path};
pub use tail::{Follower, ReadError, Start, read_log, tail_log};
