//! A configuration the proxy cannot use stops it at once: non-zero exit, and one line on stderr
//! that names the file, line, column and field.

use convoy_harness::Exited;
use convoy_tests::proxy::run_until_exit;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

const SIDECAR: &str = "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  listen: { outbound: 127.0.0.1:0, inbound: 127.0.0.1:0, admin: 127.0.0.1:0 }\n";

fn run_with(path: &Path) -> Exited {
    let args: Vec<OsString> = vec!["--config".into(), path.into()];
    run_until_exit(&args, Duration::from_secs(10))
}

/// Writes `yaml` to a file, runs the proxy on it, and checks that it failed with exactly
/// `convoy-proxy: <file>:<expected>` on stderr (and `expected_tail` at the end of that line).
fn assert_refused(yaml: &str, expected: &str, expected_tail: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let exited = run_with(&path);
    assert!(!exited.status.success(), "accepted:\n{yaml}\n{exited:?}");
    assert_eq!(exited.status.code(), Some(1), "{exited:?}");
    let line = exited
        .stderr
        .lines()
        .find(|l| l.starts_with("convoy-proxy: "))
        .unwrap_or_else(|| panic!("no error line on stderr: {exited:?}"));
    let want = format!("convoy-proxy: {}:{expected}", path.display());
    assert!(line.starts_with(&want), "stderr: {line}\nwanted: {want}");
    if let Some(tail) = expected_tail {
        assert!(
            line.ends_with(tail),
            "stderr: {line}\nwanted the end: {tail}"
        );
    }
}

#[test]
fn syntax_error() {
    assert_refused(
        "sidecar:\n  service: \"web\n  app: x\n",
        "4:1: sidecar.service: found unexpected end of stream",
        None,
    );
}

#[test]
fn unknown_field_with_a_hint() {
    assert_refused(
        &format!("{SIDECAR}services:\n  orders:\n    endpoint: [\"127.0.0.1:1\"]\n"),
        "7:5: services.orders.endpoint: unknown field `endpoint`",
        Some("(did you mean `endpoints`?)"),
    );
}

#[test]
fn bad_value() {
    assert_refused(
        &format!("{SIDECAR}services:\n  orders:\n    protocol: htp\n"),
        "7:15: services.orders.protocol: `htp` is not one of http, grpc, tcp (did you mean `http`?)",
        None,
    );
    assert_refused(
        "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  limits:\n    idle_timeout: 5 minutes\n",
        "5:19: sidecar.limits.idle_timeout: expected a duration such as 250ms, 2s or 1m, got `5 minutes`",
        None,
    );
}

#[test]
fn route_to_an_unknown_service() {
    assert_refused(
        &format!("{SIDECAR}services:\n  orders:\n    routes:\n      - backends:\n          - service: ordrs\n"),
        "9:22: services.orders.routes[0].backends[0].service: unknown service `ordrs` (did you mean `orders`?)",
        None,
    );
}

#[test]
fn a_file_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let exited = run_with(&path);
    assert_eq!(exited.status.code(), Some(1), "{exited:?}");
    let want = format!("convoy-proxy: {}: cannot read:", path.display());
    assert!(exited.stderr.contains(&want), "{exited:?}");
}

#[test]
fn a_port_already_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.yaml");
    std::fs::write(
        &path,
        format!("sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  listen: {{ outbound: 127.0.0.1:0, inbound: {addr}, admin: 127.0.0.1:0 }}\n"),
    )
    .unwrap();
    let exited = run_with(&path);
    assert_eq!(exited.status.code(), Some(1), "{exited:?}");
    let want = format!("convoy-proxy: cannot listen on {addr} (inbound): ");
    assert!(
        exited
            .stderr
            .lines()
            .any(|l| l.starts_with(&want) && l.to_lowercase().contains("in use")),
        "stderr: {}\nwanted: {want}... in use",
        exited.stderr
    );
    drop(taken);
}
