//! Circuit breaking on the caller's sidecar: outlier detection ejects a failing endpoint and
//! probes it back, an all-ejected service fails fast without touching the network, and
//! request limits overflow with 503.

use convoy_harness::ports::closed_port;
use convoy_harness::prometheus::Samples;
use convoy_tests::requests::get;
use convoy_tests::upstream::{Behaviour, EchoServer};
use convoy_tests::{web_to_orders, HttpClient, Proto, Reply, BOTH};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn ejected_gauge(samples: &Samples, endpoint: SocketAddr) -> f64 {
    samples.sum(
        "convoy_endpoint_ejected",
        &[("service", "orders"), ("endpoint", &endpoint.to_string())],
    )
}

fn ejections(samples: &Samples) -> f64 {
    samples.sum("convoy_outlier_ejections_total", &[("service", "orders")])
}

fn assert_proxy_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.convoy_error(), Some(message), "{reply:?}");
    assert_eq!(reply.text(), format!("{message}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_ejected_and_returns_once_it_recovers() {
    const PER_PROTO: usize = 500;
    const IN_FLIGHT: usize = 8;
    let good = [
        EchoServer::start("good-1").await,
        EchoServer::start("good-2").await,
    ];
    let bad = EchoServer::with("bad", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(
        &[good[0].addr(), good[1].addr(), bad.addr()],
        "retry:\n  attempts: 3\n  on: [gateway-error]\n  backoff: { base: 1ms, max: 5ms }\n\
         circuit_breaker:\n  consecutive_failures: 3\n  max_ejection_percent: 50\n  \
         base_ejection: 2s\n  max_ejection: 3s",
    )
    .await;
    // Warm-up: until the bad endpoint is ejected (3 failures in a row).
    let warm_up = HttpClient::new(Proto::Http1, proxy.outbound());
    let deadline = Instant::now() + Duration::from_secs(10);
    while ejections(&proxy.metric_samples().await) < 1.0 {
        assert!(Instant::now() < deadline, "bad never ejected");
        for reply in warm_up.send_many(10, 2, |i| get(&format!("/r/{i}"))).await {
            assert!([200, 503].contains(&reply.status.as_u16()), "{reply:?}");
        }
    }
    let ejected_at = Instant::now();
    let samples = proxy.metric_samples().await;
    assert_eq!(ejected_gauge(&samples, bad.addr()), 1.0);
    eprintln!(
        "warm-up: bad ejected after it received {} requests",
        bad.count()
    );
    // Steady state: the ejected endpoint gets no traffic, except a probe when an ejection ends
    // (it fails, is retried elsewhere, and ejects the endpoint again, for longer). HTTP/2 starts
    // after the first ejection is over, so it meets the probe.
    let bad_before = bad.count();
    let mut failed = 0;
    for proto in BOTH {
        if proto == Proto::Http2 {
            let over = ejected_at + Duration::from_millis(2100);
            tokio::time::sleep_until(over.into()).await;
        }
        let client = HttpClient::new(proto, proxy.outbound());
        let replies = client
            .send_many(PER_PROTO, IN_FLIGHT, |i| get(&format!("/r/{i}")))
            .await;
        failed += replies.iter().filter(|r| r.status != 200).count();
    }
    let total = 2 * PER_PROTO;
    eprintln!(
        "steady state: {} of {total} succeeded; bad received {}",
        total - failed,
        bad.count() - bad_before
    );
    assert!(
        failed * 1000 <= total,
        "{failed} of {total} failed: at least 99.9 % must succeed"
    );
    let samples = proxy.metric_samples().await;
    // Each probe failed and ejected the endpoint again: it received nothing but probes.
    let probes = bad.count() - bad_before;
    assert!(probes >= 1, "the ejection ended during the HTTP/2 requests");
    assert_eq!(ejections(&samples), (1 + probes) as f64);
    assert_eq!(ejected_gauge(&samples, bad.addr()), 1.0);
    for g in &good {
        assert_eq!(
            ejected_gauge(&samples, g.addr()),
            0.0,
            "{} was ejected",
            g.name()
        );
    }
    // The bad endpoint recovers: once its ejection is over, a probe finds it healthy and it
    // takes its share again.
    bad.set_behaviour(Behaviour::default());
    let client = HttpClient::new(Proto::Http2, proxy.outbound());
    let recovered_at = bad.count();
    // The second ejection lasts 3 s (2 × 2 s, capped by max_ejection).
    let deadline = Instant::now() + Duration::from_secs(3) + Duration::from_secs(5);
    loop {
        let reply = client.send(get("/after")).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let samples = proxy.metric_samples().await;
        if bad.count() > recovered_at && ejected_gauge(&samples, bad.addr()) == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bad was never probed back: gauge {}, it received {} requests since it recovered",
            ejected_gauge(&samples, bad.addr()),
            bad.count() - recovered_at
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back_at = bad.count();
    for reply in client.send_many(90, 3, |i| get(&format!("/r/{i}"))).await {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let share = bad.count() - back_at;
    eprintln!("after recovery bad received {share} of 90");
    assert!(share >= 10, "bad received {share} of 90 after recovering");
}

#[tokio::test]
async fn all_endpoints_ejected_fails_fast_without_reaching_the_upstream() {
    let upstream = EchoServer::with("orders", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "circuit_breaker:\n  consecutive_failures: 2\n  max_ejection_percent: 100\n  \
         base_ejection: 30s",
    )
    .await;
    let client = HttpClient::new(Proto::Http1, proxy.outbound());
    for _ in 0..2 {
        let reply = client.send(get("/")).await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.header("x-upstream"),
            Some("orders"),
            "the upstream's own 503"
        );
    }
    let (count, connections) = (upstream.count(), upstream.connections());
    assert_eq!(count, 2);
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..10 {
            let started = Instant::now();
            let reply = client.send(get("/")).await;
            assert_proxy_error(
                &reply,
                503,
                "circuit open: service orders, 1/1 endpoints ejected",
            );
            assert!(started.elapsed() < Duration::from_secs(1), "fails fast");
        }
    }
    assert_eq!(upstream.count(), count, "no request reached the upstream");
    assert_eq!(upstream.connections(), connections, "no new connection");
    let samples = proxy.metric_samples().await;
    assert_eq!(ejections(&samples), 1.0);
    assert_eq!(ejected_gauge(&samples, upstream.addr()), 1.0);
    let failures = |reason| {
        samples.sum(
            "convoy_request_failures_total",
            &[
                ("direction", "outbound"),
                ("service", "orders"),
                ("reason", reason),
            ],
        )
    };
    assert_eq!(failures("gateway-error"), 2.0);
    assert_eq!(failures("local"), 20.0);
}

#[tokio::test]
async fn an_ejected_dead_endpoint_gets_no_connection_attempts_until_its_probe() {
    // The endpoint is a closed port; once ejected, something starts listening there. Any
    // connection attempt would be accepted (and counted), so zero accepted connections means
    // zero attempts while the circuit is open.
    let dead = closed_port();
    let proxy = web_to_orders(
        &[dead],
        "retry:\n  attempts: 3\n  on: [connect-failure]\n  backoff: { base: 1ms, max: 2ms }\n\
         circuit_breaker:\n  consecutive_failures: 2\n  max_ejection_percent: 100\n  \
         base_ejection: 2s",
    )
    .await;
    let client = HttpClient::new(Proto::Http1, proxy.outbound());
    // Attempt 1 and its retry are refused (2 failures: ejected); the second retry finds the
    // circuit open, which is not retried.
    let reply = client.send(get("/")).await;
    assert_proxy_error(
        &reply,
        503,
        "circuit open: service orders, 1/1 endpoints ejected",
    );
    let ejected_at = Instant::now();
    let revived = EchoServer::bind(dead, "revived", Behaviour::default()).await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..10 {
            assert_proxy_error(
                &client.send(get("/")).await,
                503,
                "circuit open: service orders, 1/1 endpoints ejected",
            );
        }
    }
    assert!(
        ejected_at.elapsed() < Duration::from_secs(2),
        "the open phase outlasted the ejection; the check below would be void"
    );
    assert_eq!(revived.connections(), 0, "a connection attempt while open");
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum(
            "convoy_retries_total",
            &[("service", "orders"), ("reason", "connect-failure")]
        ),
        2.0,
        "attempts 2 and 3 of the first request"
    );
    assert_eq!(ejected_gauge(&samples, dead), 1.0);
    // After the ejection, the next request is the probe: it succeeds and the endpoint is back.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(ejected_at.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let reply = client.send(get("/")).await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.header("x-upstream"), Some("revived"));
    }
    assert_eq!(revived.count(), 2);
    let samples = proxy.metric_samples().await;
    assert_eq!(ejected_gauge(&samples, dead), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_requests_overflow_with_503() {
    const CONCURRENT: usize = 10;
    let upstream = EchoServer::with(
        "orders",
        Behaviour::default().delay(Duration::from_millis(1500)),
    )
    .await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "circuit_breaker:\n  max_requests: 2\n  max_pending_requests: 0",
    )
    .await;
    for proto in BOTH {
        let before = upstream.count();
        let client = HttpClient::new(proto, proxy.outbound());
        let replies = client
            .send_many(CONCURRENT, CONCURRENT, |i| get(&format!("/r/{i}")))
            .await;
        let ok = replies.iter().filter(|r| r.status == 200).count();
        for reply in replies.iter().filter(|r| r.status != 200) {
            assert_proxy_error(
                reply,
                503,
                "circuit breaker overflow: service orders at max_requests (2)",
            );
        }
        assert_eq!(ok, 2, "{proto:?}: {replies:#?}");
        assert_eq!(upstream.count() - before, 2, "{proto:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum(
            "convoy_circuit_overflows_total",
            &[("service", "orders"), ("limit", "max_requests")]
        ),
        16.0
    );
    assert_eq!(
        ejections(&samples),
        0.0,
        "overflow is not the endpoint's fault"
    );
}
