//! A request body that can be sent again: what the first attempt reads is kept (up to a cap)
//! and replayed to the next attempt, which then goes on reading the original.

use bytes::Bytes;
use convoy_proxy_core::{Body, BoxError};
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

#[derive(Debug)]
struct Shared {
    /// The client's body, for whichever attempt reads next.
    original: Option<Body>,
    /// Data read so far, while it fits under the cap.
    buffered: Vec<Bytes>,
    buffered_len: usize,
    trailers: Option<HeaderMap>,
    /// The original has ended.
    done: bool,
    /// More than the cap was read: the body can no longer be replayed.
    over_cap: bool,
    /// The attempt allowed to read; older attempts' bodies fail instead.
    generation: u64,
}

/// The body shared by every attempt of one request.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    shared: Arc<Mutex<Shared>>,
    cap: usize,
    size_hint: SizeHint,
}

impl Replay {
    /// Keeps up to `cap` bytes of `body` for replay. A body known to be larger is never kept.
    pub(crate) fn new(body: Body, cap: usize) -> Self {
        let size_hint = http_body::Body::size_hint(&body);
        let over_cap = size_hint.lower() > cap as u64;
        let done = http_body::Body::is_end_stream(&body);
        Replay {
            shared: Arc::new(Mutex::new(Shared {
                original: Some(body),
                buffered: Vec::new(),
                buffered_len: 0,
                trailers: None,
                done,
                over_cap,
                generation: 0,
            })),
            cap,
            size_hint,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether another attempt can be sent with the whole body.
    pub(crate) fn is_replayable(&self) -> bool {
        !self.lock().over_cap
    }

    /// The body for the next attempt; earlier attempts' bodies stop.
    pub(crate) fn next_attempt(&self) -> Body {
        let generation = {
            let mut shared = self.lock();
            shared.generation += 1;
            shared.generation
        };
        http_body_util::BodyExt::boxed_unsync(AttemptBody {
            replay: self.clone(),
            generation,
            position: 0,
            trailers_sent: false,
        })
    }
}

struct AttemptBody {
    replay: Replay,
    generation: u64,
    /// How many buffered chunks this attempt has sent.
    position: usize,
    trailers_sent: bool,
}

/// An older attempt's body was read after a newer attempt began.
#[derive(Debug, thiserror::Error)]
#[error("request body superseded by a retry")]
struct Superseded;

impl http_body::Body for AttemptBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let replay = this.replay.clone();
        let mut shared = replay.lock();
        if shared.generation != this.generation {
            // Fail rather than end: an abandoned attempt must not look complete upstream.
            return Poll::Ready(Some(Err(Box::new(Superseded))));
        }
        if this.position < shared.buffered.len() {
            let chunk = shared.buffered[this.position].clone();
            this.position += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if shared.done {
            if !this.trailers_sent {
                this.trailers_sent = true;
                if let Some(trailers) = shared.trailers.clone() {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
            return Poll::Ready(None);
        }
        let Some(original) = shared.original.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(original).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                shared.done = true;
                shared.original = None;
                this.trailers_sent = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        if !shared.over_cap {
                            if shared.buffered_len + data.len() <= this.replay.cap {
                                shared.buffered_len += data.len();
                                shared.buffered.push(data.clone());
                                this.position += 1;
                            } else {
                                shared.over_cap = true;
                                shared.buffered = Vec::new();
                            }
                        }
                        Frame::data(data)
                    }
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            shared.trailers = Some(trailers.clone());
                            this.trailers_sent = true;
                        }
                        frame
                    }
                };
                if http_body::Body::is_end_stream(shared.original.as_ref().expect("polled above")) {
                    shared.done = true;
                    shared.original = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.replay.lock();
        shared.done
            && self.position >= shared.buffered.len()
            && (self.trailers_sent || shared.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        self.replay.size_hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_proxy_core::body;
    use http_body_util::BodyExt;

    async fn collect(body: Body) -> Result<Bytes, BoxError> {
        Ok(body.collect().await?.to_bytes())
    }

    fn chunked(chunks: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        BodyExt::boxed_unsync(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn a_small_body_is_sent_whole_to_every_attempt() {
        let replay = Replay::new(chunked(&["hel", "lo"]), 1024);
        assert_eq!(collect(replay.next_attempt()).await.unwrap(), "hello");
        assert!(replay.is_replayable());
        assert_eq!(collect(replay.next_attempt()).await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_retry_continues_where_the_first_attempt_stopped_reading() {
        let replay = Replay::new(chunked(&["a", "b", "c"]), 1024);
        let mut first = replay.next_attempt();
        let frame = first.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "a");
        let second = replay.next_attempt();
        assert!(
            first.frame().await.unwrap().is_err(),
            "the superseded attempt fails"
        );
        assert_eq!(collect(second).await.unwrap(), "abc");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_not_replayable_but_still_streams() {
        let replay = Replay::new(chunked(&["0123456789", "0123456789"]), 15);
        assert_eq!(collect(replay.next_attempt()).await.unwrap().len(), 20);
        assert!(!replay.is_replayable());
        let known_large = Replay::new(body::full(vec![0u8; 100]), 15);
        assert!(
            !known_large.is_replayable(),
            "a body known to be larger is never kept"
        );
    }

    #[tokio::test]
    async fn the_size_hint_survives_for_content_length() {
        let replay = Replay::new(body::full("hello"), 1024);
        let attempt = replay.next_attempt();
        assert_eq!(http_body::Body::size_hint(&attempt).exact(), Some(5));
    }
}
