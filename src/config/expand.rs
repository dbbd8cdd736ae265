//! `%(name)s` expansion: Python's `str % mapping`, which supervisord applies
//! to config values (`%(here)s`, `%(program_name)s`, `%(process_num)02d`,
//! `%(ENV_HOME)s`, `%%`, ...).
//!
//! Supported: `%%`; `%(name)` followed by flags (`-`, `0`, `+`, space, `#`),
//! a width, a `.precision`, and one of the conversions `s r a d i u x X o`.
//! A name not in the variables, or a malformed `%`, is an error the caller
//! reports with file, line and key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A value that can be substituted: text or an integer (`process_num`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
}

/// `ENV_<name>` for each variable of an environment: one table shared by
/// the names of every section and process (a config of many programs
/// copies a pointer each, not the whole environment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvNames(Arc<BTreeMap<String, Val>>);

impl EnvNames {
    pub fn new(env: &BTreeMap<String, String>) -> EnvNames {
        let mut names = EnvNames::default();
        names.extend(env);
        names
    }

    /// Add (or replace) these variables.
    pub fn extend<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a String, &'a String)>) {
        let map = Arc::make_mut(&mut self.0);
        for (k, v) in pairs {
            map.insert(format!("ENV_{k}"), Val::Str(v.clone()));
        }
    }
}

/// The names available to one value's expansion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    map: BTreeMap<String, Val>,
    /// Looked up after `map`.
    env: EnvNames,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    pub fn set_str(&mut self, name: &str, value: impl Into<String>) {
        self.map.insert(name.to_string(), Val::Str(value.into()));
    }

    pub fn set_int(&mut self, name: &str, value: i64) {
        self.map.insert(name.to_string(), Val::Int(value));
    }

    /// `ENV_<name>` for every pair.
    pub fn set_env<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a String, &'a String)>) {
        for (k, v) in pairs {
            self.set_str(&format!("ENV_{k}"), v.clone());
        }
    }

    /// The shared `ENV_*` names (those set by `set_env` come first).
    pub fn set_env_names(&mut self, env: EnvNames) {
        self.env = env;
    }

    pub fn get(&self, name: &str) -> Option<&Val> {
        self.map.get(name).or_else(|| self.env.0.get(name))
    }

    /// The names for an error message; `ENV_*` summarised as one entry.
    pub fn describe(&self) -> String {
        let mut names: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with("ENV_"))
            .collect();
        names.push("ENV_<variable>");
        names.join(", ")
    }
}

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpandError {
    /// `%(name)...` with a name that is not available here.
    Unknown(String),
    /// A `%` that is not a well-formed specifier.
    Malformed(String),
    /// A width or precision beyond [`MAX_WIDTH`].
    TooWide(String),
    /// The result would be longer than the limit given (in bytes).
    TooLong(usize),
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Unknown(name) => write!(f, "unknown name %({name})"),
            ExpandError::Malformed(why) => write!(f, "{why} (write %% for a literal %)"),
            ExpandError::TooWide(why) => write!(f, "{why}"),
            ExpandError::TooLong(limit) => write!(f, "it expands to more than {limit} bytes"),
        }
    }
}

