//! The unit that moves through an agent: Flume's event, headers plus body.
//!
//! The body is `Bytes`, so a line cut from a source's read buffer travels to
//! the sink without being copied; headers are a `BTreeMap`, which costs no
//! allocation while empty (most events have none or a few).

use std::collections::BTreeMap;

use bytes::Bytes;

pub type Headers = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub headers: Headers,
    pub body: Bytes,
}

impl Event {
    /// An event with this body and no headers.
    pub fn new(body: impl Into<Bytes>) -> Event {
        Event {
            headers: Headers::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// What the event weighs against a channel's byteCapacity (Flume counts
    /// the body only).
    pub fn size(&self) -> usize {
        self.body.len()
    }
}
