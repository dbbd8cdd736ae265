//! Whole-load tests: real files in temp dirs, a controlled environment.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::load::{Host, load_with};
use super::*;

fn host(cwd: &Path) -> Host {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/home/tester".to_string());
    env.insert("GREETING".to_string(), "hello".to_string());
    Host {
        env,
        node: "testnode".to_string(),
        cwd: cwd.to_path_buf(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&path, text).expect("write");
    path
}

/// A temp dir holding `sluice.conf` with `text`; the dir is also the cwd.
fn conf(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "sluice.conf", text);
    (dir, path)
}

fn load_file(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let cwd = path.parent().unwrap_or(Path::new("/"));
    load_with(&ConfigSource::File(path.to_path_buf()), &host(cwd))
}

fn ok(path: &Path) -> Loaded {
    match load_file(path) {
        Ok(l) => l,
        Err(d) => panic!("expected a clean load, got:\n{}", render(&d)),
    }
}

fn errs(path: &Path) -> Vec<Diagnostic> {
    match load_file(path) {
        Ok(l) => panic!("expected errors, loaded {:?}", l.config.groups),
        Err(d) => d,
    }
}

fn render(d: &[Diagnostic]) -> String {
    d.iter().map(|d| format!("{d}\n")).collect()
}

fn errors_only(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|d| d.is_error()).collect()
}

/// Is there an error at `line` about `key` whose message contains `text`?
fn has_error(d: &[Diagnostic], line: usize, key: Option<&str>, text: &str) -> bool {
    d.iter().any(|d| {
        d.is_error() && d.line == Some(line) && d.key.as_deref() == key && d.message.contains(text)
    })
}

fn process<'a>(c: &'a Config, group: &str, name: &str) -> &'a ProcessSpec {
    c.groups
        .iter()
        .find(|g| g.name == group)
        .and_then(|g| g.processes.iter().find(|p| p.name == name))
        .unwrap_or_else(|| panic!("no process {group}:{name} in {:?}", c.groups))
}

#[test]
fn every_program_default() {
    let (dir, path) = conf("[supervisord]\n[program:web]\ncommand=/bin/cat\n");
    let loaded = ok(&path);
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
    let c = &loaded.config;
    assert_eq!(c.groups.len(), 1);
    assert_eq!(c.groups[0].name, "web");
    assert_eq!(c.groups[0].priority, 999);
    let p = process(c, "web", "web");
    let tmp = std::env::temp_dir();
    let expected = ProcessSpec {
        name: "web".into(),
        group: "web".into(),
        program_name: "web".into(),
        file: path.clone(),
        line: 2,
        kind: ProcessKind::Command,
        command: "/bin/cat".into(),
        priority: 999,
        autostart: true,
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
        user: None,
        redirect_stderr: false,
        stdout: LogSpec {
            path: Some(tmp.join("web-stdout---supervisor.log")),
            auto: true,
            maxbytes: 50 * 1024 * 1024,
            backups: 10,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog: false,
        },
        stderr: LogSpec {
            path: Some(tmp.join("web-stderr---supervisor.log")),
            auto: true,
            maxbytes: 50 * 1024 * 1024,
            backups: 10,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog: false,
        },
        environment: vec![],
        directory: None,
        umask: None,
        serverurl: None,
    };
    assert_eq!(*p, expected);
    assert_eq!(p.display_name(), "web");
    assert_eq!(c.files, vec![path.clone()]);
    assert_eq!(c.source, Some(path.clone()));
    assert_eq!(c.here, dir.path());
}

#[test]
fn every_supervisord_default() {
    let (dir, path) = conf("[supervisord]\n");
    let c = ok(&path).config;
    let here = dir.path();
    assert_eq!(
        c.supervisord,
        SupervisordSection {
            logfile: Some(here.join("sluice.log")),
            logfile_maxbytes: 50 * 1024 * 1024,
            logfile_backups: 10,
            loglevel: LogLevel::Info,
            pidfile: here.join("sluice.pid"),
            umask: 0o022,
            nodaemon: None,
            silent: false,
            minfds: 1024,
            minprocs: 200,
            nocleanup: false,
            childlogdir: std::env::temp_dir(),
            user: None,
            directory: None,
            strip_ansi: false,
            environment: vec![],
            identifier: "supervisor".into(),
        }
    );
    assert_eq!(c.unix_http_server, None);
    assert_eq!(c.inet_http_server, None);
    assert_eq!(
        c.supervisorctl,
        CtlSection {
            serverurl: "http://localhost:9001".into(),
            username: None,
            password: None,
            prompt: "supervisor".into(),
            history_file: None,
        }
    );
    assert!(c.groups.is_empty());
}

#[test]
fn supervisord_values() {
    let (dir, path) = conf(
        "[supervisord]\n\
         logfile = NONE\n\
         logfile_maxbytes = 1KB\n\
         logfile_backups = 2\n\
         loglevel = DEBUG\n\
         pidfile = %(here)s/run/../d.pid\n\
         umask = 077\n\
         nodaemon = true\n\
         silent = yes\n\
         minfds = 10\n\
         minprocs = 20\n\
         nocleanup = on\n\
         childlogdir = %(here)s\n\
         user = root\n\
         directory = %(here)s\n\
         strip_ansi = 1\n\
         environment = A=\"x, y\",B=%(ENV_GREETING)s\n\
         identifier = ident\n\
         [unix_http_server]\n\
         file = %(here)s/s.sock\n\
         chmod = 0770\n\
         chown = root:root\n\
         username = u\n\
         password = {SHA}abc\n\
         [inet_http_server]\n\
         port = 127.0.0.1:9001\n\
         username = u\n\
         password = p\n\
         [supervisorctl]\n\
         prompt = sl\n\
         history_file = ~/.hist\n",
    );
    let loaded = ok(&path);
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
    let c = loaded.config;
    let here = dir.path();
    let s = &c.supervisord;
    assert_eq!(s.logfile, None);
    assert_eq!(s.logfile_maxbytes, 1024);
    assert_eq!(s.logfile_backups, 2);
    assert_eq!(s.loglevel, LogLevel::Debug);
    assert_eq!(s.pidfile, here.join("d.pid"));
    assert_eq!(s.umask, 0o77);
    assert_eq!(s.nodaemon, Some(true));
    assert!(s.silent && s.nocleanup && s.strip_ansi);
    assert_eq!((s.minfds, s.minprocs), (10, 20));
    assert_eq!(s.childlogdir, here);
    assert_eq!(s.user.as_deref(), Some("root"));
    assert_eq!(s.directory.as_deref(), Some(here));
    assert_eq!(
        s.environment,
        vec![("A".into(), "x, y".into()), ("B".into(), "hello".into())]
    );
    assert_eq!(s.identifier, "ident");
    let unix = c.unix_http_server.as_ref().expect("unix server");
    assert_eq!(unix.file, here.join("s.sock"));
    assert_eq!(unix.chmod, 0o770);
    assert_eq!(unix.chown.as_deref(), Some("root:root"));
    assert_eq!(
        unix.auth,
        Some(Credentials {
            username: "u".into(),
            password: "{SHA}abc".into()
        })
    );
    let inet = c.inet_http_server.as_ref().expect("inet server");
    assert_eq!(inet.port, "127.0.0.1:9001");
    assert_eq!(
        c.supervisorctl.serverurl,
        format!("unix://{}", here.join("s.sock").display())
    );
    assert_eq!(c.supervisorctl.prompt, "sl");
    assert_eq!(
        c.supervisorctl.history_file,
        Some(PathBuf::from("/home/tester/.hist"))
    );
}

