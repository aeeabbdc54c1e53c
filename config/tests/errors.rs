//! Every kind of configuration error names file, line, column and field.

use convoy_config::{parse_proxy_config, ErrorKind};
use std::path::Path;

const SIDECAR: &str = "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n";

fn error(yaml: &str) -> (ErrorKind, String) {
    let e = parse_proxy_config(yaml, Path::new("mesh.yaml")).expect_err("config should be refused");
    (e.kind.clone(), e.to_string())
}

#[test]
fn a_valid_file_is_accepted_with_defaults() {
    let yaml = format!(
        "{SIDECAR}services:\n  orders:\n    endpoints: [\"127.0.0.1:9000\", \"orders.internal:4143\"]\n    routes:\n      - match: {{ path_prefix: /v2/, headers: {{ x-canary: \"1\" }} }}\n        backends: [{{ service: orders-v2, weight: 10 }}, {{ service: orders, weight: 90 }}]\n  orders-v2:\n    endpoints: [\"127.0.0.1:9001\"]\n  db:\n    protocol: tcp\n    listen: 127.0.0.1:15432\n    endpoints: [\"127.0.0.1:5432\"]\n"
    );
    let config = parse_proxy_config(&yaml, Path::new("ok.yaml")).unwrap();
    assert_eq!(config.sidecar.service.as_str(), "web");
    assert_eq!(config.sidecar.listen.outbound.to_string(), "127.0.0.1:4140");
    assert_eq!(config.sidecar.limits.max_header_count, 100);
    let orders = &config.mesh.services["orders"];
    assert_eq!(orders.endpoints.len(), 2);
    assert_eq!(orders.routes[0].backends[1].weight, 90);
    assert!(orders.routes[0].path.matches("/v2/items"));
    assert!(!orders.routes[0].path.matches("/v1/items"));
}

#[test]
fn syntax_error_names_line_and_column() {
    let (kind, msg) = error("sidecar:\n  service: \"web\n  app: x\n");
    assert_eq!(kind, ErrorKind::Syntax, "{msg}");
    assert!(msg.starts_with("mesh.yaml:"), "{msg}");
    assert!(msg.starts_with("mesh.yaml:4:1: "), "{msg}");
    assert!(msg.contains("unexpected end of stream"), "{msg}");
}

#[test]
fn unknown_field_has_a_hint_and_position() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    endpoint: [\"127.0.0.1:1\"]\n"
    ));
    assert_eq!(kind, ErrorKind::UnknownField);
    assert!(
        msg.starts_with("mesh.yaml:6:5: services.orders.endpoint: unknown field `endpoint`"),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `endpoints`?)"), "{msg}");
}

#[test]
fn unknown_top_level_field() {
    let (kind, msg) = error(&format!("{SIDECAR}servics: {{}}\n"));
    assert_eq!(kind, ErrorKind::UnknownField);
    assert!(
        msg.starts_with("mesh.yaml:4:1: servics: unknown field `servics`"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `services`"), "{msg}");
}

#[test]
fn bad_protocol_suggests_the_closest() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    protocol: htp\n"
    ));
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert_eq!(msg, "mesh.yaml:6:15: services.orders.protocol: `htp` is not one of http, grpc, tcp (did you mean `http`?)");
}

#[test]
fn weight_out_of_range_names_the_backend() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    routes:\n      - backends: [{{ service: orders }}]\n      - backends:\n          - service: orders\n            weight: 2000000\n"
    ));
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert_eq!(msg, "mesh.yaml:10:21: services.orders.routes[1].backends[0].weight: must be within 0..=1000000, got 2000000");
}

#[test]
fn route_to_unknown_service() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    routes:\n      - backends:\n          - service: ordrs\n"
    ));
    assert_eq!(kind, ErrorKind::UnknownReference);
    assert_eq!(msg, "mesh.yaml:8:22: services.orders.routes[0].backends[0].service: unknown service `ordrs` (did you mean `orders`?)");
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    meshed: maybe\n"
    ));
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert!(
        msg.starts_with("mesh.yaml:6:13: services.orders.meshed: invalid type"),
        "{msg}"
    );
}

