//! Typed value parsers, each accepting what supervisord's `datatypes.py`
//! accepts: booleans, integers (Python `int()` syntax), byte sizes, octal
//! modes, exit code lists, signals, `autorestart`, log levels, log file
//! names, `host:port`, process/group names, users and groups.
//!
//! Each returns `Err(message)`; the caller adds file, line, section and key.
//! Integers come with a [`Range`] per key: supervisord takes any integer, so
//! a value outside the range that supervisord would run is clamped into it
//! with a warning, and only what cannot run safely is refused.

use super::spec::{AutoRestart, Isolation, LogLevel, StopSignal};

/// `true/yes/on/1` and `false/no/off/0`, any case.
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "'{s}' is not a boolean (use true/false, yes/no, on/off or 1/0)"
        )),
    }
}

/// Python's `int(s)`: surrounding whitespace, a sign, digits with single
/// underscores between them. Python's integers have no limit, so a number
/// beyond 64 bits is taken as the nearest 64-bit one (each key's [`Range`]
/// then brings it into its own bounds).
pub fn integer(s: &str) -> Result<i64, String> {
    parse_int(s, 10).ok_or_else(|| format!("'{s}' is not an integer"))
}

/// The digits of `s` in `radix` (see [`integer`]), saturated to 64 bits.
fn parse_int(s: &str, radix: u32) -> Option<i64> {
    let t = s.trim();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let rest = if radix == 8 {
        rest.strip_prefix("0o")
            .or_else(|| rest.strip_prefix("0O"))
            .map(|r| r.strip_prefix('_').unwrap_or(r))
            .unwrap_or(rest)
    } else {
        rest
    };
    if rest.is_empty() || rest.starts_with('_') || rest.ends_with('_') || rest.contains("__") {
        return None;
    }
    let mut n: i64 = 0;
    for c in rest.chars().filter(|&c| c != '_') {
        let d = i64::from(c.to_digit(radix)?);
        n = n.saturating_mul(i64::from(radix)).saturating_add(d);
    }
    Some(if neg { n.saturating_neg() } else { n })
}

/// The largest integer XML-RPC carries (a signed 32-bit `<int>`):
/// supervisord cannot report a larger setting through its API, so no
/// duration or count in the INI goes beyond it.
pub const XMLRPC_INT_MAX: i64 = i32::MAX as i64;

/// The most processes one `[program:x]` may have (`numprocs`): more would
/// cost the daemon gigabytes (several KiB each) before any of them runs.
pub const MAX_NUMPROCS: i64 = 10_000;

/// The most rotated files a log keeps (`*_logfile_backups`): rotation
/// renames each of them in turn.
pub const MAX_BACKUPS: i64 = 10_000;

/// What becomes of a number outside its key's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// supervisord runs it: taken as the nearest bound, with a warning.
    Clamp,
    /// It cannot run safely: an error.
    Refuse,
}

/// An integer key's range (the README's tables give each key's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
    pub below: Outside,
    pub above: Outside,
}

impl Range {
    /// Values outside are clamped (with a warning) on both sides.
    pub const fn clamped(min: i64, max: i64) -> Range {
        Range {
            min,
            max,
            below: Outside::Clamp,
            above: Outside::Clamp,
        }
    }

    /// `n` (as `written`) in range; `Ok` with a warning when it had to be
    /// clamped into it, `Err` when it is refused.
    pub fn apply(&self, n: i64, written: &str) -> Result<(i64, Option<String>), String> {
        let (bound, side, outside) = if n < self.min {
            (self.min, "below", self.below)
        } else if n > self.max {
            (self.max, "above", self.above)
        } else {
            return Ok((n, None));
        };
        let range = format!("{} to {}", self.min, self.max);
        let written = written.trim();
        match outside {
            Outside::Clamp => Ok((
                bound,
                Some(format!(
                    "{written} is {side} the range {range}; taken as {bound}"
                )),
            )),
            Outside::Refuse => Err(format!("{written} is {side} the range {range}")),
        }
    }
}

