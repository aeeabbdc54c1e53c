//! Micro-benchmarks of the sidecar's per-request hot path (issue 7, item 3): outbound route
//! selection, rate-limiter checks, circuit-breaker admission, header sanitizing and path
//! normalization, and the snapshot a request loads (and the swap that replaces it).
//! `policies.rs` covers the classifier, the retry budget and the simplest limiter and P2C cases;
//! this file adds what a realistic configuration makes the proxy do.
//!
//! Run: `cargo bench -p convoy-proxy --bench hot_path -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use arc_swap::ArcSwap;
use convoy_balance::{EndpointSet, Outlier};
use convoy_config::{CircuitBreaker, OutlierDetection, ProxyConfig, ServiceName};
use convoy_policy::rate_limit::{RateLimitMetrics, RateLimits};
use convoy_proxy_core::call::limits::ServiceLimits;
use convoy_proxy_core::classify::Failure;
use convoy_proxy_core::headers::strip_hop_by_hop;
use convoy_proxy_core::layers::{ambiguous_framing, SanitizeLayer};
use convoy_proxy_core::{body, path, Request, Response};
use convoy_stack::outbound::{matching_route, select, select_backend, ResolveLayer};
use convoy_stack::snapshot::Snapshot;
use convoy_telemetry::metrics::Metrics;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tower::{Layer, Service};

/// A sidecar for `web` calling six services; `orders` has four routes (exact, header-matched
/// canary, weighted split, prefix with its own retry and timeout). Literal addresses only, so
/// building a snapshot starts no DNS refresh.
const MESH: &str = r#"
sidecar: { service: web, app: 127.0.0.1:8080 }
services:
  web:
    endpoints: [127.0.0.1:9000]
    rate_limit:
      - { requests_per_second: 10000000, per: total }
      - { requests_per_second: 10000000, per: caller }
    routes:
      - match: { path_prefix: /api/ }
        backends: [{ service: web }]
        rate_limit: { requests_per_second: 10000000, per: caller }
  orders:
    endpoints: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80]
    circuit_breaker: { consecutive_failures: 5, max_ejection_percent: 50 }
    routes:
      - match: { path_exact: /healthz }
        backends: [{ service: orders }]
      - match: { path_prefix: /v2/, headers: { x-canary: "1" } }
        backends: [{ service: orders-canary }]
      - match: { path_prefix: /v2/ }
        backends: [{ service: orders-v2, weight: 1 }, { service: orders, weight: 9 }]
      - match: { path_prefix: /api/ }
        backends: [{ service: orders }]
        timeout: 2s
        retry: { attempts: 3, on: [5xx] }
  orders-v2:
    endpoints: [10.0.1.1:80, 10.0.1.2:80]
  orders-canary:
    endpoints: [10.0.2.1:80]
  payments:
    endpoints: [10.0.3.1:80, 10.0.3.2:80]
    circuit_breaker: { consecutive_failures: 5 }
  inventory:
    endpoints: [10.0.4.1:80, 10.0.4.2:80, 10.0.4.3:80]
  users:
    endpoints: [10.0.5.1:80]
"#;

fn mesh(text: &str) -> ProxyConfig {
    convoy_config::parse_proxy_config(text, std::path::Path::new("bench.yaml")).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A realistic request head from an app: 15 header fields, two of them hop-by-hop plus one the
/// `Connection` header names, a forged client identity, and `TE: trailers`.
fn fifteen_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("host", "orders"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) convoy-bench/0.1",
        ),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("content-type", "application/json"),
        ("content-length", "42"),
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
        ),
        ("cookie", "session=4f2a9c; theme=dark"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("x-request-id", "7f7c2f6e-5e43-4b8e-9a0f-2b1d3c4e5f60"),
        ("connection", "keep-alive, x-debug"),
        ("keep-alive", "timeout=5"),
        ("x-debug", "1"),
        ("x-convoy-client-id", "spiffe://convoy.local/service/admin"),
    ] {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    assert_eq!(h.len(), 15);
    h
}

fn request(uri: &str, headers: &HeaderMap) -> Request {
    let mut request = http::Request::new(body::empty());
    *request.uri_mut() = uri.parse().unwrap();
    *request.headers_mut() = headers.clone();
    request
}

