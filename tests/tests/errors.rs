//! Responses the proxy makes itself: each has a status, `x-convoy-error` and a one-line body.

use convoy_harness::ports::closed_port;
use convoy_tests::raw::RawConn;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{proxy_to_echo, ConfigYaml, HttpClient, Proxy, Reply, BOTH};
use std::time::Duration;

fn assert_proxy_error(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.convoy_error(), Some(message), "{reply:?}");
    assert_eq!(
        reply.text(),
        format!("{message}\n"),
        "the body is the same one line"
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn endpoint_down_no_endpoints_and_unknown_service() {
    let down = closed_port();
    let meshed_down = closed_port();
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .plain_service("orders", &[down])
            .meshed_service("payments", &[meshed_down])
            .service("empty", "endpoints: []")
            .render(),
    )
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        assert_proxy_error(
            &client.get("orders", "/").await,
            502,
            &format!("upstream connect failed: orders {down}: connection refused"),
        );
        assert_proxy_error(
            &client.get("payments", "/").await,
            502,
            &format!("upstream connect failed: payments {meshed_down}: connection refused"),
        );
        assert_proxy_error(
            &client.get("empty", "/").await,
            503,
            "no endpoints: service empty has no endpoints",
        );
        assert_proxy_error(
            &client.get("nosuch", "/").await,
            404,
            "unknown service: `nosuch` is not in this sidecar's configuration",
        );
        assert_proxy_error(
            &client.get("nosuch.example:8080", "/").await,
            404,
            "unknown service: `nosuch.example` is not in this sidecar's configuration",
        );
    }
}

#[tokio::test]
async fn a_request_without_host_is_a_400_and_reaches_nothing() {
    let (orders, proxy) = proxy_to_echo("orders").await;
    let mut conn = RawConn::connect(proxy.outbound()).await;
    let response = conn.round_trip(b"GET /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(
        response.header("x-convoy-error"),
        Some("no destination: the request has neither a Host header nor an absolute URI")
    );
    assert_eq!(orders.count(), 0);
}

#[tokio::test]
async fn a_malformed_request_body_is_the_clients_fault() {
    // The body fails while it is being forwarded: the answer is 400 (not a 502 blaming the
    // upstream), the connection is closed, and the endpoint is not counted as failing.
    let orders = EchoServer::start("orders").await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .plain_service("plain", &[orders.addr()])
            .meshed_service("meshed", &[orders.addr()])
            .render(),
    )
    .await;
    for host in ["plain", "meshed"] {
        for (body, reason) in [
            (
                "zz\r\nhello\r\n0\r\n\r\n",
                "Invalid chunk size line: missing size digit",
            ),
            ("5\r\nhelloXX\r\n0\r\n\r\n", "Invalid chunk body CR"),
        ] {
            let mut conn = RawConn::connect(proxy.outbound()).await;
            let request = format!(
                "POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            );
            let response = conn.round_trip(request.as_bytes()).await;
            assert_eq!(response.status, 400, "{host} {body:?}: {response:?}");
            assert_eq!(
                response.header("x-convoy-error"),
                Some(format!("bad request body: {reason}").as_str()),
                "{host} {body:?}"
            );
            assert!(
                conn.wait_closed(Duration::from_secs(5)).await.is_some(),
                "the connection is closed after a framing error"
            );
        }
        // The endpoint still serves well-formed requests.
        let reply = HttpClient::new(convoy_tests::Proto::Http1, proxy.outbound())
            .get(host, "/after")
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    // Bodies stream, so the head of a bad request may reach the upstream before the bad chunk
    // does; the upstream must then see the body fail, never a complete request.
    let seen = orders.seen();
    let complete: Vec<_> = seen.iter().filter(|s| s.body_complete).collect();
    assert_eq!(complete.len(), 2, "{seen:#?}");
    assert!(
        complete.iter().all(|s| s.uri.path() == "/after"),
        "{seen:#?}"
    );
    let samples = proxy.metric_samples().await;
    for service in ["plain", "meshed"] {
        let count = |class| samples.requests("outbound", service, class);
        assert_eq!(count("4xx"), 2.0, "{service}");
        assert_eq!(count("5xx"), 0.0, "{service}: not an upstream failure");
    }
}

#[tokio::test]
async fn transfer_codings_other_than_chunked_are_refused_and_reach_nothing() {
    let (orders, proxy) = proxy_to_echo("orders").await;
    for coding in ["gzip, chunked", "chunked, chunked", "identity"] {
        let mut conn = RawConn::connect(proxy.outbound()).await;
        let request = format!(
            "POST /smuggle HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n"
        );
        // hyper itself refuses a final coding other than chunked with a bare 400; the proxy
        // refuses the rest with its own. Either way: 400, closed, and nothing forwarded.
        let response = conn.round_trip(request.as_bytes()).await;
        assert_eq!(response.status, 400, "{coding}: {response:?}");
        if let Some(error) = response.header("x-convoy-error") {
            assert_eq!(
                error, "bad framing: Transfer-Encoding other than `chunked`",
                "{coding}"
            );
        }
        assert!(
            conn.wait_closed(Duration::from_secs(5)).await.is_some(),
            "{coding}: the connection is closed after ambiguous framing"
        );
    }
    assert_eq!(orders.count(), 0, "{:#?}", orders.seen());
}
