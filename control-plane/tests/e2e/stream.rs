//! The stream: hello, snapshots, pings, ACK/NACK, heartbeats, shutdown.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_snapshot_follows_hello_at_once_with_the_sidecars_own_endpoint() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut orders = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    let first = orders
        .next_within(Duration::from_secs(1))
        .await
        .expect("a snapshot at once");
    assert_eq!(first["type"], "snapshot");
    assert_eq!(endpoints(&first, "orders"), ["127.0.0.1:4143"]);
    assert_eq!(
        first["mesh"]["services"]["orders"]["timeout"], "2s",
        "the YAML's shape"
    );

    // A service the YAML does not name joins the mesh with its sidecar's endpoint.
    let mut web = Sidecar::connect(&cp, "web-1", "web", "127.0.0.1:5143").await;
    let web_first = web.snapshot().await;
    assert_eq!(endpoints(&web_first, "web"), ["127.0.0.1:5143"]);
    assert_eq!(endpoints(&web_first, "orders"), ["127.0.0.1:4143"]);
    let pushed = orders.snapshot().await;
    assert_eq!(
        version(&pushed),
        version(&web_first),
        "everyone gets the new version"
    );
    assert!(version(&pushed) > version(&first));
}

#[tokio::test]
async fn a_stream_that_does_not_start_with_a_valid_hello_is_refused() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let refused = Sidecar::open(&cp, r#"{"type":"ping"}"#)
        .await
        .err()
        .unwrap();
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.reason,
        "bad hello: the first message must be a hello, got ping"
    );
    let refused = Sidecar::open(&cp, &hello("a", "orders", "nowhere").to_string())
        .await
        .err()
        .unwrap();
    assert_eq!(refused.status, 400);
    assert!(
        refused.reason.starts_with("bad hello: address:"),
        "{}",
        refused.reason
    );
    let refused = Sidecar::open(&cp, "{").await.err().unwrap();
    assert!(
        refused.reason.contains("not a valid hello"),
        "{}",
        refused.reason
    );
    assert!(cp.status().await["sidecars"].as_array().unwrap().is_empty());
}

/// A stream needs a join token admitting the service its hello names; each snapshot carries
/// the trust bundle.
#[tokio::test]
async fn a_stream_needs_a_join_token_for_its_service() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let orders = hello("orders-1", "orders", "127.0.0.1:4143").to_string();
    let refused = Sidecar::open_with(&cp, None, &orders).await.err().unwrap();
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (401, "join token missing")
    );
    let refused = Sidecar::open_with(&cp, Some("guess"), &orders)
        .await
        .err()
        .unwrap();
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (401, "join token refused for service orders")
    );

    // A per-service token admits its service only.
    std::fs::create_dir_all(cp.ca_dir.join("tokens")).unwrap();
    std::fs::write(cp.ca_dir.join("tokens/web"), "web-token\n").unwrap();
    let refused = Sidecar::open_with(&cp, Some("web-token"), &orders)
        .await
        .err()
        .unwrap();
    assert_eq!(refused.reason, "join token refused for service orders");
    let web = hello("web-1", "web", "127.0.0.1:5143").to_string();
    let mut sidecar = Sidecar::open_with(&cp, Some("web-token"), &web)
        .await
        .unwrap();
    let snapshot = sidecar.snapshot().await;
    assert_eq!(snapshot["trust"]["trust_domain"], "convoy.local");
    let ca_pem = std::fs::read_to_string(cp.ca_file()).unwrap();
    assert_eq!(snapshot["trust"]["bundle"], ca_pem.as_str());

    let (_, metrics) = get(cp.admin, "/metrics").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("convoy_cp_streams_refused_total{reason=\"no_token\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("convoy_cp_streams_refused_total{reason=\"bad_token\"} 2"),
        "{metrics}"
    );
    let status = cp.status().await;
    assert_eq!(status["sidecars"].as_array().unwrap().len(), 1, "{status}");
}

#[tokio::test]
async fn pings_get_pongs() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    sidecar.send(json!({"type": "ping"})).await;
    assert_eq!(sidecar.next().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn acks_and_nacks_show_in_status_and_metrics() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    let first = version(&sidecar.snapshot().await);
    sidecar.send(json!({"type": "ack", "version": first})).await;
    let status = cp
        .status_until("the ACK", |s| s["sidecars"][0]["acked_version"] == first)
        .await;
    let entry = &status["sidecars"][0];
    assert_eq!(entry["id"], "orders-1");
    assert_eq!(entry["service"], "orders");
    assert_eq!(entry["address"], "127.0.0.1:4143");
    assert_eq!(entry["connected"], true);
    assert!(entry["connected_since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entry["last_nack"], serde_json::Value::Null);

    cp.write("orders.yaml", "services:\n  orders:\n    timeout: 3s\n");
    let second = version(&sidecar.snapshot().await);
    let reason = "<control-plane snapshot>: services.orders.listen: 127.0.0.1:4140 overlaps sidecar.listen.outbound (127.0.0.1:4140)";
    sidecar
        .send(json!({"type": "nack", "version": second, "reason": reason}))
        .await;
    let status = cp
        .status_until("the NACK", |s| !s["sidecars"][0]["last_nack"].is_null())
        .await;
    assert_eq!(
        status["sidecars"][0]["last_nack"],
        json!({"version": second, "reason": reason})
    );
    assert_eq!(
        status["sidecars"][0]["acked_version"], first,
        "still on the last good one"
    );

    let (_, metrics) = get(cp.admin, "/metrics").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(metrics.contains("convoy_cp_nacks_total 1"), "{metrics}");
    assert!(
        metrics.contains("convoy_cp_push_ack_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("convoy_cp_connected_sidecars 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("convoy_cp_version {second}")),
        "{metrics}"
    );

    // The status command shows the same.
    let out = cp.cli(&["status"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("v{second}: {reason}")), "{text}");
}

#[tokio::test]
async fn a_silent_sidecar_is_disconnected() {
    let cp = ControlPlane::start(
        &[("orders.yaml", ORDERS)],
        &["--heartbeat-timeout", "300ms", "--endpoint-grace", "5s"],
    )
    .await;
    let mut talking = Sidecar::connect(&cp, "talking", "orders", "127.0.0.1:1").await;
    let mut silent = Sidecar::connect(&cp, "silent", "orders", "127.0.0.1:2").await;
    silent.snapshot().await;
    talking.snapshot().await;
    let pinger = async {
        for _ in 0..8 {
            talking.send(json!({"type": "ping"})).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (_, ended) = tokio::join!(pinger, silent.ends_within(Duration::from_secs(2)));
    assert!(ended, "the silent sidecar's stream was closed");
    let status = cp.status().await;
    let sidecars = status["sidecars"].as_array().unwrap();
    assert_eq!(sidecars[0]["id"], "silent");
    assert_eq!(sidecars[0]["connected"], false);
    assert_eq!(sidecars[1]["id"], "talking");
    assert_eq!(sidecars[1]["connected"], true, "pings keep it connected");
}

#[tokio::test]
async fn sigterm_closes_the_streams_and_exits() {
    let mut cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    let exit = cp.terminate().await;
    assert!(exit.success(), "{exit}");
    assert!(sidecar.ends_within(Duration::from_secs(1)).await);
}
