//! flume-ng's command line: `flume-ng agent --conf DIR --conf-file FILE
//! --name NAME -Dkey=value ...`. `sluice agent` takes the same options, and
//! the supervisor recognises a `[program:x]` whose command runs `flume-ng
//! agent` so that sluice runs the agent itself.

use std::path::PathBuf;

use clap::Parser;

use super::log::Level;

/// The options of `flume-ng agent` (and `sluice agent`).
#[derive(clap::Args, Debug, Clone, PartialEq, Default)]
pub struct AgentArgs {
    /// The agent's properties file.
    #[arg(short = 'f', long = "conf-file")]
    pub conf_file: PathBuf,
    /// The agent's name in that file.
    #[arg(short = 'n', long = "name")]
    pub name: String,
    /// flume-ng's configuration directory (accepted; sluice needs none).
    #[arg(short = 'c', long = "conf")]
    pub conf_dir: Option<PathBuf>,
    /// Java system properties, e.g. `-Dflume.root.logger=INFO,console`.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub defines: Vec<String>,
    /// JVM options such as `-Xmx512m` (accepted and ignored).
    #[arg(short = 'X', value_name = "OPTION", hide = true)]
    pub jvm: Vec<String>,
    /// flume-ng's classpath options (accepted and ignored).
    #[arg(short = 'C', long = "classpath", hide = true)]
    pub classpath: Option<String>,
    #[arg(long = "plugins-path", hide = true)]
    pub plugins_path: Option<String>,
    /// Accepted for compatibility: sluice reads the file once at start.
    #[arg(long = "no-reload-conf", hide = true)]
    pub no_reload_conf: bool,
}

/// What the `-D` system properties ask of sluice.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOptions {
    /// The first word of `-Dflume.root.logger=LEVEL,appender` (INFO).
    pub log_level: Level,
    /// One line per property that sluice ignores or cannot honour.
    pub warnings: Vec<String>,
}

impl AgentArgs {
    /// Read the `-D` properties: `flume.root.logger` sets the log level;
    /// anything sluice does not use is a warning naming it.
    pub fn options(&self) -> AgentOptions {
        let mut log_level = Level::Info;
        let mut warnings = Vec::new();
        for define in &self.defines {
            let Some((key, value)) = define.split_once('=') else {
                warnings.push(format!("-D{define}: expected -Dkey=value; ignored"));
                continue;
            };
            match key {
                "flume.root.logger" => {
                    let mut words = value.split(',').map(str::trim);
                    let level = words.next().unwrap_or("");
                    match Level::parse(level) {
                        Some(l) => log_level = l,
                        None => warnings.push(format!(
                            "-D{define}: '{level}' is not a log level (TRACE, DEBUG, INFO, WARN, \
                             ERROR, FATAL, OFF); INFO is used"
                        )),
                    }
                    for appender in words.filter(|a| !a.eq_ignore_ascii_case("console")) {
                        warnings.push(format!(
                            "-D{define}: the appender '{appender}' is not supported: the agent's \
                             log goes to stdout (`sluice agent`) or to its program's \
                             stdout_logfile (in the daemon), which the daemon rotates"
                        ));
                    }
                }
                // Only the LOGFILE appender reads them, warned about above.
                "flume.log.dir" | "flume.log.file" => {}
                k if k.starts_with("flume.monitoring.") => warnings.push(format!(
                    "-D{define}: monitoring is not implemented yet; ignored"
                )),
                _ => warnings.push(format!("-D{define}: unknown property; ignored")),
            }
        }
        AgentOptions {
            log_level,
            warnings,
        }
    }

    /// The value of `-Dkey=value`, if given.
    pub fn define(&self, key: &str) -> Option<&str> {
        self.defines
            .iter()
            .rev()
            .find_map(|d| d.strip_prefix(key)?.strip_prefix('='))
    }
}

