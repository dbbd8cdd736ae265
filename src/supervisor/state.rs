//! supervisord's process state machine as a pure function.
//!
//! `Proc::step(event, now)` changes the state and returns the actions the
//! manager must carry out (spawn, signal, arm a timer, log). Nothing here
//! touches a process, a clock or a file, so every transition is testable
//! on its own. The rules follow supervisord 4.x `process.py`: STARTING becomes
//! RUNNING after `startsecs`; an exit before that is BACKOFF with waits of
//! 1 s, 2 s, 3 s ...; more than `startretries` backoffs is FATAL; a stop sends
//! `stopsignal` and escalates to SIGKILL after `stopwaitsecs`.

use std::time::{Duration, Instant};

use crate::config::{AutoRestart, StopSignal};

/// supervisord's process states, with its numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl State {
    pub fn code(self) -> i64 {
        match self {
            State::Stopped => 0,
            State::Starting => 10,
            State::Running => 20,
            State::Backoff => 30,
            State::Stopping => 40,
            State::Exited => 100,
            State::Fatal => 200,
            State::Unknown => 1000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// supervisord's RUNNING_STATES: a start request is refused in these.
    pub fn is_running(self) -> bool {
        matches!(self, State::Running | State::Backoff | State::Starting)
    }

    /// supervisord's STOPPED_STATES: a stop has finished in these.
    pub fn is_stopped(self) -> bool {
        matches!(
            self,
            State::Stopped | State::Exited | State::Fatal | State::Unknown
        )
    }
}

/// How a child ended, decoded from its wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    /// supervisord's exit status number: the code, or -1 when killed by a signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal { .. } => -1,
        }
    }

    /// `exit status 1` or `terminated by SIGTERM`, as supervisord words it.
    pub fn describe(self) -> String {
        match self {
            ExitStatus::Code(c) => format!("exit status {c}"),
            ExitStatus::Signal {
                signal,
                core_dumped,
            } => {
                let core = if core_dumped { " (core dumped)" } else { "" };
                format!("terminated by {}{core}", signal_name(signal))
            }
        }
    }
}

/// `SIGTERM` for 15, `signal 99` for what has no name.
pub fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    }
}

/// The settings of a process that the state machine needs.
#[derive(Debug, Clone)]
pub struct Rules {
    pub startsecs: u64,
    pub startretries: u32,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    pub stopsignal: StopSignal,
    pub stopwaitsecs: u64,
    pub stopasgroup: bool,
    pub killasgroup: bool,
}

/// What the manager feeds the state machine.
#[derive(Debug, Clone)]
pub enum Event {
    /// Start requested (autostart, a user, autorestart).
    Start,
    /// Stop requested.
    Stop,
    /// The spawn went through.
    Spawned { pid: i32 },
    /// The spawn failed before the program ran (not found, not executable...).
    SpawnFailed { error: String },
    /// The child ended.
    Exited { status: ExitStatus },
    /// The armed timer fired.
    Timer,
}

/// Severity of a daemon log line, mapped to the daemon's logger by the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// What the manager must do as a result of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fork and exec the program; answer with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send a signal to the child (to its whole process group when `group`).
    Signal { signal: i32, group: bool },
    /// Call back with `Event::Timer` at this instant (replaces any armed timer).
    ArmTimer(Instant),
    /// Forget the armed timer.
    CancelTimer,
    /// A line for the daemon's log.
    Log(Level, String),
}

/// The state of one process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub name: String,
    pub state: State,
    pub pid: i32,
    /// Consecutive failed starts.
    pub backoff: u32,
    pub laststart: Option<Instant>,
    pub laststop: Option<Instant>,
    /// A stop is in progress (so an exit is a stop, not a crash).
    pub killing: bool,
    pub exitstatus: Option<i32>,
    pub spawnerr: String,
    /// Set when the daemon is shutting down: no automatic restarts.
    pub shutting_down: bool,
}

impl Proc {
    pub fn new(name: impl Into<String>) -> Proc {
        Proc {
            name: name.into(),
            state: State::Stopped,
            pid: 0,
            backoff: 0,
            laststart: None,
            laststop: None,
            killing: false,
            exitstatus: None,
            spawnerr: String::new(),
            shutting_down: false,
        }
    }

