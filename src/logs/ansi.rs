//! `strip_ansi=true`: terminal escape codes removed from captured output, as
//! supervisord's `stripEscapes` removes them: from `ESC [` up to and
//! including the first of `HfABCDRsuJKhlpm`. Any other byte is kept, a lone
//! ESC too.
//!
//! Unlike supervisord, which strips each read on its own, the state carries
//! over from one read to the next, so a sequence split between two reads is
//! still removed. Hand-written rather than a crate such as
//! `strip-ansi-escapes` (vte): that one removes every kind of control
//! sequence and some control characters, more than supervisord does; and
//! this works in place in the pump's buffer, with no copy.

/// What ends an escape sequence (the byte is removed with it).
const TERMINATORS: &[u8] = b"HfABCDRsuJKhlpm";
const ESC: u8 = 0x1b;

/// Where the stream is, between reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// The last read ended with an ESC: kept back until the next byte says
    /// whether a sequence begins.
    Escape,
    /// Inside `ESC [ ...`, dropping bytes until a terminator.
    Sequence,
}

/// The stripping state of one stream.
#[derive(Debug, Default)]
pub struct AnsiStripper {
    state: State,
}

/// What one read leaves to write.
#[derive(Debug, PartialEq, Eq)]
pub struct Stripped {
    /// An ESC kept back from the previous read turned out to be plain text:
    /// write it before the bytes.
    pub held_escape: bool,
    /// How many bytes at the start of the buffer to write.
    pub len: usize,
}

impl AnsiStripper {
    /// Remove the escape sequences of `buf` in place.
    pub fn strip(&mut self, buf: &mut [u8]) -> Stripped {
        let mut held_escape = false;
        let mut read = 0;
        if self.state == State::Escape && !buf.is_empty() {
            if buf[0] == b'[' {
                self.state = State::Sequence;
                read = 1;
            } else {
                self.state = State::Text;
                held_escape = true;
            }
        }
        let mut write = 0;
        while read < buf.len() {
            if self.state == State::Sequence {
                match buf[read..].iter().position(|b| TERMINATORS.contains(b)) {
                    Some(i) => {
                        read += i + 1;
                        self.state = State::Text;
                    }
                    None => read = buf.len(),
                }
                continue;
            }
            let text_end = memchr::memchr(ESC, &buf[read..]).map_or(buf.len(), |i| read + i);
            buf.copy_within(read..text_end, write);
            write += text_end - read;
            read = text_end;
            if read == buf.len() {
                break;
            }
            // At an ESC.
            match buf.get(read + 1) {
                Some(b'[') => {
                    self.state = State::Sequence;
                    read += 2;
                }
                Some(_) => {
                    buf[write] = ESC;
                    write += 1;
                    read += 1;
                }
                None => {
                    self.state = State::Escape;
                    read += 1;
                }
            }
        }
        Stripped {
            held_escape,
            len: write,
        }
    }

    /// At the end of the stream: an ESC still kept back, to be written.
    pub fn finish(&mut self) -> bool {
        std::mem::take(&mut self.state) == State::Escape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strip `chunks` in turn as one stream; everything written.
    fn strip_all(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = AnsiStripper::default();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut buf = chunk.to_vec();
            let r = s.strip(&mut buf);
            if r.held_escape {
                out.push(ESC);
            }
            out.extend_from_slice(&buf[..r.len]);
        }
        if s.finish() {
            out.push(ESC);
        }
        out
    }

    #[test]
    fn strips_as_supervisord() {
        // supervisord 4.3: stripEscapes(b"\x1b[31mred\x1b[0m plain\x1b[2J")
        // == b"red plain"; an ESC without '[' stays; a sequence never
        // ended drops the rest.
        assert_eq!(
            strip_all(&[b"\x1b[31mred\x1b[0m plain\x1b[2J"]),
            b"red plain"
        );
        assert_eq!(strip_all(&[b"a\x1bb\x1b"]), b"a\x1bb\x1b");
        assert_eq!(strip_all(&[b"x\x1b[1;2;3"]), b"x");
        assert_eq!(strip_all(&[b"no escapes\n"]), b"no escapes\n");
        assert_eq!(strip_all(&[b""]), b"");
        // The sequence ends at the first terminator, whatever it is.
        assert_eq!(strip_all(&[b"\x1b[?25hshown"]), b"shown");
    }

    #[test]
    fn sequences_split_between_reads_are_still_removed() {
        let whole: &[u8] = b"a\x1b[31mb\x1bc\x1b[0md";
        let expected = strip_all(&[whole]);
        assert_eq!(expected, b"ab\x1bcd");
        for cut in 0..=whole.len() {
            let (x, y) = whole.split_at(cut);
            assert_eq!(strip_all(&[x, y]), expected, "cut at {cut}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(strip_all(&bytes), expected);
        assert_eq!(strip_all(&[b"tail\x1b"]), b"tail\x1b");
    }
}
