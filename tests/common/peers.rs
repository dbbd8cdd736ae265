//! What every real peer of `tests/peers/` shares: the script that fetches
//! and runs them, whether one can run here, and spawning one for the whole
//! test binary.
//!
//! Without Java, a peer's fetched jars or a tool it needs, its tests are
//! skipped with a note saying why, unless `SLUICE_PEERS_REQUIRED=1` (CI
//! sets it): then a missing peer is a failure.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;

/// The script that fetches and runs the peers.
pub fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/peer.sh")
}

/// Whether a peer can run here: Java, its jars fetched into `cache_dir`
/// (e.g. `flume-1.11.0`) and the `tools` it needs on PATH. `None` (and a
/// note on stderr) when it cannot and the peers are not required; a panic
/// when they are.
pub fn available(what: &str, cache_dir: &str, peer: &str, tools: &[&str]) -> Option<()> {
    let cache = std::env::var_os("SLUICE_PEERS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/sluice-peers")
        });
    let cp = cache.join(cache_dir).join("cp.txt");
    let runs = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let why = if !runs("java", "-version") {
        Some(format!(
            "java is not installed (the {what} peer needs Java 17)"
        ))
    } else if !cp.exists() {
        Some(format!(
            "the {what} jars are not fetched ({} is missing): run \
             tests/peers/peer.sh fetch {peer} (needs Maven), or scripts/test.sh",
            cp.display()
        ))
    } else {
        tools
            .iter()
            .find(|t| !runs(t, "-V"))
            .map(|tool| format!("{tool} is not installed (apt-get install {tool})"))
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
                "SKIPPED: the tests against the real {what}: {why}"
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