fn route_selection(c: &mut Criterion) {
    let config = mesh(MESH);
    let orders = &config.mesh.services["orders"];
    let plain = HeaderMap::new();
    let mut canary = HeaderMap::new();
    canary.insert("x-canary", HeaderValue::from_static("1"));
    // Routes are tried in order: the cost grows with the index of the route that matches.
    c.bench_function("route/matching_route first of 4 (path_exact)", |b| {
        b.iter(|| black_box(matching_route(orders, black_box("/healthz"), &plain)))
    });
    // The header-matched canary route: one header lookup on top of the prefix test.
    c.bench_function("route/matching_route header-matched (2nd of 4)", |b| {
        b.iter(|| black_box(matching_route(orders, black_box("/v2/items/17"), &canary)))
    });
    // Most calls match no route at all: every route is tried and fails.
    c.bench_function("route/matching_route no match (all 4 tried)", |b| {
        b.iter(|| black_box(matching_route(orders, black_box("/v1/items/17"), &plain)))
    });
    // The weighted split draws a ticket from the thread RNG per request.
    c.bench_function("route/select weighted split 1:9 (3rd of 4)", |b| {
        b.iter(|| black_box(select(orders, black_box("/v2/items/17"), &plain)))
    });
    c.bench_function("route/select_backend last route (4th of 4)", |b| {
        b.iter(|| black_box(select_backend(orders, black_box("/api/orders"), &plain)))
    });

    // The whole outbound decision as the Resolve layer makes it for every request: load the
    // snapshot, find the service by Host, select the route and backend, take the call policy.
    let rt = runtime();
    let _guard = rt.enter();
    let metrics = Metrics::new();
    let current = Arc::new(ArcSwap::from_pointee(Snapshot::build(
        config.clone(),
        "1".into(),
        "bench".into(),
        &metrics,
    )));
    let sink = tower::service_fn(|request: Request| {
        std::future::ready(Ok::<_, std::convert::Infallible>(request))
    });
    let mut resolve = ResolveLayer::new(current).layer(sink);
    let headers = fifteen_headers();
    c.bench_function(
        "route/Resolve layer, Host: orders, weighted route (15 headers)",
        |b| {
            b.iter_batched(
                || request("/v2/items/17", &headers),
                |request| black_box(resolve.call(request).now_or_never()),
                BatchSize::SmallInput,
            )
        },
    );
}

fn limiter(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let config = Arc::new(mesh(MESH));
    let limits = RateLimits::new(RateLimitMetrics::new(&prometheus::Registry::new()));
    limits.update(config.mesh.services.get("web"));
    let headers = HeaderMap::new();
    let one = Some(IpAddr::from([10, 0, 0, 1]));
    // The inbound steady state: a total and a per-caller service rule, no route matched.
    c.bench_function("limiter/check total + per caller rules, one caller", |b| {
        b.iter(|| black_box(limits.check(black_box("/orders"), &headers, one)))
    });
    // A matching route adds its own per-caller rule: three limiters for one request.
    c.bench_function(
        "limiter/check route per caller + service total + per caller",
        |b| b.iter(|| black_box(limits.check(black_box("/api/orders"), &headers, one))),
    );
    // Many callers spread over the sharded map: cache misses instead of one hot cell.
    let callers: Vec<Option<IpAddr>> = (0..4096u32)
        .map(|i| Some(IpAddr::from((0x0a00_0000 + i).to_be_bytes())))
        .collect();
    let mut next = 0;
    c.bench_function(
        "limiter/check total + per caller, 4096 callers rotating",
        |b| {
            b.iter(|| {
                next = (next + 1) % callers.len();
                black_box(limits.check("/orders", &headers, callers[next]))
            })
        },
    );
    // The inbound layer's entry point: one pointer comparison to confirm the rules are current.
    c.bench_function("limiter/check_for current config, one caller", |b| {
        b.iter(|| black_box(limits.check_for(&config, black_box("/orders"), &headers, one)))
    });
}

fn breaker(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let metrics = Metrics::new();
    let outlier = OutlierDetection {
        consecutive_failures: 5,
        base_ejection: Duration::from_secs(3600),
        max_ejection: Duration::from_secs(3600),
        max_ejection_percent: 20,
    };
    let addrs: Vec<SocketAddr> = (1..=10)
        .map(|p| SocketAddr::from(([10, 0, 0, p], 80)))
        .collect();
    let set = Arc::new(EndpointSet::with_outlier(
        addrs.clone(),
        Some(Outlier {
            config: outlier,
            service: "orders".into(),
            metrics: metrics.policy.clone(),
        }),
    ));
    // A larger set: P2C samples two of ten, outlier state on every pick.
    c.bench_function(
        "breaker/admit P2C of 10 + outlier detection, none ejected",
        |b| {
            b.iter(|| {
                let mut in_flight = set.choose().unwrap();
                in_flight.record(Ok(()));
            })
        },
    );
    // Eject two endpoints (failures until the 20% cap): samples now hit tripped endpoints.
    let bad = [addrs[0], addrs[1]];
    while set.ejected().0 < 2 {
        let mut in_flight = set.choose().unwrap();
        let failed = bad.contains(&in_flight.endpoint().addr());
        in_flight.record(if failed {
            Err(Failure::ConnectFailure)
        } else {
            Ok(())
        });
    }
    // With ejections the pick may skip tripped endpoints: the degraded-service case.
    c.bench_function(
        "breaker/admit P2C of 10 + outlier detection, 2 ejected",
        |b| {
            b.iter(|| {
                let mut in_flight = set.choose().unwrap();
                in_flight.record(Ok(()));
            })
        },
    );

    // The limits half: every outbound request takes a request slot of its backend.
    let limits = ServiceLimits::new(
        ServiceName::new("orders").unwrap(),
        CircuitBreaker::default(),
    );
    c.bench_function("breaker/limits acquire + release request slot", |b| {
        b.iter(|| drop(black_box(limits.acquire().now_or_never())))
    });
    // Every retry takes a retry slot too.
    c.bench_function("breaker/limits try_retry + release", |b| {
        b.iter(|| drop(black_box(limits.try_retry())))
    });
    // Overflow must fail fast (503) without queueing: the shedding path under overload.
    let full = ServiceLimits::new(
        ServiceName::new("orders").unwrap(),
        CircuitBreaker {
            max_requests: 1,
            max_pending_requests: 0,
            ..CircuitBreaker::default()
        },
    );
    let _held = full.acquire().now_or_never().unwrap().unwrap();
    c.bench_function("breaker/limits overflow refused (max_requests full)", |b| {
        b.iter(|| black_box(full.acquire().now_or_never()))
    });
}

