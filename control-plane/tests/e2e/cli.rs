//! The command line: `validate`, `status`, startup errors, the admin listener.

use crate::support::*;
use std::process::Command;

#[test]
fn validate_says_ok_or_where_the_error_is() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("a.yaml", "services:\n  orders: {}\n"),
            ("b.yml", "services:\n  payments: {}\n  web: {}\n"),
        ],
    );
    let out = Command::new(BINARY)
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ok: 3 services in 2 files\n"
    );

    write_files(
        dir.path(),
        &[("b.yml", "services:\n  payments:\n    timeout: soon\n")],
    );
    let out = Command::new(BINARY)
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8(out.stderr).unwrap();
    let file = dir.path().join("b.yml").display().to_string();
    assert!(
        error.starts_with(&format!(
            "convoy-control-plane: {file}:3:14: services.payments.timeout:"
        )),
        "{error}"
    );

    let out = Command::new(BINARY)
        .arg("validate")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot read the directory"));
}

#[test]
fn a_bad_directory_at_startup_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("orders.yaml", "services:\n  orders:\n    retyr: {}\n")],
    );
    let out = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .arg("--config-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8(out.stderr).unwrap();
    let file = dir.path().join("orders.yaml").display().to_string();
    assert!(
        error.starts_with(&format!(
            "convoy-control-plane: {file}:3:5: services.orders.retyr"
        )),
        "{error}"
    );
    assert!(error.contains("did you mean `retry`"), "{error}");
}

#[tokio::test]
async fn status_prints_a_table_or_json() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    let out = cp.cli(&["status"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "version 1\nno sidecars\n"
    );

    let mut sidecar = Sidecar::connect(&cp, "orders-1", "orders", "127.0.0.1:4143").await;
    sidecar.snapshot().await;
    let out = cp.cli(&["status"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "version 2");
    assert_eq!(
        lines[2],
        "ID        SERVICE  ADDRESS         CONNECTED  VERSION  CONNECTED SINCE           CERT EXPIRES  LAST NACK"
    );
    assert!(
        lines[3].starts_with("orders-1  orders   127.0.0.1:4143  yes        -        "),
        "{text}"
    );
    assert!(lines[3].ends_with("Z  -             -"), "{text}");

    let out = cp.cli(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["sidecars"][0]["id"], "orders-1");
}

#[test]
fn a_client_without_a_control_plane_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let anchor = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&ca_file, anchor.cert.pem()).unwrap();
    let status = |url: &str, ca_file: &std::path::Path| {
        let out = Command::new(BINARY)
            .args(["status", "--url", url, "--ca-file"])
            .arg(ca_file)
            .env_remove("CONVOY_CA_FILE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    let error = status("https://127.0.0.1:1", &ca_file);
    assert!(
        error.starts_with(
            "convoy-control-plane: cannot reach the control plane at https://127.0.0.1:1/v1/status"
        ),
        "{error}"
    );
    let error = status("http://127.0.0.1:1", &ca_file);
    assert!(
        error.contains("the control plane's API runs over TLS: use https://HOST:PORT"),
        "{error}"
    );
    let missing = dir.path().join("missing.pem");
    let error = status("https://127.0.0.1:1", &missing);
    assert!(
        error.starts_with(&format!(
            "convoy-control-plane: cannot use the CA file {} (--ca-file)",
            missing.display()
        )),
        "{error}"
    );
}

#[tokio::test]
async fn the_admin_listener_answers_live_ready_and_metrics() {
    let cp = ControlPlane::start(&[("orders.yaml", ORDERS)], &[]).await;
    assert_eq!(get(cp.admin, "/live").await.0, 200);
    assert_eq!(get(cp.admin, "/ready").await.0, 200);
    let (status, metrics) = get(cp.admin, "/metrics").await;
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    for family in [
        "convoy_cp_connected_sidecars 0",
        "convoy_cp_versions_published_total 1",
        "convoy_cp_push_ack_seconds_bucket{le=\"0.001\"} 0",
        "convoy_cp_nacks_total 0",
        "convoy_cp_rejected_changes_total 0",
        "convoy_cp_version 1",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    assert_eq!(get(cp.admin, "/nope").await.0, 404);
    assert_eq!(cp.api_get("/nope").await.0, 404);
}
