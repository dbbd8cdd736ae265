//! A component's properties with typed getters. Every getter reports a bad
//! value as an error naming file, line, component and property, into a
//! shared list, and returns the default, so one pass finds every problem.
//! Properties no getter asked for are reported as unknown (a warning).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::properties::Entry;
use crate::config::{Diagnostic, Severity};

/// The longest duration a property may give: 2147483647 seconds (about 68
/// years), as in the supervisor config; nothing adds more to a clock.
pub const MAX_SECS: u64 = i32::MAX as u64;
/// The largest Java int: Flume reads counts as ints.
pub const JAVA_INT_MAX: u64 = i32::MAX as u64;
/// The largest Java long: Flume reads sizes as longs.
pub const JAVA_LONG_MAX: u64 = i64::MAX as u64;

/// A numeric property's range (each is in the README's component table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
    /// Said after the range in messages (" ms", " s").
    pub unit: &'static str,
}

impl Range {
    pub const fn new(min: u64, max: u64) -> Range {
        Range { min, max, unit: "" }
    }
}

/// Problems found while building an agent.
#[derive(Debug, Default)]
pub struct Diags {
    pub items: Vec<Diagnostic>,
}

impl Diags {
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.is_error())
    }
}

/// The properties of one component (`a1.sources.r1.*`, the prefix removed).
#[derive(Debug)]
pub struct Props {
    file: Arc<PathBuf>,
    /// `a1.sources.r1`: how messages name the component.
    label: String,
    /// Where the component is first mentioned.
    line: usize,
    entries: BTreeMap<String, Entry>,
    used: RefCell<BTreeSet<String>>,
}

impl Props {
    pub fn new(
        file: Arc<PathBuf>,
        label: String,
        line: usize,
        entries: BTreeMap<String, Entry>,
    ) -> Props {
        Props {
            file,
            label,
            line,
            entries,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// `a1.sources.r1`.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The line where the component is first mentioned.
    pub fn line(&self) -> usize {
        self.line
    }

    fn diag(&self, severity: Severity, key: Option<&str>, message: String) -> Diagnostic {
        let line = key
            .and_then(|k| self.entries.get(k))
            .map(|e| e.line)
            .unwrap_or(self.line);
        Diagnostic {
            severity,
            file: self.file.as_ref().clone(),
            line: Some(line),
            section: Some(self.label.clone()),
            key: key.map(str::to_string),
            message,
        }
    }

    /// An error about property `key` (or the component when `None`).
    pub fn error(&self, diags: &mut Diags, key: Option<&str>, message: impl Into<String>) {
        diags
            .items
            .push(self.diag(Severity::Error, key, message.into()));
    }

    pub fn warn(&self, diags: &mut Diags, key: Option<&str>, message: impl Into<String>) {
        diags
            .items
            .push(self.diag(Severity::Warning, key, message.into()));
    }

    /// The raw value, marking the key as known.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.used.borrow_mut().insert(key.to_string());
        self.entries.get(key).map(|e| e.value.as_str())
    }

    /// A string; empty values count as unset.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// A required string: missing is an error.
    pub fn required(&self, diags: &mut Diags, key: &str) -> Option<String> {
        let v = self.string(key);
        if v.is_none() {
            self.error(diags, Some(key), "is required");
        }
        v
    }

    /// A whitespace-separated list (`channels = c1 c2`).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// A whole number in `min..=max` (Java's `Long.parseLong` syntax, with
    /// surrounding space allowed, as Flume's `Context` trims); outside the
    /// range, or not a number, is an error naming the range, and gives
    /// `default`. Every numeric property goes through here, so none can
    /// carry a value that overflows a clock or an allocation later.
    pub fn number(&self, diags: &mut Diags, key: &str, default: u64, range: Range) -> u64 {
        let Some(v) = self.get(key).map(str::trim).filter(|v| !v.is_empty()) else {
            return default;
        };
        let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.error(diags, Some(key), format!("'{v}' is not a whole number"));
            return default;
        }
        // Too long for an i128 is far outside any range.
        match v.parse::<i128>().ok().and_then(|n| u64::try_from(n).ok()) {
            Some(n) if (range.min..=range.max).contains(&n) => n,
            _ => {
                self.error(
                    diags,
                    Some(key),
                    format!(
                        "{v} is out of range ({} to {}{})",
                        range.min, range.max, range.unit
                    ),
                );
                default
            }
        }
    }

    /// A count (capacities, batch sizes): a Java int, as Flume reads them,
    /// from `min`.
    pub fn count(&self, diags: &mut Diags, key: &str, default: usize, min: u64) -> usize {
        let n = self.number(diags, key, default as u64, Range::new(min, JAVA_INT_MAX));
        usize::try_from(n).unwrap_or(default)
    }

    /// A size in bytes, from `min` to Java's largest long.
    pub fn bytes(&self, diags: &mut Diags, key: &str, default: u64, min: u64) -> u64 {
        self.number(diags, key, default, Range::new(min, JAVA_LONG_MAX))
    }

    /// A duration given in milliseconds (Flume's `*Interval`, `*Timeout`),
    /// from `min_ms` to [`MAX_SECS`] seconds.
    pub fn millis(&self, diags: &mut Diags, key: &str, default_ms: u64, min_ms: u64) -> Duration {
        let range = Range {
            unit: " ms",
            ..Range::new(min_ms, MAX_SECS * 1000)
        };
        Duration::from_millis(self.number(diags, key, default_ms, range))
    }

