//! sluice: a supervisord-compatible process supervisor with a Flume-style
//! event pipeline engine. See docs/ARCHITECTURE.md for the map.

pub mod allocator;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod descendants;
pub mod descriptors;
pub mod engine;
pub mod logs;
pub mod rpc;
pub mod standalone;
pub mod supervisor;
