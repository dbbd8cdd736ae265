//! `timestamp`: the time of interception, in epoch milliseconds, in a
//! header (`headerName`, default `timestamp`; `preserveExisting` false).

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Interceptor, set_header};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::InterceptorType;

pub const TYPE: InterceptorType = InterceptorType {
    name: "timestamp",
    aliases: &["org.apache.flume.interceptor.TimestampInterceptor$Builder"],
    build,
};

struct Timestamp {
    header: String,
    preserve: bool,
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Interceptor>> {
    Some(Box::new(Timestamp {
        header: props
            .string("headerName")
            .unwrap_or_else(|| "timestamp".into()),
        preserve: props.bool(diags, "preserveExisting", false),
    }))
}

impl Interceptor for Timestamp {
    fn intercept(&self, events: &mut Vec<Event>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            .to_string();
        set_header(events, &self.header, &now, self.preserve);
    }
}
