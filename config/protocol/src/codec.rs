//! The framing of the stream: newline-delimited lines, each bounded.

use crate::BoxError;
use bytes::{Bytes, BytesMut};
use tokio_util::codec::{AnyDelimiterCodec, Decoder};

/// Why no more lines can be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The body failed (the connection broke, the stream was reset).
    #[error("the stream broke: {0}")]
    Body(#[source] BoxError),
    /// A line longer than the limit (in bytes): the stream is broken or hostile.
    #[error("a line longer than {0} bytes")]
    TooLong(usize),
}

impl From<std::io::Error> for LineError {
    fn from(error: std::io::Error) -> Self {
        LineError::Body(error.into())
    }
}

/// Splits bytes into lines without their `\n` (or `\r\n`), skipping blank lines, and refuses
/// a line longer than its limit as soon as the bytes read so far show it. Each byte is scanned
/// once, however the lines are split across chunks. At the end of the stream
/// ([`Decoder::decode_eof`]) a last line without `\n` still counts.
///
/// After an error the stream is of no further use (its readers stop there).
#[derive(Debug, Clone)]
pub struct LineCodec {
    lines: AnyDelimiterCodec,
    max: usize,
}

impl LineCodec {
    /// A codec refusing lines longer than `max` bytes (the `\n` not counted).
    pub fn new(max: usize) -> Self {
        LineCodec {
            lines: AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), max),
            max,
        }
    }

    /// The next line that is not blank; at the end of the stream (`eof`), the rest counts as one.
    fn next_line(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Option<Bytes>, LineError> {
        loop {
            let line = if eof {
                self.lines.decode_eof(buf)
            } else {
                self.lines.decode(buf)
            };
            match line.map_err(|_| LineError::TooLong(self.max))? {
                Some(line) => {
                    if let Some(line) = Self::trimmed(line) {
                        return Ok(Some(line));
                    }
                }
                None => return Ok(None),
            }
        }
    }

    /// `line` without its `\r`, or `None` if it is blank.
    fn trimmed(line: Bytes) -> Option<Bytes> {
        let line = match line.strip_suffix(b"\r") {
            Some(without) => line.slice(..without.len()),
            None => line,
        };
        (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = LineError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        self.next_line(buf, false)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, LineError> {
        self.next_line(buf, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line `codec` finds in `buf` now.
    fn lines(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<String> {
        std::iter::from_fn(|| codec.decode(buf).unwrap())
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"{\"a\":1}\n{\"b\"");
        assert_eq!(lines(&mut codec, &mut buf), ["{\"a\":1}"]);
        buf.extend_from_slice(b":2");
        assert_eq!(lines(&mut codec, &mut buf), Vec::<String>::new());
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(b"}\r\n\n  \n{\"c\":3}\n{");
        assert_eq!(lines(&mut codec, &mut buf), ["{\"b\":2}", "{\"c\":3}"]);
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let text = b"one\ntwo\nthree\n";
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in text {
            buf.extend_from_slice(&[*b]);
            out.extend(lines(&mut codec, &mut buf));
        }
        assert_eq!(out, ["one", "two", "three"]);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"1234\n"[..]);
        assert_eq!(lines(&mut codec, &mut buf), ["1234"]);
        buf.extend_from_slice(b"12345\n");
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong(4))));
        // Without its newline yet: refused as soon as it is too long.
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"123"[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        buf.extend_from_slice(b"45");
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong(4))));
        assert_eq!(
            LineError::TooLong(4).to_string(),
            "a line longer than 4 bytes"
        );
    }

    #[test]
    fn the_last_line_needs_no_newline() {
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::from(&b"one\n\n{\"c\":3}\r"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), "one");
        assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), "{\"c\":3}");
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        let mut blank = BytesMut::from(&b"one\n \r\n  "[..]);
        assert_eq!(codec.decode_eof(&mut blank).unwrap().unwrap(), "one");
        assert!(codec.decode_eof(&mut blank).unwrap().is_none());
    }
}
