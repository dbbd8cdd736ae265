//! `reread`, `update`, `avail`, `add`, `remove` and `reload`: config
//! changes applied to a running daemon.
//!
//! `update` asks sluice's daemon for `sluice.update`, which restarts only
//! the processes whose own settings changed; against a daemon without it (a
//! stock supervisord) it does supervisorctl's own steps: `reloadConfig`,
//! then stop + remove/add per group. Either way the lines are
//! supervisorctl's (`x: stopped`, `x: updated process group`, ...); in a
//! changed group sluice names each restarted process (`g:p: stopped`).
//! A config that does not load prints `ERROR: CANT_REREAD: file:line: ...`
//! and exits 1.

use crate::rpc::{Value, faults};

use super::format::{self, make_namespec};
use super::{Abort, CallError, CmdResult, Command, Ctl, exit};

pub(crate) const REREAD: Command = Command {
    name: "reread",
    help: "reread \t\t\tReload the daemon's configuration files without add/remove",
    listed: true,
    run: |c, a| Box::pin(reread(c, a)),
};

pub(crate) const UPDATE: Command = Command {
    name: "update",
    help: "update\t\t\tReload config and add/remove as necessary, and will restart affected programs\n\
           update all\t\tReload config and add/remove as necessary, and will restart affected programs\n\
           update <gname> [...]\tUpdate specific groups",
    listed: true,
    run: |c, a| Box::pin(update(c, a)),
};

pub(crate) const AVAIL: Command = Command {
    name: "avail",
    help: "avail\t\t\tDisplay all configured processes",
    listed: true,
    run: |c, a| Box::pin(avail(c, a)),
};

pub(crate) const ADD: Command = Command {
    name: "add",
    help: "add <name> [...]\tActivates any updates in config for process/group",
    listed: true,
    run: |c, a| Box::pin(add(c, a)),
};

pub(crate) const REMOVE: Command = Command {
    name: "remove",
    help: "remove <name> [...]\tRemoves process/group from active config",
    listed: true,
    run: |c, a| Box::pin(remove(c, a)),
};

pub(crate) const RELOAD: Command = Command {
    name: "reload",
    help: "reload \t\tRestart the remote supervisord.",
    listed: true,
    run: |c, a| Box::pin(reload(c, a)),
};

/// `[added, changed, removed]` group names from `reloadConfig`'s `[[a, c, r]]`.
fn changes(reply: &Value) -> Result<[Vec<String>; 3], Abort> {
    const METHOD: &str = "supervisor.reloadConfig";
    let outer = format::array(reply, METHOD)?;
    let inner = outer
        .first()
        .map(|v| format::array(v, METHOD))
        .transpose()?
        .ok_or_else(|| Abort::Malformed(format!("{METHOD} returned an empty array")))?;
    let mut lists: [Vec<String>; 3] = Default::default();
    for (i, list) in lists.iter_mut().enumerate() {
        let names = inner
            .get(i)
            .map(|v| format::array(v, METHOD))
            .transpose()?
            .unwrap_or_default();
        for n in names {
            let name = n.as_str().ok_or_else(|| {
                Abort::Malformed(format!("{METHOD}: a name is {}", format::kind(n)))
            })?;
            list.push(name.to_string());
        }
    }
    Ok(lists)
}

async fn reread(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        ctl.line("Error: reread accepts no arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(REREAD.help)?;
        return Ok(());
    }
    let reply = match ctl.call("supervisor.reloadConfig", vec![]).await {
        Ok(v) => v,
        Err(CallError::Fault(f)) if f.code == faults::SHUTDOWN_STATE => {
            ctl.exit = exit::GENERIC;
            return Ok(ctl.line("ERROR: supervisor shutting down")?);
        }
        Err(CallError::Fault(f)) if f.code == faults::CANT_REREAD => {
            ctl.exit = exit::GENERIC;
            return Ok(ctl.line(&format!("ERROR: {}", f.string))?);
        }
        Err(e) => return Err(e.into()),
    };
    let [added, changed, removed] = changes(&reply)?;
    // supervisorctl: one line per group, sorted by name.
    let mut lines: Vec<(String, &str)> = Vec::new();
    for (names, what) in [
        (added, "available"),
        (changed, "changed"),
        (removed, "disappeared"),
    ] {
        for n in names {
            lines.retain(|(m, _)| *m != n);
            lines.push((n, what));
        }
    }
    if lines.is_empty() {
        return Ok(ctl.line("No config updates to processes")?);
    }
    lines.sort();
    for (name, what) in lines {
        ctl.line(&format!("{name}: {what}"))?;
    }
    Ok(())
}

