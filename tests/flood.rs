//! A flood of connections that never send a byte, on TCP and on the unix
//! socket, with few file descriptors (RLIMIT_NOFILE 128): programs still
//! start (none goes FATAL with EMFILE), `sluice ctl` and the stock
//! supervisorctl still get answers, and the daemon log is not flooded.

mod common;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Daemon, compare, wait_for};

const USER: &str = "admin";
const PASS: &str = "pw";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// A daemon with both transports (TCP with a password) and a program that
/// exits at once and is started again, for ever: it needs descriptors all
/// the time. Its limit of descriptors is 128.
fn start(port: u16) -> Daemon {
    start_with_programs(port, "", |_| {})
}

/// [`start`], with more sections after flappy's (`{dir}` names the temp
/// dir), and `prepare` run on the temp dir before the daemon starts.
fn start_with_programs(port: u16, more: &str, prepare: impl FnOnce(&Path)) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());
    let text = common::base_config_with(dir.path(), "minfds = 64\n")
        + &format!(
            "[inet_http_server]\nport = 127.0.0.1:{port}\nusername = {USER}\npassword = {PASS}\n\n\
             [program:flappy]\ncommand = sh -c 'sleep 0.05; exit 1'\nstartsecs = 0\n\
             autorestart = true\nstartretries = 2\n\n"
        )
        + &more.replace("{dir}", &dir.path().display().to_string());
    std::fs::write(dir.path().join("sluice.conf"), text).unwrap();
    let mut d = Daemon { dir, child: None };
    d.spawn_with(|cmd| {
        // SAFETY: setrlimit in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 128,
                    rlim_max: 128,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    d
}

/// A unix socket connection that does not wait when the backlog is full.
fn unix_connect(path: &Path) -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain socket(2)/connect(2) calls on a zeroed sockaddr_un
    // whose path fits (checked); the fd is owned at once.
    unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= addr.sun_path.len() {
            return None;
        }
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let r = libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        );
        (r == 0).then_some(fd)
    }
}

/// Connections opened as fast as they go (a few hundred held at a time,
/// the oldest dropped), never a byte sent, until `stop`.
fn flood(
    port: u16,
    sock: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut tcp: VecDeque<TcpStream> = VecDeque::new();
        let mut unix: VecDeque<OwnedFd> = VecDeque::new();
        let mut opened = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                tcp.push_back(s);
                opened += 1;
            }
            if let Some(s) = unix_connect(&sock) {
                unix.push_back(s);
                opened += 1;
            }
            if tcp.len() > 400 {
                tcp.pop_front();
            }
            if unix.len() > 400 {
                unix.pop_front();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        opened
    })
}

fn spawns(d: &Daemon) -> usize {
    d.log().matches("spawned: 'flappy'").count()
}

#[test]
fn a_flood_of_idle_connections_starves_nothing() {
    let port = free_port();
    let d = start(port);
    d.wait_state("flappy", "RUNNING");
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = flood(port, d.path("sluice.sock"), stop.clone());
    // Well past what 128 descriptors hold.
    std::thread::sleep(Duration::from_secs(2));

    let url = format!("http://127.0.0.1:{port}");
    let tcp_args = [
        "-s",
        url.as_str(),
        "-u",
        USER,
        "-p",
        PASS,
        "status",
        "flappy",
    ];
    let answers =
        |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).starts_with("flappy ");
    wait_for("sluice ctl over TCP to get an answer", || {
        answers(&d.ctl(&tcp_args))
    });
    wait_for("sluice ctl over the socket to get an answer", || {
        answers(&d.ctl(&["status", "flappy"]))
    });
    wait_for("the stock supervisorctl over TCP to get an answer", || {
        compare::py(&d.conf(), &tcp_args)
            .stdout
            .starts_with("flappy ")
    });
    let before = spawns(&d);
    wait_for("flappy to be started again ten times", || {
        let state = d.state("flappy");
        assert_ne!(state, "FATAL", "flappy gave up:\n{}", d.log());
        spawns(&d) >= before + 10
    });
    stop.store(true, Ordering::Relaxed);
    let opened = flooding.join().unwrap();
    assert!(opened > 1000, "only {opened} connections were opened");

    let log = d.log();
    assert!(!log.contains("Too many open files"), "{log}");
    let complaints = log.matches("control server:").count();
    assert!(
        complaints <= 10,
        "{complaints} lines about the flood:\n{log}"
    );
    assert_ne!(d.state("flappy"), "FATAL");
}

#[test]
fn an_unauthenticated_connection_does_not_keep_its_place() {
    // At the cap, the longest idle connection gives way to a new one: a
    // client that connects and never sends is closed long before any
    // timeout once others come.
    let port = free_port();
    let _d = start(port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let first = TcpStream::connect(addr).unwrap();
    let mut others = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            others.push(s);
        }
    }
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut &first, &mut buf);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the idle connection is closed: {read:?}"
    );
    drop(others);
}

