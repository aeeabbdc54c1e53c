//! Opaque TCP forwarding for `protocol: tcp` services: bytes in, bytes out, balanced per connection.

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use convoy_runtime::Drain;
use convoy_telemetry::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long to wait for an upstream TCP connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts on `listener` and forwards each connection to an endpoint of `service`, until drained.
pub async fn serve(
    listener: TcpListener,
    service: String,
    snapshot: Arc<ArcSwap<Snapshot>>,
    drain: Drain,
    metrics: Metrics,
) {
    let open = metrics.connections("tcp");
    let ok = metrics.tcp_connections(&service, "ok");
    let failed = metrics.tcp_connections(&service, "connect_error");
    let serve = |mut client: TcpStream, peer| {
        let (open, ok, failed, service) =
            (open.clone(), ok.clone(), failed.clone(), service.clone());
        let runtime = snapshot.load().service(&service).cloned();
        async move {
            let Some(runtime) = runtime else {
                tracing::warn!(%service, "tcp service is no longer configured; closing connection");
                return;
            };
            let Some(endpoint) = runtime.endpoints.pick() else {
                failed.inc();
                tracing::warn!(%service, %peer, "no endpoints: closing tcp connection");
                return;
            };
            let in_flight = endpoint.start();
            let addr = endpoint.addr();
            let upstream =
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        failed.inc();
                        in_flight.failed();
                        tracing::warn!(%service, %addr, %error, "tcp upstream connect failed");
                        return;
                    }
                    Err(_) => {
                        failed.inc();
                        in_flight.failed();
                        tracing::warn!(%service, %addr, "tcp upstream connect timed out");
                        return;
                    }
                };
            in_flight.responded();
            ok.inc();
            open.inc();
            let _ = upstream.set_nodelay(true);
            let mut upstream = upstream;
            let result = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            open.dec();
            match result {
                Ok((sent, received)) => {
                    tracing::info!(target: "convoy::access", %service, %peer, upstream = %addr, sent, received, "tcp connection")
                }
                Err(error) => {
                    tracing::debug!(%service, %peer, %error, "tcp connection ended with an error")
                }
            }
            drop(in_flight);
        }
    };
    let name = format!("tcp {service}");
    convoy_runtime::accept_until_drained(listener, &name, &drain, None, serve).await;
}