#[test]
fn server_section_errors() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [unix_http_server]\n\
         username = u\n\
         chmod = 999\n\
         [inet_http_server]\n\
         port = localhost:http\n\
         [supervisorctl]\n",
    );
    let d = errs(&path);
    assert!(has_error(&d, 2, None, "file= is missing"), "{}", render(&d));
    assert!(
        has_error(&d, 2, None, "password= is missing"),
        "{}",
        render(&d)
    );
    assert!(has_error(&d, 4, Some("chmod"), "octal"), "{}", render(&d));
    assert!(
        has_error(&d, 6, Some("port"), "port number"),
        "{}",
        render(&d)
    );
}

#[test]
fn supervisord_bad_values_all_reported() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         loglevel = warning\n\
         logfile = /no/such/dir/x.log\n\
         childlogdir = /no/such/dir\n\
         user = no-such-user-sluice\n\
         nodaemon = maybe\n",
    );
    let d = errs(&path);
    assert_eq!(errors_only(&d).len(), 5, "{}", render(&d));
    assert!(has_error(&d, 2, Some("loglevel"), "warning"));
    assert!(has_error(&d, 3, Some("logfile"), "/no/such/dir"));
    assert!(has_error(&d, 4, Some("childlogdir"), "does not exist"));
    assert!(has_error(&d, 5, Some("user"), "no-such-user-sluice"));
    assert!(has_error(&d, 6, Some("nodaemon"), "maybe"));
}

#[test]
fn program_values() {
    let (dir, path) = conf(
        "[supervisord]\n\
         environment = BASE=1,SHARED=daemon\n\
         [program:web]\n\
         command = /bin/echo %(program_name)s %(group_name)s %(ENV_GREETING)s %(ENV_BASE)s 100%%\n\
         priority = -5\n\
         autostart = false\n\
         startsecs = 0\n\
         startretries = 7\n\
         autorestart = true\n\
         exitcodes = 0,2\n\
         stopsignal = sigint\n\
         stopwaitsecs = 3\n\
         stopasgroup = true\n\
         user = root\n\
         redirect_stderr = true\n\
         stdout_logfile = %(here)s/%(program_name)s.log\n\
         stdout_logfile_maxbytes = 1MB\n\
         stdout_logfile_backups = 0\n\
         stdout_capture_maxbytes = 1KB\n\
         stdout_events_enabled = true\n\
         stdout_syslog = true\n\
         environment = SHARED=prog,KEY=\"a, b\"\n\
         directory = %(here)s\n\
         umask = 002\n\
         serverurl = AUTO\n\
         [program:other]\n\
         command = /bin/true\n\
         stdout_logfile = NONE\n\
         stderr_logfile = syslog\n\
         serverurl = http://127.0.0.1:9001\n\
         stopsignal = 9\n",
    );
    let loaded = ok(&path);
    let here = dir.path();
    let c = &loaded.config;
    let p = process(c, "web", "web");
    assert_eq!(p.command, "/bin/echo web web hello 1 100%");
    assert_eq!(p.priority, -5);
    assert!(!p.autostart);
    assert_eq!((p.startsecs, p.startretries), (0, 7));
    assert_eq!(p.autorestart, AutoRestart::Always);
    assert_eq!(p.exitcodes, vec![0, 2]);
    assert_eq!(p.stopsignal.name, "INT");
    assert_eq!(p.stopwaitsecs, 3);
    // killasgroup follows stopasgroup.
    assert!(p.stopasgroup && p.killasgroup);
    assert_eq!(p.user.as_deref(), Some("root"));
    assert!(p.redirect_stderr);
    assert_eq!(p.stdout.path, Some(here.join("web.log")));
    assert_eq!(p.stdout.maxbytes, 1024 * 1024);
    assert_eq!(p.stdout.backups, 0);
    assert_eq!(p.stdout.capture_maxbytes, 1024);
    assert!(p.stdout.events_enabled && p.stdout.syslog);
    assert_eq!(p.stderr.path, None, "redirect_stderr leaves no stderr log");
    assert_eq!(
        p.environment,
        vec![
            ("BASE".into(), "1".into()),
            ("SHARED".into(), "prog".into()),
            ("KEY".into(), "a, b".into()),
        ]
    );
    assert_eq!(p.directory.as_deref(), Some(here));
    assert_eq!(p.umask, Some(0o002));
    assert_eq!(p.serverurl, None);
    // Groups by priority: web (-5) before other (999).
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["web", "other"]);

    let o = process(c, "other", "other");
    assert_eq!(o.stdout.path, None);
    assert_eq!(o.stderr.path, None);
    assert!(o.stderr.syslog);
    assert_eq!(o.serverurl.as_deref(), Some("http://127.0.0.1:9001"));
    assert_eq!(o.stopsignal.name, "KILL");
    // The deprecated syslog value is a warning.
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("stderr_logfile") && w.line == Some(29)),
        "{}",
        render(&loaded.warnings)
    );
}

