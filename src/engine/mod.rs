//! The pipeline engine: Flume-compatible agents (sources -> channels ->
//! sinks) running in-process. It knows nothing of the supervisor; the
//! supervisor runs an agent through `agent::Agent` (start, wait, stop).

pub mod channel;
pub mod config;
pub mod event;

pub use event::{Event, Headers};
