//! The registry: endpoints leave after the grace, and stay for a sidecar that comes back.

use crate::support::*;
use std::time::Duration;

#[tokio::test]
async fn a_sidecar_that_leaves_loses_its_endpoint_after_the_grace() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &["--endpoint-grace", "300ms"]).await;
    let leaving = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4101").await;
    let mut staying = Sidecar::connect(&cp, "orders-2", "orders", "127.0.0.1:4102").await;
    let snapshot = staying.snapshot().await;
    assert_eq!(
        endpoints(&snapshot, "orders"),
        ["127.0.0.1:4101", "127.0.0.1:4102"]
    );

    leaving.crash();
    let status = cp
        .status_until("the disconnection", |s| {
            s["sidecars"][0]["connected"] == false
        })
        .await;
    assert_eq!(
        status["sidecars"].as_array().unwrap().len(),
        2,
        "within the grace"
    );
    let snapshot = staying
        .snapshot_within(Duration::from_secs(2))
        .await
        .expect("a new version after the grace");
    assert_eq!(endpoints(&snapshot, "orders"), ["127.0.0.1:4102"]);
    let status = cp.status().await;
    assert_eq!(status["sidecars"].as_array().unwrap().len(), 1);
    assert_eq!(status["sidecars"][0]["id"], "orders-2");
    let last = cp.last_event().await;
    assert_eq!(last["kind"], "endpoints");
    assert_eq!(last["author"], "registry");
    assert_eq!(last["summary"], "left orders 127.0.0.1:4101");
}

#[tokio::test]
async fn a_sidecar_that_hangs_up_cleanly_leaves_too() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &["--endpoint-grace", "300ms"]).await;
    let mut leaving = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4101").await;
    let mut staying = Sidecar::connect(&cp, "orders-2", "orders", "127.0.0.1:4102").await;
    leaving.snapshot().await;
    staying.snapshot().await;
    leaving.hang_up();
    let snapshot = loop {
        let snapshot = staying.snapshot().await;
        if endpoints(&snapshot, "orders").len() == 1 {
            break snapshot;
        }
    };
    assert_eq!(endpoints(&snapshot, "orders"), ["127.0.0.1:4102"]);
}

#[tokio::test]
async fn a_sidecar_back_within_the_grace_keeps_its_endpoint() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &["--endpoint-grace", "1s"]).await;
    let leaving = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4101").await;
    let mut staying = Sidecar::connect(&cp, "orders-2", "orders", "127.0.0.1:4102").await;
    let before = loop {
        let snapshot = staying.snapshot().await;
        if endpoints(&snapshot, "orders").len() == 2 {
            break version(&snapshot);
        }
    };
    leaving.crash();
    cp.status_until("the disconnection", |s| {
        s["sidecars"][0]["connected"] == false
    })
    .await;
    let mut back = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4101").await;
    let snapshot = back.snapshot().await;
    assert_eq!(
        version(&snapshot),
        before,
        "nothing changed, nothing published"
    );
    assert_eq!(
        endpoints(&snapshot, "orders"),
        ["127.0.0.1:4101", "127.0.0.1:4102"]
    );
    assert!(
        staying
            .snapshot_within(Duration::from_millis(1500))
            .await
            .is_none(),
        "the endpoint never left"
    );
    let status = cp.status().await;
    assert_eq!(status["sidecars"][0]["connected"], true);
    assert_eq!(status["version"], before);
}