#[test]
fn bad_values_are_all_reported_with_lines() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [program:a]\n\
         command = /bin/true\n\
         startsecs = soon\n\
         autostart = maybe\n\
         stopsignal = FOO\n\
         exitcodes = 0,300\n\
         stdout_logfile_maxbytes = 10TB\n\
         umask = 9\n\
         autorestart = sometimes\n\
         priority = high\n\
         user = no-such-user-sluice\n\
         environment = A=1,B\n\
         stdout_logfile = /no/such/dir/a.log\n\
         stopasgroup = true\n\
         killasgroup = false\n\
         [program:b]\n\
         numprocs = 10001\n",
    );
    let d = errs(&path);
    let expect: &[(usize, Option<&str>, &str)] = &[
        (4, Some("startsecs"), "soon"),
        (5, Some("autostart"), "maybe"),
        (6, Some("stopsignal"), "FOO"),
        (7, Some("exitcodes"), "0,300"),
        (8, Some("stdout_logfile_maxbytes"), "10TB"),
        (9, Some("umask"), "octal"),
        (10, Some("autorestart"), "sometimes"),
        (11, Some("priority"), "high"),
        (12, Some("user"), "no-such-user-sluice"),
        (13, Some("environment"), "KEY=value"),
        (14, Some("stdout_logfile"), "/no/such/dir"),
        (16, Some("killasgroup"), "stopasgroup"),
        (17, None, "command= is missing"),
        (18, Some("numprocs"), "above the range 0 to 10000"),
    ];
    for (line, key, text) in expect {
        assert!(
            has_error(&d, *line, *key, text),
            "missing error at {line} {key:?} {text}:\n{}",
            render(&d)
        );
    }
    assert_eq!(errors_only(&d).len(), expect.len(), "{}", render(&d));
    // Rendered with file, line, section and key.
    let line = d
        .iter()
        .find(|d| d.line == Some(4))
        .map(|d| d.to_string())
        .unwrap_or_default();
    assert_eq!(
        line,
        format!(
            "{}:4: error: [program:a] startsecs: 'soon' is not an integer",
            path.display()
        )
    );
}

#[test]
fn expansion_errors_name_file_line_key_and_name() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [program:a]\n\
         command = /bin/echo %(nope)s\n\
         directory = %(ENV_SURELY_NOT_SET_ANYWHERE)s\n\
         priority = %(process_num)d\n\
         stdout_logfile = 50%\n",
    );
    let d = errs(&path);
    assert!(
        has_error(&d, 3, Some("command"), "%(nope)"),
        "{}",
        render(&d)
    );
    assert!(
        has_error(&d, 4, Some("directory"), "%(ENV_SURELY_NOT_SET_ANYWHERE)"),
        "{}",
        render(&d)
    );
    // process_num is only available to per-process keys.
    assert!(
        has_error(&d, 5, Some("priority"), "%(process_num)"),
        "{}",
        render(&d)
    );
    assert!(
        has_error(&d, 6, Some("stdout_logfile"), "%%"),
        "{}",
        render(&d)
    );
}

#[test]
fn numprocs_expand_process_num() {
    let (dir, path) = conf(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         identifier = sid\n\
         [program:worker]\n\
         command = /bin/w --id %(process_num)d --of %(numprocs)d\n\
         process_name = %(program_name)s_%(process_num)02d\n\
         numprocs = 3\n\
         numprocs_start = 8\n\
         environment = SLOT=%(process_num)s\n\
         directory = /tmp/%(ENV_SLOT)s\n",
    );
    let c = ok(&path).config;
    let g = &c.groups[0];
    let names: Vec<&str> = g.processes.iter().map(|p| p.name.as_str()).collect();
    // supervisord's order: by name.
    assert_eq!(names, vec!["worker_08", "worker_09", "worker_10"]);
    let p = process(&c, "worker", "worker_09");
    assert_eq!(p.command, "/bin/w --id 9 --of 3");
    assert_eq!(p.environment, vec![("SLOT".into(), "9".into())]);
    assert_eq!(p.directory, Some(PathBuf::from("/tmp/9")));
    assert_eq!(
        p.stdout.path,
        Some(dir.path().join("worker_09-stdout---sid.log"))
    );
    assert_eq!(p.display_name(), "worker:worker_09");
}

#[test]
fn numprocs_without_process_num_is_an_error() {
    let (_dir, path) = conf("[supervisord]\n[program:w]\ncommand=/bin/w\nnumprocs=2\n");
    let d = errs(&path);
    assert!(
        has_error(&d, 2, Some("process_name"), "%(process_num)"),
        "{}",
        render(&d)
    );
    // Not followed by a "two processes named w" error.
    assert_eq!(d.len(), 1, "{}", render(&d));
}

#[test]
fn host_node_name_and_program_env() {
    let (_dir, path) = conf(
        "[supervisord]\n[program:n]\ncommand=/bin/n %(host_node_name)s %(ENV_MINE)s\nenvironment=MINE=m\n",
    );
    let c = ok(&path).config;
    assert_eq!(process(&c, "n", "n").command, "/bin/n testnode m");
}

