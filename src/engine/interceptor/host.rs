//! `host`: the agent host's IP address (or name, `useIP=false`) in a header
//! (`hostHeader`, default `host`; `preserveExisting` false), the values
//! Flume's HostInterceptor puts there (checked by tests/flume_diff.rs).

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

/// The host as Flume's interceptor sees it: Java's
/// `InetAddress.getLocalHost()`, the host name resolved by the system's
/// resolver (/etc/hosts first, as configured), its first IPv4 address
/// (Java prefers IPv4), else its first address, else the loopback address.
fn local_address() -> std::net::IpAddr {
    let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let Some(name) = host_name() else {
        return loopback;
    };
    let addrs: Vec<std::net::IpAddr> = dns_lookup::lookup_host(&name)
        .map(|a| a.collect())
        .unwrap_or_default();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .unwrap_or(loopback)
}

fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
}

/// Java's `getCanonicalHostName()` of that address: the name a reverse
/// lookup gives (`localhost` for 127.0.0.1 in a usual /etc/hosts), else
/// the address itself.
fn canonical_name(addr: std::net::IpAddr) -> String {
    dns_lookup::lookup_addr(&addr).unwrap_or_else(|_| addr.to_string())
}

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Interceptor>> {
    let use_ip = props.bool(diags, "useIP", true);
    let addr = local_address();
    let value = if use_ip {
        addr.to_string()
    } else {
        canonical_name(addr)
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
