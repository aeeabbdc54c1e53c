//! The admin listener: `/live`, `/ready`, `/config`, and what it refuses.

use convoy_tests::upstream::EchoServer;
use convoy_tests::{ConfigYaml, HttpClient, Proto, Proxy};

#[tokio::test]
async fn live_ready_and_config() {
    let orders = EchoServer::start("orders").await;
    let yaml = ConfigYaml::new("web")
        .plain_service("orders", &[orders.addr()])
        .render();
    let proxy = Proxy::start(&yaml).await;

    assert_eq!(proxy.admin_get("/live").await, (200, "live\n".to_owned()));
    assert_eq!(proxy.admin_get("/ready").await, (200, "ready\n".to_owned()));

    let (status, body) = proxy.admin_get("/config").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("/config is JSON");
    let version = json["version"].as_str().expect("a string version");
    assert!(!version.is_empty(), "{json}");
    assert_eq!(json["config"]["sidecar"]["service"], "web", "{json}");
    assert_eq!(
        json["config"]["mesh"]["services"]["orders"]["endpoints"][0],
        orders.addr().to_string(),
        "{json}"
    );
    assert_eq!(
        json["listeners"]["outbound"],
        proxy.outbound().to_string(),
        "{json}"
    );

    // The version is a stable function of the file: a second proxy with the same file agrees.
    let again = Proxy::start(&yaml).await;
    let (_, body) = again.admin_get("/config").await;
    let json2: serde_json::Value = serde_json::from_str(&body).expect("/config is JSON");
    assert_eq!(json2["version"], json["version"]);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let proxy = Proxy::start(&ConfigYaml::new("web").render()).await;
    let (status, _) = proxy.admin_get("/nope").await;
    assert_eq!(status, 404);
    let client = HttpClient::new(Proto::Http1, proxy.admin());
    let request = http::Request::post("http://admin/ready")
        .body(convoy_tests::client::empty())
        .unwrap();
    assert_eq!(client.send(request).await.status, 405);
}