#[test]
fn includes_sorted_with_their_own_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = write(
        dir.path(),
        "etc/sluice.conf",
        "[supervisord]\n[include]\nfiles = conf.d/*.ini none/*.conf %(here)s/extra.ini\n",
    );
    let b = write(
        dir.path(),
        "etc/conf.d/b.ini",
        "[program:b]\ncommand=/bin/b\ndirectory=%(here)s\n",
    );
    let a = write(
        dir.path(),
        "etc/conf.d/a.ini",
        "[program:a]\ncommand=/bin/a %(here)s\n[include]\nfiles=*.more\n",
    );
    write(
        dir.path(),
        "etc/conf.d/.hidden.ini",
        "[program:hidden]\ncommand=/bin/h\n",
    );
    let extra = write(dir.path(), "etc/extra.ini", "[program:c]\ncommand=/bin/c\n");
    let loaded = ok(&main);
    let c = &loaded.config;
    assert_eq!(
        c.files,
        vec![main.clone(), a.clone(), b.clone(), extra.clone()]
    );
    let conf_d = dir.path().join("etc/conf.d");
    assert_eq!(
        process(c, "a", "a").command,
        format!("/bin/a {}", conf_d.display())
    );
    assert_eq!(
        process(c, "b", "b").directory.as_deref(),
        Some(conf_d.as_path())
    );
    assert_eq!(process(c, "b", "b").file, b);
    assert!(c.groups.iter().all(|g| g.name != "hidden"));
    // The nested [include] and the empty glob are warnings.
    let w = render(&loaded.warnings);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|d| d.file == a && d.line == Some(3) && d.section.as_deref() == Some("include")),
        "{w}"
    );
    assert!(w.contains("No file matches via include"), "{w}");
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = write(
        dir.path(),
        "sluice.conf",
        "[supervisord]\n[include]\nfiles=*.ini\n[program:x]\ncommand=/bin/x\n",
    );
    let inc = write(
        dir.path(),
        "x.ini",
        "[program:x]\ncommand=/bin/x\n[program:y]\nstartsecs=z\n",
    );
    let d = errs(&main);
    assert!(
        d.iter().any(|d| !d.is_error()
            && d.file == inc
            && d.line == Some(1)
            && d.message.contains("repeated")),
        "{}",
        render(&d)
    );
    assert!(
        d.iter()
            .any(|d| d.file == inc && d.line == Some(4) && d.key.as_deref() == Some("startsecs")),
        "{}",
        render(&d)
    );
}

#[test]
fn groups_collect_their_programs() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [group:web]\n\
         programs = front, back\n\
         priority = 10\n\
         [program:front]\n\
         command = /bin/front\n\
         [program:back]\n\
         command = /bin/back\n\
         priority = 1\n\
         [program:alone]\n\
         command = /bin/alone\n\
         priority = 10\n",
    );
    let c = ok(&path).config;
    let names: Vec<(&str, i32)> = c
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.priority))
        .collect();
    // Priority then name; front and back are not groups of their own.
    assert_eq!(names, vec![("alone", 10), ("web", 10)]);
    let web = &c.groups[1];
    let procs: Vec<(&str, &str)> = web
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.group.as_str()))
        .collect();
    assert_eq!(procs, vec![("front", "web"), ("back", "web")]);
    assert_eq!(web.processes[0].display_name(), "web:front");
}

#[test]
fn group_and_name_errors() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [group:g]\n\
         programs = a, ghost, b\n\
         [program:a]\n\
         command = /bin/a\n\
         process_name = same\n\
         [program:b]\n\
         command = /bin/b\n\
         process_name = same\n\
         [program:g2]\n\
         command = /bin/g2\n\
         [group:g2]\n\
         programs = \n\
         [program:bad name]\n\
         command = /bin/x\n",
    );
    let d = errs(&path);
    assert!(
        has_error(&d, 3, Some("programs"), "ghost"),
        "{}",
        render(&d)
    );
    // supervisord runs the later of two processes of one name: a warning.
    assert!(
        has_warning(&d, 7, "process_name", "only the later runs"),
        "{}",
        render(&d)
    );
    assert!(
        d.iter()
            .any(|d| d.is_error() && d.message.contains("group name 'g2'")),
        "{}",
        render(&d)
    );
    assert!(has_error(&d, 14, None, "bad name"), "{}", render(&d));
}

#[test]
fn warnings_for_unknown_and_unsupported() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         colour = blue\n\
         [program:a]\n\
         command = /bin/a\n\
         flavour = mint\n\
         [eventlistener:e]\n\
         command = /bin/e\n\
         [fcgi-program:f]\n\
         [agent:netcat]\n\
         conf_file = x\n\
         agent_name = a1\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
         [mystery]\n",
    );
    let loaded = ok(&path);
    let at: Vec<(usize, Option<&str>)> = loaded
        .warnings
        .iter()
        .map(|w| (w.line.unwrap_or(0), w.key.as_deref()))
        .collect();
    assert_eq!(
        at,
        vec![
            (2, Some("colour")),
            (5, Some("flavour")),
            (6, None),
            (8, None),
            (14, None)
        ],
        "{}",
        render(&loaded.warnings)
    );
    let agent = process(&loaded.config, "netcat", "netcat");
    assert!(matches!(agent.kind, ProcessKind::Agent(_)));
}

#[test]
fn stderr_logfile_with_redirect_is_a_warning() {
    let (dir, path) = conf(
        "[supervisord]\n[program:a]\ncommand=/bin/a\nredirect_stderr=true\nstderr_logfile=%(here)s/e.log\n",
    );
    let loaded = ok(&path);
    assert_eq!(loaded.warnings.len(), 1, "{}", render(&loaded.warnings));
    assert_eq!(loaded.warnings[0].line, Some(5));
    let p = process(&loaded.config, "a", "a");
    assert_eq!(p.stderr.path, None);
    assert_eq!(
        p.stdout.path,
        Some(std::env::temp_dir().join("a-stdout---supervisor.log"))
    );
    drop(dir);
}

#[test]
fn missing_supervisord_section_and_missing_file() {
    let (_dir, path) = conf("[program:a]\ncommand=/bin/a\n");
    let d = errs(&path);
    assert!(
        d.iter().any(|d| d.message.contains("[supervisord]")),
        "{}",
        render(&d)
    );

    let gone = PathBuf::from("/no/such/sluice.conf");
    let d = errs(&gone);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].file, gone);
    assert!(d[0].message.contains("could not find"));
}

#[test]
fn syntax_errors_and_value_errors_together() {
    let (_dir, path) =
        conf("[supervisord]\nnot a line\n[program:a]\ncommand=/bin/a\nstartsecs=x\n");
    let d = errs(&path);
    assert!(
        has_error(&d, 2, None, "not a 'key = value' line"),
        "{}",
        render(&d)
    );
    assert!(has_error(&d, 5, Some("startsecs"), "x"), "{}", render(&d));
}

