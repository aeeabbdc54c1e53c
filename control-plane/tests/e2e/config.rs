//! Changes of the config directory: published at once when they validate, rejected (with the
//! file, line and column) when they do not.

use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_file_edit_reaches_every_sidecar_within_a_second() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecars = Vec::new();
    for i in 0..3 {
        let address = format!("127.0.0.1:{}", 4100 + i);
        let mut sidecar = Sidecar::connect(&cp, &format!("orders-{i}"), "orders", &address).await;
        sidecar.snapshot().await;
        sidecars.push(sidecar);
    }
    // Catch up with the registrations of the others.
    let current = cp.status().await["version"].as_u64().unwrap();
    for sidecar in &mut sidecars {
        while sidecar
            .snapshot_within(Duration::from_millis(200))
            .await
            .is_some_and(|s| version(&s) < current)
        {}
    }

    let edited = Instant::now();
    cp.write("orders.yaml", "services:\n  orders:\n    timeout: 3s\n");
    for sidecar in &mut sidecars {
        let left = Duration::from_secs(1).saturating_sub(edited.elapsed());
        let snapshot = sidecar
            .snapshot_within(left)
            .await
            .expect("the new version within a second of the edit");
        assert_eq!(version(&snapshot), current + 1);
        assert_eq!(snapshot["mesh"]["services"]["orders"]["timeout"], "3s");
        assert_eq!(
            endpoints(&snapshot, "orders").len(),
            3,
            "registered endpoints kept"
        );
    }
    let last = cp.last_event().await;
    assert_eq!(last["kind"], "config");
    assert_eq!(last["author"], "config-dir");
    assert_eq!(last["summary"], "changed orders (timeouts)");
}

#[tokio::test]
async fn an_editor_that_saves_by_renaming_is_seen() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    let first = version(&sidecar.snapshot().await);
    let tmp = cp.path(".orders.yaml.swp");
    std::fs::write(&tmp, "services:\n  orders:\n    timeout: 4s\n").unwrap();
    std::fs::rename(&tmp, cp.path("orders.yaml")).unwrap();
    let snapshot = sidecar
        .snapshot_within(Duration::from_secs(1))
        .await
        .expect("the renamed file within a second");
    assert_eq!(version(&snapshot), first + 1);
    assert_eq!(snapshot["mesh"]["services"]["orders"]["timeout"], "4s");

    // A new file is a change too; a file that is not YAML is not.
    cp.write("notes.txt", "not config");
    cp.write("payments.yml", "services:\n  payments: {}\n");
    let snapshot = sidecar.snapshot().await;
    assert!(snapshot["mesh"]["services"]["payments"].is_object());
    assert!(sidecar
        .snapshot_within(Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn an_invalid_edit_publishes_nothing_and_status_says_where() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    let good = version(&sidecar.snapshot().await);

    cp.write(
        "orders.yaml",
        "services:\n  orders:\n    timeout: 2s\n    retry: { attempts: 0 }\n",
    );
    let status = cp
        .status_until("the rejection", |s| !s["last_rejected"].is_null())
        .await;
    let error = status["last_rejected"]["error"].as_str().unwrap();
    let file = cp.path("orders.yaml").display().to_string();
    assert_eq!(
        error,
        format!("{file}:4:24: services.orders.retry.attempts: must be within 1..=10, got 0")
    );
    assert!(status["last_rejected"]["time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        status["version"], good,
        "the last good version stays in force"
    );
    assert!(
        sidecar
            .snapshot_within(Duration::from_millis(1500))
            .await
            .is_none(),
        "nothing published, not even by the poll"
    );
    let (_, metrics) = get(cp.admin, "/metrics").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("convoy_cp_rejected_changes_total 1"),
        "{metrics}"
    );

    // The status command shows it too.
    let out = cp.cli(&["status"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("{file}:4:24: services.orders.retry.attempts")),
        "{text}"
    );

    // Fixed: published, and the rejection is cleared.
    cp.write("orders.yaml", "services:\n  orders:\n    timeout: 5s\n");
    let snapshot = sidecar.snapshot().await;
    assert_eq!(version(&snapshot), good + 1);
    assert!(cp.status().await["last_rejected"].is_null());
}

#[tokio::test]
async fn saving_the_same_configuration_publishes_nothing() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    cp.write("orders.yaml", &format!("# a comment\n{ORDERS}"));
    assert!(sidecar
        .snapshot_within(Duration::from_millis(1500))
        .await
        .is_none());
}
