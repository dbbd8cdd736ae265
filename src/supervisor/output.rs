//! A child's stdout/stderr, captured into its log files until EOF.
//! (Placeholder until the logs module's capture lands: drains to files.)

use std::os::fd::OwnedFd;

use crate::config::ProcessSpec;

pub struct Output {}

impl Output {
    pub fn start(
        spec: &ProcessSpec,
        stdout: OwnedFd,
        stderr: Option<OwnedFd>,
    ) -> Result<Output, String> {
        let out_path = spec.stdout.path.clone();
        let err_path = spec.stderr.path.clone();
        drain(stdout, out_path)?;
        if let Some(fd) = stderr {
            drain(fd, err_path)?;
        }
        Ok(Output {})
    }
    pub fn reopen(&self) {}
}

fn drain(fd: OwnedFd, path: Option<std::path::PathBuf>) -> Result<(), String> {
    let mut sink: Box<dyn std::io::Write + Send> = match path {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(|e| {
                    format!("unknown error making dispatchers for {}: {e}", p.display())
                })?,
        ),
        None => Box::new(std::io::sink()),
    };
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(fd);
        let _ = std::io::copy(&mut f, &mut sink);
    });
    Ok(())
}
