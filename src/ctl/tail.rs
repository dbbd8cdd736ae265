//! `tail [-f|-N] name [stdout|stderr]`: the end of a process's log.
//!
//! Without `-f`: the last N (default 1600) bytes through
//! `readProcessStdoutLog`/`readProcessStderrLog(name, -N, 0)`, printed with
//! a newline after them, as supervisorctl does.
//!
//! With `-f`: streams `GET /logtail/NAME/CHANNEL` as supervisorctl does (the
//! server follows the file across rotations) and prints the bytes as they
//! come, until interrupted (Ctrl-C) or the server ends the stream; a refused
//! stream (no such process, no log file) is one line on stderr, as
//! supervisorctl's HTTP client prints it. A transport that cannot stream
//! polls `tailProcessStdoutLog/StderrLog(name, offset, length)` every
//! `Options::tail_poll` (0.5 s) instead.

use std::future::Future;

use crate::rpc::{Value, faults};

use super::format::{array, kind, py_repr};
use super::{Abort, CallError, CmdResult, Command, Ctl, LocalFuture, exit};

pub(crate) const COMMAND: Command = Command {
    name: "tail",
    help: "tail [-f] <name> [stdout|stderr] (default stdout)\n\
           Ex:\n\
           tail -f <name>\t\tContinuous tail of named process stdout\n\
           \t\t\tCtrl-C to exit.\n\
           tail -100 <name>\tlast 100 *bytes* of process stdout\n\
           tail <name> stderr\tlast 1600 *bytes* of process stderr",
    listed: true,
    run: |c, a| Box::pin(tail(c, a)),
};

/// Bytes shown when no `-N` is given, and the first chunk of `-f`.
const DEFAULT_BYTES: i64 = 1600;
/// The most `-f` asks for per poll; more new bytes than this between two
/// polls and the older ones are skipped (the server reports an overflow).
const FOLLOW_CHUNK: i64 = 64 * 1024;

