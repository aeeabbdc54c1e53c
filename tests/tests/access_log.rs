//! The access log: one event per request on stdout (target `convoy::access`), readable as JSON
//! with `--log-format json`.

use convoy_tests::upstream::EchoServer;
use convoy_tests::{proxy_to_plain, within, HttpClient, BOTH, STEP_TIMEOUT};
use std::time::Duration;

#[tokio::test]
async fn each_request_is_one_json_access_log_event() {
    let orders = EchoServer::start("orders").await;
    let proxy = proxy_to_plain("orders", &[orders.addr()])
        .arg("--log-format")
        .arg("json")
        .start()
        .await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    for proto in BOTH {
        let client = HttpClient::new(proto, proxy.outbound());
        let request = client
            .request("orders", "/logged?q=1")
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .body(convoy_tests::client::empty())
            .unwrap();
        assert_eq!(client.send(request).await.status, 200);
        assert_eq!(client.get("nosuch", "/").await.status, 404);
    }

    let events = within(STEP_TIMEOUT, "four access log events", async {
        loop {
            let events: Vec<serde_json::Value> = proxy
                .log()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
                .filter(|v: &serde_json::Value| v["target"] == "convoy::access")
                .collect();
            if events.len() >= 4 {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let ok: Vec<_> = events.iter().filter(|e| e["status"] == 200).collect();
    assert_eq!(ok.len(), 2, "{events:#?}");
    for event in ok {
        assert_eq!(event["direction"], "outbound");
        assert_eq!(event["method"], "GET");
        assert_eq!(event["authority"], "orders");
        assert_eq!(event["path"], "/logged");
        assert_eq!(event["trace_id"], trace_id);
        assert_eq!(event["upstream"], orders.addr().to_string());
    }
    let refused: Vec<_> = events.iter().filter(|e| e["status"] == 404).collect();
    assert_eq!(refused.len(), 2, "{events:#?}");
    for event in refused {
        assert_eq!(
            event["error"],
            "unknown service: `nosuch` is not in this sidecar's configuration"
        );
    }
}
