//! `[program:x]` and `[group:g]` sections -> `GroupSpec`s of `ProcessSpec`s,
//! every option with supervisord 4's default and expansion rules.
//!
//! As supervisord: keys read once per program are expanded with `here`,
//! `program_name`, `group_name`, `host_node_name` and `ENV_*`; the keys
//! read per process (`environment`, `directory`, the `*_logfile*` keys,
//! `command`, `process_name`) may also use `process_num` and `numprocs`, and
//! the `ENV_*` of the program's own `environment`. A program named in a
//! `[group:g]` belongs to that group only; every other program is a group
//! of its own name.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::diagnostic::{Diags, Place};
use super::expand::Vars;
use super::load::Ctx;
use super::paths;
use super::section::Reader;
use super::sources::{Located, Sources};
use super::spec::{
    AgentSpec, AutoRestart, GroupSpec, Isolation, LogSpec, ProcessKind, ProcessSpec, StopSignal,
    SupervisordSection,
};
use super::values::{self, LogTarget};

/// Every `[program:x]` key supervisord 4 knows.
const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

/// What `[agent:x]` adds to the program keys (`command` is made for it).
const AGENT_KEYS: &[&str] = &["conf_file", "agent_name", "isolation"];

const DEFAULT_MAXBYTES: u64 = 50 * 1024 * 1024;

/// Build every group, sorted by priority then name.
pub fn read_groups(
    sources: &Sources,
    ctx: &Ctx,
    daemon: &SupervisordSection,
    diags: &mut Diags,
) -> Vec<GroupSpec> {
    // Programs by name, in file order.
    let mut programs: Vec<(String, &Located)> = Vec::new();
    for loc in &sources.sections {
        let name = &loc.section.name;
        let Some(raw) = name
            .strip_prefix("program:")
            .or_else(|| name.strip_prefix("agent:"))
        else {
            continue;
        };
        match values::process_or_group_name(raw) {
            Ok(name) => programs.push((name, loc)),
            Err(e) => diags.error(loc.at(None, None), format!("bad program name: {e}")),
        }
    }
    // The first section of each name (a later one is refused as a repeat).
    let mut by_name: HashMap<&str, &Located> = HashMap::new();
    for (name, loc) in &programs {
        by_name.entry(name.as_str()).or_insert(loc);
    }
    let find_program = |name: &str| by_name.get(name).copied();

    let mut groups: Vec<(GroupSpec, &Located)> = Vec::new();
    let mut in_groups: HashSet<String> = HashSet::new();

    for loc in &sources.sections {
        let Some(raw) = loc.section.name.strip_prefix("group:") else {
            continue;
        };
        let r = Reader::new(loc);
        r.warn_unknown(&["programs", "priority"], diags);
        let name = match values::process_or_group_name(raw) {
            Ok(n) => n,
            Err(e) => {
                diags.error(r.header(), format!("bad group name: {e}"));
                continue;
            }
        };
        let vars = ctx.base_vars(&loc.here);
        let mut members = match r.text("programs", &vars, diags) {
            Some(Ok(v)) => values::list_of_strings(&v),
            _ => Vec::new(),
        };
        // A program named twice runs once, as under supervisord.
        let mut named = HashSet::new();
        members.retain(|m| {
            let first = named.insert(m.clone());
            if !first {
                diags.warn(
                    r.at("programs"),
                    format!("'{m}' is named twice; its processes are in the group once"),
                );
            }
            first
        });
        let priority = priority(&r, &vars, diags);
        let mut processes = Vec::new();
        for member in members {
            match find_program(&member) {
                Some(ploc) => {
                    in_groups.insert(member.clone());
                    processes.extend(program_processes(ploc, &member, &name, ctx, daemon, diags));
                }
                None => {
                    let fcgi = format!("fcgi-program:{member}");
                    if sources.section(&fcgi).is_some() {
                        diags.warn(
                            r.at("programs"),
                            format!("[{fcgi}] is not supported yet (left out of the group)"),
                        );
                    } else {
                        diags.error(
                            r.at("programs"),
                            format!(
                                "names '{member}', but there is no [program:{member}] or [agent:{member}]"
                            ),
                        );
                    }
                }
            }
        }
        groups.push((
            GroupSpec {
                name,
                priority,
                processes,
            },
            loc,
        ));
    }

    for (name, loc) in &programs {
        if in_groups.contains(name) {
            continue;
        }
        let vars = program_vars(ctx, loc, name, name);
        let priority = priority(&Reader::new(loc), &vars, &mut Diags::default());
        let processes = program_processes(loc, name, name, ctx, daemon, diags);
        groups.push((
            GroupSpec {
                name: name.clone(),
                priority,
                processes,
            },
            loc,
        ));
    }

    check_unique(&mut groups, diags);
    let mut groups: Vec<GroupSpec> = groups.into_iter().map(|(g, _)| g).collect();
    groups.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    groups
}