async fn tail(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !ctl.upcheck().await? {
        return Ok(());
    }
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.is_empty() {
        ctl.line("Error: too few arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(COMMAND.help)?;
        return Ok(());
    }
    if args.len() > 3 {
        ctl.line("Error: too many arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(COMMAND.help)?;
        return Ok(());
    }
    let modifier = if args[0].starts_with('-') {
        Some(args.remove(0))
    } else {
        None
    };
    let (name, channel) = match args.as_slice() {
        [name] => (*name, "stdout".to_string()),
        [] => {
            ctl.line("Error: tail requires process name")?;
            ctl.exit = exit::GENERIC;
            return Ok(());
        }
        [name, .., last] => {
            let channel = last.to_lowercase();
            if channel != "stdout" && channel != "stderr" {
                ctl.line(&format!("Error: bad channel {}", py_repr(&channel)))?;
                ctl.exit = exit::GENERIC;
                return Ok(());
            }
            (*name, channel)
        }
    };
    let channel = if channel == "stdout" {
        "Stdout"
    } else {
        "Stderr"
    };

    let mut bytes = DEFAULT_BYTES;
    if let Some(modifier) = modifier {
        let what = &modifier[1..];
        if what == "f" {
            return follow(ctl, name, channel).await;
        }
        match parse_int(what) {
            Some(n) => bytes = n,
            None => {
                ctl.line(&format!("Error: bad argument {modifier}"))?;
                ctl.exit = exit::GENERIC;
                return Ok(());
            }
        }
    }

    let method = format!("supervisor.readProcess{channel}Log");
    let params = vec![name.into(), Value::Int(-bytes), Value::Int(0)];
    match ctl.call(&method, params).await {
        Ok(Value::String(text)) => ctl.line(&text)?,
        Ok(Value::Base64(raw)) => ctl.line(&String::from_utf8_lossy(&raw))?,
        Ok(other) => {
            return Err(Abort::Malformed(format!(
                "{method} returned {}, not a string",
                kind(&other)
            )));
        }
        Err(e) => log_error(ctl, name, e)?,
    }
    Ok(())
}

/// An integer the way Python's `int()` reads `-N`'s N: optional sign, digits.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The messages supervisorctl has for a failed log read; other failures
/// abort the command.
fn log_error(ctl: &mut Ctl<'_>, name: &str, e: CallError) -> CmdResult {
    let why = match &e {
        CallError::Fault(f) if f.code == faults::NO_FILE => "no log file",
        CallError::Fault(f) if f.code == faults::FAILED => "unknown error reading log",
        CallError::Fault(f) if f.code == faults::BAD_NAME => "no such process name",
        _ => return Err(e.into()),
    };
    ctl.line(&format!("{name}: ERROR ({why})"))?;
    ctl.exit = exit::GENERIC;
    Ok(())
}

/// Wait for `fut` unless the user interrupts first (`None`).
pub(crate) async fn unless_interrupted<T>(
    fut: impl Future<Output = T>,
    stop: &mut LocalFuture<'static, ()>,
) -> Option<T> {
    tokio::select! {
        v = fut => Some(v),
        () = stop => None,
    }
}

async fn follow(ctl: &mut Ctl<'_>, name: &str, channel: &str) -> CmdResult {
    let path = format!("/logtail/{name}/{}", channel.to_lowercase());
    follow_path(ctl, &path, Some((name, channel))).await
}

/// Stream `GET path` to stdout until interrupted; `poll_instead` names the
/// process log to poll when the transport cannot stream (the main log has
/// no such fallback).
pub(crate) async fn follow_path(
    ctl: &mut Ctl<'_>,
    path: &str,
    poll_instead: Option<(&str, &str)>,
) -> CmdResult {
    let mut stop = (ctl.opts.interrupt)();
    ctl.line("==> Press Ctrl-C to exit <==")?;
    ctl.out.flush()?;
    let opened = unless_interrupted(ctl.stream(path), &mut stop).await;
    let Some(opened) = opened else {
        ctl.line("")?;
        return Ok(());
    };
    match opened {
        Some(Ok(mut body)) => {
            // The server follows the file across rotations and sends what is
            // new as it comes, until it ends the stream or the user interrupts.
            while let Some(Some(Ok(bytes))) = unless_interrupted(body.next_chunk(), &mut stop).await
            {
                ctl.out.write_all(&bytes)?;
                ctl.out.flush()?;
            }
            ctl.line("")?;
            Ok(())
        }
        // Refused (404: no such process, 410: no log file): supervisorctl's
        // HTTP client reports it on stderr, and the command ends there.
        Some(Err(CallError::Protocol(why))) => {
            writeln!(ctl.err, "{}{path} {why}", ctl.rpc.url())?;
            Ok(())
        }
        Some(Err(e)) => Err(e.into()),
        // A transport that cannot stream: poll instead.
        None => match poll_instead {
            Some((name, channel)) => poll(ctl, name, channel, stop).await,
            None => Err(Abort::Message(format!("cannot stream {path}"))),
        },
    }
}

/// `tail -f` by polling `tailProcess*Log(name, offset, length)`.
async fn poll(
    ctl: &mut Ctl<'_>,
    name: &str,
    channel: &str,
    mut stop: LocalFuture<'static, ()>,
) -> CmdResult {
    let method = format!("supervisor.tailProcess{channel}Log");
    let mut offset: i64 = 0;
    let mut length = DEFAULT_BYTES;
    loop {
        let params = vec![name.into(), Value::Int(offset), Value::Int(length)];
        let Some(reply) = unless_interrupted(ctl.call(&method, params), &mut stop).await else {
            break;
        };
        let reply = match reply {
            Ok(v) => v,
            Err(e) => return log_error(ctl, name, e),
        };
        let (data, next) = match array(&reply, &method)? {
            [data, Value::Int(next), ..] => (data, *next),
            _ => {
                return Err(Abort::Malformed(format!(
                    "{method} did not return [bytes, offset, overflow]"
                )));
            }
        };
        match data {
            Value::String(s) => ctl.out.write_all(s.as_bytes())?,
            Value::Base64(b) => ctl.out.write_all(b)?,
            other => {
                return Err(Abort::Malformed(format!(
                    "{method} returned {} for the bytes",
                    kind(other)
                )));
            }
        }
        ctl.out.flush()?;
        offset = next;
        length = FOLLOW_CHUNK;
        let poll = ctl.opts.tail_poll;
        if unless_interrupted(tokio::time::sleep(poll), &mut stop)
            .await
            .is_none()
        {
            break;
        }
    }
    ctl.line("")?;
    Ok(())
}
