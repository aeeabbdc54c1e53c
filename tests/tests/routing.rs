//! Routing: by Host / `:authority`, by absolute URI, by route (path and headers), by weight.

use convoy_tests::client::empty;
use convoy_tests::conn::H1Conn;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{endpoints, proxy_to_echo, ConfigYaml, HttpClient, Proxy, BOTH};
use http::Version;

#[tokio::test]
async fn host_header_and_authority_pick_the_service() {
    let orders = EchoServer::start("orders").await;
    let users = EchoServer::start("users").await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .plain_service("orders", &[orders.addr()])
            .plain_service("users", &[users.addr()])
            .render(),
    )
    .await;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for (host, upstream) in [
            ("orders", &orders),
            ("users", &users),
            ("Orders:8080", &orders),
        ] {
            let reply = client.get(host, "/items?page=2").await;
            assert_eq!(reply.status, 200, "{proto:?} {host}: {reply:?}");
            assert_eq!(reply.version, proto.version());
            assert_eq!(reply.header("x-upstream"), Some(upstream.name()));
            let seen = upstream.last();
            assert_eq!(
                seen.header("host"),
                Some(host),
                "{proto:?}: the upstream sees the authority the client asked for"
            );
            assert_eq!(seen.uri.path_and_query().unwrap(), "/items?page=2");
            assert_eq!(
                seen.version,
                Version::HTTP_11,
                "plain upstreams get HTTP/1.1"
            );
        }
    }
    assert_eq!(orders.count(), 4);
    assert_eq!(users.count(), 2);
}

#[tokio::test]
async fn absolute_form_uri_wins_over_the_host_header() {
    let (orders, proxy) = proxy_to_echo("orders").await;
    let mut conn = H1Conn::connect(proxy.outbound()).await;
    // As an HTTP proxy client sends it: absolute URI; the Host header says something else.
    let request = http::Request::get("http://orders/abs/path?q=1")
        .header("host", "web")
        .body(empty())
        .unwrap();
    let reply = conn.send(request).await.expect("absolute-form request");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("x-upstream"), Some("orders"));
    let seen = orders.last();
    assert_eq!(seen.header("host"), Some("orders"));
    assert_eq!(
        seen.uri.to_string(),
        "/abs/path?q=1",
        "the upstream gets origin form"
    );

    // Absolute form without any Host header works too.
    let request = http::Request::get("http://orders/second")
        .body(empty())
        .unwrap();
    let reply = conn.send(request).await.expect("absolute-form request");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(orders.last().header("host"), Some("orders"));
}

#[tokio::test]
async fn routes_match_path_prefix_exact_path_and_headers() {
    let orders = EchoServer::start("orders").await;
    let canary = EchoServer::start("orders-v2").await;
    let special = EchoServer::start("special").await;
    let routes = format!(
        "meshed: false\n{}\nroutes:\n  - match: {{ path_prefix: /v2/, headers: {{ x-canary: \"1\" }} }}\n    backends: [{{ service: orders-v2 }}]\n  - match: {{ path_exact: /special }}\n    backends: [{{ service: special }}]\n",
        endpoints(&[orders.addr()])
    );
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .service("orders", &routes)
            .plain_service("orders-v2", &[canary.addr()])
            .plain_service("special", &[special.addr()])
            .render(),
    )
    .await;
    let cases: [(&str, Option<&str>, &EchoServer); 7] = [
        ("/v2/items", Some("1"), &canary),
        ("/v2/items", None, &orders),
        ("/v2/items", Some("2"), &orders),
        ("/v1/items", Some("1"), &orders),
        ("/special", None, &special),
        ("/special?with=query", Some("1"), &special),
        ("/special/more", None, &orders),
    ];
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for (path, header, expected) in cases {
            let mut request = client.request("orders", path);
            if let Some(value) = header {
                request = request.header("x-canary", value);
            }
            let reply = client.send(request.body(empty()).unwrap()).await;
            assert_eq!(reply.status, 200, "{proto:?} {path} {header:?}: {reply:?}");
            assert_eq!(
                reply.header("x-upstream"),
                Some(expected.name()),
                "{proto:?} {path} x-canary={header:?}"
            );
            let seen = expected.last();
            assert_eq!(seen.uri.path_and_query().unwrap().as_str(), path);
            assert_eq!(
                seen.header("host"),
                Some("orders"),
                "a routed request keeps the authority the client asked for"
            );
        }
    }
}

#[tokio::test]
async fn weighted_backends_split_the_traffic() {
    let a = EchoServer::start("blue").await;
    let b = EchoServer::start("green").await;
    let split =
        "routes:\n  - backends: [{ service: blue, weight: 1 }, { service: green, weight: 1 }]\n";
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .service("shop", split)
            .plain_service("blue", &[a.addr()])
            .plain_service("green", &[b.addr()])
            .render(),
    )
    .await;
    const PER_PROTOCOL: usize = 100;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..PER_PROTOCOL {
            assert_eq!(client.get("shop", "/").await.status, 200);
        }
    }
    let total = 2 * PER_PROTOCOL;
    assert_eq!(a.count() + b.count(), total);
    // Weights 1:1 over 200 requests: each side within 30%..70% (a binomial far outside that
    // has a probability below 1e-8).
    for side in [&a, &b] {
        let share = side.count() as f64 / total as f64;
        assert!(
            (0.3..=0.7).contains(&share),
            "{} got {} of {total}",
            side.name(),
            side.count()
        );
    }
}