fn sanitize(c: &mut Criterion) {
    let headers = fifteen_headers();
    // The header map is cloned in setup; only the stripping is timed.
    c.bench_function("sanitize/strip_hop_by_hop request, 15 headers", |b| {
        b.iter_batched_ref(
            || headers.clone(),
            |h| strip_hop_by_hop(h, true),
            BatchSize::SmallInput,
        )
    });
    // The common case: a request with no hop-by-hop header at all.
    let mut plain = headers.clone();
    for name in ["connection", "keep-alive", "x-debug", "x-convoy-client-id"] {
        plain.remove(name);
    }
    c.bench_function(
        "sanitize/strip_hop_by_hop request, 11 headers, none hop-by-hop",
        |b| {
            b.iter_batched_ref(
                || plain.clone(),
                |h| strip_hop_by_hop(h, true),
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("sanitize/ambiguous_framing, 15 headers", |b| {
        b.iter(|| black_box(ambiguous_framing(black_box(&headers))))
    });
    // The whole Sanitize layer (count limit, framing, path mark, hop-by-hop both ways, forged
    // identity removed) around an inner service that answers at once.
    let ok = tower::service_fn(|_: Request| {
        std::future::ready(Ok::<Response, _>(http::Response::new(body::empty())))
    });
    let mut layer = SanitizeLayer { max_headers: 100 }.layer(ok);
    c.bench_function("sanitize/Sanitize layer call, 15 headers", |b| {
        b.iter_batched(
            || request("/v2/items/17", &headers),
            |request| black_box(layer.call(request).now_or_never()),
            BatchSize::SmallInput,
        )
    });

    // Path normalization runs first in both directions; most paths are already normal.
    for (name, uri) in [
        (
            "path/normalize already normal",
            "/api/v2/orders/17?expand=items",
        ),
        (
            "path/normalize dot segments + //",
            "/api/./v2//orders/../orders/17?q=1",
        ),
        (
            "path/normalize percent-encoded",
            "/api/%76%32/orders/%31%37",
        ),
        ("path/normalize refused (encoded slash)", "/api/v2%2Forders"),
    ] {
        c.bench_function(name, |b| {
            b.iter_batched(
                || request(uri, &HeaderMap::new()),
                |request| black_box(path::normalize(request)),
                BatchSize::SmallInput,
            )
        });
    }
}

fn snapshot(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let metrics = Metrics::new();
    let config = mesh(MESH);
    let changed = mesh(&MESH.replace("10.0.3.2:80", "10.0.3.3:80"));
    let current = ArcSwap::from_pointee(Snapshot::build(
        config.clone(),
        "1".into(),
        "bench".into(),
        &metrics,
    ));
    // Every request does this once (Resolve, the inbound stack): a refcount bump on the Arc.
    c.bench_function("snapshot/ArcSwap load_full (per request)", |b| {
        b.iter(|| black_box(current.load_full()))
    });
    // The guard form, for comparison.
    c.bench_function("snapshot/ArcSwap load guard", |b| {
        b.iter(|| black_box(current.load().version.len()))
    });
    // Startup and every reload without a previous snapshot: seven services from scratch.
    c.bench_function("snapshot/build 7 services from config", |b| {
        b.iter_batched(
            || config.clone(),
            |config| {
                black_box(Snapshot::build(
                    config,
                    "1".into(),
                    "bench".into(),
                    &metrics,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    // A control-plane push that changes one endpoint: next() keeps the rest, install() swaps.
    // The configuration alternates so each install is a real change.
    let mut flip = false;
    c.bench_function("snapshot/next + install, one endpoint changed", |b| {
        b.iter_batched(
            || {
                flip = !flip;
                if flip {
                    changed.clone()
                } else {
                    config.clone()
                }
            },
            |next| {
                let pending = current
                    .load()
                    .next(next, "2".into(), "bench".into(), &metrics);
                black_box(pending.install(&current))
            },
            BatchSize::SmallInput,
        )
    });
    // A push that changes nothing the proxy keeps state for (a re-sent version).
    c.bench_function("snapshot/next + install, unchanged config", |b| {
        b.iter_batched(
            || config.clone(),
            |next| {
                let pending = current
                    .load()
                    .next(next, "3".into(), "bench".into(), &metrics);
                black_box(pending.install(&current))
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(
    benches,
    route_selection,
    limiter,
    breaker,
    sanitize,
    snapshot
);
criterion_main!(benches);
