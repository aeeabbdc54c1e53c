//! History and rollback.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn history_lists_every_version_with_a_summary() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    cp.write("payments.yaml", "services:\n  payments: {}\n");
    sidecar.snapshot().await;
    cp.write(
        "orders.yaml",
        "services:\n  orders:\n    timeout: 2s\n    retry: { attempts: 2 }\n",
    );
    sidecar.snapshot().await;

    let history = cp.history().await;
    let events: Vec<(u64, &str, &str, &str)> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().unwrap(),
                e["kind"].as_str().unwrap(),
                e["author"].as_str().unwrap(),
                e["summary"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (1, "config", "config-dir", "loaded 1 service: orders"),
            (2, "endpoints", "registry", "joined orders 127.0.0.1:4143"),
            (3, "config", "config-dir", "added payments"),
            (4, "config", "config-dir", "changed orders (retry)"),
        ]
    );
    assert!(history["events"][0]["time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let out = cp.cli(&["history"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("VERSION  TIME"), "{text}");
    assert!(lines[1].starts_with("1        "), "{text}");
    assert!(
        lines[4].ends_with("config-dir  config     changed orders (retry)"),
        "{text}"
    );
    let out = cp.cli(&["history", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, history);
}

#[tokio::test]
async fn rollback_publishes_an_earlier_configuration_again() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    cp.write("orders.yaml", "services:\n  orders:\n    timeout: 9s\n");
    let bad = sidecar.snapshot().await;
    assert_eq!(bad["mesh"]["services"]["orders"]["timeout"], "9s");

    let out = cp.cli(&["rollback", "1", "--author", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rolled_back = version(&bad) + 1;
    assert!(
        text.starts_with(&format!(
            "published version {rolled_back} with the configuration of version 1"
        )),
        "{text}"
    );
    let snapshot = sidecar.snapshot().await;
    assert_eq!(version(&snapshot), rolled_back);
    assert_eq!(snapshot["mesh"]["services"]["orders"]["timeout"], "2s");
    assert_eq!(
        endpoints(&snapshot, "orders"),
        ["127.0.0.1:4143"],
        "today's endpoints, not those of version 1"
    );
    let last = cp.last_event().await;
    assert_eq!(last["version"], rolled_back);
    assert_eq!(last["kind"], "rollback");
    assert_eq!(last["author"], "alice");
    assert_eq!(
        last["summary"],
        "rollback to version 1: changed orders (timeouts)"
    );

    // Unknown versions are 404.
    let out = cp.cli(&["rollback", "999"]);
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.contains("404 Not Found: version 999 is not in the history"),
        "{error}"
    );

    // The API directly, with a default author.
    let (status, body) = post_json(&cp, "/v1/rollback", json!({"version": 2})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"version": rolled_back + 1}));
    assert_eq!(
        sidecar.snapshot().await["mesh"]["services"]["orders"]["timeout"],
        "2s"
    );
    let (status, _) = post_json(&cp, "/v1/rollback", json!({"versoin": 2})).await;
    assert_eq!(status, 400);

    // The next change of the directory wins again.
    cp.write("orders.yaml", "services:\n  orders:\n    timeout: 7s\n");
    let snapshot = sidecar
        .snapshot_within(Duration::from_secs(1))
        .await
        .expect("the file change");
    assert_eq!(snapshot["mesh"]["services"]["orders"]["timeout"], "7s");
}

async fn post_json(
    cp: &ControlPlane,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, body) = cp.api_request("POST", path, Some(body)).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}