#[test]
fn embedded_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let here = dir.path();
    let ini = write(
        here,
        "supervisor.d/web.ini",
        "[program:web]\ncommand=/bin/web\n",
    );
    let loaded = load_with(&ConfigSource::Embedded(here.to_path_buf()), &host(here))
        .unwrap_or_else(|d| panic!("{}", render(&d)));
    assert!(loaded.warnings.is_empty(), "{}", render(&loaded.warnings));
    let c = loaded.config;
    assert_eq!(c.source, None);
    assert_eq!(c.here, here);
    assert_eq!(c.files, vec![ini]);
    assert_eq!(c.supervisord.logfile, Some(here.join("logs/sluice.log")));
    assert_eq!(c.supervisord.pidfile, here.join("sluice.pid"));
    // Not created yet: the daemon makes it.
    assert_eq!(c.supervisord.childlogdir, here.join("logs"));
    let unix = c.unix_http_server.as_ref().expect("socket");
    assert_eq!(unix.file, here.join("sluice.sock"));
    assert_eq!(unix.chmod, 0o700);
    assert_eq!(
        c.supervisorctl.serverurl,
        format!("unix://{}", here.join("sluice.sock").display())
    );
    assert_eq!(
        process(&c, "web", "web").stdout.path,
        Some(here.join("logs/web-stdout---supervisor.log"))
    );
}

#[test]
fn embedded_default_without_programs_is_quiet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loaded = load_with(
        &ConfigSource::Embedded(dir.path().to_path_buf()),
        &host(dir.path()),
    )
    .unwrap_or_else(|d| panic!("{}", render(&d)));
    assert!(loaded.warnings.is_empty());
    assert!(loaded.config.groups.is_empty());
    assert!(loaded.config.files.is_empty());
}

/// The tutorial's block with `tutorial_fix` applied (or not).
fn tutorial_dir(fixed: bool) -> (tempfile::TempDir, PathBuf) {
    let block = include_str!("testdata/flume-tutorial.ini");
    let text = if fixed {
        let lines: Vec<&str> = block.lines().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with("user=") {
                // user=emon names a user this machine may not have.
                i += 1;
                continue;
            }
            if line.starts_with("stdout_logfile=") {
                // Put the wrapped comment back on its line, and log to a
                // directory that exists.
                let comment = line.split_once(';').map(|(_, c)| c).unwrap_or("");
                out.push(format!(
                    "stdout_logfile=%(here)s/example.log ;{comment}{}",
                    lines[i + 1]
                ));
                i += 2;
                continue;
            }
            out.push(line.to_string());
            i += 1;
        }
        out.join("\n") + "\n"
    } else {
        block.to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ini = write(dir.path(), "supervisor.d/flume.ini", &text);
    (dir, ini)
}

#[test]
fn tutorial_block_is_rejected_at_the_wrapped_line() {
    let (dir, ini) = tutorial_dir(false);
    let d = load_with(
        &ConfigSource::Embedded(dir.path().to_path_buf()),
        &host(dir.path()),
    )
    .expect_err("rejected");
    let wrapped = d
        .iter()
        .find(|d| d.is_error() && d.file == ini && d.line == Some(15))
        .unwrap_or_else(|| panic!("no error at line 15:\n{}", render(&d)));
    assert!(wrapped.message.contains("创建日志文件）"), "{wrapped}");
    assert_eq!(
        wrapped.section.as_deref(),
        Some("program:flume-netcat-memory-logger")
    );
    assert!(
        wrapped
            .to_string()
            .starts_with(&format!("{}:15: error:", ini.display()))
    );
}

#[test]
fn tutorial_block_fixed_loads() {
    let (dir, _ini) = tutorial_dir(true);
    let loaded = load_with(
        &ConfigSource::Embedded(dir.path().to_path_buf()),
        &host(dir.path()),
    )
    .unwrap_or_else(|d| panic!("{}", render(&d)));
    let c = loaded.config;
    let p = process(
        &c,
        "flume-netcat-memory-logger",
        "flume-netcat-memory-logger",
    );
    assert!(
        p.command
            .starts_with("/usr/local/flume/bin/flume-ng agent --conf")
    );
    assert!(p.command.ends_with("-Dflume.root.logger=INFO,console"));
    // sluice runs the flume-ng agent itself, in-process.
    match &p.kind {
        ProcessKind::Agent(a) => {
            assert_eq!(a.agent_name, "a1");
            assert_eq!(
                a.conf_file,
                PathBuf::from("/usr/local/flume/config/example.conf")
            );
            assert_eq!(a.isolation, crate::config::Isolation::InProcess);
        }
        other => panic!("not recognised as an agent: {other:?}"),
    }
    assert_eq!(p.directory, Some(PathBuf::from("/usr/local/flume/config")));
    assert!(!p.autostart);
    assert_eq!(p.startsecs, 10);
    assert_eq!(p.autorestart, AutoRestart::Always);
    assert_eq!(p.startretries, 3);
    assert_eq!(p.priority, 70);
    assert!(p.redirect_stderr);
    assert_eq!(p.stdout.maxbytes, 20 * 1024 * 1024);
    assert_eq!(p.stdout.backups, 20);
    assert_eq!(
        p.environment,
        vec![("JAVA_HOME".into(), "/usr/local/java".into())]
    );
    assert_eq!(
        p.stdout.path,
        Some(dir.path().join("supervisor.d/example.log"))
    );
    assert_eq!(p.stderr.path, None);
    assert!(p.stopasgroup && p.killasgroup);
}

#[test]
fn tutorial_user_that_does_not_exist_is_an_error() {
    let (dir, ini) = tutorial_dir(false);
    let text = fs::read_to_string(&ini).expect("read");
    // Keep the wrap fixed, the user as written.
    let text = text.replace("（supervisord 会自动\n", "（supervisord 会自动");
    fs::write(&ini, text).expect("write");
    let d = load_with(
        &ConfigSource::Embedded(dir.path().to_path_buf()),
        &host(dir.path()),
    )
    .expect_err("rejected");
    if nix::unistd::User::from_name("emon")
        .ok()
        .flatten()
        .is_none()
    {
        assert!(has_error(&d, 8, Some("user"), "emon"), "{}", render(&d));
    }
    assert!(
        has_error(&d, 14, Some("stdout_logfile"), "/usr/local/flume/config"),
        "{}",
        render(&d)
    );
}