/// Durations in seconds (`startsecs`, `stopwaitsecs`): a negative one is 0
/// (supervisord acts at once either way).
pub const SECONDS: Range = Range::clamped(0, XMLRPC_INT_MAX);
/// `startretries`: a negative one is 0 (FATAL at the first failure, as
/// supervisord).
pub const RETRIES: Range = Range::clamped(0, XMLRPC_INT_MAX);
/// `priority`: what XML-RPC can report.
pub const PRIORITY: Range = Range::clamped(i32::MIN as i64, XMLRPC_INT_MAX);
/// `numprocs`: below 0 is 0 (no processes, as supervisord); above the
/// maximum is refused.
pub const NUMPROCS: Range = Range {
    min: 0,
    max: MAX_NUMPROCS,
    below: Outside::Clamp,
    above: Outside::Refuse,
};
/// Any 64-bit integer (`numprocs_start`).
pub const ANY: Range = Range::clamped(i64::MIN, i64::MAX);
/// Sizes in bytes (`*_maxbytes`): negative is 0 (no rotation, as supervisord).
pub const BYTES: Range = Range::clamped(0, i64::MAX);
/// `*_logfile_backups`: negative is 0 (as supervisord).
pub const BACKUPS: Range = Range::clamped(0, MAX_BACKUPS);
/// `minfds`, `minprocs`: negative is 0 (no limit raised, as supervisord).
pub const LIMITS: Range = Range::clamped(0, i64::MAX);

/// `1024`, `10KB`, `50MB`, `1GB` (suffix any case, 1024-based; a sign is
/// allowed, as supervisord's `byte_size`; saturated to 64 bits).
pub fn byte_size(s: &str) -> Result<i64, String> {
    let lower = s.to_lowercase();
    let bad = || format!("'{s}' is not a byte size (e.g. 1024, 500KB, 50MB, 1GB)");
    let (number, mult): (&str, i64) = if let Some(n) = lower.strip_suffix("kb") {
        (n, 1 << 10)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = lower.strip_suffix("gb") {
        (n, 1 << 30)
    } else {
        (lower.as_str(), 1)
    };
    let n = parse_int(number, 10).ok_or_else(bad)?;
    Ok(n.saturating_mul(mult))
}

/// An octal number such as `022` or `0o755` (Python's `int(s, 8)`).
pub fn octal(s: &str) -> Result<u32, String> {
    let bad = || format!("'{s}' is not an octal number (e.g. 022 or 0700)");
    let n = parse_int(s, 8).ok_or_else(bad)?;
    u32::try_from(n).map_err(|_| bad())
}

/// `0` or `0,2`: exit codes from 0 to 255; empty means none.
pub fn exitcodes(s: &str) -> Result<Vec<i32>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|part| {
            let n = parse_int(part, 10)
                .filter(|n| (0..=255).contains(n))
                .ok_or_else(|| {
                    format!("'{s}' is not a list of exit codes (numbers 0 to 255, comma separated)")
                })?;
            // In 0..=255 by the filter above.
            Ok(n as i32)
        })
        .collect()
}

/// `true` (always), `false` (never) or `unexpected`.
pub fn autorestart(s: &str) -> Result<AutoRestart, String> {
    match s.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(AutoRestart::Always),
        "false" | "no" | "off" | "0" => Ok(AutoRestart::Never),
        "unexpected" => Ok(AutoRestart::Unexpected),
        _ => Err(format!("'{s}' is not valid: use true, false or unexpected")),
    }
}

/// An agent's `isolation`.
pub fn isolation(s: &str) -> Result<Isolation, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "inprocess" | "in-process" => Ok(Isolation::InProcess),
        "process" => Ok(Isolation::Process),
        _ => Err(format!("'{s}' is not valid: use inprocess or process")),
    }
}

/// supervisord's level names (`warn`, not `warning`).
pub fn loglevel(s: &str) -> Result<LogLevel, String> {
    LogLevel::parse(s).ok_or_else(|| {
        format!("'{s}' is not a log level (critical, error, warn, info, debug, trace, blather)")
    })
}

