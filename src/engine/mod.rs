//! The pipeline engine: Flume-compatible agents (sources -> channels ->
//! sinks) running in-process. It knows nothing of the supervisor; the
//! supervisor runs an agent through `agent::Agent` (build, run, stop).
//!
//! Map: `config/` reads agent files; `registry` names every component type;
//! `agent` wires and runs one agent; `processor` (interceptors + selector)
//! is a source's way into its channels; `sink::run` drains a channel into a
//! sink; `channel/`, `source/`, `sink/`, `interceptor/` hold one file per
//! component type.

pub mod agent;
pub mod channel;
pub mod config;
pub mod event;
pub mod flume_ng;
pub mod host;
pub mod interceptor;
pub mod log;
pub mod panics;
pub mod processor;
pub mod registry;
pub mod selector;
pub mod sink;
pub mod source;

pub use event::{Event, Headers};
