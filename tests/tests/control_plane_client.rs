//! The sidecar as a control plane's client (control-plane/PROTOCOL.md), against a fake control
//! plane over TLS: not ready before the first snapshot and a certificate, routing follows pushed
//! snapshots, bad snapshots are refused with their reason while the last good one serves, broken
//! streams are reconnected, state the change does not touch survives a push; the control plane
//! must prove itself with a certificate of the given CA, and the join token is checked.

mod fake_control_plane;

use convoy_harness::pki::{self, Leaf, TestCa};
use convoy_harness::ports::closed_port;
use convoy_harness::prometheus::Samples;
use convoy_tests::raw::echo_round_trip;
use convoy_tests::requests::get;
use convoy_tests::upstream::{Behaviour, EchoServer, TcpEchoServer};
use convoy_tests::{within, HttpClient, Proto, Proxy, BOTH, STEP_TIMEOUT};
use fake_control_plane::mtls_client::MtlsClient;
use fake_control_plane::FakeControlPlane;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The wire form of a plain (`meshed: false`) service at `addrs`, with `extra` fields.
fn plain(addrs: &[SocketAddr], extra: Value) -> Value {
    let mut service = json!({
        "meshed": false,
        "endpoints": addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    if let (Some(service), Value::Object(extra)) = (service.as_object_mut(), extra) {
        service.extend(extra);
    }
    service
}

/// A mesh of only `orders`, a plain service at `addr`.
fn orders_at(addr: SocketAddr) -> Value {
    json!({ "orders": plain(&[addr], json!({})) })
}

/// The sidecar of `web` (its app nowhere), run by `cp`, serving version 1 (`orders` at
/// `orders`, pushed first): ready, and version 1 acked.
async fn serving_orders(cp: &FakeControlPlane, orders: SocketAddr) -> Proxy {
    cp.push(1, orders_at(orders));
    let mut proxy = sidecar(cp, None).await;
    proxy.wait_ready().await;
    cp.wait_ack(1).await;
    proxy
}

/// The sidecar of `web` (its app at `app`, or nowhere), run by `cp`, not yet ready.
async fn sidecar(cp: &FakeControlPlane, app: Option<SocketAddr>) -> Proxy {
    cp.sidecar("web", app.unwrap_or_else(closed_port))
        .start_bound()
        .await
}

/// Sends GET / to `orders` over each protocol; the upstreams that answered, all 200.
async fn answered_by(proxy: &Proxy) -> Vec<String> {
    let mut upstreams = Vec::new();
    for proto in BOTH {
        let reply = HttpClient::new(proto, proxy.outbound())
            .send(get("/"))
            .await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        upstreams.push(reply.upstream().to_owned());
    }
    upstreams
}

#[tokio::test]
async fn not_ready_until_the_first_snapshot_then_serving_it() {
    let orders = EchoServer::start("orders").await;
    let cp = FakeControlPlane::start().await;
    let mut proxy = sidecar(&cp, None).await;

    let hello = cp.wait_hellos(1).await.remove(0);
    assert_eq!(hello["service"], "web", "{hello}");
    assert_eq!(hello["address"], proxy.inbound().to_string(), "{hello}");
    assert_eq!(hello["proxy_version"], env!("CARGO_PKG_VERSION"), "{hello}");
    let id = hello["id"].as_str().expect("an id");
    assert!(id.starts_with("web-"), "{hello}");

    // Listening, live, but not ready: requests get the usual errors.
    assert_eq!(proxy.admin_get("/live").await.0, 200);
    assert_eq!(
        proxy.admin_get("/ready").await,
        (503, "not ready\n".to_owned())
    );
    let reply = HttpClient::new(Proto::Http1, proxy.outbound())
        .send(get("/"))
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(
        reply
            .convoy_error()
            .unwrap_or("")
            .starts_with("unknown service"),
        "{reply:?}"
    );
    let config = proxy.config_json().await;
    assert_eq!(config["version"], "none", "{config}");
    proxy.wait_connected(1.0).await;

    cp.push(1, orders_at(orders.addr()));
    cp.wait_ack(1).await;
    proxy.wait_ready().await;
    assert_eq!(answered_by(&proxy).await, ["orders", "orders"]);

    let config = proxy.config_json().await;
    assert_eq!(config["version"], "1", "{config}");
    assert!(
        config["source"].as_str().unwrap_or("").contains(&cp.url()),
        "{config}"
    );
    assert_eq!(
        config["config"]["mesh"]["services"]["orders"]["endpoints"][0],
        orders.addr().to_string(),
        "{config}"
    );
    let samples = proxy.metric_samples().await;
    assert_eq!(samples.sum("convoy_config_version", &[]), 1.0);
    assert_eq!(
        samples.sum("convoy_config_updates_total", &[("result", "applied")]),
        1.0
    );
    assert_eq!(
        samples.sum("convoy_config_updates_total", &[("result", "rejected")]),
        0.0
    );
}

#[tokio::test]
async fn routing_follows_each_pushed_snapshot() {
    let first = EchoServer::start("first").await;
    let second = EchoServer::start("second").await;
    let cp = FakeControlPlane::start().await;
    let proxy = serving_orders(&cp, first.addr()).await;
    assert_eq!(answered_by(&proxy).await, ["first", "first"]);

    // The service moves: once acked, every new request (on new and on kept connections) goes
    // to its new endpoint.
    let kept = HttpClient::new(Proto::Http2, proxy.outbound());
    assert_eq!(kept.send(get("/")).await.upstream(), "first");
    cp.push(2, orders_at(second.addr()));
    cp.wait_ack(2).await;
    assert_eq!(answered_by(&proxy).await, ["second", "second"]);
    assert_eq!(kept.send(get("/")).await.upstream(), "second");
    assert_eq!(first.count(), 3);
    assert_eq!(proxy.config_json().await["version"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_on_the_snapshot_it_started_with() {
    let slow = EchoServer::with(
        "slow",
        Behaviour::default().delay(Duration::from_millis(800)),
    )
    .await;
    let fast = EchoServer::start("fast").await;
    let cp = FakeControlPlane::start().await;
    cp.push(1, orders_at(slow.addr()));
    let mut proxy = sidecar(&cp, None).await;
    proxy.wait_ready().await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let in_flight = tokio::spawn(async move { client.send(get("/slow")).await });
        let before = slow.count();
        slow.wait_for(before + 1).await;
        let version = if proto == Proto::Http1 { 2 } else { 4 };
        cp.push(version, orders_at(fast.addr()));
        cp.wait_ack(version).await;
        assert_eq!(answered_by(&proxy).await, ["fast", "fast"]);
        let reply = within(STEP_TIMEOUT, "the request in flight", in_flight)
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.upstream(), "slow");
        // Back to the slow endpoint for the next protocol.
        cp.push(version + 1, orders_at(slow.addr()));
        cp.wait_ack(version + 1).await;
    }
}

#[tokio::test]
async fn a_bad_snapshot_is_refused_with_its_reason_and_the_last_good_one_serves() {
    let orders = EchoServer::start("orders").await;
    let other = EchoServer::start("other").await;
    let cp = FakeControlPlane::start().await;
    let proxy = serving_orders(&cp, orders.addr()).await;

    // A TCP service on the sidecar's own outbound port.
    let outbound = proxy.outbound();
    cp.push(
        2,
        json!({
            "orders": plain(&[other.addr()], json!({})),
            "db": { "protocol": "tcp", "listen": outbound.to_string(), "endpoints": [other.addr().to_string()] },
        }),
    );
    assert_eq!(
        cp.wait_nack(2).await,
        format!(
            "<control-plane snapshot>: services.db.listen: {outbound} overlaps sidecar.listen.outbound ({outbound})"
        )
    );
    // A value out of range, and a mesh that is not a mesh at all.
    cp.push(3, json!({ "orders": { "retry": { "attempts": 0 } } }));
    assert_eq!(
        cp.wait_nack(3).await,
        "<control-plane snapshot>: services.orders.retry.attempts: must be within 1..=10, got 0"
    );
    cp.push_line(r#"{"type":"snapshot","version":4,"mesh":["not", "a", "mesh"]}"#);
    let reason = cp.wait_nack(4).await;
    assert!(
        reason.starts_with("<control-plane snapshot>: bad snapshot:"),
        "{reason}"
    );

    assert_eq!(answered_by(&proxy).await, ["orders", "orders"]);
    assert_eq!(other.count(), 0);
    assert_eq!(proxy.config_json().await["version"], "1");
    assert_eq!(proxy.admin_get("/ready").await.0, 200, "still ready");
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum("convoy_config_updates_total", &[("result", "rejected")]),
        3.0
    );
    assert_eq!(samples.sum("convoy_config_version", &[]), 1.0);
    assert!(cp.of_type("ack").iter().all(|a| a["version"] == 1));
}

#[tokio::test]
async fn a_closed_stream_is_reconnected_and_serving_goes_on() {
    let orders = EchoServer::start("orders").await;
    let cp = FakeControlPlane::start().await;
    let proxy = serving_orders(&cp, orders.addr()).await;
    let first = cp.wait_hellos(1).await.remove(0);

    cp.close_streams();
    assert_eq!(answered_by(&proxy).await, ["orders", "orders"]);
    let hellos = cp.wait_hellos(2).await;
    assert_eq!(hellos[1]["id"], first["id"], "the same sidecar, back");
    // The latest snapshot is sent again on the new stream and acked again.
    within(STEP_TIMEOUT, "a second ack of version 1", async {
        while cp.of_type("ack").len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(proxy.admin_get("/ready").await.0, 200);
    proxy.wait_connected(1.0).await;
    assert_eq!(
        proxy
            .metric_samples()
            .await
            .sum("convoy_config_updates_total", &[("result", "applied")]),
        1.0,
        "the version in force, sent again, is acked without being applied again"
    );
    assert!(
        proxy.log().contains("disconnected from the control plane"),
        "{}",
        proxy.log()
    );
}

#[tokio::test]
async fn the_sidecar_serves_through_a_control_plane_outage_and_reconnects() {
    let first = EchoServer::start("first").await;
    let second = EchoServer::start("second").await;
    let cp = FakeControlPlane::start().await;
    let (addr, pki) = (cp.addr(), cp.pki());
    let proxy = serving_orders(&cp, first.addr()).await;

    drop(cp);
    proxy.wait_connected(0.0).await;
    // Down for a while: the sidecar keeps serving (and retrying, with backoff).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(answered_by(&proxy).await, ["first", "first"]);
    assert_eq!(proxy.admin_get("/ready").await.0, 200);

    let cp = FakeControlPlane::start_on(addr, pki).await;
    cp.push(2, orders_at(second.addr()));
    cp.wait_ack(2).await;
    assert_eq!(answered_by(&proxy).await, ["second", "second"]);
}

#[tokio::test]
async fn a_garbled_or_oversized_message_drops_the_stream_and_it_is_reconnected() {
    let orders = EchoServer::start("orders").await;
    let cp = FakeControlPlane::start().await;
    let proxy = serving_orders(&cp, orders.addr()).await;

    cp.send_raw(bytes::Bytes::from_static(b"this is not json\n"));
    cp.wait_hellos(2).await;
    // More than 16 MiB without a newline.
    cp.send_raw(bytes::Bytes::from(vec![b'x'; 17 * 1024 * 1024]));
    cp.wait_hellos(3).await;
    assert_eq!(answered_by(&proxy).await, ["orders", "orders"]);
    let log = proxy.log();
    assert!(log.contains("bad message from the control plane"), "{log}");
    assert!(
        log.contains("a message longer than 16777216 bytes"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejections_and_limiter_buckets_survive_an_unrelated_push() {
    let good = EchoServer::start("good").await;
    let bad = EchoServer::with("bad", Behaviour::default().status(503)).await;
    let app = EchoServer::start("web-app").await;
    let cp = FakeControlPlane::start().await;
    let orders = plain(
        &[good.addr(), bad.addr()],
        json!({ "circuit_breaker": { "consecutive_failures": 1, "base_ejection": "60s", "max_ejection_percent": 50 } }),
    );
    let web = json!({ "rate_limit": { "requests_per_second": 1, "burst": 2 } });
    cp.push(1, json!({ "orders": orders, "web": web }));
    let mut proxy = sidecar(&cp, Some(app.addr())).await;
    proxy.wait_ready().await;
    cp.wait_ack(1).await;

    // Eject the bad endpoint (one 503 does it).
    let client = HttpClient::new(Proto::Http1, proxy.outbound());
    let ejected = |samples: &Samples| {
        samples.sum(
            "convoy_endpoint_ejected",
            &[("service", "orders"), ("endpoint", &bad.addr().to_string())],
        )
    };
    within(STEP_TIMEOUT, "the bad endpoint to be ejected", async {
        while ejected(&proxy.metric_samples().await) != 1.0 {
            client.send(get("/warm-up")).await;
        }
    })
    .await;
    let bad_before = bad.count();
    // Use up the inbound burst (as another sidecar: mutual TLS).
    let caller = cp.pki().ca.issue(&Leaf::for_service("orders"));
    let inbound = MtlsClient::new(
        proxy.inbound(),
        Proto::Http1,
        &caller,
        cp.pki().ca.pem(),
        &pki::spiffe_id("web"),
    );
    let status = |reply: Result<convoy_tests::Reply, String>| reply.unwrap().status;
    assert_eq!(status(inbound.get("web", "/").await), 200);
    assert_eq!(status(inbound.get("web", "/").await), 200);
    assert_eq!(status(inbound.get("web", "/").await), 429);
    let limited_at = Instant::now();

    // A push that changes another service only.
    let users = plain(&[closed_port()], json!({}));
    cp.push(2, json!({ "orders": orders, "web": web, "users": users }));
    cp.wait_ack(2).await;

    let after = inbound.get("web", "/").await.unwrap();
    if limited_at.elapsed() < Duration::from_millis(900) {
        assert_eq!(
            after.status, 429,
            "the bucket was refilled by the push: {after:?}"
        );
    } else {
        eprintln!("too slow to tell whether the limiter kept its bucket (a token refilled)");
    }
    for proto in BOTH {
        let replies = HttpClient::new(proto, proxy.outbound())
            .send_many(20, 4, |i| get(&format!("/after/{i}")))
            .await;
        assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    }
    assert_eq!(bad.count(), bad_before, "the ejected endpoint got traffic");
    let samples = proxy.metric_samples().await;
    assert_eq!(ejected(&samples), 1.0);
    assert_eq!(
        samples.sum("convoy_outlier_ejections_total", &[("service", "orders")]),
        1.0
    );
}

#[tokio::test]
async fn a_tcp_service_pushed_later_gets_its_listener() {
    let echo = TcpEchoServer::start().await;
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let mut proxy = sidecar(&cp, None).await;
    proxy.wait_ready().await;
    assert!(proxy.config_json().await["listeners"]["tcp"]
        .as_object()
        .is_some_and(|tcp| tcp.is_empty()));

    let db = json!({ "protocol": "tcp", "listen": "127.0.0.1:0", "endpoints": [echo.addr().to_string()] });
    cp.push(2, json!({ "db": db }));
    cp.wait_ack(2).await;
    let listed = proxy.config_json().await["listeners"]["tcp"]["db"].clone();
    proxy.reload_addrs();
    assert_eq!(listed, proxy.tcp("db").to_string());
    let back = echo_round_trip(proxy.tcp("db"), b"hello through a pushed listener").await;
    assert_eq!(back, b"hello through a pushed listener");
    // The same service in the next snapshot keeps its listener.
    cp.push(3, json!({ "db": db, "other": {} }));
    cp.wait_ack(3).await;
    assert_eq!(proxy.config_json().await["listeners"]["tcp"]["db"], listed);

    // A port already in use refuses the snapshot; sent again once it is free, it applies.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap();
    let cache = json!({ "protocol": "tcp", "listen": port.to_string(), "endpoints": [echo.addr().to_string()] });
    cp.push(4, json!({ "db": db, "cache": cache }));
    let reason = cp.wait_nack(4).await;
    assert!(
        reason.starts_with(&format!("cannot listen on {port} (tcp service cache): ")),
        "{reason}"
    );
    assert_eq!(proxy.config_json().await["version"], "3");
    drop(busy);
    cp.close_streams();
    cp.wait_ack(4).await;
    proxy.reload_addrs();
    assert_eq!(proxy.tcp("cache"), port);
}

#[tokio::test]
async fn ready_once_it_has_a_certificate_for_its_identity() {
    let orders = EchoServer::start("orders").await;
    let cp = FakeControlPlane::start().await;
    let mut proxy = sidecar(&cp, None).await;
    cp.wait_hellos(1).await;
    let config = proxy.config_json().await;
    assert!(config["identity"]["not_after"].is_null(), "{config}");
    assert_eq!(
        cp.issued("web"),
        0,
        "no CSR before the trust domain is known"
    );

    cp.push(1, orders_at(orders.addr()));
    proxy.wait_ready().await;
    assert_eq!(cp.issued("web"), 1);
    let config = proxy.config_json().await;
    let identity = &config["identity"];
    assert_eq!(identity["spiffe_id"], pki::spiffe_id("web"), "{config}");
    assert_eq!(identity["trust_domain"], pki::TRUST_DOMAIN, "{config}");
    assert_eq!(identity["trust_anchors"], 1, "{config}");
    assert!(
        identity["not_after"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{config}"
    );
    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.sum("convoy_identity_renewals_total", &[("result", "ok")]),
        1.0
    );
    let left = samples.sum("convoy_identity_certificate_expiry_seconds", &[]);
    assert!(left > 3000.0 && left <= 3600.0, "{left}");
}

#[tokio::test]
async fn the_join_token_is_checked_and_read_again_from_its_file() {
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let token = cp.pki().dir().join("wrong-token");
    std::fs::write(&token, "not-the-token\n").unwrap();
    let mut proxy = Proxy::with_control_plane(&cp.url(), "web", closed_port())
        .control_plane_credentials(cp.pki().ca_file(), &token)
        .start_bound()
        .await;
    within(STEP_TIMEOUT, "the refusal in the log", async {
        while !proxy.log().contains("join token refused") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(proxy.admin_get("/ready").await.0, 503);
    assert!(cp.of_type("hello").is_empty());
    assert_eq!(cp.issued("web"), 0);

    // The operator fixes the file: the next attempt reads it.
    std::fs::write(&token, format!("{}\n", cp.pki().token())).unwrap();
    proxy.wait_ready().await;
    cp.wait_ack(1).await;
    assert_eq!(cp.issued("web"), 1);
}

#[tokio::test]
async fn a_control_plane_with_a_certificate_of_another_ca_is_not_trusted() {
    let cp = FakeControlPlane::start().await;
    cp.push(1, json!({}));
    let stranger = cp.pki().dir().join("stranger.pem");
    std::fs::write(&stranger, TestCa::new("stranger").pem()).unwrap();
    let proxy = Proxy::with_control_plane(&cp.url(), "web", closed_port())
        .control_plane_credentials(&stranger, cp.pki().token_file())
        .start_bound()
        .await;
    within(STEP_TIMEOUT, "the TLS failure in the log", async {
        while !proxy.log().contains("TLS handshake failed") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let log = proxy.log();
    assert!(log.contains("UnknownIssuer"), "{log}");
    assert_eq!(proxy.admin_get("/ready").await.0, 503);
    assert!(cp.messages().is_empty(), "nothing reached the impostor");
}

#[tokio::test]
async fn a_snapshot_without_trust_is_refused() {
    let cp = FakeControlPlane::start().await;
    let proxy = sidecar(&cp, None).await;
    cp.wait_hellos(1).await;
    cp.push_line(r#"{"type":"snapshot","version":1,"mesh":{"services":{}}}"#);
    let reason = cp.wait_nack(1).await;
    assert!(reason.contains("no trust"), "{reason}");
    cp.push_line(
        r#"{"type":"snapshot","version":2,"mesh":{"services":{}},"trust":{"trust_domain":"test.convoy","bundle":"not pem"}}"#,
    );
    let reason = cp.wait_nack(2).await;
    assert!(reason.starts_with("bad trust in the snapshot:"), "{reason}");
    assert_eq!(proxy.admin_get("/ready").await.0, 503);
    assert_eq!(cp.issued("web"), 0);
}

#[test]
fn a_plaintext_control_plane_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let args: Vec<std::ffi::OsString> = [
        "--control-plane",
        "http://127.0.0.1:4200",
        "--service",
        "web",
        "--app",
        "127.0.0.1:1",
    ]
    .iter()
    .map(Into::into)
    .chain([
        "--control-plane-ca".into(),
        file.clone().into(),
        "--join-token-file".into(),
        file.into(),
    ])
    .collect();
    let exited = convoy_tests::run_until_exit(&args, Duration::from_secs(10));
    assert!(!exited.status.success());
    assert!(
        exited
            .stderr
            .contains("the control plane's API runs over TLS only; use https://"),
        "{}",
        exited.stderr
    );
}

#[test]
fn an_unusable_ca_file_or_token_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, token, empty) = (
        dir.path().join("ca.pem"),
        dir.path().join("token"),
        dir.path().join("empty"),
    );
    std::fs::write(&ca, TestCa::new("ca").pem()).unwrap();
    std::fs::write(&token, "t0ken\n").unwrap();
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.pem");
    let run = |ca: &std::path::Path, token: &std::path::Path| {
        let mut args: Vec<std::ffi::OsString> = [
            "--control-plane",
            "https://127.0.0.1:4200",
            "--service",
            "web",
            "--app",
            "127.0.0.1:1",
            "--inbound-addr",
            "127.0.0.1:0",
        ]
        .iter()
        .map(Into::into)
        .collect();
        args.extend([
            "--control-plane-ca".into(),
            ca.into(),
            "--join-token-file".into(),
            token.into(),
        ]);
        convoy_tests::run_until_exit(&args, Duration::from_secs(10))
    };
    let exited = run(&missing, &token);
    assert!(!exited.status.success());
    assert!(
        exited.stderr.contains(&format!(
            "cannot read the control plane CA file {}",
            missing.display()
        )),
        "{}",
        exited.stderr
    );
    let exited = run(&empty, &token);
    assert!(
        exited.stderr.contains(&format!(
            "the control plane CA file {}: no PEM certificate found",
            empty.display()
        )),
        "{}",
        exited.stderr
    );
    let exited = run(&ca, &empty);
    assert!(!exited.status.success());
    assert!(
        exited
            .stderr
            .contains(&format!("the join token file {} is empty", empty.display())),
        "{}",
        exited.stderr
    );
}
