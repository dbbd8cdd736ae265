//! The XML-RPC codec: `<methodCall>` and `<methodResponse>` documents to and
//! from [`Value`]s.
//!
//! Parsing goes in two steps: quick-xml's event reader builds a small element
//! tree (depth-limited, so hostile nesting cannot exhaust the stack), then the
//! tree is read as XML-RPC. Anything malformed is an [`XmlError`], never a
//! panic. The writer produces what Python's `xmlrpc.client` (the stock
//! supervisorctl) expects: an `<?xml version="1.0"?>` header,
//! `<params><param><value>…` for results and a `faultCode`/`faultString`
//! struct for faults.
//!
//! Like Python, the reader accepts `i4`, `int` and `i8`, namespaced tags
//! (`ex:nil`), and an untyped `<value>text</value>` as a string.

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

/// One element of the parsed tree: its local name (namespace prefix
/// dropped) and its children.
#[derive(Debug)]
struct Elem {
    name: String,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Elem(Elem),
    Text(String),
}

impl Elem {
    fn new(name: String) -> Elem {
        Elem {
            name,
            children: Vec::new(),
        }
    }

    fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(t)) = self.children.last_mut() {
            t.push_str(text);
        } else {
            self.children.push(Node::Text(text.to_string()));
        }
    }

    /// The child elements; text between them is ignored.
    fn elems(&self) -> impl Iterator<Item = &Elem> {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// All text directly inside, or an error if an element is inside.
    fn text(&self) -> Result<String, XmlError> {
        let mut out = String::new();
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Elem(e) => {
                    return err(format!("unexpected <{}> inside <{}>", e.name, self.name));
                }
            }
        }
        Ok(out)
    }

    /// The one child element named `name`.
    fn only(&self, name: &str) -> Result<&Elem, XmlError> {
        let mut found = None;
        for e in self.elems() {
            if e.name != name {
                return err(format!("unexpected <{}> inside <{}>", e.name, self.name));
            }
            if found.is_some() {
                return err(format!("more than one <{name}> inside <{}>", self.name));
            }
            found = Some(e);
        }
        found.ok_or_else(|| XmlError(format!("<{}> has no <{name}>", self.name)))
    }
}

fn local_name(raw: &[u8]) -> Result<String, XmlError> {
    let s = std::str::from_utf8(raw).map_err(|_| XmlError("tag name is not UTF-8".into()))?;
    Ok(match s.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => s.to_string(),
    })
}

/// Reads a whole document into its root element.
fn parse_tree(input: &[u8]) -> Result<Elem, XmlError> {
    let text = std::str::from_utf8(input).map_err(|_| XmlError("document is not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("{e} at byte {}", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return err("content after the document element");
                }
                if stack.len() >= MAX_DEPTH {
                    return err("elements nested too deeply");
                }
                stack.push(Elem::new(local_name(start.name().as_ref())?));
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return err("content after the document element");
                }
                let elem = Elem::new(local_name(start.name().as_ref())?);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Elem(elem)),
                    None => root = Some(elem),
                }
            }
            Event::End(_) => {
                // quick-xml checks that end names match their start.
                let Some(elem) = stack.pop() else {
                    return err("unmatched end tag");
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Elem(elem)),
                    None => root = Some(elem),
                }
            }
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| XmlError(format!("bad text: {e}")))?;
                match stack.last_mut() {
                    Some(parent) => parent.push_text(&s),
                    None if s.trim().is_empty() => {}
                    None => return err("text outside the document element"),
                }
            }
            Event::CData(c) => {
                let raw = c.into_inner();
                let s =
                    std::str::from_utf8(&raw).map_err(|_| XmlError("CDATA is not UTF-8".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.push_text(s),
                    None => return err("CDATA outside the document element"),
                }
            }
            Event::GeneralRef(r) => {
                let resolved: String = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r
                            .decode()
                            .map_err(|e| XmlError(format!("bad entity: {e}")))?;
                        match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(s) => s.to_string(),
                            None => return err(format!("unknown entity &{name};")),
                        }
                    }
                    Err(e) => return err(format!("bad character reference: {e}")),
                };
                match stack.last_mut() {
                    Some(parent) => parent.push_text(&resolved),
                    None => return err("reference outside the document element"),
                }
            }
            Event::DocType(_) => return err("DOCTYPE is not allowed"),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return err(format!("document ends inside <{}>", open.name));
    }
    root.ok_or_else(|| XmlError("empty document".into()))
}

fn parse_int(s: &str, tag: &str) -> Result<Value, XmlError> {
    s.trim()
        .parse::<i64>()
        .map(Value::Int)
        .map_err(|_| XmlError(format!("bad <{tag}> value {s:?}")))
}

