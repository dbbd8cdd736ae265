//! `sluice daemon`: load the config, become a daemon if asked, then run the
//! control server and the manager until shutdown; SIGHUP and
//! `supervisor.restart` start the whole cycle again with a fresh config.

use std::path::PathBuf;

use std::sync::Arc;

use crate::config::{self, Config, ConfigSource};
use crate::logs::DaemonLogHandle;
use crate::rpc::api::Api;
use crate::rpc::{self, ServerConfig};
use crate::supervisor::identity::SwitchUser;
use crate::supervisor::signals::Signals;
use crate::supervisor::{Exit, Manager, limits};

/// What `sluice daemon` was asked on its command line.
pub struct Options {
    pub config: Option<PathBuf>,
    pub daemonize: bool,
    pub nodaemon: bool,
}

/// The config and its warnings (printed here; logged once the daemon log
/// exists, by `log_config`).
fn load(source: &ConfigSource) -> Result<config::Loaded, i32> {
    match config::load(source) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            Ok(loaded)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "Error: the configuration has errors; nothing was started (see `sluice check`)"
            );
            Err(2)
        }
    }
}

/// Run the daemon; returns the process exit code.
pub fn main(opts: Options) -> i32 {
    let mut source = config::discover(opts.config.as_deref());
    // Re-read later from the same file, whatever directory the daemon moves to.
    if let ConfigSource::File(p) = &source
        && p.is_relative()
        && let Ok(cwd) = std::env::current_dir()
    {
        source = ConfigSource::File(cwd.join(p));
    }
    if let ConfigSource::Embedded(here) = &source {
        // The embedded default keeps its logs under ./logs; make it on first run
        // (before loading: the example programs log there).
        if let Err(e) = std::fs::create_dir_all(here.join("logs")) {
            eprintln!(
                "Error: could not create {}: {e}",
                here.join("logs").display()
            );
            return 2;
        }
    }
    let (mut config, warnings) = match load(&source) {
        Ok(loaded) => (loaded.config, loaded.warnings),
        Err(code) => return code,
    };
    let background =
        !opts.nodaemon && (opts.daemonize || config.supervisord.nodaemon == Some(false));
    if background {
        // Detach before any thread exists: fork, setsid, stdio to /dev/null.
        if let Err(e) = nix::unistd::daemon(true, false) {
            eprintln!("Error: could not daemonize: {e}");
            return 1;
        }
    }
    if let Err(e) = limits::apply(config.supervisord.minfds, config.supervisord.minprocs) {
        eprintln!("Error: {e}");
        return 2;
    }
    // `[supervisord] user`: drop root before opening the socket and the logs,
    // so they belong to that user.
    if let Some(user) = &config.supervisord.user
        && let Err(e) = SwitchUser::resolve(user).and_then(|u| u.apply().map_err(|e| e.to_string()))
    {
        eprintln!("Error: could not switch to user {user}: {e}");
        return 2;
    }
    // Adopt orphaned grandchildren so they are reaped, not left as zombies.
    // SAFETY: a plain prctl on our own process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    // The runtime and the signal handlers come before the log: once the
    // log exists, a signal must find its handler (supervisor/signals.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let mut signals = match runtime.block_on(async { Signals::register() }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: cannot install the signal handlers: {e}");
            return 1;
        }
    };
    let s = &config.supervisord;
    let daemon_log = match crate::logs::daemon_log::install(
        s.logfile.as_deref(),
        s.logfile_maxbytes,
        s.logfile_backups,
        s.loglevel,
        // supervisord in the foreground echoes its log to stdout unless silent.
        !background && !s.silent,
    ) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("Error: {e}");
            return 2;
        }
    };
    log_config(&config, &warnings);

    loop {
        let exit = runtime.block_on(run_once(&config, &source, &daemon_log, &mut signals));
        match exit {
            Ok(Exit::Shutdown) => {
                crate::descendants::finish();
                return 0;
            }
            Ok(Exit::Restart) => match config::load(&source) {
                Ok(loaded) => {
                    let c = loaded.config;
                    // A new life makes its log anew, as supervisord's.
                    let s = &c.supervisord;
                    if let Err(e) = daemon_log.reconfigure(
                        s.logfile.as_deref(),
                        s.logfile_maxbytes,
                        s.logfile_backups,
                        s.loglevel,
                    ) {
                        tracing::error!("could not open the new daemon log: {e}");
                    }
                    log_config(&c, &loaded.warnings);
                    tracing::info!("reloaded configuration");
                    config = c
                }
                Err(errors) => {
                    // In the daemon's log, and on stderr as at startup.
                    for e in errors.iter().filter(|e| e.is_error()) {
                        tracing::error!("{e}");
                        eprintln!("{e}");
                    }
                    tracing::error!("the configuration has errors; keeping the previous one");
                }
            },
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("Error: {e}");
                return 2;
            }
        }
    }
}