    /// A duration given in seconds (`keep-alive`, `rollInterval`), from
    /// `min_s` to [`MAX_SECS`].
    pub fn secs(&self, diags: &mut Diags, key: &str, default_s: u64, min_s: u64) -> Duration {
        let range = Range {
            unit: " s",
            ..Range::new(min_s, MAX_SECS)
        };
        Duration::from_secs(self.number(diags, key, default_s, range))
    }

    pub fn port(&self, diags: &mut Diags, key: &str) -> Option<u16> {
        let v = self.required(diags, key)?;
        match v.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.error(
                    diags,
                    Some(key),
                    format!("'{v}' is not a port number (0-65535)"),
                );
                None
            }
        }
    }

    /// Java's `Boolean.parseBoolean` is lenient (anything but "true" is
    /// false); we accept true/false only and call the rest an error.
    pub fn bool(&self, diags: &mut Diags, key: &str, default: bool) -> bool {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.error(diags, Some(key), format!("'{v}' is not true or false"));
                default
            }
        }
    }

    /// The properties under `prefix.` (e.g. `selector`, `interceptors.i1`)
    /// as their own set; the parent treats them as known.
    pub fn sub(&self, prefix: &str) -> Props {
        let dotted = format!("{prefix}.");
        // The keys under `prefix.` are next to each other in key order.
        let under = || {
            self.entries
                .range::<str, _>((
                    std::ops::Bound::Included(dotted.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(&dotted))
        };
        let entries: BTreeMap<String, Entry> = under()
            .map(|(k, e)| (k[dotted.len()..].to_string(), e.clone()))
            .collect();
        let mut used = self.used.borrow_mut();
        for (k, _) in under() {
            used.insert(k.clone());
        }
        let line = entries.values().map(|e| e.line).min().unwrap_or(self.line);
        Props::new(
            self.file.clone(),
            format!("{}.{prefix}", self.label),
            line,
            entries,
        )
    }

    /// The keys of this set (for maps like `selector.mapping.*`), all
    /// marked as known.
    pub fn keys(&self) -> Vec<String> {
        let keys: Vec<String> = self.entries.keys().cloned().collect();
        self.used.borrow_mut().extend(keys.iter().cloned());
        keys
    }

    /// Warn about every property no getter asked for.
    pub fn warn_unknown(&self, diags: &mut Diags) {
        let used = self.used.borrow();
        for key in self.entries.keys().filter(|k| !used.contains(*k)) {
            diags.items.push(self.diag(
                Severity::Warning,
                Some(key),
                "unknown property (ignored)".to_string(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Props {
        let entries = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                (
                    k.to_string(),
                    Entry {
                        value: v.to_string(),
                        line: i + 10,
                    },
                )
            })
            .collect();
        Props::new(
            Arc::new("a.conf".into()),
            "a1.sources.r1".into(),
            9,
            entries,
        )
    }

    #[test]
    fn bad_numbers_name_file_line_component_and_property() {
        let p = props(&[("port", "44x"), ("batchSize", "0")]);
        let mut d = Diags::default();
        assert_eq!(p.port(&mut d, "port"), None);
        assert_eq!(p.count(&mut d, "batchSize", 20, 1), 20);
        let text: Vec<String> = d.items.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "a.conf:10: error: [a1.sources.r1] port: '44x' is not a port number (0-65535)",
                "a.conf:11: error: [a1.sources.r1] batchSize: 0 is out of range (1 to 2147483647)",
            ]
        );
    }

    #[test]
    fn every_number_is_in_its_range_or_an_error() {
        let p = props(&[
            ("a", " 5 "),
            ("huge", "99999999999999999999999999999999999999999999"),
            ("neg", "-1"),
            ("plus", "+7"),
            ("word", "5s"),
            ("ms", "9223372036854775807"),
            ("s", "2147483648"),
        ]);
        let mut d = Diags::default();
        assert_eq!(p.count(&mut d, "a", 1, 1), 5);
        assert_eq!(p.count(&mut d, "plus", 1, 1), 7);
        assert_eq!(p.count(&mut d, "huge", 1, 1), 1);
        assert_eq!(p.bytes(&mut d, "neg", 3, 0), 3);
        assert_eq!(p.count(&mut d, "word", 1, 1), 1);
        assert_eq!(p.millis(&mut d, "ms", 10, 0), Duration::from_millis(10));
        assert_eq!(p.secs(&mut d, "s", 3, 0), Duration::from_secs(3));
        assert_eq!(p.secs(&mut d, "unset", 3, 0), Duration::from_secs(3));
        let text: Vec<String> = d.items.iter().map(|d| d.message.clone()).collect();
        assert_eq!(
            text,
            vec![
                "99999999999999999999999999999999999999999999 is out of range (1 to 2147483647)",
                "-1 is out of range (0 to 9223372036854775807)",
                "'5s' is not a whole number",
                "9223372036854775807 is out of range (0 to 2147483647000 ms)",
                "2147483648 is out of range (0 to 2147483647 s)",
            ]
        );
    }

    #[test]
    fn unknown_properties_are_warnings_and_sub_sets_count_as_known() {
        let p = props(&[
            ("bind", "x"),
            ("selector.type", "replicating"),
            ("typo", "1"),
        ]);
        let mut d = Diags::default();
        p.get("bind");
        let s = p.sub("selector");
        assert_eq!(s.get("type"), Some("replicating"));
        assert_eq!(s.label(), "a1.sources.r1.selector");
        p.warn_unknown(&mut d);
        assert_eq!(d.items.len(), 1);
        assert!(!d.has_errors());
        assert_eq!(d.items[0].key.as_deref(), Some("typo"));
    }
}
