//! `environment=A="x, y",B=2`: supervisord's `dict_of_key_value_pairs`.
//!
//! supervisord splits the value with Python's `shlex` in its non-POSIX mode
//! (extra word characters `/.+-():`) and then reads the tokens three at a
//! time (`KEY`, `=`, `value`), skipping one separator token after each
//! triple. The consequences users meet, reproduced here:
//! - a value with spaces, commas, `=`, `@`, `$`, `*`, non-ASCII letters or
//!   other punctuation must be quoted (`'...'` or `"..."`);
//! - quotes around a value are removed (every leading and trailing quote);
//! - `#` outside quotes starts a comment to the end of the line;
//! - a key given twice keeps its first position and its last value;
//! - whatever token follows a pair is skipped as its separator, so
//!   `A=x y` sets `A=x` and drops `y`: sluice accepts it too, but returns a
//!   warning for every separator that is not a comma.

/// Pairs, and warnings about tokens skipped as separators.
pub type Pairs = (Vec<(String, String)>, Vec<String>);

/// Parse `KEY=val,KEY2="v, 2"` into ordered pairs, with a warning for
/// each skipped separator that is not a comma.
pub fn parse_pairs_warn(s: &str) -> Result<Pairs, String> {
    let tokens = tokenize(s)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let triple = &tokens[i..tokens.len().min(i + 3)];
        if triple.len() != 3 || triple[1] != "=" {
            return Err(format!(
                "'{}' is not a list of KEY=value pairs separated by commas \
                 (put quotes around a value with spaces, commas, '=' or other \
                 punctuation, e.g. A=\"x, y\",B=2)",
                s.trim()
            ));
        }
        let key = &triple[0];
        if let Some(sep) = tokens.get(i + 3).filter(|t| *t != ",") {
            warnings.push(format!(
                "'{sep}' after {key}={} is skipped as a separator (as supervisord does); \
                 quote the value if it belongs to it, e.g. {key}=\"{} {sep}\"",
                triple[2], triple[2]
            ));
        }
        let value = triple[2].trim_matches(['\'', '"']).to_string();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1 = value,
            None => pairs.push((key.clone(), value)),
        }
        i += 4;
    }
    Ok((pairs, warnings))
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || "/.+-():".contains(c)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_quote(c: char) -> bool {
    c == '\'' || c == '"'
}

/// Python `shlex.shlex(s)` (non-POSIX) tokens, with the extra word chars.
fn tokenize(s: &str) -> Result<Vec<String>, String> {
    enum State {
        Between,
        Word,
        Quoted(char),
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut state = State::Between;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Between => {
                if is_space(c) {
                    continue;
                } else if c == '#' {
                    skip_line(&mut chars);
                } else if is_word_char(c) {
                    token.push(c);
                    state = State::Word;
                } else if is_quote(c) {
                    token.push(c);
                    state = State::Quoted(c);
                } else {
                    tokens.push(c.to_string());
                }
            }
            State::Word => {
                if is_space(c) {
                    tokens.push(std::mem::take(&mut token));
                    state = State::Between;
                } else if c == '#' {
                    // Non-POSIX shlex drops the rest of the line but keeps
                    // building the same word on the next one.
                    skip_line(&mut chars);
                } else if is_word_char(c) || is_quote(c) {
                    token.push(c);
                } else {
                    tokens.push(std::mem::take(&mut token));
                    tokens.push(c.to_string());
                    state = State::Between;
                }
            }
            State::Quoted(q) => {
                token.push(c);
                if c == q {
                    tokens.push(std::mem::take(&mut token));
                    state = State::Between;
                }
            }
        }
    }
    match state {
        State::Quoted(q) => Err(format!(
            "'{}' has a {q} quote that is never closed",
            s.trim()
        )),
        State::Word => {
            tokens.push(token);
            Ok(tokens)
        }
        State::Between => Ok(tokens),
    }
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
        parse_pairs_warn(s).map(|(pairs, _)| pairs)
    }

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse_pairs(s).expect("parses")
    }

    fn p(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn simple_pairs() {
        assert_eq!(pairs("A=1,B=2"), p(&[("A", "1"), ("B", "2")]));
        assert_eq!(pairs(" A = 1 , B = 2 "), p(&[("A", "1"), ("B", "2")]));
        assert_eq!(pairs(""), p(&[]));
    }

    #[test]
    fn quoted_values_keep_commas_and_spaces() {
        assert_eq!(pairs("A=\"x, y\",B=2"), p(&[("A", "x, y"), ("B", "2")]));
        assert_eq!(pairs("A='a=b c'"), p(&[("A", "a=b c")]));
        assert_eq!(
            pairs("JAVA_HOME=\"/usr/local/java\""),
            p(&[("JAVA_HOME", "/usr/local/java")])
        );
        assert_eq!(pairs("A=\"\""), p(&[("A", "")]));
    }

    #[test]
    fn paths_urls_and_word_chars() {
        assert_eq!(
            pairs("PATH=/usr/bin:/bin,URL=http://h:80/x,V=1.2-3+4,F=(x)"),
            p(&[
                ("PATH", "/usr/bin:/bin"),
                ("URL", "http://h:80/x"),
                ("V", "1.2-3+4"),
                ("F", "(x)"),
            ])
        );
    }

    #[test]
    fn continuation_newlines_separate() {
        assert_eq!(pairs("\nA=1,\nB=2"), p(&[("A", "1"), ("B", "2")]));
    }

    #[test]
    fn later_value_wins() {
        assert_eq!(pairs("A=1,B=2,A=3"), p(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn unquoted_punctuation_is_an_error() {
        for bad in [
            "A=x y z",
            "A=a@b",
            "A=",
            "A",
            "A=b=c",
            "=1",
            "A=中文字",
            "A=\"open",
        ] {
            assert!(parse_pairs(bad).is_err(), "{bad}");
        }
        assert_eq!(pairs("A=\"中文\""), p(&[("A", "中文")]));
    }

    #[test]
    fn any_separator_token_is_skipped_as_supervisord_does() {
        assert_eq!(pairs("A=1;B=2"), p(&[("A", "1"), ("B", "2")]));
        let (got, warnings) = parse_pairs_warn("A=x y").expect("parses");
        assert_eq!(got, p(&[("A", "x")]));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("'y'"), "{}", warnings[0]);
        // Non-ASCII letters are not shlex word characters: one each.
        let (got, warnings) = parse_pairs_warn("A=中文").expect("parses");
        assert_eq!(got, p(&[("A", "中")]));
        assert_eq!(warnings.len(), 1);
        let (_, warnings) = parse_pairs_warn("A=1,B=2").expect("parses");
        assert!(warnings.is_empty());
    }
}
