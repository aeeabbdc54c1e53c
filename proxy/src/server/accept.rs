//! The inbound listener's first step: mutual TLS, or plaintext where the service allows it.
//!
//! The first byte tells: a TLS handshake record (`0x16`) is answered with the sidecar's
//! certificate and must present a client certificate the [`SpiffeClientVerifier`] accepts; the
//! connection's peer is then [`Peer::Authenticated`]. Anything else is plaintext: accepted as
//! [`Peer::Unauthenticated`] when this sidecar's service is `mtls: permissive` (read from the
//! snapshot in force, per connection), else refused — a plaintext HTTP/1 request gets a fixed
//! `403` saying why, other bytes just a closed connection. A refused connection never reaches
//! the app. Without an identity (a `--config` sidecar) every connection is plaintext, as before.
//!
//! [`SpiffeClientVerifier`]: convoy_identity::SpiffeClientVerifier

use arc_swap::ArcSwap;
use convoy_config::MtlsMode;
use convoy_identity::{Direction, Identity, Peer, Reason};
use convoy_stack::snapshot::Snapshot;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;
/// The start of the HTTP/2 connection preface (prior knowledge, h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
/// How much of a refused plaintext request is read (and discarded) before closing, so the
/// client sees the 403 rather than a reset.
const REFUSED_DRAIN_BYTES: usize = 64 * 1024;
/// How long a refused plaintext client has to stop sending.
const REFUSED_DRAIN_TIME: Duration = Duration::from_secs(1);

/// A connection accepted on the inbound listener.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// Plaintext.
    Plain(TcpStream),
    /// Mutual TLS, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

/// The inbound listener's accept step.
#[derive(Debug, Clone)]
pub(crate) struct InboundAccept {
    /// `None`: no identity (file mode), plaintext only.
    identity: Option<Identity>,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl InboundAccept {
    /// Accepts with `identity` (mutual TLS) or without (plaintext); the snapshot tells this
    /// sidecar's service's mTLS mode.
    pub(crate) fn new(identity: Option<Identity>, snapshot: Arc<ArcSwap<Snapshot>>) -> Self {
        InboundAccept { identity, snapshot }
    }

    /// Sorts out `stream` from `client` within `timeout`: the connection to serve and its peer,
    /// or `None` when it was refused (and closed).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        client: SocketAddr,
        timeout: Duration,
    ) -> Option<(Accepted, Peer)> {
        let Some(identity) = &self.identity else {
            return Some((Accepted::Plain(stream), Peer::Unauthenticated));
        };
        let deadline = Instant::now() + timeout;
        let mut first = [0_u8; 1];
        let first = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(1)) => first[0],
            // Closed before a byte, or broken: nothing to count.
            Ok(_) => return None,
            Err(_) => {
                identity
                    .metrics()
                    .handshake(Direction::Inbound, Reason::Timeout);
                return None;
            }
        };
        if first == TLS_HANDSHAKE {
            return handshake(identity, stream, client, deadline).await;
        }
        let snapshot = self.snapshot.load();
        let own = &snapshot.config.sidecar.service;
        let mode = snapshot
            .config
            .mesh
            .services
            .get(own)
            .map_or(MtlsMode::Strict, |s| s.mtls);
        if mode == MtlsMode::Permissive {
            return Some((Accepted::Plain(stream), Peer::Unauthenticated));
        }
        identity
            .metrics()
            .handshake(Direction::Inbound, Reason::Plaintext);
        tracing::debug!(%client, service = %own, "plaintext refused: mutual TLS required");
        let message =
            format!("mtls required: service {own} accepts only mutual TLS; plaintext refused");
        drop(snapshot);
        refuse_plaintext(stream, &message).await;
        None
    }
}

/// The TLS handshake, with the certificate in force; the peer's identity.
async fn handshake(
    identity: &Identity,
    stream: TcpStream,
    client: SocketAddr,
    deadline: Instant,
) -> Option<(Accepted, Peer)> {
    let metrics = identity.metrics();
    let Some(active) = identity.active() else {
        metrics.handshake(Direction::Inbound, Reason::NoIdentity);
        tracing::debug!(%client, "TLS refused: no certificate yet");
        return None;
    };
    let acceptor = TlsAcceptor::from(active.server.clone());
    drop(active);
    let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            let reason = Reason::of_io(&error);
            metrics.handshake(Direction::Inbound, reason);
            tracing::debug!(%client, reason = reason.label(), error = %Reason::io_message(&error), "TLS handshake refused");
            return None;
        }
        Err(_) => {
            metrics.handshake(Direction::Inbound, Reason::Timeout);
            return None;
        }
    };
    // The verifier accepted exactly one SPIFFE ID; read it again for the requests.
    let id = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| convoy_identity::spiffe_id(leaf));
    match id {
        Some(Ok(id)) => {
            metrics.handshake(Direction::Inbound, Reason::Ok);
            Some((Accepted::Tls(Box::new(tls)), Peer::Authenticated(id)))
        }
        _ => {
            metrics.handshake(Direction::Inbound, Reason::BadIdentity);
            None
        }
    }
}

/// Answers a plaintext HTTP/1 request with a fixed 403, then closes; other plaintext (the
/// HTTP/2 preface, garbage) is just closed.
async fn refuse_plaintext(mut stream: TcpStream, message: &str) {
    let mut start = [0_u8; 16];
    let n = stream.peek(&mut start).await.unwrap_or(0);
    let start = &start[..n];
    let http1 = !start.is_empty()
        && start[0].is_ascii_uppercase()
        && !H2_PREFACE.starts_with(start)
        && !start.starts_with(H2_PREFACE);
    if http1 {
        let body = format!("{message}\n");
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-convoy-error: {message}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ =
            tokio::time::timeout(REFUSED_DRAIN_TIME, stream.write_all(response.as_bytes())).await;
    }
    let _ = stream.shutdown().await;
    // Read what the client still sends, so closing does not reset the connection under the
    // answer it has not read yet.
    let drain = async {
        let mut buf = [0_u8; 4096];
        let mut total = 0;
        while total < REFUSED_DRAIN_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(REFUSED_DRAIN_TIME, drain).await;
}
