//! Process supervision: the state machine, spawning, the manager.

pub mod changes;
pub mod identity;
pub mod info;
pub mod inprocess;
pub mod limits;
pub mod manager;
pub mod output;
pub mod signals;
pub mod spawn;
pub mod state;
pub mod stdin;

pub use manager::{Exit, Handle, Manager, Mood, Request, Snapshot};
