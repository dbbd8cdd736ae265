//! Typed access to one section's keys: expand a value, parse it, and on a
//! problem report it with file, line, section and key, then carry on with
//! the default so that one load finds every error.

use std::path::Path;

use super::budget::VALUE_MAX;
use super::diagnostic::{Diags, Place};
use super::dialect::Entry;
use super::environment;
use super::expand::{self, ExpandError, Vars};
use super::paths;
use super::sources::Located;
use super::values;

/// The message for a value that could not be expanded.
pub fn expand_message(e: &ExpandError, value: &str, vars: &Vars) -> String {
    let value = shown(value);
    match e {
        ExpandError::Unknown(name) => format!(
            "unknown name %({name}) in '{value}'; available names: {}",
            vars.describe()
        ),
        ExpandError::Malformed(_) | ExpandError::TooWide(_) | ExpandError::TooLong(_) => {
            format!("cannot expand '{value}': {e}")
        }
    }
}

/// A value as a message quotes it: whole if short, else its start.
pub fn shown(value: &str) -> String {
    const SHOWN: usize = 100;
    match value.char_indices().nth(SHOWN) {
        None => value.to_string(),
        Some((cut, _)) => format!("{}... ({} bytes)", &value[..cut], value.len()),
    }
}

/// The error for a value that makes a path of PATH_MAX bytes or more.
pub fn too_long_path(value: &str) -> String {
    format!(
        "'{}' makes a path of {} bytes or more (PATH_MAX), which no file or directory can \
         have: make it shorter",
        shown(value),
        paths::PATH_MAX
    )
}

/// Expand `value` (of the key at `at`) within the load's budget: at most
/// [`VALUE_MAX`] bytes, counted against the load's total. `Err` once
/// reported, or quietly once the budget is spent (reported then).
pub fn expand_at(value: &str, vars: &Vars, at: Place<'_>, diags: &mut Diags) -> Result<String, ()> {
    if diags.budget_spent() {
        return Err(());
    }
    match expand::expand(value, vars, VALUE_MAX) {
        Ok(v) => {
            let what = format!("expanding '{}' ({} bytes)", shown(value), v.len());
            diags.charge(at, v.len(), &what).then_some(v).ok_or(())
        }
        Err(ExpandError::TooLong(_)) => {
            diags.refuse_value(at, &shown(value));
            Err(())
        }
        Err(e) => {
            // Its message quotes the value: counted too, as a value read
            // once per process fails once per process.
            let what = format!("reading '{}' ({} bytes)", shown(value), value.len());
            if diags.charge(at, value.len(), &what) {
                diags.error(at, expand_message(&e, value, vars));
            }
            Err(())
        }
    }
}

/// One section being read.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub loc: &'a Located,
}

impl<'a> Reader<'a> {
    pub fn new(loc: &'a Located) -> Reader<'a> {
        Reader { loc }
    }

    pub fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.loc.entry(key)
    }

    /// The key's line if it is set, else the section header's.
    pub fn at(&self, key: &'a str) -> Place<'a> {
        let line = self.entry(key).map(|e| e.line);
        self.loc.at(Some(key), line)
    }

    /// The header (no key).
    pub fn header(&self) -> Place<'a> {
        self.loc.at(None, None)
    }

    /// The value unexpanded.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The value expanded with `vars`: `None` if the key is absent,
    /// `Some(Err(()))` if expansion failed (already reported).
    pub fn text(&self, key: &'a str, vars: &Vars, diags: &mut Diags) -> Option<Result<String, ()>> {
        let entry = self.entry(key)?;
        if entry.value.contains('\0') {
            diags.error(
                self.at(key),
                "contains a NUL byte, which no command, path or name can hold",
            );
            return Some(Err(()));
        }
        // A key merged in from a repeat of the section in another file has
        // that file's `%(here)s`, as supervisord expands each file's own.
        let here = self.loc.here_of(key);
        let own;
        let vars = if here == self.loc.here {
            vars
        } else {
            own = {
                let mut v = vars.clone();
                v.set_str("here", here.to_string_lossy());
                v
            };
            &own
        };
        Some(expand_at(&entry.value, vars, self.at(key), diags))
    }

    /// Does `path`, made from `key`'s value, fit in PATH_MAX? If not, an
    /// error at the key: no system call takes such a path, so nothing
    /// could create, open or enter it.
    pub fn path_fits(&self, key: &'a str, path: &Path, diags: &mut Diags) -> bool {
        if paths::fits(path) {
            return true;
        }
        diags.error(self.at(key), too_long_path(self.raw(key).unwrap_or("")));
        false
    }

    /// Expand and parse; absent gives `None`; a bad value is reported and
    /// gives `None`.
    pub fn parse_opt<T>(
        &self,
        key: &'a str,
        vars: &Vars,
        diags: &mut Diags,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(key, vars, diags)?.ok()?;
        match parse(&text) {
            Ok(v) => Some(v),
            Err(msg) => {
                diags.error(self.at(key), msg);
                None
            }
        }
    }

    /// Expand and parse, or `default` when absent or bad (bad is reported).
    pub fn parse<T>(
        &self,
        key: &'a str,
        vars: &Vars,
        diags: &mut Diags,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.parse_opt(key, vars, diags, parse).unwrap_or(default)
    }

    /// An integer key in `range`: parsed by `parse` (`values::integer`,
    /// `values::byte_size`), then clamped into the range with a warning, or
    /// refused with an error, as the range says; `default` when absent or
    /// bad.
    pub fn ranged<T: TryFrom<i64>>(
        &self,
        key: &'a str,
        vars: &Vars,
        diags: &mut Diags,
        default: T,
        range: values::Range,
        parse: fn(&str) -> Result<i64, String>,
    ) -> T {
        let Some(Ok(text)) = self.text(key, vars, diags) else {
            return default;
        };
        let n = match parse(&text).and_then(|n| range.apply(n, &text)) {
            Ok((n, None)) => n,
            Ok((n, Some(warning))) => {
                diags.warn(self.at(key), warning);
                n
            }
            Err(msg) => {
                diags.error(self.at(key), msg);
                return default;
            }
        };
        // In range, so it fits the key's type.
        T::try_from(n).unwrap_or(default)
    }

    /// An `environment=`-style list of pairs (empty when absent or bad;
    /// skipped separators are warned about).
    pub fn pairs(&self, key: &'a str, vars: &Vars, diags: &mut Diags) -> Vec<(String, String)> {
        let Some((pairs, warnings)) =
            self.parse_opt(key, vars, diags, environment::parse_pairs_warn)
        else {
            return Vec::new();
        };
        for w in warnings {
            diags.warn(self.at(key), w);
        }
        pairs
    }

    /// Warn about every key not in `known`.
    pub fn warn_unknown(&self, known: &[&str], diags: &mut Diags) {
        for e in &self.loc.section.entries {
            if !known.contains(&e.key.as_str()) {
                diags.warn(
                    self.loc.at(Some(&e.key), Some(e.line)),
                    "unknown key (ignored)",
                );
            }
        }
    }
}
