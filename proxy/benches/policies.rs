//! Micro-benchmarks of the per-request policy checks: classifier, breaker admission (healthy
//! and with outlier detection), retry budget, circuit-breaker request slots.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use convoy_balance::{EndpointSet, Outlier};
use convoy_config::{OutlierDetection, RetryBudget};
use convoy_policy::rate_limit::{RateLimitMetrics, RateLimits};
use convoy_proxy_core::call::budget::Budget;
use convoy_proxy_core::classify;
use convoy_telemetry::metrics::Metrics;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

fn addrs(n: u16) -> Vec<SocketAddr> {
    (1..=n)
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect()
}

fn classifier(c: &mut Criterion) {
    let plain = HeaderMap::new();
    let mut grpc = HeaderMap::new();
    grpc.insert("grpc-status", HeaderValue::from_static("0"));
    c.bench_function("classify/response 200", |b| {
        b.iter(|| classify::response(black_box(StatusCode::OK), black_box(&plain)))
    });
    c.bench_function("classify/response 503", |b| {
        b.iter(|| {
            classify::response(
                black_box(StatusCode::SERVICE_UNAVAILABLE),
                black_box(&plain),
            )
        })
    });
    c.bench_function("classify/grpc trailers", |b| {
        b.iter(|| classify::trailers(black_box(&grpc)))
    });
}

fn breaker_admission(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let metrics = Metrics::new();
    let plain = Arc::new(EndpointSet::new(addrs(3)));
    c.bench_function("breaker/admit P2C of 3, no outlier detection", |b| {
        b.iter(|| drop(black_box(plain.choose())))
    });
    let watched = Arc::new(EndpointSet::with_outlier(
        addrs(3),
        Some(Outlier {
            config: OutlierDetection::default(),
            service: "orders".into(),
            metrics: metrics.policy.clone(),
        }),
    ));
    c.bench_function(
        "breaker/admit P2C of 3 + outlier detection, success recorded",
        |b| {
            b.iter(|| {
                let mut in_flight = watched.choose().unwrap();
                in_flight.record(Ok(()));
            })
        },
    );
}

fn retry_budget(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let budget = Budget::new(&RetryBudget::default());
    c.bench_function("retry budget/deposit", |b| b.iter(|| budget.deposit()));
    c.bench_function("retry budget/withdraw", |b| {
        b.iter(|| black_box(budget.withdraw()))
    });
}

fn limiter(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let config = |rate: u32, per: &str| {
        let yaml = format!(
            "sidecar: {{ service: web, app: 127.0.0.1:1 }}\nservices:\n  web:\n    rate_limit: {{ requests_per_second: {rate}, per: {per} }}\n"
        );
        convoy_config::parse_proxy_config(&yaml, std::path::Path::new("bench.yaml")).unwrap()
    };
    let headers = HeaderMap::new();
    let client = Some(std::net::IpAddr::from([10, 0, 0, 1]));
    for (name, rate, per) in [
        ("limiter/check total, admitted", 10_000_000, "total"),
        ("limiter/check per caller, admitted", 10_000_000, "caller"),
        ("limiter/check total, refused", 1, "total"),
    ] {
        let limits = RateLimits::new(RateLimitMetrics::new(&prometheus::Registry::new()));
        let config = config(rate, per);
        limits.update(config.mesh.services.get("web"));
        c.bench_function(name, |b| {
            b.iter(|| black_box(limits.check("/", &headers, client)))
        });
    }
}

criterion_group!(
    benches,
    classifier,
    breaker_admission,
    retry_budget,
    limiter
);
criterion_main!(benches);
