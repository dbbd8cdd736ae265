//! Rotating log writers, output capture and tail readers.

pub mod rotate;

pub use rotate::{RotatingFile, SharedRotatingFile, backup_path};
