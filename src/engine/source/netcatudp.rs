//! `netcatudp` (placeholder: not implemented yet).

use super::Source;
use crate::engine::config::{Diags, Props};
use crate::engine::registry::SourceType;

pub const TYPE: SourceType = SourceType {
    name: "netcatudp",
    aliases: &[],
    build,
};

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Source>> {
    props.error(
        diags,
        Some("type"),
        "the netcatudp source is not implemented yet",
    );
    None
}
