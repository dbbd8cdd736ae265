//! The methods of supervisord 4.x's API beyond start/stop/status/logs:
//! signals, stdin, clearing logs, the config listing, remote events.
//! Arguments, results and faults as `rpcinterface.py` has them.

use super::{Api, result_value, split_namespec};
use crate::config::{GroupSpec, LogSpec, ProcessSpec};
use crate::rpc::{Fault, Value, faults};
use crate::supervisor::Request;
use crate::supervisor::info::ProcessInfo;
use crate::supervisor::state::State;

/// Whether supervisord takes `n` as a signal number: 0 (a probe) to 31,
/// and the first and last realtime signals (Python names only those).
fn known_signal_number(n: i64) -> bool {
    (0..=31).contains(&n) || n == i64::from(libc::SIGRTMIN()) || n == i64::from(libc::SIGRTMAX())
}

/// supervisord's `signal_number`: a number (int, or text Python's `int()`
/// reads) or a name with or without `SIG`, any case. `Err` is the
/// BAD_SIGNAL fault naming the value as given.
pub fn parse_signal(value: &Value) -> Result<i32, Fault> {
    let bad = |shown: String| Fault::new(faults::BAD_SIGNAL, shown);
    let number = match value {
        Value::Int(n) => Some(*n),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    if let Some(n) = number {
        return if known_signal_number(n) {
            Ok(n as i32)
        } else {
            Err(bad(python_str(value)))
        };
    }
    let Value::String(s) = value else {
        return Err(bad(python_str(value)));
    };
    // Python also names the first and last realtime signals.
    let upper = s.trim().to_uppercase();
    let found = match upper.strip_prefix("SIG").unwrap_or(&upper) {
        "RTMIN" => Some(libc::SIGRTMIN()),
        "RTMAX" => Some(libc::SIGRTMAX()),
        _ => crate::config::values::signal_named(s).map(|(_, n)| n),
    };
    found.ok_or_else(|| bad(s.clone()))
}

/// How Python's `str()` shows an argument in a fault's detail.
fn python_str(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        Value::Double(d) => format!("{d:?}"),
        Value::DateTime(s) => s.clone(),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "None".into(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_str).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Struct(members) => {
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("'{k}': {}", python_str(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// supervisord's SIGNALLABLE_STATES.
fn signallable(state: State) -> bool {
    matches!(state, State::Running | State::Starting | State::Stopping)
}

/// Faults from the manager name the process `group:name`; the API answers
/// with the name the caller used, except for faults that carry a sentence.
fn as_called(f: Fault, name: &str) -> Fault {
    if f.code == faults::FAILED {
        f
    } else {
        Fault::new(f.code, name)
    }
}

/// A config value supervisord shows as the text `none` when unset.
fn or_none(v: Option<String>) -> Value {
    Value::String(v.unwrap_or_else(|| "none".to_string()))
}

/// The numeric uid of a `user=` value (a name or a number).
fn uid_of(user: &str) -> Option<u32> {
    if let Ok(n) = user.parse::<u32>() {
        return Some(n);
    }
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

fn log_fields(prefix: &str, log: &LogSpec) -> Vec<(String, Value)> {
    vec![
        (
            format!("{prefix}_capture_maxbytes"),
            Value::Int(log.capture_maxbytes as i64),
        ),
        (
            format!("{prefix}_events_enabled"),
            Value::Bool(log.events_enabled),
        ),
        (
            format!("{prefix}_logfile"),
            or_none(log.path.as_ref().map(|p| p.display().to_string())),
        ),
        (
            format!("{prefix}_logfile_backups"),
            Value::Int(i64::from(log.backups)),
        ),
        (
            format!("{prefix}_logfile_maxbytes"),
            Value::Int(log.maxbytes as i64),
        ),
        (format!("{prefix}_syslog"), Value::Bool(log.syslog)),
    ]
}

/// One entry of `getAllConfigInfo`, with supervisord's keys.
pub fn config_info(group: &GroupSpec, p: &ProcessSpec, inuse: bool) -> Value {
    let mut m: Vec<(String, Value)> = vec![
        ("autostart".into(), Value::Bool(p.autostart)),
        (
            "directory".into(),
            or_none(p.directory.as_ref().map(|d| d.display().to_string())),
        ),
        (
            "uid".into(),
            match p.user.as_deref().and_then(uid_of) {
                Some(uid) => Value::Int(i64::from(uid)),
                None => "none".into(),
            },
        ),
        ("command".into(), p.command.clone().into()),
        (
            "exitcodes".into(),
            Value::Array(
                p.exitcodes
                    .iter()
                    .map(|c| Value::Int(i64::from(*c)))
                    .collect(),
            ),
        ),
        ("group".into(), group.name.clone().into()),
        ("group_prio".into(), Value::Int(i64::from(group.priority))),
        ("inuse".into(), Value::Bool(inuse)),
        ("killasgroup".into(), Value::Bool(p.killasgroup)),
        ("name".into(), p.name.clone().into()),
        ("process_prio".into(), Value::Int(i64::from(p.priority))),
        ("redirect_stderr".into(), Value::Bool(p.redirect_stderr)),
        ("startretries".into(), Value::Int(i64::from(p.startretries))),
        ("startsecs".into(), Value::Int(p.startsecs as i64)),
    ];
    m.extend(log_fields("stdout", &p.stdout));
    m.push((
        "stopsignal".into(),
        Value::Int(i64::from(p.stopsignal.number)),
    ));
    m.push(("stopwaitsecs".into(), Value::Int(p.stopwaitsecs as i64)));
    m.extend(log_fields("stderr", &p.stderr));
    // supervisord's AUTO (the daemon's own URL) shows as `none`.
    m.push(("serverurl".into(), or_none(p.serverurl.clone())));
    Value::Struct(m)
}

impl Api {
    /// supervisord's `_update`: every `supervisor.*` call but a few is
    /// refused once the daemon is shutting down or restarting.
    pub(super) fn check_mood(&self) -> Result<(), Fault> {
        use crate::supervisor::Mood;
        if self.handle().snapshot().mood == Mood::Running {
            Ok(())
        } else {
            Err(Fault::new(faults::SHUTDOWN_STATE, ""))
        }
    }

    /// `getAllConfigInfo`: every process of the config as last read,
    /// sorted by process name (stable, so groups keep their order).
    pub(super) fn all_config_info(&self) -> Value {
        let snap = self.handle().snapshot();
        let configured = self.handle().configured();
        let mut out: Vec<(String, Value)> = Vec::new();
        for group in configured.iter() {
            let inuse = snap.processes.iter().any(|p| p.group == group.name);
            for p in &group.processes {
                out.push((p.name.clone(), config_info(group, p, inuse)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Array(out.into_iter().map(|(_, v)| v).collect())
    }

    /// `signalProcess(name, signal)`; `group:*` signals the group.
    pub(super) async fn signal_process(&self, name: &str, signal: &Value) -> Result<Value, Fault> {
        self.check_mood()?;
        let (group, proc_name) = split_namespec(name);
        let Some(proc_name) = proc_name else {
            let procs = self.group(&group).map_err(|f| as_called(f, name))?;
            return self.signal_many(procs, signal).await;
        };
        self.process(name)?;
        let sig = parse_signal(signal)?;
        self.handle()
            .ask(|reply| Request::Signal {
                group,
                name: proc_name,
                signal: sig,
                reply,
            })
            .await
            .map_err(|f| as_called(f, name))?;
        Ok(Value::Bool(true))
    }

    /// `signalProcessGroup(name, signal)`.
    pub(super) async fn signal_group(&self, name: &str, signal: &Value) -> Result<Value, Fault> {
        self.check_mood()?;
        let procs = self.group(name)?;
        let result = self.signal_many(procs, signal).await;
        self.check_mood()?;
        result
    }

    /// `signalAllProcesses(signal)`: like supervisord, the daemon's state
    /// is checked after the signals went out.
    pub(super) async fn signal_all(&self, signal: &Value) -> Result<Value, Fault> {
        let procs = self.handle().snapshot().processes.clone();
        let result = self.signal_many(procs, signal).await;
        self.check_mood()?;
        result
    }

    /// One result per signallable process, in priority order.
    async fn signal_many(&self, procs: Vec<ProcessInfo>, signal: &Value) -> Result<Value, Fault> {
        let mut results = Vec::new();
        for p in procs.iter().filter(|p| signallable(p.state)) {
            let outcome = match parse_signal(signal) {
                Err(f) => Err(f),
                Ok(sig) => self
                    .handle()
                    .ask(|reply| Request::Signal {
                        group: p.group.clone(),
                        name: p.name.clone(),
                        signal: sig,
                        reply,
                    })
                    .await
                    .map_err(|f| as_called(f, &p.namespec())),
            };
            results.push(match outcome {
                Ok(()) => result_value(&p.group, &p.name, faults::SUCCESS, "OK"),
                Err(f) => result_value(&p.group, &p.name, f.code, &f.string),
            });
        }
        Ok(Value::Array(results))
    }

    /// `sendProcessStdin(name, chars)`.
    pub(super) async fn send_stdin(&self, name: &Value, chars: &Value) -> Result<Value, Fault> {
        self.check_mood()?;
        let data = match chars {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Base64(b) => b.clone(),
            other => {
                return Err(Fault::new(faults::INCORRECT_PARAMETERS, python_str(other)));
            }
        };
        let name = name
            .as_str()
            .ok_or_else(|| Fault::new(faults::INCORRECT_PARAMETERS, ""))?;
        let (group, proc_name) = split_namespec(name);
        let proc_name = proc_name.ok_or_else(|| Fault::new(faults::BAD_NAME, name))?;
        self.process(name)?;
        self.handle()
            .ask(|reply| Request::SendStdin {
                group,
                name: proc_name,
                data,
                reply,
            })
            .await
            .map_err(|f| as_called(f, name))?;
        Ok(Value::Bool(true))
    }

    /// `clearLog`: the main log file is removed and the daemon's log goes
    /// on in a new, empty one.
    pub(super) fn clear_main_log(&self) -> Result<Value, Fault> {
        self.check_mood()?;
        let Some(file) = self.inner.daemon_log.get().and_then(|h| h.file()) else {
            return Err(Fault::new(faults::NO_FILE, ""));
        };
        let path = match file.lock() {
            Ok(f) => f.path().to_path_buf(),
            Err(_) => return Err(Fault::new(faults::FAILED, "")),
        };
        if !path.exists() {
            return Err(Fault::new(faults::NO_FILE, ""));
        }
        // supervisord logs this just before it reopens, so the line ends
        // up in the removed file (and on stdout in the foreground).
        tracing::info!("reopening log file");
        let cleared = match file.lock() {
            Ok(mut f) => f.clear(),
            Err(_) => Err(std::io::Error::other("daemon log lock poisoned")),
        };
        cleared.map_err(|_| Fault::new(faults::FAILED, ""))?;
        Ok(Value::Bool(true))
    }

    /// `clearProcessLogs(name)` (also `clearProcessLog`).
    pub(super) async fn clear_process_logs(&self, name: &str) -> Result<Value, Fault> {
        self.check_mood()?;
        let (group, proc_name) = split_namespec(name);
        let proc_name = proc_name.ok_or_else(|| Fault::new(faults::BAD_NAME, name))?;
        self.process(name)?;
        self.handle()
            .ask(|reply| Request::ClearLogs {
                group,
                name: proc_name,
                reply,
            })
            .await
            .map_err(|f| Fault::new(f.code, name))?;
        Ok(Value::Bool(true))
    }

    /// `clearAllProcessLogs`: one result per process, in priority order.
    pub(super) async fn clear_all_process_logs(&self) -> Result<Value, Fault> {
        self.check_mood()?;
        let procs = self.handle().snapshot().processes.clone();
        let mut results = Vec::new();
        for p in &procs {
            let namespec = p.namespec();
            let outcome = self
                .handle()
                .ask(|reply| Request::ClearLogs {
                    group: p.group.clone(),
                    name: p.name.clone(),
                    reply,
                })
                .await;
            results.push(match outcome {
                Ok(()) => result_value(&p.group, &p.name, faults::SUCCESS, "OK"),
                Err(f) => {
                    let f = Fault::new(f.code, &namespec);
                    result_value(&p.group, &p.name, f.code, &f.string)
                }
            });
        }
        Ok(Value::Array(results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number_as_supervisord() {
        assert_eq!(parse_signal(&"HUP".into()), Ok(libc::SIGHUP));
        assert_eq!(parse_signal(&"sighup".into()), Ok(libc::SIGHUP));
        assert_eq!(parse_signal(&" usr1 ".into()), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal(&"9".into()), Ok(9));
        assert_eq!(parse_signal(&Value::Int(15)), Ok(15));
        assert_eq!(parse_signal(&"0".into()), Ok(0));
        assert_eq!(parse_signal(&"RTMIN".into()), Ok(libc::SIGRTMIN()));
        let bad = parse_signal(&"FOO".into()).unwrap_err();
        assert_eq!(
            (bad.code, bad.string.as_str()),
            (faults::BAD_SIGNAL, "BAD_SIGNAL: FOO")
        );
        assert_eq!(
            parse_signal(&Value::Int(99)).unwrap_err().string,
            "BAD_SIGNAL: 99"
        );
        assert_eq!(
            parse_signal(&"35".into()).unwrap_err().code,
            faults::BAD_SIGNAL
        );
        assert_eq!(
            parse_signal(&"-1".into()).unwrap_err().code,
            faults::BAD_SIGNAL
        );
    }

    #[test]
    fn python_renderings() {
        assert_eq!(python_str(&Value::Int(5)), "5");
        assert_eq!(python_str(&Value::Bool(true)), "True");
        assert_eq!(
            python_str(&Value::Array(vec![Value::Int(1), "a".into()])),
            "[1, a]"
        );
    }
}
