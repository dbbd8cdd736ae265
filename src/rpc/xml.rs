//! The XML-RPC codec: `<methodCall>` and `<methodResponse>` documents to and
//! from [`Value`]s.
//!
//! Parsing reads quick-xml's events straight into [`Value`]s (a pull parser,
//! no intermediate element tree: `status` with hundreds of processes is one
//! allocation per string, not per XML node); nesting is depth-limited, so
//! hostile documents cannot exhaust the stack. Anything malformed is an [`XmlError`], never a
//! panic. The writer produces what Python's `xmlrpc.client` (the stock
//! supervisorctl) expects: an `<?xml version="1.0"?>` header,
//! `<params><param><value>…` for results and a `faultCode`/`faultString`
//! struct for faults.
//!
//! Like Python, the reader accepts `i4`, `int` and `i8`, namespaced tags
//! (`ex:nil`), and an untyped `<value>text</value>` as a string.
//!
//! A call must be well-formed XML 1.0, as expat (supervisord's parser)
//! demands: a character XML 1.0 does not allow (a raw control character, or
//! one written as `&#1;`) refuses the document. A response is read leniently
//! on that point: supervisord sends log text as it is, control characters
//! and all, and `sluice ctl tail` should still show it.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::value::{Fault, Value};

/// How deeply elements may nest before a document is refused.
const MAX_DEPTH: usize = 256;

/// A document that is not well-formed XML or not valid XML-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid XML-RPC: {}", self.0)
    }
}

impl std::error::Error for XmlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, XmlError> {
    Err(XmlError(msg.into()))
}

// ---------------------------------------------------------------- reading

/// The element names XML-RPC uses, so that reading one allocates nothing;
/// anything else is kept as text for the error message.
#[derive(Debug, Clone, PartialEq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    Int,
    I4,
    I8,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Nil,
    Array,
    Data,
    Struct,
    Member,
    Name,
    Other(std::string::String),
}

impl Tag {
    /// The local name (namespace prefix dropped) of a raw tag name.
    fn from_raw(raw: &[u8]) -> Result<Tag, XmlError> {
        let local = match memchr::memrchr(b':', raw) {
            Some(i) => &raw[i + 1..],
            None => raw,
        };
        Ok(match local {
            b"methodCall" => Tag::MethodCall,
            b"methodName" => Tag::MethodName,
            b"methodResponse" => Tag::MethodResponse,
            b"params" => Tag::Params,
            b"param" => Tag::Param,
            b"fault" => Tag::Fault,
            b"value" => Tag::Value,
            b"int" => Tag::Int,
            b"i4" => Tag::I4,
            b"i8" => Tag::I8,
            b"boolean" => Tag::Boolean,
            b"string" => Tag::String,
            b"double" => Tag::Double,
            b"dateTime.iso8601" => Tag::DateTime,
            b"base64" => Tag::Base64,
            b"nil" => Tag::Nil,
            b"array" => Tag::Array,
            b"data" => Tag::Data,
            b"struct" => Tag::Struct,
            b"member" => Tag::Member,
            b"name" => Tag::Name,
            other => Tag::Other(
                std::str::from_utf8(other)
                    .map_err(|_| XmlError("tag name is not UTF-8".into()))?
                    .to_string(),
            ),
        })
    }

    fn as_str(&self) -> &str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::MethodResponse => "methodResponse",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::String => "string",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Nil => "nil",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Other(s) => s,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step through the document, comments and declarations skipped.
enum Tok<'a> {
    /// An element starts; `empty` for `<x/>` (no content, no end tag).
    Open(Tag, bool),
    /// The current element ends.
    Close,
    /// A piece of text (character data, CDATA or a resolved reference).
    Text(Cow<'a, str>),
    Eof,
}

/// A pull parser over quick-xml's events that reads XML-RPC as it goes:
/// no element tree is built, only the resulting [`Value`]s are allocated.
struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    /// Open elements, refused past [`MAX_DEPTH`] (hostile nesting).
    depth: usize,
    /// Refuse character references to what XML 1.0 does not allow (the raw
    /// characters were refused by [`check_xml10_chars`] before parsing).
    strict: bool,
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
fn is_xml10_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character of `text` that XML 1.0 does not allow, as an error
/// with its byte offset.
fn check_xml10_chars(text: &str) -> Result<(), XmlError> {
    // Only control characters (single bytes below 0x20) and U+FFFE/U+FFFF
    // (EF BF BE/BF) can be wrong in a str; scan bytes, decode only there.
    let bytes = text.as_bytes();
    let bad = bytes.iter().enumerate().find(|&(i, &b)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || (b == 0xEF && matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])))
    });
    match bad {
        Some((i, _)) => {
            let c = text[i..].chars().next().unwrap_or_default();
            err(format!(
                "character U+{:04X} at byte {i} is not allowed in XML 1.0",
                c as u32
            ))
        }
        None => Ok(()),
    }
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

