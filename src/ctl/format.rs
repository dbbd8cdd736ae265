//! Output formats shared by the commands: names (`group:name`), the status
//! table, reading supervisord's structs without trusting their shape, the
//! `help` column layout, and the JSON form of process info.

use super::Abort;
use crate::rpc::Value;

/// The name supervisorctl shows for a process: just `name` when the process
/// is alone in a group of the same name, else `group:name`.
pub fn make_namespec(group: &str, name: &str) -> String {
    if group == name {
        name.to_string()
    } else {
        format!("{group}:{name}")
    }
}

/// Split what the user typed into (group, process): `foo` is process `foo`
/// of group `foo`; `g:p` is `p` of `g`; `g:*` and `g:` are the whole group
/// (process `None`).
pub fn split_namespec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((group, "" | "*")) => (group, None),
        Some((group, name)) => (group, Some(name)),
        None => (spec, Some(spec)),
    }
}

/// supervisord's process states (`supervisor/states.py`).
pub mod states {
    pub const STOPPED: i64 = 0;
    pub const STARTING: i64 = 10;
    pub const RUNNING: i64 = 20;
    pub const BACKOFF: i64 = 30;
    pub const STOPPING: i64 = 40;
    pub const EXITED: i64 = 100;
    pub const FATAL: i64 = 200;
    pub const UNKNOWN: i64 = 1000;

    /// The states `status` counts as "not running" (exit 3).
    pub fn is_stopped(state: i64) -> bool {
        matches!(state, STOPPED | EXITED | FATAL | UNKNOWN)
    }
}

/// The fields of a process-info struct that the commands show.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    pub state: i64,
    pub statename: String,
    /// Filled in by the server (`pid 123, uptime 0:00:05`, `Not started`, ...).
    pub description: String,
    pub pid: i64,
}

impl ProcessInfo {
    /// Read one `getProcessInfo`/`getAllProcessInfo` struct.
    pub(crate) fn from_value(v: &Value) -> Result<ProcessInfo, Abort> {
        Ok(ProcessInfo {
            name: str_field(v, "name")?.to_string(),
            group: str_field(v, "group")?.to_string(),
            state: int_field(v, "state")?,
            statename: str_field(v, "statename")?.to_string(),
            description: str_field(v, "description")?.to_string(),
            pid: int_field(v, "pid")?,
        })
    }

    /// `group:name`, or `name` when they are equal.
    pub fn namespec(&self) -> String {
        make_namespec(&self.group, &self.name)
    }
}

/// The status table: the name column is as wide as the longest name (at
/// least 30) plus 3, the state column 10, then the description.
pub fn status_lines(infos: &[ProcessInfo]) -> Vec<String> {
    let names: Vec<String> = infos.iter().map(ProcessInfo::namespec).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(30)
        + 3;
    infos
        .iter()
        .zip(&names)
        .map(|(info, name)| {
            format!(
                "{name:<width$}{state:<10}{desc}",
                state = info.statename,
                desc = info.description
            )
        })
        .collect()
}

/// An array reply, or a clear error naming the method.
pub fn array<'v>(v: &'v Value, method: &str) -> Result<&'v [Value], Abort> {
    v.as_array()
        .ok_or_else(|| Abort::Malformed(format!("{method} returned {}, not an array", kind(v))))
}

/// A string member of a struct reply.
pub fn str_field<'v>(v: &'v Value, key: &str) -> Result<&'v str, Abort> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Abort::Malformed(format!(
            "member '{key}' is {}, not a string",
            kind(other)
        ))),
        None => Err(missing(v, key)),
    }
}

/// An integer member of a struct reply.
pub fn int_field(v: &Value, key: &str) -> Result<i64, Abort> {
    match v.get(key) {
        Some(Value::Int(i)) => Ok(*i),
        Some(other) => Err(Abort::Malformed(format!(
            "member '{key}' is {}, not an int",
            kind(other)
        ))),
        None => Err(missing(v, key)),
    }
}

fn missing(v: &Value, key: &str) -> Abort {
    match v {
        Value::Struct(_) => Abort::Malformed(format!("struct has no member '{key}'")),
        other => Abort::Malformed(format!(
            "expected a struct with '{key}', got {}",
            kind(other)
        )),
    }
}

/// The XML-RPC type name of a value, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "an int",
        Value::Bool(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Double(_) => "a double",
        Value::DateTime(_) => "a dateTime",
        Value::Base64(_) => "base64",
        Value::Array(_) => "an array",
        Value::Struct(_) => "a struct",
        Value::Nil => "nil",
    }
}

/// How Python's `str()` would show a scalar reply (`3.0`, `1234`, `True`).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::String(s) | Value::DateTime(s) => s.clone(),
        Value::Double(d) => format!("{d:?}"),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "None".to_string(),
        Value::Array(_) | Value::Struct(_) => to_json(v).to_string(),
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds a
/// single quote and no double quote.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut r = String::with_capacity(s.len() + 2);
    r.push(quote);
    for c in s.chars() {
        match c {
            '\\' => r.push_str("\\\\"),
            '\n' => r.push_str("\\n"),
            '\r' => r.push_str("\\r"),
            '\t' => r.push_str("\\t"),
            c if c == quote => {
                r.push('\\');
                r.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                r.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => r.push(c),
        }
    }
    r.push(quote);
    r
}

/// A reply as JSON: structs become objects, arrays arrays, base64 a string
/// of base64, dates their ISO text, nil null.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Int(i) => J::from(*i),
        Value::Bool(b) => J::from(*b),
        Value::String(s) | Value::DateTime(s) => J::from(s.as_str()),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::Base64(b) => {
            use base64::Engine;
            J::from(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Struct(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Nil => J::Null,
    }
}

/// Python `cmd.Cmd.columnize`: lay `words` out in as few rows as fit in
/// `width` columns, filling column by column, cells left-justified to their
/// column's width and joined by two spaces.
pub fn columnize(words: &[&str], width: usize) -> Vec<String> {
    match words.len() {
        0 => return vec!["<empty>".to_string()],
        1 => return vec![words[0].to_string()],
        _ => {}
    }
    let size = words.len();
    let mut layout = None;
    for nrows in 1..size {
        let ncols = size.div_ceil(nrows);
        let mut widths = Vec::with_capacity(ncols);
        let mut total: isize = -2;
        for col in 0..ncols {
            let w = (0..nrows)
                .filter_map(|row| words.get(row + nrows * col))
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0);
            widths.push(w);
            total += w as isize + 2;
            if total > width as isize {
                break;
            }
        }
        if total <= width as isize {
            layout = Some((nrows, ncols, widths));
            break;
        }
    }
    let (nrows, ncols, widths) = layout.unwrap_or((size, 1, vec![0]));
    (0..nrows)
        .map(|row| {
            let mut cells: Vec<&str> = (0..ncols)
                .map(|col| words.get(row + nrows * col).copied().unwrap_or(""))
                .collect();
            while cells.last().is_some_and(|c| c.is_empty()) {
                cells.pop();
            }
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        })
        .collect()
}
