//! Fault injection on the inbound side (as in Istio and Envoy): delay a share of requests, and
//! answer a share with an error status without calling the app.
//!
//! The sidecar injects the faults of its own service (`services.<own>.fault`); a request whose
//! first matching route has a `fault` gets the route's instead (the whole section overrides).
//! The delay and the abort are decided independently for each request; when both hit, the
//! delay comes first. Each is counted in `convoy_faults_injected_total`.

mod metrics;

pub use metrics::FaultMetrics;

use convoy_config::{Fault, ProxyConfig};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::route::matching_route;
use convoy_proxy_core::{Request, Response};
use futures_util::future::{ready, BoxFuture, Either, FutureExt};
use http::{HeaderMap, StatusCode};
use rand::Rng;
use std::task::{Context, Poll};
use std::time::Duration;

/// What fault injection does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Injection {
    /// Wait this long before going on; `None`: no delay.
    pub(crate) delay: Option<Duration>,
    /// Then answer with this status instead of calling the app; `None`: call it.
    pub(crate) abort: Option<StatusCode>,
}

impl Injection {
    /// Draws for one request: the delay hits `delay.percent` % of requests, the abort,
    /// independently, `abort.percent` % (0 never, 100 always).
    pub(crate) fn decide(fault: &Fault, rng: &mut impl Rng) -> Self {
        Injection {
            delay: fault
                .delay
                .as_ref()
                .filter(|d| hits(d.percent, rng))
                .map(|d| d.duration),
            abort: fault
                .abort
                .as_ref()
                .filter(|a| hits(a.percent, rng))
                // Validation keeps the status in 400..=599.
                .map(|a| StatusCode::from_u16(a.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)),
        }
    }
}

fn hits(percent: f64, rng: &mut impl Rng) -> bool {
    percent > 0.0 && rng.random::<f64>() * 100.0 < percent
}

/// The fault for a request to the sidecar's own service in `config`: its first matching route's,
/// if that route has one, else the service's. `None` when there is nothing to inject.
pub(crate) fn fault_for<'a>(
    config: &'a ProxyConfig,
    path: &str,
    headers: &HeaderMap,
) -> Option<&'a Fault> {
    let service = config.mesh.services.get(config.sidecar.service.as_str())?;
    let route_fault = if service.routes.iter().any(|r| r.policy.fault.is_some()) {
        matching_route(service, path, headers).and_then(|(_, r)| r.policy.fault.as_ref())
    } else {
        None
    };
    route_fault.or(service.fault.as_ref())
}

/// Injects the faults of the request's snapshot: delays it, or answers
/// [`ProxyError::FaultAbort`] without calling the inner service.
#[derive(Debug, Clone)]
pub struct FaultInjection<S> {
    inner: S,
    metrics: FaultMetrics,
}

/// Layer for [`FaultInjection`].
#[derive(Debug, Clone)]
pub struct FaultLayer {
    metrics: FaultMetrics,
}

impl FaultLayer {
    /// A layer that counts what it injects in `metrics`.
    pub fn new(metrics: FaultMetrics) -> Self {
        FaultLayer { metrics }
    }
}

impl<S> tower::Layer<S> for FaultLayer {
    type Service = FaultInjection<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FaultInjection {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

impl<S> tower::Service<Request> for FaultInjection<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = ProxyError;
    // Requests without a fault go on without a box.
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let config = RequestContext::of(&request).and_then(|context| context.config.as_deref());
        let injection = match config {
            None => Injection::default(),
            Some(config) => match fault_for(config, request.uri().path(), request.headers()) {
                None => Injection::default(),
                Some(fault) => {
                    let injection = Injection::decide(fault, &mut rand::rng());
                    self.count(config.sidecar.service.as_str(), &injection);
                    injection
                }
            },
        };
        // `map`/`then` rather than async blocks: rustc cannot yet prove such blocks `Send` here.
        match injection {
            Injection {
                delay: None,
                abort: None,
            } => Either::Left(self.inner.call(request)),
            Injection {
                delay,
                abort: Some(status),
            } => {
                drop(request);
                let abort = Err(ProxyError::FaultAbort { status });
                match delay {
                    None => Either::Right(Box::pin(ready(abort))),
                    Some(delay) => {
                        Either::Right(Box::pin(tokio::time::sleep(delay).map(move |()| abort)))
                    }
                }
            }
            Injection {
                delay: Some(delay),
                abort: None,
            } => {
                // The inner service was made ready by `poll_ready`: that one goes with the
                // request, and a clone stays for the next call (tower's usual swap).
                let clone = self.inner.clone();
                let mut ready_inner = std::mem::replace(&mut self.inner, clone);
                let later = tokio::time::sleep(delay).then(move |()| ready_inner.call(request));
                Either::Right(Box::pin(later))
            }
        }
    }
}