/// The signals a name or number may denote (the platform's numbers).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("POLL", libc::SIGPOLL),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("PWR", libc::SIGPWR),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("STKFLT", libc::SIGSTKFLT),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("CLD", libc::SIGCHLD),
];

/// A signal by name, with or without `SIG`, any case: its bare name and
/// number (also used by the API's signalProcess).
pub fn signal_named(s: &str) -> Option<(&'static str, i32)> {
    let upper = s.trim().to_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    every_signal().find(|(name, _)| *name == bare)
}

/// [`SIGNALS`] and the platform's first and last real-time signals (which
/// Python's `signal` module, and so supervisord, also knows).
fn every_signal() -> impl Iterator<Item = (&'static str, i32)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let realtime = [("RTMIN", libc::SIGRTMIN()), ("RTMAX", libc::SIGRTMAX())];
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let realtime: [(&'static str, i32); 0] = [];
    SIGNALS.iter().copied().chain(realtime)
}

/// `TERM`, `SIGTERM`, `term` or `15`.
pub fn signal(s: &str) -> Result<StopSignal, String> {
    if let Some(n) = parse_int(s, 10) {
        return every_signal()
            .find(|(_, num)| i64::from(*num) == n)
            .map(|(name, number)| StopSignal { name, number })
            .ok_or_else(|| format!("'{s}' is not a valid signal number"));
    }
    signal_named(s)
        .map(|(name, number)| StopSignal { name, number })
        .ok_or_else(|| {
            format!("'{s}' is not a signal name (e.g. TERM, HUP, INT, QUIT, KILL, USR1, USR2)")
        })
}

/// A `*_logfile` value after expansion.
#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    /// `NONE` / `OFF`.
    Disabled,
    /// `AUTO`: a file in `childlogdir`.
    Auto,
    /// The deprecated `syslog` value (means `*_syslog=true`, no file).
    Syslog,
    Path(String),
}

pub fn logfile_name(s: &str) -> LogTarget {
    match s.to_lowercase().as_str() {
        // Empty is no file too: supervisord keeps '' and opens nothing.
        "none" | "off" | "" => LogTarget::Disabled,
        "auto" => LogTarget::Auto,
        "syslog" => LogTarget::Syslog,
        _ => LogTarget::Path(s.to_string()),
    }
}

/// `host:port`, `*:port`, `:port` or `port`; the port from 1 to 65535.
pub fn inet_address(s: &str) -> Result<(String, u16), String> {
    // The port follows the last colon, as supervisord's inet_address splits.
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h.to_lowercase(), p),
        None => (String::new(), s),
    };
    if port.is_empty() {
        return Err(format!("'{s}' has no port number (e.g. 127.0.0.1:9001)"));
    }
    let n = parse_int(port, 10)
        .filter(|n| (1..=65535).contains(n))
        .ok_or_else(|| format!("'{s}' does not end in a port number from 1 to 65535"))?;
    let host = if host == "*" { String::new() } else { host };
    Ok((host, n as u16))
}

/// A process or group name: no spaces, colons or slashes (they would break
/// the control protocol's names).
pub fn process_or_group_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the name is empty".to_string());
    }
    if t.contains([' ', ':', '/']) {
        return Err(format!("'{t}' is not a valid name (no spaces, ':' or '/')"));
    }
    Ok(t.to_string())
}

/// `a, b,c` -> `["a", "b", "c"]`; empty gives none.
pub fn list_of_strings(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|x| x.trim().to_string()).collect()
}

/// A user name or numeric uid that exists on this system.
pub fn existing_user(s: &str) -> Result<u32, String> {
    use nix::unistd::{Uid, User};
    match parse_int(s, 10) {
        Some(n) => {
            let uid = u32::try_from(n).map_err(|_| format!("invalid user id {s}"))?;
            match User::from_uid(Uid::from_raw(uid)) {
                Ok(Some(_)) => Ok(uid),
                _ => Err(format!("invalid user id {s}: no such user on this system")),
            }
        }
        None => match User::from_name(s) {
            Ok(Some(u)) => Ok(u.uid.as_raw()),
            _ => Err(format!(
                "invalid user name {s}: no such user on this system"
            )),
        },
    }
}