async fn update(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    let names: Vec<Value> = args.iter().map(|a| Value::from(a.as_str())).collect();
    match ctl.call("sluice.update", vec![Value::Array(names)]).await {
        Ok(reply) => {
            for entry in format::array(&reply, "sluice.update")? {
                let name = format::str_field(entry, "name")?;
                let message = format::str_field(entry, "message")?;
                if name.is_empty() {
                    ctl.line(message)?;
                } else {
                    ctl.line(&format!("{name}: {message}"))?;
                }
                if entry.get("ok").and_then(Value::as_bool) != Some(true) {
                    ctl.exit = exit::GENERIC;
                }
            }
            Ok(())
        }
        Err(CallError::Fault(f)) if f.code == faults::UNKNOWN_METHOD => {
            update_as_supervisorctl(ctl, args).await
        }
        Err(e) => rereading_failed(ctl, e),
    }
}

/// A failed `reloadConfig` in `update`: a config error is shown as such.
fn rereading_failed(ctl: &mut Ctl<'_>, e: CallError) -> CmdResult {
    match e {
        CallError::Fault(f) if f.code == faults::SHUTDOWN_STATE => {
            ctl.exit = exit::GENERIC;
            Ok(ctl.line("ERROR: already shutting down")?)
        }
        CallError::Fault(f) if f.code == faults::CANT_REREAD => {
            ctl.exit = exit::GENERIC;
            Ok(ctl.line(&format!("ERROR: {}", f.string))?)
        }
        e => Err(e.into()),
    }
}