/// A group's or program's `priority` (supervisord's default 999).
fn priority(r: &Reader, vars: &Vars, diags: &mut Diags) -> i32 {
    r.ranged(
        "priority",
        vars,
        diags,
        999,
        values::PRIORITY,
        values::integer,
    )
}

/// Group names are unique. Two processes of one name in a group (from
/// two programs with the same process_name): the later runs, as in
/// supervisord's dict of a group's processes, with a warning.
fn check_unique(groups: &mut [(GroupSpec, &Located)], diags: &mut Diags) {
    let mut names: HashMap<String, &Located> = HashMap::new();
    for (g, loc) in groups.iter_mut() {
        if let Some(first) = names.get(&g.name) {
            diags.error(
                loc.at(None, None),
                format!(
                    "the group name '{}' is already used by [{}] ({}:{})",
                    g.name,
                    first.section.name,
                    first.file.display(),
                    first.section.line
                ),
            );
        } else {
            names.insert(g.name.clone(), loc);
        }
        // Each name's last process.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, p) in g.processes.iter().enumerate() {
            if let Some(earlier) = last.insert(&p.name, i) {
                let (first, p) = (&g.processes[earlier], p);
                diags.warn(
                    Place {
                        file: &p.file,
                        line: Some(p.line),
                        section: Some(&p.section()),
                        key: Some("process_name"),
                    },
                    format!(
                        "two processes named '{}' in group '{}' (from [{}] and [{}]): only the \
                         later runs, as under supervisord; set process_name so that each is unique",
                        p.name,
                        g.name,
                        first.section(),
                        p.section()
                    ),
                );
            }
        }
        if last.len() < g.processes.len() {
            let keep: HashSet<usize> = last.into_values().collect();
            let mut i = 0;
            g.processes.retain(|_| {
                i += 1;
                keep.contains(&(i - 1))
            });
        }
    }
}

/// The names every key of a program section may use.
fn program_vars(ctx: &Ctx, loc: &Located, program: &str, group: &str) -> Vars {
    let mut vars = ctx.base_vars(&loc.here);
    vars.set_str("program_name", program);
    vars.set_str("group_name", group);
    vars
}

/// One output stream's settings before AUTO is placed.
struct Stream {
    target: LogTarget,
    spec: LogSpec,
}