/// A group name or numeric gid that exists on this system.
pub fn existing_group(s: &str) -> Result<u32, String> {
    use nix::unistd::{Gid, Group};
    match parse_int(s, 10) {
        Some(n) => {
            let gid = u32::try_from(n).map_err(|_| format!("invalid group id {s}"))?;
            match Group::from_gid(Gid::from_raw(gid)) {
                Ok(Some(_)) => Ok(gid),
                _ => Err(format!(
                    "invalid group id {s}: no such group on this system"
                )),
            }
        }
        None => match Group::from_name(s) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            _ => Err(format!(
                "invalid group name {s}: no such group on this system"
            )),
        },
    }
}

/// `user` or `user:group`, both existing.
pub fn user_group(s: &str) -> Result<(), String> {
    match s.split_once(':') {
        None => existing_user(s).map(|_| ()),
        Some((u, g)) => {
            existing_user(u)?;
            existing_group(g).map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "Yes", "on", "1"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["false", "No", "OFF", "0"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        for bad in ["", "y", "2", "truee"] {
            assert!(boolean(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_like_python() {
        assert_eq!(integer("10"), Ok(10));
        assert_eq!(integer(" -5 "), Ok(-5));
        assert_eq!(integer("+7"), Ok(7));
        assert_eq!(integer("010"), Ok(10));
        assert_eq!(integer("1_000"), Ok(1000));
        for bad in ["", "1.5", "0x10", "1__0", "_1", "ten"] {
            assert!(integer(bad).is_err(), "{bad}");
        }
        // Python's integers are unbounded: saturated here, clamped by range.
        assert_eq!(integer("99999999999999999999999"), Ok(i64::MAX));
        assert_eq!(integer("-99999999999999999999999"), Ok(-i64::MAX));
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("0"), Ok(0));
        assert_eq!(byte_size("1024"), Ok(1024));
        assert_eq!(byte_size("10KB"), Ok(10 * 1024));
        assert_eq!(byte_size("50MB"), Ok(50 * 1024 * 1024));
        assert_eq!(byte_size("20mb"), Ok(20 * 1024 * 1024));
        assert_eq!(byte_size("1GB"), Ok(1024 * 1024 * 1024));
        assert_eq!(byte_size("2Gb"), Ok(2 * 1024 * 1024 * 1024));
        // supervisord takes a sign; the range then says what it means.
        assert_eq!(byte_size("-1MB"), Ok(-(1 << 20)));
        assert_eq!(byte_size("9999999999GB"), Ok(i64::MAX));
        for bad in ["", "MB", "1.5MB", "10TB", "10 K"] {
            assert!(byte_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_clamp_or_refuse() {
        assert_eq!(SECONDS.apply(5, "5"), Ok((5, None)));
        let (n, warning) = SECONDS.apply(-1, "-1").expect("clamped");
        assert_eq!(n, 0);
        assert_eq!(
            warning.as_deref(),
            Some("-1 is below the range 0 to 2147483647; taken as 0")
        );
        let huge = "99999999999999999999";
        assert_eq!(
            SECONDS.apply(i64::MAX, huge).map(|(n, _)| n),
            Ok(XMLRPC_INT_MAX)
        );
        assert_eq!(NUMPROCS.apply(-3, "-3").map(|(n, _)| n), Ok(0));
        assert_eq!(
            NUMPROCS.apply(10_001, "10001"),
            Err("10001 is above the range 0 to 10000".to_string())
        );
        assert_eq!(ANY.apply(i64::MIN, "x"), Ok((i64::MIN, None)));
    }

    #[test]
    fn octals() {
        assert_eq!(octal("022"), Ok(0o22));
        assert_eq!(octal("0700"), Ok(0o700));
        assert_eq!(octal("777"), Ok(0o777));
        assert_eq!(octal("0o755"), Ok(0o755));
        for bad in ["", "8", "0x1", "rw", "-1"] {
            assert!(octal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exitcodes("0"), Ok(vec![0]));
        assert_eq!(exitcodes("0, 2,255"), Ok(vec![0, 2, 255]));
        assert_eq!(exitcodes(""), Ok(vec![]));
        for bad in ["256", "-1", "0,", "a", "1 2"] {
            assert!(exitcodes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals() {
        for (s, n) in [
            ("TERM", 15),
            ("SIGTERM", 15),
            ("term", 15),
            ("HUP", 1),
            ("INT", 2),
            ("QUIT", 3),
            ("KILL", 9),
            ("USR1", libc::SIGUSR1),
            ("sigusr2", libc::SIGUSR2),
            ("9", 9),
            ("15", 15),
        ] {
            assert_eq!(signal(s).map(|x| x.number), Ok(n), "{s}");
        }
        assert_eq!(signal("sigterm").map(|x| x.name), Ok("TERM"));
        // supervisord (Python's signal module) knows these two too.
        assert_eq!(signal("RTMIN").map(|x| x.number), Ok(libc::SIGRTMIN()));
        assert_eq!(
            signal(&libc::SIGRTMAX().to_string()).map(|x| x.name),
            Ok("RTMAX")
        );
        assert!(signal(&(libc::SIGRTMIN() + 1).to_string()).is_err());
        assert_eq!(signal("9").map(|x| x.name), Ok("KILL"));
        for bad in ["", "TERMINATE", "0", "999", "SIG"] {
            assert!(signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn autorestarts() {
        assert_eq!(autorestart("true"), Ok(AutoRestart::Always));
        assert_eq!(autorestart("FALSE"), Ok(AutoRestart::Never));
        assert_eq!(autorestart("Unexpected"), Ok(AutoRestart::Unexpected));
        assert!(autorestart("sometimes").is_err());
    }

    #[test]
    fn loglevels() {
        assert_eq!(loglevel("INFO"), Ok(LogLevel::Info));
        assert_eq!(loglevel("warn"), Ok(LogLevel::Warn));
        assert_eq!(loglevel("blather"), Ok(LogLevel::Blather));
        assert!(loglevel("warning").is_err());
    }

    #[test]
    fn logfile_names() {
        assert_eq!(logfile_name("NONE"), LogTarget::Disabled);
        assert_eq!(logfile_name("off"), LogTarget::Disabled);
        assert_eq!(logfile_name(""), LogTarget::Disabled);
        assert_eq!(logfile_name("Auto"), LogTarget::Auto);
        assert_eq!(logfile_name("syslog"), LogTarget::Syslog);
        assert_eq!(logfile_name("/x/y.log"), LogTarget::Path("/x/y.log".into()));
    }

    #[test]
    fn inet_addresses() {
        assert_eq!(
            inet_address("127.0.0.1:9001"),
            Ok(("127.0.0.1".into(), 9001))
        );
        assert_eq!(inet_address("*:9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address(":9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address("9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address("LocalHost:1"), Ok(("localhost".into(), 1)));
        assert_eq!(inet_address("[::1]:9001"), Ok(("[::1]".into(), 9001)));
        for bad in ["host:", "host:0", "host:70000", "x", "host:http"] {
            assert!(inet_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(process_or_group_name(" web "), Ok("web".into()));
        for bad in ["", "a b", "a:b", "a/b"] {
            assert!(process_or_group_name(bad).is_err(), "{bad}");
        }
        assert_eq!(list_of_strings("a, b,c"), vec!["a", "b", "c"]);
        assert!(list_of_strings("").is_empty());
    }

    #[test]
    fn users() {
        assert_eq!(existing_user("root"), Ok(0));
        assert_eq!(existing_user("0"), Ok(0));
        assert!(existing_user("no-such-user-sluice").is_err());
        assert!(user_group("root:no-such-group-sluice").is_err());
        assert!(user_group("root").is_ok());
    }
}