impl<'a> Parser<'a> {
    /// `strict`: refuse what XML 1.0 does not allow (see the module comment).
    fn new(input: &'a [u8], strict: bool) -> Result<Parser<'a>, XmlError> {
        let text =
            std::str::from_utf8(input).map_err(|_| XmlError("document is not UTF-8".into()))?;
        if strict {
            check_xml10_chars(text)?;
        }
        Ok(Parser {
            reader: Reader::from_str(text),
            depth: 0,
            strict,
        })
    }

    fn next(&mut self) -> Result<Tok<'a>, XmlError> {
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| XmlError(format!("{e} at byte {}", self.reader.error_position())))?;
            return Ok(match event {
                Event::Start(start) => {
                    if self.depth >= MAX_DEPTH {
                        return err("elements nested too deeply");
                    }
                    self.depth += 1;
                    Tok::Open(Tag::from_raw(start.name().as_ref())?, false)
                }
                Event::Empty(start) => Tok::Open(Tag::from_raw(start.name().as_ref())?, true),
                Event::End(_) => {
                    // quick-xml checks that end names match their start.
                    self.depth = self.depth.saturating_sub(1);
                    Tok::Close
                }
                Event::Text(t) => {
                    let s = t
                        .xml10_content()
                        .map_err(|e| XmlError(format!("bad text: {e}")))?;
                    if s.is_empty() {
                        continue;
                    }
                    Tok::Text(s)
                }
                Event::CData(c) => {
                    let s = match c.into_inner() {
                        Cow::Borrowed(b) => Cow::Borrowed(
                            std::str::from_utf8(b)
                                .map_err(|_| XmlError("CDATA is not UTF-8".into()))?,
                        ),
                        Cow::Owned(b) => Cow::Owned(
                            String::from_utf8(b)
                                .map_err(|_| XmlError("CDATA is not UTF-8".into()))?,
                        ),
                    };
                    Tok::Text(s)
                }
                Event::GeneralRef(r) => match r.resolve_char_ref() {
                    Ok(Some(c)) if self.strict && !is_xml10_char(c) => {
                        return err(format!(
                            "character reference to U+{:04X}, which XML 1.0 does not allow",
                            c as u32
                        ));
                    }
                    Ok(Some(c)) => Tok::Text(Cow::Owned(c.to_string())),
                    Ok(None) => {
                        let name = r
                            .decode()
                            .map_err(|e| XmlError(format!("bad entity: {e}")))?;
                        match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(s) => Tok::Text(Cow::Borrowed(s)),
                            None => return err(format!("unknown entity &{name};")),
                        }
                    }
                    Err(e) => return err(format!("bad character reference: {e}")),
                },
                Event::DocType(_) => return err("DOCTYPE is not allowed"),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
                Event::Eof => Tok::Eof,
            });
        }
    }

    /// The document element; only blank text may come before it.
    fn root(&mut self) -> Result<(Tag, bool), XmlError> {
        loop {
            match self.next()? {
                Tok::Open(tag, empty) => return Ok((tag, empty)),
                Tok::Text(t) if is_blank(&t) => {}
                Tok::Text(_) => return err("text outside the document element"),
                Tok::Close => return err("unmatched end tag"),
                Tok::Eof => return err("empty document"),
            }
        }
    }

    /// After the document element: only blank text.
    fn finish(&mut self) -> Result<(), XmlError> {
        loop {
            match self.next()? {
                Tok::Eof => return Ok(()),
                Tok::Text(t) if is_blank(&t) => {}
                Tok::Text(_) => return err("text outside the document element"),
                Tok::Open(..) => return err("content after the document element"),
                Tok::Close => return err("unmatched end tag"),
            }
        }
    }

    /// The next child element of `parent` (text between children is
    /// ignored), or `None` at `parent`'s end.
    fn child(&mut self, parent: &Tag) -> Result<Option<(Tag, bool)>, XmlError> {
        loop {
            match self.next()? {
                Tok::Open(tag, empty) => return Ok(Some((tag, empty))),
                Tok::Close => return Ok(None),
                Tok::Text(_) => {}
                Tok::Eof => return err(format!("document ends inside <{parent}>")),
            }
        }
    }

    /// Skip the rest of an element (its content and end tag).
    fn skip(&mut self, tag: &Tag, empty: bool) -> Result<(), XmlError> {
        if empty {
            return Ok(());
        }
        while let Some((t, e)) = self.child(tag)? {
            self.skip(&t, e)?;
        }
        Ok(())
    }

    /// All the text inside an element that holds no element.
    fn text(&mut self, tag: &Tag, empty: bool) -> Result<String, XmlError> {
        let mut out = String::new();
        if empty {
            return Ok(out);
        }
        loop {
            match self.next()? {
                Tok::Text(t) => {
                    if out.is_empty() {
                        out = t.into_owned();
                    } else {
                        out.push_str(&t);
                    }
                }
                Tok::Close => return Ok(out),
                Tok::Open(inner, _) => {
                    return err(format!("unexpected <{inner}> inside <{tag}>"));
                }
                Tok::Eof => return err(format!("document ends inside <{tag}>")),
            }
        }
    }

    /// The one child element of `parent`, which must be `want`; returns
    /// whether it is empty. The caller reads it; [`Self::no_more`] then
    /// checks nothing follows.
    fn only(&mut self, parent: &Tag, empty: bool, want: Tag) -> Result<bool, XmlError> {
        let missing = || XmlError(format!("<{parent}> has no <{want}>"));
        if empty {
            return Err(missing());
        }
        match self.child(parent)? {
            Some((tag, e)) if tag == want => Ok(e),
            Some((tag, _)) => err(format!("unexpected <{tag}> inside <{parent}>")),
            None => Err(missing()),
        }
    }

    /// After the one child [`Self::only`] found: the end of `parent`.
    fn no_more(&mut self, parent: &Tag, want: &Tag) -> Result<(), XmlError> {
        match self.child(parent)? {
            None => Ok(()),
            Some((tag, _)) if tag == *want => {
                err(format!("more than one <{want}> inside <{parent}>"))
            }
            Some((tag, _)) => err(format!("unexpected <{tag}> inside <{parent}>")),
        }
    }

    /// A `<value>` element (its start already read).
    fn value(&mut self, empty: bool) -> Result<Value, XmlError> {
        if empty {
            return Ok(Value::String(String::new()));
        }
        let mut text = String::new();
        let (tag, tag_empty) = loop {
            match self.next()? {
                Tok::Text(t) => text.push_str(&t),
                // An untyped value is a string, kept exactly (whitespace too).
                Tok::Close => return Ok(Value::String(text)),
                Tok::Open(tag, e) => break (tag, e),
                Tok::Eof => return err("document ends inside <value>"),
            }
        };
        if !is_blank(&text) {
            return err("<value> mixes text and a typed element");
        }
        let v = self.typed(tag, tag_empty)?;
        loop {
            match self.next()? {
                Tok::Close => return Ok(v),
                Tok::Text(t) if is_blank(&t) => {}
                Tok::Text(_) => return err("<value> mixes text and a typed element"),
                Tok::Open(..) => return err("<value> holds more than one element"),
                Tok::Eof => return err("document ends inside <value>"),
            }
        }
    }

    /// The typed element inside a `<value>`.
    fn typed(&mut self, tag: Tag, empty: bool) -> Result<Value, XmlError> {
        match tag {
            Tag::Int | Tag::I4 | Tag::I8 => {
                let s = self.text(&tag, empty)?;
                parse_int(&s, tag.as_str())
            }
            Tag::Boolean => match self.text(&tag, empty)?.trim() {
                "1" => Ok(Value::Bool(true)),
                "0" => Ok(Value::Bool(false)),
                other => err(format!("bad <boolean> value {other:?}")),
            },
            Tag::String => Ok(Value::String(self.text(&tag, empty)?)),
            Tag::Double => {
                let s = self.text(&tag, empty)?;
                s.trim()
                    .parse::<f64>()
                    .map(Value::Double)
                    .map_err(|_| XmlError(format!("bad <double> value {s:?}")))
            }
            Tag::DateTime => Ok(Value::DateTime(self.text(&tag, empty)?.trim().to_string())),
            Tag::Base64 => {
                let s: String = self
                    .text(&tag, empty)?
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map(Value::Base64)
                    .map_err(|e| XmlError(format!("bad <base64>: {e}")))
            }
            Tag::Nil => {
                self.text(&tag, empty)?;
                Ok(Value::Nil)
            }
            Tag::Array => {
                let data_empty = self.only(&tag, empty, Tag::Data)?;
                let mut items = Vec::new();
                if !data_empty {
                    while let Some((t, e)) = self.child(&Tag::Data)? {
                        if t != Tag::Value {
                            return err(format!("unexpected <{t}> inside <data>"));
                        }
                        items.push(self.value(e)?);
                    }
                }
                self.no_more(&tag, &Tag::Data)?;
                Ok(Value::Array(items))
            }
            Tag::Struct => {
                let mut members = Vec::new();
                if !empty {
                    while let Some((m, e)) = self.child(&tag)? {
                        if m != Tag::Member {
                            return err(format!("unexpected <{m}> inside <struct>"));
                        }
                        members.push(self.member(e)?);
                    }
                }
                Ok(Value::Struct(members))
            }
            other => err(format!("unknown value type <{other}>")),
        }
    }

    /// A struct's `<member>`: one `<name>` and one `<value>`.
    fn member(&mut self, empty: bool) -> Result<(String, Value), XmlError> {
        let mut name = None;
        let mut value = None;
        if !empty {
            while let Some((t, e)) = self.child(&Tag::Member)? {
                match t {
                    Tag::Name if name.is_none() => name = Some(self.text(&t, e)?),
                    Tag::Value if value.is_none() => value = Some(self.value(e)?),
                    other => return err(format!("unexpected <{other}> inside <member>")),
                }
            }
        }
        match (name, value) {
            (Some(n), Some(v)) => Ok((n, v)),
            _ => err("<member> needs a <name> and a <value>"),
        }
    }

    /// `<params>`: each `<param>` holds one `<value>`.
    fn params(&mut self, empty: bool) -> Result<Vec<Value>, XmlError> {
        let mut out = Vec::new();
        if empty {
            return Ok(out);
        }
        while let Some((p, e)) = self.child(&Tag::Params)? {
            if p != Tag::Param {
                return err(format!("unexpected <{p}> inside <params>"));
            }
            let value_empty = self.only(&p, e, Tag::Value)?;
            out.push(self.value(value_empty)?);
            self.no_more(&p, &Tag::Value)?;
        }
        Ok(out)
    }
}

