//! One sidecar's stream: `hello` first, then snapshots out and ACK/NACK/ping in.
//!
//! The response body is fed by a small bounded channel; each snapshot sent is the hub's shared
//! line (a reference count, never a copy). While the sidecar is slow to read, the session waits
//! on the channel and the `watch` it follows keeps only the latest version, so a busy sidecar
//! skips the versions in between.

use crate::ca::TokenError;
use crate::http::{self, Response};
use crate::hub::{Hub, Snapshot};
use crate::registry::Session;
use ::http::StatusCode;
use bytes::Bytes;
use convoy_protocol::{
    parse_hello, BodyLines, ChannelBody, Hello, HelloError, LineError, SidecarMessage,
    MAX_SIDECAR_LINE, NDJSON, PONG_LINE,
};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Lines waiting for a slow sidecar (snapshots are shared, so this bounds the count, not copies).
const QUEUE: usize = 2;

/// Versions remembered per session for the push→ACK latency.
const SENT_KEPT: usize = 8;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("the control plane is shutting down")]
    Shutdown,
    #[error("the sidecar closed its stream")]
    Closed,
    #[error("the sidecar was silent for longer than the heartbeat timeout")]
    Silent,
    #[error("the sidecar stopped reading its stream")]
    Stuck,
    #[error("the sidecar's connection went away")]
    Gone,
    #[error(transparent)]
    Broken(#[from] LineError),
}

