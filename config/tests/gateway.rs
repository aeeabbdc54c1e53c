//! `gateways`: the documented example is read as written, with defaults; every refusal names
//! file, line, column and field.

// Errors are made once per test; boxing them would only add unwrapping.
#![allow(clippy::result_large_err)]

use convoy_config::{
    decode_wire_mesh, parse_mesh_files, parse_proxy_config, AuthMethod, ConsumerKey, ErrorKind,
    Gateway, GatewayPath, HeaderMatch, ProxyConfig, Rewrite, RouteSetMatch, Sidecar,
};
use http::{HeaderName, HeaderValue, Method};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SERVICES: &str =
    "services:\n  orders: {}\n  web: {}\n  db: { protocol: tcp, listen: 127.0.0.1:15432 }\n";

/// The README's example (the plan's), as a gateway's own file.
const EXAMPLE: &str = r#"sidecar:
  service: edge
services:
  orders: {}
gateways:
  edge:
    listeners:
      - address: 0.0.0.0:8443
        tls: { certificate: certs/edge.pem, key: certs/edge.key }
      - address: 127.0.0.1:8080
    consumer_header: x-convoy-consumer
    api_keys:
      - { name: mobile-app, key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }
    jwt_providers:
      - { name: auth0, jwks: jwks.json, issuer: https://issuer.example, audience: convoy-demo, clock_skew: 60s }
    route_sets:
      - name: web
        match: { path_prefix: /web }
        cors: { allow_origins: [https://app.example.com], allow_methods: [GET, POST], allow_headers: [authorization], max_age: 10m }
        routes:
          - name: orders
            match: { host: api.example.com, path_prefix: /web/orders, methods: [GET], headers: { x-v: "2" } }
            service: orders
            rewrite: { strip_prefix: /web }
            request_headers: { add: { x-from: gateway }, remove: [cookie] }
            response_headers: { add: { cache-control: no-store }, remove: [server] }
            max_body: 64KiB
            timeout: 2s
            retry: { attempts: 2 }
            auth: { methods: [{ jwt: auth0 }, { api_key: { header: x-api-key } }], allow: [mobile-app, user-42] }
            rate_limit: { requests_per_second: 10, burst: 5, per: consumer }
      - name: mobile
        match: { header: { name: x-client, value: mobile } }
        routes:
          - service: orders
            match: { path_regex: "/m/[0-9]+" }
            rewrite: { replace_prefix: { from: /m, to: /api } }
"#;

fn parse(yaml: &str) -> Result<ProxyConfig, convoy_config::ConfigError> {
    parse_proxy_config(yaml, Path::new("conf/edge.yaml"))
}

fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[test]
fn the_documented_example_is_read_as_written() {
    let config = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.sidecar.app,
        Sidecar::NO_APP,
        "a gateway needs no app"
    );
    let edge = &config.mesh.gateways["edge"];
    assert_eq!(edge.name.as_str(), "edge");
    assert_eq!(edge.listeners.len(), 2);
    assert_eq!(edge.listeners[0].address.to_string(), "0.0.0.0:8443");
    let tls = edge.listeners[0].tls.as_ref().unwrap();
    assert_eq!(
        tls.certificate,
        PathBuf::from("conf/certs/edge.pem"),
        "relative to the file"
    );
    assert_eq!(tls.key, PathBuf::from("conf/certs/edge.key"));
    assert_eq!(edge.listeners[1].tls, None);
    assert_eq!(edge.consumer_header, header("x-convoy-consumer"));
    assert_eq!(edge.api_keys[0].name, "mobile-app");
    assert_eq!(edge.api_keys[0].key_sha256[..4], [0x9f, 0x86, 0xd0, 0x81]);
    let auth0 = &edge.jwt_providers[0];
    assert_eq!(auth0.jwks, PathBuf::from("conf/jwks.json"));
    assert_eq!(auth0.issuer, "https://issuer.example");
    assert_eq!(auth0.audience, "convoy-demo");
    assert_eq!(auth0.clock_skew, Duration::from_secs(60));

    let web = &edge.route_sets[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.matches, RouteSetMatch::PathPrefix("/web".into()));
    let cors = web.cors.as_ref().unwrap();
    assert_eq!(cors.allow_origins, ["https://app.example.com"]);
    assert_eq!(cors.allow_methods, [Method::GET, Method::POST]);
    assert_eq!(cors.allow_headers, [header("authorization")]);
    assert!(cors.expose_headers.is_empty());
    assert_eq!(cors.max_age, Duration::from_secs(600));
    assert!(!cors.allow_credentials);

    let orders = &web.routes[0];
    assert_eq!(orders.name, "orders");
    assert_eq!(orders.host.as_deref(), Some("api.example.com"));
    assert_eq!(orders.path, GatewayPath::Prefix("/web/orders".into()));
    assert_eq!(orders.methods, [Method::GET]);
    assert_eq!(
        orders.headers,
        [HeaderMatch {
            name: header("x-v"),
            value: "2".into()
        }]
    );
    assert_eq!(orders.service.as_str(), "orders");
    assert_eq!(orders.rewrite, Some(Rewrite::StripPrefix("/web".into())));
    assert_eq!(
        orders.request_headers.add,
        [(header("x-from"), HeaderValue::from_static("gateway"))]
    );
    assert_eq!(orders.request_headers.remove, [header("cookie")]);
    assert_eq!(
        orders.response_headers.add,
        [(
            header("cache-control"),
            HeaderValue::from_static("no-store")
        )]
    );
    assert_eq!(orders.response_headers.remove, [header("server")]);
    assert_eq!(orders.max_body_bytes, 64 * 1024);
    assert_eq!(orders.timeout, Some(Duration::from_secs(2)));
    assert_eq!(orders.retry.as_ref().unwrap().attempts, 2);
    let auth = orders.auth.as_ref().unwrap();
    assert_eq!(
        auth.methods,
        [
            AuthMethod::Jwt {
                provider: "auth0".into()
            },
            AuthMethod::ApiKey {
                header: header("x-api-key")
            }
        ]
    );
    assert_eq!(
        auth.allow.as_deref(),
        Some(&["mobile-app".to_owned(), "user-42".to_owned()][..])
    );
    let limit = orders.rate_limit.as_ref().unwrap();
    assert_eq!(
        (limit.requests_per_second, limit.burst, limit.per),
        (10, 5, ConsumerKey::Consumer)
    );

    let mobile = &edge.route_sets[1];
    assert_eq!(
        mobile.matches,
        RouteSetMatch::Header(HeaderMatch {
            name: header("x-client"),
            value: "mobile".into()
        })
    );
    assert_eq!(mobile.cors, None);
    let route = &mobile.routes[0];
    assert_eq!(route.name, "mobile/routes[0]", "the default name");
    let GatewayPath::Regex(regex) = &route.path else {
        panic!("{:?}", route.path)
    };
    assert!(regex.is_match("/m/42"));
    assert!(!regex.is_match("/m/42/x"), "anchored at the end");
    assert!(!regex.is_match("/x/m/42"), "anchored at the start");
    assert_eq!(
        route.rewrite,
        Some(Rewrite::ReplacePrefix {
            from: "/m".into(),
            to: "/api".into()
        })
    );
}

#[test]
fn defaults() {
    let config = parse(&format!(
        "sidecar: {{ service: web, app: 127.0.0.1:8080 }}\n{SERVICES}gateways:\n  edge:\n    listeners: [{{ address: 127.0.0.1:8080 }}]\n    api_keys: [{{ name: a, key_sha256: {} }}]\n    route_sets:\n      - name: api\n        cors: {{ allow_origins: [\"*\"] }}\n        routes:\n          - service: orders\n            auth: {{ methods: [api_key] }}\n            rate_limit: {{ requests_per_second: 3 }}\n",
        "AB".repeat(32)
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let edge = &config.mesh.gateways["edge"];
    assert_eq!(
        edge.consumer_header.as_str(),
        Gateway::DEFAULT_CONSUMER_HEADER
    );
    assert_eq!(edge.api_keys[0].key_sha256, [0xab; 32], "either case");
    let set = &edge.route_sets[0];
    assert_eq!(set.matches, RouteSetMatch::Any);
    let cors = set.cors.as_ref().unwrap();
    assert_eq!(
        cors.allow_methods,
        [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE
        ]
    );
    assert_eq!(cors.max_age, Duration::from_secs(600));
    let route = &set.routes[0];
    assert_eq!(route.name, "api/routes[0]");
    assert_eq!(route.host, None);
    assert_eq!(route.path, GatewayPath::Any);
    assert!(route.methods.is_empty() && route.headers.is_empty());
    assert_eq!(route.rewrite, None);
    assert_eq!(route.max_body_bytes, 1024 * 1024);
    assert_eq!(
        (route.timeout.is_none(), route.retry.is_none()),
        (true, true)
    );
    let auth = route.auth.as_ref().unwrap();
    assert_eq!(
        auth.methods,
        [AuthMethod::ApiKey {
            header: header("x-api-key")
        }]
    );
    assert_eq!(auth.allow, None);
    let limit = route.rate_limit.as_ref().unwrap();
    assert_eq!(
        (limit.requests_per_second, limit.burst, limit.per),
        (3, 3, ConsumerKey::Consumer)
    );
    assert_eq!(
        config.sidecar.app.to_string(),
        "127.0.0.1:8080",
        "a sidecar that is not the gateway keeps its app"
    );
}

/// A file whose gateway `edge` has `gateway` (indented by four spaces) as its body.
fn gateway_file(gateway: &str) -> String {
    format!(
        "sidecar: {{ service: web, app: 127.0.0.1:9000 }}\n{SERVICES}gateways:\n  edge:\n{gateway}"
    )
}

const LISTENER: &str = "    listeners: [{ address: 127.0.0.1:8080 }]\n";
const KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A gateway with one route set `api` whose one route has `route` (indented by ten spaces,
/// after `- service: orders`) added.
fn route_file(route: &str) -> String {
    gateway_file(&format!(
        "{LISTENER}    api_keys: [{{ name: app, key_sha256: {KEY} }}]\n    jwt_providers: [{{ name: auth0, jwks: j.json, issuer: i, audience: a }}]\n    route_sets:\n      - name: api\n        routes:\n          - service: orders\n{route}"
    ))
}

/// Line 8 is the gateway's first line (`gateway_file`), line 15 the route's first added line
/// (`route_file`).
fn error(yaml: &str) -> (ErrorKind, String) {
    let e = parse_proxy_config(yaml, Path::new("mesh.yaml")).expect_err("should be refused");
    (e.kind.clone(), e.to_string())
}

#[test]
fn unknown_fields_are_named_with_a_hint() {
    let (kind, msg) = error(&gateway_file("    listener: []\n"));
    assert_eq!(kind, ErrorKind::UnknownField);
    assert!(
        msg.starts_with(
            "mesh.yaml:8:5: gateways.edge.listener: unknown field `listener`, expected one of"
        ),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `listeners`?)"), "{msg}");
    let (kind, msg) = error(&route_file("            servce: x\n"));
    assert_eq!(kind, ErrorKind::UnknownField);
    assert!(
        msg.starts_with(
            "mesh.yaml:15:13: gateways.edge.route_sets[0].routes[0].servce: unknown field `servce`"
        ),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `service`?)"), "{msg}");
    let (_, msg) = error(&route_file(
        "            auth: { methods: [{ jwt: auth0, api_keys: {} }] }\n",
    ));
    assert!(msg.starts_with("mesh.yaml:15:"), "{msg}");
    assert!(
        msg.contains("gateways.edge.route_sets[0].routes[0].auth.methods[0].api_keys: unknown field `api_keys`"),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `api_key`?)"), "{msg}");
    let (_, msg) = error("sidecar: { service: web, app: 127.0.0.1:1 }\ngateway: {}\n");
    assert!(
        msg.starts_with("mesh.yaml:2:1: gateway: unknown field `gateway`"),
        "{msg}"
    );
    assert!(msg.ends_with("(did you mean `gateways`?)"), "{msg}");
}

#[test]
fn gateway_level_refusals() {
    let cases: &[(&str, &str)] = &[
        (
            "    route_sets: []\n",
            "mesh.yaml:8:5: gateways.edge.listeners: a gateway needs at least one listener: `listeners: [{ address: 0.0.0.0:8080 }]`",
        ),
        (
            LISTENER,
            "mesh.yaml:8:5: gateways.edge.route_sets: a gateway needs at least one route set: `route_sets: [{ name: api, routes: [{ service: <name> }] }]`",
        ),
        (
            "    listeners: [{ address: \"0.0.0.0:8080\" }, { address: \"127.0.0.1:8080\" }]\n",
            "mesh.yaml:8:57: gateways.edge.listeners[1].address: 127.0.0.1:8080 overlaps gateways.edge.listeners[0] (0.0.0.0:8080)",
        ),
        (
            "    listeners: [{ address: localhost }]\n",
            "mesh.yaml:8:28: gateways.edge.listeners[0].address: `localhost` is not an address such as 127.0.0.1:4140 or [::1]:4140",
        ),
        (
            "    listeners: [{ address: \"127.0.0.1:1\", tls: { certificate: \"\", key: k.pem } }]\n",
            "mesh.yaml:8:63: gateways.edge.listeners[0].tls.certificate: must be a file path",
        ),
        (
            "    listeners: [{ address: \"127.0.0.1:1\" }]\n    consumer_header: authorization\n",
            "mesh.yaml:9:22: gateways.edge.consumer_header: `authorization` cannot be the consumer header: the gateway needs it for itself",
        ),
        (
            "    listeners: [{ address: \"127.0.0.1:1\" }]\n    api_keys:\n      - { name: a, key_sha256: abc }\n",
            "mesh.yaml:10:32: gateways.edge.api_keys[0].key_sha256: must be the key's SHA-256 as 64 hex digits (`printf %s \"$KEY\" | sha256sum` prints it)",
        ),
    ];
    let mut wrong = Vec::new();
    for (gateway, expected) in cases {
        let (_, msg) = error(&gateway_file(gateway));
        if msg != *expected {
            wrong.push(format!("{msg}\n  expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let (kind, msg) = error(&gateway_file(&format!(
        "{LISTENER}    api_keys:\n      - {{ name: a, key_sha256: {KEY} }}\n      - {{ name: a, key_sha256: {} }}\n",
        "0".repeat(64)
    )));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(
        msg,
        "mesh.yaml:11:17: gateways.edge.api_keys[1].name: consumer `a` is already defined at gateways.edge.api_keys[0]"
    );
    let (kind, msg) = error(&gateway_file(&format!(
        "{LISTENER}    api_keys:\n      - {{ name: a, key_sha256: {KEY} }}\n      - {{ name: b, key_sha256: {} }}\n",
        KEY.to_uppercase()
    )));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(
        msg,
        "mesh.yaml:11:32: gateways.edge.api_keys[1].key_sha256: consumer `a` has the same key: each consumer needs its own"
    );
    let (_, msg) = error(&gateway_file(&format!(
        "{LISTENER}    jwt_providers:\n      - {{ name: p, jwks: j, issuer: i, audience: a }}\n      - {{ name: p, jwks: j, issuer: i, audience: a, clock_skew: 2h }}\n",
    )));
    assert_eq!(
        msg,
        "mesh.yaml:11:17: gateways.edge.jwt_providers[1].name: JWT provider `p` is already defined at gateways.edge.jwt_providers[0]"
    );
    let (_, msg) = error(&gateway_file(&format!(
        "{LISTENER}    jwt_providers:\n      - {{ name: p, jwks: j, issuer: i, audience: a, clock_skew: 2h }}\n",
    )));
    assert_eq!(
        msg,
        "mesh.yaml:10:65: gateways.edge.jwt_providers[0].clock_skew: must be at most 1h"
    );
    let (_, msg) = error("sidecar: { service: web, app: 127.0.0.1:1 }\ngateways:\n  Edge: {}\n");
    assert!(
        msg.starts_with("mesh.yaml:3:3: gateways.Edge: `Edge` is not a valid service name"),
        "{msg}"
    );
}

#[test]
fn route_set_refusals() {
    let set = |body: &str| {
        error(&gateway_file(&format!(
            "{LISTENER}    route_sets:\n      - name: api\n{body}"
        )))
        .1
    };
    assert_eq!(
        set("        routes: []\n"),
        "mesh.yaml:11:17: gateways.edge.route_sets[0].routes: a route set needs at least one route: `routes: [{ service: <name> }]`"
    );
    assert_eq!(
        set("        match: { path_prefix: /a, header: { name: x, value: y } }\n        routes: [{ service: orders }]\n"),
        "mesh.yaml:11:18: gateways.edge.route_sets[0].match: set `path_prefix` or `header`, not both"
    );
    assert!(set("        match: { path_prefix: /a/../b }\n        routes: [{ service: orders }]\n")
        .starts_with("mesh.yaml:11:31: gateways.edge.route_sets[0].match.path_prefix: `/a/../b` would never match: request paths are normalized"));
    assert_eq!(
        set("        cors: { allow_origins: [\"*\"], allow_credentials: true }\n        routes: [{ service: orders }]\n"),
        "mesh.yaml:11:58: gateways.edge.route_sets[0].cors.allow_credentials: cannot be true with `*` origins (browsers refuse such answers): list the origins"
    );
    assert_eq!(
        set("        cors: { allow_origins: [\"https://a.example/\"] }\n        routes: [{ service: orders }]\n"),
        "mesh.yaml:11:33: gateways.edge.route_sets[0].cors.allow_origins[0]: `https://a.example/` is not an origin such as https://app.example.com: an origin has no path"
    );
    assert_eq!(
        set("        cors: { allow_origins: [\"*\", \"https://a.example\"] }\n        routes: [{ service: orders }]\n"),
        "mesh.yaml:11:33: gateways.edge.route_sets[0].cors.allow_origins[0]: `*` allows every origin: list it alone or not at all"
    );
    assert_eq!(
        set("        cors: { allow_origins: [\"https://a.example\"], allow_methods: [get] }\n        routes: [{ service: orders }]\n"),
        "mesh.yaml:11:71: gateways.edge.route_sets[0].cors.allow_methods[0]: `get` is not one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE (methods are written in uppercase) (did you mean `GET`?)"
    );
    let (kind, msg) = error(&gateway_file(&format!(
        "{LISTENER}    route_sets:\n      - {{ name: api, routes: [{{ service: orders }}] }}\n      - {{ name: api, routes: [{{ service: web }}] }}\n"
    )));
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(
        msg,
        "mesh.yaml:11:17: gateways.edge.route_sets[1].name: route set `api` is already defined at gateways.edge.route_sets[0]"
    );
}

#[test]
fn route_refusals() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        (
            "            name: x\n          - service: ordrs\n",
            ErrorKind::UnknownReference,
            "mesh.yaml:16:22: gateways.edge.route_sets[0].routes[1].service: unknown service `ordrs` (did you mean `orders`?)",
        ),
        (
            "          - service: db\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:22: gateways.edge.route_sets[0].routes[1].service: `db` is a tcp service; gateway routes cannot send to it",
        ),
        (
            "          - { service: web, name: \"api/routes[0]\" }\n",
            ErrorKind::Conflict,
            "mesh.yaml:15:35: gateways.edge.route_sets[0].routes[1].name: route `api/routes[0]` is already defined at gateways.edge.route_sets[0].routes[0]: route names label metrics and must differ",
        ),
        (
            "            match: { path_prefix: /a, path_regex: b }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:22: gateways.edge.route_sets[0].routes[0].match: set one of `path_prefix`, `path_exact` and `path_regex`",
        ),
        (
            "            match: { path_regex: \"(a\" }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:34: gateways.edge.route_sets[0].routes[0].match.path_regex: `(a` is not a valid regular expression: unclosed group",
        ),
        (
            "            match: { path_exact: /a//b }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:34: gateways.edge.route_sets[0].routes[0].match.path_exact: `/a//b` would never match: request paths are normalized before matching (escapes of letters, digits and `-._~` decoded, other escapes uppercased, `//` merged, `.` and `..` resolved); write `/a/b`",
        ),
        (
            "            match: { host: \"api.example.com:443\" }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:28: gateways.edge.route_sets[0].routes[0].match.host: `api.example.com:443` is not a host name such as api.example.com (without a port: the port is ignored when matching)",
        ),
        (
            "            match: { methods: [] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:31: gateways.edge.route_sets[0].routes[0].match.methods: name at least one, or leave `methods` out",
        ),
        (
            "            match: { path_prefix: /api }\n            rewrite: { strip_prefix: /web }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:16:38: gateways.edge.route_sets[0].routes[0].rewrite.strip_prefix: the rewrite would never apply: every path this route takes starts with `/api`",
        ),
        (
            "            rewrite: { replace_prefix: { from: /a, to: b } }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:56: gateways.edge.route_sets[0].routes[0].rewrite.replace_prefix.to: `b` is not a path: it must start with `/` and hold no query, fragment or spaces",
        ),
        (
            "            rewrite: {}\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:13: gateways.edge.route_sets[0].routes[0].rewrite: set `strip_prefix` or `replace_prefix` (or leave `rewrite` out)",
        ),
        (
            "            request_headers: { add: { x-convoy-consumer: admin } }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:39: gateways.edge.route_sets[0].routes[0].request_headers.add.x-convoy-consumer: `x-convoy-consumer` is the consumer header: only the gateway sets it, from the verified consumer",
        ),
        (
            "            response_headers: { add: { content-length: \"1\" } }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:40: gateways.edge.route_sets[0].routes[0].response_headers.add.content-length: `content-length` describes the connection or the message framing; the proxy sets it",
        ),
        (
            "            request_headers: { add: { x-a: \"1\" }, remove: [x-a] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:60: gateways.edge.route_sets[0].routes[0].request_headers.remove[0]: `x-a` is both added and removed",
        ),
        (
            "            max_body: 2GiB\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:23: gateways.edge.route_sets[0].routes[0].max_body: `2GiB` is not a size such as 65536, 64KiB or 1MiB",
        ),
        (
            "            max_body: 2000000000\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:23: gateways.edge.route_sets[0].routes[0].max_body: must be within 0..=1073741824, got 2000000000",
        ),
        (
            "            timeout: 0s\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:22: gateways.edge.route_sets[0].routes[0].timeout: must be greater than zero",
        ),
        (
            "            retry: { attempts: 11 }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:32: gateways.edge.route_sets[0].routes[0].retry.attempts: must be within 1..=10, got 11",
        ),
        (
            "            auth: { methods: [{ jwt: auth1 }] }\n",
            ErrorKind::UnknownReference,
            "mesh.yaml:15:38: gateways.edge.route_sets[0].routes[0].auth.methods[0].jwt: unknown JWT provider `auth1` (did you mean `auth0`?)",
        ),
        (
            "            auth: { methods: [] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:30: gateways.edge.route_sets[0].routes[0].auth.methods: name at least one method: api_key, or { jwt: <provider> } (leave `auth` out to let anyone in)",
        ),
        (
            "            auth: { methods: [apikey] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:31: gateways.edge.route_sets[0].routes[0].auth.methods[0]: `apikey` is not a method: write api_key, { api_key: { header: x-api-key } } or { jwt: <provider> } (did you mean `api_key`?)",
        ),
        (
            "            auth: { methods: [{ jwt: auth0 }, { jwt: auth0 }] }\n",
            ErrorKind::Conflict,
            "mesh.yaml:15:49: gateways.edge.route_sets[0].routes[0].auth.methods[1]: an earlier method reads the same credential (the first present credential decides); list one",
        ),
        (
            "            auth: { methods: [{ api_key: { header: x-convoy-consumer } }] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:52: gateways.edge.route_sets[0].routes[0].auth.methods[0].api_key.header: `x-convoy-consumer` cannot carry API keys: the gateway uses it for itself",
        ),
        (
            "            auth: { methods: [api_key], allow: [] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:48: gateways.edge.route_sets[0].routes[0].auth.allow: name at least one, or leave `allow` out",
        ),
        (
            "            auth: { methods: [api_key], allow: [\"two words\"] }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:49: gateways.edge.route_sets[0].routes[0].auth.allow[0]: `two words` is not a name: use 1 to 128 visible ASCII characters, no spaces",
        ),
        (
            "            rate_limit: { requests_per_second: 5, per: consumers }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:56: gateways.edge.route_sets[0].routes[0].rate_limit.per: `consumers` is not one of consumer, client_ip, total (did you mean `consumer`?)",
        ),
        (
            "            rate_limit: { requests_per_second: 0 }\n",
            ErrorKind::InvalidValue,
            "mesh.yaml:15:48: gateways.edge.route_sets[0].routes[0].rate_limit.requests_per_second: must be within 1..=10000000, got 0",
        ),
    ];
    let mut wrong = Vec::new();
    for (route, kind, expected) in cases {
        let (k, msg) = error(&route_file(route));
        if msg != *expected || k != *kind {
            wrong.push(format!("{k:?} {msg}\n  expected {kind:?} {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // An `api_key` method needs consumers with keys.
    let (_, msg) = error(&gateway_file(&format!(
        "{LISTENER}    route_sets:\n      - name: api\n        routes:\n          - {{ service: orders, auth: {{ methods: [api_key] }} }}\n"
    )));
    assert_eq!(
        msg,
        "mesh.yaml:12:50: gateways.edge.route_sets[0].routes[0].auth.methods[0]: the gateway has no `api_keys`: no API key could be accepted"
    );
}

#[test]
fn a_gateways_own_file_may_leave_out_the_app_and_its_listeners_must_not_overlap_admin() {
    let (kind, msg) = error("sidecar:\n  service: edge\nservices: { orders: {} }\n");
    assert_eq!(kind, ErrorKind::MissingField);
    assert!(
        msg.starts_with("mesh.yaml:2:3: sidecar: missing field `app` (the local app's address; only a gateway's own file"),
        "{msg}"
    );
    let (kind, msg) = error(
        "sidecar:\n  service: edge\nservices: { orders: {} }\ngateways:\n  edge:\n    listeners: [{ address: \"0.0.0.0:4191\" }]\n    route_sets: [{ name: a, routes: [{ service: orders }] }]\n",
    );
    assert_eq!(kind, ErrorKind::Conflict);
    assert_eq!(
        msg,
        "mesh.yaml:6:28: gateways.edge.listeners[0].address: 0.0.0.0:4191 overlaps sidecar.listen.admin (127.0.0.1:4191)"
    );
}

#[test]
fn mesh_directory_files_define_gateways_once_and_the_wire_form_carries_them() {
    let gateway = "gateways:\n  edge:\n    listeners: [{ address: \"127.0.0.1:8080\", tls: { certificate: c.pem, key: k.pem } }]\n    route_sets: [{ name: a, routes: [{ service: orders, timeout: 1s }] }]\n";
    let files = [
        ("mesh/a.yaml", "services:\n  orders: {}\n"),
        ("mesh/b.yaml", gateway),
    ];
    let source = parse_mesh_files(files.iter().map(|(f, t)| (Path::new(*f), *t))).unwrap();
    assert!(source.defines_gateway("edge") && !source.defines("edge"));
    let edge = &source.mesh.gateways["edge"];
    assert_eq!(
        edge.listeners[0].tls.as_ref().unwrap().certificate,
        PathBuf::from("c.pem"),
        "kept as written: the gateway resolves it against its working directory"
    );
    let mesh = decode_wire_mesh(&source.to_wire(&BTreeMap::new())).unwrap();
    assert_eq!(mesh.gateways, source.mesh.gateways);

    // A gateway is defined in one file.
    let twice = [
        ("a.yaml", "services:\n  orders: {}\n"),
        ("b.yaml", gateway),
        ("c.yaml", gateway),
    ];
    let error = parse_mesh_files(twice.iter().map(|(f, t)| (Path::new(*f), *t))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "c.yaml:2:3: gateways.edge: gateway `edge` is already defined in b.yaml"
    );
    // Errors point at the file defining the gateway; its routes see services of any file.
    let bad = [
        ("a.yaml", "services:\n  orders: {}\n"),
        ("b.yaml", "gateways:\n  edge:\n    listeners: [{ address: \"127.0.0.1:8080\" }]\n    route_sets: [{ name: a, routes: [{ service: payment }] }]\n"),
        ("c.yaml", "services:\n  payments: {}\n"),
    ];
    let error = parse_mesh_files(bad.iter().map(|(f, t)| (Path::new(*f), *t))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "b.yaml:4:49: gateways.edge.route_sets[0].routes[0].service: unknown service `payment` (did you mean `payments`?)"
    );
    // A mesh without gateways has the same wire form as before gateways existed.
    let plain = parse_mesh_files([(Path::new("a.yaml"), "services:\n  orders: {}\n")]).unwrap();
    let wire = String::from_utf8(plain.to_wire(&BTreeMap::new())).unwrap();
    assert!(!wire.contains("gateways"), "{wire}");
    // A bad gateway in a snapshot is refused with its reason.
    let error = decode_wire_mesh(
        br#"{"services":{},"gateways":{"edge":{"listeners":[{"address":"127.0.0.1:1"}],"route_sets":[{"name":"a","routes":[{"service":"orders"}]}]}}}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "<control-plane snapshot>: gateways.edge.route_sets[0].routes[0].service: unknown service `orders`"
    );
}

#[test]
fn the_example_round_trips_through_the_wire_form() {
    let example = EXAMPLE.replace("sidecar:\n  service: edge\n", "");
    let source = parse_mesh_files([(Path::new("mesh/edge.yaml"), example.as_str())])
        .unwrap_or_else(|e| panic!("{e}"));
    let mesh = decode_wire_mesh(&source.to_wire(&BTreeMap::new())).unwrap();
    assert_eq!(mesh, source.mesh);
    assert_eq!(
        mesh.gateways["edge"].jwt_providers[0].jwks,
        PathBuf::from("jwks.json")
    );
}

/// The `gateways` example of the README, and the errors it shows for misspellings of it.
#[test]
fn the_readme_example_validates_and_its_errors_are_as_shown() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("## Gateways: `gateways`").expect("the section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    let errors_start = section.find("```text\n").unwrap() + "```text\n".len();
    let shown: Vec<&str> = section
        [errors_start..errors_start + section[errors_start..].find("```").unwrap()]
        .lines()
        .collect();
    let services = "services:\n  orders: {}\n";
    let parse = |yaml: &str| {
        parse_mesh_files([
            (Path::new("edge.yaml"), yaml),
            (Path::new("services.yaml"), services),
        ])
    };
    let source = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        source.mesh.gateways["edge"].route_sets[0].routes[0].name,
        "orders"
    );
    let misspelt = [
        yaml.replace("service: orders", "service: ordrs"),
        yaml.replace("{ jwt: auth0 }", "{ jwt: auth1 }"),
        yaml.replace("allow_credentials: false", "allow_credentials: true ")
            .replace("[https://app.example.com]", "[\"*\"]"),
    ];
    let errors: Vec<String> = misspelt
        .iter()
        .map(|yaml| parse(yaml).unwrap_err().to_string())
        .collect();
    assert_eq!(errors, shown);
}