fn parse_int(s: &str, tag: &str) -> Result<Value, XmlError> {
    s.trim()
        .parse::<i64>()
        .map(Value::Int)
        .map_err(|_| XmlError(format!("bad <{tag}> value {s:?}")))
}

/// Parses a `<methodCall>` into its method name and parameters.
/// A missing `<params>` means no parameters.
pub fn parse_call(input: &[u8]) -> Result<(String, Vec<Value>), XmlError> {
    let mut p = Parser::new(input, true)?;
    let (root, empty) = p.root()?;
    if root != Tag::MethodCall {
        return err(format!("expected <methodCall>, found <{root}>"));
    }
    let mut method = None;
    let mut params = Vec::new();
    if !empty {
        while let Some((tag, e)) = p.child(&root)? {
            match tag {
                Tag::MethodName if method.is_none() => {
                    method = Some(p.text(&tag, e)?.trim().to_string());
                }
                Tag::Params => params = p.params(e)?,
                other => return err(format!("unexpected <{other}> inside <methodCall>")),
            }
        }
    }
    p.finish()?;
    match method {
        Some(m) if !m.is_empty() => Ok((m, params)),
        _ => err("no method name"),
    }
}

/// Parses a `<methodResponse>`: `Ok(Ok(value))` for a result,
/// `Ok(Err(fault))` for a fault.
pub fn parse_response(input: &[u8]) -> Result<Result<Value, Fault>, XmlError> {
    let mut p = Parser::new(input, false)?;
    let (root, empty) = p.root()?;
    if root != Tag::MethodResponse {
        return err(format!("expected <methodResponse>, found <{root}>"));
    }
    let first = if empty { None } else { p.child(&root)? };
    let Some((first, first_empty)) = first else {
        return err("empty <methodResponse>");
    };
    let result = match first {
        Tag::Params => {
            let mut values = p.params(first_empty)?;
            if values.len() != 1 {
                return err(format!("response has {} values, expected 1", values.len()));
            }
            Ok(values.remove(0))
        }
        Tag::Fault => {
            let value_empty = p.only(&first, first_empty, Tag::Value)?;
            let v = p.value(value_empty)?;
            p.no_more(&first, &Tag::Value)?;
            let code = match v.get("faultCode") {
                Some(Value::Int(c)) => {
                    i32::try_from(*c).map_err(|_| XmlError("faultCode out of range".into()))?
                }
                _ => return err("fault without an int faultCode"),
            };
            let string = match v.get("faultString") {
                Some(Value::String(s)) => s.clone(),
                _ => return err("fault without a string faultString"),
            };
            Err(Fault { code, string })
        }
        other => return err(format!("unexpected <{other}> inside <methodResponse>")),
    };
    if let Some((tag, e)) = p.child(&root)? {
        p.skip(&tag, e)?;
        return err("<methodResponse> holds more than one element");
    }
    p.finish()?;
    Ok(result)
}