#[test]
fn bad_duration() {
    let (kind, msg) = error(
        "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  limits:\n    idle_timeout: 5 minutes\n",
    );
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert_eq!(msg, "mesh.yaml:5:19: sidecar.limits.idle_timeout: expected a duration such as 250ms, 2s or 1m, got `5 minutes`");
}

#[test]
fn bad_endpoint_and_address() {
    let (_, msg) = error(&format!(
        "{SIDECAR}services:\n  orders:\n    endpoints: [\"127.0.0.1\"]\n"
    ));
    assert!(
        msg.starts_with(
            "mesh.yaml:6:17: services.orders.endpoints[0]: `127.0.0.1` is not an endpoint"
        ),
        "{msg}"
    );
    let (_, msg) = error("sidecar:\n  service: web\n  app: localhost\n");
    assert!(
        msg.starts_with("mesh.yaml:3:8: sidecar.app: `localhost` is not an address"),
        "{msg}"
    );
}

#[test]
fn missing_fields() {
    let (kind, msg) = error("services: {}\n");
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(msg.contains("missing field `sidecar`"), "{msg}");
    let (kind, msg) = error("sidecar:\n  service: web\n");
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(msg.contains("sidecar: missing field `app`"), "{msg}");
    let (kind, msg) = error(&format!("{SIDECAR}services:\n  db:\n    protocol: tcp\n"));
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(
        msg.starts_with("mesh.yaml:6:5: services.db: missing field `listen`"),
        "{msg}"
    );
}

#[test]
fn invalid_service_name_points_at_the_key() {
    let (kind, msg) = error(&format!(
        "{SIDECAR}services:\n  Orders:\n    endpoints: []\n"
    ));
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert!(
        msg.starts_with("mesh.yaml:5:3: services.Orders: `Orders` is not a valid service name"),
        "{msg}"
    );
}

#[test]
fn listener_conflicts_are_refused() {
    let (kind, msg) = error(
        "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  listen:\n    outbound: 127.0.0.1:4000\n    admin: 0.0.0.0:4000\n",
    );
    assert_eq!(kind, ErrorKind::Conflict);
    assert!(
        msg.starts_with(
            "mesh.yaml:6:12: sidecar.listen.admin: 0.0.0.0:4000 overlaps sidecar.listen.outbound"
        ),
        "{msg}"
    );
}

#[test]
fn header_limit_below_hyper_minimum_is_refused() {
    let (_, msg) = error(
        "sidecar:\n  service: web\n  app: 127.0.0.1:8080\n  limits:\n    max_header_bytes: 1KiB\n",
    );
    assert_eq!(
        msg,
        "mesh.yaml:5:23: sidecar.limits.max_header_bytes: must be within 8192..=16777216, got 1024"
    );
}

