//! An XML-RPC answer written as it is made, so that no answer is ever held
//! in memory whole: a log read's text is read from its file in pieces and
//! escaped piece by piece, and `system.multicall` writes each result before
//! it runs the next call. The pieces go to the response body through a small
//! channel, so the daemon reads no faster than the client takes the answer.
//! An answer shorter than one piece is sent whole (with a Content-Length),
//! a longer one chunked.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::value::{Fault, Value};
use super::xml;
use crate::logs::Span;

/// Bytes of an answer gathered before they are sent; also how much of a log
/// file is read at a time.
const PIECE: usize = 256 * 1024;
/// Pieces waiting to be sent at most (per answer).
const QUEUED: usize = 4;

/// What a method answers: a value, or text still in a log file.
#[derive(Debug)]
pub enum Reply {
    Value(Value),
    /// A string: the bytes of a part of a file, as UTF-8 (invalid bytes
    /// replaced, as supervisord decodes them).
    Text(Span),
    Array(Vec<Reply>),
}

impl From<Value> for Reply {
    fn from(v: Value) -> Reply {
        Reply::Value(v)
    }
}

impl Reply {
    /// The whole value, files read into memory (for callers that want a
    /// [`Value`], not an answer on the wire).
    pub async fn into_value(self) -> Result<Value, Fault> {
        match self {
            Reply::Value(v) => Ok(v),
            Reply::Text(span) => {
                let bytes = tokio::task::spawn_blocking(move || span.read_all())
                    .await
                    .map_err(|e| Fault::new(super::faults::FAILED, e.to_string()))?
                    .map_err(|e| Fault::new(super::faults::FAILED, e.to_string()))?;
                Ok(Value::String(match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                }))
            }
            Reply::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(Box::pin(item.into_value()).await?);
                }
                Ok(Value::Array(out))
            }
        }
    }
}

/// How the response starts: the whole answer, or the pieces to come.
#[derive(Debug)]
pub enum Start {
    Whole(Bytes),
    Pieces(mpsc::Receiver<Bytes>),
}

/// Where an answer is written; see the module comment.
pub struct AnswerWriter {
    buf: Vec<u8>,
    /// Until the first piece goes (or the whole answer).
    start: Option<oneshot::Sender<Start>>,
    /// Once pieces go.
    pieces: Option<mpsc::Sender<Bytes>>,
    /// The client went away: nothing more is read or written.
    gone: bool,
}

impl AnswerWriter {
    /// A writer, and where the server learns how the response starts.
    pub fn new() -> (AnswerWriter, oneshot::Receiver<Start>) {
        let (tx, rx) = oneshot::channel();
        (
            AnswerWriter {
                buf: Vec::new(),
                start: Some(tx),
                pieces: None,
                gone: false,
            },
            rx,
        )
    }

    /// Whether the client went away (the rest of the answer is not wanted).
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    pub async fn write(&mut self, s: &str) {
        if self.gone {
            return;
        }
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= PIECE {
            self.send_piece().await;
        }
    }

    async fn send_piece(&mut self) {
        let piece = Bytes::from(std::mem::take(&mut self.buf));
        if self.pieces.is_none() {
            let (tx, rx) = mpsc::channel(QUEUED);
            if let Some(start) = self.start.take()
                && start.send(Start::Pieces(rx)).is_err()
            {
                self.gone = true;
                return;
            }
            self.pieces = Some(tx);
        }
        if let Some(tx) = &self.pieces
            && tx.send(piece).await.is_err()
        {
            self.gone = true;
        }
    }

    /// The answer is complete.
    pub async fn finish(mut self) {
        match self.start.take() {
            Some(start) => {
                let _ = start.send(Start::Whole(Bytes::from(std::mem::take(&mut self.buf))));
            }
            None if !self.buf.is_empty() => self.send_piece().await,
            None => {}
        }
    }

    /// A whole response for `result`: the reply, or the fault.
    pub async fn result(&mut self, result: Result<Reply, Fault>) {
        match result {
            Ok(reply) => {
                self.write(xml::RESPONSE_OPEN).await;
                self.reply(reply).await;
                self.write(xml::RESPONSE_CLOSE).await;
            }
            Err(f) => self.write(&xml::write_fault(&f)).await,
        }
    }

    /// One `<value>`.
    pub async fn reply(&mut self, reply: Reply) {
        match reply {
            Reply::Value(v) => {
                let mut s = String::new();
                xml::write_value(&mut s, &v);
                self.write(&s).await;
            }
            Reply::Text(span) => self.text(span).await,
            Reply::Array(items) => {
                self.write(xml::ARRAY_OPEN).await;
                for item in items {
                    Box::pin(self.reply(item)).await;
                    self.write("\n").await;
                }
                self.write(xml::ARRAY_CLOSE).await;
            }
        }
    }

