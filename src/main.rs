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
    /// Validate the configuration; print every problem; exit 1 if any.
    Check {
        #[arg(short = 'c', long = "configuration")]
        config: Option<PathBuf>,
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
        Command::Check { config } => {
            let source = sluice::config::discover(config.as_deref());
            let (report, code) = sluice::config::check(&source);
            print!("{report}");
            code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
