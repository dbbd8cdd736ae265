//! `[agent:x]`: a Flume agent run by sluice itself (DESIGN.md §1).
//!
//! TODO(agents): this is the hook the pipeline-engine issue fills in. It
//! should read `conf_file`, `agent_name`, `isolation` (inprocess|process)
//! plus every `[program:x]` option (see `program.rs`), and produce a group
//! holding one `ProcessSpec` with a new `ProcessKind::Agent { .. }`. Until
//! then the section is reported and skipped.

use super::diagnostic::Diags;
use super::sources::Located;

/// Report an `[agent:x]` section as not yet supported.
pub fn read_agent(loc: &Located, diags: &mut Diags) {
    diags.warn(
        loc.at(None, None),
        "agent sections arrive with the pipeline engine (section ignored for now)",
    );
}
