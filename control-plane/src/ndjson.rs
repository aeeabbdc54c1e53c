//! Reading a body as newline-delimited JSON: one line at a time, each bounded.

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

/// The longest line a sidecar may send (a NACK reason is the longest message).
pub const MAX_LINE: usize = 64 * 1024;

/// Why no more lines can be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The body failed (the connection broke, the stream was reset).
    #[error("the stream broke: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A line longer than the limit.
    #[error("a line longer than {0} bytes")]
    TooLong(usize),
}

/// Splits a body into lines. Cancel-safe: a `next_line` future dropped before it finished
/// loses nothing.
#[derive(Debug)]
pub struct LineReader<B> {
    body: B,
    buffer: BytesMut,
    max: usize,
    ended: bool,
}

impl<B> LineReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Reads lines of at most `max` bytes from `body`.
    pub fn new(body: B, max: usize) -> Self {
        LineReader {
            body,
            buffer: BytesMut::new(),
            max,
            ended: false,
        }
    }

    /// The next line without its `\n` (blank lines are skipped); `None` once the body ended.
    /// A last line without `\n` still counts.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, LineError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line = self.buffer.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(line.freeze()));
            }
            if self.buffer.len() > self.max {
                return Err(LineError::TooLong(self.max));
            }
            if self.ended {
                if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                return Ok(Some(self.buffer.split().freeze()));
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(Err(error)) => return Err(LineError::Body(error.into())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    fn body(chunks: &[&'static str]) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = chunks
            .iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn lines_across_chunks() {
        let mut reader =
            LineReader::new(body(&["{\"a\":", "1}\n\n{\"b\"", ":2}\r\n{\"c\":3}"]), 100);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"a\":1}");
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"b\":2}");
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"c\":3}");
        assert!(reader.next_line().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let mut reader = LineReader::new(body(&["0123456789", "0123456789"]), 15);
        assert!(matches!(
            reader.next_line().await,
            Err(LineError::TooLong(15))
        ));
    }
}
