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
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Unknown(name) => write!(f, "unknown name %({name})"),
            ExpandError::Malformed(why) => write!(f, "{why} (write %% for a literal %)"),
            ExpandError::TooWide(why) => write!(f, "{why}"),
        }
    }
}

/// Expand every `%(name)X` and `%%` in `s`.
pub fn expand(s: &str, vars: &Vars) -> Result<String, ExpandError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        match chars.get(i) {
            None => return Err(malformed("a '%' at the end of the value")),
            Some('%') => {
                out.push('%');
                i += 1;
            }
            Some('(') => {
                let (spec, next) = parse_spec(&chars, i)?;
                let val = vars
                    .get(&spec.name)
                    .ok_or_else(|| ExpandError::Unknown(spec.name.clone()))?;
                out.push_str(&spec.render(val)?);
                i = next;
            }
            Some(other) => {
                return Err(malformed(&format!(
                    "'%{other}' has no name: write %(name){other}"
                )));
            }
        }
    }
    Ok(out)
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
    conv: char,
}

/// Parse `(name)flags width .precision conv` starting at the `(`.
fn parse_spec(chars: &[char], open: usize) -> Result<(Spec, usize), ExpandError> {
    // The name runs to the matching `)`, nesting counted as Python does.
    let mut depth = 1;
    let mut i = open + 1;
    let start = i;
    while i < chars.len() {
        match chars[i] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if i >= chars.len() {
        return Err(malformed("'%(' without a closing ')'"));
    }
    let name: String = chars[start..i].iter().collect();
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
        conv: 's',
    };
    while let Some(&c) = chars.get(i) {
        match c {
            '-' => spec.left = true,
            '0' => spec.zero = true,
            '+' => spec.plus = true,
            ' ' => spec.space = true,
            '#' => spec.alt = true,
            _ => break,
        }
        i += 1;
    }
    let (width, next) = digits(chars, i);
    spec.width = bounded(width, "width", &spec.name)?;
    i = next;
    if chars.get(i) == Some(&'.') {
        let (precision, next) = digits(chars, i + 1);
        spec.precision = Some(bounded(precision, "precision", &spec.name)?);
        i = next;
    }
    // Length modifiers are accepted and ignored, as in Python.
    while matches!(chars.get(i), Some('h' | 'l' | 'L')) {
        i += 1;
    }
    match chars.get(i) {
        None => Err(malformed(&format!(
            "'%({})' is missing its conversion letter, e.g. %({})s",
            spec.name, spec.name
        ))),
        Some(&c @ ('s' | 'r' | 'a' | 'd' | 'i' | 'u' | 'x' | 'X' | 'o')) => {
            spec.conv = c;
            Ok((spec, i + 1))
        }
        Some(&c) => Err(malformed(&format!(
            "unsupported conversion '{c}' after %({}): use s or d",
            spec.name
        ))),
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

fn digits(chars: &[char], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize);
        i += 1;
    }
    (n, i)
}

impl Spec {
    fn render(&self, val: &Val) -> Result<String, ExpandError> {
        match self.conv {
            's' | 'a' => Ok(self.pad_text(&text_of(val))),
            'r' => Ok(self.pad_text(&match val {
                Val::Str(s) => format!("'{s}'"),
                Val::Int(n) => n.to_string(),
            })),
            _ => {
                let Val::Int(n) = val else {
                    return Err(malformed(&format!(
                        "%({}){} needs a number but {} is text: use %({})s",
                        self.name, self.conv, self.name, self.name
                    )));
                };
                Ok(self.pad_number(*n))
            }
        }
    }

    fn pad_text(&self, s: &str) -> String {
        let s: String = match self.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        };
        let len = s.chars().count();
        if len >= self.width {
            return s;
        }
        let fill = " ".repeat(self.width - len);
        if self.left { s + &fill } else { fill + &s }
    }

    fn pad_number(&self, n: i64) -> String {
        let abs = n.unsigned_abs();
        let mut body = match self.conv {
            'x' => format!("{abs:x}"),
            'X' => format!("{abs:X}"),
            'o' => format!("{abs:o}"),
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
                'x' => prefix.push_str("0x"),
                'X' => prefix.push_str("0X"),
                'o' => prefix.push_str("0o"),
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

fn text_of(val: &Val) -> String {
    match val {
        Val::Str(s) => s.clone(),
        Val::Int(n) => n.to_string(),
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
        expand(s, &vars()).expect("expands")
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
            let err = expand(bad, &vars()).expect_err(bad);
            assert!(err.to_string().contains("too large"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_name() {
        assert_eq!(
            expand("%(nope)s", &vars()),
            Err(ExpandError::Unknown("nope".into()))
        );
        assert_eq!(
            expand("%(ENV_NOT_SET_ANYWHERE)s", &vars()),
            Err(ExpandError::Unknown("ENV_NOT_SET_ANYWHERE".into()))
        );
    }

    #[test]
    fn malformed() {
        for bad in ["50%", "%s", "%(here)", "%(here", "%(here)q", "%(here)d"] {
            assert!(
                matches!(expand(bad, &vars()), Err(ExpandError::Malformed(_))),
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