impl<S> FaultInjection<S> {
    fn count(&self, service: &str, injection: &Injection) {
        if injection.delay.is_some() {
            self.metrics.injected(service, "delay");
        }
        if injection.abort.is_some() {
            self.metrics.injected(service, "abort");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::{parse_proxy_config, FaultAbort, FaultDelay};
    use convoy_proxy_core::body;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::time::Instant;
    use tower::{Layer, Service, ServiceExt};

    fn fault(delay_percent: f64, abort_percent: f64) -> Fault {
        Fault {
            delay: Some(FaultDelay {
                duration: Duration::from_millis(100),
                percent: delay_percent,
            }),
            abort: Some(FaultAbort {
                status: 503,
                percent: abort_percent,
            }),
        }
    }

    #[test]
    fn shares_follow_the_percentages() {
        let mut rng = StdRng::seed_from_u64(7);
        let draws = |f: &Fault, rng: &mut StdRng| -> Vec<Injection> {
            (0..10_000).map(|_| Injection::decide(f, rng)).collect()
        };
        let never = draws(&fault(0.0, 0.0), &mut rng);
        assert!(never.iter().all(|i| *i == Injection::default()));
        let always = draws(&fault(100.0, 100.0), &mut rng);
        assert!(always.iter().all(|i| *i
            == Injection {
                delay: Some(Duration::from_millis(100)),
                abort: Some(StatusCode::SERVICE_UNAVAILABLE),
            }));
        let some = draws(&fault(10.0, 50.0), &mut rng);
        let delayed = some.iter().filter(|i| i.delay.is_some()).count();
        let aborted = some.iter().filter(|i| i.abort.is_some()).count();
        assert!((800..1200).contains(&delayed), "{delayed}");
        assert!((4700..5300).contains(&aborted), "{aborted}");
        assert!(Injection::decide(&Fault::default(), &mut rng) == Injection::default());
    }

    fn snapshot(web: &str) -> Arc<ProxyConfig> {
        let yaml =
            format!("sidecar: {{ service: web, app: 127.0.0.1:1 }}\nservices:\n  web:\n{web}");
        let config = parse_proxy_config(&yaml, Path::new("t.yaml")).unwrap();
        Arc::new(config)
    }

    type App = futures_util::future::Ready<Result<Response, ProxyError>>;

    /// A fault layer over an app that counts its calls; the layer's metrics.
    fn stack() -> (
        FaultInjection<
            impl tower::Service<Request, Response = Response, Error = ProxyError, Future = App>
                + Clone
                + Send
                + 'static,
        >,
        Arc<AtomicUsize>,
        FaultMetrics,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = {
            let calls = calls.clone();
            tower::service_fn(move |_: Request| {
                calls.fetch_add(1, Ordering::Relaxed);
                ready(Ok::<_, ProxyError>(http::Response::new(body::empty())))
            })
        };
        let metrics = FaultMetrics::new(&prometheus::Registry::new());
        (FaultLayer::new(metrics.clone()).layer(app), calls, metrics)
    }

    fn request(snapshot: &Arc<ProxyConfig>, path: &str) -> Request {
        let mut request = http::Request::get(path).body(body::empty()).unwrap();
        RequestContext::of_mut(&mut request).config = Some(snapshot.clone());
        request
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_waits_then_calls_the_app() {
        let web = snapshot("    fault: { delay: { duration: 200ms, percent: 100 } }\n");
        let (service, calls, metrics) = stack();
        let start = Instant::now();
        let response = service.oneshot(request(&web, "/")).await;
        assert!(response.is_ok());
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.count("web", "delay"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abort_answers_without_the_app_after_any_delay() {
        let web = snapshot(
            "    fault: { delay: { duration: 50ms, percent: 100 }, abort: { status: 502, percent: 100 } }\n",
        );
        let (service, calls, metrics) = stack();
        let start = Instant::now();
        let error = service.oneshot(request(&web, "/")).await.unwrap_err();
        assert!(matches!(error, ProxyError::FaultAbort { status } if status == 502));
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.count("web", "abort"), 1);
        assert_eq!(metrics.count("web", "delay"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_fault_overrides_the_services() {
        let web = snapshot(concat!(
            "    fault: { abort: { status: 503, percent: 100 } }\n",
            "    routes:\n",
            "      - match: { path_prefix: /slow }\n",
            "        fault: { delay: { duration: 1s, percent: 100 } }\n",
            "      - match: { path_prefix: /plain }\n",
        ));
        let (mut service, calls, _) = stack();
        let start = Instant::now();
        let slow = service
            .ready()
            .await
            .unwrap()
            .call(request(&web, "/slow/x"))
            .await;
        assert!(slow.is_ok(), "the route's fault has no abort");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        for path in ["/plain", "/"] {
            let error = service
                .ready()
                .await
                .unwrap()
                .call(request(&web, path))
                .await;
            assert!(
                matches!(error, Err(ProxyError::FaultAbort { .. })),
                "{path}"
            );
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // No fault anywhere, or no snapshot: straight through.
        let quiet = snapshot("    endpoints: []\n");
        assert!(service
            .ready()
            .await
            .unwrap()
            .call(request(&quiet, "/"))
            .await
            .is_ok());
        let bare = http::Request::new(body::empty());
        assert!(service.oneshot(bare).await.is_ok());
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }
}
