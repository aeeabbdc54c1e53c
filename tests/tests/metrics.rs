//! `/metrics`: valid Prometheus text (checked by `promtool`), and counts that match the traffic.

use convoy_harness::ports::closed_port;
use convoy_harness::prometheus::Samples;
use convoy_tests::upstream::EchoServer;
use convoy_tests::{ConfigYaml, HttpClient, Proto, Proxy, BOTH};
use std::io::Write;
use std::process::{Command, Stdio};

const REQUESTS: &str = "convoy_requests_total";

async fn start() -> (EchoServer, Proxy) {
    let orders = EchoServer::start("orders").await;
    let proxy = Proxy::start(
        &ConfigYaml::new("web")
            .plain_service("orders", &[orders.addr()])
            .plain_service("down", &[closed_port()])
            .service("empty", "endpoints: []")
            .render(),
    )
    .await;
    (orders, proxy)
}

#[tokio::test]
async fn metrics_count_the_traffic() {
    let (orders, proxy) = start().await;
    const N: usize = 7;
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for _ in 0..N {
            assert_eq!(client.get("orders", "/").await.status, 200);
        }
        assert_eq!(client.get("down", "/").await.status, 502);
        assert_eq!(client.get("empty", "/").await.status, 503);
        for i in 0..3 {
            let host = format!("random-{proto:?}-{i}").to_lowercase();
            assert_eq!(client.get(&host, "/").await.status, 404);
        }
    }
    assert_eq!(orders.count(), 2 * N);

    let samples = proxy.metric_samples().await;
    assert_eq!(
        samples.requests("outbound", "orders", "2xx"),
        (2 * N) as f64
    );
    assert_eq!(samples.requests("outbound", "orders", "5xx"), 0.0);
    assert_eq!(samples.requests("outbound", "down", "5xx"), 2.0);
    assert_eq!(samples.requests("outbound", "empty", "5xx"), 2.0);
    assert_eq!(
        samples.requests("outbound", "_unknown", "4xx"),
        6.0,
        "unknown hosts are counted under _unknown"
    );
    let services = samples.label_values(REQUESTS, "service");
    assert!(
        services.iter().all(|s| !s.starts_with("random-")),
        "a label per unknown host: {services:?}"
    );
    assert_eq!(
        samples.sum(
            "convoy_request_duration_seconds_count",
            &[("direction", "outbound"), ("service", "orders")]
        ),
        (2 * N) as f64
    );
    assert_eq!(
        samples.sum("convoy_requests_in_flight", &[("direction", "outbound")]),
        0.0
    );
    assert_eq!(samples.sum("convoy_build_info", &[]), 1.0);
    assert!(
        samples
            .matching("convoy_open_connections", &[("listener", "outbound")])
            .count()
            == 1,
        "{samples:?}"
    );
}

#[tokio::test]
async fn open_connections_follow_the_clients() {
    let (_orders, proxy) = start().await;
    let open = |s: &Samples| s.sum("convoy_open_connections", &[("listener", "outbound")]);
    assert_eq!(open(&proxy.metric_samples().await), 0.0);
    let h1 = HttpClient::new(Proto::Http1, proxy.outbound());
    let h2 = HttpClient::new(Proto::Http2, proxy.outbound());
    assert_eq!(h1.get("orders", "/").await.status, 200);
    assert_eq!(h2.get("orders", "/").await.status, 200);
    assert_eq!(open(&proxy.metric_samples().await), 2.0);
    drop((h1, h2));
    convoy_tests::within(
        convoy_tests::STEP_TIMEOUT,
        "open connections back to 0",
        async {
            while open(&proxy.metric_samples().await) != 0.0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        },
    )
    .await;
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let Some(promtool) = convoy_tests::tools::require(
        "promtool",
        "Debian package `prometheus`: apt-get install prometheus",
    ) else {
        return;
    };
    let (_orders, proxy) = start().await;
    // Traffic first, so every family has samples (histograms, every status class in use).
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        for host in ["orders", "down", "empty", "nosuch"] {
            client.get(host, "/").await;
        }
    }
    let text = proxy.metrics().await;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("promtool finishes");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
