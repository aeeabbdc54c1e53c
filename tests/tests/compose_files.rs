//! The compose demo's files, checked without Docker: the mesh YAML validates, Prometheus
//! accepts its configuration and scrapes every proxy the compose file runs, the Grafana
//! dashboard's queries are valid PromQL, and the images the compose file names are the ones
//! `build-images.sh` builds. (`compose.rs` runs the stack itself, where Docker is.)

use convoy_harness::binary;
use convoy_tests::compose::{dashboard_exprs, dashboard_metrics, demo_dir};
use convoy_tests::tools;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const PROMTOOL_HINT: &str = "Debian package `prometheus`";

fn read(relative: &str) -> String {
    let path = demo_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the compose file's services (two-space-indented keys under `services:`).
fn compose_services() -> BTreeSet<String> {
    let compose = read("compose.yaml");
    let section = compose
        .split_once("\nservices:\n")
        .expect("compose.yaml has `services:`")
        .1;
    section
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with([' ', '#']))
        .filter_map(|l| l.strip_suffix(':'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_mesh_validates() {
    let output = Command::new(binary::require(binary::CONTROL_PLANE))
        .arg("validate")
        .arg(demo_dir().join("mesh"))
        .output()
        .expect("run convoy-control-plane validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("ok: 4 services"), "{stdout}");
}

#[test]
fn prometheus_accepts_its_config_and_scrapes_every_proxy() {
    let config = read("observability/prometheus.yml");
    let services = compose_services();
    for proxy in [
        "gateway",
        "web-sidecar",
        "orders-sidecar",
        "payments-1-sidecar",
        "payments-2-sidecar",
        "inventory-sidecar",
    ] {
        assert!(
            services.contains(proxy),
            "compose.yaml has no {proxy}: {services:?}"
        );
        assert!(
            config.contains(&format!("{proxy}:4191")),
            "prometheus.yml does not scrape {proxy}"
        );
    }
    assert!(config.contains("control-plane:4291"));
    for service in services.iter().filter(|s| s.ends_with("-sidecar")) {
        assert!(
            config.contains(&format!("{service}:4191")),
            "prometheus.yml does not scrape {service}, which compose.yaml runs"
        );
    }

    let Some(promtool) = tools::require("promtool", PROMTOOL_HINT) else {
        return;
    };
    promtool_accepts(
        &promtool,
        "config",
        &demo_dir().join("observability/prometheus.yml"),
    );
}

/// Runs `promtool check <what> <file>` and fails with its output unless it accepts the file.
fn promtool_accepts(promtool: &std::path::Path, what: &str, file: &std::path::Path) {
    let output = Command::new(promtool)
        .args(["check", what])
        .arg(file)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool check {what} {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dashboard_queries_are_valid_promql() {
    let dashboard: Value =
        serde_json::from_str(&read("observability/grafana/dashboards/convoy.json"))
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "convoy-mesh");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 12, "{exprs:?}");
    // Every metric the issue asks for: success rate and latency, retries, ejections, rate
    // limits (the walkthrough test checks that real proxies export each of them).
    let metrics = dashboard_metrics(&dashboard);
    for metric in [
        "convoy_requests_total",
        "convoy_request_duration_seconds_bucket",
        "convoy_retries_total",
        "convoy_endpoint_ejected",
        "convoy_rate_limited_total",
    ] {
        assert!(
            metrics.contains(metric),
            "the dashboard does not query {metric}"
        );
    }

    let Some(promtool) = tools::require("promtool", PROMTOOL_HINT) else {
        return;
    };
    // promtool checks PromQL in rule files: one recording rule per query, Grafana's
    // variables replaced by what they stand for.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$service", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, rules).unwrap();
    promtool_accepts(&promtool, "rules", &file);
}

#[test]
fn compose_runs_the_images_the_script_builds() {
    let script = read("build-images.sh");
    let compose = read("compose.yaml");
    let convoy_images: BTreeSet<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .filter_map(|image| image.strip_suffix(":${CONVOY_TAG:-local}"))
        .collect();
    assert_eq!(
        convoy_images,
        BTreeSet::from([
            "convoy-control-plane",
            "convoy-demo-service",
            "convoy-proxy"
        ])
    );
    for image in &convoy_images {
        assert!(
            script.contains(&format!("[{image}]=")),
            "build-images.sh does not build {image}"
        );
    }
}
