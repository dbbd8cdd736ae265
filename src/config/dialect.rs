//! The INI dialect supervisord 4 reads: Python's `RawConfigParser` with
//! `inline_comment_prefixes=(';', '#')`, keeping every value's line number.
//!
//! Hand-written rather than built on `rust-ini`: that crate keeps no line
//! numbers (every diagnostic here names file:line) and its comment and
//! continuation rules differ from Python's (an inline `;` or `#` starts a
//! comment only after whitespace; a continuation line must be indented
//! deeper than its key; blank lines inside a continued value are kept).
//!
//! The rules reproduced, line by line:
//! - a line whose stripped text starts with `;` or `#` is a comment;
//! - otherwise an inline comment starts at a `;` or `#` preceded by
//!   whitespace (found the way Python finds it, see `comment_start`);
//! - a line indented deeper than the line that started the current key
//!   continues that key's value, joined with `\n`;
//! - a blank line inside a value adds an empty line to it (trailing ones
//!   are dropped when the value ends);
//! - `[name]` starts a section (the name is everything up to the last `]`);
//! - `key = value` or `key: value` (split at the first `=` or `:`) sets a
//!   key, lowercased;
//! - anything else is a parse error, as is text before the first section.
//!
//! A section or key given twice is kept as written: merging them the way
//! supervisord's `strict=False` parser does (a later key replaces an
//! earlier one) is `sources.rs`'s, across files as well as within one.

/// One `key = value`, with the line the key was on.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Lowercased, as Python's `optionxform` does.
    pub key: String,
    /// Continuation lines joined with `\n`; trailing whitespace removed.
    pub value: String,
    pub line: usize,
}

/// One `[name]` and its entries in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// As written between the brackets (case kept).
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

#[cfg(test)]
impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A problem met while reading the text: the line and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    /// The section the line is in, when known.
    pub section: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

/// The result of reading one file: every section that could be read, and
/// every error (reading continues after an error, as Python's does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub sections: Vec<Section>,
    pub errors: Vec<SyntaxError>,
}

const COMMENT_PREFIXES: [char; 2] = [';', '#'];

/// Where a comment starts on this raw line, if anywhere.
///
/// Python searches each inline prefix from the left in rounds; in each round
/// every prefix advances to its next occurrence, and the first round in which
/// some occurrence is at the line start or after whitespace decides (the
/// smallest such index of that round). A full-line comment is at 0.
fn comment_start(chars: &[char]) -> Option<usize> {
    let text: String = chars.iter().collect();
    if text
        .trim()
        .starts_with(|c: char| COMMENT_PREFIXES.contains(&c))
    {
        return Some(0);
    }
    // Per prefix: the index searched from (exclusive); None once exhausted.
    let mut cursors: Vec<(char, Option<isize>)> =
        COMMENT_PREFIXES.iter().map(|&p| (p, Some(-1))).collect();
    loop {
        let mut found: Option<usize> = None;
        let mut any_left = false;
        for (prefix, cursor) in cursors.iter_mut() {
            let Some(from) = *cursor else { continue };
            let start = usize::try_from(from + 1).unwrap_or(0);
            let next = chars
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, c)| **c == *prefix)
                .map(|(i, _)| i);
            match next {
                None => *cursor = None,
                Some(i) => {
                    any_left = true;
                    *cursor = Some(i as isize);
                    if i == 0 || chars[i - 1].is_whitespace() {
                        found = Some(found.map_or(i, |f| f.min(i)));
                    }
                }
            }
        }
        if found.is_some() || !any_left {
            return found;
        }
    }
}

fn indent_of(chars: &[char]) -> usize {
    chars.iter().take_while(|c| c.is_whitespace()).count()
}

/// Read a whole INI text.
pub fn parse(text: &str) -> Document {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc = Document::default();
    // The key being read and the lines of its value so far.
    let mut current: Option<(usize, Vec<String>)> = None;
    let mut indent_level = 0usize;

    for (index, raw) in text.split('\n').enumerate() {
        let lineno = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let chars: Vec<char> = raw.chars().collect();
        let cstart = comment_start(&chars);
        let value: String = chars[..cstart.unwrap_or(chars.len())]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();

        if value.is_empty() {
            if cstart.is_none()
                && let Some((_, lines)) = current.as_mut()
            {
                lines.push(String::new());
            }
            continue;
        }

        let cur_indent = indent_of(&chars);
        if current.is_some() && cur_indent > indent_level {
            if let Some((_, lines)) = current.as_mut() {
                lines.push(value);
            }
            continue;
        }

        // Not a continuation: the previous value (if any) is complete.
        finish(&mut doc, current.take());
        indent_level = cur_indent;

        if let Some(name) = section_header(&value) {
            doc.sections.push(Section {
                name,
                line: lineno,
                entries: Vec::new(),
            });
            continue;
        }

        let section_name = doc.sections.last().map(|s| s.name.clone());
        if section_name.is_none() {
            doc.errors.push(SyntaxError {
                line: lineno,
                section: None,
                key: None,
                message: format!(
                    "text before the first [section] header: '{}'",
                    shorten(&value)
                ),
            });
            continue;
        }

        match split_option(&value) {
            Some((key, val)) if !key.is_empty() => {
                if let Some(section) = doc.sections.last_mut() {
                    section.entries.push(Entry {
                        key,
                        value: String::new(),
                        line: lineno,
                    });
                }
                current = Some((lineno, vec![val]));
            }
            Some(_) => doc.errors.push(SyntaxError {
                line: lineno,
                section: section_name,
                key: None,
                message: format!(
                    "a key is missing before the '=' or ':': '{}'",
                    shorten(&value)
                ),
            }),
            None => doc.errors.push(SyntaxError {
                line: lineno,
                section: section_name,
                key: None,
                message: format!(
                    "not a 'key = value' line, a [section] header or a comment: '{}' \
                     (to continue a value, indent this line; to continue a comment, \
                     start it with ';' or '#')",
                    shorten(&value)
                ),
            }),
        }
    }
    finish(&mut doc, current.take());
    doc
}

