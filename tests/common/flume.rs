//! The real Apache Flume 1.11 as a test peer, from the kit in `tests/peers/`
//! (`peer.sh fetch flume` puts its jars in a cache outside the repository).
//!
//! Without Java or the fetched jars the peer tests are skipped with a note
//! saying why, unless `SLUICE_PEERS_REQUIRED=1` (CI sets it): then a
//! missing peer is a failure.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;

/// The script that fetches and runs the peers.
pub fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/peer.sh")
}

/// Whether the Flume peer can run here. `None` (and a note on stderr) when
/// it cannot and the peers are not required; a panic when they are.
pub fn available() -> Option<()> {
    let cache = std::env::var_os("SLUICE_PEERS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/sluice-peers")
        });
    let cp = cache.join("flume-1.11.0/cp.txt");
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let why = if !java {
        Some("java is not installed (the Flume peer needs Java 17)".to_string())
    } else if !cp.exists() {
        Some(format!(
            "the Flume 1.11.0 jars are not fetched ({} is missing): run \
             tests/peers/peer.sh fetch flume (needs Maven), or scripts/test.sh",
            cp.display()
        ))
    } else {
        None
    };
    match why {
        None => Some(()),
        Some(why) if std::env::var("SLUICE_PEERS_REQUIRED").as_deref() == Ok("1") => {
            panic!("SLUICE_PEERS_REQUIRED=1 but {why}")
        }
        Some(why) => {
            // Past the test harness's capture, which would hide a passing
            // test's output: a skip must be seen.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the tests against the real Apache Flume: {why}"
            );
            None
        }
    }
}

/// Spawn `cmd` so that it dies with the test binary (PR_SET_PDEATHSIG), for
/// peers shared by every test of a binary, which no drop would stop.
/// The death signal follows the thread that forked, so one thread that
/// lives as long as the process does every such spawn.
pub fn spawn_for_the_binary(mut cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
    let (reply, answer) = mpsc::channel();
    {
        let mut keeper = KEEPER.lock().unwrap_or_else(|p| p.into_inner());
        let tx = keeper.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The senders live in a static: never reached, and the
                // thread must not end while its children run.
                loop {
                    std::thread::park();
                }
            });
            tx
        });
        // SAFETY: prctl(2) only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        tx.send((cmd, reply)).expect("the keeper thread runs");
    }
    answer.recv().expect("the keeper thread answers")
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
