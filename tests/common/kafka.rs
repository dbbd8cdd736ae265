//! The real Apache Kafka 4.1 as a test peer: one single-node KRaft broker
//! per test binary (`tests/peers/peer.sh run kafka`), on free loopback
//! ports, checked with `kcat` (Debian) and Kafka's own tools.
//!
//! Without Java, the fetched jars or kcat its tests are skipped with a
//! note saying why, unless `SLUICE_PEERS_REQUIRED=1` (see `peers`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::peers::{self, peer_script, spawn_for_the_binary};

/// A broker's start takes a JVM and a KRaft election: seconds when quiet,
/// far more with both cores busy.
const START_DEADLINE: Duration = Duration::from_secs(120);

/// Whether the Kafka peer can run here (see [`peers::available`]).
pub fn available() -> Option<()> {
    peers::available("Apache Kafka", "kafka-4.1.1", "kafka", &["kcat"])
}

/// The broker the test binary shares; started by the first caller.
pub struct Broker {
    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub bootstrap: String,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

/// The shared broker, or `None` when the peer cannot run here.
pub fn broker() -> Option<&'static Broker> {
    static BROKER: OnceLock<Option<Broker>> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            available()?;
            let dir = tempfile::Builder::new()
                .prefix("sluice-kafka.")
                .tempdir()
                .expect("temp dir")
                .keep();
            let port = free_port();
            let broker = Broker {
                bootstrap: format!("127.0.0.1:{port}"),
                port,
                controller_port: free_port(),
                log: dir.join("broker.log"),
                dir,
                child: Mutex::new(None),
            };
            broker.start();
            Some(broker)
        })
        .as_ref()
}

/// A port nothing listens on now (the broker binds it soon after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Broker {
    /// Start the broker (again, after [`Broker::stop`]: same ports, same
    /// data) and wait until it answers metadata requests.
    pub fn start(&self) {
        let mut cmd = Command::new(peer_script());
        cmd.args(["run", "kafka"])
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(self.controller_port.to_string())
            .arg(&self.log)
            .stdin(Stdio::null());
        let child = spawn_for_the_binary(cmd).expect("start Kafka (tests/peers/peer.sh run kafka)");
        *self.child.lock().unwrap() = Some(child);
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.kcat(&["-L", "-m", "5"], None).status.success()
            {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "the Kafka broker exited ({status}); its log:\n{}",
                    self.log_tail()
                );
            }
            if start.elapsed() > START_DEADLINE {
                panic!(
                    "the Kafka broker did not start; its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kill the broker (SIGKILL: what a crash does) and wait for its end.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The port is free again once the process is gone.
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                start.elapsed() < START_DEADLINE,
                "the broker's port stays open"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap();
        child.as_mut()?.try_wait().ok().flatten()
    }

    /// The end of the broker's log, for a failing test.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Run kcat against this broker with `args`, `input` on its stdin.
    pub fn kcat(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        use std::io::Write as _;
        let mut child = Command::new("kcat")
            .arg("-b")
            .arg(&self.bootstrap)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kcat");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("kcat's stdin");
            stdin.write_all(input).expect("write to kcat");
        }
        child.wait_with_output().expect("kcat's output")
    }

    /// Every record of `topic` from the start, as kcat formats them with
    /// `format` (e.g. `%p %k %s\n`), waiting until there are `count`.
    pub fn records(&self, topic: &str, format: &str, count: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let out = self.kcat(&["-C", "-t", topic, "-e", "-q", "-f", format], None);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let records: Vec<String> = text.lines().map(str::to_string).collect();
            if records.len() >= count {
                return records;
            }
            if start.elapsed() > super::DEADLINE {
                panic!(
                    "{topic} holds {} records, not {count}; kcat said: {}",
                    records.len(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One of Kafka's own command-line tools (a class of kafka-tools),
    /// against this broker; panics when it fails.
    pub fn tool(&self, class: &str, args: &[&str]) -> String {
        let out = Command::new(peer_script())
            .args(["tool", "kafka", class])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run a Kafka tool");
        assert!(
            out.status.success(),
            "{class} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Create `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        self.tool(
            "org.apache.kafka.tools.TopicCommand",
            &[
                "--bootstrap-server",
                &self.bootstrap,
                "--create",
                "--topic",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--replication-factor",
                "1",
            ],
        );
    }
}
