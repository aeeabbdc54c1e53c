//! Gateway metrics per route and consumer, and the access log.

use super::authn::ConsumerCell;
use super::runtime::Selection;
use convoy_proxy_core::error::convoy_error;
use convoy_proxy_core::{Request, Response};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// The route label of requests no route took.
pub const NO_ROUTE_LABEL: &str = "_none";
/// The consumer label of unauthenticated requests.
pub const ANONYMOUS_LABEL: &str = "_anonymous";

/// `convoy_gateway_requests_total{gateway, route_set, route, consumer, status}` and
/// `convoy_gateway_request_duration_seconds{gateway, route}`.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl GatewayMetrics {
    /// Registers both families in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "convoy_gateway_requests_total",
                "Requests the gateway answered, by gateway, route set, route, consumer and status.",
            ),
            &["gateway", "route_set", "route", "consumer", "status"],
        )
        .expect("static metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "convoy_gateway_request_duration_seconds",
                "Time from request received to response head sent at the gateway, in seconds.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["gateway", "route"],
        )
        .expect("static metric definition");
        for family in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
        ] {
            if let Err(error) = registry.register(family) {
                tracing::warn!(%error, "a gateway metric family is not exported");
            }
        }
        GatewayMetrics { requests, duration }
    }
}

/// Counts and times each request by route and consumer; writes the access log line.
#[derive(Debug, Clone)]
pub struct GatewayObserve<S> {
    inner: S,
    metrics: GatewayMetrics,
}

/// Layer for [`GatewayObserve`].
#[derive(Debug, Clone)]
pub struct GatewayObserveLayer(pub GatewayMetrics);

impl<S> tower::Layer<S> for GatewayObserveLayer {
    type Service = GatewayObserve<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GatewayObserve {
            inner,
            metrics: self.0.clone(),
        }
    }
}

impl<S> tower::Service<Request> for GatewayObserve<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GatewayObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let consumer = ConsumerCell::default();
        request.extensions_mut().insert(consumer.clone());
        let selection = Selection::of(&request).cloned();
        // The access log's fields are copied only when it is on (as the sidecar's Observe).
        let logged = tracing::enabled!(target: "convoy::access", tracing::Level::INFO)
            .then(|| (request.method().clone(), request.uri().path().to_owned()));
        GatewayObserveFuture {
            inner: self.inner.call(request),
            record: Some(Record {
                metrics: self.metrics.clone(),
                started,
                consumer,
                selection,
                logged,
            }),
        }
    }
}

/// What [`GatewayObserve`] records once the response is there.
struct Record {
    metrics: GatewayMetrics,
    started: Instant,
    consumer: ConsumerCell,
    selection: Option<Selection>,
    logged: Option<(http::Method, String)>,
}

impl Record {
    fn record(self, response: &Response) {
        let Record {
            metrics,
            started,
            consumer,
            selection,
            logged,
        } = self;
        let elapsed = started.elapsed();
        let gateway = selection.as_ref().map_or("", |s| s.gateway.name.as_str());
        let route_set = selection
            .as_ref()
            .and_then(Selection::route_set)
            .map_or(NO_ROUTE_LABEL, |s| s.name.as_str());
        let route = selection
            .as_ref()
            .and_then(Selection::route)
            .map_or(NO_ROUTE_LABEL, |r| r.config.name.as_str());
        let consumer = consumer.0.get().map_or(ANONYMOUS_LABEL, String::as_str);
        let status = response.status();
        metrics
            .requests
            .with_label_values(&[gateway, route_set, route, consumer, status.as_str()])
            .inc();
        metrics
            .duration
            .with_label_values(&[gateway, route])
            .observe(elapsed.as_secs_f64());
        if let Some((method, path)) = &logged {
            tracing::info!(
                target: "convoy::access",
                direction = "gateway",
                %method,
                path = %path,
                route,
                consumer,
                status = status.as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                error = convoy_error(response.headers()).unwrap_or_default(),
                "request"
            );
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`GatewayObserve`]: records the response when the inner future gives it.
    pub struct GatewayObserveFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F> Future for GatewayObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = std::task::ready!(this.inner.poll(cx));
        if let Some(record) = this.record.take() {
            record.record(&response);
        }
        Poll::Ready(Ok(response))
    }
}