// ---------------------------------------------------------------- writing

const HEADER: &str = "<?xml version=\"1.0\"?>\n";
/// What comes before and after the value of a successful response.
pub(crate) const RESPONSE_OPEN: &str =
    "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n";
pub(crate) const RESPONSE_CLOSE: &str = "\n</param>\n</params>\n</methodResponse>\n";
/// Around an array's items (each followed by a newline).
pub(crate) const ARRAY_OPEN: &str = "<value><array><data>\n";
pub(crate) const ARRAY_CLOSE: &str = "</data></array></value>";
/// Around a string's escaped text.
pub(crate) const STRING_OPEN: &str = "<value><string>";
pub(crate) const STRING_CLOSE: &str = "</string></value>";

/// Appends `s` with the characters XML reserves escaped. `\r` is written as
/// a character reference so that a reader's line-end normalisation keeps it.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Writes one `<value>…</value>`.
pub(crate) fn write_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Int(i) => {
            // Python refuses to *write* ints past 32 bits but reads <i8>.
            let tag = if i32::try_from(*i).is_ok() {
                "int"
            } else {
                "i8"
            };
            out.push_str(&format!("<{tag}>{i}</{tag}>"));
        }
        Value::Bool(b) => {
            out.push_str(if *b {
                "<boolean>1</boolean>"
            } else {
                "<boolean>0</boolean>"
            });
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => out.push_str(&format!("<double>{d:?}</double>")),
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(b) => {
            out.push_str("<base64>");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            // ARRAY_OPEN and ARRAY_CLOSE, inside the <value> already open.
            out.push_str(&ARRAY_OPEN["<value>".len()..]);
            for item in items {
                write_value(out, item);
                out.push('\n');
            }
            out.push_str(&ARRAY_CLOSE[..ARRAY_CLOSE.len() - "</value>".len()]);
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, value) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                write_value(out, value);
                out.push_str("\n</member>\n");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// Serializes a `<methodCall>`.
pub fn write_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from(HEADER);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(&mut out, p);
        out.push_str("\n</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// Serializes a successful `<methodResponse>` carrying `value`.
pub fn write_response(value: &Value) -> String {
    let mut out = String::from(RESPONSE_OPEN);
    write_value(&mut out, value);
    out.push_str(RESPONSE_CLOSE);
    out
}

/// Serializes a fault `<methodResponse>`.
pub fn write_fault(fault: &Fault) -> String {
    let mut out = String::from(HEADER);
    out.push_str("<methodResponse>\n<fault>\n");
    let v = Value::Struct(vec![
        ("faultCode".to_string(), Value::Int(i64::from(fault.code))),
        (
            "faultString".to_string(),
            Value::String(fault.string.clone()),
        ),
    ]);
    write_value(&mut out, &v);
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

/// Serializes a dispatcher's answer: a result or a fault.
pub fn write_result(result: &Result<Value, Fault>) -> String {
    match result {
        Ok(v) => write_response(v),
        Err(f) => write_fault(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::Struct(vec![
            (
                "name".into(),
                Value::String("a<b>&c \u{e9}\u{1F600} \r\n".into()),
            ),
            ("pid".into(), Value::Int(1234)),
            ("big".into(), Value::Int(1 << 40)),
            ("neg".into(), Value::Int(-7)),
            ("ok".into(), Value::Bool(true)),
            ("no".into(), Value::Bool(false)),
            ("ratio".into(), Value::Double(0.25)),
            ("when".into(), Value::DateTime("20261124T06:25:16".into())),
            ("blob".into(), Value::Base64(vec![0, 1, 2, 255])),
            ("empty".into(), Value::String(String::new())),
            ("nothing".into(), Value::Nil),
            (
                "list".into(),
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![]),
                    Value::Struct(vec![]),
                ]),
            ),
            ("k&<>".into(), Value::String("  spaced  ".into())),
        ])
    }

    #[test]
    fn call_round_trip() {
        let params = vec![sample(), Value::String("x".into()), Value::Int(0)];
        let doc = write_call("supervisor.getProcessInfo", &params);
        assert!(doc.starts_with("<?xml version=\"1.0\"?>\n<methodCall>"));
        let (m, p) = parse_call(doc.as_bytes()).unwrap();
        assert_eq!(m, "supervisor.getProcessInfo");
        assert_eq!(p, params);
    }

    #[test]
    fn response_and_fault_round_trip() {
        let doc = write_response(&sample());
        assert_eq!(parse_response(doc.as_bytes()).unwrap(), Ok(sample()));
        let fault = Fault::new(10, "foo");
        let doc = write_fault(&fault);
        assert!(doc.contains("<name>faultCode</name>\n<value><int>10</int></value>"));
        assert_eq!(parse_response(doc.as_bytes()).unwrap(), Err(fault));
    }

    #[test]
    fn reads_python_style_documents() {
        let doc = "<?xml version='1.0'?>\n<methodCall>\n<methodName>system.multicall</methodName>\n\
            <params>\n<param>\n<value><array><data>\n<value><struct>\n<member>\n<name>methodName</name>\n\
            <value><string>supervisor.getState</string></value>\n</member>\n<member>\n<name>params</name>\n\
            <value><array><data>\n</data></array></value>\n</member>\n</struct></value>\n</data></array></value>\n\
            </param>\n</params>\n</methodCall>\n";
        let (m, p) = parse_call(doc.as_bytes()).unwrap();
        assert_eq!(m, "system.multicall");
        let call = &p[0].as_array().unwrap()[0];
        assert_eq!(
            call.get("methodName").unwrap().as_str(),
            Some("supervisor.getState")
        );
        assert_eq!(call.get("params"), Some(&Value::Array(vec![])));
    }

    #[test]
    fn lenient_forms() {
        let doc = b"<methodCall><methodName> m </methodName><params>\
            <param><value>untyped &amp; &#x41;&#66;</value></param>\
            <param><value><i4> 42 </i4></value></param>\
            <param><value><i8>-9000000000</i8></value></param>\
            <param><value><ex:nil xmlns:ex='x'/></value></param>\
            <param><value><string><![CDATA[<raw>]]></string></value></param>\
            <param><value></value></param>\
            <param><value><base64>AAEC\n/w==</base64></value></param>\
            <param><value><double>1e3</double></value></param>\
            </params></methodCall>";
        let (m, p) = parse_call(doc).unwrap();
        assert_eq!(m, "m");
        assert_eq!(
            p,
            vec![
                Value::String("untyped & AB".into()),
                Value::Int(42),
                Value::Int(-9_000_000_000),
                Value::Nil,
                Value::String("<raw>".into()),
                Value::String(String::new()),
                Value::Base64(vec![0, 1, 2, 255]),
                Value::Double(1000.0),
            ]
        );
        // No <params> at all is fine.
        let (_, p) = parse_call(b"<methodCall><methodName>x</methodName></methodCall>").unwrap();
        assert!(p.is_empty());
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let deep = format!(
            "<methodCall><methodName>x</methodName><params><param>{}{}</param></params></methodCall>",
            "<value><array><data>".repeat(10_000),
            "</data></array></value>".repeat(10_000)
        );
        let cases: Vec<&[u8]> = vec![
            b"",
            b"   ",
            b"not xml",
            b"<methodCall>",
            b"<methodCall><methodName>x</methodName>",
            b"<methodCall><methodName>x</methodName></methodCal>",
            b"<methodCall></methodCall>",
            b"<methodCall><methodName></methodName></methodCall>",
            b"<methodResponse/>",
            b"<methodCall><methodName>x</methodName><params><param><value><int>abc</int></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><int>99999999999999999999</int></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><blob/></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><int>1</int><int>2</int></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value><array></array></value></param></params></methodCall>",
            b"<methodCall><methodName>x</methodName><params><param><value>&bogus;</value></param></params></methodCall>",
            b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><methodCall><methodName>&a;</methodName></methodCall>",
            b"<methodCall><methodName>x</methodName></methodCall><extra/>",
            b"\xff\xfe<methodCall/>",
            b"<methodCall><methodName>x</methodName><params><param><value><string>&#0;</string></value></param></params></methodCall>",
            deep.as_bytes(),
        ];
        for c in cases {
            assert!(
                parse_call(c).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(c)
            );
        }
        let bad_responses: Vec<&[u8]> = vec![
            b"<methodResponse></methodResponse>",
            b"<methodResponse><params></params></methodResponse>",
            b"<methodResponse><fault><value><struct></struct></value></fault></methodResponse>",
            b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><i8>99999999999</i8></value></member><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>",
            b"<methodCall><methodName>x</methodName></methodCall>",
        ];
        for c in bad_responses {
            assert!(
                parse_response(c).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn calls_must_be_xml_1_0() {
        let call = |text: &str| {
            format!(
                "<methodCall><methodName>m</methodName><params><param><value><string>{text}</string></value></param></params></methodCall>"
            )
        };
        for bad in [
            "a\u{1}b", "\u{0}", "\u{8}", "\u{b}", "\u{c}", "\u{1f}", "\u{fffe}", "\u{ffff}",
            "&#1;", "&#x1F;", "&#xFFFE;",
        ] {
            let e = parse_call(call(bad).as_bytes()).unwrap_err();
            assert!(e.0.contains("XML 1.0"), "{bad:?}: {e}");
        }
        // Outside a string too: anywhere in the document.
        assert!(parse_call(b"<methodCall><methodName>m\x02</methodName></methodCall>").is_err());
        assert!(parse_call(b"<methodCall>\x01<methodName>m</methodName></methodCall>").is_err());
        // What XML 1.0 allows still reads, raw or as references.
        for good in [
            "\t\n",
            "\u{7f}",
            "\u{d7ff}\u{e000}\u{fffd}\u{10000}",
            "&#9;&#10;&#13;&#x7F;",
        ] {
            assert!(parse_call(call(good).as_bytes()).is_ok(), "{good:?}");
        }
        // A response with control characters (log text) is still read.
        let resp = "<methodResponse><params><param><value><string>\u{1b}[31mred\u{1}</string></value></param></params></methodResponse>";
        assert_eq!(
            parse_response(resp.as_bytes()).unwrap(),
            Ok(Value::String("\u{1b}[31mred\u{1}".into()))
        );
    }

    #[test]
    fn empty_element_forms() {
        let doc =
            b"<?xml version='1.0'?><!-- c --><methodResponse><params><param><value><array><data>\
            <value/><value><struct/></value><value><array><data/></array></value>\
            <value><string/></value><value><nil/></value>\
            </data></array></value></param></params></methodResponse>\n";
        assert_eq!(
            parse_response(doc).unwrap(),
            Ok(Value::Array(vec![
                Value::String(String::new()),
                Value::Struct(vec![]),
                Value::Array(vec![]),
                Value::String(String::new()),
                Value::Nil,
            ]))
        );
        let bad: Vec<&[u8]> = vec![
            b"<methodResponse><params><param><value>1</value></param></params><params/></methodResponse>",
            b"<methodResponse><params><param/></params></methodResponse>",
            b"<methodResponse><params><param><value>1</value><value>2</value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><array/></value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><array><data/><data/></array></value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><struct><member/></struct></value></param></params></methodResponse>",
            b"<methodResponse><params><param><value>x<int>1</int></value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><int>1</int>x</value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><string>a<b/></string></value></param></params></methodResponse>",
            b"x<methodResponse/>",
            b"<methodResponse><params><param><value>1</value></param></params></methodResponse>x",
        ];
        for c in bad {
            assert!(
                parse_response(c).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn escapes_and_keeps_unicode() {
        let doc = write_response(&Value::String("<&>\u{2603}".into()));
        assert!(doc.contains("<string>&lt;&amp;&gt;\u{2603}</string>"));
    }

    #[test]
    fn write_result_picks_the_form() {
        assert!(write_result(&Ok(Value::Bool(true))).contains("<params>"));
        assert!(write_result(&Err(Fault::new(1, ""))).contains("<fault>"));
    }
}
