//! Interceptors: each source's chain rewrites (or drops) its events before
//! the channel selector sees them (Flume's `interceptors = i1 i2`).
//!
//! Adding one: a file here with a `TYPE` (`registry::InterceptorType`),
//! listed in `engine::registry::INTERCEPTORS`.

pub mod host;
pub mod static_header;
pub mod timestamp;

use super::event::Event;

pub trait Interceptor: Send + Sync {
    /// Rewrite the batch in place; removing events drops them.
    fn intercept(&self, events: &mut Vec<Event>);
}

/// Set `key` on every event, keeping an existing value when `preserve`.
pub(crate) fn set_header(events: &mut [Event], key: &str, value: &str, preserve: bool) {
    for e in events {
        if preserve && e.headers.contains_key(key) {
            continue;
        }
        e.headers.insert(key.to_string(), value.to_string());
    }
}
