//! Reading a Flume agent file: Java's `.properties` format
//! (`java.util.Properties.load`), keeping the line of every key so errors
//! can point at it.
//!
//! Written here rather than taken from the `java-properties` crate: that
//! crate pulls in the `regex` engine, about 350 KiB of machine code, and the
//! kernel maps a binary's text in large folios, so that code weighed on the
//! daemon's resident memory even though no agent file needs a regex. The
//! format is small: logical lines joined by a trailing odd backslash,
//! `#`/`!` comments, a key ended by `=`, `:` or whitespace, and escapes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{Diagnostic, Severity};

/// One property and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub line: usize,
}

/// Every key of a file, last setting wins (as `java.util.Properties`).
pub type Entries = BTreeMap<String, Entry>;

/// Parse `text` (the file at `path`, for messages). A key set twice keeps
/// the later value, with a warning; a malformed line is an error.
pub fn parse(path: &Path, text: &str) -> Result<(Entries, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut entries = Entries::new();
    let mut warnings = Vec::new();
    for logical in logical_lines(text) {
        let (key, value) = match split_pair(&logical.text) {
            Ok(kv) => kv,
            Err(e) => {
                return Err(vec![Diagnostic {
                    severity: Severity::Error,
                    file: path.to_path_buf(),
                    line: Some(logical.line),
                    section: None,
                    key: None,
                    message: format!("cannot read this properties file: {e}"),
                }]);
            }
        };
        let key = key.trim().to_string();
        let value = value.trim().to_string();
        if let Some(old) = entries.get(&key) {
            warnings.push(Diagnostic {
                severity: Severity::Warning,
                file: path.to_path_buf(),
                line: Some(logical.line),
                section: None,
                key: Some(key.clone()),
                message: format!("set again (line {} is overridden)", old.line),
            });
        }
        entries.insert(
            key,
            Entry {
                value,
                line: logical.line,
            },
        );
    }
    Ok((entries, warnings))
}

/// A key-value line with its continuations joined (escapes still in it).
struct Logical {
    text: String,
    /// 1-based number of its first natural line.
    line: usize,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Whether `s` ends in an odd number of backslashes (the line goes on).
fn continues(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The natural lines of `text`: ended by `\n`, `\r` or `\r\n`.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Natural lines joined into logical ones; blank and comment lines dropped.
fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    for (i, natural) in natural_lines(text).into_iter().enumerate() {
        let stripped = natural.trim_start_matches(is_blank);
        match current.as_mut() {
            // A continuation: its leading whitespace is dropped.
            Some(open) => open.text.push_str(stripped),
            None => {
                if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with('!') {
                    continue;
                }
                current = Some(Logical {
                    text: stripped.to_string(),
                    line: i + 1,
                });
            }
        }
        if let Some(open) = current.as_mut() {
            if continues(&open.text) {
                open.text.pop();
            } else if let Some(done) = current.take() {
                out.push(done);
            }
        }
    }
    // A continuation at the end of the file just ends the last line.
    out.extend(current);
    out
}

/// Split a logical line into its key and value, unescaping both.
fn split_pair(line: &str) -> Result<(String, String), String> {
    let mut chars = line.char_indices().peekable();
    let mut key_end = line.len();
    let mut value_start = line.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '=' | ':' => {
                key_end = i;
                value_start = i + 1;
                break;
            }
            c if is_blank(c) => {
                key_end = i;
                // Blanks, then at most one `=` or `:`, then blanks.
                let mut j = i;
                for (k, c) in line[i..].char_indices() {
                    j = i + k;
                    if !is_blank(c) {
                        break;
                    }
                    j = i + k + c.len_utf8();
                }
                if line[j..].starts_with('=') || line[j..].starts_with(':') {
                    j += 1;
                }
                value_start = j;
                break;
            }
            _ => {}
        }
    }
    let value = line[value_start.min(line.len())..].trim_start_matches(is_blank);
    Ok((unescape(&line[..key_end])?, unescape(value)?))
}

/// Java's escapes: `\t \n \r \f`, `\uXXXX`, and `\c` for any other `c`.
fn unescape(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("malformed \\uXXXX escape: \\u{hex}"))?;
                // A lone surrogate half cannot be a Rust char; Java would
                // keep it. Say so instead of guessing.
                out.push(
                    char::from_u32(code)
                        .ok_or_else(|| format!("\\u{hex} is not a character on its own"))?,
                );
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_lines_and_continuations_join() {
        let text = "# comment\na1.sources = r1\n\na1.sources.r1.command = tail \\\n    -F x\n";
        let (e, w) = parse(Path::new("f"), text).expect("parses");
        assert!(w.is_empty());
        assert_eq!(e["a1.sources"].value, "r1");
        assert_eq!(e["a1.sources"].line, 2);
        assert_eq!(e["a1.sources.r1.command"].value, "tail -F x");
        assert_eq!(e["a1.sources.r1.command"].line, 4);
    }

    #[test]
    fn a_repeated_key_warns_and_the_last_wins() {
        let (e, w) = parse(Path::new("f"), "a = 1\na = 2\n").expect("parses");
        assert_eq!(e["a"].value, "2");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(2));
    }

    #[test]
    fn separators_comments_escapes_and_line_ends() {
        let text = "! bang comment\r\n  # hash comment\r\nk1=v1\rk2 : v2\nk3 v3\nk4\t=\tv4\nk\\ 5 = x\\u0041y\\tz\nempty\n\\#notcomment = 1\nlast = a\\\n";
        let (e, w) = parse(Path::new("f"), text).expect("parses");
        assert!(w.is_empty());
        assert_eq!(
            e["k1"],
            Entry {
                value: "v1".into(),
                line: 3
            }
        );
        assert_eq!(
            e["k2"],
            Entry {
                value: "v2".into(),
                line: 4
            }
        );
        assert_eq!(e["k3"].value, "v3");
        assert_eq!(e["k4"].value, "v4");
        assert_eq!(e["k 5"].value, "xAy\tz");
        assert_eq!(e["empty"].value, "");
        assert_eq!(e["#notcomment"].value, "1");
        assert_eq!(e["last"].value, "a");
    }

    #[test]
    fn an_even_run_of_backslashes_does_not_continue() {
        let (e, _) = parse(Path::new("f"), "a = x\\\\\nb = y\n# c \\\nd = z\n").expect("parses");
        assert_eq!(e["a"].value, "x\\");
        assert_eq!(e["b"].value, "y");
        // A comment's trailing backslash does not swallow the next line.
        assert_eq!(e["d"].value, "z");
    }

    #[test]
    fn a_bad_unicode_escape_is_an_error_with_its_line() {
        let err = parse(Path::new("f"), "a = 1\nb = \\u12G4\n").expect_err("bad escape");
        assert_eq!(err[0].line, Some(2));
        assert!(err[0].message.contains("\\u12G4"), "{}", err[0].message);
    }
}
