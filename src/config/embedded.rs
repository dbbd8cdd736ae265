//! The embedded default configuration, used when there is no `-c FILE`,
//! no `$SLUICE_CONFIG` and no `./sluice.conf` (DESIGN.md §1). It is read
//! like any file, with `%(here)s` the current directory.

/// What diagnostics about the embedded text call its "file".
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// The text itself.
pub const EMBEDDED_CONFIG: &str = "\
; sluice's built-in configuration: everything lives under the current directory.
[supervisord]
logfile = %(here)s/logs/sluice.log
pidfile = %(here)s/sluice.pid
childlogdir = %(here)s/logs

[unix_http_server]
file = %(here)s/sluice.sock
chmod = 0700

[supervisorctl]
serverurl = unix://%(here)s/sluice.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[include]
files = supervisor.d/*.ini
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dialect;

    #[test]
    fn embedded_text_is_clean() {
        let doc = dialect::parse(EMBEDDED_CONFIG);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        let names: Vec<&str> = doc.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "supervisord",
                "unix_http_server",
                "supervisorctl",
                "rpcinterface:supervisor",
                "include"
            ]
        );
    }
}
