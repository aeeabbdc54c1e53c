//! Gateway mode (`convoy-proxy --gateway`) from a file: BFF route sets by path prefix and by
//! header, rewrites, header edits, CORS preflights, 413, API-key consumers who cannot be forged
//! and are limited apart, and a TLS listener checked with curl whose certificate is reloaded.

use convoy_harness::pki::{dns_san, Leaf, TestCa};
use convoy_harness::ports::free_port;
use convoy_tests::client::{empty, full};
use convoy_tests::upstream::EchoServer;
use convoy_tests::{HttpClient, Proto, Proxy};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// SHA-256 of the API key `test`.
const KEY_TEST_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// SHA-256 of the API key `abc`.
const KEY_ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn gateway_yaml(orders: SocketAddr, users: SocketAddr, listeners: &str) -> String {
    format!(
        r#"sidecar:
  service: edge
  listen: {{ outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }}
services:
  orders: {{ endpoints: ["{orders}"] }}
  users: {{ endpoints: ["{users}"] }}
gateways:
  edge:
    listeners:
{listeners}
    api_keys:
      - {{ name: mobile-app, key_sha256: {KEY_TEST_SHA256} }}
      - {{ name: partner, key_sha256: {KEY_ABC_SHA256} }}
    route_sets:
      - name: mobile
        match: {{ header: {{ name: x-client, value: mobile }} }}
        routes:
          - name: mobile-orders
            match: {{ path_prefix: /orders }}
            service: orders
            rewrite: {{ replace_prefix: {{ from: /orders, to: /api/v2/orders }} }}
            auth: {{ methods: [{{ api_key: {{ header: x-api-key }} }}] }}
            rate_limit: {{ requests_per_second: 1, burst: 2, per: consumer }}
      - name: web
        match: {{ path_prefix: /web }}
        cors: {{ allow_origins: [https://app.example.com], allow_methods: [GET, POST], allow_headers: [authorization] }}
        routes:
          - name: web-orders
            match: {{ path_prefix: /web/orders }}
            service: orders
            rewrite: {{ strip_prefix: /web }}
            request_headers: {{ add: {{ x-from: gateway }}, remove: [cookie] }}
            response_headers: {{ add: {{ cache-control: no-store }}, remove: [x-upstream-extra] }}
            max_body: 16B
          - name: web-users
            match: {{ path_prefix: /web/users, methods: [GET] }}
            service: users
"#
    )
}

async fn start_gateway(yaml: &str) -> Proxy {
    Proxy::builder(yaml).arg("--gateway").start().await
}

#[tokio::test]
async fn bff_routes_rewrites_edits_cors_and_body_limits() {
    let orders = EchoServer::start("orders").await;
    let users = EchoServer::start("users").await;
    let listeners = format!("      - address: {}\n", free_port());
    let gateway = start_gateway(&gateway_yaml(orders.addr(), users.addr(), &listeners)).await;
    let addr = gateway.addrs().gateway[0];
    assert!(
        gateway.addrs().outbound.is_none(),
        "a gateway has no outbound listener"
    );
    for proto in convoy_tests::BOTH {
        let client = HttpClient::new(proto, addr);
        // Route set `web` by path prefix: the prefix is stripped, headers edited.
        let request = client
            .request("api.example.com", "/web/orders/7?x=1")
            .header("cookie", "session=1")
            .header("x-convoy-consumer", "forged")
            .body(empty())
            .unwrap();
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200, "{proto:?}: {reply:?}");
        assert_eq!(reply.header("x-upstream"), Some("orders"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let seen = orders.last();
        assert_eq!(seen.uri.path_and_query().unwrap(), "/orders/7?x=1");
        assert_eq!(seen.header("host"), Some("orders"));
        assert_eq!(seen.header("x-from"), Some("gateway"));
        assert_eq!(seen.header("cookie"), None);
        assert_eq!(
            seen.header("x-convoy-consumer"),
            None,
            "a forged consumer is removed"
        );

        let reply = client.get("api.example.com", "/web/users/1").await;
        assert_eq!(reply.header("x-upstream"), Some("users"), "{reply:?}");
        assert_eq!(users.last().uri.path(), "/web/users/1", "no rewrite");

        // No route: 404 saying why.
        let reply = client.get("api.example.com", "/elsewhere").await;
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.convoy_error(),
            Some("no route: no route set matches /elsewhere")
        );

        // CORS preflight answered at the gateway.
        let preflight = http::Request::options(format!("http://{addr}/web/users/1"))
            .header("host", "api.example.com")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET")
            .body(empty())
            .unwrap();
        let reply = client.send(preflight).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(reply.header("access-control-max-age"), Some("600"));

        // 413: by content-length.
        let big = client
            .request("api.example.com", "/web/orders")
            .method("POST")
            .body(full("0123456789abcdefXYZ"))
            .unwrap();
        let reply = client.send(big).await;
        assert_eq!(reply.status, 413, "{proto:?}: {reply:?}");
        assert!(reply
            .convoy_error()
            .unwrap()
            .starts_with("payload too large:"));
    }
}

#[tokio::test]
async fn api_key_consumers_are_told_to_the_service_and_limited_apart() {
    let orders = EchoServer::start("orders").await;
    let users = EchoServer::start("users").await;
    let listeners = format!("      - address: {}\n", free_port());
    let gateway = start_gateway(&gateway_yaml(orders.addr(), users.addr(), &listeners)).await;
    let client = HttpClient::new(Proto::Http1, gateway.addrs().gateway[0]);
    let send = |key: Option<&'static str>| {
        let mut request = client
            .request("edge", "/orders/1")
            .header("x-client", "mobile")
            .header("x-convoy-consumer", "partner");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        client.send(request.body(empty()).unwrap())
    };
    let reply = send(None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.header("www-authenticate").is_some());
    let reply = send(Some("wrong")).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    // mobile-app: burst 2, then 429.
    for _ in 0..2 {
        let reply = send(Some("test")).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let seen = orders.last();
        assert_eq!(seen.header("x-convoy-consumer"), Some("mobile-app"));
        assert_eq!(seen.uri.path(), "/api/v2/orders/1");
    }
    let reply = send(Some("test")).await;
    assert_eq!(reply.status, 429, "{reply:?}");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some("\"mobile-orders:consumer\";q=1;w=1")
    );
    // Another consumer has its own allowance.
    let reply = send(Some("abc")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(orders.last().header("x-convoy-consumer"), Some("partner"));
}

/// A CA, and a leaf for `localhost` signed by it: (CA PEM, leaf PEM, leaf key PEM).
fn certificates(name: &str) -> (String, String, String) {
    let ca = TestCa::new(name);
    let leaf = ca.issue(&Leaf::new("localhost").sans(vec![dns_san("localhost")]));
    (
        ca.pem().to_owned(),
        leaf.cert_pem.clone(),
        leaf.key_pem.clone(),
    )
}

/// curl over TLS, verifying with `ca` (async: the upstreams run on this test's runtime).
async fn curl(addr: SocketAddr, ca: &Path, http2: bool) -> String {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .args([
            "-w",
            "%{http_version} %{http_code}",
            "-o",
            "/dev/null",
            "--resolve",
        ])
        .arg(format!("localhost:{}:127.0.0.1", addr.port()))
        .arg(format!("https://localhost:{}/web/users/1", addr.port()))
        .output()
        .await
        .expect("run curl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_tls_listener_serves_its_certificate_and_reloads_it() {
    let orders = EchoServer::start("orders").await;
    let users = EchoServer::start("users").await;
    let dir = tempfile::tempdir().unwrap();
    let (ca1, cert1, key1) = certificates("first CA");
    let cert_path = dir.path().join("edge.pem");
    let key_path = dir.path().join("edge.key");
    std::fs::write(&cert_path, cert1).unwrap();
    std::fs::write(&key_path, key1).unwrap();
    let ca1_path = dir.path().join("ca1.pem");
    std::fs::write(&ca1_path, ca1).unwrap();
    let listeners = format!(
        "      - address: {}\n        tls: {{ certificate: {}, key: {} }}\n",
        free_port(),
        cert_path.display(),
        key_path.display()
    );
    let gateway = start_gateway(&gateway_yaml(orders.addr(), users.addr(), &listeners)).await;
    let addr = gateway.addrs().gateway[0];
    assert_eq!(curl(addr, &ca1_path, false).await, "1.1 200");
    assert_eq!(curl(addr, &ca1_path, true).await, "2 200");

    // A new pair from another CA: picked up within seconds; the old CA no longer verifies it.
    let (ca2, cert2, key2) = certificates("second CA");
    let ca2_path = dir.path().join("ca2.pem");
    std::fs::write(&ca2_path, ca2).unwrap();
    std::fs::write(&key_path, key2).unwrap();
    std::fs::write(&cert_path, cert2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = curl(addr, &ca2_path, false).await;
        if out == "1.1 200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reloaded: {out}\n{}",
            gateway.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(curl(addr, &ca1_path, false).await, "1.1 200");
    // A broken pair is refused and the one in force stays.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(curl(addr, &ca2_path, false).await, "1.1 200");
}
