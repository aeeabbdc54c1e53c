//! `mtls` and `authorization`: what a valid policy means, and errors that name file, line,
//! column and field.

use convoy_config::{
    parse_proxy_config, Authorization, ErrorKind, MtlsMode, PathMatch, Principal, ProxyConfig,
    ServiceName,
};
use http::Method;
use std::path::Path;

const SIDECAR: &str = "sidecar:\n  service: payments\n  app: 127.0.0.1:8080\n";

// The error is made once per test; boxing it would only add unwrapping.
#[allow(clippy::result_large_err)]
fn parse(payments: &str) -> Result<ProxyConfig, convoy_config::ConfigError> {
    parse_proxy_config(
        &format!("{SIDECAR}services:\n  payments:\n{payments}"),
        Path::new("mesh.yaml"),
    )
}

fn policy(payments: &str) -> Authorization {
    parse(payments)
        .unwrap_or_else(|e| panic!("{e}"))
        .mesh
        .services["payments"]
        .authorization
        .clone()
        .expect("a policy")
}

fn error(payments: &str) -> (ErrorKind, String) {
    let e = parse(payments).expect_err("config should be refused");
    (e.kind.clone(), e.to_string())
}

fn service(name: &str) -> Principal {
    Principal::Service(ServiceName::new(name).unwrap())
}

#[test]
fn the_documented_example_is_read_as_written() {
    let allow = policy(concat!(
        "    mtls: permissive\n",
        "    authorization:\n",
        "      allow:\n",
        "        - orders\n",
        "        - from: [web, gateway]\n",
        "          methods: [GET]\n",
        "          path_prefix: /api/\n",
        "        - from: [\"*\"]\n",
        "          path_exact: /health\n",
    ))
    .allow;
    assert_eq!(allow.len(), 3);
    assert_eq!(allow[0].from, [service("orders")]);
    assert_eq!(allow[0].path, PathMatch::Any);
    assert!(allow[0].methods.is_empty(), "any method");
    assert_eq!(allow[1].from, [service("web"), service("gateway")]);
    assert_eq!(allow[1].methods, [Method::GET]);
    assert_eq!(allow[1].path, PathMatch::Prefix("/api/".into()));
    assert_eq!(allow[2].from, [Principal::AnyMeshIdentity]);
    assert_eq!(allow[2].path, PathMatch::Exact("/health".into()));
    let config = parse("    mtls: permissive\n").unwrap();
    assert_eq!(config.mesh.services["payments"].mtls, MtlsMode::Permissive);
}

#[test]
fn defaults_are_strict_and_no_policy() {
    let config = parse("    endpoints: []\n").unwrap();
    let payments = &config.mesh.services["payments"];
    assert_eq!(payments.mtls, MtlsMode::Strict);
    assert_eq!(payments.authorization, None);
    // An empty list is a policy that denies everything, not the absence of one.
    assert!(policy("    authorization: { allow: [] }\n")
        .allow
        .is_empty());
    // The shorthand `"*"` and callers this file does not define are fine.
    let allow = policy("    authorization: { allow: [\"*\", elsewhere.team-b] }\n").allow;
    assert_eq!(
        allow.iter().map(|r| r.from[0].clone()).collect::<Vec<_>>(),
        [Principal::AnyMeshIdentity, service("elsewhere.team-b")]
    );
}

#[test]
fn bad_values_name_the_field() {
    let cases = [
        (
            "    mtls: strikt\n",
            "mesh.yaml:6:11: services.payments.mtls: `strikt` is not one of strict, permissive (did you mean `strict`?)",
        ),
        (
            "    authorization: { allow: [web, Orders] }\n",
            "mesh.yaml:6:35: services.payments.authorization.allow[1]: `Orders` is not a valid service name: use lowercase letters, digits and `-`, in labels separated by `.`",
        ),
        (
            "    authorization:\n      allow:\n        - from: [web, \"web/x\"]\n",
            "mesh.yaml:8:23: services.payments.authorization.allow[0].from[1]: `web/x` is not a valid service name: use lowercase letters, digits and `-`, in labels separated by `.`",
        ),
        (
            "    authorization:\n      allow:\n        - from: []\n",
            "mesh.yaml:8:17: services.payments.authorization.allow[0].from: name at least one caller: a service name, or \"*\" for any mesh identity",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], methods: [GET, get] }\n",
            "mesh.yaml:8:41: services.payments.authorization.allow[0].methods[1]: `get` is not one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE (methods are written in uppercase) (did you mean `GET`?)",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], methods: [] }\n",
            "mesh.yaml:8:35: services.payments.authorization.allow[0].methods: name at least one method, or leave `methods` out to allow any",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], path_prefix: /a, path_exact: /b }\n",
            "mesh.yaml:8:13: services.payments.authorization.allow[0]: set `path_prefix` or `path_exact`, not both",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], path_prefix: api/ }\n",
            "mesh.yaml:8:39: services.payments.authorization.allow[0].path_prefix: `api/` is not a path: it must start with `/` and hold no query, fragment or spaces",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], path_exact: /public/../admin }\n",
            "mesh.yaml:8:38: services.payments.authorization.allow[0].path_exact: `/public/../admin` would never match: request paths are normalized before matching (escapes of letters, digits and `-._~` decoded, other escapes uppercased, `//` merged, `.` and `..` resolved); write `/admin`",
        ),
        (
            "    authorization:\n      allow:\n        - { from: [web], path_prefix: /a%2Fb }\n",
            "mesh.yaml:8:39: services.payments.authorization.allow[0].path_prefix: `/a%2Fb` would never match: requests with an encoded slash or backslash (`%2F`, `%5C`) in their path are refused",
        ),
    ];
    for (body, expected) in cases {
        let (kind, msg) = error(body);
        assert_eq!(kind, ErrorKind::InvalidValue, "{msg}");
        assert_eq!(msg, expected, "for:\n{body}");
    }
}

