//! The differential suite: the same agent file under the real Apache Flume
//! 1.11 and under sluice (`sluice agent`, and in-process in `sluice
//! daemon`), the same input into each, and what comes out compared.
//!
//! Every case is a pipeline of its own (components named after the case)
//! in ONE agent file, so each runtime starts once per test binary: one JVM,
//! one `sluice agent`, one daemon. Each runtime gets its own ports and its
//! own directory (`target/tmp/flume-diff/<runtime>/<case>/`, kept after the
//! run for a failing case). Every source gets one more interceptor, a
//! static `diffcase=<case>` header, so the events a logger sink writes into
//! the shared log can be told apart; it is removed before comparing.
//!
//! What is normalised, because Flume itself is not deterministic there:
//! - the order of headers (Flume prints a Java HashMap, whose order depends
//!   on hashing and on the map's table size): the `k=v` pairs are sorted;
//! - a `timestamp` header (the clock): 13 digits within a day of now become
//!   `<now>`;
//! - file_roll file names: their millisecond (and ROLLTIME date) digits,
//!   runs of 10 or more, become `<N>`;
//! - a remote address header's port (a client's ephemeral port).
//!
//! Cases where sluice differs on purpose are asserted as differences
//! (`intended_*` tests at the end) and listed in the README.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{flume, peers};

/// How long a runtime may take to show a case's output (a JVM on a loaded
/// machine, a memory channel's 3 s keep-alive on a full channel).
const OUTPUT_DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