/// Expand every `%(name)X` and `%%` in `s`, into at most `limit` bytes:
/// past it, [`ExpandError::TooLong`] before anything larger is built.
pub fn expand(s: &str, vars: &Vars, limit: usize) -> Result<String, ExpandError> {
    if !s.contains('%') {
        return if s.len() > limit {
            Err(ExpandError::TooLong(limit))
        } else {
            Ok(s.to_string())
        };
    }
    // Every character of the syntax is ASCII, so bytes can be scanned (a
    // UTF-8 sequence never holds an ASCII byte) and text copied in runs.
    let bytes = s.as_bytes();
    let mut out = Out {
        text: String::with_capacity(s.len().min(limit)),
        limit,
    };
    let mut i = 0;
    while i < bytes.len() {
        let run = memchr::memchr(b'%', &bytes[i..]).map_or(bytes.len(), |n| i + n);
        out.push(&s[i..run])?;
        if run == bytes.len() {
            break;
        }
        i = run + 1;
        match bytes.get(i) {
            None => return Err(malformed("a '%' at the end of the value")),
            Some(b'%') => {
                out.push("%")?;
                i += 1;
            }
            Some(b'(') => {
                let (spec, next) = parse_spec(s, i)?;
                let val = vars
                    .get(&spec.name)
                    .ok_or_else(|| ExpandError::Unknown(spec.name.clone()))?;
                spec.render(val, &mut out)?;
                i = next;
            }
            Some(_) => {
                let other = s[i..].chars().next().unwrap_or('%');
                return Err(malformed(&format!(
                    "'%{other}' has no name: write %(name){other}"
                )));
            }
        }
    }
    Ok(out.text)
}

/// The expansion so far, refusing to grow past its limit.
struct Out {
    text: String,
    limit: usize,
}

impl Out {
    /// Room for `n` more bytes?
    fn reserve(&self, n: usize) -> Result<(), ExpandError> {
        if self.text.len().saturating_add(n) > self.limit {
            return Err(ExpandError::TooLong(self.limit));
        }
        Ok(())
    }

    fn push(&mut self, s: &str) -> Result<(), ExpandError> {
        self.reserve(s.len())?;
        self.text.push_str(s);
        Ok(())
    }

    fn pad(&mut self, c: char, n: usize) -> Result<(), ExpandError> {
        self.reserve(n)?;
        self.text.extend(std::iter::repeat_n(c, n));
        Ok(())
    }
}

fn malformed(why: &str) -> ExpandError {
    ExpandError::Malformed(why.to_string())
}

struct Spec {
    name: String,
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
    conv: u8,
}

/// Parse `(name)flags width .precision conv` starting at the `(`.
fn parse_spec(s: &str, open: usize) -> Result<(Spec, usize), ExpandError> {
    let bytes = s.as_bytes();
    // The name runs to the matching `)`, nesting counted as Python does.
    let mut depth = 1;
    let mut i = open + 1;
    let start = i;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if i >= bytes.len() {
        return Err(malformed("'%(' without a closing ')'"));
    }
    let name = s[start..i].to_string();
    i += 1;
    let mut spec = Spec {
        name,
        left: false,
        zero: false,
        plus: false,
        space: false,
        alt: false,
        width: 0,
        precision: None,
        conv: b's',
    };
    while let Some(&c) = bytes.get(i) {
        match c {
            b'-' => spec.left = true,
            b'0' => spec.zero = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            _ => break,
        }
        i += 1;
    }
    let (width, next) = digits(bytes, i);
    spec.width = bounded(width, "width", &spec.name)?;
    i = next;
    if bytes.get(i) == Some(&b'.') {
        let (precision, next) = digits(bytes, i + 1);
        spec.precision = Some(bounded(precision, "precision", &spec.name)?);
        i = next;
    }
    // Length modifiers are accepted and ignored, as in Python.
    while matches!(bytes.get(i), Some(b'h' | b'l' | b'L')) {
        i += 1;
    }
    match bytes.get(i) {
        None => Err(malformed(&format!(
            "'%({})' is missing its conversion letter, e.g. %({})s",
            spec.name, spec.name
        ))),
        Some(&c @ (b's' | b'r' | b'a' | b'd' | b'i' | b'u' | b'x' | b'X' | b'o')) => {
            spec.conv = c;
            Ok((spec, i + 1))
        }
        Some(_) => {
            let c = s[i..].chars().next().unwrap_or('?');
            Err(malformed(&format!(
                "unsupported conversion '{c}' after %({}): use s or d",
                spec.name
            )))
        }
    }
}

/// The widest field (and longest precision) a `%(name)NNd` may ask for:
/// far beyond any name or path, and small enough that no expansion costs
/// much memory.
pub const MAX_WIDTH: usize = 4096;