#[test]
fn shape_errors_in_a_rule_are_reported_at_the_field() {
    // The string-or-map entry still reports an unknown field at its key, with a hint.
    let (kind, msg) =
        error("    authorization:\n      allow:\n        - from: [web]\n          metods: [GET]\n");
    assert_eq!(kind, ErrorKind::UnknownField);
    assert_eq!(
        msg,
        "mesh.yaml:9:11: services.payments.authorization.allow[0].metods: unknown field `metods`, expected one of from, methods, path_prefix, path_exact (did you mean `methods`?)"
    );
    let (kind, msg) = error("    authorization:\n      alow: [web]\n");
    assert_eq!(kind, ErrorKind::UnknownField);
    assert_eq!(
        msg,
        "mesh.yaml:7:7: services.payments.authorization.alow: unknown field `alow`, expected one of allow (did you mean `allow`?)"
    );
    let (kind, msg) = error("    authorizaton: { allow: [] }\n");
    assert_eq!(kind, ErrorKind::UnknownField);
    assert!(
        msg.starts_with("mesh.yaml:6:5: services.payments.authorizaton: unknown field"),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `authorization`?)"), "{msg}");
    // A missing `from` in a rule, and an entry of the wrong type.
    let (kind, msg) = error("    authorization:\n      allow:\n        - methods: [GET]\n");
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(
        msg.starts_with(
            "mesh.yaml:8:11: services.payments.authorization.allow[0]: missing field `from`"
        ),
        "{msg}"
    );
    let (kind, msg) = error("    authorization:\n      allow: [web, 7]\n");
    assert_eq!(kind, ErrorKind::InvalidValue);
    assert!(
        msg.starts_with("mesh.yaml:7:20: services.payments.authorization.allow[1]: invalid type: integer `7`, expected a service name"),
        "{msg}"
    );
    let (kind, msg) = error("    authorization: {}\n");
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(
        msg.contains("services.payments.authorization: missing field `allow`"),
        "{msg}"
    );
}

#[test]
fn a_tcp_service_takes_no_policy_and_routes_need_normal_paths() {
    let (_, msg) = error(
        "    protocol: tcp\n    listen: 127.0.0.1:15432\n    authorization: { allow: [web] }\n",
    );
    assert_eq!(
        msg,
        "mesh.yaml:8:5: services.payments.authorization: a `protocol: tcp` service cannot have an authorization policy"
    );
    let (_, msg) = error("    routes:\n      - match: { path_prefix: //v2 }\n");
    assert!(
        msg.starts_with("mesh.yaml:7:31: services.payments.routes[0].match.path_prefix: `//v2` would never match"),
        "{msg}"
    );
}

#[test]
fn a_policy_survives_the_wire_form() {
    // The control plane sends the raw document as JSON; sidecars validate it again.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mesh.yaml"),
        "services:\n  payments:\n    mtls: permissive\n    authorization:\n      allow:\n        - web\n        - { from: [\"*\"], methods: [GET, HEAD], path_prefix: /api }\n",
    )
    .unwrap();
    let source = convoy_config::load_mesh_dir(dir.path()).unwrap();
    let wire = source.to_wire(&Default::default());
    let mesh = convoy_config::decode_wire_mesh(&wire).unwrap();
    assert_eq!(mesh, source.mesh);
    let payments = &mesh.services["payments"];
    assert_eq!(payments.mtls, MtlsMode::Permissive);
    let allow = &payments.authorization.as_ref().unwrap().allow;
    assert_eq!(allow[0].from, [service("web")]);
    assert_eq!(allow[1].methods, [Method::GET, Method::HEAD]);
}
