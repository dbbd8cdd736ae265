//! The real Apache Flume 1.11 as a test peer, from the kit in `tests/peers/`
//! (`peer.sh fetch flume` puts its jars in a cache outside the repository).
//!
//! Without Java or the fetched jars its tests are skipped with a note
//! saying why, unless `SLUICE_PEERS_REQUIRED=1` (see `peers`).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::peers::{self, peer_script, spawn_for_the_binary};

/// Whether the Flume peer can run here. `None` (and a note on stderr) when
/// it cannot and the peers are not required; a panic when they are.
pub fn available() -> Option<()> {
    peers::available("Apache Flume", "flume-1.11.0", "flume", &[])
}

/// Start agent `name` of `file` under the real Flume, its output in `log`;
/// it lives as long as the test binary.
pub fn start_agent(file: &Path, name: &str, log: &Path) -> Child {
    let mut cmd = Command::new(peer_script());
    cmd.args(["run", "flume"])
        .arg(file)
        .arg(name)
        .arg(log)
        .stdin(Stdio::null());
    spawn_for_the_binary(cmd).expect("start Flume (tests/peers/peer.sh run flume)")
}