/// Answers `POST /v1/stream`: reads the `hello` (400 if it is not one), checks that the join
/// token admits its service (`admit`; 401 if not), registers the sidecar and streams to it
/// from a task of `tasks` until it leaves or `shutdown`.
pub(crate) async fn open<B>(
    hub: &Arc<Hub>,
    body: B,
    admit: impl FnOnce(&Hello) -> Result<(), TokenError>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Response
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<http::BoxError>,
{
    let mut lines = BodyLines::new(body, MAX_SIDECAR_LINE);
    let first = tokio::select! {
        first = tokio::time::timeout(hub.settings().heartbeat_timeout, lines.next_line()) => first,
        () = shutdown.cancelled() => {
            return http::error(StatusCode::SERVICE_UNAVAILABLE, "the control plane is shutting down");
        }
    };
    let hello = match first {
        Err(_) => Err(HelloError::Missing("the heartbeat timeout")),
        Ok(Ok(None) | Err(_)) => Err(HelloError::Missing("the stream ended")),
        Ok(Ok(Some(line))) => parse_hello(&line),
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(error) => {
            tracing::info!(%error, "stream refused");
            hub.metrics()
                .stream_refusals
                .with_label_values(&["bad_hello"])
                .inc();
            return http::error(StatusCode::BAD_REQUEST, &error.to_string());
        }
    };
    if let Err(error) = admit(&hello) {
        tracing::warn!(id = %hello.id, service = %hello.service, %error, "stream refused");
        hub.metrics()
            .stream_refusals
            .with_label_values(&[error.reason()])
            .inc();
        return http::error(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let (session, generation) = hub.register(&hello);
    tracing::info!(
        id = %hello.id,
        service = %hello.service,
        address = %hello.address,
        proxy_version = %hello.proxy_version,
        "sidecar connected"
    );
    let (tx, rx) = mpsc::channel(QUEUE);
    let stream = Stream {
        hub: hub.clone(),
        hello,
        session,
        tx,
        sent: VecDeque::with_capacity(SENT_KEPT),
        last_sent: 0,
    };
    tasks.spawn(stream.run(lines, generation, shutdown.clone()));
    let mut response = ::http::Response::new(
        ChannelBody::new(rx)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    response.headers_mut().insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static(NDJSON),
    );
    response
}

struct Stream {
    hub: Arc<Hub>,
    hello: Hello,
    session: Session,
    tx: mpsc::Sender<Bytes>,
    /// Versions sent and when they were published, for the push→ACK latency.
    sent: VecDeque<(u64, Instant)>,
    last_sent: u64,
}

impl Stream {
    async fn run<B>(mut self, lines: BodyLines<B>, generation: u64, shutdown: CancellationToken)
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: Into<http::BoxError>,
    {
        let end = self.serve(lines, generation, &shutdown).await;
        let id = &self.hello.id;
        match end {
            End::Shutdown => tracing::debug!(%id, "stream closed: {end}"),
            _ => {
                tracing::info!(%id, reason = %end, grace = ?self.hub.settings().endpoint_grace, "sidecar disconnected");
                self.hub.disconnect(id, self.session);
            }
        }
    }

    async fn serve<B>(
        &mut self,
        mut lines: BodyLines<B>,
        generation: u64,
        shutdown: &CancellationToken,
    ) -> End
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: Into<http::BoxError>,
    {
        let mut snapshots = self.hub.subscribe();
        if self.hello.serving {
            tokio::select! {
                () = tokio::time::sleep_until(self.hub.warm_until()) => {}
                () = shutdown.cancelled() => return End::Shutdown,
            }
        }
        // The first snapshot is the one that includes this sidecar's own registration (should
        // that never be published, the current one, rather than nothing).
        let heartbeat = self.hub.settings().heartbeat_timeout;
        let waited = tokio::select! {
            first = tokio::time::timeout(heartbeat, snapshots.wait_for(|s| s.generation >= generation)) => match first {
                Ok(Ok(snapshot)) => Some(snapshot.clone()),
                Ok(Err(_)) => return End::Shutdown,
                Err(_) => None,
            },
            () = shutdown.cancelled() => return End::Shutdown,
        };
        let first = waited.unwrap_or_else(|| {
            tracing::warn!(id = %self.hello.id, "the registration was not published in time; sending the current snapshot");
            snapshots.borrow_and_update().clone()
        });
        if let Err(end) = self.send_snapshot(first, shutdown).await {
            return end;
        }
        let silence = tokio::time::sleep(heartbeat);
        tokio::pin!(silence);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return End::Shutdown,
                () = &mut silence => return End::Silent,
                () = self.tx.closed() => return End::Gone,
                line = lines.next_line() => match line {
                    Ok(Some(line)) => {
                        silence.as_mut().reset(tokio::time::Instant::now() + heartbeat);
                        if let Err(end) = self.handle(&line, shutdown).await {
                            return end;
                        }
                    }
                    Ok(None) => return End::Closed,
                    Err(error) => return End::Broken(error),
                },
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return End::Shutdown;
                    }
                    let snapshot = snapshots.borrow_and_update().clone();
                    if let Err(end) = self.send_snapshot(snapshot, shutdown).await {
                        return end;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, line: &[u8], shutdown: &CancellationToken) -> Result<(), End> {
        let id = &self.hello.id;
        match serde_json::from_slice::<SidecarMessage>(line) {
            Ok(SidecarMessage::Ack { version }) => {
                if let Some(at) = self.sent.iter().position(|(v, _)| *v == version) {
                    let (_, published_at) = self.sent.remove(at).unwrap_or((0, Instant::now()));
                    self.hub
                        .metrics()
                        .push_ack
                        .observe(published_at.elapsed().as_secs_f64());
                }
                tracing::debug!(%id, version, "ack");
                self.hub.ack(id, self.session, version);
            }
            Ok(SidecarMessage::Nack { version, reason }) => {
                tracing::warn!(%id, version, %reason, "sidecar refused a snapshot (NACK)");
                self.sent.retain(|(v, _)| *v != version);
                self.hub.nack(id, self.session, version, reason);
            }
            Ok(SidecarMessage::Ping) => {
                self.send(Bytes::from_static(PONG_LINE), shutdown).await?;
            }
            Ok(SidecarMessage::Hello(_)) => {
                tracing::warn!(%id, "a second hello on one stream is ignored");
            }
            Err(error) => {
                tracing::warn!(%id, %error, "unreadable message ignored");
            }
        }
        Ok(())
    }

    async fn send_snapshot(
        &mut self,
        snapshot: Arc<Snapshot>,
        shutdown: &CancellationToken,
    ) -> Result<(), End> {
        if snapshot.version <= self.last_sent {
            return Ok(());
        }
        self.last_sent = snapshot.version;
        if self.sent.len() == SENT_KEPT {
            self.sent.pop_front();
        }
        self.sent
            .push_back((snapshot.version, snapshot.published_at));
        self.send(snapshot.line.clone(), shutdown).await
    }

    /// Queues a line; a sidecar that reads nothing for the heartbeat timeout is cut off.
    async fn send(&self, line: Bytes, shutdown: &CancellationToken) -> Result<(), End> {
        tokio::select! {
            sent = self.tx.send(line) => sent.map_err(|_| End::Gone),
            () = tokio::time::sleep(self.hub.settings().heartbeat_timeout) => Err(End::Stuck),
            () = shutdown.cancelled() => Err(End::Shutdown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Settings;
    use crate::metrics::Metrics;
    use http_body_util::StreamBody;
    use std::convert::Infallible;
    use std::path::Path;
    use std::time::Duration;

    type Frames = mpsc::Sender<Result<http_body::Frame<Bytes>, Infallible>>;

    fn source(yaml: &str) -> convoy_config::MeshSource {
        convoy_config::parse_mesh_files([(Path::new("m.yaml"), yaml)]).unwrap()
    }

    async fn connect(
        hub: &Arc<Hub>,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
        i: usize,
    ) -> (Frames, BodyLines<http::Body>) {
        let (tx, rx) = mpsc::channel(4);
        let hello = format!(
            "{{\"type\":\"hello\",\"id\":\"s{i}\",\"service\":\"orders\",\"address\":\"10.0.{}.{}:4143\"}}\n",
            i / 250,
            i % 250
        );
        tx.send(Ok(http_body::Frame::data(Bytes::from(hello))))
            .await
            .unwrap();
        let body = StreamBody::new(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) },
        )));
        let response = open(hub, body, |_| Ok(()), shutdown, tasks).await;
        assert_eq!(response.status(), StatusCode::OK);
        (tx, BodyLines::new(response.into_body(), usize::MAX))
    }

    async fn version_of(reader: &mut BodyLines<http::Body>) -> (u64, serde_json::Value) {
        let line = reader.next_line().await.unwrap().expect("a line");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        (value["version"].as_u64().unwrap(), value)
    }

    /// Each version is serialized once and shared: a thousand sidecars registering at once make
    /// a few versions, each sidecar's first snapshot has its own endpoint, and a config change
    /// reaches all of them quickly.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_sidecars() {
        const SIDECARS: usize = 1000;
        let settings = Settings {
            endpoint_grace: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(15),
            warm_up: Duration::ZERO,
        };
        let hub = Hub::new(
            source("services:\n  orders: {}\n"),
            convoy_protocol::Trust {
                trust_domain: "convoy.local".into(),
                bundle: String::new(),
            },
            settings,
            Metrics::new(),
        )
        .unwrap();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        tokio::spawn(hub.clone().run_endpoint_publisher(shutdown.clone()));
        let mut sidecars = Vec::with_capacity(SIDECARS);
        for i in 0..SIDECARS {
            sidecars.push(connect(&hub, &shutdown, &tasks, i).await);
        }
        for (i, (_, reader)) in sidecars.iter_mut().enumerate() {
            let (_, first) = version_of(reader).await;
            let own = format!("10.0.{}.{}:4143", i / 250, i % 250);
            let endpoints = first["mesh"]["services"]["orders"]["endpoints"]
                .as_array()
                .unwrap();
            assert!(endpoints.iter().any(|e| e == own.as_str()), "s{i}");
        }
        // Let the last registrations be published.
        while hub.publish_endpoints().await.unwrap().is_some() {}
        let registered = hub.current().version;
        assert!(
            registered < SIDECARS as u64 / 2,
            "registrations are published together: {registered} versions"
        );

        let start = Instant::now();
        let changed = hub
            .publish_config(source("services:\n  orders: { timeout: 3s }\n"))
            .await
            .unwrap()
            .unwrap();
        for (_, reader) in &mut sidecars {
            // Only the head of the line: the test must not be slower than what it measures.
            while let Some(line) = reader.next_line().await.unwrap() {
                let head = std::str::from_utf8(&line[..40]).unwrap();
                if head.starts_with(&format!("{{\"type\":\"snapshot\",\"version\":{changed},")) {
                    break;
                }
            }
        }
        let elapsed = start.elapsed();
        eprintln!("{registered} versions for {SIDECARS} registrations; a change reached all in {elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(hub.metrics().connected_sidecars.get(), SIDECARS as i64);
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
