//! Header hygiene: hop-by-hop headers are removed both ways; `traceparent` is kept, created or
//! replaced.

use convoy_tests::client::empty;
use convoy_tests::raw::RawConn;
use convoy_tests::upstream::{Behaviour, EchoServer};
use convoy_tests::{ConfigYaml, HttpClient, Proto, Proxy, BOTH};
use std::net::SocketAddr;

/// Request headers a client must not be able to pass beyond the proxy.
const REQUEST_HOP_BY_HOP: [&str; 6] = [
    "x-foo",
    "keep-alive",
    "proxy-authorization",
    "upgrade",
    "proxy-connection",
    "connection",
];

fn upstream_behaviour() -> Behaviour {
    Behaviour::default()
        .header("connection", "x-bar")
        .header("x-bar", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-authenticate", "Basic realm=\"x\"")
        .header("x-ordinary-response", "yes")
}

async fn start() -> (EchoServer, Proxy) {
    let upstream = EchoServer::with("orders", upstream_behaviour()).await;
    let proxy = Proxy::start(
        &ConfigYaml::new("orders")
            .app(upstream.addr())
            .plain_service("orders", &[upstream.addr()])
            .render(),
    )
    .await;
    (upstream, proxy)
}

/// Sends a request with every kind of hop-by-hop header over raw HTTP/1.1 to `listener`.
async fn send_raw_hop_by_hop(listener: SocketAddr) -> convoy_tests::raw::RawResponse {
    let mut conn = RawConn::connect(listener).await;
    conn.round_trip(
        b"GET /hop HTTP/1.1\r\n\
          Host: orders\r\n\
          Connection: keep-alive, x-foo\r\n\
          x-foo: secret\r\n\
          Keep-Alive: timeout=5\r\n\
          Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
          Proxy-Connection: keep-alive\r\n\
          Upgrade: websocket\r\n\
          TE: gzip\r\n\
          x-ordinary: yes\r\n\
          \r\n",
    )
    .await
}

fn assert_request_clean(upstream: &EchoServer, listener: &str) {
    let seen = upstream.last();
    for name in REQUEST_HOP_BY_HOP {
        assert_eq!(seen.header(name), None, "{listener}: upstream saw `{name}`");
    }
    assert_eq!(
        seen.header("te"),
        None,
        "{listener}: `te: gzip` is hop-by-hop"
    );
    assert_eq!(seen.header("x-ordinary"), Some("yes"), "{listener}");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_over_http1_both_listeners() {
    let (upstream, proxy) = start().await;
    for (listener, addr) in [("outbound", proxy.outbound()), ("inbound", proxy.inbound())] {
        let response = send_raw_hop_by_hop(addr).await;
        assert_eq!(response.status, 200, "{listener}: {response:?}");
        assert_request_clean(&upstream, listener);
        for name in ["x-bar", "keep-alive", "proxy-authenticate"] {
            assert_eq!(
                response.header(name),
                None,
                "{listener}: client saw `{name}`: {response:?}"
            );
        }
        assert!(
            response
                .headers
                .iter()
                .all(|(n, v)| n != "connection" || !v.contains("x-bar")),
            "{listener}: {response:?}"
        );
        assert_eq!(response.header("x-ordinary-response"), Some("yes"));
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_over_http2() {
    let (upstream, proxy) = start().await;
    for addr in [proxy.outbound(), proxy.inbound()] {
        // HTTP/2 forbids connection-specific headers, and clients do not send them; what an
        // HTTP/2 client can send is `proxy-authorization`, and `te: trailers`, which is kept.
        let client = HttpClient::new(Proto::Http2, addr);
        let request = client
            .request("orders", "/hop")
            .header("proxy-authorization", "Basic Zm9vOmJhcg==")
            .header("te", "trailers")
            .header("x-ordinary", "yes")
            .body(empty())
            .unwrap();
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let seen = upstream.last();
        assert_eq!(seen.header("proxy-authorization"), None);
        assert_eq!(seen.header("te"), Some("trailers"));
        assert_eq!(seen.header("x-ordinary"), Some("yes"));
        for name in ["x-bar", "keep-alive", "connection", "proxy-authenticate"] {
            assert_eq!(reply.header(name), None, "client saw `{name}`: {reply:?}");
        }
        assert_eq!(reply.header("x-ordinary-response"), Some("yes"));
    }
}

fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && nonzero(parts[1])
        && hex(parts[2], 16)
        && nonzero(parts[2])
        && hex(parts[3], 2)
}

#[tokio::test]
async fn traceparent_is_kept_created_or_replaced() {
    let (upstream, proxy) = start().await;
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let send = |traceparent: Option<&'static str>| {
            let mut request = client.request("orders", "/trace");
            if let Some(value) = traceparent {
                request = request.header("traceparent", value);
            }
            client.send(request.body(empty()).unwrap())
        };

        assert_eq!(send(Some(valid)).await.status, 200);
        assert_eq!(
            upstream.last().header("traceparent"),
            Some(valid),
            "{proto:?}"
        );

        assert_eq!(send(None).await.status, 200);
        let created = upstream.last().header("traceparent").map(str::to_owned);
        let created = created.expect("a traceparent is created when missing");
        assert!(
            valid_traceparent(&created),
            "{proto:?}: created {created:?}"
        );
        assert_eq!(send(None).await.status, 200);
        let second = upstream.last().header("traceparent").unwrap().to_owned();
        assert_ne!(
            created[3..35],
            second[3..35],
            "each request gets its own trace id"
        );

        for malformed in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(send(Some(malformed)).await.status, 200);
            let replaced = upstream.last().header("traceparent").unwrap().to_owned();
            assert!(
                valid_traceparent(&replaced),
                "{proto:?}: {malformed:?} became {replaced:?}"
            );
            assert_ne!(replaced, malformed);
            let all = upstream.last();
            assert_eq!(
                all.headers.get_all("traceparent").iter().count(),
                1,
                "exactly one traceparent"
            );
        }
    }
}
