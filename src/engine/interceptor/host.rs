//! `host`: the agent host's IP address (or name, `useIP=false`) in a header
//! (`hostHeader`, default `host`; `preserveExisting` false).

use super::{Interceptor, set_header};
use crate::engine::config::{Diags, Props};
use crate::engine::event::Event;
use crate::engine::registry::InterceptorType;

pub const TYPE: InterceptorType = InterceptorType {
    name: "host",
    aliases: &["org.apache.flume.interceptor.HostInterceptor$Builder"],
    build,
};

struct Host {
    header: String,
    value: String,
    preserve: bool,
}

/// The address other machines would see us by: the source address the
/// kernel picks for an outside destination (no packet is sent), else the
/// loopback address.
fn local_ip() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Interceptor>> {
    let use_ip = props.bool(diags, "useIP", true);
    let value = if use_ip {
        local_ip()
    } else {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    };
    Some(Box::new(Host {
        header: props.string("hostHeader").unwrap_or_else(|| "host".into()),
        value,
        preserve: props.bool(diags, "preserveExisting", false),
    }))
}

impl Interceptor for Host {
    fn intercept(&self, events: &mut Vec<Event>) {
        set_header(events, &self.header, &self.value, self.preserve);
    }
}