/// Input into a runtime, in order.
enum Feed {
    /// Bytes to the TCP port named by the placeholder, then the replies
    /// read: this many lines (0: none expected, the connection is closed).
    Tcp(&'static str, &'static [u8], usize),
    /// Lines to the TCP port, one at a time, each waiting for its reply,
    /// as an interactive client does (stops at a missing reply).
    Lines(&'static str, &'static [&'static [u8]]),
    /// Datagrams to the UDP port named by the placeholder.
    Udp(&'static str, &'static [&'static [u8]]),
    /// Bytes appended to a file of the case's directory.
    Append(&'static str, &'static [u8]),
}

/// When a runtime's output for a case is complete.
#[derive(Clone, Copy)]
enum Done {
    /// This many logger-sink events of the case.
    Events(usize),
    /// This many newlines in the case's file_roll directories.
    Lines(usize),
    /// This many bytes in the case's file_roll directories.
    Bytes(usize),
    /// The replies alone (nothing else is expected out).
    Replies,
}

struct Case {
    /// The case's part of agent `a1`: `{c}` is the case's component
    /// prefix, `{port}`/`{port2}`/`{port3}` its ports, `{dir}` its
    /// directory. `a1.sources`, `a1.channels`, `a1.sinks` are merged.
    conf: String,
    /// Files written into the case's directory before the agents start.
    files: Vec<(&'static str, &'static [u8])>,
    feed: Vec<Feed>,
    done: Done,
    /// file_roll directories (under the case's directory) to compare.
    rolls: Vec<&'static str>,
    /// Compare only the first events of an endless output.
    endless: bool,
    /// When Flume's output is complete, where it differs (on purpose)
    /// from `done`.
    flume_done: Option<Done>,
    /// How long to wait for each reply.
    reply_wait: Duration,
    /// Where sluice differs on purpose: why, and the check of both
    /// outcomes (Flume's, sluice's) in place of equality.
    intended: Option<(&'static str, Check)>,
}

type Check = fn(&Outcome, &Outcome) -> Result<(), String>;

impl Case {
    fn new(conf: impl Into<String>, done: Done) -> Case {
        Case {
            conf: conf.into(),
            files: vec![],
            feed: vec![],
            done,
            rolls: vec![],
            endless: false,
            flume_done: None,
            reply_wait: OUTPUT_DEADLINE,
            intended: None,
        }
    }
    fn intended(mut self, why: &'static str, check: Check) -> Case {
        self.intended = Some((why, check));
        self
    }
    fn flume_done(mut self, done: Done) -> Case {
        self.flume_done = Some(done);
        self
    }
    fn reply_wait(mut self, wait: Duration) -> Case {
        self.reply_wait = wait;
        self
    }
    fn tcp(mut self, port: &'static str, send: &'static [u8], replies: usize) -> Case {
        self.feed.push(Feed::Tcp(port, send, replies));
        self
    }
    fn lines(mut self, port: &'static str, lines: &'static [&'static [u8]]) -> Case {
        self.feed.push(Feed::Lines(port, lines));
        self
    }
    fn udp(mut self, port: &'static str, datagrams: &'static [&'static [u8]]) -> Case {
        self.feed.push(Feed::Udp(port, datagrams));
        self
    }
    fn append(mut self, file: &'static str, data: &'static [u8]) -> Case {
        self.feed.push(Feed::Append(file, data));
        self
    }
    fn file(mut self, name: &'static str, data: &'static [u8]) -> Case {
        self.files.push((name, data));
        self
    }
    fn rolls(mut self, dirs: &[&'static str]) -> Case {
        self.rolls = dirs.to_vec();
        self
    }
    fn endless(mut self) -> Case {
        self.endless = true;
        self
    }
}

/// One source `{c}r`, channel `{c}c` and sink `{c}k`, each given as
/// `key = value` lines without the component prefix.
fn pipe(source: &str, channel: &str, sink: &str) -> String {
    let mut out = String::from("a1.sources = {c}r\na1.channels = {c}c\na1.sinks = {c}k\n");
    for (prefix, props) in [
        ("a1.sources.{c}r.", source),
        ("a1.channels.{c}c.", channel),
        ("a1.sinks.{c}k.", sink),
    ] {
        for line in props.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push_str(prefix);
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("a1.sources.{c}r.channels = {c}c\na1.sinks.{c}k.channel = {c}c\n");
    out
}

const NETCAT: &str = "type = netcat\nbind = 127.0.0.1\nport = {port}";
const MEMORY: &str = "type = memory";
const LOGGER: &str = "type = logger";

/// A file_roll sink writing one file (no roll) into `{dir}/out`.
const ROLL: &str = "type = file_roll\nsink.directory = {dir}/out\nsink.rollInterval = 0";

fn netcat_logger(source_extra: &str, channel: &str, sink: &str) -> String {
    pipe(&format!("{NETCAT}\n{source_extra}"), channel, sink)
}

/// A netcat source with the given interceptors (`interceptors = ...` and
/// their properties, without the source prefix), into memory and logger.
fn intercepted(interceptors: &str) -> String {
    netcat_logger(interceptors, MEMORY, LOGGER)
}

/// Three netcat sources `{c}r1..3` with static `state` CA, NY and TX, each
/// with the same multiplexing selector (`selector` lines, without the
/// source prefix) over channels `{c}c1..3`, each drained by a file_roll
/// sink into `{dir}/o1..3`.
fn multiplexed(selector: &str) -> String {
    let mut out = String::from(
        "a1.sources = {c}r1 {c}r2 {c}r3\n\
         a1.channels = {c}c1 {c}c2 {c}c3\n\
         a1.sinks = {c}k1 {c}k2 {c}k3\n",
    );
    for (i, (state, port)) in [("CA", "{port}"), ("NY", "{port2}"), ("TX", "{port3}")]
        .into_iter()
        .enumerate()
    {
        let n = i + 1;
        out += &format!(
            "a1.sources.{{c}}r{n}.type = netcat\n\
             a1.sources.{{c}}r{n}.bind = 127.0.0.1\n\
             a1.sources.{{c}}r{n}.port = {port}\n\
             a1.sources.{{c}}r{n}.channels = {{c}}c1 {{c}}c2 {{c}}c3\n\
             a1.sources.{{c}}r{n}.interceptors = st\n\
             a1.sources.{{c}}r{n}.interceptors.st.type = static\n\
             a1.sources.{{c}}r{n}.interceptors.st.key = state\n\
             a1.sources.{{c}}r{n}.interceptors.st.value = {state}\n\
             a1.channels.{{c}}c{n}.type = memory\n\
             a1.sinks.{{c}}k{n}.type = file_roll\n\
             a1.sinks.{{c}}k{n}.sink.directory = {{dir}}/o{n}\n\
             a1.sinks.{{c}}k{n}.sink.rollInterval = 0\n\
             a1.sinks.{{c}}k{n}.sink.serializer = HEADER_AND_TEXT\n\
             a1.sinks.{{c}}k{n}.channel = {{c}}c{n}\n"
        );
        for line in selector.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out += &format!("a1.sources.{{c}}r{n}.{line}\n");
        }
    }
    out
}

/// The multiplexed sources' input: one line into each.
fn states(case: Case) -> Case {
    case.tcp("port", b"to CA\n", 1)
        .tcp("port2", b"to NY\n", 1)
        .tcp("port3", b"to TX\n", 1)
        .rolls(&["o1", "o2", "o3"])
}

/// A netcat source `{c}r` with the given `selector` lines (without the
/// source prefix) over channels `{c}c1` and `{c}c2`, each drained by a
/// file_roll sink into `{dir}/o1` and `{dir}/o2`.
fn replicated(selector: &str) -> String {
    let mut out = String::from(
        "a1.sources = {c}r\na1.channels = {c}c1 {c}c2\na1.sinks = {c}k1 {c}k2\n\
         a1.sources.{c}r.type = netcat\na1.sources.{c}r.bind = 127.0.0.1\n\
         a1.sources.{c}r.port = {port}\na1.sources.{c}r.channels = {c}c1 {c}c2\n",
    );
    for line in selector.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out += &format!("a1.sources.{{c}}r.{line}\n");
    }
    for n in 1..=2 {
        out += &format!(
            "a1.channels.{{c}}c{n}.type = memory\n\
             a1.sinks.{{c}}k{n}.type = file_roll\n\
             a1.sinks.{{c}}k{n}.sink.directory = {{dir}}/o{n}\n\
             a1.sinks.{{c}}k{n}.sink.rollInterval = 0\n\
             a1.sinks.{{c}}k{n}.channel = {{c}}c{n}\n"
        );
    }
    out
}

/// A source without a sink: its channel fills (capacity 2).
fn no_sink(source: &str, channel: &str) -> String {
    let mut out = String::from("a1.sources = {c}r\na1.channels = {c}c\n");
    for line in source.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out += &format!("a1.sources.{{c}}r.{line}\n");
    }
    for line in channel.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out += &format!("a1.channels.{{c}}c.{line}\n");
    }
    out + "a1.sources.{c}r.channels = {c}c\n"
}

macro_rules! cases {
    ($($name:ident => $case:expr;)*) => {
        fn all_cases() -> Vec<(&'static str, Case)> {
            vec![$((stringify!($name), $case)),*]
        }
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

cases! {
    // --- netcat -> memory -> logger: the logger sink's lines -----------
    netcat_memory_logger => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(2))
        .tcp("port", b"hello flume\nsecond line\n", 2);
    logger_body_cut_at_16_bytes => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"a body longer than sixteen bytes\n", 1);
    logger_max_bytes_4 => Case::new(netcat_logger("", MEMORY, "type = logger\nmaxBytesToLog = 4"), Done::Events(1))
        .tcp("port", b"abcdefgh\n", 1)
        .intended(MAX_BYTES, |f, s| shown(f, s, "abcdefgh }", "61 62 63 64 ", "abcd }"));
    logger_max_bytes_40_dumps_three_rows => Case::new(netcat_logger("", MEMORY, "type = logger\nmaxBytesToLog = 40"), Done::Events(1))
        .tcp("port", b"0123456789abcdef0123456789ABCDEF0123456789\n", 1)
        .intended(MAX_BYTES, |f, s| shown(f, s, "0123456789abcdef }", "\n00000020 30 31 32 33 34 35 36 37 ", "01234567 }"));
    logger_max_bytes_0 => Case::new(netcat_logger("", MEMORY, "type = logger\nmaxBytesToLog = 0"), Done::Events(1))
        .tcp("port", b"nothing shown\n", 1)
        .intended(MAX_BYTES, |f, s| shown(f, s, "nothing shown }", "{ headers:{} body: }", "body: }"));
    logger_non_ascii_bytes => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"caf\xc3\xa9 \x01\x7f\ttab\n", 1);
    logger_full_16_bytes => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"exactly16bytes!!\n", 1);

    // --- netcat: lines, replies, limits ---------------------------------
    netcat_crlf_lines => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(2))
        .tcp("port", b"one\r\ntwo\r\n", 2);
    netcat_empty_lines => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(3))
        .tcp("port", b"\n\nthird\n", 3);
    netcat_line_without_newline_at_close => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"whole\npartial", 1);
    netcat_max_line_length => Case::new(netcat_logger("max-line-length = 10", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"short\nthis line is far too long\nok\n", 3);
    netcat_max_line_length_counts_characters => Case::new(netcat_logger("max-line-length = 6", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n", 1);
    netcat_line_of_exactly_max_length => Case::new(netcat_logger("max-line-length = 6", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"12345\n123456\n", 2);
    netcat_invalid_utf8 => Case::new(netcat_logger("", MEMORY, LOGGER), Done::Events(1))
        .tcp("port", b"bad \xff\xfe end\n", 1)
        .flume_done(Done::Replies)
        .intended("Flume closes a connection that sends bytes that are not UTF-8, without a reply, and \
                   drops the line; sluice's netcat passes the bytes through", |f, s| {
            expect(f.replies == ["<closed>"] && f.events.is_empty(), "Flume closes without an event")?;
            expect(s.replies == ["OK"] && s.events.len() == 1 && s.events[0].contains("62 61 64 20 FF FE 20 65"), "sluice delivers the bytes")
        });
    netcat_no_ack => Case::new(netcat_logger("ack-every-event = false", MEMORY, LOGGER), Done::Events(3))
        .tcp("port", b"quiet 1\nquiet 2\nquiet 3\n", 0);
    netcat_fifty_lines_in_one_write => Case::new(netcat_logger("", MEMORY, ROLL), Done::Lines(50))
        .tcp("port", FIFTY_LINES, 50)
        .rolls(&["out"]);
    netcat_two_connections => Case::new(netcat_logger("", MEMORY, ROLL), Done::Lines(4))
        .tcp("port", b"first a\nfirst b\n", 2)
        .tcp("port", b"second a\nsecond b\n", 2)
        .rolls(&["out"]);

    // --- netcatudp --------------------------------------------------------
    netcatudp => Case::new(pipe("type = netcatudp\nbind = 127.0.0.1\nport = {port}", MEMORY, LOGGER), Done::Events(2))
        .udp("port", &[b"udp one", b"udp two\n"])
        .intended(UDP_HEADER, |f, s| {
            let bodies = |o: &Outcome| o.events.iter().map(|e| e.split(" body:").nth(1).unwrap_or("").to_string()).collect::<Vec<_>>();
            expect(f.events.iter().all(|e| e.contains("headers:{null=/127.0.0.1:<port>}")), "Flume: a `null` header")?;
            expect(s.events.iter().all(|e| e.contains("headers:{}")), "sluice: no header")?;
            expect(bodies(f) == bodies(s), "the same bodies")
        });
    netcatudp_remote_address_header => Case::new(pipe("type = netcatudp\nbind = 127.0.0.1\nport = {port}\nremoteAddressHeader = from", MEMORY, LOGGER), Done::Events(1))
        .udp("port", &[b"who sent me"])
        .intended(UDP_HEADER, |f, s| {
            expect(f.events.len() == 1 && f.events[0].contains("headers:{null=/127.0.0.1:<port>}"), "Flume: a `null` header")?;
            expect(s.events.len() == 1 && s.events[0].contains("headers:{from=/127.0.0.1:<port>}"), "sluice: the `from` header")?;
            expect(f.events[0].split(" body:").nth(1) == s.events[0].split(" body:").nth(1), "the same body")
        });

    // --- interceptors -----------------------------------------------------
    timestamp_interceptor => Case::new(intercepted("interceptors = t\ninterceptors.t.type = timestamp"), Done::Events(1))
        .tcp("port", b"stamped\n", 1);
    timestamp_header_name => Case::new(intercepted("interceptors = t\ninterceptors.t.type = timestamp\ninterceptors.t.headerName = timestamp"), Done::Events(1))
        .tcp("port", b"named\n", 1);
    timestamp_preserve_existing => Case::new(intercepted(
        "interceptors = s t\n\
         interceptors.s.type = static\ninterceptors.s.key = timestamp\ninterceptors.s.value = 42\n\
         interceptors.t.type = timestamp\ninterceptors.t.preserveExisting = true"), Done::Events(1))
        .tcp("port", b"kept\n", 1);
    timestamp_overwrites_by_default => Case::new(intercepted(
        "interceptors = s t\n\
         interceptors.s.type = static\ninterceptors.s.key = timestamp\ninterceptors.s.value = 42\n\
         interceptors.t.type = timestamp"), Done::Events(1))
        .tcp("port", b"replaced\n", 1);
    timestamp_class_name => Case::new(intercepted("interceptors = t\ninterceptors.t.type = org.apache.flume.interceptor.TimestampInterceptor$Builder"), Done::Events(1))
        .tcp("port", b"by class\n", 1);
    host_interceptor_ip => Case::new(intercepted("interceptors = h\ninterceptors.h.type = host"), Done::Events(1))
        .tcp("port", b"from where\n", 1);
    host_interceptor_hostname => Case::new(intercepted("interceptors = h\ninterceptors.h.type = host\ninterceptors.h.useIP = false\ninterceptors.h.hostHeader = hostname"), Done::Events(1))
        .tcp("port", b"by name\n", 1);
    host_preserve_existing => Case::new(intercepted(
        "interceptors = s h\n\
         interceptors.s.type = static\ninterceptors.s.key = host\ninterceptors.s.value = elsewhere\n\
         interceptors.h.type = host\ninterceptors.h.preserveExisting = true"), Done::Events(1))
        .tcp("port", b"kept host\n", 1);
    static_interceptor => Case::new(intercepted("interceptors = s\ninterceptors.s.type = static\ninterceptors.s.key = datacenter\ninterceptors.s.value = NEW_YORK"), Done::Events(1))
        .tcp("port", b"static\n", 1);
    static_defaults => Case::new(intercepted("interceptors = s\ninterceptors.s.type = static"), Done::Events(1))
        .tcp("port", b"defaults\n", 1);
    static_preserve_existing_false => Case::new(intercepted(
        "interceptors = a b\n\
         interceptors.a.type = static\ninterceptors.a.key = k\ninterceptors.a.value = first\n\
         interceptors.b.type = static\ninterceptors.b.key = k\ninterceptors.b.value = second\ninterceptors.b.preserveExisting = false"), Done::Events(1))
        .tcp("port", b"override\n", 1);
    static_preserve_existing_default => Case::new(intercepted(
        "interceptors = a b\n\
         interceptors.a.type = static\ninterceptors.a.key = k\ninterceptors.a.value = first\n\
         interceptors.b.type = static\ninterceptors.b.key = k\ninterceptors.b.value = second"), Done::Events(1))
        .tcp("port", b"kept first\n", 1);
    interceptor_chain => Case::new(intercepted(
        "interceptors = a h t\n\
         interceptors.a.type = static\ninterceptors.a.key = a\ninterceptors.a.value = 1\n\
         interceptors.h.type = host\n\
         interceptors.t.type = timestamp"), Done::Events(2))
        .tcp("port", b"chained 1\nchained 2\n", 2);

    // --- channels ---------------------------------------------------------
    file_channel => Case::new(netcat_logger("", "type = file\ncheckpointDir = {dir}/ckpt\ndataDirs = {dir}/data", LOGGER), Done::Events(3))
        .tcp("port", b"durable 1\ndurable 2\ndurable 3\n", 3);
    file_channel_two_data_dirs => Case::new(netcat_logger("", "type = file\ncheckpointDir = {dir}/ckpt\ndataDirs = {dir}/d1,{dir}/d2", ROLL), Done::Lines(50))
        .tcp("port", FIFTY_LINES, 50)
        .rolls(&["out"]);
    spillable_channel => Case::new(netcat_logger("", "type = spillablememory\nmemoryCapacity = 10\ncheckpointDir = {dir}/ckpt\ndataDirs = {dir}/data", LOGGER), Done::Events(2))
        .tcp("port", b"spill 1\nspill 2\n", 2);
    spillable_overflow_only => Case::new(netcat_logger("", "type = spillablememory\nmemoryCapacity = 0\ncheckpointDir = {dir}/ckpt\ndataDirs = {dir}/data", ROLL), Done::Lines(50))
        .tcp("port", FIFTY_LINES, 50)
        .rolls(&["out"]);
    // keep-alive 10: Flume's sink may be in its backoff (up to 5 s) while
    // the source waits for room; past keep-alive Flume would fail the line.
    memory_small_capacity_drains => Case::new(netcat_logger("", "type = memory\ncapacity = 5\ntransactionCapacity = 5\nkeep-alive = 10", "type = file_roll\nsink.directory = {dir}/out\nsink.rollInterval = 0\nsink.batchSize = 5"), Done::Lines(50))
        .tcp("port", FIFTY_LINES, 50)
        .rolls(&["out"]);
    memory_byte_capacity_under_one_slot_is_no_limit => Case::new(netcat_logger("", "type = memory\nbyteCapacity = 100\nbyteCapacityBufferPercentage = 20", LOGGER), Done::Events(3))
        .tcp("port", b"small\na line of more than eighty bytes, which is what a byteCapacity of 100 less 20 percent holds\nsmall again\n", 3);
    // 1000 bytes less 20%: 8 slots of 100 bytes. 801 bytes take 9 slots and
    // never fit; 800 fit an empty channel (a line after them would wait
    // for Flume's sink, which may be in its backoff for up to 5 s).
    memory_byte_capacity_in_slots => Case::new(netcat_logger("max-line-length = 2048", "type = memory\nbyteCapacity = 1000", ROLL), Done::Lines(1))
        .tcp("port", leak(format!("{}\n{}\n", "9".repeat(801), "8".repeat(800))), 2)
        .rolls(&["out"])
        .intended("an event a channel can never hold is refused at once, with sluice's reason; Flume \
                   waits keep-alive and answers its commit error", |f, s| {
            let failed = |r: &[String]| r.iter().map(|l| if l.starts_with("FAILED: ") { "FAILED".to_string() } else { l.clone() }).collect::<Vec<_>>();
            expect(failed(&f.replies) == ["FAILED", "OK"], "Flume fails the first line only")?;
            expect(failed(&s.replies) == failed(&f.replies), "the same replies")?;
            expect(s.files == f.files, "the same events")
        });

    memory_full_channel => Case::new(no_sink(NETCAT, "type = memory\ncapacity = 2\ntransactionCapacity = 2\nkeep-alive = 1"), Done::Replies)
        .lines("port", &[b"fits 1\n", b"fits 2\n", b"does not fit\n", b"nor this\n"])
        .reply_wait(Duration::from_secs(8))
        .intended(FULL, waits_when_full);
    file_full_channel => Case::new(no_sink(NETCAT, "type = file\ncapacity = 2\ntransactionCapacity = 2\nkeep-alive = 1\ncheckpointDir = {dir}/ckpt\ndataDirs = {dir}/data"), Done::Replies)
        .lines("port", &[b"fits 1\n", b"fits 2\n", b"does not fit\n"])
        .reply_wait(Duration::from_secs(8))
        .intended(FULL, waits_when_full);

    // --- selectors --------------------------------------------------------
    replicating_two_channels => Case::new(replicated("selector.type = replicating"), Done::Lines(6))
        .tcp("port", b"copy 1\ncopy 2\ncopy 3\n", 3)
        .rolls(&["o1", "o2"]);
    replicating_is_the_default_selector => Case::new(replicated(""), Done::Lines(4))
        .tcp("port", b"both 1\nboth 2\n", 2)
        .rolls(&["o1", "o2"]);
    replicating_optional_full_channel_is_ignored => Case::new(
        "a1.sources = {c}r\na1.channels = {c}c1 {c}c2\na1.sinks = {c}k1\n\
         a1.sources.{c}r.type = netcat\na1.sources.{c}r.bind = 127.0.0.1\na1.sources.{c}r.port = {port}\n\
         a1.sources.{c}r.channels = {c}c1 {c}c2\na1.sources.{c}r.selector.type = replicating\n\
         a1.sources.{c}r.selector.optional = {c}c2\n\
         a1.channels.{c}c1.type = memory\n\
         a1.channels.{c}c2.type = memory\na1.channels.{c}c2.capacity = 1\na1.channels.{c}c2.transactionCapacity = 1\na1.channels.{c}c2.keep-alive = 0\n\
         a1.sinks.{c}k1.type = file_roll\na1.sinks.{c}k1.sink.directory = {dir}/o1\na1.sinks.{c}k1.sink.rollInterval = 0\na1.sinks.{c}k1.channel = {c}c1\n",
        Done::Lines(3))
        .tcp("port", b"opt 1\nopt 2\nopt 3\n", 3)
        .rolls(&["o1"]);
    multiplexing_mapping_and_default => states(Case::new(multiplexed(
        "selector.type = multiplexing\nselector.header = state\n\
         selector.mapping.CA = {c}c1\nselector.mapping.NY = {c}c2\nselector.default = {c}c3"), Done::Lines(3)));
    multiplexing_without_default_drops => states(Case::new(multiplexed(
        "selector.type = multiplexing\nselector.header = state\n\
         selector.mapping.CA = {c}c1\nselector.mapping.NY = {c}c2"), Done::Lines(2)));
    multiplexing_mapping_to_two_channels => states(Case::new(multiplexed(
        "selector.type = multiplexing\nselector.header = state\n\
         selector.mapping.CA = {c}c1 {c}c2\nselector.mapping.NY = {c}c2\nselector.default = {c}c3"), Done::Lines(4)));
    multiplexing_optional_channels => states(Case::new(multiplexed(
        "selector.type = multiplexing\nselector.header = state\n\
         selector.mapping.CA = {c}c1\nselector.optional.CA = {c}c3\nselector.optional.NY = {c}c2\nselector.default = {c}c3"), Done::Lines(5)));
    multiplexing_on_a_missing_header_uses_default => states(Case::new(multiplexed(
        "selector.type = multiplexing\nselector.header = nosuchheader\n\
         selector.mapping.CA = {c}c1\nselector.default = {c}c2"), Done::Lines(3)));

    // --- file_roll ---------------------------------------------------------
    file_roll_text => Case::new(netcat_logger("", MEMORY, ROLL), Done::Lines(2))
        .tcp("port", b"rolled 1\nrolled 2\n", 2)
        .rolls(&["out"]);
    file_roll_header_and_text => Case::new(netcat_logger(
        "interceptors = s\ninterceptors.s.type = static\ninterceptors.s.key = k\ninterceptors.s.value = v",
        MEMORY, &format!("{ROLL}\nsink.serializer = HEADER_AND_TEXT")), Done::Lines(2))
        .tcp("port", b"with headers 1\nwith headers 2\n", 2)
        .rolls(&["out"]);
    file_roll_without_newline => Case::new(netcat_logger("", MEMORY, &format!("{ROLL}\nsink.serializer.appendNewline = false")), Done::Bytes(10))
        .tcp("port", b"joined\nup\nok\n", 3)
        .rolls(&["out"]);
    file_roll_prefix_and_extension => Case::new(netcat_logger("", MEMORY, &format!("{ROLL}\nsink.pathManager.prefix = pre-\nsink.pathManager.extension = log")), Done::Lines(1))
        .tcp("port", b"named file\n", 1)
        .rolls(&["out"]);
    file_roll_rolltime_names => Case::new(netcat_logger("", MEMORY, &format!("{ROLL}\nsink.pathManager = ROLLTIME\nsink.pathManager.extension = txt")), Done::Lines(1))
        .tcp("port", b"rolltime\n", 1)
        .rolls(&["out"]);
    file_roll_batch_size_1 => Case::new(netcat_logger("", MEMORY, &format!("{ROLL}\nsink.batchSize = 1")), Done::Lines(5))
        .tcp("port", b"b1\nb2\nb3\nb4\nb5\n", 5)
        .rolls(&["out"]);

    // --- seq --------------------------------------------------------------
    seq_source => Case::new(pipe("type = seq\ntotalEvents = 5", MEMORY, LOGGER), Done::Events(5));
    seq_batches => Case::new(pipe("type = seq\ntotalEvents = 25\nbatchSize = 10", MEMORY, ROLL), Done::Lines(25))
        .rolls(&["out"]);

    // --- exec -------------------------------------------------------------
    exec_printf => Case::new(pipe(r"type = exec
command = printf 'a\\nb\\nc\\n'", MEMORY, LOGGER), Done::Events(3));
    exec_shell_pipeline => Case::new(pipe(r"type = exec
shell = /bin/sh -c
command = printf 'x y z\\n' | tr ' ' '-'", MEMORY, LOGGER), Done::Events(1));
    exec_last_line_without_newline => Case::new(pipe(r"type = exec
command = printf 'one\\nlast'", MEMORY, LOGGER), Done::Events(2));
    exec_batch_size_1 => Case::new(pipe("type = exec\ncommand = seq 1 30\nbatchSize = 1", MEMORY, ROLL), Done::Lines(30))
        .rolls(&["out"]);
    exec_restart => Case::new(pipe("type = exec\ncommand = echo again\nrestart = true\nrestartThrottle = 200", MEMORY, LOGGER), Done::Events(3))
        .endless();
    exec_tail_f => Case::new(pipe("type = exec\ncommand = tail -F {dir}/in.log", MEMORY, LOGGER), Done::Events(3))
        .file("in.log", b"was there\n")
        .append("in.log", b"appended 1\nappended 2\n");
}

const MAX_BYTES: &str = "Flume 1.11 ignores the logger sink's maxBytesToLog (it always logs the first 16 \
                         bytes); sluice honours it, as the Flume User Guide documents it";

const UDP_HEADER: &str = "Flume 1.11's netcatudp puts the sender's address under the header `null` \
                          whatever remoteAddressHeader says (and also without it); sluice puts it \
                          under remoteAddressHeader, and nowhere without it, as the User Guide documents";

const FULL: &str = "on a full channel Flume's netcat answers FAILED after keep-alive and drops the \
                    line; sluice's waits until there is room (the client is slowed down, nothing is \
                    dropped)";

fn expect(holds: bool, what: &str) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(format!("expected: {what}"))
    }
}

/// The logger's dump of the case's one event: Flume's ends with
/// `flume_end` (16 bytes at most), sluice's has `sluice_part` and ends
/// with `sluice_end`.
fn shown(
    f: &Outcome,
    s: &Outcome,
    flume_end: &str,
    sluice_part: &str,
    sluice_end: &str,
) -> Result<(), String> {
    expect(
        f.events.len() == 1 && f.events[0].ends_with(flume_end),
        "Flume shows 16 bytes at most",
    )?;
    expect(
        s.events.len() == 1
            && s.events[0].contains(sluice_part)
            && s.events[0].ends_with(sluice_end),
        "sluice shows maxBytesToLog bytes",
    )?;
    expect(s.replies == f.replies, "the same replies")
}

/// Two lines fit; Flume fails the rest (after keep-alive), sluice has
/// answered nothing more when the reply wait ends.
fn waits_when_full(f: &Outcome, s: &Outcome) -> Result<(), String> {
    expect(
        f.replies.len() >= 3
            && f.replies[..2] == ["OK", "OK"]
            && f.replies[2..].iter().all(|r| r.starts_with("FAILED: ")),
        "Flume: OK, OK, then FAILED",
    )?;
    expect(
        s.replies.len() == 3
            && s.replies[..2] == ["OK", "OK"]
            && s.replies[2].starts_with("<no reply"),
        "sluice: OK, OK, then waiting",
    )
}

/// A case's input that is built at run time, kept for the whole run.
fn leak(s: String) -> &'static [u8] {
    Box::leak(s.into_bytes().into_boxed_slice())
}

const FIFTY_LINES: &[u8] =
    b"line 00\nline 01\nline 02\nline 03\nline 04\nline 05\nline 06\nline 07\nline 08\nline 09\n\
line 10\nline 11\nline 12\nline 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\n\
line 20\nline 21\nline 22\nline 23\nline 24\nline 25\nline 26\nline 27\nline 28\nline 29\n\
line 30\nline 31\nline 32\nline 33\nline 34\nline 35\nline 36\nline 37\nline 38\nline 39\n\
line 40\nline 41\nline 42\nline 43\nline 44\nline 45\nline 46\nline 47\nline 48\nline 49\n";

// ---------------------------------------------------------------------------
// The runtimes
// ---------------------------------------------------------------------------

const RUNTIMES: [&str; 3] = ["flume", "sluice-agent", "sluice-daemon"];

/// One runtime running every case's pipeline.
struct Runtime {
    label: &'static str,
    dir: PathBuf,
    /// (case, placeholder) -> port.
    ports: HashMap<(String, String), u16>,
    /// Where its logger sinks write.
    log: PathBuf,
    _child: Child,
}

impl Runtime {
    fn case_dir(&self, case: &str) -> PathBuf {
        self.dir.join(case)
    }
    fn port(&self, case: &str, name: &str) -> u16 {
        self.ports[&(case.to_string(), name.to_string())]
    }
}

struct Suite {
    cases: Vec<(&'static str, Case)>,
    runtimes: Vec<Runtime>,
    started: u128,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The runtimes, started once for every case. A start that failed fails
/// every case with its message (it is not tried again: the first
/// attempt's processes would still hold their ports).
fn suite() -> Option<&'static Suite> {
    static SUITE: OnceLock<Result<Option<Suite>, String>> = OnceLock::new();
    let started = SUITE.get_or_init(|| {
        std::panic::catch_unwind(start_suite).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match started {
        Ok(suite) => suite.as_ref(),
        Err(why) => panic!("the runtimes did not start: {why}"),
    }
}

fn placeholders(conf: &str) -> Vec<String> {
    ["port", "port2", "port3"]
        .into_iter()
        .filter(|p| conf.contains(&format!("{{{p}}}")))
        .map(String::from)
        .collect()
}

/// Free loopback ports, each free for TCP and UDP at once, all distinct.
fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    while held.len() < n {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = tcp.local_addr().expect("its address").port();
        if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)) {
            held.push((port, tcp, udp));
        }
    }
    held.into_iter().map(|(p, _, _)| p).collect()
}

/// The whole agent file for one runtime: every case's part, with its
/// ports and directory, the lists merged, the tagging interceptor added.
fn agent_file(
    cases: &[(&'static str, Case)],
    rt_dir: &Path,
    ports: &HashMap<(String, String), u16>,
) -> String {
    let mut lists: [(String, Vec<String>); 3] = [
        ("a1.sources".into(), vec![]),
        ("a1.channels".into(), vec![]),
        ("a1.sinks".into(), vec![]),
    ];
    let mut body = String::new();
    for (name, case) in cases {
        let mut conf = case
            .conf
            .replace("{c}", &format!("{name}_"))
            .replace("{dir}", &rt_dir.join(name).display().to_string());
        for p in placeholders(&case.conf) {
            conf = conf.replace(
                &format!("{{{p}}}"),
                &ports[&(name.to_string(), p.clone())].to_string(),
            );
        }
        let mut sources = vec![];
        let mut lines: Vec<String> = vec![];
        for line in conf.lines() {
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((line.trim(), ""));
            if let Some((_, list)) = lists.iter_mut().find(|(k, _)| k == key) {
                list.extend(value.split_whitespace().map(String::from));
                if key == "a1.sources" {
                    sources.extend(value.split_whitespace().map(String::from));
                }
            } else {
                lines.push(line.to_string());
            }
        }
        for s in sources {
            let key = format!("a1.sources.{s}.interceptors");
            match lines
                .iter_mut()
                .find(|l| l.split('=').next().map(str::trim) == Some(key.as_str()))
            {
                Some(l) => l.push_str(" difftag"),
                None => lines.push(format!("{key} = difftag")),
            }
            lines.push(format!("{key}.difftag.type = static"));
            lines.push(format!("{key}.difftag.key = diffcase"));
            lines.push(format!("{key}.difftag.value = {name}"));
        }
        body += &format!("# case {name}\n");
        for l in lines {
            body += &l;
            body.push('\n');
        }
    }
    let mut out =
        String::from("# Written by tests/flume_diff.rs: every case's pipeline in one agent.\n");
    for (key, list) in &lists {
        out += &format!("{key} = {}\n", list.join(" "));
    }
    out + &body
}

fn start_suite() -> Option<Suite> {
    flume::available()?;
    let cases = all_cases();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flume-diff");
    let _ = std::fs::remove_dir_all(&root);
    let started = now_ms();
    // Every runtime's ports at once, before any starts: a port handed out
    // after a JVM started might be one it has not bound yet.
    let wanted: Vec<(String, String)> = cases
        .iter()
        .flat_map(|(n, c)| {
            placeholders(&c.conf)
                .into_iter()
                .map(|p| (n.to_string(), p))
        })
        .collect();
    let mut free = free_ports(wanted.len() * RUNTIMES.len()).into_iter();
    let mut runtimes = Vec::new();
    for label in RUNTIMES {
        let dir = root.join(label);
        std::fs::create_dir_all(&dir).expect("runtime dir");
        let ports: HashMap<(String, String), u16> =
            wanted.iter().cloned().zip(free.by_ref()).collect();
        for (name, case) in &cases {
            let cdir = dir.join(name);
            std::fs::create_dir_all(&cdir).expect("case dir");
            // file_roll writes into a directory that exists, in Flume too.
            for d in &case.rolls {
                std::fs::create_dir_all(cdir.join(d)).expect("file_roll dir");
            }
            for (file, data) in &case.files {
                std::fs::write(cdir.join(file), data).expect("case file");
            }
        }
        let file = dir.join("agent.conf");
        std::fs::write(&file, agent_file(&cases, &dir, &ports)).expect("agent file");
        let log = dir.join("agent.log");
        let child = match label {
            "flume" => flume::start_agent(&file, "a1", &log),
            "sluice-agent" => {
                let mut cmd = Command::new(common::sluice());
                cmd.args(["agent", "-f"])
                    .arg(&file)
                    .args(["-n", "a1"])
                    .current_dir(&dir)
                    .stdin(Stdio::null())
                    .stdout(std::fs::File::create(&log).expect("log"))
                    .stderr(Stdio::from(
                        std::fs::File::create(dir.join("agent.stderr")).expect("stderr"),
                    ));
                peers::spawn_for_the_binary(cmd).expect("start sluice agent")
            }
            _ => {
                let conf = dir.join("sluice.conf");
                std::fs::write(
                    &conf,
                    common::base_config(&dir)
                        + &format!(
                            "[agent:diff]\nconf_file = {}\nagent_name = a1\n\
                             stdout_logfile = {}\nredirect_stderr = true\nstartsecs = 0\n",
                            file.display(),
                            log.display()
                        ),
                )
                .expect("daemon config");
                let mut cmd = Command::new(common::sluice());
                cmd.args(["daemon", "-c"])
                    .arg(&conf)
                    .current_dir(&dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::from(
                        std::fs::File::create(dir.join("daemon.stderr")).expect("stderr"),
                    ));
                peers::spawn_for_the_binary(cmd).expect("start sluice daemon")
            }
        };
        runtimes.push(Runtime {
            label,
            dir,
            ports,
            log,
            _child: child,
        });
    }
    // Ready: every port a case feeds is bound (read from /proc: a probe
    // connection would be a client of its own).
    for rt in &mut runtimes {
        let mut want: Vec<(u16, bool)> = vec![];
        for (name, case) in &cases {
            for f in &case.feed {
                match f {
                    Feed::Tcp(p, ..) | Feed::Lines(p, _) => want.push((rt.port(name, p), true)),
                    Feed::Udp(p, _) => want.push((rt.port(name, p), false)),
                    Feed::Append(..) => {}
                }
            }
        }
        let start = Instant::now();
        loop {
            let missing: Vec<u16> = want
                .iter()
                .filter(|(p, tcp)| !bound(*p, *tcp))
                .map(|(p, _)| *p)
                .collect();
            if missing.is_empty() {
                break;
            }
            if let Ok(Some(status)) = rt._child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready; its log: {}\n{}",
                    rt.label,
                    rt.log.display(),
                    tail(&rt.log)
                );
            }
            if start.elapsed() > OUTPUT_DEADLINE {
                panic!(
                    "{} never bound ports {missing:?}; its log: {}\n{}",
                    rt.label,
                    rt.log.display(),
                    tail(&rt.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Some(Suite {
        cases,
        runtimes,
        started,
    })
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Whether something is bound to 127.0.0.1/0.0.0.0 `port` (TCP: listening).
fn bound(port: u16, tcp: bool) -> bool {
    let files: &[&str] = if tcp {
        &["/proc/net/tcp", "/proc/net/tcp6"]
    } else {
        &["/proc/net/udp", "/proc/net/udp6"]
    };
    let suffix = format!(":{port:04X}");
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&suffix) && (!tcp || cols[3] == "0A")
            })
    })
}

// ---------------------------------------------------------------------------
// Feeding and collecting
// ---------------------------------------------------------------------------

/// What one runtime gave out for one case, normalised.
#[derive(Debug, PartialEq, Default)]
struct Outcome {
    replies: Vec<String>,
    events: Vec<String>,
    files: Vec<(String, String)>,
}

fn feed(rt: &Runtime, name: &str, case: &Case) -> Vec<String> {
    let mut replies = vec![];
    for f in &case.feed {
        match f {
            Feed::Tcp(p, data, want) => {
                let mut s =
                    TcpStream::connect(("127.0.0.1", rt.port(name, p))).expect("connect to netcat");
                s.write_all(data).expect("send");
                if *want == 0 {
                    continue;
                }
                s.set_read_timeout(Some(case.reply_wait)).expect("timeout");
                let mut r = BufReader::new(s);
                for _ in 0..*want {
                    if !read_reply(&mut r, &mut replies) {
                        break;
                    }
                }
            }
            Feed::Lines(p, lines) => {
                let mut s =
                    TcpStream::connect(("127.0.0.1", rt.port(name, p))).expect("connect to netcat");
                s.set_read_timeout(Some(case.reply_wait)).expect("timeout");
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                for l in *lines {
                    s.write_all(l).expect("send");
                    if !read_reply(&mut r, &mut replies) {
                        break;
                    }
                }
            }
            Feed::Udp(p, datagrams) => {
                let s = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
                for d in *datagrams {
                    s.send_to(d, ("127.0.0.1", rt.port(name, p)))
                        .expect("send datagram");
                }
            }
            Feed::Append(file, data) => {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(rt.case_dir(name).join(file))
                    .expect("open the case's file");
                f.write_all(data).expect("append");
            }
        }
    }
    replies
}

/// One reply line into `replies`, or what stood in its place (`<closed>`,
/// `<no reply: ...>`); false when no more will come.
fn read_reply(r: &mut impl BufRead, replies: &mut Vec<String>) -> bool {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => replies.push("<closed>".into()),
        Ok(_) => {
            replies.push(line.trim_end_matches(['\r', '\n']).to_string());
            return true;
        }
        Err(e) => replies.push(format!("<no reply: {}>", e.kind())),
    }
    false
}

/// The logger-sink events of `case` in a log: `{ headers:{...} body: ... }`
/// (a dump of more than 16 bytes takes more lines), normalised.
fn logged_events(log: &str, case: &str, started: u128) -> Vec<String> {
    let tag = format!("diffcase={case}");
    let tagged = |e: &str| e.contains(&format!("{tag},")) || e.contains(&format!("{tag}}}"));
    let mut out = vec![];
    // Only whole lines: a runtime may be writing the last one.
    let whole = log.rfind('\n').map_or("", |end| &log[..end]);
    let mut lines = whole.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(at) = line.find("Event: { headers:") else {
            continue;
        };
        let mut event = line[at + "Event: ".len()..].to_string();
        // Later dump rows start with their 8-digit offset.
        while let Some(next) = lines.peek() {
            if next.len() > 8
                && next[..8].bytes().all(|b| b.is_ascii_hexdigit())
                && next.as_bytes()[8] == b' '
            {
                event.push('\n');
                event.push_str(next);
                lines.next();
            } else {
                break;
            }
        }
        // A dump whose last row is still being written is not whole yet.
        if tagged(&event) && event.ends_with(" }") {
            out.push(normalise(&event, case, started));
        }
    }
    out
}

/// Headers sorted, the tag removed, clocks and ports masked.
fn normalise(text: &str, case: &str, started: u128) -> String {
    // A logger line's `headers:{...}`, or a HEADER_AND_TEXT line's `{...}`.
    let open = match text.find("headers:{") {
        Some(i) => i + "headers:".len(),
        None if text.starts_with('{') => 0,
        None => return text.to_string(),
    };
    let Some(close) = text[open..].find('}').map(|i| i + open) else {
        return text.to_string();
    };
    let tag = format!("diffcase={case}");
    let mut pairs: Vec<String> = text[open + 1..close]
        .split(", ")
        .filter(|p| !p.is_empty() && *p != tag)
        .map(|p| mask_pair(p, started))
        .collect();
    pairs.sort();
    format!(
        "{}{{{}}}{}",
        &text[..open],
        pairs.join(", "),
        &text[close + 1..]
    )
}

fn mask_pair(pair: &str, started: u128) -> String {
    let Some((k, v)) = pair.split_once('=') else {
        return pair.to_string();
    };
    if let Ok(ms) = v.parse::<u128>()
        && v.len() == 13
        && ms + 86_400_000 > started
        && ms < now_ms() + 86_400_000
    {
        return format!("{k}=<now>");
    }
    // An address with a client's port: the port masked.
    if let Some((addr, port)) = v.rsplit_once(':')
        && port.parse::<u16>().is_ok()
        && addr
            .trim_start_matches('/')
            .parse::<std::net::IpAddr>()
            .is_ok()
    {
        return format!("{k}={addr}:<port>");
    }
    pair.to_string()
}

/// File names with long digit runs masked.
fn mask_name(name: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 10 {
            out.push_str("<N>");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// The file_roll output of `case`: (directory/name, contents), sorted by
/// name, the contents' header maps normalised.
fn rolled(rt: &Runtime, name: &str, case: &Case, started: u128) -> Vec<(String, String)> {
    let mut out = vec![];
    for d in &case.rolls {
        let dir = rt.case_dir(name).join(d);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            let mut bytes = vec![];
            let _ = std::fs::File::open(&f).and_then(|mut h| h.read_to_end(&mut bytes));
            let text = String::from_utf8_lossy(&bytes);
            let content: String = text
                .split_inclusive('\n')
                .map(|l| {
                    if l.starts_with('{') {
                        normalise(l, name, started)
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            let fname = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((format!("{d}/{}", mask_name(&fname)), content));
        }
    }
    out
}

fn collect(rt: &Runtime, name: &str, case: &Case, started: u128) -> Outcome {
    let log = std::fs::read_to_string(&rt.log).unwrap_or_default();
    Outcome {
        replies: vec![],
        events: logged_events(&log, name, started),
        files: rolled(rt, name, case, started),
    }
}

fn done(o: &Outcome, d: Done) -> bool {
    let roll_bytes: usize = o.files.iter().map(|(_, c)| c.len()).sum();
    let roll_lines: usize = o.files.iter().map(|(_, c)| c.matches('\n').count()).sum();
    match d {
        Done::Events(n) => o.events.len() >= n,
        Done::Lines(n) => roll_lines >= n,
        Done::Bytes(n) => roll_bytes >= n,
        Done::Replies => true,
    }
}

fn run_case(name: &str) {
    let Some(suite) = suite() else { return };
    let (_, case) = suite
        .cases
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a case of that name");
    let mut outcomes = vec![];
    for rt in &suite.runtimes {
        let replies = feed(rt, name, case);
        let start = Instant::now();
        let until = match rt.label {
            "flume" => case.flume_done.unwrap_or(case.done),
            _ => case.done,
        };
        let mut o = collect(rt, name, case, suite.started);
        while !done(&o, until) && start.elapsed() < OUTPUT_DEADLINE {
            std::thread::sleep(Duration::from_millis(50));
            o = collect(rt, name, case, suite.started);
        }
        if case.endless
            && let Done::Events(n) = case.done
        {
            o.events.truncate(n);
        }
        o.replies = replies;
        outcomes.push((rt, o));
    }
    let (flume_rt, flume) = &outcomes[0];
    for (rt, o) in &outcomes[1..] {
        if let Some((why, check)) = case.intended {
            if let Err(e) = check(flume, o) {
                panic!(
                    "case {name} ({why}): {} is not the intended difference: {e}\n\
                     Flume: {flume:?}\n{}: {o:?}\nlogs: {} and {}",
                    rt.label,
                    rt.label,
                    rt.log.display(),
                    flume_rt.log.display()
                );
            }
            continue;
        }
        assert_eq!(
            o,
            flume,
            "case {name}: {} (right: Flume) differ.\nlogs: {} and {}\ndirs: {} and {}",
            rt.label,
            rt.log.display(),
            flume_rt.log.display(),
            rt.case_dir(name).display(),
            flume_rt.case_dir(name).display()
        );
    }
    assert!(
        case.intended.is_some() || done(flume, case.done),
        "case {name}: Flume itself did not give the output the case waits for: {flume:?}\nlog: {}",
        flume_rt.log.display()
    );
}

// ---------------------------------------------------------------------------
// On purpose: an invalid component
// ---------------------------------------------------------------------------

/// Flume drops a channel it cannot configure (and the source that uses
/// it) and runs the rest; sluice refuses to start the agent and names file,
/// line and property, so nothing silently stops flowing.
#[test]
fn intended_an_invalid_channel_stops_the_agent_instead_of_being_dropped() {
    if flume::available().is_none() {
        return;
    }
    let dir = fresh_dir("flume-diff-invalid-channel");
    let ports = free_ports(2);
    let file = dir.join("agent.conf");
    std::fs::write(&file, two_pipelines(ports[0], ports[1], "logger")).expect("agent file");
    // Flume: the good pipeline runs.
    let log = dir.join("flume.log");
    let mut jvm = flume::start_agent(&file, "a1", &log);
    let start = Instant::now();
    while !bound(ports[0], true) {
        assert!(
            start.elapsed() < OUTPUT_DEADLINE && jvm.try_wait().ok().flatten().is_none(),
            "Flume never served the valid pipeline; its log: {}\n{}",
            log.display(),
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut s = TcpStream::connect(("127.0.0.1", ports[0])).expect("connect");
    s.write_all(b"still runs\n").expect("send");
    s.set_read_timeout(Some(OUTPUT_DEADLINE)).expect("timeout");
    let mut reply = String::new();
    BufReader::new(s)
        .read_line(&mut reply)
        .expect("Flume's reply");
    assert_eq!(reply.trim_end(), "OK");
    let _ = jvm.kill();
    let _ = jvm.wait();
    let flume_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        flume_log.contains("Channel c2 has been removed"),
        "Flume drops the channel: {flume_log}"
    );
    // sluice: no start, the problem named.
    let err = sluice_refuses(&file);
    assert!(
        err.contains(&format!("{}:17: error", file.display()))
            && err.contains("transactionCapacity"),
        "the channel's problem, with file and line: {err}"
    );
}

/// An unknown sink type: Flume 1.11 logs a fatal error and exits with
/// status 0 (a supervisor sees a clean exit); sluice exits with 1 and
/// names file, line and type.
#[test]
fn intended_an_unknown_type_is_a_failed_start() {
    if flume::available().is_none() {
        return;
    }
    let dir = fresh_dir("flume-diff-unknown-type");
    let ports = free_ports(2);
    let file = dir.join("agent.conf");
    let conf = two_pipelines(ports[0], ports[1], "nosuchsink").replace(
        "a1.channels.c2.transactionCapacity = 100\n",
        "a1.channels.c2.transactionCapacity = 10\n",
    );
    std::fs::write(&file, conf).expect("agent file");
    let log = dir.join("flume.log");
    let mut jvm = flume::start_agent(&file, "a1", &log);
    let mut status = None;
    let start = Instant::now();
    while status.is_none() {
        assert!(
            start.elapsed() < OUTPUT_DEADLINE,
            "Flume did not exit: {}",
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
        status = jvm.try_wait().expect("try_wait");
    }
    let _ = jvm.wait(); // reaped already: for the lint
    let flume_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        flume_log.contains("Unable to load sink type: nosuchsink"),
        "{flume_log}"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "Flume's exit status"
    );
    let err = sluice_refuses(&file);
    assert!(
        err.contains(&format!("{}:18: error", file.display())) && err.contains("nosuchsink"),
        "the sink's problem, with file and line: {err}"
    );
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A valid pipeline on `good`, and one on `bad` whose channel's
/// transactionCapacity is over its capacity (line 17), drained by a sink
/// of type `sink` (line 18).
fn two_pipelines(good: u16, bad: u16, sink: &str) -> String {
    format!(
        "a1.sources = good bad\n\
         a1.channels = c1 c2\n\
         a1.sinks = k1 k2\n\
         a1.sources.good.type = netcat\n\
         a1.sources.good.bind = 127.0.0.1\n\
         a1.sources.good.port = {good}\n\
         a1.sources.good.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = logger\n\
         a1.sinks.k1.channel = c1\n\
         a1.sources.bad.type = netcat\n\
         a1.sources.bad.bind = 127.0.0.1\n\
         a1.sources.bad.port = {bad}\n\
         a1.sources.bad.channels = c2\n\
         a1.channels.c2.type = memory\n\
         a1.channels.c2.capacity = 10\n\
         a1.channels.c2.transactionCapacity = 100\n\
         a1.sinks.k2.type = {sink}\n\
         a1.sinks.k2.channel = c2\n"
    )
}

/// `sluice agent` on `file` exits with 1; what it said.
fn sluice_refuses(file: &Path) -> String {
    let mut cmd = Command::new(common::sluice());
    cmd.args(["agent", "-f"]).arg(file).args(["-n", "a1"]);
    let out = common::output_within(cmd, OUTPUT_DEADLINE);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    said
}
