//! Two sidecars chained: client → sidecar A (outbound) → sidecar B (inbound) → app. The hop
//! between sidecars is HTTP/2 whatever the client spoke; the app gets its own protocol.

use convoy_tests::client::full;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{proxy_to_meshed, ConfigYaml, HttpClient, Proxy, BOTH};
use http::Version;

#[tokio::test]
async fn the_hop_between_sidecars_is_http2() {
    // A meshed endpoint is a sidecar's inbound listener; a recording server in its place shows
    // exactly what sidecar A sends on the wire.
    let fake_inbound = EchoServer::start("fake-inbound").await;
    let a = proxy_to_meshed("orders", &[fake_inbound.addr()])
        .start()
        .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, a.outbound());
        let reply = client.get("orders", "/hop").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let seen = fake_inbound.last();
        assert_eq!(seen.version, Version::HTTP_2, "client spoke {proto:?}");
        assert_eq!(seen.header("host"), Some("orders"));
    }
}

async fn chain(app_protocol: &str, app_version: Version) {
    let app = EchoServer::start("orders-app").await;
    let b = Proxy::start(
        &ConfigYaml::new("orders")
            .app(app.addr())
            .app_protocol(app_protocol)
            .render(),
    )
    .await;
    let a = proxy_to_meshed("orders", &[b.inbound()]).start().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for proto in BOTH {
        let client = HttpClient::new(proto, a.outbound());
        let request = client
            .request("orders", "/chain?x=1")
            .method("POST")
            .header("x-app-header", "passed")
            .header("traceparent", traceparent)
            .body(full(vec![7u8; 10_000]))
            .unwrap();
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.version, proto.version());
        assert_eq!(reply.header("x-upstream"), Some("orders-app"));
        let seen = app.last();
        assert_eq!(seen.version, app_version, "client spoke {proto:?}");
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.uri.path_and_query().unwrap(), "/chain?x=1");
        assert_eq!(seen.header("host"), Some("orders"));
        assert_eq!(seen.header("x-app-header"), Some("passed"));
        assert_eq!(seen.header("traceparent"), Some(traceparent));
        assert_eq!(seen.body_len, 10_000);
    }
    let inbound = b.metric_samples().await;
    assert_eq!(
        inbound.requests("inbound", "orders", "2xx"),
        2.0,
        "B's inbound counted both requests"
    );
    let outbound = a.metric_samples().await;
    assert_eq!(outbound.requests("outbound", "orders", "2xx"), 2.0);
}

#[tokio::test]
async fn chained_sidecars_deliver_http1_to_an_http1_app() {
    chain("http1", Version::HTTP_11).await;
}

#[tokio::test]
async fn chained_sidecars_deliver_http2_to_an_http2_app() {
    chain("http2", Version::HTTP_2).await;
}

#[tokio::test]
async fn app_errors_pass_through_both_sidecars_unchanged() {
    let app = EchoServer::with(
        "orders-app",
        convoy_tests::upstream::Behaviour::default().status(418),
    )
    .await;
    let b = Proxy::start(&ConfigYaml::new("orders").app(app.addr()).render()).await;
    let a = proxy_to_meshed("orders", &[b.inbound()]).start().await;
    for proto in BOTH {
        let reply = HttpClient::new(proto, a.outbound())
            .get("orders", "/teapot")
            .await;
        assert_eq!(reply.status, 418);
        assert_eq!(
            reply.convoy_error(),
            None,
            "the app's answer, not the proxy's"
        );
        assert_eq!(reply.text(), "orders-app");
    }
}

#[tokio::test]
async fn app_down_behind_sidecar_b_is_a_502_from_b() {
    let app_addr = convoy_harness::ports::closed_port();
    let b = Proxy::start(&ConfigYaml::new("orders").app(app_addr).render()).await;
    let a = proxy_to_meshed("orders", &[b.inbound()]).start().await;
    for proto in BOTH {
        let reply = HttpClient::new(proto, a.outbound())
            .get("orders", "/")
            .await;
        assert_eq!(reply.status, 502, "{reply:?}");
        assert_eq!(
            reply.convoy_error(),
            Some(
                format!("upstream connect failed: orders {app_addr}: connection refused").as_str()
            )
        );
    }
}
