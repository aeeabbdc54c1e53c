//! Timeouts on the caller's sidecar: the request timeout bounds a request with all its retries,
//! the per-try timeout lets a slow attempt be retried.

use convoy_harness::prometheus::Samples;
use convoy_tests::requests::get;
use convoy_tests::upstream::{Behaviour, EchoServer, Flaky};
use convoy_tests::{web_to_orders, HttpClient, Proto, Reply, BOTH};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the slow upstream takes; every deadline here is far below it.
const SLOW: Duration = Duration::from_secs(3);
/// The latest a timed-out request may come back: well after its timeout, well before [`SLOW`].
const FAST_ENOUGH: Duration = Duration::from_millis(2500);

/// GETs `path` of `orders`; the reply and how long it took.
async fn timed_get(proto: Proto, outbound: SocketAddr, path: &str) -> (Reply, Duration) {
    let client = HttpClient::new(proto, outbound);
    let started = Instant::now();
    let reply = client.send(get(path)).await;
    (reply, started.elapsed())
}

fn assert_timed_out(reply: &Reply, elapsed: Duration, message: &str) {
    assert_eq!(reply.status, 504, "{reply:?}");
    assert_eq!(reply.convoy_error(), Some(message), "{reply:?}");
    assert_eq!(reply.text(), format!("{message}\n"));
    assert!(
        elapsed < FAST_ENOUGH,
        "{message}: the answer took {elapsed:?}"
    );
}

fn timeouts(samples: &Samples, kind: &str) -> f64 {
    samples.sum(
        "convoy_timeouts_total",
        &[("service", "orders"), ("kind", kind)],
    )
}

fn attempts(upstream: &EchoServer, from: usize) -> Vec<String> {
    upstream.seen()[from..]
        .iter()
        .map(|s| s.header("x-convoy-attempt").unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gets_the_request_timeout_of_its_service_or_route() {
    let upstream = EchoServer::with("orders", Behaviour::default().delay(SLOW)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "timeout: 500ms\nroutes:\n  - match: { path_prefix: /slow }\n    timeout: 200ms",
    )
    .await;
    let outbound = proxy.outbound();
    // All four at once: each is bounded by its own timeout, not by the others.
    let runs = BOTH.into_iter().flat_map(|proto| {
        [
            (proto, "/", "request timeout: orders after 500ms"),
            (proto, "/slow/x", "request timeout: orders after 200ms"),
        ]
    });
    let results = futures_util::future::join_all(runs.map(|(proto, path, message)| async move {
        let (reply, elapsed) = timed_get(proto, outbound, path).await;
        (proto, path, message, reply, elapsed)
    }))
    .await;
    for (proto, path, message, reply, elapsed) in results {
        eprintln!("{proto:?} {path}: {} after {elapsed:?}", reply.status);
        assert_timed_out(&reply, elapsed, message);
    }
    assert_eq!(
        upstream.count(),
        4,
        "each request was sent once (no retries)"
    );
    let samples = proxy.metric_samples().await;
    assert_eq!(timeouts(&samples, "request"), 4.0);
    assert_eq!(timeouts(&samples, "per_try"), 0.0);
    assert_eq!(
        samples.sum(
            "convoy_request_failures_total",
            &[
                ("direction", "outbound"),
                ("service", "orders"),
                ("reason", "timeout")
            ]
        ),
        4.0
    );
}

#[tokio::test]
async fn the_request_timeout_bounds_all_retries() {
    let upstream = EchoServer::with("orders", Behaviour::default().delay(SLOW)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "timeout: 800ms\nretry:\n  attempts: 5\n  per_try_timeout: 300ms\n  \
         on: [gateway-error]\n  backoff: { base: 10ms, max: 20ms }",
    )
    .await;
    for proto in BOTH {
        let before = upstream.count();
        let (reply, elapsed) = timed_get(proto, proxy.outbound(), "/").await;
        assert_timed_out(&reply, elapsed, "request timeout: orders after 800ms");
        // Attempts start at about 0, 300-310 and 600-630 ms; a fourth would start after 900.
        let seen = attempts(&upstream, before);
        eprintln!("{proto:?}: attempts {seen:?} in {elapsed:?}");
        assert!((2..=3).contains(&seen.len()), "{proto:?}: {seen:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(timeouts(&samples, "request"), 2.0);
    assert!(timeouts(&samples, "per_try") >= 2.0);
}

#[tokio::test]
async fn a_slow_attempt_is_retried_after_its_per_try_timeout() {
    let upstream = EchoServer::start("orders").await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "retry:\n  attempts: 3\n  per_try_timeout: 200ms\n  on: [gateway-error]\n  \
         backoff: { base: 5ms, max: 10ms }",
    )
    .await;
    for proto in BOTH {
        // Only the first request is slow: the second attempt answers at once.
        upstream.set_behaviour(Behaviour::default().flaky(Flaky::delay(SLOW).first(1)));
        let before = upstream.count();
        let (reply, elapsed) = timed_get(proto, proxy.outbound(), "/").await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.header("x-upstream"), Some("orders"));
        assert!(elapsed < FAST_ENOUGH, "{proto:?}: took {elapsed:?}");
        assert_eq!(attempts(&upstream, before), ["1", "2"], "{proto:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(timeouts(&samples, "per_try"), 2.0);
    assert_eq!(
        samples.sum(
            "convoy_retries_total",
            &[("service", "orders"), ("reason", "timeout")]
        ),
        2.0
    );
    // Every attempt slow: the last per-try timeout is the answer.
    upstream.set_behaviour(Behaviour::default().delay(SLOW));
    for proto in BOTH {
        let before = upstream.count();
        let (reply, elapsed) = timed_get(proto, proxy.outbound(), "/").await;
        assert_timed_out(&reply, elapsed, "per-try timeout: orders after 200ms");
        assert_eq!(attempts(&upstream, before), ["1", "2", "3"], "{proto:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(timeouts(&samples, "per_try"), 8.0);
    assert_eq!(timeouts(&samples, "request"), 0.0);
}