/// `sluice check`'s report on the config alone (no agent files).
fn check_report_of(path: &Path) -> (String, i32) {
    let source = ConfigSource::File(path.to_path_buf());
    let cwd = path.parent().unwrap_or(Path::new("/"));
    let (config, diags) = super::load::load_all(&source, &host(cwd));
    check::render(&source, config.as_ref(), &diags, &[])
}

#[test]
fn check_report() {
    let (_dir, path) = conf("[supervisord]\n[program:a]\ncommand=/bin/a\nflavour=x\n");
    let (out, code) = check_report_of(&path);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "{p}:4: warning: [program:a] flavour: unknown key (ignored)\n\
             {p}: OK: 1 process in 1 group, 1 file read, 1 warning\n",
            p = path.display()
        )
    );

    let (_dir, path) = conf("[supervisord]\n[program:a]\nstartsecs=x\nflavour=x\n");
    let (out, code) = check_report_of(&path);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with(&format!(
        "{}:2: error: [program:a] command= is missing",
        path.display()
    )));
    assert!(lines[1].contains(":3: error: [program:a] startsecs:"));
    assert!(lines[2].contains(":4: warning:"));
    assert_eq!(lines[3], format!("{}: 2 errors, 1 warning", path.display()));
}

#[test]
fn discovery_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let cli = Path::new("/x/cli.conf");
    assert_eq!(
        discover_in(Some(cli), Some("/x/env.conf".into()), cwd),
        ConfigSource::File(cli.to_path_buf())
    );
    assert_eq!(
        discover_in(None, Some("/x/env.conf".into()), cwd),
        ConfigSource::File(PathBuf::from("/x/env.conf"))
    );
    assert_eq!(
        discover_in(None, Some("".into()), cwd),
        ConfigSource::Embedded(cwd.to_path_buf())
    );
    write(cwd, "sluice.conf", "[supervisord]\n");
    assert_eq!(
        discover_in(None, None, cwd),
        ConfigSource::File(cwd.join("sluice.conf"))
    );
}

#[test]
fn the_client_reads_its_section_and_ignores_the_rest() {
    use super::load::load_ctl_with;
    let (dir, path) = conf(
        "[supervisord]\n\
         logfile_maxbytes = lots\n\
         \n\
         [unix_http_server]\n\
         file = %(here)s/s.sock\n\
         \n\
         [supervisorctl]\n\
         username = admin\n\
         \n\
         [program:broken]\n\
         startsecs = soon\n",
    );
    let source = ConfigSource::File(path.clone());
    // The daemon refuses this file...
    assert!(load_file(&path).is_err());
    // ...the client takes what it needs from it.
    let ctl = load_ctl_with(&source, &host(dir.path())).expect("the client's settings");
    assert_eq!(
        ctl.serverurl,
        format!("unix://{}", dir.path().join("s.sock").display())
    );
    assert_eq!(ctl.username.as_deref(), Some("admin"));

    // A bad value in its own section, or a line that does not parse, is
    // still an error for the client.
    write(
        dir.path(),
        "sluice.conf",
        "[supervisord]\n\n[supervisorctl]\nserverurl = unix://%(nosuch)s\n",
    );
    let errors = load_ctl_with(&source, &host(dir.path())).expect_err("bad serverurl");
    assert!(
        has_error(&errors, 4, Some("serverurl"), "nosuch"),
        "{}",
        render(&errors)
    );
    write(dir.path(), "sluice.conf", "[supervisord]\nwhat is this\n");
    assert!(load_ctl_with(&source, &host(dir.path())).is_err());
}

#[test]
fn repeated_sections_and_keys_merge_as_supervisord() {
    // configparser with strict=False: one section, a later key wins; here
    // each key keeps its own file's %(here)s and file for diagnostics.
    let dir = tempfile::tempdir().expect("tempdir");
    let main = write(
        dir.path(),
        "sluice.conf",
        "[supervisord]\n[include]\nfiles=conf.d/*.ini\n\
         [program:x]\ncommand=/bin/x %(here)s\nstartsecs=5\nstartsecs=6\n\
         [group:g]\nprograms=x\n[program:x]\nautostart=false\n",
    );
    let inc = write(
        dir.path(),
        "conf.d/x.ini",
        "[program:x]\nstartsecs=7\ndirectory=%(here)s\n",
    );
    let loaded = ok(&main);
    let p = process(&loaded.config, "g", "x");
    assert_eq!(p.command, format!("/bin/x {}", dir.path().display()));
    assert_eq!(p.startsecs, 7);
    assert!(!p.autostart);
    assert_eq!(
        p.directory.as_deref(),
        Some(dir.path().join("conf.d").as_path())
    );
    let w = render(&loaded.warnings);
    let warned = |file: &Path, line: usize, key: Option<&str>, first: String| {
        loaded.warnings.iter().any(|d| {
            d.file == file
                && d.line == Some(line)
                && d.key.as_deref() == key
                && d.message.contains(&first)
        })
    };
    let m = main.display();
    assert!(warned(&main, 7, Some("startsecs"), format!("{m}:6")), "{w}");
    assert!(warned(&main, 10, None, format!("{m}:4")), "{w}");
    assert!(warned(&inc, 1, None, format!("{m}:4")), "{w}");
    assert!(warned(&inc, 2, Some("startsecs"), format!("{m}:7")), "{w}");

    // A bad value merged in from the include is reported in that file.
    write(
        dir.path(),
        "conf.d/x.ini",
        "[program:x]\n\nstartretries=many\n",
    );
    let d = errs(&main);
    assert!(
        d.iter().any(|d| d.is_error()
            && d.file == inc
            && d.line == Some(3)
            && d.key.as_deref() == Some("startretries")),
        "{}",
        render(&d)
    );
}

/// Is there a warning at `line` about `key` whose message contains `text`?
fn has_warning(d: &[Diagnostic], line: usize, key: &str, text: &str) -> bool {
    d.iter().any(|d| {
        !d.is_error()
            && d.line == Some(line)
            && d.key.as_deref() == Some(key)
            && d.message.contains(text)
    })
}

