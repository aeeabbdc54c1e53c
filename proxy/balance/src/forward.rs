//! The end of both request paths: choose an upstream, then send to it.

use crate::client::{SendError, UpstreamClients, UpstreamProtocol};
use crate::connector::ConnectionLimitReached;
use crate::InFlight;
use convoy_config::ServiceName;
use convoy_proxy_core::authority::retarget;
use convoy_proxy_core::classify::{self, Failure};
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::error::UpstreamEndpoint;
use convoy_proxy_core::{body, Request, Response};
use futures_util::future::BoxFuture;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// Where one request goes.
#[derive(Debug)]
pub struct Upstream {
    /// The service it is for (named in errors).
    pub service: ServiceName,
    /// The chosen endpoint, counted as busy while the request is in flight.
    pub in_flight: InFlight,
    /// What goes in the Host header.
    pub authority: Option<String>,
    /// How the endpoint is spoken to.
    pub protocol: UpstreamProtocol,
    /// The pooled clients of the service.
    pub clients: UpstreamClients,
}

/// What differs between directions: how a request's upstream is chosen.
pub trait Destination: Clone + Send + 'static {
    /// The upstream for `request`; an error answers the request instead.
    fn choose(&self, request: &Request) -> Result<Upstream, ProxyError>;
}

/// Chooses an upstream with `D` and forwards the request to it.
#[derive(Debug, Clone)]
pub struct Forward<D> {
    destination: D,
}

impl<D> Forward<D> {
    /// A forwarder choosing with `destination`.
    pub fn new(destination: D) -> Self {
        Forward { destination }
    }
}

impl<D: Destination> tower::Service<Request> for Forward<D> {
    type Response = Response;
    type Error = ProxyError;
    type Future = BoxFuture<'static, Result<Response, ProxyError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let chosen = self.destination.choose(&request);
        Box::pin(async move {
            let upstream = chosen?;
            to_endpoint(
                &upstream.clients,
                &upstream.service,
                upstream.in_flight,
                upstream.authority.as_deref(),
                request,
                upstream.protocol,
            )
            .await
        })
    }
}

/// Sends `request` to the endpoint of `in_flight`, keeping `authority` in the Host header.
/// The endpoint counts the request as in flight until the response body is finished.
pub(crate) async fn to_endpoint(
    clients: &UpstreamClients,
    service: &ServiceName,
    mut in_flight: InFlight,
    authority: Option<&str>,
    mut request: Request,
    protocol: UpstreamProtocol,
) -> Result<Response, ProxyError> {
    let addr = in_flight.endpoint().addr();
    retarget(&mut request, in_flight.endpoint().authority(), authority);
    // If the client's body fails (bad chunk framing, a short body, the client going away), the
    // upstream call fails too: that is the client's fault, not the upstream's.
    let body_error = Arc::new(OnceLock::new());
    let request = request.map(|b| body::note_error(b, body_error.clone()));
    match clients.send(request, protocol).await {
        Ok(response) => {
            in_flight.responded();
            in_flight.record(classify::response(response.status(), response.headers()));
            let (mut parts, body) = response.into_parts();
            parts.extensions.insert(UpstreamEndpoint(addr));
            Ok(Response::from_parts(
                parts,
                body::with_guard(body, in_flight),
            ))
        }
        Err(SendError::Connect(source)) => {
            if let Some(limit) = find_source::<ConnectionLimitReached>(source.as_ref()) {
                // Our own limit, not the endpoint's failure.
                in_flight.record(Err(Failure::Local));
                return Err(ProxyError::Overflow {
                    service: service.clone(),
                    limit: "max_connections",
                    max: limit.max,
                });
            }
            // The endpoint could not be reached: the balancer counts it against the endpoint.
            in_flight.failed();
            in_flight.record(Err(Failure::ConnectFailure));
            Err(ProxyError::UpstreamConnect {
                service: service.clone(),
                addr,
                source,
            })
        }
        Err(SendError::ConnectTimeout) => {
            in_flight.failed();
            in_flight.record(Err(Failure::ConnectFailure));
            Err(ProxyError::UpstreamConnectTimeout {
                service: service.clone(),
                addr,
                after: clients.connect_timeout(),
            })
        }
        Err(SendError::Request(source)) => match body_error.get() {
            Some(reason) => {
                in_flight.record(Err(Failure::Local));
                Err(ProxyError::ClientBody {
                    reason: reason.clone(),
                    source,
                })
            }
            None => {
                let error = ProxyError::Upstream {
                    refused: classify::is_refused_stream(source.as_ref()),
                    service: service.clone(),
                    addr,
                    source,
                };
                in_flight.record(Err(classify::error(&error)));
                Err(error)
            }
        },
    }
}

/// The first error of type `T` in `error`'s source chain.
fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}
