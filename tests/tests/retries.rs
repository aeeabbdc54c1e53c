//! Retries on the caller's sidecar: they hide a flaky upstream, stay within their budget when
//! the upstream is down, never repeat a request that may have reached the app unless that is
//! safe, and replay bodies up to 64 KiB.

use convoy_harness::ports::closed_port;
use convoy_harness::prometheus::Samples;
use convoy_tests::client::full;
use convoy_tests::data::{checksum, pattern_body, pattern_checksum};
use convoy_tests::requests::{get, post, say_hello};
use convoy_tests::upstream::{
    grpc_frame, grpc_messages, Behaviour, EchoServer, Flaky, GrpcServer, Seen,
};
use convoy_tests::{endpoints, web_to_orders, ConfigYaml, HttpClient, Proto, Proxy, Reply, BOTH};
use http::Method;

/// The `x-convoy-attempt` the upstream saw (0 when missing).
fn attempt(seen: &Seen) -> u32 {
    seen.header("x-convoy-attempt")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn retries(samples: &Samples, reason: &str) -> f64 {
    samples.sum(
        "convoy_retries_total",
        &[("service", "orders"), ("reason", reason)],
    )
}

fn skipped(samples: &Samples, reason: &str) -> f64 {
    samples.sum(
        "convoy_retries_skipped_total",
        &[("service", "orders"), ("reason", reason)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_hide_an_upstream_failing_30_percent_of_gets() {
    const PER_PROTO: usize = 500;
    const IN_FLIGHT: usize = 8;
    // Each attempt fails independently with p = 0.3, so a request fails only if all its
    // attempts do: p^7 = 0.02 %, an expected 0.1 failures in 500; the bound below (99.5 %, at
    // most 2 of 500) then holds in all but about 2 runs in 10 000. With 3 attempts p^3 = 2.7 %
    // of requests would fail: no retry policy of 3 attempts reaches 99.5 % against 30 %.
    // The budget (ratio 1) and max_retries (not the default 3 with 8 requests in flight) are
    // set so as not to limit this test; consecutive_failures 0 turns outlier detection off, as
    // ejecting the only endpoint would fail everything.
    let upstream = EchoServer::with(
        "orders",
        Behaviour::default().flaky(Flaky::status(503).percent(30.0).only(Method::GET)),
    )
    .await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "retry:\n  attempts: 7\n  on: [gateway-error]\n  backoff: { base: 2ms, max: 20ms }\n  \
         budget: { ratio: 1.0 }\ncircuit_breaker:\n  max_retries: 1000\n  consecutive_failures: 0",
    )
    .await;
    let mut client_failures = 0;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let replies = client
            .send_many(PER_PROTO, IN_FLIGHT, |i| get(&format!("/r/{i}")))
            .await;
        let failed: Vec<&Reply> = replies.iter().filter(|r| r.status != 200).collect();
        for reply in &failed {
            // A request that failed every attempt gets the upstream's own last answer.
            assert_eq!(reply.status, 503, "{proto:?}: {reply:?}");
            assert_eq!(reply.header("x-upstream"), Some("orders"), "{reply:?}");
        }
        eprintln!(
            "{proto:?}: {} of {PER_PROTO} succeeded",
            PER_PROTO - failed.len()
        );
        assert!(
            failed.len() * 1000 <= PER_PROTO * 5,
            "{proto:?}: {} of {PER_PROTO} failed; at least 99.5 % must succeed",
            failed.len()
        );
        client_failures += failed.len();
    }
    let seen = upstream.seen();
    let total = 2 * PER_PROTO;
    let first_attempts = seen.iter().filter(|s| attempt(s) == 1).count();
    let second_attempts = seen.iter().filter(|s| attempt(s) == 2).count();
    eprintln!(
        "upstream received {} requests for {total}; attempt 2 on {second_attempts}",
        seen.len()
    );
    assert_eq!(first_attempts, total, "each request's first attempt, once");
    assert!(
        seen.iter().all(|s| (1..=7).contains(&attempt(s))),
        "every attempt is numbered"
    );
    // About 30 % of first attempts fail: 300 of 1000 expected, far from both bounds.
    assert!(
        (150..=450).contains(&second_attempts),
        "attempt 2 on {second_attempts} requests"
    );
    let samples = proxy.metric_samples().await;
    assert_eq!(
        retries(&samples, "gateway-error"),
        (seen.len() - total) as f64,
        "every request beyond the first attempts is a counted retry"
    );
    assert_eq!(
        samples.sum("convoy_retries_skipped_total", &[("service", "orders")]),
        0.0,
        "neither the budget nor max_retries stopped a retry"
    );
    assert_eq!(
        samples.sum(
            "convoy_request_failures_total",
            &[("direction", "outbound"), ("service", "orders")]
        ),
        client_failures as f64,
        "only what the client saw fail counts as a failed request"
    );
    assert_eq!(
        samples.requests("outbound", "orders", "5xx"),
        client_failures as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_bounds_what_a_failing_upstream_receives() {
    const PER_PROTO: usize = 100;
    const IN_FLIGHT: usize = 4;
    let upstream = EchoServer::with("orders", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "retry:\n  attempts: 5\n  on: [gateway-error]\n  backoff: { base: 1ms, max: 5ms }\n  \
         budget: { ratio: 0.2, min_per_second: 1, window: 10s }\n\
         circuit_breaker:\n  max_retries: 1000\n  consecutive_failures: 0",
    )
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let replies = client
            .send_many(PER_PROTO, IN_FLIGHT, |i| get(&format!("/b/{i}")))
            .await;
        for reply in &replies {
            assert_eq!(reply.status, 503, "{proto:?}: {reply:?}");
            assert_eq!(
                reply.header("x-upstream"),
                Some("orders"),
                "the upstream's answer"
            );
        }
    }
    let client_requests = 2 * PER_PROTO;
    let seen = upstream.seen();
    // Budget: retries ≤ 0.2 × requests + 1/s × 10 s = 40 + 10 = 50 over the window (the test
    // runs well within 10 s). The check and the count of a withdrawal are two steps, so
    // requests in flight at the same moment may overdraw by one each: IN_FLIGHT of slack.
    let bound = client_requests + client_requests / 5 + 10 + IN_FLIGHT;
    eprintln!(
        "upstream received {} requests for {client_requests} (bound {bound})",
        seen.len()
    );
    assert!(
        seen.len() <= bound,
        "a failing upstream received {} requests for {client_requests}",
        seen.len()
    );
    assert!(
        seen.len() >= client_requests + 10,
        "at least the floor was retried: {}",
        seen.len()
    );
    let samples = proxy.metric_samples().await;
    assert_eq!(
        retries(&samples, "gateway-error"),
        (seen.len() - client_requests) as f64
    );
    // Each request ends either with its 5th attempt or when the budget refuses a retry.
    let exhausted_attempts = seen.iter().filter(|s| attempt(s) == 5).count();
    assert_eq!(
        skipped(&samples, "budget_exhausted"),
        (client_requests - exhausted_attempts) as f64
    );
    assert!(skipped(&samples, "budget_exhausted") >= 150.0);
}

#[tokio::test]
async fn max_retries_bounds_retries_in_flight_not_one_requests_retries() {
    let upstream = EchoServer::with("orders", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "retry:\n  attempts: 3\n  on: [gateway-error]\n  backoff: { base: 1ms, max: 2ms }\n\
         circuit_breaker:\n  max_retries: 1\n  consecutive_failures: 0",
    )
    .await;
    // One request at a time: its second retry does not compete with its first.
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let before = upstream.count();
        assert_eq!(client.send(get("/one")).await.status, 503);
        let attempts: Vec<u32> = upstream.seen()[before..].iter().map(attempt).collect();
        assert_eq!(attempts, [1, 2, 3], "{proto:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(skipped(&samples, "max_retries"), 0.0);
    assert_eq!(retries(&samples, "gateway-error"), 4.0);
    // Two requests failing at the same moment: only one retry may be in flight (the slot is
    // held through the retry, which takes 300 ms here).
    upstream.set_behaviour(
        Behaviour::default()
            .status(503)
            .delay(std::time::Duration::from_millis(300)),
    );
    let before = upstream.count();
    let client = HttpClient::new(Proto::Http2, proxy.outbound());
    let replies = client.send_many(2, 2, |_| get("/two")).await;
    assert!(replies.iter().all(|r| r.status == 503));
    let samples = proxy.metric_samples().await;
    assert_eq!(skipped(&samples, "max_retries"), 1.0);
    // Both first attempts, and the one retry chain of 2 more attempts.
    assert_eq!(upstream.count() - before, 4, "{:#?}", upstream.seen());
}

#[tokio::test]
async fn a_post_that_reached_the_app_is_not_sent_again() {
    let upstream = EchoServer::with("orders", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(
        &[upstream.addr()],
        "retry:\n  attempts: 3\n  on: [5xx]\n  backoff: { base: 1ms, max: 2ms }",
    )
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for i in 0..5 {
            let before = upstream.count();
            let reply = client.send(post("/pay", full(format!("order {i}")))).await;
            assert_eq!(reply.status, 503, "{proto:?}: {reply:?}");
            let seen = &upstream.seen()[before..];
            assert_eq!(seen.len(), 1, "{proto:?}: a POST is sent once: {seen:#?}");
            assert_eq!(attempt(&seen[0]), 1);
        }
        // The same policy does retry a GET: the POST was held back for its method alone.
        let before = upstream.count();
        assert_eq!(client.send(get("/pay")).await.status, 503);
        assert_eq!(upstream.count() - before, 3, "{proto:?}");
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(skipped(&samples, "non_idempotent"), 10.0);
    assert_eq!(retries(&samples, "gateway-error"), 4.0, "the GETs' retries");
}

#[tokio::test]
async fn a_post_that_never_reached_the_app_is_retried() {
    let healthy = EchoServer::start("orders").await;
    let down = closed_port();
    let proxy = web_to_orders(
        &[down, healthy.addr()],
        "retry:\n  attempts: 2\n  on: [connect-failure]\n  backoff: { base: 1ms, max: 2ms }",
    )
    .await;
    let mut sent = Vec::new();
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for i in 0..10 {
            let body = format!("{proto:?} order {i}");
            let reply = client.send(post("/pay", full(body.clone()))).await;
            assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
            sent.push(body);
        }
    }
    // The balancer tries an endpoint it never measured as soon as it is idle, so the closed
    // port gets (at least) one of the first two requests.
    let samples = proxy.metric_samples().await;
    let connect_retries = retries(&samples, "connect-failure");
    eprintln!("connect-failure retries: {connect_retries}");
    assert!(connect_retries >= 1.0, "{samples:?}");
    assert_eq!(skipped(&samples, "non_idempotent"), 0.0);
    // Every POST reached the app exactly once, with its body; the retried ones as attempt 2.
    let seen = healthy.seen();
    assert_eq!(seen.len(), sent.len(), "{seen:#?}");
    for (s, body) in seen.iter().zip(&sent) {
        assert_eq!(s.method, "POST");
        assert_eq!(s.body_checksum, checksum(body.as_bytes()), "{body}");
    }
    let second = seen.iter().filter(|s| attempt(s) == 2).count();
    assert_eq!(second as f64, connect_retries);
}

/// A route where POSTs may be retried on any 5xx.
const OPT_IN: &str = "retry:\n  attempts: 3\n  on: [5xx]\n  backoff: { base: 1ms, max: 2ms }\n\
                      routes:\n  - match: { path_prefix: /opt-in }\n    \
                      retry: { attempts: 3, on: [5xx], non_idempotent: true, backoff: { base: 1ms } }";

#[tokio::test]
async fn a_route_can_opt_posts_into_retries_and_bodies_up_to_64_kib_are_replayed() {
    const LIMIT: usize = 64 * 1024;
    let upstream = EchoServer::start("orders").await;
    let proxy = web_to_orders(&[upstream.addr()], OPT_IN).await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        // Exactly the limit, in one piece (with a length) and streamed in four chunks.
        for (how, body) in [
            (
                "whole",
                full(convoy_tests::data::Pattern::new(7).chunk(LIMIT)),
            ),
            ("streamed", pattern_body(7, LIMIT, 16 * 1024)),
        ] {
            upstream.set_behaviour(Behaviour::default().flaky(Flaky::status(503).first(1)));
            let before = upstream.count();
            let reply = client.send(post("/opt-in/pay", body)).await;
            assert_eq!(reply.status, 200, "{proto:?} {how}: {reply:?}");
            let seen = &upstream.seen()[before..];
            assert_eq!(seen.len(), 2, "{proto:?} {how}: {seen:#?}");
            for (s, n) in seen.iter().zip([1, 2]) {
                assert_eq!(attempt(s), n, "{proto:?} {how}");
                assert!(s.body_complete, "{proto:?} {how}");
                assert_eq!(s.body_len, LIMIT, "{proto:?} {how}: attempt {n}");
                assert_eq!(
                    s.body_checksum,
                    pattern_checksum(7, LIMIT),
                    "{proto:?} {how}: attempt {n} got other bytes"
                );
            }
        }
        // Outside the route, the same POST failing once is not retried.
        upstream.set_behaviour(Behaviour::default().flaky(Flaky::status(503).first(1)));
        let before = upstream.count();
        let reply = client.send(post("/pay", full("x"))).await;
        assert_eq!(reply.status, 503, "{proto:?}");
        assert_eq!(upstream.count() - before, 1);
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(retries(&samples, "gateway-error"), 4.0);
    assert_eq!(skipped(&samples, "non_idempotent"), 2.0);
}

#[tokio::test]
async fn a_body_over_64_kib_is_not_replayed() {
    const OVER: usize = 64 * 1024 + 1;
    let upstream = EchoServer::with("orders", Behaviour::default().status(503)).await;
    let proxy = web_to_orders(&[upstream.addr()], OPT_IN).await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for (how, len, body) in [
            (
                "whole",
                OVER,
                full(convoy_tests::data::Pattern::new(9).chunk(OVER)),
            ),
            (
                "streamed",
                100 * 1024,
                pattern_body(9, 100 * 1024, 16 * 1024),
            ),
        ] {
            let before = upstream.count();
            let reply = client.send(post("/opt-in/upload", body)).await;
            assert_eq!(reply.status, 503, "{proto:?} {how}: {reply:?}");
            assert_eq!(reply.header("x-upstream"), Some("orders"));
            let seen = &upstream.seen()[before..];
            assert_eq!(seen.len(), 1, "{proto:?} {how}: sent once: {seen:#?}");
            assert!(seen[0].body_complete);
            assert_eq!(seen[0].body_len, len);
            assert_eq!(seen[0].body_checksum, pattern_checksum(9, len));
        }
    }
    let samples = proxy.metric_samples().await;
    assert_eq!(skipped(&samples, "body_too_large"), 4.0);
    assert_eq!(
        retries(&samples, "5xx") + retries(&samples, "gateway-error"),
        0.0
    );
}

/// The sidecar of `web` calling the plain gRPC service `greeter` at `server`, retrying
/// `grpc-unavailable`. gRPC calls are POSTs, so the policy says they are safe to repeat.
async fn web_to_greeter(server: &GrpcServer) -> Proxy {
    Proxy::start(
        &ConfigYaml::new("web")
            .service(
                "greeter",
                &format!(
                    "protocol: grpc\nmeshed: false\n{}\n\
                     retry: {{ attempts: 3, on: [grpc-unavailable], non_idempotent: true, \
                     backoff: {{ base: 1ms }} }}",
                    endpoints(&[server.addr()])
                ),
            )
            .render(),
    )
    .await
}

fn greeter_metric(samples: &Samples, name: &str, reason: &str) -> f64 {
    samples.sum(name, &[("service", "greeter"), ("reason", reason)])
}

#[tokio::test]
async fn grpc_unavailable_in_trailers_is_retried() {
    // The first call answers 200 with `grpc-status: 14` in its trailers; the retry succeeds.
    let server = GrpcServer::failing_first(1, 14).await;
    let proxy = web_to_greeter(&server).await;
    let reply = say_hello(proxy.outbound(), "world", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let trailers = reply.trailers.as_ref().expect("trailers reach the client");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0", "{reply:?}");
    assert_eq!(grpc_messages(&reply.body), [&b"reply:world"[..]]);
    let seen = server.seen();
    let attempts: Vec<u32> = seen.iter().map(attempt).collect();
    assert_eq!(attempts, [1, 2], "{seen:#?}");
    let sent = checksum(&grpc_frame(b"world"));
    assert!(seen.iter().all(|s| s.body_checksum == sent), "{seen:#?}");
    let samples = proxy.metric_samples().await;
    assert_eq!(
        greeter_metric(&samples, "convoy_retries_total", "grpc"),
        1.0
    );
}

#[tokio::test]
async fn grpc_unavailable_on_every_attempt_reaches_the_client() {
    let server = GrpcServer::failing_first(3, 14).await;
    let proxy = web_to_greeter(&server).await;
    let reply = say_hello(proxy.outbound(), "world", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let trailers = reply.trailers.as_ref().expect("trailers reach the client");
    assert_eq!(trailers.get("grpc-status").unwrap(), "14", "{reply:?}");
    assert_eq!(
        trailers.get("grpc-message").unwrap(),
        "failing on purpose, 0 more to fail",
        "the last attempt's own trailers"
    );
    assert!(reply.body.is_empty());
    let attempts: Vec<u32> = server.seen().iter().map(attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test]
async fn retrying_grpc_codes_without_the_opt_in_is_a_config_error() {
    // gRPC calls are POSTs: UNAVAILABLE may come from an app that did the work. A policy that
    // lists gRPC codes without `non_idempotent` would silently never retry, so it is refused.
    let server = GrpcServer::failing_first(1, 14).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yaml");
    let yaml = ConfigYaml::new("web")
        .service(
            "greeter",
            &format!(
                "protocol: grpc\nmeshed: false\n{}\nretry: {{ attempts: 3, on: [grpc-unavailable] }}",
                endpoints(&[server.addr()])
            ),
        )
        .render();
    std::fs::write(&path, yaml).unwrap();
    let exited = convoy_tests::proxy::run_until_exit(
        &["--config".into(), path.clone().into()],
        std::time::Duration::from_secs(10),
    );
    assert_eq!(exited.status.code(), Some(1), "{exited:?}");
    assert!(
        exited.stderr.contains(
            "services.greeter.retry.on: gRPC calls are POSTs, which are only retried when they never reached the app; set `non_idempotent: true` to retry them on gRPC status"
        ),
        "{}",
        exited.stderr
    );
    assert!(server.seen().is_empty());
}
