//! The stream's two bodies: lines read from an HTTP body, lines written through a channel.

use crate::codec::{LineCodec, LineError};
use crate::BoxError;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

/// Reads the lines of a body with a [`LineCodec`] (the control plane its request bodies, test
/// clients their response bodies). Cancel-safe: a [`BodyLines::next_line`] future dropped
/// before it finished loses nothing.
#[derive(Debug)]
pub struct BodyLines<B> {
    body: B,
    buffer: BytesMut,
    codec: LineCodec,
    ended: bool,
}

impl<B> BodyLines<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Reads lines of at most `max` bytes from `body`.
    pub fn new(body: B, max: usize) -> Self {
        BodyLines {
            body,
            buffer: BytesMut::new(),
            codec: LineCodec::new(max),
            ended: false,
        }
    }

    /// The next line without its `\n` (blank lines are skipped); `None` once the body ended.
    /// A last line without `\n` still counts.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, LineError> {
        loop {
            if self.ended {
                return self.codec.decode_eof(&mut self.buffer);
            }
            if let Some(line) = self.codec.decode(&mut self.buffer)? {
                return Ok(Some(line));
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

/// A streaming body fed by a channel, one queued chunk (a line, `\n` included) a frame; it
/// ends when every sender is dropped.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body sending what arrives on `rx`.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelBody { rx }
    }
}

/// A body and the sender that writes to it, holding up to `capacity` unsent chunks.
pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody::new(rx))
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|line| line.map(|line| Ok(Frame::data(line))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    fn body(chunks: &[&'static str]) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn lines_across_chunks() {
        let mut reader =
            BodyLines::new(body(&["{\"a\":", "1}\n\n{\"b\"", ":2}\r\n{\"c\":3}"]), 100);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"a\":1}");
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"b\":2}");
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "{\"c\":3}");
        assert!(reader.next_line().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn byte_by_byte() {
        let text = "one\ntwo\n";
        let chunks: Vec<&'static str> = (0..text.len()).map(|i| &text[i..=i]).collect();
        let mut reader = BodyLines::new(body(&chunks), 100);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "one");
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "two");
        assert!(reader.next_line().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let mut reader = BodyLines::new(body(&["0123456789", "0123456789"]), 15);
        assert!(matches!(
            reader.next_line().await,
            Err(LineError::TooLong(15))
        ));
    }

    #[tokio::test]
    async fn a_broken_body_is_an_error() {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"one\ntw"))),
            Err(std::io::Error::other("reset")),
        ];
        let mut reader = BodyLines::new(StreamBody::new(futures_util::stream::iter(frames)), 100);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), "one");
        let error = reader.next_line().await.unwrap_err();
        assert_eq!(error.to_string(), "the stream broke: reset");
    }

    #[tokio::test]
    async fn frames_follow_the_channel_and_end_with_it() {
        let (tx, mut body) = channel(2);
        tx.send(Bytes::from_static(b"a\n")).await.unwrap();
        tx.send(Bytes::from_static(b"b\n")).await.unwrap();
        drop(tx);
        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            got.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(got, ["a\n", "b\n"]);
    }

    #[tokio::test]
    async fn the_channel_body_ends_with_its_senders() {
        let (tx, rx) = mpsc::channel(2);
        tx.send(Bytes::from_static(b"a\n")).await.unwrap();
        drop(tx);
        let collected = ChannelBody::new(rx).collect().await.unwrap().to_bytes();
        assert_eq!(collected, "a\n");
    }
}
