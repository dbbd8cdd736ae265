//! The daemon-wide sections: `[supervisord]`, `[unix_http_server]`,
//! `[inet_http_server]` and `[supervisorctl]`, with supervisord 4's
//! defaults (except where sluice's own names differ: the daemon log and
//! pidfile default to `<here>/sluice.log` and `<here>/sluice.pid`).

use std::path::{Path, PathBuf};

use super::diagnostic::{Diags, Place};
use super::expand::Vars;
use super::load::Ctx;
use super::paths;
use super::section::{Reader, too_long_path};
use super::sources::{Located, Sources};
use super::spec::{
    Credentials, CtlSection, InetHttpServer, LogLevel, SupervisordSection, UnixHttpServer,
};
use super::values;

const SUPERVISORD_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "umask",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "nocleanup",
    "childlogdir",
    "user",
    "directory",
    "strip_ansi",
    "environment",
    "identifier",
];

fn find<'a>(sources: &'a Sources, name: &str) -> Option<&'a Located> {
    sources.section(name)
}

/// `~` expanded, made absolute against the working directory, normalised.
fn normalized(s: &str, ctx: &Ctx) -> PathBuf {
    paths::normalize(Path::new(&paths::expand_user(s, ctx.home())), &ctx.host.cwd)
}

/// Report (at `at`) a file path whose directory does not exist.
/// Also a path that names a directory (an empty value is the working
/// directory): the daemon could not open it as a file.
fn check_parent(path: &Path, at: Place<'_>, ctx: &Ctx, diags: &mut Diags) {
    if path.is_dir() {
        diags.error(at, format!("{} is a directory, not a file", path.display()));
        return;
    }
    if let Some(dir) = paths::parent_dir(path)
        && !ctx.dir_ok(dir)
    {
        diags.error(
            at,
            format!(
                "the directory {} does not exist (create it, or choose another path)",
                dir.display()
            ),
        );
    }
}

pub fn read_supervisord(sources: &Sources, ctx: &Ctx, diags: &mut Diags) -> SupervisordSection {
    let loc = find(sources, "supervisord");
    if loc.is_none() && !ctx.embedded {
        diags.error(
            Place::file(&sources.main_name),
            "no [supervisord] section (supervisord requires one; an empty one will do)",
        );
    }
    let here = loc.map_or(ctx.here.clone(), |l| l.here.clone());
    let vars = ctx.base_vars(&here);
    let mut s = SupervisordSection {
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
        childlogdir: if ctx.embedded {
            here.join("logs")
        } else {
            std::env::temp_dir()
        },
        user: None,
        directory: None,
        strip_ansi: false,
        environment: Vec::new(),
        identifier: "supervisor".to_string(),
    };
    let Some(loc) = loc else { return s };
    let r = Reader::new(loc);
    r.warn_unknown(SUPERVISORD_KEYS, diags);

    if let Some(Ok(v)) = r.text("logfile", &vars, diags) {
        match v.to_lowercase().as_str() {
            "none" | "off" => s.logfile = None,
            "syslog" => {
                diags.warn(
                    r.at("logfile"),
                    "logging to syslog is not supported yet; the daemon log is off",
                );
                s.logfile = None;
            }
            _ => {
                let p = normalized(&v, ctx);
                if r.path_fits("logfile", &p, diags) {
                    check_parent(&p, r.at("logfile"), ctx, diags);
                }
                s.logfile = Some(p);
            }
        }
    }
    s.logfile_maxbytes = r.ranged(
        "logfile_maxbytes",
        &vars,
        diags,
        s.logfile_maxbytes,
        values::BYTES,
        values::byte_size,
    );
    s.logfile_backups = r.ranged(
        "logfile_backups",
        &vars,
        diags,
        s.logfile_backups,
        values::BACKUPS,
        values::integer,
    );
    s.loglevel = r.parse("loglevel", &vars, diags, s.loglevel, values::loglevel);
    if let Some(Ok(v)) = r.text("pidfile", &vars, diags) {
        let p = normalized(&v, ctx);
        if r.path_fits("pidfile", &p, diags) {
            check_parent(&p, r.at("pidfile"), ctx, diags);
        }
        s.pidfile = p;
    }
    s.umask = r.parse("umask", &vars, diags, s.umask, values::octal);
    s.nodaemon = r.parse_opt("nodaemon", &vars, diags, values::boolean);
    s.silent = r.parse("silent", &vars, diags, s.silent, values::boolean);
    s.minfds = r.ranged(
        "minfds",
        &vars,
        diags,
        s.minfds,
        values::LIMITS,
        values::integer,
    );
    s.minprocs = r.ranged(
        "minprocs",
        &vars,
        diags,
        s.minprocs,
        values::LIMITS,
        values::integer,
    );
    s.nocleanup = r.parse("nocleanup", &vars, diags, s.nocleanup, values::boolean);
    if let Some(Ok(v)) = r.text("childlogdir", &vars, diags) {
        s.childlogdir = normalized(&v, ctx);
    }
    if r.path_fits("childlogdir", &s.childlogdir, diags) && !ctx.dir_ok(&s.childlogdir) {
        diags.error(
            r.at("childlogdir"),
            format!("the directory {} does not exist", s.childlogdir.display()),
        );
    }
    s.user = r.parse_opt("user", &vars, diags, |v| {
        values::existing_user(v).map(|_| v.to_string())
    });
    s.directory = r.parse_opt("directory", &vars, diags, |v| {
        let p = PathBuf::from(paths::expand_user(v, ctx.home()));
        if !paths::fits(&p) {
            Err(too_long_path(r.raw("directory").unwrap_or(v)))
        } else if p.is_dir() {
            Ok(p)
        } else {
            Err(format!("{v} is not an existing directory"))
        }
    });
    s.strip_ansi = r.parse("strip_ansi", &vars, diags, s.strip_ansi, values::boolean);
    s.environment = r.pairs("environment", &vars, diags);
    if let Some(Ok(v)) = r.text("identifier", &vars, diags) {
        s.identifier = v;
    }
    s
}