#[test]
fn values_supervisord_tolerates_are_warnings_with_its_meaning() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         minfds = -1\n\
         logfile_backups = 99999999999999999999999\n\
         [program:neg]\n\
         command = /bin/cat\n\
         startsecs = -1\n\
         stopwaitsecs = -5\n\
         startretries = -1\n\
         priority = 100000000000000000000\n\
         stdout_logfile_maxbytes = -1MB\n\
         stdout_logfile_backups = -1\n\
         stderr_logfile_backups = 1000000000\n\
         [program:huge]\n\
         command = /bin/cat\n\
         startsecs = 9223372036854775807\n\
         stopwaitsecs = 99999999999999999999999999\n\
         [program:none]\n\
         command = /bin/cat\n\
         numprocs = -3\n\
         [program:below]\n\
         command = /bin/cat %(process_num)d\n\
         process_name = %(program_name)s_%(process_num)d\n\
         numprocs = 2\n\
         numprocs_start = -2\n\
         [program:empty]\n\
         command =\n",
    );
    let loaded = ok(&path);
    let w = &loaded.warnings;
    for (line, key, text) in [
        (2, "minfds", "taken as 0"),
        (3, "logfile_backups", "taken as 10000"),
        (
            6,
            "startsecs",
            "-1 is below the range 0 to 2147483647; taken as 0",
        ),
        (7, "stopwaitsecs", "taken as 0"),
        (8, "startretries", "taken as 0"),
        (9, "priority", "taken as 2147483647"),
        (10, "stdout_logfile_maxbytes", "taken as 0"),
        (11, "stdout_logfile_backups", "taken as 0"),
        (12, "stderr_logfile_backups", "taken as 10000"),
        (15, "startsecs", "taken as 2147483647"),
        (16, "stopwaitsecs", "taken as 2147483647"),
        (19, "numprocs", "taken as 0"),
        (26, "command", "command is empty"),
    ] {
        assert!(
            has_warning(w, line, key, text),
            "no warning at {line} {key}: {text}\n{}",
            render(w)
        );
    }
    // And supervisord's own warning about AUTO logs without rotation.
    assert!(has_warning(
        w,
        10,
        "stdout_logfile_maxbytes",
        "without rollover"
    ));
    assert_eq!(w.len(), 14, "{}", render(w));
    let c = &loaded.config;
    assert_eq!(c.supervisord.minfds, 0);
    assert_eq!(c.supervisord.logfile_backups, 10_000);
    let p = process(c, "neg", "neg");
    assert_eq!((p.startsecs, p.stopwaitsecs, p.startretries), (0, 0, 0));
    assert_eq!(p.priority, i32::MAX);
    assert_eq!(
        (p.stdout.maxbytes, p.stdout.backups, p.stderr.backups),
        (0, 0, 10_000)
    );
    let p = process(c, "huge", "huge");
    assert_eq!(
        (p.startsecs, p.stopwaitsecs),
        (2_147_483_647, 2_147_483_647)
    );
    // numprocs < 1: a group without processes, as supervisord makes.
    let none = c
        .groups
        .iter()
        .find(|g| g.name == "none")
        .expect("group none");
    assert!(none.processes.is_empty());
    let below: Vec<&str> = c
        .groups
        .iter()
        .find(|g| g.name == "below")
        .expect("group below")
        .processes
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(below, vec!["below_-1", "below_-2"]);
    assert_eq!(process(c, "empty", "empty").command, "");
}

#[test]
fn values_that_cannot_run_safely_are_errors() {
    let (_dir, path) = conf(
        "[supervisord]\n\
         [program:many]\n\
         command = /bin/cat\n\
         process_name = %(program_name)s_%(process_num)d\n\
         numprocs = 1000000000\n\
         [program:wide]\n\
         command = /bin/cat\n\
         stdout_logfile = %(here)s/%(process_num)999999999d.log\n\
         [program:quote]\n\
         command = /bin/echo 'unclosed\n\
         [program:backslash]\n\
         command = /bin/echo trailing\\\n\
         [program:nul]\n\
         command = /bin/echo a\0b\n\
         [program:last]\n\
         command = /bin/cat\n\
         numprocs_start = 9223372036854775807\n",
    );
    let d = errs(&path);
    for (line, key, text) in [
        (5, "numprocs", "1000000000 is above the range 0 to 10000"),
        (
            8,
            "stdout_logfile",
            "the width 999999999 after %(process_num) is too large (at most 4096)",
        ),
        (10, "command", "cannot be split into words"),
        (12, "command", "cannot be split into words"),
        (14, "command", "NUL byte"),
        (17, "numprocs_start", "numprocs_start + numprocs"),
    ] {
        assert!(
            has_error(&d, line, Some(key), text),
            "no error at {line} {key}: {text}\n{}",
            render(&d)
        );
    }
    assert_eq!(errors_only(&d).len(), 6, "{}", render(&d));
}

#[test]
fn a_double_star_include_matches_one_level_as_supervisord() {
    // Python's glob.glob (not recursive): `**` is `*`. A recursive walk
    // would read conf.d/top.ini and conf.d/a/b/two.ini too, and could walk
    // a whole tree.
    let (dir, path) = conf("[supervisord]\n[include]\nfiles = conf.d/**/*.ini\n");
    write(
        dir.path(),
        "conf.d/top.ini",
        "[program:top]\ncommand=/bin/top\n",
    );
    write(
        dir.path(),
        "conf.d/a/one.ini",
        "[program:one]\ncommand=/bin/one\n",
    );
    write(
        dir.path(),
        "conf.d/a/b/two.ini",
        "[program:two]\ncommand=/bin/two\n",
    );
    let loaded = ok(&path);
    let names: Vec<&str> = loaded
        .config
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, vec!["one"]);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|d| d.line == Some(3) && d.message.contains("'**' matches one name")),
        "{}",
        render(&loaded.warnings)
    );
}