fn bounded(n: usize, what: &str, name: &str) -> Result<usize, ExpandError> {
    if n > MAX_WIDTH {
        return Err(ExpandError::TooWide(format!(
            "the {what} {n} after %({name}) is too large (at most {MAX_WIDTH})"
        )));
    }
    Ok(n)
}

fn digits(bytes: &[u8], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
        i += 1;
    }
    (n, i)
}

impl Spec {
    /// Append this conversion of `val` to `out` (checked against its limit
    /// before it is built).
    fn render(&self, val: &Val, out: &mut Out) -> Result<(), ExpandError> {
        match (self.conv, val) {
            (b's' | b'a', Val::Str(s)) => self.pad_text(s, "", out),
            (b'r', Val::Str(s)) => self.pad_text(s, "'", out),
            (b's' | b'a' | b'r', Val::Int(n)) => self.pad_text(&n.to_string(), "", out),
            (_, Val::Int(n)) => out.push(&self.pad_number(*n)),
            (conv, Val::Str(_)) => Err(malformed(&format!(
                "%({}){} needs a number but {} is text: use %({})s",
                self.name, conv as char, self.name, self.name
            ))),
        }
    }

    /// `s` between `quote`s (one ASCII character, or none), cut to the
    /// precision in characters and padded to the width: measured first and
    /// copied into `out` once, never into a string of its own.
    fn pad_text(&self, s: &str, quote: &str, out: &mut Out) -> Result<(), ExpandError> {
        let mut left = self.precision.unwrap_or(usize::MAX);
        let lead = &quote[..quote.len().min(left)];
        left -= lead.len();
        let body = match s.char_indices().nth(left) {
            Some((cut, _)) => &s[..cut],
            None => s,
        };
        let body_chars = body.chars().count();
        left -= body_chars;
        let trail = &quote[..quote.len().min(left)];
        let fill = self
            .width
            .saturating_sub(lead.len() + body_chars + trail.len());
        out.reserve(lead.len() + body.len() + trail.len() + fill)?;
        if !self.left {
            out.pad(' ', fill)?;
        }
        for part in [lead, body, trail] {
            out.push(part)?;
        }
        if self.left {
            out.pad(' ', fill)?;
        }
        Ok(())
    }