#[test]
fn empty_and_huge_and_alias_bomb_documents_are_refused() {
    let (_, msg) = error("  \n");
    assert!(msg.contains("the file is empty"), "{msg}");
    let huge = format!(
        "{SIDECAR}# {}\n",
        "x".repeat(convoy_config::MAX_CONFIG_BYTES)
    );
    let (_, msg) = error(&huge);
    assert!(msg.contains("the limit is 1048576 bytes"), "{msg}");
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for i in 0..8 {
        let prev = (b'a' + i) as char;
        let next = (b'a' + i + 1) as char;
        bomb.push_str(&format!("{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let (kind, msg) = error(&bomb);
    assert!(
        matches!(kind, ErrorKind::Syntax | ErrorKind::UnknownField),
        "{msg}"
    );
}

#[test]
fn every_example_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            convoy_config::load_proxy_config(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked > 0, "no example configs found in {}", dir.display());
}

#[test]
fn invalid_policies_name_the_field() {
    let svc = |body: &str| format!("{SIDECAR}services:\n  orders:\n{body}");
    let cases = [
        (
            "    retry:\n      budget: { ratio: 1.5 }\n",
            "mesh.yaml:7:24: services.orders.retry.budget.ratio: must be within 0..=1, got 1.5",
        ),
        (
            "    rate_limit: { requests_per_second: 0 }\n",
            "mesh.yaml:6:40: services.orders.rate_limit.requests_per_second: must be within 1..=10000000, got 0",
        ),
        (
            "    timeout: -1s\n",
            "mesh.yaml:6:14: services.orders.timeout: expected a duration such as 250ms, 2s or 1m, got `-1s`",
        ),
        (
            "    retry: { attempts: 0 }\n",
            "mesh.yaml:6:24: services.orders.retry.attempts: must be within 1..=10, got 0",
        ),
        (
            "    retry: { on: [5xx, conect-failure] }\n",
            "mesh.yaml:6:24: services.orders.retry.on[1]: `conect-failure` is not one of 5xx, gateway-error, connect-failure, reset, refused-stream (did you mean `connect-failure`?)",
        ),
        (
            "    retry: { on: [grpc-unavailible], non_idempotent: true }\n",
            "mesh.yaml:6:19: services.orders.retry.on[0]: `grpc-unavailible` is not a gRPC status such as grpc-unavailable (did you mean `grpc-unavailable`?)",
        ),
        (
            "    retry: { on: [grpc-unavailable] }\n",
            "mesh.yaml:6:18: services.orders.retry.on: gRPC calls are POSTs, which are only retried when they never reached the app; set `non_idempotent: true` to retry them on gRPC status",
        ),
        (
            "    circuit_breaker: { max_ejection_percent: 101 }\n",
            "mesh.yaml:6:46: services.orders.circuit_breaker.max_ejection_percent: must be within 0..=100, got 101",
        ),
        (
            "    fault: { abort: { status: 200, percent: 10 } }\n",
            "mesh.yaml:6:31: services.orders.fault.abort.status: must be within 400..=599, got 200",
        ),
        (
            "    rate_limit: { requests_per_second: 5, per: callr }\n",
            "mesh.yaml:6:48: services.orders.rate_limit.per: `callr` is not one of total, caller (did you mean `caller`?)",
        ),
        (
            "    routes:\n      - match: { path_prefix: /x }\n        retry: { atempts: 2 }\n",
            "mesh.yaml:8:18: services.orders.routes[0].retry.atempts: unknown field `atempts`, expected one of attempts, per_try_timeout, on, backoff, retry_after_max, non_idempotent, budget (did you mean `attempts`?)",
        ),
    ];
    for (body, expected) in cases {
        let (_, msg) = error(&svc(body));
        assert_eq!(msg, expected, "for:\n{body}");
    }
}

#[test]
fn policies_have_documented_defaults() {
    let yaml = format!(
        "{SIDECAR}services:\n  orders:\n    retry: {{}}\n    circuit_breaker: {{}}\n    rate_limit: {{ requests_per_second: 100 }}\n    routes:\n      - match: {{ path_prefix: /slow }}\n        timeout: 5s\n"
    );
    let config = parse_proxy_config(&yaml, Path::new("ok.yaml")).unwrap();
    let orders = &config.mesh.services["orders"];
    let retry = orders.retry.as_ref().unwrap();
    assert_eq!(retry.attempts, 2);
    assert_eq!(retry.budget.ratio, 0.2);
    assert_eq!(retry.budget.min_per_second, 10);
    assert_eq!(retry.backoff_base.as_millis(), 25);
    assert_eq!(orders.timeouts.connect.as_secs(), 1);
    assert_eq!(orders.timeouts.request, None);
    let outlier = orders.circuit_breaker.outlier.as_ref().unwrap();
    assert_eq!(outlier.consecutive_failures, 5);
    assert_eq!(outlier.max_ejection_percent, 10);
    assert_eq!(orders.circuit_breaker.max_requests, 1024);
    assert_eq!(orders.rate_limits[0].burst, 100);
    assert_eq!(orders.rate_limits[0].name, "orders:total");
    let route = &orders.routes[0];
    assert_eq!(
        route.backends[0].service.as_str(),
        "orders",
        "no backends means the service itself"
    );
    assert_eq!(route.policy.timeout.unwrap().as_secs(), 5);
    let no_policy = parse_proxy_config(
        &format!("{SIDECAR}services:\n  plain: {{}}\n"),
        Path::new("ok.yaml"),
    )
    .unwrap();
    assert!(
        no_policy.mesh.services["plain"]
            .circuit_breaker
            .outlier
            .is_none(),
        "outlier detection is opt-in"
    );
    assert!(
        no_policy.mesh.services["plain"].retry.is_none(),
        "retries are opt-in"
    );
}