/// An expanded text value, `None` when absent or not expandable.
fn text(r: &Reader<'_>, key: &'static str, vars: &Vars, diags: &mut Diags) -> Option<String> {
    r.text(key, vars, diags).and_then(Result::ok)
}

/// `username` and `password` (expanded, as supervisord does): both or neither.
fn credentials(r: &Reader, vars: &Vars, diags: &mut Diags) -> Option<Credentials> {
    let username = text(r, "username", vars, diags);
    let password = text(r, "password", vars, diags);
    match (username, password) {
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let missing = if r.raw("username").is_some() {
                "password"
            } else {
                "username"
            };
            diags.error(
                r.header(),
                format!("incomplete authentication: {missing}= is missing (set both username and password, or neither)"),
            );
            None
        }
    }
}

pub fn read_unix_http_server(
    sources: &Sources,
    ctx: &Ctx,
    diags: &mut Diags,
) -> Option<UnixHttpServer> {
    let loc = find(sources, "unix_http_server")?;
    let r = Reader::new(loc);
    r.warn_unknown(&["file", "chmod", "chown", "username", "password"], diags);
    let vars = ctx.base_vars(&loc.here);
    let file = match r.text("file", &vars, diags) {
        Some(Ok(v)) => {
            let p = normalized(v.trim(), ctx);
            r.path_fits("file", &p, diags);
            p
        }
        Some(Err(())) => PathBuf::new(),
        None => {
            diags.error(
                r.header(),
                "file= is missing (the socket's path, e.g. file=%(here)s/sluice.sock)",
            );
            PathBuf::new()
        }
    };
    let chmod = r.parse("chmod", &vars, diags, 0o700, values::octal);
    let chown = r.parse_opt("chown", &vars, diags, |v| {
        values::user_group(v)
            .map(|()| v.to_string())
            .map_err(|e| format!("invalid chown value {v}: {e}"))
    });
    let auth = credentials(&r, &vars, diags);
    Some(UnixHttpServer {
        file,
        chmod,
        chown,
        auth,
    })
}

pub fn read_inet_http_server(
    sources: &Sources,
    ctx: &Ctx,
    diags: &mut Diags,
) -> Option<InetHttpServer> {
    let loc = find(sources, "inet_http_server")?;
    let r = Reader::new(loc);
    r.warn_unknown(&["port", "username", "password"], diags);
    let vars = ctx.base_vars(&loc.here);
    let port = match r.text("port", &vars, diags) {
        Some(Ok(v)) => {
            if let Err(e) = values::inet_address(&v) {
                diags.error(r.at("port"), e);
            }
            v
        }
        Some(Err(())) => String::new(),
        None => {
            diags.error(r.header(), "port= is missing (e.g. port=127.0.0.1:9001)");
            String::new()
        }
    };
    let auth = credentials(&r, &vars, diags);
    Some(InetHttpServer { port, auth })
}

pub fn read_supervisorctl(
    sources: &Sources,
    ctx: &Ctx,
    unix: Option<&UnixHttpServer>,
    diags: &mut Diags,
) -> CtlSection {
    let default_url = match unix {
        Some(u) => format!("unix://{}", u.file.display()),
        None => "http://localhost:9001".to_string(),
    };
    let mut ctl = CtlSection {
        serverurl: default_url,
        username: None,
        password: None,
        prompt: "supervisor".to_string(),
        history_file: None,
    };
    let Some(loc) = find(sources, "supervisorctl") else {
        return ctl;
    };
    let r = Reader::new(loc);
    r.warn_unknown(
        &[
            "serverurl",
            "username",
            "password",
            "prompt",
            "history_file",
        ],
        diags,
    );
    let vars = ctx.base_vars(&loc.here);
    if let Some(Ok(v)) = r.text("serverurl", &vars, diags) {
        ctl.serverurl = match v.strip_prefix("unix://") {
            Some(path) => {
                let p = normalized(path, ctx);
                r.path_fits("serverurl", &p, diags);
                format!("unix://{}", p.display())
            }
            None => v,
        };
    }
    ctl.username = text(&r, "username", &vars, diags);
    ctl.password = text(&r, "password", &vars, diags);
    if let Some(p) = text(&r, "prompt", &vars, diags) {
        ctl.prompt = p;
    }
    if let Some(Ok(v)) = r.text("history_file", &vars, diags)
        && !v.is_empty()
    {
        let p = normalized(&v, ctx);
        r.path_fits("history_file", &p, diags);
        ctl.history_file = Some(p);
    }
    ctl
}
