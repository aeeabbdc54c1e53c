//! The stream to the control plane: connect (TLS, HTTP/2), say hello, apply snapshots and answer them,
//! ping; when the stream breaks, keep the snapshot in force and reconnect with backoff.

use super::apply::Applier;
use super::tls::{ConnectError, ControlTls};
use super::token::{JoinToken, TokenError};
use super::{Backoff, ControlMetrics};
use crate::ControlPlaneUrl;
use bytes::{Bytes, BytesMut};
use convoy_protocol::{
    BoxError, ChannelBody, ControlMessage, Hello, LineCodec, LineError, MessageError,
    SidecarMessage, MAX_CONTROL_PLANE_LINE, NDJSON, STREAM_PATH,
};
use http::{header, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rand::Rng;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;
use tokio_util::codec::Decoder;

/// How often the sidecar pings (the control plane counts a sidecar silent for 15 s as gone).
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(5);
/// A stream on which nothing arrives for this long (not even the pongs to three pings) is
/// taken as dead and reconnected.
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(15);
/// How long connecting (TCP, TLS and the HTTP/2 preface) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines waiting to be sent; a control plane that leaves this many unread is not reading.
const OUTGOING_CAPACITY: usize = 64;
/// The longest NACK reason sent (the control plane reads lines of at most
/// [`convoy_protocol::MAX_SIDECAR_LINE`], 64 KiB).
pub(crate) const MAX_REASON_BYTES: usize = 8 * 1024;

/// Why a stream ended (it always ends with one: the client then reconnects).
#[derive(Debug, thiserror::Error)]
pub(super) enum StreamError {
    /// No TLS connection.
    #[error("{0}")]
    Connect(#[source] ConnectError),
    /// The join token could not be read.
    #[error("{0}")]
    Token(#[source] TokenError),
    /// Connecting took too long.
    #[error("connecting timed out after {}s", .0.as_secs())]
    ConnectTimeout(Duration),
    /// The HTTP/2 connection could not be set up.
    #[error("HTTP/2 handshake failed: {0}")]
    Handshake(#[source] hyper::Error),
    /// The stream's request failed before a response.
    #[error("the stream request failed: {0}")]
    Request(#[source] hyper::Error),
    /// The control plane answered with an error.
    #[error("the control plane refused the stream: {status}: {reason}")]
    Refused {
        /// Its status.
        status: StatusCode,
        /// Its `x-convoy-error` or the start of its body.
        reason: String,
    },
    /// The HTTP/2 connection failed.
    #[error("the connection failed: {0}")]
    Connection(#[source] hyper::Error),
    /// Reading the response body failed.
    #[error("reading the stream failed: {0}")]
    Body(#[source] BoxError),
    /// The control plane ended the response (or the connection) cleanly.
    #[error("the control plane ended the stream")]
    Ended,
    /// A message over the size limit (in bytes).
    #[error("a message longer than {0} bytes")]
    TooLong(usize),
    /// A line that is not a message.
    #[error("bad message from the control plane: {0}")]
    Message(#[from] MessageError),
    /// Nothing arrived for [`SILENCE_LIMIT`].
    #[error("nothing received for {}s", .0.as_secs())]
    Silent(Duration),
    /// The request body was dropped: the stream was reset.
    #[error("the stream's request side closed")]
    Closed,
    /// The control plane does not read what the sidecar sends.
    #[error("the control plane is not reading the stream")]
    Stalled,
}

/// The client: one stream at a time, forever.
#[derive(Debug)]
pub(super) struct Client {
    url: ControlPlaneUrl,
    tls: ControlTls,
    token: JoinToken,
    hello: Hello,
    applier: Applier,
    metrics: ControlMetrics,
    backoff: Backoff,
    connected: bool,
}

impl Client {
    /// A client saying `hello` to `control` and applying with `applier`.
    pub(super) fn new(
        control: &super::ControlPlane,
        hello: &Hello,
        applier: Applier,
        metrics: ControlMetrics,
    ) -> Self {
        Client {
            url: control.url.clone(),
            tls: control.tls.clone(),
            token: control.token.clone(),
            hello: hello.clone(),
            applier,
            metrics,
            backoff: Backoff::default(),
            connected: false,
        }
    }

    /// Streams, and reconnects after [`Backoff`] whenever the stream ends; never returns.
    pub(super) async fn run(mut self) {
        loop {
            tracing::debug!(url = %self.url, "connecting to the control plane");
            let error = self.session().await;
            self.metrics.connected.set(0);
            let wait = self.backoff.next_delay();
            if std::mem::take(&mut self.connected) {
                tracing::warn!(url = %self.url, %error, retry_in = ?wait, "disconnected from the control plane; serving the snapshot in force");
            } else {
                tracing::warn!(url = %self.url, %error, retry_in = ?wait, "cannot reach the control plane");
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One connection: set up, then the stream until it ends.
    async fn session(&mut self) -> StreamError {
        let connecting = async {
            let tls = self
                .tls
                .connect(&self.url, convoy_identity::ALPN_H2)
                .await
                .map_err(StreamError::Connect)?;
            http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake::<_, ChannelBody>(TokioIo::new(tls))
                .await
                .map_err(StreamError::Handshake)
        };
        let (mut sender, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await
        {
            Ok(Ok(connected)) => connected,
            Ok(Err(error)) => return error,
            Err(_) => return StreamError::ConnectTimeout(CONNECT_TIMEOUT),
        };
        // The connection is driven here, not spawned: when the stream ends, it closes.
        tokio::pin!(connection);
        tokio::select! {
            result = &mut connection => match result {
                Ok(()) => StreamError::Ended,
                Err(error) => StreamError::Connection(error),
            },
            result = self.stream(&mut sender) => match result {
                Err(error) => error,
                Ok(never) => match never {},
            },
        }
    }

    /// The stream: hello, then snapshots answered with ACK or NACK, and pings.
    async fn stream(
        &mut self,
        sender: &mut SendRequest<ChannelBody>,
    ) -> Result<Infallible, StreamError> {
        let authorization = self.token.header().map_err(StreamError::Token)?;
        let (tx, body) = convoy_protocol::channel(OUTGOING_CAPACITY);
        let hello = Hello {
            serving: self.applier.serving(),
            ..self.hello.clone()
        };
        send(&tx, SidecarMessage::Hello(hello).to_line())?;
        let request = http::Request::post(self.url.endpoint(STREAM_PATH))
            .header(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))
            .header(header::AUTHORIZATION, authorization)
            .body(body)
            .expect("a valid request");
        let response = sender
            .send_request(request)
            .await
            .map_err(StreamError::Request)?;
        if response.status() != StatusCode::OK {
            return Err(refused(response).await);
        }
        self.connected = true;
        self.metrics.connected.set(1);
        tracing::info!(url = %self.url, "connected to the control plane");
        let mut body = response.into_body();
        // The codec is driven frame by frame (not `convoy_protocol::BodyLines`): any frame, even
        // part of a long snapshot line, is a sign of life that resets `silence`.
        let mut lines = LineCodec::new(MAX_CONTROL_PLANE_LINE);
        let mut buffer = BytesMut::new();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let silence = tokio::time::sleep(SILENCE_LIMIT);
        tokio::pin!(silence);
        loop {
            tokio::select! {
                frame = body.frame() => {
                    let frame = frame
                        .ok_or(StreamError::Ended)?
                        .map_err(|e| StreamError::Body(e.into()))?;
                    silence.as_mut().reset(Instant::now() + SILENCE_LIMIT);
                    let Ok(data) = frame.into_data() else { continue };
                    buffer.extend_from_slice(&data);
                    while let Some(line) = lines.decode(&mut buffer)? {
                        // The control plane speaks: the next outage starts from a short wait.
                        self.backoff.reset();
                        self.handle(&line, &tx).await?;
                    }
                }
                _ = ping.tick() => send(&tx, SidecarMessage::Ping.to_line())?,
                () = &mut silence => return Err(StreamError::Silent(SILENCE_LIMIT)),
            }
        }
    }

    /// Acts on one message.
    async fn handle(&mut self, line: &[u8], tx: &mpsc::Sender<Bytes>) -> Result<(), StreamError> {
        match ControlMessage::parse(line)? {
            ControlMessage::Snapshot {
                version,
                mesh,
                trust,
            } => {
                let answer = match self.applier.apply(version, &mesh, trust.as_ref()).await {
                    Ok(()) => SidecarMessage::Ack { version },
                    Err(error) => SidecarMessage::Nack {
                        version,
                        reason: shortened(error.to_string(), MAX_REASON_BYTES),
                    },
                };
                send(tx, answer.to_line())
            }
            ControlMessage::Pong => Ok(()),
            ControlMessage::Other { kind } => {
                tracing::debug!(%kind, "ignoring a control plane message of unknown type");
                Ok(())
            }
        }
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn shortened(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl From<LineError> for StreamError {
    fn from(error: LineError) -> Self {
        match error {
            LineError::Body(error) => StreamError::Body(error),
            LineError::TooLong(max) => StreamError::TooLong(max),
        }
    }
}

/// Queues a line. The queue is never full unless the control plane stopped reading.
fn send(tx: &mpsc::Sender<Bytes>, line: Bytes) -> Result<(), StreamError> {
    tx.try_send(line).map_err(|error| match error {
        TrySendError::Full(_) => StreamError::Stalled,
        TrySendError::Closed(_) => StreamError::Closed,
    })
}

/// The error for a response other than 200: its `x-convoy-error`, else its body's first line.
async fn refused(response: http::Response<hyper::body::Incoming>) -> StreamError {
    let status = response.status();
    let header = convoy_proxy_core::error::convoy_error(response.headers()).map(str::to_owned);
    let reason = match header {
        Some(reason) => reason,
        None => {
            let body = Limited::new(response.into_body(), 1024).collect();
            match tokio::time::timeout(Duration::from_secs(1), body).await {
                Ok(Ok(body)) => String::from_utf8_lossy(&body.to_bytes())
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            }
        }
    };
    StreamError::Refused { status, reason }
}

/// An id unique to this sidecar process: `<service>-<host>-<pid>-<random>`.
pub fn sidecar_id(service: &str) -> String {
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(63)
        .collect();
    let host = if host.is_empty() { "host" } else { &host };
    let nonce: u32 = rand::rng().random();
    format!("{service}-{host}-{}-{nonce:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        assert_eq!(shortened("short".into(), 10), "short");
        let cut = shortened("ééééé".into(), 6);
        assert_eq!(cut, "é…");
        assert!(cut.len() <= 6);
    }

    #[test]
    fn ids_name_the_service_and_differ() {
        let a = sidecar_id("orders");
        assert!(a.starts_with("orders-"), "{a}");
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
        assert_ne!(a, sidecar_id("orders"));
    }
}