/// What supervisord's log says about its config once the log exists, in
/// its order: CRIT for running as root with no `user`, every warning (an
/// `[eventlistener:x]` left out, an unknown key, ...), then the user switch
/// and each included file.
fn log_config(config: &Config, warnings: &[config::Diagnostic]) {
    let uid = nix::unistd::getuid();
    if uid.is_root() && config.supervisord.user.is_none() {
        tracing::error!(
            target: crate::logs::daemon_log::CRITICAL_TARGET,
            "Supervisor is running as root.  Privileges were not dropped because no user is \
             specified in the config file.  If you intend to run as root, you can set user=root \
             in the config file to avoid this message."
        );
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    if config.supervisord.user.is_some() {
        tracing::info!("Set uid to user {uid} succeeded");
    }
    for file in config
        .files
        .iter()
        .filter(|f| config.source.as_ref() != Some(*f))
    {
        tracing::info!("Included extra file \"{}\" during parsing", file.display());
    }
}

fn write_pidfile(config: &Config) -> Result<(), String> {
    let path = &config.supervisord.pidfile;
    std::fs::write(path, format!("{}\n", std::process::id()))
        .map_err(|e| format!("could not write pidfile {}: {e}", path.display()))
}

/// One life of the daemon with one config.
async fn run_once(
    config: &Config,
    source: &ConfigSource,
    daemon_log: &DaemonLogHandle,
    signals: &mut Signals,
) -> Result<Exit, String> {
    // SAFETY: umask only changes our own file creation mask.
    unsafe {
        libc::umask(config.supervisord.umask as libc::mode_t);
    }
    if let Some(dir) = &config.supervisord.directory {
        std::env::set_current_dir(dir)
            .map_err(|e| format!("could not chdir to {}: {e}", dir.display()))?;
    }
    let server = rpc::bind(ServerConfig::from_config(config))
        .await
        .map_err(|e| format!("could not start the control server: {e}"))?;
    write_pidfile(config)?;
    let (manager, handle) = Manager::new(config, server.urls().into_iter().next());
    let manager = manager.with_daemon_log(daemon_log.clone());
    let api = Api::new(
        handle,
        config.supervisord.identifier.clone(),
        config.supervisord.logfile.clone(),
    )
    .with_daemon_log(daemon_log.clone())
    .with_config_source(source.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(Arc::new(api), async {
        let _ = stop_rx.await;
    }));
    tracing::info!(
        "sluice {} started with pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    // The socket is ours, so no other daemon runs here: end what a killed
    // one left, and start the watchdog, before anything is spawned. That may
    // take the old programs' stopwaitsecs; meanwhile the server answers
    // (status shows nothing started yet) and commands wait for the manager.
    let record = crate::descendants::record_path(&config.supervisord.pidfile);
    let _ = tokio::task::spawn_blocking(move || crate::descendants::guard(&record)).await;
    let exit = manager.run(signals).await;
    let _ = stop_tx.send(());
    let _ = serving.await;
    let _ = std::fs::remove_file(&config.supervisord.pidfile);
    Ok(exit)
}