    fn pad_number(&self, n: i64) -> String {
        let abs = n.unsigned_abs();
        let mut body = match self.conv {
            b'x' => format!("{abs:x}"),
            b'X' => format!("{abs:X}"),
            b'o' => format!("{abs:o}"),
            _ => abs.to_string(),
        };
        if let Some(p) = self.precision
            && body.len() < p
        {
            body = "0".repeat(p - body.len()) + &body;
        }
        let mut prefix = String::new();
        if n < 0 {
            prefix.push('-');
        } else if self.plus {
            prefix.push('+');
        } else if self.space {
            prefix.push(' ');
        }
        if self.alt {
            match self.conv {
                b'x' => prefix.push_str("0x"),
                b'X' => prefix.push_str("0X"),
                b'o' => prefix.push_str("0o"),
                _ => {}
            }
        }
        let len = prefix.len() + body.len();
        if len >= self.width {
            return prefix + &body;
        }
        let pad = self.width - len;
        if self.left {
            prefix + &body + &" ".repeat(pad)
        } else if self.zero {
            prefix + &"0".repeat(pad) + &body
        } else {
            " ".repeat(pad) + &prefix + &body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set_str("here", "/etc/sluice");
        v.set_str("program_name", "web");
        v.set_int("process_num", 7);
        let env = [("HOME".to_string(), "/home/u".to_string())];
        v.set_env(env.iter().map(|(k, v)| (k, v)));
        v
    }

    fn ok(s: &str) -> String {
        expand(s, &vars(), usize::MAX).expect("expands")
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(ok("/bin/echo hi"), "/bin/echo hi");
    }

    #[test]
    fn names_and_percent() {
        assert_eq!(
            ok("%(here)s/logs/%(program_name)s.log"),
            "/etc/sluice/logs/web.log"
        );
        assert_eq!(ok("%(ENV_HOME)s/x"), "/home/u/x");
        assert_eq!(ok("100%% sure"), "100% sure");
        assert_eq!(ok("%%(here)s"), "%(here)s");
    }

    #[test]
    fn numbers_with_width() {
        assert_eq!(ok("%(process_num)d"), "7");
        assert_eq!(ok("%(process_num)02d"), "07");
        assert_eq!(ok("%(process_num)03d"), "007");
        assert_eq!(ok("[%(process_num)3d]"), "[  7]");
        assert_eq!(ok("[%(process_num)-3d]"), "[7  ]");
        assert_eq!(ok("%(process_num)s"), "7");
        assert_eq!(ok("%(process_num)x"), "7");
        assert_eq!(ok("[%(program_name)5s]"), "[  web]");
        assert_eq!(ok("[%(program_name).1s]"), "[w]");
    }

    #[test]
    fn huge_widths_are_refused_not_allocated() {
        assert_eq!(ok("%(process_num)04096d").len(), 4096);
        for bad in [
            "%(process_num)999999999d",
            "%(process_num)4097d",
            "%(here).99999999999999999999999s",
        ] {
            let err = expand(bad, &vars(), usize::MAX).expect_err(bad);
            assert!(err.to_string().contains("too large"), "{bad}: {err}");
        }
    }

    #[test]
    fn text_around_names_may_be_any_unicode() {
        assert_eq!(ok("é→%(program_name)s中"), "é→web中");
        let mut v = vars();
        v.set_str("uni", "日本語");
        let x = |s| expand(s, &v, usize::MAX).expect(s);
        assert_eq!(x("[%(uni).2s]"), "[日本]");
        assert_eq!(x("[%(uni)5s]"), "[  日本語]");
        assert_eq!(x("[%(uni)-4r]"), "['日本語']");
        assert_eq!(x("[%(uni).2r]"), "['日]");
        assert_eq!(x("[%(process_num)3r]"), "[  7]");
    }

    #[test]
    fn the_limit_stops_the_expansion_before_it_is_built() {
        let mut v = vars();
        v.set_str("big", "x".repeat(1000));
        assert_eq!(expand("%(big)s", &v, 1000).map(|s| s.len()), Ok(1000));
        for (s, limit) in [
            ("%(big)s", 999),
            ("a%(big)s", 1000),
            ("%(big)s%%", 1000),
            ("%(process_num)0100d", 99),
            ("%(here)2000s", 1999),
            ("plain text", 9),
        ] {
            assert_eq!(
                expand(s, &v, limit),
                Err(ExpandError::TooLong(limit)),
                "{s}"
            );
        }
        // Cut by its precision first, so within the limit.
        assert_eq!(expand("%(big).10s", &v, 10).map(|s| s.len()), Ok(10));
    }

    #[test]
    fn unknown_name() {
        assert_eq!(
            expand("%(nope)s", &vars(), usize::MAX),
            Err(ExpandError::Unknown("nope".into()))
        );
        assert_eq!(
            expand("%(ENV_NOT_SET_ANYWHERE)s", &vars(), usize::MAX),
            Err(ExpandError::Unknown("ENV_NOT_SET_ANYWHERE".into()))
        );
    }

    #[test]
    fn malformed() {
        for bad in ["50%", "%s", "%(here)", "%(here", "%(here)q", "%(here)d"] {
            assert!(
                matches!(
                    expand(bad, &vars(), usize::MAX),
                    Err(ExpandError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn describe_hides_env() {
        let d = vars().describe();
        assert!(d.contains("here"));
        assert!(!d.contains("HOME"));
        assert!(d.contains("ENV_<variable>"));
    }
}