/// Set the daemon's RLIMIT_NOFILE while it runs.
fn set_nofile(pid: i32, n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: 128,
    };
    // SAFETY: prlimit on the daemon this test started; no old value wanted.
    let r = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn accepts_that_fail_back_off_and_are_logged_once() {
    // The daemon out of descriptors (its limit lowered below what it holds):
    // every accept fails. It must neither spin nor log each failure, and
    // serve again once descriptors are back.
    let port = free_port();
    let d = start(port);
    d.wait_state("flappy", "RUNNING");
    let open = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .count() as u64;
    set_nofile(d.pid(), open.saturating_sub(8));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut pending = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            pending.push(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let failures = d.log().matches("accept failed").count();
    assert!(
        (1..=2).contains(&failures),
        "{failures} lines about failed accepts in 3 s:\n{}",
        d.log()
    );
    set_nofile(d.pid(), 128);
    drop(pending);
    let url = format!("http://127.0.0.1:{port}");
    wait_for("an answer once descriptors are back", || {
        String::from_utf8_lossy(
            &d.ctl(&[
                "-s",
                url.as_str(),
                "-u",
                USER,
                "-p",
                PASS,
                "status",
                "flappy",
            ])
            .stdout,
        )
        .starts_with("flappy ")
    });
}

/// [`start`] with an in-process agent: a netcat source on `netcat`, a
/// memory channel and a logger sink, whose output goes to `flow.log`.
fn start_with_agent(port: u16, netcat: u16) -> Daemon {
    start_with_programs(
        port,
        "[agent:flow]\nconf_file = {dir}/flow.properties\nagent_name = a1\nstartsecs = 0\n\
         stdout_logfile = {dir}/flow.log\nredirect_stderr = true\n",
        |dir| {
            std::fs::write(
                dir.join("flow.properties"),
                format!(
                    "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
                     a1.sources.r1.type = netcat\na1.sources.r1.bind = 127.0.0.1\n\
                     a1.sources.r1.port = {netcat}\na1.sources.r1.channels = c1\n\
                     a1.channels.c1.type = memory\n\
                     a1.sinks.k1.type = logger\na1.sinks.k1.channel = c1\n"
                ),
            )
            .unwrap();
        },
    )
}

/// `sluice ctl status NAME` answered within a minute (a daemon out of
/// descriptors may never answer: that must fail, not hang the test).
fn status_within(d: &Daemon, name: &str) -> String {
    let mut cmd = std::process::Command::new(common::sluice());
    cmd.args(["ctl", "-c"]).arg(d.conf()).args(["status", name]);
    let out = common::output_within(cmd, Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line sent to the netcat source on `port`: its reply, if any.
fn send_line(port: u16, line: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut ok = [0u8; 3];
    s.read_exact(&mut ok).ok()?;
    Some(String::from_utf8_lossy(&ok).into_owned())
}

#[test]
fn a_flood_of_an_in_process_netcat_source_starves_no_program() {
    // The agent's connections live in the daemon's own descriptor table:
    // held open by a client that never sends, they must not take the
    // descriptors that spawning programs and the control server need.
    let port = free_port();
    let netcat = free_port();
    let d = start_with_agent(port, netcat);
    d.wait_state("flow", "RUNNING");
    d.wait_state("flappy", "RUNNING");
    wait_for("the netcat source to answer", || {
        send_line(netcat, "before").as_deref() == Some("OK\n")
    });
    let addr: SocketAddr = format!("127.0.0.1:{netcat}").parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            held.push(s);
        }
    }
    // Well past what 128 descriptors hold.
    assert!(held.len() > 200, "only {} connections", held.len());
    assert!(
        status_within(&d, "flappy").starts_with("flappy "),
        "ctl answers during the flood:\n{}",
        d.log()
    );
    // A client that sends its line at once is served during the flood.
    wait_for("a line to get OK during the flood", || {
        send_line(netcat, "during").as_deref() == Some("OK\n")
    });
    let before = spawns(&d);
    wait_for("flappy to be started again ten times", || {
        let state = d.state("flappy");
        assert_ne!(state, "FATAL", "flappy gave up:\n{}", d.log());
        spawns(&d) >= before + 10
    });
    assert_eq!(d.state("flow"), "RUNNING");
    let flow = std::fs::read_to_string(d.path("flow.log")).unwrap_or_default();
    let log = d.log() + &flow;
    assert!(!log.contains("Too many open files"), "{log}");
    let complaints = flow.matches("connection").count();
    assert!(
        complaints <= 10,
        "{complaints} lines about the flood:\n{flow}"
    );
    drop(held);
    wait_for("a line to get OK after the flood", || {
        send_line(netcat, "after").as_deref() == Some("OK\n")
    });
    wait_for("the lines in the agent's log", || {
        let flow = std::fs::read_to_string(d.path("flow.log")).unwrap_or_default();
        ["before", "during", "after"]
            .iter()
            .all(|l| flow.contains(l))
    });
}