/// The processes of one `[program:x]` in group `group`.
fn program_processes(
    loc: &Located,
    program: &str,
    group: &str,
    ctx: &Ctx,
    daemon: &SupervisordSection,
    diags: &mut Diags,
) -> Vec<ProcessSpec> {
    let r = Reader::new(loc);
    if diags.budget_spent() {
        return Vec::new();
    }
    let is_agent_section = loc.section.name.starts_with("agent:");
    let known: Vec<&str> = PROGRAM_KEYS
        .iter()
        .chain(if is_agent_section {
            AGENT_KEYS
        } else {
            &["isolation"]
        })
        .copied()
        .filter(|k| !(is_agent_section && *k == "command"))
        .collect();
    r.warn_unknown(&known, diags);
    let vars = program_vars(ctx, loc, program, group);
    let isolation = r.parse(
        "isolation",
        &vars,
        diags,
        Isolation::InProcess,
        values::isolation,
    );

    let priority = priority(&r, &vars, diags);
    let autostart = r.parse("autostart", &vars, diags, true, values::boolean);
    let autorestart = r.parse(
        "autorestart",
        &vars,
        diags,
        AutoRestart::Unexpected,
        values::autorestart,
    );
    let startsecs = r.ranged(
        "startsecs",
        &vars,
        diags,
        1,
        values::SECONDS,
        values::integer,
    );
    let startretries = r.ranged(
        "startretries",
        &vars,
        diags,
        3,
        values::RETRIES,
        values::integer,
    );
    let stopsignal = r.parse(
        "stopsignal",
        &vars,
        diags,
        StopSignal {
            name: "TERM",
            number: libc::SIGTERM,
        },
        values::signal,
    );
    let stopwaitsecs = r.ranged(
        "stopwaitsecs",
        &vars,
        diags,
        10,
        values::SECONDS,
        values::integer,
    );
    let stopasgroup = r.parse("stopasgroup", &vars, diags, false, values::boolean);
    let killasgroup = r.parse("killasgroup", &vars, diags, stopasgroup, values::boolean);
    if stopasgroup && !killasgroup {
        diags.error(
            r.at("killasgroup"),
            "cannot be false when stopasgroup=true (a group stop needs a group kill)",
        );
    }
    let exitcodes = r.parse("exitcodes", &vars, diags, vec![0], values::exitcodes);
    let redirect_stderr = r.parse("redirect_stderr", &vars, diags, false, values::boolean);
    let numprocs: i64 = r.ranged(
        "numprocs",
        &vars,
        diags,
        1,
        values::NUMPROCS,
        values::integer,
    );
    let mut numprocs_start: i64 = r.ranged(
        "numprocs_start",
        &vars,
        diags,
        0,
        values::ANY,
        values::integer,
    );
    if numprocs_start.checked_add(numprocs).is_none() {
        diags.error(
            r.at("numprocs_start"),
            format!("numprocs_start + numprocs is beyond {}", i64::MAX),
        );
        numprocs_start = 0;
    }
    let stdout_capture = r.ranged(
        "stdout_capture_maxbytes",
        &vars,
        diags,
        0,
        values::BYTES,
        values::byte_size,
    );
    let stdout_events = r.parse(
        "stdout_events_enabled",
        &vars,
        diags,
        false,
        values::boolean,
    );
    let stderr_capture = r.ranged(
        "stderr_capture_maxbytes",
        &vars,
        diags,
        0,
        values::BYTES,
        values::byte_size,
    );
    let stderr_events = r.parse(
        "stderr_events_enabled",
        &vars,
        diags,
        false,
        values::boolean,
    );
    let serverurl = match r.text("serverurl", &vars, diags) {
        Some(Ok(v)) if !v.trim().eq_ignore_ascii_case("auto") && !v.is_empty() => Some(v),
        _ => None,
    };
    let user = r.parse_opt("user", &vars, diags, |v| {
        values::existing_user(v).map(|_| v.to_string())
    });
    let umask = r.parse_opt("umask", &vars, diags, values::octal);

    let process_name = r.raw("process_name").unwrap_or("%(program_name)s");
    let mut count = numprocs;
    if numprocs > 1 && !process_name.contains("%(process_num)") {
        // One process is enough to check the rest without repeating names.
        count = 1;
        diags.error(
            r.at("process_name"),
            format!(
                "numprocs={numprocs} needs %(process_num) in process_name so that each process \
                 has its own name, e.g. process_name=%(program_name)s_%(process_num)02d"
            ),
        );
    }
    if r.entry("command").is_none() && !is_agent_section {
        diags.error(
            r.header(),
            "command= is missing (every [program:x] needs the command to run)",
        );
    }

    let mut out = Vec::new();
    // A value refused in one process is refused in every one: one is
    // enough to say so, and the rest would spend the budget for nothing.
    let refused = diags.refusals();
    // In range: numprocs_start + numprocs was checked above.
    for num in numprocs_start..numprocs_start.saturating_add(count) {
        if diags.budget_spent() || diags.refusals() > refused {
            break;
        }
        let mut vars = vars.clone();
        vars.set_int("process_num", num);
        vars.set_int("numprocs", numprocs);

        let own_env = r.pairs("environment", &vars, diags);
        vars.set_env(own_env.iter().map(|(k, v)| (k, v)));

        let name = match r.text("process_name", &vars, diags) {
            None => program.to_string(),
            Some(Ok(n)) => match values::process_or_group_name(&n) {
                Ok(n) => n,
                Err(e) => {
                    diags.error(r.at("process_name"), e);
                    n
                }
            },
            Some(Err(())) => program.to_string(),
        };
        let directory = match r.text("directory", &vars, diags) {
            Some(Ok(d)) => Some(PathBuf::from(paths::expand_user(&d, ctx.home())))
                .filter(|d| r.path_fits("directory", d, diags)),
            _ => None,
        };
        let mut stdout = stream(&r, "stdout", &vars, ctx, diags);
        let mut stderr = stream(&r, "stderr", &vars, ctx, diags);
        stdout.spec.capture_maxbytes = stdout_capture;
        stdout.spec.events_enabled = stdout_events;
        stderr.spec.capture_maxbytes = stderr_capture;
        stderr.spec.events_enabled = stderr_events;
        if redirect_stderr {
            if let LogTarget::Path(_) = stderr.target {
                diags.warn(
                    r.at("stderr_logfile"),
                    "ignored: redirect_stderr=true sends stderr to the stdout log",
                );
            }
            stderr.target = LogTarget::Disabled;
        }
        let (mut kind, command) = if is_agent_section {
            agent_section(&r, &vars, isolation, directory.as_deref(), diags)
        } else {
            let command = match r.text("command", &vars, diags) {
                Some(Ok(c)) => {
                    check_command(&r, &c, diags);
                    c
                }
                _ => String::new(),
            };
            flume_ng_command(&r, command, isolation, directory.as_deref(), diags)
        };
        let command_key = if is_agent_section {
            "conf_file"
        } else {
            "command"
        };
        if let ProcessKind::Agent(agent) = &mut kind
            && r.path_fits(command_key, &agent.conf_file, diags)
        {
            agent.conf_digest = ctx.digest_of(&agent.conf_file);
        }

        let environment = merge_environment(&daemon.environment, own_env);

        let spec = ProcessSpec {
            stdout: place_log(stdout, &name, "stdout", daemon),
            stderr: place_log(stderr, &name, "stderr", daemon),
            name,
            group: group.to_string(),
            program_name: program.to_string(),
            file: loc.file.clone(),
            line: loc.section.line,
            kind,
            command,
            priority,
            autostart,
            startsecs,
            startretries,
            autorestart,
            exitcodes: exitcodes.clone(),
            stopsignal,
            stopwaitsecs,
            stopasgroup,
            killasgroup,
            user: user.clone(),
            redirect_stderr,
            environment,
            directory,
            umask,
            serverurl: serverurl.clone(),
        };
        auto_logs_fit(&r, &spec, diags);
        if !charge_copies(&r, &spec, daemon, diags) {
            break;
        }
        out.push(spec);
    }
    // supervisord orders a program's processes by (priority, name).
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The daemon's `environment` with the program's over it (same keys keep
/// their place, new ones follow in order).
fn merge_environment(
    daemon: &[(String, String)],
    own: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut environment = daemon.to_vec();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (i, (k, _)) in environment.iter().enumerate() {
        at.entry(k.clone()).or_insert(i);
    }
    for (k, v) in own {
        match at.get(&k) {
            Some(&i) => environment[i].1 = v,
            None => {
                at.insert(k.clone(), environment.len());
                environment.push((k, v));
            }
        }
    }
    environment
}

/// An AUTO log path (made of childlogdir, the process name and the
/// identifier, each short enough alone) of PATH_MAX bytes or more is an
/// error at its key.
fn auto_logs_fit(r: &Reader, p: &ProcessSpec, diags: &mut Diags) {
    for (log, key) in [(&p.stdout, "stdout_logfile"), (&p.stderr, "stderr_logfile")] {
        if log.auto
            && let Some(path) = &log.path
            && !paths::fits(path)
        {
            diags.error(
                r.at(key),
                format!(
                    "the AUTO log file (childlogdir/NAME-{}---IDENTIFIER.log) would be a path \
                     of {} bytes or more (PATH_MAX): choose a shorter childlogdir, process_name \
                     or identifier",
                    &key[..6],
                    paths::PATH_MAX
                ),
            );
        }
    }
}

/// Count what each process copies from values read once for many
/// processes: the daemon's `environment`, the program's `exitcodes`,
/// `user` and `serverurl`, its names, and the AUTO log paths (holding
/// `childlogdir` and `identifier`). A process's own expansions were counted
/// by `Reader::text`, and what is built from them alone (an agent's
/// command) is no bigger. False once the load's budget is spent.
fn charge_copies(
    r: &Reader,
    p: &ProcessSpec,
    daemon: &SupervisordSection,
    diags: &mut Diags,
) -> bool {
    let text = |s: Option<&String>| s.map_or(0, String::len);
    let auto = |log: &LogSpec| {
        log.path
            .as_ref()
            .filter(|_| log.auto)
            .map_or(0, |p| p.as_os_str().len())
    };
    let copies = [
        (
            "environment",
            daemon
                .environment
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum(),
            "[supervisord] environment=, copied into the environment of each process,",
        ),
        (
            "exitcodes",
            p.exitcodes.len() * std::mem::size_of::<i32>(),
            "exitcodes, copied into each process,",
        ),
        (
            "user",
            text(p.user.as_ref()),
            "user, copied into each process,",
        ),
        (
            "serverurl",
            text(p.serverurl.as_ref()),
            "serverurl, copied into each process,",
        ),
        (
            "process_name",
            p.group.len() + p.program_name.len(),
            "the program and group name, copied into each process,",
        ),
        (
            "stdout_logfile",
            auto(&p.stdout),
            "the AUTO stdout log path of each process",
        ),
        (
            "stderr_logfile",
            auto(&p.stderr),
            "the AUTO stderr log path of each process",
        ),
    ];
    copies
        .into_iter()
        .all(|(key, bytes, what)| bytes == 0 || diags.charge(r.at(key), bytes, what))
}

/// A command that can never be split into words is an error; an empty one
/// is supervisord's "command is empty" spawn error when it starts (a
/// warning here: the rest of the config runs, as under supervisord).
fn check_command(r: &Reader, command: &str, diags: &mut Diags) {
    match shlex::split(command) {
        None => diags.error(
            r.at("command"),
            format!(
                "cannot be split into words: {command:?} has a quote that is not closed \
                 or ends in a backslash"
            ),
        ),
        Some(words) if words.is_empty() => diags.warn(
            r.at("command"),
            "is empty: this program cannot start (its start fails with \"command is empty\", \
             as under supervisord)",
        ),
        Some(_) => {}
    }
}

/// `[agent:x]`: the agent from `conf_file` and `agent_name`.
fn agent_section(
    r: &Reader,
    vars: &Vars,
    isolation: Isolation,
    directory: Option<&Path>,
    diags: &mut Diags,
) -> (ProcessKind, String) {
    let mut text = |key: &'static str| match r.text(key, vars, diags) {
        Some(Ok(v)) if !v.trim().is_empty() => Some(v.trim().to_string()),
        Some(Ok(_)) => {
            diags.error(r.at(key), "is empty");
            None
        }
        Some(Err(())) => None,
        None => {
            diags.error(
                r.header(),
                format!("{key}= is missing (an [agent:x] needs conf_file and agent_name)"),
            );
            None
        }
    };
    let conf_file = text("conf_file").unwrap_or_default();
    let agent_name = text("agent_name").unwrap_or_default();
    agent_kind(
        PathBuf::from(conf_file),
        agent_name,
        &[],
        isolation,
        directory,
    )
}

/// A `[program:x]` whose command runs `flume-ng agent ...` becomes an agent
/// sluice runs itself; any other command stays a command.
fn flume_ng_command(
    r: &Reader,
    command: String,
    isolation: Isolation,
    directory: Option<&Path>,
    diags: &mut Diags,
) -> (ProcessKind, String) {
    match crate::engine::flume_ng::recognise(&command) {
        None => {
            if r.entry("isolation").is_some() {
                diags.warn(
                    r.at("isolation"),
                    "ignored: only an agent (a flume-ng agent command) has an isolation",
                );
            }
            (ProcessKind::Command, command)
        }
        Some(Err(e)) => {
            diags.error(r.at("command"), e);
            (ProcessKind::Command, command)
        }
        Some(Ok(args)) => {
            let options = args.options();
            for w in options.warnings {
                diags.warn(r.at("command"), w);
            }
            // Keep the user's command for status and config info.
            let (mut kind, _) = agent_kind(
                args.conf_file,
                args.name,
                &args.defines,
                isolation,
                directory,
            );
            if let ProcessKind::Agent(agent) = &mut kind {
                agent.log_level = options.log_level;
            }
            (kind, command)
        }
    }
}

/// The agent kind, and the `sluice agent` command that runs it as a child
/// process (when isolation=process), with the `-D` properties it was given.
fn agent_kind(
    conf_file: PathBuf,
    agent_name: String,
    defines: &[String],
    isolation: Isolation,
    directory: Option<&Path>,
) -> (ProcessKind, String) {
    let conf_file = match directory {
        Some(dir) if conf_file.is_relative() => paths::normalize(&conf_file, dir),
        _ => conf_file,
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sluice"));
    let mut words = vec![
        exe.display().to_string(),
        "agent".to_string(),
        "--conf-file".to_string(),
        conf_file.display().to_string(),
        "--name".to_string(),
        agent_name.clone(),
    ];
    words.extend(defines.iter().map(|d| format!("-D{d}")));
    let child_command = shlex::try_join(words.iter().map(String::as_str)).unwrap_or_default();
    (
        ProcessKind::Agent(AgentSpec {
            conf_digest: None,
            conf_file,
            agent_name,
            isolation,
            child_command: child_command.clone(),
            log_level: crate::engine::log::Level::Info,
        }),
        child_command,
    )
}

/// `<which>_logfile`, `_logfile_maxbytes`, `_logfile_backups`, `_syslog`.
fn stream(r: &Reader, which: &'static str, vars: &Vars, ctx: &Ctx, diags: &mut Diags) -> Stream {
    let (lf_key, mb_key, bu_key, sy_key) = match which {
        "stdout" => (
            "stdout_logfile",
            "stdout_logfile_maxbytes",
            "stdout_logfile_backups",
            "stdout_syslog",
        ),
        _ => (
            "stderr_logfile",
            "stderr_logfile_maxbytes",
            "stderr_logfile_backups",
            "stderr_syslog",
        ),
    };
    let mut target = match r.text(lf_key, vars, diags) {
        Some(Ok(v)) => values::logfile_name(&v),
        Some(Err(())) => LogTarget::Disabled,
        None => LogTarget::Auto,
    };
    let maxbytes = r.ranged(
        mb_key,
        vars,
        diags,
        DEFAULT_MAXBYTES,
        values::BYTES,
        values::byte_size,
    );
    let backups = r.ranged(bu_key, vars, diags, 10, values::BACKUPS, values::integer);
    let mut syslog = r.parse(sy_key, vars, diags, false, values::boolean);
    match &target {
        LogTarget::Syslog => {
            diags.warn(
                r.at(lf_key),
                format!("{lf_key}=syslog is deprecated: use {sy_key}=true instead"),
            );
            target = LogTarget::Disabled;
            syslog = true;
        }
        LogTarget::Path(p) => {
            let p = paths::expand_user(p, ctx.home());
            target = if r.path_fits(lf_key, Path::new(&p), diags) {
                if let Some(dir) = paths::parent_dir(Path::new(&p))
                    && !ctx.dir_ok(dir)
                {
                    diags.error(
                        r.at(lf_key),
                        format!(
                            "the directory {} does not exist (supervisord does not create it; \
                             create it or choose another path)",
                            dir.display()
                        ),
                    );
                }
                LogTarget::Path(p)
            } else {
                LogTarget::Disabled
            };
        }
        LogTarget::Auto if maxbytes == 0 => diags.warn(
            r.at(mb_key),
            format!("AUTO {lf_key} without rollover (maxbytes=0) can fill the disk"),
        ),
        _ => {}
    }
    Stream {
        target,
        spec: LogSpec {
            path: None,
            auto: false,
            maxbytes,
            backups,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog,
        },
    }
}

/// Resolve AUTO to `<childlogdir>/<name>-<channel>---<identifier>.log`.
fn place_log(s: Stream, name: &str, channel: &str, daemon: &SupervisordSection) -> LogSpec {
    let auto = matches!(s.target, LogTarget::Auto);
    let path = match s.target {
        LogTarget::Disabled | LogTarget::Syslog => None,
        LogTarget::Auto => Some(
            daemon
                .childlogdir
                .join(format!("{name}-{channel}---{}.log", daemon.identifier)),
        ),
        LogTarget::Path(p) => Some(PathBuf::from(p)),
    };
    LogSpec {
        path,
        auto,
        ..s.spec
    }
}
