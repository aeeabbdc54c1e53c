//! The compose demo's walkthrough (`examples/compose/README.md`), concern by concern, against
//! the real stack: images built by `examples/compose/build-images.sh` from this profile's
//! binaries, `compose up`, the README's commands and requests, and what the client got and
//! what `/metrics` says; `down -v` at the end, also when a step fails. Without a Docker engine
//! (or a compose command) the test prints why and passes; `CONVOY_REQUIRE_DOCKER=1` makes that
//! a failure.

use convoy_harness::binary;
use convoy_harness::prometheus::Samples;
use convoy_tests::client::empty;
use convoy_tests::compose::{build_images, demo_dir, Engine, Stack};
use convoy_tests::{within, HttpClient, Proto, Reply};
use http::{Method, Request, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

/// The tag of the images this test builds (beside the README's `local`).
const TAG: &str = "test";

/// The whole walkthrough, once the stack is up, must finish within this.
const WALKTHROUGH_LIMIT: Duration = Duration::from_secs(300);

/// The mesh's trust domain (`--trust-domain` in compose.yaml).
const SPIFFE: &str = "spiffe://demo.convoy/service";

/// Sidecars and the gateway: (compose service, the service it serves).
const PROXIES: [(&str, &str); 6] = [
    ("gateway", "edge"),
    ("web-sidecar", "web"),
    ("orders-sidecar", "orders"),
    ("payments-1-sidecar", "payments"),
    ("payments-2-sidecar", "payments"),
    ("inventory-sidecar", "inventory"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_walkthrough() {
    let Some(engine) = Engine::detect().await else {
        return;
    };
    let started = Instant::now();
    let bin_dir = binary::require(binary::PROXY)
        .parent()
        .expect("the binaries' directory")
        .to_path_buf();
    // The images hold these too: fail with cargo's instructions if one is missing.
    binary::require(binary::CONTROL_PLANE);
    binary::require("convoy-demo-service");
    binary::require("convoy-http");
    let images = build_images(&bin_dir, TAG)
        .await
        .unwrap_or_else(|e| panic!("building the images: {e}"));
    eprintln!("{images}");
    let built = started.elapsed();

    let stack = Stack::up(&engine, TAG).await;
    let up = started.elapsed();
    within(
        WALKTHROUGH_LIMIT,
        "the compose walkthrough",
        walkthrough(&stack),
    )
    .await;
    let done = started.elapsed();
    drop(stack);
    // Straight to stderr, past the harness's capture: CI logs show how long this took.
    let _ = writeln!(
        std::io::stderr(),
        "compose walkthrough ({}): images {:.1}s, up {:.1}s, walkthrough {:.1}s, down {:.1}s; {:.1}s in all",
        engine.compose.join(" "),
        built.as_secs_f64(),
        (up - built).as_secs_f64(),
        (done - up).as_secs_f64(),
        (started.elapsed() - done).as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}

async fn walkthrough(stack: &Stack) {
    let gateway = HttpClient::new(Proto::Http1, stack.port("gateway", 8080).await);
    mesh_comes_up(stack, &gateway).await;
    retries_hide_flaky_payments(stack, &gateway).await;
    the_circuit_opens_and_closes(stack, &gateway).await;
    the_gateway_authenticates_and_routes(&gateway).await;
    the_gateway_rate_limits_a_consumer(stack, &gateway).await;
    plaintext_from_outside_is_refused(stack).await;
    authorization_denies_web_calling_payments(stack).await;
    an_edit_applies_within_a_second_and_rolls_back(stack, &gateway).await;
    the_dashboard_names_real_metrics(stack).await;
}

/// Every sidecar and the gateway joined and runs the control plane's version, and a request
/// through the gateway makes it through web, orders, payments and inventory.
async fn mesh_comes_up(stack: &Stack, gateway: &HttpClient) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = stack.status().await;
        if status.converged(PROXIES.len()) {
            let services: BTreeSet<&str> =
                status.sidecars.iter().map(|s| s.service.as_str()).collect();
            assert_eq!(
                services,
                BTreeSet::from(["edge", "inventory", "orders", "payments", "web"]),
                "{status:#?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mesh did not converge within 60s: {status:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reply = until(
        Duration::from_secs(20),
        "GET /web/ answers 200",
        move || async move {
            let reply = gateway.try_send(get("/web/")).await.ok()?;
            (reply.status == StatusCode::OK).then_some(reply)
        },
    )
    .await;
    let body = json(&reply);
    assert_eq!(body["service"], "web");
    let orders = &body["calls"][0]["body"];
    assert_eq!(orders["service"], "orders", "{body}");
    let called: BTreeSet<&str> = orders["calls"]
        .as_array()
        .expect("orders' calls")
        .iter()
        .filter_map(|c| c["service"].as_str())
        .collect();
    assert_eq!(called, BTreeSet::from(["inventory", "payments"]), "{body}");
}

/// Both payments apps fail 20% of requests, yet every request through the gateway succeeds:
/// orders' sidecar retries payments' 500s.
async fn retries_hide_flaky_payments(stack: &Stack, gateway: &HttpClient) {
    let replies = gateway.send_many(60, 2, |_| get("/web/")).await;
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| (r.status, r.text()))
        .collect();
    assert!(failed.is_empty(), "not every request succeeded: {failed:?}");

    let mut payments_5xx = 0.0;
    for sidecar in ["payments-1-sidecar", "payments-2-sidecar"] {
        payments_5xx += stack
            .metrics(sidecar, 4191)
            .await
            .requests("inbound", "payments", "5xx");
    }
    assert!(payments_5xx > 0.0, "payments failed nothing: is it flaky?");
    let orders = stack.metrics("orders-sidecar", 4191).await;
    let retries = orders.sum(
        "convoy_retries_total",
        &[("service", "payments"), ("reason", "5xx")],
    );
    assert!(
        retries > 0.0,
        "orders' sidecar retried none of payments' {payments_5xx} failures"
    );
}

/// Payments stopped: its sidecars answer 502, orders' sidecar ejects both endpoints and
/// answers at once with 503 (the circuit is open); started again: requests succeed again.
async fn the_circuit_opens_and_closes(stack: &Stack, gateway: &HttpClient) {
    stack.stop(&["payments-1", "payments-2"]).await;
    for _ in 0..8 {
        let reply = gateway.send(get("/web/")).await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    }
    // What orders' app now gets from its sidecar when it calls payments (README: the same
    // command).
    let open = until(
        Duration::from_secs(15),
        "the circuit opens",
        move || async move {
            let _ = gateway.send(get("/web/")).await;
            let out = stack
                .docker_exec(
                    "orders",
                    &[
                        "convoy-http",
                        "-i",
                        "-H",
                        "Host: payments",
                        "http://127.0.0.1:4140/",
                    ],
                )
                .await;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("circuit open").then_some(text)
        },
    )
    .await;
    assert!(open.starts_with("HTTP/1.1 503"), "{open}");
    assert!(
        open.contains("x-convoy-error: circuit open: service payments, 2/2 endpoints ejected"),
        "{open}"
    );
    let metrics = stack.metrics("orders-sidecar", 4191).await;
    assert!(
        metrics.sum("convoy_outlier_ejections_total", &[("service", "payments")]) >= 2.0,
        "orders' sidecar counted no ejections of payments"
    );

    stack.start(&["payments-1", "payments-2"]).await;
    let restarted = Instant::now();
    // An ejection lasts at most max_ejection (6s in payments.yaml); then a probe succeeds.
    until(
        Duration::from_secs(20),
        "requests succeed again",
        move || async move {
            let reply = gateway.send(get("/web/")).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            (reply.status == StatusCode::OK).then_some(())
        },
    )
    .await;
    eprintln!(
        "circuit: requests succeed {:.1}s after payments started again",
        restarted.elapsed().as_secs_f64()
    );
    until(
        Duration::from_secs(20),
        "no payments endpoint is ejected",
        move || async move {
            let replies = gateway.send_many(4, 1, |_| get("/web/")).await;
            assert!(replies.iter().all(|r| r.status == StatusCode::OK));
            let metrics = stack.metrics("orders-sidecar", 4191).await;
            let ejected = metrics.sum("convoy_endpoint_ejected", &[("service", "payments")]);
            (ejected == 0.0).then_some(())
        },
    )
    .await;
}

/// Backends for frontends: browsers on /web/ (CORS), the mobile app on /mobile/ with an API
/// key, partners on /partners/ with a JWT from `make-jwt.sh`, straight to orders.
async fn the_gateway_authenticates_and_routes(gateway: &HttpClient) {
    let reply = gateway.send(get("/web/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = json(&reply);
    assert_eq!(
        body["headers"]["x-convoy-client-id"],
        format!("{SPIFFE}/edge")
    );

    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("http://localhost/web/")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .body(empty())
        .unwrap();
    let reply = gateway.send(preflight).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );

    let reply = gateway.send(get("/mobile/")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.convoy_error(), Some("unauthenticated: no credential"));
    assert!(reply
        .header("www-authenticate")
        .unwrap()
        .starts_with("ApiKey"));
    let reply = gateway
        .send(with_header("/mobile/", "x-api-key", "not-the-key"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.convoy_error(),
        Some("unauthenticated: unknown API key")
    );
    let reply = gateway
        .send(with_header("/mobile/", "x-api-key", "demo-mobile-key"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = json(&reply);
    assert_eq!(body["service"], "web");
    assert_eq!(body["headers"]["x-convoy-consumer"], "mobile-app");
    assert!(
        body["headers"].get("x-api-key").is_none(),
        "the key reached web: {body}"
    );

    let token = make_jwt(&["partner-acme"]).await;
    let reply = gateway
        .send(with_header(
            "/partners/",
            "authorization",
            &format!("Bearer {token}"),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = json(&reply);
    assert_eq!(body["service"], "orders", "partners go straight to orders");
    assert_eq!(body["headers"]["x-convoy-consumer"], "partner-acme");
    let other = make_jwt(&["partner-other"]).await;
    let reply = gateway
        .send(with_header(
            "/partners/",
            "authorization",
            &format!("Bearer {other}"),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.convoy_error(),
        Some("forbidden: consumer partner-other may not use route partners-orders")
    );
    let expired = make_jwt(&["partner-acme", "-60"]).await;
    let reply = gateway
        .send(with_header(
            "/partners/",
            "authorization",
            &format!("Bearer {expired}"),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.convoy_error(), Some("unauthenticated: token expired"));

    let reply = gateway.send(get("/admin")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// The mobile route lets each consumer 5 requests a second (bursts of 5): a quick burst gets
/// 429 with Retry-After from the gateway.
async fn the_gateway_rate_limits_a_consumer(stack: &Stack, gateway: &HttpClient) {
    let replies = gateway
        .send_many(20, 4, |_| {
            with_header("/mobile/", "x-api-key", "demo-mobile-key")
        })
        .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let limited: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok + limited.len(), replies.len(), "only 200s and 429s");
    assert!(ok >= 5, "the burst of 5 passes: {ok} did");
    assert!(!limited.is_empty(), "20 requests at once, none limited");
    for reply in &limited {
        assert!(reply.header("retry-after").is_some());
        assert!(
            reply.convoy_error().unwrap().starts_with("rate limited"),
            "{:?}",
            reply.convoy_error()
        );
    }
    let metrics = stack.metrics("gateway", 4191).await;
    let counted = metrics.sum(
        "convoy_rate_limited_total",
        &[("service", "edge"), ("rule", "mobile-api:consumer")],
    );
    assert!(
        counted >= limited.len() as f64,
        "{counted} < {}",
        limited.len()
    );
}

/// A plaintext request from the host to payments-1's sidecar (published for this) gets 403
/// from the sidecar itself.
async fn plaintext_from_outside_is_refused(stack: &Stack) {
    let addr = stack.port("payments-1-sidecar", 4143).await;
    let reply = HttpClient::new(Proto::Http1, addr)
        .get("payments", "/")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.convoy_error(),
        Some("mtls required: service payments accepts only mutual TLS; plaintext refused")
    );
    let metrics = stack.metrics("payments-1-sidecar", 4191).await;
    assert!(
        metrics.sum(
            "convoy_tls_handshakes_total",
            &[("result", "refused"), ("reason", "plaintext")]
        ) >= 1.0
    );
}

/// web's app calling payments directly (through its own sidecar, over mTLS as web): payments'
/// sidecar refuses it, since payments allows only orders.
async fn authorization_denies_web_calling_payments(stack: &Stack) {
    let out = stack
        .exec(
            "web",
            &[
                "convoy-http",
                "-i",
                "-H",
                "Host: payments",
                "http://127.0.0.1:4140/",
            ],
        )
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(22),
        "convoy-http's status for a 4xx"
    );
    assert!(text.starts_with("HTTP/1.1 403 Forbidden"), "{text}");
    assert!(
        text.contains(&format!(
            "x-convoy-error: forbidden: caller {SPIFFE}/web may not GET / on service payments: no rule allows it"
        )),
        "{text}"
    );
    let mut denied = 0.0;
    for sidecar in ["payments-1-sidecar", "payments-2-sidecar"] {
        denied += stack.metrics(sidecar, 4191).await.sum(
            "convoy_authorization_total",
            &[("result", "deny"), ("caller", &format!("{SPIFFE}/web"))],
        );
    }
    assert_eq!(denied, 1.0, "payments' sidecars denied web {denied} times");
}

/// orders.yaml's rate limit, 50 → 2 requests a second: a new version within a second, run by
/// every sidecar, and a burst now gets 429 from orders' sidecar. Then `history` and
/// `rollback` to the version before: the burst passes again.
async fn an_edit_applies_within_a_second_and_rolls_back(stack: &Stack, gateway: &HttpClient) {
    let before = stack.status().await;
    assert!(before.converged(PROXIES.len()), "{before:#?}");
    let yaml = stack.read_mesh_file("orders.yaml");
    let from = "requests_per_second: 50 ";
    assert!(yaml.contains(from), "orders.yaml has no `{from}`:\n{yaml}");
    let written = SystemTime::now();
    stack.write_mesh_file(
        "orders.yaml",
        &yaml.replace(from, "requests_per_second: 2 "),
    );
    let edited = converged_past(stack, before.version, written).await;

    let history = stack.history().await;
    let event = history.event(edited);
    assert_eq!(event.kind, "config");
    assert_eq!(event.summary, "changed orders (rate_limits)");
    let published = humantime::parse_rfc3339(&event.time).expect("an RFC 3339 time");
    let took = published.duration_since(written).unwrap_or_default();
    assert!(
        took < Duration::from_secs(1),
        "published {took:?} after the edit"
    );

    let replies = at_once(gateway, 8, "/web/").await;
    let limited: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        limited.len() >= 4,
        "8 requests at once over 2/s: only {} got 429",
        limited.len()
    );
    assert!(
        limited[0]
            .text()
            .contains("rate limited: 2/s in total (rule orders:total)"),
        "{}",
        limited[0].text()
    );
    let metrics = stack.metrics("orders-sidecar", 4191).await;
    assert!(metrics.sum("convoy_rate_limited_total", &[("service", "orders")]) >= 4.0);

    let out = stack
        .control_plane(&[
            "rollback",
            &before.version.to_string(),
            "--author",
            "compose-test",
        ])
        .await;
    let rolled_back = converged_past(stack, edited, SystemTime::now()).await;
    assert!(
        out.contains(&format!(
            "published version {rolled_back} with the configuration of version {}",
            before.version
        )),
        "{out}"
    );
    let history = stack.control_plane(&["history"]).await;
    let last = history.lines().last().unwrap_or_default();
    assert!(
        last.contains("compose-test") && last.contains("rollback"),
        "the last line of `history`: {last}"
    );
    let replies = at_once(gateway, 8, "/web/").await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::OK),
        "after the rollback: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

/// Every metric the Grafana dashboard queries is one a sidecar, the gateway or the control
/// plane of this stack exports (by now every policy has acted at least once).
async fn the_dashboard_names_real_metrics(stack: &Stack) {
    let mut exported = BTreeSet::new();
    let mut scrape =
        |samples: Samples| exported.extend(samples.samples().iter().map(|s| s.name.clone()));
    for (service, _) in PROXIES {
        scrape(stack.metrics(service, 4191).await);
    }
    scrape(stack.metrics("control-plane", 4291).await);
    let path = demo_dir().join("observability/grafana/dashboards/convoy.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard"))
            .expect("the dashboard is JSON");
    let queried = convoy_tests::compose::dashboard_metrics(&dashboard);
    assert!(queried.len() >= 10, "{queried:?}");
    let missing: Vec<_> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics nothing exports: {missing:?}"
    );
}

/// Waits until the control plane publishes a version after `version` and every sidecar and
/// the gateway run it; asserts that this took at most a second after `since` (allowing for
/// the last `status` call, which itself takes a while); returns the version.
async fn converged_past(stack: &Stack, version: u64, since: SystemTime) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = SystemTime::now();
        let status = stack.status().await;
        if status.version > version && status.converged(PROXIES.len()) {
            let answered = SystemTime::now();
            let seen = answered.duration_since(since).unwrap_or_default();
            let slack = answered.duration_since(asked).unwrap_or_default();
            assert!(
                seen <= Duration::from_secs(1) + slack,
                "version {} in force everywhere only {seen:?} later (the last status call took {slack:?})",
                status.version
            );
            eprintln!(
                "version {} in force everywhere within {seen:?} (the status call took {slack:?})",
                status.version
            );
            return status.version;
        }
        assert!(
            Instant::now() < deadline,
            "no new version in force everywhere within 10s: {status:#?}"
        );
    }
}

/// `make-jwt.sh ARGS`: a token for the demo's gateway.
async fn make_jwt(args: &[&str]) -> String {
    let mut command = tokio::process::Command::new("bash");
    command.arg(demo_dir().join("make-jwt.sh")).args(args);
    let output = convoy_tests::compose::run(command, Duration::from_secs(10), false)
        .await
        .unwrap_or_else(|e| panic!("make-jwt.sh: {e}"));
    String::from_utf8(output.stdout)
        .expect("a token is ASCII")
        .trim()
        .to_owned()
}

/// `count` GETs of `path`, all at once.
async fn at_once(gateway: &HttpClient, count: usize, path: &str) -> Vec<Reply> {
    gateway.send_many(count, count, |_| get(path)).await
}

/// Polls `check` until it gives a value; panics naming `what` after `limit`.
async fn until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn get(path: &str) -> Request<convoy_tests::client::Body> {
    Request::get(format!("http://localhost{path}"))
        .body(empty())
        .unwrap()
}

fn with_header(path: &str, name: &str, value: &str) -> Request<convoy_tests::client::Body> {
    Request::get(format!("http://localhost{path}"))
        .header(name, value)
        .body(empty())
        .unwrap()
}

fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}