/// supervisorctl's `update`, step by step over the public API.
async fn update_as_supervisorctl(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    let reply = match ctl.call("supervisor.reloadConfig", vec![]).await {
        Ok(v) => v,
        Err(e) => return rereading_failed(ctl, e),
    };
    let [added, changed, removed] = changes(&reply)?;
    let mut wanted: Vec<&str> = args.iter().map(String::as_str).collect();
    if wanted.contains(&"all") {
        wanted.clear();
    }
    if !wanted.is_empty() {
        const METHOD: &str = "supervisor.getAllProcessInfo";
        let infos = ctl.call(METHOD, vec![]).await?;
        let mut groups: Vec<String> = Vec::new();
        for info in format::array(&infos, METHOD)? {
            groups.push(format::str_field(info, "group")?.to_string());
        }
        groups.extend(added.iter().cloned());
        let mut unknown: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|w| !groups.iter().any(|g| g == w))
            .collect();
        unknown.dedup();
        for name in unknown {
            ctl.line(&format!("ERROR: no such group: {name}"))?;
            ctl.exit = exit::GENERIC;
        }
    }
    let chosen = |g: &str| wanted.is_empty() || wanted.contains(&g);
    for group in removed.iter().filter(|g| chosen(g)) {
        let results = ctl
            .call("supervisor.stopProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.line(&format!("{group}: stopped"))?;
        let failed = format::array(&results, "supervisor.stopProcessGroup")?
            .iter()
            .any(|r| r.get("status").and_then(Value::as_i64) == Some(i64::from(faults::FAILED)));
        if failed {
            ctl.line(&format!("{group}: has problems; not removing"))?;
            ctl.exit = exit::GENERIC;
            continue;
        }
        ctl.call("supervisor.removeProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.line(&format!("{group}: removed process group"))?;
    }
    for group in changed.iter().filter(|g| chosen(g)) {
        ctl.call("supervisor.stopProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.line(&format!("{group}: stopped"))?;
        ctl.call("supervisor.removeProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.call("supervisor.addProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.line(&format!("{group}: updated process group"))?;
    }
    for group in added.iter().filter(|g| chosen(g)) {
        ctl.call("supervisor.addProcessGroup", vec![group.as_str().into()])
            .await?;
        ctl.line(&format!("{group}: added process group"))?;
    }
    Ok(())
}

async fn avail(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        ctl.line("Error: avail accepts no arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(AVAIL.help)?;
        return Ok(());
    }
    const METHOD: &str = "supervisor.getAllConfigInfo";
    let reply = match ctl.call(METHOD, vec![]).await {
        Ok(v) => v,
        Err(CallError::Fault(f)) if f.code == faults::SHUTDOWN_STATE => {
            ctl.exit = exit::GENERIC;
            return Ok(ctl.line("ERROR: supervisor shutting down")?);
        }
        Err(e) => return Err(e.into()),
    };
    for info in format::array(&reply, METHOD)? {
        let name = make_namespec(
            format::str_field(info, "group")?,
            format::str_field(info, "name")?,
        );
        let truthy = |key: &str| match info.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Int(i)) => *i != 0,
            _ => false,
        };
        let inuse = if truthy("inuse") { "in use" } else { "avail" };
        let auto = if truthy("autostart") {
            "auto"
        } else {
            "manual"
        };
        let prio = format!(
            "{}:{}",
            format::int_field(info, "group_prio")?,
            format::int_field(info, "process_prio")?
        );
        ctl.line(&format!("{name:<32} {inuse:<9} {auto:<9} {prio}"))?;
    }
    Ok(())
}

async fn add(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    for name in args {
        match ctl
            .call("supervisor.addProcessGroup", vec![name.as_str().into()])
            .await
        {
            Ok(_) => ctl.line(&format!("{name}: added process group"))?,
            Err(CallError::Fault(f)) if f.code == faults::SHUTDOWN_STATE => {
                ctl.line("ERROR: shutting down")?;
                ctl.exit = exit::GENERIC;
            }
            // supervisorctl does not count this one as a failure.
            Err(CallError::Fault(f)) if f.code == faults::ALREADY_ADDED => {
                ctl.line("ERROR: process group already active")?;
            }
            Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
                ctl.line(&format!("ERROR: no such process/group: {name}"))?;
                ctl.exit = exit::GENERIC;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn remove(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    for name in args {
        match ctl
            .call("supervisor.removeProcessGroup", vec![name.as_str().into()])
            .await
        {
            Ok(_) => ctl.line(&format!("{name}: removed process group"))?,
            Err(CallError::Fault(f)) if f.code == faults::STILL_RUNNING => {
                ctl.line(&format!("ERROR: process/group still running: {name}"))?;
                ctl.exit = exit::GENERIC;
            }
            Err(CallError::Fault(f)) if f.code == faults::BAD_NAME => {
                ctl.line(&format!("ERROR: no such process/group: {name}"))?;
                ctl.exit = exit::GENERIC;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `reload`: the one-shot client does not ask for confirmation
/// (supervisorctl asks only in its interactive shell).
async fn reload(ctl: &mut Ctl<'_>, args: &[String]) -> CmdResult {
    if !args.is_empty() {
        ctl.line("Error: reload accepts no arguments")?;
        ctl.exit = exit::GENERIC;
        ctl.line(RELOAD.help)?;
        return Ok(());
    }
    if !ctl.really("Really restart the remote supervisord process y/N? ") {
        return Ok(());
    }
    match ctl.call("supervisor.restart", vec![]).await {
        Ok(_) => ctl.line("Restarted supervisord")?,
        Err(CallError::Fault(f)) if f.code == faults::SHUTDOWN_STATE => {
            ctl.exit = exit::GENERIC;
            ctl.line("ERROR: already shutting down")?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeRpc;
    use super::super::run;
    use crate::rpc::{Value, faults};

    async fn ctl(rpc: &FakeRpc, args: &[&str]) -> (String, i32) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(rpc, &args, &mut out, &mut err).await;
        (String::from_utf8_lossy(&out).into_owned(), code)
    }

    fn names(n: &[&str]) -> Value {
        Value::Array(n.iter().map(|s| Value::from(*s)).collect())
    }

    fn diff(added: &[&str], changed: &[&str], removed: &[&str]) -> Value {
        Value::Array(vec![Value::Array(vec![
            names(added),
            names(changed),
            names(removed),
        ])])
    }

    fn entry(name: &str, message: &str, ok: bool) -> Value {
        Value::Struct(vec![
            ("name".into(), name.into()),
            ("message".into(), message.into()),
            ("ok".into(), Value::Bool(ok)),
        ])
    }

    fn stop_result(status: i32) -> Value {
        Value::Array(vec![Value::Struct(vec![
            ("name".into(), "x".into()),
            ("group".into(), "x".into()),
            ("status".into(), Value::Int(i64::from(status))),
            ("description".into(), "".into()),
        ])])
    }

    #[tokio::test]
    async fn reread_sorts_by_name_and_the_last_kind_wins() {
        let rpc = FakeRpc::new().on(
            "supervisor.reloadConfig",
            Ok(diff(&["b", "a"], &["c"], &["a"])),
        );
        assert_eq!(
            ctl(&rpc, &["reread"]).await,
            ("a: disappeared\nb: available\nc: changed\n".into(), 0)
        );
        let rpc = FakeRpc::new().on("supervisor.reloadConfig", Ok(diff(&[], &[], &[])));
        assert_eq!(
            ctl(&rpc, &["reread"]).await,
            ("No config updates to processes\n".into(), 0)
        );
    }

    #[tokio::test]
    async fn a_config_error_is_one_error_line_and_exit_1() {
        for cmd in ["reread", "update"] {
            let rpc = FakeRpc::new()
                .fault("sluice.update", faults::CANT_REREAD, "s.conf:3: error: bad")
                .fault(
                    "supervisor.reloadConfig",
                    faults::CANT_REREAD,
                    "s.conf:3: error: bad",
                );
            assert_eq!(
                ctl(&rpc, &[cmd]).await,
                ("ERROR: CANT_REREAD: s.conf:3: error: bad\n".into(), 1),
                "{cmd}"
            );
        }
    }

    #[tokio::test]
    async fn update_prints_the_daemons_report() {
        let report = Value::Array(vec![
            entry("", "ERROR: no such group: zz", false),
            entry("g:c", "stopped", true),
            entry("g", "updated process group", true),
        ]);
        let rpc = FakeRpc::new().on("sluice.update", Ok(report));
        assert_eq!(
            ctl(&rpc, &["update", "g", "zz"]).await,
            (
                "ERROR: no such group: zz\ng:c: stopped\ng: updated process group\n".into(),
                1
            )
        );
        assert_eq!(
            rpc.calls()[0].1,
            vec![names(&["g", "zz"])],
            "the names go to the daemon"
        );
    }

    #[tokio::test]
    async fn update_against_a_stock_supervisord_does_supervisorctls_steps() {
        let rpc = FakeRpc::new()
            .fault("sluice.update", faults::UNKNOWN_METHOD, "")
            .on(
                "supervisor.reloadConfig",
                Ok(diff(&["n"], &["g"], &["old", "bad"])),
            )
            .on(
                "supervisor.stopProcessGroup",
                Ok(stop_result(faults::SUCCESS)),
            )
            .on(
                "supervisor.stopProcessGroup",
                Ok(stop_result(faults::FAILED)),
            )
            .on(
                "supervisor.stopProcessGroup",
                Ok(stop_result(faults::SUCCESS)),
            )
            .on("supervisor.removeProcessGroup", Ok(Value::Bool(true)))
            .on("supervisor.addProcessGroup", Ok(Value::Bool(true)));
        assert_eq!(
            ctl(&rpc, &["update"]).await,
            (
                "old: stopped\nold: removed process group\n\
                 bad: stopped\nbad: has problems; not removing\n\
                 g: stopped\ng: updated process group\n\
                 n: added process group\n"
                    .into(),
                1
            )
        );
    }

    #[tokio::test]
    async fn avail_table() {
        let info = |group: &str, name: &str, inuse: bool, auto: bool| {
            Value::Struct(vec![
                ("group".into(), group.into()),
                ("name".into(), name.into()),
                ("inuse".into(), Value::Bool(inuse)),
                ("autostart".into(), Value::Bool(auto)),
                ("group_prio".into(), Value::Int(999)),
                ("process_prio".into(), Value::Int(5)),
            ])
        };
        let rpc = FakeRpc::new().on(
            "supervisor.getAllConfigInfo",
            Ok(Value::Array(vec![
                info("a", "a", true, true),
                info("g", "b", false, false),
            ])),
        );
        assert_eq!(
            ctl(&rpc, &["avail"]).await,
            (
                "a                                in use    auto      999:5\n\
                 g:b                              avail     manual    999:5\n"
                    .into(),
                0
            )
        );
    }

    #[tokio::test]
    async fn add_and_remove_messages_and_exit_codes() {
        let rpc = FakeRpc::new()
            .fault("supervisor.addProcessGroup", faults::ALREADY_ADDED, "a")
            .fault("supervisor.removeProcessGroup", faults::STILL_RUNNING, "a");
        assert_eq!(
            ctl(&rpc, &["add", "a"]).await,
            ("ERROR: process group already active\n".into(), 0)
        );
        assert_eq!(
            ctl(&rpc, &["remove", "a"]).await,
            ("ERROR: process/group still running: a\n".into(), 1)
        );
    }
}