/// Store the joined value of the key started on `line` (the last entry of
/// the last section: a value ends before anything else starts).
fn finish(doc: &mut Document, current: Option<(usize, Vec<String>)>) {
    let Some((line, lines)) = current else { return };
    let entry = doc.sections.last_mut().and_then(|s| s.entries.last_mut());
    if let Some(entry) = entry.filter(|e| e.line == line) {
        entry.value = lines.join("\n").trim_end().to_string();
    }
}

/// `[name]`: the name is everything between the first `[` and the last `]`.
fn section_header(value: &str) -> Option<String> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    if end == 0 {
        return None;
    }
    Some(rest[..end].to_string())
}

/// `key = value` / `key: value`, split at the first `=` or `:`.
fn split_option(value: &str) -> Option<(String, String)> {
    let at = value.find(['=', ':'])?;
    let key = value[..at].trim_end().to_lowercase();
    let val = value[at + 1..].trim().to_string();
    Some((key, val))
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Section {
        let doc = parse(text);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        doc.sections.into_iter().next().expect("a section")
    }

    fn val<'a>(s: &'a Section, key: &str) -> &'a str {
        &s.get(key).expect("key present").value
    }

    #[test]
    fn equals_and_colon() {
        let s = one("[a]\nx = 1\ny: 2\nz=a:b\nw: c=d\n");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "2");
        assert_eq!(val(&s, "z"), "a:b");
        assert_eq!(val(&s, "w"), "c=d");
        assert_eq!(s.get("y").map(|e| e.line), Some(3));
    }

    #[test]
    fn keys_are_lowercased_sections_are_not() {
        let doc = parse("[Program:Foo]\nCommand = /bin/true\n");
        assert_eq!(doc.sections[0].name, "Program:Foo");
        assert_eq!(doc.sections[0].entries[0].key, "command");
    }

    #[test]
    fn inline_comments_need_whitespace_before() {
        let s =
            one("[a]\nx = 1 ; comment\ny = a;b\nz = a#b\nw = a\t# tab comment\nv = \"a ; b\"\n");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "a;b");
        assert_eq!(val(&s, "z"), "a#b");
        assert_eq!(val(&s, "w"), "a");
        // Quotes do not protect: supervisord cuts there too.
        assert_eq!(val(&s, "v"), "\"a");
    }

    #[test]
    fn python_comment_rounds() {
        // The first round finds '#' at 'x#' (not a comment) and ';' after a
        // space (a comment): Python stops at that round.
        let s = one("[a]\nk=x#y #c ;d\n");
        assert_eq!(val(&s, "k"), "x#y #c");
    }

    #[test]
    fn full_line_comments() {
        let s = one("; top\n# top\n[a]\n  ; indented comment\nx = 1\n# between\ny = 2\n");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "2");
    }

    #[test]
    fn continuation_lines() {
        let s = one(
            "[a]\nenvironment =\n    A=1,\n    B=2 ; note\nx = first\n  second\n\n  third\n\ny = 3\n",
        );
        assert_eq!(val(&s, "environment"), "\nA=1,\nB=2");
        assert_eq!(val(&s, "x"), "first\nsecond\n\nthird");
        assert_eq!(val(&s, "y"), "3");
        assert_eq!(s.get("y").map(|e| e.line), Some(10));
    }

    #[test]
    fn continuation_must_be_deeper_than_key() {
        let s = one("[a]\n  x = 1\n  y = 2\n    more\n");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "2\nmore");
    }

    #[test]
    fn comment_line_inside_value_is_skipped() {
        let s = one("[a]\nx = 1\n  ; not part\n  2\n");
        assert_eq!(val(&s, "x"), "1\n2");
    }

    #[test]
    fn bare_line_is_an_error_with_its_number() {
        let doc = parse("[a]\nx = 1 ; a comment that\nwraps here\ny = 2\n");
        assert_eq!(doc.errors.len(), 1);
        assert_eq!(doc.errors[0].line, 3);
        assert_eq!(doc.errors[0].section.as_deref(), Some("a"));
        // Reading went on.
        assert_eq!(
            doc.sections[0].get("y").map(|e| e.value.as_str()),
            Some("2")
        );
    }

    #[test]
    fn every_bad_line_is_reported() {
        let doc = parse("junk\n[a]\nbad one\n= novalue\nok=1\nbad two\n");
        let lines: Vec<usize> = doc.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 6]);
    }

    #[test]
    fn duplicates_are_kept_as_written() {
        let doc = parse("[a]\nx=1\nx=2\n  more\n[b]\n[a]\ny=1\n");
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        let names: Vec<&str> = doc.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "a"]);
        let values: Vec<(&str, &str, usize)> = doc.sections[0]
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(values, vec![("x", "1", 2), ("x", "2\nmore", 3)]);
    }

    #[test]
    fn crlf_and_bom() {
        let s = one("\u{feff}[a]\r\nx = 1\r\n");
        assert_eq!(s.name, "a");
        assert_eq!(val(&s, "x"), "1");
    }

    #[test]
    fn header_takes_up_to_last_bracket() {
        let s = one("[a]b] ; c\n");
        assert_eq!(s.name, "a]b");
    }

    #[test]
    fn empty_value() {
        let s = one("[a]\nx =\ny:\n");
        assert_eq!(val(&s, "x"), "");
        assert_eq!(val(&s, "y"), "");
    }
}
