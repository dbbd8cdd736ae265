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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::properties::Entry;
    use crate::engine::config::{Diags, Props};
    use crate::engine::registry;
    use std::sync::Arc;

    fn build(kind: &str, pairs: &[(&str, &str)]) -> Box<dyn Interceptor> {
        let entries = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: 1,
                    },
                )
            })
            .collect();
        let p = Props::new(Arc::new("a.conf".into()), "i".into(), 1, entries);
        let mut d = Diags::default();
        let i = registry::interceptor(kind, &p, &mut d).expect("built");
        assert!(d.items.is_empty(), "{:?}", d.items);
        i
    }

    #[test]
    fn static_keeps_existing_values_by_default_and_others_overwrite() {
        let mut events = vec![Event::new("a").with_header("dc", "us"), Event::new("b")];
        build("static", &[("key", "dc"), ("value", "eu")]).intercept(&mut events);
        assert_eq!(events[0].headers["dc"], "us");
        assert_eq!(events[1].headers["dc"], "eu");

        build("timestamp", &[]).intercept(&mut events);
        let ts: u128 = events[0].headers["timestamp"].parse().expect("millis");
        assert!(ts > 1_600_000_000_000);

        let mut events = vec![Event::new("a").with_header("host", "old")];
        build("host", &[("useIP", "false"), ("hostHeader", "host")]).intercept(&mut events);
        assert_ne!(events[0].headers["host"], "old");
    }
}