#[test]
fn repeated_names_in_a_group_run_once_as_supervisord() {
    // supervisord keeps a group's processes in a dict by name: a program
    // named twice runs once, and of two processes of one name the later.
    let (_dir, path) = conf(
        "[supervisord]\n\
         [program:a]\ncommand=/bin/a\nprocess_name=same\n\
         [program:b]\ncommand=/bin/b\nprocess_name=same\n\
         [program:c]\ncommand=/bin/c\n\
         [group:g]\nprograms=a,b,c,c\n",
    );
    let loaded = ok(&path);
    let g = &loaded.config.groups[0];
    let got: Vec<(&str, &str)> = g
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.command.as_str()))
        .collect();
    assert_eq!(got, vec![("same", "/bin/b"), ("c", "/bin/c")]);
    let w = &loaded.warnings;
    assert!(
        has_warning(w, 11, "programs", "'c' is named twice"),
        "{}",
        render(w)
    );
    assert!(
        has_warning(w, 5, "process_name", "only the later runs"),
        "{}",
        render(w)
    );
    assert_eq!(w.len(), 2, "{}", render(w));
}

#[test]
fn a_daemon_log_or_pidfile_that_is_a_directory_is_an_error() {
    // supervisord crashes at start on them (IsADirectoryError); an empty
    // value is the working directory.
    let (dir, path) = conf("[supervisord]\nlogfile =\npidfile = %(here)s\n");
    let d = errs(&path);
    let here = dir.path().display().to_string();
    for (line, key) in [(2, "logfile"), (3, "pidfile")] {
        assert!(
            has_error(&d, line, Some(key), "is a directory, not a file"),
            "{}",
            render(&d)
        );
    }
    assert!(render(&d).contains(&here), "{}", render(&d));
}

/// `load_file` with `BIG` in the environment.
fn load_with_big(path: &Path, big: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let cwd = path.parent().unwrap_or(Path::new("/"));
    let mut host = host(cwd);
    host.env.insert("BIG".to_string(), big.to_string());
    load_with(&ConfigSource::File(path.to_path_buf()), &host)
}

fn errs_with_big(path: &Path, big: &str) -> Vec<Diagnostic> {
    match load_with_big(path, big) {
        Ok(l) => panic!("expected errors, loaded {} groups", l.config.groups.len()),
        Err(d) => d,
    }
}

#[test]
fn a_value_expanding_to_more_than_a_mebibyte_is_an_error() {
    let mib = 1 << 20;
    let (_dir, path) = conf(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         [program:p]\n\
         command = /bin/echo %(ENV_BIG)s\n",
    );
    // Just under: loads.
    let under = "x".repeat(mib - "/bin/echo ".len());
    if let Err(d) = load_with_big(&path, &under) {
        panic!("{}", render(&d));
    }
    let d = errs_with_big(&path, &"x".repeat(mib));
    assert_eq!(errors_only(&d).len(), 1, "{}", render(&d));
    assert!(has_error(&d, 4, Some("command"), "1 MiB"), "{}", render(&d));
    // A value written out that long, with nothing to expand, too.
    let (_dir, path) = conf(&format!(
        "[supervisord]\nchildlogdir = %(here)s\n[program:p]\ncommand = /bin/echo {}\n",
        "y".repeat(mib)
    ));
    let d = errs(&path);
    assert!(has_error(&d, 4, Some("command"), "1 MiB"), "{}", render(&d));
    assert!(render(&d).len() < 1000, "the value is not quoted whole");
}

#[test]
fn the_expansions_and_copies_of_a_load_are_at_most_64_mib() {
    let big = "x".repeat(900_000);
    // 100 processes, each with its own expansion of 900 kB: 90 MB.
    let (_dir, path) = conf(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         [program:p]\n\
         command = /bin/true\n\
         process_name = p%(process_num)d\n\
         numprocs = 100\n\
         environment = A=\"%(ENV_BIG)s\"\n",
    );
    let d = errs_with_big(&path, &big);
    assert_eq!(errors_only(&d).len(), 1, "{}", render(&d));
    assert!(
        has_error(&d, 7, Some("environment"), "64 MiB"),
        "{}",
        render(&d)
    );
    // The daemon's environment, expanded once, copied into each process.
    let (_dir, path) = conf(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         environment = A=\"%(ENV_BIG)s\"\n\
         [program:q]\n\
         command = /bin/true\n\
         process_name = q%(process_num)d\n\
         numprocs = 100\n",
    );
    let d = errs_with_big(&path, &big);
    assert_eq!(errors_only(&d).len(), 1, "{}", render(&d));
    assert!(
        has_error(&d, 4, Some("environment"), "64 MiB"),
        "{}",
        render(&d)
    );
    // exitcodes, read once, copied into each process (2 MiB each).
    let (_dir, path) = conf(&format!(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         [program:r]\n\
         command = /bin/true\n\
         process_name = r%(process_num)d\n\
         numprocs = 100\n\
         exitcodes = 0{}\n",
        ",0".repeat(250_000)
    ));
    let d = errs(&path);
    assert_eq!(errors_only(&d).len(), 1, "{}", render(&d));
    assert!(
        has_error(&d, 7, Some("exitcodes"), "64 MiB"),
        "{}",
        render(&d)
    );
}

#[test]
fn a_path_of_path_max_bytes_or_more_is_an_error() {
    let long = |n: usize| format!("/tmp/{}", "d".repeat(n - "/tmp/".len()));
    let (_dir, path) = conf(&format!(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         pidfile = {}\n\
         [program:p]\n\
         command = /bin/true\n\
         directory = {}\n\
         stdout_logfile = {}/x.log\n\
         [program:q]\n\
         command = /bin/true\n\
         directory = {}\n",
        long(4096),
        long(4096),
        long(5000),
        long(4095),
    ));
    let d = errs(&path);
    for (line, key) in [(3, "pidfile"), (6, "directory"), (7, "stdout_logfile")] {
        assert!(has_error(&d, line, Some(key), "PATH_MAX"), "{}", render(&d));
    }
    assert_eq!(errors_only(&d).len(), 3, "{}", render(&d));
    // An AUTO log path, of values each short enough alone.
    let (_dir, path) = conf(&format!(
        "[supervisord]\n\
         childlogdir = %(here)s\n\
         identifier = {}\n\
         [program:p]\n\
         command = /bin/true\n\
         process_name = p%(process_num)d\n\
         numprocs = 3\n",
        "i".repeat(4070)
    ));
    let d = errs(&path);
    for key in ["stdout_logfile", "stderr_logfile"] {
        assert!(has_error(&d, 4, Some(key), "PATH_MAX"), "{}", render(&d));
    }
    assert_eq!(errors_only(&d).len(), 2, "{}", render(&d));
}