    /// A string read from `span` a piece at a time.
    async fn text(&mut self, span: Span) {
        self.write(xml::STRING_OPEN).await;
        let span = std::sync::Arc::new(span);
        let mut decoder = Utf8Lossy::default();
        let mut at = 0u64;
        let mut text = String::new();
        while !self.gone {
            let reading = span.clone();
            let read = tokio::task::spawn_blocking(move || reading.read_at(at, PIECE)).await;
            let chunk = match read {
                Ok(Ok(chunk)) if !chunk.is_empty() => chunk,
                Ok(Err(e)) => {
                    // The answer is under way: it can only end early.
                    tracing::warn!("a log read stopped at byte {at}: {e}");
                    break;
                }
                _ => break,
            };
            at += chunk.len() as u64;
            text.clear();
            decoder.push(&chunk, &mut text);
            let mut escaped = String::with_capacity(text.len() + text.len() / 8);
            xml::escape_into(&mut escaped, &text);
            self.write(&escaped).await;
        }
        text.clear();
        decoder.finish(&mut text);
        self.write(&text).await;
        self.write(xml::STRING_CLOSE).await;
    }
}

/// Bytes to text as `String::from_utf8_lossy` decodes them, a piece at a
/// time: a sequence cut by the end of a piece waits for the next one.
#[derive(Default)]
pub struct Utf8Lossy {
    carry: Vec<u8>,
}

impl Utf8Lossy {
    pub fn push(&mut self, bytes: &[u8], out: &mut String) {
        let joined;
        let mut rest: &[u8] = if self.carry.is_empty() {
            bytes
        } else {
            let mut j = std::mem::take(&mut self.carry);
            j.extend_from_slice(bytes);
            joined = j;
            &joined
        };
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        None => {
                            // Cut short by the end of this piece.
                            self.carry = after.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The end of the text: a sequence left unfinished is one U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if !self.carry.is_empty() {
            self.carry.clear();
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_decode_as_the_whole_does() {
        let mut samples: Vec<Vec<u8>> = vec![
            "plain ascii".into(),
            "é€😀 mixed".into(),
            vec![
                0xff, b'a', 0xc3, 0xa9, 0xe2, 0x82, 0xe2, 0x82, 0xac, 0xf0, 0x9f,
            ],
            vec![0xed, 0xa0, 0x80, b'x', 0xc0, 0xaf, 0xf4, 0x90, 0x80, 0x80],
        ];
        // Pseudo-random bytes, half of them ASCII.
        let mut x: u32 = 12345;
        samples.push(
            (0..5000)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let b = (x >> 16) as u8;
                    if b & 1 == 0 { b >> 1 } else { b | 0x80 }
                })
                .collect(),
        );
        for sample in &samples {
            let want = String::from_utf8_lossy(sample).into_owned();
            for piece in [1, 2, 3, 5, 7, 64, 4096] {
                let mut d = Utf8Lossy::default();
                let mut got = String::new();
                for chunk in sample.chunks(piece) {
                    d.push(chunk, &mut got);
                }
                d.finish(&mut got);
                assert_eq!(got, want, "pieces of {piece}");
            }
        }
    }

    async fn written(results: Vec<Result<Reply, Fault>>) -> (Vec<u8>, bool) {
        let (mut w, start) = AnswerWriter::new();
        let writing = tokio::spawn(async move {
            for r in results {
                w.result(r).await;
            }
            w.finish().await;
        });
        let mut out = Vec::new();
        let pieces = match start.await.unwrap() {
            Start::Whole(b) => {
                out.extend_from_slice(&b);
                false
            }
            Start::Pieces(mut rx) => {
                while let Some(b) = rx.recv().await {
                    out.extend_from_slice(&b);
                }
                true
            }
        };
        writing.await.unwrap();
        (out, pieces)
    }

    #[tokio::test]
    async fn a_streamed_text_is_what_the_whole_value_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        // Long enough for several pieces; reserved characters and invalid
        // bytes on piece boundaries.
        let mut data = Vec::new();
        while data.len() < 3 * PIECE {
            data.extend_from_slice(b"<a & b>\r\n\xc3");
            data.extend_from_slice("é€".as_bytes());
            data.push(0xff);
        }
        std::fs::write(&path, &data).unwrap();
        let span = || crate::logs::read_span(Some(&path), 0, 0).unwrap();
        let value = Reply::Text(span()).into_value().await.unwrap();
        let tail = Reply::Array(vec![
            Reply::Text(span()),
            Reply::Value(Value::Int(7)),
            Reply::Value(Value::Bool(true)),
        ]);
        let (streamed, pieces) = written(vec![Ok(tail)]).await;
        assert!(pieces);
        let want = xml::write_response(&Value::Array(vec![
            value.clone(),
            Value::Int(7),
            Value::Bool(true),
        ]));
        assert_eq!(String::from_utf8(streamed).unwrap(), want);
        // Small answers go whole; faults too.
        let (whole, pieces) = written(vec![Ok(Reply::Value(Value::Int(1)))]).await;
        assert!(!pieces);
        assert_eq!(whole, xml::write_response(&Value::Int(1)).into_bytes());
        let fault = Fault::new(3, "BAD_ARGUMENTS");
        let (whole, _) = written(vec![Err(fault.clone())]).await;
        assert_eq!(whole, xml::write_fault(&fault).into_bytes());
    }
}
