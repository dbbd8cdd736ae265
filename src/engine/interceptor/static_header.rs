//! `static`: a fixed header on every event (`key`, `value`, default
//! `key`/`value`; `preserveExisting` true).

use super::{Interceptor, set_header};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::InterceptorType;

pub const TYPE: InterceptorType = InterceptorType {
    name: "static",
    aliases: &["org.apache.flume.interceptor.StaticInterceptor$Builder"],
    build,
};

struct Static {
    key: String,
    value: String,
    preserve: bool,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Interceptor>> {
    Some(Box::new(Static {
        key: props.string("key").unwrap_or_else(|| "key".into()),
        value: props.string("value").unwrap_or_else(|| "value".into()),
        preserve: props.bool(diags, "preserveExisting", true),
    }))
}

impl Interceptor for Static {
    fn intercept(&self, events: &mut Vec<Event>) {
        set_header(events, &self.key, &self.value, self.preserve);
    }
}
