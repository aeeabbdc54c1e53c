//! Splitting a byte stream into newline-delimited lines (NDJSON), whatever the frame boundaries,
//! with a bound on the length of a line.

use bytes::{Bytes, BytesMut};

/// The longest line accepted from the control plane (16 MiB): a snapshot is one line.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A line exceeded the limit: the stream is broken or hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message longer than {max} bytes")]
pub struct LineTooLong {
    /// The limit.
    pub max: usize,
}

/// Collects bytes and hands out whole lines, without their `\n` (or `\r\n`); empty lines are
/// skipped. Each byte is scanned once, however the lines are split across chunks.
#[derive(Debug)]
pub struct LineReader {
    buf: BytesMut,
    /// How much of `buf` is known to hold no `\n`.
    scanned: usize,
    max: usize,
}

impl LineReader {
    /// A reader refusing lines longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        LineReader {
            buf: BytesMut::new(),
            scanned: 0,
            max,
        }
    }

    /// Appends a chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole line, `None` until one is complete, or the error once the line being read
    /// is longer than the limit (the reader is then of no further use).
    pub fn next_line(&mut self) -> Result<Option<Bytes>, LineTooLong> {
        loop {
            let Some(at) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(LineTooLong { max: self.max });
                }
                return Ok(None);
            };
            let mut line = self.buf.split_to(self.scanned + at + 1);
            self.scanned = 0;
            line.truncate(line.len() - 1);
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
            if line.len() > self.max {
                return Err(LineTooLong { max: self.max });
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(line.freeze()));
            }
        }
    }

    /// Bytes of an unfinished line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(reader: &mut LineReader) -> Vec<String> {
        std::iter::from_fn(|| reader.next_line().unwrap())
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut reader = LineReader::new(100);
        reader.push(b"{\"a\":1}\n{\"b\"");
        assert_eq!(lines(&mut reader), ["{\"a\":1}"]);
        reader.push(b":2");
        assert_eq!(lines(&mut reader), Vec::<String>::new());
        assert_eq!(reader.pending(), 6);
        reader.push(b"}\r\n\n  \n{\"c\":3}\n{");
        assert_eq!(lines(&mut reader), ["{\"b\":2}", "{\"c\":3}"]);
        assert_eq!(reader.pending(), 1);
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let text = b"one\ntwo\nthree\n";
        let mut reader = LineReader::new(100);
        let mut out = Vec::new();
        for b in text {
            reader.push(&[*b]);
            out.extend(lines(&mut reader));
        }
        assert_eq!(out, ["one", "two", "three"]);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error() {
        let mut reader = LineReader::new(4);
        reader.push(b"1234\n");
        assert_eq!(lines(&mut reader), ["1234"]);
        reader.push(b"12345\n");
        assert_eq!(reader.next_line(), Err(LineTooLong { max: 4 }));
        // Without its newline yet: refused as soon as it is too long.
        let mut reader = LineReader::new(4);
        reader.push(b"123");
        assert_eq!(reader.next_line(), Ok(None));
        reader.push(b"45");
        assert_eq!(reader.next_line(), Err(LineTooLong { max: 4 }));
    }
}
