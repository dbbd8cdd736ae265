//! Reading a Flume agent file: Java's `.properties` format (the
//! `java-properties` crate does the escapes, continuations and separators),
//! keeping the line of every key so errors can point at it.

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
    let iter =
        java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8);
    for line in iter {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return Err(vec![Diagnostic {
                    severity: Severity::Error,
                    file: path.to_path_buf(),
                    line: e.line_number(),
                    section: None,
                    key: None,
                    message: format!("cannot read this properties file: {e}"),
                }]);
            }
        };
        let number = line.line_number();
        if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
            let key = key.trim().to_string();
            let value = value.trim().to_string();
            if let Some(old) = entries.get(&key) {
                warnings.push(Diagnostic {
                    severity: Severity::Warning,
                    file: path.to_path_buf(),
                    line: Some(number),
                    section: None,
                    key: Some(key.clone()),
                    message: format!("set again (line {} is overridden)", old.line),
                });
            }
            entries.insert(
                key,
                Entry {
                    value,
                    line: number,
                },
            );
        }
    }
    Ok((entries, warnings))
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
}