    /// Apply one event; the returned actions are to be carried out in order.
    pub fn step(&mut self, rules: &Rules, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                if !self.state.is_running() && self.state != State::Stopping {
                    self.begin_spawn(now, &mut out);
                }
            }
            Event::Spawned { pid } => {
                if self.state == State::Starting && self.pid == 0 {
                    self.pid = pid;
                    self.spawnerr.clear();
                    out.push(Action::Log(
                        Level::Info,
                        format!("spawned: '{}' with pid {pid}", self.name),
                    ));
                    if rules.startsecs == 0 {
                        // supervisord makes the RUNNING transition on its next
                        // tick; with startsecs=0 that is right away.
                        self.enter_running(rules, &mut out);
                    } else {
                        out.push(Action::ArmTimer(
                            now + Duration::from_secs(rules.startsecs) + Duration::from_millis(1),
                        ));
                    }
                }
            }
            Event::SpawnFailed { error } => {
                if self.state == State::Starting {
                    out.push(Action::Log(Level::Info, format!("spawnerr: {error}")));
                    self.spawnerr = error;
                    self.enter_backoff(rules, now, &mut out);
                }
            }
            Event::Exited { status } => self.finish(rules, status, now, &mut out),
            Event::Timer => match self.state {
                State::Starting if self.pid != 0 => self.enter_running(rules, &mut out),
                State::Backoff => {
                    if self.shutting_down {
                        return out;
                    }
                    self.begin_spawn(now, &mut out);
                }
                State::Stopping if self.pid != 0 => {
                    out.push(Action::Log(
                        Level::Warn,
                        format!("killing '{}' ({}) with SIGKILL", self.name, self.pid),
                    ));
                    // supervisord's kill() then logs the signal it sends.
                    out.push(Action::Log(
                        Level::Debug,
                        format!(
                            "killing {} (pid {}) {}with signal SIGKILL",
                            self.name,
                            self.pid,
                            if rules.killasgroup {
                                "process group "
                            } else {
                                ""
                            }
                        ),
                    ));
                    out.push(Action::Signal {
                        signal: libc::SIGKILL,
                        group: rules.killasgroup,
                    });
                    // If even SIGKILL does not end it (a process stuck in the
                    // kernel), it stays STOPPING and supervisord sends SIGKILL
                    // again every stopwaitsecs; at least a second apart here,
                    // so stopwaitsecs=0 cannot spin.
                    out.push(Action::ArmTimer(
                        now + Duration::from_secs(rules.stopwaitsecs.max(1)),
                    ));
                }
                _ => {}
            },
            Event::Stop => match self.state {
                State::Backoff => {
                    // Nothing runs; supervisord just records the stop.
                    out.push(Action::Log(
                        Level::Debug,
                        format!(
                            "Attempted to kill {}, which is in BACKOFF state.",
                            self.name
                        ),
                    ));
                    out.push(Action::CancelTimer);
                    self.state = State::Stopped;
                }
                State::Starting | State::Running if self.pid != 0 => {
                    self.killing = true;
                    self.state = State::Stopping;
                    let signal = rules.stopsignal.number;
                    out.push(Action::Log(
                        Level::Debug,
                        format!(
                            "killing {} (pid {}) {}with signal {}",
                            self.name,
                            self.pid,
                            if rules.stopasgroup {
                                "process group "
                            } else {
                                ""
                            },
                            signal_name(signal)
                        ),
                    ));
                    out.push(Action::Signal {
                        signal,
                        group: rules.stopasgroup,
                    });
                    out.push(Action::ArmTimer(
                        now + Duration::from_secs(rules.stopwaitsecs),
                    ));
                }
                _ => {}
            },
        }
        out
    }

    /// supervisord's `spawn()`: a new life forgets the last one's exit
    /// status and spawn error (a spawn that fails sets its own again).
    fn begin_spawn(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Starting;
        self.laststart = Some(now);
        self.pid = 0;
        self.killing = false;
        self.exitstatus = None;
        self.spawnerr.clear();
        out.push(Action::CancelTimer);
        out.push(Action::Spawn);
    }

    fn enter_running(&mut self, rules: &Rules, out: &mut Vec<Action>) {
        self.backoff = 0;
        self.state = State::Running;
        out.push(Action::CancelTimer);
        out.push(Action::Log(
            Level::Info,
            format!(
                "success: {} entered RUNNING state, process has stayed up for > than {} seconds (startsecs)",
                self.name, rules.startsecs
            ),
        ));
    }

    fn enter_backoff(&mut self, rules: &Rules, now: Instant, out: &mut Vec<Action>) {
        self.pid = 0;
        self.state = State::Backoff;
        self.backoff += 1;
        if self.backoff > rules.startretries {
            self.backoff = 0;
            self.state = State::Fatal;
            out.push(Action::CancelTimer);
            out.push(Action::Log(
                Level::Info,
                format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    self.name
                ),
            ));
        } else if self.shutting_down {
            out.push(Action::CancelTimer);
        } else {
            out.push(Action::ArmTimer(
                now + Duration::from_secs(u64::from(self.backoff)),
            ));
        }
    }

    /// The child ended: supervisord's `finish()`.
    fn finish(&mut self, rules: &Rules, status: ExitStatus, now: Instant, out: &mut Vec<Action>) {
        if self.pid == 0 {
            return;
        }
        self.laststop = Some(now);
        let ran_for = self
            .laststart
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        let too_quickly = ran_for < Duration::from_secs(rules.startsecs);
        let code = status.code();
        let expected = matches!(status, ExitStatus::Code(_)) && rules.exitcodes.contains(&code);
        let how = status.describe();
        out.push(Action::CancelTimer);

        if self.killing {
            self.killing = false;
            self.exitstatus = Some(code);
            self.pid = 0;
            self.state = State::Stopped;
            let level = if expected { Level::Info } else { Level::Warn };
            out.push(Action::Log(
                level,
                format!("stopped: {} ({how})", self.name),
            ));
        } else if too_quickly && self.state == State::Starting {
            self.exitstatus = None;
            self.spawnerr = "Exited too quickly (process log may have details)".to_string();
            out.push(Action::Log(
                Level::Warn,
                format!("exited: {} ({how}; not expected)", self.name),
            ));
            self.enter_backoff(rules, now, out);
        } else {
            self.backoff = 0;
            self.exitstatus = Some(code);
            self.pid = 0;
            self.state = State::Exited;
            if expected {
                out.push(Action::Log(
                    Level::Info,
                    format!("exited: {} ({how}; expected)", self.name),
                ));
            } else {
                self.spawnerr = format!("Bad exit code {code}");
                out.push(Action::Log(
                    Level::Warn,
                    format!("exited: {} ({how}; not expected)", self.name),
                ));
            }
            let restart = match rules.autorestart {
                AutoRestart::Always => true,
                AutoRestart::Unexpected => !expected,
                AutoRestart::Never => false,
            };
            if restart && !self.shutting_down {
                self.begin_spawn(now, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            startsecs: 1,
            startretries: 3,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            stopsignal: StopSignal {
                name: "TERM",
                number: libc::SIGTERM,
            },
            stopwaitsecs: 10,
            stopasgroup: false,
            killasgroup: false,
        }
    }

    fn has_spawn(actions: &[Action]) -> bool {
        actions.contains(&Action::Spawn)
    }

    #[test]
    fn start_spawn_then_running_after_startsecs() {
        let r = rules();
        let t0 = Instant::now();
        let mut p = Proc::new("x");
        assert!(has_spawn(&p.step(&r, Event::Start, t0)));
        assert_eq!(p.state, State::Starting);
        let a = p.step(&r, Event::Spawned { pid: 42 }, t0);
        assert!(a.contains(&Action::Log(Level::Info, "spawned: 'x' with pid 42".into())));
        assert!(matches!(a.last(), Some(Action::ArmTimer(_))));
        let a = p.step(&r, Event::Timer, t0 + Duration::from_secs(2));
        assert_eq!(p.state, State::Running);
        assert!(a.iter().any(|x| matches!(x, Action::Log(_, m) if m == "success: x entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)")));
    }

    #[test]
    fn crash_loop_reaches_fatal_after_startretries_plus_one_spawns() {
        let r = rules();
        let mut now = Instant::now();
        let mut p = Proc::new("x");
        let mut spawns = 0;
        let mut actions = p.step(&r, Event::Start, now);
        let mut waits = Vec::new();
        loop {
            if has_spawn(&actions) {
                spawns += 1;
                p.step(&r, Event::Spawned { pid: 7 }, now);
                actions = p.step(
                    &r,
                    Event::Exited {
                        status: ExitStatus::Code(1),
                    },
                    now,
                );
                continue;
            }
            if p.state == State::Fatal {
                break;
            }
            assert_eq!(p.state, State::Backoff);
            let Some(Action::ArmTimer(at)) = actions.last().cloned() else {
                panic!("backoff without timer: {actions:?}")
            };
            waits.push(at - now);
            now = at;
            actions = p.step(&r, Event::Timer, now);
        }
        assert_eq!(spawns, 4);
        assert_eq!(
            waits,
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3)
            ]
        );
    }

    #[test]
    fn spawn_error_is_backoff_too() {
        let r = rules();
        let now = Instant::now();
        let mut p = Proc::new("x");
        p.step(&r, Event::Start, now);
        let a = p.step(
            &r,
            Event::SpawnFailed {
                error: "can't find command 'nope'".into(),
            },
            now,
        );
        assert_eq!(p.state, State::Backoff);
        assert_eq!(p.spawnerr, "can't find command 'nope'");
        assert!(a.contains(&Action::Log(
            Level::Info,
            "spawnerr: can't find command 'nope'".into()
        )));
    }

    #[test]
    fn autorestart_against_exitcodes() {
        for (mode, code, restarts) in [
            (AutoRestart::Unexpected, 0, false),
            (AutoRestart::Unexpected, 2, true),
            (AutoRestart::Always, 0, true),
            (AutoRestart::Never, 2, false),
        ] {
            let mut r = rules();
            r.autorestart = mode;
            let t0 = Instant::now();
            let mut p = Proc::new("x");
            p.step(&r, Event::Start, t0);
            p.step(&r, Event::Spawned { pid: 9 }, t0);
            let t1 = t0 + Duration::from_secs(5);
            p.step(&r, Event::Timer, t1);
            let a = p.step(
                &r,
                Event::Exited {
                    status: ExitStatus::Code(code),
                },
                t1,
            );
            assert_eq!(has_spawn(&a), restarts, "{mode:?} {code}");
            let expected_state = if restarts {
                State::Starting
            } else {
                State::Exited
            };
            assert_eq!(p.state, expected_state);
            // A respawned process has no exit status yet, as supervisord's.
            let status = if restarts { None } else { Some(code) };
            assert_eq!(p.exitstatus, status, "{mode:?} {code}");
            if restarts {
                assert_eq!(p.spawnerr, "");
            }
        }
    }

    #[test]
    fn stop_signals_then_escalates_to_sigkill() {
        let mut r = rules();
        r.stopasgroup = true;
        r.killasgroup = true;
        let t0 = Instant::now();
        let mut p = Proc::new("x");
        p.step(&r, Event::Start, t0);
        p.step(&r, Event::Spawned { pid: 9 }, t0);
        p.step(&r, Event::Timer, t0 + Duration::from_secs(2));
        let a = p.step(&r, Event::Stop, t0 + Duration::from_secs(3));
        assert_eq!(p.state, State::Stopping);
        assert!(a.contains(&Action::Signal {
            signal: libc::SIGTERM,
            group: true
        }));
        let a = p.step(&r, Event::Timer, t0 + Duration::from_secs(13));
        assert!(a.contains(&Action::Signal {
            signal: libc::SIGKILL,
            group: true
        }));
        let a = p.step(
            &r,
            Event::Exited {
                status: ExitStatus::Signal {
                    signal: libc::SIGKILL,
                    core_dumped: false,
                },
            },
            t0 + Duration::from_secs(13),
        );
        assert_eq!(p.state, State::Stopped);
        assert!(a.contains(&Action::Log(
            Level::Warn,
            "stopped: x (terminated by SIGKILL)".into()
        )));
    }

    #[test]
    fn stop_in_backoff_is_stopped_and_no_restart_when_shutting_down() {
        let r = rules();
        let t0 = Instant::now();
        let mut p = Proc::new("x");
        p.step(&r, Event::Start, t0);
        p.step(
            &r,
            Event::SpawnFailed {
                error: "nope".into(),
            },
            t0,
        );
        p.step(&r, Event::Stop, t0);
        assert_eq!(p.state, State::Stopped);

        let mut r = rules();
        r.autorestart = AutoRestart::Always;
        let mut p = Proc::new("y");
        p.step(&r, Event::Start, t0);
        p.step(&r, Event::Spawned { pid: 3 }, t0);
        p.step(&r, Event::Timer, t0 + Duration::from_secs(2));
        p.shutting_down = true;
        let a = p.step(
            &r,
            Event::Exited {
                status: ExitStatus::Code(0),
            },
            t0 + Duration::from_secs(3),
        );
        assert!(!has_spawn(&a));
        assert_eq!(p.state, State::Exited);
    }

    #[test]
    fn sigkill_is_repeated_while_the_process_lives() {
        let r = rules();
        let t0 = Instant::now();
        let mut p = Proc::new("x");
        p.step(&r, Event::Start, t0);
        p.step(&r, Event::Spawned { pid: 9 }, t0);
        p.step(&r, Event::Stop, t0);
        let wait = Duration::from_secs(r.stopwaitsecs);
        for round in 1..=2u32 {
            let now = t0 + wait * round;
            let a = p.step(&r, Event::Timer, now);
            assert_eq!(p.state, State::Stopping);
            assert!(a.contains(&Action::Signal {
                signal: libc::SIGKILL,
                group: false
            }));
            assert!(a.contains(&Action::ArmTimer(now + wait)), "{a:?}");
        }
    }

    #[test]
    fn exit_describes_like_supervisord() {
        assert_eq!(ExitStatus::Code(3).describe(), "exit status 3");
        assert_eq!(
            ExitStatus::Signal {
                signal: libc::SIGTERM,
                core_dumped: false
            }
            .describe(),
            "terminated by SIGTERM"
        );
    }
}
