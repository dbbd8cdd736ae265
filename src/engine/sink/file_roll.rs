//! `file_roll` (placeholder: not implemented yet).

use super::Sink;
use crate::engine::config::{Diags, Props};
use crate::engine::registry::SinkType;

pub const TYPE: SinkType = SinkType {
    name: "file_roll",
    aliases: &[],
    build,
};

fn build(props: &Props, diags: &mut Diags) -> Option<Box<dyn Sink>> {
    props.error(
        diags,
        Some("type"),
        "the file_roll sink is not implemented yet",
    );
    None
}