#[derive(Parser, Debug)]
#[command(name = "flume-ng", no_binary_name = true, disable_help_flag = true)]
struct FlumeNg {
    #[arg(value_parser = ["agent"])]
    command: String,
    #[command(flatten)]
    args: AgentArgs,
}

/// If `command` runs `flume-ng agent ...` (any path ending in `flume-ng`),
/// its options; `Some(Err)` when it does but the options are wrong.
pub fn recognise(command: &str) -> Option<Result<AgentArgs, String>> {
    let words = shlex::split(command)?;
    let (program, rest) = words.split_first()?;
    let base = program.rsplit('/').next().unwrap_or(program);
    if base != "flume-ng" || rest.first().map(String::as_str) != Some("agent") {
        return None;
    }
    Some(FlumeNg::try_parse_from(rest).map(|f| f.args).map_err(|e| {
        // clap's message without its usage lines, on one line.
        let text = e.to_string();
        let message = text.split("Usage:").next().unwrap_or("");
        let words: Vec<&str> = message.split_whitespace().collect();
        let message = words.join(" ");
        let message = message.trim_start_matches("error: ");
        format!("cannot read this flume-ng agent command: {message}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorial_command_is_recognised() {
        let c = "/usr/local/flume/bin/flume-ng agent --conf /usr/local/flume/conf \
                 --conf-file /usr/local/flume/config/example.conf --name a1 \
                 -Dflume.root.logger=INFO,console";
        let a = recognise(c).expect("recognised").expect("valid");
        assert_eq!(
            a.conf_file,
            PathBuf::from("/usr/local/flume/config/example.conf")
        );
        assert_eq!(a.name, "a1");
        assert_eq!(a.define("flume.root.logger"), Some("INFO,console"));
    }

    #[test]
    fn the_root_logger_sets_the_level_and_other_properties_are_warnings() {
        let args = |defines: &[&str]| AgentArgs {
            conf_file: "a.conf".into(),
            name: "a1".into(),
            conf_dir: None,
            defines: defines.iter().map(|d| d.to_string()).collect(),
            jvm: vec![],
            classpath: None,
            plugins_path: None,
            no_reload_conf: false,
        };
        let o = args(&["flume.root.logger=INFO,console"]).options();
        assert_eq!((o.log_level, o.warnings.len()), (Level::Info, 0));
        let o = args(&["flume.root.logger=warn,console"]).options();
        assert_eq!((o.log_level, o.warnings.len()), (Level::Warn, 0));
        assert_eq!(args(&[]).options().log_level, Level::Info);
        let o = args(&[
            "flume.root.logger=LOUD,LOGFILE",
            "flume.monitoring.type=http",
            "flume.monitoring.port=34545",
            "user.timezone=UTC",
            "nokey",
        ])
        .options();
        assert_eq!(o.log_level, Level::Info);
        let w = o.warnings.join("\n");
        assert_eq!(o.warnings.len(), 6, "{w}");
        assert!(w.contains("'LOUD' is not a log level"), "{w}");
        assert!(w.contains("appender 'LOGFILE' is not supported"), "{w}");
        assert!(w.contains("-Dflume.monitoring.type=http: monitoring is not implemented yet"));
        assert!(
            w.contains("-Duser.timezone=UTC: unknown property; ignored"),
            "{w}"
        );
        assert!(w.contains("-Dnokey: expected -Dkey=value"), "{w}");
    }

    #[test]
    fn short_options_and_jvm_flags_work_and_other_commands_are_not_agents() {
        let a = recognise("flume-ng agent -c conf -f a.conf -n x -Xmx20m")
            .expect("recognised")
            .expect("valid");
        assert_eq!(
            (a.conf_file.to_str(), a.name.as_str()),
            (Some("a.conf"), "x")
        );
        assert!(recognise("/bin/sleep 10").is_none());
        assert!(recognise("flume-ng version").is_none());
        let err = recognise("flume-ng agent --conf-file a.conf").expect("recognised");
        let err = err.unwrap_err();
        assert!(err.contains("--name"), "{err}");
    }
}
