//! The `sluice` command line: one binary, one subcommand per role
//! (DESIGN.md §1). Each subcommand lives in its own module; this file only
//! parses arguments and hands over.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Process supervisor and event pipeline daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor (foreground unless --daemonize or nodaemon=false).
    Daemon {
        /// The configuration file (else $SLUICE_CONFIG, ./sluice.conf, the embedded default).
        #[arg(short = 'c', long = "configuration")]
        config: Option<PathBuf>,
        /// Detach from the terminal and run in the background.
        #[arg(long)]
        daemonize: bool,
        /// Stay in the foreground even if the file says nodaemon=false.
        #[arg(short = 'n', long)]
        nodaemon: bool,
    },
    /// Control a running daemon, as supervisorctl does.
    Ctl {
        /// The configuration file whose [supervisorctl] section to use.
        #[arg(short = 'c', long = "configuration")]
        config: Option<PathBuf>,
        /// The server URL (unix:///path or http://host:port).
        #[arg(short = 's', long = "serverurl")]
        serverurl: Option<String>,
        #[arg(short = 'u', long)]
        username: Option<String>,
        #[arg(short = 'p', long)]
        password: Option<String>,
        /// The command and its arguments (status, start NAME, tail -f NAME, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run one Flume agent in the foreground (flume-ng agent's options).
    Agent(sluice::engine::flume_ng::AgentArgs),
    /// Validate the configuration and every agent file it runs (or one
    /// agent file alone: -f FILE -n NAME); print every problem; exit 1 if any.
    Check {
        /// The configuration file (else $SLUICE_CONFIG, ./sluice.conf, the
        /// embedded default). With --conf-file: flume-ng's configuration
        /// directory, accepted and ignored.
        #[arg(short = 'c', long = "configuration")]
        config: Option<PathBuf>,
        /// Check this agent file alone (flume-ng's -f/--conf-file).
        #[arg(short = 'f', long = "conf-file", requires = "name")]
        conf_file: Option<PathBuf>,
        /// The agent's name in that file (flume-ng's -n/--name).
        #[arg(short = 'n', long = "name", requires = "conf_file")]
        name: Option<String>,
        /// flume-ng's --conf DIR (accepted; sluice needs none).
        #[arg(long = "conf", hide = true)]
        conf_dir: Option<PathBuf>,
        /// flume-ng's -Dkey=value (accepted and ignored).
        #[arg(short = 'D', hide = true)]
        defines: Vec<String>,
    },
    /// The daemon's watchdog (started by the daemon itself; see
    /// sluice::descendants).
    #[command(hide = true)]
    Watchdog,
}

fn main() -> ExitCode {
    sluice::allocator::tune();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Daemon {
            config,
            daemonize,
            nodaemon,
        } => sluice::daemon::main(sluice::daemon::Options {
            config,
            daemonize,
            nodaemon,
        }),
        Command::Ctl {
            config,
            serverurl,
            username,
            password,
            args,
        } => sluice::ctl::main(sluice::ctl::MainOptions {
            config,
            serverurl,
            username,
            password,
            args,
        }),
        Command::Agent(args) => sluice::standalone::main(args),
        Command::Watchdog => sluice::descendants::watchdog::main(),
        Command::Check {
            config,
            conf_file,
            name,
            conf_dir,
            defines,
        } => {
            let (report, code) = match (conf_file, name) {
                (Some(conf_file), Some(name)) => {
                    sluice::config::check_agent(&sluice::engine::flume_ng::AgentArgs {
                        conf_file,
                        name,
                        conf_dir,
                        defines,
                        ..Default::default()
                    })
                }
                _ => sluice::config::check(&sluice::config::discover(config.as_deref())),
            };
            print!("{report}");
            code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