/// Reads a `<value>` element.
fn read_value(v: &Elem) -> Result<Value, XmlError> {
    let mut typed = v.elems();
    let Some(t) = typed.next() else {
        // An untyped value is a string, kept exactly (whitespace too).
        return Ok(Value::String(v.text_or_empty()));
    };
    if typed.next().is_some() {
        return err("<value> holds more than one element");
    }
    if v.children
        .iter()
        .any(|n| matches!(n, Node::Text(s) if !s.trim().is_empty()))
    {
        return err("<value> mixes text and a typed element");
    }
    match t.name.as_str() {
        "int" | "i4" | "i8" => parse_int(&t.text()?, &t.name),
        "boolean" => match t.text()?.trim() {
            "1" => Ok(Value::Bool(true)),
            "0" => Ok(Value::Bool(false)),
            other => err(format!("bad <boolean> value {other:?}")),
        },
        "string" => Ok(Value::String(t.text()?)),
        "double" => {
            let s = t.text()?;
            s.trim()
                .parse::<f64>()
                .map(Value::Double)
                .map_err(|_| XmlError(format!("bad <double> value {s:?}")))
        }
        "dateTime.iso8601" => Ok(Value::DateTime(t.text()?.trim().to_string())),
        "base64" => {
            let s: String = t.text()?.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(Value::Base64)
                .map_err(|e| XmlError(format!("bad <base64>: {e}")))
        }
        "nil" => {
            t.text()?;
            Ok(Value::Nil)
        }
        "array" => {
            let data = t.only("data")?;
            let mut items = Vec::new();
            for e in data.elems() {
                if e.name != "value" {
                    return err(format!("unexpected <{}> inside <data>", e.name));
                }
                items.push(read_value(e)?);
            }
            Ok(Value::Array(items))
        }
        "struct" => {
            let mut members = Vec::new();
            for m in t.elems() {
                if m.name != "member" {
                    return err(format!("unexpected <{}> inside <struct>", m.name));
                }
                let mut name = None;
                let mut value = None;
                for e in m.elems() {
                    match e.name.as_str() {
                        "name" if name.is_none() => name = Some(e.text()?),
                        "value" if value.is_none() => value = Some(read_value(e)?),
                        other => {
                            return err(format!("unexpected <{other}> inside <member>"));
                        }
                    }
                }
                match (name, value) {
                    (Some(n), Some(v)) => members.push((n, v)),
                    _ => return err("<member> needs a <name> and a <value>"),
                }
            }
            Ok(Value::Struct(members))
        }
        other => err(format!("unknown value type <{other}>")),
    }
}

impl Elem {
    /// Text of an untyped `<value>` (which has no child elements).
    fn text_or_empty(&self) -> String {
        self.children
            .iter()
            .map(|n| match n {
                Node::Text(t) => t.as_str(),
                Node::Elem(_) => "",
            })
            .collect()
    }
}

/// Reads `<params>`: each `<param>` holds one `<value>`.
fn read_params(params: &Elem) -> Result<Vec<Value>, XmlError> {
    let mut out = Vec::new();
    for p in params.elems() {
        if p.name != "param" {
            return err(format!("unexpected <{}> inside <params>", p.name));
        }
        out.push(read_value(p.only("value")?)?);
    }
    Ok(out)
}

/// Parses a `<methodCall>` into its method name and parameters.
/// A missing `<params>` means no parameters.
pub fn parse_call(input: &[u8]) -> Result<(String, Vec<Value>), XmlError> {
    let root = parse_tree(input)?;
    if root.name != "methodCall" {
        return err(format!("expected <methodCall>, found <{}>", root.name));
    }
    let mut method = None;
    let mut params = Vec::new();
    for e in root.elems() {
        match e.name.as_str() {
            "methodName" if method.is_none() => method = Some(e.text()?.trim().to_string()),
            "params" => params = read_params(e)?,
            other => return err(format!("unexpected <{other}> inside <methodCall>")),
        }
    }
    match method {
        Some(m) if !m.is_empty() => Ok((m, params)),
        _ => err("no method name"),
    }
}

/// Parses a `<methodResponse>`: `Ok(Ok(value))` for a result,
/// `Ok(Err(fault))` for a fault.
pub fn parse_response(input: &[u8]) -> Result<Result<Value, Fault>, XmlError> {
    let root = parse_tree(input)?;
    if root.name != "methodResponse" {
        return err(format!("expected <methodResponse>, found <{}>", root.name));
    }
    let mut body = root.elems();
    let Some(first) = body.next() else {
        return err("empty <methodResponse>");
    };
    if body.next().is_some() {
        return err("<methodResponse> holds more than one element");
    }
    match first.name.as_str() {
        "params" => {
            let mut values = read_params(first)?;
            if values.len() != 1 {
                return err(format!("response has {} values, expected 1", values.len()));
            }
            Ok(Ok(values.remove(0)))
        }
        "fault" => {
            let v = read_value(first.only("value")?)?;
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
            Ok(Err(Fault { code, string }))
        }
        other => err(format!("unexpected <{other}> inside <methodResponse>")),
    }
}

// ---------------------------------------------------------------- writing

const HEADER: &str = "<?xml version=\"1.0\"?>\n";

/// Appends `s` with the characters XML reserves escaped. `\r` is written as
/// a character reference so that a reader's line-end normalisation keeps it.
fn escape_into(out: &mut String, s: &str) {
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
fn write_value(out: &mut String, v: &Value) {
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
            out.push_str("<array><data>\n");
            for item in items {
                write_value(out, item);
                out.push('\n');
            }
            out.push_str("</data></array>");
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
    let mut out = String::from(HEADER);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
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
